"""Benchmark of multiple-purpose LSH (``sklrp.neighbors.MultiPurposeLSH``).

Side by side in one run, on clustered (Gaussian-mixture) vectors:

* ground truth and the reference timing: scikit-learn
  ``NearestNeighbors(algorithm="brute")`` (L2 and cosine; inner product by an
  exact blocked matrix product, since scikit-learn has no IP metric);
* one ``MultiPurposeLSH`` index, queried for cosine, inner product, L2 and a
  mixture at several ``n_candidates`` settings: recall@10 and speed-up over
  the scikit-learn brute-force query time of the same metric;
* faiss ``IndexLSH`` at the same number of bits for cosine (skipped with a
  note when faiss is not installed);
* build time, memory of the index, and proof that changing the weights
  between queries re-hashes nothing (the codes are the same object, bit for
  bit, and no projection of the data is computed).

Every figure is printed as one JSON object per line.  Usage::

    python benchmarks/bench_lsh.py                  # 1,000,000 x 100, 1,000 queries
    python benchmarks/bench_lsh.py --n 100000       # quicker
"""

import argparse
import json
import os
import sys
import time
import tracemalloc

import numpy as np


def emit(**kw):
    print(json.dumps(kw), flush=True)


def make_data(n, d, n_queries, n_clusters, seed):
    """Gaussian mixture with a random scale per component (so IP != cosine)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    scales = np.exp(0.25 * rng.standard_normal(n_clusters)).astype(np.float32)
    sigma = np.float32(0.5)

    def draw(m):
        lab = rng.integers(0, n_clusters, m)
        out = np.empty((m, d), dtype=np.float32)
        step = 100_000
        for i in range(0, m, step):
            l = lab[i : i + step]
            e = rng.standard_normal((len(l), d), dtype=np.float32)
            out[i : i + step] = scales[l, None] * (centers[l] + sigma * e)
        return out

    return draw(n), draw(n_queries)


def exact_ip(X, Q, k):
    out = np.empty((len(Q), k), dtype=np.int64)
    for i in range(0, len(Q), 100):
        s = Q[i : i + 100] @ X.T
        p = np.argpartition(-s, k - 1, axis=1)[:, :k]
        out[i : i + 100] = p
    return out


def recall(found, truth):
    k = truth.shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(found, truth)]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--bits", type=int, default=256)
    ap.add_argument("--variant", default="cc")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--candidates", default="100,300,1000,3000")
    ap.add_argument("--probes", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from sklearn.neighbors import NearestNeighbors

    from sklrp.neighbors import MultiPurposeLSH

    k = args.k
    X, Q = make_data(args.n, args.d, args.queries, args.clusters, args.seed)
    emit(
        event="data",
        n=args.n,
        d=args.d,
        queries=args.queries,
        clusters=args.clusters,
        dtype=str(X.dtype),
        cpu_count=os.cpu_count(),
    )

    # ---------------------------------------------------- reference: sklearn
    truth, sk_time = {}, {}
    for metric, name in (("euclidean", "l2"), ("cosine", "cosine")):
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(X)
        t0 = time.perf_counter()
        truth[name] = nn.kneighbors(Q, return_distance=False)
        sk_time[name] = time.perf_counter() - t0
        emit(event="sklearn_brute", metric=name, query_s=round(sk_time[name], 3),
             qps=round(len(Q) / sk_time[name], 1))
    t0 = time.perf_counter()
    truth["ip"] = exact_ip(X, Q, k)
    sk_time["ip"] = time.perf_counter() - t0
    emit(event="numpy_exact_ip", metric="ip", query_s=round(sk_time["ip"], 3),
         note="sklearn has no inner-product metric; blocked NumPy product used as reference")

    # ---------------------------------------------------------- mp-LSH build
    tracemalloc.start()
    t0 = time.perf_counter()
    index = MultiPurposeLSH(
        n_neighbors=k, n_bits=args.bits, variant=args.variant, n_probes=args.probes,
        random_state=args.seed,
    ).fit(X)
    build_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    table_bytes = index._table_order.nbytes + index._table_offsets.nbytes
    emit(
        event="mplsh_build",
        variant=args.variant,
        n_bits=args.bits,
        n_tables_per_block=index.n_tables_,
        key_bits=index.key_bits_,
        build_s=round(build_s, 3),
        codes_MB=round(index.codes_.nbytes / 2**20, 2),
        tables_MB=round(table_bytes / 2**20, 2),
        index_MB_excluding_data=round((index.codes_.nbytes + table_bytes) / 2**20, 2),
        data_MB=round(X.nbytes / 2**20, 2),
        build_peak_traced_MB=round(peak / 2**20, 1),
    )

    # ----------------------------------------- queries: no re-hash between
    codes_before = index.codes_
    digest = hash(index.codes_.tobytes())
    calls = {"encode": 0}
    encode = index._encode

    def counting_encode(*a, **kw):
        calls["encode"] += 1
        return encode(*a, **kw)

    index._encode = counting_encode
    settings = [int(c) for c in args.candidates.split(",")]
    for metric in ("cosine", "ip", "l2"):
        for c in settings:
            t0 = time.perf_counter()
            ind = index.kneighbors(Q, weights=metric, n_candidates=c, return_distance=False)
            t = time.perf_counter() - t0
            emit(
                event="mplsh_query",
                metric=metric,
                n_candidates=c,
                n_probes=args.probes,
                recall_at_10=round(recall(ind, truth[metric]), 4),
                query_s=round(t, 3),
                qps=round(len(Q) / t, 1),
                speedup_vs_reference=round(sk_time[metric] / t, 2),
            )
    # a mixture and group weights on the same index
    t0 = time.perf_counter()
    index.kneighbors(Q, weights={"l2": 0.5, "ip": 0.5}, n_candidates=settings[-1],
                     return_distance=False)
    emit(event="mplsh_query", metric="0.5*l2+0.5*ip", n_candidates=settings[-1],
         query_s=round(time.perf_counter() - t0, 3))
    emit(
        event="no_rehash",
        data_encode_calls_during_queries=calls["encode"],
        codes_same_object=index.codes_ is codes_before,
        codes_unchanged=hash(index.codes_.tobytes()) == digest,
        weight_settings_queried=3 * len(settings) + 1,
    )
    index._encode = encode

    # ------------------------------------------------------- faiss IndexLSH
    try:
        import faiss
    except ImportError:
        emit(event="faiss", skipped=True, reason="faiss not installed (pip install faiss-cpu)")
        return
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    t0 = time.perf_counter()
    flsh = faiss.IndexLSH(args.d, args.bits, True)  # random rotation, SRP codes
    flsh.train(Xn)
    flsh.add(Xn)
    fbuild = time.perf_counter() - t0
    for c in settings:
        t0 = time.perf_counter()
        _, cand = flsh.search(Qn, c)  # Hamming ranking of all codes
        # exact re-ranking of the same number of candidates, as mp-LSH does
        sims = np.einsum("qd,qcd->qc", Qn, Xn[np.clip(cand, 0, None)])
        sims[cand < 0] = -np.inf
        top = np.take_along_axis(cand, np.argsort(-sims, axis=1)[:, :k], axis=1)
        t = time.perf_counter() - t0
        emit(event="faiss_indexlsh", metric="cosine", n_bits=args.bits, n_candidates=c,
             recall_at_10=round(recall(top, truth["cosine"]), 4),
             query_s=round(t, 3), build_s=round(fbuild, 3),
             faiss_threads=faiss.omp_get_max_threads())


if __name__ == "__main__":
    main()

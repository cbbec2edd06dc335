"""Benchmark of multiple-purpose LSH (``sklrp.neighbors.MultiPurposeLSH``).

Side by side in one run, on clustered (Gaussian-mixture) vectors:

* ground truth and the reference timings, all exact brute force:

  - L2: scikit-learn ``NearestNeighbors(algorithm="brute")`` (default
    ``n_jobs``; its Euclidean top-k runs multi-threaded on every core anyway);
  - cosine: scikit-learn with ``metric="cosine"`` (what the issue names) and,
    because that path is several times slower than scikit-learn's Euclidean
    kernel, also scikit-learn's Euclidean brute force on L2-normalised vectors
    (the same ranking); the speed-up is quoted against the **faster** of the
    two;
  - inner product: scikit-learn has no IP metric, so two exact references are
    timed: a blocked NumPy product with ``argpartition``, and scikit-learn's
    Euclidean brute force on the exact MIPS-to-NN reduction
    ``x -> (x, sqrt(M^2 - |x|^2))``, ``q -> (q, 0)`` (Bachrach et al. 2014),
    for which ``|q' - x'|^2 = |q|^2 + M^2 - 2 <q, x>``; the speed-up is quoted
    against the **faster** of the two (the augmentation of the data is done
    once, like a fit, and not timed; that of the queries is timed);
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

``sklrp reproduce lsh`` runs the same protocol (data, exact references,
recall@10 and speed-ups) at a size that takes about a minute, with a figure.
"""

import argparse
import json
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
# shared with `sklrp reproduce lsh`
from sklrp.experiments._lsh import exact_ip, make_data, recall


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--bits", type=int, default=256)
    ap.add_argument("--variant", default="cc")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--candidates", default="300,500,1000")
    ap.add_argument("--probes", default="16,24", help="comma-separated n_probes settings")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from sklearn.neighbors import NearestNeighbors

    from sklrp.neighbors import MultiPurposeLSH

    k = args.k
    probes = [int(p) for p in str(args.probes).split(",")]
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
    truth, ref_time = {}, {}
    try:
        from threadpoolctl import threadpool_info

        pools = sorted({(p["internal_api"], p["num_threads"]) for p in threadpool_info()})
    except ImportError:  # pragma: no cover
        pools = []
    emit(event="threads", threadpools=pools,
         note="sklearn NearestNeighbors uses its default n_jobs=None; its Euclidean "
              "brute-force top-k is multi-threaded (OpenMP) on every core regardless")

    def time_sklearn(Xfit, Qq, metric, prep=None):
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(Xfit)
        t0 = time.perf_counter()
        ind = nn.kneighbors(Qq if prep is None else prep(Qq), return_distance=False)
        return ind, time.perf_counter() - t0

    truth["l2"], ref_time["l2"] = time_sklearn(X, Q, "euclidean")
    emit(event="reference", metric="l2", method="sklearn brute euclidean",
         query_s=round(ref_time["l2"], 3), qps=round(len(Q) / ref_time["l2"], 1))

    truth["cosine"], t_cos = time_sklearn(X, Q, "cosine")
    emit(event="reference", metric="cosine", method="sklearn brute metric='cosine'",
         query_s=round(t_cos, 3), qps=round(len(Q) / t_cos, 1))
    Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
    ind_cu, t_cu = time_sklearn(
        Xu, Q, "euclidean", prep=lambda q: q / np.linalg.norm(q, axis=1, keepdims=True)
    )
    del Xu
    emit(event="reference", metric="cosine",
         method="sklearn brute euclidean on L2-normalised vectors (same ranking)",
         query_s=round(t_cu, 3), qps=round(len(Q) / t_cu, 1),
         recall_vs_cosine_metric=round(recall(ind_cu, truth["cosine"]), 4))
    ref_time["cosine"] = min(t_cos, t_cu)
    issue_ref = {"l2": ref_time["l2"], "cosine": t_cos}

    t0 = time.perf_counter()
    truth["ip"] = exact_ip(X, Q, k)
    t_np = time.perf_counter() - t0
    emit(event="reference", metric="ip", method="blocked NumPy product + argpartition",
         query_s=round(t_np, 3), qps=round(len(Q) / t_np, 1),
         note="sklearn has no inner-product metric")
    sq = np.einsum("ij,ij->i", X, X)
    Xa = np.hstack([X, np.sqrt(np.clip(sq.max() - sq, 0, None))[:, None]])
    del sq
    ind_ia, t_ia = time_sklearn(
        Xa, Q, "euclidean", prep=lambda q: np.hstack([q, np.zeros((len(q), 1), q.dtype)])
    )
    del Xa
    emit(event="reference", metric="ip",
         method="sklearn brute euclidean on the MIPS-to-NN augmentation (exact)",
         query_s=round(t_ia, 3), qps=round(len(Q) / t_ia, 1),
         recall_vs_numpy=round(recall(ind_ia, truth["ip"]), 4))
    ref_time["ip"] = min(t_np, t_ia)
    issue_ref["ip"] = t_np
    emit(event="reference_used", **{m: round(t, 3) for m, t in ref_time.items()},
         note="speedup_vs_reference: against the fastest exact reference of each metric; "
              "speedup_vs_named_reference: against sklearn metric='euclidean' / 'cosine' "
              "and the blocked NumPy product for IP")

    # ---------------------------------------------------------- mp-LSH build
    tracemalloc.start()
    t0 = time.perf_counter()
    index = MultiPurposeLSH(
        n_neighbors=k, n_bits=args.bits, variant=args.variant, n_probes=probes[0],
        random_state=args.seed,
    ).fit(X)
    build_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    table_bytes = index._table_order.nbytes + index._table_offsets.nbytes
    emit(
        event="mplsh_build",
        variant=args.variant,
        code_ranking=index.code_ranking,
        norm_ranges=index._n_ranges,
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
    # the first query builds the records of the compiled code ranking and loads the kernels (once per index):
    # timed apart, so that the first setting measures a query
    t0 = time.perf_counter()
    index.kneighbors(Q[:10], weights="cosine", return_distance=False)
    emit(event="mplsh_first_query", queries=10, seconds=round(time.perf_counter() - t0, 3))
    settings = [int(c) for c in args.candidates.split(",")]
    for metric in ("cosine", "ip", "l2"):
        for p, c in [(p, c) for p in probes for c in settings]:
            t0 = time.perf_counter()
            ind = index.kneighbors(Q, weights=metric, n_candidates=c, n_probes=p,
                                   return_distance=False)
            t = time.perf_counter() - t0
            emit(
                event="mplsh_query",
                metric=metric,
                n_candidates=c,
                n_probes=p,
                recall_at_10=round(recall(ind, truth[metric]), 4),
                query_s=round(t, 3),
                qps=round(len(Q) / t, 1),
                speedup_vs_reference=round(ref_time[metric] / t, 2),
                speedup_vs_named_reference=round(issue_ref[metric] / t, 2),
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
        weight_settings_queried=3 * len(settings) * len(probes) + 1,
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
             query_s=round(t, 3), speedup_vs_reference=round(ref_time["cosine"] / t, 2),
             build_s=round(fbuild, 3),
             note="faiss: all n_bits on cosine, linear Hamming scan of every code; "
                  "mp-LSH cc: n_bits / 2 per group on cosine, hash-table candidates",
             faiss_threads=faiss.omp_get_max_threads())


if __name__ == "__main__":
    main()

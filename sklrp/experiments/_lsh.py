"""Multiple-purpose LSH against exact brute force (``sklrp reproduce lsh``).

Pronobis, Panknin, Kirschnick, Srinivasan, Samek, Markl, Kaul, Müller and
Nakajima (IEEE BigData 2017) share one set of hash codes between L2, cosine
and inner-product (IP) neighbour search, the dissimilarity being chosen at
query time.  On a clustered Gaussian mixture (``--n`` points of ``--d``
dimensions in ``--clusters`` components, each with a random scale so that IP
and cosine differ; ``--queries`` queries from the same mixture), the
experiment builds one :class:`sklrp.neighbors.MultiPurposeLSH` index and
prints one JSON object per line:

- ``reference``: the exact neighbours and their query time: scikit-learn's
  ``NearestNeighbors(algorithm="brute")`` with ``metric="euclidean"``, with
  ``metric="cosine"`` and with Euclidean on L2-normalised vectors (the same
  ranking); for IP, which scikit-learn lacks, a blocked NumPy product and
  scikit-learn's Euclidean brute force on the exact MIPS-to-NN augmentation
  ``x -> (x, sqrt(M^2 - |x|^2))``;
- ``build``: build time and memory of the index;
- ``query``: for each metric, ``n_probes`` and ``n_candidates`` (``"auto"``
  included), recall@10 against the exact neighbours and the speed-up over the
  fastest exact reference (``speedup_vs_reference``; that reference is timed
  again, alternating with the query, as ``reference_seconds``: a shared CPU's
  speed drifts over minutes) and over the named one
  (``speedup_vs_named_reference``: scikit-learn's ``metric="euclidean"`` /
  ``"cosine"``, the NumPy product for IP).  Every time is the median of
  ``--repeats`` runs;
- ``numpy_path``: with Numba installed, the default query also on the NumPy
  path (``SKLRP_NUMBA=0``, alternating with the compiled one) and the
  compiled kernels' speed-up over it;
- ``claim``: recall@10 >= 0.9 with ``n_candidates="auto"`` for every metric,
  and a speed-up of at least 3 over the fastest exact route.

Figure: ``recall_speedup.png`` (recall@10 and speed-up against
``n_candidates``).  About a minute on a 2-core CPU with the defaults; below a
few hundred thousand points exact brute force is about as fast as the index,
which pays off on larger sets (``benchmarks/bench_lsh.py``: 1,000,000 points,
plus faiss and a check that new weights re-hash nothing)::

    sklrp reproduce lsh [--n 200000] [--d 100] [--clusters 300] [--queries 500]
"""

import contextlib
import os
import time
import tracemalloc

import numpy as np

from ._common import Steps, emit, new_figure, nonnegative_int, positive_int, save_figure

__all__ = ["add_arguments", "exact_ip", "make_data", "recall", "run"]

METRICS = ("l2", "cosine", "ip")


def make_data(n, d, n_queries, n_clusters, seed):
    """Gaussian mixture with a random scale per component (so IP != cosine): ``(X, Q)``, float32."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d)).astype(np.float32)
    scales = np.exp(0.25 * rng.standard_normal(n_clusters)).astype(np.float32)
    sigma = np.float32(0.5)

    def draw(m):
        lab = rng.integers(0, n_clusters, m)
        out = np.empty((m, d), dtype=np.float32)
        step = 100_000
        for i in range(0, m, step):
            lab_i = lab[i: i + step]
            e = rng.standard_normal((len(lab_i), d), dtype=np.float32)
            out[i: i + step] = scales[lab_i, None] * (centers[lab_i] + sigma * e)
        return out

    return draw(n), draw(n_queries)


def exact_ip(X, Q, k):
    """The ``k`` largest inner products of each query (blocked NumPy product and ``argpartition``)."""
    out = np.empty((len(Q), k), dtype=np.int64)
    for i in range(0, len(Q), 100):
        s = Q[i: i + 100] @ X.T
        out[i: i + 100] = np.argpartition(-s, k - 1, axis=1)[:, :k]
    return out


def recall(found, truth):
    """Mean fraction of each query's true ``k`` neighbours among the ``k`` found."""
    k = truth.shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(found, truth)]))


@contextlib.contextmanager
def _numpy_path():
    """The index's NumPy query path (``SKLRP_NUMBA=0``) inside the block."""
    old = os.environ.get("SKLRP_NUMBA")
    os.environ["SKLRP_NUMBA"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["SKLRP_NUMBA"]
        else:
            os.environ["SKLRP_NUMBA"] = old


def _candidates(text):
    """``"auto"`` or a positive int (argparse type)."""
    return "auto" if text == "auto" else positive_int(text)


def timed(fn, repeats):
    """``fn()`` and its median wall time over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times))


def timed_pair(fn_a, fn_b, repeats):
    """``(out_a, median time of fn_a)``, ``(out_b, median time of fn_b)``, the two alternating.

    Each timed call follows an untimed call of the same function, so both
    are timed warm: right after the brute force's products (which stream
    gigabytes and leave BLAS's threads spinning) the index's queries ran up
    to 1.5x slower (measured at 200k), which is not how either runs when
    called repeatedly.  The pairs alternate so that both see the same
    machine (a shared CPU's speed drifts by tens of per cent over minutes).
    """
    times_a, times_b = [], []
    for _ in range(repeats):
        fn_a()
        t0 = time.perf_counter()
        out_a = fn_a()
        times_a.append(time.perf_counter() - t0)
        fn_b()
        t0 = time.perf_counter()
        out_b = fn_b()
        times_b.append(time.perf_counter() - t0)
    return (out_a, float(np.median(times_a))), (out_b, float(np.median(times_b)))


def _references(X, Q, k, steps, repeats=1):
    """Exact neighbours and query times (median of ``repeats``).

    Returns ``truth``, the fastest reference's time and the named reference's time per metric, and the
    fastest reference of each metric as a callable (timed again beside the index's queries).
    """
    from sklearn.neighbors import NearestNeighbors

    def brute(Xfit, Qq, metric="euclidean"):
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(Xfit)
        Qp = Qq()

        def run():
            return nn.kneighbors(Qp, return_distance=False)

        return timed(run, repeats) + (run,)

    def report(metric, method, seconds, **kw):
        emit(figure="reference", metric=metric, method=method, query_seconds=round(seconds, 3),
             queries_per_second=round(len(Q) / seconds, 1), **kw)

    truth, best, named, fastest = {}, {}, {}, {}
    with steps.step("exact L2"):
        truth["l2"], t, fastest["l2"] = brute(X, lambda: Q)
        best["l2"] = named["l2"] = t
        report("l2", "sklearn brute, metric='euclidean'", t)
    with steps.step("exact cosine"):
        truth["cosine"], t_cos, run_cos = brute(X, lambda: Q, "cosine")
        report("cosine", "sklearn brute, metric='cosine'", t_cos)
        Xu = X / np.linalg.norm(X, axis=1, keepdims=True)
        ind, t_unit, run_unit = brute(Xu, lambda: Q / np.linalg.norm(Q, axis=1, keepdims=True))
        report("cosine", "sklearn brute, euclidean on L2-normalised vectors (same ranking)", t_unit,
               recall_vs_cosine_metric=round(recall(ind, truth["cosine"]), 4))
        best["cosine"], named["cosine"] = min(t_cos, t_unit), t_cos
        fastest["cosine"] = run_cos if t_cos <= t_unit else run_unit
    with steps.step("exact inner product"):
        truth["ip"], t_np = timed(lambda: exact_ip(X, Q, k), repeats)
        report("ip", "blocked NumPy product + argpartition", t_np, note="sklearn has no inner-product metric")
        sq = np.einsum("ij,ij->i", X, X)
        Xa = np.hstack([X, np.sqrt(np.clip(sq.max() - sq, 0, None))[:, None]])
        del sq
        ind, t_aug, run_aug = brute(Xa, lambda: np.hstack([Q, np.zeros((len(Q), 1), Q.dtype)]))
        report("ip", "sklearn brute, euclidean on the MIPS-to-NN augmentation (exact)", t_aug,
               recall_vs_numpy=round(recall(ind, truth["ip"]), 4))
        best["ip"], named["ip"] = min(t_np, t_aug), t_np
        fastest["ip"] = (lambda: exact_ip(X, Q, k)) if t_np <= t_aug else run_aug
    return truth, best, named, fastest


def _figure(rows, args):
    from ..neighbors._mplsh import _auto_candidates

    fig = new_figure(figsize=(10, 4))
    ax_r, ax_s = fig.subplots(1, 2)
    auto = _auto_candidates(args.k, args.n)
    for metric in METRICS:
        for probes in args.probes:
            pts = sorted((auto if r["n_candidates"] == "auto" else r["n_candidates"], r["recall_at_k"],
                          r["speedup_vs_reference"]) for r in rows if r["metric"] == metric and r["n_probes"] == probes)
            c, rec, speed = zip(*pts)
            label = metric if len(args.probes) == 1 else f"{metric}, {probes} probes"
            ax_r.plot(c, rec, "o-", label=label)
            ax_s.plot(c, speed, "o-", label=label)
    for ax in (ax_r, ax_s):
        ax.set_xscale("log")
        ax.set_xlabel("n_candidates (re-ranked exactly)")
        ax.axvline(auto, color="k", ls="--", lw=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    ax_r.set_ylabel(f"recall@{args.k}")
    ax_r.axhline(0.9, color="grey", lw=0.8)
    ax_r.set_ylim(0, 1.02)
    ax_s.set_ylabel("speed-up over the fastest exact brute force")
    ax_s.axhline(1.0, color="grey", lw=0.8)
    fig.suptitle(f"MultiPurposeLSH on {args.n:,} clustered {args.d}-d points, {args.queries} queries "
                 f"(dashed: n_candidates='auto')", fontsize="medium")
    save_figure(fig, "recall_speedup.png")


def add_arguments(parser):
    """Add the experiment's options to an ``argparse`` parser."""
    parser.add_argument("--n", type=positive_int, default=200_000, help="indexed points")
    parser.add_argument("--d", type=positive_int, default=100, help="dimensions")
    parser.add_argument("--clusters", type=positive_int, default=300, help="mixture components")
    parser.add_argument("--queries", type=positive_int, default=500)
    parser.add_argument("--k", type=positive_int, default=10, help="neighbours (recall@k)")
    parser.add_argument("--bits", type=positive_int, default=256, help="hash bits")
    parser.add_argument("--candidates", type=_candidates, nargs="+", default=[100, 300, "auto", 1000, 2000],
                        help="n_candidates settings (integers or auto)")
    parser.add_argument("--probes", type=positive_int, nargs="+", default=[16], help="n_probes settings")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed repeats of every query and reference (the median is reported)")
    return parser


def run(args):
    """Run the experiment with the options of :func:`add_arguments`; prints JSON lines and writes figures."""
    from ..neighbors import MultiPurposeLSH
    from ..neighbors._kernels import enabled as kernels_enabled

    if args.k > args.n:
        raise ValueError(f"--k ({args.k}) must not exceed --n ({args.n})")
    emit(figure="settings", **{k: v for k, v in vars(args).items() if k not in ("command", "name")})
    n_queries = len(METRICS) * len(args.probes)
    with Steps(5 + n_queries + kernels_enabled(), "lsh") as steps:
        with steps.step("data"):
            X, Q = make_data(args.n, args.d, args.queries, args.clusters, args.seed)
        truth, best, named, fastest = _references(X, Q, args.k, steps, args.repeats)
        with steps.step("build the index"):
            tracemalloc.start()
            t0 = time.perf_counter()
            index = MultiPurposeLSH(n_neighbors=args.k, n_bits=args.bits, n_probes=args.probes[0],
                                    random_state=args.seed).fit(X)
            build = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            tables = (index._table_order, index._table_offsets)  # None without tables (below 4,096 points)
            table_bytes = sum(a.nbytes for a in tables if a is not None)
            # the first query loads (or, once after installation, compiles)
            # the Numba kernels: timed apart, as a warm-up
            t0 = time.perf_counter()
            for metric in METRICS:
                index.kneighbors(Q[:8], weights=metric, return_distance=False)
            warmup = time.perf_counter() - t0
            # and every metric once on all the queries, untimed: the configuration timed first otherwise
            # ran up to 1.4x slower than the same one timed later (whichever metric came first)
            for metric in METRICS:
                index.kneighbors(Q, weights=metric, return_distance=False)
            emit(figure="build", n_bits=args.bits, n_tables_per_block=index.n_tables_, key_bits=index.key_bits_,
                 build_seconds=round(build, 3), codes_MB=round(index.codes_.nbytes / 2**20, 2),
                 tables_MB=round(table_bytes / 2**20, 2), data_MB=round(X.nbytes / 2**20, 2),
                 # the compiled code ranking's records (built on the first query; kept in bucket order)
                 ranking_records_MB=round(index._rank_records()[0].nbytes / 2**20, 2)
                 if kernels_enabled() and index.n_tables_ > 0 else 0.0,
                 build_peak_traced_MB=round(peak / 2**20, 1), compiled_kernels=kernels_enabled(),
                 warmup_seconds=round(warmup, 3))
        rows = []
        for metric in METRICS:
            for probes in args.probes:
                with steps.step(f"queries ({metric}, {probes} probes)"):
                    for c in args.candidates:
                        def query():
                            return index.kneighbors(Q, weights=metric, n_candidates=c, n_probes=probes,
                                                    return_distance=False)
                        # the fastest reference timed again, alternating with the query, so that both see
                        # the same machine (a shared CPU's speed drifts by tens of per cent over minutes)
                        (ind, t), (_, t_ref) = timed_pair(query, fastest[metric], args.repeats)
                        row = {"metric": metric, "n_candidates": c, "n_probes": probes,
                               "recall_at_k": round(recall(ind, truth[metric]), 4), "query_seconds": round(t, 3),
                               "queries_per_second": round(len(Q) / t, 1),
                               "reference_seconds": round(t_ref, 3),
                               "speedup_vs_reference": round(t_ref / t, 2),
                               "speedup_vs_named_reference": round(named[metric] / best[metric] * t_ref / t, 2)}
                        rows.append(row)
                        emit(figure="query", k=args.k, **row)
        if kernels_enabled():
            # the default query on the NumPy path, for the kernels' own speed-up (timed last: the
            # NumPy path's BLAS threads keep spinning for a while after each product, on the cores the
            # kernels would use)
            with steps.step("NumPy path"):
                for metric in METRICS:
                    def query():
                        return index.kneighbors(Q, weights=metric, n_probes=args.probes[0], return_distance=False)

                    def numpy_query():
                        with _numpy_path():
                            return query()

                    (_, t), (_, t_np) = timed_pair(query, numpy_query, args.repeats)
                    emit(figure="numpy_path", metric=metric, n_probes=args.probes[0], query_seconds=round(t_np, 3),
                         compiled_query_seconds=round(t, 3), kernels_speedup=round(t_np / t, 2))
    auto = {r["metric"]: r["recall_at_k"] for r in rows if r["n_candidates"] == "auto" and r["n_probes"] == 16}
    if len(auto) == len(METRICS):
        emit(figure="claim", claim=f"recall@{args.k} >= 0.9 with n_candidates='auto' (16 probes) for L2, cosine "
                                   "and inner product", reproduced=min(auto.values()) >= 0.9, numbers=auto)
        speed = {r["metric"]: r["speedup_vs_reference"] for r in rows
                 if r["n_candidates"] == "auto" and r["n_probes"] == 16}
        emit(figure="claim", claim="with the defaults, at least 3x faster than the fastest exact route for L2, "
                                   "cosine and inner product", reproduced=min(speed.values()) >= 3.0, numbers=speed)
    _figure(rows, args)

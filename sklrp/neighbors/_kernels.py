"""Compiled kernels of the hash-table query, with Numba (optional).

The LSH query spends its time on work that NumPy can only express with sorts
and large temporaries: deduplicating the point ids read from the probed
buckets of every table, and gathering the candidates' rows for the exact
re-ranking.  Per query these are short loops over a few thousand ids, which a
compiled loop runs with a small per-thread "seen" array and no temporaries.

Numba is an optional dependency (the ``fast`` extra).  Without it, or with the
environment variable ``SKLRP_NUMBA=0``, :func:`enabled` is false and the
caller uses its NumPy path; both give the same neighbours (the tests run
both).  Only NumPy arrays reach these kernels (CuPy arrays take the array
path).
"""

import numpy as np

from .._numba import enabled
from .._numba import run as _run
from .._threads import one_blas_thread

__all__ = ["enabled", "one_blas_thread", "unique_pool", "pool_top", "rerank_top", "probe_keys"]


def _impl():
    """The kernels module (Numba is imported on first use; compiled kernels
    are cached on disk by Numba after their first compilation)."""
    from . import _numba_kernels

    return _numba_kernels


def _n_chunks(nq):
    import numba

    return max(1, min(nq, 4 * numba.get_num_threads()))


def unique_pool(starts, lens, order, n):
    """The distinct point ids of every query's probed buckets.

    Parameters
    ----------
    starts, lens : ndarray of shape (n_queries, n_segments), int64
        Start (into ``order``) and length of every probed bucket segment.
    order : ndarray of shape (n_tables * n,), int32
        Point ids of every table, bucket after bucket.
    n : int
        Number of indexed points (ids are in ``[0, n)``).

    Returns
    -------
    counts : ndarray of shape (n_queries,), int64
        Number of distinct ids of every query.
    cand : ndarray of shape (counts.sum(),), int32
        The ids, query after query, each query's in increasing order.
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    lens = np.ascontiguousarray(lens, dtype=np.int64)
    return _run(_impl()._unique_pool, starts, lens, order, int(n), _n_chunks(starts.shape[0]))


def pool_top(starts, lens, order, rec, gidx, qcodes, coslut, a, b, c, qn, n_cand, n_points=None):
    """The ``n_cand`` best distinct candidates of every query's probed buckets.

    Deduplicates the ids as :func:`unique_pool` and ranks them by the
    plug-in cost of the ``"cc"`` codes, summed over the active groups ``g``
    (feature group ``gidx[g]``): ``a_g |x|^2 - cos_g (b_qg |x| + c_g)``.

    Parameters
    ----------
    starts, lens, order
        As in :func:`unique_pool`.
    rec : ndarray of shape (n, n_groups * (W + 2)) or (len(order), n_groups * (W + 2)), float64
        Per point and feature group: ``W`` code words of its cos block (as
        the bits of float64 values, zero-padded), its squared norm and norm.
        Either one row per point (row ``p`` for point ``p``) or, with
        ``n_points``, one row per entry of ``order`` (the record of point
        ``order[e]`` in row ``e``: every probed bucket is then one
        contiguous read instead of a fetch per candidate).
    gidx : sequence of int
        The feature groups taking part.
    qcodes : ndarray of shape (n_queries, len(gidx), W), uint64
        The queries' cos-block codes.
    coslut : ndarray of shape (len(gidx), n_bits + 1)
        ``cos_g`` at each Hamming distance (0 is used when the candidate's or
        the query's norm ``qn`` is 0: the cosine of a zero vector).
    a, c : sequence of float, one per group
    b, qn : ndarray of shape (n_queries, len(gidx))
    n_cand : int
    n_points : int, optional
        Number of indexed points, given when ``rec`` is in bucket order.

    Returns
    -------
    ids : ndarray of shape (n_queries, n_cand), int64
        Candidate ids, ``-1`` where a query has fewer distinct candidates.
    """
    f64 = np.float64
    bucketed = n_points is not None
    if bucketed and rec.shape[0] != order.shape[0]:
        raise ValueError(f"records in bucket order need one row per entry of order ({order.shape[0]}); "
                         f"got {rec.shape[0]}")
    return _run(
        _impl()._pool_top,
        np.ascontiguousarray(starts, dtype=np.int64), np.ascontiguousarray(lens, dtype=np.int64),
        order, rec, bucketed, int(n_points) if bucketed else rec.shape[0],
        np.ascontiguousarray(gidx, dtype=np.int64), np.ascontiguousarray(qcodes, dtype=np.uint64),
        np.ascontiguousarray(coslut, dtype=f64), np.ascontiguousarray(a, dtype=f64),
        np.ascontiguousarray(b, dtype=f64), np.ascontiguousarray(c, dtype=f64),
        np.ascontiguousarray(qn, dtype=f64), int(n_cand), _n_chunks(starts.shape[0]),
    )


def rerank_top(X, ids, Q, group_index, n_groups, sq_norms, group_max_norm, gw, alpha, k):
    """The ``k`` smallest exact mixture dissimilarities of every query's candidates.

    The dissimilarity of :class:`~sklrp.neighbors.MultiPurposeLSH` (before
    the output transform), from float64 dot products of the query with the
    candidates' rows of ``X`` (float32 or float64, read in place, summed in a
    fixed order) and the squared group norms ``sq_norms`` ``(n, n_groups)``, with mixture weights ``alpha`` (``"l2"``, ``"ip"``,
    ``"cosine"``), group weights ``gw`` and largest group norms
    ``group_max_norm``.  ``ids`` ``(n_queries, C)``: ``-1`` for no candidate.

    Returns
    -------
    D : ndarray of shape (n_queries, k), float64
        Ascending; ``inf`` where a query has fewer than ``k`` candidates.
    I : ndarray of shape (n_queries, k), int64
        The candidates' ids; ``-1`` with ``inf``.
    """
    f64 = np.float64
    return _run(
        _impl()._rerank_top, X, np.ascontiguousarray(ids, dtype=np.int64), np.ascontiguousarray(Q, dtype=f64),
        np.ascontiguousarray(group_index, dtype=np.int64), int(n_groups),
        np.ascontiguousarray(sq_norms, dtype=f64), np.ascontiguousarray(group_max_norm, dtype=f64),
        np.ascontiguousarray(gw, dtype=f64), float(alpha["l2"]), float(alpha["ip"]), float(alpha["cosine"]),
        int(k),
    )


def probe_keys(r, base, n_probes, m):
    """Multi-probe keys ``(n_rows, n_probes)``: ``base`` XOR the flips of the
    ``n_probes`` cheapest subsets of the ``m`` least confident bits of the
    (power-of-two scaled) projections ``r``; the same keys as the NumPy path
    of ``MultiPurposeLSH._probe_keys``, which defines every tie."""
    return _run(
        _impl()._probe_keys, np.ascontiguousarray(r), np.ascontiguousarray(base, dtype=np.int64),
        int(n_probes), int(m), _n_chunks(r.shape[0]),
    )

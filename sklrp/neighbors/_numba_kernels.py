"""The Numba kernels of :mod:`sklrp.neighbors._kernels` (imported only when
first used: importing Numba takes a second or two)."""

import numba
import numpy as np

@numba.njit(inline="always")
def _first_sight(seen, p):  # pragma: no cover - compiled
    """Whether id ``p`` is not yet in the bitset ``seen`` (one bit per point); marks it."""
    word = p >> 6
    bit = np.uint64(1) << np.uint64(p & 63)
    if seen[word] & bit:
        return False
    seen[word] |= bit
    return True


@numba.njit(inline="always")
def _collect(starts, lens, order, q, seen, out, w):  # pragma: no cover - compiled
    """Append the ids of query ``q``'s bucket segments not yet in the bitset
    ``seen`` to ``out`` from position ``w`` on, marking them; returns the new
    end."""
    for j in range(starts.shape[1]):
        a = starts[q, j]
        for e in range(a, a + lens[q, j]):
            p = order[e]
            if _first_sight(seen, p):
                out[w] = p
                w += 1
    return w


@numba.njit(inline="always")
def _clear(seen, ids, a, b):  # pragma: no cover - compiled
    """Clear the bits of ``ids[a:b]`` only (the bitset is then empty again)."""
    for i in range(a, b):
        seen[ids[i] >> 6] = np.uint64(0)


@numba.njit(parallel=True, cache=True, nogil=True)
def _unique_pool(starts, lens, order, n, n_chunks):  # pragma: no cover - compiled
    nq, s = starts.shape
    raw = np.zeros(nq + 1, dtype=np.int64)
    for q in range(nq):
        t = 0
        for j in range(s):
            t += lens[q, j]
        raw[q + 1] = raw[q] + t
    buf = np.empty(raw[nq], dtype=np.int32)
    counts = np.zeros(nq, dtype=np.int64)
    per = (nq + n_chunks - 1) // n_chunks
    n_words = (n + 63) // 64
    for c in numba.prange(n_chunks):
        # one bit per point: n / 8 bytes, which stay in cache
        seen = np.zeros(n_words, dtype=np.uint64)
        q0 = c * per
        q1 = min(nq, q0 + per)
        for q in range(q0, q1):
            w = _collect(starts, lens, order, q, seen, buf, raw[q])
            _clear(seen, buf, raw[q], w)
            # in id order, as the NumPy path (equal code costs are then
            # broken alike: by the smaller id)
            buf[raw[q]:w].sort()
            counts[q] = w - raw[q]
    first = np.zeros(nq + 1, dtype=np.int64)
    for q in range(nq):
        first[q + 1] = first[q] + counts[q]
    cand = np.empty(first[nq], dtype=np.int32)
    for q in numba.prange(nq):
        a = raw[q]
        b = first[q]
        for i in range(counts[q]):
            cand[b + i] = buf[a + i]
    return counts, cand

@numba.njit(inline="always")
def _popcount(x):  # pragma: no cover - compiled
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)

@numba.njit(cache=True, nogil=True)
def _kth_smallest(x, m, k, tmp):  # pragma: no cover - compiled
    """The ``k``-th smallest (1-based) of ``x[:m]``, ``k <= m``; ``tmp`` is scratch of size ``m``.

    A pivot from a sorted sample (a little above the expected quantile)
    keeps the values at most it in one branch-free pass; the selection then
    runs on those few (all of ``x[:m]`` when the pivot missed).
    """
    if m > 8 * 128 and 2 * k < m:
        step = m // 128
        sample = np.empty(128, dtype=x.dtype)
        for i in range(128):
            sample[i] = x[i * step]
        sample.sort()
        at = min(127, (128 * k) // m + 8)  # about 8 / 128 of m above the k-th
        pivot = sample[at]
        r = 0
        for i in range(m):
            tmp[r] = x[i]
            r += x[i] <= pivot
        if r >= k:
            return _select(tmp, r, k - 1)
    for i in range(m):
        tmp[i] = x[i]
    return _select(tmp, m, k - 1)


@numba.njit(cache=True, nogil=True)
def _select(a, m, k):  # pragma: no cover - compiled
    """The value of rank ``k`` (0-based) of ``a[:m]``, reordering ``a`` in
    place (quickselect, median-of-three pivots, Hoare partitions)."""
    lo = 0
    hi = m - 1
    while hi > lo:
        mid = (lo + hi) // 2
        # median of three to a[mid]
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@numba.njit(inline="always")
def _code_cost(rec, recu, r, q, gidx, qcodes, coslut, a, b, c, qn):  # pragma: no cover - compiled
    """The code cost of record ``r`` for query ``q`` (:func:`pool_top`)."""
    W = qcodes.shape[2]
    stride = W + 2
    total = 0.0
    for g in range(gidx.shape[0]):
        o = gidx[g] * stride
        ham = 0
        for w in range(W):
            ham += _popcount(recu[r, o + w] ^ qcodes[q, g, w])
        xg = rec[r, o + W + 1]
        # the cosine of a zero vector is 0
        cg = coslut[g, ham] if (xg > 0 and qn[q, g] > 0) else 0.0
        total += a[g] * rec[r, o + W] - cg * (b[q, g] * xg + c[g])
    return total


@numba.njit(inline="always")
def _code_cost_one(rec, recu, r, o, two, qw0, qw1, qpos, a0, bq, c0, coslut):  # pragma: no cover - compiled
    """:func:`_code_cost` for one group of one or two code words (the default
    index's), with the query's values read once per query: the same float64
    operations in the same order, without the loops over groups and words."""
    ham = _popcount(recu[r, o] ^ qw0)
    W = 1
    if two:
        ham += _popcount(recu[r, o + 1] ^ qw1)
        W = 2
    xg = rec[r, o + W + 1]
    cg = coslut[0, ham] if (xg > 0 and qpos) else 0.0
    return 0.0 + (a0 * rec[r, o + W] - cg * (bq * xg + c0))


@numba.njit(parallel=True, cache=True, nogil=True)
def _pool_top(starts, lens, order, rec, bucketed, n, gidx, qcodes, coslut,
              a, b, c, qn, n_cand, n_chunks):  # pragma: no cover - compiled
    nq, s = starts.shape
    recu = rec.view(np.uint64)
    W = qcodes.shape[2]
    one = gidx.shape[0] == 1 and W <= 2
    two = W == 2
    width = 0
    for q in range(nq):
        t = 0
        for j in range(s):
            t += lens[q, j]
        width = max(width, t)
    ids = np.full((nq, n_cand), -1, dtype=np.int64)
    per = (nq + n_chunks - 1) // n_chunks
    n_words = (n + 63) // 64
    for ch in numba.prange(n_chunks):
        seen = np.zeros(n_words, dtype=np.uint64)
        pool = np.empty(width, dtype=np.int64)
        cost = np.empty(width, dtype=np.float64)
        tmp = np.empty(width, dtype=np.float64)
        tie = np.empty(width, dtype=np.int64)
        q0 = ch * per
        q1 = min(nq, q0 + per)
        for q in range(q0, q1):
            # one group of at most two code words: its query values read once
            o = 0
            qw0 = qw1 = np.uint64(0)
            qpos = False
            bq = 0.0
            if one:
                o = gidx[0] * (W + 2)
                qw0 = qcodes[q, 0, 0]
                qw1 = qcodes[q, 0, W - 1]
                qpos = qn[q, 0] > 0
                bq = b[q, 0]
            if bucketed:
                # records in bucket order: every bucket is one contiguous
                # read, costed as its new ids are met
                m = 0
                for j in range(s):
                    a0 = starts[q, j]
                    for e in range(a0, a0 + lens[q, j]):
                        p = order[e]
                        if _first_sight(seen, p):
                            pool[m] = p
                            if one:
                                cost[m] = _code_cost_one(rec, recu, e, o, two, qw0, qw1, qpos, a[0], bq, c[0], coslut)
                            else:
                                cost[m] = _code_cost(rec, recu, e, q, gidx, qcodes, coslut, a, b, c, qn)
                            m += 1
            else:
                m = _collect(starts, lens, order, q, seen, pool, 0)
                # records by point id: the costs in a second loop without
                # branches on the data, whose record fetches (from anywhere
                # in memory) then run several at a time
                for i in range(m):
                    if one:
                        cost[i] = _code_cost_one(rec, recu, pool[i], o, two, qw0, qw1, qpos, a[0], bq, c[0], coslut)
                    else:
                        cost[i] = _code_cost(rec, recu, pool[i], q, gidx, qcodes, coslut, a, b, c, qn)
            _clear(seen, pool, 0, m)
            if m <= n_cand:
                for i in range(m):
                    ids[q, i] = pool[i]
                continue
            # the n_cand smallest costs: those below the n_cand-th
            # smallest, then ties with it in pool order
            thr = _kth_smallest(cost, m, n_cand, tmp)
            r = 0
            n_tie = 0
            for i in range(m):
                if cost[i] < thr and r < n_cand:
                    ids[q, r] = pool[i]
                    r += 1
                elif cost[i] == thr:
                    tie[n_tie] = pool[i]
                    n_tie += 1
            # equal costs at the boundary: the smaller ids, as the NumPy path
            if n_tie > n_cand - r:
                tie[:n_tie].sort()
            for i in range(min(n_tie, n_cand - r)):
                ids[q, r + i] = tie[i]
    return ids

@numba.njit(parallel=True, cache=True, nogil=True)
def _rerank_top(X, ids, Q, group_index, n_groups, sqn, M, gw, a_l2, a_ip, a_cos, k):  # pragma: no cover
    # The exact dissimilarity of every candidate and the k smallest, kept
    # sorted by insertion (strictly smaller only: of equal distances the
    # earlier candidate stays).  No fastmath: every dot product is summed in
    # the same order whatever the batch, the candidate's position or the
    # alignment of the arrays (with fastmath, LLVM vectorised some iterations
    # and not others, and results differed in the last bit between batches).
    # The rows of 16 candidates are first copied (as float64) into a small
    # buffer, a loop without sums whose memory reads run side by side; the
    # sums then read the buffer from cache, four interleaved partial sums per
    # product.  The mixture is that of MultiPurposeLSH._distances.
    nq, c = ids.shape
    d = X.shape[1]
    d4 = d - d % 4
    D = np.full((nq, k), np.inf)
    I = np.full((nq, k), -1, dtype=np.int64)
    for q in numba.prange(nq):
        qr = Q[q]
        qsq = np.zeros(n_groups)
        for f in range(d):
            qsq[group_index[f]] += qr[f] * qr[f]
        buf = np.empty((16, d), dtype=np.float64)
        dots = np.zeros(n_groups)
        filled = 0
        for j0 in range(0, c, 16):
            m = min(16, c - j0)
            for i in range(m):
                p = max(ids[q, j0 + i], 0)
                for f in range(d):
                    buf[i, f] = X[p, f]
            for i in range(m):
                p = ids[q, j0 + i]
                if p < 0:
                    continue
                if n_groups == 1:
                    a0 = 0.0
                    a1 = 0.0
                    a2 = 0.0
                    a3 = 0.0
                    for f in range(0, d4, 4):
                        a0 += buf[i, f] * qr[f]
                        a1 += buf[i, f + 1] * qr[f + 1]
                        a2 += buf[i, f + 2] * qr[f + 2]
                        a3 += buf[i, f + 3] * qr[f + 3]
                    for f in range(d4, d):
                        a0 += buf[i, f] * qr[f]
                    dots[0] = (a0 + a1) + (a2 + a3)
                else:
                    dots[:] = 0.0
                    for f in range(d):
                        dots[group_index[f]] += buf[i, f] * qr[f]
                dist = 0.0
                if a_l2 > 0:
                    t = 0.0
                    for g in range(n_groups):
                        t += (qsq[g] + sqn[p, g] - 2.0 * dots[g]) * gw[g]
                    dist += a_l2 * t
                if a_ip > 0:
                    t = 0.0
                    for g in range(n_groups):
                        t += (np.sqrt(qsq[g]) * M[g] - dots[g]) * gw[g]
                    dist += a_ip * t
                if a_cos > 0:
                    t = 0.0
                    for g in range(n_groups):
                        denom = np.sqrt(qsq[g]) * np.sqrt(sqn[p, g])
                        cos = dots[g] / denom if denom > 0 else 0.0
                        t += (1.0 - cos) * gw[g]
                    dist += a_cos * t
                if dist < 0.0:
                    dist = 0.0
                if filled < k:
                    pos = filled
                    filled += 1
                elif dist < D[q, k - 1]:
                    pos = k - 1
                else:
                    continue
                while pos > 0 and D[q, pos - 1] > dist:
                    D[q, pos] = D[q, pos - 1]
                    I[q, pos] = I[q, pos - 1]
                    pos -= 1
                D[q, pos] = dist
                I[q, pos] = p
    return D, I


@numba.njit(parallel=True, cache=True, nogil=True)
def _probe_keys(r, base, n_probes, m, n_chunks):  # pragma: no cover - compiled
    # MultiPurposeLSH._probe_keys, row by row: the m least confident bits
    # (smallest squared projection, then bit order), the flip costs of
    # every subset summed in float64 in that order, the n_probes cheapest
    # subsets ordered by cost and then by subset.  The rows go in chunks,
    # each with its own scratch arrays (made once per chunk, not per row).
    rows, k = r.shape
    S = 1 << m
    out = np.empty((rows, n_probes), dtype=np.int64)
    per = (rows + n_chunks - 1) // n_chunks
    for ch in numba.prange(n_chunks):
        sq = np.empty(k, dtype=np.float64)
        idx = np.empty(k, dtype=np.int64)
        cost = np.empty(m, dtype=np.float64)
        mask = np.empty(m, dtype=np.int64)
        total = np.empty(S, dtype=np.float64)
        tmp = np.empty(S, dtype=np.float64)
        chosen = np.empty(n_probes, dtype=np.int64)
        vals = np.empty(n_probes, dtype=np.float64)
        for i in range(ch * per, min(rows, (ch + 1) * per)):
            for b in range(k):
                v = np.float64(r[i, b])
                sq[b] = v * v
                idx[b] = b
            for a in range(1, k):  # stable insertion sort of the bits by sq
                t = idx[a]
                j = a
                while j > 0 and sq[idx[j - 1]] > sq[t]:
                    idx[j] = idx[j - 1]
                    j -= 1
                idx[j] = t
            for j in range(m):
                cost[j] = sq[idx[j]]
                mask[j] = np.int64(1) << idx[j]
            # the sum of a subset in bit order is that of the subset without
            # its highest bit plus that bit's cost: the same float64 additions
            # in the same order as a loop over the bits, one per subset
            total[0] = 0.0
            for j in range(m):
                h = 1 << j
                for s in range(h, 2 * h):
                    total[s] = total[s - h] + cost[j]
            if n_probes < S:
                tmp[:] = total
                thr = _select(tmp, S, n_probes - 1)
                c = 0
                for s in range(S):
                    if total[s] < thr:
                        chosen[c] = s
                        c += 1
                for s in range(S):
                    if c >= n_probes:
                        break
                    if total[s] == thr:
                        chosen[c] = s
                        c += 1
            else:
                for s in range(S):
                    chosen[s] = s
            # ordered by cost, equal costs by subset (chosen is in subset
            # order; a stable insertion sort keeps it)
            for p in range(n_probes):
                vals[p] = total[chosen[p]]
            for a in range(1, n_probes):
                v = vals[a]
                t = chosen[a]
                j = a
                while j > 0 and vals[j - 1] > v:
                    vals[j] = vals[j - 1]
                    chosen[j] = chosen[j - 1]
                    j -= 1
                vals[j] = v
                chosen[j] = t
            for p in range(n_probes):
                s = chosen[p]
                f = np.int64(0)
                for j in range(m):
                    if (s >> j) & 1:
                        f |= mask[j]
                out[i, p] = base[i] ^ f
    return out

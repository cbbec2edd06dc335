"""Numba kernels of the CPU layers (imported on first use: importing Numba takes a second or two).

Every kernel is serial and releases the GIL; callers split the samples
between threads (:func:`sklrp._threads.map_threads`).  Arrays are
channel-last, ``(N, H, W, C)``; 1-D layers pass ``H = 1``.
"""

import numba
import numpy as np

_JIT = dict(nogil=True, cache=True)


@numba.njit(**_JIT)
def max_pool(x, kh_, kw_, sh, sw, best, idx, want_idx):  # pragma: no cover - compiled
    """Window maxima of ``x`` ``(N, H, W, C)`` into ``best`` ``(N, OH, OW, C)``.

    The running maximum over the window offsets ``k`` (C order) of the NumPy
    path, to the tie and the NaN: the winner ``idx`` is the last offset that
    beat the running maximum strictly (the first of equal maxima), and a NaN
    propagates to the maximum as ``np.maximum`` does.  The loop over channels
    is innermost, over contiguous memory.
    """
    n_, oh_, ow_, c_ = best.shape
    for n in range(n_):
        for oh in range(oh_):
            for ow in range(ow_):
                h0, w0 = oh * sh, ow * sw
                b = best[n, oh, ow]
                b[:] = x[n, h0, w0]
                if want_idx:
                    i = idx[n, oh, ow]
                    i[:] = 0
                k = 0
                for kh in range(kh_):
                    for kw in range(kw_):
                        if k > 0:
                            v = x[n, h0 + kh, w0 + kw]
                            if want_idx:
                                for c in range(c_):
                                    if v[c] > b[c]:
                                        i[c] = k
                            for c in range(c_):
                                if v[c] > b[c] or v[c] != v[c]:
                                    b[c] = v[c]
                        k += 1


@numba.njit(**_JIT)
def max_pool_route(g, idx, kw_, sh, sw, dx):  # pragma: no cover - compiled
    """Add ``g`` ``(N, OH, OW, C)`` onto its windows' winners in ``dx`` ``(N, H, W, C)`` (overwritten)."""
    n_, oh_, ow_, c_ = g.shape
    for n in range(n_):
        dx[n] = 0
        for oh in range(oh_):
            for ow in range(ow_):
                for c in range(c_):
                    k = idx[n, oh, ow, c]
                    dx[n, oh * sh + k // kw_, ow * sw + k % kw_, c] += g[n, oh, ow, c]


@numba.njit(inline="always")
def _row_span(ow, sw, pw, kw_, w_):  # pragma: no cover - compiled
    """Where output column ``ow``'s window lies along an input row of width ``w_``: its first input column
    ``x0 = ow * sw - pw`` (negative in the left padding) and the kernel offsets ``lo <= kw < hi`` inside the
    row (``hi <= lo``: none)."""
    x0 = ow * sw - pw
    return x0, max(0, -x0), min(kw_, w_ - x0)


@numba.njit(inline="always")
def _add_window(d, oh, ow, sh, sw, ph, pw, src, scale):  # pragma: no cover - compiled
    """``d[oh * sh + kh - ph, ow * sw + kw - pw] += scale * src[kh, kw]`` for the window's offsets inside ``d``
    (``d`` ``(H, W, C)``, ``src`` ``(KH, KW, C)``): a convolution's window added back onto its input.

    The offsets inside ``d`` are found once per row (no test per offset); one
    input channel (EEG's temporal convolutions) runs as a contiguous loop
    over the offsets.
    """
    kh_, kw_, c_ = src.shape
    h_, w_ = d.shape[0], d.shape[1]
    x0, lo, hi = _row_span(ow, sw, pw, kw_, w_)
    for kh in range(kh_):
        h = oh * sh + kh - ph
        if h < 0 or h >= h_:
            continue
        if c_ == 1:
            row = d[h, :, 0]
            srow = src[kh, :, 0]
            for kw in range(lo, hi):
                row[x0 + kw] += scale * srow[kw]
        else:
            for kw in range(lo, hi):
                x = x0 + kw
                for c in range(c_):
                    d[h, x, c] += scale * src[kh, kw, c]


@numba.njit(**_JIT)
def col2im(dcols, sh, sw, ph, pw, dx, one):  # pragma: no cover - compiled
    """Add the columns ``dcols`` ``(N, OH, OW, KH, KW, C)`` of a convolution back onto its input.

    ``dx`` ``(N, H, W, C)`` (unpadded, overwritten); ``one`` is 1 in the
    arrays' dtype.  The columns are read once, in memory order; a sample's
    input stays in the cache meanwhile.
    """
    n_, oh_, ow_ = dcols.shape[:3]
    for n in range(n_):
        d = dx[n]
        d[:] = 0
        for oh in range(oh_):
            for ow in range(ow_):
                _add_window(d, oh, ow, sh, sw, ph, pw, dcols[n, oh, ow], one)


@numba.njit(**_JIT)
def col2im_rows(cols_t, pw, dx):  # pragma: no cover - compiled
    """The transpose of a one-channel convolution along rows (kernel ``(1, K)``, stride 1), column by column.

    ``cols_t`` ``(K, N * H * OW)``: the output-side signal times each filter
    offset (the transposed columns); ``dx`` ``(N, H, W)`` (overwritten).
    Offset ``k`` of output ``ow`` adds onto input ``ow + k - pw``: one
    contiguous shifted row per offset, which the compiler vectorises (the
    channel-last columns of :func:`col2im` have one value per offset here).
    """
    k_ = cols_t.shape[0]
    n_, h_, w_ = dx.shape
    ow_ = cols_t.shape[1] // (n_ * h_)
    for n in range(n_):
        for h in range(h_):
            d = dx[n, h]
            d[:] = 0
            base = (n * h_ + h) * ow_
            for k in range(k_):
                src = cols_t[k, base : base + ow_]
                lo = max(0, pw - k)
                hi = min(ow_, w_ + pw - k)
                for ow in range(lo, hi):
                    d[ow + k - pw] += src[ow]


@numba.njit(**_JIT)
def conv_scatter_sparse(s, x, w, c_, sh, sw, ph, pw, weight_grad):  # pragma: no cover - compiled
    """A convolution's transpose or weight gradient for a mostly-zero output-side signal ``s``, from its
    non-zero entries.

    ``s`` ``(N, OH, OW, F)``; ``x`` ``(N, H, W * C)`` the (unpadded,
    channel-last) input side and ``w`` ``(F, KH, KW * C)`` the filter side,
    both with their last two axes merged.  Every non-zero ``s[n, oh, ow, f]``
    pairs the input window of that output with filter ``f``: without
    ``weight_grad`` it adds ``s * w[f]`` onto the window in ``x`` (the
    transpose; ``x`` is overwritten), with it the window times ``s`` onto
    ``w[f]`` (the weight gradient; ``w`` is overwritten), samples and
    positions in order.  A window's row is one contiguous run of ``KW * C``
    values (less where it reaches into the padding, which takes and gives
    nothing); zeros cost one test.
    """
    n_, oh_, ow_, f_ = s.shape
    h_ = x.shape[1]
    w_ = x.shape[2] // c_
    kh_ = w.shape[1]
    kw_ = w.shape[2] // c_
    if weight_grad:
        w[:] = 0
    for n in range(n_):
        if not weight_grad:
            x[n] = 0
        for oh in range(oh_):
            for ow in range(ow_):
                x0, lo, hi = _row_span(ow, sw, pw, kw_, w_)
                if hi <= lo:
                    continue
                m = (hi - lo) * c_
                for f in range(f_):
                    v = s[n, oh, ow, f]
                    if v == 0:
                        continue
                    for kh in range(kh_):
                        h = oh * sh + kh - ph
                        if h < 0 or h >= h_:
                            continue
                        xr = x[n, h, (x0 + lo) * c_ : (x0 + lo) * c_ + m]
                        wr = w[f, kh, lo * c_ : lo * c_ + m]
                        if weight_grad:
                            for j in range(m):
                                wr[j] += v * xr[j]
                        else:
                            for j in range(m):
                                xr[j] += v * wr[j]


@numba.njit(**_JIT)
def adam_update(p, g, m, v, b1, c1, b2, c2, lr_t, eps):  # pragma: no cover - compiled
    """One Adam step on flat arrays, in one pass, with the operations of the NumPy path in its order
    (``c1 = 1 - b1``, ``c2 = 1 - b2``; every scalar in the arrays' dtype)."""
    for i in range(p.shape[0]):
        gi = g[i]
        mi = m[i] * b1 + gi * c1
        vi = v[i] * b2 + gi * c2 * gi
        m[i] = mi
        v[i] = vi
        p[i] -= (mi * lr_t) / (np.sqrt(vi) + eps)


@numba.njit(**_JIT)
def stabilized_divide(r, z, eps, out):  # pragma: no cover - compiled
    """``out = r / (z + eps sign(z))`` on flat arrays (``sign(0) = +1``; 0 where the denominator is 0), in
    one pass: the operations of the NumPy path, in its order and dtype."""
    zero = z.dtype.type(0)
    for i in range(r.shape[0]):
        zi = z[i]
        d = zi + eps if zi >= zero else zi - eps
        out[i] = zero if d == zero else r[i] / d


@numba.njit(**_JIT)
def global_max(x, best, idx):  # pragma: no cover - compiled
    """Maximum over time of ``x`` ``(N, L, C)`` and its first position, as ``np.argmax`` (the first NaN wins).

    ``best`` and ``idx`` ``(N, C)``; one pass in memory order for channel-last ``x``.
    """
    n_, l_, c_ = x.shape
    for n in range(n_):
        b = best[n]
        i = idx[n]
        b[:] = x[n, 0]
        i[:] = 0
        for t in range(1, l_):
            v = x[n, t]
            for c in range(c_):
                if v[c] > b[c] or (v[c] != v[c] and b[c] == b[c]):
                    b[c] = v[c]
                    i[c] = t

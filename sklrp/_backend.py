"""Array backend: the only module that knows NumPy from CuPy.

Everything else in sklrp asks this module for the array namespace of its
inputs (``get_namespace``), for explicit device moves at method boundaries
(``to_device``, ``to_host``) and for a few array helpers that NumPy and CuPy
spell the same way but the array API standard does not cover (strided
windows, scatter-add).  CuPy is imported lazily and only here.
"""

import contextlib
import functools
import math
import sys
import threading

import numpy as np
from array_api_compat import is_cupy_array, is_numpy_array

from . import _numba, _threads

__all__ = [
    "get_namespace",
    "is_gpu_array",
    "to_device",
    "to_host",
    "resolve_device",
    "array_device",
    "sliding_windows",
    "stabilized_divide",
    "col2im_channels_last",
    "max_pool_route",
    "max_pool_cpu",
    "max_pool_route_cpu",
    "global_max_cpu",
    "im2col_channels_last",
    "conv_input_adjoint",
    "conv_forward",
    "conv_weight_grad",
    "workspace",
    "empty",
    "zeros",
]

_VALID_DEVICES = (None, "cpu", "cuda")


def _cupy():
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(
            "device='cuda' needs CuPy: install the wheel for your CUDA version, `pip install cupy-cuda12x` "
            "(CUDA 12) or `pip install cupy-cuda11x` (CUDA 11); see https://docs.cupy.dev/en/stable/install.html."
        ) from exc
    return cupy


def is_gpu_array(x):
    """Return True when ``x`` is a CuPy array."""
    return is_cupy_array(x)


def get_namespace(*arrays):
    """Return the array module (``numpy`` or ``cupy``) of ``arrays``.

    Mixing NumPy and CuPy arrays is an error: sklrp never copies between
    host and device implicitly.
    """
    gpu = [is_cupy_array(a) for a in arrays if a is not None]
    if any(gpu):
        if not all(gpu):
            raise ValueError(
                "Got a mix of NumPy and CuPy arrays; move them to one device "
                "first (sklrp does not copy between host and GPU implicitly)."
            )
        return _cupy()
    return np


def array_device(x):
    """Return ``"cuda"`` for CuPy arrays and ``"cpu"`` otherwise."""
    return "cuda" if is_cupy_array(x) else "cpu"


def resolve_device(device, X=None):
    """Resolve the ``device`` parameter: ``None`` follows ``X``.

    Parameters
    ----------
    device : {None, "cpu", "cuda"}
        The estimator's ``device`` parameter.
    X : array-like, optional
        The data of the current call.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda"``.
    """
    if device not in _VALID_DEVICES:
        raise ValueError(
            f"The 'device' parameter must be one of None, 'cpu' or 'cuda'; got {device!r}."
        )
    if device is None:
        return array_device(X) if X is not None else "cpu"
    return device


def to_device(x, device):
    """Move ``x`` to ``device`` ("cpu" or "cuda"); a no-op when already there."""
    if x is None:
        return None
    if device == "cuda":
        if is_cupy_array(x):
            return x
        return _cupy().asarray(x)
    if device == "cpu":
        return to_host(x)
    raise ValueError(f"Unknown device {device!r}; use 'cpu' or 'cuda'.")


def to_host(x):
    """Return ``x`` as a NumPy array (copying from the GPU if needed)."""
    if x is None:
        return None
    if is_cupy_array(x):
        return x.get()
    if is_numpy_array(x):
        return x
    return np.asarray(x)


# --------------------------------------------------------------------------- workspace
_local = threading.local()
#: host arrays smaller than this are left to NumPy's allocator (fast for them)
_POOL_MIN_BYTES = 1 << 18
#: most buffers one workspace keeps; past that, arrays are allocated as usual
_POOL_MAX_BUFFERS = 64


def _refs(pool, i):
    """References to ``pool[i]``: a fixed baseline while nothing else holds it."""
    return sys.getrefcount(pool[i])


class _Pool:
    """Host buffers of one workspace; a buffer is free when no array views it."""

    def __init__(self):
        self.buffers = [np.empty(1, dtype=np.uint8)]
        self.free_refs = _refs(self.buffers, 0)  # measured, not assumed: CPython's count for an unused one
        self.buffers.clear()

    def take(self, nbytes):
        """A free buffer of at least ``nbytes`` bytes (the smallest such one), or a new one; None when full."""
        best = None
        for i in range(len(self.buffers)):
            size = self.buffers[i].nbytes
            if size >= nbytes and (best is None or size < self.buffers[best].nbytes):
                if _refs(self.buffers, i) == self.free_refs:
                    best = i
        if best is not None:
            return self.buffers[best]
        if len(self.buffers) >= _POOL_MAX_BUFFERS:
            return None
        self.buffers.append(np.empty(nbytes, dtype=np.uint8))
        return self.buffers[-1]


@contextlib.contextmanager
def workspace():
    """Reuse large host buffers between the passes made inside the block.

    A chunked ``predict`` or ``explain`` makes the same passes over chunk
    after chunk, each allocating the same large temporaries.  Fresh
    allocations of that size are mapped from the operating system and
    zero-filled page by page each time (measured: about a third of a bi-LSTM
    explanation on a 2-core CPU); inside this block, :func:`empty` and
    :func:`zeros` hand out host buffers again once no array views them any
    more.  Nested blocks share the outermost one's buffers, which are
    released when it ends.  Per thread; CuPy arrays use CuPy's own pool.
    """
    if getattr(_local, "pool", None) is not None:
        yield
        return
    _local.pool = _Pool()
    try:
        yield
    finally:
        _local.pool = None


def empty(xp, shape, dtype):
    """``xp.empty(shape, dtype)``, from the active :func:`workspace` when there is one.

    A buffer handed out stays reserved while any array views it, so the
    result is safe to keep; it is only worth it for temporaries.
    """
    dtype = np.dtype(dtype)
    pool = getattr(_local, "pool", None)
    nbytes = math.prod(shape) * dtype.itemsize
    if pool is None or xp is not np or nbytes < _POOL_MIN_BYTES:
        return xp.empty(shape, dtype=dtype)
    buffer = pool.take(nbytes)
    if buffer is None:
        return np.empty(shape, dtype=dtype)
    return buffer[:nbytes].view(dtype).reshape(shape)


def zeros(xp, shape, dtype):
    """``xp.zeros(shape, dtype)``, from the active :func:`workspace` when there is one."""
    dtype = np.dtype(dtype)
    if getattr(_local, "pool", None) is None or xp is not np or math.prod(shape) * dtype.itemsize < _POOL_MIN_BYTES:
        return xp.zeros(shape, dtype=dtype)
    out = empty(xp, shape, dtype)
    out.fill(0)
    return out


def sliding_windows(x, window, strides):
    """Strided view of the sliding windows over the trailing axes of ``x``.

    Parameters
    ----------
    x : ndarray of shape (N, C, *spatial)
        Input (already padded).
    window : tuple of int
        Window size per spatial axis.
    strides : tuple of int
        Step per spatial axis.

    Returns
    -------
    view : ndarray of shape (N, C, *out_spatial, *window)
        A read-only view (no copy) of the windows.
    """
    xp = get_namespace(x)
    nd = len(window)
    spatial = x.shape[2:]
    out = tuple((s - w) // st + 1 for s, w, st in zip(spatial, window, strides))
    xs = x.strides
    shape = x.shape[:2] + out + tuple(window)
    strd = (
        xs[:2]
        + tuple(xs[2 + i] * strides[i] for i in range(nd))
        + tuple(xs[2 + i] for i in range(nd))
    )
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strd)


@functools.lru_cache(maxsize=None)
def _elementwise_kernel(in_params, out_params, body, name):
    """A CuPy ElementwiseKernel, compiled once per signature."""
    return _cupy().ElementwiseKernel(in_params, out_params, body, name)


_DIVIDE_BODY = "T d = z + (z >= 0 ? eps : -eps); s = (d == 0) ? (T)0 : r / d;"


def _flat_views(*arrays):
    """1-D views of same-shaped arrays that are all C-contiguous after one common permutation of their axes
    (e.g. channel-first views of channel-last memory), in that memory order; None otherwise."""
    order = sorted(range(arrays[0].ndim), key=lambda i: -arrays[0].strides[i])
    views = [a.transpose(order) for a in arrays]
    if not all(v.flags.c_contiguous for v in views):
        return None
    return [v.reshape(-1) for v in views]


#: arrays from this size divide in one compiled pass (smaller ones do not repay the threads' start)
_COMPILED_DIVIDE_MIN_SIZE = 1 << 16


def stabilized_divide(R, z, epsilon=0.0):
    """``R / (z + epsilon * sign(z))`` with ``sign(0) = +1``; 0 where that is 0.

    The common step of the LRP rules.  On the GPU it runs as one fused
    kernel; on the CPU with ``epsilon > 0`` the denominator cannot vanish and
    no zero test is needed.

    Parameters
    ----------
    R, z : arrays of the same shape and dtype
    epsilon : float, default=0.0

    Returns
    -------
    array like ``z``
    """
    xp = get_namespace(R, z)
    if xp is not np:
        kernel = _elementwise_kernel("T r, T z, T eps", "T s", _DIVIDE_BODY, "sklrp_stabilized_divide")
        return kernel(R, z, z.dtype.type(epsilon))
    flat = None
    if (R.size >= _COMPILED_DIVIDE_MIN_SIZE and R.shape == z.shape and R.dtype == z.dtype
            and R.dtype in (np.float32, np.float64) and _numba.enabled()):
        out = np.empty_like(z)  # z's memory layout (a convolution's output: channel-last memory)
        flat = _flat_views(R, z, out)
    if flat is not None:
        # one pass over memory instead of five, the same arithmetic
        kernel, eps = _cpu_kernels().stabilized_divide, z.dtype.type(epsilon)
        _map_samples(flat[0].shape[0], lambda a, e: kernel(flat[0][a:e], flat[1][a:e], eps, flat[2][a:e]))
        return out
    if epsilon:
        # z + eps or z - eps by the sign test, written branch-free (where() over mixed signs is several
        # times slower); (2 [z >= 0] - 1) eps is exactly +eps or -eps, so the sums are the same
        den = np.greater_equal(z, 0).astype(z.dtype)
        den *= 2 * epsilon
        den -= epsilon
        den += z
        reuse = den.shape == np.broadcast_shapes(R.shape, z.shape) and den.dtype == np.result_type(R, z)
        return np.divide(R, den, out=den if reuse else None)
    zero = z == 0
    if zero.any():
        return np.where(zero, 0, R / np.where(zero, 1, z))
    return R / z


_COL2IM_BODY = """
int c = i % C;
long long t = i / C;
int w = t % W; t /= W;
int h = t % H;
long long n = t / H;
int hp = h + PH, wp = w + PW;
T acc = 0;
for (int kh = 0; kh < KH; ++kh) {
    int a = hp - kh;
    if (a < 0 || a % SH != 0) continue;
    int oh = a / SH;
    if (oh >= OH) continue;
    for (int kw = 0; kw < KW; ++kw) {
        int b = wp - kw;
        if (b < 0 || b % SW != 0) continue;
        int ow = b / SW;
        if (ow >= OW) continue;
        acc += dcols[((((n * OH + oh) * OW + ow) * KH + kh) * KW + kw) * C + c];
    }
}
dx = acc;
"""


def col2im_channels_last(dcols, spatial, kernel, stride, pads):
    """Scatter-add convolution columns back onto a channel-last input.

    The adjoint of the channel-last im2col of sklrp's convolutions.

    Parameters
    ----------
    dcols : array of shape (N, *out, *kernel, C), C-contiguous
        One value per output position, kernel offset and channel.
    spatial : tuple of int
        Spatial shape of the (unpadded) input.
    kernel, stride : tuple of int
        Kernel size and stride per spatial axis.
    pads : tuple of (int, int)
        Padding before / after per spatial axis.

    Returns
    -------
    dx : array of shape (N, *spatial, C)
        On the GPU one fused gather kernel; on the CPU a loop over kernel
        offsets of strided additions.
    """
    xp = get_namespace(dcols)
    nd = len(kernel)
    n, c = dcols.shape[0], dcols.shape[-1]
    out = dcols.shape[1 : 1 + nd]
    if xp is not np:
        if nd == 1:
            spatial2, out2, kernel2 = (1, spatial[0]), (1, out[0]), (1, kernel[0])
            stride2, pads2 = (1, stride[0]), ((0, 0), pads[0])
        else:
            spatial2, out2, kernel2, stride2, pads2 = spatial, out, kernel, stride, pads
        dcols = xp.ascontiguousarray(dcols)
        dx = xp.empty((n,) + tuple(spatial2) + (c,), dtype=dcols.dtype)
        gather = _elementwise_kernel(
            "raw T dcols, int32 H, int32 W, int32 C, int32 OH, int32 OW, int32 KH, int32 KW, "
            "int32 SH, int32 SW, int32 PH, int32 PW",
            "T dx",
            _COL2IM_BODY,
            "sklrp_col2im_channels_last",
        )
        gather(
            dcols, spatial2[0], spatial2[1], c, out2[0], out2[1], kernel2[0], kernel2[1],
            stride2[0], stride2[1], pads2[0][0], pads2[1][0], dx,
        )
        return dx.reshape((n,) + tuple(spatial) + (c,))
    padded = tuple(s + p0 + p1 for s, (p0, p1) in zip(spatial, pads))
    dx = np.zeros((n,) + padded + (c,), dtype=dcols.dtype)
    for offset in np.ndindex(*kernel):
        sl = tuple(slice(o, o + st * (m - 1) + 1, st) for o, st, m in zip(offset, stride, out))
        dx[(slice(None),) + sl] += dcols[(slice(None),) * (1 + nd) + offset]
    crop = tuple(slice(p0, p0 + s) for s, (p0, _) in zip(spatial, pads))
    return dx[(slice(None),) + crop]


_POOL_ROUTE_BODY = """
long long t = i;
int w = t % W; t /= W;
int h = t % H;
long long nc = t / H;
int oh = h / KH, kh = h % KH, ow = w / KW, kw = w % KW;
if (oh >= OH || ow >= OW) {
    dx = 0;
} else {
    long long j = (nc * OH + oh) * OW + ow;
    dx = (idx[j] == kh * KW + kw) ? g[j] : (T)0;
}
"""


def max_pool_route(g, idx, x_shape, pool_size):
    """Send each window's value to its arg-max input (non-overlapping windows).

    Parameters
    ----------
    g : array of shape (N, C, *out)
        Gradient or relevance of the pooled outputs.
    idx : integer array of shape (N, C, *out)
        Flat (C-order) position of each window's maximum inside the window.
    x_shape : tuple
        Shape ``(N, C, *spatial)`` of the pooling input.
    pool_size : tuple of int
        Window size, equal to the stride.

    Returns
    -------
    dx : array of shape ``x_shape`` (zero except at the winners)
    """
    xp = get_namespace(g)
    nd = len(pool_size)
    out = g.shape[2:]
    spatial = tuple(x_shape[2:])
    if xp is not np:
        if nd == 1:
            spatial2, out2, pool2 = (1,) + spatial, (1,) + tuple(out), (1,) + tuple(pool_size)
        else:
            spatial2, out2, pool2 = spatial, tuple(out), tuple(pool_size)
        dx = xp.empty(tuple(x_shape), dtype=g.dtype)
        kernel = _elementwise_kernel(
            "raw T g, raw int64 idx, int32 H, int32 W, int32 OH, int32 OW, int32 KH, int32 KW",
            "T dx",
            _POOL_ROUTE_BODY,
            "sklrp_max_pool_route",
        )
        kernel(
            xp.ascontiguousarray(g), xp.ascontiguousarray(idx.astype(xp.int64, copy=False)),
            spatial2[0], spatial2[1], out2[0], out2[1], pool2[0], pool2[1], dx,
        )
        return dx
    flat = np.zeros(idx.shape, dtype=np.int64)
    rem = idx
    for a in range(nd):
        inner = int(np.prod(pool_size[a + 1 :]))
        k_a = rem // inner
        rem = rem - k_a * inner
        pos = np.arange(out[a], dtype=np.int64).reshape((-1,) + (1,) * (nd - 1 - a)) * pool_size[a]
        flat = flat * spatial[a] + pos + k_a
    plane = int(np.prod(spatial))
    flat = flat + (np.arange(x_shape[0] * x_shape[1], dtype=np.int64) * plane).reshape(tuple(x_shape[:2]) + (1,) * nd)
    dx = np.zeros(int(np.prod(x_shape)), dtype=g.dtype)
    dx[flat.ravel()] = g.ravel()
    return dx.reshape(x_shape)


def im2col_channels_last(x, kernel, stride, pads):
    """Columns of a channel-first input, laid out channel-last.

    Parameters
    ----------
    x : array of shape (N, C, *spatial)
    kernel, stride : tuple of int
    pads : tuple of (int, int)
        Zero padding before / after per spatial axis.

    Returns
    -------
    cols : array of shape (N * P, K * C)
        Row ``(n, *o)`` holds the window of output position ``o`` as
        ``(*kernel, C)`` in C order (P output positions, K kernel offsets).
    out : tuple of int
        Output spatial shape.
    """
    xp = get_namespace(x)
    nd = len(kernel)
    n, c = x.shape[:2]
    spatial = x.shape[2:]
    out = _conv_output_shape(spatial, kernel, stride, pads)
    P, K = int(np.prod(out)), int(np.prod(kernel))
    xcl = xp.moveaxis(x, 1, -1)
    if any(p0 or p1 for p0, p1 in pads):
        xcl = xp.pad(xcl, ((0, 0),) + tuple(pads) + ((0, 0),))
    else:
        xcl = xp.ascontiguousarray(xcl)
    st = xcl.strides
    shape = (n,) + out + tuple(kernel) + (c,)
    strides = (st[0],) + tuple(st[1 + i] * stride[i] for i in range(nd)) + tuple(st[1 + i] for i in range(nd)) + (st[-1],)
    # a strided view of the windows, copied once into the column matrix (a
    # hand-written gather kernel measured no faster on an H200)
    win = xp.lib.stride_tricks.as_strided(xcl, shape=shape, strides=strides)
    return win.reshape(n * P, K * c), out


def _cpu_kernels():
    """The Numba kernels of the CPU layers (imported on first use)."""
    from . import _numba_kernels

    return _numba_kernels


def _map_samples(n, fn):
    """``fn(start, stop)`` over contiguous ranges of ``n`` samples, one per BLAS thread (:func:`_threads.map_threads`)."""
    _threads.map_ranges(n, max(1, min(n, _threads.blas_threads())), fn)


def _map_blocks(n, b, run):
    """``run(blocks)`` on each BLAS thread, ``blocks`` its share of the ``(start, stop)`` blocks of ``b`` of the
    ``n`` samples, dealt round-robin (:func:`_threads.map_threads`); returns the threads' results."""
    starts = list(range(0, n, b))
    n_threads = min(len(starts), _threads.blas_threads())
    return _threads.map_threads(lambda t: run([(a, min(a + b, n)) for a in starts[t::n_threads]]), n_threads)


def _stride_pad_2d(stride, pads):
    """``(sh, sw), (ph, pw)`` of a convolution with one or two spatial axes, as the compiled kernels take them
    (stride 1 and no padding along the added height axis in 1-D; only the leading pads, the kernels clip the
    rest)."""
    if len(stride) == 1:
        return (1, stride[0]), (0, pads[0][0])
    return tuple(stride), (pads[0][0], pads[1][0])


def _as_2d_spatial(a, nd):
    """A channel-last ``(N, *S, C)`` array with one or two spatial axes as ``(N, H, W, C)`` (``H = 1`` in 1-D)."""
    return a[:, None] if nd == 1 else a


def max_pool_cpu(xcl, pool_size, stride, out, want_idx=True):
    """Max pooling of a channel-last NumPy array with the compiled kernel.

    Parameters
    ----------
    xcl : ndarray of shape (N, *spatial, C)
        One or two spatial axes, any strides.
    pool_size, stride, out : tuple of int
        Window, stride and output shape per spatial axis.
    want_idx : bool
        Also return each window's winner.

    Returns
    -------
    best : ndarray of shape (N, *out, C)
        The window maxima, C-contiguous.
    idx : ndarray of shape (N, *out, C), int8, or None
        Flat (C-order) position of the winner inside its window: the first
        of equal maxima, as the NumPy path.
    """
    nd = len(pool_size)
    kh, kw = (1, pool_size[0]) if nd == 1 else pool_size
    sh, sw = (1, stride[0]) if nd == 1 else stride
    n, c = xcl.shape[0], xcl.shape[-1]
    best = np.empty((n,) + tuple(out) + (c,), dtype=xcl.dtype)
    idx = np.empty(best.shape if want_idx else (1,) * best.ndim, dtype=np.int8)
    x4, b4, i4 = _as_2d_spatial(xcl, nd), _as_2d_spatial(best, nd), _as_2d_spatial(idx, nd)
    kernel = _cpu_kernels().max_pool

    def part(a, e):
        kernel(x4[a:e], kh, kw, sh, sw, b4[a:e], i4[a:e] if want_idx else i4, want_idx)

    _map_samples(n, part)
    return best, (idx if want_idx else None)


def max_pool_route_cpu(gcl, idx, spatial, pool_size, stride):
    """Each window's value added onto its winner, channel-last, with the compiled kernel.

    ``gcl`` and ``idx`` ``(N, *out, C)`` (any strides; ``idx`` from
    :func:`max_pool_cpu`); returns ``(N, *spatial, C)``, zero except at the
    winners.
    """
    nd = len(pool_size)
    kw = pool_size[-1]
    sh, sw = (1, stride[0]) if nd == 1 else stride
    n, c = gcl.shape[0], gcl.shape[-1]
    dx = np.empty((n,) + tuple(spatial) + (c,), dtype=gcl.dtype)
    g4, i4, d4 = _as_2d_spatial(gcl, nd), _as_2d_spatial(idx, nd), _as_2d_spatial(dx, nd)
    kernel = _cpu_kernels().max_pool_route
    _map_samples(n, lambda a, e: kernel(g4[a:e], i4[a:e], kw, sh, sw, d4[a:e]))
    return dx


#: bytes of the column block that the CPU convolutions build at a time: a few
#: MB stay in the cache between the copy and the matrix product (measured on
#: the CNN's 5x5x32->64 layer, 2 cores: 4-8 samples per block ran 1.4x faster
#: than the whole column matrix, 30x fewer bytes)
_COLS_BLOCK_BYTES = 4 << 20


def _conv_output_shape(spatial, kernel, stride, pads):
    """Output positions per spatial axis of a convolution (``pads``: (before, after) per axis)."""
    return tuple((s + p0 + p1 - k) // st + 1 for s, k, st, (p0, p1) in zip(spatial, kernel, stride, pads))


def _padded_channels_last(x, pads):
    """``(N, C, *S)`` as a contiguous ``(N, *padded, C)`` array (one copy; none for channel-last views)."""
    xp = get_namespace(x)
    xcl = xp.moveaxis(x, 1, -1)
    if any(p0 or p1 for p0, p1 in pads):
        return xp.pad(xcl, ((0, 0),) + tuple(pads) + ((0, 0),))
    return xp.ascontiguousarray(xcl)


def _windows(xcl, out, kernel, stride, start=None):
    """``(N, *out, *kernel, C)`` strided view of the windows of a padded channel-last array."""
    xp = get_namespace(xcl)
    nd = len(kernel)
    st = xcl.strides
    if start is not None:
        xcl = xcl[(slice(None),) + tuple(slice(a, None) for a in start)]
    shape = (xcl.shape[0],) + tuple(out) + tuple(kernel) + (xcl.shape[-1],)
    strides = ((st[0],) + tuple(st[1 + i] * stride[i] for i in range(nd)) + tuple(st[1 + i] for i in range(nd))
               + (st[-1],))
    return xp.lib.stride_tricks.as_strided(xcl, shape=shape, strides=strides)


def _map_column_blocks(win, dtype, fn):
    """``fn(start, stop, cols)`` for every block of samples of ``win``, on the BLAS threads.

    ``win`` is ``(N, *out, *kernel, C)``; ``cols`` holds a block's rows,
    ``(n_block * P, K * C)``, copied into a buffer of the thread that runs it.
    The blocks go round-robin to as many threads as BLAS would use
    (:func:`sklrp._threads.map_threads`), each with single-threaded BLAS:
    the copies run in parallel too, and a product of a few megabytes is not
    split between threads (measured on the CNN's 5x5x32->64 layer, 2 cores:
    1.2-2x faster than one thread copying for two BLAS threads).  The
    products of a block are those of a one-thread run, so the results do not
    depend on the number of threads.

    Returns
    -------
    results : list
        ``fn``'s return values, in the order of the blocks.
    """
    n = win.shape[0]
    nd = (win.ndim - 2) // 2
    P = int(np.prod(win.shape[1 : 1 + nd]))
    per_sample = int(np.prod(win.shape[1:]))
    b = max(1, min(n, _COLS_BLOCK_BYTES // max(1, per_sample * np.dtype(dtype).itemsize)))

    def run(blocks):
        buf = np.empty(b * per_sample, dtype=dtype)
        done = []
        for a, e in blocks:
            blk = buf[: (e - a) * per_sample].reshape((e - a,) + win.shape[1:])
            np.copyto(blk, win[a:e])
            done.append((a, fn(a, e, blk.reshape((e - a) * P, per_sample // P))))
        return done

    results = [r for part in _map_blocks(n, b, run) for r in part]
    return [r for _, r in sorted(results, key=lambda ar: ar[0])]


def conv_forward(x, wmat, kernel, stride, pads, bias=None):
    """A channel-last convolution: ``(N, C, *S) -> (N * P, F)``, one row per output position.

    Parameters
    ----------
    x : array of shape (N, C, *spatial)
    wmat : array of shape (F, K * C)
        The filters as rows in the column layout of :func:`im2col_channels_last`.
    kernel, stride : tuple of int
    pads : tuple of (int, int)
    bias : array of shape (F,), optional

    Returns
    -------
    z : array of shape (N * P, F)
    out : tuple of int
        Output spatial shape.

    Notes
    -----
    On the CPU the column matrix is built a block of samples at a time in
    one buffer of about ``_COLS_BLOCK_BYTES`` and multiplied at once, so it
    never exists whole; on the GPU it is one matrix product.
    """
    xp = get_namespace(x)
    spatial = x.shape[2:]
    out = _conv_output_shape(spatial, kernel, stride, pads)
    if xp is not np:
        cols, out = im2col_channels_last(x, kernel, stride, pads)
        z = cols @ wmat.T
    else:
        win = _windows(_padded_channels_last(x, pads), out, kernel, stride)
        P = int(np.prod(out))
        dtype = np.result_type(x, wmat)
        z = np.empty((x.shape[0] * P, wmat.shape[0]), dtype=dtype)
        wT = np.ascontiguousarray(wmat.T)

        def product(a, e, cols):
            np.matmul(cols, wT, out=z[a * P : e * P])

        _map_column_blocks(win, dtype, product)
    if bias is not None:
        z += bias
    return z, out


def conv_weight_grad(x, g2, kernel, stride, pads, cols=None):
    """``g2^T @ cols``: the weight gradient ``(F, K * C)`` of :func:`conv_forward` for output gradient ``g2``.

    Parameters
    ----------
    x : array of shape (N, C, *spatial)
        The convolution's input.
    g2 : array of shape (N * P, F)
        The output gradient, one row per output position (channel-last).
    kernel, stride : tuple of int
    pads : tuple of (int, int)
    cols : array of shape (N * P, K * C), optional
        The column matrix of ``x``, when a training forward pass kept it.

    Notes
    -----
    On the CPU with Numba, an output gradient with few non-zero entries
    (after max pooling and a ReLU: at most a quarter of the entries with 2x2
    pools) over 16 or more input channels is scattered: each non-zero entry
    adds its input window onto its filter's gradient
    (:func:`~sklrp._numba_kernels.conv_scatter_sparse`), the samples in
    fixed blocks summed in order, so the result does not depend on the
    number of threads.  Otherwise the product is one matrix product with
    ``cols``, or is built in column blocks.
    """
    xp = get_namespace(x, g2)
    if xp is not np:
        if cols is None:
            cols, _ = im2col_channels_last(x, kernel, stride, pads)
        return g2.T @ cols
    c = x.shape[1]
    if _numba.enabled() and len(kernel) <= 2 and c >= _WGRAD_SCATTER_MIN_CHANNELS:
        if _count_nonzero_unless_dense(g2, _WGRAD_SCATTER_DENSITY) <= _WGRAD_SCATTER_DENSITY * g2.size:
            return _weight_grad_scatter(x, g2, kernel, stride, pads)
    if cols is not None:
        return _threads.matmul(g2.T, cols)
    spatial = x.shape[2:]
    out = _conv_output_shape(spatial, kernel, stride, pads)
    P = int(np.prod(out))
    win = _windows(_padded_channels_last(x, pads), out, kernel, stride)
    parts = _map_column_blocks(win, np.result_type(x, g2), lambda a, e, cols: g2[a * P : e * P].T @ cols)
    gw = parts[0]
    for part in parts[1:]:  # summed in the order of the blocks, whatever the number of threads
        gw += part
    return gw


#: input channels from which the CPU weight gradient of a convolution scatters a sparse output gradient
#: (with fewer, a window's rows are too short to add at speed: the CNN's one-channel 5x5 layer at 16 %
#: non-zero entries took longer scattered than as one matrix product)
_WGRAD_SCATTER_MIN_CHANNELS = 16

#: below this fraction of non-zero entries in the output gradient, the CPU weight gradient of a convolution
#: over at least _WGRAD_SCATTER_MIN_CHANNELS input channels is scattered (measured, 2 cores: the CNN's
#: 5x5x32->64 layer at batch 128 5-10 ms at 2-10 %, 16 ms at 20 %, 22 ms at 30 %, against 21-25 ms for the
#: product; the word CNN's 2x300->800 layer at batch 64 34 ms at 1 in 400, 71 ms at 5 %, 164 ms at 20 %,
#: against 142-157 ms; an EEG-like 1x25 layer over 16 channels 41 ms at 5 %, 81 ms at 20 %, against 157-191 ms)
_WGRAD_SCATTER_DENSITY = 0.15

#: samples per block of the scattered weight gradient (each block's gradient is summed in block order)
_WGRAD_SCATTER_BLOCK = 16


def _weight_grad_scatter(x, g2, kernel, stride, pads):
    """The CPU weight gradient ``(F, K * C)`` of a convolution for an output gradient with few non-zero
    entries: the compiled :func:`~sklrp._numba_kernels.conv_scatter_sparse` on fixed blocks of samples,
    the blocks dealt to the BLAS threads, their gradients summed in block order."""
    n, c = x.shape[:2]
    nd = len(kernel)
    f = g2.shape[1]
    dtype = np.result_type(x, g2)
    out = _conv_output_shape(x.shape[2:], kernel, stride, pads)
    s4 = g2.reshape((n,) + tuple(out) + (f,)).astype(dtype, copy=False)
    xcl = np.ascontiguousarray(np.moveaxis(x, 1, -1), dtype=dtype)
    (sh, sw), (ph, pw) = _stride_pad_2d(stride, pads)
    s4, x4, k2 = _as_2d_spatial(s4, nd), _as_2d_spatial(xcl, nd), (1,) * (2 - nd) + tuple(kernel)
    x3 = x4.reshape(x4.shape[:2] + (-1,))  # (N, H, W * C): a window's row is one run
    kernel_fn = _cpu_kernels().conv_scatter_sparse
    b = _WGRAD_SCATTER_BLOCK

    def run(blocks):
        done = []
        for a, e in blocks:
            gw = np.empty((f, k2[0], k2[1] * c), dtype=dtype)
            kernel_fn(s4[a:e], x3[a:e], gw, c, sh, sw, ph, pw, True)
            done.append((a, gw))
        return done

    parts = sorted((r for part in _map_blocks(n, b, run) for r in part), key=lambda ar: ar[0])
    gw = parts[0][1]
    for _, part in parts[1:]:
        gw += part
    return gw.reshape(f, -1)


#: input channels from which the CPU transpose of a stride-1 convolution runs
#: as a convolution with flipped filters (one long matrix product per column
#: block); with fewer, copying K * F columns per position costs more than the
#: K small products and additions of the per-offset path (measured on the
#: CNN: 5x5x32->64 transpose 54 -> 25 ms; 5x5x1->32 16 -> 39 ms)
_FLIPPED_MIN_CHANNELS = 16

#: below this fraction of non-zero entries the CPU convolution transpose
#: multiplies a sparse matrix (measured on the word CNN: 1 in 399 entries)
_SPARSE_SIGNAL_DENSITY = 0.02

#: with Numba, a transpose over 16 or more input channels scatters the signal's
#: non-zero entries below this fraction (measured with one contiguous run per
#: window row, 2 cores: the CNN's 5x5x32->64 layer at batch 128 6 ms at 10 %,
#: 13 ms at 20 %, 18 ms at 30 %, against 21 ms for the flipped-filter product;
#: the word CNN's layer at batch 64 95 ms at 10 %, 167 ms at 20 %, against
#: 150-156 ms; its 1-in-400 signal 24 ms); with fewer channels only below the
#: sparse threshold (one channel: 21 ms at 10 % against 8 ms)
_SCATTER_SIGNAL_DENSITY = 0.15


def _count_nonzero_unless_dense(a, threshold):
    """The non-zero entries of ``a``, or ``a.size`` when a sample (one entry in 1031, one per memory page)
    has over twice ``threshold`` of them: a dense signal then costs a sample's reads instead of a full pass
    (the count only chooses between paths that compute the same transpose)."""
    if a.size >= 1 << 20 and a.flags.c_contiguous:
        sample = a.reshape(-1)[::1031]
        if np.count_nonzero(sample) > 2 * threshold * sample.size:
            return a.size
    return np.count_nonzero(a)


def conv_input_adjoint(s2, weight_cl, n, out, spatial, stride, pads):
    """Adjoint of a channel-last convolution with respect to its input.

    Parameters
    ----------
    s2 : array of shape (N * P, F)
        Output-side signal, one row per output position (channel-last).
    weight_cl : array of shape (F, *kernel, C)
        The filters, channels last.
    n : int
        Batch size N.
    out, spatial : tuple of int
        Output and (unpadded) input spatial shapes.
    stride : tuple of int
    pads : tuple of (int, int)

    Returns
    -------
    dx : array of shape (N, *spatial, C)

    Notes
    -----
    On the GPU: one matrix product into the column matrix and one fused
    gather kernel (:func:`col2im_channels_last`).  On the CPU: one small
    matrix product per kernel offset, each added into its strided slice of
    the padded input, which keeps every addition contiguous; a signal with
    under 2 % non-zero entries (after global max-pooling) is multiplied as a
    sparse matrix.  With Numba: a signal with few non-zero entries is
    scattered by a compiled kernel, and the per-offset path becomes column
    blocks and a compiled col2im.
    """
    xp = get_namespace(s2)
    f = weight_cl.shape[0]
    kernel = tuple(weight_cl.shape[1:-1])
    c = weight_cl.shape[-1]
    if xp is not np:
        dcols = (s2 @ weight_cl.reshape(f, -1)).reshape((n,) + tuple(out) + kernel + (c,))
        return col2im_channels_last(dcols, spatial, kernel, stride, pads)
    nonzero = _count_nonzero_unless_dense(s2, max(_SCATTER_SIGNAL_DENSITY, _SPARSE_SIGNAL_DENSITY))
    compiled = _numba.enabled() and len(kernel) <= 2
    if compiled and nonzero <= (_SCATTER_SIGNAL_DENSITY if c >= 16 else _SPARSE_SIGNAL_DENSITY) * s2.size:
        return _input_adjoint_scatter(s2, weight_cl, n, out, spatial, stride, pads)
    sparse = nonzero <= _SPARSE_SIGNAL_DENSITY * s2.size
    # the flipped-filter convolution computes every input position from K offsets, the per-offset path every
    # output position: the same work for "same" padding, far more for a kernel as large as its input (an
    # EEG net's spatial filter over all channels: 64 input rows, 1 output row)
    same_work = np.prod(spatial) <= 1.25 * np.prod(out)
    if not sparse and all(st == 1 for st in stride) and c >= _FLIPPED_MIN_CHANNELS and same_work:
        # stride 1: the transpose is a convolution of the signal, zero-padded by kernel - 1, with the
        # flipped filters (input and output channels swapped), built in column blocks as the forward
        dtype = np.result_type(s2, weight_cl)
        flip = (slice(None),) + (slice(None, None, -1),) * len(kernel)
        wflip = np.ascontiguousarray(np.moveaxis(weight_cl[flip], 0, -2).reshape(-1, c))  # (K * F, C)
        # per block of samples: the signal zero-padded in a small buffer of the thread (its borders stay
        # zero), its windows copied into the block's columns, one product
        grown = tuple(o + 2 * (k - 1) for o, k in zip(out, kernel))
        center = (slice(None),) + tuple(slice(k - 1, k - 1 + o) for k, o in zip(kernel, out))
        start = tuple(p0 for p0, _ in pads)
        s4 = s2.reshape((n,) + tuple(out) + (f,))
        S = int(np.prod(spatial))
        per_sample = S * wflip.shape[0]
        dx = np.empty((n * S, c), dtype=dtype)
        b = max(1, min(n, _COLS_BLOCK_BYTES // max(1, per_sample * dtype.itemsize)))

        def run(blocks):
            u = np.zeros((b,) + grown + (f,), dtype=dtype)
            buf = np.empty(b * per_sample, dtype=dtype)
            for a, e in blocks:
                u[: e - a][center] = s4[a:e]
                win = _windows(u[: e - a], spatial, kernel, stride, start=start)
                cols = buf[: (e - a) * per_sample].reshape(win.shape)
                np.copyto(cols, win)
                np.matmul(cols.reshape((e - a) * S, -1), wflip, out=dx[a * S : e * S])

        _map_blocks(n, b, run)
        return dx.reshape((n,) + tuple(spatial) + (c,))
    if compiled and not sparse:
        return _input_adjoint_col2im(s2, weight_cl, n, out, spatial, stride, pads)
    padded = tuple(s + p0 + p1 for s, (p0, p1) in zip(spatial, pads))
    dx = np.zeros((n,) + padded + (c,), dtype=np.result_type(s2, weight_cl))
    buf = np.empty((s2.shape[0], c), dtype=dx.dtype)
    if sparse:
        # a signal routed through a max over a long window (global max-pooling
        # over time) is non-zero at one position per filter: a sparse product
        # skips the zeros
        import scipy.sparse

        s2 = scipy.sparse.csr_matrix(s2)
    for offset in np.ndindex(*kernel):
        if isinstance(s2, np.ndarray):
            np.matmul(s2, weight_cl[(slice(None),) + offset], out=buf)
        else:
            buf[...] = s2 @ weight_cl[(slice(None),) + offset]
        sl = tuple(slice(o, o + st * (m - 1) + 1, st) for o, st, m in zip(offset, stride, out))
        dx[(slice(None),) + sl] += buf.reshape((n,) + tuple(out) + (c,))
    crop = tuple(slice(p0, p0 + s) for s, (p0, _) in zip(spatial, pads))
    return dx[(slice(None),) + crop]


#: bytes of the column block of each thread in the compiled transpose (a quarter of the forward's: the
#: block's product is small, and an explanation holds these buffers beside its cached activations)
_COL2IM_BLOCK_BYTES = 1 << 20


def _input_adjoint_col2im(s2, weight_cl, n, out, spatial, stride, pads):
    """The CPU transpose of a convolution as column blocks: per block of samples, one matrix product into
    the block's columns and the compiled :func:`~sklrp._numba_kernels.col2im`, blocks on the BLAS threads."""
    f, c = weight_cl.shape[0], weight_cl.shape[-1]
    kernel = tuple(weight_cl.shape[1:-1])
    nd = len(kernel)
    dtype = np.result_type(s2, weight_cl)
    wmat = weight_cl.reshape(f, -1)
    P, KC = int(np.prod(out)), int(np.prod(kernel)) * c
    dx = np.empty((n,) + tuple(spatial) + (c,), dtype=dtype)
    b = max(1, min(n, _COL2IM_BLOCK_BYTES // max(1, P * KC * dtype.itemsize)))
    col2im = _cpu_kernels().col2im
    one = dtype.type(1)
    (sh, sw), (ph, pw) = _stride_pad_2d(stride, pads)
    if nd == 1:
        out2, kernel2 = (1,) + tuple(out), (1,) + kernel
    else:
        out2, kernel2 = tuple(out), kernel
    d4 = _as_2d_spatial(dx, nd)
    if c == 1 and kernel2[0] == 1 and sh == sw == 1 and ph == 0:
        # one input channel, filters along rows (EEG's temporal convolutions): the columns transposed,
        # one contiguous row per filter offset
        rows = _cpu_kernels().col2im_rows
        d3 = d4[..., 0]

        def run(blocks):
            buf = np.empty(b * P * KC, dtype=dtype)
            for a, e in blocks:
                cols_t = buf[: (e - a) * P * KC].reshape(KC, (e - a) * P)
                np.matmul(wmat.T, s2[a * P : e * P].T, out=cols_t)
                rows(cols_t, pw, d3[a:e])

        _map_blocks(n, b, run)
        return dx

    def run(blocks):
        buf = np.empty(b * P * KC, dtype=dtype)
        for a, e in blocks:
            cols = buf[: (e - a) * P * KC].reshape((e - a) * P, KC)
            np.matmul(s2[a * P : e * P], wmat, out=cols)
            col2im(cols.reshape((e - a,) + out2 + kernel2 + (c,)), sh, sw, ph, pw, d4[a:e], one)

    _map_blocks(n, b, run)
    return dx


def _input_adjoint_scatter(s2, weight_cl, n, out, spatial, stride, pads):
    """The CPU transpose of a convolution for a signal with few non-zero entries: the compiled
    :func:`~sklrp._numba_kernels.conv_scatter_sparse`, samples split between the BLAS threads."""
    f, c = weight_cl.shape[0], weight_cl.shape[-1]
    nd = weight_cl.ndim - 2
    dtype = np.result_type(s2, weight_cl)
    s4 = s2.reshape((n,) + tuple(out) + (f,))
    dx = np.empty((n,) + tuple(spatial) + (c,), dtype=dtype)
    (sh, sw), (ph, pw) = _stride_pad_2d(stride, pads)
    s4, w4 = _as_2d_spatial(s4, nd), _as_2d_spatial(weight_cl, nd)  # the filters (F, *K, C) alike
    s4, w4 = s4.astype(dtype, copy=False), np.ascontiguousarray(w4, dtype=dtype)
    w3 = w4.reshape(w4.shape[:2] + (-1,))  # (F, KH, KW * C): a window's row is one run
    d3 = _as_2d_spatial(dx, nd).reshape((n, -1, dx.shape[-2] * c))  # (N, H, W * C), a view of dx
    kernel = _cpu_kernels().conv_scatter_sparse
    _map_samples(n, lambda a, e: kernel(s4[a:e], d3[a:e], w3, c, sh, sw, ph, pw, False))
    return dx


def adam_update_cpu(p, grad, m, v, beta_1, beta_2, lr_t, epsilon):
    """One Adam step in place on C-contiguous NumPy arrays of one dtype, with the compiled kernel.

    The arithmetic of :meth:`sklrp.nn.Adam._update`'s NumPy path, in its
    order and in the arrays' dtype, in one pass over memory instead of ten;
    parts of the arrays go to the BLAS threads.
    """
    t = p.dtype.type
    flat = [a.reshape(-1) for a in (p, grad, m, v)]
    kernel = _cpu_kernels().adam_update
    args = (t(beta_1), t(1 - beta_1), t(beta_2), t(1 - beta_2), t(lr_t), t(epsilon))
    _map_samples(flat[0].shape[0], lambda a, e: kernel(*(x[a:e] for x in flat), *args))


def global_max_cpu(x):
    """``(max, argmax)`` over the last axis of ``x`` ``(N, C, L)`` (any strides) with the compiled kernel,
    as ``np.argmax`` (first maximum, first NaN); samples split between the BLAS threads."""
    n, c = x.shape[:2]
    xt = np.moveaxis(x, 1, -1)  # (N, L, C): contiguous for a convolution's channel-last output
    best = np.empty((n, c), dtype=x.dtype)
    idx = np.empty((n, c), dtype=np.int64)
    kernel = _cpu_kernels().global_max
    _map_samples(n, lambda a, e: kernel(xt[a:e], best[a:e], idx[a:e]))
    return best, idx

"""Array backend: the only module that knows NumPy from CuPy.

Everything else in sklrp asks this module for the array namespace of its
inputs (``get_namespace``), for explicit device moves at method boundaries
(``to_device``, ``to_host``) and for a few array helpers that NumPy and CuPy
spell the same way but the array API standard does not cover (strided
windows, scatter-add).  CuPy is imported lazily and only here.
"""

import numpy as np
from array_api_compat import is_cupy_array, is_numpy_array

__all__ = [
    "get_namespace",
    "is_gpu_array",
    "to_device",
    "to_host",
    "resolve_device",
    "array_device",
    "sliding_windows",
    "stabilized_divide",
]

_VALID_DEVICES = (None, "cpu", "cuda")


def _cupy():
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(
            "device='cuda' needs CuPy; install it with `pip install sklrp[gpu]` "
            "(or the cupy-cudaXXx wheel matching your CUDA)."
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


_DIVIDE_KERNEL = None


def _cupy_divide_kernel():
    global _DIVIDE_KERNEL
    if _DIVIDE_KERNEL is None:
        _DIVIDE_KERNEL = _cupy().ElementwiseKernel(
            "T r, T z, T eps",
            "T s",
            "T d = z + (z >= 0 ? eps : -eps); s = (d == 0) ? (T)0 : r / d;",
            "sklrp_stabilized_divide",
        )
    return _DIVIDE_KERNEL


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
        return _cupy_divide_kernel()(R, z, z.dtype.type(epsilon))
    if epsilon:
        return R / np.where(z >= 0, z + epsilon, z - epsilon)
    zero = z == 0
    if zero.any():
        return np.where(zero, 0, R / np.where(zero, 1, z))
    return R / z

"""The optional Numba dependency: whether compiled kernels are used, and how they are called.

Numba is an optional dependency (the ``fast`` extra).  Without it, or with
the environment variable ``SKLRP_NUMBA=0``, :func:`enabled` is false and every
caller uses its NumPy path; the tests run both and compare them.  Numba is
imported on the first kernel call only (``import numba`` takes a second or
two), and compiled kernels are cached on disk after their first compilation.
"""

import importlib.util
import os
import threading

__all__ = ["enabled", "run"]

_HAVE_NUMBA = importlib.util.find_spec("numba") is not None
_LOCK = threading.Lock()


def enabled():
    """Whether the compiled kernels are used (Numba installed and not disabled
    with ``SKLRP_NUMBA=0``)."""
    return _HAVE_NUMBA and os.environ.get("SKLRP_NUMBA", "1") != "0"


def run(kernel, *args):
    """``kernel(*args)``, one call at a time where Numba's threading layer is
    its ``workqueue`` fallback (no OpenMP or TBB), which must not be entered
    from several threads at once (Dask's threaded scheduler, joblib threads);
    the OpenMP and TBB layers are called concurrently."""
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # not known before the first parallel call
        layer = None
    if layer in ("omp", "tbb"):
        return kernel(*args)
    with _LOCK:
        return kernel(*args)

"""Threads of the CPU kernels: one shared BLAS limit, and a pool for blocks of work.

Several of sklrp's CPU passes are a loop over blocks, each a copy and a
matrix product (a convolution's column blocks).  BLAS parallelises each
product on its own, which scales poorly on products of a few megabytes and
leaves the copies on one core.  :func:`map_threads` instead runs the blocks
on as many threads as BLAS would use, each calling single-threaded BLAS.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

__all__ = ["one_blas_thread", "blas_threads", "map_threads", "map_ranges", "matmul"]


class _OneBlasThread:
    """Context: BLAS limited to one thread while any of its users runs.

    One ``ThreadpoolController`` is made on first use (a fresh
    ``threadpool_limits`` scans the loaded libraries, 2-3 ms per call), and
    concurrent users share one limit, restored when the last of them ends
    (nested per-thread limits would restore each other's values out of
    order).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._active = 0
        self._controller = self._limiter = None
        self.outer_threads = 1

    def controller(self):
        """The shared ``ThreadpoolController`` (made on first use)."""
        with self._lock:
            if self._controller is None:
                from threadpoolctl import ThreadpoolController

                self._controller = ThreadpoolController()
            return self._controller

    def __enter__(self):
        controller = self.controller()
        with self._lock:
            if self._active == 0:
                self.outer_threads = _live_blas_threads(controller)
                self._limiter = controller.limit(limits=1, user_api="blas")
            self._active += 1
        return self

    @property
    def active(self):
        """Whether some thread holds the limit."""
        return self._active > 0

    def __exit__(self, *exc):
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


#: BLAS at one thread while kernels or block threads of sklrp run (BLAS threads
#: left spinning after a product would take the cores they use)
one_blas_thread = _OneBlasThread()

_local = threading.local()
_pool = None
_pool_lock = threading.Lock()


def _live_blas_threads(controller):
    return max((lib.num_threads for lib in controller.lib_controllers if lib.user_api == "blas"), default=1)


def blas_threads():
    """The number of threads sklrp's passes may use: those BLAS would use
    (the user's limits and ``OPENBLAS_NUM_THREADS`` respected), as they were
    when :data:`one_blas_thread` was entered while it is held; 1 in a thread
    of :func:`map_threads`."""
    if getattr(_local, "worker", False):
        return 1
    if one_blas_thread.active:
        return one_blas_thread.outer_threads
    return _live_blas_threads(one_blas_thread.controller())


def _mark_worker():
    _local.worker = True


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="sklrp",
                                       initializer=_mark_worker)
        return _pool


def map_threads(work, n_threads):
    """``[work(0), ..., work(n_threads - 1)]``, the calls on ``n_threads`` threads.

    The calling thread runs ``work(0)``, a shared pool the others; BLAS is
    limited to one thread meanwhile (:data:`one_blas_thread`), so the
    threads do not oversubscribe the cores.  With one thread it is a plain
    call, BLAS untouched.  The pool's threads never call this function
    again (:func:`blas_threads` is 1 there), so it cannot wait on itself.
    """
    if n_threads <= 1:
        return [work(0)]
    with one_blas_thread:
        futures = [_executor().submit(work, t) for t in range(1, n_threads)]
        try:
            first = work(0)
        finally:
            wait(futures)  # every thread done before anything is raised or returned
        rest = [f.result() for f in futures]
    return [first, *rest]


def map_ranges(n, n_threads, fn):
    """``fn(start, stop)`` over ``n_threads`` contiguous ranges that split ``range(n)``, one per thread
    (:func:`map_threads`)."""
    bounds = [n * t // n_threads for t in range(n_threads + 1)]
    return map_threads(lambda t: fn(bounds[t], bounds[t + 1]), n_threads)


#: products of fewer multiply-adds run on one thread (splitting them costs more than it saves)
_SPLIT_MIN_MACS = 1 << 21


def matmul(a, b):
    """``a @ b`` for 2-D NumPy arrays, split between the threads.

    Each thread multiplies its share with single-threaded BLAS
    (:func:`map_threads`), so a network pass never wakes BLAS's own
    threads: those spin for milliseconds after a product and, on a small
    machine, take a core from the block threads of the convolutions that
    follow (measured on the CNN, 2 cores: its second convolution ran at
    half speed after a dense layer's BLAS product).  The product is split
    along the larger of its outer dimensions (the rows of ``a`` or the
    columns of ``b``): split along a short one, every thread would pack the
    whole of the large operand.  Small products run on one thread; other
    arrays (CuPy, N-D) are multiplied as ``a @ b``.
    """
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.ndim != 2 or b.ndim != 2:
        return a @ b
    threads = blas_threads()
    if threads <= 1:  # the user's limit, or a thread of the pool: BLAS runs one thread
        return a @ b
    m, n = a.shape[0], b.shape[1]
    n_threads = min(threads, max(1, max(m, n) // 16)) if m * a.shape[1] * n >= _SPLIT_MIN_MACS else 1
    if n_threads <= 1:
        with one_blas_thread:
            return a @ b
    out = np.empty((m, n), dtype=np.result_type(a, b))
    if m >= n:
        map_ranges(m, n_threads, lambda lo, hi: np.matmul(a[lo:hi], b, out=out[lo:hi]))
    else:
        map_ranges(n, n_threads, lambda lo, hi: np.matmul(a, b[:, lo:hi], out=out[:, lo:hi]))
    return out

"""Dask arrays in, lazy Dask arrays out: sklrp's per-sample methods applied block by block.

A method decorated with :func:`dask_blocks` keeps its behaviour for NumPy,
SciPy and CuPy input.  Given a :class:`dask.array.Array` (chunks of NumPy,
CuPy or SciPy sparse arrays) it returns a lazy Dask array instead: the
samples' chunks are kept, the other axes are merged into one chunk, and
each chunk is passed to the method on a worker when the result is
computed.  Per-sample arguments (``target`` with one label or one output
relevance row per sample) are chunked alongside.  The output's trailing
shape and dtype come from calling the method on one zero sample on the
client, which reads nothing of the data.

Dask is imported only when a Dask array is given; sklrp does not depend on
it.
"""

import copy
import functools

import numpy as np
import scipy.sparse as sp

__all__ = ["dask_blocks", "is_dask_array"]


def is_dask_array(X):
    """Whether ``X`` is a :class:`dask.array.Array` (without importing Dask)."""
    cls = type(X)
    return cls.__name__ == "Array" and cls.__module__.split(".")[0] == "dask"


def _per_sample(value, n):
    """Whether a keyword value holds one entry per sample (to be chunked with X)."""
    if value is None or isinstance(value, (str, bytes)) or np.ndim(value) == 0:
        return False
    try:
        return len(value) == n
    except TypeError:
        return False


def _apply(estimator, block, *sample_args, method_name, keys, kwargs, empty):
    """The method ``method_name`` of ``estimator`` on one block (run on a worker); ``empty`` for a block of no
    sample (a filtered array's), which the method itself refuses."""
    if block.shape[0] == 0:
        return empty
    per_sample = dict(zip(keys, sample_args))
    fn = getattr(type(estimator), method_name)
    return getattr(fn, "__wrapped__", fn)(estimator, block, **kwargs, **per_sample)


def _probe(method, estimator, X, kwargs, keys):
    """The method's output on one zero sample shaped like a row of ``X``: its trailing shape and dtype."""
    meta = X._meta
    if sp.issparse(meta):
        row = sp.csr_matrix((1,) + X.shape[1:], dtype=X.dtype)
    else:
        xp = type(meta).__module__.split(".")[0]
        row = np.zeros((1,) + X.shape[1:], dtype=X.dtype)
        if xp == "cupy":
            import cupy

            row = cupy.asarray(row)
    probe_kwargs = dict(kwargs)
    for key in keys:  # the first sample's entry of each per-sample argument
        value = probe_kwargs[key]
        if is_dask_array(value):  # a stand-in of its shape and dtype: nothing is computed before compute()
            if value.ndim == 1 and hasattr(estimator, "classes_"):
                probe_kwargs[key] = np.asarray(estimator.classes_)[:1]
            else:
                probe_kwargs[key] = np.zeros((1,) + value.shape[1:], dtype=value.dtype)
        else:
            probe_kwargs[key] = value[:1] if hasattr(value, "__getitem__") else list(value)[:1]
    out = method(estimator, row, **probe_kwargs)
    if isinstance(out, tuple):
        raise TypeError(
            f"{type(estimator).__name__}.{method.__name__} returns several arrays with these arguments; with a Dask "
            "array it can return one (call it on NumPy chunks with dask.delayed instead)."
        )
    return out


def _token(*parts):
    """A deterministic name for the output: the same input, estimator state and arguments give the same keys."""
    from dask.base import tokenize

    return tokenize(*parts)


def dask_blocks(method):
    """Let ``method(self, X, **kwargs)`` take a Dask array and return a lazy Dask array, block by block.

    The decorated method's first argument after ``self`` is ``X`` with one
    sample per row; it must return one array with one row per sample.
    """

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if not is_dask_array(X):
            return method(self, X, *args, **kwargs)
        if args:  # keyword arguments only, so that each can be told per-sample or not
            names = method.__code__.co_varnames[2 : 2 + len(args)]
            kwargs.update(zip(names, args))
        import dask
        import dask.array as da

        n = X.shape[0]
        if any(np.isnan(c) for c in X.chunks[0]):
            raise ValueError(
                "X is a Dask array of unknown chunk sizes along the samples; call X.compute_chunk_sizes() first."
            )
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})  # whole samples in every block
        keys = [k for k, v in kwargs.items() if _per_sample(v, n)]
        sample_args = []
        for key in keys:
            value = kwargs[key]
            if not is_dask_array(value):
                value = np.asarray(value)
                value = da.from_array(value, chunks=(X.chunks[0],) + value.shape[1:])
            else:
                value = value.rechunk((X.chunks[0],) + tuple(-1 for _ in value.shape[1:]))
            sample_args.append(value)
        fixed = {k: v for k, v in kwargs.items() if k not in keys}
        # the graph holds a copy of the estimator as it is now: a later set_params, fit or partial_fit (which
        # updates a network's weights in place) does not change the result of this call; an estimator whose
        # fitted arrays are only ever replaced, never updated in place, says so with a cheaper _dask_snapshot
        snapshot = self._dask_snapshot() if hasattr(self, "_dask_snapshot") else copy.deepcopy(self)
        out = _probe(method, snapshot, X, kwargs, keys)
        trailing = tuple(out.shape[1:])
        dtype = out.dtype
        if dtype.kind in "USO" and hasattr(self, "classes_"):  # labels: the probe's may be shorter strings
            dtype = np.asarray(self.classes_).dtype
        if sp.issparse(out):
            meta = sp.csr_matrix((0,) + trailing, dtype=dtype)
        else:
            meta = out[:0].astype(dtype)
        sample_axes = "".join(chr(ord("a") + i) for i in range(X.ndim))
        out_axes = "a" + "".join(chr(ord("z") - i) for i in range(len(trailing)))
        # the estimator is one node of the graph, shipped once to each worker, not once per block
        estimator = dask.delayed(snapshot, pure=True)
        blockwise_args = [estimator, None, X, sample_axes]
        for value in sample_args:
            blockwise_args += [value, "a" + "".join(chr(ord("p") + i) for i in range(value.ndim - 1))]
        apply = functools.partial(_apply, method_name=method.__name__, keys=tuple(keys), kwargs=fixed, empty=meta)
        return da.blockwise(
            apply, out_axes, *blockwise_args,
            new_axes={ax: d for ax, d in zip(out_axes[1:], trailing)},
            concatenate=True, meta=meta, dtype=dtype,
            name=f"sklrp-{type(self).__name__}-{method.__name__}-" + _token(X, sample_args, apply, estimator),
        )

    return wrapper

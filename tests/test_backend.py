"""The array backend on the CPU: namespaces, device resolution, moves, errors."""

import importlib.util

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklrp._backend import (
    array_device,
    get_namespace,
    is_gpu_array,
    resolve_device,
    sliding_windows,
    to_device,
    to_host,
)

HAVE_CUPY = importlib.util.find_spec("cupy") is not None


def test_get_namespace_numpy():
    a = np.zeros(3)
    assert get_namespace(a) is np
    assert get_namespace(a, np.ones(2)) is np
    assert get_namespace(None, a, None) is np
    assert get_namespace() is np
    assert get_namespace([1, 2], 3.0) is np  # non-arrays count as host data


def test_array_device_and_is_gpu_array():
    assert array_device(np.zeros(2)) == "cpu"
    assert array_device([1.0]) == "cpu"
    assert not is_gpu_array(np.zeros(2))
    assert not is_gpu_array([1, 2])


@pytest.mark.parametrize(
    "device,X,expected",
    [(None, None, "cpu"), (None, np.zeros((2, 2)), "cpu"), ("cpu", np.zeros(2), "cpu"), ("cuda", np.zeros(2), "cuda"),
     ("cuda", None, "cuda"), ("cpu", None, "cpu")],
)
def test_resolve_device(device, X, expected):
    assert resolve_device(device, X) == expected


# ids avoid the word "gpu": tests/conftest.py skips items whose keywords contain it
@pytest.mark.parametrize("bad", ["gpu", "CUDA", "cuda:0", 0, "tpu"], ids=["g-p-u", "upper", "indexed", "int", "tpu"])
def test_resolve_device_rejects_unknown_devices(bad):
    with pytest.raises(ValueError, match=r"'device' parameter must be one of None, 'cpu' or 'cuda'; got"):
        resolve_device(bad, np.zeros(2))


def test_to_device_and_to_host_on_cpu():
    a = np.arange(6.0).reshape(2, 3)
    assert to_device(a, "cpu") is a
    assert to_host(a) is a
    assert to_device(None, "cpu") is None and to_device(None, "cuda") is None
    assert to_host(None) is None
    h = to_host([[1, 2], [3, 4]])
    assert isinstance(h, np.ndarray) and h.shape == (2, 2)
    assert isinstance(to_device([1.0, 2.0], "cpu"), np.ndarray)
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        to_device(a, "tpu")
    with pytest.raises(ValueError, match="Unknown device None"):
        to_device(a, None)


@pytest.mark.skipif(HAVE_CUPY, reason="CuPy is installed here; the missing-CuPy error cannot be shown")
def test_cuda_without_cupy_says_how_to_install():
    with pytest.raises(ImportError, match=r"device='cuda' needs CuPy: install the wheel for your CUDA version, `pip install cupy-cuda12x` \(CUDA 12\)"):
        to_device(np.zeros(2), "cuda")
    from sklrp import DenseNetClassifier

    X = np.random.RandomState(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ImportError, match="needs CuPy"):
        DenseNetClassifier(device="cuda", max_iter=2).fit(X, y)


def test_estimator_rejects_bad_device_parameter():
    from sklrp import DenseNetClassifier

    X = np.random.RandomState(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="device"):
        DenseNetClassifier(device="gpu", max_iter=2).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_device_cpu_with_numpy_input_is_the_default_path():
    from sklrp import DenseNetClassifier

    X = np.random.RandomState(0).normal(size=(30, 4))
    y = np.arange(30) % 3
    a = DenseNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    b = DenseNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0, device="cpu").fit(X, y)
    assert_array_equal(a.explain(X), b.explain(X))
    assert isinstance(b.explain(X), np.ndarray)


@pytest.mark.parametrize("window,strides", [((3,), (1,)), ((2,), (2,)), ((3,), (2,))])
def test_sliding_windows_1d(window, strides):
    x = np.arange(2 * 3 * 9, dtype=float).reshape(2, 3, 9)
    v = sliding_windows(x, window, strides)
    n_out = (9 - window[0]) // strides[0] + 1
    assert v.shape == (2, 3, n_out, window[0])
    for p in range(n_out):
        assert_array_equal(v[:, :, p], x[:, :, p * strides[0] : p * strides[0] + window[0]])


def test_sliding_windows_2d():
    x = np.random.RandomState(0).normal(size=(2, 2, 5, 6))
    v = sliding_windows(x, (3, 2), (2, 2))
    assert v.shape == (2, 2, 2, 3, 3, 2)
    for i in range(2):
        for j in range(3):
            assert_array_equal(v[:, :, i, j], x[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 2])
    assert np.shares_memory(v, x)  # a view, no copy


def test_subpackages_load_on_attribute_access():
    import subprocess
    import sys

    code = (
        "import sys, sklrp; "
        "assert 'sklrp.text' not in sys.modules; "
        "f = sklrp.metrics.aopc_score; g = sklrp.text.token_relevances; h = sklrp.neighbors.MultiPurposeLSH; "
        "assert 'matplotlib' not in sys.modules; print('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
    import sklrp

    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        sklrp.nonexistent


@pytest.mark.parametrize("density", [0.5, 0.005])
def test_conv_input_adjoint_sparse_and_dense_signals_agree(monkeypatch, density):
    """The CPU transpose multiplies a sparse matrix below a density threshold; both paths give one result."""
    from sklrp import _backend
    from sklrp.nn import Conv1D

    rng = np.random.RandomState(0)
    layer = Conv1D(40, 3, padding="same")
    layer.build((5, 50), rng, np.float64)
    x = rng.normal(size=(4, 5, 50))
    _, cache = layer.forward(x)
    s = rng.normal(size=(4, 40, 50)) * (rng.uniform(size=(4, 40, 50)) < density)
    monkeypatch.setattr(_backend, "_SPARSE_SIGNAL_DENSITY", 0.02)
    got = layer.linear_transpose(s, layer.params["weight"], cache)
    monkeypatch.setattr(_backend, "_SPARSE_SIGNAL_DENSITY", -1.0)  # dense path always
    want = layer.linear_transpose(s, layer.params["weight"], cache)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # and the dense path is the adjoint: <conv(x'), s> == <x', conv^T(s)>
    x2 = rng.normal(size=x.shape)
    z2 = layer.linear(x2, layer.params["weight"])
    np.testing.assert_allclose(np.sum(z2 * s), np.sum(x2 * got), rtol=1e-10)


# --------------------------------------------------------------------------- workspace
def _address(a):
    return a.__array_interface__["data"][0]


def test_workspace_reuses_a_buffer_once_nothing_views_it():
    from sklrp._backend import empty, workspace

    shape = (300, 400)  # 480 kB of float32: pooled
    with workspace():
        a = empty(np, shape, np.float32)
        a[...] = 1.0
        first = _address(a)
        view = a[10:20]
        del a
        b = empty(np, shape, np.float32)  # the first buffer is still viewed: a new one
        assert _address(b) != first
        assert not np.shares_memory(b, view)
        del view
        c = empty(np, (200, 400), np.float32)  # smaller: the smallest free buffer that fits
        assert _address(c) == first
        assert not np.shares_memory(b, c)
        d = empty(np, shape, np.float64)  # twice the bytes: neither buffer fits, nor is b free
        assert not np.shares_memory(d, b) and not np.shares_memory(d, c)
        assert d.shape == shape and d.dtype == np.float64 and d.flags.c_contiguous and d.flags.writeable


def test_workspace_zeros_are_zero_on_a_reused_buffer():
    from sklrp._backend import empty, workspace, zeros

    with workspace():
        a = empty(np, (500, 300), np.float64)
        a.fill(np.nan)
        address = _address(a)
        del a
        z = zeros(np, (500, 300), np.float64)
        assert _address(z) == address
        assert_array_equal(z, 0.0)


def test_outside_a_workspace_and_for_small_arrays_allocation_is_plain():
    from sklrp._backend import empty, workspace, zeros

    a = empty(np, (600, 600), np.float32)
    b = empty(np, (600, 600), np.float32)
    assert a.base is None and b.base is None and not np.shares_memory(a, b)
    assert_array_equal(zeros(np, (4, 5), np.int64), np.zeros((4, 5), np.int64))
    with workspace():
        small = empty(np, (10, 10), np.float32)
        assert small.base is None  # below the pooling size: NumPy's own allocation


def test_workspace_nests_and_ends_with_the_outer_block():
    import sklrp._backend as backend

    with backend.workspace():
        outer = backend._local.pool
        with backend.workspace():
            assert backend._local.pool is outer
        assert backend._local.pool is outer
    assert backend._local.pool is None


def test_workspace_is_per_thread():
    import threading

    import sklrp._backend as backend

    seen = []
    with backend.workspace():
        t = threading.Thread(target=lambda: seen.append(getattr(backend._local, "pool", None)))
        t.start()
        t.join()
        assert backend._local.pool is not None
    assert seen == [None]


def test_workspace_stops_pooling_at_its_buffer_limit(monkeypatch):
    import sklrp._backend as backend

    monkeypatch.setattr(backend, "_POOL_MAX_BUFFERS", 2)
    with backend.workspace():
        kept = [backend.empty(np, (100, 1000), np.float32) for _ in range(4)]
        assert len(backend._local.pool.buffers) == 2
        assert [a.base is None for a in kept] == [False, False, True, True]
        for i in range(4):
            for j in range(i):
                assert not np.shares_memory(kept[i], kept[j])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("epsilon", [1e-6, 1e-3, 0.25])
def test_stabilized_divide_is_the_sign_rule_exactly(dtype, epsilon):
    from sklrp._backend import stabilized_divide

    rng = np.random.default_rng(0)
    z = rng.standard_normal(5000).astype(dtype)
    z[:10], z[10:20] = 0.0, -0.0  # sign(0) = +1, for either zero
    R = rng.standard_normal(5000).astype(dtype)
    expected = R / np.where(z >= 0, z + dtype(epsilon), z - dtype(epsilon))
    out = stabilized_divide(R, z, epsilon)
    assert out.dtype == dtype
    assert_array_equal(out, expected)  # bit for bit
    assert_array_equal(out[:20], R[:20] / dtype(epsilon))
    assert_array_equal(stabilized_divide(R[:1], z, epsilon), R[:1] / np.where(z >= 0, z + dtype(epsilon),
                                                                               z - dtype(epsilon)))


def test_stabilized_divide_without_epsilon_gives_zero_where_z_vanishes():
    from sklrp._backend import stabilized_divide

    z = np.array([2.0, 0.0, -4.0, -0.0])
    assert_array_equal(stabilized_divide(np.array([1.0, 5.0, 2.0, 3.0]), z), [0.5, 0.0, -0.5, 0.0])


# --------------------------------------------------------------------------- convolutions in column blocks
def _conv_loops(x, w, b, stride, pads):
    """Cross-correlation by explicit loops over samples, positions and offsets; (N, C, *S), (F, C, *K)."""
    nd = w.ndim - 2
    xp_ = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    out = tuple((xp_.shape[2 + a] - w.shape[2 + a]) // stride[a] + 1 for a in range(nd))
    z = np.zeros((x.shape[0], w.shape[0]) + out)
    for pos in np.ndindex(*out):
        sl = tuple(slice(p * st, p * st + k) for p, st, k in zip(pos, stride, w.shape[2:]))
        win = xp_[(slice(None), slice(None)) + sl]  # (N, C, *K)
        z[(slice(None), slice(None)) + pos] = np.tensordot(win, w, axes=(list(range(1, 2 + nd)),
                                                                         list(range(1, 2 + nd))))
    return z + b.reshape((1, -1) + (1,) * nd)


CONV_BLOCK_CASES = [  # (input shape (C, *S), filters, kernel, stride, padding)
    ((3, 11), 4, 3, 1, "same"), ((2, 12), 5, 4, 1, "same"), ((3, 13), 4, 3, 2, 1), ((2, 9), 3, 5, 1, "valid"),
    ((3, 7, 8), 4, (3, 2), 1, "same"), ((2, 9, 9), 3, 5, 1, 1), ((2, 8, 7), 3, 3, (2, 1), (1, 0)),
    ((1, 6, 6), 2, 1, 1, "valid"), ((17, 9), 3, 3, 1, "same"), ((16, 5, 6), 2, 3, 1, (2, 1)),
]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block_bytes", [1, 300, None])
@pytest.mark.parametrize("shape,filters,kernel,stride,padding", CONV_BLOCK_CASES)
def test_conv_forward_transpose_and_weight_gradient_in_blocks(monkeypatch, block_bytes, shape, filters, kernel,
                                                              stride, padding, threads):
    """Column blocks of any size, on any number of threads, give the loops' convolution, its exact adjoint and
    its weight gradient."""
    from sklrp import _backend, _threads
    from sklrp.nn import Conv1D, Conv2D

    if block_bytes is not None:  # 1: one sample per block; 300: a few
        monkeypatch.setattr(_backend, "_COLS_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(_threads, "blas_threads", lambda: threads)
    rng = np.random.RandomState(0)
    layer = (Conv1D if len(shape) == 2 else Conv2D)(filters, kernel, stride=stride, padding=padding)
    layer.build(shape, rng, np.float64)
    layer.params["bias"] = rng.normal(size=filters)
    x = rng.normal(size=(5,) + shape)
    z, cache = layer.forward(x)
    want = _conv_loops(x, layer.params["weight"], layer.params["bias"], layer.stride,
                       [p for p in layer._pads()])
    np.testing.assert_allclose(z, want, rtol=1e-12, atol=1e-12)
    # transpose: <conv(x'), s> == <x', conv^T(s)> for the bias-free map, and against the loops' adjoint
    s = rng.normal(size=z.shape)
    back = layer.linear_transpose(s, layer.params["weight"], cache)
    x2 = rng.normal(size=x.shape)
    z2 = layer.linear(x2, layer.params["weight"])
    np.testing.assert_allclose(np.sum(z2 * s), np.sum(x2 * back), rtol=1e-10)
    basis = np.eye(x[0].size).reshape((-1,) + shape)
    cols = np.stack([_conv_loops(e[None], layer.params["weight"], 0 * layer.params["bias"], layer.stride,
                                 layer._pads())[0].ravel() for e in basis], axis=1)  # (outputs, inputs)
    np.testing.assert_allclose(back.reshape(5, -1), s.reshape(5, -1) @ cols, rtol=1e-10, atol=1e-12)
    # weight gradient of sum(z * s): sum over samples of s x windows
    grads = layer.param_grads(s, cache)
    eps = 1e-6
    w0 = layer.params["weight"].copy()
    for idx in [(0,) * w0.ndim, tuple(d - 1 for d in w0.shape)]:
        w1 = w0.copy()
        w1[idx] += eps
        w2 = w0.copy()
        w2[idx] -= eps
        fd = (np.sum(layer.linear(x, w1) * s) - np.sum(layer.linear(x, w2) * s)) / (2 * eps)
        np.testing.assert_allclose(grads["weight"][idx], fd, rtol=1e-6)
    np.testing.assert_allclose(grads["bias"], s.sum(axis=tuple(i for i in range(s.ndim) if i != 1)), rtol=1e-12)
    # a training forward pass keeps the whole column matrix for the weight gradient: the same numbers
    z_t, cache_t = layer.forward(x, training=True)
    np.testing.assert_allclose(z_t, z, rtol=1e-12, atol=1e-12)
    for k, g in layer.param_grads(s, cache_t).items():
        np.testing.assert_allclose(g, grads[k], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.linear_transpose(s, layer.params["weight"], cache_t), back, rtol=1e-12)


def test_column_blocks_give_the_same_bits_on_any_number_of_threads(monkeypatch):
    """Each block is one single-threaded product and the weight gradient sums the blocks in their order, so the
    convolution, its transpose and its weight gradient do not depend on the number of threads."""
    from sklrp import _backend, _threads
    from sklrp.nn import Conv2D

    monkeypatch.setattr(_backend, "_COLS_BLOCK_BYTES", 3000)
    rng = np.random.RandomState(1)
    layer = Conv2D(8, 3, padding="same")
    layer.build((16, 9, 9), rng, np.float32)
    x = rng.normal(size=(23, 16, 9, 9)).astype(np.float32)
    s = rng.normal(size=(23, 8, 9, 9)).astype(np.float32)
    runs = []
    for threads in (2, 3, 5):
        monkeypatch.setattr(_threads, "blas_threads", lambda t=threads: t)
        with _threads.one_blas_thread:  # the reference products single-threaded too
            z, cache = layer.forward(x)
        runs.append((z, layer.linear_transpose(s, layer.params["weight"], cache),
                     layer.param_grads(s, cache)["weight"]))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_map_threads_limits_blas_restores_it_and_raises_what_a_thread_raised():
    from threadpoolctl import threadpool_info

    from sklrp import _threads

    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    seen = _threads.map_threads(lambda t: (t, _threads.blas_threads(), blas()), 3)
    assert [t for t, _, _ in seen] == [0, 1, 2]
    assert all(inner == 1 for _, inner, _ in seen[1:])  # a pool thread never fans out again
    assert all(set(b) == {1} for _, _, b in seen)  # BLAS at one thread meanwhile
    assert blas() == before

    def fail(t):
        if t == 1:
            raise ValueError("block 1 failed")
        return t

    with pytest.raises(ValueError, match="block 1 failed"):
        _threads.map_threads(fail, 2)
    assert blas() == before
    assert _threads.map_threads(lambda t: t, 1) == [0]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(256, 300, 64), (5, 40, 3), (40, 3000, 20)])
def test_threaded_matmul_equals_the_product(monkeypatch, threads, shape):
    """Rows split between threads (single-threaded BLAS each) give the product; small ones stay whole."""
    from sklrp import _threads

    monkeypatch.setattr(_threads, "blas_threads", lambda: threads)
    rng = np.random.RandomState(0)
    m, k, n = shape
    a, b = rng.normal(size=(m, k)).astype(np.float32), rng.normal(size=(k, n))
    got = _threads.matmul(a, b)
    assert got.dtype == np.float64 and got.shape == (m, n)
    np.testing.assert_allclose(got, a @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_threads.matmul(a.T.copy().T, b), a @ b, rtol=1e-12, atol=1e-12)  # any strides
    x3 = rng.normal(size=(2, m, k))
    np.testing.assert_allclose(_threads.matmul(x3, b), x3 @ b)  # N-D: the plain product


def test_threaded_matmul_gives_the_same_bits_on_any_number_of_threads(monkeypatch):
    """Each share is one single-threaded product over the whole inner dimension: the split does not change a bit."""
    from sklrp import _threads

    rng = np.random.RandomState(2)
    for m, k, n in [(128, 700, 300), (700, 64, 200), (37, 500, 301)]:
        a, b = rng.rand(m, k).astype(np.float32), rng.rand(k, n).astype(np.float32)
        runs = []
        for threads in (1, 2, 3, 5):
            monkeypatch.setattr(_threads, "blas_threads", lambda t=threads: t)
            with _threads.one_blas_thread:
                runs.append(_threads.matmul(a, b))
        for r in runs[1:]:
            np.testing.assert_array_equal(r, runs[0])

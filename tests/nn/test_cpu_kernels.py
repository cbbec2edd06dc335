"""The compiled CPU kernels of the layers (Numba) against the NumPy path they replace."""

import numpy as np
import pytest

from sklrp import _backend, _numba, _threads
from sklrp.nn import Conv1D, Conv2D, MaxPool1D, MaxPool2D

pytestmark = pytest.mark.skipif(not _numba._HAVE_NUMBA, reason="Numba is not installed (the `fast` extra)")

POOLS = [  # (layer, input shape (N, C, *S), pool size, stride)
    (MaxPool2D, (7, 5, 10, 9), 2, None), (MaxPool2D, (5, 3, 9, 11), 3, 2), (MaxPool2D, (3, 4, 8, 8), (2, 3), (1, 2)),
    (MaxPool1D, (4, 6, 21), 3, None), (MaxPool1D, (4, 6, 21), 4, 1), (MaxPool2D, (2, 3, 12, 12), 12, None),
]


def _both(monkeypatch, fn):
    monkeypatch.setenv("SKLRP_NUMBA", "0")
    want = fn()
    monkeypatch.setenv("SKLRP_NUMBA", "1")
    return want, fn()


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("channel_last", [True, False])
@pytest.mark.parametrize("layer_cls,shape,pool,stride", POOLS)
def test_max_pool_kernels_equal_the_numpy_path(monkeypatch, layer_cls, shape, pool, stride, channel_last, threads):
    """Maxima, winners (the first of equal maxima), inference and routed relevance, on data full of ties."""
    monkeypatch.setattr(_threads, "blas_threads", lambda: threads)
    rng = np.random.RandomState(0)
    layer = layer_cls(pool, stride)
    layer.build(shape[1:], rng, np.float64)
    x = np.round(rng.normal(size=shape), 1)  # many ties inside windows
    if channel_last:  # a convolution's output: channel-first view of channel-last memory
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1)).transpose((0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))
    g = rng.normal(size=(shape[0], shape[1]) + layer.output_shape[1:])

    def run():
        y, cache = layer.forward(x)
        return y, cache["idx"].astype(np.int64), layer.inference(x)[0], layer.relevance(g, cache), layer.backward(
            g, cache)[0]

    want, got = _both(monkeypatch, run)
    for w, v in zip(want[:3], got[:3]):
        np.testing.assert_array_equal(v, w)
    for w, v in zip(want[3:], got[3:]):  # overlapping windows add up in another order
        np.testing.assert_allclose(v, w, rtol=1e-13, atol=1e-15)
    assert got[0].dtype == want[0].dtype


def test_max_pool_kernel_propagates_nan_as_the_numpy_path(monkeypatch):
    layer = MaxPool2D(2)
    layer.build((1, 4, 4), np.random.RandomState(0), np.float32)
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan  # the last offset of the first window
    x[0, 0, 0, 2] = np.nan  # the first offset of the second window
    want, got = _both(monkeypatch, lambda: layer.forward(x)[0])
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[0, 0, 0, :]).all() and not np.isnan(got[0, 0, 1, :]).any()


CONVS = [  # (layer, input shape (C, *S), filters, kernel, stride, padding)
    (Conv2D, (1, 12, 11), 6, 5, 1, "same"), (Conv2D, (3, 9, 9), 4, 3, 2, 1), (Conv2D, (2, 8, 7), 3, (3, 2), (2, 1), (1, 0)),
    (Conv1D, (4, 15), 5, 4, 1, "same"), (Conv1D, (3, 13), 4, 3, 2, 1), (Conv2D, (2, 6, 5), 3, (6, 1), 1, "valid"),
    (Conv2D, (17, 7, 6), 5, 3, 1, "same"), (Conv1D, (20, 12), 6, 2, 1, "valid"),
    # 16 or more input channels with strides and uneven padding: the scatter's clipped window rows
    (Conv2D, (16, 9, 8), 4, (3, 2), (2, 1), (1, 0)), (Conv1D, (16, 11), 3, 3, 2, 1),
    # one input channel, filters along rows, stride 1 (EEG's temporal convolutions): the transposed-columns path
    (Conv2D, (1, 5, 13), 4, (1, 5), 1, "same"), (Conv1D, (1, 17), 3, 4, 1, "same"),
    (Conv2D, (1, 4, 9), 3, (1, 3), 1, "valid"), (Conv2D, (1, 3, 8), 2, (1, 8), 1, "same"),
]


@pytest.mark.parametrize("density", [1.0, 0.06, 0.01])
@pytest.mark.parametrize("block_bytes", [1, None])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layer_cls,shape,filters,kernel,stride,padding", CONVS)
def test_convolution_transpose_with_col2im_equals_the_numpy_path(monkeypatch, layer_cls, shape, filters, kernel,
                                                                 stride, padding, threads, block_bytes, density):
    """Dense signals (col2im), signals of a few per cent (scattered with 16 or more input channels) and of 1 %
    (scattered), against the NumPy path (products per offset, or a sparse matrix)."""
    if block_bytes is not None:
        monkeypatch.setattr(_backend, "_COLS_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(_threads, "blas_threads", lambda: threads)
    rng = np.random.RandomState(0)
    layer = layer_cls(filters, kernel, stride=stride, padding=padding)
    layer.build(shape, rng, np.float64)
    x = rng.normal(size=(5,) + shape)
    z, cache = layer.forward(x)
    s = rng.normal(size=z.shape)
    s[rng.rand(*s.shape) >= density] = 0
    want, got = _both(monkeypatch, lambda: layer.linear_transpose(s, layer.params["weight"], cache))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # the adjoint identity <conv(x2), s> = <x2, conv^T(s)>
    x2 = rng.normal(size=x.shape)
    np.testing.assert_allclose(np.sum(layer.linear(x2, layer.params["weight"]) * s), np.sum(x2 * got), rtol=1e-10)


WGRAD_CONVS = [  # 16 or more input channels: the scattered weight gradient (with fewer, the product)
    (Conv2D, (17, 7, 6), 5, 3, 1, "same"), (Conv1D, (20, 12), 6, 2, 1, "valid"),
    (Conv2D, (16, 9, 8), 4, (3, 2), (2, 1), (1, 0)), (Conv1D, (16, 11), 3, 3, 2, 1),
    (Conv2D, (3, 9, 9), 4, 3, 2, 1),
]


@pytest.mark.parametrize("density", [0.12, 0.01, 0.0])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("layer_cls,shape,filters,kernel,stride,padding", WGRAD_CONVS)
def test_scattered_weight_gradient_equals_the_product(monkeypatch, layer_cls, shape, filters, kernel, stride,
                                                      padding, training, density):
    """A sparse output gradient's weight gradient, scattered from its non-zero entries (16 or more input
    channels), equals the column product of the NumPy path, and does not depend on the number of threads (the
    samples go in fixed blocks, summed in order)."""
    rng = np.random.RandomState(0)
    layer = layer_cls(filters, kernel, stride=stride, padding=padding)
    layer.build(shape, rng, np.float64)
    x = rng.normal(size=(37,) + shape)
    z, cache = layer.forward(x, training=training)
    assert ("cols" in cache) == training
    g = rng.normal(size=z.shape)
    g[rng.rand(*g.shape) >= density] = 0
    calls = []
    kernel_fn = _backend._cpu_kernels().conv_scatter_sparse
    monkeypatch.setattr(_backend._cpu_kernels(), "conv_scatter_sparse",
                        lambda *a: calls.append(a[-1]) or kernel_fn(*a))  # a[-1]: weight_grad
    want, got = _both(monkeypatch, lambda: layer.param_grads(g, cache))
    assert calls == [True] * len(calls) and bool(calls) == (shape[0] >= 16)
    np.testing.assert_allclose(got["weight"], want["weight"], rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(got["bias"], want["bias"])
    for threads in (1, 3):
        monkeypatch.setattr(_threads, "blas_threads", lambda t=threads: t)
        np.testing.assert_array_equal(layer.param_grads(g, cache)["weight"], got["weight"])


def test_dense_output_gradient_keeps_the_product(monkeypatch):
    """Above _WGRAD_SCATTER_DENSITY non-zero entries the weight gradient stays one matrix product."""
    rng = np.random.RandomState(0)
    layer = Conv2D(4, 3, padding="same")
    layer.build((16, 6, 6), rng, np.float32)
    z, cache = layer.forward(rng.normal(size=(4, 16, 6, 6)).astype(np.float32), training=True)
    monkeypatch.setattr(_backend._cpu_kernels(), "conv_scatter_sparse", None)  # would fail if called
    monkeypatch.setenv("SKLRP_NUMBA", "1")
    g = rng.normal(size=z.shape).astype(np.float32)
    g[rng.rand(*g.shape) >= 0.5] = 0
    assert layer.param_grads(g, cache)["weight"].shape == (4, 16, 3, 3)


def test_the_kernels_are_used(monkeypatch):
    """The compiled paths run where Numba is enabled (not only the NumPy fallback)."""
    calls = []
    for name in ("max_pool", "max_pool_route", "col2im", "col2im_rows", "conv_scatter_sparse", "stabilized_divide"):
        kernel = getattr(_backend._cpu_kernels(), name)
        monkeypatch.setattr(_backend._cpu_kernels(), name, lambda *a, _k=kernel, _n=name: calls.append(_n) or _k(*a))
    monkeypatch.setenv("SKLRP_NUMBA", "1")
    rng = np.random.RandomState(0)
    conv, pool = Conv2D(3, 3, padding="same"), MaxPool2D(2)
    conv.build((1, 6, 6), rng, np.float32)
    pool.build((3, 6, 6), rng, np.float32)
    z, cc = conv.forward(rng.normal(size=(2, 1, 6, 6)).astype(np.float32))
    y, pc = pool.forward(z)
    conv.linear_transpose(pool.relevance(np.ones_like(y), pc), conv.params["weight"], cc)
    sparse = np.zeros_like(y)
    sparse[0, 0, 0, 0] = 1.0
    conv.linear_transpose(pool.relevance(sparse, pc), conv.params["weight"], cc)
    temporal = Conv2D(4, (1, 5), padding="same")
    temporal.build((1, 3, 9), rng, np.float32)
    zt, ct = temporal.forward(rng.normal(size=(2, 1, 3, 9)).astype(np.float32))
    temporal.linear_transpose(np.ones_like(zt), temporal.params["weight"], ct)
    big = rng.normal(size=1 << 16).astype(np.float32)
    _backend.stabilized_divide(big, big, 1e-6)
    assert sorted(set(calls)) == ["col2im", "col2im_rows", "conv_scatter_sparse", "max_pool", "max_pool_route",
                                  "stabilized_divide"]


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adam_step_equals_the_numpy_path_bit_for_bit(monkeypatch, dtype, threads):
    from sklrp.nn import Adam, _optim

    monkeypatch.setattr(_threads, "blas_threads", lambda: threads)
    monkeypatch.setattr(_optim, "_COMPILED_MIN_SIZE", 1)
    calls = []
    step = _backend.adam_update_cpu
    monkeypatch.setattr(_backend, "adam_update_cpu", lambda *a: calls.append(1) or step(*a))

    def run():
        rng = np.random.RandomState(0)
        p = rng.normal(size=(37, 29)).astype(dtype)
        opt = Adam(0.01)
        for _ in range(4):
            opt.t += 1
            opt._lr_t = opt.learning_rate * (1 - opt.beta_2**opt.t) ** 0.5 / (1 - opt.beta_1**opt.t)
            opt._update("w", p, rng.normal(size=p.shape).astype(dtype))
        return p, opt.state["w"]

    want, got = _both(monkeypatch, run)
    assert len(calls) == 4  # the second run only
    np.testing.assert_array_equal(got[0], want[0])
    for a, b in zip(got[1], want[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("channel_last", [True, False])
def test_global_max_kernel_equals_argmax(monkeypatch, channel_last):
    from sklrp.nn import GlobalMaxPool1D

    rng = np.random.RandomState(0)
    layer = GlobalMaxPool1D()
    layer.build((6, 9), rng, np.float32)
    x = np.round(rng.normal(size=(5, 6, 9)), 1).astype(np.float32)  # ties: the first maximum wins
    x[1, 2, 4] = x[1, 2, 7] = np.nan  # the first NaN wins, as np.argmax
    if channel_last:
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1)).transpose(0, 2, 1)
    g = rng.normal(size=(5, 6)).astype(np.float32)

    def run():
        y, cache = layer.forward(x)
        return y, cache["idx"], layer.relevance(g, cache), layer.inference(x)[0]

    want, got = _both(monkeypatch, run)
    for w, v in zip(want, got):
        np.testing.assert_array_equal(v, w)
    assert got[1][1, 2] == 4


def test_relu_writes_over_temporaries_only():
    """A prediction's ReLU overwrites the previous layer's output, never the caller's array or a view of it."""
    from sklrp.nn import Dense, Flatten, ReLU, Sequential

    rng = np.random.RandomState(0)
    x = rng.normal(size=(4, 2, 3))
    for layers in ([ReLU(), Flatten(), Dense(2)], [Flatten(), ReLU(), Dense(2)], [Flatten(), Dense(5), ReLU()]):
        net = Sequential(layers)
        net.build((2, 3), rng, np.float64)
        before = x.copy()
        out = net.predict(x)
        np.testing.assert_array_equal(x, before)
        want, _ = net.forward(x)
        np.testing.assert_array_equal(out, want)
    seen = []
    relu = ReLU()
    relu.inference = lambda x, overwrite=False, _f=relu.inference: seen.append(overwrite) or _f(x, overwrite)
    net = Sequential([Flatten(), Dense(5), relu])
    net.build((2, 3), rng, np.float64)
    net.predict(x)
    assert seen == [True]


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("epsilon", [0.0, 1e-6, 0.25])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_stabilized_divide_equals_the_numpy_path_bit_for_bit(monkeypatch, dtype, epsilon, threads):
    """Zeros, signed zeros, NaN, infinities and denominators near -epsilon, as the five NumPy passes give them."""
    monkeypatch.setattr(_threads, "blas_threads", lambda: threads)
    rng = np.random.RandomState(0)
    n = 1 << 17
    z = rng.normal(size=n).astype(dtype)
    z[:50] = 0.0
    z[50:100] = -0.0
    z[100:110] = np.nan
    z[110:120] = np.inf
    z[120:130] = -np.inf
    z[130:140] = dtype(-epsilon)
    R = rng.normal(size=n).astype(dtype)
    R[::97] = 0.0
    R[5::101] = np.nan
    want, got = _both(monkeypatch, lambda: _backend.stabilized_divide(R, z, epsilon))
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype == dtype
    # broadcast or strided operands take the NumPy path, with the same values
    np.testing.assert_array_equal(_backend.stabilized_divide(R[::2], z[::2], epsilon), want[::2])
    # channel-first views of channel-last memory: the compiled pass in memory order, the layout kept
    R4, z4 = (np.moveaxis(a.reshape(8, 16, 32, 32), 1, -1) for a in (R, z))
    R4, z4 = (np.ascontiguousarray(a).transpose(0, 3, 1, 2) for a in (R4, z4))
    got4 = _backend.stabilized_divide(R4, z4, epsilon)
    assert not z4.flags.c_contiguous and got4.strides == z4.strides
    np.testing.assert_array_equal(got4, np.moveaxis(np.moveaxis(want.reshape(8, 16, 32, 32), 1, -1), -1, 1))


def test_sampled_density_check_only_skips_the_count_of_dense_signals():
    rng = np.random.RandomState(0)
    dense = rng.normal(size=(1 << 20,)).astype(np.float32)
    assert _backend._count_nonzero_unless_dense(dense, 0.1) == dense.size
    sparse = np.zeros(1 << 20, dtype=np.float32)
    sparse[rng.choice(sparse.size, 5000, replace=False)] = 1.0
    assert _backend._count_nonzero_unless_dense(sparse, 0.1) == 5000  # counted exactly
    small = rng.normal(size=100)
    small[:30] = 0
    assert _backend._count_nonzero_unless_dense(small, 0.1) == 70

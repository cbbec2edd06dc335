"""Every layer's forward against a naive loop reference, and every layer's
backward (input gradient and parameter gradients) against central finite
differences of ``sum(G * forward(x))`` (float64, rtol 1e-6)."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklrp.nn import (
    BACKWARD_METHODS,
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalMaxPool1D,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Reshape,
    Sequential,
    SumPool1D,
    SumPool2D,
    Tanh,
    Square,
    Log,
)
from sklrp.rules import TraversalContext

H = 1e-6
RTOL = 1e-6
ATOL = 1e-8


# --------------------------------------------------------------------------- helpers
def build(layer, input_shape, seed=0, random_bias=True):
    rng = np.random.RandomState(seed)
    layer.build(input_shape, rng, np.float64)
    if random_bias and "bias" in layer.params:
        layer.params["bias"] = rng.normal(size=layer.params["bias"].shape)
    return layer


def numeric_grad(f, arr, h=H):
    """Central differences of the scalar ``f()`` with respect to ``arr`` (edited in place)."""
    g = np.zeros(arr.shape, dtype=np.float64)
    for idx in np.ndindex(*arr.shape):
        old = arr[idx]
        arr[idx] = old + h
        fp = f()
        arr[idx] = old - h
        fm = f()
        arr[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g


def distinct_values(rng, shape, spacing=1e-2):
    """Values without ties (gaps >= spacing), so arg-maxes survive a step of H."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2.0) * spacing).reshape(shape)


def away_from_zero(rng, shape, margin=0.05):
    return np.where(rng.rand(*shape) < 0.5, -1.0, 1.0) * (margin + np.abs(rng.normal(size=shape)))


def check_layer_gradient(layer, x, seed=1, forward_kwargs=None, rng_factory=None):
    """Compare the analytic input and parameter gradients with finite differences."""
    forward_kwargs = dict(forward_kwargs or {})
    rs = np.random.RandomState(seed)

    def fwd():
        kw = dict(forward_kwargs)
        if rng_factory is not None:
            kw["rng"] = rng_factory()
        return layer.forward(x, **kw)

    out, cache = fwd()
    G = rs.normal(size=out.shape)

    def f():
        return float(np.sum(G * fwd()[0]))

    grad_in, grads = layer.backward(G, cache)
    assert grad_in.shape == x.shape
    assert_allclose(grad_in, numeric_grad(f, x), rtol=RTOL, atol=ATOL)
    for name, g in grads.items():
        assert g.shape == np.shape(layer.params[name])
        assert_allclose(g, numeric_grad(f, layer.params[name]), rtol=RTOL, atol=ATOL, err_msg=name)
    return grads


# --------------------------------------------------------------------------- naive forward references
def conv_reference(x, W, b, stride, pads):
    """Cross-correlation by explicit loops; x (N, C, *S), W (F, C, *K)."""
    nd = x.ndim - 2
    xpad = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    K = W.shape[2:]
    out_sp = tuple((xpad.shape[2 + d] - K[d]) // stride[d] + 1 for d in range(nd))
    N, F = x.shape[0], W.shape[0]
    out = np.zeros((N, F) + out_sp)
    for n in range(N):
        for f in range(F):
            for pos in np.ndindex(*out_sp):
                sl = tuple(slice(pos[d] * stride[d], pos[d] * stride[d] + K[d]) for d in range(nd))
                out[(n, f) + pos] = np.sum(xpad[(n, slice(None)) + sl] * W[f]) + (0.0 if b is None else b[f])
    return out


def pool_reference(x, size, stride, op):
    nd = x.ndim - 2
    out_sp = tuple((x.shape[2 + d] - size[d]) // stride[d] + 1 for d in range(nd))
    out = np.zeros(x.shape[:2] + out_sp)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for pos in np.ndindex(*out_sp):
            sl = tuple(slice(pos[d] * stride[d], pos[d] * stride[d] + size[d]) for d in range(nd))
            out[(n, c) + pos] = op(x[(n, c) + sl])
    return out


def _pads(padding, kernel, nd):
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        return [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel]
    p = (padding,) * nd if isinstance(padding, int) else padding
    return [(q, q) for q in p]


CONV1D_CASES = [
    # (kernel, stride, padding, length)
    (3, 1, "valid", 7),
    (3, 2, "valid", 8),
    (3, 1, "same", 7),
    (4, 1, "same", 7),  # even kernel: asymmetric 'same' padding
    (3, 1, 1, 6),
    (3, 2, 2, 7),
    (5, 3, 1, 9),
]

CONV2D_CASES = [
    # (kernel, stride, padding, (H, W))
    ((3, 3), (1, 1), "valid", (5, 6)),
    ((3, 2), (2, 1), "valid", (6, 5)),
    ((3, 3), (1, 1), "same", (5, 5)),
    ((2, 4), (1, 1), "same", (4, 6)),
    ((3, 3), (2, 2), 1, (6, 5)),
    ((3, 2), (1, 2), (1, 2), (5, 5)),
]


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("kernel,stride,padding,length", CONV1D_CASES)
def test_conv1d_forward_matches_loops(kernel, stride, padding, length, use_bias):
    layer = build(Conv1D(3, kernel, stride=stride, padding=padding, use_bias=use_bias), (2, length))
    x = np.random.RandomState(2).normal(size=(2, 2, length))
    out, _ = layer.forward(x)
    ref = conv_reference(x, layer.params["weight"], layer.params.get("bias"), (stride,),
                         _pads(padding, (kernel,), 1))
    assert out.shape == (2,) + layer.output_shape
    assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("kernel,stride,padding,hw", CONV2D_CASES)
def test_conv2d_forward_matches_loops(kernel, stride, padding, hw, use_bias):
    layer = build(Conv2D(3, kernel, stride=stride, padding=padding, use_bias=use_bias), (2,) + hw)
    x = np.random.RandomState(2).normal(size=(2, 2) + hw)
    out, _ = layer.forward(x)
    ref = conv_reference(x, layer.params["weight"], layer.params.get("bias"), stride, _pads(padding, kernel, 2))
    assert out.shape == (2,) + layer.output_shape
    assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


# windows of more than 16 values take the arg-max path of max pooling
POOL_CASES_1D = [(2, None, 8), (3, 1, 7), (3, 2, 8), (2, 3, 8), (20, None, 41), (17, 5, 40)]
POOL_CASES_2D = [((2, 2), None, (4, 6)), ((3, 3), (1, 1), (5, 5)), ((3, 2), (2, 1), (6, 5)), (2, 3, (7, 7)),
                 ((5, 5), (2, 2), (9, 9)), ((4, 5), None, (9, 11))]


@pytest.mark.parametrize("size,stride,length", POOL_CASES_1D)
@pytest.mark.parametrize("cls,op", [(MaxPool1D, np.max), (AvgPool1D, np.mean), (SumPool1D, np.sum)])
def test_pool1d_forward_matches_loops(cls, op, size, stride, length):
    layer = build(cls(size, stride=stride), (2, length))
    x = np.random.RandomState(3).normal(size=(2, 2, length))
    st = (size if stride is None else stride,)
    assert_allclose(layer.forward(x)[0], pool_reference(x, (size,), st, op), rtol=1e-12)
    assert_array_equal(layer.inference(x)[0], layer.forward(x)[0])  # the prediction-only pass


@pytest.mark.parametrize("size,stride,hw", POOL_CASES_2D)
@pytest.mark.parametrize("cls,op", [(MaxPool2D, np.max), (AvgPool2D, np.mean), (SumPool2D, np.sum)])
def test_pool2d_forward_matches_loops(cls, op, size, stride, hw):
    layer = build(cls(size, stride=stride), (2,) + hw)
    x = np.random.RandomState(3).normal(size=(2, 2) + hw)
    size2 = (size, size) if isinstance(size, int) else size
    st = size2 if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    assert_allclose(layer.forward(x)[0], pool_reference(x, size2, st, op), rtol=1e-12)
    assert_array_equal(layer.inference(x)[0], layer.forward(x)[0])  # the prediction-only pass


def test_sumpool_scale_and_global_max_forward():
    layer = build(SumPool2D(2, scale=0.5), (1, 4, 4))
    x = np.random.RandomState(0).normal(size=(2, 1, 4, 4))
    assert_allclose(layer.forward(x)[0], 0.5 * pool_reference(x, (2, 2), (2, 2), np.sum), rtol=1e-12)
    g = build(GlobalMaxPool1D(), (3, 5))
    x = np.random.RandomState(1).normal(size=(2, 3, 5))
    assert_allclose(g.forward(x)[0], x.max(axis=-1))
    assert g.output_shape == (3,)


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_gradient(use_bias):
    layer = build(Dense(4, use_bias=use_bias), (5,))
    x = np.random.RandomState(0).normal(size=(3, 5))
    grads = check_layer_gradient(layer, x)
    assert set(grads) == ({"weight", "bias"} if use_bias else {"weight"})


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("kernel,stride,padding,length", CONV1D_CASES)
def test_conv1d_gradient(kernel, stride, padding, length, use_bias):
    layer = build(Conv1D(3, kernel, stride=stride, padding=padding, use_bias=use_bias), (2, length))
    x = np.random.RandomState(0).normal(size=(2, 2, length))
    grads = check_layer_gradient(layer, x)
    assert set(grads) == ({"weight", "bias"} if use_bias else {"weight"})


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("kernel,stride,padding,hw", CONV2D_CASES)
def test_conv2d_gradient(kernel, stride, padding, hw, use_bias):
    layer = build(Conv2D(2, kernel, stride=stride, padding=padding, use_bias=use_bias), (2,) + hw)
    x = np.random.RandomState(0).normal(size=(2, 2) + hw)
    grads = check_layer_gradient(layer, x)
    assert set(grads) == ({"weight", "bias"} if use_bias else {"weight"})


@pytest.mark.parametrize("size,stride,length", POOL_CASES_1D)
@pytest.mark.parametrize("cls", [MaxPool1D, AvgPool1D, SumPool1D])
def test_pool1d_gradient(cls, size, stride, length):
    layer = build(cls(size, stride=stride), (2, length))
    x = distinct_values(np.random.RandomState(0), (2, 2, length))
    assert check_layer_gradient(layer, x) == {}


@pytest.mark.parametrize("size,stride,hw", POOL_CASES_2D)
@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D, SumPool2D])
def test_pool2d_gradient(cls, size, stride, hw):
    layer = build(cls(size, stride=stride), (2,) + hw)
    x = distinct_values(np.random.RandomState(0), (2, 2) + hw)
    assert check_layer_gradient(layer, x) == {}


def test_scaled_sumpool_gradient():
    layer = build(SumPool2D((2, 3), stride=(1, 2), scale=0.37), (2, 5, 7))
    x = np.random.RandomState(0).normal(size=(2, 2, 5, 7))
    check_layer_gradient(layer, x)


def test_global_max_pool_gradient():
    layer = build(GlobalMaxPool1D(), (3, 6))
    x = distinct_values(np.random.RandomState(0), (2, 3, 6))
    check_layer_gradient(layer, x)


def test_flatten_and_reshape_gradient():
    x = np.random.RandomState(0).normal(size=(2, 3, 2, 2))
    check_layer_gradient(build(Flatten(), (3, 2, 2)), x)
    check_layer_gradient(build(Reshape((4, 3)), (3, 2, 2)), x)


def test_relu_gradient_away_from_kink():
    x = away_from_zero(np.random.RandomState(0), (3, 7))
    check_layer_gradient(build(ReLU(), (7,)), x)


def test_tanh_gradient():
    x = np.random.RandomState(0).normal(size=(3, 7))
    check_layer_gradient(build(Tanh(), (7,)), x)


def test_square_and_log_gradients_and_relevance_pass_through():
    rng = np.random.RandomState(0)
    x = rng.normal(size=(3, 7))
    check_layer_gradient(build(Square(), (7,)), x)
    check_layer_gradient(build(Log(), (7,)), np.abs(x) + 0.5)
    layer = build(Log(floor=0.1), (7,))
    y, cache = layer.forward(np.array([[0.0, 0.05, 1.0, 2.0, 3.0, 4.0, 5.0]]))
    assert y[0, 0] == np.log(0.1) and layer.derivative(cache)[0, :2].tolist() == [0.0, 0.0]
    R = rng.normal(size=(3, 7))
    for act in (Square(), Log()):
        assert_array_equal(build(act, (7,)).relevance(R, {}), R)
    with pytest.raises(ValueError, match="floor"):
        Log(floor=0)


def test_dropout_training_gradient_with_fixed_mask():
    layer = build(Dropout(0.4), (4, 5))
    x = np.random.RandomState(0).normal(size=(3, 4, 5))
    # a fresh generator with the same seed per call draws the same mask every time
    check_layer_gradient(layer, x, forward_kwargs={"training": True}, rng_factory=lambda: np.random.RandomState(7))
    out, cache = layer.forward(x, training=True, rng=np.random.RandomState(7))
    mask = cache["mask"]
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.6}
    assert 0 < np.count_nonzero(mask) < mask.size
    assert_allclose(out, x * mask)


def test_dropout_is_identity_at_inference():
    layer = build(Dropout(0.5), (6,))
    x = np.random.RandomState(0).normal(size=(3, 6))
    out, cache = layer.forward(x)
    assert out is x or np.array_equal(out, x)
    check_layer_gradient(layer, x)


@pytest.mark.parametrize("mode", ["deconvnet", "guided_backprop"])
def test_relu_modified_backward_modes(mode):
    rng = np.random.RandomState(0)
    x = away_from_zero(rng, (3, 7))
    g = rng.normal(size=(3, 7))
    layer = build(ReLU(), (7,))
    _, cache = layer.forward(x)
    gin, _ = layer.backward(g, cache, TraversalContext(BACKWARD_METHODS[mode]))
    expected = np.maximum(g, 0) if mode == "deconvnet" else np.maximum(g, 0) * (x > 0)
    assert_allclose(gin, expected)


@pytest.mark.parametrize("pool", ["max", "sum"])
def test_sequential_conv_net_gradient(pool):
    """Whole-stack backward (input and every parameter) against finite differences."""
    P = MaxPool2D if pool == "max" else SumPool2D
    layers = [Conv2D(3, 3, padding="same"), Tanh(), P(2), Conv2D(2, 2, stride=1), Tanh(), Flatten(), Dense(3)]
    net = Sequential(layers)
    rng = np.random.RandomState(0)
    net.build((2, 6, 6), rng, np.float64)
    for layer in net.layers:
        if "bias" in layer.params:
            layer.params["bias"] = rng.normal(size=layer.params["bias"].shape) * 0.1
    x = rng.normal(size=(2, 2, 6, 6))
    out, caches = net.forward(x)
    G = rng.normal(size=out.shape)

    def f():
        return float(np.sum(G * net.forward(x)[0]))

    gin, grads = net.backward(G, caches)
    assert_allclose(gin, numeric_grad(f, x), rtol=RTOL, atol=ATOL)
    for layer, g in zip(net.layers, grads):
        for name, val in g.items():
            assert_allclose(val, numeric_grad(f, layer.params[name]), rtol=RTOL, atol=ATOL)


def test_conv_rejects_bad_configuration():
    with pytest.raises(ValueError, match="padding"):
        Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match="stride 1"):
        Conv2D(2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="does not fit"):
        build(Conv2D(2, 5), (1, 3, 3))
    with pytest.raises(ValueError, match="Flatten"):
        build(Dense(2), (2, 3))
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)

"""Every LRP rule on every linear layer against a slow dense-matrix reference.

The reference sees a linear layer only as its dense matrix ``M`` (built by
applying the layer, without bias, to the basis vectors of its input space),
the bias vector ``b`` (one entry per output element) and the rule's formula,
written here from LRP_REFERENCE.md §0.2 in plain NumPy.  Conventions of the
engine (see sklrp/rules/_rules.py docstring): stabilisers use sign(0) = +1, a
denominator that is exactly zero passes no relevance, AlphaBeta / ZPlus /
ZBox / WSquare / Flat ignore the bias, Zero / Epsilon / Gamma include it
(Gamma with ``b + gamma * b+``).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklrp.nn import AvgPool1D, AvgPool2D, Conv1D, Conv2D, Dense, SumPool1D, SumPool2D
from sklrp.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, Zero, ZPlus

RTOL = 1e-8


# --------------------------------------------------------------------------- dense-matrix view of a layer
def dense_matrix(layer, weight=None):
    """``M[i, j]``: output j of the bias-free layer applied to basis vector e_i."""
    n_in = int(np.prod(layer.input_shape))
    E = np.eye(n_in).reshape((n_in,) + tuple(layer.input_shape))
    w = layer.params["weight"] if weight is None else weight
    return np.asarray(layer.linear(E, w, None)).reshape(n_in, -1)


def bias_vector(layer):
    """The bias of every output element (zero when the layer has none)."""
    n_out = int(np.prod(layer.output_shape))
    b = layer.params.get("bias")
    if b is None:
        return np.zeros(n_out)
    # channel-first outputs (F, *positions): bias f repeats over the positions
    return np.repeat(b, n_out // b.shape[0])


def sign0(z):
    return np.where(z >= 0, 1.0, -1.0)


def redistribute(Z, zsum, R):
    """R_i = sum_j Z_ij / zsum_j R_j, with no relevance through zsum_j == 0."""
    out = np.zeros(Z.shape[0])
    for j in range(Z.shape[1]):
        if zsum[j] != 0:
            out += Z[:, j] / zsum[j] * R[j]
    return out


def reference(rule, x, M, b, R, M_ones, low=None, high=None):
    """Input relevance of one sample (flat vectors) by the rule's formula."""
    pos, neg = np.maximum(M, 0), np.minimum(M, 0)
    if isinstance(rule, (Zero, Epsilon)) and not isinstance(rule, Gamma):
        Z = x[:, None] * M
        z = Z.sum(axis=0) + b
        eps = 0.0 if isinstance(rule, Zero) else rule.epsilon
        return redistribute(Z, z + eps * sign0(z), R)
    if isinstance(rule, Gamma):
        Mg = M + rule.gamma * pos
        bg = b + rule.gamma * np.maximum(b, 0)
        Z = x[:, None] * Mg
        z = Z.sum(axis=0) + bg
        return redistribute(Z, z + rule.epsilon * sign0(z), R)
    if isinstance(rule, AlphaBeta):
        Z = x[:, None] * M
        Zp, Zn = np.maximum(Z, 0), np.minimum(Z, 0)
        return rule.alpha * redistribute(Zp, Zp.sum(axis=0), R) - rule.beta * redistribute(Zn, Zn.sum(axis=0), R)
    if isinstance(rule, ZPlus):
        Z = x[:, None] * pos
        return redistribute(Z, Z.sum(axis=0), R)
    if isinstance(rule, ZBox):
        Z = x[:, None] * M - low[:, None] * pos - high[:, None] * neg
        return redistribute(Z, Z.sum(axis=0), R)
    if isinstance(rule, WSquare):
        Z = M**2
        return redistribute(Z, Z.sum(axis=0), R)
    if isinstance(rule, Flat):
        Z = M_ones
        return redistribute(Z, Z.sum(axis=0), R)
    raise AssertionError(rule)


def run_engine(rule, layer, x, R):
    _, cache = layer.forward(x)
    return rule(layer.linear_op(cache), R)


def check_rule(rule, layer, x, R):
    R_in = run_engine(rule, layer, x, R)
    assert R_in.shape == x.shape
    M = dense_matrix(layer)
    M_ones = dense_matrix(layer, np.ones_like(layer.params["weight"]))
    b = bias_vector(layer)
    n = x.shape[0]
    low = high = None
    if isinstance(rule, ZBox):
        low = np.broadcast_to(np.asarray(rule.low, dtype=float), x.shape).reshape(n, -1)
        high = np.broadcast_to(np.asarray(rule.high, dtype=float), x.shape).reshape(n, -1)
    for s in range(n):
        ref = reference(
            rule, x[s].ravel(), M, b, R[s].ravel(), M_ones,
            None if low is None else low[s], None if high is None else high[s],
        )
        got = R_in[s].ravel()
        atol = 1e-12 * max(1.0, np.abs(ref).max())
        assert_allclose(got, ref, rtol=RTOL, atol=atol, err_msg=f"{rule!r} sample {s}")
    return R_in


# --------------------------------------------------------------------------- cases
def make_layer(spec, use_bias, seed=0):
    cls, args, kwargs, input_shape = spec
    if cls in (Dense, Conv1D, Conv2D):
        layer = cls(*args, use_bias=use_bias, **kwargs)
    else:
        layer = cls(*args, **kwargs)
    rng = np.random.RandomState(seed)
    layer.build(input_shape, rng, np.float64)
    if "bias" in layer.params:
        layer.params["bias"] = rng.normal(size=layer.params["bias"].shape)
    return layer


WEIGHTED = {
    "dense": (Dense, (4,), {}, (6,)),
    "conv1d-valid": (Conv1D, (3, 3), {}, (2, 7)),
    "conv1d-same": (Conv1D, (3, 4), {"padding": "same"}, (2, 6)),
    "conv1d-stride2-pad1": (Conv1D, (2, 3), {"stride": 2, "padding": 1}, (2, 8)),
    "conv2d-valid": (Conv2D, (3, (2, 3)), {}, (2, 4, 5)),
    "conv2d-same": (Conv2D, (2, 3), {"padding": "same"}, (2, 4, 4)),
    "conv2d-stride2-pad1": (Conv2D, (2, 3), {"stride": 2, "padding": (1, 1)}, (1, 5, 6)),
}

POOLS = {
    "avgpool1d": (AvgPool1D, (2,), {}, (2, 6)),
    "sumpool1d-overlap": (SumPool1D, (3,), {"stride": 1}, (2, 6)),
    "avgpool2d-overlap": (AvgPool2D, ((3, 2),), {"stride": (1, 2)}, (2, 5, 4)),
    "sumpool2d": (SumPool2D, (2,), {}, (2, 4, 4)),
    "sumpool2d-scaled": (SumPool2D, (2,), {"scale": 0.5}, (1, 4, 6)),
}

RULES = {
    "zero": lambda shape: Zero(),
    "epsilon-0.1": lambda shape: Epsilon(0.1),
    "epsilon-1e-6": lambda shape: Epsilon(1e-6),
    "gamma-0.25": lambda shape: Gamma(0.25),
    "gamma-1-eps": lambda shape: Gamma(1.0, epsilon=0.01),
    "alpha1-beta0": lambda shape: AlphaBeta(1.0, 0.0),
    "alpha2-beta1": lambda shape: AlphaBeta(2.0, 1.0),
    "zplus": lambda shape: ZPlus(),
    "zbox-scalar": lambda shape: ZBox(-3.0, 2.5),
    "zbox-array": lambda shape: ZBox(
        -3.0 - np.random.RandomState(5).rand(*shape), 3.0 + np.random.RandomState(6).rand(*shape)
    ),
    "w2": lambda shape: WSquare(),
    "flat": lambda shape: Flat(),
}


def make_input(layer, sign, seed=1):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(3,) + tuple(layer.input_shape))
    if sign == "nonneg":
        x = np.abs(x)
        x[rng.rand(*x.shape) < 0.2] = 0.0  # like ReLU outputs: some exact zeros
    R = rng.normal(size=(3,) + tuple(layer.output_shape))
    return x, R


@pytest.mark.parametrize("sign", ["mixed", "nonneg"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("layer_name", list(WEIGHTED))
@pytest.mark.parametrize("rule_name", list(RULES))
def test_rule_on_weighted_layer_matches_reference(rule_name, layer_name, use_bias, sign):
    layer = make_layer(WEIGHTED[layer_name], use_bias)
    x, R = make_input(layer, sign)
    check_rule(RULES[rule_name](layer.input_shape), layer, x, R)


@pytest.mark.parametrize("sign", ["mixed", "nonneg"])
@pytest.mark.parametrize("layer_name", list(POOLS))
@pytest.mark.parametrize("rule_name", list(RULES))
def test_rule_on_linear_pool_matches_reference(rule_name, layer_name, sign):
    layer = make_layer(POOLS[layer_name], False)
    assert layer.kind == "pool"
    x, R = make_input(layer, sign)
    check_rule(RULES[rule_name](layer.input_shape), layer, x, R)


def test_dense_matrix_reference_is_sane():
    """The reference's matrix of a Dense layer is its weight, and of a conv layer it reproduces forward."""
    layer = make_layer(WEIGHTED["dense"], True)
    assert_allclose(dense_matrix(layer), layer.params["weight"])
    conv = make_layer(WEIGHTED["conv2d-stride2-pad1"], True)
    x = np.random.RandomState(0).normal(size=(2,) + conv.input_shape)
    z, _ = conv.forward(x)
    assert_allclose(z.reshape(2, -1), x.reshape(2, -1) @ dense_matrix(conv) + bias_vector(conv), rtol=1e-12)


# --------------------------------------------------------------------------- conventions, by hand
def _dense(W, b=None):
    layer = Dense(W.shape[1], use_bias=b is not None)
    layer.build((W.shape[0],), np.random.RandomState(0), np.float64)
    layer.params["weight"] = np.asarray(W, dtype=float)
    if b is not None:
        layer.params["bias"] = np.asarray(b, dtype=float)
    return layer


def test_epsilon_stabiliser_uses_sign_zero_plus_one():
    # z = 1*1 + 1*(-1) = 0 exactly: the denominator is 0 + eps * sign(0) = +eps
    layer = _dense(np.array([[1.0], [-1.0]]))
    x = np.array([[1.0, 1.0]])
    R = np.array([[0.5]])
    R_in = run_engine(Epsilon(0.25), layer, x, R)
    assert_allclose(R_in, [[0.5 / 0.25, -0.5 / 0.25]])


def test_zero_denominator_passes_no_relevance():
    layer = _dense(np.array([[1.0, 2.0], [-1.0, 1.0]]))
    x = np.array([[1.0, 1.0]])  # z = [0, 3]
    R = np.array([[5.0, 3.0]])
    R_in = run_engine(Zero(), layer, x, R)
    assert np.all(np.isfinite(R_in))
    assert_allclose(R_in, [[2.0, 1.0]])  # only output 1 passes relevance
    # z+ and alpha-beta with no positive (or negative) contributions
    layer = _dense(np.array([[-1.0], [-2.0]]))
    R_in = run_engine(ZPlus(), layer, np.array([[1.0, 2.0]]), np.array([[1.0]]))
    assert_allclose(R_in, [[0.0, 0.0]])
    R_in = run_engine(AlphaBeta(2.0, 1.0), layer, np.array([[1.0, 2.0]]), np.array([[1.0]]))
    # z_i = (-1, -4): only the beta part, -beta * z-_i / sum z- * R
    assert_allclose(R_in, [[-0.2, -0.8]])
    # all-zero input: w^2 and flat still pass relevance, z-based rules do not
    x0 = np.zeros((1, 2))
    assert_allclose(run_engine(Zero(), layer, x0, np.array([[1.0]])), [[0.0, 0.0]])
    assert_allclose(run_engine(WSquare(), layer, x0, np.array([[1.0]])), [[0.2, 0.8]])
    assert_allclose(run_engine(Flat(), layer, x0, np.array([[1.0]])), [[0.5, 0.5]])


def test_bias_handling_per_rule():
    rng = np.random.RandomState(0)
    W = rng.normal(size=(5, 3))
    b = rng.normal(size=3) * 3
    x = rng.normal(size=(4, 5))
    R = rng.normal(size=(4, 3))
    with_b, without_b = _dense(W, b), _dense(W)
    for rule in (AlphaBeta(1.0, 0.0), AlphaBeta(2.0, 1.0), ZPlus(), ZBox(-2.0, 2.0), WSquare(), Flat()):
        assert_allclose(run_engine(rule, with_b, x, R), run_engine(rule, without_b, x, R), rtol=1e-12)
    for rule in (Zero(), Epsilon(0.1), Gamma(0.25)):
        assert not np.allclose(run_engine(rule, with_b, x, R), run_engine(rule, without_b, x, R))
    # Gamma's bias enters as b + gamma * b+: gamma = 0 is LRP-0 with the bias
    assert_allclose(run_engine(Gamma(0.0), with_b, x, R), run_engine(Zero(), with_b, x, R), rtol=1e-12)


def test_rules_keep_float32():
    layer = Conv2D(2, 3, padding="same")
    layer.build((1, 4, 4), np.random.RandomState(0), np.float32)
    x = np.abs(np.random.RandomState(1).normal(size=(2, 1, 4, 4))).astype(np.float32)
    R = np.random.RandomState(2).normal(size=(2, 2, 4, 4)).astype(np.float32)
    for rule in RULES.values():
        out = run_engine(rule((1, 4, 4)), layer, x, R)
        assert out.dtype == np.float32
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("rule", [AlphaBeta(2.0, 1.0), AlphaBeta(1.0, 0.0), ZPlus()], ids=repr)
@pytest.mark.parametrize("exponent", [-1060, -1020, -1000, -700, 700, 1000])
def test_scale_free_rules_on_extreme_inputs(rule, exponent):
    """Alpha-beta and z+ without bias do not depend on the scale of x; for inputs near the float limits the ratio
    R / z overflowed (inf relevance, found by the fuzz suite at x = 2.2e-308) or underflowed (0). The rules rescale
    such inputs by an exact power of two: the relevance equals that of the unscaled input."""
    rng = np.random.RandomState(0)
    layer = Dense(3)
    layer.build((4,), rng, np.float64)
    x = rng.normal(size=(2, 4))
    R = rng.uniform(0.5, 1.5, size=(2, 3))
    ref = run_engine(rule, layer, x, R)
    ldexp = np.ldexp(x, exponent)  # exact for the finite results; subnormal below about 2**-1022
    got = run_engine(rule, layer, ldexp, R)
    assert np.all(np.isfinite(got))
    assert_allclose(got, ref, rtol=1e-9 if exponent > -1000 else 1e-3, atol=0)
    # mixed: one sample of ordinary magnitude, one extreme: each keeps its own relevance
    mixed = np.vstack([x[:1], ldexp[1:]])
    assert_allclose(run_engine(rule, layer, mixed, R), ref, rtol=1e-9 if exponent > -1000 else 1e-3)


@pytest.mark.parametrize("rule", [AlphaBeta(2.0, 1.0), ZPlus()], ids=repr)
@pytest.mark.parametrize("exponent", [-140, -130, 100])
def test_scale_free_rules_on_extreme_float32_inputs(rule, exponent):
    """The same in float32, whose subnormal range starts at 2**-126: a subnormal maximum once made the scale
    factor 2**-e overflow to inf (NaN relevance)."""
    rng = np.random.RandomState(0)
    layer = Dense(3, use_bias=False)
    layer.build((4,), rng, np.float32)
    x = rng.normal(size=(2, 4)).astype(np.float32)
    R = rng.uniform(0.5, 1.5, size=(2, 3)).astype(np.float32)
    ref = run_engine(rule, layer, x, R)
    with np.errstate(under="ignore"):
        got = run_engine(rule, layer, np.ldexp(x, exponent).astype(np.float32), R)
    assert got.dtype == np.float32 and np.all(np.isfinite(got))
    assert_allclose(got, ref, rtol=1e-2 if exponent < -126 else 1e-5, atol=0)

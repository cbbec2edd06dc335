"""Properties of LRP that follow from the definitions (LRP_REFERENCE.md §0.6),
and how composites assign rules to layers."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklrp.nn import (
    AvgPool2D,
    Conv1D,
    Conv2D,
    Dense,
    Flatten,
    GlobalMaxPool1D,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Sequential,
    SumPool2D,
)
from sklrp.rules import (
    COMPOSITES,
    AlphaBeta,
    Composite,
    Epsilon,
    Flat,
    Gamma,
    WSquare,
    ZBox,
    Zero,
    ZPlus,
    get_composite,
    make_rule,
)


# --------------------------------------------------------------------------- nets
def dense_net(bias):
    return [Dense(10, use_bias=bias), ReLU(), Dense(8, use_bias=bias), ReLU(), Dense(4, use_bias=bias)], (7,)


def conv_maxpool_net(bias):
    return [
        Conv2D(4, 3, padding="same", use_bias=bias), ReLU(), MaxPool2D(2),
        Conv2D(5, 2, use_bias=bias), ReLU(), Flatten(), Dense(6, use_bias=bias), ReLU(), Dense(3, use_bias=bias),
    ], (2, 6, 6)


def conv_sumpool_net(bias):
    return [
        Conv2D(4, 3, stride=1, padding=1, use_bias=bias), ReLU(), SumPool2D(2),
        Conv2D(3, 3, padding="same", use_bias=bias), ReLU(), AvgPool2D(3, stride=1), Flatten(), Dense(3, use_bias=bias),
    ], (1, 6, 6)


def conv1d_net(bias):
    return [
        Conv1D(4, 3, padding="same", use_bias=bias), ReLU(), MaxPool1D(2),
        Conv1D(5, 3, stride=2, padding=1, use_bias=bias), ReLU(), GlobalMaxPool1D(), Dense(3, use_bias=bias),
    ], (2, 12)


NETS = {"dense": dense_net, "conv-maxpool": conv_maxpool_net, "conv-sumpool": conv_sumpool_net, "conv1d": conv1d_net}


def make_net(name, bias=False, seed=0):
    layers, shape = NETS[name](bias)
    net = Sequential(layers)
    rng = np.random.RandomState(seed)
    net.build(shape, rng, np.float64)
    for layer in net.layers:
        if "bias" in layer.params:
            layer.params["bias"] = rng.normal(size=layer.params["bias"].shape) * 0.3
    return net, shape


def inputs(shape, n=5, seed=1, nonneg=False):
    x = np.random.RandomState(seed).normal(size=(n,) + shape)
    return np.abs(x) if nonneg else x


def target_relevance(net, x, target):
    out, caches = net.forward(x)
    R = np.zeros_like(out)
    R[np.arange(len(x)), target] = out[np.arange(len(x)), target]
    return out, caches, R


def sum_per_sample(R):
    return R.reshape(R.shape[0], -1).sum(axis=1)


# --------------------------------------------------------------------------- conservation
@pytest.mark.parametrize("net_name", list(NETS))
@pytest.mark.parametrize("rule", [Zero(), Epsilon(1e-10)], ids=["lrp0", "epsilon-to-0"])
def test_bias_free_relu_nets_conserve_relevance(net_name, rule):
    net, shape = make_net(net_name, bias=False)
    x = inputs(shape)
    for target in range(net.output_shape[0]):
        out, caches, R = target_relevance(net, x, target)
        R_in = net.relevance(R, caches, Composite({"default": rule}))
        assert R_in.shape == x.shape
        score = out[:, target]
        assert_allclose(sum_per_sample(R_in), score, rtol=1e-6, atol=1e-12 * np.abs(score).max())


@pytest.mark.parametrize("net_name", list(NETS))
def test_biases_absorb_relevance(net_name):
    """With biases, LRP-0 no longer conserves: the check above is not vacuous."""
    net, shape = make_net(net_name, bias=True)
    x = inputs(shape)
    out, caches, R = target_relevance(net, x, 0)
    R_in = net.relevance(R, caches, Composite({"default": Zero()}))
    assert not np.allclose(sum_per_sample(R_in), out[:, 0], rtol=1e-6)


@pytest.mark.parametrize("net_name", list(NETS))
def test_lrp0_equals_gradient_times_input_on_bias_free_relu_nets(net_name):
    net, shape = make_net(net_name, bias=False)
    x = inputs(shape, seed=3)
    n_out = net.output_shape[0]
    for target in range(n_out):
        seed = np.zeros((len(x), n_out))
        seed[:, target] = 1.0
        lrp = net.explain(x, seed, method="lrp", composite="zero")
        gxi = net.explain(x, seed, method="gradient_x_input")
        assert_allclose(lrp, gxi, rtol=1e-8, atol=1e-12 * np.abs(gxi).max())


@pytest.mark.parametrize("net_name", list(NETS))
def test_alpha1_beta0_equals_zplus_on_nonnegative_inputs(net_name):
    net, shape = make_net(net_name, bias=True)  # both rules ignore the bias
    x = inputs(shape, nonneg=True)
    _, caches, R = target_relevance(net, x, 1)
    ab = net.relevance(R, caches, Composite({"default": AlphaBeta(1.0, 0.0)}))
    zp = net.relevance(R, caches, Composite({"default": ZPlus()}))
    assert_allclose(ab, zp, rtol=1e-10, atol=1e-14)
    # and on single layers with non-negative inputs
    for layer, cache in zip(net.layers, caches):
        if hasattr(layer, "linear_op"):
            Rl = np.random.RandomState(0).normal(size=(len(x),) + layer.output_shape)
            op = layer.linear_op(cache)
            assert_allclose(AlphaBeta(1.0, 0.0)(op, Rl), ZPlus()(op, Rl), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.0, 1.0), (3.0, 2.0)])
def test_alpha_beta_layer_conserves_without_bias(alpha, beta):
    rng = np.random.RandomState(0)
    layer = Conv2D(3, 3, padding="same", use_bias=False)
    layer.build((2, 5, 5), rng, np.float64)
    x = rng.normal(size=(4, 2, 5, 5))
    _, cache = layer.forward(x)
    R = rng.normal(size=(4, 3, 5, 5))
    R_in = AlphaBeta(alpha, beta)(layer.linear_op(cache), R)
    assert_allclose(sum_per_sample(R_in), sum_per_sample(R), rtol=1e-10)


@pytest.mark.parametrize("net_name", list(NETS))
def test_zbox_with_zero_bounds_equals_lrp0_without_bias(net_name):
    net_b, shape = make_net(net_name, bias=True)
    net_0, _ = make_net(net_name, bias=True)
    for layer in net_0.layers:  # same weights, biases removed
        if "bias" in layer.params:
            layer.params["bias"] = np.zeros_like(layer.params["bias"])
    x = inputs(shape)
    # single layer: ZBox(0, 0) with a bias == LRP-0 without it
    first_b, first_0 = net_b.layers[0], net_0.layers[0]
    _, cb = first_b.forward(x)
    _, c0 = first_0.forward(x)
    R = np.random.RandomState(2).normal(size=(len(x),) + first_b.output_shape)
    assert_allclose(ZBox(0.0, 0.0)(first_b.linear_op(cb), R), Zero()(first_0.linear_op(c0), R), rtol=1e-10)
    # in a net, as the first-layer rule
    _, caches, R = target_relevance(net_0, x, 0)
    a = net_0.relevance(R, caches, Composite({"default": Zero()}, first=ZBox(0.0, 0.0)))
    b = net_0.relevance(R, caches, Composite({"default": Zero()}))
    assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_wsquare_single_layer_ignores_input_values():
    rng = np.random.RandomState(0)
    for layer, shape in ((Dense(4), (6,)), (Conv1D(3, 3, padding="same"), (2, 7))):
        layer.build(shape, rng, np.float64)
        layer.params["bias"] = rng.normal(size=layer.params["bias"].shape)
        R = rng.normal(size=(3,) + layer.output_shape)
        outs = []
        for seed in range(3):
            x = np.random.RandomState(seed).normal(size=(3,) + shape) * (seed + 1)
            _, cache = layer.forward(x)
            outs.append(WSquare()(layer.linear_op(cache), R))
        assert_allclose(outs[0], outs[1], rtol=1e-12)
        assert_allclose(outs[0], outs[2], rtol=1e-12)


def test_flat_is_uniform_on_a_dense_layer():
    rng = np.random.RandomState(0)
    layer = Dense(4)
    layer.build((6,), rng, np.float64)
    layer.params["bias"] = rng.normal(size=4)
    x = rng.normal(size=(3, 6))
    _, cache = layer.forward(x)
    R = rng.normal(size=(3, 4))
    R_in = Flat()(layer.linear_op(cache), R)
    assert_allclose(R_in, np.repeat(R.sum(axis=1, keepdims=True) / 6, 6, axis=1), rtol=1e-12)


# --------------------------------------------------------------------------- composites
def chain(net, caches, R, rules):
    """Manual LRP pass: ``rules`` maps every linear layer's index to its rule."""
    linear = {i for i, layer in enumerate(net.layers) if hasattr(layer, "linear_op")}
    assert set(rules) == linear
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        R = rules[i](layer.linear_op(caches[i]), R) if i in rules else layer.relevance(R, caches[i])
    return R


def run_both(net_name, composite, expected_rules, nonneg=False, bias=True):
    net, shape = make_net(net_name, bias=bias)
    x = inputs(shape, nonneg=nonneg)
    _, caches, R = target_relevance(net, x, 0)
    got = net.relevance(R, caches, composite)
    want = chain(net, caches, R, expected_rules)
    assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_composite_first_layer_override():
    # dense net: linear layers at 0, 2, 4
    run_both("dense", Composite({"default": Epsilon(0.01)}, first=Flat()), {0: Flat(), 2: Epsilon(0.01), 4: Epsilon(0.01)})
    net, shape = make_net("dense", bias=True)
    x = inputs(shape)
    out, caches, R = target_relevance(net, x, 2)
    R_in = net.relevance(R, caches, Composite({"default": Zero()}, first=Flat()))
    assert_allclose(R_in, np.repeat(R_in[:, :1], R_in.shape[1], axis=1))  # flat at a dense input: uniform


def test_composite_per_kind_rules():
    # conv-sumpool: conv 0, sumpool 2, conv 3, avgpool 5, dense 7
    comp = Composite({"dense": Epsilon(0.1), "conv": Gamma(0.5), "pool": Flat()})
    run_both("conv-sumpool", comp, {0: Gamma(0.5), 2: Flat(), 3: Gamma(0.5), 5: Flat(), 7: Epsilon(0.1)}, nonneg=True)
    # kinds not given fall back to "default", then to LRP-0
    run_both("conv-sumpool", Composite({"conv": ZPlus(), "default": Epsilon(0.2)}),
             {0: ZPlus(), 2: Epsilon(0.2), 3: ZPlus(), 5: Epsilon(0.2), 7: Epsilon(0.2)})
    run_both("conv-sumpool", Composite({"conv": ZPlus()}), {0: ZPlus(), 2: Zero(), 3: ZPlus(), 5: Zero(), 7: Zero()})


def test_user_composite_last_and_layer_rules():
    # conv-maxpool: conv 0, conv 3, dense 6, dense 8
    comp = Composite(
        {"conv": AlphaBeta(2.0, 1.0), "dense": Epsilon(0.05)},
        first=WSquare(), last=Zero(), layer_rules={3: ZPlus(), -3: Gamma(0.1)},
    )
    run_both("conv-maxpool", comp, {0: WSquare(), 3: ZPlus(), 6: Gamma(0.1), 8: Zero()})
    # per-index rules win over first/last
    comp = Composite({"default": Zero()}, first=Flat(), layer_rules={0: Epsilon(0.3)})
    run_both("conv-maxpool", comp, {0: Epsilon(0.3), 3: Zero(), 6: Zero(), 8: Zero()})


def test_dict_and_rule_composites():
    comp = get_composite({"dense": "epsilon", "conv": "zplus", "pool": Flat(), "first": "w2", "last": "zero"})
    assert isinstance(comp, Composite)
    run_both("conv-sumpool", comp, {0: WSquare(), 2: Flat(), 3: ZPlus(), 5: Flat(), 7: Zero()})
    # every keyword of Composite in the dict form, first_match too (it was taken for a layer kind and refused)
    matched = get_composite({"default": "epsilon", "first": "w2", "first_match": "dense"})
    assert matched.first_match == "dense" and "first_match" not in matched.rules
    assert comp.rules["dense"] == Epsilon(1e-6)
    comp = get_composite(Gamma(0.3))
    run_both("dense", comp, {0: Gamma(0.3), 2: Gamma(0.3), 4: Gamma(0.3)})
    c = Composite({"default": Zero()})
    assert get_composite(c) is c
    # a dict composite and the same Composite give the same relevance
    run_both("dense", {"default": "epsilon", "first": "flat"}, {0: Flat(), 2: Epsilon(1e-6), 4: Epsilon(1e-6)})


def test_named_presets():
    for name in COMPOSITES:
        comp = get_composite(name, input_bounds=(-1.0, 1.0))
        assert isinstance(comp, Composite)
        run_both("conv-sumpool", comp, _expected_for_preset(comp))
    for name in ("epsilon", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box", "alpha2_beta1", "deep_taylor"):
        assert name in COMPOSITES
    c = get_composite("epsilon_plus_flat", epsilon=0.3)
    assert c.first == Flat() and c.rules["conv"] == ZPlus() and c.rules["dense"] == Epsilon(0.3)
    c = get_composite("epsilon_gamma_box", epsilon=0.2, gamma=0.1, input_bounds=(-1.0, 2.0))
    assert c.first == ZBox(-1.0, 2.0) and c.rules["conv"] == Gamma(0.1) and c.rules["dense"] == Epsilon(0.2)
    assert get_composite("deep_taylor").first == WSquare()
    assert get_composite("deep_taylor", input_bounds=(0.0, 1.0)).first == ZBox(0.0, 1.0)
    assert get_composite("deep_taylor").rules["default"] == ZPlus()
    assert get_composite("alpha2_beta1").rules["conv"] == AlphaBeta(2.0, 1.0)
    assert get_composite("alpha_beta", alpha=3.0, beta=2.0).rules["dense"] == AlphaBeta(3.0, 2.0)
    with pytest.raises(ValueError, match="input_bounds"):
        get_composite("epsilon_gamma_box")


def _expected_for_preset(comp):
    net, _ = make_net("conv-sumpool")
    linear = [i for i, layer in enumerate(net.layers) if hasattr(layer, "linear_op")]
    out = {}
    for i in linear:
        out[i] = comp.rule_for(net.layers[i], i, len(net.layers), i == linear[0], i == linear[-1])
    # spot-check the resolution against the composite's own fields
    first = comp.first or comp.rules.get(net.layers[linear[0]].kind, comp.rules.get("default", Zero()))
    assert out[linear[0]] == first
    return out


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="Unknown composite 'nope'"):
        get_composite("nope")
    with pytest.raises(ValueError, match="Unknown layer kind"):
        Composite({"lstm": Zero()})
    with pytest.raises(ValueError, match="Unknown LRP rule 'nope'"):
        make_rule("nope")
    with pytest.raises(ValueError, match="Unknown LRP rule 'nope'"):
        get_composite({"dense": "nope"})
    with pytest.raises(ValueError, match="Unknown LRP rule"):
        Composite({"default": Zero()}, first="bogus")
    net, shape = make_net("dense")
    with pytest.raises(ValueError, match="Unknown explanation method"):
        net.explain(inputs(shape), np.ones((5, 4)), method="saliency")


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (2.0, 0.0), (0.5, 0.0), (1.5, 1.0), (2.0, -1.0), (-1.0, -2.0)])
def test_alpha_beta_rejects_alpha_minus_beta_not_one(alpha, beta):
    with pytest.raises(ValueError, match=r"alpha|beta"):
        AlphaBeta(alpha, beta)


def test_rule_parameters_are_validated():
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        Epsilon(-0.1)
    with pytest.raises(ValueError, match="gamma must be a real number"):
        Gamma("big")
    with pytest.raises(ValueError, match="epsilon must be finite"):
        Epsilon(float("nan"))
    assert make_rule("epsilon", epsilon=0.5, gamma=3.0) == Epsilon(0.5)
    assert make_rule("alpha_beta", alpha=3.0, beta=2.0) == AlphaBeta(3.0, 2.0)


def test_max_pool_winner_take_all_with_ties():
    """All relevance of a window goes to one arg-max input, also when inputs tie."""
    layer = MaxPool2D(2)
    layer.build((1, 4, 4), np.random.RandomState(0), np.float64)
    x = np.ones((1, 1, 4, 4))
    x[0, 0, 2:, 2:] = [[1.0, 3.0], [3.0, 2.0]]
    _, cache = layer.forward(x)
    R = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    R_in = layer.relevance(R, cache)
    assert_allclose(sum_per_sample(R_in), [10.0])
    for (i, j), r in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [1.0, 2.0, 3.0, 4.0]):
        window = R_in[0, 0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        assert np.count_nonzero(window) == 1 and window.sum() == r
    assert R_in[0, 0, 2, 3] == 4.0  # first of the tied maxima (row-major)


def test_structural_nonnegative_inputs_and_alpha_beta_shortcut():
    """After a ReLU the rules are told x >= 0; alpha-beta's shortcut gives the general result."""
    from sklrp.nn import (
        Conv2D as _Conv2D,
        Dense as _Dense,
        Flatten as _Flatten,
        MaxPool2D as _MaxPool2D,
        ReLU as _ReLU,
        Sequential as _Sequential,
        SumPool2D as _SumPool2D,
        Tanh as _Tanh,
    )
    from sklrp.rules import AlphaBeta as _AlphaBeta

    rng = np.random.RandomState(3)
    net = _Sequential([
        _Conv2D(3, 3, padding="same"), _ReLU(), _MaxPool2D(2), _Conv2D(4, 3), _ReLU(), _SumPool2D(2, scale=-1.0),
        _Flatten(), _Dense(5), _Tanh(), _Dense(3),
    ])
    net.build((2, 8, 8), rng, np.float64)
    for layer in net.layers:
        if "bias" in layer.params:
            layer.params["bias"] = rng.randn(*layer.params["bias"].shape)
    assert net._nonnegative_inputs() == [False, False, True, True, False, True, False, False, False, False]

    x = rng.randn(4, 2, 8, 8)
    out, caches = net.forward(x)
    R_out = out * (out == out.max(axis=1, keepdims=True))
    for alpha, beta in ((2.0, 1.0), (1.0, 0.0)):
        rule = _AlphaBeta(alpha, beta)
        for i in (3,):  # the second conv sees max-pooled ReLU outputs
            op = net.layers[i].linear_op(caches[i])
            R = rng.rand(*op.output.shape)
            general = rule(op, R)
            op.nonnegative_input = True
            shortcut = rule(op, R)
            np.testing.assert_allclose(shortcut, general, rtol=1e-12, atol=1e-12)
    composite = {"default": _AlphaBeta(2.0, 1.0)}
    R_in = net.relevance(R_out, caches, composite)
    assert R_in.shape == x.shape and np.isfinite(R_in).all()

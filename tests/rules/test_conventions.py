"""The zennit-convention options against slow references written from zennit's formulas.

Each reference sees a linear layer only as its dense matrix ``M`` (the layer
applied to the basis vectors of its input space, see
``test_rules_reference.dense_matrix``), its bias vector ``b`` (one entry per
output element) and the formula of a zennit 0.5 rule (``src/zennit/rules.py``:
the input, parameter and output modifiers of each ``BasicHook`` and its
gradient mapper), with zennit's stabiliser set to the rule's own (0 for z+,
alpha-beta and w^2: a zero denominator passes no relevance).  Notation:
``x+ = max(x, 0)``, ``x- = min(x, 0)``, likewise for ``M`` and ``b``.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from test_rules_reference import bias_vector, check_rule, dense_matrix, redistribute, sign0

from sklrp.nn import AvgPool2D, Conv2D, Dense, Flatten, ReLU, Reshape, Sequential, SumPool2D
from sklrp.rules import (
    COMPOSITES,
    CONVENTIONS,
    AlphaBeta,
    Composite,
    Epsilon,
    Flat,
    Gamma,
    TraversalContext,
    WSquare,
    ZBox,
    Zero,
    ZPlus,
    get_composite,
    make_rule,
)

SPECS = {
    "dense": (Dense, (4,), {}, (6,)),
    "conv2d-same": (Conv2D, (3, 3), {"padding": "same"}, (2, 4, 4)),
    "conv2d-stride2-pad1": (Conv2D, (2, 3), {"stride": 2, "padding": (1, 1)}, (2, 5, 6)),
}
SEEDS = (0, 1, 2)


def pos(a):
    return np.maximum(a, 0)


def neg(a):
    return np.minimum(a, 0)


def signed_bias(rng, n):
    """A bias with entries of both signs (alternating), magnitudes around 1."""
    return (0.3 + np.abs(rng.normal(size=n))) * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)


def make_layer(name, seed):
    cls, args, kwargs, shape = SPECS[name]
    layer = cls(*args, **kwargs)
    rng = np.random.RandomState(seed)
    layer.build(shape, rng, np.float64)
    layer.params["bias"] = signed_bias(rng, layer.params["bias"].shape[0])
    return layer


def make_input(layer, sign, seed):
    rng = np.random.RandomState(100 + seed)
    x = rng.normal(size=(3,) + tuple(layer.input_shape))
    if sign == "nonneg":
        x = np.abs(x)
        x[rng.rand(*x.shape) < 0.2] = 0.0
    R = rng.normal(size=(3,) + tuple(layer.output_shape))
    return x, R


def engine(rule, layer, x, R, nonnegative_input=False):
    _, cache = layer.forward(x)
    return rule(layer.linear_op(cache, nonnegative_input), R)


def compare(rule, layer, x, R, reference, nonnegative_input=False):
    """The rule on ``layer`` against ``reference(x, M, b, R)`` sample by sample."""
    got = engine(rule, layer, x, R, nonnegative_input)
    assert got.shape == x.shape
    M, b = dense_matrix(layer), bias_vector(layer)
    for s in range(x.shape[0]):
        ref = reference(x[s].ravel(), M, b, R[s].ravel())
        assert_allclose(got[s].ravel(), ref, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(ref).max()),
                        err_msg=f"{rule!r} sample {s}")
    return got


# --------------------------------------------------------------------------- zennit's formulas
def zennit_alpha_beta(alpha, beta, stabilizer=0.0):
    """zennit AlphaBeta: positive part x+ W+ + b+ and x- W- (bias zeroed), negative part
    x+ W- + b- and x- W+ (bias zeroed); each sum normalises its own numerators."""

    def ref(x, M, b, R):
        Zp = pos(x)[:, None] * pos(M) + neg(x)[:, None] * neg(M)
        Zn = pos(x)[:, None] * neg(M) + neg(x)[:, None] * pos(M)
        dp, dn = Zp.sum(axis=0) + pos(b), Zn.sum(axis=0) + neg(b)
        return (alpha * redistribute(Zp, dp + stabilizer * sign0(dp), R)
                - beta * redistribute(Zn, dn + stabilizer * sign0(dn), R))

    return ref


def zennit_zplus(x, M, b, R):
    """zennit ZPlus: bias in the denominator, (x+ W+ + x- W-) / (sum + b+) -- alpha=1, beta=0."""
    return zennit_alpha_beta(1.0, 0.0)(x, M, b, R)


def zennit_wsquare(x, M, b, R):
    """zennit WSquare: the parameter modifier squares weight *and* bias, R_i = sum_j W_ij^2 / (sum W^2 + b^2) R_j."""
    Z = M**2
    return redistribute(Z, Z.sum(axis=0) + b**2, R)


def zennit_gamma(gamma, stabilizer):
    """zennit Gamma (generalised): for z_j > 0 the numerators x+ (W + g W+) and x- (W + g W-)
    over their sum plus b + g b+; for z_j < 0 x+ (W + g W-) and x- (W + g W+) over their
    sum plus b + g b-; z_j = 0 passes nothing.  Written as an explicit loop over outputs."""

    def ref(x, M, b, R):
        z = x @ M + b
        out = np.zeros_like(x)
        for j in range(M.shape[1]):
            if z[j] == 0:
                continue
            up, down = M[:, j] + gamma * pos(M[:, j]), M[:, j] + gamma * neg(M[:, j])
            if z[j] > 0:
                numer = pos(x) * up + neg(x) * down
                denom = numer.sum() + b[j] + gamma * pos(b[j])
            else:
                numer = pos(x) * down + neg(x) * up
                denom = numer.sum() + b[j] + gamma * neg(b[j])
            denom = denom + stabilizer * (1.0 if denom >= 0 else -1.0)
            out += numer / denom * R[j] if denom != 0 else 0.0
        return out

    return ref


def zennit_epsilon(epsilon):
    """zennit Epsilon / Norm: R_i = sum_j x_i W_ij / (z_j + eps sign(z_j)) R_j, z_j with the bias."""

    def ref(x, M, b, R):
        Z = x[:, None] * M
        z = Z.sum(axis=0) + b
        return redistribute(Z, z + epsilon * sign0(z), R)

    return ref


def zennit_zbox(low, high):
    """zennit ZBox: (x W + b) - (l W+ + b+) - (h W- + b-), so the bias cancels."""

    def ref(x, M, b, R):
        lo, hi = np.broadcast_to(low, x.shape), np.broadcast_to(high, x.shape)
        Z = x[:, None] * M - lo[:, None] * pos(M) - hi[:, None] * neg(M)
        zb = b - pos(b) - neg(b)
        assert np.all(zb == 0)
        return redistribute(Z, Z.sum(axis=0) + zb, R)

    return ref


# --------------------------------------------------------------------------- option 1: bias in the denominators
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("layer_name", list(SPECS))
def test_zplus_bias_matches_zennit_on_nonnegative_inputs(layer_name, seed):
    """zennit ZPlus: bias in the denominator, x W+ / (sum_i x W+ + b+), for x >= 0."""
    layer = make_layer(layer_name, seed)
    x, R = make_input(layer, "nonneg", seed)
    for nonneg in (False, True):
        compare(ZPlus(bias=True), layer, x, R, zennit_zplus, nonnegative_input=nonneg)
        compare(AlphaBeta(1.0, 0.0, bias=True), layer, x, R, zennit_zplus, nonnegative_input=nonneg)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("layer_name", list(SPECS))
def test_zennit_zplus_on_negative_inputs_is_alpha1_beta0_with_bias(layer_name, seed):
    """zennit ZPlus on any input: (x+ W+ + x- W-) / (sum + b+) == AlphaBeta(1, 0, bias=True);
    sklrp's ZPlus(bias=True) keeps its x W+ / (sum x W+ + b+) there."""
    layer = make_layer(layer_name, seed)
    x, R = make_input(layer, "mixed", seed)
    compare(AlphaBeta(1.0, 0.0, bias=True), layer, x, R, zennit_zplus)

    def sklrp_zplus_bias(x, M, b, R):
        Z = x[:, None] * pos(M)
        return redistribute(Z, Z.sum(axis=0) + pos(b), R)

    compare(ZPlus(bias=True), layer, x, R, sklrp_zplus_bias)


@pytest.mark.parametrize("sign", ["mixed", "nonneg"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("layer_name", list(SPECS))
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.0, 1.0), (3.0, 2.0)])
def test_alpha_beta_bias_matches_zennit(alpha, beta, layer_name, seed, sign):
    """zennit AlphaBeta: b+ in the positive denominator, b- in the negative one (both paths)."""
    layer = make_layer(layer_name, seed)
    x, R = make_input(layer, sign, seed)
    ref = zennit_alpha_beta(alpha, beta)
    general = compare(AlphaBeta(alpha, beta, bias=True), layer, x, R, ref)
    if sign == "nonneg":  # the x >= 0 fast path gives the same result
        fast = compare(AlphaBeta(alpha, beta, bias=True), layer, x, R, ref, nonnegative_input=True)
        assert_allclose(fast, general, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("layer_name", list(SPECS))
def test_wsquare_bias_matches_zennit(layer_name, seed):
    """zennit WSquare: W^2 / (sum_i W^2 + b^2), the squared bias in the denominator."""
    layer = make_layer(layer_name, seed)
    x, R = make_input(layer, "mixed", seed)
    compare(WSquare(bias=True), layer, x, R, zennit_wsquare)


def test_bias_option_changes_the_result_and_absorbs_relevance():
    """With the bias kept, z+, alpha-beta (alpha=1) and w^2 no longer conserve relevance."""
    layer = make_layer("dense", 0)
    layer.params["bias"] = np.abs(layer.params["bias"]) + 1.0  # b+ > 0 everywhere
    x, R = make_input(layer, "nonneg", 0)
    R = np.abs(R)
    for rule in (ZPlus(bias=True), AlphaBeta(1.0, 0.0, bias=True), WSquare(bias=True)):
        kept = engine(rule, layer, x, R).sum(axis=1)
        assert np.all(kept < R.sum(axis=1) - 1e-3), rule
    for rule in (ZPlus(), AlphaBeta(1.0, 0.0), WSquare()):
        assert_allclose(engine(rule, layer, x, R).sum(axis=1), R.sum(axis=1), rtol=1e-12)


# --------------------------------------------------------------------------- option 2: generalised gamma
@pytest.mark.parametrize("sign", ["mixed", "nonneg"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("layer_name", list(SPECS))
@pytest.mark.parametrize("gamma,epsilon", [(0.25, 0.0), (1.0, 1e-6), (0.1, 0.05)])
def test_generalized_gamma_matches_zennit(gamma, epsilon, layer_name, seed, sign):
    """zennit Gamma: positive and negative outputs separately, each favouring its own sign."""
    layer = make_layer(layer_name, seed)
    x, R = make_input(layer, sign, seed)
    rule = Gamma(gamma, epsilon=epsilon, generalized=True)
    general = compare(rule, layer, x, R, zennit_gamma(gamma, epsilon))
    if sign == "nonneg":
        fast = compare(rule, layer, x, R, zennit_gamma(gamma, epsilon), nonnegative_input=True)
        assert_allclose(fast, general, rtol=1e-12, atol=1e-14)


def test_generalized_gamma_equals_gamma_on_positive_outputs_of_nonnegative_inputs():
    """zennit Gamma with x >= 0 and z_j > 0 is the gamma rule of the LRP overview; z_j < 0 differs."""
    layer = make_layer("conv2d-same", 0)
    x, R = make_input(layer, "nonneg", 0)
    z, _ = layer.forward(x)
    old = engine(Gamma(0.5), layer, x, R * (z > 0))
    new = engine(Gamma(0.5, generalized=True), layer, x, R * (z > 0))
    assert_allclose(new, old, rtol=1e-10, atol=1e-13)
    assert (z < 0).any()
    old = engine(Gamma(0.5), layer, x, R * (z < 0))
    new = engine(Gamma(0.5, generalized=True), layer, x, R * (z < 0))
    assert not np.allclose(new, old)


# --------------------------------------------------------------------------- option 3: pooling stabiliser
POOL_NET = {
    "avgpool": (AvgPool2D, (2,), {}, (2, 4, 6)),
    "sumpool-overlap": (SumPool2D, ((3, 2),), {"stride": 1}, (1, 5, 4)),
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pool_name", list(POOL_NET))
@pytest.mark.parametrize("pool_epsilon", [1e-6, 0.1])
def test_pool_epsilon_matches_zennit_norm(pool_epsilon, pool_name, seed):
    """zennit Norm on AvgPool (its presets' LAYER_MAP_BASE): x W / (z + eps sign(z)), eps = the stabiliser."""
    cls, args, kwargs, shape = POOL_NET[pool_name]
    layer = cls(*args, **kwargs)
    layer.build(shape, np.random.RandomState(seed), np.float64)
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(3,) + shape)  # mixed signs: window sums near zero
    R = rng.normal(size=(3,) + layer.output_shape)
    for name in ("epsilon", "epsilon_plus", "epsilon_gamma_box", "alpha2_beta1"):
        comp = get_composite(name, pool_epsilon=pool_epsilon, input_bounds=(-3.0, 3.0))
        rule = comp.rule_for(layer, 1, 3, False, False)
        assert rule == Epsilon(pool_epsilon)
        compare(rule, layer, x, R, zennit_epsilon(pool_epsilon))
    # today's default: LRP-0 on pooling
    compare(get_composite("epsilon").rules["pool"], layer, x, R, zennit_epsilon(0.0))


# --------------------------------------------------------------------------- option 4: which layer is "first"
def build(layers, shape, seed):
    net = Sequential(layers)
    rng = np.random.RandomState(seed)
    net.build(shape, rng, np.float64)
    for layer in net.layers:
        if "bias" in layer.params:
            layer.params["bias"] = signed_bias(rng, layer.params["bias"].shape[0])
    return net


def pool_first_net(seed=0):
    """SumPool -> Conv -> ReLU -> Conv -> ReLU -> Flatten -> Dense: the first rule-using layer is a pool."""
    layers = [SumPool2D(2, stride=1), Conv2D(3, 3, padding="same"), ReLU(), Conv2D(2, 3), ReLU(), Flatten(), Dense(3)]
    return build(layers, (2, 6, 6), seed)


def dense_first_net(seed=0):
    """Dense first, then a convolution: zennit's "first convolution" is not the first layer."""
    layers = [Dense(32), ReLU(), Reshape((2, 4, 4)), Conv2D(3, 3, padding="same"), ReLU(), Flatten(), Dense(3)]
    return build(layers, (5,), seed)


def first_index(net, comp):
    ctxs = TraversalContext.for_layers(comp, net.layers)
    firsts = [i for i, c in enumerate(ctxs) if c.is_first]
    return firsts[0] if firsts else None


@pytest.mark.parametrize("preset", ["epsilon_gamma_box", "epsilon_plus_flat", "deep_taylor"])
def test_first_layer_option_picks_the_layer(preset):
    """zennit SpecialFirstLayerMapComposite: the first module of the first_map's types gets the rule."""
    kw = {"input_bounds": (-1.0, 1.0)}
    net = pool_first_net()
    assert first_index(net, get_composite(preset, **kw)) == 0  # sklrp: any rule-using layer
    assert first_index(net, get_composite(preset, first_layer="any", **kw)) == 0
    assert first_index(net, get_composite(preset, first_layer="conv", **kw)) == 1
    assert first_index(net, get_composite(preset, first_layer="dense_or_conv", **kw)) == 1
    assert first_index(net, get_composite(preset, first_layer=Conv2D, **kw)) == 1
    net = dense_first_net()
    assert first_index(net, get_composite(preset, **kw)) == 0
    assert first_index(net, get_composite(preset, first_layer="conv", **kw)) == 3
    assert first_index(net, get_composite(preset, first_layer="dense_or_conv", **kw)) == 0
    assert first_index(net, get_composite(preset, first_layer=lambda layer: layer.kind == "dense", **kw)) == 0


def test_first_layer_conv_without_convolution_gives_no_first_rule():
    """zennit EpsilonGammaBox on a net without convolutions: no layer gets ZBox."""
    net = Sequential([Dense(4), ReLU(), Dense(2)])
    net.build((3,), np.random.RandomState(0), np.float64)
    comp = get_composite("epsilon_gamma_box", input_bounds=(-1.0, 1.0), first_layer="conv")
    assert first_index(net, comp) is None


def net_reference(net, x, R_out, rules):
    """Slow LRP through ``net`` for one batch: ``rules[i]`` is the reference of linear layer i."""
    _, caches = net.forward(x)
    R = R_out
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        if i not in rules:
            R = layer.relevance(R, caches[i])  # ReLU, Flatten, Reshape: identity up to the shape
            continue
        xi = caches[i]["x"]
        M, b = dense_matrix(layer), bias_vector(layer)
        R = np.stack([rules[i](xi[s].ravel(), M, b, R[s].ravel()) for s in range(len(x))]).reshape(xi.shape)
    return R


@pytest.mark.parametrize("seed", SEEDS)
def test_zennit_epsilon_gamma_box_end_to_end(seed):
    """zennit EpsilonGammaBox + Norm on pools: Norm(1e-6) on the SumPool, ZBox on the first
    convolution, generalised Gamma on the other convolutions, Epsilon on the dense layer."""
    net = pool_first_net(seed)
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1.0, 1.0, size=(3, 2, 6, 6))
    out, _ = net.forward(x)
    R_out = out * (np.arange(3) == 1)
    # the first convolution sees window sums of 4 values in [-1, 1]: bounds (-4, 4)
    comp = get_composite("epsilon_gamma_box", epsilon=0.01, gamma=0.25, input_bounds=(-4.0, 4.0), conventions="zennit")
    got = net.relevance(R_out, net.forward(x)[1], comp)
    want = net_reference(net, x, R_out, {
        0: zennit_epsilon(1e-6),
        1: zennit_zbox(-4.0, 4.0),
        3: zennit_gamma(0.25, 0.0),
        6: zennit_epsilon(0.01),
    })
    assert_allclose(got, want, rtol=1e-8, atol=1e-12 * np.abs(want).max())
    # sklrp's conventions differ: z^B on the pool, the single-sign gamma, LRP-0 on the pool
    sklrp = net.relevance(R_out, net.forward(x)[1], get_composite(
        "epsilon_gamma_box", epsilon=0.01, gamma=0.25, input_bounds=(-4.0, 4.0)))
    assert not np.allclose(sklrp, want)


@pytest.mark.parametrize("seed", SEEDS)
def test_zennit_epsilon_plus_flat_end_to_end(seed):
    """zennit EpsilonPlusFlat: Flat on the first Linear-type layer (dense or conv), ZPlus
    (= alpha1-beta0 with b+) on the other convolutions, Epsilon on dense layers."""
    net = dense_first_net(seed)
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(3, 5))
    out, caches = net.forward(x)
    R_out = out * (np.arange(3) == 0)
    got = net.relevance(R_out, caches, get_composite("epsilon_plus_flat", epsilon=0.1, conventions="zennit"))

    def flat(x, M, b, R):  # zennit Flat on a dense layer: ones for input and weights, bias zeroed
        Z = np.ones_like(M)
        return redistribute(Z, Z.sum(axis=0), R)

    want = net_reference(net, x, R_out, {0: flat, 3: zennit_zplus, 6: zennit_epsilon(0.1)})
    assert_allclose(got, want, rtol=1e-8, atol=1e-12 * np.abs(want).max())


# --------------------------------------------------------------------------- defaults and the switch
@pytest.mark.parametrize("layer_name", list(SPECS))
@pytest.mark.parametrize("sign", ["mixed", "nonneg"])
def test_defaults_are_unchanged(layer_name, sign):
    """The default of every new option is today's rule (the sklrp reference of test_rules_reference)."""
    layer = make_layer(layer_name, 0)
    x, R = make_input(layer, sign, 0)
    pairs = [
        (ZPlus(bias=False), ZPlus()),
        (AlphaBeta(2.0, 1.0, bias=False), AlphaBeta(2.0, 1.0)),
        (AlphaBeta(1.0, 0.0, bias=False), AlphaBeta(1.0, 0.0)),
        (WSquare(bias=False), WSquare()),
        (Gamma(0.25, generalized=False), Gamma(0.25)),
    ]
    for explicit, default in pairs:
        assert explicit == default and hash(explicit) == hash(default) and repr(explicit) == repr(default)
        check_rule(explicit, layer, x, R)
        assert_allclose(engine(explicit, layer, x, R), engine(default, layer, x, R), rtol=0, atol=0)
    assert repr(ZPlus()) == "ZPlus()" and repr(WSquare()) == "WSquare()"
    assert repr(AlphaBeta()) == "AlphaBeta(alpha=2.0, beta=1.0)"
    assert repr(Gamma()) == "Gamma(gamma=0.25, epsilon=0.0)"


def test_preset_defaults_are_unchanged():
    """Every preset without options equals the sklrp conventions spelled out, and keeps its repr."""
    kw = {"epsilon": 0.3, "gamma": 0.1, "alpha": 3.0, "beta": 2.0, "input_bounds": (0.0, 1.0)}
    explicit = {"conventions": "sklrp", "bias": False, "generalized_gamma": False, "pool_epsilon": 0.0,
                "first_layer": "any"}
    for name in COMPOSITES:
        a, b = get_composite(name, **kw), get_composite(name, **kw, **explicit)
        assert repr(a) == repr(b)
        assert a.rules == b.rules and a.first == b.first and a.first_match is None and b.first_match is None
    assert repr(get_composite("epsilon_gamma_box", **kw)) == (
        "Composite({'dense': Epsilon(epsilon=0.3), 'conv': Gamma(gamma=0.1, epsilon=0.0), 'pool': Zero(), "
        "'recurrent': Epsilon(epsilon=0.3)}, first=ZBox(low=0.0, high=1.0))"
    )
    assert repr(get_composite("epsilon_plus_flat", **kw)) == (
        "Composite({'dense': Epsilon(epsilon=0.3), 'conv': ZPlus(), 'pool': Zero(), 'recurrent': Epsilon(epsilon=0.3)}, "
        "first=Flat())"
    )
    assert repr(get_composite("deep_taylor")) == "Composite({'default': ZPlus()}, first=WSquare())"


def expected_zennit(name, eps=0.3, gamma=0.1, alpha=3.0, beta=2.0, bounds=(0.0, 1.0)):
    """The composite conventions="zennit" must build for preset ``name`` (written out by hand)."""
    zplus = AlphaBeta(1.0, 0.0, bias=True)
    pool = Epsilon(1e-6)
    g = Gamma(gamma, generalized=True)
    ab21 = AlphaBeta(2.0, 1.0, bias=True)
    table = {
        "zero": ({"default": Zero()}, None, None),
        "epsilon": ({"dense": Epsilon(eps), "conv": Epsilon(eps), "pool": pool}, None, None),
        "gamma": ({"dense": g, "conv": g, "pool": pool}, None, None),
        "epsilon_plus": ({"dense": Epsilon(eps), "conv": zplus, "pool": pool}, None, None),
        "epsilon_plus_flat": ({"dense": Epsilon(eps), "conv": zplus, "pool": pool}, Flat(), "dense_or_conv"),
        "epsilon_gamma_box": ({"dense": Epsilon(eps), "conv": g, "pool": pool}, ZBox(*bounds), "conv"),
        "alpha_beta": ({"dense": AlphaBeta(alpha, beta, bias=True), "conv": AlphaBeta(alpha, beta, bias=True),
                        "pool": pool}, None, None),
        "alpha2_beta1": ({"dense": ab21, "conv": ab21, "pool": pool}, None, None),
        "alpha1_beta0": ({"dense": zplus, "conv": zplus, "pool": pool}, None, None),
        "epsilon_alpha2_beta1": ({"dense": Epsilon(eps), "conv": ab21, "pool": pool}, None, None),
        "deep_taylor": ({"default": zplus}, ZBox(*bounds), None),
        "flat": ({"default": Flat()}, None, None),
    }
    rules, first, first_layer = table[name]
    if "dense" in rules:  # recurrent layers get the dense layers' rule
        rules = {**rules, "recurrent": rules["dense"]}
    return rules, first, first_layer


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_conventions_zennit_builds_the_expected_composite(name):
    """conventions="zennit": bias kept, generalised gamma, Norm(1e-6) on pools, zennit's
    first-layer types (EpsilonGammaBox: first Convolution; EpsilonPlusFlat: first Linear)."""
    comp = get_composite(name, epsilon=0.3, gamma=0.1, alpha=3.0, beta=2.0, input_bounds=(0.0, 1.0),
                         conventions="zennit")
    rules, first, first_layer = expected_zennit(name)
    assert comp.rules == rules
    assert list(comp.rules) == list(rules)
    assert comp.first == first
    want = get_composite(name, input_bounds=(0.0, 1.0), first_layer=first_layer or "any")
    assert comp.first_match == want.first_match
    if first is not None:  # pool at 0, convolutions at 1 and 3: zennit skips the pool
        assert first_index(pool_first_net(), comp) == (0 if first_layer is None else 1)


def test_conventions_zennit_options_can_be_overridden_one_by_one():
    kw = {"input_bounds": (-1.0, 1.0), "conventions": "zennit"}
    c = get_composite("epsilon_gamma_box", bias=False, generalized_gamma=False, pool_epsilon=0.0,
                      first_layer="any", **kw)
    assert c.rules["conv"] == Gamma(0.25) and c.rules["pool"] == Zero() and c.first_match is None
    c = get_composite("epsilon_plus", bias=False, **kw)
    assert c.rules["conv"] == AlphaBeta(1.0, 0.0)  # zennit's z+ with zero_params=['bias']
    c = get_composite("epsilon_plus", pool_epsilon=0.5, **kw)
    assert c.rules["pool"] == Epsilon(0.5)
    # and each option alone on sklrp's side
    c = get_composite("epsilon_gamma_box", input_bounds=(-1.0, 1.0), generalized_gamma=True)
    assert c.rules["conv"] == Gamma(0.25, generalized=True) and c.rules["pool"] == Zero()
    assert get_composite("epsilon_plus", bias=True).rules["conv"] == ZPlus(bias=True)
    assert get_composite("deep_taylor", bias=True).first == WSquare(bias=True)
    assert get_composite("alpha_beta", bias=True).rules["dense"] == AlphaBeta(2.0, 1.0, bias=True)
    assert get_composite("epsilon", pool_epsilon=1e-6).rules["pool"] == Epsilon(1e-6)
    assert set(CONVENTIONS) == {"sklrp", "zennit"}


def test_conventions_options_leave_given_composites_alone():
    c = Composite({"default": ZPlus()})
    assert get_composite(c, conventions="zennit", bias=True) is c
    assert get_composite(ZPlus(), conventions="zennit").rules["default"] == ZPlus()


# --------------------------------------------------------------------------- parameters
def test_new_parameters_in_repr_eq_hash_and_make_rule():
    assert repr(ZPlus(bias=True)) == "ZPlus(bias=True)"
    assert repr(WSquare(bias=True)) == "WSquare(bias=True)"
    assert repr(AlphaBeta(1.0, 0.0, bias=True)) == "AlphaBeta(alpha=1.0, beta=0.0, bias=True)"
    assert repr(Gamma(0.5, generalized=True)) == "Gamma(gamma=0.5, epsilon=0.0, generalized=True)"
    assert ZPlus(bias=True) != ZPlus() and hash(ZPlus(bias=True)) != hash(ZPlus())
    assert Gamma(generalized=True) != Gamma()
    assert make_rule("zplus", bias=True, epsilon=0.5) == ZPlus(bias=True)
    assert make_rule("w2", bias=True) == WSquare(bias=True)
    assert make_rule("alpha_beta", alpha=1.0, beta=0.0, bias=True) == AlphaBeta(1.0, 0.0, bias=True)
    assert make_rule("gamma", gamma=0.1, generalized=True, bias=True) == Gamma(0.1, generalized=True)
    assert make_rule("epsilon", epsilon=0.5, bias=True, generalized=True) == Epsilon(0.5)
    assert make_rule("zplus", bias=None) == ZPlus()
    assert ZPlus(bias=np.bool_(True)) == ZPlus(bias=True)


def test_new_parameters_are_validated():
    with pytest.raises(ValueError, match="bias must be True or False"):
        ZPlus(bias="yes")
    with pytest.raises(ValueError, match="bias must be True or False"):
        AlphaBeta(bias=1)
    with pytest.raises(ValueError, match="generalized must be True or False"):
        Gamma(generalized=None)
    with pytest.raises(ValueError, match="conventions must be one of"):
        get_composite("epsilon", conventions="pytorch")
    with pytest.raises(ValueError, match="pool_epsilon must be >= 0"):
        get_composite("epsilon", pool_epsilon=-1.0)
    with pytest.raises(ValueError, match="first_layer must be one of"):
        get_composite("epsilon_plus_flat", first_layer="input")
    with pytest.raises(ValueError, match="generalized_gamma must be True or False"):
        get_composite("gamma", generalized_gamma="zennit")
    with pytest.raises(ValueError, match="Composite keys"):
        get_composite("epsilon_plus_flat", first_layer=3)


def test_rules_keep_float32_with_the_new_options():
    layer = Conv2D(2, 3, padding="same")
    layer.build((1, 4, 4), np.random.RandomState(0), np.float32)
    layer.params["bias"] = np.array([0.5, -0.5], dtype=np.float32)
    x = np.random.RandomState(1).normal(size=(2, 1, 4, 4)).astype(np.float32)
    R = np.random.RandomState(2).normal(size=(2, 2, 4, 4)).astype(np.float32)
    for rule in (ZPlus(bias=True), AlphaBeta(bias=True), WSquare(bias=True), Gamma(generalized=True)):
        for nonneg in (False, True):
            out = engine(rule, layer, np.abs(x) if nonneg else x, R, nonneg)
            assert out.dtype == np.float32 and np.all(np.isfinite(out)), rule

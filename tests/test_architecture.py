"""The worked examples of docs/architecture.rst: a new rule and a new layer
type defined outside sklrp, used through composites, checked against slow
references written here from the formulas."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklrp._backend import get_namespace
from sklrp import DenseNetClassifier
from sklrp.nn import Activation, Conv1D, Dense, Flatten, Layer, LinearOp, ReLU, Reshape, Sequential
from sklrp.rules import (
    Composite,
    Epsilon,
    GuidedBackprop,
    Rule,
    TraversalContext,
    ZPlus,
    get_composite,
    product_rule,
    sum_rule,
)


# --------------------------------------------------------------------------- a new rule
class StdEpsilon(Rule):
    """LRP-epsilon with ``epsilon = factor * std(z)`` per output (the LRP tutorial's MNIST layer 2)."""

    name = "std_epsilon"

    def __init__(self, factor=0.1):
        self.factor = float(factor)

    def _params(self):
        return {"factor": self.factor}

    def __call__(self, op, R):
        xp = op.xp
        z = op.output
        eps = self.factor * xp.sqrt(xp.mean(z**2, axis=0)) + 1e-9  # one epsilon per output unit
        s = R / xp.where(z >= 0, z + eps, z - eps)
        return op.x * op.transpose(s, op.weight)


def test_new_rule_in_a_composite_matches_its_formula():
    rng = np.random.RandomState(0)
    net = Sequential([Dense(6), ReLU(), Dense(3)])
    net.build((5,), rng, np.float64)
    x = rng.normal(size=(8, 5))
    out, caches = net.forward(x)
    R = np.zeros_like(out)
    R[:, 1] = out[:, 1]
    got = net.relevance(R, caches, Composite({"dense": StdEpsilon(0.1)}, last=Epsilon(0.0)))
    # slow reference: explicit sums over i, j
    W1, b1 = net.layers[0].params["weight"], net.layers[0].params["bias"]
    W2 = net.layers[2].params["weight"]
    a = np.maximum(x @ W1 + b1, 0)
    R_hidden = np.zeros_like(a)
    for n in range(8):
        for j in range(6):
            R_hidden[n, j] = sum(a[n, j] * W2[j, k] / out[n, k] * R[n, k] for k in range(3))
    z1 = x @ W1 + b1
    eps = 0.1 * np.sqrt((z1**2).mean(axis=0)) + 1e-9
    want = np.zeros_like(x)
    for n in range(8):
        for i in range(5):
            want[n, i] = sum(
                x[n, i] * W1[i, j] / (z1[n, j] + (eps[j] if z1[n, j] >= 0 else -eps[j])) * R_hidden[n, j]
                for j in range(6)
            )
    assert_allclose(got, want, rtol=1e-10)


# --------------------------------------------------------------------------- a new layer type
def _sigmoid(xp, v):
    return 1.0 / (1.0 + xp.exp(-v))


class GatedUnit(Layer):
    """``y = sigmoid(x Wg + bg) * tanh(x Wc + bc) + x Wr``: a gate, a candidate and a skip path.

    Its LRP: the sum rule splits ``R_y`` between the gated term and the skip
    term, the product rule gives the gated term's relevance to the signal
    (``tanh`` passes it on), and the rules the context hands out for the
    linear maps ``"candidate"`` and ``"skip"`` bring both onto ``x``.  The
    gate receives nothing (signal-take-all).
    """

    kind = "gated"
    uses_rules = True

    def __init__(self, units, use_bias=True, bias_factor=0.0, epsilon=0.0):
        super().__init__()
        self.units, self.use_bias = units, use_bias
        self.bias_factor, self.epsilon = bias_factor, epsilon

    def config(self):
        return {"units": self.units, "use_bias": self.use_bias, "bias_factor": self.bias_factor,
                "epsilon": self.epsilon}

    def build(self, input_shape, rng, dtype):
        (d,) = input_shape
        self.params = {k: rng.normal(scale=0.5, size=(d, self.units)).astype(dtype) for k in ("Wg", "Wc", "Wr")}
        if self.use_bias:
            self.params.update({k: rng.normal(scale=0.3, size=self.units).astype(dtype) for k in ("bg", "bc")})
        self.input_shape, self.output_shape = (d,), (self.units,)
        return self.output_shape

    def forward(self, x, training=False, rng=None):
        xp = get_namespace(x)
        p = self.params
        zg = x @ p["Wg"] + p.get("bg", 0)
        zc = x @ p["Wc"] + p.get("bc", 0)
        gate, signal, skip = _sigmoid(xp, zg), xp.tanh(zc), x @ p["Wr"]
        return gate * signal + skip, {"x": x, "zc": zc, "gate": gate, "signal": signal, "skip": skip}

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        p, gate, signal = self.params, cache["gate"], cache["signal"]
        dzc = grad * gate * (1 - signal**2)
        dzg = grad * signal * gate * (1 - gate)
        dx = dzc @ p["Wc"].T + dzg @ p["Wg"].T + grad @ p["Wr"].T
        return dx, (self._param_grads(cache["x"], grad, dzc, dzg) if need_param_grads else {})

    def param_grads(self, grad, cache):
        gate, signal = cache["gate"], cache["signal"]
        return self._param_grads(cache["x"], grad, grad * gate * (1 - signal**2), grad * signal * gate * (1 - gate))

    def _param_grads(self, x, grad, dzc, dzg):
        grads = {"Wc": x.T @ dzc, "Wg": x.T @ dzg, "Wr": x.T @ grad}
        if self.use_bias:
            grads.update(bc=dzc.sum(axis=0), bg=dzg.sum(axis=0))
        return grads

    def relevance(self, R, cache, ctx=None):
        ctx = TraversalContext() if ctx is None else ctx
        x, p = cache["x"], self.params
        R_gated, R_skip = sum_rule([cache["gate"] * cache["signal"], cache["skip"]], R,
                                   epsilon=self.epsilon, bias_factor=self.bias_factor)
        _, R_signal = product_rule(cache["gate"], cache["signal"], R_gated)
        candidate = LinearOp.dense(x, p["Wc"], p.get("bc"), output=cache["zc"])
        skip = LinearOp.dense(x, p["Wr"], output=cache["skip"])
        return ctx.rule(self, "candidate")(candidate, R_signal) + ctx.rule(self, "skip")(skip, R_skip)


def gated_net(use_bias, seed=0):
    net = Sequential([GatedUnit(4, use_bias=use_bias, bias_factor=1.0, epsilon=1e-3), Dense(3, use_bias=use_bias)])
    net.build((5,), np.random.RandomState(seed), np.float64)
    return net


def test_gated_unit_rules_come_from_the_composite():
    net = gated_net(use_bias=True)
    x = np.random.RandomState(1).normal(size=(6, 5))
    out, caches = net.forward(x)
    R = out * (np.arange(3) == 2)
    comp = Composite({GatedUnit: {"candidate": Epsilon(0.01), "skip": ZPlus()}, "dense": Epsilon(0.05)})
    got = net.relevance(R, caches, comp)
    # slow reference from the formulas, written out per element
    p, W = net.layers[0].params, net.layers[1].params
    zg, zc, skip = x @ p["Wg"] + p["bg"], x @ p["Wc"] + p["bc"], x @ p["Wr"]
    y = _sigmoid(np, zg) * np.tanh(zc) + skip
    z_out = y @ W["weight"] + W["bias"]
    R_y = y * ((R / (z_out + 0.05 * np.where(z_out >= 0, 1, -1))) @ W["weight"].T)
    gated = _sigmoid(np, zg) * np.tanh(zc)
    den = gated + skip + 1e-3 * np.where(gated + skip >= 0, 1, -1)
    share = 1e-3 * np.where(gated + skip >= 0, 1, -1) / 2  # bias_factor=1: stabiliser shared by the 2 terms
    R_gated, R_skip = (gated + share) / den * R_y, (skip + share) / den * R_y
    want = np.zeros_like(x)
    Wc, Wr = p["Wc"], p["Wr"]
    Wr_pos = np.maximum(Wr, 0)
    for n in range(6):
        for i in range(5):
            for j in range(4):
                d = zc[n, j] + 0.01 * (1 if zc[n, j] >= 0 else -1)
                want[n, i] += x[n, i] * Wc[i, j] / d * R_gated[n, j]
                zp = x[n] @ Wr_pos[:, j]
                want[n, i] += x[n, i] * Wr_pos[i, j] / zp * R_skip[n, j] if zp != 0 else 0.0
    assert_allclose(got, want, rtol=1e-10)


def test_gated_unit_conserves_relevance_with_bias_factor_one():
    net = gated_net(use_bias=False, seed=3)
    x = np.random.RandomState(4).normal(size=(7, 5))
    out, caches = net.forward(x)
    comp = Composite({GatedUnit: Epsilon(1e-3, bias_factor=1.0), "dense": Epsilon(1e-3, bias_factor=1.0)})
    for target in range(3):
        R = out * (np.arange(3) == target)
        R_in = net.relevance(R, caches, comp)
        assert_allclose(R_in.sum(axis=1), out[:, target], rtol=1e-10)
    # with bias_factor=0 the stabiliser absorbs a (small) share
    R_in = net.relevance(out * (np.arange(3) == 0), caches, Composite({"default": Epsilon(0.5)}))
    assert not np.allclose(R_in.sum(axis=1), out[:, 0], rtol=1e-10)


def test_gated_unit_keys_by_kind_predicate_name_and_position():
    net = gated_net(use_bias=True)
    x = np.random.RandomState(2).normal(size=(4, 5))
    out, caches = net.forward(x)
    R = out * (np.arange(3) == 0)

    def run(comp):
        return net.relevance(R, caches, comp)

    ref = run(Composite({GatedUnit: Epsilon(0.1), "dense": Epsilon(0.2)}))
    assert net.layer_names() == ["gatedunit_0", "dense_0"]
    assert_allclose(run(Composite({"gated": Epsilon(0.1), "dense": Epsilon(0.2)})), ref, rtol=1e-12)
    assert_allclose(run(Composite({lambda layer: layer.kind == "gated": Epsilon(0.1), "default": Epsilon(0.2)})),
                    ref, rtol=1e-12)
    assert_allclose(run(Composite({"default": Epsilon(0.2)}, layer_rules={"gatedunit_0": Epsilon(0.1)})), ref,
                    rtol=1e-12)
    assert_allclose(run(Composite({"default": Epsilon(0.2)}, layer_rules={0: Epsilon(0.1)})), ref, rtol=1e-12)
    assert_allclose(run(Composite({"default": Epsilon(0.2)}, first=Epsilon(0.1))), ref, rtol=1e-12)
    assert_allclose(run(get_composite({"gated": "epsilon", "dense": Epsilon(0.2)}, epsilon=0.1)),
                    run(Composite({"gated": Epsilon(1e-6), "dense": Epsilon(0.2)})), rtol=1e-12)
    # a dict entry: one rule per sub-operation, "default" for the rest
    per_op = run(Composite({GatedUnit: {"candidate": Epsilon(0.1), "default": ZPlus()}, "dense": Epsilon(0.2)}))
    mixed = run(Composite({GatedUnit: {"candidate": Epsilon(0.1), "skip": ZPlus()}, "dense": Epsilon(0.2)}))
    assert_allclose(per_op, mixed, rtol=1e-12)
    assert not np.allclose(per_op, ref)


# --------------------------------------------------------------------------- composites and contexts
def test_first_match_restricts_the_first_layer():
    net = Sequential([Dense(12), ReLU(), Reshape((3, 4)), Conv1D(2, 3), ReLU(), Flatten(), Dense(2)])
    net.build((4,), np.random.RandomState(0), np.float64)
    ctxs = net.contexts(Composite(first_match=Conv1D))
    assert [c.is_first for c in ctxs].index(True) == 3
    ctxs = net.contexts(Composite())
    assert [c.is_first for c in ctxs].index(True) == 0 and [c.is_last for c in ctxs].index(True) == 6
    assert [c.nonnegative_input for c in ctxs] == [False, False, True, True, False, True, True]


def test_composite_keys_are_validated():
    with pytest.raises(ValueError, match="Unknown layer kind 'lstm'"):
        Composite({"lstm": Epsilon()})
    with pytest.raises(ValueError, match="tuple key"):
        Composite({(Dense, "conv"): Epsilon()})
    with pytest.raises(ValueError, match="layer_rules keys"):
        Composite(layer_rules={1.5: Epsilon()})
    with pytest.raises(ValueError, match="Unknown LRP rule"):
        Composite({Dense: {"input": "nope"}})
    # defining a layer class with a new kind makes the kind a valid key
    type("Bilinear", (Layer,), {"kind": "bilinear_test"})
    assert isinstance(Composite({"bilinear_test": Epsilon()}), Composite)


# --------------------------------------------------------------------------- sum, product and bias_factor rules
def test_sum_rule_formula_and_conservation():
    rng = np.random.RandomState(0)
    t1, t2, b, R = (rng.normal(size=(3, 4)) for _ in range(4))
    z = t1 + t2 + b
    sgn = np.where(z >= 0, 1.0, -1.0)
    r1, r2 = sum_rule([t1, t2], R, bias=b, epsilon=0.01)
    assert_allclose(r1, t1 / (z + 0.01 * sgn) * R, rtol=1e-12)
    assert_allclose(r2, t2 / (z + 0.01 * sgn) * R, rtol=1e-12)
    r1, r2 = sum_rule([t1, t2], R, bias=b, epsilon=0.01, bias_factor=1.0)
    assert_allclose(r1, (t1 + (0.01 * sgn + b) / 2) / (z + 0.01 * sgn) * R, rtol=1e-12)
    assert_allclose(r1 + r2, R, rtol=1e-12)
    with pytest.raises(ValueError, match="at least one term"):
        sum_rule([], R)


def test_product_rule_modes():
    rng = np.random.RandomState(1)
    gate, signal, R = rng.uniform(0.1, 1, size=(2, 5)), rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    rg, rs = product_rule(gate, signal, R)
    assert not rg.any() and rs is R
    rg, rs = product_rule(gate, signal, R, mode="half")
    assert_allclose(rg, R / 2) and assert_allclose(rs, R / 2)
    rg, rs = product_rule(gate, signal, R, mode="proportional")
    assert_allclose(rg, gate / (gate + signal) * R, rtol=1e-12)
    assert_allclose(rg + rs, R, rtol=1e-12)
    with pytest.raises(ValueError, match="Unknown product rule mode"):
        product_rule(gate, signal, R, mode="all")


@pytest.mark.parametrize("bias", [True, False])
def test_epsilon_bias_factor_matches_the_lstm_epsilon_rule(bias):
    """LRP_REFERENCE §1.2: R_i<-j = [z_i w_ij + (eps sign(z_j) + delta b_j)/N] / (z_j + eps sign(z_j)) R_j, delta = 1."""
    rng = np.random.RandomState(2)
    x, W, b, R = rng.normal(size=(3, 6)), rng.normal(size=(6, 4)), rng.normal(size=4), rng.normal(size=(3, 4))
    op = LinearOp.dense(x, W, b if bias else None)
    got = Epsilon(1e-3, bias_factor=1.0)(op, R)
    z = x @ W + (b if bias else 0)
    sgn = np.where(z >= 0, 1.0, -1.0)
    share = (1e-3 * sgn + (b if bias else 0)) / 6
    want = np.einsum("ni,ij,nj->ni", x, W, R / (z + 1e-3 * sgn)) + (share * R / (z + 1e-3 * sgn)).sum(axis=1)[:, None]
    assert_allclose(got, want, rtol=1e-12)
    assert_allclose(got.sum(axis=1), R.sum(axis=1), rtol=1e-12)
    assert_allclose(Epsilon(1e-3, bias_factor=0.0)(op, R), Epsilon(1e-3)(op, R))


def test_bias_factor_spreads_over_connected_inputs_only():
    """On a padded convolution the bias share reaches only the inputs inside each window."""
    layer = Conv1D(2, 3, padding="same")
    layer.build((1, 5), np.random.RandomState(0), np.float64)
    layer.params["bias"] = np.array([0.5, -0.7])
    x = np.random.RandomState(1).normal(size=(2, 1, 5))
    out, cache = layer.forward(x)
    R = np.random.RandomState(2).normal(size=out.shape)
    got = Epsilon(0.0, bias_factor=1.0)(layer.linear_op(cache), R)
    assert_allclose(got.sum(axis=(1, 2)), R.sum(axis=(1, 2)), rtol=1e-12)
    fan_in = layer.linear_op(cache).fan_in
    assert fan_in[0, 0, 0] == 2 and fan_in[0, 0, 2] == 3  # the padded edge sees two inputs


# --------------------------------------------------------------------------- gradient rules on activations
class Softplus(Activation):
    """A user activation: only ``forward`` and ``derivative``."""

    def forward(self, x, training=False, rng=None):
        return np.logaddexp(0, x), {"x": x}

    def derivative(self, cache):
        return 1 / (1 + np.exp(-cache["x"]))


def test_user_activation_gets_gradient_and_guided_backprop():
    net = Sequential([Dense(5), Softplus(), Dense(2)])
    net.build((3,), np.random.RandomState(0), np.float64)
    x = np.random.RandomState(1).normal(size=(4, 3))
    seed = np.array([[1.0, 0.0]] * 4)
    g = net.explain(x, seed, method="gradient")
    h = 1e-6
    fd = np.stack([(net.predict(x + h * e)[:, 0] - net.predict(x - h * e)[:, 0]) / (2 * h) for e in np.eye(3)], 1)
    assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
    # guided backprop's rule is keyed on ReLU: a softplus keeps its true gradient
    assert_allclose(net.explain(x, seed, method="guided_backprop"), g)
    out, caches = net.forward(x)
    gb, _ = net.backward(seed, caches, Composite({Softplus: GuidedBackprop()}))
    W2 = net.layers[2].params["weight"]
    sig = 1 / (1 + np.exp(-caches[1]["x"]))
    assert_allclose(gb, (np.maximum(seed @ W2.T, 0) * sig) @ net.layers[0].params["weight"].T, rtol=1e-12)


def test_gated_unit_gradients_match_finite_differences():
    layer = GatedUnit(3)
    layer.build((4,), np.random.RandomState(0), np.float64)
    x = np.random.RandomState(1).normal(size=(5, 4))
    G = np.random.RandomState(2).normal(size=(5, 3))
    out, cache = layer.forward(x)
    dx, grads = layer.backward(G, cache)
    assert grads.keys() == layer.params.keys()
    assert all(np.array_equal(grads[k], v) for k, v in layer.param_grads(G, cache).items())
    h = 1e-6
    for arr, analytic in [(x, dx)] + [(layer.params[k], grads[k]) for k in layer.params]:
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(*arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            up = float((layer.forward(x)[0] * G).sum())
            arr[idx] = old - h
            down = float((layer.forward(x)[0] * G).sum())
            arr[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- a new model family
class GatedNetClassifier(DenseNetClassifier):
    """A model family: DenseNetClassifier's parameters and training, gated hidden layers."""

    def _build_layers(self, input_shape):
        if any(units < 1 for units in self.hidden_layer_sizes):
            raise ValueError(f"hidden_layer_sizes must hold positive integers; got {self.hidden_layer_sizes!r}.")
        return [GatedUnit(units) for units in self.hidden_layer_sizes]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_model_family_trains_explains_and_conserves():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16, y, random_state=0)
    clf = GatedNetClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.9
    assert [type(layer).__name__ for layer in clf.net_.layers] == ["GatedUnit", "Dense"]
    # a composite keyed by the new layer class, given as the estimator's parameter
    clf.set_params(composite={GatedUnit: Epsilon(1e-9, bias_factor=1.0), "dense": Epsilon(1e-9, bias_factor=1.0)})
    R = clf.explain(X_te[:20])
    assert R.shape == (20, 64)
    assert_allclose(R.sum(axis=1), clf.decision_function(X_te[:20]).max(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="positive integers"):
        GatedNetClassifier(hidden_layer_sizes=(0,)).fit(X_tr, y_tr)

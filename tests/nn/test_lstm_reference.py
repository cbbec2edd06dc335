"""Self-tests of the slow bi-LSTM / LRP reference in ``lstm_reference.py`` (no
sklrp involved): conservation, gradients against finite differences, analytic
one-word cases, agreement with a vectorized re-implementation of the authors'
(ArrasL/LRP_for_LSTM) algorithm at bias_factor = 0, and direction symmetry."""

import numpy as np
import pytest
from lstm_reference import (
    PRODUCTS,
    forward,
    gradient,
    gradient_x_input,
    lrp,
    lrp_with_leak,
    sensitivity,
)
from numpy.testing import assert_allclose

LENGTHS = (0, 1, 2, 3, 7)
# (d, e, C, vocabulary size)
SHAPES = ((4, 3, 3, 6), (5, 4, 4, 9), (6, 5, 5, 11))


def make_model(d, e, C, V, seed=0, zero_bias=False, scale=0.6):
    rng = np.random.default_rng(seed)
    w = {}
    for side in ("Left", "Right"):
        w["Wxh_" + side] = rng.normal(scale=scale, size=(4 * d, e))
        w["Whh_" + side] = rng.normal(scale=scale, size=(4 * d, d))
        w["bxh_" + side] = rng.normal(scale=0.3, size=4 * d) * (not zero_bias)
        w["bhh_" + side] = rng.normal(scale=0.3, size=4 * d) * (not zero_bias)
        w["Why_" + side] = rng.normal(scale=1.0, size=(C, d))
    E = rng.normal(size=(V, e))
    return w, E


def sentence(V, T, seed):
    # repeated tokens on purpose (the same word at two positions)
    return np.random.default_rng(100 + seed).integers(0, V, size=T)


def cases():
    return [pytest.param(d, e, C, V, T, k, id=f"d{d}-e{e}-C{C}-T{T}")
            for k, (d, e, C, V) in enumerate(SHAPES) for T in LENGTHS]


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("d,e,C,V,T,seed", list(cases()))
def test_shapes_and_empty_sentence(d, e, C, V, T, seed):
    w, E = make_model(d, e, C, V, seed)
    ids = sentence(V, T, seed)
    s = forward(w, E, ids)
    assert s.shape == (C,)
    for product in PRODUCTS:
        R_x, rest = lrp(w, E, ids, 0, bias_factor=1.0, product=product)
        assert R_x.shape == (T, e) and isinstance(rest, float)
    assert gradient(w, E, ids, 0).shape == (T, e)
    assert sensitivity(w, E, ids, 0).shape == (T,)
    assert gradient_x_input(w, E, ids, 0).shape == (T,)
    if T == 0:
        assert np.all(s == 0.0)
        R_x, rest = lrp(w, E, ids, C - 1)
        assert R_x.shape == (0, e) and rest == 0.0


def test_bad_arguments():
    w, E = make_model(4, 3, 3, 6)
    with pytest.raises(ValueError):
        lrp(w, E, [1, 2], 0, product="gate_take_all")
    with pytest.raises(ValueError):
        lrp(w, E, [1, 2], 3)


# --------------------------------------------------------------------------- conservation


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("d,e,C,V,T,seed", list(cases()))
def test_conservation_with_bias_factor_one(d, e, C, V, T, seed, product):
    """delta = 1: sum R_x + rest (+ the proportional rule's stabilizer share)
    equals s[target] to ~1e-12, for every target class."""
    w, E = make_model(d, e, C, V, seed)
    ids = sentence(V, T, seed)
    s = forward(w, E, ids)
    for target in range(C):
        R_x, rest, leak = lrp_with_leak(w, E, ids, target, bias_factor=1.0,
                                        product=product)
        total = R_x.sum() + rest
        if product != "proportional":
            assert leak == 0.0
            assert total == pytest.approx(s[target], rel=1e-12, abs=1e-12)
        else:
            # "proportional" is unstable (gate + signal can be ~0 while the
            # signal is negative), so individual relevances reach ~1e8 on these
            # random models; conservation holds up to float64 round-off of
            # the terms involved.
            scale = max(np.abs(R_x).sum(), abs(rest), abs(leak), 1.0)
            assert abs(total + leak - s[target]) <= 1e-13 * scale
        if T > 0:
            # the initial states get a non-zero share through biases/eps
            assert rest != 0.0


@pytest.mark.parametrize("product", ("signal_take_all", "half"))
def test_conservation_other_eps(product):
    w, E = make_model(5, 4, 4, 9, seed=3)
    ids = sentence(9, 6, 3)
    s = forward(w, E, ids)
    for eps in (1e-9, 1e-2, 0.5):
        R_x, rest = lrp(w, E, ids, 2, eps=eps, bias_factor=1.0, product=product)
        assert R_x.sum() + rest == pytest.approx(s[2], rel=1e-12, abs=1e-12)


def test_proportional_leak_vanishes_with_eps():
    w, E = make_model(5, 4, 4, 9, seed=4)
    ids = sentence(9, 5, 4)
    s = forward(w, E, ids)
    R_x, rest, leak = lrp_with_leak(w, E, ids, 1, eps=1e-10, bias_factor=1.0,
                                    product="proportional")
    assert abs(leak) < 1e-6 * abs(s[1])
    assert R_x.sum() + rest == pytest.approx(s[1], rel=1e-6)


@pytest.mark.parametrize("product", PRODUCTS)
def test_no_rest_without_bias_share(product):
    """delta = 0: h_0 = c_0 = 0 receive nothing (z_i w_ij = 0 and f*c_0 = 0)."""
    w, E = make_model(6, 5, 5, 11, seed=1)
    ids = sentence(11, 7, 1)
    R_x, rest = lrp(w, E, ids, 4, bias_factor=0.0, product=product)
    assert rest == 0.0
    assert np.all(np.isfinite(R_x))


# --------------------------------------------------------------------------- gradient


def augmented(E, ids):
    """Embedding with one private row per position, so a single x_t can be
    perturbed even when its word occurs twice."""
    X = E[np.asarray(ids, dtype=int)]
    V = E.shape[0]
    return np.vstack([E, X]), np.arange(V, V + len(ids))


@pytest.mark.parametrize("d,e,C,V,T,seed", list(cases()))
def test_gradient_against_finite_differences(d, e, C, V, T, seed):
    w, E = make_model(d, e, C, V, seed)
    ids = sentence(V, T, seed)
    E2, ids2 = augmented(E, ids)
    h = 1e-5
    for target in (0, C - 1):
        G = gradient(w, E, ids, target)
        assert_allclose(gradient(w, E2, ids2, target), G, rtol=1e-13, atol=1e-15)
        fd = np.zeros((T, e))
        for t in range(T):
            for k in range(e):
                Ep, Em = E2.copy(), E2.copy()
                Ep[ids2[t], k] += h
                Em[ids2[t], k] -= h
                fd[t, k] = (forward(w, Ep, ids2)[target]
                            - forward(w, Em, ids2)[target]) / (2 * h)
        assert_allclose(G, fd, rtol=1e-6, atol=1e-9)


def test_sensitivity_and_gradient_x_input():
    w, E = make_model(5, 4, 4, 9, seed=2)
    ids = sentence(9, 6, 2)
    G = gradient(w, E, ids, 3)
    X = E[ids]
    assert_allclose(sensitivity(w, E, ids, 3), (G ** 2).sum(axis=1), rtol=1e-14)
    assert_allclose(gradient_x_input(w, E, ids, 3), (X * G).sum(axis=1), rtol=1e-14)
    assert np.all(sensitivity(w, E, ids, 3) >= 0)


# --------------------------------------------------------------------------- analytic cases


def one_word_hand_case(w, x, target, eps, product):
    """Hand derivation for T = 1, zero biases, bias_factor = 0.

    h_0 = c_0 = 0, so z = Wxh x, c = i*g (the forget gate is irrelevant, as
    f*c_0 = 0), h = o*tanh(c); both encoders read the same single word.
    Output: R_h = Why[target] * h * s / (s + eps sign s).
    signal_take_all: R_c = R_h, R_g = c/(c + eps sign c) R_c,
    R_x[k] = sum_j Wg[j,k] x_k / (zg_j + eps sign zg_j) R_g[j].
    half: R_c = R_h/2, R_i = R_g = c/(c + eps sign c) R_c / 2, R_o = R_h/2,
    R_x[k] = sum over gates i, g, o of W[j,k] x_k / (z_j + eps sign z_j) R[j].
    """

    def sg(v):
        return np.where(v >= 0, 1.0, -1.0)

    def sigm(v):
        return 1.0 / (1.0 + np.exp(-v))

    parts = {}
    s = 0.0
    for side in ("Left", "Right"):
        W = w["Wxh_" + side]
        d = W.shape[0] // 4
        z = W @ x
        zi, zg, zo = z[:d], z[d:2 * d], z[3 * d:]
        c = sigm(zi) * np.tanh(zg)
        h = sigm(zo) * np.tanh(c)
        parts[side] = (W, z, c, h, d)
        s += w["Why_" + side][target] @ h
    R_x = np.zeros_like(x)
    for side in ("Left", "Right"):
        W, z, c, h, d = parts[side]
        R_h = w["Why_" + side][target] * h * s / (s + eps * sg(s))
        if product == "signal_take_all":
            R_pre = {"g": c / (c + eps * sg(c)) * R_h}
        else:  # half
            R_ig = c / (c + eps * sg(c)) * R_h / 2
            R_pre = {"i": R_ig / 2, "g": R_ig / 2, "o": R_h / 2}
        rows = {"i": slice(0, d), "g": slice(d, 2 * d), "o": slice(3 * d, 4 * d)}
        for gate, Rj in R_pre.items():
            zj = z[rows[gate]]
            R_x += (W[rows[gate]] * x[None, :] / (zj + eps * sg(zj))[:, None]
                    * Rj[:, None]).sum(axis=0)
    return R_x, s


@pytest.mark.parametrize("product", ("signal_take_all", "half"))
@pytest.mark.parametrize("d,e,C", ((4, 3, 3), (6, 5, 5)))
def test_one_word_analytic(d, e, C, product):
    w, E = make_model(d, e, C, 7, seed=d, zero_bias=True)
    ids = [5]
    for target in range(C):
        for eps in (1e-3, 1e-12):
            R_x, rest = lrp(w, E, ids, target, eps=eps, bias_factor=0.0,
                            product=product)
            want, s = one_word_hand_case(w, E[5], target, eps, product)
            assert rest == 0.0
            assert_allclose(R_x[0], want, rtol=1e-10, atol=1e-13)
            assert forward(w, E, ids)[target] == pytest.approx(s, rel=1e-13)
            if product == "signal_take_all" and eps == 1e-12:
                # only g's pre-activation (bias-free) gets relevance: conserved
                assert R_x.sum() == pytest.approx(s, rel=1e-8)


def test_one_word_tiny_example_by_hand():
    """d = e = C = 1, only the g rows matter for signal_take_all; numbers
    worked out by hand: x = 2, W_g = 0.5 -> z_g = 1, no bias; i, o gates with
    pre-activation 0 (sigmoid = 1/2). c = tanh(1)/2, h = tanh(c)/2, s = 3h
    (Why_L = 1, Why_R = 2, both directions identical). With eps -> 0 all
    relevance lands on the one input: R_x = s."""
    w = {}
    for side, why in (("Left", 1.0), ("Right", 2.0)):
        w["Wxh_" + side] = np.array([[0.0], [0.5], [0.7], [0.0]])
        w["Whh_" + side] = np.array([[0.3], [-0.4], [0.2], [0.9]])
        w["bxh_" + side] = np.zeros(4)
        w["bhh_" + side] = np.zeros(4)
        w["Why_" + side] = np.array([[why]])
    E = np.array([[2.0]])
    c = np.tanh(1.0) / 2
    h = np.tanh(c) / 2
    assert forward(w, E, [0])[0] == pytest.approx(3 * h, rel=1e-15)
    R_x, rest = lrp(w, E, [0], 0, eps=1e-14)
    assert R_x[0, 0] == pytest.approx(3 * h, rel=1e-10)
    assert rest == 0.0
    # gradient by hand (i, o do not depend on x; f multiplies c_0 = 0):
    # ds/dx = 3 * o * (1 - tanh(c)^2) * i * (1 - tanh(z_g)^2) * W_g
    g_hand = 3 * 0.5 * (1 - np.tanh(c) ** 2) * 0.5 * (1 - np.tanh(1.0) ** 2) * 0.5
    assert gradient(w, E, [0], 0)[0, 0] == pytest.approx(g_hand, rel=1e-13)


# --------------------------------------------------------------------------- authors' algorithm


def authors_lrp_linear(hin, w, b, hout, Rout, bias_nb_units, eps, bias_factor):
    """Vectorized epsilon rule as in ArrasL/LRP_for_LSTM (code since 2018-12)."""
    sign_out = np.where(hout[None, :] >= 0, 1.0, -1.0)
    numer = (w * hin[:, None]) + (bias_factor * (b[None, :] + eps * sign_out)
                                  / bias_nb_units)
    denom = hout[None, :] + eps * sign_out
    return ((numer / denom) * Rout[None, :]).sum(axis=1)


def authors_lrp(w, E, ids, target, eps, bias_factor):
    """Signal-take-all bi-LSTM LRP in the authors' vectorized style (cell sum as
    two identity layers with N = 2d)."""
    X = E[np.asarray(ids, dtype=int)]
    T, e = X.shape
    d = w["Whh_Left"].shape[1]
    ig, gg, fg, og = (np.arange(k * d, (k + 1) * d) for k in range(4))

    def run(side, Xs):
        Wxh, Whh = w["Wxh_" + side], w["Whh_" + side]
        b = w["bxh_" + side] + w["bhh_" + side]
        h = np.zeros((T + 1, d))   # row T is the initial state (index -1)
        c = np.zeros((T + 1, d))
        pre = np.zeros((T, 4 * d))
        gates = np.zeros((T, 4 * d))
        for t in range(T):
            pre[t] = Wxh @ Xs[t] + Whh @ h[t - 1] + b
            gates[t] = 1.0 / (1.0 + np.exp(-pre[t]))
            gates[t, gg] = np.tanh(pre[t, gg])
            c[t] = gates[t, fg] * c[t - 1] + gates[t, ig] * gates[t, gg]
            h[t] = gates[t, og] * np.tanh(c[t])
        return h, c, pre, gates

    def back(side, Xs, h, c, pre, gates, Rh_last):
        Wxh, Whh = w["Wxh_" + side], w["Whh_" + side]
        b = w["bxh_" + side] + w["bhh_" + side]
        Rh = np.zeros((T + 1, d))
        Rc = np.zeros((T + 1, d))
        Rx = np.zeros((T, e))
        Rh[T - 1] = Rh_last
        for t in reversed(range(T)):
            Rc[t] += Rh[t]
            Rc[t - 1] = authors_lrp_linear(gates[t, fg] * c[t - 1], np.identity(d),
                                           np.zeros(d), c[t], Rc[t], 2 * d, eps,
                                           bias_factor)
            Rg = authors_lrp_linear(gates[t, ig] * gates[t, gg], np.identity(d),
                                    np.zeros(d), c[t], Rc[t], 2 * d, eps,
                                    bias_factor)
            Rx[t] = authors_lrp_linear(Xs[t], Wxh[gg].T, b[gg], pre[t, gg], Rg,
                                       d + e, eps, bias_factor)
            Rh[t - 1] = authors_lrp_linear(h[t - 1], Whh[gg].T, b[gg], pre[t, gg],
                                           Rg, d + e, eps, bias_factor)
        return Rx, Rh[T].sum() + Rc[T].sum()

    L = run("Left", X)
    R = run("Right", X[::-1])
    s = w["Why_Left"] @ L[0][T - 1] + w["Why_Right"] @ R[0][T - 1]
    mask = np.zeros_like(s)
    mask[target] = 1.0
    RhL = authors_lrp_linear(L[0][T - 1], w["Why_Left"].T, np.zeros_like(s), s,
                             s * mask, 2 * d, eps, bias_factor)
    RhR = authors_lrp_linear(R[0][T - 1], w["Why_Right"].T, np.zeros_like(s), s,
                             s * mask, 2 * d, eps, bias_factor)
    RxL, restL = back("Left", X, *L, RhL)
    RxR, restR = back("Right", X[::-1], *R, RhR)
    return s, RxL + RxR[::-1], restL + restR


@pytest.mark.parametrize("T", (1, 2, 5, 9))
@pytest.mark.parametrize("d,e,C,V", SHAPES)
def test_matches_authors_algorithm(d, e, C, V, T):
    w, E = make_model(d, e, C, V, seed=T)
    ids = sentence(V, T, T)
    target = T % C
    s_a, Rx_a, rest_a = authors_lrp(w, E, ids, target, 1e-3, 0.0)
    assert_allclose(forward(w, E, ids), s_a, rtol=1e-13, atol=1e-14)
    R_x, rest = lrp(w, E, ids, target, eps=1e-3, bias_factor=0.0)
    assert_allclose(R_x, Rx_a, rtol=1e-11, atol=1e-13)
    assert rest == rest_a == 0.0
    # bias_factor = 1: both conserve, but the cell-sum bias shares differ
    s = s_a[target]
    Rx_a1, rest_a1 = authors_lrp(w, E, ids, target, 1e-3, 1.0)[1:]
    R_x1, rest1 = lrp(w, E, ids, target, eps=1e-3, bias_factor=1.0)
    assert Rx_a1.sum() + rest_a1 == pytest.approx(s, rel=1e-12, abs=1e-12)
    assert R_x1.sum() + rest1 == pytest.approx(s, rel=1e-12, abs=1e-12)
    if d > 1:
        assert not np.allclose(R_x1, Rx_a1, rtol=1e-12, atol=0.0)


# --------------------------------------------------------------------------- symmetry


@pytest.mark.parametrize("product", PRODUCTS)
def test_swapping_directions_mirrors_the_sentence(product):
    """Left weights on the reversed sentence == right weights on the sentence."""
    w, E = make_model(5, 4, 4, 9, seed=7)
    ids = sentence(9, 6, 7)
    other = {"Left": "Right", "Right": "Left"}
    swapped = {}
    for key, v in w.items():
        name, side = key.rsplit("_", 1)
        swapped[name + "_" + other[side]] = v
    rev = ids[::-1]
    assert_allclose(forward(swapped, E, rev), forward(w, E, ids), rtol=1e-13)
    R_x, rest = lrp(w, E, ids, 2, bias_factor=1.0, product=product)
    R_x2, rest2 = lrp(swapped, E, rev, 2, bias_factor=1.0, product=product)
    assert_allclose(R_x2[::-1], R_x, rtol=1e-12, atol=1e-14)
    assert rest2 == pytest.approx(rest, rel=1e-12, abs=1e-14)
    assert_allclose(gradient(swapped, E, rev, 2)[::-1], gradient(w, E, ids, 2),
                    rtol=1e-12, atol=1e-14)


def test_relevance_is_per_position_not_per_word():
    """A word occurring twice gets two separate relevance rows."""
    w, E = make_model(4, 3, 3, 6, seed=9)
    ids = [2, 4, 2]
    R_x, _ = lrp(w, E, ids, 1)
    assert not np.allclose(R_x[0], R_x[2])

"""Self-tests of the slow bi-GRU / LRP reference in ``gru_reference.py`` (no
sklrp involved): conservation, gradients against finite differences, analytic
one-word cases (a d = e = C = 1 example worked out by hand), agreement with an
independent vectorized re-implementation written from the same equations, and
direction symmetry."""

import numpy as np
import pytest
from gru_reference import (
    PRODUCTS,
    forward,
    gradient,
    gradient_x_input,
    lrp,
    lrp_with_leak,
    random_weights,
    sensitivity,
)
from numpy.testing import assert_allclose

LENGTHS = (0, 1, 2, 3, 7)
# (d, e, C, vocabulary size)
SHAPES = ((4, 3, 3, 6), (5, 4, 4, 9), (6, 5, 5, 11))


def make_model(d, e, C, V, seed=0, zero_bias=False, scale=0.6):
    w = random_weights(d, e, C, seed, scale=scale)
    if zero_bias:
        for key in ("bias", "bias_reverse"):
            w[key] = np.zeros_like(w[key])
    E = np.random.default_rng(1000 + seed).normal(size=(V, e))
    return w, E


def sentence(V, T, seed):
    # repeated tokens on purpose (the same word at two positions)
    return np.random.default_rng(100 + seed).integers(0, V, size=T)


def cases():
    return [pytest.param(d, e, C, V, T, k, id=f"d{d}-e{e}-C{C}-T{T}")
            for k, (d, e, C, V) in enumerate(SHAPES) for T in LENGTHS]


# --------------------------------------------------------------------------- shapes


def test_random_weights_layout():
    d, e, C = 4, 3, 5
    w = random_weights(d, e, C, seed=0)
    assert sorted(w) == sorted(["input_weight", "recurrent_weight", "bias",
                                "input_weight_reverse", "recurrent_weight_reverse",
                                "bias_reverse", "output_weight"])
    for suffix in ("", "_reverse"):
        assert w["input_weight" + suffix].shape == (e, 3 * d)
        assert w["recurrent_weight" + suffix].shape == (d, 3 * d)
        assert w["bias" + suffix].shape == (3 * d,)
    assert w["output_weight"].shape == (2 * d, C)
    assert_allclose(random_weights(d, e, C, seed=0)["bias"], w["bias"], rtol=0)
    assert not np.allclose(random_weights(d, e, C, seed=1)["bias"], w["bias"])


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


def test_float32_weights_are_computed_in_float64():
    w, E = make_model(4, 3, 3, 6, seed=5)
    w32 = {k: v.astype(np.float32) for k, v in w.items()}
    w64 = {k: v.astype(np.float64) for k, v in w32.items()}
    ids = [1, 4, 2]
    assert forward(w32, E, ids).dtype == np.float64
    assert_allclose(forward(w32, E, ids), forward(w64, E, ids), rtol=1e-15)
    assert_allclose(lrp(w32, E, ids, 1)[0], lrp(w64, E, ids, 1)[0], rtol=1e-15)


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
            # "proportional" can blow up (gate + signal ~ 0 with a negative
            # signal); conservation holds up to round-off of the terms involved
            scale = max(np.abs(R_x).sum(), abs(rest), abs(leak), 1.0)
            assert abs(total + leak - s[target]) <= 1e-13 * scale
        if T > 0:
            # the initial states get a non-zero share through biases/eps
            assert rest != 0.0


@pytest.mark.parametrize("T", (1, 2, 4, 6))
@pytest.mark.parametrize("product", ("signal_take_all", "half"))
def test_conservation_small_sizes(T, product):
    """Also for d = 1 and e = 1 (degenerate sizes) and C = 2."""
    for d, e, C in ((1, 1, 1), (1, 3, 2), (3, 1, 2), (2, 2, 2)):
        w, E = make_model(d, e, C, 5, seed=10 * d + e)
        ids = sentence(5, T, T)
        s = forward(w, E, ids)
        for target in range(C):
            R_x, rest = lrp(w, E, ids, target, bias_factor=1.0, product=product)
            assert R_x.sum() + rest == pytest.approx(s[target], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("product", ("signal_take_all", "half"))
def test_conservation_other_eps(product):
    w, E = make_model(5, 4, 4, 9, seed=3)
    ids = sentence(9, 6, 3)
    s = forward(w, E, ids)
    for eps in (1e-9, 1e-2, 0.5):
        R_x, rest = lrp(w, E, ids, 2, eps=eps, bias_factor=1.0, product=product)
        assert R_x.sum() + rest == pytest.approx(s[2], rel=1e-12, abs=1e-12)


def test_proportional_leak_vanishes_with_eps():
    """The proportional rule's stabilizer share is O(eps); its constant can be
    large (here relevances reach ~1e5 where gate + signal nearly cancels), so
    check the linear decay and near-conservation at a tiny eps."""
    w, E = make_model(5, 4, 4, 9, seed=4)
    ids = sentence(9, 5, 4)
    s = forward(w, E, ids)
    leaks = []
    for eps in (1e-8, 1e-10, 1e-12):
        R_x, rest, leak = lrp_with_leak(w, E, ids, 1, eps=eps, bias_factor=1.0,
                                        product="proportional")
        leaks.append(leak)
    assert leaks[1] / leaks[0] == pytest.approx(1e-2, rel=1e-2)
    assert leaks[2] / leaks[1] == pytest.approx(1e-2, rel=1e-2)
    assert abs(leaks[2]) < 1e-6 * abs(s[1])
    assert R_x.sum() + rest == pytest.approx(s[1], rel=1e-6)


@pytest.mark.parametrize("product", PRODUCTS)
def test_no_rest_without_bias_share(product):
    """delta = 0: h_0 = 0 receives nothing (u*h_0 = 0, r*h_0 = 0 and every
    epsilon-rule share of h_0 is 0 * w = 0)."""
    w, E = make_model(6, 5, 5, 11, seed=1)
    ids = sentence(11, 7, 1)
    R_x, rest = lrp(w, E, ids, 4, bias_factor=0.0, product=product)
    assert rest == 0.0
    assert np.all(np.isfinite(R_x))


def test_bias_factor_zero_loses_bias_share():
    """delta = 0 with biases: relevance is not conserved (the bias and
    stabilizer shares are dropped), unlike delta = 1."""
    w, E = make_model(5, 4, 4, 9, seed=6)
    ids = sentence(9, 5, 6)
    s = forward(w, E, ids)
    R0, rest0 = lrp(w, E, ids, 0, bias_factor=0.0)
    R1, rest1 = lrp(w, E, ids, 0, bias_factor=1.0)
    assert R1.sum() + rest1 == pytest.approx(s[0], rel=1e-12, abs=1e-12)
    assert abs(R0.sum() + rest0 - s[0]) > 1e-6


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


def sg(v):
    return np.where(v >= 0, 1.0, -1.0)


def sigm(v):
    return 1.0 / (1.0 + np.exp(-v))


def one_word_hand_case(w, x, target, eps, product):
    """Hand derivation for T = 1, zero biases, bias_factor = 0.

    h_0 = 0, so s = r*h_0 = 0 (the reset gate is irrelevant), z_n = x W_n,
    z_u = x W_u, h = (1-u)*n; both encoders read the same single word.
    Output: R_h = w_out[:, target] * h * s / (s + eps sign s).
    Sum: u*h_0 = 0, so R_{(1-u)n} = h/(h + eps sign h) R_h and u, h_0 get 0.
    signal_take_all: R_zn = R_{(1-u)n};
    half: R_zn = R_zu = R_{(1-u)n} / 2.
    R_x[k] = sum over gates n (, u) of sum_j W[k,j] x_k / (z_j + eps sign z_j) R_j
    (the h_0 inputs contribute 0 * U = 0).
    """
    d = w["recurrent_weight"].shape[0]
    Wo = w["output_weight"]
    parts = {}
    s = 0.0
    for side, suffix in ((0, ""), (1, "_reverse")):
        W = w["input_weight" + suffix]
        z = x @ W
        zu, zn = z[d:2 * d], z[2 * d:]
        h = (1.0 - sigm(zu)) * np.tanh(zn)
        parts[side] = (W, z, h)
        s += h @ Wo[side * d:(side + 1) * d, target]
    R_x = np.zeros_like(x)
    for side in (0, 1):
        W, z, h = parts[side]
        R_h = Wo[side * d:(side + 1) * d, target] * h * s / (s + eps * sg(s))
        R_un = h / (h + eps * sg(h)) * R_h
        if product == "signal_take_all":
            R_pre = {"n": R_un}
        else:  # half
            R_pre = {"n": R_un / 2, "u": R_un / 2}
        cols = {"u": slice(d, 2 * d), "n": slice(2 * d, 3 * d)}
        for gate, Rj in R_pre.items():
            zj = z[cols[gate]]
            R_x += (W[:, cols[gate]] * x[:, None] / (zj + eps * sg(zj))[None, :]
                    * Rj[None, :]).sum(axis=1)
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
                # only z_n (bias-free) gets relevance: conserved
                assert R_x.sum() == pytest.approx(s, rel=1e-8)


def tiny_model():
    """d = e = C = 1, zero biases, both directions identical:
    W = [W_r, W_u, W_n] = [0.7, 0.25, 0.5], U = [0.3, -0.4, 0.9] (unused at
    T = 1 since h_0 = 0), output weights 1 (left) and 2 (right)."""
    w = {}
    for suffix in ("", "_reverse"):
        w["input_weight" + suffix] = np.array([[0.7, 0.25, 0.5]])
        w["recurrent_weight" + suffix] = np.array([[0.3, -0.4, 0.9]])
        w["bias" + suffix] = np.zeros(3)
    w["output_weight"] = np.array([[1.0], [2.0]])
    return w, np.array([[2.0]])


@pytest.mark.parametrize("eps", (1e-3, 1e-14))
def test_one_word_tiny_example_by_hand(eps):
    """x = 2: z_u = 0.5, z_n = 1, u = sigmoid(0.5), n = tanh(1),
    h = (1-u) n (same in both directions), s = 1*h + 2*h = 3h.

    Output layer: R_hL + R_hR = 3h * s/(s+eps) = s^2/(s+eps).
    Sum h = (1-u)n + u*h_0 with u*h_0 = 0: R_{(1-u)n} = h/(h+eps) * R_h.
    signal_take_all: all to n -> z_n = x W_n = 1 (the input s = r*h_0 is 0):
        R_x = s^2/(s+eps) * h/(h+eps) * 1/(1+eps).
    half: n and 1-u get half each; z_u = x W_u = 0.5 passes 0.5/(0.5+eps):
        R_x = s^2/(s+eps) * h/(h+eps) * (1/(1+eps) + 0.5/(0.5+eps)) / 2.
    proportional: D = (1-u) + n + eps; n gets n/D, 1-u gets (1-u)/D:
        R_x = s^2/(s+eps) * h/(h+eps) * (n/D/(1+eps) + (1-u)/D*0.5/(0.5+eps)).
    Gradient: ds/dx = 3 * (-u(1-u) W_u n + (1-u)(1-n^2) W_n)."""
    w, E = tiny_model()
    u = 1.0 / (1.0 + np.exp(-0.5))
    n = np.tanh(1.0)
    h = (1.0 - u) * n
    s = 3.0 * h
    assert forward(w, E, [0])[0] == pytest.approx(s, rel=1e-15)
    R_top = s * s / (s + eps) * h / (h + eps)
    D = (1.0 - u) + n + eps
    want = {
        "signal_take_all": R_top / (1.0 + eps),
        "half": R_top * (1.0 / (1.0 + eps) + 0.5 / (0.5 + eps)) / 2.0,
        "proportional": R_top * (n / D / (1.0 + eps)
                                 + (1.0 - u) / D * 0.5 / (0.5 + eps)),
    }
    for product in PRODUCTS:
        R_x, rest = lrp(w, E, [0], 0, eps=eps, product=product)
        assert R_x.shape == (1, 1)
        assert R_x[0, 0] == pytest.approx(want[product], rel=1e-13)
        assert rest == 0.0
    if eps < 1e-10:
        # eps -> 0: signal_take_all and half both conserve (bias-free);
        # proportional loses ~eps/D only
        assert lrp(w, E, [0], 0, eps=eps)[0][0, 0] == pytest.approx(s, rel=1e-12)
        assert (lrp(w, E, [0], 0, eps=eps, product="half")[0][0, 0]
                == pytest.approx(s, rel=1e-12))
    g_hand = 3.0 * (-u * (1.0 - u) * 0.25 * n + (1.0 - u) * (1.0 - n ** 2) * 0.5)
    assert gradient(w, E, [0], 0)[0, 0] == pytest.approx(g_hand, rel=1e-13)


def test_two_words_tiny_forward_by_hand():
    """d = e = C = 1, two words: here the reset gate matters
    (n_2 = tanh(x_2 W_n + r_2 h_1 U_n + b_n))."""
    w, E = tiny_model()
    w["bias"] = np.array([0.1, -0.2, 0.3])
    w["bias_reverse"] = np.array([-0.1, 0.2, 0.05])
    w["recurrent_weight_reverse"] = np.array([[-0.6, 0.5, 1.1]])
    E = np.array([[2.0], [-1.0]])

    def encode(xs, Wr, Wu, Wn, Ur, Uu, Un, br, bu, bn):
        h = 0.0
        for x in xs:
            r = sigm(x * Wr + h * Ur + br)
            u = sigm(x * Wu + h * Uu + bu)
            n = np.tanh(x * Wn + (r * h) * Un + bn)
            h = (1.0 - u) * n + u * h
        return h

    hL = encode([2.0, -1.0], 0.7, 0.25, 0.5, 0.3, -0.4, 0.9, 0.1, -0.2, 0.3)
    hR = encode([-1.0, 2.0], 0.7, 0.25, 0.5, -0.6, 0.5, 1.1, -0.1, 0.2, 0.05)
    assert forward(w, E, [0, 1])[0] == pytest.approx(hL + 2.0 * hR, rel=1e-14)


# --------------------------------------------------------------------------- vectorized version


def vec_lrp_linear(hin, w, b, z, Rout, N, eps, bias_factor):
    """Epsilon rule, all inputs/outputs at once; w (in, out)."""
    sign_out = np.where(z >= 0, 1.0, -1.0)[None, :]
    numer = w * hin[:, None] + bias_factor * (b[None, :] + eps * sign_out) / N
    denom = z[None, :] + eps * sign_out
    return ((numer / denom) * Rout[None, :]).sum(axis=1)


def vec_split(gate, signal, R, product, eps):
    if product == "signal_take_all":
        return np.zeros_like(R), R, 0.0
    if product == "half":
        return R / 2, R / 2, 0.0
    denom = gate + signal + eps * np.where(gate + signal >= 0, 1.0, -1.0)
    Rg, Rs = gate / denom * R, signal / denom * R
    return Rg, Rs, float((R - Rg - Rs).sum())


def vec_gru_lrp(w, E, ids, target, eps, bias_factor, product):
    """Matrix-form bi-GRU forward pass and LRP written from the module's
    equations; returns (s, R_x, rest, leak)."""
    X = E[np.asarray(ids, dtype=int)]
    T, e = X.shape
    d = w["recurrent_weight"].shape[0]
    r_, u_, n_ = (slice(k * d, (k + 1) * d) for k in range(3))
    Wo = w["output_weight"]

    def run(suffix, Xs):
        W, U, b = (w[k + suffix] for k in ("input_weight", "recurrent_weight", "bias"))
        hs, steps = [np.zeros(d)], []
        for x in Xs:
            hp = hs[-1]
            zr = x @ W[:, r_] + hp @ U[:, r_] + b[r_]
            zu = x @ W[:, u_] + hp @ U[:, u_] + b[u_]
            r, u = sigm(zr), sigm(zu)
            zn = x @ W[:, n_] + (r * hp) @ U[:, n_] + b[n_]
            n = np.tanh(zn)
            hs.append((1 - u) * n + u * hp)
            steps.append((x, hp, zr, zu, zn, r, u, n, hs[-1]))
        return hs, steps

    def back(suffix, steps, R_h):
        W, U, b = (w[k + suffix] for k in ("input_weight", "recurrent_weight", "bias"))
        Rx = np.zeros((T, e))
        leak = 0.0
        for t in reversed(range(T)):
            x, hp, zr, zu, zn, r, u, n, h = steps[t]
            sh = np.where(h >= 0, 1.0, -1.0)
            Run = ((1 - u) * n + bias_factor * eps * sh / 2) / (h + eps * sh) * R_h
            Ruh = (u * hp + bias_factor * eps * sh / 2) / (h + eps * sh) * R_h
            R1mu, Rn, lk1 = vec_split(1 - u, n, Run, product, eps)
            Ru, Rhp, lk2 = vec_split(u, hp, Ruh, product, eps)
            Rzu = R1mu + Ru
            Rx[t] += vec_lrp_linear(x, W[:, n_], b[n_], zn, Rn, e + d, eps, bias_factor)
            Rs = vec_lrp_linear(r * hp, U[:, n_], b[n_], zn, Rn, e + d, eps, bias_factor)
            Rr, Rhp2, lk3 = vec_split(r, hp, Rs, product, eps)
            Rx[t] += vec_lrp_linear(x, W[:, r_], b[r_], zr, Rr, e + d, eps, bias_factor)
            Rx[t] += vec_lrp_linear(x, W[:, u_], b[u_], zu, Rzu, e + d, eps, bias_factor)
            R_h = (Rhp + Rhp2
                   + vec_lrp_linear(hp, U[:, r_], b[r_], zr, Rr, e + d, eps, bias_factor)
                   + vec_lrp_linear(hp, U[:, u_], b[u_], zu, Rzu, e + d, eps, bias_factor))
            leak += lk1 + lk2 + lk3
        return Rx, R_h.sum(), leak

    hL, stL = run("", X)
    hR, stR = run("_reverse", X[::-1])
    hcat = np.concatenate([hL[-1], hR[-1]])
    s = hcat @ Wo
    mask = np.zeros_like(s)
    mask[target] = 1.0
    R_cat = vec_lrp_linear(hcat, Wo, np.zeros_like(s), s, s * mask, 2 * d, eps,
                           bias_factor)
    RxL, restL, leakL = back("", stL, R_cat[:d])
    RxR, restR, leakR = back("_reverse", stR, R_cat[d:])
    return s, RxL + RxR[::-1], restL + restR, leakL + leakR


@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("T", (1, 2, 5))
@pytest.mark.parametrize("d,e,C,V", SHAPES)
def test_matches_vectorized_version(d, e, C, V, T, product):
    w, E = make_model(d, e, C, V, seed=T)
    ids = sentence(V, T, T)
    target = T % C
    for bias_factor in (0.0, 1.0):
        s_v, Rx_v, rest_v, leak_v = vec_gru_lrp(w, E, ids, target, 1e-3,
                                                bias_factor, product)
        assert_allclose(forward(w, E, ids), s_v, rtol=1e-13, atol=1e-14)
        R_x, rest, leak = lrp_with_leak(w, E, ids, target, eps=1e-3,
                                        bias_factor=bias_factor, product=product)
        scale = max(np.abs(Rx_v).max(), 1.0)
        assert_allclose(R_x, Rx_v, rtol=1e-10, atol=1e-12 * scale)
        assert rest == pytest.approx(rest_v, rel=1e-10, abs=1e-12 * scale)
        assert leak == pytest.approx(leak_v, rel=1e-9, abs=1e-12 * scale)


def test_reset_before_recurrent_map():
    """For d > 1, r * (h U_n) (cuDNN style) differs from (r * h) U_n; the
    reference uses the latter (Cho et al. 2014)."""
    w, E = make_model(4, 3, 2, 6, seed=8)
    ids = [1, 3, 5]
    d = 4
    X = E[ids]
    W, U, b = w["input_weight"], w["recurrent_weight"], w["bias"]

    def encode(Xs, reset_after):
        h = np.zeros(d)
        for x in Xs:
            a = x @ W + b
            r = sigm(a[:d] + h @ U[:, :d])
            u = sigm(a[d:2 * d] + h @ U[:, d:2 * d])
            rec = r * (h @ U[:, 2 * d:]) if reset_after else (r * h) @ U[:, 2 * d:]
            n = np.tanh(a[2 * d:] + rec)
            h = (1 - u) * n + u * h
        return h

    w_left = dict(w, output_weight=np.vstack([w["output_weight"][:d],
                                              np.zeros((d, 2))]))
    want = encode(X, False) @ w["output_weight"][:d]
    other = encode(X, True) @ w["output_weight"][:d]
    assert_allclose(forward(w_left, E, ids), want, rtol=1e-13)
    assert not np.allclose(want, other, rtol=1e-6)


# --------------------------------------------------------------------------- symmetry


def swap_directions(w):
    d = w["recurrent_weight"].shape[0]
    swapped = {}
    for key in ("input_weight", "recurrent_weight", "bias"):
        swapped[key] = w[key + "_reverse"]
        swapped[key + "_reverse"] = w[key]
    Wo = w["output_weight"]
    swapped["output_weight"] = np.vstack([Wo[d:], Wo[:d]])
    return swapped


@pytest.mark.parametrize("product", PRODUCTS)
def test_swapping_directions_mirrors_the_sentence(product):
    """Left weights on the reversed sentence == right weights on the sentence."""
    w, E = make_model(5, 4, 4, 9, seed=7)
    ids = sentence(9, 6, 7)
    swapped = swap_directions(w)
    rev = ids[::-1]
    assert_allclose(forward(swapped, E, rev), forward(w, E, ids), rtol=1e-13)
    for bias_factor in (0.0, 1.0):
        R_x, rest = lrp(w, E, ids, 2, bias_factor=bias_factor, product=product)
        R_x2, rest2 = lrp(swapped, E, rev, 2, bias_factor=bias_factor,
                          product=product)
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

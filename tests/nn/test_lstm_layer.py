"""The LSTM layer against the slow per-sentence reference written from the equations."""

import numpy as np
import pytest
from lstm_reference import forward as ref_forward
from lstm_reference import gradient as ref_gradient
from lstm_reference import gradient_x_input as ref_gxi
from lstm_reference import lrp as ref_lrp
from lstm_reference import sensitivity as ref_sa

from sklrp.nn import LSTM, Dense, Embedding, Sequential
from sklrp.rules import Composite, Epsilon, ProductRule, Zero, ZPlus

D_HID, D_EMB, N_CLS, VOCAB = 5, 4, 3, 12


def reference_weights(seed=0, scale=0.6):
    rng = np.random.RandomState(seed)
    d, e, C = D_HID, D_EMB, N_CLS
    w = {}
    for side in ("Left", "Right"):
        w[f"Wxh_{side}"] = rng.normal(0, scale, (4 * d, e))
        w[f"bxh_{side}"] = rng.normal(0, scale, 4 * d)
        w[f"Whh_{side}"] = rng.normal(0, scale, (4 * d, d))
        w[f"bhh_{side}"] = rng.normal(0, scale, 4 * d)
        w[f"Why_{side}"] = rng.normal(0, 1.0, (C, d))
    E = rng.normal(0, 1.0, (VOCAB, e))
    return w, E


def sklrp_net(w, E, T, bidirectional=True):
    """The same model as an sklrp stack; id k of sklrp is word k - 1 of the reference (0 = padding)."""
    net = Sequential([Embedding(VOCAB + 1, D_EMB, relevance="dimension"), LSTM(D_HID, bidirectional=bidirectional),
                      Dense(N_CLS, use_bias=False)])
    net.build((T,), np.random.RandomState(0), np.float64)
    net.layers[0].params["weight"] = np.vstack([np.zeros((1, D_EMB)), E])
    p = net.layers[1].params
    for side, suffix in (("Left", ""), ("Right", "_reverse")):
        if suffix not in net.layers[1].directions:
            continue
        p["input_weight" + suffix] = w[f"Wxh_{side}"].T.copy()
        p["recurrent_weight" + suffix] = w[f"Whh_{side}"].T.copy()
        p["bias" + suffix] = w[f"bxh_{side}"] + w[f"bhh_{side}"]
    why = [w["Why_Left"]] + ([w["Why_Right"]] if bidirectional else [])
    net.layers[2].params["weight"] = np.concatenate(why, axis=1).T.copy()
    return net


SENTENCES = [[3, 7, 1, 9, 4], [2], [5, 5, 0, 11], [], [8, 1, 6, 2, 10, 3, 3]]


def padded(sentences, T=None, pre=False):
    T = max(len(s) for s in sentences) if T is None else T
    X = np.zeros((len(sentences), T), dtype=np.int64)
    for n, s in enumerate(sentences):
        ids = np.asarray(s, dtype=np.int64) + 1
        if len(s):
            if pre:
                X[n, T - len(s):] = ids
            else:
                X[n, : len(s)] = ids
    return X


def composite(eps, bias_factor, mode):
    rule = Epsilon(eps, bias_factor=bias_factor)
    return Composite({"dense": rule, "recurrent": {"default": rule, "gate": ProductRule(mode, eps)}})


def explain(net, X, targets, comp):
    out, caches = net.forward(X)
    seed = np.eye(N_CLS)[targets]
    R = net.relevance(seed * out, caches, comp)
    return out, R, net.relevance_rest(caches)


def test_forward_matches_reference_per_sentence():
    w, E = reference_weights()
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    out = net.predict(X)
    for n, s in enumerate(SENTENCES):
        np.testing.assert_allclose(out[n], ref_forward(w, E, s), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
@pytest.mark.parametrize("mode", ["signal_take_all", "half", "proportional"])
@pytest.mark.parametrize("pre", [False, True])
def test_lrp_matches_reference(bias_factor, mode, pre):
    """Batched LRP equals the per-sentence reference, per position and dimension; padding gets zero."""
    w, E = reference_weights(1)
    eps = 1e-3
    X = padded(SENTENCES, T=9, pre=pre)
    net = sklrp_net(w, E, X.shape[1])
    targets = np.array([0, 2, 1, 0, 2])
    _, R, rest = explain(net, X, targets, composite(eps, bias_factor, mode))
    for n, s in enumerate(SENTENCES):
        R_ref, rest_ref = ref_lrp(w, E, s, targets[n], eps=eps, bias_factor=bias_factor, product=mode)
        pos = np.flatnonzero(X[n])
        np.testing.assert_allclose(R[n, pos], R_ref, rtol=1e-10, atol=1e-12)
        assert not R[n, X[n] == 0].any()  # padding: exactly zero
        np.testing.assert_allclose(rest[n], rest_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["signal_take_all", "half"])
def test_bias_factor_one_conserves_the_score(mode):
    w, E = reference_weights(2)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    targets = np.array([1, 1, 0, 2, 0])
    out, R, rest = explain(net, X, targets, composite(1e-3, 1.0, mode))
    np.testing.assert_allclose(R.sum(axis=(1, 2)) + rest, out[np.arange(5), targets], rtol=1e-10, atol=1e-13)
    assert np.abs(rest[[0, 1, 2, 4]]).min() > 0  # the initial states receive their share
    _, _, rest0 = explain(net, X, targets, composite(1e-3, 0.0, mode))
    assert not rest0.any()  # without the shares nothing reaches the (zero) initial states


def test_relevance_does_not_depend_on_the_batch_or_the_padding():
    w, E = reference_weights(3)
    comp = composite(1e-3, 1.0, "signal_take_all")
    X = padded(SENTENCES, T=8)
    _, R_batch, rest_batch = explain(sklrp_net(w, E, 8), X, np.zeros(5, int), comp)
    for n, s in enumerate(SENTENCES):
        for T in (max(len(s), 1), 12):
            Xs = padded([s], T=T)
            _, R1, rest1 = explain(sklrp_net(w, E, T), Xs, np.zeros(1, int), comp)
            np.testing.assert_allclose(R1[0, : len(s)], R_batch[n, : len(s)], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(rest1, rest_batch[n], rtol=1e-12, atol=1e-14)


def test_unidirectional_matches_reference_with_one_direction():
    w, E = reference_weights(4)
    w = {**w, "Why_Right": np.zeros_like(w["Why_Right"])}
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1], bidirectional=False)
    assert net.output_shape == (N_CLS,) and net.layers[1].output_shape == (D_HID,)
    targets = np.array([2, 0, 1, 1, 0])
    _, R, _ = explain(net, X, targets, composite(1e-3, 0.0, "signal_take_all"))
    for n, s in enumerate(SENTENCES):
        R_ref, _ = ref_lrp(w, E, s, targets[n], eps=1e-3, bias_factor=0.0)
        np.testing.assert_allclose(R[n, : len(s)], R_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method, ref", [("sensitivity", ref_sa), ("gradient_x_input", ref_gxi)])
def test_gradient_maps_match_reference(method, ref):
    w, E = reference_weights(5)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    net.layers[0].relevance_mode = "token"
    targets = np.array([0, 1, 2, 0, 1])
    m = net.explain(X, np.eye(N_CLS)[targets], method=method)
    for n, s in enumerate(SENTENCES):
        np.testing.assert_allclose(m[n, : len(s)], ref(w, E, s, targets[n]), rtol=1e-10, atol=1e-13)
        assert not m[n, len(s):].any()


def test_input_gradient_matches_reference():
    w, E = reference_weights(6)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    out, caches = net.forward(X)
    targets = np.array([2, 2, 1, 0, 0])
    g, _ = net.backward(np.eye(N_CLS)[targets], caches, need_param_grads=False, stop=1)
    for n, s in enumerate(SENTENCES):
        np.testing.assert_allclose(g[n, : len(s)], ref_gradient(w, E, s, targets[n]), rtol=1e-9, atol=1e-12)


def test_parameter_gradients_match_finite_differences():
    w, E = reference_weights(7, scale=0.4)
    X = padded(SENTENCES, T=8, pre=False)
    net = sklrp_net(w, E, X.shape[1])
    rng = np.random.RandomState(0)
    seed = rng.normal(size=(len(SENTENCES), N_CLS))

    def loss():
        return float((net.predict(X) * seed).sum())

    _, caches = net.forward(X)
    _, grads = net.backward(seed, caches)
    h = 1e-6
    for i, layer in enumerate(net.layers):
        for key, P in layer.params.items():
            for _ in range(4):
                idx = tuple(rng.randint(s) for s in P.shape)
                if i == 0:
                    idx = (rng.randint(1, P.shape[0]), idx[1])  # not the padding row
                old = P[idx]
                P[idx] = old + h
                up = loss()
                P[idx] = old - h
                down = loss()
                P[idx] = old
                np.testing.assert_allclose(grads[i][key][idx], (up - down) / (2 * h), rtol=1e-6, atol=1e-9)


def test_epsilon_presets_reach_the_lstm_and_other_rules_are_refused():
    w, E = reference_weights(8)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    out, caches = net.forward(X)
    seed = np.eye(N_CLS)[[0] * 5] * out
    R_preset = net.relevance(seed, caches, "epsilon")
    R_zero = net.relevance(seed, caches, Composite({"default": Zero()}))
    R_eps = net.relevance(seed, caches, Composite({"default": Epsilon(1e-6)}))
    np.testing.assert_allclose(R_preset, R_eps, rtol=1e-12)
    assert not np.allclose(R_preset, R_zero, rtol=1e-14, atol=0)
    with pytest.raises(ValueError, match="epsilon-family rule"):
        net.relevance(seed, caches, Composite({"recurrent": ZPlus(), "default": Epsilon()}))
    with pytest.raises(ValueError, match="epsilon-family rule"):
        net.relevance(seed, caches, "gamma")


def test_mask_skips_all_padding_columns_and_bad_shapes_raise():
    w, E = reference_weights(9)
    X = padded([[1, 2], [3]], T=6)
    net = sklrp_net(w, E, 6)
    _, caches = net.forward(X)
    assert caches[1]["counts"] == [2, 1]  # packed position k is real for the first counts[k] sorted rows
    assert net.predict(np.zeros((2, 6), dtype=np.int64)).tolist() == [[0.0] * N_CLS] * 2
    with pytest.raises(ValueError, match="shape \\(time, features\\)"):
        LSTM(3).build((4,), np.random.RandomState(0), np.float64)
    with pytest.raises(ValueError, match="units must be a positive int"):
        LSTM(0)
    with pytest.raises(ValueError, match="bidirectional must be True or False"):
        LSTM(3, bidirectional="yes")


def test_padding_anywhere_is_skipped():
    """Interior padding and rows padded on different sides: each row reads its own tokens only."""
    w, E = reference_weights(10)
    comp = composite(1e-3, 1.0, "half")
    X = np.array([[0, 3, 0, 5, 2, 0], [4, 4, 1, 0, 0, 0], [0, 0, 0, 7, 8, 9], [0, 0, 0, 0, 0, 0]])
    net = sklrp_net(w, E, 6)
    out, R, rest = explain(net, X, np.array([0, 1, 2, 0]), comp)
    for n in range(4):
        ids = X[n][X[n] > 0] - 1
        np.testing.assert_allclose(out[n], ref_forward(w, E, ids), rtol=1e-12, atol=1e-14)
        R_ref, rest_ref = ref_lrp(w, E, ids, [0, 1, 2, 0][n], eps=1e-3, bias_factor=1.0, product="half")
        np.testing.assert_allclose(R[n][X[n] > 0], R_ref, rtol=1e-10, atol=1e-12)
        assert not R[n][X[n] == 0].any()
        np.testing.assert_allclose(rest[n], rest_ref, rtol=1e-10, atol=1e-12)


def test_shared_division_fast_path_equals_the_rule_interface():
    """Plain epsilon on both gate maps divides once per step; the general path (distinct rules) agrees."""
    w, E = reference_weights(11)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    targets = np.array([0, 1, 2, 0, 1])
    fast = Composite({"default": Epsilon(1e-3)})
    general = Composite({"default": Epsilon(1e-3),
                         "recurrent": {"input": Epsilon(1e-3), "recurrent": Epsilon(1e-3 * (1 + 1e-12))}})
    _, R_fast, _ = explain(net, X, targets, fast)
    _, R_general, _ = explain(net, X, targets, general)
    np.testing.assert_allclose(R_fast, R_general, rtol=1e-8, atol=1e-12)


def test_rules_that_are_not_plain_epsilon_are_called_not_written_out():
    """The written-out path is only taken for plain Epsilon(eps > 0); a subclass's own rule is applied."""
    w, E = reference_weights(11)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    targets = np.array([0, 1, 2, 0, 1])
    calls = []

    class Counted(Epsilon):
        def __call__(self, op, R):
            calls.append(op)
            return super().__call__(op, R)

    _, R_plain, _ = explain(net, X, targets, Composite({"default": Epsilon(1e-3)}))
    _, R_counted, _ = explain(net, X, targets, Composite({"default": Counted(1e-3)}))
    assert len(calls) > X.shape[1]  # the recurrent map of every step, the input maps, the output layer
    np.testing.assert_allclose(R_counted, R_plain, rtol=1e-8, atol=1e-12)
    # epsilon = 0 (the "zero" composite) divides by the pre-activations as they are; 0 where they vanish
    _, R_zero, _ = explain(net, X, targets, Composite({"default": Epsilon(0.0)}))
    _, R_tiny, _ = explain(net, X, targets, Composite({"default": Epsilon(1e-12)}))
    np.testing.assert_allclose(R_zero, R_tiny, rtol=1e-6, atol=1e-9)

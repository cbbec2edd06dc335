"""The GRU layer against the slow per-sentence reference written from the equations."""

import numpy as np
import pytest
from gru_reference import forward as ref_forward
from gru_reference import gradient as ref_gradient
from gru_reference import gradient_x_input as ref_gxi
from gru_reference import lrp as ref_lrp
from gru_reference import random_weights
from gru_reference import sensitivity as ref_sa

from sklrp.nn import GRU, Dense, Embedding, Sequential
from sklrp.rules import Composite, Epsilon, ProductRule, ZPlus

D_HID, D_EMB, N_CLS, VOCAB = 5, 4, 3, 12
SENTENCES = [[3, 7, 1, 9, 4], [2], [5, 5, 0, 11], [], [8, 1, 6, 2, 10, 3, 3]]


def model(seed):
    w = random_weights(D_HID, D_EMB, N_CLS, seed)
    E = np.random.RandomState(seed + 100).normal(0, 1.0, (VOCAB, D_EMB))
    return w, E


def sklrp_net(w, E, T, bidirectional=True):
    net = Sequential([Embedding(VOCAB + 1, D_EMB, relevance="dimension"), GRU(D_HID, bidirectional=bidirectional),
                      Dense(N_CLS, use_bias=False)])
    net.build((T,), np.random.RandomState(0), np.float64)
    net.layers[0].params["weight"] = np.vstack([np.zeros((1, D_EMB)), E])
    for key in net.layers[1].params:
        net.layers[1].params[key] = np.array(w[key], dtype=np.float64)
    W = np.asarray(w["output_weight"])
    net.layers[2].params["weight"] = W if bidirectional else W[:D_HID]
    return net


def padded(sentences, T=None, pre=False):
    T = max(len(s) for s in sentences) if T is None else T
    X = np.zeros((len(sentences), T), dtype=np.int64)
    for n, s in enumerate(sentences):
        if len(s):
            ids = np.asarray(s) + 1
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
    R = net.relevance(np.eye(N_CLS)[targets] * out, caches, comp)
    return out, R, net.relevance_rest(caches)


def test_forward_matches_reference():
    w, E = model(0)
    X = padded(SENTENCES, T=8)
    out = sklrp_net(w, E, 8).predict(X)
    for n, s in enumerate(SENTENCES):
        np.testing.assert_allclose(out[n], ref_forward(w, E, s), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
@pytest.mark.parametrize("mode", ["signal_take_all", "half", "proportional"])
@pytest.mark.parametrize("pre", [False, True])
def test_lrp_matches_reference(bias_factor, mode, pre):
    w, E = model(1)
    X = padded(SENTENCES, T=9, pre=pre)
    targets = np.array([0, 2, 1, 0, 2])
    out, R, rest = explain(sklrp_net(w, E, 9), X, targets, composite(1e-3, bias_factor, mode))
    for n, s in enumerate(SENTENCES):
        R_ref, rest_ref = ref_lrp(w, E, s, targets[n], eps=1e-3, bias_factor=bias_factor, product=mode)
        pos = np.flatnonzero(X[n])
        np.testing.assert_allclose(R[n, pos], R_ref, rtol=1e-9, atol=1e-11)
        assert not R[n, X[n] == 0].any()
        np.testing.assert_allclose(rest[n], rest_ref, rtol=1e-9, atol=1e-11)
    if bias_factor and mode != "proportional":
        np.testing.assert_allclose(R.sum(axis=(1, 2)) + rest, out[np.arange(5), targets], rtol=1e-10, atol=1e-13)


def test_unidirectional_matches_reference_with_one_direction():
    w, E = model(2)
    w = {**w, "output_weight": np.vstack([w["output_weight"][:D_HID], np.zeros((D_HID, N_CLS))])}
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1], bidirectional=False)
    targets = np.array([2, 0, 1, 1, 0])
    _, R, _ = explain(net, X, targets, composite(1e-3, 0.0, "signal_take_all"))
    for n, s in enumerate(SENTENCES):
        R_ref, _ = ref_lrp(w, E, s, targets[n], eps=1e-3)
        np.testing.assert_allclose(R[n, : len(s)], R_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method, ref", [("sensitivity", ref_sa), ("gradient_x_input", ref_gxi)])
def test_gradient_maps_match_reference(method, ref):
    w, E = model(3)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    net.layers[0].relevance_mode = "token"
    targets = np.array([0, 1, 2, 0, 1])
    m = net.explain(X, np.eye(N_CLS)[targets], method=method)
    for n, s in enumerate(SENTENCES):
        np.testing.assert_allclose(m[n, : len(s)], ref(w, E, s, targets[n]), rtol=1e-10, atol=1e-13)
        assert not m[n, len(s):].any()


def test_input_and_parameter_gradients():
    w, E = model(4)
    X = padded(SENTENCES, T=8)
    net = sklrp_net(w, E, 8)
    out, caches = net.forward(X)
    seed = np.random.RandomState(0).normal(size=out.shape)
    g, grads = net.backward(seed, caches, stop=1)
    targets = np.array([2, 2, 1, 0, 0])
    g1, _ = net.backward(np.eye(N_CLS)[targets], caches, need_param_grads=False, stop=1)
    for n, s in enumerate(SENTENCES):
        np.testing.assert_allclose(g1[n, : len(s)], ref_gradient(w, E, s, targets[n]), rtol=1e-9, atol=1e-12)
    rng = np.random.RandomState(1)
    for key, P in net.layers[1].params.items():
        for _ in range(4):
            idx = tuple(rng.randint(k) for k in P.shape)
            old = P[idx]
            P[idx] = old + 1e-6
            up = (net.predict(X) * seed).sum()
            P[idx] = old - 1e-6
            down = (net.predict(X) * seed).sum()
            P[idx] = old
            np.testing.assert_allclose(grads[1][key][idx], (up - down) / 2e-6, rtol=1e-6, atol=1e-9)


def test_rules_other_than_epsilon_are_refused():
    w, E = model(5)
    X = padded(SENTENCES)
    net = sklrp_net(w, E, X.shape[1])
    out, caches = net.forward(X)
    with pytest.raises(ValueError, match="epsilon-family rule"):
        net.relevance(out, caches, Composite({"recurrent": ZPlus(), "default": Epsilon()}))

"""Embedding: look-up, weight gradient against finite differences, per-token
LRP and gradient methods (through ``Sequential.explain_from``'s
``explain_input`` hook), padding, bad ids, fixed vs trainable vectors, and
save/load through ``Sequential.get_config`` / ``get_arrays`` / ``from_config``."""

import io
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from test_layers_gradient import ATOL, RTOL, numeric_grad

from sklrp.nn import (
    Adam,
    Conv1D,
    Dense,
    Embedding,
    GlobalMaxPool1D,
    ReLU,
    Sequential,
    Tanh,
    softmax_cross_entropy,
)
from sklrp.rules import Composite, Zero

V, D, T = 11, 4, 7
GRADIENT_METHODS = ["sensitivity", "gradient_x_input", "gradient", "deconvnet", "guided_backprop"]


# --------------------------------------------------------------------------- helpers
def token_ids(rng, n=3, length=T, vocab=V, pad_from=(5, None, 3)):
    """Ids in [1, vocab); row k padded (id 0) from position ``pad_from[k]``.

    Tokens do not repeat within a row except ``ids[0, 3] == ids[0, 1]``, so
    with windows of two or more tokens no two windows tie at a max-pooling.
    """
    ids = np.stack([rng.permutation(np.arange(1, vocab))[:length] for _ in range(n)])
    ids[0, 3] = ids[0, 1]  # a repeated token
    for row, start in enumerate(pad_from[:n]):
        if start is not None:
            ids[row, start:] = 0
    return ids


def word_cnn(filter_size=2, use_bias=False, seed=0, relevance="token", dtype=np.float64, **emb_kwargs):
    """Embedding -> Conv1D over time -> ReLU -> GlobalMaxPool1D -> Dense."""
    net = Sequential([
        Embedding(V, D, relevance=relevance, channels_first=True, **emb_kwargs),
        Conv1D(5, filter_size, use_bias=use_bias),
        ReLU(),
        GlobalMaxPool1D(),
        Dense(3, use_bias=use_bias),
    ])
    rng = np.random.RandomState(seed)
    net.build((T,), rng, dtype)
    for layer in net.layers:
        if "bias" in layer.params:
            layer.params["bias"] = rng.normal(scale=0.3, size=layer.params["bias"].shape).astype(dtype)
    return net


def with_relevance_mode(net, mode):
    """The same network (shared parameters) with the embedding's ``relevance`` set to ``mode``."""
    emb = net.layers[0]
    cfg = dict(emb.config(), relevance=mode)
    twin = Embedding(**cfg)
    twin.build(emb.input_shape, np.random.RandomState(0), emb.params["weight"].dtype)
    twin.params = emb.params
    return Sequential([twin] + net.layers[1:])


def gradient_at_embeddings(net, ids, seed):
    """``d sum(seed * f) / d e`` by central differences, with ``e`` the embedding output."""
    e, _ = net.layers[0].forward(ids)
    e = np.array(e)  # the layout of the next layer's input
    tail = Sequential(net.layers[1:])
    return e, numeric_grad(lambda: float(np.sum(seed * tail.predict(e))), e)


def assert_tokens_conserve_relevance(net, ids):
    """LRP-0 on a bias-free net: per-token relevances sum to each score; padding gets none."""
    out, caches = net.forward(ids)
    for target in range(out.shape[1]):
        seed = np.eye(out.shape[1])[[target] * len(ids)]
        R = net.explain_from(ids, out, caches, seed, "lrp", Composite({"default": Zero()}))
        assert R.shape == ids.shape
        assert_allclose(R.sum(axis=1), out[:, target], rtol=1e-10)
        assert_array_equal(R[ids == 0], 0.0)


def to_token_major(a, emb):
    return np.moveaxis(a, 1, -1) if emb.channels_first else a


# --------------------------------------------------------------------------- forward and build
@pytest.mark.parametrize("channels_first", [False, True])
def test_forward_looks_up_rows_in_the_chosen_layout(channels_first):
    emb = Embedding(V, D, channels_first=channels_first)
    assert emb.build((T,), np.random.RandomState(0), np.float64) == ((D, T) if channels_first else (T, D))
    W = emb.params["weight"]
    assert W.shape == (V, D) and not W[0].any() and np.all(W[1:].any(axis=1))
    ids = token_ids(np.random.RandomState(1))
    out, cache = emb.forward(ids.astype(np.float64))  # estimators pass integral floats
    want = W[ids]
    assert_array_equal(out, np.moveaxis(want, -1, 1) if channels_first else want)
    assert_array_equal(cache["mask"], ids != 0)
    assert cache["ids"].dtype == np.int64


def test_channels_first_output_is_a_view():
    emb = Embedding(V, D, channels_first=True)
    emb.build((T,), np.random.RandomState(0), np.float32)
    out, cache = emb.forward(token_ids(np.random.RandomState(1)))
    assert out.dtype == np.float32 and np.shares_memory(out, cache["e"])


def test_from_pretrained_copies_the_vectors_and_zeroes_the_padding_row():
    vectors = np.random.RandomState(0).normal(size=(V, D))
    emb = Embedding.from_pretrained(vectors, padding_idx=2)
    assert not emb.trainable and emb.config()["vocab_size"] == V
    emb.build((T,), np.random.RandomState(1), np.float32)
    W = emb.params["weight"]
    assert W.dtype == np.float32 and not W[2].any()
    assert_allclose(np.delete(W, 2, axis=0), np.delete(vectors, 2, axis=0).astype(np.float32))
    assert vectors[2].any()  # the caller's matrix is untouched
    with pytest.raises(ValueError, match="2-D"):
        Embedding.from_pretrained(np.ones(5))


def test_no_padding_id():
    emb = Embedding(V, D, padding_idx=None)
    emb.build((T,), np.random.RandomState(0), np.float64)
    assert emb.params["weight"][0].any()
    out, cache = emb.forward(np.zeros((2, T)))
    assert cache["mask"] is None
    R = np.ones((2, T, D))
    assert_array_equal(emb.relevance(R, cache), np.full((2, T), float(D)))


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("channels_first", [False, True])
def test_weight_gradient_matches_finite_differences(channels_first):
    emb = Embedding(V, D, channels_first=channels_first)
    emb.build((T,), np.random.RandomState(0), np.float64)
    ids = token_ids(np.random.RandomState(1))
    out, cache = emb.forward(ids)
    G = np.random.RandomState(2).normal(size=out.shape)
    grad_in, grads = emb.backward(G, cache)
    assert grad_in.shape == ids.shape and not grad_in.any()  # ids have no gradient
    fd = numeric_grad(lambda: float(np.sum(G * emb.forward(ids)[0])), emb.params["weight"])
    # every row but the padding row has its true gradient; the padding row's is zero by design
    assert_allclose(grads["weight"][1:], fd[1:], rtol=RTOL, atol=ATOL)
    assert fd[0].any() and not grads["weight"][0].any()
    unseen = np.setdiff1d(np.arange(V), ids)
    assert not grads["weight"][unseen].any()


def test_fixed_vectors_have_no_gradient_and_stay_put_under_adam():
    rng = np.random.RandomState(0)
    ids = token_ids(rng)
    y = np.eye(3)[[0, 2, 1]]
    for trainable in (False, True):
        net = word_cnn(use_bias=True, trainable=trainable)
        before = [{k: v.copy() for k, v in layer.params.items()} for layer in net.layers]
        opt = Adam(0.01)
        for _ in range(3):
            out, caches = net.forward(ids, training=True, rng=rng)
            _, grad = softmax_cross_entropy(out, y)
            _, grads = net.backward(grad, caches, need_input_grad=False)
            assert ("weight" in grads[0]) is trainable
            opt.step(net.layers, grads, weight_decay=1e-2)
        W, W0 = net.layers[0].params["weight"], before[0]["weight"]
        if trainable:
            seen = np.unique(ids[ids != 0])
            assert np.all(np.any(W[seen] != W0[seen], axis=1))
            assert not W[0].any()  # the padding row stays zero
        else:
            assert_array_equal(W, W0)
        assert not np.array_equal(net.layers[1].params["weight"], before[1]["weight"])


# --------------------------------------------------------------------------- LRP
@pytest.mark.parametrize("filter_size", [1, 2, 3])
def test_word_cnn_conserves_relevance_per_token(filter_size):
    net = word_cnn(filter_size, use_bias=False, seed=filter_size)
    assert_tokens_conserve_relevance(net, token_ids(np.random.RandomState(10 + filter_size)))


@pytest.mark.parametrize("composite", ["zero", "epsilon", "epsilon_plus_flat", "alpha2_beta1"])
def test_padding_gets_zero_relevance_and_tokens_sum_dimensions(composite):
    net = word_cnn(use_bias=True)
    ids = token_ids(np.random.RandomState(3))
    seed = np.eye(3)[[1, 0, 2]]
    R = net.explain(ids, seed, composite=composite)
    R_dim = with_relevance_mode(net, "dimension").explain(ids, seed, composite=composite)
    assert R_dim.shape == ids.shape + (D,)
    assert_array_equal(R[ids == 0], 0.0)
    assert_array_equal(R_dim[ids == 0], 0.0)
    assert_allclose(R, R_dim.sum(axis=-1), rtol=1e-12, atol=1e-15)
    if composite == "epsilon_plus_flat":  # the flat rule spreads onto padding; the embedding drops it
        assert R[ids != 0].any()


def test_embedding_uses_no_rule_and_the_convolution_is_first():
    net = word_cnn()
    ctxs = net.contexts(Composite())
    assert not ctxs[0].is_first and ctxs[1].is_first and ctxs[4].is_last


# --------------------------------------------------------------------------- gradient methods
@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_gradient_methods_per_token_match_a_direct_computation(method):
    net = word_cnn(use_bias=True)
    ids = token_ids(np.random.RandomState(4))
    seed = np.eye(3)[[2, 1, 0]]
    got = net.explain(ids.astype(np.float64), seed, method=method)
    got_dim = with_relevance_mode(net, "dimension").explain(ids, seed, method=method)
    assert got.shape == ids.shape and got_dim.shape == ids.shape + (D,)
    assert_allclose(got, got_dim.sum(axis=-1), rtol=1e-12, atol=1e-15)
    assert_array_equal(got[ids == 0], 0.0)
    if method in ("deconvnet", "guided_backprop"):
        return  # modified backward passes: no finite-difference reference
    e, g = gradient_at_embeddings(net, ids, seed)
    e, g = to_token_major(e, net.layers[0]), to_token_major(g, net.layers[0])
    per_dim = {"sensitivity": g**2, "gradient_x_input": e * g, "gradient": g}[method]
    per_dim = np.where((ids != 0)[..., None], per_dim, 0.0)
    assert_allclose(got_dim, per_dim, rtol=1e-6, atol=1e-9)
    if method == "sensitivity":  # ||d score / d e_t||^2
        assert_allclose(got, np.linalg.norm(g, axis=-1) ** 2 * (ids != 0), rtol=1e-6, atol=1e-9)


def test_gradient_x_input_equals_lrp0_on_bias_free_word_cnn():
    net = word_cnn(use_bias=False, seed=5)
    ids = token_ids(np.random.RandomState(5))
    seed = np.eye(3)[[0, 1, 2]]
    assert_allclose(net.explain(ids, seed, method="gradient_x_input"),
                    net.explain(ids, seed, composite=Composite({"default": Zero()})), rtol=1e-10, atol=1e-12)


def test_networks_without_the_hook_are_unchanged():
    net = Sequential([Dense(6), Tanh(), Dense(3)])
    net.build((4,), np.random.RandomState(0), np.float64)
    x = np.random.RandomState(1).normal(size=(5, 4))
    seed = np.eye(3)[[0, 1, 2, 0, 1]]
    g, _ = net.backward(seed, net.forward(x)[1])
    assert_array_equal(net.explain(x, seed, method="sensitivity"), g**2)
    assert_array_equal(net.explain(x, seed, method="gradient_x_input"), g * x)
    assert_array_equal(net.explain(x, seed, method="gradient"), g)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("bad,shown", [
    ([[1, 2, V]], f"{V}"),
    ([[1, -1, 2]], "-1"),
    ([[1.0, 2.5, 3.0]], "2.5"),
    ([[1.0, np.nan, 3.0]], "nan"),
])
def test_bad_ids_raise_a_clear_error(bad, shown):
    net = word_cnn(filter_size=1)
    ids = np.zeros((1, T))
    ids[0, : len(bad[0])] = bad[0]
    if all(float(v).is_integer() for v in bad[0]):
        ids = ids.astype(np.int64)
    with pytest.raises(ValueError, match=r"vocab_size=11\).*" + shown):
        net.predict(ids)
    with pytest.raises(ValueError, match="token ids"):
        net.explain(ids, np.ones((1, 3)), method="sensitivity")


def test_bad_inputs_and_parameters_raise():
    emb = Embedding(V, D)
    emb.build((T,), np.random.RandomState(0), np.float64)
    with pytest.raises(ValueError, match="shape \\(N, T\\)"):
        emb.forward(np.zeros((2, T, 1)))
    with pytest.raises(ValueError, match="dtype bool"):
        emb.forward(np.zeros((2, T), dtype=bool))
    with pytest.raises(ValueError, match="sequence_length"):
        Embedding(V, D).build((D, T), np.random.RandomState(0), np.float64)
    with pytest.raises(ValueError, match="vocab_size must be a positive int; got 0"):
        Embedding(0, D)
    with pytest.raises(ValueError, match="embedding_dim"):
        Embedding(V, 2.5)
    with pytest.raises(ValueError, match=r"padding_idx must be None or an int in \[0, vocab_size=11\); got 11"):
        Embedding(V, D, padding_idx=V)
    with pytest.raises(ValueError, match="relevance must be one of \\['token', 'dimension'\\]; got 'word'"):
        Embedding(V, D, relevance="word")
    with pytest.raises(ValueError, match="27 invalid value\\(s\\): .*, \\.\\.\\."):
        emb.check_ids(np.arange(V, V + 27).reshape(1, -1))


# --------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("pretrained", [False, True])
def test_save_load_round_trip(pretrained):
    vectors = np.random.RandomState(7).normal(size=(V, D))
    emb = (Embedding.from_pretrained(vectors, channels_first=True, relevance="dimension") if pretrained
           else Embedding(V, D, channels_first=True, trainable=False, padding_idx=3))
    net = Sequential([emb, Conv1D(4, 2), ReLU(), GlobalMaxPool1D(), Dense(3)])
    net.build((T,), np.random.RandomState(8), np.float32)
    text = json.dumps(net.get_config())
    assert len(text) < 500  # constructor arguments only; the vectors travel as parameters
    buf = io.BytesIO()
    np.savez(buf, **net.get_arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    back = Sequential.from_config(json.loads(text), arrays, (T,))
    assert back.layers[0].config() == net.layers[0].config()
    assert back.dtype == np.float32
    ids = token_ids(np.random.RandomState(9))
    ids[ids == 3] = 4
    assert_array_equal(back.predict(ids), net.predict(ids))
    seed = np.eye(3, dtype=np.float32)[[0, 1, 2]]
    for method in ("lrp", "sensitivity"):
        assert_array_equal(back.explain(ids, seed, method=method), net.explain(ids, seed, method=method))


def test_to_cpu_keeps_the_layer():
    emb = Embedding(V, D)
    emb.build((T,), np.random.RandomState(0), np.float64)
    moved = emb.to("cpu")
    assert moved is not emb and moved.params["weight"] is emb.params["weight"]
    assert moved.config() == emb.config()


@pytest.mark.gpu
def test_cupy_matches_numpy():
    import cupy

    net = word_cnn(use_bias=True)
    gnet = net.to("cuda")
    ids = token_ids(np.random.RandomState(11))
    seed = np.eye(3)[[0, 1, 2]]
    for method in ("lrp", "sensitivity", "gradient_x_input"):
        got = gnet.explain(cupy.asarray(ids, dtype=cupy.float64), cupy.asarray(seed), method=method)
        assert isinstance(got, cupy.ndarray)
        assert_allclose(got.get(), net.explain(ids, seed, method=method), rtol=1e-10, atol=1e-12)
    out, caches = net.forward(ids)
    gout, gcaches = gnet.forward(cupy.asarray(ids), training=True)
    _, grads = net.backward(seed, caches, need_input_grad=False)
    _, ggrads = gnet.backward(cupy.asarray(seed), gcaches, need_input_grad=False)
    assert_allclose(ggrads[0]["weight"].get(), grads[0]["weight"], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="invalid value"):
        gnet.predict(cupy.asarray(ids + V))


def test_training_backward_stops_above_a_fixed_embedding(monkeypatch):
    """With need_input_grad=False nothing below the lowest trainable layer runs; the gradients are unchanged."""
    from sklrp.nn import Conv1D

    net = word_cnn(trainable=False)
    ids = token_ids(np.random.RandomState(0))
    out, caches = net.forward(ids)
    G = np.random.RandomState(1).normal(size=out.shape)
    _, full = net.backward(G, caches)

    def no_transpose(*args, **kwargs):
        raise AssertionError("the convolution's input gradient was computed")

    monkeypatch.setattr(Conv1D, "linear_transpose", no_transpose)
    g_in, grads = net.backward(G, caches, need_input_grad=False)
    assert g_in is None and grads[0] == {}
    for a, b in zip(grads, full):
        assert a.keys() == b.keys()
        for k in a:
            assert_allclose(a[k], b[k], rtol=1e-12)


def test_blank_idx_is_a_zero_vector_that_counts_as_a_token():
    emb = Embedding(6, 3, blank_idx=5)
    emb.build((4,), np.random.RandomState(0), np.float64)
    assert not emb.params["weight"][[0, 5]].any()
    ids = np.array([[2, 5, 3, 0]])
    out, cache = emb.forward(ids)
    assert cache["mask"].tolist() == [[True, True, True, False]]  # the blank is a position, padding is not
    assert not out[0, 1].any()
    grads = emb.param_grads(np.ones_like(out), cache)
    assert not grads["weight"][[0, 5]].any() and grads["weight"][2].all()
    assert emb.config()["blank_idx"] == 5 and "blank_idx" not in Embedding(6, 3).config()
    for bad in (0, 6, -1, True, 2.0):
        with pytest.raises(ValueError, match="blank_idx must be None or an int"):
            Embedding(6, 3, blank_idx=bad)

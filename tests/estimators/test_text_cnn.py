"""TextCNNClassifier: scikit-learn API, gradients, conservation, padding, a slow
loop reference for LRP-epsilon and sensitivity, word2vec, persistence, bad input,
a toy sentiment pipeline and a 20 Newsgroups smoke test."""

import os
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import sklrp
from sklrp import TextCNNClassifier
from sklrp.estimators._architectures import text_cnn_stack
from sklrp.nn import (
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    GlobalMaxPool1D,
    Parallel,
    ReLU,
    Sequential,
)
from sklrp.text import TokenSequenceVectorizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

METHODS = ("lrp", "sensitivity", "gradient", "gradient_x_input", "deconvnet", "guided_backprop")
V, T, D = 30, 9, 4  # vocabulary (padding included), positions, vector length of the small models


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1, user_api="blas"):
        yield


def small(**kw):
    params = dict(embedding_dim=D, n_filters=3, dropout=0.0, max_iter=5, learning_rate_init=1e-2,
                  dtype="float64", random_state=0)
    return TextCNNClassifier(**{**params, **kw})


def token_ids(rng, n, length=T, vocab=V, min_len=1):
    """Rows of ids in [1, vocab) followed by padding; every id once per row when possible."""
    X = np.zeros((n, length), dtype=np.int64)
    for i in range(n):
        k = rng.randint(min_len, length + 1)
        X[i, :k] = rng.permutation(np.arange(1, vocab))[:k]
    return X


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = token_ids(rng, 60, length=T, min_len=2)
    X[:, -2:] = 0  # room for the largest filter size after every document
    y = rng.randint(0, 3, len(X))
    return X, y


def fitted(X, y, **kw):
    with threadpool_limits(1, user_api="blas"):
        return small(vocab_size=V, **kw).fit(X, y)


# --------------------------------------------------------------------------- scikit-learn common checks
@parametrize_with_checks(
    [
        TextCNNClassifier(embedding_dim=8, n_filters=8, dropout=0.0, max_iter=30, learning_rate_init=1e-2,
                          random_state=0),
        TextCNNClassifier(embedding_dim=8, filter_sizes=(1, 2), n_filters=8, dropout=0.2, max_iter=30,
                          learning_rate_init=1e-2, random_state=0),
    ],
    expected_failed_checks=lambda est: {
        "check_decision_proba_consistency": "feeds continuous features, which are no token ids, without "
        "applying the estimator's categorical tag",
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- architecture
def test_builder_single_and_several_filter_sizes():
    layers = text_cnn_stack(V, D, (2,), 5, dropout=0.5, n_outputs=3)
    assert [type(layer) for layer in layers] == [Embedding, Conv1D, ReLU, GlobalMaxPool1D, Dropout, Dense]
    emb = layers[0]
    assert emb.channels_first and emb.relevance_mode == "dimension" and emb.padding_idx == 0 and not emb.trainable
    layers = text_cnn_stack(V, D, (1, 2, 3), 5, use_bias=False)
    assert [type(layer) for layer in layers] == [Embedding, Parallel]
    net = Sequential(layers)
    assert net.build((T,), np.random.RandomState(0), np.float64) == (15,)
    assert all(not branch.layers[0].use_bias for branch in layers[1].branches)
    with pytest.raises(ValueError, match="filter_sizes must hold positive integers"):
        text_cnn_stack(V, D, (0,), 5)
    with pytest.raises(ValueError, match="at least one window length"):
        text_cnn_stack(V, D, (), 5)


def test_fitted_attributes_dtype_and_layer_names(data):
    X, y = data
    est = TextCNNClassifier(embedding_dim=D, n_filters=3, max_iter=2, random_state=0).fit(X, y)
    assert est.net_.dtype == np.float32  # integer ids: float32 parameters
    assert est.vocab_size_ == X.max() + 1 and est.embedding_dim_ == D and est.n_features_in_ == T
    assert est.net_.layer_names() == ["embedding_0", "conv1d_0", "relu_0", "globalmaxpool1d_0", "dropout_0",
                                      "dense_0"]
    assert est.net_.layers[0].trainable  # random vectors are learned ("auto")
    R = est.explain(X[:4])
    assert R.shape == (4, T) and R.dtype == np.float32
    assert est.explain(X[:4], per_dimension=True).shape == (4, T, D)
    assert small(dtype=None).fit(X.astype(np.float32), y).net_.dtype == np.float32  # float ids keep their dtype
    assert small(dtype=None).fit(X.astype(np.float64), y).net_.dtype == np.float64
    assert small(filter_sizes=(1, 3)).fit(X, y).net_.layer_names()[1] == "parallel_0"


# --------------------------------------------------------------------------- gradients
def test_network_gradients_match_finite_differences(data):
    X, y = data
    est = fitted(X, y, filter_sizes=(1, 2), trainable_embeddings=True)
    net, x = est.net_, X[:3].astype(np.float64)
    G = np.random.RandomState(1).normal(size=(3, 3))
    _, caches = net.forward(x)
    _, grads = net.backward(G, caches)
    h, rng = 1e-6, np.random.RandomState(2)
    for i, layer in enumerate(net.layers):
        for name in layer.params:
            arr = layer.params[name]
            flat = arr.reshape(-1)
            picks = rng.choice(flat.size, size=min(flat.size, 12), replace=False)
            if name == "weight" and i == 0:  # embedding rows of tokens in the batch
                rows = np.unique(X[:3][X[:3] != 0])[:4]
                picks = np.ravel_multi_index((np.repeat(rows, D), np.tile(np.arange(D), len(rows))), arr.shape)
            for j in picks:
                old = flat[j]
                flat[j] = old + h
                fp = np.sum(G * net.predict(x))
                flat[j] = old - h
                fm = np.sum(G * net.predict(x))
                flat[j] = old
                assert_allclose(grads[i][name].reshape(-1)[j], (fp - fm) / (2 * h), rtol=1e-5, atol=1e-8)


def test_gradient_wrt_word_vectors_matches_finite_differences(data):
    X, y = data
    est = fitted(X, y, filter_sizes=(2, 3))
    doc = X[:1]
    W = est.net_.layers[0].params["weight"]
    g = est.explain(doc, target=1, method="gradient", per_dimension=True)[0]
    h = 1e-6
    for t in np.flatnonzero(doc[0]):  # every id occurs once in the row
        for k in range(D):
            old = W[doc[0, t], k]
            W[doc[0, t], k] = old + h
            fp = est.decision_function(doc)[0, 1]
            W[doc[0, t], k] = old - h
            fm = est.decision_function(doc)[0, 1]
            W[doc[0, t], k] = old
            assert_allclose(g[t, k], (fp - fm) / (2 * h), rtol=1e-5, atol=1e-8)
    e = np.where(doc[0, :, None] != 0, W[doc[0]], 0.0)
    assert_allclose(est.explain(doc, target=1, method="sensitivity")[0], (g**2).sum(axis=1), rtol=1e-12)
    assert_allclose(est.explain(doc, target=1, method="gradient_x_input")[0], (e * g).sum(axis=1), rtol=1e-12)


# --------------------------------------------------------------------------- relevance
@pytest.mark.parametrize("filter_sizes", [(2,), (1, 3)])
def test_bias_free_lrp0_token_relevances_sum_to_the_score(filter_sizes, data):
    X, y = data
    est = fitted(X, y, filter_sizes=filter_sizes)
    for key in [k for layer in est.net_.layers for k in layer.params if k.endswith("bias")]:
        for layer in est.net_.layers:
            if key in layer.params:
                layer.params[key] = np.zeros_like(layer.params[key])
    est.set_params(composite="zero")
    R = est.explain(X)
    scores = est.decision_function(X)
    pred = np.argmax(scores, axis=1)
    assert_allclose(R.sum(axis=1), scores[np.arange(len(X)), pred], rtol=1e-8)
    R2 = est.explain(X, target=2, per_dimension=True)
    assert_allclose(R2.sum(axis=(1, 2)), scores[:, 2], rtol=1e-8)
    # the builder's bias-free network conserves too
    net = Sequential(text_cnn_stack(V, D, filter_sizes, 4, n_outputs=3, use_bias=False))
    net.build((T,), np.random.RandomState(3), np.float64)
    R = net.explain(X.astype(np.float64), np.eye(3)[y], composite="zero")
    assert_allclose(R.sum(axis=(1, 2)), net.predict(X.astype(np.float64))[np.arange(len(X)), y], rtol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_padding_relevance_is_exactly_zero(method, data):
    X, y = data
    est = fitted(X, y, filter_sizes=(1, 2))
    composites = ["epsilon", "epsilon_plus_flat", "alpha2_beta1", "epsilon_gamma_box"] if method == "lrp" else [None]
    for composite in composites:
        if composite is not None:
            est.set_params(composite=composite)
        R = est.explain(X, method=method)
        Rd = est.explain(X, method=method, per_dimension=True)
        assert np.all(np.isfinite(R))
        assert_array_equal(R[X == 0], 0.0)
        assert_array_equal(Rd[X == 0], 0.0)
        assert_allclose(Rd.sum(axis=-1), R, rtol=1e-12, atol=1e-14)
        assert np.any(R[X != 0] != 0)


def test_relevance_does_not_depend_on_the_amount_of_padding(data):
    X, y = data
    est = fitted(X, y, filter_sizes=(1, 3))
    config, arrays = est._get_fitted_state()
    config["input_shape_"] = [T + 7]  # the same network on longer rows
    longer = TextCNNClassifier(**est.get_params())._set_fitted_state(config, arrays)
    docs = X[(X[:, -2:] == 0).all(axis=1)][:10]  # at least max(filter_sizes) - 1 padding after the tokens
    padded = np.hstack([docs, np.zeros((len(docs), 7), dtype=docs.dtype)])
    assert_allclose(longer.decision_function(padded), est.decision_function(docs), rtol=1e-12)
    for method in ("lrp", "sensitivity", "gradient_x_input"):
        R, R_long = est.explain(docs, method=method), longer.explain(padded, method=method)
        assert_allclose(R_long[:, :T], R, rtol=1e-10, atol=1e-14)
        assert_array_equal(R_long[:, T:], 0.0)


def _reference(est, doc, c, eps):
    """Slow LRP-epsilon and sensitivity of class ``c`` for one row of ids, by loops."""
    layers = est.net_.layers
    W = layers[0].params["weight"]
    convs = [branch.layers[0] for branch in layers[1].branches] if isinstance(layers[1], Parallel) else [layers[1]]
    dense = layers[-1].params
    e = W[doc]  # (T, D), zero rows at padding
    feats, winners = [], []  # per filter, over the branches in order
    for conv in convs:
        Wc, bc = conv.params["weight"], conv.params["bias"]  # (F, D, H), (F,)
        F, _, H = Wc.shape
        for f in range(F):
            z = np.array([bc[f] + sum(e[p + h, d] * Wc[f, d, h] for h in range(H) for d in range(D))
                          for p in range(len(doc) - H + 1)])
            p = int(np.argmax(np.maximum(z, 0)))
            feats.append(max(z[p], 0.0))
            winners.append((conv, f, p, z[p]))
    feats = np.array(feats)
    score = dense["bias"][c] + sum(feats[j] * dense["weight"][j, c] for j in range(len(feats)))
    sign = lambda v: 1.0 if v >= 0 else -1.0
    R_lrp = np.zeros((len(doc), D))
    grad = np.zeros((len(doc), D))
    for j, (conv, f, p, zp) in enumerate(winners):
        Wc = conv.params["weight"]
        H = Wc.shape[2]
        R_j = feats[j] * dense["weight"][j, c] / (score + eps * sign(score)) * score
        for h in range(H):
            for d in range(D):
                R_lrp[p + h, d] += e[p + h, d] * Wc[f, d, h] / (zp + eps * sign(zp)) * R_j
                if zp > 0:
                    grad[p + h, d] += dense["weight"][j, c] * Wc[f, d, h]
    real = doc != 0
    return R_lrp.sum(axis=1) * real, (grad**2).sum(axis=1) * real


@pytest.mark.parametrize("filter_sizes", [(2,), (1, 3)])
def test_relevance_equals_a_slow_loop_reference(filter_sizes, data):
    X, y = data
    est = fitted(X, y, filter_sizes=filter_sizes, epsilon=0.05)
    docs = X[:5]
    R = est.explain(docs, target=2)
    S = est.explain(docs, target=2, method="sensitivity")
    for i, doc in enumerate(docs):
        ref_lrp, ref_sens = _reference(est, doc, 2, 0.05)
        assert_allclose(R[i], ref_lrp, rtol=1e-10, atol=1e-13)
        assert_allclose(S[i], ref_sens, rtol=1e-10, atol=1e-13)


def test_empty_documents_predict_from_the_biases_and_get_zero_relevance(data):
    X, y = data
    X = X.copy()
    X[:5] = 0  # empty training documents are fine too
    est = fitted(X, y)
    empty = np.zeros((2, T), dtype=np.int64)
    conv, dense = est.net_.layers[1].params, est.net_.layers[-1].params
    expected = np.maximum(conv["bias"], 0) @ dense["weight"] + dense["bias"]
    assert_allclose(est.decision_function(empty), np.tile(expected, (2, 1)), rtol=1e-12)
    assert est.predict(empty).shape == (2,)
    for method in METHODS:
        assert_array_equal(est.explain(empty, method=method), 0.0)
    assert_array_equal(est.explain(empty, target=0, per_dimension=True), 0.0)


def test_explain_targets_and_pipeline_keyword(data):
    X, y = data
    est = fitted(X, y)
    per = np.array([0, 1, 2] * 4)
    scores = est.decision_function(X[:12])
    assert_allclose(est.explain(X[:12], target=np.eye(3)[per] * scores), est.explain(X[:12], target=per))
    assert_allclose(est.explain(X[:12]), est.explain(X[:12], target=est.predict(X[:12])))
    assert_allclose(sklrp.explain(est, X[:3], method="sensitivity", per_dimension=True).sum(axis=-1),
                    est.explain(X[:3], method="sensitivity"), rtol=1e-12)
    with pytest.raises(ValueError, match="per_dimension must be True or False"):
        est.explain(X[:3], per_dimension="yes")


def test_binary_two_classes(data):
    X, y = data
    est = fitted(X, y % 2)
    f = est.decision_function(X)
    R = est.explain(X, target=1)
    assert f.shape == (len(X),) and R.shape == X.shape
    assert_allclose(est.explain(X, target=0), -R, rtol=1e-12)


# --------------------------------------------------------------------------- training options
def test_warm_start_partial_fit_frozen_layers_and_early_stopping(data):
    X, y = data
    est = fitted(X, y, warm_start=True)
    n1 = est.n_iter_
    W = est.net_.layers[0].params["weight"].copy()
    est.set_params(frozen_layers=["embedding_0"]).fit(X, y)
    assert est.n_iter_ == n1 + 5
    assert_array_equal(est.net_.layers[0].params["weight"], W)
    part = small().partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    assert part.n_iter_ == 2
    early = small(early_stopping=True, n_iter_no_change=2, max_iter=8).fit(X, y)
    assert len(early.history_["val_score"]) == early.n_iter_
    with pytest.raises(ValueError, match="token ids"):
        est.fit(X + V, y)  # a warm start keeps the fitted vocabulary


def test_word2vec_vectors_are_deterministic_and_fixed(data):
    pytest.importorskip("gensim")
    X, y = data
    X = X.copy()
    X[X == V - 1] = 5  # id V-1 never occurs in training
    a = fitted(X, y, embeddings="word2vec")
    b = fitted(X, y, embeddings="word2vec", max_iter=1)
    c = fitted(X, y, embeddings="word2vec", random_state=1)
    Wa, Wb, Wc = (est.net_.layers[0].params["weight"] for est in (a, b, c))
    assert not a.net_.layers[0].trainable
    assert_array_equal(Wa, Wb)  # same random_state, same vectors, not changed by training
    assert not np.array_equal(Wa, Wc)
    seen = np.unique(X[X != 0])
    assert np.all(np.abs(Wa[seen]).sum(axis=1) > 0)
    assert_array_equal(Wa[0], 0.0)
    assert_array_equal(Wa[V - 1], 0.0)  # ids never seen get zeros


def test_word2vec_settings_and_seed_are_passed_to_gensim(data, monkeypatch):
    gensim_models = pytest.importorskip("gensim.models")
    from sklrp.estimators._text_cnn import WORD2VEC_SETTINGS

    calls = []
    real = gensim_models.Word2Vec

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(gensim_models, "Word2Vec", spy)
    X, y = data
    fitted(X, y, embeddings="word2vec")
    fitted(X, y, embeddings="word2vec")
    assert len(calls) == 2 and calls[0] == calls[1]  # the seed comes from random_state
    kw = calls[0]
    assert kw["vector_size"] == D and kw["workers"] == 1 and isinstance(kw["seed"], int)
    assert {k: kw[k] for k in WORD2VEC_SETTINGS} == WORD2VEC_SETTINGS
    assert kw["sg"] == 1 and kw["min_count"] == 1  # skip-gram, every id gets a vector


def test_word2vec_gives_rare_ids_vectors_as_large_as_frequent_ones():
    # the cause of the low accuracy of fixed word2vec vectors with gensim's CBOW
    # defaults: ids seen once kept near-zero vectors (about 1/20 of the norm of
    # frequent ids on this Zipf corpus, 1/40 on 20 Newsgroups), invisible to the CNN
    pytest.importorskip("gensim")
    from sklrp.estimators._text_cnn import _word2vec_vectors

    rng = np.random.RandomState(0)
    vocab = 3000
    p = 1.0 / np.arange(1, vocab)
    X = rng.choice(np.arange(1, vocab), size=(400, 40), p=p / p.sum())
    counts = np.bincount(X.ravel(), minlength=vocab)
    norms = np.linalg.norm(_word2vec_vectors(X, vocab, 16, 0), axis=1)
    assert (counts == 1).sum() > 100 and (counts >= 50).sum() > 20
    assert norms[counts == 1].mean() > 0.3 * norms[counts >= 50].mean()
    assert_array_equal(norms[counts == 0], 0.0)


# --------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("embeddings", [None, "word2vec"])
def test_save_load_round_trip(embeddings, data, tmp_path):
    if embeddings == "word2vec":
        pytest.importorskip("gensim")
    X, y = data
    labels = np.array(["ham", "spam", "eggs"])[y]
    est = TextCNNClassifier(embeddings, embedding_dim=D, filter_sizes=(1, 2), n_filters=3, max_iter=3,
                            random_state=0).fit(X, labels)
    path = tmp_path / "cnn.npz"
    est.save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert "state.net_.0.weight" in archive.files and "state.net_.1.1.0.weight" in archive.files
    for loaded in (sklrp.load_model(path), pickle.loads(pickle.dumps(est))):
        assert type(loaded) is TextCNNClassifier and loaded.get_params() == est.get_params()
        assert (loaded.vocab_size_, loaded.embedding_dim_) == (est.vocab_size_, est.embedding_dim_)
        assert_array_equal(loaded.net_.layers[0].params["weight"], est.net_.layers[0].params["weight"])
        assert_array_equal(loaded.predict(X), est.predict(X))
        assert_array_equal(loaded.decision_function(X), est.decision_function(X))
        for method in ("lrp", "sensitivity"):
            assert_array_equal(loaded.explain(X, method=method), est.explain(X, method=method))
        assert_array_equal(loaded.explain(X[:4], target="eggs", per_dimension=True),
                           est.explain(X[:4], target="eggs", per_dimension=True))
    with pytest.raises(ValueError, match="ids"):
        sklrp.load_model(path).predict(np.full((1, T), est.vocab_size_))


def test_array_embeddings_are_used_and_refuse_the_safe_format(data, tmp_path):
    X, y = data
    W = np.random.RandomState(5).normal(size=(V, 6))
    est = small(embeddings=W, embedding_dim=None).fit(X, y)
    assert est.vocab_size_ == V and est.embedding_dim_ == 6 and not est.net_.layers[0].trainable
    assert_array_equal(est.net_.layers[0].params["weight"][1:], W[1:])
    assert_array_equal(est.net_.layers[0].params["weight"][0], 0.0)  # padding row
    with pytest.raises(ValueError, match="cannot be saved in the safe format"):
        est.save(tmp_path / "m.npz")
    est.set_params(embeddings=None).save(tmp_path / "m.npz")
    assert_array_equal(sklrp.load_model(tmp_path / "m.npz").explain(X), est.explain(X))


@pytest.mark.gpu
def test_cupy_input_matches_numpy(data):
    cp = pytest.importorskip("cupy")
    X, y = data
    cpu = fitted(X, y, filter_sizes=(1, 2))
    Xg = cp.asarray(X)
    R = cpu.explain(Xg)  # a host model follows CuPy input (device=None)
    assert isinstance(R, cp.ndarray)
    assert_allclose(cp.asnumpy(R), cpu.explain(X), rtol=1e-10, atol=1e-13)
    gpu = fitted(Xg, y, filter_sizes=(1, 2))  # host random draws: the same model up to rounding
    assert_allclose(cp.asnumpy(gpu.decision_function(Xg)), cpu.decision_function(X), rtol=1e-5, atol=1e-7)
    R = gpu.explain(Xg, method="sensitivity", per_dimension=True)
    assert isinstance(R, cp.ndarray) and R.shape == X.shape + (D,)
    assert_array_equal(cp.asnumpy(R)[X == 0], 0.0)


# --------------------------------------------------------------------------- bad input
def test_bad_input_errors(data):
    X, y = data
    est = fitted(X, y)
    cases = [
        (X + 0.5, "invalid value.*0.5"),
        (np.where(X == 3, -1, X), "Negative values in data.*-1"),
        (np.where(X == 3, V + 2, X), f"token ids.*vocab_size={V}.*{V + 2}"),
    ]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            clone(est).fit(bad, y)
        with pytest.raises(ValueError, match=match):
            est.predict(bad)
        with pytest.raises(ValueError, match=match):
            est.explain(bad)
    with pytest.raises(ValueError, match="dim 3"):
        est.explain(X[:, :, None])
    with pytest.raises(ValueError, match="X has 8 features, but TextCNNClassifier is expecting 9"):
        est.predict(X[:, :8])
    inferred = small().fit(X, y)  # vocab_size_ = largest training id + 1
    with pytest.raises(ValueError, match=re.escape(f"vocab_size_={X.max() + 1} was inferred at fit")):
        inferred.predict(np.full((1, T), X.max() + 1))
    W = np.zeros((V, 5))
    with pytest.raises(ValueError, match="embeddings has vectors of length 5 but embedding_dim=4"):
        small(embeddings=W).fit(X, y)
    with pytest.raises(ValueError, match="embeddings has 30 rows but vocab_size=40"):
        small(embeddings=W, embedding_dim=None, vocab_size=40).fit(X, y)
    with pytest.raises(ValueError, match=f"vocab_size={V - 5}"):
        small(embeddings=W[:-5], embedding_dim=None).fit(X, y)  # too few rows for the ids
    with pytest.raises(ValueError, match="embeddings"):
        small(embeddings=W[:, :, None], embedding_dim=None).fit(X, y)
    with pytest.raises(ValueError, match="fewer than the largest filter size 3"):
        small(filter_sizes=(3,)).fit(X[:, :2], y)
    with pytest.raises(ValueError, match="filter_sizes must hold positive integers"):
        small(filter_sizes=(2, 0)).fit(X, y)
    with pytest.raises(ValueError, match="embeddings"):
        small(embeddings="glove").fit(X, y)


# --------------------------------------------------------------------------- end to end
POSITIVE, NEGATIVE = ["good", "great", "excellent", "wonderful"], ["bad", "awful", "terrible", "boring"]
NEUTRAL = ["movie", "plot", "actor", "scene", "film", "story", "director", "ending", "music", "cast", "script"]


def _reviews(rng, n):
    docs, labels = [], []
    for _ in range(n):
        label = rng.randint(2)
        words = list(rng.choice(NEUTRAL, size=rng.randint(3, 7)))
        words.insert(rng.randint(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
        docs.append(" ".join(words))
        labels.append(label)
    return docs, np.array(labels)


def test_pipeline_puts_most_relevance_on_the_sentiment_words():
    rng = np.random.RandomState(0)
    docs, labels = _reviews(rng, 200)
    test_docs, test_labels = _reviews(rng, 40)
    pipe = make_pipeline(
        TokenSequenceVectorizer(max_length=10),
        TextCNNClassifier(embedding_dim=16, n_filters=16, max_iter=30, learning_rate_init=1e-2, random_state=0),
    ).fit(docs, labels)
    assert pipe.score(test_docs, test_labels) == 1.0
    R = sklrp.explain(pipe, test_docs)
    X = pipe[0].transform(test_docs)
    assert R.shape == X.shape == (40, 10)
    assert_array_equal(R[X == 0], 0.0)
    sentiment = [pipe[0].vocabulary_[w] for w in POSITIVE + NEGATIVE]
    top = X[np.arange(len(X)), np.argmax(R, axis=1)]
    assert np.all(np.isin(top, sentiment))
    assert np.all(R[np.isin(X, sentiment)] > 0)


def _newsgroups_home():
    env = os.environ.get("SCIKIT_LEARN_DATA")
    home = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "20newsgroups" / (
        "sklearn_data_home")
    if not (home / "20news-bydate_py3.pkz").exists():
        pytest.skip(f"20 Newsgroups cache not found in {home} (set SCIKIT_LEARN_DATA)")
    return str(home)


def test_newsgroups_two_classes_smoke():
    from sklearn.datasets import fetch_20newsgroups

    kw = dict(data_home=_newsgroups_home(), download_if_missing=False, categories=["sci.space", "rec.autos"],
              remove=("headers", "footers", "quotes"))
    train, test = fetch_20newsgroups(subset="train", **kw), fetch_20newsgroups(subset="test", **kw)
    pipe = make_pipeline(
        TokenSequenceVectorizer(max_length=100, min_df=2),
        TextCNNClassifier(embedding_dim=50, n_filters=32, max_iter=5, learning_rate_init=1e-2, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(train.data, train.target)
    acc = pipe.score(test.data, test.target)
    print(f"TextCNNClassifier 20 Newsgroups sci.space vs rec.autos test accuracy: {acc:.3f}")
    assert acc >= 0.8
    R = sklrp.explain(pipe, test.data[:20])
    X = pipe[0].transform(test.data[:20])
    assert R.shape == (20, 100) and np.all(np.isfinite(R))
    assert_array_equal(R[X == 0], 0.0)

"""BiLSTMClassifier and load_lrp_for_lstm: scikit-learn API, LRP against the slow
per-sentence reference, conservation with the rest, persistence, the published
weights, bad input and a toy sentiment pipeline."""

import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklrp
from sklrp import BiLSTMClassifier
from sklrp.exceptions import ModelFileError
from sklrp.estimators._training import _clip_gradients
from sklrp.nn import LSTM, Dense, Embedding
from sklrp.rules import Composite, Epsilon
from sklrp.text import TokenSequenceVectorizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nn"))
import lstm_reference as ref  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

V, T, D, H = 25, 8, 5, 4
MODEL = Path(__file__).resolve().parents[3] / "shared" / "data" / "lrp_for_lstm" / "model"


def token_ids(rng, n, length=T, vocab=V, min_len=0):
    X = np.zeros((n, length), dtype=np.int64)
    for i in range(n):
        k = rng.randint(min_len, length + 1)
        X[i, :k] = rng.randint(1, vocab, k)
    return X


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = token_ids(rng, 60, min_len=1)
    y = rng.randint(0, 3, len(X))
    return X, y


def small(**kw):
    params = dict(embedding_dim=D, hidden_size=H, max_iter=4, learning_rate_init=1e-2, dtype="float64",
                  random_state=0, vocab_size=V)
    return BiLSTMClassifier(**{**params, **kw})


def as_reference(est):
    """The fitted estimator's weights in the published layout (and the embedding without padding row)."""
    p = est.net_.layers[1].params
    w = {}
    for side, suffix in (("Left", ""), ("Right", "_reverse")):
        w[f"Wxh_{side}"] = p["input_weight" + suffix].T
        w[f"Whh_{side}"] = p["recurrent_weight" + suffix].T
        w[f"bxh_{side}"] = p["bias" + suffix]
        w[f"bhh_{side}"] = np.zeros_like(p["bias" + suffix])
    W = est.net_.layers[-1].params["weight"].T
    w["Why_Left"], w["Why_Right"] = W[:, :H], W[:, H:]
    return w, est.net_.layers[0].params["weight"][1:-1]


# --------------------------------------------------------------------------- scikit-learn common checks
@parametrize_with_checks(
    [
        BiLSTMClassifier(embedding_dim=6, hidden_size=6, max_iter=30, learning_rate_init=2e-2, random_state=0),
        BiLSTMClassifier(embedding_dim=6, hidden_size=5, bidirectional=False, output_bias=True, dropout=0.1,
                         max_iter=30, learning_rate_init=2e-2, random_state=0),
        BiLSTMClassifier(embedding_dim=6, hidden_size=6, cell="gru", max_iter=30, learning_rate_init=2e-2,
                         random_state=0),
    ],
    expected_failed_checks=lambda est: {
        "check_decision_proba_consistency": "feeds continuous features, which are no token ids, without "
        "applying the estimator's categorical tag",
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- the network
def test_fitted_attributes_and_layers(data):
    X, y = data
    est = small().fit(X, y)
    assert [type(layer) for layer in est.net_.layers] == [Embedding, LSTM, Dense]
    assert est.net_.layer_names() == ["embedding_0", "lstm_0", "dense_0"]
    assert "bias" not in est.net_.layers[-1].params  # no output bias by default
    assert (est.vocab_size_, est.embedding_dim_, est.n_features_in_, est.blank_id_) == (V + 1, D, T, V)
    assert not est.net_.layers[0].params["weight"][[0, V]].any()  # padding and blank rows stay zero
    assert est.net_.dtype == np.float64 and small(dtype=None).fit(X, y).net_.dtype == np.float32


@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
@pytest.mark.parametrize("product_rule", ["signal_take_all", "half"])
def test_lrp_equals_the_reference_per_sentence(bias_factor, product_rule, data):
    X, y = data
    est = small(bias_factor=bias_factor, product_rule=product_rule).fit(X, y)
    w, E = as_reference(est)
    target = np.array([0, 1, 2] * 20)
    R, rest = est.explain(X, target=target, per_dimension=True, return_rest=True)
    R_tok = est.explain(X, target=target)
    for n in range(len(X)):
        ids = X[n][X[n] > 0] - 1
        R_ref, rest_ref = ref.lrp(w, E, ids, target[n], eps=1e-3, bias_factor=bias_factor, product=product_rule)
        assert_allclose(R[n, : len(ids)], R_ref, rtol=1e-10, atol=1e-12)
        assert_allclose(R_tok[n, : len(ids)], R_ref.sum(axis=1), rtol=1e-10, atol=1e-12)
        assert_allclose(rest[n], rest_ref, rtol=1e-10, atol=1e-12)
        assert not R_tok[n, len(ids):].any()
    if bias_factor == 1.0:
        scores = est.decision_function(X)[np.arange(len(X)), target]
        assert_allclose(R_tok.sum(axis=1) + rest, scores, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method, fn", [("sensitivity", ref.sensitivity), ("gradient_x_input", ref.gradient_x_input)])
def test_gradient_baselines_equal_the_reference(method, fn, data):
    X, y = data
    est = small().fit(X, y)
    w, E = as_reference(est)
    m = est.explain(X[:12], target=1, method=method)
    for n in range(12):
        ids = X[n][X[n] > 0] - 1
        assert_allclose(m[n, : len(ids)], fn(w, E, ids, 1), rtol=1e-9, atol=1e-12)
        assert not m[n, len(ids):].any()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_binary_two_classes_and_batch_independence(cell, data):
    X, y = data
    labels = np.array(["neg", "pos"])[y % 2]
    est = small(bias_factor=1.0, cell=cell).fit(X, labels)
    f = est.decision_function(X)
    assert f.shape == (len(X),)
    for cls, sign in (("pos", 1.0), ("neg", -1.0)):
        R, rest = est.explain(X, target=cls, return_rest=True)
        assert_allclose(R.sum(axis=1) + rest, sign * f, rtol=1e-10, atol=1e-12)
    R_all = est.explain(X)
    for n in (0, 7, 31):
        assert_allclose(est.explain(X[n : n + 1]), R_all[n : n + 1], rtol=1e-12, atol=1e-14)


def test_explain_options_and_their_errors(data):
    X, y = data
    est = small().fit(X, y)
    R, rest = est.explain(X[:3], return_rest=True)
    assert R.shape == (3, T) and rest.shape == (3,) and not rest.any()  # bias_factor=0: nothing left there
    with pytest.raises(ValueError, match="return_rest=True needs method='lrp'"):
        est.explain(X[:3], method="sensitivity", return_rest=True)
    with pytest.raises(ValueError, match="return_rest must be True or False"):
        est.explain(X[:3], return_rest="yes")
    eps = est.get_composite()
    assert eps.rules["recurrent"] == Epsilon(1e-3)
    half = est.set_params(product_rule="half", bias_factor=1.0).get_composite()
    assert half.rules["recurrent"]["gate"].mode == "half"
    assert half.rules["recurrent"]["default"] == Epsilon(1e-3, bias_factor=1.0)
    with pytest.raises(ValueError, match="composite"):
        est.set_params(composite="gamma").explain(X[:2])
    with pytest.raises(ValueError, match="epsilon-family rule"):
        est.set_params(composite=Composite({"default": "zplus"})).explain(X[:2])
    R0 = est.set_params(composite="zero", product_rule="signal_take_all").explain(X[:4])  # bias_factor=1 still
    R1 = est.set_params(composite=Composite({"default": Epsilon(0.0, bias_factor=1.0)})).explain(X[:4])
    assert_allclose(R0, R1, rtol=1e-12)
    R0 = est.set_params(composite="zero", bias_factor=0.0).explain(X[:4])
    R1 = est.set_params(composite=Composite({"default": Epsilon(0.0)})).explain(X[:4])
    assert_allclose(R0, R1, rtol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_learns_and_clipping_bounds_the_norm(cell):
    rng = np.random.RandomState(1)
    X = token_ids(rng, 300, length=10, min_len=2)
    y = (X == 3).any(axis=1).astype(int)  # the class is whether word 3 occurs
    est = small(max_iter=40, batch_size=32, learning_rate_init=2e-2, early_stopping=True, n_iter_no_change=8,
                cell=cell)
    est.fit(X, y)
    assert type(est.net_.layers[1]).__name__ == cell.upper()
    assert est.score(X, y) > 0.95
    assert est.best_validation_score_ > 0.9
    R = est.explain(X[y == 1], target=1)
    top = np.argmax(R, axis=1)
    assert np.mean(X[y == 1][np.arange(len(top)), top] == 3) > 0.9  # the deciding word is the most relevant
    grads = [{"a": np.full(3, 4.0)}, {"b": np.full((2, 2), 3.0)}, {}]
    _clip_gradients(grads, 5.0)
    norm = np.sqrt(sum((g**2).sum() for layer in grads for g in layer.values()))
    assert norm == pytest.approx(5.0)
    small_grads = [{"a": np.full(3, 0.1)}]
    _clip_gradients(small_grads, 5.0)
    assert_array_equal(small_grads[0]["a"], 0.1)


def test_pipeline_with_the_vectorizer_explains_words():
    pos, neg = ["good", "great", "fine", "superb"], ["bad", "awful", "dull", "poor"]
    filler = ["the", "movie", "plot", "was", "a", "story", "and", "film"]
    rng = np.random.RandomState(0)
    docs, labels = [], []
    for _ in range(240):
        label = rng.randint(2)
        words = list(rng.choice(filler, size=rng.randint(2, 6)))
        words.insert(rng.randint(len(words) + 1), rng.choice(pos if label else neg))
        docs.append(" ".join(words))
        labels.append(label)
    pipe = make_pipeline(
        TokenSequenceVectorizer(max_length=8),
        BiLSTMClassifier(hidden_size=8, embedding_dim=8, max_iter=30, learning_rate_init=2e-2, random_state=0),
    ).fit(docs, labels)
    assert pipe.score(docs, labels) > 0.95
    tests = ["the plot was superb", "a dull story and film"]  # "a" is no token for the default pattern
    for tr in sklrp.text.token_relevances(pipe, tests):
        assert tr.tokens[int(np.argmax(np.abs(tr.relevance)))] in pos + neg
        assert "a" not in tr.tokens


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_save_load_round_trip(cell, data, tmp_path):
    X, y = data
    labels = np.array(["a", "b", "c"])[y]
    est = small(product_rule="half", bias_factor=1.0, cell=cell).fit(X, labels)
    path = tmp_path / "lstm.npz"
    est.save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert "state.net_.1.recurrent_weight_reverse" in archive.files
    for loaded in (sklrp.load_model(path), pickle.loads(pickle.dumps(est))):
        assert type(loaded) is BiLSTMClassifier and loaded.get_params() == est.get_params()
        assert_array_equal(loaded.decision_function(X), est.decision_function(X))
        R, rest = loaded.explain(X, return_rest=True)
        R0, rest0 = est.explain(X, return_rest=True)
        assert_array_equal(R, R0)
        assert_array_equal(rest, rest0)


def test_bad_input_errors(data):
    X, y = data
    est = small().fit(X, y)
    for bad, match in [
        (X + 0.5, "invalid value.*0.5"),
        (np.where(X == 3, V + 2, X), f"token ids.*vocab_size=({V}|{V + 1}).*{V + 2}"),
        (np.where(X == 3, -1, X), "Negative values in data"),
    ]:
        for call in (est.predict, est.explain, lambda Z: clone(est).fit(Z, y)):
            with pytest.raises(ValueError, match=match):
                call(bad)
    with pytest.raises(ValueError, match="hidden_size"):
        small(hidden_size=0).fit(X, y)
    with pytest.raises(ValueError, match="product_rule"):
        small(product_rule="all").fit(X, y)
    with pytest.raises(ValueError, match="max_grad_norm"):
        small(max_grad_norm=0).fit(X, y)


# --------------------------------------------------------------------------- the published model
needs_model = pytest.mark.skipif(not (MODEL / "model.npz").is_file(), reason=f"no published model at {MODEL}")


@needs_model
def test_published_weights_give_the_reference_scores_and_relevances():
    with np.load(MODEL / "model.npz", allow_pickle=False) as archive:
        w = {k: archive[k] for k in archive.files}
    E = np.random.RandomState(0).normal(0, 0.5, (19538, 60))
    pipe = sklrp.load_lrp_for_lstm(MODEL, embeddings=E)
    vocab = (MODEL / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    lines = (MODEL.parent / "data" / "sequence_test.txt").read_text(encoding="utf-8").splitlines()
    sentences = [line.split("\t")[1].split(" | ") for line in lines[::150]]
    sentences.append("neither funny nor suspenseful nor particularly well-drawn .".split())
    docs = [" ".join(s) for s in sentences]
    X = pipe[0].transform(docs)
    scores = pipe.decision_function(docs)
    clf = pipe[-1].set_params(bias_factor=1.0)
    R, rest = clf.explain(X, target=0, return_rest=True)
    index = {word: i for i, word in enumerate(vocab)}
    for n, s in enumerate(sentences):
        ids = [index[word] for word in s]
        assert_array_equal(X[n, : len(ids)], np.array(ids) + 1)
        assert_allclose(scores[n], ref.forward(w, E, ids), rtol=1e-12, atol=1e-12)
        R_ref, rest_ref = ref.lrp(w, E, ids, 0, eps=1e-3, bias_factor=1.0)
        assert_allclose(R[n, : len(ids)], R_ref.sum(axis=1), rtol=1e-10, atol=1e-12)
        assert_allclose(R[n].sum() + rest[n], scores[n, 0], rtol=1e-10)
    assert pipe.predict(["8\xa01\\/2"]).shape == (1,)  # a vocabulary word with a no-break space is one token
    assert pipe[0].transform(["8\xa01\\/2"])[0, 0] == index["8\xa01\\/2"] + 1


@needs_model
def test_loader_errors(tmp_path):
    E = np.zeros((19538, 60))
    with pytest.raises(ValueError, match=re.escape("embeddings must be an array of shape (19538, 60)")):
        sklrp.load_lrp_for_lstm(MODEL, embeddings=E[:, :50])
    with pytest.raises(FileNotFoundError, match="model.npz not found"):
        sklrp.load_lrp_for_lstm(tmp_path, embeddings=E)
    with np.load(MODEL / "model.npz", allow_pickle=False) as archive:
        w = {k: archive[k] for k in archive.files}
    (tmp_path / "vocab.txt").write_bytes((MODEL / "vocab.txt").read_bytes())
    np.savez(tmp_path / "model.npz", **{**w, "Whh_Right": w["Whh_Right"][:, :50]})
    with pytest.raises(ValueError, match=re.escape("Whh_Right must be a finite float array of shape (240, 60)")):
        sklrp.load_lrp_for_lstm(tmp_path, embeddings=E)
    np.savez(tmp_path / "model.npz", **{k: v for k, v in w.items() if k != "Why_Left"})
    with pytest.raises(ValueError, match="lacks the arrays \\['Why_Left'\\]"):
        sklrp.load_lrp_for_lstm(tmp_path, embeddings=E)
    np.savez(tmp_path / "model.npz", **w)
    (tmp_path / "vocab.txt").write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(ValueError, match="more than once"):
        sklrp.load_lrp_for_lstm(tmp_path, embeddings=np.zeros((3, 60)))


def _reference_folder(folder, hidden=2, inputs=3, n_classes=5, words=("good", "bad", "movie", "plot")):
    """A small model in the format of ArrasL/LRP_for_LSTM: model.npz and vocab.txt."""
    rng = np.random.RandomState(0)
    shapes = {"Wxh": (4 * hidden, inputs), "bxh": (4 * hidden,), "Whh": (4 * hidden, hidden), "bhh": (4 * hidden,),
              "Why": (n_classes, hidden)}
    w = {f"{k}_{side}": rng.normal(size=shape) for side in ("Left", "Right") for k, shape in shapes.items()}
    folder.mkdir(exist_ok=True)
    np.savez(folder / "model.npz", **w)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    return w, rng.normal(size=(len(words), inputs))


def test_loader_reads_a_small_reference_model_and_refuses_bad_files(tmp_path):
    w, E = _reference_folder(tmp_path)
    pipe = sklrp.load_lrp_for_lstm(tmp_path, embeddings=E)
    assert pipe.predict(["good movie", "bad plot"]).shape == (2,)
    npz, vocab = tmp_path / "model.npz", tmp_path / "vocab.txt"
    raw = npz.read_bytes()
    for k in range(20):  # truncated at every 1/20th
        npz.write_bytes(raw[: len(raw) * k // 20])
        with pytest.raises(ModelFileError, match=rf"^{re.escape(str(npz))} is not an \.npz archive\.$"):
            sklrp.load_lrp_for_lstm(tmp_path, embeddings=E)
    marker = tmp_path / "ran"
    for name, value, match in [
        ("Wxh_Left", np.array([_Payload(marker)], dtype=object),
         r": member 'Wxh_Left\.npy' holds Python objects \(dtype object\), which are never unpickled\.$"),
        ("Whh_Right", w["Whh_Right"].astype(np.float16),
         r": Whh_Right must be a finite float array of shape \(8, 2\) \(float32 or float64; hidden size 2, input "
         r"size 3, 5 classes\); got float16 of shape \(8, 2\)\.$"),
        ("Why_Left", w["Why_Left"].astype(np.complex128), r": Why_Left must be a finite float array of shape \(5, 2\)"),
        ("bxh_Left", np.arange(8), r": bxh_Left must be a finite float array of shape \(8,\) .* got int64 of shape"),
        ("bhh_Left", np.full(8, np.nan), r": bhh_Left must be a finite float array of shape \(8,\); it holds NaN or "
                                         r"infinite values\.$"),
        ("Wxh_Left", np.zeros((6, 3)), r": Wxh_Left must have shape \(4 \* hidden, input\) with positive sizes; got "
                                       r"\(6, 3\)\.$"),
    ]:
        np.savez(npz, **{**w, name: value})
        with pytest.raises(ModelFileError, match="^" + re.escape(str(npz)) + match):
            sklrp.load_lrp_for_lstm(tmp_path, embeddings=E)
        assert not marker.exists()
    np.savez(npz, **w)
    for text, match in [
        (b"good\nbad\n\xffmovie\nplot\n", r", line 3: byte 9 is not UTF-8 text\.$"),
        (b"good\nbad\ngood\nplot\n", r", line 3: 'good' is listed more than once \(first on line 1\); word ids would "
                                     r"be ambiguous\.$"),
        (b"good\n\nmovie\nplot\n", r", line 2: '' is not a word; vocab\.txt must hold one word per line"),
        (b"good\nbad movie\nplot\nx\n", r", line 2: 'bad movie' is not a word"),
        (b"", r" must hold one word per line; it is empty\.$"),
    ]:
        vocab.write_bytes(text)
        with pytest.raises(ModelFileError, match="^" + re.escape(str(vocab)) + match):
            sklrp.load_lrp_for_lstm(tmp_path, embeddings=E)
    vocab.write_text("good\nbad\nmovie\nplot\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"embeddings must be an array of shape \(4, 3\)") as info:
        sklrp.load_lrp_for_lstm(tmp_path, embeddings=E[:, :2])  # an argument error, not a file error
    assert not isinstance(info.value, ModelFileError)


class _Payload:
    """Unpickling it would leave a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


def test_a_blank_is_a_zero_vector_step_and_word_deletion_uses_it(data):
    X, y = data
    est = small().fit(X, y)
    w, E = as_reference(est)
    E_blank = est.net_.layers[0].params["weight"][1:]  # the last row is the blank word's (zero) vector
    Xb = X[:6].copy()
    Xb[:, 0] = est.blank_id_
    for n in range(6):
        ids = Xb[n][Xb[n] > 0] - 1
        assert_allclose(est.decision_function(Xb[n : n + 1])[0], ref.forward(w, E_blank, ids), rtol=1e-12)
    assert not np.allclose(est.decision_function(Xb), est.decision_function(np.where(Xb == est.blank_id_, 0, Xb)))
    docs = [" ".join(f"w{i}" for i in row[row > 0]) for row in X]
    vec = TokenSequenceVectorizer(max_length=T, token_pattern=r"\S+").fit(docs)
    pipe = make_pipeline(vec, small(vocab_size=vec.vocab_size_)).fit(docs, y)
    curve = sklrp.metrics.word_deletion_curve(pipe, docs, y, n_words=1, subset="all")
    Xt = vec.transform(docs)
    R = pipe[-1].explain(Xt, target=y)
    R[Xt == 0] = -np.inf
    Xt[np.arange(len(Xt)), np.argmax(R, axis=1)] = pipe[-1].blank_id_
    assert curve.accuracy[1] == pytest.approx(np.mean(pipe[-1].predict(Xt) == y))


@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cupy_input_matches_numpy(cell, data):
    cp = pytest.importorskip("cupy")
    X, y = data
    cpu = small(cell=cell, bias_factor=1.0).fit(X, y)
    Xg = cp.asarray(X)
    R, rest = cpu.explain(Xg, return_rest=True)  # a host model follows CuPy input (device=None)
    assert isinstance(R, cp.ndarray)
    R0, rest0 = cpu.explain(X, return_rest=True)
    assert_allclose(cp.asnumpy(R), R0, rtol=1e-10, atol=1e-13)
    assert_allclose(cp.asnumpy(rest), rest0, rtol=1e-10, atol=1e-13)
    for method in ("sensitivity", "gradient_x_input"):
        assert_allclose(cp.asnumpy(cpu.explain(Xg, method=method)), cpu.explain(X, method=method),
                        rtol=1e-10, atol=1e-13)
    gpu = small(cell=cell).fit(Xg, y)  # host random draws: the same model up to rounding
    assert_allclose(cp.asnumpy(gpu.decision_function(Xg)), small(cell=cell).fit(X, y).decision_function(X),
                    rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pool_everything", [False, True])
def test_chunking_does_not_change_the_results(cell, pool_everything, data, monkeypatch):
    X, y = data
    est = small(cell=cell, bias_factor=1.0).fit(X, y)
    R, rest = est.explain(X, return_rest=True)
    scores = est.decision_function(X)
    SA = est.explain(X, method="sensitivity")
    if pool_everything:  # the chunks' workspace hands out every array again, however small
        import sklrp._backend

        monkeypatch.setattr(sklrp._backend, "_POOL_MIN_BYTES", 0)
    for size in (1, 7):
        est._chunk_bounds = lambda X, k=size: [(s, min(s + k, len(X))) for s in range(0, len(X), k)]
        R1, rest1 = est.explain(X, return_rest=True)
        assert_allclose(R1, R, rtol=1e-12, atol=1e-14)
        assert_allclose(rest1, rest, rtol=1e-12, atol=1e-14)
        assert_allclose(est.decision_function(X), scores, rtol=1e-12)
        assert_allclose(est.explain(X, method="sensitivity"), SA, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("embeddings", ["array", "word2vec"])
def test_fit_with_given_or_trained_embeddings(embeddings, data):
    """An embeddings array (was TypeError: from_pretrained got blank_idx) or word2vec vectors start the layer;
    fixed vectors stay as given, and padding is the zero row."""
    X, y = data
    if embeddings == "array":
        E = np.random.RandomState(1).normal(size=(V, D))
        est = small(vocab_size=None, embedding_dim=None, embeddings=E).fit(X, y)
        W = est.net_.layers[0].params["weight"]
        assert W.shape == (V + 1, D)  # one more id: the blank word
        assert_allclose(W[1:V], E[1:V])
        assert not np.any(W[0]) and not np.any(W[V])  # padding and blank: zero vectors
    else:
        pytest.importorskip("gensim")
        est = small(embeddings="word2vec").fit(X, y)
    R = est.explain(X[:3])
    assert R.shape == X[:3].shape and np.all(np.isfinite(R))
    assert np.all(R[X[:3] == 0] == 0)


def test_an_unseen_id_is_not_read_as_the_blank_of_an_inferred_vocabulary():
    """With vocab_size=None the blank id follows the largest training id, which a vectorizer gives to a word the
    training rows lack: such a word was read (and trained by partial_fit) as a blank.  Word deletion still puts
    the blank in a deleted word's place."""
    docs = ["good film", "bad film", "good acting", "bad acting film zebra"] * 5  # 'zebra' cut by max_length
    y = np.array([1, 0, 1, 0] * 5)
    vec = TokenSequenceVectorizer(max_length=3).fit(docs)
    est = BiLSTMClassifier(embedding_dim=4, hidden_size=4, max_iter=2, random_state=0).fit(vec.transform(docs), y)
    unseen = vec.transform(["zebra good film"])
    assert unseen[0, 0] == est.blank_id_
    message = rf"X holds the id {est.blank_id_}, which no training document had; with vocab_size=None"
    for call in (est.predict, est.explain, lambda X: est.partial_fit(X, [1])):
        with pytest.raises(ValueError, match=message):
            call(unseen)
    pipe = make_pipeline(vec, est)
    curve = sklrp.metrics.word_deletion_curve(pipe, docs, y, n_words=1, subset="all")
    assert curve.accuracy.shape == (2,) and np.all(np.isfinite(curve.accuracy))
    assert "_allow_blank" not in vars(est)
    known = vec.transform(["good film"])
    np.testing.assert_array_equal(est.predict(known), pipe.predict(["good film"]))


def test_zero_composite_honours_bias_factor(data):
    """bias_factor=1 conserves the score with the "zero" composite too (LRP-0's bias absorbed its share)."""
    X, y = data
    est = small(composite="zero", bias_factor=1.0).fit(X, y)
    scores = est.decision_function(X[:4])
    R, rest = est.explain(X[:4], target=est.classes_[0], return_rest=True)
    assert_allclose(R.sum(axis=1) + rest, scores[:, 0] if scores.ndim == 2 else -scores, rtol=1e-9, atol=1e-12)
    assert np.any(rest != 0)


def test_loader_refuses_a_bad_max_length(tmp_path):
    _, E = _reference_folder(tmp_path)
    for bad in (None, 0, 2.5, True):
        with pytest.raises(ValueError, match=r"^max_length must be a positive int"):
            sklrp.load_lrp_for_lstm(tmp_path, embeddings=E, max_length=bad)

"""RelevanceDocumentVectorizer and embedding loading."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.feature_extraction import RelevanceDocumentVectorizer, WordEmbeddings, load_embeddings

TRAIN = ["rocket orbit launch", "orbit space station", "puck goal team", "team game puck",
         "space rocket engine", "game goal hockey"]
Y = [0, 0, 1, 1, 0, 1]
RNG = np.random.RandomState(0)
EMB = {w: RNG.randn(4) for w in
       ["rocket", "orbit", "launch", "space", "station", "puck", "goal", "team", "game"]}
# 'engine' and 'hockey' are out of vocabulary on purpose


@pytest.fixture(scope="module")
def pipe():
    return make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(TRAIN, Y)


def _manual(pipe, docs, weighting):
    names = pipe[0].get_feature_names_out()
    Xt = pipe[0].transform(docs).toarray()
    if weighting == "lrp":
        W = sklrp.explain(pipe, docs).toarray()
    elif weighting == "sa":
        W = sklrp.explain(pipe, docs, method="sensitivity").toarray()
    elif weighting == "tfidf":
        W = Xt
    else:
        W = (Xt != 0).astype(float)
    E = np.array([EMB.get(n, np.zeros(4)) for n in names])
    return W @ E


@pytest.mark.parametrize("weighting", ["lrp", "sa", "tfidf", "uniform"])
def test_vectors_are_weighted_embedding_sums(pipe, weighting):
    docs = ["rocket orbit engine", "puck puck team hockey", "game space"]
    V = RelevanceDocumentVectorizer(pipe, EMB, weighting=weighting, normalize=None).transform(docs)
    np.testing.assert_allclose(V, _manual(pipe, docs, weighting), rtol=1e-10, atol=1e-12)
    Vn = RelevanceDocumentVectorizer(pipe, EMB, weighting=weighting).transform(docs)
    np.testing.assert_allclose(np.linalg.norm(Vn, axis=1), 1.0)
    V1 = RelevanceDocumentVectorizer(pipe, EMB, weighting=weighting, normalize="l1").transform(docs)
    np.testing.assert_allclose(np.abs(V1).sum(axis=1), 1.0)


def test_frozen_pipeline_in_cross_validation_and_grid_search(pipe):
    """cross_val_score and GridSearchCV clone their steps, and a clone of the fitted text Pipeline is unfitted:
    ``FrozenEstimator`` keeps it fitted (it was refused), and without it the error says so."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    docs, y = TRAIN * 3, Y * 3
    frozen = FrozenEstimator(pipe)
    np.testing.assert_array_equal(sklrp.explain(frozen, docs).toarray(), sklrp.explain(pipe, docs).toarray())
    np.testing.assert_allclose(RelevanceDocumentVectorizer(frozen, EMB).fit_transform(docs),
                               RelevanceDocumentVectorizer(pipe, EMB).fit_transform(docs))
    [a], [b] = sklrp.text.token_relevances(frozen, docs[:1]), sklrp.text.token_relevances(pipe, docs[:1])
    assert a.tokens == b.tokens and np.array_equal(a.relevance, b.relevance)
    model = make_pipeline(RelevanceDocumentVectorizer(frozen, EMB), KNeighborsClassifier(3))
    scores = cross_val_score(model, docs, y, cv=3, error_score="raise")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    search = GridSearchCV(model, {"relevancedocumentvectorizer__weighting": ["lrp", "uniform"]}, cv=3,
                          error_score="raise").fit(docs, y)
    assert search.best_params_["relevancedocumentvectorizer__weighting"] in ("lrp", "uniform")
    unfrozen = make_pipeline(RelevanceDocumentVectorizer(pipe, EMB), KNeighborsClassifier(3))
    with pytest.raises(NotFittedError, match="wrap the fitted Pipeline in sklearn.frozen.FrozenEstimator"):
        cross_val_score(unfrozen, docs, y, cv=3, error_score="raise")


def test_target_changes_lrp_vectors(pipe):
    docs = ["rocket orbit", "puck team"]
    vec = RelevanceDocumentVectorizer(pipe, EMB, normalize=None)
    np.testing.assert_allclose(vec.transform(docs, target=0), -vec.transform(docs, target=1))


def test_oov_is_counted_and_reported(pipe):
    vec = RelevanceDocumentVectorizer(pipe, EMB).fit()
    vocab = pipe[0].get_feature_names_out()
    assert vec.n_oov_terms_ == 2 and vec.coverage_ == pytest.approx((len(vocab) - 2) / len(vocab))
    assert set(vec.terms_[vec.term_rows_ < 0]) == {"engine", "hockey"}
    docs = ["rocket engine", "hockey", "", "zzz"]
    rep = vec.oov_report(docs)
    np.testing.assert_array_equal(rep.n_terms, [2, 1, 0, 0])
    np.testing.assert_array_equal(rep.n_oov, [1, 1, 0, 0])
    np.testing.assert_array_equal(rep.no_known_word, [False, True, True, True])
    assert rep.oov_weight_fraction[1] == 1.0 and 0 < rep.oov_weight_fraction[0] < 1
    V = vec.transform(docs)  # documented: documents with no embedded word give zero vectors
    assert np.all(V[1:] == 0) and np.all(np.isfinite(V))
    assert vec.get_feature_names_out().tolist() == [f"relevancedocumentvectorizer{i}" for i in range(4)]


def test_bad_input(pipe):
    with pytest.raises(ValueError, match="embeddings"):
        RelevanceDocumentVectorizer(pipe).fit()
    with pytest.raises(ValueError, match="weighting"):
        RelevanceDocumentVectorizer(pipe, EMB, weighting="idf").fit()
    unfitted = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier())
    with pytest.raises(NotFittedError):
        RelevanceDocumentVectorizer(unfitted, EMB).transform(["rocket"])
    hashed = make_pipeline(HashingVectorizer(n_features=32),
                           LinearRelevanceClassifier(LinearSVC())).fit(TRAIN, Y)
    with pytest.raises(ValueError, match="Cannot map features back to tokens"):
        RelevanceDocumentVectorizer(hashed, EMB).fit()
    with pytest.raises(ValueError, match="not one string"):
        RelevanceDocumentVectorizer(pipe, EMB).transform("rocket orbit")


# ----------------------------------------------------------------- embeddings
class FakeKeyedVectors:
    """Mimics gensim KeyedVectors' public attributes."""

    def __init__(self, words, vectors):
        self.key_to_index = {w: i for i, w in enumerate(words)}
        self.vectors = vectors


def test_load_from_dict_keyedvectors_and_files(tmp_path):
    words = ["a", "b", "c"]
    vecs = np.arange(6, dtype=float).reshape(3, 2)
    ref = load_embeddings(dict(zip(words, vecs)))
    assert isinstance(ref, WordEmbeddings) and ref.dim == 2 and len(ref) == 3
    kv = load_embeddings(FakeKeyedVectors(words, vecs))
    np.testing.assert_array_equal(kv["b"], vecs[1])
    glove = tmp_path / "g.txt"
    glove.write_text("a 0 1\nb 2 3\nc 4 5\n")
    w2v = tmp_path / "w.txt"
    w2v.write_text("3 2\na 0 1\nb 2 3\nc 4 5\n")
    js = tmp_path / "g.json"
    js.write_text(json.dumps({w: v.tolist() for w, v in zip(words, vecs)}))
    for src in (glove, str(w2v), js):
        e = load_embeddings(src)
        assert e.words == words
        np.testing.assert_allclose(e.vectors, vecs)
    assert load_embeddings(glove, limit=2).words == ["a", "b"]
    np.testing.assert_array_equal(ref.lookup(["C", "a", "zz"]), [2, 0, -1])
    np.testing.assert_array_equal(ref.lookup(["C"], lowercase_fallback=False), [-1])


def test_load_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("a 0 1\nb 2\n")
    with pytest.raises(ValueError, match="line 2"):
        load_embeddings(bad)
    with pytest.raises(ValueError, match="does not exist"):
        load_embeddings(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="NaN"):
        load_embeddings({"a": [0.0, np.nan]})
    with pytest.raises(ValueError, match="different lengths|equal length"):
        load_embeddings({"a": [0.0, 1.0], "b": [1.0]})
    with pytest.raises(ValueError, match="empty"):
        load_embeddings({})
    with pytest.raises(TypeError, match="embeddings must be"):
        load_embeddings(42)


def test_gensim_keyedvectors_if_installed(tmp_path):
    gensim_models = pytest.importorskip("gensim.models", reason="gensim (extra 'text') not installed")
    kv = gensim_models.KeyedVectors(vector_size=3)
    kv.add_vectors(["x", "y"], np.eye(2, 3))
    e = load_embeddings(kv)
    np.testing.assert_allclose(e["y"], [0, 1, 0])


def test_real_glove_file(data_dir):
    glove = Path(data_dir) / "glove" / "glove.6B.50d.top5k.txt"
    if not glove.exists():
        pytest.skip(f"GloVe subset not available at {glove}")
    e = load_embeddings(glove)
    assert (len(e), e.dim) == (5050, 50)
    v = e["king"] - e["man"] + e["woman"]
    sims = e.vectors @ v / (np.linalg.norm(e.vectors, axis=1) * np.linalg.norm(v))
    top = [e.words[i] for i in np.argsort(-sims)[:5]]
    assert "queen" in top


def test_train_word2vec_if_gensim_installed():
    pytest.importorskip("gensim", reason="gensim (extra 'text') not installed")
    from sklrp.feature_extraction import train_word2vec

    docs = TRAIN * 20
    e = train_word2vec(docs, vector_size=6, min_count=2, epochs=2, random_state=0)
    assert e.dim == 6 and {"rocket", "puck", "orbit"} <= set(e.words)
    assert np.all(np.isfinite(e.vectors))
    pipe = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(TRAIN, Y)
    V = RelevanceDocumentVectorizer(pipe, e).transform(["rocket orbit", "puck"])
    assert V.shape == (2, 6)


@pytest.mark.parametrize("oov", ["drop", "map"])
def test_embedding_matrix_aligned_with_a_sequence_vectorizer(oov, tmp_path):
    """Pre-trained vectors from a dict, a GloVe-format file or a gensim-like object as the rows of a word CNN's
    embedding matrix: row i is the vector of the word with id i; padding, OOV and words without a vector are 0."""
    import warnings

    from sklrp import TextCNNClassifier
    from sklrp.feature_extraction import embedding_matrix
    from sklrp.text import TokenSequenceVectorizer

    docs = ["Good movie, great plot", "bad film and awful acting", "great fun", "awful boring plot"] * 5
    y = [1, 0, 1, 0] * 5
    vectors = {"good": [1.0, 0.5], "great": [2.0, -1.0], "bad": [-1.0, 0.25], "awful": [-2.0, 1.0],
               "plot": [0.5, 0.5]}
    glove = tmp_path / "g.txt"
    glove.write_text("".join(f"{w} {a} {b}\n" for w, (a, b) in vectors.items()))
    vec = TokenSequenceVectorizer(max_length=6, oov=oov).fit(docs)
    W, coverage = embedding_matrix(vectors, vec)
    W_file, cov_file = embedding_matrix(str(glove), vec)
    np.testing.assert_array_equal(W, W_file)
    assert coverage == cov_file == 5 / len(vec.vocabulary_)
    names = vec.get_feature_names_out()
    assert W.shape == (vec.vocab_size_, 2) and W.dtype == np.float32
    for i, name in enumerate(names):
        np.testing.assert_array_equal(W[i], vectors.get(name, [0.0, 0.0]))  # pad, <oov>, 'movie'...: zero
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cnn = TextCNNClassifier(embeddings=W, n_filters=4, filter_sizes=(2,), max_iter=2, random_state=0).fit(
            vec.transform(docs), y)
    np.testing.assert_allclose(cnn.net_.layers[0].params["weight"][1:], W[1:], rtol=1e-6)
    with pytest.raises(TypeError, match=r"^vectorizer must be a fitted TokenSequenceVectorizer"):
        embedding_matrix(vectors, object())

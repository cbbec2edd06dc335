"""Sequence Pipelines (TokenSequenceVectorizer + a classifier on token ids) in the text tools.

token_relevances, highlight_html, RelevanceDocumentVectorizer, explanatory_power_score,
word_deletion_curve and make_explanation_scorer accept
``make_pipeline(TokenSequenceVectorizer(...), <sequence classifier>)`` as they accept a
bag-of-words Pipeline.  The sequence classifier here is a test double whose relevances are
computed by hand: a bias-free linear model over token ids.
"""

import html
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.base import resolve_target
from sklrp.feature_extraction import RelevanceDocumentVectorizer
from sklrp.metrics import (
    explanatory_power_score,
    make_explanation_scorer,
    word_deletion_curve,
)
from sklrp.text import (
    top_words_per_class,
    TokenSequenceVectorizer,
    highlight_html,
    text_feature_map,
    token_relevances,
)
from sklrp.text._vocab import sequence_feature_map


# ----------------------------------------------------------------- the test double
class LinearTokenClassifier(ClassifierMixin, BaseEstimator):
    """Bias-free linear model on token ids: ``f_c(x) = sum_t W[c, x_t]``, ``W[:, 0] = 0``.

    ``W[c, j]`` is the mean count of id ``j`` in the training documents of class ``c``
    minus its mean count in the other documents (the OOV id never occurs in training,
    so tests that need it set ``W_[:, 1]``).  The relevance of position ``t`` for class
    ``c`` is ``W[c, x_t]`` (LRP-0 of this bias-free linear model: it sums to the score),
    and ``per_dimension=True`` spreads it over three "embedding dimensions" with shares
    0.5 / 0.3 / 0.2.  ``method="sensitivity"`` returns ``W[c, x_t] ** 2``.  Every
    ``predict`` input is recorded in ``seen_``.
    """

    def __init__(self, n_ids=64, method="lrp"):
        self.n_ids = n_ids
        self.method = method

    def fit(self, X, y):
        X = self._check(X, fitted=False)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        counts = np.zeros((len(X), self.n_ids))
        np.add.at(counts, (np.repeat(np.arange(len(X)), X.shape[1]), X.ravel()), 1.0)
        counts[:, 0] = 0.0
        self.W_ = np.array([counts[y == c].mean(axis=0) - counts[y != c].mean(axis=0) for c in self.classes_])
        self.seen_ = []
        return self

    def _check(self, X, fitted=True):
        if fitted:
            check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 2 or X.dtype.kind not in "iu" or (X.size and X.max() >= self.n_ids):
            raise ValueError(f"expected a 2-D matrix of token ids < {self.n_ids}; got {X.dtype} {X.shape}")
        return X

    def scores(self, X):
        return self.W_[:, self._check(X)].sum(axis=2).T  # (n, n_classes)

    def decision_function(self, X):
        f = self.scores(X)
        return f[:, 1] - f[:, 0] if len(self.classes_) == 2 else f

    def predict(self, X):
        X = self._check(X)
        self.seen_.append(X.copy())
        return self.classes_[np.argmax(self.scores(X), axis=1)]

    def explain(self, X, target=None, method=None, per_dimension=False):
        X = self._check(X)
        method = self.method if method is None else method
        if method not in ("lrp", "sensitivity"):
            raise ValueError(f"Unknown explanation method {method!r}")
        idx, out_rel = resolve_target(self.classes_, target, X.shape[0])
        if out_rel is None:
            if idx is None:
                idx = np.argmax(self.scores(X), axis=1)
            out_rel = np.eye(len(self.classes_))[idx]
        per_class = self.W_[:, X]  # (n_classes, n, L)
        if method == "sensitivity":
            per_class = per_class**2
        R = np.einsum("nc,cnl->nl", out_rel, per_class)
        if per_dimension:  # split each position over 3 "embedding dimensions"
            return R[:, :, None] * np.array([0.5, 0.3, 0.2])
        return R


class WrongShapeClassifier(LinearTokenClassifier):
    def explain(self, X, target=None, method=None):
        R = super().explain(X, target, method)
        return np.hstack([R, R])


# -------------------------------------------------------------------- toy corpus
TOPIC_A = ["alpha", "beta", "gamma", "delta"]
TOPIC_B = ["omega", "sigma", "kappa", "theta"]


def _toy(n=30, seed=0):
    rng = np.random.RandomState(seed)
    docs, y = [], []
    for i in range(n):
        words = TOPIC_A if i % 2 == 0 else TOPIC_B
        k = 3 + i % 4
        docs.append("The " + " ".join(rng.choice(words, k)) + ", common filler.")
        y.append(i % 2)
    return docs, np.array(y)


DOCS, Y = _toy()
RNG = np.random.RandomState(0)
EMB = {w: RNG.randn(3) for w in TOPIC_A + TOPIC_B + ["common", "the"]}  # 'filler' has no embedding


def _seq(**kw):
    kw.setdefault("max_length", 8)
    return make_pipeline(TokenSequenceVectorizer(**kw), LinearTokenClassifier()).fit(DOCS, Y)


@pytest.fixture(scope="module")
def seq():
    return _seq()


def _position_relevance(pipe, docs, target=None):
    ids = pipe[0].transform(docs)
    return ids, pipe[-1].explain(ids, target=target)


# ------------------------------------------------------------ token_relevances
@pytest.mark.parametrize("kw", [
    {},
    {"oov": "map"},
    {"padding": "pre", "truncating": "pre", "max_length": 5},
    {"stop_words": ["the", "common"], "max_length": 4},
    {"max_length": None},
])
def test_tokens_spans_and_relevances_line_up_with_the_text(kw):
    pipe = _seq(**kw)
    docs = ["ALPHA beta, zzz alpha -- the gamma!", "omega <b>sigma</b> omega", "", "zzz qqq"]
    words = token_relevances(pipe, docs)
    ids, R = _position_relevance(pipe, docs)
    pred = pipe.predict(docs)
    for i, (w, doc) in enumerate(zip(words, docs)):
        pos = np.flatnonzero(ids[i])  # padding dropped
        assert w.text == doc and len(w) == pos.size
        np.testing.assert_array_equal(w.meta["positions"], pos)
        np.testing.assert_array_equal(w.meta["ids"], ids[i, pos])
        np.testing.assert_array_equal(w.relevance, R[i, pos])
        assert w.known.all() and w.label == pred[i]
        for tok, (start, end) in zip(w.tokens, w.spans):
            assert doc[start:end].lower() == tok
        assert [s for s, _ in w.spans] == sorted(s for s, _ in w.spans)  # reading order
        # bias-free linear model: the token relevances sum to the explained score
        assert w.total() == pytest.approx(pipe[-1].scores(ids[i:i + 1])[0, list(pipe.classes_).index(pred[i])])


def test_oov_policy_and_truncation():
    doc = ["alpha zzz beta gamma delta alpha"]
    w = token_relevances(_seq(max_length=4), doc)[0]
    assert w.tokens == ["alpha", "beta", "gamma", "delta"]  # 'zzz' dropped, the last 'alpha' cut
    assert w.spans[1] == (10, 14)
    pipe = _seq(max_length=4, oov="map")
    pipe[-1].W_[:, 1] = [0.25, -0.25]  # no training word is OOV: give the OOV id a weight
    mapped = token_relevances(pipe, doc)[0]
    assert mapped.tokens == ["alpha", "zzz", "beta", "gamma"]
    assert mapped.meta["ids"][1] == 1 and mapped.known[1]
    assert mapped.relevance[1] == 0.25 * (1 if pipe.predict(doc)[0] == 0 else -1)
    tail = token_relevances(_seq(max_length=2, truncating="pre"), doc)[0]
    assert tail.tokens == ["delta", "alpha"] and tail.spans[1] == (27, 32)  # the second 'alpha'


def test_target_method_and_precomputed_relevance(seq):
    docs = DOCS[:4]
    ids, R1 = _position_relevance(seq, docs, target=1)
    w1 = token_relevances(seq, docs, target=1)
    assert all(w.label == 1 for w in w1)
    np.testing.assert_allclose(np.concatenate([w.relevance for w in w1]), R1[ids != 0])
    sa = token_relevances(seq, docs, target=1, method="sensitivity")
    np.testing.assert_allclose(np.concatenate([w.relevance for w in sa]), R1[ids != 0] ** 2)
    labels = token_relevances(seq, docs, target=Y[:4])
    assert [w.label for w in labels] == Y[:4].tolist()
    R3 = seq[-1].explain(ids, target=1, per_dimension=True)
    for pre in (R1, R3, sp.csr_matrix(R1)):
        got = token_relevances(seq, docs, relevance=pre)
        assert got[0].label is None
        np.testing.assert_allclose(got[2].relevance, w1[2].relevance)
    with pytest.raises(ValueError, match="relevance has shape"):
        token_relevances(seq, docs, relevance=np.zeros((4, 3)))


def test_html_escaping_holds_for_sequence_tokens():
    pipe = _seq(oov="map", max_length=12)
    doc = 'alpha <script>alert("x")</script> & "omega" <img src=x>'
    words = token_relevances(pipe, [doc])
    assert "script" in words[0].tokens and "img" in words[0].tokens
    out = highlight_html(words, title="<i>t</i>")
    assert "<script" not in out.lower() and "<img" not in out.lower() and "<i>" not in out
    assert "&lt;script&gt;" not in out  # 'script' is a token: its span is wrapped, '<' escaped alone
    assert out.count("&lt;") >= 4 and "&amp;" in out and "&quot;" in out
    body = re.search(r'<div class="sklrp-doc">(.*?)</div>', out, re.S).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == doc
    assert len(re.findall(r'<span class="t"', body)) == len(words[0].tokens)


def test_steps_before_the_vectorizer_and_vectorizer_argument():
    dashes = FunctionTransformer(lambda docs: [d.replace("-", " ") for d in docs])
    pipe = make_pipeline(dashes, TokenSequenceVectorizer(max_length=8), LinearTokenClassifier()).fit(DOCS, Y)
    w = token_relevances(pipe, ["alpha-beta-omega"])[0]
    assert w.text == "alpha beta omega" and w.tokens == ["alpha", "beta", "omega"]
    # a bare classifier with the vectorizer given separately
    vec = TokenSequenceVectorizer(max_length=8).fit(DOCS)
    clf = LinearTokenClassifier().fit(vec.transform(DOCS), Y)
    bare = token_relevances(clf, DOCS[:3], vectorizer=vec)
    ref = token_relevances(_seq(), DOCS[:3])
    for a, b in zip(bare, ref):
        assert a.tokens == b.tokens and a.label == b.label
        np.testing.assert_allclose(a.relevance, b.relevance)
    # top_words_per_class takes the same call: its predicted classes come from the ids (it predicted on the raw
    # documents, "could not convert string to float")
    assert top_words_per_class(clf, DOCS, vectorizer=vec, k=3) == top_words_per_class(_seq(), DOCS, k=3)


def test_bare_bag_of_words_classifier_with_its_vectorizer():
    """A bare bag-of-words classifier given with its fitted vectorizer explains and predicts
    ``vectorizer.transform(docs)``, as the Pipeline of the two does (it read the raw documents and failed with
    "could not convert string to float")."""
    vec = TfidfVectorizer().fit(DOCS)
    clf = LinearRelevanceClassifier(LinearSVC()).fit(vec.transform(DOCS), Y)
    pipe = make_pipeline(vec, clf)
    for a, b in zip(token_relevances(clf, DOCS[:4], vectorizer=vec), token_relevances(pipe, DOCS[:4])):
        assert a.tokens == b.tokens and a.spans == b.spans and a.label == b.label
        np.testing.assert_allclose(a.relevance, b.relevance)
    assert top_words_per_class(clf, DOCS, vectorizer=vec, k=3) == top_words_per_class(pipe, DOCS, k=3)


# ------------------------------------------------------------- per-term weights
def test_term_matrix_sums_occurrences_and_skips_padding_and_oov():
    pipe = _seq(oov="map")
    pipe[-1].W_[:, 1] = [0.25, -0.25]
    smap = sequence_feature_map(pipe)
    assert sequence_feature_map(make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier())) is None
    np.testing.assert_array_equal(smap.terms, pipe[0].get_feature_names_out())
    assert not smap.word_ids[0] and not smap.word_ids[1] and smap.word_ids[2:].all()
    docs = ["alpha beta alpha zzz", ""]
    ids, R = _position_relevance(pipe, docs)
    M = smap.term_matrix(ids, R)
    assert M.shape == (2, pipe[0].vocab_size_) and sp.isspmatrix_csr(M)
    a, b = pipe[0].vocabulary_["alpha"], pipe[0].vocabulary_["beta"]
    assert M[0, a] == pytest.approx(R[0, 0] + R[0, 2]) and M[0, b] == pytest.approx(R[0, 1])
    assert R[0, 3] != 0 and M[:, :2].nnz == 0 and M[1].nnz == 0  # OOV and padding: no term
    np.testing.assert_array_equal(smap.term_matrix(ids, 1.0)[0, [a, b]].toarray(), [[2, 1]])


def _hand_vectors(pipe, docs, weighting, idf_docs=None):
    """sum over the tokens the model reads of weight x embedding, written out per token."""
    ids, R = _position_relevance(pipe, docs)
    if weighting == "sa":
        R = pipe[-1].explain(ids, method="sensitivity")
    names = pipe[0].get_feature_names_out()
    V = np.zeros((len(docs), 3))
    if weighting == "tfidf":
        src = pipe[0].transform(idf_docs if idf_docs is not None else docs)
        n = len(src)
        df = {t: sum(t in set(row) for row in src.tolist()) for t in range(len(names))}
        for i, row in enumerate(ids):
            tf = {t: row.tolist().count(t) for t in set(row.tolist()) - {0}}
            w = {t: c * (np.log((1 + n) / (1 + df[t])) + 1) for t, c in tf.items()}
            norm = np.sqrt(sum(v * v for v in w.values())) or 1.0
            for t, v in w.items():
                V[i] += v / norm * EMB.get(names[t], np.zeros(3))
        return V
    for i, row in enumerate(ids):
        for t, j in enumerate(row):
            if j != 0:
                weight = 1.0 if weighting == "uniform" else R[i, t]
                V[i] += weight * EMB.get(names[j], np.zeros(3))
    return V


@pytest.mark.parametrize("weighting", ["lrp", "sa", "uniform", "tfidf"])
def test_document_vectors_equal_hand_computation(seq, weighting):
    docs = ["alpha alpha beta filler", "omega the sigma omega omega", "", "zzz"]
    vec = RelevanceDocumentVectorizer(seq, EMB, weighting=weighting, normalize=None)
    np.testing.assert_allclose(vec.transform(docs), _hand_vectors(seq, docs, weighting), atol=1e-12)
    assert vec.tfidf_ is None
    if weighting == "tfidf":  # document frequencies from the documents given to fit
        vec.fit(DOCS)
        np.testing.assert_allclose(vec.transform(docs), _hand_vectors(seq, docs, weighting, DOCS), atol=1e-12)
    Vn = RelevanceDocumentVectorizer(seq, EMB, weighting=weighting).transform(docs[:2])
    np.testing.assert_allclose(np.linalg.norm(Vn, axis=1), 1.0)


def test_document_vector_attributes_and_oov_report():
    pipe = _seq(oov="map")
    vec = RelevanceDocumentVectorizer(pipe, dict(EMB, **{"<oov>": np.ones(3), "<pad>": np.ones(3)})).fit()
    words = pipe[0].vectorizer_.get_feature_names_out()
    assert vec.terms_.tolist() == ["<pad>", "<oov>"] + words.tolist()
    assert vec.term_rows_[0] == vec.term_rows_[1] == -1  # never embedded, whatever the table holds
    assert vec.n_oov_terms_ == 1 and vec.coverage_ == pytest.approx((len(words) - 1) / len(words))
    rep = vec.oov_report(["alpha filler filler zzz", "zzz", ""])
    np.testing.assert_array_equal(rep.n_terms, [2, 0, 0])
    np.testing.assert_array_equal(rep.n_oov, [1, 0, 0])
    np.testing.assert_array_equal(rep.no_known_word, [False, True, True])
    V = vec.transform(["zzz", "alpha"], target=0)
    assert np.all(V[0] == 0) and np.linalg.norm(V[1]) == pytest.approx(1.0)


# ------------------------------------------------------------ explanatory power
@pytest.mark.parametrize("weighting", ["lrp", "sa", "uniform", "tfidf"])
def test_explanatory_power_of_a_sequence_pipeline(seq, weighting):
    kw = dict(embeddings=EMB, weighting=weighting, k_values=[1, 3, 5], n_splits=3, random_state=0,
              return_details=True)
    d = explanatory_power_score(seq, DOCS, Y, **kw)
    bow = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(DOCS, Y)
    ref_d = explanatory_power_score(bow, DOCS, Y, **kw)
    assert set(d) == set(ref_d) and d.accuracies.shape == ref_d.accuracies.shape
    V = RelevanceDocumentVectorizer(seq, EMB, weighting=weighting).transform(DOCS)
    ref = np.zeros((3, 3))
    for s, (tr, te) in enumerate(ShuffleSplit(3, test_size=15, random_state=0).split(V)):
        for j, k in enumerate([1, 3, 5]):
            ref[s, j] = KNeighborsClassifier(k).fit(V[tr], Y[tr]).score(V[te], Y[te])
    np.testing.assert_allclose(d.accuracies, ref)
    assert d.score == pytest.approx(ref.mean(axis=0).max())
    assert d.coverage == pytest.approx(10 / 11) and d.n_no_known_word == 0  # 'filler' has no vector


# ------------------------------------------------------------------ word deletion
def _expected_deletions(ids, keys, n_words, descending=True):
    """Per k, the id matrix with the k top-ranked non-padding positions set to 0 (ties: position)."""
    out = []
    for k in range(n_words + 1):
        Xk = ids.copy()
        for i, row in enumerate(ids):
            pos = np.flatnonzero(row)
            key = -keys[i, pos] if descending else keys[i, pos]
            Xk[i, pos[np.lexsort((pos, key))[:k]]] = 0
        out.append(Xk)
    return out


@pytest.mark.parametrize("order", ["descending", "ascending"])
def test_word_deletion_zeroes_the_right_positions(seq, order):
    docs, y = DOCS[:10], Y.copy()[:10]
    y[3] = 1 - y[3]  # one misclassified document
    clf = seq[-1]
    clf.seen_ = []
    c = word_deletion_curve(seq, docs, y, n_words=3, subset="all", order=order)
    ids = seq[0].transform(docs)
    R = clf.explain(ids, target=y)  # the true class ranks the words
    expected = _expected_deletions(ids, R, 3, descending=order == "descending")
    np.testing.assert_array_equal(clf.seen_[0], ids)  # the unperturbed prediction
    assert len(clf.seen_) == 5
    for k in range(4):
        np.testing.assert_array_equal(clf.seen_[k + 1], expected[k])
        assert clf.seen_[k + 1].dtype.kind == "i" and clf.seen_[k + 1].shape == ids.shape
        assert c.accuracy[k] == pytest.approx(np.mean(clf.predict(expected[k]) == y))
    assert c.n_documents == 10 and c.order == order and c.method == "lrp"


def test_word_deletion_deletes_one_occurrence_at_a_time():
    pipe = _seq(max_length=6)
    doc, y = ["alpha omega alpha sigma"], [0]
    clf = pipe[-1]
    clf.seen_ = []
    word_deletion_curve(pipe, doc, y, n_words=2, subset="all")
    a = pipe[0].vocabulary_["alpha"]
    row0, row1, row2 = (s[0] for s in clf.seen_[1:4])
    assert (row0 == a).sum() == 2
    R = clf.explain(pipe[0].transform(doc), target=0)[0]
    assert R[0] == R[2] and R[0] == R[:4].max()  # both 'alpha' are the most relevant: a tie
    np.testing.assert_array_equal(row1, np.where(np.arange(6) == 0, 0, row0))  # the first one only
    np.testing.assert_array_equal(row2, np.where(np.isin(np.arange(6), [0, 2]), 0, row0))


def test_word_deletion_random_precomputed_and_subsets(seq):
    docs = DOCS[:12]
    ids = seq[0].transform(docs)
    clf = seq[-1]
    clf.seen_ = []
    rnd = word_deletion_curve(seq, docs, Y[:12], method="random", n_words=8, n_repeats=2, random_state=0)
    full = clf.seen_[-1]
    assert np.all(full[ids == 0] == 0) and np.all(full == 0)  # 8 deletions empty every document
    assert rnd.accuracy_std.shape == (9,)
    R = clf.explain(ids, target=Y[:12])
    ref = word_deletion_curve(seq, docs, Y[:12], n_words=3)
    for pre in (R, clf.explain(ids, target=Y[:12], per_dimension=True)):
        got = word_deletion_curve(seq, docs, Y[:12], n_words=3, relevance=pre)
        np.testing.assert_allclose(got.accuracy, ref.accuracy)
        assert got.method == "precomputed"
    with pytest.raises(ValueError, match="relevance has shape"):
        word_deletion_curve(seq, docs, Y[:12], relevance=np.zeros((12, 3)))
    few = word_deletion_curve(seq, docs + ["", "alpha"], np.r_[Y[:12], 0, 0], subset="all", min_words=2)
    assert few.n_documents == 12  # positions are counted: '' and 'alpha' have fewer than 2
    none = word_deletion_curve(seq, docs, Y[:12], subset="misclassified")
    assert none.n_documents == 0 and np.all(np.isnan(none.accuracy))


def test_bag_of_words_pipelines_are_not_read_as_sequences():
    bow = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(DOCS, Y)
    assert sequence_feature_map(bow) is None
    c = word_deletion_curve(bow, DOCS, Y, n_words=2)
    Xt = bow[0].transform(DOCS).toarray()
    R = sklrp.explain(bow, DOCS, target=Y).toarray()
    top = np.array([np.flatnonzero(Xt[i])[np.lexsort((np.flatnonzero(Xt[i]), -R[i, Xt[i] != 0]))[0]]
                    for i in range(len(DOCS))])
    X1 = Xt.copy()
    X1[np.arange(len(DOCS)), top] = 0
    assert c.accuracy[1] == pytest.approx(np.mean(bow[-1].predict(X1) == Y))
    with pytest.raises(ValueError, match="TokenSequenceVectorizer"):
        text_feature_map(_seq())


# ------------------------------------------------------------------- model selection
def test_grid_search_with_explanation_scorers_on_a_sequence_pipeline():
    pipe = make_pipeline(TokenSequenceVectorizer(), LinearTokenClassifier())
    grid = GridSearchCV(
        pipe, {"tokensequencevectorizer__max_length": [3, 8]},
        scoring={"accuracy": "accuracy",
                 "epi": make_explanation_scorer("explanatory_power", embeddings=EMB, n_splits=2,
                                                k_values=range(1, 4)),
                 "epi_tfidf": make_explanation_scorer("epi", embeddings=EMB, weighting="tfidf", n_splits=2,
                                                      k_values=range(1, 4)),
                 "deletion": make_explanation_scorer("word_deletion", n_words=2)},
        refit="accuracy", cv=3,
    ).fit(DOCS, Y)
    res = grid.cv_results_
    for key in ("mean_test_accuracy", "mean_test_epi", "mean_test_epi_tfidf", "mean_test_deletion"):
        assert np.all(np.isfinite(res[key]))
    assert np.all((res["mean_test_epi"] >= 0) & (res["mean_test_epi"] <= 1))
    wd = make_explanation_scorer("word_deletion", n_words=2)
    best = grid.best_estimator_
    curve = word_deletion_curve(best, DOCS, Y, n_words=2)
    assert wd(best, DOCS, Y) == pytest.approx(np.mean(curve.accuracy[0] - curve.accuracy[1:]))


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("aggregate", ["sum", "mean"])
def test_top_words_per_class_of_a_sequence_pipeline(seq, aggregate):
    """Per-position relevances summed per vocabulary word over the documents of each class (the bag-of-words
    function refused sequence Pipelines), checked against token_relevances of the same documents."""
    top = top_words_per_class(seq, DOCS, target=Y, k=4, aggregate=aggregate)
    words = token_relevances(seq, DOCS, target=Y)
    vocab = seq[0].vocabulary_
    for c in (0, 1):
        totals = {}
        for doc, label in zip(words, Y):
            if label != c:
                continue
            for token, value in zip(doc.tokens, doc.relevance):
                if token in vocab:  # OOV and padding belong to no word
                    totals[token] = totals.get(token, 0.0) + value
        if aggregate == "mean":
            totals = {t: v / np.sum(Y == c) for t, v in totals.items()}
        expected = sorted(totals.items(), key=lambda tv: -tv[1])[:4]
        assert [t for t, _ in top[c]] == [t for t, _ in expected]
        np.testing.assert_allclose([v for _, v in top[c]], [v for _, v in expected], rtol=1e-12)
    assert top[0] != top[1]


def test_bad_sequence_input(seq):
    tree = make_pipeline(TokenSequenceVectorizer(max_length=8), DecisionTreeClassifier(random_state=0))
    tree.fit(DOCS, Y)
    with pytest.raises(TypeError, match="has no explain method"):
        token_relevances(tree, DOCS[:2])
    with pytest.raises(TypeError, match="has no explain method"):
        RelevanceDocumentVectorizer(tree, EMB).transform(DOCS[:2])
    with pytest.raises(TypeError, match="has no explain method"):
        word_deletion_curve(tree, DOCS, Y)
    assert word_deletion_curve(tree, DOCS, Y, method="random", n_words=1).n_documents > 0
    assert RelevanceDocumentVectorizer(tree, EMB, weighting="uniform").transform(DOCS[:2]).shape == (2, 3)
    wrong = make_pipeline(TokenSequenceVectorizer(max_length=8), WrongShapeClassifier()).fit(DOCS, Y)
    for call in (lambda: token_relevances(wrong, DOCS[:2]),
                 lambda: RelevanceDocumentVectorizer(wrong, EMB).transform(DOCS[:2]),
                 lambda: word_deletion_curve(wrong, DOCS, Y)):
        with pytest.raises(ValueError, match="explain has shape .*one value per token position"):
            call()
    unfitted = make_pipeline(TokenSequenceVectorizer(), LinearTokenClassifier())
    with pytest.raises(NotFittedError):
        token_relevances(unfitted, DOCS[:2])
    with pytest.raises(ValueError, match="not one string"):
        token_relevances(seq, "alpha beta")
    with pytest.raises(ValueError, match="not one string"):
        RelevanceDocumentVectorizer(seq, EMB).transform("alpha beta")
    with pytest.raises(ValueError, match="Unknown target"):
        token_relevances(seq, DOCS[:2], target=7)
    with pytest.raises(ValueError, match="occurrences"):
        token_relevances(seq, DOCS[:2], occurrences="all")


def test_pickled_and_cloned_sequence_pipelines_still_map():
    import pickle

    pipe = _seq()
    again = pickle.loads(pickle.dumps(pipe))
    a, b = token_relevances(pipe, DOCS[:2]), token_relevances(again, DOCS[:2])
    np.testing.assert_allclose(a[1].relevance, b[1].relevance)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone(pipe).fit(DOCS, Y)


# ------------------------------------------------------------- end to end with the word CNN
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_end_to_end_with_a_tiny_text_cnn():
    TextCNN = getattr(sklrp, "TextCNNClassifier", None)
    if TextCNN is None:
        pytest.skip("sklrp.TextCNNClassifier is not available")
    pipe = make_pipeline(
        TokenSequenceVectorizer(max_length=10),
        TextCNN(n_filters=8, embedding_dim=6, filter_sizes=(1, 2), dropout=0.0, max_iter=30, random_state=0),
    ).fit(DOCS, Y)
    docs = DOCS[:8]
    ids = pipe[0].transform(docs)
    R = pipe[-1].explain(ids)
    words = token_relevances(pipe, docs)
    for i, (w, doc) in enumerate(zip(words, docs)):
        pos = np.flatnonzero(ids[i])
        np.testing.assert_allclose(w.relevance, R[i, pos])
        assert all(doc[s:e].lower() == tok for tok, (s, e) in zip(w.tokens, w.spans))
    assert "<span" in highlight_html(words)
    per_dim = token_relevances(pipe, docs, relevance=pipe[-1].explain(ids, per_dimension=True))
    np.testing.assert_allclose(per_dim[0].relevance, words[0].relevance, rtol=1e-5, atol=1e-7)
    # document vectors: sum over positions of relevance x embedding
    names = pipe[0].get_feature_names_out()
    V = RelevanceDocumentVectorizer(pipe, EMB, normalize=None).transform(docs)
    hand = np.array([sum((R[i, t] * EMB.get(names[j], np.zeros(3)) for t, j in enumerate(row) if j),
                         np.zeros(3)) for i, row in enumerate(ids)])
    np.testing.assert_allclose(V, hand, rtol=1e-5, atol=1e-7)
    d = explanatory_power_score(pipe, DOCS, Y, embeddings=EMB, k_values=[1, 3], n_splits=2, return_details=True)
    assert 0 <= d.score <= 1 and d.accuracies.shape == (2, 2)
    c = word_deletion_curve(pipe, DOCS, Y, n_words=3)
    assert c.accuracy[0] == 1.0 and c.n_documents == np.sum(pipe.predict(DOCS) == Y)
    assert np.isfinite(make_explanation_scorer("word_deletion", n_words=2)(pipe, DOCS, Y))

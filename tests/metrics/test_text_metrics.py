"""Word deletion, explanatory power and the explanation scorers."""

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, ShuffleSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.feature_extraction import RelevanceDocumentVectorizer
from sklrp.metrics import explanatory_power_score, make_explanation_scorer, word_deletion_curve

REPO = Path(__file__).resolve().parents[2]
CATS = ["alt.atheism", "comp.graphics", "rec.autos", "sci.space"]


def _data_home():
    env = os.environ.get("SCIKIT_LEARN_DATA")
    cand = Path(env) if env else REPO / ".." / "shared" / "data" / "20newsgroups" / "sklearn_data_home"
    if not (cand / "20news-bydate_py3.pkz").exists():
        pytest.skip(f"20 Newsgroups cache not found in {cand} (set SCIKIT_LEARN_DATA)")
    return str(cand)


@pytest.fixture(scope="module")
def news():
    from sklrp.datasets import load_20newsgroups

    dh = _data_home()
    kw = dict(categories=CATS, data_home=dh, remove=("headers", "footers", "quotes"),
              download_if_missing=False)
    train = load_20newsgroups("train", **kw)
    test = load_20newsgroups("test", **kw)
    pipe = make_pipeline(TfidfVectorizer(min_df=2),
                         LinearRelevanceClassifier(LinearSVC())).fit(train.data, train.target)
    return pipe, test.data[:800], test.target[:800]


# --------------------------------------------------------------- toy corpora
TOPIC_A = ["alpha", "beta", "gamma", "delta"]
TOPIC_B = ["omega", "sigma", "kappa", "theta"]


def _toy(n=40, seed=0):
    rng = np.random.RandomState(seed)
    docs, y = [], []
    for i in range(n):
        words = TOPIC_A if i % 2 == 0 else TOPIC_B
        docs.append(" ".join(rng.choice(words, 5)) + " common filler")
        y.append(i % 2)
    return docs, np.array(y)


@pytest.fixture(scope="module")
def toy():
    docs, y = _toy()
    pipe = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(docs, y)
    emb = {w: np.r_[1.0, 0.1 * k] for k, w in enumerate(TOPIC_A)}
    emb.update({w: np.r_[-1.0, 0.1 * k] for k, w in enumerate(TOPIC_B)})
    emb["common"] = np.r_[0.0, 1.0]
    return pipe, docs, y, emb


def test_deletion_curve_matches_manual_deletion(toy):
    pipe, docs, y, _ = toy
    c = word_deletion_curve(pipe, docs, y, n_words=3)
    assert c.n_documents == len(docs) and c.accuracy[0] == 1.0 and c.order == "descending"
    Xt = pipe[0].transform(docs).toarray()
    R = sklrp.explain(pipe, docs, target=y).toarray()
    for k in (1, 2, 3):
        Xk = Xt.copy()
        for i in range(len(docs)):
            present = np.flatnonzero(Xt[i])
            order = present[np.lexsort((present, -R[i, present]))]
            Xk[i, order[:k]] = 0
        assert c.accuracy[k] == pytest.approx(np.mean(pipe[-1].predict(Xk) == y))
    # deleting every word leaves the bias decision only
    full = word_deletion_curve(pipe, docs, y, n_words=Xt.shape[1])
    zero_pred = pipe[-1].predict(np.zeros((len(docs), Xt.shape[1])))
    assert full.accuracy[-1] == pytest.approx(np.mean(zero_pred == y))
    # a precomputed relevance gives the same curve
    pre = word_deletion_curve(pipe, docs, y, n_words=3, relevance=sp.csr_matrix(R))
    np.testing.assert_allclose(pre.accuracy, c.accuracy)
    assert pre.method == "precomputed"


def test_deletion_curve_n_words_is_bounded_by_the_columns(toy):
    """Bounded work: n_words beyond the columns of the input space is refused (10**12 tried to allocate 7 TiB);
    the default is 10, or the number of columns when there are fewer."""
    pipe, docs, y, _ = toy
    n_columns = len(pipe[0].vocabulary_)
    with pytest.raises(ValueError, match=rf"^n_words=1000000000000 exceeds the {n_columns} columns of the last "
                                         rf"step's input .*; pass at most {n_columns}\.$"):
        word_deletion_curve(pipe, docs, y, n_words=10**12)
    assert word_deletion_curve(pipe, docs, y, n_words=n_columns).n_deleted.shape == (n_columns + 1,)
    default = word_deletion_curve(pipe, docs, y)
    assert default.n_deleted.shape == (min(10, n_columns) + 1,)


def test_deletion_on_newsgroups_lrp_beats_sa_beats_random(news):
    pipe, docs, y = news
    kw = dict(n_words=10, random_state=0)
    lrp = word_deletion_curve(pipe, docs, y, method="lrp", **kw)
    sa = word_deletion_curve(pipe, docs, y, method="sensitivity", **kw)
    rnd = word_deletion_curve(pipe, docs, y, method="random", n_repeats=3, **kw)
    assert lrp.accuracy[0] == sa.accuracy[0] == rnd.accuracy[0] == 1.0
    assert lrp.accuracy[1:].mean() < sa.accuracy[1:].mean() < rnd.accuracy[1:].mean()
    assert np.all(rnd.accuracy_std >= 0) and rnd.accuracy_std[1:].max() > 0
    lrp_m = word_deletion_curve(pipe, docs, y, method="lrp", subset="misclassified", **kw)
    rnd_m = word_deletion_curve(pipe, docs, y, method="random", subset="misclassified",
                                n_repeats=3, **kw)
    assert lrp_m.order == "ascending" and lrp_m.accuracy[0] == 0.0
    assert lrp_m.accuracy[1:].mean() > rnd_m.accuracy[1:].mean()


def test_deletion_parameters(toy):
    pipe, docs, y, _ = toy
    for bad in (dict(n_words=-1), dict(subset="wrong"), dict(order="up"), dict(target="both"),
                dict(n_repeats=0)):
        with pytest.raises(ValueError):
            word_deletion_curve(pipe, docs, y, **bad)
    with pytest.raises(ValueError, match="one label per document"):
        word_deletion_curve(pipe, docs, y[:3])
    with pytest.raises(ValueError, match="relevance has shape"):
        word_deletion_curve(pipe, docs, y, relevance=np.zeros((2, 2)))
    none = word_deletion_curve(pipe, docs, y, subset="misclassified", n_words=2)
    assert none.n_documents == 0 and np.all(np.isnan(none.accuracy))
    few = word_deletion_curve(pipe, docs + [""], np.r_[y, 0], min_words=1, subset="all")
    assert few.n_documents == len(docs)


def _noise_embedding(seed):
    rng = np.random.RandomState(seed)
    return {w: rng.randn(2) for w in TOPIC_A + TOPIC_B + ["common", "filler"]}


@pytest.mark.parametrize("weighting", ["uniform", "lrp", "sa", "tfidf"])
@pytest.mark.parametrize("seed", [0, 1])
def test_explanatory_power_equals_sklearn_knn(toy, weighting, seed):
    pipe, docs, y, _ = toy
    emb = _noise_embedding(seed)
    d = explanatory_power_score(pipe, docs, y, embeddings=emb, weighting=weighting,
                                k_values=[1, 2, 4, 7], n_splits=4, random_state=seed,
                                return_details=True)
    V = RelevanceDocumentVectorizer(pipe, emb, weighting=weighting).transform(docs)
    ref = np.zeros((4, 4))
    for s, (tr, te) in enumerate(ShuffleSplit(4, test_size=20, random_state=seed).split(V)):
        for j, k in enumerate([1, 2, 4, 7]):
            ref[s, j] = KNeighborsClassifier(k).fit(V[tr], y[tr]).score(V[te], y[te])
    np.testing.assert_allclose(d.accuracies, ref)
    assert d.score == pytest.approx(ref.mean(axis=0).max())
    assert d.best_k == [1, 2, 4, 7][int(np.argmax(ref.mean(axis=0)))]
    assert d.std == pytest.approx(ref[:, np.argmax(ref.mean(axis=0))].std())


def test_explanatory_power_separated_topics(toy):
    pipe, docs, y, emb = toy
    d = explanatory_power_score(pipe, docs, y, embeddings=emb, weighting="uniform",
                                k_values=[1, 3, 5], n_splits=4, random_state=1,
                                return_details=True)
    V = RelevanceDocumentVectorizer(pipe, emb, weighting="uniform").transform(docs)
    ref = np.zeros((4, 3))
    for s, (tr, te) in enumerate(ShuffleSplit(4, test_size=20, random_state=1).split(V)):
        for j, k in enumerate([1, 3, 5]):
            ref[s, j] = KNeighborsClassifier(k).fit(V[tr], y[tr]).score(V[te], y[te])
    np.testing.assert_allclose(d.accuracies, ref)
    assert d.score == pytest.approx(ref.mean(axis=0).max())
    assert d.best_k == [1, 3, 5][int(np.argmax(ref.mean(axis=0)))]
    assert d.std == pytest.approx(ref[:, np.argmax(ref.mean(axis=0))].std())
    assert d.coverage == pytest.approx(0.9) and d.n_no_known_word == 0  # 'filler' is OOV
    assert d.score == 1.0  # topics are separated in this embedding
    plain = explanatory_power_score(pipe, docs, y, embeddings=emb, weighting="uniform",
                                    k_values=[1, 3, 5], n_splits=4, random_state=1)
    assert plain == d.score


def test_explanatory_power_detects_uninformative_embeddings(toy):
    pipe, docs, y, _ = toy
    rng = np.random.RandomState(0)
    noise = {w: rng.randn(2) for w in TOPIC_A + TOPIC_B}
    noise["alpha"] = noise["omega"] = np.r_[1.0, 0.0]  # make the topics overlap
    for w in ("beta", "gamma", "delta"):
        noise[w] = noise[{"beta": "sigma", "gamma": "kappa", "delta": "theta"}[w]]
    score = explanatory_power_score(pipe, docs, y, embeddings=noise, weighting="uniform",
                                    n_splits=3)
    assert score < 0.8


def test_explanatory_power_bad_input(toy):
    pipe, docs, y, emb = toy
    with pytest.raises(ValueError, match="target"):
        explanatory_power_score(pipe, docs, y, embeddings=emb, target="both")
    with pytest.raises(ValueError, match="exceed"):
        explanatory_power_score(pipe, docs[:6], y[:6], embeddings=emb, k_values=[10])
    with pytest.raises(ValueError, match="at least 2"):
        explanatory_power_score(pipe, docs[:1], y[:1], embeddings=emb)
    with pytest.raises(ValueError, match="test_size"):
        explanatory_power_score(pipe, docs, y, embeddings=emb, test_size=1.5)
    with pytest.raises(ValueError, match="one label"):
        explanatory_power_score(pipe, docs, y[:5], embeddings=emb)
    d = explanatory_power_score(pipe, docs[:10], y[:10], embeddings=emb, return_details=True)
    assert d.k_values.max() <= 5  # K above the neighbour half are dropped


def test_make_explanation_scorer(toy):
    pipe, docs, y, emb = toy
    epi = make_explanation_scorer("explanatory_power", embeddings=emb, n_splits=3)
    assert epi(pipe, docs, y) == explanatory_power_score(pipe, docs, y, embeddings=emb, n_splits=3)
    wd = make_explanation_scorer("word_deletion", n_words=3)
    curve = word_deletion_curve(pipe, docs, y, n_words=3)
    assert wd(pipe, docs, y) == pytest.approx(np.mean(1.0 - curve.accuracy[1:]))
    assert "word_deletion" in repr(wd)
    with pytest.raises(ValueError, match="Unknown explanation scorer"):
        make_explanation_scorer("faithfulness")
    with pytest.raises(ValueError, match="needs embeddings"):
        make_explanation_scorer("epi")
    with pytest.raises(ValueError, match="Unexpected"):
        make_explanation_scorer("word_deletion", n_word=3)


def test_explanation_scorers_take_the_metrics_target_and_are_seeded(toy):
    """The text metrics' own ``target`` option reaches them through the scorer (it was refused for every
    metric; only the AOPC scorer has none to choose), and the random word-deletion scorer gives one score per
    model and data, as the AOPC scorer does (``random_state`` defaults to 0)."""
    pipe, docs, y, emb = toy
    y_flip = 1 - y  # the true labels differ from the predicted ones: the two targets give different vectors
    epi = make_explanation_scorer("explanatory_power", embeddings=emb, n_splits=3, target="true")
    assert epi(pipe, docs, y_flip) == explanatory_power_score(pipe, docs, y_flip, embeddings=emb, n_splits=3,
                                                              target="true")
    wd = make_explanation_scorer("word_deletion", n_words=3, target="predicted", subset="all")
    curve = word_deletion_curve(pipe, docs, y, n_words=3, target="predicted", subset="all")
    assert wd(pipe, docs, y) == pytest.approx(np.mean(curve.accuracy[0] - curve.accuracy[1:]))
    with pytest.raises(ValueError, match="Unexpected argument.*'target'.*aopc"):
        make_explanation_scorer("aopc", target=1)
    rnd = make_explanation_scorer("word_deletion", method="random", n_words=3, n_repeats=1)
    scores = {rnd(pipe, docs, y) for _ in range(4)}
    assert len(scores) == 1
    seeded = word_deletion_curve(pipe, docs, y, method="random", n_words=3, n_repeats=1, random_state=0)
    assert scores.pop() == pytest.approx(np.mean(seeded.accuracy[0] - seeded.accuracy[1:]))


def test_deletion_with_no_known_word_is_a_flat_curve(toy):
    """Documents without a vocabulary word (empty posts, only unknown words) have nothing to delete: the curve
    stays flat, also when every selected document is such (the sparse relevance's empty selection was a sparse
    matrix and crashed with "setting an array element with a sequence")."""
    pipe, docs, y, _ = toy
    empty = ["", "zzz qqq"]
    labels = pipe.predict(empty)
    for kw in (dict(), dict(method="sensitivity"), dict(method="random"),
               dict(relevance=sp.csr_matrix((2, len(pipe[0].vocabulary_))))):
        curve = word_deletion_curve(pipe, empty, labels, n_words=2, **kw)
        np.testing.assert_array_equal(curve.accuracy, [1.0, 1.0, 1.0])
    assert make_explanation_scorer("word_deletion", n_words=2)(pipe, empty, labels) == 0.0


def test_grid_search_with_explanation_scorers(news):
    pipe, docs, y = news
    from sklearn.base import clone

    glove = {}
    rng = np.random.RandomState(0)
    for w in pipe[0].get_feature_names_out()[:3000]:
        glove[w] = rng.randn(8)
    grid = GridSearchCV(
        clone(pipe), {"linearrelevanceclassifier__estimator__C": [0.1, 1.0]},
        scoring={"accuracy": "accuracy",
                 "epi": make_explanation_scorer("explanatory_power", embeddings=glove,
                                                n_splits=2, k_values=range(1, 6)),
                 "deletion": make_explanation_scorer("word_deletion", n_words=3)},
        refit="accuracy", cv=2,
    ).fit(docs[:400], y[:400])
    res = grid.cv_results_
    for key in ("mean_test_accuracy", "mean_test_epi", "mean_test_deletion"):
        assert np.all(np.isfinite(res[key])) and np.all(res[key] >= 0)
    assert np.all(res["mean_test_epi"] <= 1)
    assert grid.best_params_["linearrelevanceclassifier__estimator__C"] in (0.1, 1.0)
    assert sp.issparse(sklrp.explain(grid.best_estimator_, docs[:3]))

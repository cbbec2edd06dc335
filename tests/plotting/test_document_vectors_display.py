"""DocumentVectorsDisplay: a 2-D PCA of document vectors, coloured by class."""

import sys
import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.feature_extraction import RelevanceDocumentVectorizer
from sklrp.plotting import DocumentVectorsDisplay
from sklrp.text import TokenSequenceVectorizer

TOPIC_A = ["alpha", "beta", "gamma", "delta"]
TOPIC_B = ["omega", "sigma", "kappa", "theta"]
RNG = np.random.RandomState(0)
DOCS = [" ".join(RNG.choice(TOPIC_A if i % 2 == 0 else TOPIC_B, 4)) + " common" for i in range(24)]
Y = np.arange(24) % 2
EMB = {w: RNG.randn(4) for w in TOPIC_A + TOPIC_B + ["common"]}


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def _n_points(disp):
    return sum(len(s.get_offsets()) for s in disp.scatters_.values())


def test_from_vectors_one_point_per_document(plt):
    V = np.random.RandomState(1).normal(size=(15, 5))
    y = np.array(["b", "a", "c"] * 5)
    disp = DocumentVectorsDisplay.from_vectors(V, y, s=5)
    assert _n_points(disp) == 15 and list(disp.scatters_) == ["a", "b", "c"]
    P = PCA(n_components=2).fit_transform(V)
    np.testing.assert_allclose(disp.scatters_["c"].get_offsets(), P[y == "c"])
    np.testing.assert_allclose(disp.points, P)
    assert disp.figure_ is disp.ax_.figure
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["a", "b", "c"]
    ratio = disp.pca_.explained_variance_ratio_
    assert disp.ax_.get_xlabel() == f"principal component 1 ({100 * ratio[0]:.1f} % of the variance)"
    assert disp.scatters_["a"].get_sizes()[0] == 5
    _, ax = plt.subplots()
    again = disp.plot(ax=ax)
    assert again.ax_ is ax and _n_points(again) == 15


def test_class_names_and_small_inputs(plt):
    V = np.arange(8.0).reshape(4, 2) ** 2
    disp = DocumentVectorsDisplay.from_vectors(V, [0, 1, 0, 1], class_names=["space", "hockey"])
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["space", "hockey"]
    disp = DocumentVectorsDisplay.from_vectors(V, [0, 1, 0, 1], class_names={1: "hockey"})
    assert [t.get_text() for t in disp.ax_.get_legend().get_texts()] == ["0", "hockey"]
    one_dim = DocumentVectorsDisplay.from_vectors(np.arange(5.0)[:, None], [0, 0, 1, 1, 1])
    assert _n_points(one_dim) == 5 and np.all(one_dim.points[:, 1] == 0)
    with pytest.raises(ValueError, match="at least 2 documents"):
        DocumentVectorsDisplay.from_vectors(np.ones((1, 3)), [0])
    with pytest.raises(ValueError, match="one label per document"):
        DocumentVectorsDisplay.from_vectors(V, [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        DocumentVectorsDisplay.from_vectors(np.full((3, 2), np.nan), [0, 1, 0])
    with pytest.raises(ValueError, match="class_names"):
        DocumentVectorsDisplay.from_vectors(V, [0, 1, 0, 1], class_names=["x"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["bag_of_words", "sequence"])
@pytest.mark.parametrize("weighting", ["lrp", "uniform"])
def test_from_estimator_plots_the_document_vectors(plt, kind, weighting):
    if kind == "sequence":  # any classifier on token ids with one relevance per position
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe = make_pipeline(TokenSequenceVectorizer(max_length=6),
                                 sklrp.DenseNetClassifier(hidden_layer_sizes=(), max_iter=5, random_state=0))
            pipe.fit(DOCS, Y)
    else:
        pipe = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(DOCS, Y)
    disp = DocumentVectorsDisplay.from_estimator(pipe, DOCS, Y, embeddings=EMB, weighting=weighting,
                                                 target="true")
    V = RelevanceDocumentVectorizer(pipe, EMB, weighting=weighting).transform(DOCS, target=Y)
    np.testing.assert_allclose(disp.vectors_, V)
    assert _n_points(disp) == len(DOCS)
    np.testing.assert_allclose(np.abs(disp.points), np.abs(PCA(n_components=2).fit_transform(V)), atol=1e-10)
    with pytest.raises(ValueError, match="target"):
        DocumentVectorsDisplay.from_estimator(pipe, DOCS, Y, embeddings=EMB, target="both")
    with pytest.raises(ValueError, match="one label per document"):
        DocumentVectorsDisplay.from_estimator(pipe, DOCS, Y[:3], embeddings=EMB)


def test_requires_matplotlib(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="DocumentVectorsDisplay.from_vectors requires matplotlib"):
        DocumentVectorsDisplay.from_vectors(np.ones((3, 2)), [0, 1, 0])
    with pytest.raises(ImportError, match="DocumentVectorsDisplay.from_estimator requires matplotlib"):
        DocumentVectorsDisplay.from_estimator(None, DOCS, Y, embeddings=EMB)
    with pytest.raises(ImportError, match="DocumentVectorsDisplay.plot requires matplotlib"):
        DocumentVectorsDisplay(np.zeros((2, 2)), [0, 1]).plot()

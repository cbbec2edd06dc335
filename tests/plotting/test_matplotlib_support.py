"""The Display classes say clearly that they need matplotlib when it is missing."""

import sys

import numpy as np
import pytest

from sklrp import DenseNetClassifier
from sklrp.plotting import PerturbationCurveDisplay, RelevanceHeatmapDisplay


@pytest.fixture
def no_matplotlib(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_displays_require_matplotlib(no_matplotlib):
    X = np.random.RandomState(0).normal(size=(20, 4))
    y = np.arange(20) % 2
    net = DenseNetClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(ImportError, match="RelevanceHeatmapDisplay.plot requires matplotlib"):
        RelevanceHeatmapDisplay.from_relevance(np.ones((2, 4)), input_shape=(2, 2))
    with pytest.raises(ImportError, match="RelevanceHeatmapDisplay.from_estimator requires matplotlib"):
        RelevanceHeatmapDisplay.from_estimator(net, X[:2], input_shape=(2, 2))
    with pytest.raises(ImportError, match="PerturbationCurveDisplay.plot requires matplotlib"):
        PerturbationCurveDisplay.from_curves({"lrp": np.array([1.0, 0.5, 0.2])})
    with pytest.raises(ImportError, match="PerturbationCurveDisplay.from_estimator requires matplotlib"):
        PerturbationCurveDisplay.from_estimator(net, X[:4], {"lrp": "lrp"})

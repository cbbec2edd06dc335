"""Tests of sklrp.plotting's Display objects."""

import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import sklrp  # noqa: E402
from sklrp.metrics import perturbation_curve  # noqa: E402
from sklrp.plotting import PerturbationCurveDisplay, RelevanceHeatmapDisplay  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits_net():
    import warnings

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    net = sklrp.ConvNetClassifier(input_shape=(1, 8, 8), filters=(4,), hidden_layer_sizes=(), max_iter=3,
                                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y[:300])
    return net, X[:6]


def test_importing_sklrp_does_not_import_matplotlib():
    code = "import sys, sklrp, sklrp.plotting, sklrp.metrics, sklrp.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_heatmap_from_relevance_symmetric_limits():
    rng = np.random.RandomState(0)
    R = rng.normal(size=(5, 64))
    R[1] *= 10
    R[2] = 0.0  # all-zero map: limits fall back to [-1, 1]
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 8, 8), n_cols=3, titles=list("abcde"))
    assert len(disp.images_) == 5 and len(disp.ax_) == 5
    assert len(disp.figure_.axes) == 6 + 5  # 2 x 3 grid, one unused, and a colour bar per panel
    for i, im in enumerate(disp.images_):
        vmin, vmax = im.get_clim()
        assert vmin == -vmax
        expected = np.abs(R[i]).max() or 1.0
        assert vmax == pytest.approx(expected)
        np.testing.assert_allclose(im.get_array(), R[i].reshape(8, 8))
    assert disp.ax_[0].get_title() == "a"
    assert disp.images_[0].get_cmap().name == "bwr"


def test_heatmap_sums_channels_and_guesses_square():
    R = np.zeros((1, 2 * 3 * 3))
    R[0, 0] = 1.0
    R[0, 9] = 2.0  # same pixel in channel 1
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(2, 3, 3))
    assert disp.images_[0].get_array()[0, 0] == 3.0
    disp = RelevanceHeatmapDisplay.from_relevance(np.arange(16.0))  # one sample, square guess
    assert disp.images_[0].get_array().shape == (4, 4)
    disp = RelevanceHeatmapDisplay.from_relevance(np.ones((2, 10)))  # not square: one row
    assert disp.images_[0].get_array().shape == (1, 10)


def test_heatmap_given_axes_and_overlay():
    R = np.random.RandomState(0).normal(size=(2, 16))
    X = np.abs(R)
    fig, axes = plt.subplots(1, 3)
    disp = RelevanceHeatmapDisplay.from_relevance(R, X, input_shape=(1, 4, 4), ax=axes, overlay=True, colorbar=True)
    assert disp.figure_ is fig
    assert len(axes[0].images) == 2  # input + heatmap
    assert disp.images_[0].get_alpha() == pytest.approx(0.7)
    assert disp.colorbar_ is disp.colorbars_[-1] and len(disp.colorbars_) == 2
    assert disp.colorbar_.ax in fig.axes
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), colorbar=False)
    assert disp.colorbar_ is None and disp.colorbars_ == []
    assert len(disp.figure_.axes) == 2
    with pytest.raises(ValueError, match="overlay"):
        RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), overlay=True)
    with pytest.raises(ValueError, match="Axes"):
        RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), ax=axes[0])
    with pytest.raises(ValueError, match="input_shape"):
        RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 3, 3))


def test_heatmap_from_estimator(digits_net):
    net, X = digits_net
    disp = RelevanceHeatmapDisplay.from_estimator(net, X, method="gradient_x_input")
    R = net.explain(X, method="gradient_x_input")
    assert len(disp.images_) == len(X)
    np.testing.assert_allclose(disp.images_[3].get_array(), R[3].reshape(8, 8))
    disp.plot(cmap="seismic")  # replot on a new figure
    assert disp.images_[0].get_cmap().name == "seismic"


def test_curve_display_from_curves():
    curves = {"a": np.array([3.0, 2.0, 1.0]), "b": np.array([3.0, 2.5, 2.0])}
    disp = PerturbationCurveDisplay.from_curves(curves)
    labels = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert labels == ["a (AOPC = 1.500)", "b (AOPC = 0.750)"]
    assert set(disp.lines_) == {"a", "b"}
    np.testing.assert_allclose(disp.lines_["a"].get_ydata(), curves["a"])
    with pytest.raises(ValueError, match="non-empty"):
        PerturbationCurveDisplay.from_curves({})
    with pytest.raises(ValueError, match="fraction"):
        PerturbationCurveDisplay.from_curves(curves, x_axis="fraction")


def test_curve_display_from_estimator(digits_net):
    net, X = digits_net
    R = net.explain(X)
    fig, ax = plt.subplots()
    disp = PerturbationCurveDisplay.from_estimator(
        net, X, {"LRP": R, "SA": "sensitivity"}, ax=ax, n_steps=5, random_state=0, x_axis="fraction"
    )
    assert disp.ax_ is ax
    assert list(disp.lines_) == ["LRP", "SA", "random"]
    expected = perturbation_curve(net, X, R, n_steps=5, random_state=0)
    np.testing.assert_allclose(disp.lines_["LRP"].get_ydata(), expected.curve)
    np.testing.assert_allclose(disp.lines_["LRP"].get_xdata(), expected.fraction_perturbed)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"LRP (AOPC = {expected.aopc:.3f})"
    assert labels[2].startswith("random (AOPC = ")
    assert disp.results_["SA"].aopc == pytest.approx(float(labels[1].split("= ")[1].rstrip(")")), abs=1e-3)

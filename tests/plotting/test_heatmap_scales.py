"""Colour scales and colour bars of RelevanceHeatmapDisplay."""

import re

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklrp.plotting import RelevanceHeatmapDisplay  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def R():
    rng = np.random.RandomState(0)
    R = rng.normal(size=(4, 16))
    R[1] *= 10.0  # one sample with much larger relevance
    R[2] *= 0.01
    return R


def _clim(im):
    return im.norm.vmin, im.norm.vmax


def test_default_scale_is_per_sample_with_a_colour_bar_per_panel(R):
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4))
    expected = np.abs(R).max(axis=1)
    np.testing.assert_allclose(disp.vmax_, expected)
    assert disp.vmax_.shape == (4,)
    assert len(disp.colorbars_) == 4 and disp.colorbar_ is disp.colorbars_[-1]
    for i, (im, cb) in enumerate(zip(disp.images_, disp.colorbars_)):
        assert _clim(im) == pytest.approx((-expected[i], expected[i]))
        assert cb.mappable is im
        assert (cb.vmin, cb.vmax) == pytest.approx((-expected[i], expected[i]))
        np.testing.assert_allclose(cb.get_ticks(), [-expected[i], 0.0, expected[i]])
        assert cb.ax.yaxis.get_major_formatter()(expected[i]) == f"{expected[i]:.2g}"
        assert cb.extend == "neither"
        # the bar sits right of its own panel, as tall as it or less
        fig = disp.figure_
        fig.canvas.draw()
        p, b = disp.ax_[i].get_position(), cb.ax.get_position()
        assert b.x0 >= p.x1 - 1e-6 and b.y0 >= p.y0 - 1e-6 and b.y1 <= p.y1 + 1e-6
    # the panels differ in limits: sample 1's is ten times larger
    assert disp.vmax_[1] > 5 * disp.vmax_[0]


def test_shared_scale_is_the_max_over_all_panels_with_one_colour_bar(R):
    fig, axes = plt.subplots(1, 4)
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), ax=axes, scale="shared")
    m = np.abs(R).max()
    np.testing.assert_allclose(disp.vmax_, np.full(4, m))
    for im in disp.images_:
        assert _clim(im) == pytest.approx((-m, m))
    assert len(disp.colorbars_) == 1
    cb = disp.colorbar_
    assert (cb.vmin, cb.vmax) == pytest.approx((-m, m))
    assert cb.ax.get_ylabel() == "relevance"
    assert cb.extend == "neither"
    assert len(fig.axes) == 5  # four panels and one bar
    # the small sample uses a sliver of the range: its colours are near white
    small = disp.images_[2].to_rgba(disp.images_[2].get_array())
    assert np.all(np.abs(small[..., :3] - disp.images_[2].to_rgba(0.0)[:3]) < 0.02)


def test_fixed_scale_is_respected_and_values_beyond_are_clipped(R):
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), scale=0.5)
    np.testing.assert_allclose(disp.vmax_, np.full(4, 0.5))
    for im in disp.images_:
        assert _clim(im) == (-0.5, 0.5)
    im = disp.images_[1]  # |R| up to ~20: clipped to the end colours
    assert np.all(im.to_rgba(np.array([5.0, 0.5001, 1e9])) == im.to_rgba(0.5))
    assert np.all(im.to_rgba(np.array([-5.0, -1e9])) == im.to_rgba(-0.5))
    assert im.to_rgba(0.25) != im.to_rgba(0.5)
    assert len(disp.colorbars_) == 1
    assert disp.colorbar_.extend == "both"  # the bar shows that values were clipped
    np.testing.assert_allclose(disp.colorbar_.get_ticks(), [-0.5, 0.0, 0.5])
    # a limit that clips nothing: plain bar ends; ints and NumPy scalars are numbers
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), scale=100)
    assert _clim(disp.images_[0]) == (-100.0, 100.0) and disp.colorbar_.extend == "neither"
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), scale=np.float32(2.0))
    assert disp.vmax_[0] == 2.0 and isinstance(disp.vmax_[0], np.floating)


def test_a_fixed_scale_compares_several_displays(R):
    """Two methods, one row each, one scale: their colours are comparable."""
    R_a, R_b = R, 3.0 * R
    vmax = max(np.abs(R_a).max(), np.abs(R_b).max())
    fig, axes = plt.subplots(2, 4, layout="constrained")
    da = RelevanceHeatmapDisplay.from_relevance(R_a, input_shape=(1, 4, 4), ax=axes[0], scale=vmax)
    db = RelevanceHeatmapDisplay.from_relevance(R_b, input_shape=(1, 4, 4), ax=axes[1], scale=vmax)
    assert da.figure_ is db.figure_ is fig
    assert _clim(da.images_[0]) == _clim(db.images_[3]) == (-vmax, vmax)
    # the same value has the same colour in both rows
    assert da.images_[0].to_rgba(1.0) == db.images_[2].to_rgba(1.0)
    assert len(fig.axes) == 8 + 2


def test_all_zero_relevance_falls_back_to_unit_limits():
    R = np.zeros((2, 9))
    R[1, 0] = -4.0
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 3, 3))
    np.testing.assert_allclose(disp.vmax_, [1.0, 4.0])
    disp = RelevanceHeatmapDisplay.from_relevance(np.zeros((2, 9)), input_shape=(1, 3, 3), scale="shared")
    np.testing.assert_allclose(disp.vmax_, [1.0, 1.0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("scale", ["sample", "shared"])
def test_non_finite_relevance_or_input_raises(R, bad, scale):
    """The colour limits are the largest absolute relevance: a NaN made them silently 1.0 (for every panel with
    ``scale="shared"``) and an infinity made them infinite."""
    R = R.copy()
    R[0, 3] = bad
    with pytest.raises(ValueError, match=r"^R contains NaN or infinity\.$"):
        RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), scale=scale)
    with pytest.raises(ValueError, match=r"^The relevance contains NaN or infinity\.$"):
        RelevanceHeatmapDisplay(R.reshape(4, 4, 4)).plot(scale=scale)
    X = np.where(np.isfinite(R), R, 0.0)
    X[1, 2] = bad
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity\.$"):
        RelevanceHeatmapDisplay.from_relevance(np.zeros_like(X), X, input_shape=(1, 4, 4), overlay=True)


def test_colorbar_false_and_colorbar_kw(R):
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), scale="shared", colorbar=False)
    assert disp.colorbars_ == [] and disp.colorbar_ is None
    assert len(disp.figure_.axes) == 4
    np.testing.assert_allclose(disp.vmax_, np.abs(R).max())  # limits are set without a bar too
    _, axes = plt.subplots(4, 2, layout="constrained")  # a column of a grid, bar below it
    disp = RelevanceHeatmapDisplay.from_relevance(
        R, input_shape=(1, 4, 4), ax=axes[:, 1], scale="shared",
        colorbar_kw={"location": "bottom", "label": "R (logit)", "ticks": [-1.0, 1.0]},
    )
    assert disp.colorbar_.orientation == "horizontal"
    assert disp.colorbar_.ax.get_xlabel() == "R (logit)"
    np.testing.assert_allclose(disp.colorbar_.get_ticks(), [-1.0, 1.0])
    with pytest.raises(ValueError, match=re.escape("colorbar_kw must be a dict or None; got list.")):
        RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), colorbar_kw=["bottom"])


def test_replot_with_another_scale(R):
    disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4))
    first = disp.figure_
    disp.plot(scale="shared")
    assert disp.figure_ is not first
    np.testing.assert_allclose(disp.vmax_, np.abs(R).max())
    assert len(disp.colorbars_) == 1


@pytest.mark.parametrize("scale", ["samples", "Shared", "", "1.0", 0, 0.0, -1.0, np.nan, np.inf, -np.inf, True,
                                   np.bool_(True), None, [1.0], (-1, 1)])
def test_bad_scale_raises(R, scale):
    msg = f"scale must be 'sample', 'shared' or a positive finite number (a fixed vmax); got {scale!r}."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 4, 4), scale=scale)
    disp = RelevanceHeatmapDisplay(np.asarray(R).reshape(4, 4, 4))
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        disp.plot(scale=scale)
    assert not hasattr(disp, "vmax_")


def test_from_estimator_checks_scale_before_explaining():
    # not an estimator at all: the scale is refused first
    with pytest.raises(ValueError, match="^scale must be 'sample', 'shared'"):
        RelevanceHeatmapDisplay.from_estimator(object(), np.ones((2, 4)), scale="global")


def test_from_estimator_passes_scale_and_colorbar():
    import warnings

    from sklearn.datasets import load_digits

    import sklrp

    X, y = load_digits(return_X_y=True)
    X = X[:200] / 16
    net = sklrp.ConvNetClassifier(input_shape=(1, 8, 8), filters=(4,), hidden_layer_sizes=(), max_iter=2,
                                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y[:200])
    R = net.explain(X[:3], method="gradient_x_input")
    disp = RelevanceHeatmapDisplay.from_estimator(net, X[:3], method="gradient_x_input", scale="shared")
    m = np.abs(R).max()
    np.testing.assert_allclose(disp.vmax_, np.full(3, m))
    assert len(disp.colorbars_) == 1
    disp = RelevanceHeatmapDisplay.from_estimator(net, X[:3], method="gradient_x_input", colorbar=False, scale=0.1)
    assert disp.colorbars_ == [] and _clim(disp.images_[2]) == (-0.1, 0.1)

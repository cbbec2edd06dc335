"""EEG relevance as MNE objects, its correlation with CSP patterns, and the topomap Display."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

mne = pytest.importorskip("mne")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklrp.eeg._display import RelevanceTopomapDisplay
from sklrp.eeg._evoked import (
    RELEVANCE_PLOT_KWARGS,
    csp_relevance_correlation,
    relevance_to_evoked,
)

CH_NAMES = ["Fz", "Cz", "Pz", "C3", "C4", "F3", "F4", "P3", "P4", "O1", "O2", "T7", "T8", "Fp1", "Fp2"]
SFREQ = 100.0
N_TRIALS, N_TIMES, TMIN = 12, 30, -0.1
FAST = {"image_interp": "nearest"}  # MNE's cubic interpolation takes ~0.3 s per topomap


def _montage_name():
    # MNE 1.13 renamed "standard_1005" to "colin27_1005" and deprecated the old name.
    return "colin27_1005" if "colin27_1005" in mne.channels.get_builtin_montages() else "standard_1005"


@pytest.fixture(scope="module")
def info():
    info = mne.create_info(ch_names=CH_NAMES, sfreq=SFREQ, ch_types="eeg")
    info.set_montage(_montage_name())
    return info


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(N_TRIALS, len(CH_NAMES), N_TIMES))
    y = np.array(["left", "right", "rest"] * (N_TRIALS // 3))
    return R, y


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------- relevance_to_evoked
def test_per_class_evokeds_keep_info_times_nave_and_class_means(info, data):
    R, y = data
    evks = relevance_to_evoked(R, info, tmin=TMIN, y=y)
    assert list(evks) == ["left", "rest", "right"]  # sorted labels
    for label, evk in evks.items():
        assert isinstance(evk, mne.EvokedArray)
        assert evk.ch_names == CH_NAMES
        assert evk.info["sfreq"] == SFREQ
        assert_allclose(evk.times, TMIN + np.arange(N_TIMES) / SFREQ)
        assert evk.nave == int((y == label).sum())
        assert evk.comment == label
        assert_allclose(evk.data, R[y == label].mean(axis=0))
        assert evk.get_channel_types() == ["eeg"] * len(CH_NAMES)
        assert evk.get_montage() is not None
    assert evks["left"].info is not info  # info is copied


def test_classes_select_and_order(info, data):
    R, y = data
    evks = relevance_to_evoked(R, info, y=y, classes=["right", "left"], comment="R")
    assert list(evks) == ["right", "left"]
    assert evks["right"].comment == "R: right"
    with pytest.raises(ValueError, match="no trial"):
        relevance_to_evoked(R, info, y=y, classes=["up"])
    with pytest.raises(ValueError, match="needs y"):
        relevance_to_evoked(R, info, classes=["left"])


def test_mean_over_all_trials_without_y(info, data):
    R, _ = data
    evk = relevance_to_evoked(R, info, tmin=TMIN)
    assert isinstance(evk, mne.EvokedArray)
    assert evk.nave == N_TRIALS
    assert evk.tmin == pytest.approx(TMIN)
    assert_allclose(evk.data, R.mean(axis=0))


def test_integer_labels_give_integer_keys(info, data):
    R, _ = data
    y = np.arange(N_TRIALS) % 2
    evks = relevance_to_evoked(R, info, y=y)
    assert list(evks) == [0, 1]
    assert evks[1].comment == "1"


def test_per_trial_epochs(info, data):
    R, y = data
    epo = relevance_to_evoked(R, info, tmin=TMIN, y=y, per_trial=True)
    assert isinstance(epo, mne.EpochsArray)
    assert_allclose(epo.get_data(), R)
    assert epo.event_id == {"left": 1, "rest": 2, "right": 3}
    assert_allclose(epo.times, TMIN + np.arange(N_TIMES) / SFREQ)
    assert_allclose(epo["right"].get_data(), R[y == "right"])
    assert_allclose(epo["left"].average().data, R[y == "left"].mean(axis=0))
    # without labels: one event type, all trials
    epo = relevance_to_evoked(R, info, per_trial=True)
    assert len(epo) == N_TRIALS
    # a subset of classes keeps only their trials
    epo = relevance_to_evoked(R, info, y=y, classes=["rest"], per_trial=True)
    assert_allclose(epo.get_data(), R[y == "rest"])


def test_mne_plots_work_unscaled(info, data):
    R, y = data
    evk = relevance_to_evoked(R, info, tmin=TMIN, y=y)["left"]
    fig = evk.plot_topomap(times=[0.0, 0.1], show=False, **RELEVANCE_PLOT_KWARGS)
    images = [im for ax in fig.axes for im in ax.get_images()]
    m = np.abs(evk.data).max()
    assert max(abs(v) for im in images for v in im.get_clim()) <= m * 1.0001  # not multiplied by 1e6
    fast = dict(RELEVANCE_PLOT_KWARGS, image_interp="nearest")
    evk.plot_joint(times=[0.05], show=False, ts_args=RELEVANCE_PLOT_KWARGS, topomap_args=fast)
    evk.plot_image(show=False, **RELEVANCE_PLOT_KWARGS)


def test_array_like_input(info, data):
    R, _ = data
    evk = relevance_to_evoked(R.tolist(), info)  # any array-like
    assert_allclose(evk.data, R.mean(axis=0))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda R, y: {"R": R[0]}, "3-D"),
        (lambda R, y: {"R": R[:, :-1]}, "channels"),
        (lambda R, y: {"R": np.where(np.arange(R.size).reshape(R.shape) == 7, np.nan, R)}, "NaN"),
        (lambda R, y: {"R": np.where(np.arange(R.size).reshape(R.shape) == 7, np.inf, R)}, "NaN or infinity"),
        (lambda R, y: {"R": R, "y": y[:-1]}, "labels but R has"),
        (lambda R, y: {"R": R, "y": y[:, None]}, "1-D"),
        # a NaN label became a class of its own (an all-NaN evoked of nave=0)
        (lambda R, y: {"R": R, "y": np.where(np.arange(len(y)) == 3, np.nan, np.arange(len(y)) % 2)},
         r"^y contains NaN or infinity; give one class label per trial\.$"),
        (lambda R, y: {"R": R, "y": np.array(["left"] * (len(y) - 1) + [np.nan], dtype=object)},
         r"^y contains NaN or infinity"),
    ],
)
def test_errors(info, data, make, match):
    R, y = data
    kw = make(R, y)
    with pytest.raises(ValueError, match=match):
        relevance_to_evoked(kw.pop("R"), info, **kw)


@pytest.mark.parametrize("tmin", ["0", None, np.nan, True])
def test_tmin_must_be_a_real_number(info, data, tmin):
    with pytest.raises(TypeError, match="tmin"):
        relevance_to_evoked(data[0], info, tmin=tmin)


def test_info_must_be_an_mne_info(data):
    with pytest.raises(TypeError, match="mne.Info"):
        relevance_to_evoked(data[0], {"ch_names": CH_NAMES})


# --------------------------------------------------------------------------- CSP correlation
def test_csp_correlation_is_one_for_the_matching_pattern():
    rng = np.random.default_rng(1)
    n_ch = len(CH_NAMES)
    patterns = rng.normal(size=(3, n_ch))
    y = np.repeat([0, 1], 6)
    time_course = rng.uniform(0.5, 1.5, size=N_TIMES)
    R = rng.normal(size=(12, n_ch, N_TIMES))
    R[y == 0] = 2.0 * patterns[1][None, :, None] * time_course  # class 0: pattern 1, scaled
    R[y == 1] = -patterns[2][None, :, None] * time_course  # class 1: pattern 2, sign flipped
    res = csp_relevance_correlation(R, y, patterns)
    assert res.correlation.shape == (2, 3)
    assert_array_equal(res.classes, [0, 1])
    assert res.correlation[0, 1] == pytest.approx(1.0)
    assert res.correlation[1, 2] == pytest.approx(-1.0)
    assert_allclose(res.abs_correlation, np.abs(res.correlation))
    assert_array_equal(res.best, [1, 2])
    assert_allclose(res.best_abs_correlation, [1.0, 1.0])
    assert res.topographies.shape == (2, n_ch)
    # a single pattern as a 1-D array
    assert csp_relevance_correlation(R, y, patterns[1]).correlation[0, 0] == pytest.approx(1.0)


def test_csp_correlation_time_window():
    rng = np.random.default_rng(2)
    n_ch = len(CH_NAMES)
    patterns = rng.normal(size=(2, n_ch))
    times = TMIN + np.arange(N_TIMES) / SFREQ
    y = np.zeros(4, dtype=int)
    R = np.zeros((4, n_ch, N_TIMES))
    R[:, :, times < 0.05] = patterns[0][None, :, None]
    R[:, :, times >= 0.05] = patterns[1][None, :, None]
    early = csp_relevance_correlation(R, y, patterns, time_window=(TMIN, 0.0), times=times)
    late = csp_relevance_correlation(R, y, patterns, time_window=(0.1, 0.2), times=times)
    assert early.best[0] == 0 and early.correlation[0, 0] == pytest.approx(1.0)
    assert late.best[0] == 1 and late.correlation[0, 1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs times"):
        csp_relevance_correlation(R, y, patterns, time_window=(0.1, 0.2))
    with pytest.raises(ValueError, match="no sample"):
        csp_relevance_correlation(R, y, patterns, time_window=(5.0, 6.0), times=times)
    with pytest.raises(ValueError, match="channels"):
        csp_relevance_correlation(R, y, patterns[:, :-1])


def test_csp_correlation_constant_topography_gives_nan():
    y = np.array([0, 1])
    R = np.ones((2, 4, 3))
    res = csp_relevance_correlation(R, y, np.eye(4))
    assert np.all(np.isnan(res.correlation))
    assert_array_equal(res.best, [-1, -1])


def test_csp_correlation_with_a_fitted_mne_csp():
    from mne.decoding import CSP

    rng = np.random.default_rng(3)
    n_ch, n = len(CH_NAMES), 60
    A = rng.normal(size=(n_ch, n_ch))  # mixing matrix: column k = scalp map of source k
    y = np.arange(n) % 2
    S = rng.normal(size=(n, n_ch, 60))
    S[y == 0, 0] *= 6.0  # source 0 strong in class 0
    S[y == 1, 1] *= 6.0  # source 1 strong in class 1
    X = np.einsum("ij,njt->nit", A, S)
    csp = CSP(n_components=4).fit(X, y)
    # relevance of class c shaped like the scalp map of its discriminative source
    R = np.where((y == 0)[:, None, None], A[:, 0][None, :, None], A[:, 1][None, :, None]) * np.ones((n, n_ch, 5))
    res = csp_relevance_correlation(R, y, csp)
    assert res.correlation.shape == (2, 4)  # n_components patterns by default
    assert res.patterns.shape == (4, n_ch)
    assert np.all(res.best_abs_correlation > 0.95)
    assert res.best[0] != res.best[1]
    assert csp_relevance_correlation(R, y, csp, n_patterns=2).correlation.shape == (2, 2)
    with pytest.raises(ValueError, match="not fitted"):
        csp_relevance_correlation(R, y, CSP())


# --------------------------------------------------------------------------- Display
def test_display_from_relevance_grid_and_symmetric_limits(info, data):
    R, y = data
    times = [-0.05, 0.0, 0.1, 0.15]
    disp = RelevanceTopomapDisplay.from_relevance(R, y, info, times=times, tmin=TMIN, image_interp="nearest")
    assert disp.ax_.shape == (3, 4)
    assert disp.images_.shape == (3, 4)
    lims = {im.get_clim() for im in disp.images_.ravel()}
    assert len(lims) == 1  # shared by all panels
    (lo, hi), = lims
    assert lo == pytest.approx(-hi) and hi > 0
    # the limit is the largest absolute class mean at the nearest samples
    idx = [round((t - TMIN) * SFREQ) for t in times]
    means = np.stack([R[y == c].mean(axis=0) for c in ["left", "rest", "right"]])
    assert hi == pytest.approx(np.abs(means[:, :, idx]).max())
    assert_allclose(disp.data_[2, 1], means[2, :, idx[1]])
    assert disp.colorbar_ is not None
    assert [a.get_title() for a in disp.ax_[0]] == ["-0.050 s", "0.000 s", "0.100 s", "0.150 s"]
    assert [a.get_ylabel() for a in disp.ax_[:, 0]] == ["left", "rest", "right"]
    assert disp.figure_ is disp.ax_[0, 0].figure


def test_display_time_window_vlim_and_given_axes(info, data):
    import matplotlib.pyplot as plt

    R, y = data
    disp = RelevanceTopomapDisplay.from_relevance(R, None, info, times=0.05, tmin=TMIN, time_window=0.04)
    assert disp.ax_.shape == (1, 1)
    window = np.abs(TMIN + np.arange(N_TIMES) / SFREQ - 0.05) <= 0.02 + 1e-9
    assert window.sum() == 5
    assert_allclose(disp.data_[0, 0], R.mean(axis=0)[:, window].mean(axis=1))
    fig, axes = plt.subplots(3, 2)
    disp = RelevanceTopomapDisplay.from_relevance(R, y, info, times=[0.0, 0.1], tmin=TMIN, ax=axes, vlim=2.5,
                                                  colorbar=False, image_interp="nearest")
    assert disp.figure_ is fig and disp.colorbar_ is None
    assert all(im.get_clim() == (-2.5, 2.5) for im in disp.images_.ravel())
    disp.plot(ax=axes, vlim=3.0, image_interp="nearest")  # redraw
    assert disp.vlim_ == (-3.0, 3.0)
    with pytest.raises(ValueError, match="panels"):
        disp.plot(ax=axes[:2])
    with pytest.raises(ValueError, match="outside the data"):
        RelevanceTopomapDisplay.from_relevance(R, y, info, times=[1.0], tmin=TMIN)


class ChannelWeightClassifier(ClassifierMixin, BaseEstimator):
    """A linear score per class on 3-D epochs; relevance = input x weight (exact for a linear model)."""

    def fit(self, X, y):
        X = np.asarray(X)
        self.classes_ = np.unique(y)
        self.coef_ = np.stack([X[np.asarray(y) == c].mean(axis=0) for c in self.classes_])
        return self

    def decision_function(self, X):
        return np.einsum("nct,kct->nk", np.asarray(X), self.coef_)

    def predict(self, X):
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def explain(self, X, target=None, method=None):
        X = np.asarray(X)
        if target is None:
            idx = self.decision_function(X).argmax(axis=1)
        else:
            lookup = {c: i for i, c in enumerate(self.classes_.tolist())}
            t = np.broadcast_to(np.asarray(target), (X.shape[0],))
            idx = np.array([lookup[v] for v in t.tolist()])
        scale = 2.0 if method == "double" else 1.0
        return scale * X * self.coef_[idx]


def _class_means(R, y):
    return np.stack([R[y == c].mean(axis=0) for c in np.unique(y)])


def test_display_from_estimator(info, data):
    R_in, y = data
    X = R_in + 3.0 * (y == "left")[:, None, None]
    clf = ChannelWeightClassifier().fit(X, y)
    disp = RelevanceTopomapDisplay.from_estimator(clf, X, y, info, times=[0.0, 0.1], tmin=TMIN, **FAST)
    assert disp.ax_.shape == (3, 2)
    assert list(disp.labels) == ["left", "rest", "right"]
    expected = _class_means(X * clf.coef_[np.searchsorted(clf.classes_, y)], y)  # true-class relevance
    assert_allclose(disp.relevance, expected)
    # method is passed through; a Pipeline is explained in its last step's input space
    pipe = make_pipeline(FunctionTransformer(lambda Z: Z * 1.0), clf)
    disp2 = RelevanceTopomapDisplay.from_estimator(pipe, X, y, info, times=[0.0], tmin=TMIN, method="double", **FAST)
    assert_allclose(disp2.relevance, 2 * expected)
    # target=None explains the predicted class
    disp3 = RelevanceTopomapDisplay.from_estimator(clf, X, y, info, times=[0.0], tmin=TMIN, target=None, **FAST)
    pred = X * clf.coef_[clf.decision_function(X).argmax(axis=1)]
    assert_allclose(disp3.relevance, _class_means(pred, y))


def test_display_from_estimator_needs_3d_relevance(info, data):
    R, y = data
    flat = make_pipeline(FunctionTransformer(lambda Z: np.asarray(Z).reshape(len(Z), -1)), _FlatClassifier())
    flat.fit(R, y)
    with pytest.raises(ValueError, match="n_trials, n_channels, n_times"):
        RelevanceTopomapDisplay.from_estimator(flat, R, y, info, times=[0.0], tmin=TMIN, **FAST)


class _FlatClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def explain(self, X, target=None, method=None):
        return np.asarray(X)


def test_display_draws_the_eeg_channels_of_a_mixed_info(info, data):
    R, y = data
    mixed = mne.create_info(CH_NAMES + ["EOG1"], SFREQ, ["eeg"] * len(CH_NAMES) + ["eog"])
    mixed.set_montage(_montage_name(), on_missing="ignore")
    R_mixed = np.concatenate([R, 100.0 * np.ones((N_TRIALS, 1, N_TIMES))], axis=1)  # the EOG would dominate vlim
    disp = RelevanceTopomapDisplay.from_relevance(R_mixed, y, mixed, times=[0.0], tmin=TMIN, **FAST)
    assert disp.data_.shape == (3, 1, len(CH_NAMES))
    assert disp.vlim_[1] < 100.0


@pytest.mark.parametrize("time_window", [-0.1, "wide", (0.0, 0.1)])
def test_display_rejects_bad_time_window(info, data, time_window):
    R, y = data
    with pytest.raises(ValueError, match="time_window"):
        RelevanceTopomapDisplay.from_relevance(R, y, info, times=[0.0], tmin=TMIN, time_window=time_window)


def test_display_says_it_needs_matplotlib(info, data, monkeypatch):
    import sys

    R, y = data
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="RelevanceTopomapDisplay.plot requires matplotlib"):
        RelevanceTopomapDisplay.from_relevance(R, y, info, times=[0.0], tmin=TMIN)
    with pytest.raises(ImportError, match="RelevanceTopomapDisplay.from_estimator requires matplotlib"):
        RelevanceTopomapDisplay.from_estimator(ChannelWeightClassifier().fit(R, y), R, y, info, times=[0.0])

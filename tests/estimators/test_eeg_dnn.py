"""EEGDNNClassifier: 3-D input and output, scikit-learn API on the flat form, conservation,
gradients, transfer with frozen layers, bad input, and a synthetic power-change task."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklrp
from sklrp import EEGDNNClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

C, T = 6, 48


def power_task(n=80, seed=0, channel=2):
    """Class 1 trials carry a 10-cycle oscillation on ``channel`` in the second half."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, C, T))
    y = np.repeat([0, 1], n // 2)
    t = np.arange(T)
    burst = 2.5 * np.sin(2 * np.pi * t / 6) * (t >= T // 2)
    X[y == 1, channel] += burst * rng.uniform(0.8, 1.2, size=(n // 2, 1))
    return X, y


def small(**kw):
    params = dict(temporal_kernel=7, n_temporal_filters=4, n_spatial_filters=4, pool_size=8, pool_stride=4,
                  hidden_layer_sizes=(16,), dropout=0.0, max_iter=60, learning_rate_init=1e-2, random_state=0)
    return EEGDNNClassifier(**{**params, **kw})


@parametrize_with_checks(
    [
        EEGDNNClassifier("dnn", input_shape=(1, -1), hidden_layer_sizes=(16,), dropout=0.0, max_iter=50,
                         learning_rate_init=1e-2, random_state=0),
        EEGDNNClassifier("shallow", input_shape=(1, -1), temporal_kernel=3, n_temporal_filters=4,
                         n_spatial_filters=4, pool_size=4, pool_stride=2, dropout=0.0, max_iter=50,
                         learning_rate_init=1e-2, random_state=0),
    ]
)
def test_sklearn_compatible_on_flat_rows(estimator, check):
    check(estimator)


@pytest.mark.parametrize("architecture", ["shallow", "dnn"])
def test_three_d_in_three_d_out_and_flat_rows_agree(architecture):
    X, y = power_task()
    est = small(architecture=architecture).fit(X, y)
    assert est.input_shape_ == (C, T) and est.n_features_in_ == C * T
    R = est.explain(X[:5])
    assert R.shape == (5, C, T)
    flat = small(architecture=architecture, input_shape=(C, -1)).fit(X.reshape(len(X), -1), y)
    assert_allclose(flat.decision_function(X.reshape(len(X), -1)), est.decision_function(X), rtol=1e-10)
    assert_allclose(flat.explain(X[:5].reshape(5, -1)), R.reshape(5, -1), rtol=1e-10, atol=1e-14)
    for method in ("sensitivity", "gradient_x_input"):
        assert est.explain(X[:3], method=method).shape == (3, C, T)
    assert sklrp.explain(est, X[:2], target=1).shape == (2, C, T)


@pytest.mark.parametrize("architecture, activation", [("shallow", "relu"), ("shallow", "square"), ("dnn", "relu")])
def test_lrp0_on_a_bias_free_net_conserves_the_score(architecture, activation):
    X, y = power_task()
    est = small(architecture=architecture, activation=activation).fit(X, y)
    for layer in est.net_.layers:
        if "bias" in layer.params:
            layer.params["bias"] = np.zeros_like(layer.params["bias"])
    est.set_params(composite="zero")
    f = est.decision_function(X)
    for cls, sign in ((1, 1.0), (0, -1.0)):
        R = est.explain(X, target=cls)
        assert_allclose(R.sum(axis=(1, 2)), sign * f, rtol=1e-6, atol=1e-9)


def assert_gradient_matches_finite_differences(est, x, seed):
    """The class-1 gradient of one trial against central differences of decision_function, at 6 entries."""
    g = est.explain(x, target=1, method="gradient")
    rng = np.random.RandomState(seed)
    for _ in range(6):
        c, t = rng.randint(C), rng.randint(T)
        xp_, xm = x.copy(), x.copy()
        xp_[0, c, t] += 1e-6
        xm[0, c, t] -= 1e-6
        fd = (est.decision_function(xp_)[0] - est.decision_function(xm)[0]) / 2e-6
        assert_allclose(g[0, c, t], fd, rtol=1e-5, atol=1e-8)
    return g


def test_gradient_matches_finite_differences():
    X, y = power_task(40)
    est = small(max_iter=5).fit(X, y)
    assert_gradient_matches_finite_differences(est, X[:1].copy(), seed=0)


@pytest.mark.parametrize("activation", ["relu", "square"])
def test_learns_the_power_change_and_explains_it_on_its_channel(activation):
    X, y = power_task(160, seed=1)
    est = small(max_iter=80, activation=activation).fit(X[:120], y[:120])
    assert est.score(X[120:], y[120:]) >= 0.9
    R = est.explain(X[120:][y[120:] == 1], target=1)
    by_channel = np.clip(R, 0, None).sum(axis=(0, 2))
    assert np.argmax(by_channel) == 2
    by_time = np.clip(R[:, 2], 0, None).sum(axis=0)
    assert by_time[T // 2 :].sum() > 0.8 * by_time.sum()  # the second half, where the burst is


def test_transfer_fine_tunes_only_the_unfrozen_layers():
    X, y = power_task(80, seed=2)
    est = small(max_iter=10).fit(X, y)
    names = est.net_.layer_names()
    assert names[:3] == ["reshape_0", "conv2d_0", "conv2d_1"]
    before = {k: v.copy() for k, v in est.net_.layers[1].params.items()}
    dense_before = est.net_.layers[-1].params["weight"].copy()
    X2, y2 = power_task(40, seed=3, channel=4)
    est.set_params(warm_start=True, frozen_layers=["conv2d_0", "conv2d_1"], max_iter=5).fit(X2, y2)
    for k, v in before.items():
        assert_array_equal(est.net_.layers[1].params[k], v)
    assert not np.allclose(est.net_.layers[-1].params["weight"], dense_before)
    with pytest.raises(ValueError, match="trials of shape"):
        est.fit(X2[:, :4], y2)


def test_save_load_round_trip(tmp_path):
    X, y = power_task(40)
    est = small(max_iter=5).fit(X, np.array(["left", "right"])[y])
    est.save(tmp_path / "eeg.npz")
    loaded = sklrp.load_model(tmp_path / "eeg.npz")
    assert_array_equal(loaded.explain(X[:4]), est.explain(X[:4]))
    assert loaded.input_shape_ == (C, T)


def test_bad_input_errors():
    X, y = power_task(40)
    with pytest.raises(ValueError, match="give 3-D X of shape .n_trials, n_channels, n_times."):
        small().fit(X.reshape(40, -1), y)
    with pytest.raises(ValueError, match="does not divide"):
        small(input_shape=(7, -1)).fit(X.reshape(40, -1), y)
    with pytest.raises(ValueError, match="input_shape must be"):
        small(input_shape=(C, 0)).fit(X.reshape(40, -1), y)
    with pytest.raises(ValueError, match="3-D .* or 2-D"):
        small().fit(X[..., None], y)
    # 3-D trials against an input_shape with -1: the given entry is checked (it was ignored)
    for shape in [(C - 1, -1), (-1, 47), (C - 1, 48)]:
        with pytest.raises(ValueError, match=re.escape(f"X has trials of shape ({C}, 48) but input_shape={shape}.")):
            small(input_shape=shape, max_iter=1).fit(X, y)
    assert small(input_shape=(C, -1), max_iter=1).fit(X, y).input_shape_ == (C, 48)
    est = small(max_iter=3).fit(X, y)
    with pytest.raises(ValueError, match="trials of shape \\(5, 48\\).*fitted on \\(6, 48\\)"):
        est.predict(X[:, :5])
    with pytest.raises(ValueError, match="trials of shape \\(5, 48\\)"):
        est.explain(X[:, :5])
    bad = X.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad)
    with pytest.raises(ValueError, match="NaN"):
        clone(est).fit(bad, y)
    with pytest.raises(ValueError, match="architecture"):
        small(architecture="deep").fit(X, y)


@pytest.mark.gpu
def test_cupy_input_matches_numpy():
    cp = pytest.importorskip("cupy")
    X, y = power_task(40)
    est = small(max_iter=5).fit(X, y)
    R = est.explain(cp.asarray(X))
    assert isinstance(R, cp.ndarray) and R.shape == X.shape
    assert_allclose(cp.asnumpy(R), est.explain(X), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ cropped training
def test_crops_the_network_sees_and_the_trial_scores_are_their_mean():
    X, y = power_task()
    est = small(crop_size=24, crop_stride=10).fit(X, y)
    assert_array_equal(est.crop_starts_, [0, 10, 20, 24])  # the last crop ends with the trial
    assert est.crop_size_ == 24 and est.input_shape_ == (C, T) and est.n_features_in_ == C * T
    assert est.net_.layers[0].output_shape[-1] == 24       # the network is built for crops
    crop_scores = [est.net_.predict(X[:5, :, s:s + 24]) for s in est.crop_starts_]
    assert_allclose(est.decision_function(X[:5]), np.mean(crop_scores, axis=0)[:, 0], rtol=1e-10)
    assert est.score(X, y) >= 0.9
    assert_array_equal(small(crop_size=24).fit(X, y).crop_starts_, [0, 6, 12, 18, 24])  # stride crop_size // 4
    assert small(crop_size=T).fit(X, y).crop_starts_ is None                           # the whole trial


@pytest.mark.parametrize("activation", ["relu", "square"])
def test_cropped_lrp0_on_a_bias_free_net_conserves_the_trial_score(activation):
    X, y = power_task()
    est = small(activation=activation, crop_size=30, crop_stride=6).fit(X, y)
    for layer in est.net_.layers:
        if "bias" in layer.params:
            layer.params["bias"] = np.zeros_like(layer.params["bias"])
    est.set_params(composite="zero")
    f = est.decision_function(X)
    R = est.explain(X, target=1)
    assert R.shape == X.shape
    assert_allclose(R.sum(axis=(1, 2)), f, rtol=1e-6, atol=1e-9)
    # an explicit output relevance goes through the mean over crops by the z-rule: it is conserved too
    Rt = est.explain(X[:6], target=np.tile([0.0, 2.0], (6, 1)))
    assert_allclose(Rt.sum(axis=(1, 2)), 2.0, rtol=1e-5)
    # the predicted class is the trial's, not each crop's
    assert_allclose(est.explain(X[:6]), est.explain(X[:6], target=est.predict(X[:6])), rtol=1e-12)


def test_cropped_gradient_methods_are_maps_of_the_trial_gradient():
    X, y = power_task(40)
    est = small(max_iter=5, crop_size=20, crop_stride=7).fit(X, y)
    x = X[:1].copy()
    g = assert_gradient_matches_finite_differences(est, x, seed=1)
    assert_allclose(est.explain(x, target=1, method="sensitivity"), g**2, rtol=1e-12)
    assert_allclose(est.explain(x, target=1, method="gradient_x_input"), g * x, rtol=1e-12)
    # an explicit output gradient: (0, 1) is the gradient of classes_[1]'s score
    assert_allclose(est.explain(x, target=np.array([[0.0, 1.0]]), method="gradient"), g, rtol=1e-12)


def test_cropped_early_stopping_holds_out_whole_trials(monkeypatch):
    """The validation split of cropped training holds out whole trials: it was drawn over crop rows, so that
    overlapping crops of one trial were on both sides and early stopping scored near-copies of training rows."""
    import sklrp.estimators._training as training

    splits = []
    split = training._validation_split

    def spy(*args, **kwargs):
        splits.append(split(*args, **kwargs))
        return splits[-1]

    monkeypatch.setattr(training, "_validation_split", spy)
    X, y = power_task(40)
    est = small(crop_size=36, crop_stride=4, max_iter=3, early_stopping=True, validation_fraction=0.25).fit(X, y)
    k = len(est.crop_starts_)  # crop rows are trial-major: trial i is rows i*k .. i*k + k - 1
    (tr, va), = splits
    assert len(tr) + len(va) == 40 * k and len(va) == 10 * k
    tr_trials, va_trials = set((tr // k).tolist()), set((va // k).tolist())
    assert not tr_trials & va_trials and len(va_trials) == 10
    assert {int(y[t]) for t in va_trials} == {0, 1}  # stratified by the trials' classes
    assert "_fit_groups" not in vars(est)
    splits.clear()
    small(max_iter=3, early_stopping=True, validation_fraction=0.25).fit(X, y)  # uncropped: samples are trials
    (tr, va), = splits
    assert len(tr) == 30 and len(va) == 10


def test_cropped_warm_start_save_load_and_errors(tmp_path):
    X, y = power_task(40)
    est = small(max_iter=3, crop_size=24, crop_stride=8).fit(X, y)
    est.set_params(warm_start=True, max_iter=2, crop_size=12).fit(X, y)  # the fitted crops are kept
    assert est.n_iter_ == 5 and est.crop_size_ == 24 and est.input_shape_ == (C, T)
    est.save(tmp_path / "crops.npz")
    loaded = sklrp.load_model(tmp_path / "crops.npz")
    assert_array_equal(loaded.crop_starts_, est.crop_starts_)
    assert loaded.input_shape_ == (C, T) and loaded.n_features_in_ == C * T
    assert_array_equal(loaded.explain(X[:4]), est.explain(X[:4]))
    with pytest.raises(ValueError, match="crop_size=60 is longer than the trials \\(48 samples\\)"):
        small(crop_size=60).fit(X, y)
    with pytest.raises(ValueError, match="crop_size"):
        small(crop_size=0).fit(X, y)
    with pytest.raises(ValueError, match="trials of shape \\(6, 40\\).*fitted on \\(6, 48\\)"):
        est.predict(X[:, :, :40])
    bad = X.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        small(crop_size=24).fit(bad, y)


@pytest.mark.gpu
def test_cupy_cropped_network_matches_numpy():
    cp = pytest.importorskip("cupy")
    X, y = power_task(40)
    est = small(max_iter=3, crop_size=24, crop_stride=8).fit(X, y)
    for method in ("lrp", "gradient_x_input"):
        R = est.explain(cp.asarray(X[:6]), method=method)
        assert isinstance(R, cp.ndarray) and R.shape == (6, C, T)
        assert_allclose(cp.asnumpy(R), est.explain(X[:6], method=method), rtol=1e-9, atol=1e-12)
    assert_allclose(cp.asnumpy(est.decision_function(cp.asarray(X))), est.decision_function(X), rtol=1e-9)


def test_cropped_fit_keeps_the_column_names_of_a_dataframe():
    """The crops have no column names: the network's validation of them dropped feature_names_in_, so predict on
    the training DataFrame warned and reordered columns were accepted silently."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    pd = pytest.importorskip("pandas")
    X, y = power_task(24)
    df = pd.DataFrame(X[:, :2].reshape(24, -1), columns=[f"c{i}" for i in range(2 * T)])
    est = small(input_shape=(2, T), crop_size=36, crop_stride=6, max_iter=2).fit(df, y)
    assert list(est.feature_names_in_) == list(df.columns) and est.n_features_in_ == 2 * T
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.predict(df)
        est.set_params(warm_start=True).fit(df, y)  # crops of a warm start: no warning about names either
        est.partial_fit(df, y)
    assert list(est.feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        est.predict(df[df.columns[::-1]])

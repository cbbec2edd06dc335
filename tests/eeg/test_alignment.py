"""EuclideanAlignment: whitened mean covariance, symmetric filters, subjects mapped to one space, errors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from sklrp import EEGDNNClassifier, explain
from sklrp.eeg import EuclideanAlignment

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def mixed_trials(n=30, channels=6, times=120, seed=0):
    rng = np.random.RandomState(seed)
    mixing = rng.normal(size=(channels, channels)) + 2 * np.eye(channels)
    return mixing @ rng.normal(size=(n, channels, times)), mixing


def mean_covariance(X):
    return np.einsum("nct,ndt->cd", X, X) / (X.shape[0] * X.shape[2])


def test_aligned_trials_have_the_identity_as_mean_covariance_and_filters_are_the_symmetric_inverse_root():
    X, _ = mixed_trials()
    ea = EuclideanAlignment(reg=0).fit(X)
    Z = ea.transform(X)
    assert Z.shape == X.shape
    assert_allclose(mean_covariance(Z), np.eye(6), atol=1e-10)
    assert_allclose(ea.filters_, ea.filters_.T, atol=1e-12)
    assert_allclose(ea.filters_ @ ea.reference_covariance_ @ ea.filters_, np.eye(6), atol=1e-10)
    assert_allclose(ea.filters_ @ ea.patterns_, np.eye(6), atol=1e-10)
    assert_allclose(ea.inverse_transform(Z), X, atol=1e-10)
    assert_allclose(ea.reference_covariance_, mean_covariance(X), rtol=1e-12)


def test_a_subject_seen_with_another_gain_or_rotated_sensors_lands_in_the_same_space():
    # alignment undoes a subject-wide gain exactly, and a rotation of the sensor space up to that rotation
    X1, _ = mixed_trials(seed=1)
    Z1 = EuclideanAlignment(reg=0).fit_transform(X1)
    assert_allclose(EuclideanAlignment(reg=0).fit_transform(7.5 * X1), Z1, atol=1e-10)
    Q, _ = np.linalg.qr(np.random.RandomState(3).normal(size=(6, 6)))
    Z2 = EuclideanAlignment(reg=0).fit_transform(Q @ X1)
    assert_allclose(Z2, Q @ Z1, atol=1e-10)
    assert not np.allclose(Z2, Z1, atol=1e-3)


def test_shrinkage_and_float32_and_rank_deficient_data():
    X, _ = mixed_trials()
    X32 = X.astype(np.float32)
    Z = EuclideanAlignment().fit_transform(X32)
    assert Z.dtype == np.float32
    reg = EuclideanAlignment(reg=0.5).fit(X)
    C = reg.reference_covariance_
    target = 0.5 * C + 0.5 * np.trace(C) / 6 * np.eye(6)
    assert_allclose(reg.filters_ @ target @ reg.filters_, np.eye(6), atol=1e-10)
    # an average reference makes the covariance singular: reg=0 refuses, the default shrinkage copes
    Xavg = X - X.mean(axis=1, keepdims=True)
    with pytest.raises(ValueError, match="singular.*reg > 0"):
        EuclideanAlignment(reg=0).fit(Xavg)
    assert np.all(np.isfinite(EuclideanAlignment().fit_transform(Xavg)))


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros((4, 3)), "shape \\(n_trials, n_channels, n_times\\)"),
        (np.zeros((0, 3, 5)), "empty"),
        (np.full((4, 3, 5), np.nan), "NaN or infinity"),
        (np.zeros((4, 3, 5)), "no variance"),
        (np.array([[["a"]]]), "real numbers"),
    ],
)
def test_bad_input_is_named(X, match):
    with pytest.raises(ValueError, match=match):
        EuclideanAlignment().fit(X)


def test_transform_checks_fitted_and_channel_count():
    X, _ = mixed_trials()
    with pytest.raises(NotFittedError):
        EuclideanAlignment().transform(X)
    ea = EuclideanAlignment().fit(X)
    with pytest.raises(ValueError, match="X has 5 channels but EuclideanAlignment was fitted on 6"):
        ea.transform(X[:, :5])
    X_bad = X.copy()
    X_bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        ea.transform(X_bad)
    with pytest.raises(ValueError, match="reg"):
        EuclideanAlignment(reg=1.5).fit(X)


def test_in_a_pipeline_before_the_network():
    X, _ = mixed_trials(n=40, seed=2)
    y = np.repeat([0, 1], 20)
    X[y == 1, 2] *= 3  # class 1: more power on channel 2
    pipe = make_pipeline(EuclideanAlignment(), EEGDNNClassifier(activation="square", n_temporal_filters=1,
                                                                temporal_kernel=1, n_spatial_filters=2,
                                                                pool_size=120, pool_stride=120, dropout=0.0,
                                                                max_iter=60, batch_size=8, random_state=0))
    pipe.fit(X, y)
    assert pipe.score(X, y) >= 0.9
    R = explain(pipe, X[:5])
    assert R.shape == (5, 6, 120) and np.all(np.isfinite(R))
    assert clone(pipe[0]).get_params() == {"reg": 1e-3}

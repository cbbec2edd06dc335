"""Tests of sklrp.metrics.perturbation_curve and aopc_score."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.metrics import aopc_score, perturbation_curve
from sklrp.metrics._perturbation import _patch_ids


class FixedLinear(ClassifierMixin, BaseEstimator):
    """A 'fitted' linear classifier with given weights: f(x) = x W^T + b."""

    def __init__(self, W, b=None, input_shape=None, record=False):
        self.W = W
        self.b = b
        self.input_shape = input_shape
        self.record = record

    def fit(self, X=None, y=None):
        self.coef_ = np.asarray(self.W, dtype=float)
        self.intercept_ = np.zeros(len(self.coef_)) if self.b is None else np.asarray(self.b, dtype=float)
        self.classes_ = np.arange(len(self.coef_))
        if self.input_shape is not None:
            self.input_shape_ = tuple(self.input_shape)
        self.seen_ = []
        return self

    def decision_function(self, X):
        if self.record:
            self.seen_.append(np.array(X, copy=True))
        return X @ self.coef_.T + self.intercept_

    def predict_proba(self, X):
        z = self.decision_function(X)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------- formula
def test_aopc_matches_hand_computation():
    # f_0(x) = x1 + x2 + x3 + x4 + 0.5, x = (1, 2, 3, 4): R = x * w = (1, 2, 3, 4).
    # MoRF removes x4, x3, x2, x1 (replacement 0): f = 10.5, 6.5, 3.5, 1.5, 0.5
    # drops f(x0) - f(xk), k = 1..4: 4, 7, 9, 10
    est = FixedLinear([[1, 1, 1, 1], [0, 0, 0, 0]], b=[0.5, 0.0]).fit()
    X = np.array([[1.0, 2.0, 3.0, 4.0]])
    R = X * est.coef_[0]
    res = perturbation_curve(est, X, R, replacement=0.0, target=0)
    np.testing.assert_allclose(res.curve, [10.5, 6.5, 3.5, 1.5, 0.5])
    np.testing.assert_allclose(res.fraction_perturbed, [0, 0.25, 0.5, 0.75, 1.0])
    assert res.aopc == pytest.approx((4 + 7 + 9 + 10) / 4)
    assert aopc_score(est, X, R, replacement=0.0, target=0) == pytest.approx(7.5)
    # the 1 / (L + 1) sum_{k=0}^{L} form
    assert aopc_score(est, X, R, replacement=0.0, target=0, include_start=True) == pytest.approx(30 / 5)
    # fewer steps: only k = 1, 2
    assert aopc_score(est, X, R, replacement=0.0, target=0, n_steps=2) == pytest.approx((4 + 7) / 2)
    # LeRF removes x1 first: drops 1, 3, 6, 10
    assert aopc_score(est, X, R, replacement=0.0, target=0, order="lerf") == pytest.approx(5.0)
    # two steps of two patches: drops 7, 10
    res2 = perturbation_curve(est, X, R, replacement=0.0, target=0, patches_per_step=2)
    np.testing.assert_allclose(res2.curve, [10.5, 3.5, 0.5])
    assert res2.n_steps == 2


def test_per_sample_curves_and_target():
    est = FixedLinear([[1, 0], [0, 1]]).fit()
    X = np.array([[3.0, 1.0], [1.0, 5.0]])
    R = X.copy()  # relevance for each sample's own predicted class up to ordering
    res = perturbation_curve(est, X, R, replacement=0.0)
    np.testing.assert_array_equal(res.target, [0, 1])  # predicted classes
    # sample 0 tracks f_0 = x1: MoRF removes x1 (R=3) first -> 0
    np.testing.assert_allclose(res.curves[0], [3.0, 0.0, 0.0])
    np.testing.assert_allclose(res.curves[1], [5.0, 0.0, 0.0])
    np.testing.assert_allclose(res.curve, [4.0, 0.0, 0.0])
    np.testing.assert_allclose(res.aopc_per_sample, [3.0, 5.0])
    # explicit target label for all samples
    res = perturbation_curve(est, X, R, replacement=0.0, target=1)
    np.testing.assert_allclose(res.curves[:, 0], [1.0, 5.0])


def test_proba_score():
    est = FixedLinear([[1, 1], [0, 0]]).fit()
    X = np.array([[1.0, 2.0]])
    res = perturbation_curve(est, X, X.copy(), replacement=0.0, target=0, score="proba")
    expected = 1 / (1 + np.exp(-np.array([3.0, 1.0, 0.0])))
    np.testing.assert_allclose(res.curve, expected)


def test_morf_beats_random_beats_lerf_linear_model():
    rng = np.random.RandomState(0)
    W = rng.normal(size=(3, 20))
    est = FixedLinear(W).fit()
    X = rng.uniform(0, 1, size=(200, 20))
    t = est.decision_function(X).argmax(axis=1)
    R = X * W[t]  # exact decomposition of the target score (no bias)
    kw = dict(replacement=0.0, n_steps=10, random_state=0)
    morf = aopc_score(est, X, R, **kw)
    rand = aopc_score(est, X, None, **kw)
    lerf = aopc_score(est, X, R, order="lerf", **kw)
    assert morf > rand > lerf
    # with exact relevance and replacement 0, MoRF is optimal among orderings at every step
    res_m = perturbation_curve(est, X, R, **kw)
    res_r = perturbation_curve(est, X, None, **kw)
    assert np.all(res_m.curves <= res_r.curves + 1e-12)


# ------------------------------------------------------------------- patches
def test_patch_ids_dividing_and_clipped():
    pid, n, patch = _patch_ids((1, 4, 4), 2)
    assert n == 4 and patch == (2, 2)
    np.testing.assert_array_equal(
        pid.reshape(4, 4), [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    )
    pid, n, patch = _patch_ids((2, 4, 5), (3, 2))  # clipped edge patches
    assert n == 2 * 3
    grid = pid.reshape(2, 4, 5)
    np.testing.assert_array_equal(grid[0], grid[1])  # same patch in every channel
    np.testing.assert_array_equal(grid[0], [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5]])
    pid, n, _ = _patch_ids((3, 10), 4)  # 1-D signal with 3 channels
    assert n == 3
    np.testing.assert_array_equal(pid.reshape(3, 10)[2], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2])


def test_patch_relevance_is_summed_over_patch_and_channels():
    # 1 x 4 x 4 image, 2x2 patches. The single largest pixel lies in patch 0,
    # but patch 3 has the larger sum: MoRF must perturb patch 3 first.
    W = np.ones((2, 16))
    W[1] = 0
    est = FixedLinear(W, input_shape=(1, 4, 4), record=True).fit()
    X = np.ones((1, 16))
    R = np.zeros((1, 16))
    R[0, 0] = 5.0  # patch 0
    R[0, [10, 11, 14, 15]] = 2.0  # patch 3, sum 8
    res = perturbation_curve(est, X, R, patch_size=2, replacement=0.0, target=0, n_steps=1)
    first = est.seen_[-1][0].reshape(4, 4)
    expected = np.ones((4, 4))
    expected[2:, 2:] = 0
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_allclose(res.curve, [16.0, 12.0])
    assert res.n_patches == 4

    # two channels: relevance summed across channels, both channels perturbed together
    est2 = FixedLinear(np.ones((2, 8)), input_shape=(2, 2, 2), record=True).fit()
    X2 = np.ones((1, 8))
    R2 = np.array([[3.0, 0, 0, 0, -1.0, 0, 0, 4.0]])  # pixel 0: 3 - 1 = 2; pixel 3: 0 + 4 = 4
    perturbation_curve(est2, X2, R2, replacement=0.0, target=0, n_steps=1)
    np.testing.assert_array_equal(est2.seen_[-1][0].reshape(2, 2, 2)[:, 1, 1], [0.0, 0.0])
    assert est2.seen_[-1][0].sum() == 6.0


def test_explicit_input_shape_overrides():
    est = FixedLinear(np.ones((2, 16))).fit()  # no input_shape_
    X = np.ones((2, 16))
    res = perturbation_curve(est, X, X.copy(), input_shape=(1, 4, 4), patch_size=(2, 4), target=0)
    assert res.n_patches == 2 and res.input_shape == (1, 4, 4)
    res = perturbation_curve(est, X, X.copy(), target=0)
    assert res.n_patches == 16 and res.input_shape == (1, 16)


# --------------------------------------------------------------- replacement
@pytest.mark.parametrize(
    "kwargs, check",
    [
        ({"replacement": -7.0}, lambda v: np.all(v == -7.0)),
        ({"replacement": "uniform", "low": 5.0, "high": 6.0}, lambda v: np.all((v >= 5) & (v <= 6))),
        ({"replacement": "uniform"}, lambda v: np.all((v >= 0) & (v <= 1)) and v.std() > 0.1),
        ({"replacement": "normal", "loc": 100.0, "scale": 1.0}, lambda v: abs(v.mean() - 100) < 0.5),
    ],
)
def test_replacement_modes(kwargs, check):
    rng = np.random.RandomState(0)
    est = FixedLinear(np.ones((2, 50)), record=True).fit()
    X = np.round(rng.uniform(0, 1, size=(10, 50)), 1)
    X[:, 0] = 0.0
    X[:, 1] = 1.0  # range of X is [0, 1]
    R = rng.normal(size=X.shape)
    perturbation_curve(est, X, R, target=0, n_steps=50, random_state=0, **kwargs)
    last = est.seen_[-1]  # every feature replaced after the last step
    assert check(last)


def test_noise_is_fixed_per_feature_across_steps():
    est = FixedLinear(np.ones((2, 6)), record=True).fit()
    X = np.zeros((3, 6))
    R = np.arange(18.0).reshape(3, 6)
    perturbation_curve(est, X, R, target=0, replacement="uniform", low=1.0, high=2.0, random_state=0)
    seen = est.seen_[1:]  # [0] is the unperturbed call
    for a, b in zip(seen[:-1], seen[1:]):
        changed = a != 0
        np.testing.assert_array_equal(a[changed], b[changed])  # earlier patches keep their values


def test_random_state_reproducible():
    rng = np.random.RandomState(0)
    est = FixedLinear(rng.normal(size=(3, 30))).fit()
    X = rng.uniform(size=(20, 30))
    a = perturbation_curve(est, X, None, random_state=1).curves
    b = perturbation_curve(est, X, None, random_state=1).curves
    c = perturbation_curve(est, X, None, random_state=2).curves
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # n_repeats averages independent draws
    r3 = perturbation_curve(est, X, None, random_state=1, n_repeats=3)
    assert r3.curves.shape == (20, 31)


def test_ties_broken_at_random():
    est = FixedLinear(np.ones((2, 10)), record=True).fit()
    X = np.ones((1, 10))
    R = np.zeros((1, 10))
    firsts = set()
    for seed in range(6):
        est.seen_ = []
        perturbation_curve(est, X, R, target=0, replacement=0.0, n_steps=1, random_state=seed)
        firsts.add(int(np.flatnonzero(est.seen_[-1][0] == 0)[0]))
    assert len(firsts) > 1


def test_batch_size_gives_same_result():
    rng = np.random.RandomState(0)
    est = FixedLinear(rng.normal(size=(3, 12))).fit()
    X = rng.uniform(size=(17, 12))
    R = rng.normal(size=X.shape)
    a = perturbation_curve(est, X, R, replacement=0.0, random_state=0)
    b = perturbation_curve(est, X, R, replacement=0.0, random_state=0, batch_size=5)
    np.testing.assert_allclose(a.curves, b.curves)


# ----------------------------------------------------------- real estimators
def test_pipeline_binary_linear():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 6)) * 3 + 1
    y = (X[:, 0] + X[:, 1] > 2).astype(int)
    pipe = make_pipeline(StandardScaler(), LinearRelevanceClassifier(LogisticRegression())).fit(X, y)
    R = sklrp.explain(pipe, X)
    res = perturbation_curve(pipe, X, R, replacement=0.0)
    assert res.curves.shape == (60, 7)
    # perturbing in the scaled space: the unperturbed score is the target's raw score
    z = pipe.decision_function(X)
    expected = np.where(res.target == 1, z, -z)
    np.testing.assert_allclose(res.curves[:, 0], expected)
    rand = aopc_score(pipe, X, None, replacement=0.0, random_state=0)
    assert res.aopc > rand


def test_convnet_digits_smoke():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16
    y = y[:300]
    net = sklrp.ConvNetClassifier(input_shape=(1, 8, 8), filters=(4,), hidden_layer_sizes=(), max_iter=3,
                                  random_state=0)
    with pytest.warns(Warning):
        net.fit(X, y)
    R = net.explain(X[:20])
    res = perturbation_curve(net, X[:20], R, patch_size=2, random_state=0)
    assert res.n_patches == 16 and res.curve.shape == (17,)
    assert np.isfinite(res.aopc)
    res32 = perturbation_curve(net, X[:20].astype(np.float32), R.astype(np.float32), patch_size=2, random_state=0)
    np.testing.assert_allclose(res32.curve, res.curve, rtol=1e-3, atol=1e-3)


# -------------------------------------------------------------------- errors
@pytest.fixture
def lin():
    return FixedLinear(np.ones((2, 16)), input_shape=(1, 4, 4)).fit()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"R": np.ones((3, 15))}, "shape"),
        ({"R": np.full((3, 16), np.nan)}, "NaN"),
        ({"patch_size": 5}, "patch_size"),
        ({"patch_size": (2,)}, "patch_size"),
        ({"patch_size": 0}, "patch_size"),
        ({"patch_size": 1.5}, "patch_size"),
        ({"order": "most"}, "order"),
        ({"R": None, "order": "morf"}, "needs a relevance"),
        ({"replacement": "zeros"}, "replacement"),
        ({"replacement": "uniform", "low": 2.0, "high": 1.0}, "low"),
        ({"replacement": "normal", "scale": -1.0}, "scale"),
        ({"n_steps": 17}, "n_steps"),
        ({"n_steps": 0}, "n_steps"),
        ({"patches_per_step": 0}, "patches_per_step"),
        ({"score": "logit"}, "score"),
        ({"target": 5}, "not in classes_"),
        ({"target": [0, 1]}, "target"),
        ({"input_shape": (1, 3, 3)}, "input_shape"),
        ({"n_repeats": 0}, "n_repeats"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_errors(lin, kwargs, match):
    X = np.ones((3, 16))
    kwargs = dict(kwargs)
    R = kwargs.pop("R", np.ones((3, 16)))
    with pytest.raises(ValueError, match=match):
        perturbation_curve(lin, X, R, **kwargs)


def test_nan_in_X(lin):
    X = np.ones((3, 16))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        perturbation_curve(lin, X, np.ones((3, 16)))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        aopc_score(sklrp.DenseNetClassifier(), np.ones((2, 4)), np.ones((2, 4)))


@pytest.mark.gpu
def test_cupy_matches_numpy():
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:  # pragma: no cover - depends on the machine
        pytest.skip("no CUDA device")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X[:200] / 16).astype(np.float32)
    net = sklrp.DenseNetClassifier((16,), max_iter=5, random_state=0).fit(X, y[:200])
    R = net.explain(X[:30])
    a = perturbation_curve(net, X[:30], R, random_state=0, n_steps=8)
    b = perturbation_curve(net, cp.asarray(X[:30]), cp.asarray(R), random_state=0, n_steps=8)
    assert isinstance(b.curve, np.ndarray)
    np.testing.assert_allclose(a.curves, b.curves, rtol=1e-4, atol=1e-4)

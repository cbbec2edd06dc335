"""DenseNetClassifier and ConvNetClassifier: scikit-learn API, explain contract,
persistence, training options, bad input, and the digits acceptance figures."""

import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import sklrp
from sklrp import ConvNetClassifier, DenseNetClassifier
from sklrp.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, SumPool2D
from sklrp.rules import Composite, Epsilon, Flat

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # the nets multiply many small matrices: BLAS threads only contend on a shared machine
    with threadpool_limits(1, user_api="blas"):
        yield


FAST = dict(max_iter=30, learning_rate_init=1e-2, random_state=0)


def dense(**kw):
    return DenseNetClassifier(**{"hidden_layer_sizes": (16,), **FAST, **kw})


def conv(**kw):
    return ConvNetClassifier(**{"filters": (4,), "hidden_layer_sizes": (8,), **FAST, **kw})


@pytest.fixture(scope="module")
def data3():
    X, y = make_classification(n_samples=150, n_features=16, n_informative=8, n_redundant=0,
                               n_classes=3, n_clusters_per_class=1, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def data2():
    X, y = make_classification(n_samples=100, n_features=16, n_informative=6, n_redundant=0, random_state=1)
    return X, y


def fitted(kind, X, y, **kw):
    with threadpool_limits(1, user_api="blas"):
        if kind == "dense":
            return dense(**kw).fit(X, y)
        return conv(input_shape=(1, 4, 4), **kw).fit(X, y)


# --------------------------------------------------------------------------- scikit-learn common checks
@parametrize_with_checks(
    [
        DenseNetClassifier(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=1e-2, random_state=0),
        ConvNetClassifier(filters=(4,), hidden_layer_sizes=(8,), max_iter=30, learning_rate_init=1e-2, random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_conv_without_input_shape_is_a_one_channel_signal(data3):
    X, y = data3
    est = conv().fit(X, y)
    assert est.input_shape_ == (1, 16)
    assert est.explain(X[:4]).shape == (4, 16)


# --------------------------------------------------------------------------- clone, set_params, Pipeline, grid search
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_clone_and_set_params_change_explanations(kind, data3):
    X, y = data3
    est = fitted(kind, X, y, composite="epsilon")
    c = clone(est)
    assert not hasattr(c, "net_") and c.get_params() == est.get_params()
    R_eps = est.explain(X[:10])
    est.set_params(composite="flat")
    R_flat = est.explain(X[:10])
    assert not np.allclose(R_eps, R_flat)
    est.set_params(composite=Composite({"default": Flat()}))
    assert_allclose(est.explain(X[:10]), R_flat, rtol=1e-10)
    est.set_params(composite=Composite({"default": Epsilon(1e-6)}, first=Flat()))
    R_first = est.explain(X[:10])
    if kind == "dense":  # flat at a dense input layer: uniform over the features
        assert_allclose(R_first, np.repeat(R_first[:, :1], 16, axis=1))
    est.set_params(composite="epsilon", epsilon=1e3)
    assert not np.allclose(est.explain(X[:10]), R_eps)
    est.set_params(epsilon=1e-6)
    assert_allclose(est.explain(X[:10]), R_eps, rtol=1e-12)
    est.set_params(method="gradient_x_input")
    R_gi = est.explain(X[:10])
    assert_allclose(est.explain(X[:10], method="lrp"), R_eps, rtol=1e-12)  # per-call override
    est.set_params(method="lrp")
    assert_allclose(est.explain(X[:10], method="gradient_x_input"), R_gi)


def test_pipeline_explains_last_step_input_space(data3):
    X, y = data3
    pipe = make_pipeline(StandardScaler(), dense()).fit(X * 10 + 3, y)
    Xt = pipe[:-1].transform(X * 10 + 3)
    R = sklrp.explain(pipe, X * 10 + 3)
    assert R.shape == X.shape
    assert_allclose(R, pipe[-1].explain(Xt))
    assert_allclose(sklrp.explain(pipe, X * 10 + 3, target=1, method="sensitivity"),
                    pipe[-1].explain(Xt, target=1, method="sensitivity"))
    # a plain estimator works too; one without explain gets a clear TypeError
    assert_allclose(sklrp.explain(pipe[-1], Xt, target=2), pipe[-1].explain(Xt, target=2))
    with pytest.raises(TypeError, match="has no explain method"):
        sklrp.explain(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X)


def test_grid_search(data3):
    X, y = data3
    grid = GridSearchCV(dense(), {"hidden_layer_sizes": [(4,), (32,)], "composite": ["epsilon", "flat"]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["hidden_layer_sizes"] in [(4,), (32,)]
    assert grid.best_estimator_.explain(X[:3]).shape == (3, 16)
    conv_grid = GridSearchCV(conv(input_shape=(1, 4, 4)), {"filters": [(2,), (4,)]}, cv=2).fit(X, y)
    assert conv_grid.score(X, y) > 0.5


# --------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_pickle_round_trip(kind, data3):
    X, y = data3
    est = fitted(kind, X, y)
    est.explain(X[:2])
    est2 = pickle.loads(pickle.dumps(est))
    assert_array_equal(est2.predict(X), est.predict(X))
    assert_array_equal(est2.predict_proba(X), est.predict_proba(X))
    assert_array_equal(est2.explain(X[:20]), est.explain(X[:20]))
    assert_array_equal(est2.explain(X[:20], method="guided_backprop"), est.explain(X[:20], method="guided_backprop"))


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_safe_save_load_round_trip(kind, dtype, data3, tmp_path):
    X, y = data3
    X = X.astype(dtype)
    labels = np.array(["cat", "dog", "emu"])[y]
    est = fitted(kind, X, labels, composite="epsilon_plus_flat", epsilon=0.01)
    path = tmp_path / "model.npz"
    est.save(path)
    with np.load(path, allow_pickle=False) as data:  # nothing in the file needs unpickling
        assert "config" in data.files
    for loaded in (sklrp.load_model(path), type(est).load(path)):
        assert type(loaded) is type(est)
        assert loaded.get_params() == est.get_params()
        assert_array_equal(loaded.classes_, est.classes_)
        assert_array_equal(loaded.predict(X), est.predict(X))
        assert_array_equal(loaded.decision_function(X), est.decision_function(X))
        for method in ("lrp", "sensitivity", "gradient_x_input"):
            R = loaded.explain(X[:15], target="dog", method=method)
            assert R.dtype == dtype
            assert_array_equal(R, est.explain(X[:15], target="dog", method=method))
        assert loaded.n_iter_ == est.n_iter_ and loaded.history_ == est.history_
    other = DenseNetClassifier if kind == "conv" else ConvNetClassifier
    with pytest.raises(ValueError, match="not a"):
        other.load(path)


def test_save_load_custom_layers_and_refuses_unsafe_settings(data3, tmp_path):
    X, y = data3
    layers = [Conv2D(3, 2, padding="same"), ReLU(), SumPool2D(2), Flatten(), Dense(3)]
    est = ConvNetClassifier(input_shape=(1, 4, 4), layers=layers, **FAST).fit(X, y)
    est.save(tmp_path / "m.npz")
    loaded = sklrp.load_model(tmp_path / "m.npz")
    assert_array_equal(loaded.explain(X), est.explain(X))
    est.set_params(composite=Composite({"default": Epsilon(0.1)}))
    with pytest.raises(ValueError, match="Only named composites can be saved"):
        est.save(tmp_path / "bad.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an sklrp model"):
        sklrp.load_model(tmp_path / "foreign.npz")
    with pytest.raises(NotFittedError):
        dense().save(tmp_path / "unfitted.npz")


# --------------------------------------------------------------------------- explain contract
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_explain_targets(kind, data3):
    X, y = data3
    est = fitted(kind, X, y)
    Xs = X[:12]
    R = est.explain(Xs)
    assert isinstance(R, np.ndarray) and R.shape == Xs.shape and R.dtype == np.float64
    pred = est.predict(Xs)
    assert_allclose(R, est.explain(Xs, target=pred))  # None = predicted class
    R1 = est.explain(Xs, target=1)
    assert_allclose(R1, est.explain(Xs, target=np.ones(12, dtype=int)))
    per = np.array([0, 1, 2] * 4)
    R_per = est.explain(Xs, target=per)
    for c in range(3):
        assert_allclose(R_per[per == c], est.explain(Xs[per == c], target=c))
    # explicit output relevance: the raw score of each sample's class, as LRP's start
    scores = est.decision_function(Xs)
    onehot = np.eye(3)[per]
    assert_allclose(est.explain(Xs, target=onehot * scores), R_per, rtol=1e-10)
    # LRP is linear in the output relevance
    assert_allclose(est.explain(Xs, target=2 * onehot * scores), 2 * R_per, rtol=1e-10)
    # for gradient methods a 2-D target is the output gradient
    assert_allclose(est.explain(Xs, target=onehot, method="gradient"), est.explain(Xs, target=per, method="gradient"))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_explain_methods(kind, data3):
    X, y = data3
    est = fitted(kind, X, y)
    Xs = X[:10]
    g = est.explain(Xs, target=0, method="gradient")
    assert_allclose(est.explain(Xs, target=0, method="sensitivity"), g**2)
    assert_allclose(est.explain(Xs, target=0, method="gradient_x_input"), g * Xs)
    # gradient against finite differences of the raw score
    h = 1e-6
    for i in range(3):
        num = np.zeros(16)
        for j in range(16):
            e = np.zeros(16)
            e[j] = h
            num[j] = (est.decision_function(Xs[i : i + 1] + e)[0, 0] - est.decision_function(Xs[i : i + 1] - e)[0, 0]) / (2 * h)
        assert_allclose(g[i], num, rtol=1e-5, atol=1e-8)
    for method in ("deconvnet", "guided_backprop"):
        R = est.explain(Xs, target=0, method=method)
        assert R.shape == Xs.shape and np.all(np.isfinite(R))
    for comp in ("zero", "epsilon", "gamma", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box",
                 "alpha2_beta1", "alpha1_beta0", "deep_taylor", "flat", "alpha_beta"):
        est.set_params(composite=comp)
        R = est.explain(Xs)
        assert R.shape == Xs.shape and np.all(np.isfinite(R)), comp


def _bias_free_conv(n_out, **kw):
    layers = [Conv2D(4, 3, padding="same", use_bias=False), ReLU(), MaxPool2D(2), Flatten(),
              Dense(8, use_bias=False), ReLU(), Dense(n_out, use_bias=False)]
    return ConvNetClassifier(input_shape=(1, 4, 4), layers=layers, composite="zero", **{**FAST, **kw})


def test_lrp_starts_from_the_raw_score_and_conserves(data3):
    X, y = data3
    est = _bias_free_conv(3).fit(X, y)
    R = est.explain(X)
    z = est.decision_function(X)
    pred = np.argmax(z, axis=1)
    assert_allclose(R.sum(axis=1), z[np.arange(len(X)), pred], rtol=1e-6)
    assert_allclose(est.explain(X, target=2).sum(axis=1), z[:, 2], rtol=1e-6)
    assert_allclose(R, est.explain(X, method="gradient_x_input"), rtol=1e-8, atol=1e-12)


def test_binary_one_output_and_class0_score_is_minus_f(data2):
    X, y = data2
    labels = np.where(y == 1, "yes", "no")
    est = _bias_free_conv(1).fit(X, labels)
    assert est.net_.output_shape == (1,)
    f = est.decision_function(X)
    assert f.shape == (len(X),)
    R_yes, R_no = est.explain(X, target="yes"), est.explain(X, target="no")
    assert_allclose(R_yes.sum(axis=1), f, rtol=1e-6)
    assert_allclose(R_no.sum(axis=1), -f, rtol=1e-6)
    assert_allclose(R_no, -R_yes)
    R = est.explain(X)
    pred = est.predict(X)
    assert_allclose(R[pred == "yes"], R_yes[pred == "yes"])
    assert_allclose(R[pred == "no"], R_no[pred == "no"])
    assert np.all(R.sum(axis=1) >= -1e-12)  # the predicted class has a non-negative score
    # explicit 2-D relevance (n, 2 classes)
    assert_allclose(est.explain(X, target=np.c_[np.zeros_like(f), f]), R_yes, rtol=1e-10)
    assert_allclose(est.explain(X, target=np.c_[-f, np.zeros_like(f)]), R_no, rtol=1e-10)
    # for gradient methods the 2-D target is the gradient of the class scores: d(-f)/dx for class 0
    g_yes = est.explain(X, target="yes", method="gradient")
    assert_allclose(est.explain(X, target=np.c_[np.ones_like(f), np.zeros_like(f)], method="gradient"), -g_yes)
    assert_allclose(est.explain(X, target=np.c_[np.zeros_like(f), np.ones_like(f)], method="gradient"), g_yes)
    # the default nets with biases: same sign rule
    d = dense().fit(X, labels)
    assert_allclose(d.explain(X, target="no", method="gradient"), -d.explain(X, target="yes", method="gradient"))
    assert_allclose(d.predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(kind, dtype, data3):
    X, y = data3
    X = X.astype(dtype)
    est = fitted(kind, X, y)
    assert all(v.dtype == dtype for layer in est.net_.layers for v in layer.params.values())
    for out in (est.explain(X[:5]), est.explain(X[:5], method="sensitivity"), est.predict_proba(X[:5]),
                est.decision_function(X[:5])):
        assert out.dtype == dtype


# --------------------------------------------------------------------------- training options
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_warm_start_continues_training(kind, data3):
    X, y = data3
    est = fitted(kind, X, y, max_iter=5, tol=0.0)
    w0 = est.net_.layers[0].params["weight"].copy()
    assert est.n_iter_ == 5
    est.set_params(warm_start=True)
    est.fit(X, y)
    assert est.n_iter_ == 10 and len(est.history_["loss"]) == 10
    assert not np.allclose(est.net_.layers[0].params["weight"], w0)
    # without warm_start a refit starts again from the same initialisation
    est.set_params(warm_start=False)
    est.fit(X, y)
    assert est.n_iter_ == 5
    fresh = fitted(kind, X, y, max_iter=5, tol=0.0)
    assert_allclose(est.net_.layers[0].params["weight"], fresh.net_.layers[0].params["weight"])


def test_partial_fit(data3):
    X, y = data3
    est = dense()
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])
    assert_array_equal(est.classes_, [0, 1, 2]) and est.n_iter_ == 1
    losses = []
    for _ in range(15):
        est.partial_fit(X, y)
        losses.append(est.loss_)
    assert est.n_iter_ == 16 and losses[-1] < losses[0]
    assert est.score(X, y) > 0.7
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X[:5], np.full(5, 7))
    # later calls may repeat classes (in any order) but not change them (they were ignored)
    est.partial_fit(X, y, classes=[2, 0, 1])
    assert est.n_iter_ == 17
    msg = "classes=[0, 1, 2, 3] differs from the fitted classes_ [0, 1, 2]"
    with pytest.raises(ValueError, match=re.escape(msg)):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert est.n_iter_ == 17 and est.classes_.tolist() == [0, 1, 2]


def test_early_stopping_records_history(data3):
    X, y = data3
    est = dense(early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, max_iter=200).fit(X, y)
    h = est.history_
    assert len(h["loss"]) == len(h["val_loss"]) == len(h["val_score"]) == est.n_iter_
    assert est.n_iter_ < 200
    assert est.best_validation_score_ == max(h["val_score"])
    assert all(0 <= s <= 1 for s in h["val_score"])


def test_plain_run_records_loss_and_warns_when_not_converged(data3):
    X, y = data3
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        est = dense(max_iter=3, tol=0.0).fit(X, y)
    assert len(est.history_["loss"]) == 3 and est.history_["val_score"] == []
    assert est.loss_ == est.history_["loss"][-1]
    est = dense(solver="sgd", learning_rate_init=0.05, max_iter=40).fit(X, y)
    assert est.score(X, y) > 0.8


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_verbose_progress_bar(kind, data3, capsys):
    X, y = data3
    est = fitted(kind, X, y, verbose=True, max_iter=3, early_stopping=True)
    err = capsys.readouterr().err
    assert type(est).__name__ in err and "epoch" in err and "val_acc" in err
    fitted(kind, X, y, verbose=False, max_iter=3)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("pool_everything", [False, True])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_explain_in_chunks_equals_one_pass(kind, pool_everything, data3, monkeypatch):
    X, y = data3
    if pool_everything:  # the chunks' workspace hands out every array again, however small
        import sklrp._backend

        monkeypatch.setattr(sklrp._backend, "_POOL_MIN_BYTES", 0)
    est = fitted(kind, X, y)
    per = np.arange(len(X)) % 3
    scores = est.decision_function(X)
    whole = [est.explain(X), est.explain(X, target=per), est.explain(X, target=np.eye(3)[per] * scores),
             est.explain(X, target=per, method="sensitivity"), est.predict_proba(X)]
    est._chunk_size = 7  # 150 samples -> 22 chunks, the last one short
    chunked = [est.explain(X), est.explain(X, target=per), est.explain(X, target=np.eye(3)[per] * scores),
               est.explain(X, target=per, method="sensitivity"), est.predict_proba(X)]
    for a, b in zip(whole, chunked):
        assert_allclose(b, a, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("pool", ["max", "avg", "sum"])
@pytest.mark.parametrize("shape", [(2, 8), (1, 4, 4)])
def test_conv_architectures(pool, shape, data3):
    X, y = data3
    est = ConvNetClassifier(input_shape=shape, pool=pool, padding="valid" if len(shape) == 2 else "same",
                            filters=(3, 3), **FAST).fit(X, y)
    assert est.score(X, y) > 0.6
    assert est.explain(X[:3], method="lrp").shape == (3, 16)


# --------------------------------------------------------------------------- digits acceptance
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


def test_digits_dense_accuracy(digits):
    Xtr, Xte, ytr, yte = digits
    est = DenseNetClassifier(hidden_layer_sizes=(256,), dropout=0.2, batch_size=32, max_iter=80, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        acc = est.fit(Xtr, ytr).score(Xte, yte)
    print(f"DenseNetClassifier digits test accuracy: {acc:.4f}")
    assert acc >= 0.97


def test_digits_conv_accuracy(digits):
    Xtr, Xte, ytr, yte = digits
    est = ConvNetClassifier(input_shape=(1, 8, 8), batch_size=32, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        acc = est.fit(Xtr, ytr).score(Xte, yte)
    print(f"ConvNetClassifier digits test accuracy: {acc:.4f}")
    assert acc >= 0.98
    R = est.explain(Xte[:8])
    assert R.shape == (8, 64) and np.all(np.isfinite(R))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_bad_input_errors(kind, data3):
    X, y = data3
    est = dense() if kind == "dense" else conv(input_shape=(1, 4, 4))
    with pytest.raises(NotFittedError):
        est.explain(X)
    with pytest.raises(NotFittedError):
        est.predict(X)
    Xnan = X.copy()
    Xnan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(est).fit(Xnan, y)
    est.fit(X, y)
    Xinf = X[:5].copy()
    Xinf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        est.explain(Xinf)
    with pytest.raises(ValueError, match="infinity"):
        est.predict(Xinf)
    with pytest.raises(ValueError, match="X has 15 features, but .* is expecting 16 features"):
        est.explain(X[:, :15])
    with pytest.raises(ValueError, match="X has 15 features"):
        est.predict(X[:, :15])
    with pytest.raises(ValueError, match="Unknown explanation method 'saliency'"):
        est.explain(X, method="saliency")
    with pytest.raises(ValueError, match=re.escape("Unknown target label(s) [7]; not in classes_ [0, 1, 2]")):
        est.explain(X[:3], target=7)
    with pytest.raises(ValueError, match="not in classes_"):
        est.explain(X[:3], target=[0, 1, 9])
    with pytest.raises(ValueError, match="one label per sample"):
        est.explain(X[:3], target=[0, 1])
    with pytest.raises(ValueError, match=re.escape("shape (n_samples, n_classes) = (3, 3)")):
        est.explain(X[:3], target=np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.explain(X[:3], target=np.full((3, 3), np.nan))
    est.set_params(composite="nope")
    with pytest.raises(ValueError, match="Unknown composite 'nope'"):
        est.explain(X[:3])
    with pytest.raises(ValueError, match="composite"):
        clone(est).fit(X, y)  # parameter validation at fit
    est.set_params(composite={"dense": "nope"})
    with pytest.raises(ValueError, match="Unknown LRP rule 'nope'"):
        est.explain(X[:3])
    est.set_params(composite={"lstm": "epsilon"})
    with pytest.raises(ValueError, match="Unknown layer kind"):
        est.explain(X[:3])
    est.set_params(composite="alpha_beta", alpha=1.0, beta=1.0)
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        est.explain(X[:3])
    with pytest.raises(ValueError, match="method"):
        clone(est).set_params(composite="epsilon", method="nope").fit(X, y)


def test_input_shape_errors(data3):
    X, y = data3
    with pytest.raises(ValueError, match=r"input_shape=\(1, 3, 3\) holds 9 values but X has 16 features"):
        ConvNetClassifier(input_shape=(1, 3, 3), **FAST).fit(X, y)
    with pytest.raises(ValueError, match="input_shape must be"):
        ConvNetClassifier(input_shape=(16,), **FAST).fit(X, y)
    with pytest.raises(ValueError, match="input_shape must be"):
        ConvNetClassifier(input_shape=(1, 0, 16), **FAST).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive integers"):
        DenseNetClassifier(hidden_layer_sizes=(0,), **FAST).fit(X, y)
    with pytest.raises(ValueError, match="layers must be a list of sklrp.nn.Layer"):
        ConvNetClassifier(layers=["conv"], **FAST).fit(X, y)
    with pytest.raises(ValueError, match="requires y to be passed"):
        DenseNetClassifier(**FAST).fit(X, None)
    with pytest.raises(ValueError, match="at least 2 classes"):
        DenseNetClassifier(**FAST).fit(X, np.zeros(len(X)))


def test_diverging_training_raises_instead_of_returning_nan(data3):
    """As scikit-learn's MLPClassifier: non-finite weights stop fit with a clear error."""
    X, y = data3
    y2 = (y > 0).astype(int)
    with pytest.raises(ValueError, match=r"DenseNetClassifier: the solver produced non-finite parameter weights "
                                         r"in epoch \d+ \(mean loss .*\)\. The learning rate may be too large"):
        DenseNetClassifier((3,), learning_rate_init=1e300, max_iter=5, random_state=0).fit(X, y2)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        DenseNetClassifier((3,), max_iter=2, random_state=0).fit(np.full_like(X, 1.7e308), y2)


def test_partial_fit_needs_two_classes(data3):
    X, _ = data3
    with pytest.raises(ValueError, match=r"DenseNetClassifier needs at least 2 classes in classes; got 1 class: \[0\]"):
        DenseNetClassifier((3,), max_iter=5).partial_fit(X, np.zeros(len(X), int), classes=[0])
    with pytest.raises(ValueError, match=r"needs at least 2 classes in the data; got 1 class: \[0\.0\]"):
        DenseNetClassifier(**FAST).fit(X, np.zeros(len(X)))


def test_input_bounds_per_feature_in_either_layout_and_bad_bounds(data3):
    X, y = data3
    est = ConvNetClassifier(input_shape=(1, 4, 4), filters=(2,), kernel_size=3, padding="same",
                            composite="epsilon_gamma_box", **FAST).fit(X, y)
    low, high = X.min(axis=0), X.max(axis=0)
    flat = est.set_params(input_bounds=(low, high)).explain(X[:5])
    shaped = est.set_params(input_bounds=(low.reshape(1, 4, 4), high.reshape(1, 4, 4))).explain(X[:5])
    np.testing.assert_array_equal(flat, shaped)
    scalar = est.set_params(input_bounds=(float(low.min()), float(high.max()))).explain(X[:5])
    assert not np.allclose(flat, scalar)  # per-feature bounds do change the z^B rule
    for bounds, message in [
        (("a", "b"), r"input_bounds: low must be a number or an array of numbers; got 'a'\."),
        ((np.zeros(5), np.ones(5)), r"input_bounds: low has 5 values; expected one number, or one value per "
                                    r"input feature \(16, in the flat layout of X or as \(1, 4, 4\)\)\."),
        ((1.0, 0.0), r"input_bounds: low must not exceed high\."),
        ((0.0, np.inf), r"input_bounds: high must be finite; got inf\."),
        ((0.0, 1.0, 2.0), r"input_bounds must be a pair \(low, high\); got \(0\.0, 1\.0, 2\.0\)\."),
    ]:
        with pytest.raises(ValueError, match=message):
            est.set_params(input_bounds=bounds).explain(X[:2])


@pytest.mark.parametrize("kw", [dict(filters=(), hidden_layer_sizes=(5,)),
                                dict(layers=[Flatten(), Dense(5), ReLU()])], ids=["no-convolution", "layers"])
@pytest.mark.parametrize("composite", ["epsilon_gamma_box", "deep_taylor"])
def test_per_feature_input_bounds_reach_a_first_layer_after_flatten(data3, kw, composite):
    """Bounds in the input shape reach a first rule layer that reads the flattened input (a ConvNet without
    convolutions, a stack starting with Flatten): they crashed inside the z^B rule with a broadcast error."""
    X, y = data3
    est = ConvNetClassifier(input_shape=(1, 4, 4), composite=composite, **FAST, **kw).fit(X, y)
    low, high = X.min(axis=0), X.max(axis=0)
    flat = est.set_params(input_bounds=(low, high)).explain(X[:5])
    shaped = est.set_params(input_bounds=(low.reshape(1, 4, 4), high.reshape(1, 4, 4))).explain(X[:5])
    np.testing.assert_array_equal(flat, shaped)
    assert np.all(np.isfinite(flat)) and flat.shape == (5, 16)
    scalar = est.set_params(input_bounds=(float(low.min()), float(high.max()))).explain(X[:5])
    assert not np.allclose(flat, scalar)


def test_zbox_bounds_that_do_not_fit_the_layer_input_name_it():
    from sklrp.rules import ZBox

    with pytest.raises(ValueError, match=r"ZBox: the bound low of shape \(5,\) does not fit the input of the layer "
                                         r"it applies to, of shape \(16,\) per sample"):
        DenseNetClassifier((), composite=Composite({"default": ZBox(np.zeros(5), 1.0)}), **FAST).fit(
            np.random.RandomState(0).rand(20, 16), np.arange(20) % 2).explain(np.zeros((2, 16)))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_overflow_on_finite_input_is_an_error_not_nan(kind, data3):
    X, y = data3
    est = fitted(kind, X, y)
    Xb = np.vstack([X[:1], np.full((2, X.shape[1]), 1e308)])
    message = (rf"{type(est).__name__}: the scores of 2 of 3 samples are not finite although X is: the network "
               r"overflows \(float64 arithmetic\) on inputs this large \(largest \|x\| of those samples: 1e\+308\)")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning on the way
        for call in (est.decision_function, est.predict_proba, est.predict, est.explain,
                     lambda Z: est.explain(Z, method="sensitivity")):
            with pytest.raises(ValueError, match=message):
                call(Xb)
    assert np.isfinite(est.explain(X[:3])).all()  # ordinary input is untouched


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_log_proba_is_log_softmax_of_the_scores(n_classes, data3):
    X, y = data3
    est = fitted("dense", X, y % n_classes)
    np.testing.assert_allclose(np.exp(est.predict_log_proba(X)), est.predict_proba(X), rtol=1e-10, atol=1e-300)
    far = est.predict_log_proba(X * 1e4)  # probabilities that round to 0 keep a finite logarithm
    assert np.isfinite(far).all() and far.shape == (len(X), n_classes)
    np.testing.assert_allclose(np.logaddexp.reduce(far, axis=1), 0.0, atol=1e-9)


def test_cpu_passes_are_bounded_by_the_largest_activation(data3):
    """On the CPU a pass holds about ``_chunk_bytes`` of its largest layer output; the results do not change."""
    X, y = data3
    est = ConvNetClassifier(input_shape=(1, 4, 4), pool="max", padding="same", filters=(6, 3), **FAST).fit(X, y)
    largest = max(int(np.prod(layer.output_shape)) for layer in est.net_.layers if getattr(layer, "output_shape", None))
    assert largest == 6 * 4 * 4
    whole = [est.explain(X), est.predict_proba(X)]
    assert est._chunk_bounds(X) == [(0, len(X))]
    est._chunk_bytes = 10 * largest * X.dtype.itemsize  # 10 samples per pass
    assert est._chunk_bounds(X)[:2] == [(0, 10), (10, 20)] and est._chunk_bounds(X)[-1][1] == len(X)
    for a, b in zip(whole, [est.explain(X), est.predict_proba(X)]):
        assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    est._chunk_bytes = 1  # never below one sample
    assert est._chunk_bounds(X[:3]) == [(0, 1), (1, 2), (2, 3)]

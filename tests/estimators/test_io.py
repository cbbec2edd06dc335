"""Model files: the estimators describe their fitted state; format versions 1 and 2 load."""

import json

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.utils._param_validation import InvalidParameterError

import sklrp
from sklrp import ConvNetClassifier, DenseNetClassifier, load_model
from sklrp.estimators import save_model
from sklrp.nn import Conv2D, Dense, Flatten, ReLU

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=90, n_features=16, n_informative=8, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, random_state=0)
    return X, np.array(["a", "b", "c"])[y]


def _save_version_1(est, path):
    """Write ``est`` as ``save_model`` wrote format version 1."""
    params = {}
    for k, v in est.get_params(deep=False).items():
        if k == "frozen_layers":  # not a parameter yet when version 1 was written
            continue
        if k == "layers" and v is not None:
            v = [{"type": type(layer).__name__, "config": layer.config()} for layer in v]
        elif isinstance(v, tuple):
            v = list(v)
        params[k] = v
    config = {
        "format": "sklrp-model",
        "version": 1,
        "class": type(est).__name__,
        "params": params,
        "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in est.net_.layers],
        "input_shape_": list(est.input_shape_),
        "n_features_in_": int(est.n_features_in_),
        "input_bounds_": list(est.input_bounds_),
        "n_iter_": int(est.n_iter_),
        "history_": est.history_,
    }
    arrays = {f"param.{i}.{k}": v for i, layer in enumerate(est.net_.layers) for k, v in layer.params.items()}
    arrays["classes_"] = np.asarray(est.classes_).astype(str)
    arrays["config"] = np.array(json.dumps(config))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _assert_same_model(loaded, est, X):
    assert type(loaded) is type(est)
    assert_array_equal(loaded.classes_, est.classes_)
    assert loaded.input_shape_ == est.input_shape_ and loaded.n_features_in_ == est.n_features_in_
    assert loaded.input_bounds_ == est.input_bounds_
    assert loaded.n_iter_ == est.n_iter_ and loaded.history_ == est.history_ and loaded.loss_ == est.loss_
    assert_array_equal(loaded.decision_function(X), est.decision_function(X))
    for method in ("lrp", "gradient"):
        assert_array_equal(loaded.explain(X, target="b", method=method), est.explain(X, target="b", method=method))


@pytest.mark.parametrize(
    "make",
    [
        lambda: DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0),
        lambda: ConvNetClassifier(input_shape=(1, 4, 4), filters=(2,), hidden_layer_sizes=(4,), max_iter=3,
                                  random_state=0),
        lambda: ConvNetClassifier(input_shape=(1, 4, 4), layers=[Conv2D(2, 2), ReLU(), Flatten(), Dense(3)],
                                  max_iter=3, random_state=0),
    ],
)
def test_version_1_files_still_load(make, data, tmp_path):
    X, y = data
    est = make().fit(X, y)
    path = tmp_path / "v1.npz"
    _save_version_1(est, path)
    loaded = load_model(path)
    _assert_same_model(loaded, est, X)
    params, loaded_params = est.get_params(), loaded.get_params()
    layers, loaded_layers = params.pop("layers", None), loaded_params.pop("layers", None)
    assert loaded_params == params
    assert (layers is None) == (loaded_layers is None)
    if layers is not None:  # layer templates compare by their configuration
        assert [(type(a), a.config()) for a in loaded_layers] == [(type(b), b.config()) for b in layers]
    # and it trains on from the loaded weights
    loaded.set_params(warm_start=True).fit(X, y)
    assert loaded.n_iter_ == est.n_iter_ + 3 and len(loaded.history_["loss"]) == loaded.n_iter_


def test_version_2_layout(data, tmp_path):
    X, y = data
    est = DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=30, early_stopping=True, random_state=0,
                             frozen_layers=["dense_0"]).fit(X, y)
    path = tmp_path / "v2.npz"
    save_model(est, path)
    with np.load(path, allow_pickle=False) as npz:
        config = json.loads(str(npz["config"]))
        files = set(npz.files)
    assert config["format"] == "sklrp-model" and config["version"] == 2
    assert config["class"] == "DenseNetClassifier"
    assert config["params"]["frozen_layers"] == ["dense_0"]
    state, arrays = est._get_fitted_state()
    assert config["state"] == json.loads(json.dumps(state))
    assert files == {"config"} | {f"state.{k}" for k in arrays}
    loaded = load_model(path)
    _assert_same_model(loaded, est, X)
    assert loaded.best_validation_score_ == est.best_validation_score_
    assert loaded.frozen_layers == ("dense_0",)


def test_feature_names_are_part_of_the_state(data, tmp_path):
    X, y = data
    est = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    est.feature_names_in_ = np.array([f"f{i}" for i in range(X.shape[1])], dtype=object)  # as a DataFrame sets it
    est.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.feature_names_in_.dtype == object
    assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)


def test_state_round_trip_without_a_file(data):
    X, y = data
    est = ConvNetClassifier(input_shape=(1, 4, 4), filters=(2,), hidden_layer_sizes=(4,), max_iter=2,
                            random_state=0).fit(X, y)
    config, arrays = est._get_fitted_state()
    copy = ConvNetClassifier(**est.get_params())._set_fitted_state(config, arrays)
    _assert_same_model(copy, est, X)


@pytest.mark.parametrize("version", [0, 3, 99, "2", None])
def test_unknown_versions_are_refused_clearly(version, data, tmp_path):
    X, y = data
    est = DenseNetClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    path = tmp_path / "m.npz"
    est.save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    config = json.loads(str(arrays["config"]))
    config["version"] = version
    arrays["config"] = np.array(json.dumps(config))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=rf"format version {version!r}; this version of sklrp reads format "
                                         r"versions \[1, 2\]"):
        load_model(path)


def test_parameters_of_the_io_functions_are_validated(data, tmp_path):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'est' parameter of save_model"):
        save_model(object(), tmp_path / "m.npz")
    with pytest.raises(InvalidParameterError, match="'path' parameter of load_model"):
        load_model(3)
    with pytest.raises(InvalidParameterError, match="'composite' parameter of load_lrp_toolbox_model"):
        sklrp.load_lrp_toolbox_model(tmp_path / "m.txt", composite="nope")

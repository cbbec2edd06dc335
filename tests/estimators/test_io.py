"""Model files: the estimators describe their fitted state; format versions 1 and 2 load."""

import io
import json
import os
import re
import tracemalloc
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.utils._param_validation import InvalidParameterError

import sklrp
from sklrp import ConvNetClassifier, DenseNetClassifier, load_model
from sklrp.estimators import _io, save_model
from sklrp.exceptions import ModelFileError
from sklrp.nn import (
    GRU,
    LSTM,
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalMaxPool1D,
    Log,
    MaxPool1D,
    MaxPool2D,
    Parallel,
    ReLU,
    Reshape,
    Sequential,
    Square,
    SumPool1D,
    SumPool2D,
    Tanh,
    TimeDistributed,
    layer_spec,
)
from sklrp.nn._base import LAYER_TYPES

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


@pytest.mark.parametrize("version", [0, 3, 99, "2", None, True, 2.0])
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
    with pytest.raises(ModelFileError, match=rf"format version {version!r}; this version of sklrp reads format "
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


# ------------------------------------------------------------------ crafted files (denial of service)
MiB = 2**20


@pytest.fixture(scope="module")
def dense(data):
    """A fitted dense net: 16 features, hidden layer of 8, 3 classes (weights (16, 8), (8, 3))."""
    X, y = data
    return DenseNetClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)


def _members(path):
    """The arrays of an .npz, config as a dict."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(str(arrays.pop("config"))), arrays


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=True)
    return buf.getvalue()


def _npy_header(shape, dtype, version=(1, 0)):
    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(buf, header)
    return buf.getvalue()


def _write(path, config, arrays, raw=None, zeros=None):
    """Write an .npz (deflated): ``config`` (a dict or a JSON string), ``arrays``, ``raw`` member bytes, and
    ``zeros``: ``{name: (head, n_bytes)}``, members of ``head`` followed by ``n_bytes`` zero bytes, streamed."""
    raw, zeros = dict(raw or {}), dict(zeros or {})
    text = config if isinstance(config, str) else json.dumps(config)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        if "config" not in raw:
            zf.writestr("config.npy", _npy_bytes(np.array(text)))
        for name, arr in arrays.items():
            if name not in raw and name not in zeros:
                zf.writestr(f"{name}.npy", _npy_bytes(arr))
        for name, data in raw.items():
            zf.writestr(f"{name}.npy", data)
        chunk = bytes(MiB)
        for name, (head, n_bytes) in zeros.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                fh.write(head)
                for start in range(0, n_bytes, MiB):
                    fh.write(chunk[: min(MiB, n_bytes - start)])


def _refused(path, match):
    """Load ``path``: it must raise a ModelFileError matching ``match``; return the traced peak in bytes."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        with pytest.raises(ModelFileError, match=match):
            load_model(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()


def test_valid_files_load_within_the_limits(dense, data, tmp_path):
    path = tmp_path / "m.npz"
    dense.save(path)
    _assert_same_model(load_model(path), dense, data[0])


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    "units, n_inputs, match",
    [
        (10_000, 10_000, (r"0\.weight\.npy' declares shape \(16, 8\); the network of the configuration expects "
                          r"\(10000, 10000\)")),
        (10**6, 10**6, r"parameter of shape \(1000000, 1000000\) .* more than MAX_MODEL_BYTES"),
        (10**12, 16, r"layers\[0\]\.config\.units should be a positive integer \(at most MAX_MODEL_BYTES\); got the "
                     r"integer 1000000000000\."),
    ],
    ids=["10k-x-10k", "1M-x-1M", "1e12-units"],
)
def test_huge_layers_declared_in_a_small_config_are_refused_before_allocating(version, units, n_inputs, match,
                                                                               dense, tmp_path):
    path = tmp_path / "m.npz"
    if version == 1:
        _save_version_1(dense, path)
        config, arrays = _members(path)
        state = config
        config["n_features_in_"] = n_inputs
    else:
        dense.save(path)
        config, arrays = _members(path)
        state = config["state"]
    state["layers"][0]["config"]["units"] = units
    state["input_shape_"] = [n_inputs]
    assert len(json.dumps(config)) < 5 * 1024
    _write(path, config, arrays)
    assert _refused(path, rf"{path}: .*{match}") < 4 * MiB


@pytest.mark.parametrize("member", ["state.classes_", "state.net_.0.weight"])
def test_zip_bomb_beyond_the_declared_shape_is_refused(member, dense, tmp_path):
    # the header declares the right shape, the member decompresses to 64 MiB more
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    arr = arrays[member]
    _write(path, config, arrays, zeros={member: (_npy_bytes(arr), 64 * MiB)})
    assert os.path.getsize(path) < MiB
    match = (rf"member '{re.escape(member)}\.npy' holds {arr.nbytes + 64 * MiB} bytes of array data once "
             rf"decompressed, but its header declares shape {re.escape(str(arr.shape))} .*a zip bomb")
    assert _refused(path, match) < 20 * MiB


@pytest.mark.parametrize(
    "member, shape, dtype, match",
    [
        ("state.classes_", (16 * MiB,), "<U1",
         r"declares shape \(16777216,\); the network has 3 outputs, so \(3,\) classes are expected"),
        ("state.classes_", (3,), f"<U{6 * MiB}",
         r"declares shape \(3,\) of dtype <U6291456, 75497472 bytes; at most MAX_LABEL_BYTES=67108864 are loaded"),
        ("state.net_.0.weight", (8 * MiB, 1), "<f8",
         r"declares shape \(8388608, 1\); the network of the configuration expects \(16, 8\)"),
    ],
    ids=["many-classes", "long-class-names", "huge-weight"],
)
def test_zip_bomb_declaring_a_huge_shape_is_refused(member, shape, dtype, match, dense, tmp_path):
    # a consistent member: its header declares 64 MiB or more of zeros, which compress to a small file
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    _write(path, config, arrays, zeros={member: (_npy_header(shape, dtype), n_bytes)})
    assert os.path.getsize(path) < MiB
    assert _refused(path, rf"member '{member}\.npy' {match}") < 20 * MiB


def test_truncated_member_is_refused(dense, tmp_path):
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    data = _npy_bytes(arrays["state.net_.0.weight"])
    _write(path, config, arrays, raw={"state.net_.0.weight": data[:-8]})
    _refused(path, r"'state\.net_\.0\.weight\.npy' holds 1016 bytes of array data once decompressed, but its header "
                   r"declares shape \(16, 8\) of dtype float64, 1024 bytes")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"not an array at all", r"is not a \.npy array"),
        (_npy_header((3,), "<f8", (2, 0))[:8] + b"\x00\x00\x00\x80" + bytes(64),
         r"has a \.npy header of 2147483648 bytes; at most 10000 are read"),
        (_npy_header((3,), "<f8")[:6] + b"\x03\x00" + _npy_header((3,), "<f8", (2, 0))[8:],
         r"is a \.npy array of format version 3\.0; expected 1\.0 or 2\.0"),
        (_npy_header((3,), "<f8")[:10] + b"{'descr': nonsense}" + bytes(64), r"has an invalid \.npy header"),
    ],
    ids=["no-magic", "huge-header", "version-3", "bad-header"],
)
def test_invalid_npy_headers_are_refused(content, match, dense, tmp_path):
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    _write(path, config, arrays, raw={"state.net_.0.bias": content})
    _refused(path, rf"member 'state\.net_\.0\.bias\.npy' {match}")


@pytest.mark.parametrize(
    "member, value, match",
    [
        ("state.net_.0.weight", lambda a: a.astype(np.int64),
         r"parameter member 'state\.net_\.0\.weight\.npy' has dtype int64; expected float32 or float64"),
        ("state.net_.0.weight", lambda a: a.astype(np.float16), r"has dtype float16; expected float32 or float64"),
        ("state.classes_", lambda a: np.arange(3) * 1j,
         r"has dtype complex128; expected booleans, integers, floats or strings"),
        ("state.classes_", lambda a: a.astype(object), r"holds Python objects \(dtype object\)"),
        ("state.classes_", lambda a: np.arange(12).reshape(3, 4), r"declares shape \(3, 4\); the network has 3 outputs, so \(3,\) classes are expected"),
        ("state.feature_names_in_", lambda a: np.array(["a", "b"]),
         r"declares shape \(2,\); expected one name per input feature, \(16,\)"),
    ],
    ids=["int-weight", "float16-weight", "complex-classes", "object-classes", "2d-classes", "feature-names"],
)
def test_arrays_of_unexpected_dtype_or_shape_are_refused(member, value, match, dense, tmp_path):
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    arrays[member] = value(arrays.get(member, np.zeros(0)))
    _write(path, config, arrays)
    _refused(path, match)


def test_missing_and_extra_parameters_are_refused_before_reading(dense, tmp_path):
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    _write(path, config, {k: v for k, v in arrays.items() if k != "state.net_.2.bias"})
    _refused(path, r"has the parameter 'net_\.2\.bias', which the file lacks")
    _write(path, config, {**arrays, "state.net_.7.weight": np.zeros((2, 2))})
    _refused(path, r"member 'state\.net_\.7\.weight\.npy' is a parameter that the network of the configuration "
                   r"does not have")
    _write(path, config, {k: v for k, v in arrays.items() if k != "state.classes_"})
    _refused(path, r"lacks the classes_ of the model")


def test_total_size_is_bounded(dense, tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    dense.save(path)
    monkeypatch.setattr(_io, "MAX_MODEL_BYTES", 1000)
    _refused(path, rf"{path} declares arrays of \d+ bytes in all; at most MAX_MODEL_BYTES=1000 are loaded")


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000,
                                  '{"format": "sklrp-model", "version": 2, "state": ' + "{\"a\": " * 100_000
                                  + "1" + "}" * 100_001], ids=["lists", "objects"])
def test_deeply_nested_json_is_refused(text, dense, tmp_path):
    path = tmp_path / "m.npz"
    dense.save(path)
    _, arrays = _members(path)
    _write(path, text, arrays)
    _refused(path, rf"{path}: the JSON configuration is nested too deeply to be read")


def test_long_or_malformed_configs_are_refused(dense, tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    _write(path, "{not json", arrays)
    _refused(path, rf"{path} is not an sklrp model file: its configuration is not valid JSON")
    _write(path, config, arrays, raw={"config": _npy_bytes(np.array([json.dumps(config)]))})
    _refused(path, r"'config' entry should be a JSON string \(a 0-d unicode array\); found shape \(1,\)")
    dense.save(path)
    monkeypatch.setattr(_io, "MAX_CONFIG_CHARS", 100)
    _refused(path, r"the JSON configuration has \d+ characters; at most MAX_CONFIG_CHARS=100 are read")


def test_files_that_are_not_archives_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"just some text")
    _refused(path, r"is not an sklrp model file \(not an \.npz archive\)")
    np.save(tmp_path / "a.npy", np.zeros(3))
    _refused(tmp_path / "a.npy", r"not an \.npz archive")


def test_invalid_network_configurations_are_refused(dense, tmp_path):
    path = tmp_path / "m.npz"
    dense.save(path)
    config, arrays = _members(path)
    config["state"]["input_shape_"] = [4, 4]  # Dense needs flat inputs
    _write(path, config, arrays)
    _refused(path, r"the configuration does not describe a network that can be loaded: Dense expects flat inputs")
    config["state"]["input_shape_"] = [0]
    _write(path, config, arrays)
    _refused(path, r"input_shape_ should be a list of positive sizes")


# every layer type, built for its shapes only (no memory) and for real
_STACKS = [
    ((16,), [Dense(8), ReLU(), Dropout(0.1), Tanh(), Dense(4), Square(), Log(), Dense(3)]),
    ((1, 8, 8), [Conv2D(2, 3, padding="same"), MaxPool2D(2), Conv2D(2, 2), AvgPool2D(1), SumPool2D(3), Flatten(),
                 Reshape((2,)), Dense(3)]),
    ((12,), [Reshape((1, 12)), Conv1D(3, 3), MaxPool1D(2), AvgPool1D(1), SumPool1D(1), GlobalMaxPool1D(), Dense(2)]),
    ((6,), [Embedding(20, 4, channels_first=False), LSTM(3), Dense(3)]),
    ((6,), [Embedding(20, 4, channels_first=False), GRU(3, bidirectional=False), Dense(2)]),
    ((6,), [Embedding(20, 4), Parallel([[Conv1D(2, 2), GlobalMaxPool1D()], [Conv1D(3, 3), GlobalMaxPool1D()]]),
            Dense(3)]),
    ((6,), [Embedding(20, 4, channels_first=False), TimeDistributed(Dense(5)), Flatten(), Dense(3)]),
]


@pytest.mark.parametrize("input_shape, layers", _STACKS)
def test_parameter_shapes_come_from_the_configuration_alone(input_shape, layers):
    state = {"layers": [layer_spec(layer) for layer in layers], "input_shape_": list(input_shape)}
    shapes, n_outputs, n_features = _io._network_expectations(state, "m.npz")
    net = Sequential(layers)
    output_shape = net.build(input_shape, np.random.RandomState(0), np.float64)
    assert shapes == {f"net_.{k}": v.shape for k, v in net.get_arrays().items()}
    assert n_outputs == int(np.prod(output_shape)) and n_features == int(np.prod(input_shape))


def test_every_layer_type_is_covered_by_the_shape_inference_tests():
    used = set()
    stack = [layer_spec(layer) for _, layers in _STACKS for layer in layers]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            used.add(item.get("type"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    ours = {name for name, cls in LAYER_TYPES.items() if cls.__module__.startswith("sklrp.")}  # not other tests'
    missing = ours - used
    assert not missing, f"add {sorted(missing)} to _STACKS: load_model infers parameter shapes by building layers"


@pytest.mark.parametrize("key, value, match", [
    ("composite", "os.system", r"invalid parameters in the configuration: The 'composite' parameter of "
                               r"DenseNetClassifier must be a str among"),
    ("device", "tpu", r"invalid parameters in the configuration: The 'device' parameter of DenseNetClassifier must be a str among \{.*\} or None\. "
                      r"Got 'tpu' instead"),
    ("epsilon", "x", r"invalid parameters in the configuration: The 'epsilon' parameter of DenseNetClassifier must be a float"),
    ("evil", 1, r"the configuration's params name parameters DenseNetClassifier does not have: \['evil'\]"),
    ("dtype", "complex128", r"the configuration's params name parameters DenseNetClassifier does not have: \['dtype'\]"),
])
def test_tampered_parameters_are_refused_at_load(key, value, match, dense, tmp_path):
    """Parameters are validated as fit validates them, at load, not at the first predict."""
    path = tmp_path / "m.npz"
    save_model(dense, path)
    config, arrays = _members(path)
    config["params"][key] = value
    _write(tmp_path / "t.npz", config, arrays)
    _refused(tmp_path / "t.npz", r"t\.npz: " + match)


def test_damaged_archives_and_incomplete_states_are_refused(dense, tmp_path):
    path = tmp_path / "m.npz"
    save_model(dense, path)
    shifted = tmp_path / "shifted.npz"
    shifted.write_bytes(path.read_bytes()[1:])  # every member offset now points before its header
    _refused(shifted, r"shifted\.npz")
    config, arrays = _members(path)
    for key in ("input_shape_", "input_bounds_", "layers"):
        broken = json.loads(json.dumps(config))
        del broken["state"][key]
        _write(tmp_path / "t.npz", broken, arrays)
        _refused(tmp_path / "t.npz", rf"t\.npz: the fitted state in the configuration lacks '{key}'\.")
    fewer = dict(arrays, **{"state.classes_": np.array([0, 1])})  # the network has 3 outputs
    _write(tmp_path / "c.npz", config, fewer)
    _refused(tmp_path / "c.npz", r"declares shape \(2,\); the network has 3 outputs, so \(3,\) classes are expected")


def test_per_feature_input_bounds_round_trip_and_are_checked_at_load(tmp_path):
    """Array-valued input_bounds were a bare TypeError in json.dumps at save; they are saved as flat lists and
    checked against the loaded network."""
    import json
    import warnings

    from sklrp import ConvNetClassifier, load_model
    from sklrp.estimators import save_model
    from sklrp.exceptions import ModelFileError

    X = np.random.RandomState(0).rand(30, 6)
    y = np.arange(30) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ConvNetClassifier(input_shape=(1, 2, 3), filters=(2,), kernel_size=2, hidden_layer_sizes=(4,),
                                  max_iter=2, random_state=0, composite="epsilon_gamma_box",
                                  input_bounds=(-np.arange(1.0, 7.0), np.full((1, 2, 3), 2.0))).fit(X, y)
    path = tmp_path / "bounds.npz"
    save_model(model, path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.input_bounds[0], -np.arange(1.0, 7.0))
    np.testing.assert_array_equal(loaded.input_bounds[1], np.full(6, 2.0))
    np.testing.assert_array_equal(loaded.explain(X[:4]), model.explain(X[:4]))

    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    config = json.loads(str(arrays["config"]))
    config["params"]["input_bounds"][0] = [0.0] * 5  # 5 values for 6 features
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "five.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"five\.npz: the configuration's params\.input_bounds do not fit the "
                                             r"network: input_bounds: low has 5 values; expected one number, or one "
                                             r"value per input feature \(6"):
        load_model(tmp_path / "five.npz")
    config["params"]["input_bounds"] = [[3.0] * 6, 2.0]  # low > high
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "crossed.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"crossed\.npz: .*input_bounds: low must not exceed high\."):
        load_model(tmp_path / "crossed.npz")

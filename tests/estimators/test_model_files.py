"""Malformed model files: every failure of ``load_model`` is a ModelFileError naming the file.

The acceptance tests of the model-file hardening: truncation at every 1/20th
of a file, each single-byte corruption of the first zip local header and of
the configuration's ``.npy`` header, every configuration key removed or
retyped, pickled payloads, configurations naming callables and parameter
arrays of other dtypes; for a dense, a convolutional, a bi-LSTM and a
text-CNN model.
"""

import builtins
import inspect
import io
import json
import os
import pickle
import re
import struct
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError

from sklrp import (
    BiLSTMClassifier,
    ConvNetClassifier,
    DenseNetClassifier,
    LinearRelevanceClassifier,
    TextCNNClassifier,
    load_model,
)
from sklrp.estimators import _io, save_model
from sklrp.exceptions import ModelFileError
from sklrp.nn._base import LAYER_TYPES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

MODELS = ["dense", "conv", "bilstm", "textcnn"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 6))
    ids = rng.randint(1, 10, size=(40, 5))
    ids[::3, 3:] = 0  # padded sentences
    y = np.array(["a", "b", "c"])[np.arange(40) % 3]
    return {"dense": X, "conv": X, "bilstm": ids, "textcnn": ids, "y": y}


@pytest.fixture(scope="module")
def fitted(data):
    """Small fitted models; the dense one early-stopped (its state has best_validation_score_)."""
    y = data["y"]
    return {
        "dense": DenseNetClassifier((4,), max_iter=3, early_stopping=True, validation_fraction=0.25,
                                    n_iter_no_change=2, random_state=0).fit(data["dense"], y),
        "conv": ConvNetClassifier(input_shape=(1, 2, 3), filters=(2,), kernel_size=2, hidden_layer_sizes=(4,),
                                  max_iter=2, random_state=0).fit(data["conv"], y),
        "bilstm": BiLSTMClassifier(hidden_size=3, embedding_dim=4, max_iter=2, random_state=0).fit(data["bilstm"], y),
        "textcnn": TextCNNClassifier(n_filters=3, embedding_dim=4, max_iter=2, random_state=0).fit(data["textcnn"],
                                                                                                 y),
    }


@pytest.fixture(scope="module")
def files(fitted, tmp_path_factory):
    """The bytes of each fitted model's file."""
    folder = tmp_path_factory.mktemp("model_files")
    out = {}
    for name, model in fitted.items():
        save_model(model, folder / f"{name}.npz")
        out[name] = (folder / f"{name}.npz").read_bytes()
    return out


def _arrays(raw):
    """The arrays of a model file (config as a dict)."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(str(arrays.pop("config"))), arrays


def _write(path, config, arrays):
    """Write a model file as save_model does, with ``config`` a dict (any JSON) and ``arrays`` by member name."""
    np.savez(path, config=np.array(json.dumps(config)), **arrays)
    return path


def _refused(path, match):
    """``load_model(path)`` raises a ModelFileError whose message names the file and matches ``match``."""
    with pytest.raises(ModelFileError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)
    return info.value


def _same_model(loaded, model, X):
    """The loaded model predicts as ``model`` does."""
    assert type(loaded) is type(model)
    assert_array_equal(loaded.classes_, model.classes_)
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert_array_equal(loaded.predict(X), model.predict(X))


# ------------------------------------------------------------------ truncation
@pytest.mark.parametrize("name", MODELS)
def test_truncation_at_every_twentieth_is_refused(name, files, tmp_path):
    raw = files[name]
    for k in range(20):
        path = tmp_path / f"cut{k}.npz"
        path.write_bytes(raw[: len(raw) * k // 20])
        # the zip directory is at the end of the file: every cut removes it
        _refused(path, rf"^{re.escape(str(path))} is not an sklrp model file \(not an \.npz archive\)\.$")


# ------------------------------------------------------------------ single-byte corruptions of the headers
def _header_regions(raw):
    """``(start, stop)`` of the first zip local header (with its name and extra field) and of the ``.npy``
    header of the config member."""
    def local_header(offset):
        assert raw[offset : offset + 4] == b"PK\x03\x04"
        n, e = struct.unpack("<HH", raw[offset + 26 : offset + 30])
        return offset, offset + 30 + n + e

    first = local_header(0)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        config_offset = zf.getinfo("config.npy").header_offset
    _, data_start = local_header(config_offset)
    assert raw[data_start : data_start + 8] == b"\x93NUMPY\x01\x00"
    header_length = struct.unpack("<H", raw[data_start + 8 : data_start + 10])[0]
    return [first, (data_start, data_start + 10 + header_length)]


def _rezipped(raw, member, data):
    """The archive ``raw`` with the bytes of ``member`` replaced by ``data`` (a consistent CRC: tampering)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, data if info.filename == member else src.read(info))
    return buf.getvalue()


def _load_or_same(path, model, X, outcomes):
    """Load ``path``: a ModelFileError naming the file, or a model that predicts as ``model``."""
    try:
        loaded = load_model(path)
    except ModelFileError as exc:
        assert str(exc).startswith(str(path)), exc
        outcomes["refused"] += 1
    else:
        _same_model(loaded, model, X)
        outcomes["harmless"] += 1


@pytest.mark.parametrize("name", MODELS)
def test_each_single_byte_corruption_of_the_headers_is_refused_or_harmless(name, files, fitted, data, tmp_path):
    """Flip each byte (XOR 0xFF) and zero it, in the first zip local header and in the .npy header of the
    config member: a ModelFileError naming the file, or (a byte that loading does not read, e.g. a timestamp or
    the local copy of a CRC) a model that predicts as the original.  The .npy header is corrupted twice: in
    place (the member's CRC no longer matches) and tampered with (the member rewritten with a matching CRC, so
    that the header itself is parsed)."""
    raw, model, X = files[name], fitted[name], data[name]
    path = tmp_path / "corrupt.npz"
    regions = _header_regions(raw)
    (first, _), (npy, npy_end) = regions
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        config_bytes = zf.read("config.npy")
    corrupt, tampered = {"refused": 0, "harmless": 0}, {"refused": 0, "harmless": 0}
    for start, stop in regions:
        for offset in range(start, stop):
            for new in {raw[offset] ^ 0xFF, 0} - {raw[offset]}:
                path.write_bytes(raw[:offset] + bytes([new]) + raw[offset + 1 :])
                _load_or_same(path, model, X, corrupt)
    for offset in range(npy_end - npy):
        for new in {config_bytes[offset] ^ 0xFF, 0} - {config_bytes[offset]}:
            data_ = config_bytes[:offset] + bytes([new]) + config_bytes[offset + 1 :]
            path.write_bytes(_rezipped(raw, "config.npy", data_))
            _load_or_same(path, model, X, tampered)
    assert corrupt["refused"] > 0 and corrupt["harmless"] > 0, corrupt
    assert tampered["refused"] > 0, tampered
    # a few exactly: in place ...
    for offset, match in [
        (first, r"member 'state\.net_\.0\.weight\.npy' cannot be read: Bad magic number for file header$"),
        (npy, r"member 'config\.npy' cannot be read: Bad CRC-32 for file 'config\.npy'$"),
        (npy_end - 1, r"member 'config\.npy' cannot be read: Bad CRC-32 for file 'config\.npy'$"),
    ]:
        path.write_bytes(raw[:offset] + bytes([raw[offset] ^ 0xFF]) + raw[offset + 1 :])
        _refused(path, rf"^{re.escape(str(path))}: {match}")
    # ... and tampered with
    for offset, match in [
        (0, r"member 'config\.npy' is not a \.npy array \(it lacks the \.npy magic string\)\.$"),
        (6, r"member 'config\.npy' is a \.npy array of format version 254\.0; expected 1\.0 or 2\.0\.$"),
        (9, r"member 'config\.npy' has a \.npy header of \d+ bytes; at most 10000 are read\.$"),
        (12, r"member 'config\.npy' has an invalid \.npy header: "),
        (npy_end - npy - 1, r"member 'config\.npy' has an invalid \.npy header: "),  # the closing newline
    ]:
        data_ = config_bytes[:offset] + bytes([config_bytes[offset] ^ 0xFF]) + config_bytes[offset + 1 :]
        path.write_bytes(_rezipped(raw, "config.npy", data_))
        _refused(path, rf"^{re.escape(str(path))}: {match}")


# ------------------------------------------------------------------ configuration keys removed or retyped
#: a marker: remove the key instead of setting it
REMOVE = object()


def _deep(levels=100):
    value = 1
    for _ in range(levels):
        value = [value]
    return value


#: the retyped values: a string, a list, an object, null, an integer beyond 64 bits, a shallow and a deep nesting
RETYPES = {"string": "x", "list": ["x"], "object": {"x": 1}, "null": None, "huge int": 2**64, "nested": [[1]],
           "deep": _deep()}

#: the edits that load, and why: every other removal or retype of a key outside ``params`` is refused
OPTIONAL = {
    # present only after a fit with early stopping; predictions never read it
    (("state", "best_validation_score_"), "removed"),
    # null is a valid training history (a model imported by load_lrp_for_lstm has none); predictions never read it
    (("state", "history_"), "null"),
}
#: the parameter edits that may load: null where null is a valid value of the parameter (random_state, device,
#: vocab_size, ...) and ["x"] for frozen_layers (a layer name): values that fit's own validation accepts, and that
#: predict as the original (the network comes from the fitted state).  No other edit of a parameter loads: a
#: version-2 file holds every parameter, and no parameter is an object, a nested list, an integer beyond 64 bits,
#: or a list of other items than its own (sizes, bounds, names).
PARAM_EDITS_THAT_MAY_LOAD = {"null"}
PARAM_LISTS_THAT_MAY_LOAD = {"frozen_layers"}


def _key_paths(config):
    """Every key of the configuration, recursively through the objects and the lists of objects (layers)."""
    out = []

    def walk(obj, prefix):
        if isinstance(obj, dict):
            for k, v in obj.items():
                out.append(prefix + (k,))
                walk(v, prefix + (k,))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                if isinstance(v, dict):
                    walk(v, prefix + (i,))

    walk(config, ())
    return out


def _edited(config, keys, value, remove):
    config = json.loads(json.dumps(config))
    parent = config
    for k in keys[:-1]:
        parent = parent[k]
    if remove:
        del parent[keys[-1]]
    else:
        parent[keys[-1]] = value
    return config


@pytest.mark.parametrize("name", MODELS)
def test_every_config_key_removed_or_retyped_is_refused(name, files, fitted, data, tmp_path):
    config, arrays = _arrays(files[name])
    model, X = fitted[name], data[name]
    paths = _key_paths(config)
    assert ("state", "layers", 0, "config", "use_bias" if name == "dense" else "vocab_size" if name != "conv"
            else "filters") in paths
    assert (("state", "best_validation_score_") in paths) == (name == "dense")
    path = tmp_path / "edited.npz"
    loaded_edits = set()
    for keys in paths:
        named = [k for k in keys if isinstance(k, str)][-1]  # the key the message must name
        for edit, value in [("removed", None)] + list(RETYPES.items()):
            _write(path, _edited(config, keys, value, edit == "removed"), arrays)
            try:
                loaded = load_model(path)
            except ModelFileError as exc:
                message = str(exc)
                assert message.startswith(str(path)), (keys, edit, message)
                assert re.search(rf"\b{re.escape(named)}\b", message), (keys, edit, message)
                continue
            loaded_edits.add((keys, edit))
            assert (keys, edit) in OPTIONAL or (keys[0] == "params" and len(keys) == 2 and (
                edit in PARAM_EDITS_THAT_MAY_LOAD or (edit == "list" and keys[1] in PARAM_LISTS_THAT_MAY_LOAD))), (
                f"{keys} {edit} loaded")
            _same_model(loaded, model, X)
    # the optional keys of this model did load
    assert {e for e in OPTIONAL if e[0] in paths} <= loaded_edits


@pytest.mark.parametrize("keys, value, match", [
    (("format",), REMOVE, r" is not an sklrp model file: its configuration's format is missing; expected "
                          r"'sklrp-model'\.$"),
    (("version",), True, r" is an sklrp model file of format version True; this version of sklrp reads format "
                         r"versions \[1, 2\]\."),
    (("class",), "x", r": unknown estimator class the string 'x'; a model file names one of \["),
    (("params", "max_iter"), REMOVE, r": the configuration's params lack the parameters \['max_iter'\] of "
                                     r"DenseNetClassifier \(a file of format version 2 holds all of them\)\.$"),
    (("params", "max_iter"), "x", r": invalid parameters in the configuration: The 'max_iter' parameter of "
                                  r"DenseNetClassifier must be an int in the range \[1, inf\)\. Got 'x' instead\.$"),
    (("params", "hidden_layer_sizes"), [[4]], r": the configuration's params\.hidden_layer_sizes should be a flat "
                                              r"list of numbers, strings, booleans or nulls; got the list "
                                              r"\[\[4\]\]\.$"),
    (("params", "hidden_layer_sizes"), ["x"], r": the configuration's params\.hidden_layer_sizes should be a list "
                                              r"of positive integers; got the list \[\"x\"\]\.$"),
    (("params", "input_bounds"), [1, 0], r": the configuration's params\.input_bounds should be null or a list "
                                         r"\[low, high\] of two finite numbers \(low <= high\) or flat lists of "
                                         r"finite numbers, one per input feature; got the list \[1, 0\]\.$"),
    (("params", "epsilon"), {"x": 1}, r": the configuration's params\.epsilon should be a number, a string, a "
                                      r"boolean, null or a list of those; got the object \{\"x\": 1\}\.$"),
    (("params", "random_state"), 2**64, r": the configuration's params\.random_state is the integer "
                                        r"18446744073709551616, beyond the 64-bit range of any size, count or seed "
                                        r"of a model\.$"),
    (("state", "n_iter_"), -1, r": the configuration's state\.n_iter_ should be a non-negative integer; got the "
                               r"integer -1\.$"),
    (("state", "input_bounds_"), [1.0, 0.0], r": the configuration's state\.input_bounds_ should be a list "
                                             r"\[low, high\] of two finite numbers, low <= high; got the list "
                                             r"\[1\.0, 0\.0\]\.$"),
    (("state", "history_", "loss"), REMOVE, r": the configuration's state\.history_ lacks the list 'loss'\.$"),
    (("state", "history_", "loss"), ["x"], r": the configuration's state\.history_\.loss should be a list of "
                                           r"numbers; got the list \[\"x\"\]\.$"),
    (("state", "layers", 0, "config", "units"), "4", r": the configuration's state\.layers\[0\]\.config\.units "
                                                     r"should be a positive integer \(at most MAX_MODEL_BYTES\); got "
                                                     r"the string '4'\.$"),
    (("state", "layers", 0, "config", "use_bias"), 1, r": the configuration's state\.layers\[0\]\.config\.use_bias "
                                                      r"should be true or false; got the integer 1\.$"),
    (("state", "layers", 0, "config", "extra"), 1, r": the configuration's state\.layers\[0\]\.config has the key "
                                                   r"'extra', which a Dense layer does not have \(its keys: "
                                                   r"\['units', 'use_bias'\]\)\.$"),
    (("state", "extra"), 1, r": the fitted state in the configuration has the key 'extra', which the fitted state "
                            r"of a network does not have"),
    (("state", "input_shape_"), [6, 0], r": the configuration's input_shape_ should be a list of positive sizes"),
    (("state", "history_", "loss"), _deep(70), r": the configuration nests more than 64 levels deep \(under "
                                               r"state\.history_\.loss\[0\]"),
])
def test_schema_messages(keys, value, match, files, tmp_path):
    """Exact messages of the schema checks (a dense model)."""
    config, arrays = _arrays(files["dense"])
    path = _write(tmp_path / "m.npz", _edited(config, keys, value, value is REMOVE), arrays)
    _refused(path, rf"^{re.escape(str(path))}{match}")


def test_a_well_formed_edit_is_another_sound_model(files, data, tmp_path):
    """The schema checks the form of a file, not which model was fitted: ReLU -> Tanh keeps every type and shape,
    so the edited file loads (as another model); only a signature over the file would tell."""
    config, arrays = _arrays(files["dense"])
    config["state"]["layers"][1]["type"] = "Tanh"
    path = _write(tmp_path / "tanh.npz", config, arrays)
    loaded = load_model(path)
    assert type(loaded.net_.layers[1]).__name__ == "Tanh"
    assert loaded.predict_proba(data["dense"]).shape == (40, 3)


def test_token_networks_keep_their_padding_and_blank_ids(files, tmp_path):
    path = tmp_path / "m.npz"
    for name in ("bilstm", "textcnn"):
        config, arrays = _arrays(files[name])
        _write(path, _edited(config, ("state", "layers", 0, "config", "padding_idx"), None, False), arrays)
        cls = "BiLSTMClassifier" if name == "bilstm" else "TextCNNClassifier"
        _refused(path, rf"^{re.escape(str(path))}: the configuration's state\.layers\[0\] should be an Embedding "
                       rf"layer with padding_idx 0 \(a {cls} reads token ids padded with 0\); got ")
    config, arrays = _arrays(files["bilstm"])
    _write(path, _edited(config, ("state", "layers", 0, "config", "blank_idx"), None, True), arrays)
    _refused(path, rf"^{re.escape(str(path))}: the configuration's state\.layers\[0\]\.config should have blank_idx "
                   r"10, the last id \(a BiLSTMClassifier's blank word\); got null\.$")


# ------------------------------------------------------------------ pickles and callables
def _touch(marker):
    """What the payload runs when unpickled: it leaves a marker file."""
    with open(marker, "w") as fh:
        fh.write("unpickled")
    return 0


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return _touch, (self.marker,)


@pytest.mark.parametrize("where, match", [
    ("config", r": member 'config\.npy' holds Python objects \(dtype object\), which are never unpickled\.$"),
    ("state.classes_", r": member 'state\.classes_\.npy' holds Python objects \(dtype object\), which are never "
                       r"unpickled\.$"),
    ("state.net_.0.weight", r": member 'state\.net_\.0\.weight\.npy' holds Python objects \(dtype object\), which "
                            r"are never unpickled\.$"),
    ("payload", r": the archive holds the member 'payload\.npy', which is not part of an sklrp model file of format "
                r"version 2 "),
    ("file", r" is not an sklrp model file \(not an \.npz archive\)\.$"),
])
def test_a_pickled_payload_is_refused_and_never_runs(where, match, files, tmp_path):
    marker = tmp_path / "ran"
    payload = np.array([_Payload(marker)], dtype=object)
    path = tmp_path / "m.npz"
    if where == "file":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        config, arrays = _arrays(files["dense"])
        if where == "config":
            np.savez(path, config=payload, **arrays)
        else:
            arrays[where] = payload
            _write(path, config, arrays)
        with np.load(path, allow_pickle=True) as npz:  # the payload is live: unpickling it runs _touch
            npz[where]
        assert marker.exists()
        marker.unlink()
    _refused(path, rf"^{re.escape(str(path))}{match}")
    assert not marker.exists()


@pytest.mark.parametrize("keys, value, match", [
    (("class",), "builtins.eval", r": unknown estimator class the string 'builtins\.eval'"),
    (("class",), "BaseNetClassifier", r": unknown estimator class the string 'BaseNetClassifier'"),
    (("params", "composite"), "os.system", r": invalid parameters in the configuration: The 'composite' parameter of "
                                           r"DenseNetClassifier must be a str among"),
    (("params", "composite"), {"default": "os.system"}, r": the configuration's params\.composite should be the name "
                                                        r"of a preset composite \(only named composites are saved\)"),
    (("state", "layers", 0, "type"), "os.system", r": the configuration's state\.layers\[0\]\.type should be the "
                                                  r"name of a layer type of sklrp\.nn \("),
    (("state", "layers", 0, "type"), "Layer", r": the configuration's state\.layers\[0\]\.type should be the "
                                              r"name of a layer type of sklrp\.nn \("),
    (("state", "layers", 1, "config"), {"__class__": "builtins.exec"},
     r": the configuration's state\.layers\[1\]\.config has the key '__class__', which a ReLU layer does not have"),
])
def test_configs_naming_callables_are_refused_and_nothing_is_called(keys, value, match, files, tmp_path,
                                                                    monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(("os.system", a)))
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: calls.append(("eval", a)))
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: calls.append(("exec", a)))
    config, arrays = _arrays(files["dense"])
    path = _write(tmp_path / "m.npz", _edited(config, keys, value, False), arrays)
    _refused(path, rf"^{re.escape(str(path))}{match}")
    assert calls == []


def test_a_layers_parameter_naming_a_callable_is_refused(files, tmp_path):
    config, arrays = _arrays(files["conv"])
    config["params"]["layers"] = [{"type": "builtins.exec", "config": {}}]
    path = _write(tmp_path / "m.npz", config, arrays)
    _refused(path, rf"^{re.escape(str(path))}: the configuration's params\.layers\[0\]\.type should be the name of a "
                   r"layer type of sklrp\.nn")


# ------------------------------------------------------------------ arrays
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dtype, match", [
    ("float16", r"parameter member 'state\.net_\.0\.weight\.npy' has dtype float16; expected float32 or float64\.$"),
    ("complex128", r"parameter member 'state\.net_\.0\.weight\.npy' has dtype complex128; expected float32 or "
                   r"float64\.$"),
    ("int64", r"parameter member 'state\.net_\.0\.weight\.npy' has dtype int64; expected float32 or float64\.$"),
    ("bool", r"parameter member 'state\.net_\.0\.weight\.npy' has dtype bool; expected float32 or float64\.$"),
    ("object", r"member 'state\.net_\.0\.weight\.npy' holds Python objects \(dtype object\), which are never "
               r"unpickled\.$"),
])
def test_parameter_arrays_of_other_dtypes_are_refused(name, dtype, match, files, tmp_path):
    config, arrays = _arrays(files[name])
    arrays["state.net_.0.weight"] = arrays["state.net_.0.weight"].astype(dtype)
    path = _write(tmp_path / "m.npz", config, arrays)
    _refused(path, rf"^{re.escape(str(path))}: {match}")


@pytest.mark.parametrize("edit, match", [
    ("nan", r": parameter member 'state\.net_\.2\.bias\.npy' holds non-finite values \(NaN or infinity\)\.$"),
    ("mixed", r": the parameters mix float32 and float64; a network's parameters share one dtype\.$"),
    ("duplicate classes", r": member 'state\.classes_\.npy' lists a class more than once: \['a', 'a', 'c'\]\.$"),
    ("numeric feature names", r": member 'state\.feature_names_in_\.npy' has dtype int64; expected strings \(the "
                              r"feature names\)\.$"),
    ("extra state array", r": the archive holds the member 'state\.mean_\.npy', which is not part of an sklrp model "
                          r"file of format version 2"),
    ("extra member", r": the archive holds the member 'notes\.txt', which is not part of an sklrp model file"),
])
def test_unsound_arrays_and_members_are_refused(edit, match, files, tmp_path):
    config, arrays = _arrays(files["dense"])
    path = tmp_path / "m.npz"
    if edit == "nan":
        arrays["state.net_.2.bias"][1] = np.nan
    elif edit == "mixed":
        arrays["state.net_.0.weight"] = arrays["state.net_.0.weight"].astype(np.float32)
    elif edit == "duplicate classes":
        arrays["state.classes_"] = np.array(["a", "a", "c"])
    elif edit == "numeric feature names":
        arrays["state.feature_names_in_"] = np.arange(6)
    elif edit == "extra state array":
        arrays["state.mean_"] = np.zeros(6)
    _write(path, config, arrays)
    if edit == "extra member":
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("notes.txt", "hello")
    _refused(path, rf"^{re.escape(str(path))}{match}")


# ------------------------------------------------------------------ the rest of the contract
def test_a_missing_file_is_file_not_found_and_a_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")
    _refused(tmp_path, rf"^{re.escape(str(tmp_path))} is not an sklrp model file: it is not a regular file \(a "
                       r"directory, a device or a pipe\)\.$")


def test_load_of_another_class_is_a_model_file_error(files, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(files["dense"])
    with pytest.raises(ModelFileError, match=rf"^{re.escape(str(path))} holds a DenseNetClassifier, not a "
                                             r"ConvNetClassifier\.$"):
        ConvNetClassifier.load(path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_linear_models_have_no_safe_file_format(data):
    """save_model takes the networks only (LinearRelevanceClassifier wraps any scikit-learn model: use pickle)."""
    est = LinearRelevanceClassifier(LogisticRegression()).fit(data["dense"], data["y"])
    with pytest.raises(InvalidParameterError, match=r"The 'est' parameter of save_model must be an instance of"):
        save_model(est, "never-written.npz")
    assert not os.path.exists("never-written.npz")


def test_every_layer_type_of_sklrp_has_a_schema():
    ours = {name: cls for name, cls in LAYER_TYPES.items() if cls.__module__.startswith("sklrp.")}
    assert set(ours) == set(_io._LAYER_CONFIGS)
    for name, cls in ours.items():
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        assert set(params) == set(_io._LAYER_CONFIGS[name]), name


def _npy_member(dtype, shape):
    """The bytes of a .npy member holding a header only (no data), as a crafted file would."""
    buf = io.BytesIO()
    from numpy.lib import format as npy_format

    npy_format.write_array_header_1_0(buf, {"descr": npy_format.dtype_to_descr(np.dtype(dtype)),
                                            "fortran_order": False, "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize("dtype, shape, message", [
    ("<U0", (10**12,), r"has the dtype <U0, of zero bytes per element; no saved array has one\."),
    ("S0", (4000, 4000), r"has the dtype \|S0, of zero bytes per element"),
    ("<f8", (1,) * 9, r"declares 9 dimensions; saved arrays have at most 8\."),
])
def test_member_headers_without_a_size_bound_are_refused(tmp_path, dtype, shape, message):
    """A dtype of zero bytes per element declares 0 bytes for any shape: every size limit passed and reading
    allocated one element per declared entry (GiBs from a 7 KB file); more than 8 dimensions failed later."""
    from sklrp._archive import _member_header

    path = tmp_path / "crafted.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("state.classes_.npy", _npy_member(dtype, shape))
    with zipfile.ZipFile(path) as zf, pytest.raises(ModelFileError, match=message):
        _member_header(zf, zf.getinfo("state.classes_.npy"), path)


def test_paths_that_are_not_regular_files_are_refused_at_once(tmp_path):
    """A directory, a device (read forever) or a pipe (reading blocks) is refused before it is opened."""
    from sklrp.neighbors import MultiPurposeLSH

    folder = tmp_path / "model.npz"
    folder.mkdir()
    targets = [folder]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.npz"
        os.mkfifo(fifo)
        targets.append(fifo)
    if os.path.exists("/dev/zero"):
        link = tmp_path / "zero.npz"
        link.symlink_to("/dev/zero")
        targets.append(link)
    for target in targets:
        with pytest.raises(ModelFileError, match=r"is not a regular file \(a directory, a device or a pipe\)"):
            load_model(target)
        with pytest.raises(ModelFileError, match=r"is not a readable MultiPurposeLSH index file: it is not a "
                                                 r"regular file"):
            MultiPurposeLSH.load(target)


def test_states_that_fail_after_loading_are_refused_at_load(files, tmp_path):
    """Each loaded and failed later: classes beyond Unicode (SystemError on the first predict), a shape of more
    than 8 dimensions (NumPy's limit at the first predict), crop state in a network that fits no crops (silently
    dropped), and a list of tens of thousands of layers (seconds of checks from a tiny file)."""
    config, arrays = _arrays(files["dense"])
    bad = dict(arrays)
    bad["state.classes_"] = np.frombuffer(np.array([0x41, 0x42, 0x110000], dtype="<u4").tobytes(), dtype="<U1")
    _refused(_write(tmp_path / "chars.npz", config, bad), r"holds characters beyond Unicode \(above U\+10FFFF\)\.$")
    for edit, match in [
        (lambda c: c["state"].__setitem__("input_shape_", [6] + [1] * 9),
         r"input_shape_ should be a list of positive sizes \(at most 8 of them"),
        (lambda c: c["state"].update(crop_starts_=[0], trial_times_=7),
         r"the fitted state has \['crop_starts_', 'trial_times_'\], which only an EEGDNNClassifier fitted on crops "
         r"has, not a DenseNetClassifier\.$"),
        (lambda c: c["state"].__setitem__("layers", [{"type": "ReLU", "config": {}}] * 5000),
         r"state\.layers should be a non-empty list of at most MAX_LAYERS=4096 layer specs"),
    ]:
        edited = json.loads(json.dumps(config))
        edit(edited)
        _refused(_write(tmp_path / "edited.npz", edited, arrays), match)

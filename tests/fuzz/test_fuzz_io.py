"""Fuzz ``load_model``: arbitrary bytes, truncated and byte-flipped model files, tampered configurations
and arrays.  Every outcome is a loaded model that predicts (allowed errors or finite output), or a
ModelFileError naming the file; never another exception (not even another ValueError), never a hang."""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sklrp import load_model
from sklrp.exceptions import ModelFileError

from ._support import ELEMENTS, assert_finite, attempt, check_call, same, scaled

pytestmark = pytest.mark.fuzz

FILES = ["dense3", "conv3", "dense2"]


def _load_and_use(path):
    """load_model, then predict and explain with the loaded model (allowed errors recorded by type)."""
    model = load_model(path)
    X = np.random.RandomState(0).normal(size=(2, model.n_features_in_))
    out = {}
    for name in ("predict", "predict_proba", "explain"):
        status, value = attempt(getattr(model, name), X)
        out[name] = value if status == "ok" else type(value)
    return model, out


def _check_loaded(res):
    model, out = res
    if not isinstance(out["predict"], type):
        classes = list(model.classes_)
        assert out["predict"].shape == (2,) and all(
            any(same(p, c) for c in classes) for p in out["predict"]), f"{out['predict']!r} not in {classes!r}"
    for name in ("predict_proba", "explain"):
        if not isinstance(out[name], type):
            assert out[name].shape == ((2, len(model.classes_)) if name == "predict_proba" else
                                       (2, model.n_features_in_))
            assert_finite(out[name], f"{name} of a loaded model")


def _load(scratch, raw):
    path = scratch / "model.npz"
    path.write_bytes(raw)
    status, res = check_call(_load_and_use, path, deterministic=False, entry="sklrp.load_model")
    if status == "ok":
        _check_loaded(res)
    else:  # only load_model raises here (_load_and_use records the errors of predict and explain)
        assert type(res) is ModelFileError, f"load_model raised {type(res).__name__}, not ModelFileError: {res!r}"
        assert str(path) in str(res), f"the message does not name the file: {res}"
    return status, res


@scaled(0.5)
@given(raw=st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=300).map(lambda b: b"\x93NUMPY\x01\x00" + b),
))
def test_load_model_arbitrary_bytes(scratch, raw):
    _load(scratch, raw)


MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                                        min_size=1, max_size=4)),
    st.tuples(st.just("flip_tail"), st.lists(st.tuples(st.integers(1, 600), st.integers(1, 255)),
                                             min_size=1, max_size=3)),  # the zip directory is at the end
    st.tuples(st.just("delete"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
)


@pytest.mark.parametrize("file", FILES)
@scaled(0.5)
@given(mutation=MUTATIONS)
def test_load_model_mutated_bytes(model_files, scratch, file, mutation):
    b = bytearray(model_files[file])
    kind = mutation[0]
    if kind == "truncate":
        b = b[: int(len(b) * mutation[1])]
    elif kind == "flip":
        for pos, x in mutation[1]:
            b[int(pos * len(b))] ^= x
    elif kind == "flip_tail":
        for back, x in mutation[1]:
            b[-min(back, len(b))] ^= x
    elif kind == "delete":
        p = int(mutation[1] * len(b))
        del b[p : p + mutation[2]]
    else:
        p = int(mutation[1] * len(b))
        b[p:p] = mutation[2]
    _load(scratch, bytes(b))


# ------------------------------------------------------------- tampered content
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
              st.sampled_from([0, 1, -1, 2, 10**9, 10**15, 1e308, "", "relu", "dense", "Dense", "same", "max",
                               "epsilon", "lrp", "DenseNetClassifier", "ConvNetClassifier"]),
              st.text(max_size=5)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children,
                                                                               max_size=3)),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    """Every path (tuple of keys / indices) into a JSON document."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _set(obj, path, value):
    if not path:
        return value
    obj[path[0]] = _set(obj[path[0]], path[1:], value)
    return obj


def _delete(obj, path):
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return obj


def _arrays(raw):
    with np.load(io.BytesIO(raw), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _npz(arrays, compressed=False):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("file", FILES)
@scaled(0.8)
@given(data=st.data())
def test_load_model_tampered_config(model_files, scratch, file, data):
    arrays = _arrays(model_files[file])
    config = json.loads(str(arrays["config"]))
    paths = sorted(_paths(config), key=repr)
    for _ in range(data.draw(st.integers(1, 3), label="n_edits")):
        paths = sorted(_paths(config), key=repr)
        path = data.draw(st.sampled_from(paths), label="path")
        if path and data.draw(st.booleans(), label="delete"):
            config = _delete(config, path)
        else:
            config = _set(config, path, data.draw(JSON_VALUES, label="value"))
    arrays["config"] = np.array(json.dumps(config))
    _load(scratch, _npz(arrays, compressed=data.draw(st.booleans(), label="compressed")))


@pytest.mark.parametrize("file", FILES)
@scaled(0.8)
@given(data=st.data())
def test_load_model_tampered_arrays(model_files, scratch, file, data):
    arrays = _arrays(model_files[file])
    keys = sorted(k for k in arrays if k != "config")
    for _ in range(data.draw(st.integers(1, 2), label="n_edits")):
        key = data.draw(st.sampled_from(keys + ["state.extra", "state.net_.9.W", "param.0.W"]), label="key")
        how = data.draw(st.sampled_from(["values", "shape", "dtype", "delete", "rename"]), label="how")
        old = arrays.get(key, np.zeros(2))
        if how == "values" and old.dtype.kind in "fiub":
            arrays[key] = data.draw(hnp.arrays(old.dtype if old.dtype.kind == "f" else np.float64, old.shape,
                                               elements=ELEMENTS["any"] if old.dtype.kind == "f" else
                                               ELEMENTS["edge"]), label="values")
        elif how == "shape":
            shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), label="shape")
            arrays[key] = np.zeros(shape, dtype=old.dtype)
        elif how == "dtype":
            dtype = data.draw(st.sampled_from(["float16", "float32", "int8", "bool", "complex128", "<U3", "S2",
                                               "datetime64[s]", "V4"]), label="dtype")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # e.g. ComplexWarning
                    arrays[key] = old.astype(dtype)
            except (TypeError, ValueError, RuntimeError):
                arrays[key] = np.zeros(old.shape, dtype=dtype)
        elif how == "delete":
            arrays.pop(key, None)
        else:
            if key in arrays:
                arrays[key + "_"] = arrays.pop(key)
    _load(scratch, _npz(arrays))


def test_the_valid_files_load(model_files, scratch):
    """The unmodified files load and predict (the fuzz tests above start from them)."""
    for file in FILES:
        status, res = _load(scratch, model_files[file])
        assert status == "ok", res
        assert not any(isinstance(v, type) for v in res[1].values()), res[1]
    with zipfile.ZipFile(io.BytesIO(model_files["dense3"])) as zf:
        assert "config.npy" in zf.namelist()

"""Safe persistence (``.npz`` + JSON, no pickle).

A model file is an ``.npz`` archive read with ``allow_pickle=False``.  Format
version 2 (written now) holds

- ``config``: a JSON string ``{"format": "sklrp-model", "version": 2,
  "class": <estimator class>, "params": <get_params()>, "state": <config of
  the estimator's _get_fitted_state()>}``;
- ``state.<key>``: the arrays of the estimator's ``_get_fitted_state()``.

Version 1 files (the format before the estimators described their own state)
hold the network's fitted attributes at the top of ``config`` (``layers``,
``input_shape_``, ``n_features_in_``, ``input_bounds_``, ``n_iter_``,
``history_``), the parameters as ``param.<layer index>.<name>`` and
``classes_``; they still load.

The configuration is checked against the format's schema before anything
is built from it: the top-level keys of its version; a class among the
registered estimators; every parameter of that class (a version-1 file may
lack those added since), as JSON scalars or flat lists, validated as ``fit``
validates them, ``composite`` the name of a preset; the fitted state of a
network (``layers``, ``input_shape_``, ``input_bounds_``, ``n_iter_``,
``history_``, optionally ``best_validation_score_``) with its types and
ranges; every layer spec with exactly the keys and value types of its layer
type (:data:`_LAYER_CONFIGS`); no integer beyond 64 bits, no nesting deeper
than 64 levels, no non-finite number outside the training history.  Nothing
the file names is imported or called but the registered estimator classes
and layer types of sklrp.

Loading reads nothing that the file has not first shown to be sound: every
``.npy`` member's header (shape and dtype) and its uncompressed size in the
zip directory are checked against each other and against what the JSON
configuration describes (the shape of every network parameter, the number of
classes and features) before any array is read, and the declared sizes are
bounded by :data:`MAX_MODEL_BYTES`, :data:`MAX_LABEL_BYTES` and
:data:`MAX_CONFIG_CHARS`.  A member that is not part of the format, or that
holds Python objects (a pickle), is refused unread.  A crafted file (a huge
layer declared in a few bytes of JSON, a zip bomb, deeply nested JSON) is
refused before any of its arrays is read or allocated.

Every file that cannot be loaded raises :class:`sklrp.exceptions.ModelFileError`
(a ``ValueError``) whose message names the file and the problem; a missing
file raises ``FileNotFoundError``.
"""

import json
import math
import operator
import os
import zipfile

import numpy as np
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_is_fitted

from ..exceptions import ModelFileError
from ..nn import Sequential, layer_from_spec, layer_spec
from ..nn._base import LAYER_TYPES
from ..nn._embedding import RELEVANCE_MODES
from ..rules import Composite, Rule
from .._archive import (
    _ZIP_ERRORS,
    MAX_CONFIG_CHARS,
    MAX_LABEL_BYTES,
    MAX_MODEL_BYTES,
    _archive_members,
    _MAX_NDIM,
    _member_header,
    _read_member,
    regular_file,
)

__all__ = ["MAX_CONFIG_CHARS", "MAX_LABEL_BYTES", "MAX_MODEL_BYTES", "PersistenceMixin", "load_model", "save_model"]

#: dtype kinds of stored labels and other non-parameter arrays: bool, integers, floats, strings
_LABEL_KINDS = "biufUS"

_FORMAT = "sklrp-model"
_VERSION = 2
_SUPPORTED_VERSIONS = (1, 2)
#: estimator classes a model file may name (filled by PersistenceMixin subclasses)
_CLASSES = {}


class PersistenceMixin:
    """``save`` / ``load`` in the safe format, for estimators that describe their fitted state.

    A subclass implements ``_get_fitted_state() -> (config, arrays)`` (a
    JSON-serialisable dict and a dict of host arrays) and
    ``_set_fitted_state(config, arrays) -> self``.  Defining a public subclass
    (a name not starting with ``Base`` or ``_``) registers it, so that
    :func:`load_model` can rebuild it by name and nothing else.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith(("Base", "_")):
            _CLASSES[cls.__name__] = cls

    def save(self, path):
        """Save the fitted model to ``path`` (``.npz``) without pickle.

        The file holds the parameters as arrays and the configuration as a
        JSON string; :func:`sklrp.load_model` (or ``Class.load``) reads it with
        ``allow_pickle=False``.

        Parameters
        ----------
        path : str or path-like
            Destination file.
        """
        save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load a model saved with :meth:`save` (no unpickling).

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save` or :func:`sklrp.estimators.save_model`.

        Returns
        -------
        estimator : fitted instance of ``cls``
            The loaded model.

        Raises
        ------
        FileNotFoundError
            When ``path`` does not exist.
        sklrp.exceptions.ModelFileError
            When the file cannot be loaded (see :func:`sklrp.load_model`), or
            holds a model of another class.
        """
        est = load_model(path)
        if not isinstance(est, cls):
            raise ModelFileError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}.")
        return est


def _jsonable_params(est):
    params = {}
    for k, v in est.get_params(deep=False).items():
        if isinstance(v, (Composite, Rule, dict)):
            raise ValueError(
                f"Only named composites can be saved safely; {k}={v!r}. Set composite to a preset name "
                "before saving, or use pickle."
            )
        if k == "layers" and v is not None:
            v = [layer_spec(layer) for layer in v]
        elif k == "random_state" and not (v is None or isinstance(v, (int, np.integer))):
            v = None  # a RandomState instance is not part of the model
        elif k == "input_bounds" and v is not None:
            # a number, or per-feature bounds as a flat list (the layout input_bounds accepts)
            v = [float(b) if np.ndim(b) == 0 else np.asarray(b, dtype=np.float64).ravel().tolist() for b in v]
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        params[k] = v
    return params


def _params_from_json(params):
    params = dict(params)
    for k, v in params.items():
        if k == "layers" and v is not None:
            params[k] = [layer_from_spec(spec) for spec in v]
        elif k == "input_bounds" and isinstance(v, list):
            params[k] = tuple(np.asarray(b, dtype=np.float64) if isinstance(b, list) else b for b in v)
        elif isinstance(v, list):
            params[k] = tuple(v)
    return params


def _safe_array(name, arr):
    """``arr`` as an array ``np.load(allow_pickle=False)`` can read."""
    arr = np.asarray(arr)
    if arr.dtype == object:
        if not all(isinstance(v, str) for v in arr.ravel()):
            raise ValueError(f"{name} of mixed or object types cannot be saved safely; use pickle.")
        arr = arr.astype(str)
    return arr


@validate_params(
    {"est": [PersistenceMixin], "path": [str, os.PathLike]},
    prefer_skip_nested_validation=True,
)
def save_model(est, path):
    """Save a fitted sklrp network to ``path`` as ``.npz`` (no pickle).

    The file (format version 2) holds the estimator's parameters and its
    fitted state as described by the estimator itself; :func:`load_model`
    reads it with ``allow_pickle=False``.

    Parameters
    ----------
    est : DenseNetClassifier or ConvNetClassifier
        A fitted model whose ``composite`` is a preset name.
    path : str or path-like
        Destination file.

    Raises
    ------
    NotFittedError
        When ``est`` is not fitted.
    ValueError
        When a parameter (a Composite or Rule object) or a fitted attribute
        (object-typed classes) cannot be stored without pickle.
    """
    check_is_fitted(est)
    state, state_arrays = est._get_fitted_state()
    config = {
        "format": _FORMAT,
        "version": _VERSION,
        "class": type(est).__name__,
        "params": _jsonable_params(est),
        "state": state,
    }
    arrays = {f"state.{k}": _safe_array(k, v) for k, v in state_arrays.items()}
    arrays["config"] = np.array(json.dumps(config))
    with open(os.fspath(path), "wb") as fh:
        np.savez(fh, **arrays)


# ------------------------------------------------------------------ loading
#: the fitted state a version-1 file holds at the top of its configuration
_VERSION_1_STATE = ("layers", "input_shape_", "input_bounds_", "n_iter_", "history_")
#: a dtype of zero bytes: arrays of any shape that hold no data (shape inference)
_NO_DATA = np.dtype([])
#: deepest nesting of a configuration (a layer inside a Parallel branch inside a TimeDistributed layer is
#: about a dozen levels deep)
_MAX_JSON_DEPTH = 64
#: largest integer a configuration may hold: no size, count or seed of a model is beyond the 64-bit range
_MAX_JSON_INT = 2**63 - 1
#: the keys of a configuration, by format version (version 1: the fitted state at the top)
_TOP_KEYS = {
    1: ("format", "version", "class", "params") + _VERSION_1_STATE + ("n_features_in_",),
    2: ("format", "version", "class", "params", "state"),
}
#: the fitted state of a network: the keys every file holds, and those only some hold
#: (``best_validation_score_``: only after a fit with early stopping)
_STATE_KEYS = _VERSION_1_STATE
_OPTIONAL_STATE_KEYS = ("best_validation_score_", "crop_starts_", "trial_times_")
#: the most layers a saved network may list (checking each spec costs time: 65,000 took 7 s)
MAX_LAYERS = 4096
#: the lists of the training history
_HISTORY_KEYS = ("loss", "val_loss", "val_score")
#: the arrays of a network's state other than its parameters (``net_.*``)
_LABEL_ARRAYS = ("classes_", "feature_names_in_")


class _ShapeOnlyRandomState:
    """Stands in for the ``rng`` of ``Layer.build`` when only the parameter shapes are wanted.

    Every draw is an array of the requested shape whose dtype has zero bytes
    (``astype`` to the build dtype ``_NO_DATA`` keeps it so): building a
    network from a configuration then costs no memory however large the
    layers it declares.  A draw larger than :data:`MAX_MODEL_BYTES` allows
    (even in float32) is refused at once.
    """

    def _draw(self, size):
        if size is None:
            shape = ()
        elif np.iterable(size):
            shape = tuple(operator.index(d) for d in size)
        else:
            shape = (operator.index(size),)
        if any(d < 0 for d in shape):
            raise ValueError(f"a parameter of shape {shape} has a negative dimension")
        n = math.prod(shape)
        if 4 * n > MAX_MODEL_BYTES:
            raise ValueError(
                f"it declares a parameter of shape {shape} ({n} values, {4 * n} bytes even in float32), more than "
                f"MAX_MODEL_BYTES={MAX_MODEL_BYTES} allows"
            )
        return np.zeros(shape, dtype=_NO_DATA)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._draw(size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._draw(size)

    def standard_normal(self, size=None):
        return self._draw(size)

    def random_sample(self, size=None):
        return self._draw(size)

    random = random_sample

    def randint(self, low, high=None, size=None, dtype=int):
        return self._draw(size)

    def rand(self, *dims):
        return self._draw(dims)

    def randn(self, *dims):
        return self._draw(dims)


def _check_member_names(members, others, version, path):
    """Refuse a member that is not part of a model file of format ``version``."""
    if version == 1:
        labels, prefix = _LABEL_ARRAYS, "param."
    else:
        labels, prefix = tuple(f"state.{k}" for k in _LABEL_ARRAYS), "state.net_."
    extra = [f"{k}.npy" for k in members if k != "config" and k not in labels and not k.startswith(prefix)] + others
    if extra:
        raise ModelFileError(
            f"{path}: the archive holds the member {extra[0]!r}, which is not part of an sklrp model file of format "
            f"version {version} (config.npy, {prefix}*.npy and {' and '.join(f'{k}.npy' for k in labels)})."
        )


# ------------------------------------------------------------------ configuration schema
def _where(keys):
    """``keys`` (a path into the configuration) as ``state.layers[0].config.units``."""
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _got(value):
    """A short description of a JSON value, for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    kind = {int: "the integer", float: "the number", str: "the string", list: "the list", dict: "the object"}
    text = json.dumps(value) if isinstance(value, (list, dict)) else repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind.get(type(value), 'the value')} {text}"


def _bad_value(path, keys, expected, value):
    return ModelFileError(f"{path}: the configuration's {_where(keys)} should be {expected}; got {_got(value)}.")


def _is_number(v):
    """A finite JSON number (not a boolean)."""
    return type(v) is int or (type(v) is float and math.isfinite(v))


#: value checks of the layer configurations: (predicate, what is expected)
_POSITIVE = (lambda v: type(v) is int and 1 <= v <= MAX_MODEL_BYTES, "a positive integer (at most MAX_MODEL_BYTES)")
_NON_NEGATIVE = (lambda v: type(v) is int and 0 <= v <= MAX_MODEL_BYTES, "a non-negative integer")
_BOOL = (lambda v: type(v) is bool, "true or false")
_SCALE = (lambda v: v is None or (_is_number(v) and v > 0), "null or a positive number")
_RATE = (lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)")
_FLOOR = (lambda v: _is_number(v) and v > 0, "a positive number")
_OPTIONAL_INDEX = (lambda v: v is None or _NON_NEGATIVE[0](v), "null or a non-negative integer")
_RELEVANCE = (lambda v: type(v) is str and v in RELEVANCE_MODES, f"one of {list(RELEVANCE_MODES)}")
#: markers of the values that are layer specs themselves
_SPEC, _BRANCHES = "a layer spec", "a non-empty list of non-empty lists of layer specs"


def _sizes(n=None):
    if n is None:  # at most _MAX_NDIM sizes: a shape of more dimensions failed in NumPy at the first prediction
        return (lambda v: type(v) is list and 1 <= len(v) <= _MAX_NDIM and all(_POSITIVE[0](d) for d in v),
                f"a non-empty list of at most {_MAX_NDIM} positive integers")
    return (lambda v: type(v) is list and len(v) == n and all(_POSITIVE[0](d) for d in v),
            f"a list of {n} positive integer{'s' if n > 1 else ''}")


def _padding(nd):
    return (lambda v: v in ("valid", "same") if type(v) is str else
            type(v) is list and len(v) == nd and all(_NON_NEGATIVE[0](d) for d in v),
            f"'valid', 'same' or a list of {nd} non-negative integer{'s' if nd > 1 else ''}")


def _conv(nd):
    return {"filters": _POSITIVE, "kernel_size": _sizes(nd), "stride": _sizes(nd), "padding": _padding(nd),
            "use_bias": _BOOL}


def _pool(nd, scaled=False):
    return {"pool_size": _sizes(nd), "stride": _sizes(nd), **({"scale": _SCALE} if scaled else {})}


#: the configuration of every layer type of sklrp.nn: its keys and their values
_LAYER_CONFIGS = {
    "Dense": {"units": _POSITIVE, "use_bias": _BOOL},
    "Conv1D": _conv(1),
    "Conv2D": _conv(2),
    "MaxPool1D": _pool(1),
    "MaxPool2D": _pool(2),
    "AvgPool1D": _pool(1, scaled=True),
    "AvgPool2D": _pool(2, scaled=True),
    "SumPool1D": _pool(1, scaled=True),
    "SumPool2D": _pool(2, scaled=True),
    "Reshape": {"target_shape": _sizes()},
    "Dropout": {"rate": _RATE},
    "Log": {"floor": _FLOOR},
    "Embedding": {"vocab_size": _POSITIVE, "embedding_dim": _POSITIVE, "padding_idx": _OPTIONAL_INDEX,
                  "trainable": _BOOL, "relevance": _RELEVANCE, "channels_first": _BOOL, "blank_idx": _NON_NEGATIVE},
    "LSTM": {"units": _POSITIVE, "bidirectional": _BOOL},
    "GRU": {"units": _POSITIVE, "bidirectional": _BOOL},
    "Parallel": {"branches": _BRANCHES},
    "TimeDistributed": {"layer": _SPEC},
    "Flatten": {},
    "GlobalMaxPool1D": {},
    "ReLU": {},
    "Tanh": {},
    "Square": {},
}
#: keys of a layer configuration that are written only when set (Embedding: a blank word's id)
_OPTIONAL_LAYER_KEYS = {"Embedding": ("blank_idx",)}


def _same_json(a, b):
    """Whether two JSON values are equal, telling booleans from numbers (lists and tuples alike)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _check_layer_spec(spec, keys, path):
    """Check a layer spec ``{"type", "config"[, "name"]}`` against :data:`_LAYER_CONFIGS`.

    The layer type must be a registered layer of :mod:`sklrp.nn` (nothing
    else is looked up), its configuration must hold exactly the keys of the
    type, each of the expected JSON type and range, and the layer built from
    it must describe itself by the same spec.
    """
    where = _where(keys)
    if type(spec) is not dict:
        raise _bad_value(path, keys, "a layer spec (an object with 'type' and 'config')", spec)
    for key in spec:
        if key not in ("type", "config", "name"):
            raise ModelFileError(
                f"{path}: the configuration's {where} has the key {key!r}; a layer spec has 'type', 'config' and "
                "optionally 'name'."
            )
    for key in ("type", "config"):
        if key not in spec:
            raise ModelFileError(f"{path}: the configuration's {where} lacks the key {key!r} of a layer spec.")
    kind, config = spec["type"], spec["config"]
    if type(kind) is not str or kind not in LAYER_TYPES:
        known = ", ".join(sorted(LAYER_TYPES))
        raise _bad_value(path, keys + ("type",), f"the name of a layer type of sklrp.nn ({known})", kind)
    if "name" in spec and type(spec["name"]) is not str:
        raise _bad_value(path, keys + ("name",), "a string", spec["name"])
    if type(config) is not dict:
        raise _bad_value(path, keys + ("config",), f"the configuration of a {kind} layer (an object)", config)
    schema = _LAYER_CONFIGS.get(kind)  # None: a layer type registered outside sklrp, checked by its round trip
    if schema is not None:
        for key in config:
            if key not in schema:
                raise ModelFileError(
                    f"{path}: the configuration's {where}.config has the key {key!r}, which a {kind} layer does not "
                    f"have (its keys: {list(schema)})."
                )
        for key, check in schema.items():
            value = config.get(key)
            if key not in config:
                if key in _OPTIONAL_LAYER_KEYS.get(kind, ()):
                    continue
                raise ModelFileError(
                    f"{path}: the configuration's {where}.config lacks the key {key!r} of a {kind} layer."
                )
            inner = keys + ("config", key)
            if check is _SPEC:
                _check_layer_spec(value, inner, path)
            elif check is _BRANCHES:
                if type(value) is not list or not value or not all(type(b) is list and b for b in value):
                    raise _bad_value(path, inner, _BRANCHES, value)
                for b, branch in enumerate(value):
                    for i, layer in enumerate(branch):
                        _check_layer_spec(layer, inner + (b, i), path)
            elif not check[0](value):
                raise _bad_value(path, inner, check[1], value)
    try:
        again = layer_spec(layer_from_spec(spec))
    except Exception as exc:  # noqa: BLE001 - the layer's own checks (e.g. padding_idx < vocab_size)
        raise ModelFileError(f"{path}: the configuration's {where} does not describe a {kind} layer: {exc}") from exc
    if not _same_json(again, spec):
        raise ModelFileError(
            f"{path}: the configuration's {where} is not a {kind} layer as sklrp writes it: it reads back as "
            f"{json.dumps(again)[:200]}."
        )


def _check_json_tree(config, path):
    """Refuse a configuration nested deeper than :data:`_MAX_JSON_DEPTH`, an integer beyond 64 bits, and a
    non-finite number outside the training history (which records a diverging loss as it was)."""
    stack = [(config, ())]
    while stack:
        value, keys = stack.pop()
        if len(keys) > _MAX_JSON_DEPTH:
            raise ModelFileError(
                f"{path}: the configuration nests more than {_MAX_JSON_DEPTH} levels deep (under "
                f"{_where(keys[:8])}); an sklrp model file nests a few levels."
            )
        if type(value) is dict:
            stack.extend((v, keys + (k,)) for k, v in value.items())
        elif type(value) is list:
            stack.extend((v, keys + (i,)) for i, v in enumerate(value))
        elif type(value) is int and abs(value) > _MAX_JSON_INT:
            raise ModelFileError(
                f"{path}: the configuration's {_where(keys)} is {_got(value)}, beyond the 64-bit range of any "
                "size, count or seed of a model."
            )
        elif type(value) is float and not math.isfinite(value) and "history_" not in keys[:2]:
            raise ModelFileError(
                f"{path}: the configuration's {_where(keys)} is {value}; only the training history may hold "
                "non-finite numbers."
            )


def _read_config(zf, members, path):
    """The checked JSON configuration of a model file: format, version, keys and class."""
    if "config" not in members:
        raise ModelFileError(f"{path} is not an sklrp model file (no 'config' entry).")
    info = members["config"]
    shape, dtype, _ = _member_header(zf, info, path)
    if shape != () or dtype.kind != "U":
        raise ModelFileError(
            f"{path} is not an sklrp model file: its 'config' entry should be a JSON string (a 0-d unicode "
            f"array); found shape {shape} and dtype {dtype}."
        )
    n_chars = dtype.itemsize // 4
    if n_chars > MAX_CONFIG_CHARS:
        raise ModelFileError(
            f"{path}: the JSON configuration has {n_chars} characters; at most MAX_CONFIG_CHARS={MAX_CONFIG_CHARS} "
            "are read."
        )
    array = _read_member(zf, info, path)
    try:
        text = str(array)
        config = json.loads(text)
    except RecursionError as exc:
        raise ModelFileError(
            f"{path}: the JSON configuration is nested too deeply to be read; an sklrp model file nests a few "
            "levels."
        ) from exc
    except ValueError as exc:  # invalid JSON, or characters beyond Unicode (a corrupt byte order)
        raise ModelFileError(
            f"{path} is not an sklrp model file: its configuration is not valid JSON ({exc})."
        ) from exc
    if not isinstance(config, dict):
        raise ModelFileError(f"{path} is not an sklrp model file: its configuration is {_got(config)}, not an object.")
    if config.get("format") != _FORMAT:
        raise ModelFileError(
            f"{path} is not an sklrp model file: its configuration's format is "
            f"{_got(config['format']) if 'format' in config else 'missing'}; expected {_FORMAT!r}."
        )
    version = config.get("version")
    if type(version) is not int or version not in _SUPPORTED_VERSIONS:
        raise ModelFileError(
            f"{path} is an sklrp model file of format version {version!r}; this version of sklrp reads "
            f"format versions {list(_SUPPORTED_VERSIONS)}. Save the model again with a matching sklrp."
        )
    if version == 1:
        missing = [k for k in _VERSION_1_STATE if k not in config]
        if missing:
            raise ModelFileError(f"{path}: the version-1 configuration lacks {missing}.")
    for key in _TOP_KEYS[version]:
        if key not in config and key != "n_features_in_":
            raise ModelFileError(f"{path}: the configuration lacks the key {key!r}.")
    for key in config:
        if key not in _TOP_KEYS[version]:
            raise ModelFileError(
                f"{path}: the configuration has the key {key!r}, which a model file of format version {version} "
                f"does not have (its keys: {list(_TOP_KEYS[version])})."
            )
    _check_json_tree(config, path)
    cls = config["class"]
    if type(cls) is not str or cls not in _CLASSES:
        raise ModelFileError(
            f"{path}: unknown estimator class {_got(cls)}; a model file names one of {sorted(_CLASSES)}."
        )
    if not isinstance(config["params"], dict):
        raise ModelFileError(
            f"{path}: the configuration's 'params' should be a JSON object; got {_got(config['params'])}."
        )
    return config


def _positive_ints(v):
    return type(v) is list and all(_POSITIVE[0](d) for d in v)


#: the items of the list-valued parameters, which scikit-learn's constraints leave to ``fit`` (a model file
#: is never fitted, so they are checked at load): (predicate, what is expected)
_PARAM_LISTS = {
    "hidden_layer_sizes": (_positive_ints, "a list of positive integers"),
    "filters": (_positive_ints, "a list of positive integers"),
    "filter_sizes": (lambda v: _positive_ints(v) and len(v) >= 1, "a non-empty list of positive integers"),
    "input_shape": (lambda v: v is None or (_positive_ints(v) and len(v) >= 1),
                    "null or a non-empty list of positive integers"),
    "kernel_size": (lambda v: _POSITIVE[0](v) or (_positive_ints(v) and len(v) >= 1),
                    "a positive integer or a list of positive integers"),
    "input_bounds": (lambda v: v is None or (type(v) is list and len(v) == 2 and all(
        _is_number(b) or (type(b) is list and len(b) >= 1 and all(_is_number(x) for x in b)) for b in v)
        and not (_is_number(v[0]) and _is_number(v[1]) and v[0] > v[1])),
                     "null or a list [low, high] of two finite numbers (low <= high) or flat lists of finite numbers, "
                     "one per input feature"),
    "frozen_layers": (lambda v: v is None or (type(v) is list and all(type(n) is str or _NON_NEGATIVE[0](n)
                                                                        for n in v)),
                      "null or a list of layer names and indices"),
}


def _check_params(cls, params, version, path):
    """Check the JSON parameters of ``cls`` before the estimator is built from them.

    A version-2 file holds every parameter of the class; a version-1 file
    may lack those added since (they take their defaults).  Values are JSON
    scalars or flat lists, but for ``layers`` (layer specs), ``composite``
    (the name of a preset: nothing else is saved) and ``embeddings`` (never
    an array in a saved model).
    """
    names = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ModelFileError(
            f"{path}: the configuration's params name parameters {cls.__name__} does not have: {unknown}."
        )
    missing = [k for k in names if k not in params]
    if missing and version >= 2:
        raise ModelFileError(
            f"{path}: the configuration's params lack the parameters {missing} of {cls.__name__} (a file of format "
            "version 2 holds all of them)."
        )
    for key, value in params.items():
        keys = ("params", key)
        if key == "layers":
            if value is not None:
                if type(value) is not list:
                    raise _bad_value(path, keys, "null or a list of layer specs", value)
                for i, spec in enumerate(value):
                    _check_layer_spec(spec, keys + (i,), path)
        elif key == "composite":
            if type(value) is not str:
                raise _bad_value(path, keys, "the name of a preset composite (only named composites are saved)",
                                 value)
        elif key == "embeddings":
            if value is not None and type(value) is not str:
                raise _bad_value(path, keys, "null or 'word2vec' (a saved model never holds an array here)", value)
        elif type(value) is dict:
            raise _bad_value(path, keys, "a number, a string, a boolean, null or a list of those", value)
        elif key == "input_bounds":  # per-feature bounds nest one level
            if not _PARAM_LISTS[key][0](value):
                raise _bad_value(path, keys, _PARAM_LISTS[key][1], value)
        elif type(value) is list and not all(v is None or type(v) in (bool, int, float, str) for v in value):
            raise _bad_value(path, keys, "a flat list of numbers, strings, booleans or nulls", value)
        elif key in _PARAM_LISTS and (type(value) is list or value is None) and not _PARAM_LISTS[key][0](value):
            raise _bad_value(path, keys, _PARAM_LISTS[key][1], value)


def _estimator_from_params(config, path):
    """The (unfitted) estimator of a configuration, its parameters validated as ``fit`` would validate them."""
    cls = _CLASSES[config["class"]]
    _check_params(cls, config["params"], config["version"], path)
    try:
        est = cls(**_params_from_json(config["params"]))
        est._validate_params()  # scikit-learn's constraints: types, ranges, option strings
    except Exception as exc:  # noqa: BLE001 - InvalidParameterError (ValueError and TypeError), a layer's own checks
        raise ModelFileError(f"{path}: invalid parameters in the configuration: {exc}") from exc
    return est


def _state_and_members(config, members, path):
    """The fitted state of the configuration, and the zip members of its arrays by state key."""
    if config["version"] == 1:
        if "classes_" not in members:
            raise ModelFileError(f"{path}: the version-1 file lacks its 'classes_' entry.")
        state = {k: config[k] for k in _VERSION_1_STATE}
        names = {f"net_.{k[len('param.') :]}": info for k, info in members.items() if k.startswith("param.")}
        names.update({k: members[k] for k in _LABEL_ARRAYS if k in members})
    else:
        state = config["state"]
        if not isinstance(state, dict):
            raise ModelFileError(
                f"{path}: the configuration's 'state' should be a JSON object; got {_got(state)}."
            )
        names = {k[len("state.") :]: info for k, info in members.items() if k.startswith("state.")}
    return state, names


def _check_state(config, state, path):
    """Check the fitted state of a network against its schema (keys, JSON types, ranges, layer specs)."""
    prefix = ("state",) if config["version"] >= 2 else ()
    for key in _STATE_KEYS:
        if key not in state:
            raise ModelFileError(f"{path}: the fitted state in the configuration lacks {key!r}.")
    for key in state:
        if key not in _STATE_KEYS + _OPTIONAL_STATE_KEYS:
            raise ModelFileError(
                f"{path}: the fitted state in the configuration has the key {key!r}, which the fitted state of a "
                f"network does not have (its keys: {list(_STATE_KEYS + _OPTIONAL_STATE_KEYS)})."
            )
    layers = state["layers"]
    if type(layers) is not list or not layers or len(layers) > MAX_LAYERS:
        raise _bad_value(path, prefix + ("layers",), f"a non-empty list of at most MAX_LAYERS={MAX_LAYERS} layer "
                         "specs", layers)
    for i, spec in enumerate(layers):
        _check_layer_spec(spec, prefix + ("layers", i), path)
    input_shape = state["input_shape_"]
    if not _sizes()[0](input_shape):
        raise ModelFileError(
            f"{path}: the configuration's input_shape_ should be a list of positive sizes (at most {_MAX_NDIM} of "
            f"them, each at most MAX_MODEL_BYTES={MAX_MODEL_BYTES}); got {_got(input_shape)}."
        )
    bounds = state["input_bounds_"]
    if type(bounds) is not list or len(bounds) != 2 or not all(_is_number(b) for b in bounds) or bounds[0] > bounds[1]:
        raise _bad_value(path, prefix + ("input_bounds_",), "a list [low, high] of two finite numbers, low <= high",
                         bounds)
    if not _NON_NEGATIVE[0](state["n_iter_"]):
        raise _bad_value(path, prefix + ("n_iter_",), "a non-negative integer", state["n_iter_"])
    history = state["history_"]
    if history is not None:  # None: no training history (an imported model)
        where = _where(prefix + ("history_",))
        if type(history) is not dict:
            raise _bad_value(path, prefix + ("history_",), f"null or an object with the lists {list(_HISTORY_KEYS)}",
                             history)
        for key in _HISTORY_KEYS:
            if key not in history:
                raise ModelFileError(f"{path}: the configuration's {where} lacks the list {key!r}.")
        for key, values in history.items():
            if key not in _HISTORY_KEYS:
                raise ModelFileError(
                    f"{path}: the configuration's {where} has the key {key!r}; the training history has the lists "
                    f"{list(_HISTORY_KEYS)}."
                )
            if type(values) is not list or not all(type(v) in (int, float) for v in values):
                raise _bad_value(path, prefix + ("history_", key), "a list of numbers", values)
    if "best_validation_score_" in state and not _is_number(state["best_validation_score_"]):
        raise _bad_value(path, prefix + ("best_validation_score_",), "a finite number",
                         state["best_validation_score_"])
    _check_crops(state, input_shape, prefix, path)
    if config["version"] == 1 and "n_features_in_" in config and config["n_features_in_"] != math.prod(input_shape):
        raise _bad_value(path, ("n_features_in_",), f"the size of input_shape_, {math.prod(input_shape)}",
                         config["n_features_in_"])


def _check_crops(state, input_shape, prefix, path):
    """A network fitted on crops (EEGDNNClassifier): the trials' length and the crop starts inside them."""
    if ("crop_starts_" in state) != ("trial_times_" in state):
        raise ModelFileError(f"{path}: the fitted state has one of 'crop_starts_' and 'trial_times_' without the other.")
    if "crop_starts_" not in state:
        return
    size, n_times, starts = input_shape[-1], state["trial_times_"], state["crop_starts_"]
    if type(n_times) is not int or not size < n_times <= MAX_MODEL_BYTES:
        raise _bad_value(path, prefix + ("trial_times_",), f"an integer above the crop length {size}", n_times)
    if type(starts) is not list or not starts or not all(type(v) is int and 0 <= v <= n_times - size for v in starts):
        raise _bad_value(path, prefix + ("crop_starts_",),
                         f"a non-empty list of crop starts in [0, {n_times - size}]", starts)


def _check_class_state(cls, state, path):
    """The invariants a class states for the layers of its networks (``_saved_layers_problem``, e.g. the token
    networks read ids padded with 0), and the state keys of one class only (the crops of EEGDNNClassifier)."""
    crops = [key for key in ("crop_starts_", "trial_times_") if key in state]
    if crops and not getattr(cls, "_fits_crops", False):
        raise ModelFileError(
            f"{path}: the fitted state has {crops}, which only an EEGDNNClassifier fitted on crops has, not a "
            f"{cls.__name__}."
        )
    hook = getattr(cls, "_saved_layers_problem", None)
    problem = hook(state["layers"], describe=_got) if hook is not None else None
    if problem is not None:
        raise ModelFileError(f"{path}: the configuration's state.layers{problem}")


def _check_layer_sizes(layers, path):
    """Refuse an integer in the layer configuration over :data:`MAX_MODEL_BYTES` (no loadable network has one).

    numpy still steps through the elements of an array of zero-byte items
    (``astype``, slice assignment), so the sizes are bounded before the
    shape-only build of :func:`_network_expectations`.
    """
    stack = [layers]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_MODEL_BYTES:
            raise ModelFileError(
                f"{path}: the layer configuration holds the size {item}, larger than "
                f"MAX_MODEL_BYTES={MAX_MODEL_BYTES}; no loadable network has it."
            )


def _network_expectations(state, path):
    """What the arrays of a network's state must be, from its configuration alone.

    The network is built with :class:`_ShapeOnlyRandomState` and a dtype of
    zero bytes: nothing of the size of its parameters is allocated.

    Returns
    -------
    expected : tuple or None
        ``(shapes, n_outputs, n_features)``: the parameter shapes by state key
        ``"net_.<layer index>.<name>"``, the number of network outputs and of
        input features; None when ``state`` does not describe a network.
    """
    if "layers" not in state or "input_shape_" not in state:
        return None
    input_shape, layers = state["input_shape_"], state["layers"]
    if (
        not isinstance(input_shape, list)
        or not input_shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_MODEL_BYTES for d in input_shape)
    ):
        raise ModelFileError(
            f"{path}: the configuration's input_shape_ should be a list of positive sizes (at most "
            f"MAX_MODEL_BYTES={MAX_MODEL_BYTES}); got {input_shape!r:.80}."
        )
    if not isinstance(layers, list):
        raise ModelFileError(
            f"{path}: the configuration's layers should be a list of layer specs; got {layers!r:.80}."
        )
    _check_layer_sizes(layers, path)
    try:
        net = Sequential([layer_from_spec(spec) for spec in layers])
        output_shape = net.build(tuple(input_shape), _ShapeOnlyRandomState(), _NO_DATA)
        shapes = {
            f"net_.{i}.{k}": tuple(int(d) for d in layer.params[k].shape)
            for i, layer in enumerate(net.layers)
            for k in list(layer.params)
        }
        n_outputs = math.prod(int(d) for d in output_shape)
    except Exception as exc:  # noqa: BLE001 - whatever building the layers of a crafted configuration raises
        raise ModelFileError(
            f"{path}: the configuration does not describe a network that can be loaded: {exc}"
        ) from exc
    return shapes, n_outputs, math.prod(input_shape)


def _check_arrays(headers, names, expected, path):
    """Check the declared arrays (``headers``: state key -> (shape, dtype, nbytes)) before any is read."""
    total = sum(nbytes for _, _, nbytes in headers.values())
    if total > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"{path} declares arrays of {total} bytes in all; at most MAX_MODEL_BYTES={MAX_MODEL_BYTES} are loaded."
        )
    dtypes = set()
    for key, (shape, dtype, nbytes) in headers.items():
        member = names[key].filename
        if key.startswith("net_."):
            if dtype.kind != "f" or dtype.itemsize not in (4, 8):
                raise ModelFileError(
                    f"{path}: parameter member {member!r} has dtype {dtype}; expected float32 or float64."
                )
            dtypes.add(dtype.itemsize)
        elif key == "feature_names_in_" and dtype.kind != "U":
            raise ModelFileError(f"{path}: member {member!r} has dtype {dtype}; expected strings (the feature names).")
        elif dtype.kind not in _LABEL_KINDS:
            raise ModelFileError(
                f"{path}: member {member!r} has dtype {dtype}; expected booleans, integers, floats or strings."
            )
        elif nbytes > MAX_LABEL_BYTES:
            raise ModelFileError(
                f"{path}: member {member!r} declares shape {shape} of dtype {dtype}, {nbytes} bytes; at most "
                f"MAX_LABEL_BYTES={MAX_LABEL_BYTES} are loaded for an array other than a parameter."
            )
    if len(dtypes) > 1:
        raise ModelFileError(
            f"{path}: the parameters mix float32 and float64; a network's parameters share one dtype."
        )
    if expected is None:
        return
    shapes, n_outputs, n_features = expected
    for key, shape in shapes.items():
        if key not in headers:
            raise ModelFileError(
                f"{path}: the network of its configuration has the parameter {key!r}, which the file lacks."
            )
        if headers[key][0] != shape:
            raise ModelFileError(
                f"{path}: member {names[key].filename!r} declares shape {headers[key][0]}; the network of the "
                f"configuration expects {shape}."
            )
    for key in headers:
        if key.startswith("net_.") and key not in shapes:
            raise ModelFileError(
                f"{path}: member {names[key].filename!r} is a parameter that the network of the configuration "
                "does not have."
            )
    if "classes_" not in headers:
        raise ModelFileError(f"{path}: the file lacks the classes_ of the model.")
    shape = headers["classes_"][0]
    n_classes = 2 if n_outputs == 1 else n_outputs  # one output: the score of classes_[1] against classes_[0]
    if len(shape) != 1 or shape[0] != n_classes:
        raise ModelFileError(
            f"{path}: member {names['classes_'].filename!r} declares shape {shape}; the network has {n_outputs} "
            f"output{'s' if n_outputs != 1 else ''}, so ({n_classes},) classes are expected."
        )
    if "feature_names_in_" in headers and headers["feature_names_in_"][0] != (n_features,):
        raise ModelFileError(
            f"{path}: member {names['feature_names_in_'].filename!r} declares shape "
            f"{headers['feature_names_in_'][0]}; expected one name per input feature, ({n_features},)."
        )


def _check_values(arrays, names, path):
    """Check the values of the arrays once read: finite parameters, distinct (and finite) classes."""
    for key, arr in arrays.items():
        member = names[key].filename
        if key.startswith("net_.") and not np.isfinite(arr).all():
            raise ModelFileError(f"{path}: parameter member {member!r} holds non-finite values (NaN or infinity).")
        if key == "classes_":
            if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
                raise ModelFileError(f"{path}: member {member!r} holds non-finite class labels.")
            if arr.dtype.kind == "U" and arr.size and int(
                    np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype="<u4" if arr.dtype.byteorder != ">"
                                  else ">u4").max(initial=0)) > 0x10FFFF:
                raise ModelFileError(f"{path}: member {member!r} holds characters beyond Unicode (above U+10FFFF).")
            if len(np.unique(arr)) != len(arr):
                raise ModelFileError(f"{path}: member {member!r} lists a class more than once: {arr.tolist()!r:.200}.")


@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def load_model(path):
    """Load a model saved by :func:`save_model`, with ``allow_pickle=False``.

    Files of format versions 1 and 2 are read.  Nothing in the file is
    unpickled, imported or called: the estimator class and the layer types it
    names are looked up among sklrp's own, and its parameters and fitted
    state are checked against the format's schema before the model is built.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model` (or an estimator's ``save``).

    Returns
    -------
    estimator : DenseNetClassifier, ConvNetClassifier, TextCNNClassifier, BiLSTMClassifier or EEGDNNClassifier
        The fitted model, on the host.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    sklrp.exceptions.ModelFileError
        (a ``ValueError``) For every file that cannot be loaded; the message
        names the file and the problem: not an sklrp model file (not an
        archive, no configuration, a damaged or truncated archive), a format
        version this sklrp does not read, a member that is not part of the
        format or holds Python objects (never unpickled), a configuration
        that does not match the schema (a missing, extra or mistyped key, a
        value out of range, an unknown estimator class or layer type, a
        parameter that ``fit`` would refuse, an integer beyond 64 bits,
        nesting deeper than 64 levels), an array whose ``.npy`` header
        disagrees with its size in the archive (a zip bomb, a truncated
        array) or with the configuration (a parameter shape, the number of
        classes or feature names), parameters that are not float32 or
        float64 or not finite, arrays larger than :data:`MAX_MODEL_BYTES` in
        all (:data:`MAX_LABEL_BYTES` for labels), or a configuration longer
        than :data:`MAX_CONFIG_CHARS`.  Everything but the values of the
        arrays is checked before any array is read.
    """
    try:
        return _load_model(path)
    except (ModelFileError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever else a crafted file provokes is reported as a bad file
        raise ModelFileError(
            f"{path}: the file cannot be loaded as an sklrp model: {type(exc).__name__}: {exc}"
        ) from exc


def _load_model(path):
    if os.path.exists(path) and not regular_file(path):  # a directory, a device or a pipe
        raise ModelFileError(f"{path} is not an sklrp model file: it is not a regular file (a directory, a device "
                             "or a pipe).")
    try:
        zf = zipfile.ZipFile(os.fspath(path))
    except FileNotFoundError:
        raise
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path} is not an sklrp model file (not an .npz archive).") from exc
    except Exception as exc:  # noqa: BLE001 - an archive zipfile cannot read (or an unreadable path)
        raise ModelFileError(f"{path}: the archive cannot be read: {type(exc).__name__}: {exc}") from exc
    with zf:
        try:
            members, others = _archive_members(zf, path)
            config = _read_config(zf, members, path)
            _check_member_names(members, others, config["version"], path)
            state, names = _state_and_members(config, members, path)
            _check_state(config, state, path)
            _check_class_state(_CLASSES[config["class"]], state, path)
            est = _estimator_from_params(config, path)
            headers = {key: _member_header(zf, info, path) for key, info in names.items()}
            _check_arrays(headers, names, _network_expectations(state, path), path)
            arrays = {key: _read_member(zf, info, path) for key, info in names.items()}
        except _ZIP_ERRORS as exc:  # a damaged or unsupported archive (encrypted, unknown zip version, ...)
            raise ModelFileError(f"{path}: the archive cannot be read: {type(exc).__name__}: {exc}") from exc
    _check_values(arrays, names, path)
    try:
        est = est._set_fitted_state(state, arrays)
    except KeyError as exc:
        raise ModelFileError(f"{path}: the fitted state in the configuration lacks {exc}.") from exc
    except Exception as exc:  # noqa: BLE001 - the estimator's own checks of its state
        raise ModelFileError(f"{path}: the fitted state in the configuration is inconsistent: {exc}") from exc
    if getattr(est, "input_bounds", None) is not None and hasattr(est, "_checked_bounds"):
        try:  # per-feature bounds: one value per input feature of the loaded network, low <= high
            est._checked_bounds(est.input_bounds)
        except ValueError as exc:
            raise ModelFileError(f"{path}: the configuration's params.input_bounds do not fit the network: {exc}") from exc
    return est

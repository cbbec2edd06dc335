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

Loading reads nothing that the file has not first shown to be sound: every
``.npy`` member's header (shape and dtype) and its uncompressed size in the
zip directory are checked against each other and against what the JSON
configuration describes (the shape of every network parameter, the number of
classes and features) before any array is read, and the declared sizes are
bounded by :data:`MAX_MODEL_BYTES`, :data:`MAX_LABEL_BYTES` and
:data:`MAX_CONFIG_CHARS`.  A crafted file (a huge layer declared in a few
bytes of JSON, a zip bomb, deeply nested JSON) is refused with a
``ValueError`` before any of its arrays is read or allocated.
"""

import io
import json
import math
import operator
import os
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_is_fitted

from ..nn import Sequential, layer_from_spec, layer_spec
from ..rules import Composite, Rule

__all__ = ["MAX_CONFIG_CHARS", "MAX_LABEL_BYTES", "MAX_MODEL_BYTES", "PersistenceMixin", "load_model", "save_model"]

#: Largest total size, in bytes, of the arrays a model file may declare
#: (:func:`load_model` refuses larger files before reading any array).
MAX_MODEL_BYTES = 4 * 2**30
#: Largest size, in bytes, of one array of labels (``classes_``,
#: ``feature_names_in_``) or of another non-parameter state array.
MAX_LABEL_BYTES = 64 * 2**20
#: Largest length, in characters, of the JSON configuration of a model file
#: (about a hundred thousand epochs of training history).
MAX_CONFIG_CHARS = 8 * 2**20
#: Largest .npy header read (numpy's own default ``max_header_size``).
_MAX_NPY_HEADER = 10_000
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
        """
        est = load_model(path)
        if not isinstance(est, cls):
            raise ValueError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}.")
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
#: what reading a zip member may raise on a corrupt archive
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError, RuntimeError)


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


def _member_header(zf, info, path):
    """The checked ``.npy`` header of the zip member ``info``: ``(shape, dtype, nbytes)``.

    Only the first few kilobytes of the member are decompressed.  Refused: a
    member that is not a ``.npy`` array, a header over ``_MAX_NPY_HEADER``
    bytes, an object dtype, and a member whose uncompressed size (from the
    zip directory, which bounds what reading it can produce) differs from
    its header plus the data the header declares: a zip bomb, or a
    truncated array.
    """
    name = info.filename
    try:
        with zf.open(info) as fh:
            head = fh.read(12 + _MAX_NPY_HEADER)
    except _ZIP_ERRORS as exc:
        raise ValueError(f"{path}: member {name!r} cannot be read: {exc}") from None
    if len(head) < 10 or not head.startswith(npy_format.MAGIC_PREFIX):
        raise ValueError(f"{path}: member {name!r} is not a .npy array (it lacks the .npy magic string).")
    version = (head[6], head[7])
    if version == (1, 0):
        length_size, read_header = 2, npy_format.read_array_header_1_0
    elif version == (2, 0):
        length_size, read_header = 4, npy_format.read_array_header_2_0
    else:
        raise ValueError(
            f"{path}: member {name!r} is a .npy array of format version {version[0]}.{version[1]}; "
            "expected 1.0 or 2.0."
        )
    header_length = int.from_bytes(head[8 : 8 + length_size], "little")
    if header_length > _MAX_NPY_HEADER:
        raise ValueError(
            f"{path}: member {name!r} has a .npy header of {header_length} bytes; at most {_MAX_NPY_HEADER} "
            "are read."
        )
    fp = io.BytesIO(head)
    try:
        npy_format.read_magic(fp)
        shape, _, dtype = read_header(fp, max_header_size=_MAX_NPY_HEADER)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: member {name!r} has an invalid .npy header: {exc}") from None
    if dtype.hasobject:
        raise ValueError(f"{path}: member {name!r} holds Python objects (dtype {dtype}), which are never unpickled.")
    if any(d < 0 for d in shape):
        raise ValueError(f"{path}: member {name!r} declares the shape {shape}, with a negative dimension.")
    nbytes = math.prod(shape) * dtype.itemsize
    data_size = info.file_size - fp.tell()
    if data_size != nbytes:
        raise ValueError(
            f"{path}: member {name!r} holds {data_size} bytes of array data once decompressed, but its header "
            f"declares shape {shape} of dtype {dtype}, {nbytes} bytes; the member is corrupt or crafted (a zip "
            "bomb, or a truncated array)."
        )
    return shape, dtype, nbytes


def _read_member(zf, info, path):
    """The array of the zip member ``info``, whose header :func:`_member_header` checked."""
    try:
        with zf.open(info) as fh:
            return npy_format.read_array(fh, allow_pickle=False, max_header_size=_MAX_NPY_HEADER)
    except (ValueError,) + _ZIP_ERRORS as exc:
        raise ValueError(f"{path}: member {info.filename!r} cannot be read: {exc}") from None


def _read_config(zf, members, path):
    """The checked JSON configuration of a model file (format, version, class and params)."""
    if "config" not in members:
        raise ValueError(f"{path} is not an sklrp model file (no 'config' entry).")
    info = members["config"]
    shape, dtype, _ = _member_header(zf, info, path)
    if shape != () or dtype.kind != "U":
        raise ValueError(
            f"{path} is not an sklrp model file: its 'config' entry should be a JSON string (a 0-d unicode "
            f"array); found shape {shape} and dtype {dtype}."
        )
    n_chars = dtype.itemsize // 4
    if n_chars > MAX_CONFIG_CHARS:
        raise ValueError(
            f"{path}: the JSON configuration has {n_chars} characters; at most MAX_CONFIG_CHARS={MAX_CONFIG_CHARS} "
            "are read."
        )
    text = str(_read_member(zf, info, path))
    try:
        config = json.loads(text)
    except RecursionError:
        raise ValueError(
            f"{path}: the JSON configuration is nested too deeply to be read; an sklrp model file nests a few "
            "levels."
        ) from None
    except ValueError as exc:
        raise ValueError(f"{path} is not an sklrp model file: its configuration is not valid JSON ({exc}).") from None
    if not isinstance(config, dict) or config.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an sklrp model file.")
    version = config.get("version")
    if version not in _SUPPORTED_VERSIONS:
        raise ValueError(
            f"{path} is an sklrp model file of format version {version!r}; this version of sklrp reads "
            f"format versions {list(_SUPPORTED_VERSIONS)}. Save the model again with a matching sklrp."
        )
    cls = config.get("class")
    if not isinstance(cls, str) or cls not in _CLASSES:
        raise ValueError(f"Unknown estimator class {cls!r} in {path}.")
    if not isinstance(config.get("params"), dict):
        raise ValueError(
            f"{path}: the configuration's 'params' should be a JSON object; got {config.get('params')!r:.80}."
        )
    return config


def _state_and_members(config, members, path):
    """The fitted state of the configuration, and the zip members of its arrays by state key."""
    if config["version"] == 1:
        missing = [k for k in _VERSION_1_STATE if k not in config]
        if missing:
            raise ValueError(f"{path}: the version-1 configuration lacks {missing}.")
        if "classes_" not in members:
            raise ValueError(f"{path}: the version-1 file lacks its 'classes_' entry.")
        state = {k: config[k] for k in _VERSION_1_STATE}
        names = {f"net_.{k[len('param.') :]}": info for k, info in members.items() if k.startswith("param.")}
        names["classes_"] = members["classes_"]
    else:
        state = config.get("state")
        if not isinstance(state, dict):
            raise ValueError(f"{path}: the configuration's 'state' should be a JSON object; got {state!r:.80}.")
        names = {k[len("state.") :]: info for k, info in members.items() if k.startswith("state.")}
    return state, names


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
            raise ValueError(
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
        raise ValueError(
            f"{path}: the configuration's input_shape_ should be a list of positive sizes (at most "
            f"MAX_MODEL_BYTES={MAX_MODEL_BYTES}); got {input_shape!r:.80}."
        )
    if not isinstance(layers, list):
        raise ValueError(f"{path}: the configuration's layers should be a list of layer specs; got {layers!r:.80}.")
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
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, ZeroDivisionError,
            RecursionError) as exc:
        raise ValueError(f"{path}: the configuration does not describe a network that can be loaded: {exc}") from None
    return shapes, n_outputs, math.prod(input_shape)


def _check_arrays(headers, names, expected, path):
    """Check the declared arrays (``headers``: state key -> (shape, dtype, nbytes)) before any is read."""
    total = sum(nbytes for _, _, nbytes in headers.values())
    if total > MAX_MODEL_BYTES:
        raise ValueError(
            f"{path} declares arrays of {total} bytes in all; at most MAX_MODEL_BYTES={MAX_MODEL_BYTES} are loaded."
        )
    for key, (shape, dtype, nbytes) in headers.items():
        member = names[key].filename
        if key.startswith("net_."):
            if dtype.kind != "f" or dtype.itemsize not in (4, 8):
                raise ValueError(f"{path}: parameter member {member!r} has dtype {dtype}; expected float32 or float64.")
        elif dtype.kind not in _LABEL_KINDS:
            raise ValueError(
                f"{path}: member {member!r} has dtype {dtype}; expected booleans, integers, floats or strings."
            )
        elif nbytes > MAX_LABEL_BYTES:
            raise ValueError(
                f"{path}: member {member!r} declares shape {shape} of dtype {dtype}, {nbytes} bytes; at most "
                f"MAX_LABEL_BYTES={MAX_LABEL_BYTES} are loaded for an array other than a parameter."
            )
    if expected is None:
        return
    shapes, n_outputs, n_features = expected
    for key, shape in shapes.items():
        if key not in headers:
            raise ValueError(
                f"{path}: the network of its configuration has the parameter {key!r}, which the file lacks."
            )
        if headers[key][0] != shape:
            raise ValueError(
                f"{path}: member {names[key].filename!r} declares shape {headers[key][0]}; the network of the "
                f"configuration expects {shape}."
            )
    for key in headers:
        if key.startswith("net_.") and key not in shapes:
            raise ValueError(
                f"{path}: member {names[key].filename!r} is a parameter that the network of the configuration "
                "does not have."
            )
    if "classes_" not in headers:
        raise ValueError(f"{path}: the file lacks the classes_ of the model.")
    shape = headers["classes_"][0]
    n_classes = 2 if n_outputs == 1 else n_outputs  # one output: the score of classes_[1] against classes_[0]
    if len(shape) != 1 or shape[0] != n_classes:
        raise ValueError(
            f"{path}: member {names['classes_'].filename!r} declares shape {shape}; the network has {n_outputs} "
            f"output{'s' if n_outputs != 1 else ''}, so ({n_classes},) classes are expected."
        )
    if "feature_names_in_" in headers and headers["feature_names_in_"][0] != (n_features,):
        raise ValueError(
            f"{path}: member {names['feature_names_in_'].filename!r} declares shape "
            f"{headers['feature_names_in_'][0]}; expected one name per input feature, ({n_features},)."
        )


@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def load_model(path):
    """Load a model saved by :func:`save_model`, with ``allow_pickle=False``.

    Files of format versions 1 and 2 are read.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model` (or an estimator's ``save``).

    Returns
    -------
    estimator : DenseNetClassifier or ConvNetClassifier
        The fitted model, on the host.

    Raises
    ------
    ValueError
        When the file is not an sklrp model file, has a format version this
        sklrp does not read, or is unsound: an array whose ``.npy`` header
        disagrees with its size in the archive (a zip bomb, a truncated
        array) or with the configuration (a parameter shape, the number of
        classes or feature names), an array of a dtype that is not stored
        (parameters are float32 or float64), arrays larger than
        :data:`MAX_MODEL_BYTES` in all (:data:`MAX_LABEL_BYTES` for labels),
        a configuration longer than :data:`MAX_CONFIG_CHARS` or nested too
        deeply.  All of these are checked before any array is read.
    """
    try:
        zf = zipfile.ZipFile(os.fspath(path))
    except zipfile.BadZipFile:
        raise ValueError(f"{path} is not an sklrp model file (not an .npz archive).") from None
    except (NotImplementedError, RuntimeError, EOFError, zlib.error) as exc:  # an archive zipfile cannot read
        raise ValueError(f"{path}: the archive cannot be read: {type(exc).__name__}: {exc}") from None
    with zf:
        try:
            # the arrays by name, as np.load names the members of an .npz
            members = {info.filename[: -len(".npy")]: info for info in zf.infolist()
                       if info.filename.endswith(".npy")}
            config = _read_config(zf, members, path)
            state, names = _state_and_members(config, members, path)
            headers = {key: _member_header(zf, info, path) for key, info in names.items()}
            _check_arrays(headers, names, _network_expectations(state, path), path)
            arrays = {key: _read_member(zf, info, path) for key, info in names.items()}
        except _ZIP_ERRORS as exc:  # a damaged or unsupported archive (encrypted, unknown zip version, ...)
            raise ValueError(f"{path}: the archive cannot be read: {type(exc).__name__}: {exc}") from None
    est = _estimator_from_params(config, path)
    try:
        return est._set_fitted_state(state, arrays)
    except KeyError as exc:
        raise ValueError(f"{path}: the fitted state in the configuration lacks {exc}.") from None
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: the fitted state in the configuration is inconsistent: {exc}") from None


def _estimator_from_params(config, path):
    """The (unfitted) estimator of a configuration, its parameters validated as ``fit`` would validate them."""
    cls = _CLASSES[config["class"]]
    params = config["params"]
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ValueError(f"{path}: the configuration names parameters {cls.__name__} does not have: {unknown}.")
    try:
        est = cls(**_params_from_json(params))
        est._validate_params()  # scikit-learn's constraints: types, ranges, option strings
    except (TypeError, ValueError) as exc:  # InvalidParameterError is both
        raise ValueError(f"{path}: invalid parameters in the configuration: {exc}") from None
    return est

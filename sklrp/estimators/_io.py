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
"""

import json
import os

import numpy as np
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_is_fitted

from ..nn import layer_from_spec, layer_spec
from ..rules import Composite, Rule

__all__ = ["PersistenceMixin", "save_model", "load_model"]

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


def _state_from_version_1(config, data):
    """The (config, arrays) fitted state of a version-1 file."""
    state = {k: config[k] for k in ("layers", "input_shape_", "input_bounds_", "n_iter_", "history_")}
    arrays = {f"net_.{k[len('param.') :]}": data[k] for k in data.files if k.startswith("param.")}
    arrays["classes_"] = data["classes_"]
    return state, arrays


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
        When the file is not an sklrp model file, or has a format version
        this sklrp does not read.
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "config" not in data.files:
            raise ValueError(f"{path} is not an sklrp model file (no 'config' entry).")
        config = json.loads(str(data["config"]))
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise ValueError(f"{path} is not an sklrp model file.")
        version = config.get("version")
        if version not in _SUPPORTED_VERSIONS:
            raise ValueError(
                f"{path} is an sklrp model file of format version {version!r}; this version of sklrp reads "
                f"format versions {list(_SUPPORTED_VERSIONS)}. Save the model again with a matching sklrp."
            )
        if version == 1:
            state, arrays = _state_from_version_1(config, data)
        else:
            state = config["state"]
            arrays = {k[len("state.") :]: data[k] for k in data.files if k.startswith("state.")}
    if config["class"] not in _CLASSES:
        raise ValueError(f"Unknown estimator class {config['class']!r} in {path}.")
    est = _CLASSES[config["class"]](**_params_from_json(config["params"]))
    return est._set_fitted_state(state, arrays)

"""Safe persistence (``.npz`` + JSON, no pickle) and the LRP-toolbox importer."""

import json
import os

import numpy as np

from ..nn import LAYER_TYPES, Conv2D, Dense, Flatten, ReLU, Sequential, SumPool2D, Tanh
from ..rules import Composite, Rule

__all__ = ["save_model", "load_model", "load_lrp_toolbox_model"]

_FORMAT = "sklrp-model"
_VERSION = 1


def _estimator_classes():
    from ._nets import ConvNetClassifier, DenseNetClassifier

    return {"DenseNetClassifier": DenseNetClassifier, "ConvNetClassifier": ConvNetClassifier}


def _jsonable_params(est):
    params = {}
    for k, v in est.get_params(deep=False).items():
        if isinstance(v, (Composite, Rule, dict)):
            raise ValueError(
                f"Only named composites can be saved safely; {k}={v!r}. Set composite to a preset name "
                "before saving, or use pickle."
            )
        if k == "layers" and v is not None:
            v = [{"type": type(layer).__name__, "config": layer.config()} for layer in v]
        elif k == "random_state" and not (v is None or isinstance(v, (int, np.integer))):
            v = None  # a RandomState instance is not part of the model
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        params[k] = v
    return params


def save_model(est, path):
    """Save a fitted sklrp network to ``path`` as ``.npz`` (no pickle).

    Parameters
    ----------
    est : DenseNetClassifier or ConvNetClassifier
        A fitted model.
    path : str or path-like
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    classes = np.asarray(est.classes_)
    if classes.dtype == object:
        if not all(isinstance(c, str) for c in classes):
            raise ValueError("classes_ of mixed or object types cannot be saved safely; use pickle.")
        classes = classes.astype(str)
    config = {
        "format": _FORMAT,
        "version": _VERSION,
        "class": type(est).__name__,
        "params": _jsonable_params(est),
        "layers": est.net_.get_config(),
        "input_shape_": list(est.input_shape_),
        "n_features_in_": int(est.n_features_in_),
        "input_bounds_": list(est.input_bounds_),
        "n_iter_": int(est.n_iter_),
        "history_": est.history_,
    }
    arrays = {f"param.{k}": v for k, v in est.net_.get_arrays().items()}
    arrays["classes_"] = classes
    arrays["config"] = np.array(json.dumps(config))
    with open(os.fspath(path), "wb") as fh:
        np.savez(fh, **arrays)


def load_model(path):
    """Load a model saved by :func:`save_model`, with ``allow_pickle=False``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : fitted DenseNetClassifier or ConvNetClassifier
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "config" not in data:
            raise ValueError(f"{path} is not an sklrp model file (no 'config' entry).")
        config = json.loads(str(data["config"]))
        if config.get("format") != _FORMAT:
            raise ValueError(f"{path} is not an sklrp model file.")
        arrays = {k[len("param.") :]: data[k] for k in data.files if k.startswith("param.")}
        classes = data["classes_"]
    classes_map = _estimator_classes()
    if config["class"] not in classes_map:
        raise ValueError(f"Unknown estimator class {config['class']!r} in {path}.")
    params = dict(config["params"])
    if params.get("layers") is not None:
        params["layers"] = [
            LAYER_TYPES[spec["type"]](**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()})
            for spec in params["layers"]
        ]
    for k, v in list(params.items()):
        if isinstance(v, list) and k != "layers":
            params[k] = tuple(v)
    est = classes_map[config["class"]](**params)
    input_shape = tuple(config["input_shape_"])
    net = Sequential.from_config(config["layers"], arrays, input_shape)
    return _set_fitted(est, net, classes, input_shape, tuple(config["input_bounds_"]),
                       config["n_iter_"], config["history_"])


def _set_fitted(est, net, classes, input_shape, input_bounds, n_iter=0, history=None):
    """Give ``est`` the fitted state of a network built outside ``fit`` (on the host)."""
    est.net_ = net
    est.classes_ = classes
    est.input_shape_ = tuple(input_shape)
    est.n_features_in_ = int(np.prod(input_shape))
    est.input_bounds_ = tuple(input_bounds)
    est.n_iter_ = int(n_iter)
    est.history_ = history or {"loss": [], "val_loss": [], "val_score": []}
    est.loss_ = est.history_["loss"][-1] if est.history_.get("loss") else None
    est._device = "cpu"
    est._device_cache = {}
    est._optimizer = None
    est._rng = np.random.RandomState(0)
    est._best_loss, est._no_improve = np.inf, 0
    return est


def load_lrp_toolbox_model(path, classes=None, input_shape=None, composite="epsilon_plus_flat", **params):
    """Import a model in the LRP toolbox's plain-text format as a fitted ConvNetClassifier.

    The format (Lapuschkin et al., "The LRP toolbox for artificial neural
    networks", JMLR 17, 2016) has one line per layer: ``Convolution h w d n
    s0 s1`` followed by a line of weights (C order, shape ``(h, w, d, n)``)
    and a line of ``n`` biases; ``Linear m n`` followed by weights
    ``(m, n)`` and biases; ``Rect``; ``Tanh``; ``SumPool h w s0 s1`` (window
    sum times ``1/sqrt(h*w)``); ``Flatten``.  Convolutions are 'valid'.

    The toolbox stores images as NHWC; for one-channel images (MNIST) this is
    the same flat layout as sklrp's ``(1, H, W)``.  The toolbox's MNIST
    models expect 32x32 inputs: pixels scaled to ``X / 127.5 - 1`` and
    padded by 2 with ``-1`` (see :func:`sklrp.datasets.load_mnist`,
    ``lrp_toolbox_format=True``).

    Parameters
    ----------
    path : str or path-like
        The ``.txt`` model file.
    classes : array-like, default=None
        Class labels of the outputs; default ``0 .. n_outputs - 1``.
    input_shape : tuple (C, H, W), default=None
        Input shape; by default the smallest square input on which the
        layer stack builds (32x32 for the MNIST LeNet-5).
    composite : str, default="epsilon_plus_flat"
        Explanation composite of the returned estimator.
    **params
        Other :class:`ConvNetClassifier` parameters (e.g. ``input_bounds``).

    Returns
    -------
    ConvNetClassifier
        Fitted (``predict`` / ``explain`` work; ``fit`` would retrain the same
        architecture from scratch).
    """
    from ._nets import ConvNetClassifier

    with open(os.fspath(path)) as fh:
        lines = [ln.strip() for ln in fh if ln.strip()]
    layers, weights = [], []
    i = 0
    shape = None  # (C, H, W) inferred from the first conv's depth; spatial from flatten size
    while i < len(lines):
        tok = lines[i].split()
        name = tok[0]
        if name == "Convolution":
            h, w, d, n, s0, s1 = map(int, tok[1:7])
            W = np.array(lines[i + 1].split(), dtype=np.float64).reshape(h, w, d, n)
            b = np.array(lines[i + 2].split(), dtype=np.float64).reshape(n)
            layer = Conv2D(n, (h, w), stride=(s0, s1), padding="valid")
            weights.append((len(layers), {"weight": W.transpose(3, 2, 0, 1).copy(), "bias": b}))
            layers.append(layer)
            if shape is None:
                shape = d
            i += 3
        elif name == "Linear":
            m, n = map(int, tok[1:3])
            W = np.array(lines[i + 1].split(), dtype=np.float64).reshape(m, n)
            b = np.array(lines[i + 2].split(), dtype=np.float64).reshape(n)
            weights.append((len(layers), {"weight": W, "bias": b}))
            layers.append(Dense(n))
            if shape is None:
                shape = m
            i += 3
        elif name == "Rect":
            layers.append(ReLU())
            i += 1
        elif name == "Tanh":
            layers.append(Tanh())
            i += 1
        elif name == "SumPool":
            h, w, s0, s1 = map(int, tok[1:5])
            layers.append(SumPool2D((h, w), stride=(s0, s1), scale=float(1.0 / np.sqrt(h * w))))
            i += 1
        elif name == "Flatten":
            layers.append(Flatten())
            i += 1
        else:
            raise ValueError(f"Unsupported layer {name!r} on line {i + 1} of {path}.")
    if not layers or not any(isinstance(layer, Conv2D) for layer in layers):
        raise ValueError(f"{path}: only convolutional toolbox models are imported; found no Convolution layer.")
    if input_shape is None:
        input_shape = (shape, _infer_side(layers, shape), _infer_side(layers, shape))
    input_shape = tuple(int(s) for s in input_shape)
    net = Sequential(layers)
    out_shape = net.build(input_shape, np.random.RandomState(0), np.float64)
    for idx, p in weights:
        for k, v in p.items():
            if net.layers[idx].params[k].shape != v.shape:
                raise ValueError(f"{path}: parameter shape mismatch in layer {idx} ({k}).")
            net.layers[idx].params[k] = v
    n_out = int(np.prod(out_shape))
    classes = np.arange(n_out) if classes is None else np.asarray(classes)
    if len(classes) != n_out:
        raise ValueError(f"classes has {len(classes)} labels but the model has {n_out} outputs.")
    est = ConvNetClassifier(input_shape=input_shape, layers=[_template(layer) for layer in layers],
                            composite=composite, **params)
    bounds = params.get("input_bounds") or (-1.0, 1.0)
    return _set_fitted(est, net, classes, input_shape, bounds)


def _template(layer):
    """A parameter-free copy of ``layer`` (constructor arguments only)."""
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.config().items()}
    return type(layer)(**cfg)


def _infer_side(layers, channels):
    """Smallest square input side on which the stack builds (1x1 maps before Flatten)."""
    rng = np.random.RandomState(0)
    for side in range(1, 513):
        shape = (channels, side, side)
        try:
            for layer in layers:
                if isinstance(layer, Flatten) and len(shape) == 3 and shape[1:] != (1, 1):
                    raise ValueError("not a 1x1 map")
                shape = _template(layer).build(shape, rng, np.float64)
        except ValueError:
            continue
        return side
    raise ValueError("Could not infer the input size of the toolbox model; pass input_shape.")

"""Import of models in the LRP toolbox's plain-text format."""

import os

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params

from ..exceptions import ModelFileError
from ..nn import Conv2D, Dense, Flatten, ReLU, Sequential, SumPool2D, Tanh, layer_from_spec, layer_spec
from ..rules import COMPOSITES, Composite, Rule
from . import _io
from ._nets import ConvNetClassifier

__all__ = ["load_lrp_toolbox_model"]


@validate_params(
    {
        "path": [str, os.PathLike],
        "classes": ["array-like", None],
        "input_shape": [tuple, list, None],
        "composite": [StrOptions(set(COMPOSITES)), Composite, Rule, dict],
    },
    prefer_skip_nested_validation=True,
)
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
        layer stack builds with the file's parameter shapes (a ``Linear m
        n`` after ``Flatten`` fixes the flattened size; a ``Flatten`` that
        no ``Linear`` follows must see a 1x1 map: 32x32 for the MNIST
        LeNet-5).
    composite : str, Composite, Rule or dict, default="epsilon_plus_flat"
        Explanation composite of the returned estimator.
    **params : dict
        Other :class:`ConvNetClassifier` parameters (e.g. ``input_bounds``).

    Returns
    -------
    ConvNetClassifier
        Fitted (``predict`` / ``explain`` work; ``fit`` would retrain the same
        architecture from scratch).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    sklrp.exceptions.ModelFileError
        (a ``ValueError``) When the file is not a toolbox model sklrp reads;
        the message names the file, and the line number of the first
        malformed line: not UTF-8 text, an unsupported layer, a layer line
        whose sizes are not integers from 1 to 2**20 or declare more
        weights than :data:`sklrp.estimators._io.MAX_MODEL_BYTES` allows, a
        line of weights or biases with the wrong count of numbers or a
        value that is not a finite number, a file that ends before a line of
        weights, a model without convolutions, or layers whose weights do
        not fit together (on the inferred input shape).
    ValueError
        When ``classes`` does not have one label per output, or when
        ``input_shape`` does not fit the layers.
    """
    lines = _read_lines(path)
    try:
        layers, weights, shape = _parse_layers(lines, path)
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever else a malformed file provokes is reported as such
        raise ModelFileError(
            f"{path}: the file cannot be read as a toolbox model: {type(exc).__name__}: {exc}"
        ) from exc
    if not layers or not any(isinstance(layer, Conv2D) for layer in layers):
        raise ModelFileError(
            f"{path}: only convolutional toolbox models are imported; found no Convolution layer."
        )
    # the file's problem when the input shape is inferred from it, the argument's when it is given
    error = ModelFileError if input_shape is None else ValueError
    if input_shape is None:
        side = _infer_side(layers, weights, shape, path)
        input_shape = (shape, side, side)
    input_shape = tuple(int(s) for s in input_shape)
    net = Sequential(layers)
    try:
        out_shape = net.build(input_shape, np.random.RandomState(0), np.float64)
    except ValueError as exc:
        raise error(f"{path}: the layers do not build on the input shape {input_shape}: {exc}") from exc
    for idx, p in weights:
        for k, v in p.items():
            if net.layers[idx].params[k].shape != v.shape:
                raise error(
                    f"{path}: parameter shape mismatch in layer {idx} ({k}): the file holds {v.shape}, the layer "
                    f"built on the input shape {input_shape} has {net.layers[idx].params[k].shape}."
                )
            net.layers[idx].params[k] = v
    n_out = int(np.prod(out_shape))
    classes = np.arange(n_out) if classes is None else np.asarray(classes)
    if len(classes) != n_out:
        raise ValueError(f"classes has {len(classes)} labels but the model has {n_out} outputs.")
    est = ConvNetClassifier(input_shape=input_shape, layers=[_template(layer) for layer in layers],
                            composite=composite, **params)
    state = {
        "layers": net.get_config(),
        "input_shape_": list(input_shape),
        "input_bounds_": list(params.get("input_bounds") or (-1.0, 1.0)),
    }
    arrays = {f"net_.{k}": v for k, v in net.get_arrays().items()}
    arrays["classes_"] = classes
    return est._set_fitted_state(state, arrays)


def _parse_layers(lines, path):
    """The layers of a toolbox model file, their weights ``[(layer index, params)]`` and the input depth."""
    layers, weights = [], []
    i = 0
    shape = None  # (C, H, W) inferred from the first conv's depth; spatial from flatten size
    while i < len(lines):
        lineno, text = lines[i]
        tok = text.split()
        name = tok[0]
        if name == "Convolution":
            h, w, d, n, s0, s1 = _positive_ints(tok, 6, lineno, path)
            _check_size(h * w * d * n, lineno, path)
            W = _numbers(lines, i + 1, h * w * d * n, "weights", path).reshape(h, w, d, n)
            b = _numbers(lines, i + 2, n, "biases", path)
            layer = Conv2D(n, (h, w), stride=(s0, s1), padding="valid")
            weights.append((len(layers), {"weight": W.transpose(3, 2, 0, 1).copy(), "bias": b}))
            layers.append(layer)
            if shape is None:
                shape = d
            i += 3
        elif name == "Linear":
            m, n = _positive_ints(tok, 2, lineno, path)
            _check_size(m * n, lineno, path)
            W = _numbers(lines, i + 1, m * n, "weights", path).reshape(m, n)
            b = _numbers(lines, i + 2, n, "biases", path)
            weights.append((len(layers), {"weight": W, "bias": b}))
            layers.append(Dense(n))
            if shape is None:
                shape = m
            i += 3
        elif name in ("Rect", "Tanh", "Flatten"):
            if len(tok) != 1:
                raise ModelFileError(
                    f"{path}, line {lineno}: {name} takes no arguments; got {' '.join(tok[1:])!r}."
                )
            layers.append({"Rect": ReLU, "Tanh": Tanh, "Flatten": Flatten}[name]())
            i += 1
        elif name == "SumPool":
            h, w, s0, s1 = _positive_ints(tok, 4, lineno, path)
            layers.append(SumPool2D((h, w), stride=(s0, s1), scale=float(1.0 / np.sqrt(h * w))))
            i += 1
        else:
            raise ModelFileError(
                f"{path}, line {lineno}: Unsupported layer {name!r}; the toolbox layers read are Convolution, "
                "Linear, Rect, Tanh, SumPool and Flatten."
            )
    return layers, weights, shape


def _template(layer):
    """A parameter-free copy of ``layer`` (constructor arguments and name)."""
    return layer_from_spec(layer_spec(layer))


def _infer_side(layers, weights, channels, path):
    """Smallest square input side on which the stack builds with the file's parameter shapes.

    A ``Linear m n`` after ``Flatten`` fixes the flattened size ``m``; a
    ``Flatten`` with no ``Linear`` after it must see a 1x1 map (the
    toolbox's all-convolutional LeNet-5).  The layers are built for their
    shapes only (parameters of zero-byte items).
    """
    rng = _io._ShapeOnlyRandomState()
    file_shapes = {idx: {k: v.shape for k, v in p.items()} for idx, p in weights}
    last_dense = max((i for i, layer in enumerate(layers) if isinstance(layer, Dense)), default=-1)
    for side in range(1, 513):
        shape = (channels, side, side)
        try:
            for i, layer in enumerate(layers):
                if isinstance(layer, Flatten) and len(shape) == 3 and i > last_dense and shape[1:] != (1, 1):
                    raise ValueError("not a 1x1 map")
                built = _template(layer)
                shape = built.build(shape, rng, _io._NO_DATA)
                if any(built.params[k].shape != v for k, v in file_shapes.get(i, {}).items()):
                    raise ValueError("not the file's parameter shapes")
        except ValueError:
            continue
        return side
    raise ModelFileError(
        f"{path}: could not infer the input size of the toolbox model (its layers build with the file's parameter "
        "shapes on no square input of side 1 to 512, with 1x1 maps before a Flatten that no Linear follows); "
        "pass input_shape."
    )


#: the largest layer dimension accepted from a model file (a guard against absurd headers)
_MAX_DIM = 1 << 20


def _read_lines(path):
    """``(line number, text)`` of the non-empty lines of a toolbox model file."""
    try:
        with open(os.fspath(path), "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise
    except OSError as exc:  # a directory, no permission
        raise ModelFileError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ModelFileError(
            f"{path} is not a text model file of the LRP toolbox (byte {exc.start} is not UTF-8 text), line {line}."
        ) from exc
    return [(k + 1, ln.strip()) for k, ln in enumerate(text.splitlines()) if ln.strip()]


def _positive_ints(tok, count, lineno, path):
    """The ``count`` positive integers after a layer name (each at most ``_MAX_DIM``), or a clear error."""
    args = tok[1:]
    try:
        values = [int(a) for a in args]
    except ValueError:
        values = None
    if values is None or len(values) != count or not all(1 <= v <= _MAX_DIM for v in values):
        raise ModelFileError(
            f"{path}, line {lineno}: {tok[0]} expects {count} integers from 1 to {_MAX_DIM} after its name; "
            f"got {' '.join(args)!r}."
        )
    return values


def _numbers(lines, i, count, what, path):
    """The line ``lines[i]`` as exactly ``count`` floats, or a clear error with its line number."""
    if i >= len(lines):
        last = lines[-1][0] if lines else 0
        raise ModelFileError(f"{path}: the file ends after line {last}; expected a line of {count} {what}.")
    lineno, text = lines[i]
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError:
        bad = next(t for t in text.split() if not _is_float(t))
        raise ModelFileError(f"{path}, line {lineno}: expected {count} {what}; {bad!r} is not a number.") from None
    if values.size != count:
        raise ModelFileError(f"{path}, line {lineno}: expected {count} {what}; found {values.size} numbers.")
    if not np.all(np.isfinite(values)):
        raise ModelFileError(f"{path}, line {lineno}: the {what} must be finite numbers.")
    return values


def _check_size(count, lineno, path):
    """Refuse a layer whose weights would take more than ``MAX_MODEL_BYTES`` (as float64)."""
    if 8 * count > _io.MAX_MODEL_BYTES:
        raise ModelFileError(
            f"{path}, line {lineno}: the layer declares {count} weights ({8 * count} bytes as float64), more than "
            f"MAX_MODEL_BYTES={_io.MAX_MODEL_BYTES} allows."
        )


def _is_float(text):
    try:
        float(text)
    except ValueError:
        return False
    return True

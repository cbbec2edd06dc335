"""The layers: Dense, Conv1D/2D, pooling, Flatten, ReLU, Tanh, Dropout.

Data layout is channel-first: ``(N, features)`` for dense layers,
``(N, C, L)`` for 1-D signals and ``(N, C, H, W)`` for images.  Convolutions
and pooling are vectorised with strided window views and one BLAS matrix
product (im2col); the only Python loops run over kernel offsets.
"""

import math

import numpy as np

from .. import _numba
from .._backend import (
    conv_forward,
    conv_input_adjoint,
    conv_weight_grad,
    get_namespace,
    global_max_cpu,
    im2col_channels_last,
    max_pool_cpu,
    max_pool_route,
    max_pool_route_cpu,
    sliding_windows,
    to_device,
)
from .._threads import matmul
from ._base import Activation, Layer, LinearLayer, check_parameter_size, whole_number

__all__ = [
    "Dense",
    "Conv1D",
    "Conv2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "SumPool1D",
    "SumPool2D",
    "GlobalMaxPool1D",
    "Flatten",
    "ReLU",
    "Tanh",
    "Square",
    "Log",
    "Dropout",
]


def _tuple(v, nd, name, minimum=1):
    """``v`` as ``nd`` ints of at least ``minimum`` (one int is repeated)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return (whole_number(name, v, minimum),) * nd
    try:
        values = tuple(v) if not isinstance(v, (str, bytes)) else None
    except TypeError:
        values = None
    if values is None or len(values) != nd:
        raise ValueError(f"{name} must be an int or a tuple of {nd} ints; got {v!r}.")
    return tuple(whole_number(name, a, minimum) for a in values)


def _col2im(dwin, padded_shape, window, strides):
    """Adjoint of :func:`sliding_windows`: scatter-add window values back.

    ``dwin`` has shape ``(N, C, *out, *window)``; the result has
    ``padded_shape``.  The loop runs over kernel offsets only.
    """
    xp = get_namespace(dwin)
    nd = len(window)
    out = dwin.shape[2 : 2 + nd]
    dx = xp.zeros(padded_shape, dtype=dwin.dtype)
    for offset in np.ndindex(*window):
        sl = tuple(
            slice(o, o + st * (n - 1) + 1, st) for o, st, n in zip(offset, strides, out)
        )
        dx[(slice(None), slice(None)) + sl] += dwin[(Ellipsis,) + offset]
    return dx


# --------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------
class Dense(LinearLayer):
    """Fully connected layer ``z = x @ W + b``.

    Parameters
    ----------
    units : int
        Number of outputs.
    use_bias : bool, default=True
        Whether the layer has a bias.
    """

    kind = "dense"

    def __init__(self, units, use_bias=True):
        super().__init__()
        self.units = whole_number("units", units)
        self.use_bias = bool(use_bias)

    def config(self):
        return {"units": self.units, "use_bias": self.use_bias}

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != 1:
            raise ValueError(
                f"Dense expects flat inputs; got input shape {tuple(input_shape)} "
                "(add a Flatten layer first)."
            )
        n_in = int(input_shape[0])
        # Glorot-uniform weights and biases (the initialisation of scikit-learn's MLP)
        limit = math.sqrt(6.0 / (n_in + self.units))
        check_parameter_size(self, (n_in, self.units), dtype)
        self.params = {"weight": rng.uniform(-limit, limit, (n_in, self.units)).astype(dtype)}
        if self.use_bias:
            self.params["bias"] = rng.uniform(-limit, limit, self.units).astype(dtype)
        self.input_shape = (n_in,)
        self.output_shape = (self.units,)
        return self.output_shape

    def linear(self, x, weight, bias=None, cache=None):
        z = matmul(x, weight)
        if bias is not None:
            z = z + bias
        return z

    def linear_transpose(self, s, weight, cache=None):
        return matmul(s, weight.T)

    def param_grads(self, grad, cache):
        grads = {"weight": matmul(cache["x"].T, grad)}
        if self.use_bias:
            grads["bias"] = grad.sum(axis=0)
        return grads


# --------------------------------------------------------------------------
# Convolutions
# --------------------------------------------------------------------------
#: a training batch's convolution keeps its whole column matrix up to this size (measured: faster than
#: building column blocks twice for an EEG net's 26-32 MB; slower for the CNN's 80 MB at batch 128)
_TRAIN_COLS_BYTES = 64 << 20


class _ConvND(LinearLayer):
    kind = "conv"
    nd = None

    def __init__(self, filters, kernel_size, stride=1, padding="valid", use_bias=True):
        super().__init__()
        self.filters = whole_number("filters", filters)
        self.kernel_size = _tuple(kernel_size, self.nd, "kernel_size")
        self.stride = _tuple(stride, self.nd, "stride")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"padding must be 'valid', 'same', an int or a tuple of ints; got {padding!r}."
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' needs stride 1; give explicit padding instead.")
            self.padding = padding
        else:
            self.padding = _tuple(padding, self.nd, "padding", minimum=0)
        self.use_bias = bool(use_bias)

    def config(self):
        pad = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": pad,
            "use_bias": self.use_bias,
        }

    def _pads(self):
        if self.padding == "valid":
            return tuple((0, 0) for _ in range(self.nd))
        if self.padding == "same":
            return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in self.kernel_size)
        return tuple((p, p) for p in self.padding)

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != self.nd + 1:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (channels, {'length' if self.nd == 1 else 'height, width'}); "
                f"got {tuple(input_shape)}."
            )
        c = int(input_shape[0])
        spatial = tuple(int(s) for s in input_shape[1:])
        pads = self._pads()
        out = []
        for s, k, st, (p0, p1) in zip(spatial, self.kernel_size, self.stride, pads):
            n = (s + p0 + p1 - k) // st + 1
            if n < 1:
                raise ValueError(
                    f"{type(self).__name__}: kernel {self.kernel_size} does not fit the input "
                    f"{tuple(input_shape)} with padding {self.padding!r}."
                )
            out.append(n)
        fan_in = c * int(np.prod(self.kernel_size))
        limit = math.sqrt(6.0 / fan_in)
        shape = (self.filters, c) + self.kernel_size
        check_parameter_size(self, shape, dtype)
        self.params = {"weight": rng.uniform(-limit, limit, shape).astype(dtype)}
        if self.use_bias:
            self.params["bias"] = np.zeros(self.filters, dtype=dtype)
        self.input_shape = (c,) + spatial
        self.output_shape = (self.filters,) + tuple(out)
        return self.output_shape

    # Convolutions as matrix products in channel-last layout: column rows
    # (N * P, K * C) for P output positions and K kernel offsets, with the
    # channel axis innermost so every copy moves contiguous runs of C values;
    # the output (N * P, F) is returned as a channel-first view.
    def _wmat(self, weight):
        """(F, C, *K) -> (F, K*C), matching the column layout of the convolution's windows."""
        return get_namespace(weight).moveaxis(weight, 1, -1).reshape(weight.shape[0], -1)

    def forward(self, x, training=False, rng=None):
        n_cols = x.shape[0] * int(np.prod(self.output_shape[1:])) * int(np.prod(self.kernel_size)) * x.shape[1]
        if not training or n_cols * x.dtype.itemsize > _TRAIN_COLS_BYTES:
            return super().forward(x, training, rng)
        # training on a small batch: its column matrix is built once and kept for the weight gradient
        cols, out = im2col_channels_last(x, self.kernel_size, self.stride, self._pads())
        z = matmul(cols, self._wmat(self.params["weight"]).T)
        if self.use_bias:
            z += self.params["bias"]
        z = self._channels_first(z, x.shape[0], out)
        return z, {"x": x, "z": z, "cols": cols}

    def _channels_first(self, z, n, out):
        """Rows ``(N * P, F)`` as the channel-first view ``(N, F, *out)`` of their channel-last memory."""
        z = z.reshape((n,) + tuple(out) + (z.shape[-1],))
        return z.transpose((0, self.nd + 1) + tuple(range(1, self.nd + 1)))

    def linear(self, x, weight, bias=None, cache=None):
        n = x.shape[0]
        z, out = conv_forward(x, self._wmat(weight), self.kernel_size, self.stride, self._pads(), bias)
        return self._channels_first(z, n, out)

    def linear_transpose(self, s, weight, cache):
        x = cache["x"]
        xp = get_namespace(s)
        n, f = s.shape[:2]
        out = s.shape[2:]
        s2 = xp.moveaxis(s, 1, -1).reshape(-1, f)  # (N*P, F)
        weight_cl = xp.moveaxis(weight, 1, -1)  # (F, *K, C)
        dx = conv_input_adjoint(s2, weight_cl, n, out, x.shape[2:], self.stride, self._pads())
        return xp.moveaxis(dx, -1, 1)

    def param_grads(self, grad, cache):
        xp = get_namespace(grad)
        f = grad.shape[1]
        g2 = xp.moveaxis(grad, 1, -1).reshape(-1, f)
        # (F, K*C), with the column matrix when a training forward pass kept it
        gw = conv_weight_grad(cache["x"], g2, self.kernel_size, self.stride, self._pads(), cols=cache.get("cols"))
        c = self.params["weight"].shape[1]
        gw = gw.reshape((f,) + self.kernel_size + (c,))
        grads = {"weight": xp.moveaxis(gw, -1, 1)}
        if self.use_bias:
            grads["bias"] = g2.sum(axis=0)
        return grads


class Conv1D(_ConvND):
    """1-D convolution over ``(N, C, L)`` inputs (cross-correlation).

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int
        Window length.
    stride : int, default=1
    padding : {"valid", "same"} or int, default="valid"
    use_bias : bool, default=True
    """

    nd = 1


class Conv2D(_ConvND):
    """2-D convolution over ``(N, C, H, W)`` inputs (cross-correlation).

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int or tuple of 2 ints
    stride : int or tuple of 2 ints, default=1
    padding : {"valid", "same"}, int or tuple of 2 ints, default="valid"
    use_bias : bool, default=True
    """

    nd = 2


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------
class _PoolND(Layer):
    nd = None

    def __init__(self, pool_size=2, stride=None):
        super().__init__()
        self.pool_size = _tuple(pool_size, self.nd, "pool_size")
        self.stride = self.pool_size if stride is None else _tuple(stride, self.nd, "stride")

    def config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride)}

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != self.nd + 1:
            raise ValueError(
                f"{type(self).__name__} expects inputs with {self.nd} spatial axes; got {tuple(input_shape)}."
            )
        out = tuple((s - k) // st + 1 for s, k, st in zip(input_shape[1:], self.pool_size, self.stride))
        if any(o < 1 for o in out):
            raise ValueError(
                f"{type(self).__name__}: pool size {self.pool_size} is larger than the input {tuple(input_shape)}."
            )
        self.input_shape = tuple(input_shape)
        self.output_shape = (input_shape[0],) + out
        self._init_params(dtype)
        return self.output_shape

    def _init_params(self, dtype):
        pass


class _MaxPoolND(_PoolND):
    """Max pooling; gradient and relevance go to the arg-max (winner-take-all).

    Works on channel-last memory, the layout convolutions write: the
    output (and the routed signal) is a channel-first view of channel-last
    memory, so a convolution, its ReLU, this pooling and the next
    convolution's columns never transpose their data.
    """

    def output_nonnegative(self, input_nonnegative):
        return input_nonnegative

    def _out_shape(self, x):
        """The spatial shape of the output for input ``x`` (N, C, *spatial)."""
        return tuple((s - k) // st + 1 for s, k, st in zip(x.shape[2:], self.pool_size, self.stride))

    def _windows(self, out):
        """``(k, slices)`` per window offset: the strided slice of the spatial axes it reads."""
        for k, offset in enumerate(np.ndindex(*self.pool_size)):
            yield k, (slice(None),) + tuple(
                slice(o, o + st * (m - 1) + 1, st) for o, st, m in zip(offset, self.stride, out)
            )

    def _compiled(self, xp):
        """Whether the compiled CPU kernels run this layer (NumPy arrays, Numba, an int8 winner index)."""
        return xp is np and _numba.enabled() and int(np.prod(self.pool_size)) <= 127

    def forward(self, x, training=False, rng=None):
        xp = get_namespace(x)
        xcl = xp.moveaxis(x, 1, -1)  # (N, *spatial, C), a contiguous view for a convolution's output
        out = self._out_shape(x)
        K = int(np.prod(self.pool_size))
        if self._compiled(xp):
            best, idx = max_pool_cpu(xcl, self.pool_size, self.stride, out)
        elif K <= 16:
            # small windows: a running maximum over the window offsets on whole feature maps (argmax over
            # many tiny rows is slow). The winner is the last offset that beat the running maximum
            # strictly (so the first of equal maxima, as argmax), i.e. the largest k * (v_k > max_<k);
            # all of it branch-free, as masked copies and where() over random data are 10x slower.
            best = idx = step = None
            for k, sl in self._windows(out):
                v = xcl[sl]
                if best is None:
                    best = v.copy()  # (N, *out, C) in C order: channel-last memory
                    idx = xp.zeros(best.shape, dtype=xp.int8)
                    step = xp.empty_like(idx)
                    continue
                xp.multiply(v > best, xp.int8(k), out=step)
                xp.maximum(idx, step, out=idx)
                xp.maximum(best, v, out=best)
        else:
            st = xcl.strides
            win = xp.lib.stride_tricks.as_strided(
                xcl, shape=(x.shape[0],) + out + (x.shape[1],) + self.pool_size,
                strides=(st[0],) + tuple(st[1 + a] * self.stride[a] for a in range(self.nd)) + (st[-1],)
                + tuple(st[1 + a] for a in range(self.nd)),
            )
            flat = win.reshape(win.shape[: 2 + self.nd] + (-1,))
            idx = xp.argmax(flat, axis=-1)
            best = xp.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
        return xp.moveaxis(best, -1, 1), {"x_shape": x.shape, "idx": idx}

    def inference(self, x, **kwargs):
        """The maximum of each window, without recording the winners (half the work of :meth:`forward`)."""
        xp = get_namespace(x)
        xcl = xp.moveaxis(x, 1, -1)
        out = self._out_shape(x)
        if self._compiled(xp):
            return xp.moveaxis(max_pool_cpu(xcl, self.pool_size, self.stride, out, want_idx=False)[0], -1, 1), {}
        best = None
        for _, sl in self._windows(out):
            if best is None:
                best = xcl[sl].copy()
            else:
                xp.maximum(best, xcl[sl], out=best)
        return xp.moveaxis(best, -1, 1), {}

    def _route(self, g, cache):
        xp = get_namespace(g)
        x_shape = cache["x_shape"]
        idx = cache["idx"]  # (N, *out, C): each window's winner, flat (C order) inside the window
        disjoint = all(st >= k for st, k in zip(self.stride, self.pool_size))
        if self._compiled(xp) and idx.dtype == np.int8:
            dx = max_pool_route_cpu(xp.moveaxis(g, 1, -1), idx, tuple(x_shape[2:]), self.pool_size, self.stride)
            return xp.moveaxis(dx, -1, 1)
        if xp is not np and disjoint:
            return max_pool_route(g, xp.moveaxis(idx, -1, 1), x_shape, self.pool_size)
        gcl = xp.moveaxis(g, 1, -1)
        dx = xp.zeros((x_shape[0],) + tuple(x_shape[2:]) + (x_shape[1],), dtype=g.dtype)
        for k, sl in self._windows(idx.shape[1:-1]):
            # g times the winner mask (branch-free; 0 elsewhere, unless g itself is not finite)
            if disjoint:  # each input is in at most one window
                xp.multiply(gcl, idx == k, out=dx[sl])
            else:
                dx[sl] += gcl * (idx == k)
        return xp.moveaxis(dx, -1, 1)

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        return self._route(grad, cache), {}

    def relevance(self, R, cache, ctx=None):
        return self._route(R, cache)


class MaxPool1D(_MaxPoolND):
    """1-D max pooling over ``(N, C, L)`` (winner-take-all relevance)."""

    nd = 1


class MaxPool2D(_MaxPoolND):
    """2-D max pooling over ``(N, C, H, W)`` (winner-take-all relevance)."""

    nd = 2


class _LinearPoolND(_PoolND, LinearLayer):
    """Sum pooling scaled by ``weight`` (a scalar parameter); a linear layer."""

    kind = "pool"
    _scale = None

    def output_nonnegative(self, input_nonnegative):
        scale = self.scale if self.scale is not None else self._default_scale()
        return input_nonnegative and scale >= 0

    def __init__(self, pool_size=2, stride=None, scale=None):
        _PoolND.__init__(self, pool_size, stride)
        self.scale = scale

    def config(self):
        cfg = _PoolND.config(self)
        cfg["scale"] = self.scale
        return cfg

    def _init_params(self, dtype):
        scale = self.scale if self.scale is not None else self._default_scale()
        self.params = {"weight": np.asarray(scale, dtype=dtype)}

    def _default_scale(self):
        return 1.0

    @property
    def has_trainable_params(self):
        return False  # the scale is fixed

    def linear(self, x, weight, bias=None, cache=None):
        win = sliding_windows(x, self.pool_size, self.stride)
        axes = tuple(range(-self.nd, 0))
        z = win.sum(axis=axes) * weight
        if bias is not None:
            z = z + bias
        return z

    def linear_transpose(self, s, weight, cache):
        xp = get_namespace(s)
        dwin = xp.broadcast_to((s * weight)[(Ellipsis,) + (None,) * self.nd], s.shape + self.pool_size)
        return _col2im(dwin, cache["x"].shape, self.pool_size, self.stride)

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        return self.linear_transpose(grad, self.params["weight"], cache), {}


class SumPool1D(_LinearPoolND):
    """1-D sum pooling (window sum times ``scale``, default 1); linear for LRP."""

    nd = 1


class SumPool2D(_LinearPoolND):
    """2-D sum pooling (window sum times ``scale``, default 1); linear for LRP.

    The LRP toolbox's SumPool is ``scale = 1 / sqrt(h * w)``.
    """

    nd = 2


class AvgPool1D(_LinearPoolND):
    """1-D average pooling; linear for LRP."""

    nd = 1

    def _default_scale(self):
        return 1.0 / self.pool_size[0]


class AvgPool2D(_LinearPoolND):
    """2-D average pooling; linear for LRP."""

    nd = 2

    def _default_scale(self):
        return 1.0 / (self.pool_size[0] * self.pool_size[1])


class GlobalMaxPool1D(Layer):
    """Max over the whole time axis: ``(N, C, L) -> (N, C)``; winner-take-all."""

    def output_nonnegative(self, input_nonnegative):
        return input_nonnegative

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != 2:
            raise ValueError(f"GlobalMaxPool1D expects (channels, length) inputs; got {tuple(input_shape)}.")
        self.input_shape = tuple(input_shape)
        self.output_shape = (input_shape[0],)
        return self.output_shape

    def forward(self, x, training=False, rng=None):
        xp = get_namespace(x)
        if xp is np and _numba.enabled() and x.shape[-1] > 0:
            out, idx = global_max_cpu(x)
        else:
            idx = xp.argmax(x, axis=-1)
            out = xp.take_along_axis(x, idx[..., None], axis=-1)[..., 0]
        return out, {"idx": idx, "x_shape": x.shape}

    def inference(self, x, **kwargs):
        """The maximum over time, without its position (one reduction)."""
        return get_namespace(x).max(x, axis=-1), {}

    def _route(self, g, cache):
        xp = get_namespace(g)
        L = cache["x_shape"][-1]
        return (cache["idx"][..., None] == xp.arange(L)).astype(g.dtype) * g[..., None]

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        return self._route(grad, cache), {}

    def relevance(self, R, cache, ctx=None):
        return self._route(R, cache)


# --------------------------------------------------------------------------
# Shape and element-wise layers
# --------------------------------------------------------------------------
class Flatten(Layer):
    """Flatten all non-batch axes."""

    def output_nonnegative(self, input_nonnegative):
        return input_nonnegative

    def build(self, input_shape, rng, dtype):
        self.input_shape = tuple(input_shape)
        self.output_shape = (int(np.prod(input_shape)),)
        return self.output_shape

    def forward(self, x, training=False, rng=None):
        return x.reshape(x.shape[0], -1), {"x_shape": x.shape}

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        return grad.reshape(cache["x_shape"]), {}

    def relevance(self, R, cache, ctx=None):
        return R.reshape(cache["x_shape"])


class Reshape(Layer):
    """Reshape the non-batch axes to ``target_shape``."""

    def output_nonnegative(self, input_nonnegative):
        return input_nonnegative

    def __init__(self, target_shape):
        super().__init__()
        self.target_shape = tuple(int(s) for s in target_shape)

    def config(self):
        return {"target_shape": list(self.target_shape)}

    def build(self, input_shape, rng, dtype):
        if int(np.prod(input_shape)) != int(np.prod(self.target_shape)):
            raise ValueError(f"Cannot reshape {tuple(input_shape)} to {self.target_shape}.")
        self.input_shape = tuple(input_shape)
        self.output_shape = self.target_shape
        return self.output_shape

    def forward(self, x, training=False, rng=None):
        return x.reshape((x.shape[0],) + self.target_shape), {"x_shape": x.shape}

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        return grad.reshape(cache["x_shape"]), {}

    def relevance(self, R, cache, ctx=None):
        return R.reshape(cache["x_shape"])


class ReLU(Activation):
    """Rectified linear unit.

    The gradient is masked by the forward input (``x > 0``); deconvnet and
    guided backprop replace it through their gradient rules
    (:class:`~sklrp.rules.DeconvNet`, :class:`~sklrp.rules.GuidedBackprop`).
    LRP passes relevance through unchanged.
    """

    def output_nonnegative(self, input_nonnegative):
        return True

    def forward(self, x, training=False, rng=None):
        xp = get_namespace(x)
        return xp.maximum(x, 0), {"x": x}

    overwrites_input = True

    def inference(self, x, overwrite=False, **kwargs):
        """``max(x, 0)``; in place when ``overwrite`` (a prediction's temporary that nothing else reads)."""
        xp = get_namespace(x)
        return xp.maximum(x, 0, out=x if overwrite else None), {}

    def derivative(self, cache):
        return cache["x"] > 0


class Tanh(Activation):
    """Hyperbolic tangent; LRP passes relevance through unchanged."""

    def forward(self, x, training=False, rng=None):
        xp = get_namespace(x)
        y = xp.tanh(x)
        return y, {"x": x, "y": y}

    def derivative(self, cache):
        return 1 - cache["y"] ** 2


class Square(Activation):
    """Element-wise square, ``y = x**2`` (signal power); LRP passes relevance through unchanged.

    With average pooling and :class:`Log` after a spatial filter it computes
    the log band power of the filtered signal, the feature of CSP, as in the
    shallow ConvNet of Schirrmeister et al. (2017).
    """

    def output_nonnegative(self, input_nonnegative):
        return True

    def forward(self, x, training=False, rng=None):
        return x * x, {"x": x}

    def derivative(self, cache):
        return 2 * cache["x"]


class Log(Activation):
    """Element-wise ``y = log(max(x, floor))``; LRP passes relevance through unchanged.

    Parameters
    ----------
    floor : float, default=1e-6
        Inputs below it are clipped (their gradient is zero), so that zero
        power gives a finite output.
    """

    def __init__(self, floor=1e-6):
        super().__init__()
        floor = float(floor)
        if not floor > 0 or not np.isfinite(floor):
            raise ValueError(f"Log floor must be a positive finite number; got {floor!r}.")
        self.floor = floor

    def config(self):
        return {"floor": self.floor}

    def forward(self, x, training=False, rng=None):
        xp = get_namespace(x)
        return xp.log(xp.maximum(x, x.dtype.type(self.floor))), {"x": x}

    def derivative(self, cache):
        x = cache["x"]
        xp = get_namespace(x)
        return xp.where(x > self.floor, 1 / xp.maximum(x, x.dtype.type(self.floor)), x.dtype.type(0))


class Dropout(Layer):
    """Inverted dropout, active during training only.

    Masks are drawn with the host random generator (so CPU and GPU training
    draw the same numbers) and moved to the data's device explicitly.
    """

    def output_nonnegative(self, input_nonnegative):
        return input_nonnegative

    def output_mask(self, mask, cache):
        return mask

    def __init__(self, rate=0.5):
        super().__init__()
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1); got {rate!r}.")
        self.rate = float(rate)

    def config(self):
        return {"rate": self.rate}

    def forward(self, x, training=False, rng=None):
        if not training or self.rate == 0.0:
            return x, {"mask": None}
        if rng is None:
            raise ValueError("Dropout needs a random generator in training mode.")
        keep = 1.0 - self.rate
        mask = (rng.random_sample(x.shape) < keep).astype(x.dtype) / keep
        device = "cuda" if get_namespace(x) is not np else "cpu"
        mask = to_device(mask, device)
        return x * mask, {"mask": mask}

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        if cache["mask"] is None:
            return grad, {}
        return grad * cache["mask"], {}

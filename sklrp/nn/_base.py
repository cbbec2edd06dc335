"""Layer base classes and the linear-operation interface the LRP rules use."""

import math

import numpy as np

from .._backend import get_namespace, to_device
from .._threads import matmul
from .._validation import format_bytes as _human
from .._validation import physical_memory as _physical_memory
from ..rules import ActivationOp, TraversalContext, register_layer_kind

__all__ = ["Layer", "LinearLayer", "LinearOp", "Activation", "LAYER_TYPES", "check_parameter_size", "whole_number"]


def whole_number(name, value, minimum=1):
    """``value`` as an int, checked to be an integer (not a bool) of at least ``minimum``: a layer's size, kernel,
    stride or padding, refused when the layer is made rather than deep inside ``fit``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive int" if minimum == 1 else f"an int of at least {minimum}"
        raise ValueError(f"{name} must be {what}; got {value!r}.")
    return int(value)


def check_parameter_size(layer, shape, dtype):
    """Refuse a parameter that cannot fit in this machine's memory, before allocating it.

    Parameters
    ----------
    layer : Layer
        The layer being built (named in the message).
    shape : tuple of int
        The parameter's shape.
    dtype : dtype
        Its dtype; the random draw that initialises it is float64 first.

    Raises
    ------
    ValueError
        If drawing and storing the parameter needs more bytes than the
        machine's physical memory.
    """
    itemsize = np.dtype(dtype).itemsize
    limit = _physical_memory()
    if limit is None or itemsize == 0:  # itemsize 0: shapes only (model-file checks), nothing is allocated
        return
    nbytes = math.prod(int(d) for d in shape) * (8 + itemsize)
    if nbytes > limit:
        raise ValueError(
            f"{type(layer).__name__}: a parameter of shape {tuple(int(d) for d in shape)} needs {_human(nbytes)} "
            f"to initialise, more than this machine's {_human(limit)} of memory; use smaller layer sizes."
        )

#: layer classes by name, for rebuilding saved configurations
#: (:func:`sklrp.nn.layer_from_spec`); every public Layer subclass registers itself
LAYER_TYPES = {}


class Layer:
    """Base class of all layers.

    A layer holds parameters (``params``, a dict of arrays) and never
    per-call data: everything a backward or relevance pass needs is returned
    by :meth:`forward` as a ``cache`` dict.

    Subclasses implement

    - ``build(input_shape, rng, dtype) -> output_shape`` (shapes exclude the
      batch axis; parameters are drawn with the host ``rng``),
    - ``forward(x, training=False, rng=None) -> (out, cache)``,
    - ``backward(grad, cache, ctx=None, need_param_grads=True)
      -> (grad_in, param_grads)``; ``ctx`` is a
      :class:`~sklrp.rules.TraversalContext` when a gradient method modifies
      the backward pass (activations ask it for their gradient rule),
    - ``param_grads(grad, cache) -> dict`` for layers with parameters,
    - ``relevance(R, cache, ctx=None) -> R_in``: the LRP pass.  A layer made
      of linear maps asks ``ctx.rule(self, op_name)`` for the rule of each
      map; element-wise layers pass relevance through unchanged.

    Class attributes: ``kind`` (a string composites can key on; defining a
    subclass with a new kind registers it), ``uses_rules`` (whether the layer
    asks the context for rules; the *first* and *last* layers of a composite
    are counted among these).  Defining a public subclass registers it in
    :data:`LAYER_TYPES` (so saved configurations can name it); abstract bases
    opt out with ``class Base(Layer, register=False)``.  An instance may carry a ``name`` (used by
    ``Composite(layer_rules=...)`` and ``frozen_layers``).
    """

    #: layer kind used by composites to pick a rule
    kind = None
    #: whether the relevance pass asks the traversal context for rules
    uses_rules = False
    #: whether the layer's CPU passes split their work between threads themselves (with BLAS at one thread,
    #: :mod:`sklrp._threads`); a network whose layers all do runs its passes with BLAS held at one thread
    threads_itself = True
    #: optional name of this layer in a stack
    name = None
    #: a first layer that encodes the input (token ids -> vectors) defines
    #: ``explain_input(grad, cache, method)``: gradient methods then build their
    #: map from the gradient at its output (see ``Sequential.explain_from``)
    explain_input = None
    #: whether :meth:`forward` takes the padding mask of its input,
    #: ``forward(x, training, rng, mask=mask)`` (see :meth:`output_mask`)
    accepts_mask = False

    def __init_subclass__(cls, register=True, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind is not None:
            register_layer_kind(cls.kind)
        if register and not cls.__name__.startswith("_"):
            LAYER_TYPES.setdefault(cls.__name__, cls)

    def __init__(self):
        self.params = {}

    # --- construction -----------------------------------------------------
    def build(self, input_shape, rng, dtype):
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(input_shape)
        return self.output_shape

    # --- passes -------------------------------------------------------------
    def forward(self, x, training=False, rng=None):  # pragma: no cover - abstract
        raise NotImplementedError

    #: whether :meth:`inference` takes ``overwrite=True``: it may then write its output over its input
    overwrites_input = False

    def inference(self, x, **kwargs):
        """The forward pass of a prediction: ``(output, cache)``, where only :meth:`output_mask` reads the cache.

        Layers whose forward pass keeps what only the backward passes need
        (e.g. max-pooling's winners) skip it here; by default this is
        :meth:`forward`.  ``kwargs`` are those of ``forward`` (``mask``).
        """
        return self.forward(x, **kwargs)

    def backward(self, grad, cache, ctx=None, need_param_grads=True):  # pragma: no cover
        raise NotImplementedError

    def param_grads(self, grad, cache):
        """Gradients of the parameters given the output gradient (none here)."""
        return {}

    @property
    def has_trainable_params(self):
        """Whether training updates some parameter of this layer (it has any, by default)."""
        return bool(self.params)

    def relevance(self, R, cache, ctx=None):
        """Element-wise layers pass relevance through unchanged."""
        return R

    def output_mask(self, mask, cache):
        """The padding mask of this layer's output, given that of its input.

        Masks mark the real (non-padding) positions of a sequence, shape
        ``(N, T)`` of bools; :meth:`sklrp.nn.Sequential.forward` hands a
        layer with ``accepts_mask = True`` the mask of its input and threads
        the result of this method to the next layer.  An
        :class:`~sklrp.nn.Embedding` creates the mask from the padding ids,
        element-wise layers keep it, and every other layer drops it (None,
        the default), as a layer that changes the time axis must.
        """
        return None

    def output_nonnegative(self, input_nonnegative):
        """Whether every output is >= 0, given whether every input is.

        Used to tell the LRP rules, without looking at the data, that a
        linear layer's input cannot be negative (e.g. after a ReLU).
        """
        return False

    # --- bookkeeping ----------------------------------------------------------
    def config(self):
        """JSON-serialisable constructor arguments (for safe save/load)."""
        return {}

    def to(self, device):
        """Return a shallow copy of the layer with its parameters on ``device``."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.params = {k: to_device(v, device) for k, v in self.params.items()}
        return new

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class LinearOp:
    """One linear map ``z = x W + b`` seen by an LRP rule.

    Rules only use this interface, so a rule needs no layer code:

    - ``x``: the map's input, ``weight`` / ``bias``: its parameters
      (``bias`` may be None), ``output``: the ``z`` of the forward pass;
    - ``forward(x, weight, bias=None)``: the same map with other inputs or
      modified parameters (e.g. ``W+``);
    - ``transpose(s, weight)``: the adjoint with respect to the input,
      ``c_i = sum_j w_ij s_j``;
    - ``fan_in``: ``N_j``, the number of inputs connected to each output
      (for rules that spread a bias share over the inputs).

    Parameters
    ----------
    x, weight : arrays
    bias : array or None, default=None
    forward : callable ``(x, weight, bias=None) -> z``
    transpose : callable ``(s, weight) -> c``
    output : array, default=None
        The forward output; computed with ``forward`` when not given.  A map
        that is one of several inputs of a pre-activation (an LSTM gate) passes
        the *whole* pre-activation here, so that rules divide by it.
    fan_in : array or float, default=None
        ``N_j``; computed as ``forward(ones, ones)`` when first needed.
    nonnegative_input : bool, default=False
        Whether ``x >= 0`` is guaranteed (rules may skip terms).
    """

    def __init__(self, x, weight, bias=None, *, forward, transpose, output=None, fan_in=None,
                 nonnegative_input=False):
        self.x = x
        self.weight = weight
        self.bias = bias
        self._forward = forward
        self._transpose = transpose
        self.output = forward(x, weight, bias) if output is None else output
        self._fan_in = fan_in
        self.xp = get_namespace(x)
        self.nonnegative_input = nonnegative_input

    @classmethod
    def dense(cls, x, weight, bias=None, **kwargs):
        """The op of a matrix product ``x @ weight (+ bias)`` on the last axis."""

        def forward(x, w, b=None):
            z = matmul(x, w)
            return z if b is None else z + b

        def transpose(s, w):
            return matmul(s, w.T)

        return cls(x, weight, bias, forward=forward, transpose=transpose, **kwargs)

    def forward(self, x, weight, bias=None):
        return self._forward(x, weight, bias)

    def transpose(self, s, weight):
        return self._transpose(s, weight)

    def bias_output(self):
        """The bias as it enters the output (broadcast to the output's shape)."""
        xp = self.xp
        return self._forward(xp.zeros_like(self.x), xp.zeros_like(self.weight), self.bias)

    @property
    def fan_in(self):
        if self._fan_in is None:
            xp = self.xp
            self._fan_in = self._forward(xp.ones_like(self.x), xp.ones_like(self.weight), None)
        return self._fan_in


class LinearLayer(Layer, register=False):
    """A layer that is one linear map (Dense, convolutions, sum/avg pooling).

    Subclasses implement ``linear(x, weight, bias, cache=None)`` and
    ``linear_transpose(s, weight, cache)``; the forward pass, the gradient
    of the input and the LRP pass (the context's rule for op ``"input"``)
    come from here.
    """

    uses_rules = True

    def forward(self, x, training=False, rng=None):
        cache = {"x": x}
        z = self.linear(x, self.params["weight"], self.params.get("bias"), cache=cache)
        cache["z"] = z
        return z, cache

    def linear_op(self, cache, nonnegative_input=False):
        """The :class:`LinearOp` of this layer's forward pass ``cache``."""

        def forward(x, weight, bias=None):
            return self.linear(x, weight, bias, cache=cache)

        def transpose(s, weight):
            return self.linear_transpose(s, weight, cache)

        return LinearOp(cache["x"], self.params["weight"], self.params.get("bias"), forward=forward,
                        transpose=transpose, output=cache["z"], nonnegative_input=nonnegative_input)

    def relevance(self, R, cache, ctx=None):
        ctx = TraversalContext() if ctx is None else ctx
        return ctx.rule(self)(self.linear_op(cache, ctx.nonnegative_input), R)

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        grad_in = self.linear_transpose(grad, self.params["weight"], cache)
        grads = self.param_grads(grad, cache) if need_param_grads else {}
        return grad_in, grads


class Activation(Layer, register=False):
    """An element-wise activation ``y = g(x)``.

    Subclasses implement ``forward`` (caching what ``derivative`` needs) and
    ``derivative(cache) -> g'(x)``.  LRP passes relevance through unchanged;
    the backward pass applies the context's gradient rule (op
    ``"activation"``; :class:`~sklrp.rules.Gradient` without a context), which
    is how deconvnet and guided backprop modify it.
    """

    def derivative(self, cache):  # pragma: no cover - abstract
        raise NotImplementedError

    def output_mask(self, mask, cache):
        return mask  # element-wise: padding stays where it was

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        if ctx is None:
            return grad * self.derivative(cache), {}
        op = ActivationOp(cache.get("x"), lambda: self.derivative(cache))
        return ctx.rule(self, "activation")(op, grad), {}

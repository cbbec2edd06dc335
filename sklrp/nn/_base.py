"""Layer base classes and the linear-operation interface the LRP rules use."""

from .._backend import get_namespace, to_device

__all__ = ["Layer", "LinearLayer", "LinearOp"]


class Layer:
    """Base class of all layers.

    A layer holds parameters (``params``, a dict of arrays) and never
    per-call data: everything a backward or relevance pass needs is returned
    by :meth:`forward` as a ``cache`` dict.

    Subclasses implement

    - ``build(input_shape, rng, dtype) -> output_shape`` (shapes exclude the
      batch axis; parameters are drawn with the host ``rng``),
    - ``forward(x, training=False, rng=None) -> (out, cache)``,
    - ``backward(grad, cache, mode="gradient", need_param_grads=True)
      -> (grad_in, param_grads)``,
    - ``relevance(R, cache) -> R_in`` for non-linear layers (linear layers
      get their rule from a composite, see :class:`LinearLayer`).
    """

    #: layer kind used by composites to pick a rule (None: not a linear layer)
    kind = None

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

    def backward(self, grad, cache, mode="gradient", need_param_grads=True):  # pragma: no cover
        raise NotImplementedError

    def relevance(self, R, cache):
        """Element-wise layers pass relevance through unchanged."""
        return R

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
    """One linear map ``z = x @ W + b`` seen by an LRP rule.

    Rules only use this interface, so a rule needs no layer code:

    - ``x``: the layer's input, ``weight`` / ``bias``: its parameters
      (``bias`` may be None), ``output``: ``forward(x, weight, bias)`` as
      computed in the forward pass;
    - ``forward(x, weight, bias=None)``: the same map with other inputs or
      modified parameters (e.g. ``W+``);
    - ``transpose(s, weight)``: the adjoint with respect to the input,
      ``c_i = sum_j w_ij s_j``.
    """

    def __init__(self, layer, cache):
        self.layer = layer
        self.cache = cache
        self.x = cache["x"]
        self.weight = layer.params["weight"]
        self.bias = layer.params.get("bias")
        self.output = cache["z"]
        self.xp = get_namespace(self.x)
        self.nonnegative_input = False

    def forward(self, x, weight, bias=None):
        return self.layer.linear(x, weight, bias, cache=self.cache)

    def transpose(self, s, weight):
        return self.layer.linear_transpose(s, weight, self.cache)


class LinearLayer(Layer):
    """A layer that is one linear map (Dense, convolutions, sum/avg pooling).

    Subclasses implement ``linear(x, weight, bias, cache=None)`` and
    ``linear_transpose(s, weight, cache)``; the forward pass, the gradient
    of the input and the LRP hook come from here.
    """

    def forward(self, x, training=False, rng=None):
        cache = {"x": x}
        z = self.linear(x, self.params["weight"], self.params.get("bias"), cache=cache)
        cache["z"] = z
        return z, cache

    def linear_op(self, cache):
        return LinearOp(self, cache)

    def backward(self, grad, cache, mode="gradient", need_param_grads=True):
        grad_in = self.linear_transpose(grad, self.params["weight"], cache)
        grads = self.param_grads(grad, cache) if need_param_grads else {}
        return grad_in, grads

    def param_grads(self, grad, cache):
        return {}

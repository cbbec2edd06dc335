"""Sequence layers: apply a layer to every time step.

Sequences are time-major: ``(N, T, *features)`` (what
:class:`~sklrp.nn.Embedding` returns by default).  :class:`TimeDistributed`
runs any layer on every step by folding time into the batch axis, so the
inner layer sees ``(N * T, *features)`` and needs no sequence code.

Padding masks
-------------
Variable-length sequences are padded with ``Embedding.padding_idx``.  The
embedding's forward cache holds ``cache["mask"]``, ``(N, T)`` booleans that
are True at real tokens (:meth:`Embedding.compute_mask` computes it from
ids), and the padding vectors are zero.  A layer only receives the previous
layer's output, and from it alone it cannot tell a padding step from a word
whose vector is zero (a word "deleted" by zeroing its embedding in
the word-deletion experiments must still be stepped through).  A layer that must skip
padding steps (a recurrent layer carrying its state over them, or reversing
each sequence over its own length for a backward direction) therefore gets
the mask explicitly, from the embedding's cache: the planned hand-over is
that :meth:`Sequential.forward` passes the latest ``cache["mask"]`` to the
``forward`` of a layer that declares ``supports_mask = True`` (keyword
``mask=``) and keeps it in that layer's cache for the backward and relevance
passes.  Layers applied per step (:class:`TimeDistributed`) need no mask:
each step is independent, and the relevance of padding steps is dropped by
the embedding.
"""

from ._base import LAYER_TYPES, Layer

__all__ = ["TimeDistributed"]


def _fold_time(x):
    """``(N, T, *f) -> (N * T, *f)``."""
    return x.reshape((-1,) + tuple(x.shape[2:]))


def _unfold_time(y, lead):
    """``(N * T, *f) -> (N, T, *f)`` for ``lead = (N, T)``."""
    return y.reshape(tuple(lead) + tuple(y.shape[1:]))


def layer_spec(layer):
    """JSON description ``{"type", "config"[, "name"]}`` of ``layer``."""
    spec = {"type": type(layer).__name__, "config": layer.config()}
    if layer.name is not None:
        spec["name"] = str(layer.name)
    return spec


def layer_from_spec(spec):
    """Rebuild an (unbuilt) layer from :func:`layer_spec`; lists become tuples."""
    if not isinstance(spec, dict) or spec.get("type") not in LAYER_TYPES:
        raise ValueError(f"Unknown layer spec {spec!r}; expected a 'type' among {sorted(LAYER_TYPES)}.")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.get("config", {}).items()}
    try:
        layer = LAYER_TYPES[spec["type"]](**kwargs)
    except TypeError as exc:
        raise ValueError(f"Layer spec {spec!r} does not fit {spec['type']}'s constructor: {exc}") from None
    if spec.get("name") is not None:
        layer.name = str(spec["name"])
    return layer


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step of ``(N, T, *features)`` inputs.

    Time is folded into the batch (``(N * T, *features)``), the inner layer
    runs once, and its output is unfolded to ``(N, T, *out)``.  The forward,
    backward, parameter-gradient and relevance passes are the inner layer's;
    the traversal context is passed through, so the inner layer asks the
    composite for *its own* rule (``ctx.rule(inner)`` matches the inner
    layer's class and kind).

    Parameters
    ----------
    layer : Layer or dict
        The layer applied per step (e.g. :class:`~sklrp.nn.Dense`, an
        activation), or its :func:`layer_spec` (how a saved configuration
        comes back).

    Attributes
    ----------
    params : dict
        The inner layer's parameter dict itself (not a copy), so optimizers
        and :meth:`~sklrp.nn.Sequential.get_arrays` reach it.
    kind, uses_rules
        Those of the inner layer, so that composites keyed by kind and the
        first/last-layer logic see the inner layer.

    Notes
    -----
    Rules that use statistics over the batch see all time steps of all
    sequences together.  A composite keyed by layer *class* matches the inner
    layer's rule, but ``Composite(first_match=SomeClass)`` tests the wrapper
    and does not see through it (use a kind or a predicate there).

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.nn import Dense, TimeDistributed
    >>> layer = TimeDistributed(Dense(3))
    >>> layer.build((5, 4), np.random.RandomState(0), np.float64)
    (5, 3)
    >>> out, cache = layer.forward(np.ones((2, 5, 4)))
    >>> out.shape
    (2, 5, 3)
    """

    def __init__(self, layer):
        # Layer.__init__ is not called: it would reset the inner parameters
        if isinstance(layer, dict):
            layer = layer_from_spec(layer)
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed wraps a Layer or a layer spec; got {layer!r}.")
        self.layer = layer
        self.kind = layer.kind
        self.uses_rules = layer.uses_rules
        self.threads_itself = layer.threads_itself

    @property
    def params(self):
        return self.layer.params

    @params.setter
    def params(self, value):
        self.layer.params = value

    @property
    def has_trainable_params(self):
        return self.layer.has_trainable_params

    def config(self):
        return {"layer": layer_spec(self.layer)}

    def build(self, input_shape, rng, dtype):
        if len(input_shape) < 2:
            raise ValueError(
                f"TimeDistributed expects inputs of shape (time, *features); got {tuple(input_shape)}."
            )
        out = self.layer.build(tuple(input_shape[1:]), rng, dtype)
        self.input_shape = tuple(input_shape)
        self.output_shape = (input_shape[0],) + tuple(out)
        return self.output_shape

    def output_nonnegative(self, input_nonnegative):
        return self.layer.output_nonnegative(input_nonnegative)

    def output_mask(self, mask, cache):
        return mask  # one output per time step: the padding stays where it was

    def forward(self, x, training=False, rng=None):
        out, inner = self.layer.forward(_fold_time(x), training=training, rng=rng)
        return _unfold_time(out, x.shape[:2]), {"inner": inner, "lead": x.shape[:2]}

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        g, grads = self.layer.backward(_fold_time(grad), cache["inner"], ctx, need_param_grads=need_param_grads)
        return _unfold_time(g, cache["lead"]), grads

    def param_grads(self, grad, cache):
        return self.layer.param_grads(_fold_time(grad), cache["inner"])

    def relevance(self, R, cache, ctx=None):
        return _unfold_time(self.layer.relevance(_fold_time(R), cache["inner"], ctx), cache["lead"])

    def to(self, device):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.layer = self.layer.to(device)
        return new

    def __repr__(self):
        return f"TimeDistributed({self.layer!r})"


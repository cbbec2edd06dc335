"""Parallel branches over the same input, concatenated on the feature axis.

The word CNN of Arras et al. (2016, 2017) with several filter sizes is
``Embedding -> Parallel([[Conv1D(F, H), ReLU(), GlobalMaxPool1D()] for H in
sizes]) -> Dense``: every branch sees the same embedded document and the
pooled features are concatenated.
"""

from collections.abc import MutableMapping

from .._backend import get_namespace
from ..rules import TraversalContext
from ._base import Layer
from ._sequence import layer_from_spec, layer_spec
from ._sequential import Sequential

__all__ = ["Parallel"]


class _BranchParams(MutableMapping):
    """The branches' parameters as one mapping ``"<branch>.<layer>.<name>" -> array``.

    Reads and writes go to the inner layers' own dicts, so optimizers,
    early-stopping restores and :meth:`~sklrp.nn.Sequential.from_config` update
    the branches in place.
    """

    def __init__(self, branches):
        self._branches = branches

    def _split(self, key):
        b, i, name = key.split(".", 2)
        return self._branches[int(b)].layers[int(i)].params, name

    def __getitem__(self, key):
        try:
            params, name = self._split(key)
            return params[name]
        except (ValueError, IndexError) as exc:
            raise KeyError(key) from exc

    def __setitem__(self, key, value):
        params, name = self._split(key)
        if name not in params:
            raise KeyError(key)
        params[name] = value

    def __delitem__(self, key):
        raise TypeError("Parameters of a Parallel layer cannot be deleted.")

    def __iter__(self):
        for b, branch in enumerate(self._branches):
            for i, layer in enumerate(branch.layers):
                for name in layer.params:
                    yield f"{b}.{i}.{name}"

    def __len__(self):
        return sum(1 for _ in self)


class Parallel(Layer):
    """Run several layer stacks on the same input and concatenate their outputs.

    Outputs are concatenated on the first non-batch axis (features for flat
    outputs, channels for ``(C, L)`` maps; the other axes must agree).  The
    gradient and the relevance of the input are the sums over the branches.
    Each inner layer asks the composite for its own rule; the first (last)
    rule-using layer of every branch counts as *first* (*last*) when the
    :class:`Parallel` layer itself is.

    Parameters
    ----------
    branches : list of list of Layer
        One list of layers per branch (or their :func:`layer_spec` dicts, as
        a saved configuration gives them back).

    Attributes
    ----------
    params : mapping
        All branch parameters under keys ``"<branch>.<layer>.<name>"``, backed
        by the inner layers' own dicts.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.nn import Conv1D, GlobalMaxPool1D, Parallel, ReLU
    >>> layer = Parallel([[Conv1D(4, h), ReLU(), GlobalMaxPool1D()] for h in (1, 2, 3)])
    >>> layer.build((5, 10), np.random.RandomState(0), np.float64)
    (12,)
    """

    def __init__(self, branches):
        # Layer.__init__ is not called: params is the branches' view
        if not isinstance(branches, (list, tuple)) or not branches:
            raise ValueError(f"Parallel needs a non-empty list of branches; got {branches!r}.")
        stacks = []
        for b, branch in enumerate(branches):
            if not isinstance(branch, (list, tuple)) or not branch:
                raise ValueError(f"Branch {b} of Parallel must be a non-empty list of layers; got {branch!r}.")
            layers = [layer_from_spec(layer) if isinstance(layer, dict) else layer for layer in branch]
            if not all(isinstance(layer, Layer) for layer in layers):
                raise ValueError(f"Branch {b} of Parallel must hold sklrp.nn.Layer instances.")
            stacks.append(Sequential(layers))
        self.branches = stacks
        self.uses_rules = any(layer.uses_rules for s in stacks for layer in s.layers)
        self.threads_itself = all(layer.threads_itself for s in stacks for layer in s.layers)

    @property
    def params(self):
        return _BranchParams(self.branches)

    @property
    def has_trainable_params(self):
        return any(layer.has_trainable_params for s in self.branches for layer in s.layers)

    def config(self):
        return {"branches": [[layer_spec(layer) for layer in s.layers] for s in self.branches]}

    def build(self, input_shape, rng, dtype):
        shapes = [s.build(input_shape, rng, dtype) for s in self.branches]
        rest = {tuple(shape[1:]) for shape in shapes}
        if len(rest) != 1 or any(len(shape) == 0 for shape in shapes):
            raise ValueError(
                f"Parallel branches must give outputs that differ only in their first axis; got {shapes}."
            )
        self.splits = [int(shape[0]) for shape in shapes]
        self.input_shape = tuple(input_shape)
        self.output_shape = (sum(self.splits),) + rest.pop()
        return self.output_shape

    def output_nonnegative(self, input_nonnegative):
        flags = []
        for s in self.branches:
            nonneg = input_nonnegative
            for layer in s.layers:
                nonneg = layer.output_nonnegative(nonneg)
            flags.append(nonneg)
        return all(flags)

    def _parts(self, a):
        """Split an output-shaped array into the branches' parts."""
        parts, start = [], 0
        for size in self.splits:
            parts.append(a[:, start : start + size])
            start += size
        return parts

    def forward(self, x, training=False, rng=None):
        outs, caches = [], []
        for s in self.branches:
            out, cache = s.forward(x, training=training, rng=rng)
            outs.append(out)
            caches.append(cache)
        return get_namespace(x).concatenate(outs, axis=1), {"caches": caches}

    def _backward(self, grad, cache, composite, need_param_grads, need_input_grad):
        grad_in, grads = None, {}
        for b, (s, g, caches) in enumerate(zip(self.branches, self._parts(grad), cache["caches"])):
            gin, layer_grads = s.backward(g, caches, composite, need_param_grads=need_param_grads,
                                          need_input_grad=need_input_grad)
            for i, lg in enumerate(layer_grads):
                grads.update({f"{b}.{i}.{k}": v for k, v in (lg or {}).items()})
            if need_input_grad:
                grad_in = gin if grad_in is None else grad_in + gin
        return grad_in, grads

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        composite = None if ctx is None else ctx.composite
        return self._backward(grad, cache, composite, need_param_grads, need_input_grad=True)

    def param_grads(self, grad, cache):
        return self._backward(grad, cache, None, True, need_input_grad=False)[1]

    def relevance(self, R, cache, ctx=None):
        ctx = TraversalContext() if ctx is None else ctx
        R_in = None
        for b, (s, R_b, caches) in enumerate(zip(self.branches, self._parts(R), cache["caches"])):
            inner = s.contexts(ctx.composite, nonnegative_input=ctx.nonnegative_input)
            for c in inner:
                c.is_first = c.is_first and ctx.is_first
                c.is_last = c.is_last and ctx.is_last
                c.name = f"{ctx.name}.{b}.{c.name}" if ctx.name is not None else c.name
            for i in range(len(s.layers) - 1, -1, -1):
                R_b = s.layers[i].relevance(R_b, caches[i], inner[i])
            R_in = R_b if R_in is None else R_in + R_b
        return R_in

    def to(self, device):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.branches = [s.to(device) for s in self.branches]
        return new

    def __repr__(self):
        inner = ", ".join("[" + ", ".join(repr(layer) for layer in s.layers) + "]" for s in self.branches)
        return f"Parallel([{inner}])"

"""A stack of layers with forward, gradient, and relevance passes."""

import contextlib

import numpy as np

from .._backend import get_namespace
from .._threads import one_blas_thread
from ..rules import Composite, DeconvNet, Gradient, GuidedBackprop, TraversalContext, get_composite
from ._layers import GlobalMaxPool1D, ReLU, _MaxPoolND
from ._sequence import layer_from_spec, layer_spec

__all__ = ["Sequential", "BACKWARD_METHODS", "METHODS"]

#: explanation methods that reuse the gradient machinery, with the composite of
#: gradient rules that modifies the backward pass (None: the plain gradient)
BACKWARD_METHODS = {
    "sensitivity": None,
    "gradient": None,
    "gradient_x_input": None,
    "deconvnet": Composite({ReLU: DeconvNet(), "default": Gradient()}),
    "guided_backprop": Composite({ReLU: GuidedBackprop(), "default": Gradient()}),
}
METHODS = ("lrp",) + tuple(BACKWARD_METHODS)

#: in training, a ReLU followed by max pooling runs pooling first (see :meth:`Sequential._relu_pool_pairs`)
_POOL_FIRST = True


def _may_share_memory(a, b):
    """Whether two arrays may overlap (NumPy's bounds check; CuPy's where it has one)."""
    xp = get_namespace(a)
    may = getattr(xp, "may_share_memory", None) or getattr(np, "may_share_memory")
    try:
        return bool(may(a, b))
    except TypeError:  # arrays of different libraries never overlap
        return False


class Sequential:
    """A feed-forward stack of layers.

    Parameters
    ----------
    layers : list of Layer

    Notes
    -----
    The stack holds parameters only; each pass returns the caches that the
    matching backward or relevance pass needs.
    """

    def __init__(self, layers):
        self.layers = list(layers)

    # ------------------------------------------------------------------ build
    def build(self, input_shape, rng, dtype):
        """Create the parameters for inputs of ``input_shape`` (no batch axis)."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.build(shape, rng, dtype)
        self.input_shape = tuple(input_shape)
        self.output_shape = shape
        return shape

    def to(self, device):
        """Copy of the stack with all parameters on ``device``."""
        new = Sequential([layer.to(device) for layer in self.layers])
        new.input_shape, new.output_shape = self.input_shape, self.output_shape
        return new

    # ----------------------------------------------------------------- passes
    def forward(self, x, training=False, rng=None):
        """Run the stack; return the output and the list of per-layer caches.

        The padding mask of a sequence (see :meth:`Layer.output_mask`) is
        threaded from the layer that creates it (an
        :class:`~sklrp.nn.Embedding`) to the layers that accept it (a
        recurrent layer).  With ``training=True`` a ReLU followed by max
        pooling runs pool-first (the same output, and :meth:`backward` the
        same gradients; the ReLU's cache then holds the pooled values and
        ``"pooled_first": True``); explanations call it with
        ``training=False`` and get the stack's order.
        """
        caches = []
        mask = None
        pairs = self._relu_pool_pairs() if training else ()
        layers = self.layers
        i = 0
        while i < len(layers):
            layer = layers[i]
            if i in pairs:
                # max(relu(x)) == relu(max(x)): pool first, then the ReLU on the pooled values (a quarter of
                # them for 2x2 windows); the gradient is the same (see _relu_pool_pairs)
                pool = layers[i + 1]
                y, pool_cache = pool.forward(x, training=training, rng=rng)
                x, relu_cache = layer.forward(y, training=training, rng=rng)
                relu_cache["pooled_first"] = True
                mask = pool.output_mask(layer.output_mask(mask, relu_cache), pool_cache)
                caches += [relu_cache, pool_cache]
                i += 2
                continue
            if layer.accepts_mask:
                x, cache = layer.forward(x, training=training, rng=rng, mask=mask)
            else:
                x, cache = layer.forward(x, training=training, rng=rng)
            mask = layer.output_mask(mask, cache)
            caches.append(cache)
            i += 1
        return x, caches

    def _relu_pool_pairs(self):
        """Positions ``i`` of a ReLU followed by max pooling, which training passes and predictions run pool-first.

        Max pooling and ReLU commute (``max(relu(x)) = relu(max(x))``), and so
        do their gradients: the window's winner is the same wherever its
        value is positive, and the gradient is 0 in both orders where it is
        not.  Pooling first applies the ReLU and its mask to the pooled values
        only.  Explanations keep the stack's order: LRP routes the relevance
        of an all-negative window to a different (zero-valued) input.  Global
        max pooling over time (the word CNN) counts as max pooling.
        """
        if not _POOL_FIRST:
            return ()
        layers = self.layers
        return frozenset(i for i in range(len(layers) - 1)
                         if type(layers[i]) is ReLU and isinstance(layers[i + 1], (_MaxPoolND, GlobalMaxPool1D)))

    def predict(self, x):
        """Forward pass without keeping caches beyond each layer.

        A layer that can (:attr:`Layer.overwrites_input`, e.g. ReLU) writes
        its output over its input when that input is a temporary of this
        pass: not the caller's array nor a view of it.
        """
        mask = None
        given = x

        def temporary(a):  # an array of this pass, which a layer may write over
            return a is not given and not _may_share_memory(a, given)

        pairs = self._relu_pool_pairs()
        layers = self.layers
        i = 0
        while i < len(layers):
            layer = layers[i]
            if i in pairs:  # pool first, then the ReLU in place on the pooled values (the same output)
                # the previous layer's cache may hold the pooled input: released before the pooling, so that
                # the pooled input is freed with it (it had stayed alive to the next layer: +12 MiB of peak on
                # the CNN of the benchmarks at batch 128)
                cache = None
                pool = layers[i + 1]
                x, pool_cache = pool.inference(x)
                x, relu_cache = layer.inference(x, overwrite=temporary(x))
                mask = pool.output_mask(layer.output_mask(mask, relu_cache), pool_cache)
                i += 2
                continue
            kwargs = {"mask": mask} if layer.accepts_mask else {}
            if layer.overwrites_input and temporary(x):
                kwargs["overwrite"] = True
            x, cache = layer.inference(x, **kwargs)
            mask = layer.output_mask(mask, cache)
            i += 1
        return x

    def layer_names(self):
        """One name per layer: ``layer.name`` if set, else ``"<type>_<k>"``.

        ``k`` counts the layers of that type from 0, e.g.
        ``["dense_0", "relu_0", "dense_1"]``.
        """
        counts, names = {}, []
        for layer in self.layers:
            kind = type(layer).__name__.lower()
            k = counts.get(kind, 0)
            counts[kind] = k + 1
            names.append(layer.name if layer.name is not None else f"{kind}_{k}")
        return names

    def _rule_layers(self, prefix=""):
        """``(position, negative position, name)`` of every layer that uses a rule, here and inside the branches of
        a :class:`~sklrp.nn.Parallel` layer (positions within the branch, names ``"<outer>.<branch>.<inner>"``)."""
        found = []
        for i, (layer, name) in enumerate(zip(self.layers, self.layer_names())):
            if getattr(layer, "uses_rules", False):
                found.append((i, i - len(self.layers), prefix + name))
            for b, branch in enumerate(getattr(layer, "branches", ())):
                found += branch._rule_layers(f"{prefix}{name}.{b}.")
        return found

    def _check_layer_rules(self, composite):
        """Refuse ``layer_rules`` keys that reach no rule-using layer (a misspelt name, a position beyond the
        network or of an activation): they were ignored, and the other rules applied silently."""
        keys = getattr(composite, "layer_rules", None)
        if not keys:
            return
        layers = self._rule_layers()
        valid = {k for entry in layers for k in entry}
        bad = [k for k in keys if k not in valid]
        if bad:
            shown = ", ".join(f"{pos} {name!r}" for pos, _, name in layers)
            raise ValueError(
                f"Composite layer_rules key(s) {bad} match no layer that uses a rule; the network's are "
                f"(position, name): {shown} (a negative position counts from the end; activations and pooling "
                "use no rule)."
            )

    def contexts(self, composite, nonnegative_input=False):
        """One :class:`~sklrp.rules.TraversalContext` per layer for ``composite``.

        ``nonnegative_input`` says whether the stack's own input is known to
        be non-negative (a stack nested in another layer).
        """
        return TraversalContext.for_layers(
            composite, self.layers, self.layer_names(), self._nonnegative_inputs(nonnegative_input)
        )

    def backward(self, grad, caches, composite=None, need_param_grads=True, need_input_grad=True, stop=0):
        """Backpropagate ``grad`` (gradient of the loss w.r.t. the output).

        ``composite`` holds gradient rules for the activations (deconvnet,
        guided backprop; None: the true gradient).  Returns the gradient
        w.r.t. the input of layer ``stop`` (the network's input by default)
        and a list of per-layer parameter-gradient dicts (empty below
        ``stop``).  With ``need_input_grad=False`` (training) the pass ends at
        the lowest layer with trainable parameters and returns None for the
        input gradient: nothing below a fixed embedding or the first dense
        layer is computed.
        """
        ctxs = [None] * len(self.layers) if composite is None else self.contexts(composite)
        grads = [{} for _ in self.layers]
        if not need_input_grad:
            # below the lowest layer with trainable parameters no gradient is needed
            stop = next((i for i, layer in enumerate(self.layers) if layer.has_trainable_params), len(self.layers))
        i = len(self.layers) - 1
        while i >= stop:
            layer = self.layers[i]
            if i == stop and not need_input_grad:
                grads[i] = layer.param_grads(grad, caches[i]) if need_param_grads else {}
                return None, grads
            if i > 0 and isinstance(caches[i - 1], dict) and caches[i - 1].get("pooled_first"):
                # a pool-first pair of a training pass (forward): the ReLU's mask, then the pooling's routing
                if i - 1 < stop:
                    raise ValueError("backward cannot stop between a ReLU and the max pooling it ran after.")
                grad, _ = self.layers[i - 1].backward(grad, caches[i - 1], ctxs[i - 1], need_param_grads=False)
                grad, _ = layer.backward(grad, caches[i], ctxs[i], need_param_grads=False)
                i -= 2
                continue
            grad, grads[i] = layer.backward(grad, caches[i], ctxs[i], need_param_grads=need_param_grads)
            i -= 1
        return (grad if need_input_grad else None), grads

    def relevance(self, R, caches, composite, release=False):
        """Propagate output relevance ``R`` to the input with ``composite``.

        A layer that absorbs relevance it cannot pass to its input (a
        recurrent layer's initial states) records it per sample in its
        cache as ``cache["relevance_rest"]``; :meth:`relevance_rest` sums it.
        With ``release=True`` each layer's cache is emptied (all but
        ``"relevance_rest"``) once the layer is done, so that the pass holds
        only the caches it still needs; the caches cannot be used again.
        """
        composite = get_composite(composite)
        self._check_layer_rules(composite)
        ctxs = self.contexts(composite)
        for i in range(len(self.layers) - 1, -1, -1):
            R = self.layers[i].relevance(R, caches[i], ctxs[i])
            if release and isinstance(caches[i], dict):
                rest = caches[i].get("relevance_rest")
                caches[i].clear()
                if rest is not None:
                    caches[i]["relevance_rest"] = rest
        return R

    @staticmethod
    def relevance_rest(caches):
        """Per-sample relevance that the last relevance pass left on no input.

        The sum of ``cache["relevance_rest"]`` over the layers that record
        one (recurrent layers: the relevance of their initial states); None
        when no layer does.  Biases and stabilisers absorb relevance too,
        which this does not count.
        """
        rests = [c["relevance_rest"] for c in caches if isinstance(c, dict) and "relevance_rest" in c]
        if not rests:
            return None
        total = rests[0]
        for r in rests[1:]:
            total = total + r
        return total

    def _nonnegative_inputs(self, nonneg=False):
        """Per layer: whether the structure guarantees a non-negative input.

        Nothing is assumed about the stack's input unless ``nonneg`` says so.
        """
        flags = []
        for layer in self.layers:
            flags.append(nonneg)
            nonneg = layer.output_nonnegative(nonneg)
        return flags

    def explain(self, x, seed, method="lrp", composite="epsilon", scale_by_output=True):
        """Explain the outputs selected by ``seed``.

        Parameters
        ----------
        x : array of shape (N, ...)
            A batch in the stack's input shape.
        seed : array of shape (N, n_outputs)
            Weights of the outputs to explain: for LRP the output relevance is
            ``seed * f(x)`` (``scale_by_output=True``, the raw scores of the
            selected outputs) or ``seed`` itself; for gradient methods the
            gradient of ``sum(seed * f(x))`` is taken.
        method : str
            ``"lrp"`` or one of :data:`BACKWARD_METHODS`.
        composite : see :func:`sklrp.rules.get_composite`
        """
        out, caches = self.forward(x)
        return self.explain_from(x, out, caches, seed, method, composite, scale_by_output, release=True)

    def explain_from(self, x, out, caches, seed, method="lrp", composite="epsilon", scale_by_output=True,
                     release=False):
        """Explain from a forward pass already run (``out, caches = forward(x)``).

        Parameters are those of :meth:`explain`; ``out`` and ``caches`` are
        the forward pass's output and caches.  ``release=True`` lets an LRP
        pass empty the caches as it goes (see :meth:`relevance`), when the
        caller does not need them again.

        Notes
        -----
        A first layer that *encodes* the input (token ids -> vectors, see
        :class:`~sklrp.nn.Embedding`) provides ``explain_input(grad, cache,
        method)``: gradient methods then stop at that layer's output and let
        it build the map from the gradient there, instead of ``grad**2`` or
        ``grad * x`` on the raw input.
        """
        if method == "lrp":
            R = seed * out if scale_by_output else seed
            return self.relevance(R, caches, composite, release=release)
        if method not in BACKWARD_METHODS:
            raise ValueError(f"Unknown explanation method {method!r}; expected one of {list(METHODS)}.")
        explain_input = self.layers[0].explain_input if self.layers else None
        if explain_input is not None:
            g, _ = self.backward(seed, caches, BACKWARD_METHODS[method], need_param_grads=False, stop=1)
            return explain_input(g, caches[0], method)
        g, _ = self.backward(seed, caches, BACKWARD_METHODS[method], need_param_grads=False)
        if method == "sensitivity":
            return g**2
        if method == "gradient_x_input":
            return g * x
        return g

    # ------------------------------------------------------------- save/load
    def get_config(self):
        """JSON-serialisable description of the layers (:func:`layer_spec` each)."""
        return [layer_spec(layer) for layer in self.layers]

    def get_arrays(self):
        """Parameters as ``{"<layer index>.<name>": host array}``."""
        from .._backend import to_host

        return {f"{i}.{k}": to_host(v) for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @classmethod
    def from_config(cls, config, arrays, input_shape):
        """Rebuild a stack from :meth:`get_config` and :meth:`get_arrays`."""
        net = cls([layer_from_spec(spec) for spec in config])
        dtype = None
        for v in arrays.values():
            dtype = v.dtype
            break
        net.build(input_shape, np.random.RandomState(0), dtype or np.float64)
        for i, layer in enumerate(net.layers):
            for k in list(layer.params):
                key = f"{i}.{k}"
                if key not in arrays:
                    raise ValueError(f"Saved model lacks parameter {key!r}.")
                if arrays[key].shape != layer.params[k].shape:
                    raise ValueError(
                        f"Saved parameter {key!r} has shape {arrays[key].shape}, expected {layer.params[k].shape}."
                    )
                layer.params[k] = np.asarray(arrays[key])
        return net

    @property
    def dtype(self):
        """dtype of the parameters (None for a stack without parameters)."""
        for layer in self.layers:
            for v in layer.params.values():
                return v.dtype
        return None

    def threaded_passes(self, x):
        """Context for a block of CPU passes on ``x``: BLAS held at one thread where every layer threads itself.

        The layers then split their work between as many threads as BLAS
        would have used (:mod:`sklrp._threads`).  Holding the limit for the
        whole block, rather than around each product, keeps BLAS's own
        threads asleep: woken, they spin for milliseconds and take a core
        from the block threads.  Without effect on GPU arrays and on
        networks with recurrent layers (their products use BLAS's threads).
        """
        if isinstance(x, np.ndarray) and all(layer.threads_itself for layer in self.layers):
            return one_blas_thread
        return contextlib.nullcontext()

    @property
    def xp(self):
        for layer in self.layers:
            for v in layer.params.values():
                return get_namespace(v)
        return np

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n    {inner}\n])"

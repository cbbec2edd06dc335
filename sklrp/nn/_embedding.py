"""Token embeddings: integer ids -> vectors, explained per token.

:class:`Embedding` is the first layer of the text models (a word CNN, a
bi-LSTM).  It *encodes* its input: the network input is a matrix of token
ids, which has no meaningful gradient, so the layer also provides
``explain_input``, the hook :meth:`sklrp.nn.Sequential.explain_from` calls on
a first layer that has it, to turn the gradient at the embedding vectors into
a per-token (or per-dimension) map.
"""

import math

import numpy as np

from .._backend import empty, get_namespace, to_host
from ._base import Layer, check_parameter_size, whole_number

__all__ = ["Embedding"]

#: how the relevance of a token's vector is returned
RELEVANCE_MODES = ("token", "dimension")


def _scatter_add_rows(idx, values, n_rows):
    """``out[idx[m]] += values[m]`` for every row ``m``, into zeros ``(n_rows, D)``.

    Repeated indices accumulate.  On the CPU a sparse ``(n_rows, M)``
    selection matrix times ``values`` (about ten times faster than
    ``np.add.at``); on the GPU ``cupyx.scatter_add`` (atomic adds).
    """
    xp = get_namespace(values)
    if xp is np:
        from scipy import sparse

        select = sparse.csr_matrix(
            (np.ones(idx.shape[0], dtype=values.dtype), (idx, np.arange(idx.shape[0]))),
            shape=(n_rows, idx.shape[0]),
        )
        return np.asarray(select @ values)
    import cupyx  # lazy: only reached with CuPy arrays

    out = xp.zeros((n_rows, values.shape[1]), dtype=values.dtype)
    cupyx.scatter_add(out, idx, values)
    return out


class Embedding(Layer):
    """Look-up table from token ids to vectors, explained per token.

    Parameters
    ----------
    vocab_size : int
        Number of token ids; valid ids are ``0 .. vocab_size - 1``.
    embedding_dim : int
        Length ``D`` of each vector.
    padding_idx : int or None, default=0
        The id that pads variable-length sequences.  Its vector is zero (set
        at build time and kept zero in training: its gradient is zero), and
        padding positions get zero relevance for every explanation method.
        ``None``: no padding id.
    trainable : bool, default=True
        Whether the vectors are learned.  ``False`` returns no parameter
        gradient, so optimizers leave them unchanged (fixed pre-trained
        vectors, as in the word CNN of Arras et al. 2017).
    relevance : {"token", "dimension"}, default="token"
        ``"token"``: one value per token, the sum over the embedding axis,
        shape ``(N, T)`` like the input; ``"dimension"``: one value per
        token and embedding dimension, shape ``(N, T, D)``.
    blank_idx : int or None, default=None
        The id of a *blank* word: a zero vector at a real position (the
        mask counts it as a token, unlike padding), e.g. a deleted word in a
        word-deletion experiment on a recurrent model, which reads a blank
        as a step with zero input where it skips padding.  Its vector is
        zero and stays zero in training.
    channels_first : bool, default=False
        Output layout.  ``False``: ``(N, T, D)``, time-major for recurrent
        and :class:`~sklrp.nn.TimeDistributed` layers.  ``True``:
        ``(N, D, T)``, channels first for :class:`~sklrp.nn.Conv1D`; it is a
        transposed view of the ``(N, T, D)`` look-up (no copy), which the
        convolution's channel-last im2col reads without a copy either.

    Attributes
    ----------
    params : dict
        ``params["weight"]`` of shape ``(vocab_size, embedding_dim)``.
    relevance_mode : str
        The ``relevance`` parameter (``relevance`` is the LRP method).

    Notes
    -----
    **Input.**  ``(N, T)`` token ids, integers or integral floats (estimators
    cast ``X`` to the parameters' float dtype; float32 holds ids exactly up
    to 2**24).  Ids outside ``[0, vocab_size)`` and non-integral values raise
    a ``ValueError`` naming them.  The check costs one device
    synchronisation on a GPU, so it is skipped for CuPy inputs in training
    mode only (``forward(..., training=True)``); training loops should check
    the whole ``X`` once with :meth:`check_ids` at the fit boundary.

    **Relevance.**  The look-up is a linear map from a one-hot vector to the
    token's vector, so the token receives the relevance of its whole vector:
    word relevance is the sum over the embedding dimensions (Arras et al.
    2017).  The layer asks the composite for no rule, and the next linear
    layer (e.g. the convolution) counts as the composite's *first* layer.
    Relevance that a rule puts on a padding position (e.g. the flat rule) is
    dropped.

    **Gradient methods.**  :meth:`explain_input` receives the gradient ``g``
    at the embedding vectors ``e``: sensitivity is ``g**2`` per dimension
    and ``||g_t||**2`` per token, gradient x input is ``e * g`` per
    dimension and ``sum_k e_tk g_tk`` per token (the word-level baselines of
    Arras et al. 2017); the other methods (gradient, deconvnet, guided
    backprop) return ``g``, summed over the embedding axis per token.

    **Padding mask.**  ``forward`` puts the boolean mask ``ids !=
    padding_idx`` (True at real tokens; None without a padding id) into its
    cache as ``cache["mask"]``; :meth:`compute_mask` computes it from ids.

    References
    ----------
    Arras, Montavon, Müller and Samek, "Explaining recurrent neural network
    predictions in sentiment analysis", WASSA 2017.

    Arras, Horn, Montavon, Müller and Samek, "What is relevant in a text
    document?": An interpretable machine learning approach, PLoS ONE 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.nn import Conv1D, Dense, Embedding, GlobalMaxPool1D, ReLU, Sequential
    >>> net = Sequential([Embedding(100, 8, channels_first=True), Conv1D(4, 2), ReLU(),
    ...                   GlobalMaxPool1D(), Dense(3)])
    >>> net.build((6,), np.random.RandomState(0), np.float64)
    (3,)
    >>> ids = np.array([[5, 17, 42, 3, 0, 0]])
    >>> R = net.explain(ids, np.array([[0.0, 1.0, 0.0]]), composite="zero")
    >>> R.shape, R[0, 4:].tolist()
    ((1, 6), [0.0, 0.0])
    """

    def __init__(self, vocab_size, embedding_dim, padding_idx=0, trainable=True, relevance="token",
                 channels_first=False, blank_idx=None):
        super().__init__()
        self.vocab_size = whole_number("vocab_size", vocab_size)
        self.embedding_dim = whole_number("embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) or not (
                0 <= padding_idx < self.vocab_size
            ):
                raise ValueError(
                    f"padding_idx must be None or an int in [0, vocab_size={self.vocab_size}); "
                    f"got {padding_idx!r}."
                )
            padding_idx = int(padding_idx)
        self.padding_idx = padding_idx
        if blank_idx is not None:
            if isinstance(blank_idx, bool) or not isinstance(blank_idx, (int, np.integer)) or not (
                0 <= blank_idx < self.vocab_size
            ) or blank_idx == padding_idx:
                raise ValueError(
                    f"blank_idx must be None or an int in [0, vocab_size={self.vocab_size}) other than "
                    f"padding_idx={padding_idx}; got {blank_idx!r}."
                )
            blank_idx = int(blank_idx)
        self.blank_idx = blank_idx
        if relevance not in RELEVANCE_MODES:
            raise ValueError(f"relevance must be one of {list(RELEVANCE_MODES)}; got {relevance!r}.")
        self.relevance_mode = relevance
        self.trainable = bool(trainable)
        self.channels_first = bool(channels_first)
        self._pretrained = None

    @classmethod
    def from_pretrained(cls, weights, *, padding_idx=0, trainable=False, relevance="token",
                        channels_first=False, blank_idx=None):
        """An embedding that starts from given vectors (e.g. GloVe).

        Parameters
        ----------
        weights : array-like of shape (vocab_size, embedding_dim)
            Row ``i`` is the vector of id ``i``.  :meth:`build` copies it in
            the network's dtype and zeroes row ``padding_idx``, so reserve
            that row for padding.
        padding_idx, relevance, channels_first, blank_idx
            As in :class:`Embedding`.
        trainable : bool, default=False
            Fixed vectors by default.

        Returns
        -------
        Embedding

        Notes
        -----
        The vectors are not part of :meth:`config` (which stays small JSON):
        they are the layer's parameter once built, and travel with the other
        parameters (:meth:`sklrp.nn.Sequential.get_arrays`).
        """
        weights = to_host(weights)
        if weights.ndim != 2:
            raise ValueError(
                f"weights must be a 2-D array (vocab_size, embedding_dim); got shape {weights.shape}."
            )
        layer = cls(weights.shape[0], weights.shape[1], padding_idx=padding_idx, trainable=trainable,
                    relevance=relevance, channels_first=channels_first, blank_idx=blank_idx)
        layer._pretrained = weights
        return layer

    def config(self):
        return {
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "padding_idx": self.padding_idx,
            "trainable": self.trainable,
            "relevance": self.relevance_mode,
            "channels_first": self.channels_first,
            **({"blank_idx": self.blank_idx} if self.blank_idx is not None else {}),
        }

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != 1:
            raise ValueError(
                f"Embedding expects inputs of shape (sequence_length,) of token ids; got {tuple(input_shape)}."
            )
        length, dim = int(input_shape[0]), self.embedding_dim
        if self._pretrained is not None:
            weight = np.array(self._pretrained, dtype=dtype)
        else:
            # N(0, 1/D): vectors of unit expected squared norm
            check_parameter_size(self, (self.vocab_size, dim), dtype)
            weight = rng.normal(0.0, 1.0 / math.sqrt(dim), (self.vocab_size, dim)).astype(dtype)
        for idx in (self.padding_idx, self.blank_idx):
            if idx is not None:
                weight[idx] = 0
        self.params = {"weight": weight}
        self.input_shape = (length,)
        self.output_shape = (dim, length) if self.channels_first else (length, dim)
        return self.output_shape

    # ------------------------------------------------------------------ ids
    def check_ids(self, x):
        """Validate token ids and return them as an int64 array.

        Parameters
        ----------
        x : array of shape (N, T)
            Integer or integral float ids (NumPy or CuPy).

        Returns
        -------
        ids : int64 array of shape (N, T), in ``x``'s namespace

        Raises
        ------
        ValueError
            For ids outside ``[0, vocab_size)`` or non-integral values
            (NaN included), naming the first offending values.
        """
        xp = get_namespace(x)
        if x.dtype.kind not in "iuf":
            raise ValueError(f"Embedding expects integer token ids; got an array of dtype {x.dtype}.")
        bad = (x < 0) | (x >= self.vocab_size)
        if x.dtype.kind == "f":
            bad |= x != xp.floor(x)
        if bool(bad.any()):
            values = np.unique(to_host(x[bad]))
            shown = ", ".join(repr(v.item()) for v in values[:10]) + (", ..." if values.size > 10 else "")
            raise ValueError(
                f"Embedding: token ids must be integers in [0, vocab_size={self.vocab_size}); "
                f"got {values.size} invalid value(s): {shown}."
            )
        return x.astype(xp.int64, copy=False)

    def compute_mask(self, ids):
        """Boolean mask of real tokens, ``ids != padding_idx`` (None without padding id)."""
        if self.padding_idx is None:
            return None
        return ids != self.padding_idx

    def output_mask(self, mask, cache):
        """The mask of real tokens (``ids != padding_idx``), for recurrent layers."""
        return cache["mask"]

    # --------------------------------------------------------------- passes
    def forward(self, x, training=False, rng=None):
        weight = self.params["weight"]
        xp = get_namespace(x, weight)
        if x.ndim != 2:
            raise ValueError(f"Embedding expects token ids of shape (N, T); got shape {x.shape}.")
        if training and xp is not np:
            ids = x.astype(xp.int64, copy=False)  # checked once at the fit boundary instead
        else:
            ids = self.check_ids(x)
        e = xp.take(weight, ids, axis=0, out=empty(xp, ids.shape + weight.shape[1:], weight.dtype))  # (N, T, D)
        cache = {"ids": ids, "mask": self.compute_mask(ids), "e": e}
        return (xp.moveaxis(e, -1, 1) if self.channels_first else e), cache

    def _token_major(self, a):
        """An output-layout array as ``(N, T, D)``."""
        return get_namespace(a).moveaxis(a, 1, -1) if self.channels_first else a

    def _per_token(self, m, cache):
        """Zero padding positions of an ``(N, T, D)`` map and reduce it per the relevance mode."""
        if cache["mask"] is not None:
            m = get_namespace(m).where(cache["mask"][..., None], m, m.dtype.type(0))
        return m.sum(axis=-1) if self.relevance_mode == "token" else m

    @property
    def has_trainable_params(self):
        return self.trainable

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        """Zero gradient for the ids (they are not continuous) and the weight gradient."""
        grads = self.param_grads(grad, cache) if need_param_grads else {}
        xp = get_namespace(grad)
        return xp.zeros(cache["ids"].shape, dtype=grad.dtype), grads

    def param_grads(self, grad, cache):
        """Scatter-add of the vectors' gradients by id; none when not trainable.

        The padding and blank rows' gradients are zero, so they stay zero
        under any optimizer (without weight decay towards other values).
        """
        if not self.trainable:
            return {}
        g = self._token_major(grad).reshape(-1, self.embedding_dim)
        dw = _scatter_add_rows(cache["ids"].reshape(-1), g, self.vocab_size)
        for idx in (self.padding_idx, self.blank_idx):
            if idx is not None:
                dw[idx] = 0
        return {"weight": dw}

    def relevance(self, R, cache, ctx=None):
        """Relevance per token ``(N, T)`` or per dimension ``(N, T, D)``; zero on padding."""
        return self._per_token(self._token_major(R), cache)

    def explain_input(self, grad, cache, method):
        """Map of a gradient method from the gradient at the embedding vectors.

        Called by :meth:`sklrp.nn.Sequential.explain_from` instead of
        ``grad**2`` / ``grad * x`` on the ids.

        Parameters
        ----------
        grad : array
            Gradient of the explained score w.r.t. this layer's output (in
            the output layout).
        cache : dict
            This layer's forward cache.
        method : str
            ``"sensitivity"`` (``g**2``), ``"gradient_x_input"`` (``e * g``),
            or another gradient method (``g`` itself).

        Returns
        -------
        array of shape (N, T) or (N, T, D)
            Summed over the embedding axis with ``relevance="token"``; zero
            at padding positions.
        """
        g = self._token_major(grad)
        if method == "sensitivity":
            m = g * g
        elif method == "gradient_x_input":
            m = cache["e"] * g
        else:
            m = g
        return self._per_token(m, cache)

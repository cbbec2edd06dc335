"""Shared base of the networks that read token ids (a word CNN, a bi-LSTM).

:class:`BaseTokenNetClassifier` adds to :class:`~sklrp.estimators.BaseNetClassifier`
what every model over :class:`sklrp.text.TokenSequenceVectorizer` output
needs: the validation of token ids (once per call), the initial word vectors
(random, given, or word2vec trained on the training ids), the per-token /
per-dimension reduction of the relevance, and persistence rules for the
``embeddings`` parameter.  A model family implements ``_build_net`` from the
``self._fit_setup`` dict (``ids``, ``W``, ``vocab_size``, ``dtype``) with
:meth:`BaseTokenNetClassifier._initial_vectors` and its own layers after an
:class:`~sklrp.nn.Embedding` with ``relevance="dimension"``.
"""

import json
import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from .._backend import get_namespace, to_host
from .._dask import dask_blocks
from .._validation import validate_array
from ..nn import Embedding, Sequential
from ._nets import BaseNetClassifier

__all__ = ["BaseTokenNetClassifier", "WORD2VEC_SETTINGS", "DEFAULT_EMBEDDING_DIM"]

#: vector length of ``embeddings=None`` and ``"word2vec"`` when ``embedding_dim=None``
DEFAULT_EMBEDDING_DIM = 100

#: gensim ``Word2Vec`` settings of ``embeddings="word2vec"`` (see ``_word2vec_vectors``
#: for why they differ from gensim's defaults); ``vector_size``, ``workers=1`` and
#: ``seed`` come from the estimator
WORD2VEC_SETTINGS = {"sg": 1, "window": 10, "sample": 1e-4, "negative": 5, "epochs": 20, "min_count": 1}


def _word2vec_vectors(ids, vocab_size, dim, seed):
    """word2vec vectors of the ids of ``ids`` (rows of int ids, 0 = padding).

    Tokens are ``str(id)``; padding is left out of the sentences.  Every id
    that occurs gets a vector (``min_count=1``), the others (and padding)
    keep zeros.  One worker thread and a fixed seed make it deterministic.

    The settings are :data:`WORD2VEC_SETTINGS` (skip-gram, window 10,
    ``sample=1e-4``, 20 epochs), not gensim's defaults (CBOW, window 5,
    ``sample=1e-3``, 5 epochs).  With the defaults, the vectors of rare ids
    -- most of a corpus's vocabulary, and many of its most topical tokens
    (names, addresses, jargon) -- barely move from gensim's initialisation
    (uniform in +-0.5/dim): CBOW updates a word's input vector only as the
    context of others, so an id seen once ends with a norm about 40 times
    smaller than a frequent one's, and a CNN on fixed vectors cannot see it.
    Skip-gram trains every occurrence's own vector, which gives rare ids
    norms close to those of frequent ones (about 1 to 4, the scale of the
    random N(0, 1/dim) vectors), and the wider window and stronger
    subsampling of frequent tokens make the vectors more topical.  On 20
    Newsgroups (20 classes, headers kept, 400 tokens, 100-d, 200 filters,
    H=2, 6 epochs, fixed vectors) this raised the test accuracy from 53 %
    to 79.4 % (trainable random vectors: 80.8 %).  Rescaling the vectors
    (unit-norm rows, larger overall scale) did not help there.
    """
    try:
        from gensim.models import Word2Vec
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "TextCNNClassifier(embeddings='word2vec') needs gensim; install the optional "
            "extra: `pip install 'gensim>=4.3'`, or `pip install '.[text]'` in a checkout of sklrp (or pass embeddings=None or an array)."
        ) from exc
    vectors = np.zeros((vocab_size, dim), dtype=np.float32)
    sentences = [row[row != 0].astype(str).tolist() for row in ids]
    if not any(sentences):
        return vectors  # only padding in the training data: nothing to learn
    model = Word2Vec(sentences, vector_size=dim, workers=1, seed=int(seed), **WORD2VEC_SETTINGS)
    keys = np.asarray(model.wv.index_to_key, dtype=np.int64)
    vectors[keys] = model.wv.vectors
    return vectors


class BaseTokenNetClassifier(BaseNetClassifier):
    """Base of the classifiers over token ids; not meant to be used directly.

    See :class:`~sklrp.TextCNNClassifier` and :class:`~sklrp.BiLSTMClassifier`.
    """

    _parameter_constraints = {
        **{k: v for k, v in BaseNetClassifier._parameter_constraints.items() if k != "activation"},
        "embeddings": [None, StrOptions({"word2vec"}), "array-like"],
        "vocab_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "trainable_embeddings": ["boolean", StrOptions({"auto"})],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    #: the chunks are sized by the subclasses' ``_chunk_size`` alone (measured for these networks)
    _chunk_bytes = None

    # ------------------------------------------------------------ token ids
    def _check_ids(self, X, vocab_size, inferred=False):
        """Raise a clear error unless the validated ``X`` holds ids in ``[0, vocab_size)``.

        ``vocab_size=None`` checks that the ids are non-negative integers
        only.  One pass over ``X`` (one device synchronisation for CuPy).
        """
        name = type(self).__name__
        try:
            if vocab_size is not None:
                Embedding(vocab_size, 1).check_ids(X)
                return
            xp = get_namespace(X)
            bad = (X < 0) | (X != xp.floor(X))
            if bool(bad.any()):
                values = np.unique(to_host(X[bad]))
                shown = ", ".join(repr(v.item()) for v in values[:10]) + (", ..." if values.size > 10 else "")
                raise ValueError(
                    f"token ids must be non-negative integers; got {values.size} invalid value(s): {shown}."
                )
        except ValueError as exc:
            # scikit-learn's wording for negative input comes first when it applies
            lead = f"Negative values in data passed to {name}. " if bool((X < 0).any()) else f"{name}: "
            hint = ""
            if inferred:
                hint = (
                    f" vocab_size_={vocab_size} was inferred at fit from the largest training id "
                    "(vocab_size=None); set vocab_size to the vectorizer's vocab_size_ to accept ids that "
                    "the training documents lack."
                )
            raise ValueError(
                f"{lead}X must hold token ids (0 = padding) as sklrp.text.TokenSequenceVectorizer produces. "
                f"{exc}{hint}"
            ) from None

    def _embedding_matrix(self):
        """The ``embeddings`` array validated (None for the other options)."""
        if self.embeddings is None or isinstance(self.embeddings, str):
            return None
        W = np.asarray(to_host(self.embeddings))
        if W.ndim != 2:
            raise ValueError(
                f"embeddings must be None, 'word2vec' or an array of shape (vocab_size, embedding_dim); got an "
                f"array of shape {W.shape}."
            )
        W = check_array(W, dtype=(np.float64, np.float32), input_name="embeddings")
        rows, dim = W.shape
        if self.vocab_size is not None and rows != self.vocab_size:
            raise ValueError(
                f"embeddings has {rows} rows but vocab_size={self.vocab_size}; give one row per token id "
                "(row 0 for padding), e.g. vocab_size=vectorizer.vocab_size_ rows."
            )
        if self.embedding_dim is not None and dim != self.embedding_dim:
            raise ValueError(
                f"embeddings has vectors of length {dim} but embedding_dim={self.embedding_dim}; "
                "leave embedding_dim=None to use the array's width."
            )
        return W

    def _validate_input(self, X):
        """``X`` validated for a fitted model, its ids checked once for the whole call."""
        check_is_fitted(self)
        X = validate_array(self, X, reset=False)
        self._check_ids(X, self.vocab_size_, inferred=self._vocab_inferred())
        return X

    def _vocab_inferred(self):
        """Whether the number of ids was inferred from the training ids (``vocab_size=None``, no vector array)."""
        return self.vocab_size is None and (self.embeddings is None or isinstance(self.embeddings, str))

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y, incremental, classes=None):
        if y is None:
            return super()._fit(X, y, incremental, classes=classes)  # its clear error
        first = not hasattr(self, "net_") or not (self.warm_start or incremental)
        ids = validate_array(self, X, reset=first)
        if not first:
            self._check_ids(ids, self.vocab_size_)
        else:
            W = self._embedding_matrix()
            limit = W.shape[0] if W is not None else self.vocab_size
            self._check_ids(ids, limit)
            source = X.dtype if hasattr(X, "dtype") else np.asarray(X).dtype
            if self.dtype is not None:
                dtype = np.dtype(self.dtype)
            else:
                dtype = ids.dtype if np.dtype(source).kind == "f" else np.dtype(np.float32)
            vocab = limit if limit is not None else int(ids.max()) + 1
            # read by _build_net, which the base class calls with no access to X
            self._fit_setup = {"ids": ids, "W": W, "vocab_size": vocab, "dtype": dtype}
        try:
            super()._fit(X, y, incremental, classes=classes)
        finally:
            self.__dict__.pop("_fit_setup", None)
        self._record_text_attributes()
        return self

    def _initial_vectors(self, rng):
        """``(W, dim, trainable)`` of the embedding at fit: given, word2vec or None (random)."""
        setup = self._fit_setup
        W, vocab = setup["W"], setup["vocab_size"]
        if W is not None:
            dim = W.shape[1]
        else:
            dim = DEFAULT_EMBEDDING_DIM if self.embedding_dim is None else self.embedding_dim
        if isinstance(self.embeddings, str):  # "word2vec"
            W = _word2vec_vectors(to_host(setup["ids"]).astype(np.int64), vocab, dim, rng.randint(2**31 - 1))
        trainable = self.embeddings is None if self.trainable_embeddings == "auto" else self.trainable_embeddings
        return W, dim, bool(trainable)

    def _record_text_attributes(self):
        """``vocab_size_``, ``embedding_dim_`` and ``input_bounds_`` from the fitted network."""
        embedding = self.net_.layers[0]
        self.vocab_size_ = embedding.vocab_size
        self.embedding_dim_ = embedding.embedding_dim
        weight = embedding.params["weight"]
        # the first layer that uses rules is the convolution, whose input is the vectors
        self.input_bounds_ = (float(weight.min()), float(weight.max()))

    @dask_blocks
    def explain(self, X, target=None, method=None, per_dimension=False):
        """Relevance of every token position for the target class score.

        LRP starts from the raw (pre-softmax) score of the target class, zero
        for the other classes, and propagates it back with the rules of
        ``composite``; gradient methods take the gradient of that score with
        respect to the word vectors.

        Parameters
        ----------
        X : array of shape (n_samples, n_positions)
            Token ids (0 = padding), NumPy or CuPy.
        target : None, label, array-like of labels, or array of shape (n_samples, n_classes), default=None
            ``None`` explains the predicted class; a label of ``classes_``
            that class for all samples; one label per sample each sample's
            own; a 2-D array is the output relevance (LRP) or the output
            gradient (gradient methods).
        method : str, default=None
            Overrides the ``method`` parameter for this call: ``"lrp"``,
            ``"sensitivity"`` (squared L2 norm of the gradient w.r.t. the
            word's vector), ``"gradient_x_input"`` (vector times gradient),
            ``"gradient"``, ``"deconvnet"`` or ``"guided_backprop"`` (the
            gradient, summed over the vector).
        per_dimension : bool, default=False
            Keep the embedding axis: one relevance per position and vector
            dimension (its sum over the last axis is the per-token result).

        Returns
        -------
        R : array of shape (n_samples, n_positions) or (n_samples, n_positions, `embedding_dim_`)
            In X's array type; exactly zero at padding positions.
        """
        return self._explain_tokens(X, target, method, per_dimension)

    def _explain_tokens(self, X, target, method, per_dimension, return_rest=False):
        """:meth:`explain`, optionally with the relevance left on the initial states."""
        for name, flag in (("per_dimension", per_dimension), ("return_rest", return_rest)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False; got {flag!r}.")
        if return_rest and (self.method if method is None else method) != "lrp":
            raise ValueError(
                f"return_rest=True needs method='lrp' (the rest is the LRP relevance left on the initial "
                f"states); got method={self.method if method is None else method!r}."
            )
        est = self
        if per_dimension or return_rest:
            # a shallow view with the options, so that concurrent calls on the
            # estimator itself are unaffected
            est = object.__new__(type(self))
            est.__dict__.update(self.__dict__)
            est._per_dimension = bool(per_dimension)
            est._return_rest = bool(return_rest)
        R = super(BaseTokenNetClassifier, est).explain(X, target=target, method=method)
        rest = None
        if return_rest:
            R, rest = R[:, :-1], R[:, -1]
        if per_dimension:
            R = R.reshape(R.shape[0], -1, self.embedding_dim_)
        return (R, rest) if return_rest else R

    def _explanation_rows(self, R, caches):
        R = R.reshape(R.shape[0], -1, self.embedding_dim_)
        R = R.reshape(R.shape[0], -1) if self.__dict__.get("_per_dimension", False) else R.sum(axis=-1)
        if self.__dict__.get("_return_rest", False):
            xp = get_namespace(R)
            rest = Sequential.relevance_rest(caches)
            rest = xp.zeros(R.shape[0], dtype=R.dtype) if rest is None else rest.astype(R.dtype, copy=False)
            R = xp.concatenate([R, rest[:, None]], axis=1)
        return R

    # ----------------------------------------------------------- persistence
    @classmethod
    def _saved_layers_problem(cls, layers, describe=repr):
        """What is wrong with the layer specs of a saved network of this class, or None (checked at load).

        The text continues "the configuration's state.layers..."; ``describe``
        shows a JSON value in the message.
        """
        first = layers[0]
        if first["type"] != "Embedding" or first["config"]["padding_idx"] != 0:
            return (f"[0] should be an Embedding layer with padding_idx 0 (a {cls.__name__} reads token ids padded "
                    f"with 0); got {json.dumps(first)[:200]}.")
        return None

    def _get_fitted_state(self):
        """The fitted state, for :func:`sklrp.estimators.save_model` (see the base class).

        Raises
        ------
        ValueError
            When ``embeddings`` is an array: the safe format stores the
            constructor parameters as JSON.
        """
        if self._embedding_matrix() is not None:
            raise ValueError(
                f"A {type(self).__name__} whose embeddings parameter is an array cannot be saved in the safe "
                "format, which stores the parameters as JSON. The fitted vectors are part of net_: "
                "set_params(embeddings=None) before saving keeps the fitted model unchanged (only a refit "
                "would start from other vectors); or use pickle."
            )
        return super()._get_fitted_state()

    def _set_fitted_state(self, config, arrays):
        super()._set_fitted_state(config, arrays)
        bounds = self.input_bounds_
        self._record_text_attributes()
        self.input_bounds_ = bounds
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True  # token ids: non-negative integers
        tags.input_tags.positive_only = True
        return tags

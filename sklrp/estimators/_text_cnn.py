"""The word CNN of Arras et al. (2016, 2017) as a scikit-learn classifier.

:class:`TextCNNClassifier` reads padded matrices of token ids (the output of
:class:`sklrp.text.TokenSequenceVectorizer`; 0 = padding) and explains its
predictions per token position.  It is a model family over
:class:`~sklrp.estimators.BaseNetClassifier`: the builder is
:func:`~sklrp.estimators._architectures.text_cnn_stack`; this module adds the
validation of token ids, the initial word vectors (random, given, or word2vec
trained on the training ids) and the per-token / per-dimension reduction of
the relevance.
"""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from .._backend import get_namespace, to_host
from .._validation import validate_array
from ..nn import Embedding, Sequential
from ._architectures import _positive_ints, text_cnn_stack
from ._nets import BaseNetClassifier

__all__ = ["TextCNNClassifier"]

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
            "extra: pip install 'sklrp[text]' (or pass embeddings=None or an array)."
        ) from exc
    vectors = np.zeros((vocab_size, dim), dtype=np.float32)
    sentences = [row[row != 0].astype(str).tolist() for row in ids]
    if not any(sentences):
        return vectors  # only padding in the training data: nothing to learn
    model = Word2Vec(sentences, vector_size=dim, workers=1, seed=int(seed), **WORD2VEC_SETTINGS)
    keys = np.asarray(model.wv.index_to_key, dtype=np.int64)
    vectors[keys] = model.wv.vectors
    return vectors


class TextCNNClassifier(BaseNetClassifier):
    """Word CNN for documents given as token ids, explained per word (Arras et al.).

    The network of Arras et al. (2016, 2017): word vectors ->
    one 1-D convolution over time per filter size ``H`` (``n_filters``
    filters each) -> ReLU -> global max-pooling over time -> dropout ->
    dense layer to the class scores.  ``X`` holds one document per row as
    token ids padded with 0 (:class:`sklrp.text.TokenSequenceVectorizer`),
    and :meth:`explain` returns one relevance per token position (zero at
    padding), or one per position and embedding dimension.

    Parameters
    ----------
    embeddings : None, "word2vec" or array of shape (vocab_size, dim), default=None
        Initial word vectors.  ``None``: random vectors drawn from
        N(0, 1/``embedding_dim``).  ``"word2vec"``: vectors trained by
        gensim's ``Word2Vec`` (skip-gram, window 10, ``sample=1e-4``, 5
        negative samples, 20 epochs, ``min_count=1``: gensim's CBOW defaults
        leave rare words with near-zero vectors; one worker, seed drawn
        from ``random_state``, so deterministic; a few minutes of one core
        for 2 million training tokens) on
        the training documents at ``fit``, each id a word (``str(id)``),
        padding left out; ids that never occur in the training data get
        zero vectors.  Needs gensim (``pip install 'sklrp[text]'``).  An
        array: row ``i`` is the vector of id ``i``, aligned with the
        vectorizer's ids (row 0, padding, is set to zero), e.g. pre-trained
        vectors looked up for ``vectorizer.get_feature_names_out()``.
    vocab_size : int, default=None
        Number of token ids, padding included (the vectorizer's
        ``vocab_size_``).  ``None``: the rows of an ``embeddings`` array,
        else the largest id in the training data plus one; ids above it
        are then rejected at prediction time, so set it when test
        documents may hold ids that the (truncated) training documents
        lack.
    embedding_dim : int, default=None
        Length of the word vectors.  ``None``: the width of an
        ``embeddings`` array, else 100 (the papers' pre-trained word2vec
        has 300; the convolution's cost grows linearly with it, and 100 is
        gensim's default for vectors learned on a corpus of this size).
    trainable_embeddings : bool or "auto", default="auto"
        Whether training updates the word vectors.  ``"auto"``: only for
        random vectors (``embeddings=None``); word2vec and given vectors stay
        fixed, as in the papers.
    filter_sizes : tuple of int, default=(2,)
        Window lengths ``H`` (in tokens) of the convolutions; several sizes
        give parallel branches whose pooled features are concatenated.  The
        papers' CNN1 / CNN2 / CNN3 are ``(1,)``, ``(2,)``, ``(3,)``.
    n_filters : int, default=800
        Filters per window length (800 in the papers).
    dropout : float, default=0.5
        Dropout rate on the pooled features during training (the rate of
        Kim's 2014 sentence CNN, which this architecture follows; 800 max-
        pooled features feeding one linear layer overfit quickly without
        it).
    dtype : {None, "float32", "float64"}, default=None
        Floating type of the parameters.  ``None``: float32 for integer ids
        (ids carry no precision of their own; float32 halves time and
        memory), the dtype of ``X`` for float ids.
    solver, learning_rate_init, momentum, weight_decay, batch_size, max_iter, \
tol, early_stopping, validation_fraction, n_iter_no_change, shuffle, \
random_state, verbose, warm_start, frozen_layers, device
        As in :class:`~sklrp.DenseNetClassifier`, except ``max_iter``
        (default 10 epochs here).  ``frozen_layers`` names come from
        ``net_.layer_names()``: ``"embedding_0"``, ``"conv1d_0"`` (or
        ``"parallel_0"``), ``"dense_0"``.
    composite : str, Composite, Rule or dict, default="epsilon"
        LRP rules; ``"epsilon"`` is the epsilon rule on the convolution and
        dense layers with the bias in the denominator, the rule of Arras et
        al. (2016).  Max-pooling is winner-take-all and the ReLU passes
        relevance unchanged.
    epsilon : float, default=1e-6
        Stabiliser of the epsilon rule.
    gamma, alpha, beta : float, default=0.25, 2.0, 1.0
        Parameters of the gamma and alpha-beta rules, as in
        :class:`~sklrp.DenseNetClassifier`.
    input_bounds : tuple (low, high) or None, default=None
        Bounds of the convolution's input for the z^B rule; ``None`` uses the
        range of the fitted word vectors (``input_bounds_``).
    method : str, default="lrp"
        Default explanation method (see :meth:`explain`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of token positions per document (the vectorizer's
        ``max_length``).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` had string column names.
    vocab_size_ : int
        Number of token ids the model accepts (``0 .. vocab_size_ - 1``).
    embedding_dim_ : int
        Length of the word vectors.
    input_shape_ : tuple
        ``(n_features_in_,)``.
    net_ : sklrp.nn.Sequential
        The trained network; ``net_.layers[0].params["weight"]`` holds the
        word vectors.
    history_, n_iter_, loss_, best_validation_score_
        As in :class:`~sklrp.DenseNetClassifier`.
    input_bounds_ : tuple of float
        Minimum and maximum of the fitted word vectors.

    See Also
    --------
    sklrp.text.TokenSequenceVectorizer : Raw documents to the id matrix.
    sklrp.nn.Embedding : The look-up layer and its per-token relevance.

    Notes
    -----
    **Input.**  ``X`` is a 2-D array of token ids: integers, or floats with
    integral values (scikit-learn's tools pass floats); non-integral,
    negative or too large ids raise a ``ValueError`` naming them, checked
    once per call.  A row of zeros is an empty document: its scores come
    from the biases alone and its relevance is zero everywhere.

    **Relevance.**  LRP starts from the raw score of the target class; a
    word's relevance is the sum, over the embedding dimensions, of the
    relevance of its vector (``explain(..., per_dimension=True)`` keeps the
    dimensions).  Sensitivity is the squared L2 norm of the gradient with
    respect to the word's vector, gradient x input the dot product of the
    vector with that gradient.  Padding positions get exactly zero for
    every method.  With enough padding (at least the largest filter size
    after the last token) a document's token relevances do not depend on
    how much padding follows.

    **Cost.**  One document costs about ``max_length * embedding_dim *
    sum(filter_sizes) * n_filters`` multiply-adds per forward pass; an LRP
    explanation about two forward passes.

    References
    ----------
    Arras, Horn, Montavon, Müller and Samek, "Explaining predictions of
    non-linear classifiers in NLP", Workshop on Representation Learning for
    NLP (ACL), 2016.

    Arras, Horn, Montavon, Müller and Samek, "What is relevant in a text
    document?": An interpretable machine learning approach, PLoS ONE 12(8),
    2017.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> import sklrp
    >>> from sklrp import TextCNNClassifier
    >>> from sklrp.text import TokenSequenceVectorizer
    >>> docs = ["a great and moving film", "dull, boring and far too long",
    ...         "great acting", "boring plot"] * 5
    >>> y = [1, 0, 1, 0] * 5
    >>> pipe = make_pipeline(
    ...     TokenSequenceVectorizer(max_length=8),
    ...     TextCNNClassifier(n_filters=16, max_iter=30, dropout=0.0, random_state=0),
    ... ).fit(docs, y)
    >>> R = sklrp.explain(pipe, ["a boring film"])   # relevance per token position
    >>> R.shape
    (1, 8)
    """

    _parameter_constraints = {
        **{k: v for k, v in BaseNetClassifier._parameter_constraints.items() if k != "activation"},
        "embeddings": [None, StrOptions({"word2vec"}), "array-like"],
        "vocab_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "trainable_embeddings": ["boolean", StrOptions({"auto"})],
        "filter_sizes": [tuple, list],
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"}), None],
    }

    def __init__(
        self,
        embeddings=None,
        *,
        vocab_size=None,
        embedding_dim=None,
        trainable_embeddings="auto",
        filter_sizes=(2,),
        n_filters=800,
        dropout=0.5,
        dtype=None,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        batch_size="auto",
        max_iter=10,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        frozen_layers=None,
        device=None,
        composite="epsilon",
        epsilon=1e-6,
        gamma=0.25,
        alpha=2.0,
        beta=1.0,
        input_bounds=None,
        method="lrp",
    ):
        self.embeddings = embeddings
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.trainable_embeddings = trainable_embeddings
        self.filter_sizes = filter_sizes
        self.n_filters = n_filters
        self.dropout = dropout
        self.dtype = dtype
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.frozen_layers = frozen_layers
        self.device = device
        self.composite = composite
        self.epsilon = epsilon
        self.gamma = gamma
        self.alpha = alpha
        self.beta = beta
        self.input_bounds = input_bounds
        self.method = method

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
                    f" vocab_size_={vocab_size} was inferred at fit as the largest training id + 1 "
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
        inferred = self.vocab_size is None and (self.embeddings is None or isinstance(self.embeddings, str))
        self._check_ids(X, self.vocab_size_, inferred=inferred)
        return X

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

    def _build_net(self, input_shape, n_out, rng, dtype):
        setup = self._fit_setup
        W, vocab = setup["W"], setup["vocab_size"]
        if W is not None:
            dim = W.shape[1]
        else:
            dim = DEFAULT_EMBEDDING_DIM if self.embedding_dim is None else self.embedding_dim
        longest = max(_positive_ints("filter_sizes", self.filter_sizes), default=1)
        if longest > input_shape[0]:
            raise ValueError(
                f"X has n_features={input_shape[0]} token positions, fewer than the largest filter size "
                f"{longest} in filter_sizes={tuple(self.filter_sizes)}; pad the documents to at "
                "least that length (TokenSequenceVectorizer's max_length) or use smaller filters."
            )
        if isinstance(self.embeddings, str):  # "word2vec"
            W = _word2vec_vectors(to_host(setup["ids"]).astype(np.int64), vocab, dim, rng.randint(2**31 - 1))
        trainable = self.embeddings is None if self.trainable_embeddings == "auto" else self.trainable_embeddings
        layers = text_cnn_stack(
            vocab,
            dim,
            self.filter_sizes,
            self.n_filters,
            embeddings=W,
            trainable_embeddings=bool(trainable),
            dropout=self.dropout,
            n_outputs=n_out,
        )
        net = Sequential(layers)
        net.build(input_shape, rng, setup["dtype"])
        layers[0]._pretrained = None  # the template's copy is in params now; do not keep (or pickle) it twice
        return net

    def _record_text_attributes(self):
        """``vocab_size_``, ``embedding_dim_`` and ``input_bounds_`` from the fitted network."""
        embedding = self.net_.layers[0]
        self.vocab_size_ = embedding.vocab_size
        self.embedding_dim_ = embedding.embedding_dim
        weight = embedding.params["weight"]
        # the first layer that uses rules is the convolution, whose input is the vectors
        self.input_bounds_ = (float(weight.min()), float(weight.max()))

    # ----------------------------------------------------------- explanation
    @property
    def _chunk_size(self):
        """Documents per pass: about 128 MB of forward and relevance arrays."""
        shape = getattr(self, "input_shape_", None)
        if shape is None:
            return 4096
        n_maps = self.net_.layers[-1].input_shape[0]  # pooled features, all filter sizes
        width = 6 * n_maps + 8 * self.embedding_dim_
        per_doc = shape[0] * width * np.dtype(self.net_.dtype).itemsize
        return int(min(4096, max(1, (128 << 20) // per_doc)))

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
        if not isinstance(per_dimension, (bool, np.bool_)):
            raise ValueError(f"per_dimension must be True or False; got {per_dimension!r}.")
        est = self
        if per_dimension:
            # a shallow view that keeps the embedding axis, so that concurrent
            # calls on the estimator itself are unaffected
            est = object.__new__(type(self))
            est.__dict__.update(self.__dict__)
            est._per_dimension = True
        R = super(TextCNNClassifier, est).explain(X, target=target, method=method)
        return R.reshape(R.shape[0], -1, self.embedding_dim_) if per_dimension else R

    def _explain_batch(self, X, target_index, target_relevance, *, method, context):
        R = super()._explain_batch(X, target_index, target_relevance, method=method, context=context)
        R = R.reshape(R.shape[0], -1, self.embedding_dim_)
        if self.__dict__.get("_per_dimension", False):
            return R.reshape(R.shape[0], -1)
        return R.sum(axis=-1)

    # ----------------------------------------------------------- persistence
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
                "A TextCNNClassifier whose embeddings parameter is an array cannot be saved in the safe "
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

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
from sklearn.utils._param_validation import Interval

from ..nn import Sequential
from ._architectures import _positive_ints, text_cnn_stack
from ._token_nets import DEFAULT_EMBEDDING_DIM, WORD2VEC_SETTINGS, BaseTokenNetClassifier, _word2vec_vectors

__all__ = ["TextCNNClassifier"]

# re-exported for code that imported them from here
_ = (DEFAULT_EMBEDDING_DIM, WORD2VEC_SETTINGS, _word2vec_vectors)


class TextCNNClassifier(BaseTokenNetClassifier):
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
        zero vectors.  Needs gensim (``pip install gensim``).  An
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
        **BaseTokenNetClassifier._parameter_constraints,
        "filter_sizes": [tuple, list],
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
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

    def _build_net(self, input_shape, n_out, rng, dtype):
        longest = max(_positive_ints("filter_sizes", self.filter_sizes), default=1)
        if longest > input_shape[0]:
            raise ValueError(
                f"X has n_features={input_shape[0]} token positions, fewer than the largest filter size "
                f"{longest} in filter_sizes={tuple(self.filter_sizes)}; pad the documents to at "
                "least that length (TokenSequenceVectorizer's max_length) or use smaller filters."
            )
        W, dim, trainable = self._initial_vectors(rng)
        layers = text_cnn_stack(
            self._fit_setup["vocab_size"],
            dim,
            self.filter_sizes,
            self.n_filters,
            embeddings=W,
            trainable_embeddings=trainable,
            dropout=self.dropout,
            n_outputs=n_out,
        )
        net = Sequential(layers)
        net.build(input_shape, rng, self._fit_setup["dtype"])
        layers[0]._pretrained = None  # the template's copy is in params now; do not keep (or pickle) it twice
        return net

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

"""The bi-LSTM sentence classifier of Arras et al. (2017), explained word by word.

:class:`BiLSTMClassifier` reads padded matrices of token ids (the output of
:class:`sklrp.text.TokenSequenceVectorizer`; 0 = padding): Embedding ->
:class:`sklrp.nn.LSTM` (both directions by default) -> the last hidden
states -> a dense output layer without bias.  :func:`load_lrp_for_lstm` turns
the published model of Arras et al. (ArrasL/LRP_for_LSTM) into a fitted
pipeline.
"""

import contextlib
import numbers
import zipfile
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, StrOptions

from .._backend import get_namespace, to_host
from .._dask import dask_blocks
from ..exceptions import ModelFileError
from ..nn import GRU, LSTM, Dense, Dropout, Embedding, Sequential
from ..rules import Composite, ProductRule, Rule, get_composite
from ..rules._elementwise import PRODUCT_MODES
from .. import _archive
from ._token_nets import BaseTokenNetClassifier

__all__ = ["BiLSTMClassifier", "load_lrp_for_lstm"]

#: the composites that apply to an LSTM (its maps share pre-activations: epsilon-family rules only)
LSTM_COMPOSITES = ("epsilon", "zero")


class BiLSTMClassifier(BaseTokenNetClassifier):
    """Bidirectional LSTM over token ids, explained per word with LRP (Arras et al. 2017).

    The network of Li et al. (2016) that Arras et al. (2017) explain: word
    vectors -> an LSTM read left to right and one read right to left ->
    their last hidden states, concatenated -> (dropout) -> a dense layer to
    the class scores, without bias by default so that no relevance leaks
    into it.  ``X`` holds one sentence per row as token ids padded with 0
    (:class:`sklrp.text.TokenSequenceVectorizer`); each direction reads a
    sentence from its own first (last) real token, whatever the padding.
    :meth:`explain` returns one relevance per token position (zero at
    padding), or one per position and embedding dimension.

    Parameters
    ----------
    embeddings : None, "word2vec" or array of shape (vocab_size, dim), default=None
        Initial word vectors, as in :class:`~sklrp.TextCNNClassifier`:
        ``None`` random N(0, 1/``embedding_dim``) vectors, ``"word2vec"``
        gensim skip-gram vectors trained on the training ids, or an array
        (row ``i`` the vector of id ``i``; row 0, padding, is set to zero).
    vocab_size : int, default=None
        Number of token ids, padding included (the vectorizer's
        ``vocab_size_``); ``None``: the rows of an ``embeddings`` array,
        else the largest training id plus one.  The blank word takes the
        next id (``blank_id_``); with an inferred size a vectorizer may give
        that id to a word the training rows lack, so ``X`` holding it is
        refused (word deletion alone puts it in place of deleted words).
    embedding_dim : int, default=None
        Length of the word vectors; ``None``: the width of an
        ``embeddings`` array, else 100.
    trainable_embeddings : bool or "auto", default="auto"
        Whether training updates the word vectors; ``"auto"``: only random
        ones (``embeddings=None``).
    hidden_size : int, default=60
        Units of each direction's hidden and cell state (60 in the
        published model).
    cell : {"lstm", "gru"}, default="lstm"
        The recurrent unit: :class:`sklrp.nn.LSTM`, or :class:`sklrp.nn.GRU`
        (Cho et al. 2014, the other architecture with multiplicative gates
        that Arras et al. name), explained with the same rules.
    bidirectional : bool, default=True
        ``False`` keeps the left-to-right LSTM only.
    output_bias : bool, default=False
        Whether the output layer has a bias (relevance it absorbs reaches
        no word).
    dropout : float, default=0.0
        Dropout rate on the concatenated last states during training.
    dtype : {None, "float32", "float64"}, default=None
        Floating type of the parameters; ``None``: float32 for integer ids,
        the dtype of ``X`` for float ids.
    solver, learning_rate_init, momentum, weight_decay, batch_size, max_iter, \
tol, early_stopping, validation_fraction, n_iter_no_change, shuffle, \
random_state, verbose, warm_start, frozen_layers, device
        As in :class:`~sklrp.DenseNetClassifier` (``batch_size="auto"`` is
        ``min(200, n_samples)``; ``max_iter`` defaults to 20 epochs here).
        ``frozen_layers`` names come from ``net_.layer_names()``:
        ``"embedding_0"``, ``"lstm_0"`` (``"gru_0"``), ``"dense_0"``.
    max_grad_norm : float or None, default=5.0
        Gradient clipping: the gradients of a mini-batch are scaled down
        when their global L2 norm exceeds it (``None``: no clipping).
    composite : {"epsilon", "zero"}, Composite, Rule or dict, default="epsilon"
        LRP rules.  ``"epsilon"``: the epsilon rule with ``epsilon`` and
        ``bias_factor`` on every linear map (the LSTM's input and recurrent
        maps, its cell sum, the output layer), the rule of Arras et al.;
        ``"zero"``: LRP-0 (the epsilon rule with 0), with ``bias_factor``.
        Composites address the LSTM as kind ``"recurrent"`` with the
        sub-operations ``"input"``, ``"recurrent"``, ``"cell"`` and ``"gate"``
        (see :class:`sklrp.nn.LSTM`).
    epsilon : float, default=1e-3
        Stabiliser of the epsilon rule (0.001 in the paper).
    bias_factor : float, default=0.0
        Share of the biases and stabilisers spread over the inputs: 0 lets
        them absorb their share (the paper's recommended setting); 1
        conserves the score exactly, with the part that reaches the initial
        states reported by ``explain(..., return_rest=True)``.
    product_rule : {"signal_take_all", "half", "proportional"}, default="signal_take_all"
        How the gated products ``gate * signal`` split relevance
        (:func:`sklrp.rules.product_rule`); signal-take-all gives the
        gates none (Arras et al. 2017).  Used by the named composites.
    method : str, default="lrp"
        Default explanation method (see :meth:`explain`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of token positions per sentence (the vectorizer's
        ``max_length``).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` had string column names.
    vocab_size_ : int
        Number of token ids the model accepts (``0 .. vocab_size_ - 1``):
        the vocabulary's ids and the blank id.
    blank_id_ : int
        ``vocab_size_ - 1``: the id of a *blank* word, a zero vector that
        the LSTM reads as a step (where it skips padding, id 0).
        :func:`sklrp.metrics.word_deletion_curve` deletes a word by putting
        it in its place, as Arras et al. set a deleted word's embedding to
        zero and keep the sentence's length.
    embedding_dim_ : int
        Length of the word vectors.
    input_shape_ : tuple
        ``(n_features_in_,)``.
    net_ : sklrp.nn.Sequential
        The trained network (Embedding, LSTM or GRU, [Dropout,] Dense).
    history_, n_iter_, loss_, best_validation_score_
        As in :class:`~sklrp.DenseNetClassifier`.
    input_bounds_ : tuple of float
        Minimum and maximum of the fitted word vectors.

    See Also
    --------
    sklrp.nn.LSTM : The layer and its relevance rules.
    load_lrp_for_lstm : The published SST-5 model as a fitted pipeline.
    sklrp.datasets.load_sst : The Stanford Sentiment Treebank.

    Notes
    -----
    **Relevance.**  LRP starts from the raw score of the target class (zero
    for the others) and applies the epsilon rule with ``bias_factor`` to
    the output layer and to the maps into the LSTM's gates (whose
    denominator is the whole pre-activation, bias included), the same rule
    to the cell state's sum ``f * c_prev + i * g``, and the product rule to
    ``o * tanh(c)``, ``f * c_prev`` and ``i * g``.  A word's relevance is
    the sum over its vector's dimensions, both directions added.
    Sensitivity (``"sensitivity"``) is the squared L2 norm of the gradient
    of the score with respect to the word's vector (both directions
    summed), gradient x input (``"gradient_x_input"``) the dot product of
    the vector with that gradient.  Padding positions get exactly zero, and
    a sentence's relevances do not depend on the other sentences of the
    batch or on its padding.

    **Cost.**  Explaining costs about one more forward pass: the relevance
    pass is one sweep over time per direction with one small matrix
    product per step, and one large product for the input maps of all steps.

    References
    ----------
    Arras, Montavon, Müller and Samek, "Explaining recurrent neural network
    predictions in sentiment analysis", WASSA 2017.

    Li, Chen, Hovy and Jurafsky, "Visualizing and understanding neural
    models in NLP", NAACL 2016.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> import sklrp
    >>> from sklrp import BiLSTMClassifier
    >>> from sklrp.text import TokenSequenceVectorizer
    >>> sentences = ["a great and moving film", "dull , boring and far too long",
    ...              "great acting", "boring plot"] * 5
    >>> y = [1, 0, 1, 0] * 5
    >>> pipe = make_pipeline(
    ...     TokenSequenceVectorizer(max_length=8),
    ...     BiLSTMClassifier(hidden_size=8, embedding_dim=8, max_iter=30, learning_rate_init=0.02,
    ...                      random_state=0),
    ... ).fit(sentences, y)
    >>> R = sklrp.explain(pipe, ["a boring film"])   # relevance per token position
    >>> R.shape
    (1, 8)
    """

    _parameter_constraints = {
        **{
            k: v
            for k, v in BaseTokenNetClassifier._parameter_constraints.items()
            if k not in ("gamma", "alpha", "beta", "input_bounds")
        },
        "hidden_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "cell": [StrOptions({"lstm", "gru"})],
        "bidirectional": ["boolean"],
        "output_bias": ["boolean"],
        "max_grad_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "composite": [StrOptions(set(LSTM_COMPOSITES)), Composite, Rule, dict],
        "bias_factor": [Interval(numbers.Real, 0, None, closed="left")],
        "product_rule": [StrOptions(set(PRODUCT_MODES))],
    }

    def __init__(
        self,
        embeddings=None,
        *,
        vocab_size=None,
        embedding_dim=None,
        trainable_embeddings="auto",
        hidden_size=60,
        cell="lstm",
        bidirectional=True,
        output_bias=False,
        dropout=0.0,
        dtype=None,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        batch_size="auto",
        max_iter=20,
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
        max_grad_norm=5.0,
        composite="epsilon",
        epsilon=1e-3,
        bias_factor=0.0,
        product_rule="signal_take_all",
        method="lrp",
    ):
        self.embeddings = embeddings
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.trainable_embeddings = trainable_embeddings
        self.hidden_size = hidden_size
        self.cell = cell
        self.bidirectional = bidirectional
        self.output_bias = output_bias
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
        self.max_grad_norm = max_grad_norm
        self.composite = composite
        self.epsilon = epsilon
        self.bias_factor = bias_factor
        self.product_rule = product_rule
        self.method = method

    @classmethod
    def _saved_layers_problem(cls, layers, describe=repr):
        """The token networks' check, and the blank word: the last id of the embedding."""
        problem = super()._saved_layers_problem(layers, describe)
        if problem is None:
            config = layers[0]["config"]
            if config.get("blank_idx") != config["vocab_size"] - 1:
                problem = (f"[0].config should have blank_idx {config['vocab_size'] - 1}, the last id (a "
                           f"{cls.__name__}'s blank word); got {describe(config.get('blank_idx'))}.")
        return problem

    # ------------------------------------------------------------------ net
    def _build_net(self, input_shape, n_out, rng, dtype):
        W, dim, trainable = self._initial_vectors(rng)
        vocab = self._fit_setup["vocab_size"]
        # one more id than the vocabulary: the blank word (a zero vector read as a step)
        options = {"padding_idx": 0, "trainable": trainable, "relevance": "dimension", "blank_idx": vocab}
        if W is None:
            embedding = Embedding(vocab + 1, dim, **options)
        else:
            embedding = Embedding.from_pretrained(np.vstack([W, np.zeros((1, dim), dtype=W.dtype)]), **options)
        unit = GRU if self.cell == "gru" else LSTM
        layers = [embedding, unit(self.hidden_size, bidirectional=self.bidirectional)]
        if self.dropout:
            layers.append(Dropout(self.dropout))
        layers.append(Dense(n_out, use_bias=self.output_bias))
        net = Sequential(layers)
        net.build(input_shape, rng, self._fit_setup["dtype"])
        embedding._pretrained = None  # the vectors are in params now; do not keep (or pickle) them twice
        return net

    @property
    def _chunk_size(self):
        """Sentences per pass: about 48 MB of forward and relevance arrays.

        Smaller than the other networks' 128 MB: the recurrent steps touch
        their buffers over and over, and chunks closer to the caches
        measured faster on a 2-core CPU (sizing chunks by the tokens of
        their sentences, so that short ones share larger chunks, measured
        slower).
        """
        shape = getattr(self, "input_shape_", None)
        if shape is None:
            return 4096
        rnn = self.net_.layers[1]
        width = len(rnn.directions) * 3 * rnn.n_gates * rnn.units + 3 * self.embedding_dim_
        per_doc = shape[0] * width * np.dtype(self.net_.dtype).itemsize
        return int(min(4096, max(1, (48 << 20) // per_doc)))

    def _record_text_attributes(self):
        super()._record_text_attributes()
        self.blank_id_ = self.net_.layers[0].blank_idx

    def _check_ids(self, X, vocab_size, inferred=False):
        super()._check_ids(X, vocab_size, inferred=inferred)
        # with an inferred vocabulary the blank id is the one after the largest training id, which a vectorizer
        # gives to a word the training rows lack: such a word was read (and trained, by partial_fit) as a blank.
        # Word deletion, which puts the blank in a deleted word's place, allows it (_blank_ids_allowed).
        if (vocab_size is not None and vocab_size == getattr(self, "vocab_size_", None) and self._vocab_inferred()
                and not self.__dict__.get("_allow_blank") and bool((X == self.blank_id_).any())):
            raise ValueError(
                f"{type(self).__name__}: X holds the id {self.blank_id_}, which no training document had; with "
                f"vocab_size=None it is the model's blank word (blank_id_). Set vocab_size to the vectorizer's "
                "vocab_size_ to train a model that knows every id the vectorizer gives."
            )

    @contextlib.contextmanager
    def _blank_ids_allowed(self):
        """Within the block, ``blank_id_`` in ``X`` is a deleted word (word deletion), not an unknown id."""
        self.__dict__["_allow_blank"] = True
        try:
            yield
        finally:
            self.__dict__.pop("_allow_blank", None)

    def _map_chunks(self, X, func, *per_sample, **kwargs):
        """Chunks of sentences of similar lengths (longest first), results in ``X``'s order.

        A chunk costs one step per position of its longest sentence, so
        sorting by length first saves the steps that short sentences would
        otherwise wait through.
        """
        xp = get_namespace(X)
        lengths = to_host((X != 0).sum(axis=1))
        order = np.argsort(-lengths, kind="stable")
        if np.array_equal(order, np.arange(len(order))):
            return super()._map_chunks(X, func, *per_sample, **kwargs)
        out = super()._map_chunks(
            X[xp.asarray(order)], func, *(None if a is None else a[order] for a in per_sample), **kwargs
        )
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return out[get_namespace(out).asarray(inverse)]

    # ---------------------------------------------------------- explanation
    def get_composite(self):
        """The composite used by ``explain``, resolved from the parameters.

        Returns
        -------
        composite : Composite
            A named composite built with ``epsilon`` and ``bias_factor``,
            with ``product_rule`` for the LSTM's gates; a given composite,
            rule or dict as it is.
        """
        comp = get_composite(self.composite, epsilon=self.epsilon, bias_factor=self.bias_factor)
        if isinstance(self.composite, str) and self.product_rule != "signal_take_all":
            base = comp.rules.get("recurrent", comp.rules.get("default"))
            comp.rules["recurrent"] = {"default": base, "gate": ProductRule(self.product_rule, self.epsilon)}
        return comp

    @dask_blocks
    def explain(self, X, target=None, method=None, per_dimension=False, return_rest=False):
        """Relevance of every token position for the target class score.

        Parameters
        ----------
        X : array of shape (n_samples, n_positions)
            Token ids (0 = padding), NumPy or CuPy.
        target : None, label, array-like of labels, or array of shape (n_samples, n_classes), default=None
            ``None`` explains the predicted class; a label of ``classes_``
            that class for all samples; one label per sample each sample's
            own (e.g. the true labels); a 2-D array is the output relevance
            (LRP) or the output gradient (gradient methods).
        method : str, default=None
            Overrides the ``method`` parameter: ``"lrp"``,
            ``"sensitivity"`` (squared L2 norm of the gradient w.r.t. the
            word's vector), ``"gradient_x_input"``, ``"gradient"``,
            ``"deconvnet"`` or ``"guided_backprop"`` (the last three: the
            gradient summed over the vector).
        per_dimension : bool, default=False
            One relevance per position and vector dimension.
        return_rest : bool, default=False
            Also return the relevance left on the LSTM's initial states
            (LRP only; non-zero only with ``bias_factor > 0``).  With
            ``bias_factor=1`` the relevances plus the rest equal the target
            score.

        Returns
        -------
        R : array of shape (n_samples, n_positions) or (n_samples, n_positions, `embedding_dim_`)
            In X's array type; exactly zero at padding positions.
        rest : array of shape (n_samples,)
            Only with ``return_rest=True``.
        """
        return self._explain_tokens(X, target, method, per_dimension, return_rest)


#: what separates the reference's pre-tokenised words: ASCII whitespace only (its
#: vocabulary has words such as "8\xa01\\/2" with a no-break space inside)
_ASCII_SPACE = " \t\n\r\f\v"
_TOKEN_PATTERN = r"[^ \t\n\r\f\v]+"


#: the arrays of the reference's model.npz, per direction
_LSTM_ARRAYS = ("Wxh", "bxh", "Whh", "bhh", "Why")


def _read_vocabulary(path):
    """The words of ``vocab.txt``, one per line; :class:`ModelFileError` naming the first bad line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ModelFileError(f"{path}, line {line}: byte {exc.start} is not UTF-8 text.") from exc
    words = text.split("\n")
    if words and words[-1] == "":
        words = words[:-1]
    if not words:
        raise ModelFileError(f"{path} must hold one word per line; it is empty.")
    for lineno, w in enumerate(words, 1):
        if w == "" or any(ch in _ASCII_SPACE for ch in w):
            raise ModelFileError(
                f"{path}, line {lineno}: {w!r:.60} is not a word; {path.name} must hold one word per line (no empty "
                "lines, no spaces inside a word)."
            )
    seen = {}
    for lineno, w in enumerate(words, 1):
        if w in seen:
            raise ModelFileError(
                f"{path}, line {lineno}: {w!r:.60} is listed more than once (first on line {seen[w]}); word ids "
                "would be ambiguous."
            )
        seen[w] = lineno
    return words


def _read_lstm_weights(npz):
    """The arrays of the reference's ``model.npz``, read as :func:`sklrp.load_model` reads a model file.

    The ``.npy`` headers of the ten arrays are checked (float32 or float64, the
    shapes of one bi-LSTM, sizes within ``MAX_MODEL_BYTES``) before any is
    read; nothing is unpickled; every problem is a :class:`ModelFileError`.

    Returns
    -------
    arrays : dict of str to ndarray
        ``"<name>_<Left|Right>"``: the finite weights.
    hidden, inputs, n_classes : int
        The sizes of the network.
    """
    try:
        zf = zipfile.ZipFile(npz)
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{npz} is not an .npz archive.") from exc
    except Exception as exc:  # noqa: BLE001 - an archive zipfile cannot read
        raise ModelFileError(f"{npz}: the archive cannot be read: {type(exc).__name__}: {exc}") from exc
    with zf:
        try:
            members, _ = _archive._archive_members(zf, npz)
            needed = [f"{name}_{side}" for side in ("Left", "Right") for name in _LSTM_ARRAYS]
            missing = [k for k in needed if k not in members]
            if missing:
                raise ModelFileError(f"{npz} lacks the arrays {missing}; found {sorted(members)}.")
            headers = {k: _archive._member_header(zf, members[k], npz) for k in needed}
            shape = headers["Wxh_Left"][0]
            if len(shape) != 2 or shape[0] % 4 or shape[0] == 0 or shape[1] == 0:
                raise ModelFileError(
                    f"{npz}: Wxh_Left must have shape (4 * hidden, input) with positive sizes; got {shape}."
                )
            d, e = shape[0] // 4, shape[1]
            shape = headers["Why_Left"][0]
            if len(shape) != 2 or shape[0] == 0:
                raise ModelFileError(f"{npz}: Why_Left must have shape (classes, hidden); got {shape}.")
            C = shape[0]
            expected = {"Wxh": (4 * d, e), "bxh": (4 * d,), "Whh": (4 * d, d), "bhh": (4 * d,), "Why": (C, d)}
            total = 0
            for side in ("Left", "Right"):
                for name, want in expected.items():
                    shape, dtype, nbytes = headers[f"{name}_{side}"]
                    total += nbytes
                    if shape != want or dtype.kind != "f" or dtype.itemsize not in (4, 8):
                        raise ModelFileError(
                            f"{npz}: {name}_{side} must be a finite float array of shape {want} (float32 or "
                            f"float64; hidden size {d}, input size {e}, {C} classes); got {dtype} of shape {shape}."
                        )
            if total > _archive.MAX_MODEL_BYTES:
                raise ModelFileError(
                    f"{npz} declares arrays of {total} bytes in all; at most MAX_MODEL_BYTES={_archive.MAX_MODEL_BYTES} "
                    "are loaded."
                )
            arrays = {k: _archive._read_member(zf, members[k], npz) for k in needed}
        except _archive._ZIP_ERRORS as exc:
            raise ModelFileError(f"{npz}: the archive cannot be read: {type(exc).__name__}: {exc}") from exc
    for k, a in arrays.items():
        if not np.isfinite(a).all():
            raise ModelFileError(
                f"{npz}: {k} must be a finite float array of shape {a.shape}; it holds NaN or infinite values."
            )
    return arrays, d, e, C


def load_lrp_for_lstm(path, embeddings, *, max_length=100, dtype="float64"):
    """The published SST-5 bi-LSTM of Arras et al. (2017) as a fitted pipeline.

    Reads the model format of ArrasL/LRP_for_LSTM: ``model.npz`` (loaded
    with ``allow_pickle=False``) with ``Wxh_Left`` ``(4d, e)``,
    ``bxh_Left``, ``Whh_Left`` ``(4d, d)``, ``bhh_Left``, the same for
    ``Right``, ``Why_Left`` and ``Why_Right`` ``(C, d)`` (gate order i, g,
    f, o; no output bias), and ``vocab.txt`` (one word per line; line ``i``
    is row ``i`` of the embedding matrix).

    Parameters
    ----------
    path : str or path-like
        The folder holding ``model.npz`` and ``vocab.txt`` (e.g.
        ``../shared/data/lrp_for_lstm/model``).
    embeddings : array of shape (n_words, e)
        The word vectors, row ``i`` for line ``i`` of ``vocab.txt``.  The
        published vectors (``embeddings.npy``) are not distributed with the
        weights, so they are a required argument; ``e`` must match the
        weights (60 for the published model).
    max_length : int, default=100
        Token positions of the vectorizer (longer sentences are cut; the
        longest SST sentence has 56 tokens).
    dtype : {"float64", "float32"}, default="float64"
        Floating type of the network.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``(TokenSequenceVectorizer, BiLSTMClassifier)``.  The
        vectorizer keeps the reference's pre-tokenised words as they are: it
        splits on ASCII whitespace only (two words of the vocabulary hold a
        no-break space, e.g. ``"8\\xa01\\/2"``) and does not lower-case (the vocabulary
        is lower-case, as the published test sentences are); words outside
        the vocabulary are dropped (``oov="drop"``).  Token id ``k`` is line
        ``k - 1`` of ``vocab.txt`` (0 is padding).  ``pipeline[-1]`` is the
        classifier, with ``classes_ = [0, 1, 2, 3, 4]`` (very negative ..
        very positive) and ``epsilon=0.001``, ``bias_factor=0``; change
        them with ``set_params``.

    Raises
    ------
    FileNotFoundError
        When ``model.npz`` or ``vocab.txt`` is missing (the message names
        the path).
    sklrp.exceptions.ModelFileError
        (a ``ValueError``) When a file cannot be read as the reference's
        model; the message names the file and the problem: ``model.npz`` is
        not an archive or is damaged, lacks an array, has an array of the
        wrong shape, of a dtype other than float32 or float64, with
        non-finite values, or holding Python objects (never unpickled);
        ``vocab.txt`` is not UTF-8 text, or has an empty line, a word with
        a space or a word listed twice (the message gives the line number).
    ValueError
        When ``dtype`` is not a float type, or ``embeddings`` does not have
        one row per vocabulary word and the weights' input width.

    References
    ----------
    Arras, Montavon, Müller and Samek, "Explaining recurrent neural network
    predictions in sentiment analysis", WASSA 2017; code and model:
    https://github.com/ArrasL/LRP_for_LSTM.

    Examples
    --------
    >>> import numpy as np
    >>> import sklrp
    >>> E = np.load("embeddings.npy")  # doctest: +SKIP
    >>> pipe = sklrp.load_lrp_for_lstm("../shared/data/lrp_for_lstm/model", embeddings=E)  # doctest: +SKIP
    >>> pipe.predict(["neither funny nor suspenseful nor particularly well-drawn ."])  # doctest: +SKIP
    array([0])
    """
    from ..text import TokenSequenceVectorizer

    folder = Path(path)
    npz, vocab_file = folder / "model.npz", folder / "vocab.txt"
    for f in (npz, vocab_file):
        if not f.is_file():
            raise FileNotFoundError(
                f"load_lrp_for_lstm: {f} not found; path must be the folder holding model.npz and vocab.txt "
                "of ArrasL/LRP_for_LSTM (e.g. ../shared/data/lrp_for_lstm/model)."
            )
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32'; got {dtype!r}.")
    if isinstance(max_length, (bool, np.bool_)) or not isinstance(max_length, numbers.Integral) or max_length < 1:
        raise ValueError(f"max_length must be a positive int (the tokens read per sentence); got {max_length!r}.")
    try:
        arrays, d, e, C = _read_lstm_weights(npz)
        words = _read_vocabulary(vocab_file)
    except (ModelFileError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever else a damaged file provokes is reported as such
        raise ModelFileError(f"{folder}: the model cannot be read: {type(exc).__name__}: {exc}") from exc
    E = np.asarray(embeddings)
    if E.ndim != 2 or E.shape != (len(words), e) or E.dtype.kind not in "fiu":
        raise ValueError(
            f"embeddings must be an array of shape ({len(words)}, {e}): one row per word of {vocab_file} and "
            f"the input size of the weights; got {E.dtype} of shape {E.shape}."
        )
    if not np.isfinite(E).all():
        raise ValueError("embeddings contain NaN or infinite values.")

    vectorizer = TokenSequenceVectorizer(
        max_length=max_length, lowercase=False, token_pattern=_TOKEN_PATTERN, vocabulary=words
    ).fit([" ".join(words[:1])])
    vocab_size = vectorizer.vocab_size_  # len(words) + 1 (padding)
    clf = BiLSTMClassifier(vocab_size=vocab_size, embedding_dim=e, hidden_size=d, dtype=dtype)
    net = Sequential([Embedding(vocab_size + 1, e, relevance="dimension", trainable=False, blank_idx=vocab_size),
                      LSTM(d), Dense(C, use_bias=False)])
    net.build((max_length,), np.random.RandomState(0), np.dtype(dtype))
    net.layers[0].params["weight"] = np.vstack([np.zeros((1, e)), E, np.zeros((1, e))]).astype(dtype)
    p = net.layers[1].params
    for side, suffix in (("Left", ""), ("Right", "_reverse")):
        p["input_weight" + suffix] = arrays[f"Wxh_{side}"].T.astype(dtype)
        p["recurrent_weight" + suffix] = arrays[f"Whh_{side}"].T.astype(dtype)
        p["bias" + suffix] = (arrays[f"bxh_{side}"] + arrays[f"bhh_{side}"]).astype(dtype)
    net.layers[2].params["weight"] = np.concatenate([arrays["Why_Left"], arrays["Why_Right"]], axis=1).T.astype(dtype)
    weight = net.layers[0].params["weight"]
    config = {
        "layers": net.get_config(),
        "input_shape_": [max_length],
        "input_bounds_": [float(weight.min()), float(weight.max())],
        "n_iter_": 0,
        "history_": None,
    }
    arrays_out = {f"net_.{k}": v for k, v in net.get_arrays().items()}
    arrays_out["classes_"] = np.arange(C)
    clf._set_fitted_state(config, arrays_out)
    return Pipeline([("vectorizer", vectorizer), ("classifier", clf)])

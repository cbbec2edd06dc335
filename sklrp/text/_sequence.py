"""Raw documents -> padded matrices of token ids, with the character span of every id.

:class:`TokenSequenceVectorizer` is the text front end of the sequence models
(a word CNN, a bi-LSTM): it keeps the *order* of the words that a
``CountVectorizer`` would count, maps each to an integer id (0 = padding) and
cuts or pads every document to one length, the input of
:class:`sklrp.nn.Embedding`.  :meth:`TokenSequenceVectorizer.token_spans`
says which characters of the raw document each position of a row came from,
so that relevances per position map back to the raw text.
"""

from numbers import Integral
from typing import NamedTuple, Optional

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import check_documents
from ._tokens import _locate, _offset_map

__all__ = ["TokenSequenceVectorizer", "TokenSpan"]

#: name of id 0 in ``get_feature_names_out``
PAD_TOKEN = "<pad>"
#: name of id 1 in ``get_feature_names_out`` when ``oov="map"``
OOV_TOKEN = "<oov>"

# CountVectorizer parameters that keep their scikit-learn meaning for single words;
# they are passed unchanged to the inner CountVectorizer (and validated as it does).
_WORD_PARAMS = (
    "lowercase",
    "preprocessor",
    "tokenizer",
    "token_pattern",
    "stop_words",
    "strip_accents",
    "min_df",
    "max_df",
    "max_features",
    "vocabulary",
)


class TokenSpan(NamedTuple):
    """Where one position of an id row comes from in the raw document.

    Attributes
    ----------
    token : str
        The token as the analyzer produced it (after the preprocessor, e.g.
        lower-cased and without accents).  An out-of-vocabulary token mapped
        to the OOV id keeps its own string here.
    start, end : int or None
        Character offsets with ``token`` found at ``doc[start:end]`` (equal
        up to the preprocessor: case, accents).  ``None`` when a custom
        tokenizer or preprocessor produced a token that could not be located
        in the document.
    """

    token: str
    start: Optional[int]
    end: Optional[int]


def _check_documents(raw_documents):
    """The documents as a list of str (bytes are refused: token spans index the text)."""
    return check_documents(raw_documents, "raw_documents", allow_bytes=False, allow_empty=True)


class TokenSequenceVectorizer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Raw documents to a padded ``(n_docs, max_length)`` matrix of token ids.

    The words of a document are found exactly as scikit-learn's
    ``CountVectorizer(analyzer="word", ngram_range=(1, 1))`` finds them
    (preprocessor, tokenizer, stop words), the vocabulary is learned by an
    inner ``CountVectorizer`` with the same parameters (so ``min_df``,
    ``max_df``, ``max_features``, ``stop_words`` and ``vocabulary`` keep
    their scikit-learn meaning), and every document becomes the sequence of
    its words' ids, in order, cut or padded to ``max_length``.  The output is
    the input of a word CNN or bi-LSTM whose first layer is
    :class:`sklrp.nn.Embedding` with ``vocab_size=vocab_size_`` and
    ``padding_idx=0``.

    Parameters
    ----------
    max_length : int or None, default=None
        Number of columns of the output.  Longer sequences are cut (see
        ``truncating``), shorter ones padded with id 0 (see ``padding``).
        ``None``: the longest training sequence (after stop-word removal and
        the ``oov`` policy; at least 1), recorded in ``max_length_``.  On
        long-tailed corpora this is large (13,321 tokens for the 20
        Newsgroups training set with ``min_df=2``, against a median of
        175), so set it explicitly for real data.
    truncating : {"post", "pre"}, default="post"
        Which end of a too long sequence is cut: ``"post"`` keeps the first
        ``max_length`` tokens, ``"pre"`` the last ones.
    padding : {"post", "pre"}, default="post"
        Where the padding ids go: ``"post"`` after the tokens (position
        ``t`` of a row is then token ``t`` of the kept sequence), ``"pre"``
        before them.  (Keras's ``pad_sequences`` defaults to ``"pre"`` for
        both; this default keeps the reading order from position 0.)
    oov : {"drop", "map"}, default="drop"
        Out-of-vocabulary tokens (terms never seen in training, or removed by
        ``min_df``, ``max_df`` or ``max_features``, or absent from a fixed
        ``vocabulary``): ``"drop"`` removes them from the sequence before it
        is cut or padded; ``"map"`` keeps their position with id 1
        (:data:`OOV_TOKEN`).  Stop words are never part of the sequence, as
        in scikit-learn's analyzer.
    analyzer : {"word"}, default="word"
        Only ``"word"`` is supported: one id per word token.  ``"char"``,
        ``"char_wb"`` and callables are rejected by ``fit`` with a
        ``ValueError``; change what a token is with ``token_pattern``,
        ``tokenizer`` or ``preprocessor`` instead.
    lowercase : bool, default=True
        Convert all characters to lowercase before tokenizing.
    preprocessor : callable, default=None
        Override the preprocessing (string transformation) stage, as in
        ``CountVectorizer``; it then replaces ``lowercase`` and
        ``strip_accents``.
    tokenizer : callable, default=None
        Override the string tokenization step (``token_pattern`` is then
        unused), as in ``CountVectorizer``.
    token_pattern : str or None, default=r"(?u)\\b\\w\\w+\\b"
        Regular expression denoting what constitutes a token, as in
        ``CountVectorizer`` (by default words of 2 or more alphanumeric
        characters).
    stop_words : {"english"}, list or None, default=None
        Words removed from every sequence (before the ``oov`` policy), as in
        ``CountVectorizer``.
    strip_accents : {"ascii", "unicode"} or callable, default=None
        Remove accents during preprocessing, as in ``CountVectorizer``.
    min_df, max_df : float in [0.0, 1.0] or int, default=1, 1.0
        Document-frequency limits of the learned vocabulary (proportion or
        absolute count), as in ``CountVectorizer``.
    max_features : int, default=None
        Keep only the ``max_features`` most frequent terms, as in
        ``CountVectorizer``.
    vocabulary : Mapping or iterable, default=None
        A fixed vocabulary, as in ``CountVectorizer``: a mapping from terms
        to indices ``0 .. n - 1`` or an iterable of terms (indices in
        iteration order).  The id of a term is its index plus 1 (plus 2 with
        ``oov="map"``); ``min_df``, ``max_df`` and ``max_features`` are then
        ignored.

    Attributes
    ----------
    vocabulary_ : dict
        Term -> id.  Ids of terms start at 1 (``oov="drop"``) or 2
        (``oov="map"``); id 0 is padding and, with ``oov="map"``, id 1 is the
        OOV id.  A term's id is its ``CountVectorizer`` column plus that
        offset, so ids follow scikit-learn's (alphabetical) term order.
    vocab_size_ : int
        Number of ids including padding (and OOV): ``len(vocabulary_) + 1``
        or ``+ 2``, the ``vocab_size`` of the :class:`~sklrp.nn.Embedding`.
    max_length_ : int
        Number of output columns (``max_length``, or the longest training
        sequence when ``max_length=None``).
    oov_id_ : int or None
        The id of out-of-vocabulary tokens: 1 with ``oov="map"``, ``None``
        with ``oov="drop"``.
    vectorizer_ : CountVectorizer
        The fitted inner vectorizer that holds the vocabulary and the
        analysis (``build_preprocessor``, ``build_tokenizer``,
        ``get_stop_words``).

    See Also
    --------
    sklearn.feature_extraction.text.CountVectorizer : the bag-of-words
        vectorizer whose vocabulary and tokens this one shares.
    sklrp.nn.Embedding : the layer that reads the ids.

    Notes
    -----
    **Output.**  ``transform`` returns a C-contiguous ``int64`` NumPy array;
    the networks cast it to their float dtype (see
    :class:`~sklrp.nn.Embedding`: float32 holds ids exactly up to 2**24).

    **Empty documents** (or documents with no kept token) are accepted and
    give an all-padding row of zeros; the estimators decide what to do with
    them.  Documents must be ``str`` (decode ``bytes`` first): this keeps
    the character offsets of :meth:`token_spans` meaningful.  ``fit``
    raises scikit-learn's "empty vocabulary" ``ValueError`` when the
    training documents contain no term.

    **Feature names.**  :meth:`get_feature_names_out` returns the term of
    every *id* (position 0 ``"<pad>"``, position 1 ``"<oov>"`` with
    ``oov="map"``), which is what maps ids back to words.  It does not name
    the output columns (they are positions), so scikit-learn's
    ``set_output`` is not available for this transformer.

    **When parameters are read.**  ``max_length`` and ``oov`` are fixed by
    ``fit`` (they give ``max_length_`` and the ids); ``truncating`` and
    ``padding`` are read by ``transform`` and :meth:`token_spans` alike.

    Examples
    --------
    >>> from sklrp.text import TokenSequenceVectorizer
    >>> docs = ["The cat sat on the mat.", "A dog sat.", ""]
    >>> vec = TokenSequenceVectorizer(max_length=4, oov="map").fit(docs)
    >>> vec.transform(["the dog sat on a mat", "cat"])
    array([[7, 3, 6, 5],
           [2, 0, 0, 0]])
    >>> vec.get_feature_names_out()[:3].tolist()
    ['<pad>', '<oov>', 'cat']
    >>> vec.token_spans(["The CAT"])[0][:2]
    [TokenSpan(token='the', start=0, end=3), TokenSpan(token='cat', start=4, end=7)]
    """

    _parameter_constraints: dict = {
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "truncating": [StrOptions({"post", "pre"})],
        "padding": [StrOptions({"post", "pre"})],
        "oov": [StrOptions({"drop", "map"})],
        "analyzer": [StrOptions({"word", "char", "char_wb"}), callable],
        **{name: CountVectorizer._parameter_constraints[name] for name in _WORD_PARAMS},
    }

    def __init__(
        self,
        *,
        max_length=None,
        truncating="post",
        padding="post",
        oov="drop",
        analyzer="word",
        lowercase=True,
        preprocessor=None,
        tokenizer=None,
        token_pattern=r"(?u)\b\w\w+\b",
        stop_words=None,
        strip_accents=None,
        min_df=1,
        max_df=1.0,
        max_features=None,
        vocabulary=None,
    ):
        self.max_length = max_length
        self.truncating = truncating
        self.padding = padding
        self.oov = oov
        self.analyzer = analyzer
        self.lowercase = lowercase
        self.preprocessor = preprocessor
        self.tokenizer = tokenizer
        self.token_pattern = token_pattern
        self.stop_words = stop_words
        self.strip_accents = strip_accents
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.vocabulary = vocabulary

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, raw_documents, y=None):
        """Learn the vocabulary (and ``max_length_`` when ``max_length=None``).

        Parameters
        ----------
        raw_documents : iterable of str
            Training documents.
        y : None
            Ignored.

        Returns
        -------
        self : TokenSequenceVectorizer
            The fitted vectorizer.
        """
        self._fit(_check_documents(raw_documents))
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, raw_documents, y=None):
        """Learn the vocabulary and return the id matrix of the training documents.

        Equivalent to ``fit(raw_documents).transform(raw_documents)``, with
        one pass less over the documents when ``max_length=None``.

        Parameters
        ----------
        raw_documents : iterable of str
            Training documents, which are also transformed.
        y : None
            Ignored.

        Returns
        -------
        X : ndarray of shape (n_docs, `max_length_`), dtype int64
            Token ids, 0 = padding.
        """
        docs = _check_documents(raw_documents)
        sequences = self._fit(docs)
        if sequences is None:
            sequences = self._sequences(docs)
        return self._pack(sequences, 0)

    def _fit(self, docs):
        """Fit the inner vectorizer; return the id sequences when they were needed."""
        if self.analyzer != "word":
            got = "a callable" if callable(self.analyzer) else repr(self.analyzer)
            raise ValueError(
                "TokenSequenceVectorizer supports analyzer='word' only (one id per word "
                f"token); got analyzer={got}. Change what a token is with token_pattern, "
                "tokenizer or preprocessor instead."
            )
        vec = CountVectorizer(
            analyzer="word", ngram_range=(1, 1), **{name: getattr(self, name) for name in _WORD_PARAMS}
        )
        vec.fit(docs)
        self.vectorizer_ = vec
        self.oov_id_ = 1 if self.oov == "map" else None
        offset = 1 if self.oov_id_ is None else 2
        self.vocabulary_ = {term: int(col) + offset for term, col in vec.vocabulary_.items()}
        self.vocab_size_ = len(self.vocabulary_) + offset
        if self.max_length is not None:
            self.max_length_ = int(self.max_length)
            return None
        sequences = self._sequences(docs, cut=False)
        self.max_length_ = max(1, max(map(len, sequences), default=0))
        return sequences

    # ------------------------------------------------------------ transform

    def transform(self, raw_documents):
        """Map documents to padded rows of token ids.

        Parameters
        ----------
        raw_documents : iterable of str
            Documents; empty ones give all-padding rows.

        Returns
        -------
        X : ndarray of shape (n_docs, `max_length_`), dtype int64
            Token ids, 0 = padding (and 1 = OOV with ``oov="map"``).
        """
        check_is_fitted(self)
        return self._pack(self._sequences(_check_documents(raw_documents)), 0)

    def token_spans(self, raw_documents):
        """Token and character span of every position of the id rows.

        The result is aligned with ``transform(raw_documents)``: same
        truncation, padding and OOV policy, so ``spans[i][t]`` describes
        ``X[i, t]``.

        Parameters
        ----------
        raw_documents : iterable of str
            Documents, as given to ``transform``.

        Returns
        -------
        spans : list of list
            One list of length ``max_length_`` per document; each item is a
            :class:`TokenSpan` ``(token, start, end)`` with
            ``doc[start:end]`` the token in the raw document (up to case and
            accents), or ``None`` at a padding position.
        """
        check_is_fitted(self)
        return self._pack(self._sequences(_check_documents(raw_documents), spans=True), None)

    def inverse_transform(self, X):
        """The terms of the ids of every row, padding left out.

        Parameters
        ----------
        X : array-like of shape (n_docs, n_positions)
            Token ids in ``[0, vocab_size_)``.

        Returns
        -------
        terms : list of ndarray of str
            Per row, the terms of its non-padding ids in order
            (``"<oov>"`` for the OOV id).

        Raises
        ------
        ValueError
            If ``X`` is not 2-D or holds ids outside ``[0, vocab_size_)``.
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 2 or (X.size and X.dtype.kind not in "iu"):
            raise ValueError(
                f"X must be a 2-D array of integer token ids; got shape {X.shape} and dtype {X.dtype}."
            )
        if X.size and (X.min() < 0 or X.max() >= self.vocab_size_):
            raise ValueError(
                f"token ids must be in [0, vocab_size_={self.vocab_size_}); got values in "
                f"[{X.min()}, {X.max()}]."
            )
        names = self.get_feature_names_out()
        return [names[row[row != 0]] for row in X]

    def get_feature_names_out(self, input_features=None):
        """Term of every token id.

        Parameters
        ----------
        input_features : None
            Ignored (present for API compatibility).

        Returns
        -------
        names : ndarray of str, shape (`vocab_size_`,)
            ``names[id]`` is the term with that id; ``names[0]`` is
            ``"<pad>"`` and, with ``oov="map"``, ``names[1]`` is ``"<oov>"``.
            These name the ids (the rows of an embedding matrix), not the
            output columns.
        """
        check_is_fitted(self)
        names = np.empty(self.vocab_size_, dtype=object)
        names[0] = PAD_TOKEN
        if self.oov_id_ is not None:
            names[self.oov_id_] = OOV_TOKEN
        for term, idx in self.vocabulary_.items():
            names[idx] = term
        return names

    # -------------------------------------------------------------- helpers

    def _sequences(self, docs, spans=False, cut=True):
        """Per document, the ids (or :class:`TokenSpan` items) of its kept tokens.

        One code path for ``transform`` and ``token_spans``: the inner
        vectorizer's preprocessor and tokenizer, its stop words removed (as in
        its analyzer), the OOV policy, then (``cut=True``) the truncation to
        ``max_length_``, so that spans are located only as far as needed.
        """
        vec = self.vectorizer_
        preprocess, tokenize = vec.build_preprocessor(), vec.build_tokenizer()
        stop = vec.get_stop_words() or frozenset()
        vocab, oov_id = self.vocabulary_, self.oov_id_
        out = []
        for doc in docs:
            pre = preprocess(doc)
            tokens = tokenize(pre)
            ids = [None if tok in stop else vocab.get(tok, oov_id) for tok in tokens]
            keep = [k for k, i in enumerate(ids) if i is not None]
            if cut:
                keep = self._cut(keep)
            if not spans:
                out.append([ids[k] for k in keep])
                continue
            # the search is sequential: tokens after the last kept one need no span
            searched = tokens[:keep[-1] + 1] if keep else []
            located = _locate(searched, pre, doc, _offset_map(preprocess, doc, pre))
            out.append([TokenSpan(tokens[k], *(located[k] or (None, None))) for k in keep])
        return out

    def _cut(self, seq):
        """The part of ``seq`` that ``truncating`` keeps within ``max_length_``."""
        if len(seq) <= self.max_length_:
            return seq
        return seq[:self.max_length_] if self.truncating == "post" else seq[len(seq) - self.max_length_:]

    def _pack(self, sequences, fill):
        """Cut and pad every sequence to ``max_length_`` as ``truncating``/``padding`` say.

        ``fill=0`` builds the int64 id matrix, ``fill=None`` lists of items.
        """
        length = self.max_length_
        if fill is None:
            rows = [[None] * length for _ in sequences]
        else:
            rows = np.full((len(sequences), length), fill, dtype=np.int64)
        for row, seq in zip(rows, sequences):
            seq = self._cut(seq)
            start = 0 if self.padding == "post" else length - len(seq)
            row[start:start + len(seq)] = seq
        return rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

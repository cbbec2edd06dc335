"""Map what a text Pipeline's last step reads back to vectorizer terms.

Two kinds of text Pipeline are recognised:

- *bag-of-words*: a ``CountVectorizer`` / ``TfidfVectorizer`` first, whose
  columns are terms (:func:`text_feature_map`);
- *sequence*: a :class:`~sklrp.text.TokenSequenceVectorizer` as the last
  transformer, whose columns are token positions holding term ids
  (:func:`sequence_feature_map`).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._validation import check_documents, check_relevance
from ..base import explain as _explain
from ..base import final_estimator, unfrozen

__all__ = ["TextFeatureMap", "text_feature_map", "SequenceFeatureMap", "sequence_feature_map"]


class TextFeatureMap:
    """How the columns seen by a Pipeline's last step relate to vectorizer terms.

    Attributes
    ----------
    vectorizer : CountVectorizer or TfidfVectorizer
        The fitted vectorizer (first step of the Pipeline).
    terms : ndarray of str, shape (n_columns,)
        The vectorizer term (a word or a space-joined n-gram) of every column
        of the last step's input.
    column_of_term : dict
        Vectorizer term -> column of the last step's input (terms removed by
        a feature selector are absent).
    n_columns : int
        Number of columns of the last step's input.
    """

    def __init__(self, vectorizer, terms, column_of_term):
        self.vectorizer = vectorizer
        self.terms = terms
        self.column_of_term = column_of_term
        self.n_columns = len(terms)


def _is_word_vectorizer(vec):
    return hasattr(vec, "build_preprocessor") and hasattr(vec, "build_tokenizer")


def text_feature_map(estimator, vectorizer=None):
    """Relate the last step's input columns to the terms of a text vectorizer.

    Parameters
    ----------
    estimator : Pipeline or estimator
        A fitted Pipeline whose first step is a fitted ``CountVectorizer`` or
        ``TfidfVectorizer`` (or a subclass) with a word analyzer. Steps
        between the vectorizer and the last step must keep or select columns
        (``TfidfTransformer``, ``Normalizer``, ``MaxAbsScaler``,
        ``SelectKBest``, ...), which is checked through their
        ``get_feature_names_out``.
    vectorizer : CountVectorizer or TfidfVectorizer, default=None
        Use this fitted vectorizer instead of the Pipeline's first step; the
        last step's input is then the vectorizer's output.

    Returns
    -------
    TextFeatureMap

    Raises
    ------
    ValueError
        When the features cannot be mapped back to tokens: no vectorizer, a
        vectorizer without a vocabulary (e.g. ``HashingVectorizer``), a
        character or callable analyzer, or a step that mixes columns (e.g.
        ``TruncatedSVD``).
    """
    estimator = unfrozen(estimator)
    if vectorizer is not None:
        vec, middle = vectorizer, []
    elif isinstance(estimator, Pipeline) and len(estimator.steps) >= 2:
        vec, middle = estimator.steps[0][1], [s for _, s in estimator.steps[1:-1]]
    else:
        raise ValueError(
            "Cannot map features back to tokens: expected a Pipeline whose first step is a "
            "CountVectorizer or TfidfVectorizer, or pass vectorizer=; got "
            f"{type(estimator).__name__}."
        )
    name = type(vec).__name__
    if _is_sequence_vectorizer(vec) or (
        isinstance(estimator, Pipeline) and any(_is_sequence_vectorizer(s) for _, s in estimator.steps)
    ):
        raise ValueError(
            "Cannot map features back to tokens as bag-of-words columns: the Pipeline holds a "
            "TokenSequenceVectorizer, whose columns are token positions. It must be the last "
            "transformer, directly before the sequence classifier (token_relevances, "
            "RelevanceDocumentVectorizer and the text metrics accept such Pipelines)."
        )
    if not _is_word_vectorizer(vec):
        raise ValueError(
            f"Cannot map features back to tokens: the first step {name} is not a "
            "CountVectorizer/TfidfVectorizer-like text vectorizer."
        )
    if isinstance(vec, HashingVectorizer) or not hasattr(vec, "fixed_vocabulary_") and (
        hasattr(vec, "n_features") and not hasattr(vec, "vocabulary")
    ):
        raise ValueError(
            f"Cannot map features back to tokens: {name} has no vocabulary (hashed "
            "features cannot be inverted); use CountVectorizer or TfidfVectorizer."
        )
    check_is_fitted(vec, "vocabulary_")
    analyzer = getattr(vec, "analyzer", "word")
    if analyzer != "word":
        raise ValueError(
            "Cannot map features back to tokens: token_relevances supports "
            f"analyzer='word' only; {name} has analyzer={analyzer!r}."
        )
    vocab = vec.vocabulary_
    terms = np.empty(len(vocab), dtype=object)
    for t, j in vocab.items():
        terms[j] = t
    names = terms
    for step in middle:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if not hasattr(step, "get_feature_names_out"):
            raise ValueError(
                "Cannot map features back to tokens: pipeline step "
                f"{type(step).__name__} has no get_feature_names_out."
            )
        try:
            out = np.asarray(step.get_feature_names_out(names.astype(str)), dtype=object)
        except Exception as exc:  # noqa: BLE001 - report any failure the same way
            raise ValueError(
                "Cannot map features back to tokens through pipeline step "
                f"{type(step).__name__}: {exc}"
            ) from exc
        known = set(names.tolist())
        if not all(o in known for o in out.tolist()):
            raise ValueError(
                "Cannot map features back to tokens: pipeline step "
                f"{type(step).__name__} builds new features ({out[:3].tolist()} ...) "
                "instead of keeping or selecting the vectorizer's terms."
            )
        names = out
    column_of_term = {t: j for j, t in enumerate(names.tolist())}
    return TextFeatureMap(vec, names, column_of_term)


def bow_input(estimator, docs, vectorizer=None):
    """What a bag-of-words ``estimator`` reads for raw documents.

    A Pipeline reads the documents; a bare classifier given with a fitted
    ``vectorizer=`` reads ``vectorizer.transform(docs)`` (the vectorizer's
    output is then its input, as :func:`text_feature_map` maps it).
    """
    if vectorizer is None or isinstance(unfrozen(estimator), Pipeline):
        return docs
    return vectorizer.transform(docs)


# ------------------------------------------------------------------ sequences


def _is_sequence_vectorizer(step):
    """Whether ``step`` is a TokenSequenceVectorizer (or keeps its interface).

    Duck-typed, so that this module needs no import of ``_sequence`` (which
    imports ``_tokens``, which imports this module).
    """
    return all(hasattr(step, a) for a in ("token_spans", "transform", "get_feature_names_out"))


class SequenceFeatureMap:
    """How a sequence Pipeline's token ids relate to terms and to the raw text.

    A *sequence Pipeline* is ``make_pipeline([text steps,]
    TokenSequenceVectorizer(...), classifier)``: the classifier reads the
    ``(n_documents, max_length_)`` id matrix and its ``explain`` returns one
    relevance per position (``(n_documents, max_length_)``; an array with a
    third, embedding axis is summed over it, Decision 6 of the reference).
    This object is the one adapter through which
    :func:`~sklrp.text.token_relevances`,
    :class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer` and the
    text metrics read such Pipelines.

    Attributes
    ----------
    vectorizer : TokenSequenceVectorizer
        The fitted vectorizer.
    final : estimator
        The classifier that reads the ids.
    terms : ndarray of str, shape (vocab_size_,)
        The term of every id (``vectorizer.get_feature_names_out()``:
        ``"<pad>"`` for 0, ``"<oov>"`` for the OOV id).
    word_ids : ndarray of bool, shape (vocab_size_,)
        ``True`` for the ids of vocabulary words, ``False`` for padding and
        the OOV id.
    n_columns : int
        ``vocab_size_``, the number of columns of :meth:`term_matrix`.
    """

    def __init__(self, vectorizer, final, head=None):
        self.vectorizer = vectorizer
        self.final = final
        self.head = head
        self.terms = np.asarray(vectorizer.get_feature_names_out(), dtype=object)
        self.n_columns = len(self.terms)
        self.word_ids = np.ones(self.n_columns, dtype=bool)
        self.word_ids[0] = False
        oov_id = getattr(vectorizer, "oov_id_", None)
        if oov_id is not None:
            self.word_ids[oov_id] = False

    def documents(self, X):
        """The documents as the vectorizer reads them.

        Parameters
        ----------
        X : iterable of str
            Raw documents (what the Pipeline's ``predict`` takes).

        Returns
        -------
        list of str
            ``X`` passed through the Pipeline steps before the vectorizer.
        """
        docs = check_documents(X, "raw documents")
        return docs if self.head is None else list(self.head.transform(docs))

    def ids(self, docs):
        """Token-id matrix of documents given by :meth:`documents`."""
        return np.asarray(self.vectorizer.transform(docs))

    def explain(self, docs, target=None, method=None):
        """Ids and per-position relevance of documents given by :meth:`documents`.

        Returns
        -------
        ids : ndarray of int, shape (n_documents, max_length_)
        R : ndarray of float64, shape (n_documents, max_length_)

        Raises
        ------
        TypeError
            When the classifier has no ``explain`` method.
        ValueError
            When ``explain`` does not return one value per position.
        """
        ids = self.ids(docs)
        return ids, self.explain_ids(ids, target=target, method=method)

    def explain_ids(self, ids, target=None, method=None):
        """Per-position relevance of an id matrix given by :meth:`ids`: float64, shaped like ``ids``."""
        R = _explain(self.final, ids, target=target, method=method)
        return self.position_relevance(R, ids.shape, name="the relevance returned by explain")

    def position_relevance(self, R, shape, name="relevance"):
        """``R`` as a float64 ``(n_documents, max_length_)`` array.

        A 3-D array ``(n_documents, max_length_, dim)`` (relevance per
        embedding dimension) is summed over its last axis.
        """
        R = check_relevance(R, name, sparse_ok=False)
        if R.ndim == 3 and R.shape[:2] == tuple(shape):
            R = R.sum(axis=2)
        if R.shape != tuple(shape):
            raise ValueError(
                f"{name} has shape {R.shape}; expected one value per token position, "
                f"(n_documents, max_length_) = {tuple(shape)} (or with a third, embedding axis)."
            )
        return R

    def term_matrix(self, ids, values):
        """Sum per-position values into one column per id.

        Parameters
        ----------
        ids : ndarray of int, shape (n_documents, max_length_)
        values : float or ndarray of shape (n_documents, max_length_)
            Value of every position (e.g. its relevance; ``1.0`` counts).

        Returns
        -------
        csr_matrix of shape (n_documents, vocab_size_)
            Column ``j`` holds the sum of the values of the positions with
            id ``j``: a word occurring several times gets the sum over its
            occurrences. Padding and the OOV id contribute to no column
            (their columns are empty).
        """
        ids = np.asarray(ids)
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), ids.shape)
        rows, pos = np.nonzero(self.word_ids[ids])
        M = sp.csr_matrix((values[rows, pos], (rows, ids[rows, pos])), shape=(ids.shape[0], self.n_columns))
        M.sum_duplicates()
        return M


def sequence_feature_map(estimator, vectorizer=None):
    """The :class:`SequenceFeatureMap` of a sequence Pipeline, or None.

    Parameters
    ----------
    estimator : Pipeline or estimator
        A fitted Pipeline whose last transformer (the step before the last)
        is a :class:`~sklrp.text.TokenSequenceVectorizer`; steps before it
        turn raw documents into the documents it reads.
    vectorizer : TokenSequenceVectorizer, default=None
        A fitted vectorizer whose ids the last step of ``estimator`` (or
        ``estimator`` itself) reads; the Pipeline's own transformers are then
        bypassed.

    Returns
    -------
    SequenceFeatureMap or None
        ``None`` when ``estimator`` / ``vectorizer`` is not of this kind
        (e.g. a bag-of-words Pipeline).
    """
    head = None
    estimator = unfrozen(estimator)
    if vectorizer is not None:
        if not _is_sequence_vectorizer(vectorizer):
            return None
        vec = vectorizer
    elif (isinstance(estimator, Pipeline) and len(estimator.steps) >= 2
          and _is_sequence_vectorizer(estimator.steps[-2][1])):
        vec = estimator.steps[-2][1]
        head = estimator[:-2] if len(estimator.steps) > 2 else None
    else:
        return None
    check_is_fitted(vec)
    return SequenceFeatureMap(vec, final_estimator(estimator), head)

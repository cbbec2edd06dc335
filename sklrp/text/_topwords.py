"""Most relevant words per class over a corpus."""

import numpy as np
import scipy.sparse as sp

from ..base import explain as _explain
from ..base import final_estimator
from .._validation import check_documents
from ._vocab import bow_input, sequence_feature_map, text_feature_map

__all__ = ["top_words_per_class"]


def top_words_per_class(estimator, raw_documents, target=None, *, k=10, method=None,
                        aggregate="sum", vectorizer=None):
    """Rank the vocabulary terms by relevance for each class over a corpus.

    Each document is explained for its target class (the predicted class by
    default); the relevance of each term is then aggregated over the
    documents explained for the same class, as in the per-class word lists
    of Arras et al. (PLoS ONE 2017).

    Parameters
    ----------
    estimator : Pipeline
        Fitted text Pipeline (see :func:`sklrp.text.token_relevances`): a
        bag-of-words Pipeline, or a sequence Pipeline (a
        :class:`~sklrp.text.TokenSequenceVectorizer` before a word CNN or
        bi-LSTM), whose per-position relevances are summed per vocabulary
        word.
    raw_documents : iterable of str
    target : None or array-like of labels, default=None
        ``None`` explains each document's predicted class; an array gives one
        class label per document (e.g. the true classes).
    k : int, default=10
        Number of terms per class.
    method : str, default=None
        Explanation method (e.g. ``"sensitivity"``).
    aggregate : {"sum", "mean"}, default="sum"
        Sum of the relevances over the class's documents, or their mean
        (sum divided by the number of documents of that class).
    vectorizer : CountVectorizer, TfidfVectorizer or TokenSequenceVectorizer, default=None
        Fitted vectorizer to use instead of the Pipeline's own; with a bare
        classifier (not a Pipeline), the classifier reads
        ``vectorizer.transform(raw_documents)``, as in
        :func:`token_relevances`.

    Returns
    -------
    dict
        Class label -> list of ``(term, value)``, most relevant first; classes
        with no document get an empty list.
    """
    if aggregate not in ("sum", "mean"):
        raise ValueError(f"aggregate must be 'sum' or 'mean'; got {aggregate!r}.")
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}.")
    docs = check_documents(raw_documents, "raw_documents")
    smap = sequence_feature_map(estimator, vectorizer=vectorizer)
    fmap = smap if smap is not None else text_feature_map(estimator, vectorizer=vectorizer)
    # what the explained classifier reads: token ids (sequence), the documents (a Pipeline), or the given
    # vectorizer's output (a bare bag-of-words classifier)
    Xin = smap.ids(smap.documents(docs)) if smap is not None else bow_input(estimator, docs, vectorizer)
    predictor = smap.final if smap is not None else estimator
    labels = np.asarray(predictor.predict(Xin) if target is None else target)
    if labels.ndim != 1 or labels.shape[0] != len(docs):
        raise ValueError("target must be None or one label per document.")
    if smap is not None:  # relevance per position, summed per vocabulary word (padding and OOV in no column)
        R = smap.term_matrix(Xin, smap.explain_ids(Xin, target=labels, method=method))
    else:
        R = sp.csr_matrix(_explain(estimator, Xin, target=labels, method=method))
    classes = final_estimator(estimator).classes_
    result = {}
    for c in np.asarray(classes).tolist():
        rows = np.flatnonzero(labels == c)
        if rows.size == 0:
            result[c] = []
            continue
        tot = np.asarray(R[rows].sum(axis=0)).ravel()
        if aggregate == "mean":
            tot = tot / rows.size
        present = np.flatnonzero(R[rows].getnnz(axis=0))
        kk = min(int(k), present.size)
        best = present[np.argsort(-tot[present], kind="stable")[:kk]]
        result[c] = [(str(fmap.terms[j]), float(tot[j])) for j in best]
    return result

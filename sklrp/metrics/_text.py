"""Text explanation metrics: word deletion and explanatory power."""

import contextlib
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import ShuffleSplit
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import Bunch, check_random_state

from .._validation import check_relevance
from ..base import explain as _explain
from ..base import final_estimator, transform_to_final
from ..feature_extraction._document import RelevanceDocumentVectorizer
from ..text._vocab import sequence_feature_map

__all__ = ["explanatory_power_score", "word_deletion_curve"]

_SUBSETS = ("correct", "misclassified", "all")
_ORDERS = ("auto", "descending", "ascending")


def _check_int(name, value, low):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def word_deletion_curve(estimator, X, y, *, method="lrp", relevance=None, n_words=None,
                        subset="correct", order="auto", target="true", min_words=0,
                        n_repeats=5, random_state=None):
    """Accuracy after deleting the 0, 1, ..., ``n_words`` top-ranked words.

    The "word deleting" experiment of Arras et al. (2016, 2017): in every
    document words are deleted one after the other in the order given by a
    relevance, and the accuracy of the unchanged model on the perturbed
    documents is recorded after each deletion. For a bag-of-words model a
    word is deleted by setting its entry in the last step's input (e.g. its
    TF-IDF value) to zero, without renormalising the other entries.

    For a sequence Pipeline (a :class:`~sklrp.text.TokenSequenceVectorizer`
    as the last transformer, then a classifier on token ids such as a word
    CNN) the words are the token *positions* the model reads (padding
    excluded; OOV-mapped positions included), ranked by the relevance of
    each position, and a word is deleted by replacing its id with the
    padding id 0 at that position: its embedding becomes zero and the
    sequence keeps its length (the paper's "set the word's embedding to
    zero").  A model that reads padding differently from a zero vector (a
    recurrent model skips it) names its blank id in ``blank_id_``
    (:class:`~sklrp.BiLSTMClassifier`), which is used instead. A word that occurs several times is deleted one occurrence at
    a time, each at the rank of its own relevance, since relevance is per
    occurrence.

    Parameters
    ----------
    estimator : Pipeline or explainable classifier
        Fitted. A Pipeline is perturbed in the space of its last step's input.
    X : iterable of str, array-like or sparse matrix
        Documents (raw input of the Pipeline).
    y : array-like of shape (n_documents,)
        True labels.
    method : {"lrp", "sensitivity", "random"} or str, default="lrp"
        Ranking relevance, from the last step's ``explain``; ``"random"``
        ranks the words of each document in a uniformly random order,
        averaged over ``n_repeats`` draws. Ignored when ``relevance`` is given.
    relevance : array-like or sparse matrix of shape (n_documents, n_features), default=None
        Precomputed relevances in the last step's input space (for all of
        ``X``, before subsetting); for a sequence Pipeline
        ``(n_documents, max_length_)``, or with a third, embedding axis that
        is summed over.
    n_words : int or None, default=None
        Largest number of deleted words, at most the number of columns of
        the last step's input (the vocabulary, or ``max_length`` for a
        sequence Pipeline): after that many deletions every document is
        empty. ``None`` means 10, or the number of columns when there are
        fewer; 10 is sklrp's documented default, because the paper's choice
        is not verified.
    subset : {"correct", "misclassified", "all"}, default="correct"
        Which documents enter the curve: those the model classifies
        correctly, those it misclassifies, or all.
    order : {"auto", "descending", "ascending"}, default="auto"
        ``"auto"`` deletes the most relevant words first ("descending") for
        ``"correct"`` and ``"all"``, and the most negative first
        ("ascending") for ``"misclassified"``, as in Arras et al.
    target : {"true", "predicted"}, default="true"
        Class whose relevance ranks the words (the paper's protocol uses the
        true class; recorded as unverified).
    min_words : int, default=0
        Keep only documents with at least this many distinct words (for a
        sequence Pipeline: non-padding positions).
    n_repeats : int, default=5
        Number of random orders averaged for ``method="random"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the random orders.

    Returns
    -------
    result : Bunch
        With the fields below.

        n_deleted : ndarray (n_words + 1,)
            0, 1, ..., n_words.
        accuracy : ndarray (n_words + 1,)
            Accuracy on the selected documents after each number of deletions
            (mean over the random repeats).
        accuracy_std : ndarray (n_words + 1,)
            Standard deviation over the random repeats (zeros otherwise).
        n_documents : int
            Number of selected documents.
        subset, order, method : str
            The settings used.

    Notes
    -----
    Ties in relevance are broken by column index (position, for a sequence
    Pipeline). A document with fewer than ``k`` words has all of its words
    deleted at step ``k``. With no selected document the accuracies are NaN.

    Raises
    ------
    TypeError
        If the ranking needs ``explain`` and the last step has none.
    """
    if n_words is not None:
        n_words = _check_int("n_words", n_words, 0)
    min_words = _check_int("min_words", min_words, 0)
    n_repeats = _check_int("n_repeats", n_repeats, 1)
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {list(_SUBSETS)}; got {subset!r}.")
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {list(_ORDERS)}; got {order!r}.")
    if target not in ("true", "predicted"):
        raise ValueError(f"target must be 'true' or 'predicted'; got {target!r}.")
    final = final_estimator(estimator)
    smap = sequence_feature_map(estimator)
    Xt = transform_to_final(estimator, X)  # raw documents are checked there
    if smap is None:
        Xt = sp.csr_matrix(Xt, dtype=np.float64, copy=True)
        as_input = _identity
    else:  # the non-padding positions, with their ids as values; deleting = the blank id
        Xt = sp.csr_matrix(np.asarray(Xt))
        as_input = _dense
    Xt.eliminate_zeros()
    Xt.sort_indices()
    n_columns = Xt.shape[1]
    if n_words is None:
        n_words = min(10, n_columns)
    elif n_words > n_columns:
        raise ValueError(
            f"n_words={n_words} exceeds the {n_columns} columns of the last step's input (a document holds at most "
            f"{n_columns} distinct words or positions, and after that many deletions it is empty); pass at most "
            f"{n_columns}."
        )
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != Xt.shape[0]:
        raise ValueError(f"y must hold one label per document ({Xt.shape[0]}); got shape {y.shape}.")
    pred = final.predict(as_input(Xt))
    if subset == "correct":
        keep = pred == y
    elif subset == "misclassified":
        keep = pred != y
    else:
        keep = np.ones(len(y), dtype=bool)
    if min_words:
        keep &= Xt.getnnz(axis=1) >= min_words
    rows_sel = np.flatnonzero(keep)
    if order == "auto":
        order = "ascending" if subset == "misclassified" else "descending"
    steps = np.arange(n_words + 1)
    if rows_sel.size == 0:
        nan = np.full(n_words + 1, np.nan)
        return Bunch(n_deleted=steps, accuracy=nan, accuracy_std=np.zeros(n_words + 1),
                     n_documents=0, subset=subset, order=order, method=method)
    Xs = Xt[rows_sel]
    ys = y[rows_sel]
    # a deleted word: a zero entry (bag of words), the padding id 0 (a word CNN, where it
    # is a zero vector), or the model's blank id (a recurrent model skips padding)
    blank = getattr(final, "blank_id_", 0) if smap is not None else 0
    rows = np.repeat(np.arange(Xs.shape[0]), np.diff(Xs.indptr))
    cols = Xs.indices
    if relevance is not None:
        Rfull = check_relevance(relevance, "relevance")
        if smap is not None:
            Rfull = smap.position_relevance(Rfull, Xt.shape)
        if Rfull.shape != Xt.shape:
            raise ValueError(f"relevance has shape {Rfull.shape}; expected {Xt.shape}.")
        keys_list = [_entries(Rfull, rows_sel[rows], cols)]
    elif method == "random":
        rng = check_random_state(random_state)
        keys_list = [rng.random_sample(cols.shape[0]) for _ in range(n_repeats)]
    else:
        tgt = ys if target == "true" else None
        R = _explain(final, as_input(Xs), target=tgt, method=method)
        if smap is not None:
            R = smap.position_relevance(R, Xs.shape, name="the relevance returned by explain")
        keys_list = [_entries(R, rows, cols)]
    curves = []
    for keys in keys_list:
        signed = -keys if order == "descending" else keys
        perm = np.lexsort((cols, signed, rows))
        rank = np.empty(perm.shape[0], dtype=np.intp)
        rank[perm] = np.arange(perm.shape[0]) - Xs.indptr[rows[perm]]
        acc = np.empty(n_words + 1)
        k_max = min(n_words, int(np.diff(Xs.indptr).max()))  # from there on every word is deleted
        allow_blank = getattr(final, "_blank_ids_allowed", contextlib.nullcontext)
        for k in steps[: k_max + 1]:
            data = np.where(rank < k, blank, Xs.data)  # keeps the dtype (ids stay integers)
            Xk = sp.csr_matrix((data, Xs.indices, Xs.indptr), shape=Xs.shape)
            with allow_blank():
                acc[k] = np.mean(final.predict(as_input(Xk)) == ys)
        acc[k_max + 1 :] = acc[k_max]
        curves.append(acc)
    curves = np.asarray(curves)
    return Bunch(n_deleted=steps, accuracy=curves.mean(axis=0), accuracy_std=curves.std(axis=0),
                 n_documents=int(rows_sel.size), subset=subset, order=order,
                 method="precomputed" if relevance is not None else method)


def _identity(X):
    return X


def _dense(X):
    """A CSR matrix of token ids back to the dense id matrix (absent = padding 0)."""
    return X.toarray()


def _entries(R, rows, cols):
    """Values of R at (rows, cols) as a float array."""
    if sp.issparse(R):
        vals = R.tocsr()[rows, cols]  # a dense matrix, or a sparse (1, 0) one when nothing is selected
        return np.asarray(vals.toarray() if sp.issparse(vals) else vals, dtype=np.float64).ravel()
    return np.asarray(R, dtype=np.float64)[rows, cols]


def explanatory_power_score(estimator, X, y, *, embeddings, weighting="lrp", target="predicted",
                            normalize="l2", metric="euclidean", k_values=range(1, 21),
                            n_splits=10, test_size=0.5, random_state=0, vectorizer=None,
                            return_details=False):
    """Explanatory Power Index (EPI) of a text classifier's explanations.

    Following Arras et al. (PLoS ONE 2017): build one document vector per
    document with :class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer`
    (relevance-weighted sum of word embeddings), split the vectors ``n_splits``
    times at random into two halves, classify one half from the other with a
    K-nearest-neighbour vote for every ``K`` in ``k_values``, and report

    .. math:: \\mathrm{EPI} = \\max_K \\; \\frac{1}{S} \\sum_{s=1}^{S} \\mathrm{acc}_s(K).

    A high EPI means that the explanations place documents of one topic
    close together. Every detail of the paper's protocol that is not
    verified is a parameter whose default is sklrp's documented choice,
    not necessarily the paper's.

    Parameters
    ----------
    estimator : Pipeline
        Fitted text Pipeline with an explainable last step: a bag-of-words
        Pipeline or a sequence Pipeline (``TokenSequenceVectorizer`` and a
        classifier on token ids); see
        :class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer` for
        how each builds its document vectors.
    X : iterable of str
        Documents.
    y : array-like of shape (n_documents,)
        True topic labels (the KNN classes).
    embeddings : dict, gensim KeyedVectors, WordEmbeddings or path
        Word vectors.
    weighting : {"lrp", "sa", "tfidf", "uniform"}, default="lrp"
        Word weights of the document vectors.
    target : {"predicted", "true"}, default="predicted"
        Class explained for ``"lrp"`` / ``"sa"`` weights.
    normalize : {"l2", "l1"} or None, default="l2"
        Row normalisation of the document vectors.
    metric : str, default="euclidean"
        KNN distance (any ``NearestNeighbors`` metric, e.g. ``"cosine"``).
    k_values : iterable of int, default=range(1, 21)
        Neighbourhood sizes; values above the size of the neighbour half are
        dropped.
    n_splits : int, default=10
        Number of random half/half splits.
    test_size : float, default=0.5
        Fraction of the documents that is classified in each split.
    random_state : int, RandomState instance or None, default=0
        Seeds the splits.
    vectorizer : CountVectorizer, TfidfVectorizer or TokenSequenceVectorizer, default=None
        Fitted vectorizer to use instead of the Pipeline's first step.
    return_details : bool, default=False
        Return a Bunch with the whole curve instead of the score.

    Returns
    -------
    score : float
        The EPI, or with ``return_details=True`` a Bunch with ``score``,
        ``std`` (over the splits at the best K), ``best_k``, ``k_values``,
        ``mean_accuracy`` and ``std_accuracy`` (per K), ``accuracies``
        (n_splits, n_K), ``coverage`` (vocabulary fraction with an embedding)
        and ``n_no_known_word`` (documents with a zero vector).

    Notes
    -----
    KNN ties are resolved towards the smallest class index (as
    ``KNeighborsClassifier`` with uniform weights). Documents with no
    embedded word keep their zero vector and take part in the vote. With a
    sequence Pipeline and ``weighting="tfidf"`` the document frequencies
    are those of ``X`` (the Pipeline keeps none of its training documents).
    """
    if target not in ("predicted", "true"):
        raise ValueError(f"target must be 'predicted' or 'true'; got {target!r}.")
    n_splits = _check_int("n_splits", n_splits, 1)
    if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a float in (0, 1); got {test_size!r}.")
    docs = list(X) if not sp.issparse(X) else X
    y = np.asarray(y)
    n = len(docs) if not sp.issparse(docs) else docs.shape[0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must hold one label per document ({n}); got shape {y.shape}.")
    ks = np.array(sorted({int(k) for k in k_values}))
    if ks.size == 0 or ks[0] < 1:
        raise ValueError(f"k_values must be positive integers; got {list(k_values)}.")
    n_test = int(np.ceil(test_size * n))
    n_train = n - n_test
    if n_train < 1 or n_test < 1:
        raise ValueError(f"explanatory_power_score needs at least 2 documents per split; got {n}.")
    ks = ks[ks <= n_train]
    if ks.size == 0:
        raise ValueError(
            f"All k_values exceed the {n_train} documents of the neighbour half; use smaller K."
        )
    vec = RelevanceDocumentVectorizer(estimator, embeddings, weighting=weighting,
                                      normalize=normalize, vectorizer=vectorizer).fit()
    V = vec.transform(docs, target=y if target == "true" else None)
    classes, yi = np.unique(y, return_inverse=True)
    C, kmax = len(classes), int(ks[-1])
    splitter = ShuffleSplit(n_splits=n_splits, test_size=n_test, random_state=random_state)
    acc = np.empty((n_splits, ks.size))
    for s, (tr, te) in enumerate(splitter.split(V)):
        nn = NearestNeighbors(n_neighbors=kmax, metric=metric).fit(V[tr])
        nbr = nn.kneighbors(V[te], return_distance=False)
        lab = yi[tr][nbr]
        counts = np.zeros((te.size, C), dtype=np.int64)
        ar = np.arange(te.size)
        j = 0
        for k in range(1, kmax + 1):
            np.add.at(counts, (ar, lab[:, k - 1]), 1)
            if k == ks[j]:
                acc[s, j] = np.mean(np.argmax(counts, axis=1) == yi[te])
                j += 1
    mean, std = acc.mean(axis=0), acc.std(axis=0)
    b = int(np.argmax(mean))
    if not return_details:
        return float(mean[b])
    return Bunch(score=float(mean[b]), std=float(std[b]), best_k=int(ks[b]), k_values=ks,
                 mean_accuracy=mean, std_accuracy=std, accuracies=acc,
                 coverage=vec.coverage_, n_no_known_word=int(np.sum(~np.any(V != 0, axis=1))))

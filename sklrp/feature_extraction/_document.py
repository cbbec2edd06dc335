"""Relevance-weighted document vectors (Arras et al., PLoS ONE 2017)."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import check_documents
from ..base import explain as _explain
from ..base import final_estimator, transform_to_final
from ..text._vocab import sequence_feature_map, text_feature_map
from ._embeddings import load_embeddings

__all__ = ["RelevanceDocumentVectorizer"]

WEIGHTINGS = ("lrp", "sa", "tfidf", "uniform")


def _normalize_rows(V, norm):
    if norm is None:
        return V
    n = np.abs(V).sum(axis=1) if norm == "l1" else np.sqrt((V * V).sum(axis=1))
    n = np.where(n > 0, n, 1.0)
    return V / n[:, None]


class RelevanceDocumentVectorizer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Document vectors as weighted sums of word embeddings.

    For a document with words ``t`` (the vocabulary terms present in it),
    the vector is

    .. math:: d = \\sum_{t} w_t \\, e_t,

    where ``e_t`` is the embedding of ``t`` and the scalar weight ``w_t`` is
    (Arras et al., PLoS ONE 2017, "document summary vectors"):

    - ``"lrp"``: the LRP relevance of ``t`` for the explained class;
    - ``"sa"``: the sensitivity ``(df_c/dx_t)^2``;
    - ``"tfidf"``: the value of ``t`` in the last step's input (its TF-IDF
      score for a ``TfidfVectorizer`` Pipeline);
    - ``"uniform"``: 1 for every distinct word of the document.

    Weights are per vocabulary term (word type): a word that occurs several
    times enters once, with its (type-level) relevance or TF-IDF value.
    Terms without an embedding (out of vocabulary, including n-grams unless
    the embedding has them) are left out; see ``coverage_`` and
    :meth:`oov_report`. A document with no word that has an embedding gets
    the zero vector (also after normalisation).

    **Sequence Pipelines** (a :class:`~sklrp.text.TokenSequenceVectorizer`
    as the last transformer, then a classifier on token ids such as a word
    CNN) give weights per token *position*, and a word's weight is the sum
    over its occurrences among the tokens the model reads (after stop
    words, the OOV policy and truncation), so ``d`` is the sum over the
    document's tokens of weight times embedding:

    - ``"lrp"`` / ``"sa"``: the relevance of each position from the last
      step's ``explain`` (``method="lrp"`` / ``"sensitivity"``), summed per
      word;
    - ``"uniform"``: 1 per occurrence, i.e. the word's count (the plain sum
      of the embeddings of the tokens read);
    - ``"tfidf"``: there is no TF-IDF input, so the TF-IDF of the word's
      count is computed as scikit-learn's ``TfidfVectorizer`` does by
      default (``TfidfTransformer()``: smooth idf, ``norm="l2"``), with
      document frequencies from the documents given to :meth:`fit` (the
      training documents, normally) or, when :meth:`fit` got none, from the
      documents of each :meth:`transform` call.

    Padding and the OOV id (``oov="map"``) contribute to no word.

    The wrapped estimator is used as it is (it must be fitted already):
    :meth:`fit` only validates the parameters and maps the vocabulary to the
    embedding table, and :meth:`transform` calls it on first use, so
    ``RelevanceDocumentVectorizer(pipe, embeddings=glove).transform(docs)``
    works directly.  As a step of a Pipeline that is cross-validated or
    grid-searched (which clone their steps, and a clone is unfitted), give
    ``FrozenEstimator(pipe)`` (:class:`sklearn.frozen.FrozenEstimator`),
    which keeps the fitted Pipeline through ``clone``.

    Parameters
    ----------
    estimator : Pipeline or FrozenEstimator
        A fitted text Pipeline (or one wrapped in ``FrozenEstimator``): ``CountVectorizer`` / ``TfidfVectorizer``,
        optional column-keeping or selecting steps, and an explainable last
        step (e.g. :class:`sklrp.LinearRelevanceClassifier`); or a sequence
        Pipeline (``TokenSequenceVectorizer`` and an explainable classifier
        on token ids).
    embeddings : dict, gensim KeyedVectors, WordEmbeddings or path
        Word vectors; see :func:`sklrp.feature_extraction.load_embeddings`.
    weighting : {"lrp", "sa", "tfidf", "uniform"}, default="lrp"
        Word weights, see above.
    normalize : {"l2", "l1"} or None, default="l2"
        Row normalisation of the document vectors. ``"l2"`` is sklrp's
        documented default, because the paper's choice is not verified.
    vectorizer : CountVectorizer, TfidfVectorizer or TokenSequenceVectorizer, default=None
        Fitted vectorizer to use instead of the Pipeline's first step (see
        :func:`sklrp.text.token_relevances`).
    lowercase_fallback : bool, default=True
        Look a term up lower-cased when it is missing as it is.

    Attributes
    ----------
    embeddings_ : WordEmbeddings
        The loaded table.
    terms_ : ndarray of str, shape (n_terms,)
        Vocabulary term of each column of the last step's input (for a
        sequence Pipeline: of each token id, ``"<pad>"`` and ``"<oov>"``
        included).
    term_rows_ : ndarray of int, shape (n_terms,)
        Row of each term in ``embeddings_.vectors``; -1 when out of
        vocabulary (always for padding and the OOV id).
    n_oov_terms_ : int
        Number of vocabulary terms without an embedding (padding and the
        OOV id are not vocabulary terms).
    coverage_ : float
        Fraction of vocabulary terms with an embedding.
    tfidf_ : TfidfTransformer or None
        Sequence Pipelines with ``weighting="tfidf"``: the transformer whose
        document frequencies :meth:`fit` learned from its documents;
        ``None`` otherwise.
    n_features_out_ : int
        Embedding dimension.

    References
    ----------
    .. [1] L. Arras, F. Horn, G. Montavon, K.-R. Mueller, W. Samek, "What is
       relevant in a text document?": An interpretable machine learning
       approach. PLoS ONE 12(8): e0181142, 2017.
    """

    _parameter_constraints = {
        "estimator": "no_validation",
        "embeddings": "no_validation",
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "normalize": [StrOptions({"l1", "l2"}), None],
        "vectorizer": "no_validation",
        "lowercase_fallback": ["boolean"],
    }

    def __init__(self, estimator, embeddings=None, *, weighting="lrp", normalize="l2",
                 vectorizer=None, lowercase_fallback=True):
        self.estimator = estimator
        self.embeddings = embeddings
        self.weighting = weighting
        self.normalize = normalize
        self.vectorizer = vectorizer
        self.lowercase_fallback = lowercase_fallback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def fit(self, X=None, y=None):
        """Validate the parameters and map the vocabulary to the embeddings.

        Parameters
        ----------
        X : iterable of str, default=None
            Only read for a sequence Pipeline with ``weighting="tfidf"``: the
            raw documents whose document frequencies give the idf (normally
            the training documents). Ignored otherwise.
        y : ignored
            Present for the transformer API; the wrapped estimator is not refit.

        Returns
        -------
        self
        """
        self._validate_params()
        if self.embeddings is None:
            raise ValueError("embeddings is required (a dict, a gensim KeyedVectors or a path).")
        try:
            check_is_fitted(final_estimator(self.estimator))
        except NotFittedError as exc:
            raise NotFittedError(
                f"{exc} RelevanceDocumentVectorizer uses its estimator as it is and never fits it. A clone of a "
                "fitted estimator is unfitted (cross_val_score and GridSearchCV clone their steps): wrap the "
                "fitted Pipeline in sklearn.frozen.FrozenEstimator to keep it fitted through clone."
            ) from exc
        emb = load_embeddings(self.embeddings)
        smap = sequence_feature_map(self.estimator, vectorizer=self.vectorizer)
        if smap is None:
            terms = text_feature_map(self.estimator, vectorizer=self.vectorizer).terms
            words = np.ones(len(terms), dtype=bool)
        else:
            terms, words = smap.terms, smap.word_ids
        rows = emb.lookup(terms.tolist(), lowercase_fallback=self.lowercase_fallback)
        rows[~words] = -1
        self.embeddings_ = emb
        self.terms_ = terms
        self.term_rows_ = rows
        self.n_oov_terms_ = int(np.sum(rows[words] < 0))
        self.coverage_ = float(np.mean(rows[words] >= 0)) if words.any() else 0.0
        self.tfidf_ = None
        if smap is not None and self.weighting == "tfidf" and X is not None:
            counts = smap.term_matrix(smap.ids(smap.documents(X)), 1.0)
            self.tfidf_ = TfidfTransformer().fit(counts)
        self.n_features_out_ = emb.dim
        self._n_features_out = emb.dim
        return self

    def _sequence_weights(self, smap, X, target, method):
        """Per-word weights of a sequence Pipeline: per-position values summed per id."""
        docs = smap.documents(X)
        if method is not None:
            return smap.term_matrix(*smap.explain(docs, target=target, method=method))
        W = smap.term_matrix(smap.ids(docs), 1.0)
        if self.weighting == "tfidf":
            tfidf = self.tfidf_ if self.tfidf_ is not None else TfidfTransformer().fit(W)
            W = tfidf.transform(W)
        return W

    def _weights(self, X, target):
        X = check_documents(X, "X")
        method = {"lrp": "lrp", "sa": "sensitivity"}.get(self.weighting)
        smap = sequence_feature_map(self.estimator, vectorizer=self.vectorizer)
        if smap is not None:
            W = self._sequence_weights(smap, X, target, method)
        elif method is not None:
            W = _explain(self.estimator, X, target=target, method=method)
        else:
            W = transform_to_final(self.estimator, X)
            if self.weighting == "uniform":
                W = sp.csr_matrix(W, copy=True) if sp.issparse(W) else sp.csr_matrix(np.asarray(W))
                W.eliminate_zeros()
                W.data = np.ones_like(W.data)
        W = W.tocsr() if sp.issparse(W) else sp.csr_matrix(np.asarray(W))
        if W.shape[1] != self.term_rows_.shape[0]:
            raise ValueError(
                f"The last step's input has {W.shape[1]} columns but the vocabulary has "
                f"{self.term_rows_.shape[0]} terms; refit the vectorizer (fit()) after refitting "
                "the Pipeline."
            )
        return W

    def transform(self, X, target=None):
        """Document vectors of raw documents.

        Parameters
        ----------
        X : iterable of str
            Raw documents (what the Pipeline's ``predict`` takes).
        target : None, label or array-like, default=None
            Class explained for ``"lrp"`` and ``"sa"`` weights: ``None`` the
            predicted class, or labels (e.g. the true classes); see the last
            step's ``explain``.

        Returns
        -------
        V : ndarray of shape (n_documents, dim)
        """
        if not hasattr(self, "term_rows_"):
            self.fit()
        W = self._weights(X, target)
        known = np.flatnonzero(self.term_rows_ >= 0)
        E = np.asarray(self.embeddings_.vectors[self.term_rows_[known]], dtype=np.float64)
        V = np.asarray(W[:, known] @ E)
        return _normalize_rows(V, self.normalize)

    def oov_report(self, X, target=None):
        """How much of each document the embeddings cover.

        Parameters
        ----------
        X : iterable of str
        target : see :meth:`transform`

        Returns
        -------
        Bunch with
            n_terms : ndarray (n_documents,)
                Distinct vocabulary terms present.
            n_oov : ndarray (n_documents,)
                Those without an embedding.
            oov_weight_fraction : ndarray (n_documents,)
                Share of the total absolute weight on terms without an
                embedding (0 for a document with no weight).
            no_known_word : ndarray of bool (n_documents,)
                Documents whose vector is zero because no present term has
                an embedding.
            coverage : float
                Fraction of the vocabulary with an embedding.
        """
        if not hasattr(self, "term_rows_"):
            self.fit()
        W = self._weights(X, target)
        W = W.copy()
        W.eliminate_zeros()
        oov = (self.term_rows_ < 0).astype(np.float64)
        P = W.copy()
        P.data = np.ones_like(P.data)
        n_terms = np.asarray(P.sum(axis=1)).ravel()
        n_oov = np.asarray(P @ oov).ravel()
        A = abs(W)
        tot = np.asarray(A.sum(axis=1)).ravel()
        frac = np.divide(np.asarray(A @ oov).ravel(), tot, out=np.zeros_like(tot), where=tot > 0)
        return Bunch(n_terms=n_terms.astype(int), n_oov=n_oov.astype(int),
                     oov_weight_fraction=frac, no_known_word=(n_terms - n_oov) == 0,
                     coverage=self.coverage_)

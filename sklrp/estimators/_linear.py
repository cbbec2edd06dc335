"""Relevance for linear classifiers (linear SVM, logistic regression, ...)."""

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._explain import resolve_target

__all__ = ["LinearRelevanceClassifier"]

_METHODS = ("lrp", "sensitivity", "random")
_BIAS = ("distribute", "ignore")


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        est = self.estimator if self.estimator is not None else LinearSVC()
        return hasattr(est, attr)

    return check


class LinearRelevanceClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Linear classifier that explains its decisions with LRP.

    A meta-estimator around any scikit-learn linear classifier that exposes
    ``coef_`` and ``intercept_`` after fitting (``LinearSVC``,
    ``LogisticRegression``, ``SGDClassifier``, ``RidgeClassifier``,
    ``Perceptron``, ...). Fitting, prediction and scores are those of the
    wrapped estimator; :meth:`explain` decomposes the class score
    ``f_c(x) = sum_i x_i w_{c,i} + b_c`` onto the input features.

    Parameters
    ----------
    estimator : estimator object, default=None
        The linear classifier to fit (cloned in :meth:`fit`). ``None`` uses
        ``sklearn.svm.LinearSVC()``. After fitting it must have ``coef_`` of
        shape ``(n_classes, n_features)`` (or ``(1, n_features)`` for two
        classes) and ``intercept_``; otherwise :meth:`fit` raises a
        ``TypeError``.
    bias : {"distribute", "ignore"}, default="distribute"
        How the intercept ``b_c`` enters the relevance (sklrp Decision 7,
        following Arras et al., PLoS ONE 2017):

        - ``"distribute"``: ``R_i = x_i w_{c,i} + b_c / D`` for the ``D``
          non-zero features of ``x`` (zero elsewhere), so that
          ``sum_i R_i = f_c(x)`` exactly. For an all-zero sample (``D = 0``,
          e.g. an empty document) the share is undefined: every relevance is
          zero and the bias is left unassigned.
        - ``"ignore"``: ``R_i = x_i w_{c,i}``, so ``sum_i R_i = f_c(x) - b_c``.
    method : {"lrp", "sensitivity", "random"}, default="lrp"
        Explanation method, read at explain time:

        - ``"lrp"``: the decomposition above.
        - ``"sensitivity"``: sensitivity analysis ``R_i = (df_c/dx_i)^2 =
          w_{c,i}^2`` on the features present in ``x`` (zero elsewhere), as
          used as baseline by Arras et al. (2016, 2017). Always ``>= 0``.
        - ``"random"``: i.i.d. standard normal values on the present features
          (a baseline for perturbation experiments), drawn from
          ``random_state``.
    random_state : int, RandomState instance or None, default=None
        Seeds ``method="random"``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (n_classes, n_features)
        One weight row per class. For a binary problem the score of
        ``classes_[1]`` is the wrapped estimator's decision function ``f`` and
        the score of ``classes_[0]`` is ``-f`` (so both rows are stored).
    intercept_ : ndarray of shape (n_classes,)
        One bias per class, with the same binary convention.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Feature names, when ``X`` had string column names.

    References
    ----------
    .. [1] L. Arras, F. Horn, G. Montavon, K.-R. Mueller, W. Samek, "What is
       relevant in a text document?": An interpretable machine learning
       approach. PLoS ONE 12(8): e0181142, 2017.
    .. [2] S. Bach, A. Binder, G. Montavon, F. Klauschen, K.-R. Mueller,
       W. Samek, On pixel-wise explanations for non-linear classifier
       decisions by layer-wise relevance propagation. PLoS ONE 10(7), 2015.

    Examples
    --------
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import LinearSVC
    >>> import sklrp
    >>> docs = ["good movie", "bad movie", "good plot", "bad acting"]
    >>> pipe = make_pipeline(TfidfVectorizer(),
    ...                      sklrp.LinearRelevanceClassifier(LinearSVC()))
    >>> pipe = pipe.fit(docs, [1, 0, 1, 0])
    >>> R = sklrp.explain(pipe, ["good acting"])   # sparse, like the tf-idf matrix
    >>> bool(abs(R.sum() - pipe.decision_function(["good acting"])[0]) < 1e-10)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"]), None],
        "bias": [StrOptions(set(_BIAS))],
        "method": [StrOptions(set(_METHODS))],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, bias="distribute", method="lrp", random_state=None):
        self.estimator = estimator
        self.bias = bias
        self.method = method
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        est = self.estimator if self.estimator is not None else LinearSVC()
        try:
            inner = est.__sklearn_tags__()
        except AttributeError:  # pragma: no cover - very old third-party estimators
            return tags
        tags.input_tags.allow_nan = False
        tags.classifier_tags.poor_score = inner.classifier_tags.poor_score
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Fit a clone of ``estimator`` and read its linear parameters.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; must be finite.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the wrapped estimator's ``fit`` when given.
        **fit_params : dict
            Further keyword arguments for the wrapped estimator's ``fit``.

        Returns
        -------
        self : LinearRelevanceClassifier
        """
        X, y = validate_data(
            self, X, y, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32)
        )
        check_classification_targets(y)
        est = clone(self.estimator) if self.estimator is not None else LinearSVC()
        if sample_weight is not None:
            fit_params["sample_weight"] = sample_weight
        est.fit(X, y, **fit_params)
        coef = getattr(est, "coef_", None)
        intercept = getattr(est, "intercept_", None)
        if coef is None or intercept is None:
            raise TypeError(
                "LinearRelevanceClassifier needs a linear classifier with coef_ and "
                f"intercept_ after fitting; got {type(est).__name__}, which has "
                f"coef_={'yes' if coef is not None else 'no'}, "
                f"intercept_={'yes' if intercept is not None else 'no'}."
            )
        if sp.issparse(coef):
            coef = coef.toarray()
        coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        intercept = np.broadcast_to(
            np.asarray(intercept, dtype=np.float64).ravel(), (coef.shape[0],)
        ).copy()
        classes = np.asarray(est.classes_)
        if coef.shape[1] != X.shape[1]:
            raise TypeError(
                f"{type(est).__name__}.coef_ has {coef.shape[1]} columns but X has "
                f"{X.shape[1]} features; the wrapped estimator is not a plain linear model."
            )
        if coef.shape[0] == 1 and len(classes) == 2:
            coef = np.vstack([-coef, coef])
            intercept = np.array([-intercept[0], intercept[0]])
        elif coef.shape[0] != len(classes):
            raise TypeError(
                f"{type(est).__name__}.coef_ has {coef.shape[0]} rows for "
                f"{len(classes)} classes; expected one row per class (one for two classes)."
            )
        self.estimator_ = est
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        return self

    # ------------------------------------------------------------- predict
    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32), reset=False
        )

    def _scores(self, X):
        """Class scores (n_samples, n_classes) from coef_ and intercept_."""
        S = X @ self.coef_.T
        return np.asarray(S) + self.intercept_

    def decision_function(self, X):
        """Decision function of the wrapped estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            As returned by the wrapped estimator (1-D for two classes).
        """
        X = self._check_X(X)
        return self.estimator_.decision_function(X)

    def predict(self, X):
        """Predict class labels with the wrapped estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        X = self._check_X(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the wrapped estimator (when it has them).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_X(X)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities of the wrapped estimator (when it has them).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_X(X)
        return self.estimator_.predict_log_proba(X)

    # ------------------------------------------------------------- explain
    def _resolve_target(self, target, scores):
        """Return (class indices (n,), or None, and output relevance (n, C) or None)."""
        idx, R_out = resolve_target(self.classes_, target, scores.shape[0])
        if idx is None and R_out is None:
            idx = np.argmax(scores, axis=1)
        return idx, R_out

    def explain(self, X, target=None, method=None):
        """Relevance of every input feature for a class score.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples; must be finite. Sparse input gives sparse output with the
            same sparsity pattern (explicit zeros of ``X`` are dropped first).
        target : None, label, array-like of labels or ndarray, default=None
            Which class score to explain: ``None`` the predicted class; one
            label of ``classes_`` for every sample; one label per sample; or
            an explicit output-relevance array ``R_out`` of shape
            ``(n_samples, n_classes)``. With an array, LRP applies the LRP-0
            rule of the linear layer, ``R_i = sum_c z_{ic} R_out_c / f_c``
            (``z_{ic}`` the contribution defined by ``bias``; ``f_c`` with a
            ``1e-12 * sign(f_c)`` stabiliser, sign(0) = +1), which equals the
            label case when ``R_out`` is the score of one class and zero
            elsewhere; ``"sensitivity"`` squares ``sum_c R_out_c w_{c,i}``.
            Unknown labels raise ``ValueError``.
        method : {"lrp", "sensitivity", "random"} or None, default=None
            Overrides the ``method`` parameter for this call.

        Returns
        -------
        R : ndarray or sparse matrix of shape (n_samples, n_features)
            Relevances, in the array type (and sparse format) of ``X``.
        """
        check_is_fitted(self)
        method = self.method if method is None else method
        if method not in _METHODS:
            raise ValueError(f"method must be one of {list(_METHODS)}; got {method!r}.")
        if self.bias not in _BIAS:
            raise ValueError(f"bias must be one of {list(_BIAS)}; got {self.bias!r}.")
        X = self._check_X(X)
        is_sparse = sp.issparse(X)
        fmt = X.format if is_sparse else None
        if is_sparse:
            X = sp.csr_matrix(X, copy=True)
            X.eliminate_zeros()
            X.sort_indices()
        scores = self._scores(X)
        cls_idx, R_out = self._resolve_target(target, scores)
        if is_sparse:
            rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            vals = self._relevance_entries(X.data, rows, X.indices, X.getnnz(axis=1),
                                           scores, cls_idx, R_out, method)
            R = sp.csr_matrix((vals.astype(X.dtype, copy=False), X.indices.copy(),
                               X.indptr.copy()), shape=X.shape)
            return R.asformat(fmt)
        rows, cols = np.nonzero(X)
        D = np.count_nonzero(X, axis=1)
        vals = self._relevance_entries(X[rows, cols], rows, cols, D, scores, cls_idx, R_out, method)
        R = np.zeros_like(X)
        R[rows, cols] = vals
        return R

    def _relevance_entries(self, x, rows, cols, D, scores, cls_idx, R_out, method):
        """Relevance of the non-zero entries ``x`` at (rows, cols)."""
        W, b = self.coef_, self.intercept_
        if method == "random":
            rng = check_random_state(self.random_state)
            return rng.standard_normal(x.shape[0])
        D = np.asarray(D, dtype=np.float64)
        if method == "sensitivity":
            if R_out is None:
                return W[cls_idx[rows], cols] ** 2
            G = R_out @ W  # (n, n_features) gradient of sum_c R_out_c f_c
            return G[rows, cols] ** 2
        share = b[None, :] / np.maximum(D, 1.0)[:, None] if self.bias == "distribute" else None
        if R_out is None:
            c = cls_idx[rows]
            vals = x * W[c, cols]
            if share is not None:
                vals = vals + share[rows, c]
            return vals
        f = scores
        denom = f + 1e-12 * np.where(f >= 0, 1.0, -1.0)
        S = R_out / denom  # (n, C)
        vals = x * np.einsum("ec,ce->e", S[rows], W[:, cols])
        if share is not None:
            vals = vals + np.einsum("ec,ec->e", S[rows], share[rows])
        return vals

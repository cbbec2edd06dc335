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

from .._dask import dask_blocks
from .._validation import check_finite_output, overflow_as_value_error
from ..base import ExplainMixin
from ..nn import LinearOp
from ..rules import Epsilon

__all__ = ["LinearRelevanceClassifier"]

_METHODS = ("lrp", "sensitivity", "gradient", "gradient_x_input", "random")
#: ``bias`` -> ``bias_factor`` of the epsilon rule
_BIAS_FACTORS = {"distribute": 1.0, "ignore": 0.0}


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        est = self.estimator if self.estimator is not None else LinearSVC()
        return hasattr(est, attr)

    return check


class LinearRelevanceClassifier(ExplainMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Linear classifier that explains its decisions with LRP.

    A meta-estimator around any scikit-learn linear classifier that exposes
    ``coef_`` and ``intercept_`` after fitting (``LinearSVC``,
    ``LogisticRegression``, ``SGDClassifier``, ``RidgeClassifier``,
    ``Perceptron``, ...). Fitting, prediction and scores are those of the
    wrapped estimator; :meth:`explain` decomposes the class score
    ``f_c(x) = sum_i x_i w_{c,i} + b_c`` onto the input features with the
    LRP-0 rule of its linear map (the shared :class:`sklrp.rules.Epsilon`
    rule with ``epsilon=0``).
    Relevance only goes to the features present in ``x`` (its non-zero
    entries), so sparse input gives sparse relevance with the same pattern.

    Parameters
    ----------
    estimator : estimator object, default=None
        The linear classifier to fit (cloned in :meth:`fit`). ``None`` uses
        ``sklearn.svm.LinearSVC()``. After fitting it must have ``coef_`` of
        shape ``(n_classes, n_features)`` (or ``(1, n_features)`` for two
        classes) and ``intercept_``; otherwise :meth:`fit` raises a
        ``TypeError``.
    bias : {"distribute", "ignore"}, default="distribute"
        How the intercept ``b_c`` enters the relevance (Arras et al., PLoS
        ONE 2017):

        - ``"distribute"``: ``R_i = x_i w_{c,i} + b_c / D`` for the ``D``
          non-zero features of ``x`` (zero elsewhere), so that
          ``sum_i R_i = f_c(x)`` exactly (the epsilon rule with
          ``bias_factor=1``). For an all-zero sample (``D = 0``, e.g. an
          empty document) the share is undefined: every relevance is zero
          and the bias is left unassigned.
        - ``"ignore"``: ``R_i = x_i w_{c,i}``, so ``sum_i R_i = f_c(x) - b_c``
          (``bias_factor=0``).
    method : {"lrp", "sensitivity", "gradient", "gradient_x_input", "random"}, default="lrp"
        Explanation method, read at explain time; every method gives
        relevance to the features present in ``x`` only (zero elsewhere):

        - ``"lrp"``: the decomposition above.
        - ``"gradient"``: ``df_c/dx_i = w_{c,i}``.
        - ``"sensitivity"``: sensitivity analysis ``R_i = (df_c/dx_i)^2 =
          w_{c,i}^2``, as used as baseline by Arras et al. (2016, 2017).
          Always ``>= 0``.
        - ``"gradient_x_input"``: ``x_i w_{c,i}`` (LRP with ``bias="ignore"``).
        - ``"random"``: i.i.d. standard normal values (a baseline for
          perturbation experiments), drawn from ``random_state``.
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
        "bias": [StrOptions(set(_BIAS_FACTORS))],
        "method": [StrOptions(set(_METHODS))],
        "random_state": ["random_state"],
    }

    _explain_methods = _METHODS

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
        tags.input_tags.sparse = inner.input_tags.sparse  # what the wrapped estimator fits on
        if inner.classifier_tags is not None:  # a regressor has none: fit refuses it with a clear error
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
            The fitted estimator.
        """
        with overflow_as_value_error():
            X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32))
        check_classification_targets(y)
        est = clone(self.estimator) if self.estimator is not None else LinearSVC()
        if sample_weight is not None:
            fit_params["sample_weight"] = sample_weight
        est.fit(X, y, **fit_params)
        if not hasattr(est, "classes_"):
            raise TypeError(
                f"LinearRelevanceClassifier needs a linear classifier; {type(est).__name__} has no classes_ after "
                "fitting (a regressor or an outlier detector)."
            )
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
        self._check_scores_are_linear(est, X, coef, intercept)
        self.__dict__.pop("_log_link", None)  # the probability link of an earlier fit
        self.estimator_ = est
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        return self

    @staticmethod
    def _check_scores_are_linear(est, X, coef, intercept):
        """Refuse an estimator whose decision scores are not ``X @ coef_.T + intercept_`` per class: ``SVC`` with a
        linear kernel has one ``coef_`` row per pair of classes (one-vs-one), which with three classes looked
        like one per class and was explained wrongly."""
        if not hasattr(est, "decision_function"):
            return
        rows = X[: min(X.shape[0], 8)]
        with np.errstate(all="ignore"):
            scores = np.asarray(est.decision_function(rows), dtype=np.float64)
            linear = np.asarray(rows @ coef.T, dtype=np.float64) + intercept
        if scores.ndim == 1:
            linear = linear[:, -1]  # binary: the score of the second class (one class: its only row)
        scale = max(float(np.max(np.abs(linear), initial=0.0)), 1.0)
        if scores.shape != linear.shape or not np.allclose(scores, linear, rtol=1e-4, atol=1e-6 * scale):
            raise TypeError(
                f"{type(est).__name__}'s decision scores are not X @ coef_.T + intercept_ with one coef_ row per "
                "class; LinearRelevanceClassifier explains such linear classifiers only (SVC and NuSVC with a "
                "linear kernel train one-vs-one, one row per pair of classes: use LinearSVC or "
                "LogisticRegression)."
            )

    # ------------------------------------------------------------- predict
    def _validate_input(self, X):
        check_is_fitted(self)
        with overflow_as_value_error():
            return validate_data(self, X, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32), reset=False)

    def _finite(self, out, X, what):
        """``out``, unless the finite (validated) ``X`` gave non-finite values: then a clear error."""
        return check_finite_output(np.asarray(out), X, owner=type(self).__name__, what=what,
                                   cause="the scores overflow")

    @dask_blocks
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
        X = self._validate_input(X)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.estimator_.decision_function(X)
        return self._finite(out, X, "scores")

    @dask_blocks
    def predict(self, X):
        """Predict class labels with the wrapped estimator.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        X = self._validate_input(X)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    @dask_blocks
    def predict_proba(self, X):
        """Class probabilities of the wrapped estimator (when it has them).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._validate_input(X)
        with np.errstate(over="ignore", invalid="ignore"):
            self._finite(self.estimator_.decision_function(X), X, "scores")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    @dask_blocks
    def predict_log_proba(self, X):
        """Log class probabilities of the wrapped estimator (when it has them).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)

        Notes
        -----
        Where a probability underflows to 0, the wrapped estimator's
        ``log(predict_proba)`` is ``-inf`` (and imprecise where it is
        subnormal).  When its probabilities are a
        softmax of the decision scores (multinomial logistic regression) or
        normalised logistic sigmoids of them (binary and one-vs-rest), those
        entries are computed from the scores in log space instead, finite as
        the scores are.  Other estimators' log probabilities are returned as
        they give them.
        """
        X = self._validate_input(X)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = self._finite(self.estimator_.decision_function(X), X, "scores")
        with np.errstate(divide="ignore"):  # log(0): replaced below when the link is known
            log_proba = self.estimator_.predict_log_proba(X)
        # zero or subnormal probabilities: -inf, or a logarithm of a number with few significant bits left
        underflow = log_proba < np.log(np.finfo(np.float64).tiny)
        if underflow.any():
            link = self._log_proba_link()
            if link is not None:
                log_proba = np.where(underflow, _log_proba_candidates(scores)[link], log_proba)
        return log_proba

    def _log_proba_link(self):
        """Which of :func:`_log_proba_candidates` gives the wrapped estimator's probabilities (None: none does).

        Found once, on points built to have moderate scores (where the links differ), not on the samples asked
        for: the probabilities of a saturated sample fit several links, or none (scikit-learn's one-vs-rest
        models return a uniform row where every sigmoid underflows), so a sample's result depended on its batch.
        """
        if "_log_link" in self.__dict__:
            return self._log_link
        link = None
        rng = np.random.RandomState(0)
        target = rng.uniform(-2.0, 2.0, size=(6, self.coef_.shape[0]))
        points = np.linalg.lstsq(self.coef_, (target - self.intercept_).T, rcond=None)[0].T
        with np.errstate(all="ignore"):
            scores = np.asarray(self.estimator_.decision_function(points), dtype=np.float64)
            proba = np.asarray(self.estimator_.predict_proba(points), dtype=np.float64)
        for k, candidate in enumerate(_log_proba_candidates(scores)):
            if candidate.shape == proba.shape and np.allclose(np.exp(candidate), proba, rtol=1e-6, atol=1e-9):
                link = k
                break
        self._log_link = link
        return link

    # ------------------------------------------------------------- explain
    @dask_blocks
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
            an explicit output relevance ``R_out`` of shape
            ``(n_samples, n_classes)``. With an array, LRP applies the rule
            to ``R_out``, ``R_i = sum_c z_{ic} R_out_c / f_c`` (``z_{ic}``
            the contribution defined by ``bias``; a class with ``f_c = 0``
            passes no relevance), which equals the label case when ``R_out``
            is the score of one class and zero elsewhere; the gradient
            methods take ``R_out`` as the output gradient, ``sum_c R_out_c
            w_{c,i}``. Unknown labels raise ``ValueError``.
        method : {"lrp", "sensitivity", "gradient", "gradient_x_input", "random"} or None, default=None
            Overrides the ``method`` parameter for this call.

        Returns
        -------
        R : ndarray or sparse matrix of shape (n_samples, n_features)
            Relevances, in the array type (and sparse format) of ``X``.
        """
        return super().explain(X, target=target, method=method)

    def _explain_context(self, method):
        if self.bias not in _BIAS_FACTORS:
            raise ValueError(f"bias must be one of {list(_BIAS_FACTORS)}; got {self.bias!r}.")
        if method == "random":
            return check_random_state(self.random_state)
        return Epsilon(epsilon=0.0, bias_factor=_BIAS_FACTORS[self.bias])

    def _linear_op(self, entries):
        """The class scores as a :class:`sklrp.nn.LinearOp` over the non-zero entries.

        ``x`` is the vector of the non-zero entries of ``entries`` (CSR);
        the map sums them into ``(n_samples, n_classes)`` scores, so every
        rule's ``x * transpose(...)`` is element-wise on the entries and the
        fan-in of a sample's outputs is its number of entries.
        """
        indices, indptr, shape = entries.indices, entries.indptr, entries.shape
        rows = np.repeat(np.arange(shape[0]), np.diff(indptr))

        def forward(x, weight, bias=None):
            z = sp.csr_matrix((x, indices, indptr), shape=shape) @ weight.T
            return z if bias is None else z + bias

        def transpose(s, weight):
            # c_e = sum_k weight[k, col_e] s[row_e, k], class by class over the entries whose sample has
            # s[row_e, k] != 0 (one class per sample for a label target); no (nnz, n_classes) temporaries
            c = np.zeros(len(indices), dtype=np.result_type(s, weight))
            for k in range(weight.shape[0]):
                sel = np.flatnonzero(s[:, k][rows] != 0)
                c[sel] += s[rows[sel], k] * weight[k, indices[sel]]
            return c

        fan_in = np.repeat(np.diff(indptr).astype(np.float64)[:, None], self.coef_.shape[0], axis=1)
        return LinearOp(entries.data, self.coef_, self.intercept_, forward=forward, transpose=transpose, fan_in=fan_in)

    def _explain_batch(self, X, target_index, target_relevance, *, method, context):
        entries = X if sp.issparse(X) else sp.csr_matrix(X)
        if method == "random":
            vals = context.standard_normal(entries.nnz)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                op = self._linear_op(entries)
            self._finite(op.output, entries, "scores")
            if target_relevance is not None:
                seed = target_relevance
            else:
                idx = np.argmax(op.output, axis=1) if target_index is None else target_index
                seed = (idx[:, None] == np.arange(len(self.classes_))).astype(np.float64)
                if method == "lrp":
                    seed = seed * op.output  # LRP starts from the raw score of the target class
            if method == "lrp":
                vals = context(op, seed)
            else:
                vals = op.transpose(seed, op.weight)
                if method == "sensitivity":
                    vals = vals**2
                elif method == "gradient_x_input":
                    vals = op.x * vals
        vals = vals.astype(X.dtype, copy=False)
        if not np.all(np.isfinite(vals)):
            raise ValueError(
                f"{type(self).__name__}: the explanations are not finite although X and the scores are: they "
                f"overflow {vals.dtype} (an explicit output relevance or gradient of the size of "
                f"{float(np.max(np.abs(target_relevance))) if target_relevance is not None else 'the scores'} "
                "is too large for this method). Scale the target down."
            )
        R = entries.copy()
        R.data = vals
        return R if sp.issparse(X) else R.toarray()


def _log_proba_candidates(scores):
    """Log probabilities of decision ``scores`` under the links of scikit-learn's linear classifiers, computed in log
    space: ``[sigmoid(-s), sigmoid(s)]`` of 1-D scores (binary); a softmax (multinomial) and sigmoids normalised
    over the classes (one-vs-rest) of 2-D scores."""
    from scipy.special import log_expit, log_softmax, logsumexp

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return [np.stack([log_expit(-scores), log_expit(scores)], axis=1)]
    ovr = log_expit(scores)
    return [log_softmax(scores, axis=1), ovr - logsumexp(ovr, axis=1, keepdims=True)]


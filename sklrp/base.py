"""The explain contract of sklrp's estimators.

Every explainable estimator in sklrp inherits :class:`ExplainMixin`, which
implements ``explain(X, target=None, method=None)`` once: the target is
resolved against ``classes_`` (:func:`resolve_target`), the samples are
processed in chunks on the compute device, and the relevance comes back
shaped like ``X`` and in ``X``'s array type (NumPy in, NumPy out; CuPy in,
CuPy out; sparse in, sparse out).  The module-level :func:`explain` explains
an estimator or a :class:`~sklearn.pipeline.Pipeline` whose last step is
explainable.
"""

import contextlib

import numpy as np
import scipy.sparse as sp
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, validate_params
from sklearn.utils.validation import check_is_fitted

from ._backend import (
    get_namespace,
    is_gpu_array,
    resolve_device,
    to_device,
    to_host,
    workspace,
)
from ._dask import dask_blocks
from ._validation import check_documents, validate_array

__all__ = ["ExplainMixin", "explain", "final_estimator", "transform_to_final", "resolve_target", "unfrozen"]


def unfrozen(estimator):
    """The estimator inside a :class:`sklearn.frozen.FrozenEstimator` (any depth), or ``estimator`` itself.

    A frozen estimator keeps its fitted state through ``clone`` (so a fitted
    text Pipeline can be wrapped by a step that is cross-validated or
    grid-searched); sklrp reads the wrapped one.

    Parameters
    ----------
    estimator : estimator

    Returns
    -------
    estimator : estimator
    """
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    return estimator


def final_estimator(estimator):
    """Return the last step of a Pipeline, or the estimator itself.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A plain estimator or a :class:`~sklearn.pipeline.Pipeline`.

    Returns
    -------
    final : estimator
        ``estimator.steps[-1][1]`` for a Pipeline (the last step of a
        Pipeline that is itself the last step, at any depth), otherwise
        ``estimator`` (a ``FrozenEstimator`` is read through, see
        :func:`unfrozen`).
    """
    estimator = unfrozen(estimator)
    while isinstance(estimator, Pipeline):
        estimator = unfrozen(estimator.steps[-1][1])
    return estimator


def transform_to_final(estimator, X):
    """Transform ``X`` through every Pipeline step but the last.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A plain estimator or a fitted :class:`~sklearn.pipeline.Pipeline`.
    X : array-like or sparse matrix
        Raw input of ``estimator``.

    Returns
    -------
    Xt : array-like or sparse matrix
        The input of the Pipeline's last step; ``X`` unchanged for a plain
        estimator or a one-step Pipeline.
    """
    estimator = unfrozen(estimator)
    while isinstance(estimator, Pipeline):  # a nested Pipeline as the last step: its steps too
        if len(estimator.steps) > 1:
            if hasattr(estimator.steps[0][1], "build_analyzer"):  # a text vectorizer: raw documents
                X = check_documents(X, "X")
            X = estimator[:-1].transform(X)
        estimator = unfrozen(estimator.steps[-1][1])
    return X


@validate_params(
    {"estimator": [HasMethods(["fit"])], "X": ["array-like", "sparse matrix"]},
    prefer_skip_nested_validation=True,
)
def explain(estimator, X, target=None, **kwargs):
    """Explain the predictions of ``estimator`` on ``X``.

    Parameters
    ----------
    estimator : fitted explainable estimator or Pipeline
        An estimator with an ``explain`` method, or a Pipeline whose last
        step has one; a Pipeline is explained in the space of its last
        step's input (the output of the preceding transformers).
    X : array-like or sparse matrix
        Samples (raw input of the Pipeline).
    target : None, label, array-like of labels or array of output relevances, default=None
        ``None`` explains the predicted class; see the estimator's
        ``explain``.
    **kwargs : dict
        Passed to the estimator's ``explain`` (e.g. ``method="sensitivity"``).

    Returns
    -------
    R : array or sparse matrix
        Shaped like the last step's input, in its array type.

    Raises
    ------
    TypeError
        When the (final) estimator has no ``explain`` method.

    Examples
    --------
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.pipeline import make_pipeline
    >>> import sklrp
    >>> docs = ["good movie", "bad movie", "good plot", "bad acting"]
    >>> pipe = make_pipeline(TfidfVectorizer(), sklrp.LinearRelevanceClassifier())
    >>> pipe = pipe.fit(docs, [1, 0, 1, 0])
    >>> sklrp.explain(pipe, ["good acting"]).shape
    (1, 5)
    """
    final = final_estimator(estimator)
    if final is None or isinstance(final, str):  # a Pipeline's last step "passthrough" or None
        raise TypeError(
            f"The Pipeline's last step is {final!r}, which has no explain method; end it with an explainable "
            "estimator (e.g. sklrp.LinearRelevanceClassifier or one of sklrp's networks)."
        )
    if not hasattr(final, "explain"):
        raise TypeError(
            f"{type(final).__name__} has no explain method; wrap it in an explainable "
            "estimator (e.g. sklrp.LinearRelevanceClassifier) or use one of sklrp's networks."
        )
    return final.explain(transform_to_final(estimator, X), target=target, **kwargs)


def resolve_target(classes, target, n):
    """Resolve the ``target`` argument of ``explain`` against ``classes_``.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
        The estimator's ``classes_``.
    target : None, label, array-like of labels, or array of shape (n, n_classes)
        ``None`` (the predicted class), one label of ``classes``, one label
        per sample, or an explicit output relevance (NumPy or CuPy).
    n : int
        Number of samples.

    Returns
    -------
    idx : ndarray of shape (n,) of int, or None
        Class index per sample; None for "the predicted class" and for an
        explicit output relevance.
    relevance : ndarray of shape (n, n_classes), float64, or None
        The explicit output relevance, when ``target`` is 2-D.

    Raises
    ------
    ValueError
        For unknown labels, a wrong number of labels, a wrongly shaped or
        non-finite output relevance.
    """
    if target is None:
        return None, None
    arr = to_host(target) if hasattr(target, "__cuda_array_interface__") else np.asarray(target)
    n_classes = len(classes)
    if arr.ndim == 2:
        if arr.shape != (n, n_classes):
            raise ValueError(
                f"An output relevance given as target must have shape (n_samples, n_classes) = "
                f"{(n, n_classes)}; got {arr.shape}."
            )
        arr = np.asarray(arr, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("The output relevance given as target contains NaN or infinity.")
        return None, arr
    if arr.ndim == 0:
        labels = [arr.item()] * n
    elif arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(
                f"target must be None, one class label, one label per sample ({n}) or an array of "
                f"shape (n_samples, n_classes) = {(n, n_classes)}; got {arr.shape[0]} labels."
            )
        labels = arr.tolist()
    else:
        raise ValueError(f"target must have at most 2 dimensions; got shape {arr.shape}.")
    lookup = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    idx = np.empty(n, dtype=np.intp)
    bad = []
    for k, label in enumerate(labels):
        try:
            idx[k] = lookup[label]
        except (KeyError, TypeError):
            if len(bad) < 5 and label not in bad:
                bad.append(label)
    if bad:
        raise ValueError(
            f"Unknown target label(s) {bad}; not in classes_ {np.asarray(classes).tolist()}. target must be None, "
            "one of classes_, one such label per sample, or an output-relevance array of shape "
            "(n_samples, n_classes)."
        )
    return idx, None


class ExplainMixin:
    """Mixin implementing the ``explain`` contract of sklrp's estimators.

    ``explain(X, target=None, method=None)`` validates ``X``, resolves
    ``target`` with :func:`resolve_target`, runs the estimator's
    explanation on chunks of ``_chunk_size`` samples on the compute device
    and returns the relevance shaped like ``X``, in ``X``'s array type:
    NumPy in, NumPy out; CuPy in, CuPy out (also when the ``device``
    parameter moved the work to the other device); sparse in, sparse out in
    ``X``'s format, with ``X``'s sparsity pattern (explicit zeros of ``X``
    dropped).

    An estimator using the mixin has ``classes_`` after fitting and a
    ``method`` parameter (the default explanation method), and implements

    - ``_explain_methods``: tuple of the accepted method names;
    - ``_explain_batch(X, target_index, target_relevance, *, method,
      context)``: the relevance of one chunk of samples ``X`` (on the
      compute device; CSR for sparse input), shaped like ``X`` (the same
      sparsity pattern for CSR), where ``target_index`` holds the class
      index per sample (None: the predicted class) and
      ``target_relevance`` an explicit output relevance of shape
      ``(n_chunk, n_classes)`` (host float64) or None.

    It may override ``_validate_input(X)`` (default:
    :func:`sklrp._validation.validate_array`, after ``check_is_fitted``),
    ``_compute_device(X)`` (default: the ``device`` parameter when the
    estimator has one, else the device of ``X``) and
    ``_explain_context(method)`` (settings shared by all chunks of one call,
    passed to ``_explain_batch`` as ``context``).
    """

    #: explanation methods accepted by ``explain``
    _explain_methods = ("lrp",)

    #: samples per chunk in ``explain`` (bounds the memory of one pass)
    _chunk_size = 4096

    @dask_blocks
    def explain(self, X, target=None, method=None):
        """Relevance of every input feature for the target class score.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Samples.
        target : None, label, array-like of labels, or array of shape (n_samples, n_classes), default=None
            ``None`` explains the predicted class; a label of ``classes_``
            explains that class for all samples; one label per sample
            explains each sample's own; a 2-D array is an explicit output
            relevance.
        method : str, default=None
            Explanation method; ``None`` uses the ``method`` parameter.

        Returns
        -------
        R : array or sparse matrix of shape (n_samples, n_features)
            In X's array type.
        """
        check_is_fitted(self)
        method = self.method if method is None else method
        if method not in self._explain_methods:
            raise ValueError(
                f"Unknown explanation method {method!r}; expected one of {list(self._explain_methods)}."
            )
        fmt = X.format if sp.issparse(X) else None  # validation may convert it (e.g. COO to CSR)
        X = self._validate_input(X)
        target_index, target_relevance = resolve_target(self.classes_, target, X.shape[0])
        context = self._explain_context(method)
        R = self._map_chunks(X, self._explain_batch, target_index, target_relevance, method=method, context=context)
        return R.asformat(fmt) if fmt is not None and sp.issparse(R) else R

    # ------------------------------------------------------------------ hooks
    def _validate_input(self, X):
        """``X`` validated for a fitted estimator (NumPy, SciPy or CuPy)."""
        check_is_fitted(self)
        return validate_array(self, X, reset=False)

    def _compute_device(self, X):
        """The device the work on ``X`` runs on ("cpu" or "cuda")."""
        return resolve_device(getattr(self, "device", None), X)

    def _explain_context(self, method):
        """Settings shared by the chunks of one ``explain`` call."""
        return None

    # ---------------------------------------------------------------- chunks
    def _chunk_step(self, X):
        """Rows per chunk of ``X``: ``_chunk_size`` (a hook)."""
        return self._chunk_size

    def _chunk_bounds(self, X):
        """``(start, stop)`` of the chunks of rows of ``X``: :meth:`_chunk_step` rows each."""
        step = self._chunk_step(X)
        return [(s, min(s + step, X.shape[0])) for s in range(0, X.shape[0], step)]

    def _map_chunks(self, X, func, *per_sample, **kwargs):
        """Apply ``func`` to chunks of samples of a validated ``X``.

        Parameters
        ----------
        X : array or sparse matrix of shape (n_samples, ...)
            Validated input.
        func : callable
            ``func(X_chunk, *per_sample_chunks, **kwargs)`` returns an array
            (or, for sparse ``X``, a CSR matrix) with one row per sample.
        *per_sample : host arrays of length n_samples, or None
            Sliced alongside ``X`` (None passes None).
        **kwargs : dict
            Passed to every call of ``func``.

        Returns
        -------
        out : array or sparse matrix
            The concatenated results, in ``X``'s array type (sparse: ``X``'s
            format).
        """
        sparse = sp.issparse(X)
        if sparse:
            fmt = X.format
            X = X.tocsr(copy=True)
            X.eliminate_zeros()
            X.sort_indices()
        else:
            in_gpu = is_gpu_array(X)
            X = to_device(X, self._compute_device(X))
        net = getattr(self, "net_", None)
        passes = net.threaded_passes(X) if hasattr(net, "threaded_passes") else contextlib.nullcontext()
        with workspace(), passes:  # the chunks' passes reuse their large temporaries
            outs = [
                func(X[s:e], *(None if a is None else a[s:e] for a in per_sample), **kwargs)
                for s, e in self._chunk_bounds(X)
            ]
        if sparse:
            out = outs[0] if len(outs) == 1 else sp.vstack(outs, format="csr")
            return out.asformat(fmt)
        out = outs[0] if len(outs) == 1 else get_namespace(*outs).concatenate(outs, axis=0)
        return to_device(out, "cuda") if in_gpu else to_host(out)

"""The module-level :func:`sklrp.explain` helper."""

import numpy as np
from sklearn.pipeline import Pipeline

__all__ = ["explain", "final_estimator", "transform_to_final", "resolve_target"]


def final_estimator(estimator):
    """Return the last step of a Pipeline, or the estimator itself."""
    if isinstance(estimator, Pipeline):
        return estimator.steps[-1][1]
    return estimator


def transform_to_final(estimator, X):
    """Transform ``X`` through every Pipeline step but the last.

    Returns ``X`` unchanged for a plain estimator.
    """
    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            return estimator[:-1].transform(X)
    return X


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
    target : None, label, array of labels or array of output relevances
        ``None`` explains the predicted class; see the estimator's
        ``explain``.
    **kwargs
        Passed to the estimator's ``explain`` (e.g. ``method="sensitivity"``).

    Returns
    -------
    R : array shaped like the last step's input, in its array type
    """
    final = final_estimator(estimator)
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
        See the estimators' ``explain``.
    n : int
        Number of samples.

    Returns
    -------
    idx : ndarray of shape (n,) of int, or None
        Class index per sample; None for "the predicted class" and for an
        explicit output relevance.
    relevance : ndarray of shape (n, n_classes), float64, or None
        The explicit output relevance, when ``target`` is 2-D.
    """
    from .._backend import to_host

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

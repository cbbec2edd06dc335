"""The module-level :func:`sklrp.explain` helper."""

from sklearn.pipeline import Pipeline

__all__ = ["explain", "final_estimator", "transform_to_final"]


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

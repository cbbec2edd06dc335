"""Scorers from explanation metrics, for GridSearchCV and cross_validate."""

import numpy as np

from ._text import explanatory_power_score, word_deletion_curve

__all__ = ["make_explanation_scorer"]

_ALIASES = {
    "explanatory_power": "explanatory_power",
    "epi": "explanatory_power",
    "word_deletion": "word_deletion",
    "word_deletion_auc": "word_deletion",
}


class _ExplanationScorer:
    """Callable ``(estimator, X, y) -> float``; greater is better."""

    def __init__(self, name, kwargs):
        self.name = name
        self.kwargs = kwargs

    def __call__(self, estimator, X, y, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(f"The {self.name} scorer does not support sample_weight.")
        if self.name == "explanatory_power":
            return explanatory_power_score(estimator, X, y, **self.kwargs)
        curve = word_deletion_curve(estimator, X, y, **self.kwargs)
        acc = curve.accuracy
        if curve.n_documents == 0 or acc.size < 2:
            return float("nan")
        gain = acc[1:] - acc[0]
        return float(np.mean(gain if curve.subset == "misclassified" else -gain))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"make_explanation_scorer({self.name!r}{', ' if args else ''}{args})"


def make_explanation_scorer(name, **kwargs):
    """Make a scorer that rates a fitted model by the quality of its explanations.

    Parameters
    ----------
    name : {"explanatory_power", "word_deletion"}
        - ``"explanatory_power"`` (alias ``"epi"``): the score of
          :func:`sklrp.metrics.explanatory_power_score` on the validation
          documents; ``embeddings=`` is required.
        - ``"word_deletion"`` (alias ``"word_deletion_auc"``): the area
          between the accuracy before deletion and the curve of
          :func:`sklrp.metrics.word_deletion_curve`, averaged over 1..n_words
          deletions: ``mean_k (acc_0 - acc_k)`` for ``subset="correct"``
          (default; the more accuracy falls, the better the explanation) and
          ``mean_k (acc_k - acc_0)`` for ``subset="misclassified"``. It is
          the area *over* the deletion curve, so that greater is better
          as scikit-learn's model selection expects; NaN when the subset is
          empty.
    **kwargs
        Keyword arguments of the metric function (e.g. ``embeddings``,
        ``weighting``, ``n_splits``, ``method``, ``n_words``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``, usable in ``scoring=`` of
        ``GridSearchCV`` (alone or in a dict with other metrics). The
        estimator may be a bag-of-words Pipeline or a sequence Pipeline
        (``TokenSequenceVectorizer`` and a classifier on token ids, such as
        a word CNN); both metrics accept either kind.

    Examples
    --------
    >>> from sklrp.metrics import make_explanation_scorer
    >>> scorer = make_explanation_scorer("word_deletion", n_words=5)
    >>> scorer
    make_explanation_scorer('word_deletion', n_words=5)
    """
    if name not in _ALIASES:
        raise ValueError(
            f"Unknown explanation scorer {name!r}; choose one of {sorted(_ALIASES)}."
        )
    name = _ALIASES[name]
    if name == "explanatory_power" and kwargs.get("embeddings") is None:
        raise ValueError("make_explanation_scorer('explanatory_power') needs embeddings=.")
    allowed = (explanatory_power_score if name == "explanatory_power" else word_deletion_curve)
    params = allowed.__code__.co_varnames[: allowed.__code__.co_argcount + allowed.__code__.co_kwonlyargcount]
    bad = sorted(set(kwargs) - set(params) - {"estimator", "X", "y"})
    if bad or "return_details" in kwargs:
        raise ValueError(f"Unexpected argument(s) {bad or ['return_details']} for the {name} scorer.")
    return _ExplanationScorer(name, dict(kwargs))

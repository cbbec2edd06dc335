"""Scorers from explanation metrics, for GridSearchCV and cross_validate."""

import inspect

import numpy as np

from ..base import explain
from ._perturbation import perturbation_curve
from ._text import explanatory_power_score, word_deletion_curve

__all__ = ["make_explanation_scorer"]

_ALIASES = {
    "explanatory_power": "explanatory_power",
    "epi": "explanatory_power",
    "word_deletion": "word_deletion",
    "word_deletion_auc": "word_deletion",
    "aopc": "aopc",
    "pixel_flipping": "aopc",
}

#: keywords of the AOPC scorer that go to explain; the others go to perturbation_curve
_EXPLAIN_KWARGS = ("method",)


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
        if self.name == "aopc":
            explain_kw = {k: v for k, v in self.kwargs.items() if k in _EXPLAIN_KWARGS}
            curve_kw = {k: v for k, v in self.kwargs.items() if k not in _EXPLAIN_KWARGS}
            curve_kw.setdefault("random_state", 0)  # every candidate is scored on the same replacement values
            R = explain(estimator, X, **explain_kw)  # the predicted class, as perturbation_curve tracks by default
            return perturbation_curve(estimator, X, R, **curve_kw).aopc
        kwargs = dict(self.kwargs)
        kwargs.setdefault("random_state", 0)  # method="random": every candidate is scored on the same orders
        curve = word_deletion_curve(estimator, X, y, **kwargs)
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
    name : {"explanatory_power", "word_deletion", "aopc"}
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
          empty.  ``random_state`` defaults to 0, so that with
          ``method="random"`` every candidate is scored on the same random
          orders.
        - ``"aopc"`` (alias ``"pixel_flipping"``): the area over the MoRF
          perturbation curve (:func:`sklrp.metrics.aopc_score`) of the
          estimator's own explanation (``sklrp.explain(estimator, X)``, with
          the estimator's composite and parameters, for its predicted
          class) on the validation samples; greater is better.  ``method=``
          goes to ``explain``, every other keyword to
          :func:`sklrp.metrics.perturbation_curve` (``patch_size``,
          ``n_steps``, ``replacement``, ``score``...); ``random_state``
          defaults to 0, so that every candidate of a search is perturbed
          with the same replacement values.  ``y`` is not used.
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
    allowed = {"explanatory_power": explanatory_power_score, "word_deletion": word_deletion_curve,
               "aopc": perturbation_curve}[name]
    params = set(inspect.signature(allowed).parameters) - {"estimator", "X", "y", "R"}
    if name == "aopc":
        # the explained and the tracked class are both the predicted one: no target to choose
        params = (params - {"target"}) | set(_EXPLAIN_KWARGS)
    bad = sorted(set(kwargs) - params)
    if bad or "return_details" in kwargs:
        raise ValueError(f"Unexpected argument(s) {bad or ['return_details']} for the {name} scorer.")
    return _ExplanationScorer(name, dict(kwargs))

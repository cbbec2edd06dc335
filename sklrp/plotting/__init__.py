"""Plots of explanations: relevance heatmaps, perturbation curves, document vectors.

The Display objects follow scikit-learn's visualisation API
(``from_estimator`` / ``from_relevance`` / ``from_curves`` / ``from_vectors``
create and plot, ``plot(ax=None)`` redraws).  matplotlib is imported only
when a plot is drawn.
"""

from ._documents import DocumentVectorsDisplay
from ._heatmap import RelevanceHeatmapDisplay
from ._perturbation import PerturbationCurveDisplay

__all__ = ["RelevanceHeatmapDisplay", "PerturbationCurveDisplay", "DocumentVectorsDisplay"]

"""Evaluation of explanations: perturbation curves, AOPC and text metrics."""

from ._perturbation import aopc_score, perturbation_curve
from ._scorer import make_explanation_scorer
from ._text import explanatory_power_score, word_deletion_curve

__all__ = [
    "perturbation_curve",
    "aopc_score",
    "explanatory_power_score",
    "word_deletion_curve",
    "make_explanation_scorer",
]

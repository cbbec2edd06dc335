"""scikit-learn estimators that explain their predictions."""

from ._explain import explain
from ._linear import LinearRelevanceClassifier

__all__ = ["explain", "LinearRelevanceClassifier"]

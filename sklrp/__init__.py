"""sklrp: Layer-wise Relevance Propagation for scikit-learn estimators."""

from .estimators import explain
from .estimators import LinearRelevanceClassifier

__version__ = "0.1.0.dev0"

__all__ = ["explain", "__version__", "LinearRelevanceClassifier"]

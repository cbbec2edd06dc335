"""sklrp: Layer-wise Relevance Propagation for scikit-learn estimators."""

from .estimators import (
    ConvNetClassifier,
    DenseNetClassifier,
    LinearRelevanceClassifier,
    explain,
    load_lrp_toolbox_model,
    load_model,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "explain",
    "DenseNetClassifier",
    "ConvNetClassifier",
    "LinearRelevanceClassifier",
    "load_model",
    "load_lrp_toolbox_model",
    "__version__",
]

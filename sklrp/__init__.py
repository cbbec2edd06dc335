"""sklrp: Layer-wise Relevance Propagation for scikit-learn estimators."""

__version__ = "0.1.0.dev0"

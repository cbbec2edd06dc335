"""sklrp: Layer-wise Relevance Propagation for scikit-learn estimators."""

from .estimators import (
    BiLSTMClassifier,
    ConvNetClassifier,
    DenseNetClassifier,
    EEGDNNClassifier,
    LinearRelevanceClassifier,
    TextCNNClassifier,
    explain,
    load_lrp_for_lstm,
    load_lrp_toolbox_model,
    load_model,
)

__version__ = "0.1.0.dev0"

# Subpackages load on first access (``sklrp.metrics``, ``sklrp.text``, ...), so
# that ``import sklrp`` stays light and optional dependencies stay optional.
_SUBMODULES = (
    "base",
    "datasets",
    "eeg",
    "estimators",
    "exceptions",
    "experiments",
    "feature_extraction",
    "metrics",
    "neighbors",
    "nn",
    "plotting",
    "rules",
    "text",
)


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))

__all__ = [
    "explain",
    "DenseNetClassifier",
    "ConvNetClassifier",
    "TextCNNClassifier",
    "BiLSTMClassifier",
    "EEGDNNClassifier",
    "LinearRelevanceClassifier",
    "load_model",
    "load_lrp_toolbox_model",
    "load_lrp_for_lstm",
    "__version__",
]

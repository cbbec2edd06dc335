"""scikit-learn estimators that explain their predictions."""

from ._explain import explain

__all__ = ["explain"]

"""scikit-learn estimators that explain their predictions."""

from ..base import explain
from ._eeg import EEGDNNClassifier
from ._io import load_model, save_model
from ._linear import LinearRelevanceClassifier
from ._lstm import BiLSTMClassifier, load_lrp_for_lstm
from ._nets import BaseNetClassifier, ConvNetClassifier, DenseNetClassifier
from ._text_cnn import TextCNNClassifier
from ._toolbox import load_lrp_toolbox_model

__all__ = [
    "explain",
    "LinearRelevanceClassifier",
    "BaseNetClassifier",
    "DenseNetClassifier",
    "ConvNetClassifier",
    "TextCNNClassifier",
    "BiLSTMClassifier",
    "EEGDNNClassifier",
    "save_model",
    "load_model",
    "load_lrp_toolbox_model",
    "load_lrp_for_lstm",
]

"""Layers with forward, gradient and relevance passes, and a Sequential stack."""

from ._base import LAYER_TYPES, Activation, Layer, LinearLayer, LinearOp
from ._embedding import Embedding
from ._layers import (
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalMaxPool1D,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Reshape,
    SumPool1D,
    SumPool2D,
    Tanh,
    Square,
    Log,
)
from ._optim import OPTIMIZERS, SGD, Adam, softmax, softmax_cross_entropy
from ._parallel import Parallel
from ._recurrent import GRU, LSTM
from ._sequence import TimeDistributed, layer_from_spec, layer_spec
from ._sequential import BACKWARD_METHODS, METHODS, Sequential

__all__ = [
    "Layer",
    "LinearLayer",
    "LinearOp",
    "Activation",
    "Dense",
    "Conv1D",
    "Conv2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "SumPool1D",
    "SumPool2D",
    "GlobalMaxPool1D",
    "Flatten",
    "Reshape",
    "ReLU",
    "Tanh",
    "Square",
    "Log",
    "Dropout",
    "Embedding",
    "LSTM",
    "GRU",
    "TimeDistributed",
    "layer_spec",
    "layer_from_spec",
    "Parallel",
    "LAYER_TYPES",
    "Sequential",
    "METHODS",
    "BACKWARD_METHODS",
    "SGD",
    "Adam",
    "OPTIMIZERS",
    "softmax",
    "softmax_cross_entropy",
]

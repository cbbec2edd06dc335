"""Architecture builders of sklrp's network families.

A builder turns a model family's constructor parameters into a list of
unbuilt :mod:`sklrp.nn` layers; the estimator builds them for its input
shape and appends the output layer unless the built stack already ends in
one output per class.
"""

import copy
import numbers

from ..nn import (
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalMaxPool1D,
    Layer,
    MaxPool1D,
    MaxPool2D,
    Parallel,
    ReLU,
    SumPool1D,
    SumPool2D,
    Tanh,
)

__all__ = ["ACTIVATIONS", "POOLS", "dense_stack", "conv_stack", "text_cnn_stack", "copy_layers"]

#: activation layers by name
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}

#: pooling layers by name, for 1-D and 2-D inputs
POOLS = {"max": (MaxPool1D, MaxPool2D), "avg": (AvgPool1D, AvgPool2D), "sum": (SumPool1D, SumPool2D)}


def _positive_ints(name, values):
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in values):
        raise ValueError(f"{name} must hold positive integers; got {values!r}.")
    return [int(v) for v in values]


def dense_stack(hidden_layer_sizes, activation="relu", dropout=0.0):
    """Hidden layers of a multi-layer perceptron.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int
        Units of the hidden dense layers.
    activation : {"relu", "tanh"}, default="relu"
        Activation after each dense layer.
    dropout : float, default=0.0
        Dropout rate after each activation (no layer when 0).

    Returns
    -------
    layers : list of sklrp.nn.Layer
        ``[Dense, activation, (Dropout)] * len(hidden_layer_sizes)``.
    """
    layers = []
    for units in _positive_ints("hidden_layer_sizes", hidden_layer_sizes):
        layers += [Dense(units), ACTIVATIONS[activation]()]
        if dropout:
            layers.append(Dropout(dropout))
    return layers


def conv_stack(
    input_shape,
    filters,
    kernel_size=3,
    padding="same",
    pool="max",
    pool_size=2,
    hidden_layer_sizes=(),
    activation="relu",
    dropout=0.0,
):
    """Convolution blocks, a flatten and dense hidden layers.

    ``[conv -> activation -> pool -> (dropout)] * len(filters) -> flatten
    -> dense_stack(hidden_layer_sizes)``; a pooling layer is added only
    while the feature map is at least ``pool_size`` long on every axis.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, L)`` or ``(C, H, W)``.
    filters : sequence of int
        Output channels of the convolution blocks.
    kernel_size : int or tuple of int, default=3
        Kernel size of the convolutions.
    padding : {"same", "valid"}, default="same"
        Padding of the convolutions.
    pool : {"max", "avg", "sum"}, default="max"
        Pooling after each convolution.
    pool_size : int, default=2
        Pooling window and stride.
    hidden_layer_sizes : sequence of int, default=()
        Dense layers after the convolutions.
    activation : {"relu", "tanh"}, default="relu"
        Activation after every convolution and dense layer.
    dropout : float, default=0.0
        Dropout rate after each block (no layer when 0).

    Returns
    -------
    layers : list of sklrp.nn.Layer
        The unbuilt layers, in order.
    """
    nd = len(input_shape) - 1
    conv, pool_cls = (Conv1D, Conv2D)[nd - 1], POOLS[pool][nd - 1]
    spatial = list(input_shape[1:])
    kernel = [kernel_size] * nd if isinstance(kernel_size, numbers.Integral) else list(kernel_size)
    layers = []
    for f in _positive_ints("filters", filters):
        layers += [conv(f, kernel_size, padding=padding), ACTIVATIONS[activation]()]
        if padding == "valid":
            spatial = [s - k + 1 for s, k in zip(spatial, kernel)]
        if pool_size > 1 and all(s >= pool_size for s in spatial):
            layers.append(pool_cls(pool_size))
            spatial = [s // pool_size for s in spatial]
        if dropout:
            layers.append(Dropout(dropout))
    return layers + [Flatten()] + dense_stack(hidden_layer_sizes, activation, dropout)


def text_cnn_stack(
    vocab_size,
    embedding_dim,
    filter_sizes=(2,),
    n_filters=800,
    *,
    embeddings=None,
    trainable_embeddings=False,
    dropout=0.0,
    n_outputs=None,
    use_bias=True,
):
    """The word CNN of Arras et al. (2016, 2017).

    ``Embedding -> Conv1D(n_filters, H) -> ReLU -> GlobalMaxPool1D`` for one
    filter size ``H``; for several, one such branch per size in a
    :class:`~sklrp.nn.Parallel` layer (the pooled features concatenated);
    then ``(Dropout) -> (Dense(n_outputs))``.  The embedding is channels
    first (the convolution reads its output without a copy), keeps id 0 as
    padding (zero vector, zero relevance) and returns relevance per
    embedding dimension (sum over the last axis for words).

    Parameters
    ----------
    vocab_size : int
        Number of token ids, padding (id 0) included.
    embedding_dim : int
        Length of the word vectors.
    filter_sizes : sequence of int, default=(2,)
        Window lengths ``H`` (in tokens) of the convolutions, one branch
        each.
    n_filters : int, default=800
        Filters ``F`` per window length.
    embeddings : array of shape (vocab_size, embedding_dim), default=None
        Initial vectors (row 0 is zeroed: padding); ``None`` draws them
        from N(0, 1/embedding_dim) when the stack is built.
    trainable_embeddings : bool, default=False
        Whether training updates the vectors.
    dropout : float, default=0.0
        Dropout rate on the pooled features (no layer when 0).
    n_outputs : int, default=None
        Append ``Dense(n_outputs)`` (the class scores); ``None`` ends at the
        pooled features.
    use_bias : bool, default=True
        Biases in the convolutions and the output layer (``False`` gives a
        bias-free network that conserves relevance exactly under LRP-0).

    Returns
    -------
    layers : list of sklrp.nn.Layer
        The unbuilt layers, in order.
    """
    sizes = _positive_ints("filter_sizes", filter_sizes)
    if not sizes:
        raise ValueError("filter_sizes must hold at least one window length; got an empty sequence.")
    (n_filters,) = _positive_ints("n_filters", [n_filters])
    options = dict(padding_idx=0, trainable=trainable_embeddings, relevance="dimension", channels_first=True)
    if embeddings is None:
        embedding = Embedding(vocab_size, embedding_dim, **options)
    else:
        embedding = Embedding.from_pretrained(embeddings, **options)
    branches = [[Conv1D(n_filters, h, use_bias=use_bias), ReLU(), GlobalMaxPool1D()] for h in sizes]
    layers = [embedding] + (branches[0] if len(branches) == 1 else [Parallel(branches)])
    if dropout:
        layers.append(Dropout(dropout))
    if n_outputs is not None:
        layers.append(Dense(n_outputs, use_bias=use_bias))
    return layers


def copy_layers(layers):
    """Copy user-given layer templates (validated as sklrp layers).

    Parameters
    ----------
    layers : list of sklrp.nn.Layer
        Templates.

    Returns
    -------
    layers : list of sklrp.nn.Layer
        Deep copies, so that fitting never alters the templates.
    """
    if not all(isinstance(layer, Layer) for layer in layers):
        raise ValueError("layers must be a list of sklrp.nn.Layer instances.")
    return [copy.deepcopy(layer) for layer in layers]

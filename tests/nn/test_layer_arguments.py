"""Layer sizes, kernels, strides and paddings are checked when the layer is made, with the argument named; they
crashed deep inside fit (a division by zero, NumPy reshape or pad errors), or, for Dense(0), trained a model
that save wrote and load_model refused."""

import numpy as np
import pytest

from sklrp.nn import GRU, LSTM, AvgPool1D, AvgPool2D, Conv1D, Conv2D, Dense, Embedding, MaxPool2D, SumPool2D


@pytest.mark.parametrize("make, message", [
    (lambda: Dense(0), r"^units must be a positive int; got 0\.$"),
    (lambda: Dense(-2), r"^units must be a positive int; got -2\.$"),
    (lambda: Dense(2.5), r"^units must be a positive int; got 2\.5\.$"),
    (lambda: Dense(True), r"^units must be a positive int; got True\.$"),
    (lambda: Conv2D(0, 2), r"^filters must be a positive int; got 0\.$"),
    (lambda: Conv2D(2, 0), r"^kernel_size must be a positive int; got 0\.$"),
    (lambda: Conv2D(2, (3, 0)), r"^kernel_size must be a positive int; got 0\.$"),
    (lambda: Conv2D(2, (3, 3, 3)), r"^kernel_size must be an int or a tuple of 2 ints; got \(3, 3, 3\)\.$"),
    (lambda: Conv2D(2, "3"), r"^kernel_size must be an int or a tuple of 2 ints; got '3'\.$"),
    (lambda: Conv2D(2, 2, stride=0), r"^stride must be a positive int; got 0\.$"),
    (lambda: Conv2D(2, 2, padding=-1), r"^padding must be an int of at least 0; got -1\.$"),
    (lambda: Conv1D(2, 3, padding=(1, 1)), r"^padding must be an int or a tuple of 1 ints; got \(1, 1\)\.$"),
    (lambda: MaxPool2D(2, stride=0), r"^stride must be a positive int; got 0\.$"),
    (lambda: AvgPool2D(0), r"^pool_size must be a positive int; got 0\.$"),
    (lambda: AvgPool1D(None), r"^pool_size must be an int or a tuple of 1 ints; got None\.$"),
    (lambda: SumPool2D((2, -1)), r"^pool_size must be a positive int; got -1\.$"),
    (lambda: LSTM(0), r"^units must be a positive int; got 0\.$"),
    (lambda: GRU(-1), r"^units must be a positive int; got -1\.$"),
    (lambda: Embedding(0, 4), r"^vocab_size must be a positive int; got 0\.$"),
])
def test_bad_layer_arguments_are_refused_when_the_layer_is_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_valid_arguments_keep_their_values():
    conv = Conv2D(np.int64(3), (2, np.int32(3)), stride=(1, 2), padding=0)
    assert (conv.filters, conv.kernel_size, conv.stride, conv.padding) == (3, (2, 3), (1, 2), (0, 0))
    assert type(conv.filters) is int and all(type(k) is int for k in conv.kernel_size)
    assert Dense(np.uint8(4)).units == 4 and MaxPool2D(2).stride == (2, 2)
    assert Conv1D(2, 3, padding="same").padding == "same"

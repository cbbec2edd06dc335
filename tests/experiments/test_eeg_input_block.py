"""input_block_w2: the w^2 rule on the linear layers before the first non-linearity, epsilon elsewhere."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklrp import EEGDNNClassifier
from sklrp.experiments._eeg import input_block_w2
from sklrp.rules import Epsilon, WSquare

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 4, 30))
    y = np.repeat([0, 1], 10)
    X[y == 1, 1] *= 3
    return X, y


@pytest.mark.parametrize("architecture, block", [("shallow", ["conv2d_0", "conv2d_1"]), ("dnn", ["dense_0"])])
def test_the_block_is_the_linear_layers_before_the_first_nonlinearity(architecture, block):
    X, y = data()
    net = EEGDNNClassifier(architecture, hidden_layer_sizes=(8,), temporal_kernel=3, pool_size=10, pool_stride=10,
                           max_iter=2, random_state=0).fit(X, y)
    comp = input_block_w2(net)
    assert sorted(comp.layer_rules) == block
    assert all(isinstance(r, WSquare) for r in comp.layer_rules.values())
    assert isinstance(comp.rules["default"], Epsilon)


def test_channel_relevance_follows_the_squared_spatial_filter_weights():
    # one spatial filter, square -> mean over the whole trial -> log -> dense: the w^2 rule gives channel c
    # the share a_c^2 / sum(a^2) of the filter's relevance, whatever the trial
    X, y = data()
    net = EEGDNNClassifier(activation="square", n_temporal_filters=1, temporal_kernel=1, n_spatial_filters=1,
                           pool_size=30, pool_stride=30, dropout=0.0, max_iter=5, random_state=0).fit(X, y)
    net.set_params(composite=input_block_w2(net))
    R = net.explain(X[:4])
    a = net.net_.layers[2].params["weight"].reshape(-1)
    per_channel = R.sum(axis=2)
    assert_allclose(per_channel / per_channel.sum(axis=1, keepdims=True),
                    np.tile(a ** 2 / (a ** 2).sum(), (4, 1)), rtol=1e-4)

"""Parallel branches: gradients, relevance as the sum of the branches', first/last
rules inside branches, parameters as one mapping, save/load."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from test_layers_gradient import ATOL, RTOL, check_layer_gradient, numeric_grad

from sklrp.nn import (
    Adam,
    Conv1D,
    Dense,
    Embedding,
    Flatten,
    GlobalMaxPool1D,
    Parallel,
    ReLU,
    Sequential,
    Tanh,
)
from sklrp.rules import Composite, Epsilon, Flat, ZPlus, Zero


def branches(sizes=(1, 2, 3), filters=3, use_bias=True):
    return [[Conv1D(filters, h, use_bias=use_bias), ReLU(), GlobalMaxPool1D()] for h in sizes]


def built(layer, shape, seed=0):
    rng = np.random.RandomState(seed)
    layer.build(shape, rng, np.float64)
    for key in list(layer.params):
        if key.endswith("bias"):
            layer.params[key] = rng.normal(size=layer.params[key].shape) * 0.3
    return layer


def test_forward_concatenates_the_branches():
    layer = built(Parallel(branches()), (4, 9))
    x = np.random.RandomState(1).normal(size=(2, 4, 9))
    out, _ = layer.forward(x)
    assert out.shape == (2, 9) and layer.output_shape == (9,)
    for b, branch in enumerate(layer.branches):
        assert_allclose(out[:, 3 * b : 3 * b + 3], branch.predict(x))


def test_input_and_parameter_gradients_match_finite_differences():
    layer = built(Parallel([[Conv1D(2, 2), Tanh(), Flatten()], [Conv1D(3, 3, padding="same"), Tanh(), Flatten()]]),
                  (2, 5))
    x = np.random.RandomState(2).normal(size=(2, 2, 5))
    check_layer_gradient(layer, x)


def test_parameters_are_one_mapping_over_the_branches():
    layer = built(Parallel(branches((1, 2), use_bias=False)), (2, 6))
    assert sorted(layer.params) == ["0.0.weight", "1.0.weight"]
    assert layer.params["1.0.weight"] is layer.branches[1].layers[0].params["weight"]
    new = np.zeros_like(layer.params["0.0.weight"])
    layer.params["0.0.weight"] = new
    assert layer.branches[0].layers[0].params["weight"] is new
    with pytest.raises(KeyError):
        layer.params["0.5.weight"]
    with pytest.raises(KeyError):
        layer.params["0.0.bias"] = new


def test_optimizer_updates_the_branches_in_place():
    net = Sequential([Parallel(branches((1, 2))), Dense(2)])
    net.build((3, 6), np.random.RandomState(0), np.float64)
    x = np.random.RandomState(1).normal(size=(4, 3, 6))
    before = {k: v.copy() for k, v in net.layers[0].params.items()}
    out, caches = net.forward(x, training=True)
    _, grads = net.backward(np.ones_like(out), caches, need_input_grad=False)
    assert set(grads[0]) == set(before)
    Adam(0.1).step(net.layers, grads)
    for k, v in net.layers[0].params.items():
        assert not np.allclose(v, before[k]), k


def test_relevance_is_the_sum_of_the_branches_relevances():
    layer = built(Parallel(branches()), (4, 9))
    x = np.random.RandomState(3).normal(size=(3, 4, 9))
    out, cache = layer.forward(x)
    R = np.random.RandomState(4).normal(size=out.shape)
    comp = Composite({"conv": Epsilon(0.01)})
    got = Sequential([layer]).relevance(R, [cache], comp)
    want = sum(branch.relevance(R[:, 3 * b : 3 * b + 3], branch.forward(x)[1], comp)
               for b, branch in enumerate(layer.branches))
    assert_allclose(got, want, rtol=1e-12)


def test_word_cnn_with_three_filter_sizes_conserves_relevance():
    net = Sequential([
        Embedding(20, 5, channels_first=True),
        Parallel(branches((1, 2, 3), filters=4, use_bias=False)),
        Dense(3, use_bias=False),
    ])
    net.build((8,), np.random.RandomState(0), np.float64)
    ids = np.random.RandomState(1).randint(1, 20, size=(4, 8))
    ids[0, 5:] = 0
    out, caches = net.forward(ids)
    for target in range(3):
        R = net.relevance(out * (np.arange(3) == target), caches, Composite({"default": Zero()}))
        assert R.shape == (4, 8)
        assert_allclose(R.sum(axis=1), out[:, target], rtol=1e-10)
        assert not R[0, 5:].any()


def test_first_and_last_reach_inside_the_branches():
    net = Sequential([Parallel(branches((1, 2))), Dense(2)])
    net.build((3, 6), np.random.RandomState(0), np.float64)
    x = np.abs(np.random.RandomState(1).normal(size=(2, 3, 6)))
    out, caches = net.forward(x)
    R = out * (np.arange(2) == 0)
    got = net.relevance(R, caches, Composite({"default": Epsilon(0.1)}, first=Flat()))
    # by hand: epsilon on the dense layer, flat on every branch's convolution
    R_mid = Epsilon(0.1)(net.layers[1].linear_op(caches[1]), R)
    want = sum(branch.relevance(R_mid[:, 3 * b : 3 * b + 3], branch.forward(x)[1], Composite({"default": Flat()}))
               for b, branch in enumerate(net.layers[0].branches))
    assert_allclose(got, want, rtol=1e-12)
    # inner layers are named after the outer one, so layer_rules reach them
    by_name = net.relevance(R, caches, Composite({"default": Epsilon(0.1)},
                                                  layer_rules={"parallel_0.1.conv1d_0": ZPlus()}))
    manual = Epsilon(0.1)(net.layers[0].branches[0].layers[0].linear_op(caches[0]["caches"][0][0]),
                          net.layers[0].branches[0].layers[2].relevance(
                              R_mid[:, :3], caches[0]["caches"][0][2]))
    manual = manual + ZPlus()(net.layers[0].branches[1].layers[0].linear_op(caches[0]["caches"][1][0]),
                              net.layers[0].branches[1].layers[2].relevance(
                                  R_mid[:, 3:], caches[0]["caches"][1][2]))
    assert_allclose(by_name, manual, rtol=1e-12)


def test_gradient_of_a_network_with_parallel_branches():
    net = Sequential([Parallel([[Dense(3), Tanh()], [Dense(2)]]), Dense(2)])
    net.build((4,), np.random.RandomState(0), np.float64)
    x = np.random.RandomState(1).normal(size=(3, 4))
    seed = np.array([[1.0, -0.5]] * 3)
    g = net.explain(x, seed, method="gradient")

    def f():
        return float((net.predict(x) * seed).sum())

    assert_allclose(g, numeric_grad(f, x), rtol=RTOL, atol=ATOL)


def test_save_load_round_trip_and_device_copy():
    net = Sequential([Parallel(branches((2, 3))), Dense(2)])
    net.build((3, 7), np.random.RandomState(0), np.float64)
    config, arrays = net.get_config(), net.get_arrays()
    assert "0.1.0.weight" in arrays
    back = Sequential.from_config(config, arrays, (3, 7))
    x = np.random.RandomState(1).normal(size=(2, 3, 7))
    assert_allclose(back.predict(x), net.predict(x))
    assert_allclose(net.to("cpu").predict(x), net.predict(x))


def test_bad_branches_raise():
    with pytest.raises(ValueError, match="non-empty list of branches"):
        Parallel([])
    with pytest.raises(ValueError, match="Branch 1"):
        Parallel([[Dense(2)], []])
    with pytest.raises(ValueError, match="sklrp.nn.Layer"):
        Parallel([[Dense(2), "relu"]])
    with pytest.raises(ValueError, match="differ only in their first axis"):
        Parallel([[Conv1D(2, 2)], [Conv1D(2, 3)]]).build((1, 6), np.random.RandomState(0), np.float64)


def test_layer_rules_that_reach_no_rule_layer_are_refused():
    """A misspelt name, a position beyond the network or one of an activation was ignored (the other rules
    applied silently); keys of layers inside the branches are accepted."""
    net = Sequential([Parallel(branches((1, 2))), Dense(2)])
    net.build((3, 6), np.random.RandomState(0), np.float64)
    x = np.abs(np.random.RandomState(1).normal(size=(2, 3, 6)))
    out, caches = net.forward(x)
    R = out * (np.arange(2) == 0)
    for key in ("dense_1", "Dense_0", 2, -4, "parallel_0.2.conv1d_0"):
        with pytest.raises(ValueError, match=rf"^Composite layer_rules key\(s\) \[{key!r}\] match no layer that "
                                             r"uses a rule; the network's are \(position, name\): 0 'parallel_0', "
                                             r"0 'parallel_0\.0\.conv1d_0', .*1 'dense_0'"):
            net.relevance(R, caches, Composite({"default": Epsilon(0.1)}, layer_rules={key: Flat()}))
    for key in ("dense_0", 1, -1, "parallel_0.1.conv1d_0", 0):
        net.relevance(R, caches, Composite({"default": Epsilon(0.1)}, layer_rules={key: Flat()}))

"""TimeDistributed: gradients against finite differences, the per-step forward,
rules from the composite for the *inner* layer, a time-major token model
(Embedding -> TimeDistributed(Dense) -> ...) explained per token, config round
trip and device copies."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from test_embedding import D, T, V, assert_tokens_conserve_relevance, gradient_at_embeddings, token_ids
from test_layers_gradient import away_from_zero, build, check_layer_gradient

from sklrp.nn import (
    SGD,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LinearOp,
    ReLU,
    Sequential,
    Tanh,
    TimeDistributed,
)
from sklrp.rules import Composite, Epsilon, Gamma, TraversalContext, Zero, ZPlus


# --------------------------------------------------------------------------- helpers
def token_model(use_bias=False, seed=0, relevance="token"):
    """Embedding (time-major) -> TimeDistributed(Dense) -> ReLU -> Flatten -> Dense."""
    net = Sequential([
        Embedding(V, D, relevance=relevance),
        TimeDistributed(Dense(5, use_bias=use_bias)),
        ReLU(),
        Flatten(),
        Dense(3, use_bias=use_bias),
    ])
    rng = np.random.RandomState(seed)
    net.build((T,), rng, np.float64)
    for layer in net.layers:
        if "bias" in layer.params:
            layer.params["bias"] = rng.normal(scale=0.3, size=layer.params["bias"].shape)
    return net


# --------------------------------------------------------------------------- forward and gradients
@pytest.mark.parametrize("use_bias", [True, False])
def test_time_distributed_dense_gradient(use_bias):
    layer = build(TimeDistributed(Dense(4, use_bias=use_bias)), (5, 3))
    assert layer.output_shape == (5, 4)
    x = np.random.RandomState(0).normal(size=(2, 5, 3))
    grads = check_layer_gradient(layer, x)
    assert set(grads) == ({"weight", "bias"} if use_bias else {"weight"})


@pytest.mark.parametrize("make_inner,shape", [
    (Tanh, (4, 3)),
    (ReLU, (4, 3)),
    (lambda: Conv1D(2, 2, padding="same"), (3, 2, 5)),
])
def test_time_distributed_gradient_of_other_layers(make_inner, shape):
    layer = build(TimeDistributed(make_inner()), shape)
    x = away_from_zero(np.random.RandomState(1), (2,) + shape)
    check_layer_gradient(layer, x)


def test_forward_applies_the_layer_per_step():
    layer = build(TimeDistributed(Dense(4)), (5, 3))
    x = np.random.RandomState(2).normal(size=(2, 5, 3))
    out, _ = layer.forward(x)
    for t in range(5):
        assert_allclose(out[:, t], layer.layer.forward(x[:, t])[0], rtol=1e-14)
    # the sequence length is read from the input, not fixed at build time
    assert layer.forward(x[:, :2])[0].shape == (2, 2, 4)


def test_dropout_per_step_in_training():
    layer = build(TimeDistributed(Dropout(0.5)), (6, 4))
    x = np.ones((3, 6, 4))
    out, cache = layer.forward(x, training=True, rng=np.random.RandomState(0))
    assert out.shape == x.shape and cache["inner"]["mask"].shape == (18, 4)
    g, _ = layer.backward(np.ones_like(out), cache)
    assert_array_equal(g, out)


# --------------------------------------------------------------------------- rules
def test_inner_layer_gets_its_rule_from_the_composite():
    layer = build(TimeDistributed(Dense(4)), (5, 3))
    rng = np.random.RandomState(3)
    x = rng.normal(size=(2, 5, 3))
    out, cache = layer.forward(x)
    R = rng.normal(size=out.shape)
    W, b = layer.params["weight"], layer.params["bias"]
    want = np.stack([Epsilon(0.3)(LinearOp.dense(x[:, t], W, b), R[:, t]) for t in range(5)], axis=1)
    for comp in (Composite({Dense: Epsilon(0.3), "default": ZPlus()}), Composite({"dense": Epsilon(0.3)}),
                 Composite({lambda lay: isinstance(lay, Dense): Epsilon(0.3)})):
        assert_allclose(layer.relevance(R, cache, TraversalContext(comp)), want, rtol=1e-12)
    assert layer.kind == "dense" and layer.uses_rules
    lrp0 = np.stack([Zero()(LinearOp.dense(x[:, t], W, b), R[:, t]) for t in range(5)], axis=1)
    assert_allclose(layer.relevance(R, cache), lrp0, rtol=1e-12)  # no context: LRP-0
    assert not np.allclose(layer.relevance(R, cache, TraversalContext(Composite({Dense: Gamma(1.0)}))), want)


def test_first_and_last_layer_rules_reach_the_wrapped_layer():
    net = token_model(use_bias=True)
    ctxs = net.contexts(Composite())
    assert [c.is_first for c in ctxs].index(True) == 1 and ctxs[4].is_last
    ids = token_ids(np.random.RandomState(0))
    seed = np.eye(3)[[0, 1, 2]]
    by_first = net.explain(ids, seed, composite=Composite({"default": Epsilon(0.01)}, first=Gamma(0.5)))
    by_position = net.explain(ids, seed, composite=Composite({"default": Epsilon(0.01)},
                                                             layer_rules={1: Gamma(0.5)}))
    by_name = net.explain(ids, seed, composite=Composite({"default": Epsilon(0.01)},
                                                         layer_rules={"timedistributed_0": Gamma(0.5)}))
    assert_allclose(by_first, by_position, rtol=1e-14)
    assert_allclose(by_first, by_name, rtol=1e-14)
    assert not np.allclose(by_first, net.explain(ids, seed, composite=Composite({"default": Epsilon(0.01)})))


def test_token_model_conserves_relevance_and_zeroes_padding():
    assert_tokens_conserve_relevance(token_model(use_bias=False, seed=1), token_ids(np.random.RandomState(1)))


def test_token_model_sensitivity_per_token():
    net = token_model(use_bias=True, seed=2)
    ids = token_ids(np.random.RandomState(2))
    seed = np.eye(3)[[1, 2, 0]]
    _, g = gradient_at_embeddings(net, ids, seed)  # (N, T, D): the embedding is time-major here
    want = (g**2).sum(axis=-1) * (ids != 0)
    assert_allclose(net.explain(ids, seed, method="sensitivity"), want, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- parameters, config, devices
def test_parameters_are_the_inner_layers():
    net = token_model(use_bias=True)
    td = net.layers[1]
    assert td.params is td.layer.params
    before = td.layer.params["weight"].copy()
    ids = token_ids(np.random.RandomState(3))
    out, caches = net.forward(ids)
    _, grads = net.backward(np.ones_like(out), caches, need_input_grad=False)
    assert set(grads[1]) == {"weight", "bias"}
    SGD(0.1).step(net.layers, grads)
    assert not np.array_equal(td.layer.params["weight"], before)
    td.params = {"weight": before, "bias": td.params["bias"]}
    assert td.layer.params["weight"] is before


def test_config_round_trip_with_nested_layer():
    net = token_model(use_bias=True)
    net.layers[1].layer.name = "proj"
    config = json.loads(json.dumps(net.get_config()))
    assert config[1] == {"type": "TimeDistributed",
                         "config": {"layer": {"type": "Dense", "config": {"units": 5, "use_bias": True},
                                              "name": "proj"}}}
    back = Sequential.from_config(config, net.get_arrays(), (T,))
    assert isinstance(back.layers[1].layer, Dense) and back.layers[1].layer.name == "proj"
    ids = token_ids(np.random.RandomState(4))
    assert_array_equal(back.predict(ids), net.predict(ids))
    conv = TimeDistributed({"type": "Conv1D", "config": {"filters": 2, "kernel_size": [3], "stride": [1],
                                                         "padding": "same", "use_bias": False}})
    assert conv.layer.kernel_size == (3,) and repr(conv).startswith("TimeDistributed(Conv1D(")


def test_bad_configuration_raises():
    with pytest.raises(ValueError, match="Unknown layer spec"):
        TimeDistributed({"type": "NoSuchLayer", "config": {}})
    with pytest.raises(ValueError, match="does not fit LSTM's constructor"):
        TimeDistributed({"type": "LSTM", "config": {}})
    with pytest.raises(ValueError, match="wraps a Layer"):
        TimeDistributed(Dense)
    with pytest.raises(ValueError, match="time, \\*features"):
        build(TimeDistributed(Dense(2)), (4,))


def test_to_copies_the_inner_layer():
    layer = build(TimeDistributed(Dense(4)), (5, 3))
    moved = layer.to("cpu")
    assert moved.layer is not layer.layer and moved.params is moved.layer.params
    assert moved.params["weight"] is layer.params["weight"]  # already on the host: no copy
    assert moved.kind == "dense" and moved.output_shape == layer.output_shape


@pytest.mark.gpu
def test_cupy_matches_numpy():
    import cupy

    net = token_model(use_bias=True)
    gnet = net.to("cuda")
    assert isinstance(gnet.layers[1].layer.params["weight"], cupy.ndarray)
    assert isinstance(net.layers[1].layer.params["weight"], np.ndarray)
    ids = token_ids(np.random.RandomState(5))
    seed = np.eye(3)[[0, 1, 2]]
    for method in ("lrp", "gradient_x_input"):
        got = gnet.explain(cupy.asarray(ids), cupy.asarray(seed), method=method)
        assert_allclose(got.get(), net.explain(ids, seed, method=method), rtol=1e-10, atol=1e-12)

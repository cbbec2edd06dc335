"""Rules with terms for negative inputs skip them when the input has none, with the same result."""

import numpy as np
import pytest

from sklrp.nn import Conv2D, Dense
from sklrp.rules import AlphaBeta, Gamma


@pytest.mark.parametrize("rule", [AlphaBeta(2, 1), AlphaBeta(1, 0, bias=True), Gamma(0.25, generalized=True)])
@pytest.mark.parametrize("layer,shape", [(Dense(6), (8,)), (Conv2D(3, 3, padding="same"), (2, 5, 5))])
def test_inputs_without_negative_entries_take_the_short_path(monkeypatch, rule, layer, shape):
    rng = np.random.RandomState(0)
    layer.build(shape, rng, np.float64)
    layer.params["bias"] = rng.normal(size=layer.params["bias"].shape)
    x = np.abs(rng.normal(size=(4,) + shape))
    x[0] = 0.0  # zeros are not negative
    z, cache = layer.forward(x)
    R = rng.normal(size=z.shape)
    flagged = rule(layer.linear_op(cache, nonnegative_input=True), R)
    calls = []
    op = layer.linear_op(cache, nonnegative_input=False)
    forward = op.forward
    monkeypatch.setattr(op, "forward", lambda *a: calls.append(1) or forward(*a))
    found = rule(op, R)
    np.testing.assert_array_equal(found, flagged)
    assert len(calls) == (1 if isinstance(rule, AlphaBeta) and rule.beta == 0 else 2)
    # one negative entry: the full rule, all four sign combinations
    x[1].flat[3] = -0.5
    z, cache = layer.forward(x)
    calls.clear()
    op = layer.linear_op(cache, nonnegative_input=False)
    forward = op.forward
    monkeypatch.setattr(op, "forward", lambda *a: calls.append(1) or forward(*a))
    rule(op, R)
    assert len(calls) == (2 if isinstance(rule, AlphaBeta) and rule.beta == 0 else 4)

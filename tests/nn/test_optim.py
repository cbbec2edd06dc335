"""The optimizers against their textbook formulas."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklrp.nn import Dense
from sklrp.nn._optim import Adam, SGD


def _layer(rng, dtype):
    layer = Dense(3)
    layer.build((4,), rng, dtype)
    layer.params["bias"] = rng.normal(size=3).astype(dtype)
    return layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_is_the_formula_bit_for_bit(dtype):
    rng = np.random.RandomState(0)
    layer = _layer(rng, dtype)
    want = {k: v.copy() for k, v in layer.params.items()}
    m = {k: np.zeros_like(v) for k, v in want.items()}
    v2 = {k: np.zeros_like(v) for k, v in want.items()}
    opt = Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
    for t in range(1, 6):
        grads = {k: rng.normal(size=p.shape).astype(dtype) for k, p in want.items()}
        opt.step([layer], [grads])
        lr_t = 0.01 * (1 - 0.99**t) ** 0.5 / (1 - 0.8**t)
        for k, g in grads.items():
            m[k] = m[k] * 0.8 + (1 - 0.8) * g
            v2[k] = v2[k] * 0.99 + (1 - 0.99) * g * g
            want[k] = want[k] - lr_t * m[k] / (np.sqrt(v2[k]) + 1e-7)
            assert layer.params[k].dtype == dtype
            assert_array_equal(layer.params[k], want[k])


def test_sgd_with_nesterov_momentum_is_the_formula():
    rng = np.random.RandomState(1)
    layer = _layer(rng, np.float64)
    want = {k: v.copy() for k, v in layer.params.items()}
    vel = {k: np.zeros_like(v) for k, v in want.items()}
    opt = SGD(0.1, momentum=0.9, nesterov=True)
    for _ in range(4):
        grads = {k: rng.normal(size=p.shape) for k, p in want.items()}
        opt.step([layer], [grads])
        for k, g in grads.items():
            vel[k] = 0.9 * vel[k] - 0.1 * g
            want[k] = want[k] + 0.9 * vel[k] - 0.1 * g
            np.testing.assert_allclose(layer.params[k], want[k], rtol=1e-14)


def test_adam_scratch_space_is_shared_and_not_pickled():
    import pickle

    rng = np.random.RandomState(2)
    layer = _layer(rng, np.float32)
    opt = Adam(0.01)
    opt.step([layer], [{k: np.ones_like(p) for k, p in layer.params.items()}])
    (buf,) = opt._buffers.values()
    assert buf.shape == (2, layer.params["weight"].size)  # one pair, sized for the largest parameter
    clone = pickle.loads(pickle.dumps(opt))
    assert not hasattr(clone, "_buffers") and clone.t == 1
    for k in ("weight", "bias"):
        assert_array_equal(clone.state[(0, k)][0], opt.state[(0, k)][0])
    clone.step([layer], [{k: np.ones_like(p) for k, p in layer.params.items()}])  # makes it again
    assert clone.t == 2


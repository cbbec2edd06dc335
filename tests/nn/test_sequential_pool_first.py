"""Training passes run a ReLU followed by max pooling pool-first: the same outputs and gradients, less work."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import sklrp.nn._sequential as sequential
from sklrp.nn import Conv1D, Conv2D, Dense, Flatten, GlobalMaxPool1D, MaxPool1D, MaxPool2D, ReLU, Sequential


def _net(kind):
    if kind == "2d":
        layers = [Conv2D(4, 3, padding="same"), ReLU(), MaxPool2D(2), Conv2D(3, 3), ReLU(), MaxPool2D(2, stride=1),
                  Flatten(), Dense(5)]
        shape = (2, 9, 9)
    elif kind == "1d":
        layers = [Conv1D(4, 3), ReLU(), MaxPool1D(4, stride=2), Flatten(), Dense(3), ReLU(), Dense(2)]
        shape = (3, 20)
    else:  # the word CNN's branch: global max pooling over time
        layers = [Conv1D(5, 2), ReLU(), GlobalMaxPool1D(), Dense(2)]
        shape = (3, 12)
    net = Sequential(layers)
    net.build(shape, np.random.RandomState(0), np.float64)
    return net, shape


@pytest.mark.parametrize("kind", ["2d", "1d", "global"])
def test_pool_first_gives_the_same_outputs_and_gradients(monkeypatch, kind):
    net, shape = _net(kind)
    assert net._relu_pool_pairs() == ({1, 4} if kind == "2d" else {1})
    rng = np.random.RandomState(1)
    x = rng.normal(size=(6,) + shape)
    x[0] = -np.abs(x[0])  # windows with no positive value: gradient 0 in both orders
    x[1, :, :3] = 0.5     # ties inside windows
    runs = {}
    for flag in (True, False):
        monkeypatch.setattr(sequential, "_POOL_FIRST", flag)
        out, caches = net.forward(x, training=True, rng=np.random.RandomState(0))
        assert any(isinstance(c, dict) and c.get("pooled_first") for c in caches) == flag
        g = rng.normal(size=out.shape) if flag else runs[True][3]
        gx, grads = net.backward(g, caches)
        runs[flag] = (out, gx, grads, g)
    (o1, gx1, gr1, _), (o0, gx0, gr0, _) = runs[True], runs[False]
    assert_array_equal(o1, o0)
    assert_array_equal(gx1, gx0)
    for a, b in zip(gr1, gr0):
        assert a.keys() == b.keys()
        for k in a:
            assert_array_equal(a[k], b[k])
    # predictions run pool-first too, with the stack's output (a training pass's convolution sums in
    # another order: equal to rounding)
    preds = {}
    for flag in (True, False):
        monkeypatch.setattr(sequential, "_POOL_FIRST", flag)
        preds[flag] = net.predict(x.copy())
    assert_array_equal(preds[True], preds[False])
    np.testing.assert_allclose(preds[True], o0, rtol=1e-12, atol=1e-14)
    xx = x.copy()
    net.predict(xx)
    assert_array_equal(xx, x)  # the caller's array is never written over
    # a training pass without the input gradient stops at the first layer with parameters, as before
    out, caches = net.forward(x, training=True)
    assert net.backward(runs[True][3], caches, need_input_grad=False)[0] is None


def test_explanations_keep_the_stack_order():
    net, shape = _net("2d")
    x = np.random.RandomState(2).normal(size=(3,) + shape)
    _, caches = net.forward(x)  # training=False: as the stack is written
    assert not any(isinstance(c, dict) and c.get("pooled_first") for c in caches)
    _, caches = net.forward(x, training=True)
    with pytest.raises(ValueError, match="between a ReLU and the max pooling"):
        net.backward(np.ones((3, 5)), caches, stop=2)


_PEAKS = """
import json, tracemalloc
import numpy as np
import sklrp.nn._sequential as sequential
from sklrp.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential

net = Sequential([Conv2D(16, 5, padding="same"), ReLU(), MaxPool2D(2), Conv2D(32, 5, padding="same"), ReLU(),
                  MaxPool2D(2), Flatten(), Dense(10)])
net.build((1, 28, 28), np.random.RandomState(0), np.float32)
x = np.random.RandomState(1).rand(16, 1, 28, 28).astype(np.float32)

def peak():
    net.predict(x)  # warm-up: lazily made caches are not the pass's cost
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    out = net.predict(x)
    top = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return top, out

pool_first, out = peak()
sequential.Sequential._relu_pool_pairs = lambda self: frozenset()
written, want = peak()
print(json.dumps({"pool_first": pool_first, "written": written, "same": bool(np.array_equal(out, want))}))
"""


def test_pool_first_predictions_free_the_pooled_input():
    """A prediction's pool-first pair frees the convolution output it pools before the next layer runs: its
    peak memory is not above that of the written order (the output had stayed referenced by the
    convolution's cache, one whole convolution output more at the next convolution).  Measured in a fresh
    process: tracemalloc counts every thread's allocations, and threads left by other tests made the peak
    depend on the test order."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _PEAKS], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    peaks = json.loads(run.stdout.strip().splitlines()[-1])
    assert peaks["same"]
    conv_output = 16 * 16 * 28 * 28 * 4
    assert peaks["pool_first"] < peaks["written"] + conv_output // 4, peaks

"""CuPy on a CUDA GPU: layers, rules, training and explanations agree with NumPy.

Every test here carries the ``gpu`` marker and is skipped with a reason when
CuPy or a CUDA device is missing.
"""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal


def _cuda_ok():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _cuda_ok(), reason="needs CuPy and a CUDA device (none available here)"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

from sklrp import ConvNetClassifier, DenseNetClassifier  # noqa: E402
from sklrp._backend import array_device, get_namespace, resolve_device, sliding_windows, to_device, to_host  # noqa: E402
from sklrp.nn import (  # noqa: E402
    AvgPool1D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalMaxPool1D,
    MaxPool2D,
    ReLU,
    Sequential,
    SumPool2D,
    Tanh,
)
from sklrp.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, Zero, ZPlus  # noqa: E402

METHODS = ["lrp", "sensitivity", "gradient", "gradient_x_input", "deconvnet", "guided_backprop"]
COMPOSITES = ["epsilon", "zero", "gamma", "epsilon_plus_flat", "epsilon_gamma_box", "alpha2_beta1", "deep_taylor"]


@pytest.fixture(scope="module")
def cp():
    import cupy

    return cupy


def close32(a, b):
    """Equal within float32 tolerance (relative to the array's scale)."""
    a, b = to_host(a), to_host(b)
    scale = max(np.abs(b).max(), 1e-30)
    assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, n_features=16, n_informative=8, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, random_state=0)
    return X.astype(np.float32), y


# --------------------------------------------------------------------------- backend
def test_backend_on_gpu(cp):
    a = cp.arange(6.0)
    assert get_namespace(a) is cp
    assert array_device(a) == "cuda"
    assert resolve_device(None, a) == "cuda"
    assert resolve_device("cpu", a) == "cpu"
    h = to_host(a)
    assert isinstance(h, np.ndarray)
    assert_array_equal(h, np.arange(6.0))
    assert to_device(a, "cuda") is a
    assert isinstance(to_device(h, "cuda"), cp.ndarray)
    assert isinstance(to_device(a, "cpu"), np.ndarray)
    with pytest.raises(ValueError, match="mix of NumPy and CuPy"):
        get_namespace(a, np.zeros(2))
    x = cp.random.rand(2, 3, 5, 6)
    assert_array_equal(to_host(sliding_windows(x, (2, 3), (1, 2))), sliding_windows(to_host(x), (2, 3), (1, 2)))


# --------------------------------------------------------------------------- layers and rules, float64
LAYERS = [
    (lambda: Dense(5), (7,)),
    (lambda: Conv1D(3, 3, stride=2, padding=1), (2, 9)),
    (lambda: Conv2D(3, (3, 2), padding="same"), (2, 5, 6)),
    (lambda: Conv2D(2, 3, stride=2, padding=(1, 1)), (2, 7, 7)),
    (lambda: MaxPool2D(3, stride=1), (2, 5, 5)),
    (lambda: SumPool2D(2), (2, 4, 6)),
    (lambda: AvgPool1D(3, stride=2), (2, 9)),
    (lambda: GlobalMaxPool1D(), (3, 7)),
    (lambda: Flatten(), (2, 3, 3)),
    (lambda: ReLU(), (6,)),
    (lambda: Tanh(), (6,)),
]


@pytest.mark.parametrize("make,shape", LAYERS)
def test_layer_passes_match_numpy(cp, make, shape):
    layer = make()
    rng = np.random.RandomState(0)
    layer.build(shape, rng, np.float64)
    if "bias" in layer.params:
        layer.params["bias"] = rng.normal(size=layer.params["bias"].shape)
    g_layer = layer.to("cuda")
    x = rng.normal(size=(3,) + shape)
    out, cache = layer.forward(x)
    gout, gcache = g_layer.forward(cp.asarray(x))
    assert isinstance(gout, cp.ndarray)
    assert_allclose(to_host(gout), out, rtol=1e-10)
    G = rng.normal(size=out.shape)
    gin, grads = layer.backward(G, cache)
    ggin, ggrads = g_layer.backward(cp.asarray(G), gcache)
    assert_allclose(to_host(ggin), gin, rtol=1e-10, atol=1e-12)
    for k in grads:
        assert_allclose(to_host(ggrads[k]), grads[k], rtol=1e-10, atol=1e-12)
    if hasattr(layer, "linear_op"):
        for rule in (Zero(), Epsilon(0.1), Gamma(0.25), AlphaBeta(2.0, 1.0), AlphaBeta(1.0, 0.0), ZPlus(),
                     ZBox(-3.0, 3.0), WSquare(), Flat()):
            ref = rule(layer.linear_op(cache), G)
            got = rule(g_layer.linear_op(gcache), cp.asarray(G))
            assert isinstance(got, cp.ndarray)
            assert_allclose(to_host(got), ref, rtol=1e-9, atol=1e-12, err_msg=repr(rule))
    else:
        assert_allclose(to_host(g_layer.relevance(cp.asarray(G), gcache)), layer.relevance(G, cache))


def test_dropout_mask_drawn_on_host(cp):
    layer = Dropout(0.5)
    layer.build((10,), np.random.RandomState(0), np.float64)
    x = np.random.RandomState(1).normal(size=(4, 10))
    out, _ = layer.forward(x, training=True, rng=np.random.RandomState(3))
    gout, _ = layer.forward(cp.asarray(x), training=True, rng=np.random.RandomState(3))
    assert_array_equal(to_host(gout), out)


# --------------------------------------------------------------------------- estimators
def _models():
    return {
        "dense": lambda **kw: DenseNetClassifier(hidden_layer_sizes=(32, 16), max_iter=5, batch_size=32, **kw),
        "conv": lambda **kw: ConvNetClassifier(input_shape=(1, 4, 4), filters=(4, 8), hidden_layer_sizes=(16,),
                                               max_iter=5, batch_size=32, **kw),
        "conv1d": lambda **kw: ConvNetClassifier(filters=(4,), pool="sum", hidden_layer_sizes=(8,), max_iter=5,
                                                 batch_size=32, **kw),
    }


@pytest.mark.parametrize("kind", ["dense", "conv", "conv1d"])
def test_fit_on_cupy_matches_numpy(cp, kind, data):
    X, y = data
    make = _models()[kind]
    cpu = make(random_state=0).fit(X, y)
    gpu = make(random_state=0).fit(cp.asarray(X), cp.asarray(y))
    # identical initialisation and shuffling (host draws): weights stay within float32 drift
    for lc, lg in zip(cpu.net_.layers, gpu.net_.layers):
        for k in lc.params:
            assert isinstance(lg.params[k], cp.ndarray)
            close32(lg.params[k], lc.params[k])
    Xg = cp.asarray(X)
    assert np.mean(gpu.predict(Xg) == cpu.predict(X)) >= 0.98  # near-ties may flip after float32 drift
    p = gpu.predict_proba(Xg)
    assert isinstance(p, cp.ndarray) and p.dtype == cp.float32
    close32(p, cpu.predict_proba(X))
    close32(gpu.decision_function(Xg), cpu.decision_function(X))
    R = gpu.explain(Xg)
    assert isinstance(R, cp.ndarray) and R.shape == X.shape and R.dtype == cp.float32
    assert_allclose(to_host(R), cpu.explain(X), rtol=1e-3, atol=1e-4 * np.abs(cpu.explain(X)).max())
    # pickles hold host arrays
    back = pickle.loads(pickle.dumps(gpu))
    assert all(isinstance(v, np.ndarray) for layer in back.net_.layers for v in layer.params.values())
    assert_array_equal(back.predict(X), gpu.predict(Xg))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_explain_on_cupy_equals_numpy_for_all_methods_and_composites(cp, kind, data):
    X, y = data
    est = _models()[kind](random_state=0).fit(X, y)  # fitted on the host
    Xs, Xg = X[:64], cp.asarray(X[:64])
    for method in METHODS:
        for target in (None, 1, y[:64]):
            R = est.explain(Xg, target=target, method=method)
            assert isinstance(R, cp.ndarray), method
            close32(R, est.explain(Xs, target=target, method=method))
    for comp in COMPOSITES:
        est.set_params(composite=comp)
        close32(est.explain(Xg), est.explain(Xs))
    # explicit output relevance given as a CuPy array
    scores = est.decision_function(Xs)
    close32(est.explain(Xg, target=cp.asarray(scores)), est.explain(Xs, target=scores))


def test_device_parameter_moves_at_boundaries(cp, data):
    X, y = data
    Xg = cp.asarray(X)
    # device="cuda" with NumPy input: trained on the GPU, results come back as NumPy
    est = DenseNetClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0, device="cuda").fit(X, y)
    assert isinstance(est.net_.layers[0].params["weight"], cp.ndarray)
    R = est.explain(X)
    assert isinstance(R, np.ndarray)
    assert isinstance(est.predict_proba(X), np.ndarray)
    close32(R, to_host(est.explain(Xg)))
    # device="cpu" with CuPy input: computed on the host, returned as CuPy (X's array type)
    est2 = DenseNetClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0, device="cpu").fit(Xg, y)
    assert isinstance(est2.net_.layers[0].params["weight"], np.ndarray)
    R2 = est2.explain(Xg)
    assert isinstance(R2, cp.ndarray)
    assert isinstance(est2.decision_function(Xg), cp.ndarray)
    assert_array_equal(to_host(R2), est2.explain(X))
    # a host-fitted model follows the data onto the GPU without being refitted
    est3 = DenseNetClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X, y)
    close32(est3.explain(Xg, method="gradient_x_input"), est3.explain(X, method="gradient_x_input"))
    # warm start on the other device continues training
    est3.set_params(warm_start=True)
    est3.fit(Xg, y)
    assert est3.n_iter_ == 10


def test_frozen_layers_keep_their_weights_on_gpu(cp, data):
    X, y = data
    Xg = cp.asarray(X)
    est = DenseNetClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(Xg, y)

    def snapshot():
        return [{k: to_host(v).tobytes() for k, v in layer.params.items()} for layer in est.net_.layers]

    before = snapshot()
    est.set_params(warm_start=True, frozen_layers=["dense_0"]).fit(Xg, y)
    est.partial_fit(Xg, y)
    after = snapshot()
    assert after[0] == before[0] and after[-1] != before[-1]
    assert isinstance(est.net_.layers[0].params["weight"], cp.ndarray)


def test_conservation_on_gpu(cp, data):
    X, y = data
    layers = [Conv2D(4, 3, padding="same", use_bias=False), ReLU(), MaxPool2D(2), Flatten(),
              Dense(8, use_bias=False), ReLU(), Dense(3, use_bias=False)]
    est = ConvNetClassifier(input_shape=(1, 4, 4), layers=layers, composite="zero", max_iter=5, random_state=0)
    Xg = cp.asarray(X.astype(np.float64))
    est.fit(Xg, y)
    R = est.explain(Xg, target=2)
    assert_allclose(to_host(R.sum(axis=1)), to_host(est.decision_function(Xg)[:, 2]), rtol=1e-6)


def test_gpu_sequential_explain_matches_cpu(cp):
    net = Sequential([Conv2D(3, 3, padding="same"), ReLU(), SumPool2D(2), Flatten(), Dense(4)])
    net.build((1, 6, 6), np.random.RandomState(0), np.float64)
    x = np.random.RandomState(1).normal(size=(5, 1, 6, 6))
    seed = np.eye(4)[[0, 1, 2, 3, 0]]
    gnet = net.to("cuda")
    for method in METHODS:
        assert_allclose(to_host(gnet.explain(cp.asarray(x), cp.asarray(seed), method=method, composite="epsilon")),
                        net.explain(x, seed, method=method, composite="epsilon"), rtol=1e-9, atol=1e-12)

"""The array backend on the CPU: namespaces, device resolution, moves, errors."""

import importlib.util

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklrp._backend import (
    array_device,
    get_namespace,
    is_gpu_array,
    resolve_device,
    sliding_windows,
    to_device,
    to_host,
)

HAVE_CUPY = importlib.util.find_spec("cupy") is not None


def test_get_namespace_numpy():
    a = np.zeros(3)
    assert get_namespace(a) is np
    assert get_namespace(a, np.ones(2)) is np
    assert get_namespace(None, a, None) is np
    assert get_namespace() is np
    assert get_namespace([1, 2], 3.0) is np  # non-arrays count as host data


def test_array_device_and_is_gpu_array():
    assert array_device(np.zeros(2)) == "cpu"
    assert array_device([1.0]) == "cpu"
    assert not is_gpu_array(np.zeros(2))
    assert not is_gpu_array([1, 2])


@pytest.mark.parametrize(
    "device,X,expected",
    [(None, None, "cpu"), (None, np.zeros((2, 2)), "cpu"), ("cpu", np.zeros(2), "cpu"), ("cuda", np.zeros(2), "cuda"),
     ("cuda", None, "cuda"), ("cpu", None, "cpu")],
)
def test_resolve_device(device, X, expected):
    assert resolve_device(device, X) == expected


# ids avoid the word "gpu": tests/conftest.py skips items whose keywords contain it
@pytest.mark.parametrize("bad", ["gpu", "CUDA", "cuda:0", 0, "tpu"], ids=["g-p-u", "upper", "indexed", "int", "tpu"])
def test_resolve_device_rejects_unknown_devices(bad):
    with pytest.raises(ValueError, match=r"'device' parameter must be one of None, 'cpu' or 'cuda'; got"):
        resolve_device(bad, np.zeros(2))


def test_to_device_and_to_host_on_cpu():
    a = np.arange(6.0).reshape(2, 3)
    assert to_device(a, "cpu") is a
    assert to_host(a) is a
    assert to_device(None, "cpu") is None and to_device(None, "cuda") is None
    assert to_host(None) is None
    h = to_host([[1, 2], [3, 4]])
    assert isinstance(h, np.ndarray) and h.shape == (2, 2)
    assert isinstance(to_device([1.0, 2.0], "cpu"), np.ndarray)
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        to_device(a, "tpu")
    with pytest.raises(ValueError, match="Unknown device None"):
        to_device(a, None)


@pytest.mark.skipif(HAVE_CUPY, reason="CuPy is installed here; the missing-CuPy error cannot be shown")
def test_cuda_without_cupy_says_how_to_install():
    with pytest.raises(ImportError, match=r"device='cuda' needs CuPy.*sklrp\[gpu\]"):
        to_device(np.zeros(2), "cuda")
    from sklrp import DenseNetClassifier

    X = np.random.RandomState(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ImportError, match="needs CuPy"):
        DenseNetClassifier(device="cuda", max_iter=2).fit(X, y)


def test_estimator_rejects_bad_device_parameter():
    from sklrp import DenseNetClassifier

    X = np.random.RandomState(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="device"):
        DenseNetClassifier(device="gpu", max_iter=2).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_device_cpu_with_numpy_input_is_the_default_path():
    from sklrp import DenseNetClassifier

    X = np.random.RandomState(0).normal(size=(30, 4))
    y = np.arange(30) % 3
    a = DenseNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    b = DenseNetClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0, device="cpu").fit(X, y)
    assert_array_equal(a.explain(X), b.explain(X))
    assert isinstance(b.explain(X), np.ndarray)


@pytest.mark.parametrize("window,strides", [((3,), (1,)), ((2,), (2,)), ((3,), (2,))])
def test_sliding_windows_1d(window, strides):
    x = np.arange(2 * 3 * 9, dtype=float).reshape(2, 3, 9)
    v = sliding_windows(x, window, strides)
    n_out = (9 - window[0]) // strides[0] + 1
    assert v.shape == (2, 3, n_out, window[0])
    for p in range(n_out):
        assert_array_equal(v[:, :, p], x[:, :, p * strides[0] : p * strides[0] + window[0]])


def test_sliding_windows_2d():
    x = np.random.RandomState(0).normal(size=(2, 2, 5, 6))
    v = sliding_windows(x, (3, 2), (2, 2))
    assert v.shape == (2, 2, 2, 3, 3, 2)
    for i in range(2):
        for j in range(3):
            assert_array_equal(v[:, :, i, j], x[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 2])
    assert np.shares_memory(v, x)  # a view, no copy


def test_subpackages_load_on_attribute_access():
    import subprocess
    import sys

    code = (
        "import sys, sklrp; "
        "assert 'sklrp.text' not in sys.modules; "
        "f = sklrp.metrics.aopc_score; g = sklrp.text.token_relevances; h = sklrp.neighbors.MultiPurposeLSH; "
        "assert 'matplotlib' not in sys.modules; print('ok')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
    import sklrp

    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        sklrp.nonexistent


@pytest.mark.parametrize("density", [0.5, 0.005])
def test_conv_input_adjoint_sparse_and_dense_signals_agree(monkeypatch, density):
    """The CPU transpose multiplies a sparse matrix below a density threshold; both paths give one result."""
    from sklrp import _backend
    from sklrp.nn import Conv1D

    rng = np.random.RandomState(0)
    layer = Conv1D(40, 3, padding="same")
    layer.build((5, 50), rng, np.float64)
    x = rng.normal(size=(4, 5, 50))
    _, cache = layer.forward(x)
    s = rng.normal(size=(4, 40, 50)) * (rng.uniform(size=(4, 40, 50)) < density)
    monkeypatch.setattr(_backend, "_SPARSE_SIGNAL_DENSITY", 0.02)
    got = layer.linear_transpose(s, layer.params["weight"], cache)
    monkeypatch.setattr(_backend, "_SPARSE_SIGNAL_DENSITY", -1.0)  # dense path always
    want = layer.linear_transpose(s, layer.params["weight"], cache)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # and the dense path is the adjoint: <conv(x'), s> == <x', conv^T(s)>
    x2 = rng.normal(size=x.shape)
    z2 = layer.linear(x2, layer.params["weight"])
    np.testing.assert_allclose(np.sum(z2 * s), np.sum(x2 * got), rtol=1e-10)

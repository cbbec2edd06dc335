"""Network passes on the CPU: BLAS held at one thread while the layers split their work themselves."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import sklrp
from sklrp import _threads
from sklrp.nn import LSTM, Dense, Sequential


def _blas():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_threaded_passes_hold_blas_at_one_thread_and_restore_it(monkeypatch):
    rng = np.random.RandomState(0)
    X, y = rng.rand(60, 64).astype(np.float32), np.arange(60) % 3
    seen = []
    matmul = _threads.matmul
    monkeypatch.setattr("sklrp.nn._layers.matmul", lambda a, b: seen.append(
        (_threads.blas_threads(), _blas(), _threads.one_blas_thread.active)) or matmul(a, b))
    with threadpool_limits(2, user_api="blas"):
        before = _blas()
        net = sklrp.ConvNetClassifier(input_shape=(1, 8, 8), filters=(3,), kernel_size=3, hidden_layer_sizes=(5,),
                                      max_iter=2, random_state=0).fit(X, y)
        assert seen and all(t == 2 and set(b) == {1} and held for t, b, held in seen)  # training
        seen.clear()
        net.predict(X), net.explain(X)
        assert seen and all(t == 2 and set(b) == {1} and held for t, b, held in seen)
        assert _blas() == before
    with threadpool_limits(1, user_api="blas"):  # the user's limit: the passes run on one thread
        seen.clear()
        net.predict(X)
        assert seen and all(t == 1 for t, _, _ in seen)


def test_networks_with_recurrent_layers_keep_blas_threads():
    rng = np.random.RandomState(0)
    net = Sequential([LSTM(4), Dense(2)])
    net.build((5, 3), rng, np.float64)
    assert not isinstance(net.threaded_passes(np.zeros((2, 5, 3))), type(_threads.one_blas_thread))
    dense = Sequential([Dense(3)])
    dense.build((4,), rng, np.float64)
    assert dense.threaded_passes(np.zeros((2, 4))) is _threads.one_blas_thread


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_concurrent_passes_from_several_threads_give_the_serial_results():
    """Passes started from several threads at once (Dask's threaded scheduler, joblib threads) share the block
    threads and the BLAS limit, give the results of one pass at a time and leave BLAS as it was."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.RandomState(0)
    X, y = rng.rand(96, 144).astype(np.float32), np.arange(96) % 3
    net = sklrp.ConvNetClassifier(input_shape=(1, 12, 12), filters=(8, 16), kernel_size=3, padding="same",
                                  hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(X, y)
    chunks = [X[i::4] for i in range(4)]
    with threadpool_limits(2, user_api="blas"):
        before = _blas()
        want = [(net.predict_proba(c), net.explain(c)) for c in chunks]
        with ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda c: (net.predict_proba(c), net.explain(c)), chunks * 3))
        assert _blas() == before
    for (p, r), (wp, wr) in zip(got, want * 3):
        np.testing.assert_allclose(p, wp, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(r, wr, rtol=1e-5, atol=1e-6)

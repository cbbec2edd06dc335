"""Dask arrays in, lazy Dask arrays out; model selection under joblib's process and Dask backends.

The in-process tests use Dask's threaded scheduler; the cluster tests start a real
``dask.distributed.LocalCluster`` with two worker processes (no mocks).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import sklrp
from sklrp import ConvNetClassifier, DenseNetClassifier, EEGDNNClassifier, LinearRelevanceClassifier
from sklrp.neighbors import MultiPurposeLSH

da = pytest.importorskip("dask.array")

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "explain")


def _quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


@pytest.fixture(scope="module")
def models(digits):
    X, y = digits
    return {
        "dense": _quiet_fit(DenseNetClassifier((16,), max_iter=5, random_state=0), X, y),
        "conv": _quiet_fit(ConvNetClassifier(input_shape=(1, 8, 8), filters=(4,), hidden_layer_sizes=(16,),
                                             max_iter=2, random_state=0), X, y),
        "linear": _quiet_fit(LinearRelevanceClassifier(LogisticRegression(max_iter=200)), X, y),
    }


def _same(got, ref):
    assert type(got) is type(ref) or (isinstance(got, np.ndarray) and isinstance(ref, np.ndarray))
    if sp.issparse(ref):
        assert (got != ref).nnz == 0
    elif ref.dtype.kind == "f":
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("name", ["dense", "conv", "linear"])
@pytest.mark.parametrize("method", METHODS)
def test_methods_are_lazy_and_equal_the_in_memory_results(models, digits, name, method):
    X, _ = digits
    model = models[name]
    Xd = da.from_array(X[:300], chunks=(64, 16))  # the feature axis is merged into one chunk
    out = getattr(model, method)(Xd)
    ref = getattr(model, method)(X[:300])
    assert isinstance(out, da.Array)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert out.chunks[0] == Xd.chunks[0]
    _same(out.compute(scheduler="threads"), ref)


@pytest.mark.parametrize("name", ["dense", "linear"])
def test_per_sample_targets_are_chunked_with_X(models, digits, name):
    X, y = digits
    model = models[name]
    Xd = da.from_array(X[:200], chunks=50)
    for target in (y[:200], da.from_array(y[:200], chunks=70), np.eye(10)[y[:200]] * 2.0):
        _same(model.explain(Xd, target=target).compute(), model.explain(X[:200], target=target if not
                                                                      isinstance(target, da.Array) else y[:200]))
    _same(sklrp.explain(model, Xd, target=3).compute(), model.explain(X[:200], target=3))


@pytest.mark.parametrize("name", ["dense", "linear"])
def test_a_lazy_result_keeps_the_estimator_as_it_was_when_built(models, digits, name):
    """The graph holds a copy of the estimator: a later set_params, fit or partial_fit (a network's weights are
    updated in place) does not change a result built before (every lazy result took the state at compute time)."""
    from sklearn.base import clone

    X, y = digits
    model = clone(models[name]).set_params(**({"composite": "epsilon"} if name == "dense" else {}))
    _quiet_fit(model, X, y)
    Xd = da.from_array(X[:100], chunks=40)
    before = {"explain": model.explain(Xd), "proba": model.predict_proba(Xd)}
    ref = {"explain": model.explain(X[:100]), "proba": model.predict_proba(X[:100])}
    if name == "dense":
        model.set_params(composite="flat")
        assert not np.allclose(model.explain(X[:100]), ref["explain"])
        model.partial_fit(X, y)
    else:
        model.set_params(bias="ignore")
        _quiet_fit(model, X[::-1][:500], y[::-1][:500])
    assert not np.allclose(model.predict_proba(X[:100]), ref["proba"])
    for key, lazy in before.items():
        _same(lazy.compute(scheduler="threads"), ref[key])


def test_empty_blocks_and_lazy_targets(models, digits):
    """A block of no sample (boolean filtering) gives an empty block of the result (the method refused it), and a
    Dask target is not computed while the graph is built (its first block was read to probe the output)."""
    X, y = digits
    model = models["dense"]
    Xd = da.from_array(X[:120], chunks=40)
    kept = Xd[da.from_array(np.arange(120) >= 40, chunks=40)]
    kept.compute_chunk_sizes()
    assert 0 in kept.chunks[0]
    for method in ("predict", "predict_proba", "explain"):
        _same(getattr(model, method)(kept).compute(), getattr(model, method)(X[40:120]))
    computed = []

    def watched(block):
        computed.append(len(block))
        return block

    target = da.from_array(y[:120], chunks=40).map_blocks(watched, dtype=y.dtype, meta=y[:0])
    lazy = model.explain(Xd, target=target)
    assert computed == []
    _same(lazy.compute(), model.explain(X[:120], target=y[:120]))


def test_eeg_trials_as_a_dask_array():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 4, 32)).astype(np.float32)
    y = np.arange(40) % 2
    model = _quiet_fit(EEGDNNClassifier(architecture="shallow", n_temporal_filters=2, n_spatial_filters=2,
                                        temporal_kernel=5, pool_size=8, pool_stride=4, max_iter=2,
                                        random_state=0), X, y)
    Xd = da.from_array(X, chunks=(16, 2, 32))
    R = model.explain(Xd)
    assert R.shape == X.shape and R.chunks[0] == (16, 16, 8)
    _same(R.compute(), model.explain(X))
    _same(model.predict_proba(Xd).compute(), model.predict_proba(X))


def test_sparse_chunks(models, digits):
    X, _ = digits
    model = models["linear"]
    Xs = sp.csr_matrix(X[:100])
    Xd = da.from_array(X[:100], chunks=(40, 64)).map_blocks(sp.csr_matrix, meta=sp.csr_matrix((0, 64)))
    R = model.explain(Xd)
    assert sp.issparse(R._meta)
    got = R.compute()
    assert sp.issparse(got)
    _same(got.tocsr(), model.explain(Xs))


def test_neighbours_of_dask_queries():
    rng = np.random.RandomState(0)
    X, Q = rng.normal(size=(1500, 16)), rng.normal(size=(250, 16))
    index = MultiPurposeLSH(random_state=0).fit(X)
    Qd = da.from_array(Q, chunks=(64, 16))
    D, ind = index.kneighbors(Qd, n_neighbors=4, weights="cosine")
    D0, ind0 = index.kneighbors(Q, n_neighbors=4, weights="cosine")
    assert isinstance(D, da.Array) and isinstance(ind, da.Array) and ind.dtype == ind0.dtype
    _same(D.compute(), D0)
    _same(ind.compute(), ind0)
    only = index.kneighbors(Qd, n_neighbors=4, weights="cosine", return_distance=False)
    _same(only.compute(), ind0)
    _same(index.transform(Qd).compute(), index.transform(Q))
    # a refit after the graph is built does not reach it, and the indexed points are not copied into it
    lazy = index.kneighbors(Qd, n_neighbors=4, weights="cosine", return_distance=False)
    snapshot = index._dask_snapshot()
    assert snapshot.X_ is index.X_ and snapshot.codes_ is index.codes_
    index.set_params(n_bits=64).fit(X[::-1])
    _same(lazy.compute(), ind0)


def test_unknown_chunk_sizes_are_refused(models, digits):
    X, _ = digits
    Xd = da.from_array(X[:100], chunks=50)
    unknown = Xd[Xd[:, 0] >= 0]  # boolean indexing: chunk sizes unknown until computed
    with pytest.raises(ValueError, match=r"^X is a Dask array of unknown chunk sizes along the samples; call "
                                         r"X\.compute_chunk_sizes\(\) first\.$"):
        models["dense"].explain(unknown)
    unknown.compute_chunk_sizes()
    _same(models["dense"].explain(unknown).compute(), models["dense"].explain(X[:100][X[:100, 0] >= 0]))


def test_errors_surface_at_compute_with_the_usual_message(models, digits):
    X, _ = digits
    bad = da.from_array(np.where(np.arange(64) == 3, np.nan, X[:100]), chunks=50)
    out = models["dense"].explain(bad)  # lazy: nothing has run
    with pytest.raises(ValueError, match="Input X contains NaN"):
        out.compute()


# ----------------------------------------------------------------- cluster
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, memory_limit="2GiB")
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_explain_on_a_two_worker_cluster(client, models, digits):
    X, _ = digits
    Xd = da.from_array(np.vstack([X] * 2), chunks=(500, 64))
    for name in ("dense", "conv"):
        model = models[name]
        R = model.explain(Xd)
        P = model.predict_proba(Xd)
        got_R, got_P = client.compute([R, P], sync=True)
        _same(got_R, model.explain(np.vstack([X] * 2)))
        _same(got_P, model.predict_proba(np.vstack([X] * 2)))
    workers = client.run(lambda: 1)
    assert len(workers) == 2


def test_kneighbors_on_a_two_worker_cluster(client):
    rng = np.random.RandomState(1)
    X, Q = rng.normal(size=(2000, 8)), rng.normal(size=(400, 8))
    index = MultiPurposeLSH(random_state=0).fit(X)
    D, ind = index.kneighbors(da.from_array(Q, chunks=100), n_neighbors=3)
    D0, ind0 = index.kneighbors(Q, n_neighbors=3)
    got_D, got_ind = client.compute([D, ind], sync=True)
    _same(got_D, D0)
    _same(got_ind, ind0)


@pytest.mark.parametrize("backend", ["loky", "dask"])
def test_grid_search_with_an_explanation_scorer(digits, backend, request):
    """GridSearchCV(n_jobs=2) picks a composite by AOPC under joblib's process backend and its Dask backend,
    with the result of the sequential search."""
    import joblib
    from sklearn.model_selection import GridSearchCV

    from sklrp.metrics import make_explanation_scorer

    X, y = digits
    X, y = X[:400], y[:400]
    grid = {"composite": ["epsilon", "flat"]}
    scorer = make_explanation_scorer("aopc", n_steps=4)
    est = DenseNetClassifier((16,), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GridSearchCV(est, grid, scoring=scorer, cv=2).fit(X, y)
        if backend == "dask":
            request.getfixturevalue("client")  # joblib's Dask backend runs on the cluster's workers
            with joblib.parallel_backend("dask"):
                search = GridSearchCV(est, grid, scoring=scorer, cv=2, n_jobs=2).fit(X, y)
        else:
            search = GridSearchCV(est, grid, scoring=scorer, cv=2, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"],
                               rtol=1e-6)
    assert search.best_params_ == ref.best_params_ == {"composite": "epsilon"}


def test_string_labels(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    model = _quiet_fit(LinearRelevanceClassifier(LogisticRegression(max_iter=200)), X, names[y])
    out = model.predict(da.from_array(X[:300], chunks=100))
    assert out.dtype == model.classes_.dtype
    np.testing.assert_array_equal(out.compute(), model.predict(X[:300]))

"""Fuzz the queries of fitted MultiPurposeLSH indexes, and the loading of tampered index files."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from sklrp.exceptions import ModelFileError
from sklrp.neighbors import MultiPurposeLSH

from ._support import (
    assert_finite,
    attempt,
    check_call,
    clearly_valid_X,
    n_rows,
    scaled,
    x_inputs,
)
from .conftest import N_FEATURES

pytestmark = pytest.mark.fuzz

INDEXES = ["cc_tables", "sa_scan", "ca_float32"]

QUERY_KWARGS = st.fixed_dictionaries(
    {},
    optional={
        "n_neighbors": st.sampled_from([None, 1, 3, 5, 59, 60, 61, 0, -1, 1.5, True, np.int64(2), "3", 10**18]),
        "return_distance": st.booleans(),
        "weights": st.sampled_from([None, "l2", "ip", "cosine", "L2", "", {"l2": 1.0, "ip": 1.0, "cosine": 1.0},
                                    {"ip": 1.0}, {"cosine": 1e-300}, {"l2": 0.0}, {"l2": -1.0}, {"l2": math.nan},
                                    {"l2": math.inf}, {"l2": 1e100, "ip": 1e100}, {"l2": 1e308, "ip": 1e308},
                                    {"x": 1.0}, {}, ["l2"], 1.0]),
        "group_weights": st.sampled_from([None, [1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 1.0],
                                          [math.nan, 1.0], [1e100, 1e100], [1.0] * 6, "ab", [[1.0, 1.0]]]),
        "n_candidates": st.sampled_from([None, 1, 2, 10, 60, 10**9, 0, -1, 1.5]),
        "n_probes": st.sampled_from([None, 1, 2, 16, 10**6, 0, -1, 1.5]),
    },
)


@pytest.mark.parametrize("index_name", INDEXES)
@scaled(1.0)
@given(data=st.data())
def test_kneighbors(indexes, index_name, data):
    index = indexes[index_name]
    X = data.draw(st.one_of(st.none(), x_inputs(N_FEATURES)), label="X")
    kwargs = data.draw(QUERY_KWARGS, label="kwargs")
    status, out = check_call(index.kneighbors, X, inputs=[X], **kwargs)
    if status != "ok":
        if X is not None and clearly_valid_X(X, N_FEATURES, sparse_ok=False) and not kwargs:
            raise AssertionError(f"kneighbors refused valid queries: {out!r}")
        return
    D, ind = out if kwargs.get("return_distance", True) else (None, out)
    n_fit = index.n_samples_fit_
    nq = n_fit if X is None else n_rows(X)
    k = kwargs.get("n_neighbors") or index.n_neighbors
    assert ind.shape == (nq, k), f"indices of shape {ind.shape}; expected {(nq, k)}"
    assert ind.dtype.kind in "iu" and np.all((ind >= 0) & (ind < n_fit)), f"indices out of range: {ind!r}"
    assert all(len(set(row)) == k for row in ind.tolist()), f"a neighbour repeated in a row: {ind!r}"
    if X is None:
        assert not np.any(ind == np.arange(n_fit)[:, None]), "a point is its own neighbour with X=None"
    if D is not None:
        assert D.shape == (nq, k) and D.dtype == np.float64
        assert_finite(D, "kneighbors distances")
        assert np.all(np.diff(D, axis=1) >= 0), f"distances not ascending: {D!r}"


@pytest.mark.parametrize("index_name", ["cc_tables", "sa_scan"])
@scaled(0.5)
@given(data=st.data())
def test_graph_and_transform(indexes, index_name, data):
    index = indexes[index_name]
    X = data.draw(x_inputs(N_FEATURES), label="X")
    how = data.draw(st.sampled_from(["transform", "graph_connectivity", "graph_distance", "graph_bad_mode"]))
    if how == "transform":
        status, G = check_call(index.transform, X)
    else:
        mode = {"graph_connectivity": "connectivity", "graph_distance": "distance"}.get(how, "nope")
        status, G = check_call(index.kneighbors_graph, X, n_neighbors=3, mode=mode, inputs=[X])
    if status == "ok":
        nq = index.n_samples_fit_ if X is None else n_rows(X)
        assert sp.issparse(G) and G.shape == (nq, index.n_samples_fit_)
        assert_finite(G, how)


def _lsh_file_mutations():
    return st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                                            min_size=1, max_size=4)),
        st.tuples(st.just("array"), st.sampled_from(
            ["X", "codes", "groups", "group_index", "group_max_norm", "hash_max_norm", "center", "block_bits",
             "projection_0", "projection_1", "table_projection_0", "table_projection_1", "table_order",
             "table_offsets"]),
            st.sampled_from(["empty", "scalar", "transpose", "drop_row", "nan", "negative", "huge", "int", "str",
                             "missing"])),
        st.tuples(st.just("config"), st.sampled_from(
            ["n_features_in", "n_tables", "key_bits", "norm_ranges", "format_version", "class", "params"]),
            st.sampled_from([None, 0, -1, 1, 7, 31, 10**12, 1.5, "x", [], {}, True])),
    )


def _tamper_array(a, how):
    if how == "empty":
        return a[:0]
    if how == "scalar":
        return np.asarray(a.ravel()[0] if a.size else 0)
    if how == "transpose":
        return a.T.copy() if a.ndim == 2 else a[::-1].copy()
    if how == "drop_row":
        return a[:-1] if a.ndim else a
    if how == "nan":
        return np.full(a.shape, np.nan)
    if how == "negative":
        return -np.abs(a).astype(a.dtype) - 1 if a.dtype.kind in "fi" else a
    if how == "huge":
        return np.full(a.shape, 2**31 - 1 if a.dtype.kind in "iu" else 1e308, dtype=a.dtype if a.dtype.kind in "fiu"
                       else np.float64)
    if how == "int":
        return np.zeros(a.shape, dtype=np.int64)
    return np.full(a.shape, "x")


@scaled(0.6)
@given(mutation=_lsh_file_mutations())
def test_load_tampered_index_file(model_files, scratch, mutation):
    import io
    import json

    raw = model_files["lsh"]
    path = scratch / "index.npz"
    if mutation[0] == "truncate":
        raw = raw[: int(len(raw) * mutation[1])]
    elif mutation[0] == "flip":
        b = bytearray(raw)
        for pos, x in mutation[1]:
            b[int(pos * len(b))] ^= x
        raw = bytes(b)
    else:
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        if mutation[0] == "array":
            _, key, how = mutation
            if key in arrays:
                if how == "missing":
                    del arrays[key]
                else:
                    arrays[key] = _tamper_array(arrays[key], how)
        else:
            _, key, value = mutation
            config = json.loads(str(arrays["config"]))
            config[key] = value
            arrays["config"] = np.array(json.dumps(config))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        raw = buf.getvalue()
    path.write_bytes(raw)
    status, index = check_call(MultiPurposeLSH.load, path, deterministic=False)
    if status != "ok":
        assert type(index) is ModelFileError, f"MultiPurposeLSH.load raised {type(index).__name__}: {index!r}"
        return
    Q = np.random.RandomState(0).normal(size=(3, N_FEATURES))
    for weights in ("l2", "ip", "cosine"):
        status, out = attempt(index.kneighbors, Q, n_neighbors=2, weights=weights)
        if status == "ok":
            D, ind = out
            assert ind.shape == (3, 2) and np.all((ind >= 0) & (ind < index.n_samples_fit_))
            assert_finite(D, "kneighbors distances of a loaded index")

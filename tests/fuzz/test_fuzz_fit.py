"""Fuzz ``fit``: generated training data and labels, and generated (possibly absurd) hyperparameters.

A fit either raises an allowed exception or gives a model whose parameters
are finite and that predicts and explains its own training data (allowed
errors or finite output); fitting twice with the same ``random_state`` gives
the same model.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from sklrp import ConvNetClassifier, DenseNetClassifier, LinearRelevanceClassifier
from sklrp.neighbors import MultiPurposeLSH
from sklrp.nn import METHODS
from sklrp.rules import COMPOSITES

from ._support import (
    ALLOWED,
    ELEMENTS,
    MODERATE,
    assert_finite,
    attempt,
    base_arrays,
    check_call,
    relayout,
    scaled,
)

pytestmark = pytest.mark.fuzz

ESTIMATORS = {
    "dense": DenseNetClassifier((3,), max_iter=2, random_state=0),
    "conv": ConvNetClassifier(filters=(2,), hidden_layer_sizes=(3,), max_iter=2, random_state=0),
    "linear": LinearRelevanceClassifier(LogisticRegression(max_iter=20), random_state=0),
}


@st.composite
def labels(draw, n):
    kind = draw(st.sampled_from(
        ["ints", "ints", "ints", "ints", "strings", "strings", "bools", "integral_floats", "continuous", "bools", "mixed", "with_none", "one_class",
         "column", "two_columns", "wrong_length", "none", "nan", "scalar", "bytes", "huge_ints"]))
    m = n
    if kind == "ints":
        return np.array(draw(st.lists(st.integers(-2, 2), min_size=m, max_size=m)), dtype=np.int64)
    if kind == "strings":
        return draw(st.lists(st.sampled_from(["a", "b", "<c>", "", "\u00e9"]), min_size=m, max_size=m))
    if kind == "integral_floats":
        return np.array(draw(st.lists(st.sampled_from([0.0, 1.0, -3.0, 1e300]), min_size=m, max_size=m)))
    if kind == "continuous":
        return np.array(draw(st.lists(MODERATE, min_size=m, max_size=m)))
    if kind == "bools":
        return np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)))
    if kind == "mixed":
        return draw(st.lists(st.sampled_from([0, "a", 1.0, True]), min_size=m, max_size=m))
    if kind == "with_none":
        return np.array(draw(st.lists(st.sampled_from([0, 1, None]), min_size=m, max_size=m)), dtype=object)
    if kind == "one_class":
        return np.zeros(m, dtype=np.int64)
    if kind == "column":
        return (np.arange(m) % 2).reshape(-1, 1)
    if kind == "two_columns":
        return np.zeros((m, 2), dtype=np.int64)
    if kind == "wrong_length":
        return np.arange(draw(st.integers(0, m + 2).filter(lambda k: k != m))) % 2
    if kind == "none":
        return None
    if kind == "nan":
        return np.where(np.arange(m) % 2 == 0, 0.0, math.nan)
    if kind == "scalar":
        return 1
    if kind == "bytes":
        return [b"a", b"b"] * (m // 2) + [b"a"] * (m % 2)
    return np.array([2**62, -(2**62)] * (m // 2) + [0] * (m % 2), dtype=np.int64)


def _summary(est, X, y):
    """Fit a clone and describe what it does on X (allowed errors recorded by type)."""
    model = clone(est).fit(X, y)
    out = {"classes": np.asarray(model.classes_)}
    if hasattr(model, "net_"):
        params = [p for layer in model.net_.layers for p in layer.params.values()]
        out["params"] = [np.asarray(p) for p in params]
        out["loss"] = float(model.loss_) if model.loss_ is not None else None
    Xq = np.asarray(X, dtype=np.float64)[:3]
    for name in ("predict", "predict_proba", "explain"):
        status, value = attempt(getattr(model, name), Xq)
        out[name] = value if status == "ok" else type(value)
    return out


@st.composite
def training_sets(draw):
    if draw(st.booleans()):  # a valid training set, values possibly extreme
        n, d = draw(st.sampled_from([2, 3, 6])), draw(st.sampled_from([1, 2, 4]))
        kind = draw(st.sampled_from(["moderate", "edge", "any"]))
        X = draw(hnp.arrays(np.float64, (n, d), elements=ELEMENTS[kind]))
        y = draw(st.one_of(  # at least two classes
            st.lists(st.integers(0, 2), min_size=n - 2, max_size=n - 2).map(lambda v: [1, 0] + v),
            st.lists(st.sampled_from(["a", "b", "<c>"]), min_size=n - 2, max_size=n - 2).map(lambda v: v + ["b", "a"]),
        ))
        return X, np.array(y)
    n = draw(st.sampled_from([6, 6, 3, 2, 1, 0]))
    d = draw(st.sampled_from([2, 1, 4, 0]))
    shape = (n, d)
    kind = draw(st.sampled_from(["moderate", "moderate", "moderate", "edge", "any", "dtype"]))
    if kind == "dtype":
        X = draw(base_arrays(d))
        X = relayout(X, draw(st.sampled_from(["c", "fortran", "readonly", "rows_step2"])))
        n = X.shape[0] if X.ndim >= 1 else 1
    else:
        X = draw(hnp.arrays(np.float64, shape, elements=ELEMENTS[kind]))
    return X, draw(labels(n))


@pytest.mark.parametrize("est_name", list(ESTIMATORS))
@scaled(0.8)
@given(Xy=training_sets())
def test_fit_generated_data(est_name, Xy):
    X, y = Xy
    est = ESTIMATORS[est_name]
    status, res = check_call(_summary, est, X, y, inputs=[X, y], entry=f"{type(est).__name__}.fit")
    if status != "ok":
        return
    out = res
    assert np.all(np.isin(out["predict"], out["classes"])) or isinstance(out["predict"], type)
    if "params" in out:
        assert_finite(out["params"], "fitted network parameters")
        assert out["loss"] is None or math.isfinite(out["loss"]), f"loss_ = {out['loss']}"
    for name in ("predict_proba", "explain"):
        if not isinstance(out[name], type):
            assert_finite(out[name], name)
        else:
            assert issubclass(out[name], ALLOWED)


@st.composite
def hyperparameters(draw, valid, absurd, fixed=None):
    """Some of the parameters, each from its ``valid`` values (accepted by the validation, some extreme) or,
    for an "absurd" draw, also from its ``absurd`` ones."""
    allow_absurd = draw(st.booleans())
    params = dict(fixed or {})
    for key in valid:
        if draw(st.booleans()):
            choices = valid[key] + (absurd.get(key, []) if allow_absurd else [])
            params[key] = draw(st.sampled_from(choices))
    return params


DENSE_VALID = {
    "hidden_layer_sizes": [(3,), (), [4], (1, 1), (12, 2), (np.int64(3),), (10**13,)],  # 10**13: refused before allocating
    "max_iter": [1, 2, 3, np.int32(2)],
    "batch_size": ["auto", 1, 2, 7, 12, 10**9],
    "learning_rate_init": [1e-3, 0.1, 10.0, 1e300, 5e-324, math.inf],
    "momentum": [0.0, 0.9, 1.0],
    "weight_decay": [0.0, 1e-4, 1.0, 1e300, math.inf],
    "dropout": [0.0, 0.5, 0.99],
    "activation": ["relu", "tanh"],
    "solver": ["adam", "sgd"],
    "tol": [0.0, 1e-4, 1e300, math.inf],
    "early_stopping": [True, False],
    "validation_fraction": [0.1, 0.5, 0.99, 1e-9],
    "n_iter_no_change": [1, 2, 10],
    "shuffle": [True, False],
    "warm_start": [True, False],
    "frozen_layers": [None, [0], ["dense_0"], [-1], [0, 1, 2]],
    "composite": sorted(COMPOSITES),
    "epsilon": [0.0, 1e-6, 1.0, 1e300, math.inf],
    "gamma": [0.0, 0.25, 1e300, math.inf],
    "alpha": [2.0, 1.0, 0.0, 1e300, math.inf],
    "beta": [1.0, 0.0, 1e300, math.inf],
    "input_bounds": [None, (0.0, 1.0), (-3.0, 3.0), ([0.0] * 6, [1.0] * 6), [[-1.0], [1.0]], (-1e308, 1e308)],
    "method": list(METHODS),
    "device": [None, "cpu"],
}
DENSE_ABSURD = {
    "hidden_layer_sizes": [None, 5, "8", (1.5,), (True,), ((2,),), (0,), (4, 0, 4), (-1,)],
    "max_iter": [0, -1, 1.5, None, True],
    "batch_size": [0, -1, 1.5, "all", None],
    "learning_rate_init": [0.0, -1.0, math.nan],
    "momentum": [1.5, -0.1, math.nan],
    "weight_decay": [-1.0, math.nan],
    "dropout": [1.0, -0.1, math.nan],
    "activation": ["sigmoid", None],
    "solver": ["lbfgs"],
    "tol": [-1.0, math.nan],
    "validation_fraction": [0.0, 1.0],
    "n_iter_no_change": [0],
    "frozen_layers": [[99], ["nope"], [True], "dense_0"],
    "composite": ["nope", None],
    "epsilon": [-1.0, math.nan],
    "gamma": [-1.0],
    "alpha": [-1.0, math.nan],
    "beta": [-1.0],
    "input_bounds": [(1.0, 0.0), (math.nan, 1.0), ("a", "b"), (0.0,)],
    "method": ["nope"],
    "device": ["gpu"],
}
DENSE_VALID["random_state"] = [0, 1, np.int64(2)]
DENSE_PARAMS = hyperparameters(DENSE_VALID, DENSE_ABSURD, fixed={"max_iter": 2, "random_state": 0})


@scaled(1.0)
@given(params=DENSE_PARAMS)
def test_densenet_hyperparameters(data, params):
    X, y3, _, _ = data
    X, y = X[:12], y3[:12]
    est = DenseNetClassifier(**params)
    status, res = check_call(_summary, est, X, y, inputs=[X, y], entry=f"{type(est).__name__}.fit")
    if status != "ok":
        return
    out = res
    assert_finite(out["params"], "fitted network parameters")
    assert out["loss"] is None or math.isfinite(out["loss"])
    for name in ("predict_proba", "explain"):
        if not isinstance(out[name], type):
            assert_finite(out[name], name)
            assert out[name].shape == ((3, 3) if name == "predict_proba" else (3, 6))


LSH_VALID = {
    "n_neighbors": [1, 3, 5, 60],
    "n_bits": [1, 2, 8, 64, 65, 300],
    "variant": ["sa", "ca", "cc"],
    "feature_groups": [None, [0] * 6, [0, 1] * 3, list(range(6)), ["a", "b", "a", "b", "a", "b"]],
    "weights": [None, "l2", "ip", "cosine", {"l2": 1.0, "ip": 1.0}, {"cosine": 2.0, "l2": 1e-300},
                {"ip": 1e100, "l2": 1e100}, {"ip": 1e308, "l2": 1e308}],
    "group_weights": [None, [1.0], [1.0, 0.0], [1.0] * 6, [1e100] * 6, [1e308] * 6],
    "n_candidates": [1, 5, 60, 10**9],
    "n_tables": ["auto", 0, 1, 8, 1024],
    "key_bits": ["auto", 1, 4, 20, 30],
    "n_probes": [1, 2, 16, 10**6],
    "code_ranking": ["auto", "norms", "blocks"],
    "batch_size": ["auto", 1, 7],
    "mode": ["distance", "connectivity"],
}
LSH_ABSURD = {
    "n_neighbors": [0, -1, 1.5, True],
    "n_bits": [0, -3, 2.0],
    "variant": ["xx"],
    "feature_groups": [[0] * 5, [[0]] * 6, [math.nan] * 6, "abcdef"],
    "weights": ["hamming", {"cosine": 0.0}, {"l2": -1.0}, {"l2": math.nan}, {"l3": 1.0}, {}],
    "group_weights": [[0.0, 0.0], [-1.0], [math.inf]],
    "n_candidates": [0, -1],
    "n_tables": [1025, -1, 1.5],
    "key_bits": [31, 0],
    "n_probes": [0, -1],
    "code_ranking": ["nope"],
    "batch_size": [0],
    "mode": ["x"],
}
LSH_PARAMS = hyperparameters(LSH_VALID, LSH_ABSURD)


def lsh_memory_bytes(params, n):
    """Rough peak memory of fitting and querying an index with these parameters on n points.

    The hash tables hold ``4 << key_bits`` bucket offsets per table and feature group, whatever the number of
    points; parameters needing more than 256 MiB are left out of the strategy (they allocate gigabytes on 60
    points and get the process OOM-killed), see test_fuzz_regressions.py::test_lsh_table_memory_is_bounded.
    """
    groups = params.get("feature_groups") or [0]
    try:
        n_groups = len(set(np.asarray(groups).ravel().tolist()))
    except TypeError:
        n_groups = 1
    n_tables = params.get("n_tables", "auto")
    n_tables = 0 if n_tables == "auto" and n < 4096 else n_tables
    key_bits = params.get("key_bits", "auto")
    key_bits = int(np.clip(round(math.log2(max(n, 2) / 16.0)), 4, 20)) if key_bits == "auto" else key_bits
    if not isinstance(n_tables, int) or not isinstance(key_bits, int) or n_tables < 1 or not 1 <= key_bits <= 30:
        return 0
    offsets = 3 * n_groups * n_tables * (4 << key_bits) * 8
    probes = 3 * n_groups * n_tables * min(4 * max(params.get("n_probes", 16), 1), 1 << key_bits) * 8 * 8
    return offsets + probes


def _lsh_summary(params, X, Q):
    index = MultiPurposeLSH(random_state=0, **params).fit(X)
    k = min(index.n_neighbors, index.n_samples_fit_)
    D, I = index.kneighbors(Q, n_neighbors=k)
    return D, I


@scaled(1.0)
@given(params=LSH_PARAMS, n=st.sampled_from([60, 10, 2, 1]), dtype=st.sampled_from([np.float64, np.float32]))
def test_lsh_hyperparameters(lsh_data, params, n, dtype):
    assume(lsh_memory_bytes(params, n) <= 256 * 2**20)  # see lsh_memory_bytes
    X = lsh_data["X"][:n].astype(dtype)
    Q = lsh_data["X"][:3] + 0.1
    status, res = check_call(_lsh_summary, params, X, Q, inputs=[X, Q], entry="MultiPurposeLSH.fit")
    if status == "ok":
        D, I = res
        assert D.shape == I.shape and D.shape[0] == 3
        assert np.all((I >= 0) & (I < n))
        assert_finite(D, "kneighbors distances")

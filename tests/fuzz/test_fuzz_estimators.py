"""Fuzz the prediction and explanation entry points of the fitted numeric models.

Generated ``X`` (arrays of every dtype, shape and memory layout, sparse
matrices, lists, non-arrays) and ``target``/``method`` go to ``predict``,
``predict_proba``, ``predict_log_proba``, ``decision_function``, ``explain``,
:func:`sklrp.explain` and :func:`sklrp.metrics.perturbation_curve`.  See
``_support.py`` for the oracle.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sklrp
from sklrp.metrics import aopc_score, perturbation_curve

from ._support import (
    ELEMENTS,
    MODERATE,
    assert_finite,
    check_call,
    clearly_valid_target,
    clearly_valid_X,
    dense_arrays,
    n_rows,
    scaled,
    targets,
    x_inputs,
)
from .conftest import N_FEATURES

pytestmark = pytest.mark.fuzz

MODELS = ["dense3", "dense2", "conv3", "linear3", "linear2"]
PREDICTORS = ["predict", "predict_proba", "predict_log_proba", "decision_function"]


def _sparse_ok(model):
    return model.__sklearn_tags__().input_tags.sparse


def _check_prediction(model, name, X, out):
    n, k = n_rows(X), len(model.classes_)
    assert isinstance(out, np.ndarray), f"{name} returned {type(out).__name__}"
    if name == "predict":
        assert out.shape == (n,)
        assert np.isin(out, model.classes_).all(), f"predict returned labels outside classes_: {out!r}"
        return
    expected = (n,) if (name == "decision_function" and k == 2) else (n, k)
    assert out.shape == expected, f"{name} returned shape {out.shape}; expected {expected}"
    assert_finite(out, name)
    if name == "predict_proba":
        assert np.all((out >= 0) & (out <= 1)) and np.allclose(out.sum(axis=1), 1.0), f"not probabilities: {out!r}"


@pytest.mark.parametrize("model_name", MODELS)
@scaled(1.0)
@given(data=st.data())
def test_predictions(models, model_name, data):
    model = models[model_name]
    name = data.draw(st.sampled_from(PREDICTORS), label="method")
    if not hasattr(model, name):  # e.g. predict_proba of a wrapped LinearSVC (documented: available_if)
        return
    X = data.draw(x_inputs(N_FEATURES), label="X")
    status, out = check_call(getattr(model, name), X)
    if status == "ok":
        _check_prediction(model, name, X, out)
    elif clearly_valid_X(X, N_FEATURES, _sparse_ok(model)):
        raise AssertionError(f"{name} refused valid input: {out!r}")


@pytest.mark.parametrize("model_name", MODELS)
@scaled(1.0)
@given(data=st.data())
def test_explain(models, model_name, data):
    model = models[model_name]
    methods = list(model._explain_methods)
    method = data.draw(st.one_of(st.sampled_from(methods + [None]), st.sampled_from(["LRP", "", "foo", 1, ["lrp"]])),
                       label="method")
    X = data.draw(x_inputs(N_FEATURES), label="X")
    n = n_rows(X) if hasattr(X, "shape") and len(getattr(X, "shape", ())) >= 1 else 1
    target = data.draw(targets(n, model.classes_), label="target")
    via_function = data.draw(st.booleans(), label="via sklrp.explain")
    fn = (lambda X, target: sklrp.explain(model, X, target=target, method=method)) if via_function else (
        lambda X, target: model.explain(X, target=target, method=method))
    status, R = check_call(fn, X, target, entry="sklrp.explain" if via_function else f"{type(model).__name__}.explain")
    if status == "ok":
        if sp.issparse(X):
            assert sp.issparse(R) and R.format == X.format, f"sparse {X.format} in, {type(R).__name__} out"
        else:
            assert isinstance(R, np.ndarray)
        assert R.shape == (n_rows(X), N_FEATURES), f"explain returned shape {R.shape}"
        assert_finite(R, "explain")
    elif (
        clearly_valid_X(X, N_FEATURES, _sparse_ok(model))
        and (method is None or method in methods)
        and clearly_valid_target(target, n_rows(X), model.classes_, len(model.classes_))
    ):
        raise AssertionError(f"explain refused valid input: {R!r}")


PERTURBATION_KWARGS = st.fixed_dictionaries(
    {},
    optional={
        "patch_size": st.sampled_from([1, 2, 3, 0, -1, (1, 2), (1, 1, 1), 1.5, "2", None]),
        "input_shape": st.sampled_from([None, (6,), (1, 2, 3), (2, 3), (3, 2), (7,), (0, 6), (1, 1, 1, 6), "6"]),
        "n_steps": st.sampled_from([None, 1, 2, 3, 6, 0, -1, 7, 10**9, 2.0, True]),
        "patches_per_step": st.sampled_from([1, 2, 6, 0, -2, 10**9, 1.0]),
        "order": st.sampled_from([None, "morf", "lerf", "random", "MORF", 3]),
        "replacement": st.sampled_from(["uniform", "normal", 0.0, -1.0, 1e308, float("nan"), float("inf"), "zero",
                                        True]),
        "low": st.sampled_from([None, -1.0, 0.0, 1.0, float("nan"), -1e308]),
        "high": st.sampled_from([None, 1.0, 0.0, -1.0, float("inf"), 1e308]),
        "loc": st.sampled_from([None, 0.0, float("nan"), 1e308]),
        "scale": st.sampled_from([None, 1.0, 0.0, -1.0, float("inf"), 1e308]),
        "score": st.sampled_from(["decision", "proba", "log", None]),
        "n_repeats": st.sampled_from([1, 2, 0, -1, 1.5]),
        "include_start": st.booleans(),
        "batch_size": st.sampled_from([None, 1, 2, 0, -1, 10**9, 1.5]),
        "target": st.sampled_from([None, 0, 1, 2, "pos", "neg", 99, [0, 1], -1.0, 2.0]),
    },
)


@pytest.mark.parametrize("model_name", ["dense3", "conv3", "linear3", "dense2", "linear2"])
@scaled(0.6)
@given(data=st.data())
def test_perturbation_curve(models, model_name, data):
    model = models[model_name]
    X = data.draw(st.one_of(
        hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.just(N_FEATURES)),
                   elements=st.one_of(MODERATE, ELEMENTS[data.draw(st.sampled_from(["moderate", "edge", "any"]))])),
        x_inputs(N_FEATURES),
    ), label="X")
    kind = data.draw(st.sampled_from(["explain", "none", "random", "wrong_shape"]), label="R")
    if kind == "explain" and isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == N_FEATURES:
        status, R = check_call(model.explain, X, deterministic=False)
        R = R if status == "ok" else None
    elif kind == "random" and hasattr(X, "shape") and len(X.shape) == 2:
        R = data.draw(hnp.arrays(np.float64, X.shape, elements=ELEMENTS["any"]))
    elif kind == "wrong_shape":
        R = np.zeros((1, 2))
    else:
        R = None
    kwargs = data.draw(PERTURBATION_KWARGS, label="kwargs")

    if data.draw(st.booleans(), label="aopc_score"):
        status, res = check_call(aopc_score, model, X, R, inputs=[X, R], random_state=0, **kwargs)
        if status == "ok":
            assert isinstance(res, float)
            assert_finite(res, "aopc_score")
        return
    status, res = check_call(perturbation_curve, model, X, R, inputs=[X, R], random_state=0, **kwargs)
    if status == "ok":
        L = res.n_steps
        assert res.curve.shape == (L + 1,) and res.curves.shape == (n_rows(X), L + 1)
        assert_finite((res.curve, res.curves, res.aopc, res.aopc_per_sample, res.fraction_perturbed),
                      "perturbation_curve")


@pytest.mark.parametrize("model_name", ["dense3", "linear3"])
@scaled(0.5)
@given(X=dense_arrays(N_FEATURES, ["float64", "float32", "float16", "int64", "bool"]))
def test_layouts_give_the_same_result_as_a_contiguous_copy(models, model_name, X):
    """Fortran order, strides, read-only arrays: the values count, not the layout.  A byte-swapped array has
    another dtype for scikit-learn's validation (float32 ">f4" is converted to float64), hence the tolerance."""
    model = models[model_name]
    status, R = check_call(model.explain, X)
    native = np.array(X, order="C", dtype=X.dtype.newbyteorder("="))
    ref_status, ref = check_call(model.explain, native)
    assert status == ref_status, f"layout changed the outcome: {R!r} vs {ref!r}"
    if status == "ok":
        if X.dtype == native.dtype:
            np.testing.assert_array_equal(R, ref)
        else:
            np.testing.assert_allclose(R, ref, rtol=1e-5, atol=1e-30)

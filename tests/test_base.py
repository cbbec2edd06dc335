"""sklrp.base: the explain contract shared by every explainable estimator."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted, validate_data

import sklrp
from sklrp.base import ExplainMixin, explain, final_estimator, resolve_target, transform_to_final


class _Toy(ExplainMixin, ClassifierMixin, BaseEstimator):
    """Scores ``X @ W``; relevance ``x_i w_ic`` of the target class (or the explicit relevance's mix)."""

    _explain_methods = ("lrp", "ones")
    _chunk_size = 4

    def __init__(self, method="lrp"):
        self.method = method

    def fit(self, X, y):
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"))
        self.classes_ = np.unique(y)
        self.W_ = np.arange(1, X.shape[1] * len(self.classes_) + 1, dtype=float).reshape(X.shape[1], -1)
        self.calls_ = []
        return self

    def _validate_input(self, X):
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse=("csr", "csc"), reset=False)

    def _explain_context(self, method):
        return {"method": method}

    def _explain_batch(self, X, target_index, target_relevance, *, method, context):
        self.calls_.append((X.shape[0], target_index, target_relevance, method, context, getattr(X, "format", None)))
        dense = X.toarray() if sp.issparse(X) else X
        if method == "ones":
            R = np.ones_like(dense)
        elif target_relevance is not None:
            R = dense * (target_relevance @ self.W_.T)
        else:
            idx = np.argmax(dense @ self.W_, axis=1) if target_index is None else target_index
            R = dense * self.W_[:, idx].T
        return sp.csr_matrix(R * (dense != 0)) if sp.issparse(X) else R


@pytest.fixture
def toy():
    X = np.arange(30, dtype=float).reshape(10, 3) % 7
    y = np.array(["u", "v"] * 5)
    return _Toy().fit(X, y), X


def test_chunks_targets_and_context(toy):
    est, X = toy
    R = est.explain(X, target="v")
    np.testing.assert_array_equal(R, X * est.W_[:, 1])
    assert [c[0] for c in est.calls_] == [4, 4, 2]
    assert all(c[2] is None and c[3] == "lrp" and c[4] == {"method": "lrp"} for c in est.calls_)
    assert [list(c[1]) for c in est.calls_] == [[1] * 4, [1] * 4, [1] * 2]
    est.calls_.clear()
    per = np.array(["u", "v"] * 5)
    np.testing.assert_array_equal(est.explain(X, target=per), X * est.W_[:, [0, 1] * 5].T)
    assert [list(c[1]) for c in est.calls_] == [[0, 1, 0, 1], [0, 1, 0, 1], [0, 1]]
    est.calls_.clear()
    R_out = np.arange(20, dtype=float).reshape(10, 2)
    np.testing.assert_array_equal(est.explain(X, target=R_out), X * (R_out @ est.W_.T))
    assert [c[1] for c in est.calls_] == [None] * 3
    np.testing.assert_array_equal(np.vstack([c[2] for c in est.calls_]), R_out)
    np.testing.assert_array_equal(est.explain(X, method="ones"), np.ones_like(X))
    est.set_params(method="ones")  # the method parameter is the default
    np.testing.assert_array_equal(est.explain(X), np.ones_like(X))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_in_sparse_out(toy, fmt):
    est, X = toy
    Xs = sp.csr_matrix(X).asformat(fmt)
    Xs.data[:3] = 0.0  # explicit zeros are dropped before explaining
    R = est.explain(Xs, target="u")
    assert sp.issparse(R) and R.format == fmt and R.shape == X.shape
    np.testing.assert_array_equal(R.toarray(), Xs.toarray() * est.W_[:, 0])
    assert [c[5] for c in est.calls_] == ["csr"] * 3  # chunks of a canonical CSR matrix
    assert R.nnz == np.count_nonzero(Xs.toarray())


def test_errors(toy):
    est, X = toy
    with pytest.raises(NotFittedError):
        _Toy().explain(X)
    with pytest.raises(ValueError, match=r"Unknown explanation method 'gradient'; expected one of \['lrp', 'ones'\]"):
        est.explain(X, method="gradient")
    with pytest.raises(ValueError, match="X has 2 features"):
        est.explain(X[:, :2])
    with pytest.raises(ValueError, match="Unknown target"):
        est.explain(X, target="w")


def test_resolve_target():
    classes = np.array([3, 5, 7])
    assert resolve_target(classes, None, 4) == (None, None)
    idx, rel = resolve_target(classes, 7, 2)
    assert idx.tolist() == [2, 2] and rel is None
    idx, rel = resolve_target(classes, [5, 3], 2)
    assert idx.tolist() == [1, 0]
    idx, rel = resolve_target(classes, np.ones((2, 3), dtype=np.float32), 2)
    assert idx is None and rel.dtype == np.float64 and rel.shape == (2, 3)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        resolve_target(classes, np.zeros((2, 3, 1)), 2)


def test_module_level_explain_and_pipeline_helpers(toy):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    est, X = toy
    pipe = make_pipeline(FunctionTransformer(lambda A: 2 * A), _Toy()).fit(X, est.classes_[np.arange(10) % 2])
    assert final_estimator(pipe) is pipe[-1] and final_estimator(est) is est
    np.testing.assert_array_equal(transform_to_final(pipe, X), 2 * X)
    assert transform_to_final(est, X) is X
    np.testing.assert_array_equal(explain(pipe, X, target="u"), pipe[-1].explain(2 * X, target="u"))
    np.testing.assert_array_equal(explain(est, X, method="ones"), np.ones_like(X))
    assert sklrp.explain is explain
    with pytest.raises(InvalidParameterError, match="'estimator' parameter of explain"):
        explain(object(), X)
    with pytest.raises(InvalidParameterError, match="'X' parameter of explain"):
        explain(est, 3.0)


def test_nested_pipelines_and_a_last_step_without_explain(toy):
    """A Pipeline whose last step is a Pipeline is explained through both (it was refused, advising to wrap an
    already explainable model); a last step "passthrough" or None is named in the error."""
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    est, X = toy
    y = est.classes_[np.arange(10) % 2]
    nested = make_pipeline(FunctionTransformer(lambda A: 2 * A),
                           make_pipeline(FunctionTransformer(lambda A: A + 1), _Toy())).fit(X, y)
    assert final_estimator(nested) is nested[-1][-1]
    np.testing.assert_array_equal(transform_to_final(nested, X), 2 * X + 1)
    np.testing.assert_array_equal(explain(nested, X, target="u"), nested[-1][-1].explain(2 * X + 1, target="u"))
    for last in ("passthrough", None):
        pipe = Pipeline([("double", FunctionTransformer(lambda A: 2 * A)), ("last", last)]).fit(X, y)
        with pytest.raises(TypeError, match=rf"^The Pipeline's last step is {last!r}, which has no explain method"):
            explain(pipe, X)


def test_sklrp_base_is_a_lazy_submodule():
    code = "import sys, sklrp; assert 'sklrp.base' not in dir() and 'base' in dir(sklrp); print(sklrp.base.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "sklrp.base"

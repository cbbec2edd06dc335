"""LinearRelevanceClassifier through the shared epsilon rule against its former formulas.

``_reference_explain`` is a copy of the closed-form relevance the classifier
computed before its LRP became :class:`sklrp.rules.Epsilon` applied to its
linear map; the rule must reproduce it.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from sklrp import LinearRelevanceClassifier
from sklrp.base import resolve_target


def _reference_explain(clf, X, target=None, method="lrp", stabilizer=1e-12):
    """The former ``explain``: closed-form relevance of the non-zero entries.

    ``stabilizer`` is the former ``1e-12 sign(f_c)`` of explicit output-relevance
    targets.
    """
    W, b = clf.coef_, clf.intercept_
    is_sparse = sp.issparse(X)
    if is_sparse:
        fmt = X.format
        X = sp.csr_matrix(X, copy=True)
        X.eliminate_zeros()
        X.sort_indices()
    scores = np.asarray(X @ W.T) + b
    cls_idx, R_out = resolve_target(clf.classes_, target, scores.shape[0])
    if cls_idx is None and R_out is None:
        cls_idx = np.argmax(scores, axis=1)
    if is_sparse:
        rows, cols, x, D = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr)), X.indices, X.data, X.getnnz(axis=1)
    else:
        rows, cols = np.nonzero(X)
        x, D = X[rows, cols], np.count_nonzero(X, axis=1)
    D = np.asarray(D, dtype=np.float64)
    if method == "random":
        vals = np.random.RandomState(clf.random_state).standard_normal(x.shape[0])
    elif method == "sensitivity":
        vals = W[cls_idx[rows], cols] ** 2 if R_out is None else (R_out @ W)[rows, cols] ** 2
    else:
        share = b[None, :] / np.maximum(D, 1.0)[:, None] if clf.bias == "distribute" else None
        if R_out is None:
            c = cls_idx[rows]
            vals = x * W[c, cols]
            if share is not None:
                vals = vals + share[rows, c]
        else:
            S = R_out / (scores + stabilizer * np.where(scores >= 0, 1.0, -1.0))
            vals = x * np.einsum("ec,ce->e", S[rows], W[:, cols])
            if share is not None:
                vals = vals + np.einsum("ec,ec->e", S[rows], share[rows])
    if is_sparse:
        R = sp.csr_matrix((vals.astype(X.dtype, copy=False), X.indices.copy(), X.indptr.copy()), shape=X.shape)
        return R.asformat(fmt)
    R = np.zeros_like(X)
    R[rows, cols] = vals
    return R


def _dense(R):
    return R.toarray() if sp.issparse(R) else R


@pytest.fixture(scope="module", params=[2, 3], ids=["binary", "multiclass"])
def fitted(request):
    n_classes = request.param
    X, y = make_classification(n_samples=80, n_features=12, n_informative=6, n_classes=n_classes, random_state=0)
    X[np.abs(X) < 0.5] = 0.0
    X = np.vstack([X, np.zeros((1, 12))])  # an all-zero sample
    y = np.append(y, 0)
    clfs = {
        bias: LinearRelevanceClassifier(LogisticRegression(max_iter=500), bias=bias, random_state=4).fit(X, y)
        for bias in ("distribute", "ignore")
    }
    return X, clfs


INPUTS = {
    "dense": lambda X: X,
    "dense32": lambda X: X.astype(np.float32),
    "csr": sp.csr_matrix,
    "csc": sp.csc_matrix,
}


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("bias", ["distribute", "ignore"])
@pytest.mark.parametrize("method", ["lrp", "sensitivity", "random"])
def test_label_targets_match_the_former_formulas(fitted, kind, bias, method):
    X, clfs = fitted
    clf = clfs[bias]
    Xk = INPUTS[kind](X)
    per_sample = clf.classes_[np.arange(X.shape[0]) % len(clf.classes_)]
    for target in (None, clf.classes_[0], clf.classes_[-1], per_sample):
        R = clf.explain(Xk, target=target, method=method)
        ref = _reference_explain(clf, Xk, target=target, method=method)
        assert type(R) is type(ref) and R.dtype == ref.dtype
        if sp.issparse(ref):
            assert R.format == ref.format
        np.testing.assert_allclose(_dense(R), _dense(ref), rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", list(INPUTS))
def test_output_gradient_targets_match_the_former_formulas(fitted, kind):
    X, clfs = fitted
    clf = clfs["distribute"]
    Xk = INPUTS[kind](X)
    R_out = np.random.RandomState(1).normal(size=(X.shape[0], len(clf.classes_)))
    np.testing.assert_allclose(
        _dense(clf.explain(Xk, target=R_out, method="sensitivity")),
        _dense(_reference_explain(clf, Xk, target=R_out, method="sensitivity")),
        rtol=1e-12,
        atol=0,
    )


@pytest.mark.parametrize("kind", ["dense", "csr", "csc"])
@pytest.mark.parametrize("bias", ["distribute", "ignore"])
def test_output_relevance_targets_match_the_former_formulas(fitted, kind, bias):
    """Explicit 2-D targets: the former formula divided by ``f_c + 1e-12 sign(f_c)``;
    the shared rule (``epsilon=0``, as for label targets) divides by ``f_c``.  Without
    that stabiliser the two agree to rtol 1e-12; with it they differ by the
    stabiliser's relative size, at most ``1e-12 / min |f_c|``."""
    X, clfs = fitted
    clf = clfs[bias]
    Xk = INPUTS[kind](X)
    scores = _dense(_reference_explain(clf, Xk, target=clf.classes_[0])).sum(axis=1)
    one_hot_scores = np.zeros((X.shape[0], len(clf.classes_)))
    one_hot_scores[:, 0] = scores
    f = np.asarray(Xk @ clf.coef_.T) + clf.intercept_
    for R_out in (one_hot_scores, np.random.RandomState(2).normal(size=one_hot_scores.shape)):
        R = _dense(clf.explain(Xk, target=R_out))
        np.testing.assert_allclose(R, _dense(_reference_explain(clf, Xk, target=R_out, stabilizer=0.0)),
                                   rtol=1e-12, atol=0)
        np.testing.assert_allclose(R, _dense(_reference_explain(clf, Xk, target=R_out)),
                                   rtol=2e-12 / np.abs(f).min(), atol=0)


@pytest.mark.parametrize("kind", list(INPUTS))
def test_output_relevance_is_conserved_by_the_rule(fitted, kind):
    X, clfs = fitted
    clf = clfs["distribute"]
    Xk = INPUTS[kind](X)
    R_out = np.random.RandomState(3).normal(size=(X.shape[0], len(clf.classes_)))
    R = _dense(clf.explain(Xk, target=R_out))
    present = np.asarray((Xk != 0).sum(axis=1)).ravel() > 0
    np.testing.assert_allclose(R.sum(axis=1)[present], R_out.sum(axis=1)[present],
                               rtol=1e-4 if kind == "dense32" else 1e-9)
    assert np.all(R[~present] == 0)


@pytest.mark.parametrize("kind", list(INPUTS))
def test_gradient_methods(fitted, kind):
    X, clfs = fitted
    clf = clfs["distribute"]
    Xk = INPUTS[kind](X)
    Xd = _dense(Xk)
    target = clf.classes_[-1]
    g = _dense(clf.explain(Xk, target=target, method="gradient"))
    np.testing.assert_array_equal(g, np.where(Xd != 0, clf.coef_[-1], 0.0).astype(Xd.dtype))
    np.testing.assert_array_equal(_dense(clf.explain(Xk, target=target, method="sensitivity")),
                                  (np.where(Xd != 0, clf.coef_[-1], 0.0) ** 2).astype(Xd.dtype))
    gi = _dense(clf.explain(Xk, target=target, method="gradient_x_input"))
    np.testing.assert_array_equal(gi, _dense(clfs["ignore"].explain(Xk, target=target)))
    # an explicit 2-D target is the output gradient
    R_out = np.random.RandomState(5).normal(size=(X.shape[0], len(clf.classes_)))
    np.testing.assert_allclose(_dense(clf.explain(Xk, target=R_out, method="gradient")),
                               np.where(Xd != 0, R_out @ clf.coef_, 0.0), rtol=1e-6 if kind == "dense32" else 1e-12)


def test_sparse_arrays_stay_sparse_arrays():
    X, y = make_classification(n_samples=30, n_features=6, random_state=0)
    X[np.abs(X) < 0.5] = 0.0
    clf = LinearRelevanceClassifier(LinearSVC(), random_state=0).fit(X, y)
    for method in ("lrp", "gradient", "random"):
        R = clf.explain(sp.csr_array(X), method=method)
        assert isinstance(R, sp.csr_array)
        np.testing.assert_allclose(R.toarray(), clf.explain(X, method=method), rtol=1e-12)


def test_explain_in_chunks_equals_one_pass(fitted):
    X, clfs = fitted
    clf = clfs["distribute"]
    R_out = np.random.RandomState(6).normal(size=(X.shape[0], len(clf.classes_)))
    calls = [(None, "lrp"), (R_out, "lrp"), (None, "sensitivity"), (None, "random")]
    whole = [clf.explain(sp.csr_matrix(X), target=t, method=m).toarray() for t, m in calls]
    clf._chunk_size = 7
    try:
        chunked = [clf.explain(sp.csr_matrix(X), target=t, method=m).toarray() for t, m in calls]
    finally:
        del clf._chunk_size
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(b, a, rtol=1e-12)

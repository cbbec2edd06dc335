"""LinearRelevanceClassifier: sklearn conformance, conservation and explain contract."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Perceptron, RidgeClassifier, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklrp
from sklrp import LinearRelevanceClassifier


def _xfail(est):
    # liblinear's LinearSVC itself is not exactly sample-weight equivalent
    # (scikit-learn marks the same checks as expected failures for LinearSVC).
    if est.estimator is None or isinstance(est.estimator, LinearSVC):
        why = "LinearSVC (liblinear) is not exactly sample-weight equivalent"
        return {"check_sample_weight_equivalence_on_dense_data": why,
                "check_sample_weight_equivalence_on_sparse_data": why}
    return {}


@parametrize_with_checks(
    [
        LinearRelevanceClassifier(),
        LinearRelevanceClassifier(RidgeClassifier(), bias="ignore"),
    ],
    expected_failed_checks=_xfail,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


LINEAR = [
    lambda: LinearSVC(),
    lambda: LogisticRegression(max_iter=500),
    lambda: SGDClassifier(random_state=0),
    lambda: RidgeClassifier(),
    lambda: Perceptron(random_state=0),
]


def _data(n_classes, sparse, seed=0):
    X, y = make_classification(n_samples=80, n_features=12, n_informative=6,
                               n_classes=n_classes, random_state=seed)
    X[np.abs(X) < 0.5] = 0.0  # some absent features
    return (sp.csr_matrix(X) if sparse else X), y


def _class_scores(clf, X):
    df = clf.decision_function(X)
    return np.column_stack([-df, df]) if df.ndim == 1 else df


@pytest.mark.parametrize("make", LINEAR)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("sparse", [False, True])
def test_distribute_conserves_score(make, n_classes, sparse):
    X, y = _data(n_classes, sparse)
    clf = LinearRelevanceClassifier(make()).fit(X, y)
    S = _class_scores(clf, X)
    R = clf.explain(X)
    pred_idx = np.searchsorted(clf.classes_, clf.predict(X))
    np.testing.assert_allclose(np.asarray(R.sum(axis=1)).ravel(),
                               S[np.arange(S.shape[0]), pred_idx], rtol=1e-10, atol=1e-12)
    for c in range(n_classes):
        Rc = clf.explain(X, target=clf.classes_[c])
        np.testing.assert_allclose(np.asarray(Rc.sum(axis=1)).ravel(), S[:, c],
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("sparse", [False, True])
def test_ignore_is_x_times_w(n_classes, sparse):
    X, y = _data(n_classes, sparse, seed=1)
    clf = LinearRelevanceClassifier(LogisticRegression(max_iter=500), bias="ignore").fit(X, y)
    est = clf.estimator_
    coef = est.coef_ if n_classes > 2 else np.vstack([-est.coef_, est.coef_])
    Xd = X.toarray() if sparse else X
    for c, label in enumerate(clf.classes_):
        R = clf.explain(X, target=label)
        Rd = R.toarray() if sparse else R
        np.testing.assert_array_equal(Rd, Xd * coef[c])
        np.testing.assert_allclose(Rd.sum(axis=1), _class_scores(clf, X)[:, c] - est.intercept_[
            c if n_classes > 2 else 0] * (1 if c == 1 or n_classes > 2 else -1), rtol=1e-10)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_in_sparse_out(fmt):
    X, y = _data(3, True)
    X = X.asformat(fmt)
    clf = LinearRelevanceClassifier().fit(X, y)
    for method in ("lrp", "sensitivity", "random"):
        R = clf.explain(X, method=method)
        assert sp.issparse(R) and R.format == fmt and R.shape == X.shape
        np.testing.assert_array_equal((R != 0).toarray() | (X != 0).toarray(), (X != 0).toarray())
    Rd = clf.explain(X.toarray())
    assert isinstance(Rd, np.ndarray) and not sp.issparse(Rd)
    np.testing.assert_allclose(Rd, clf.explain(X).toarray(), rtol=1e-12)


def test_absent_features_get_zero_and_dtype_kept():
    X, y = _data(3, False)
    X32 = X.astype(np.float32)
    clf = LinearRelevanceClassifier(LogisticRegression(max_iter=500)).fit(X32, y)
    R = clf.explain(X32)
    assert R.dtype == np.float32
    assert np.all(R[X32 == 0] == 0)
    assert np.all(R[X32 != 0] != 0) or np.count_nonzero(R) > 0


def test_sensitivity_and_random():
    X, y = _data(3, False)
    clf = LinearRelevanceClassifier(LogisticRegression(max_iter=500), random_state=3).fit(X, y)
    R = clf.explain(X, target=clf.classes_[2], method="sensitivity")
    expected = np.where(X != 0, clf.estimator_.coef_[2] ** 2, 0.0)
    np.testing.assert_allclose(R, expected, rtol=1e-12)
    assert np.all(R >= 0)
    R1 = clf.explain(X, method="random")
    R2 = clf.explain(X, method="random")
    np.testing.assert_array_equal(R1, R2)  # seeded by random_state
    assert np.all(R1[X == 0] == 0) and np.std(R1[X != 0]) > 0.5
    clf.set_params(method="sensitivity")  # read at explain time, no refit needed
    np.testing.assert_allclose(clf.explain(X, target=clf.classes_[2]), expected, rtol=1e-12)


def test_target_forms():
    X, y = _data(3, False)
    ys = np.array(["a", "b", "c"])[y]
    clf = LinearRelevanceClassifier(LogisticRegression(max_iter=500)).fit(X, ys)
    S = _class_scores(clf, X)
    per = clf.explain(X, target=ys)
    for i in range(5):
        np.testing.assert_allclose(per[i], clf.explain(X[i:i + 1], target=ys[i])[0])
    # explicit output relevance: the score of one class, zero elsewhere = that label
    Rout = np.zeros_like(S)
    Rout[:, 1] = S[:, 1]
    np.testing.assert_allclose(clf.explain(X, target=Rout), clf.explain(X, target="b"),
                               rtol=1e-9, atol=1e-12)
    # linear in the output relevance
    np.testing.assert_allclose(np.asarray(clf.explain(X, target=2 * Rout)).sum(axis=1),
                               2 * S[:, 1], rtol=1e-9)
    with pytest.raises(ValueError, match="Unknown target"):
        clf.explain(X, target="zzz")
    with pytest.raises(ValueError, match="Unknown target"):
        clf.explain(X, target=np.append(ys[:-1], "q"))
    with pytest.raises(ValueError, match="labels"):
        clf.explain(X, target=ys[:3])
    with pytest.raises(ValueError, match="shape"):
        clf.explain(X, target=np.zeros((X.shape[0], 5)))
    with pytest.raises(ValueError, match="method"):
        clf.explain(X, method="deconvnet")


def test_empty_sample_gets_zero_relevance():
    X, y = _data(3, True)
    X = sp.vstack([X, sp.csr_matrix((1, X.shape[1]))]).tocsr()
    clf = LinearRelevanceClassifier().fit(X[:-1], y)
    R = clf.explain(X)
    assert R[-1].nnz == 0  # documented: D = 0 leaves the bias unassigned
    assert np.isfinite(R.data).all()


def test_bad_input():
    X, y = _data(3, False)
    with pytest.raises(NotFittedError):
        LinearRelevanceClassifier().explain(X)
    clf = LinearRelevanceClassifier().fit(X, y)
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[0, 0] = bad
        with pytest.raises(ValueError):
            clf.explain(Xb)
        with pytest.raises(ValueError):
            LinearRelevanceClassifier().fit(Xb, y)
    with pytest.raises(ValueError, match="features"):
        clf.explain(X[:, :5])
    with pytest.raises(ValueError, match="bias"):
        LinearRelevanceClassifier(bias="half").fit(X, y)


def test_non_linear_final_step():
    X, y = _data(3, False)
    with pytest.raises(TypeError, match="coef_"):
        LinearRelevanceClassifier(DecisionTreeClassifier()).fit(X, y)
    docs = ["good film", "bad film", "good plot", "bad plot"]
    pipe = make_pipeline(TfidfVectorizer(), DecisionTreeClassifier()).fit(docs, [1, 0, 1, 0])
    with pytest.raises(TypeError, match="explain"):
        sklrp.explain(pipe, docs)


def test_pipeline_explain_in_vectorizer_space():
    docs = ["good film", "bad film", "good plot", "bad plot, bad acting", ""]
    pipe = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC()))
    pipe.fit(docs[:4], [1, 0, 1, 0])
    R = sklrp.explain(pipe, docs)
    Xt = pipe[0].transform(docs)
    assert sp.issparse(R) and R.shape == Xt.shape
    np.testing.assert_array_equal(R.indices, Xt.indices)
    df = pipe.decision_function(docs)
    pred = pipe.predict(docs)
    np.testing.assert_allclose(np.asarray(R.sum(axis=1)).ravel()[:4],
                               np.where(pred == 1, df, -df)[:4], rtol=1e-10)
    assert R[4].nnz == 0


@pytest.mark.parametrize("sparse", [False, True])
def test_explain_refuses_scores_that_overflow(sparse):
    rng = np.random.RandomState(0)
    X, y = rng.rand(30, 16), np.arange(30) % 3
    clf = LinearRelevanceClassifier(LinearSVC()).fit(X, y)
    Xb = np.vstack([X[:1], np.full((2, 16), 1e308)])
    with pytest.raises(ValueError, match=r"LinearRelevanceClassifier: the scores of 2 of 3 samples are not finite "
                                         r"although X is: the scores overflow on inputs this large \(largest \|x\| of those samples: "
                                         r"1e\+308"):
        clf.explain(sp.csr_matrix(Xb) if sparse else Xb)


@pytest.mark.parametrize("method", ["decision_function", "predict_proba", "predict_log_proba"])
def test_scores_that_overflow_are_reported(method):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(40, 6)), np.arange(40) % 3
    clf = LinearRelevanceClassifier(LogisticRegression()).fit(X, y)
    x = np.array([[1.7e308] * 3 + [-1.7e308] * 3])
    with pytest.raises(ValueError, match=r"LinearRelevanceClassifier: the scores of 1 of 1 samples are not finite "
                                         r"although X is"):
        getattr(clf, method)(x)
    assert np.isfinite(getattr(clf, method)(X)).all()


def test_python_ints_beyond_the_float_range_are_a_value_error():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(40, 6)), np.arange(40) % 3
    clf = LinearRelevanceClassifier(LogisticRegression()).fit(X, y)
    for call in (clf.explain, clf.predict, lambda Z: LinearRelevanceClassifier().fit(Z * 3, [0, 1, 0]),
                 lambda Z: sklrp.DenseNetClassifier((3,), max_iter=1).fit(Z * 3, [0, 1, 0])):
        with pytest.raises(ValueError, match=r"X holds a number too large for a float \(int too large to convert "
                                             r"to float\); scale X first\."):
            call([[10**400] * 6])


@pytest.mark.parametrize("method, value", [("lrp", 1e308), ("sensitivity", 1e200)])
def test_explanations_that_overflow_from_a_large_target_are_refused(method, value):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(40, 6)), np.arange(40) % 3
    clf = LinearRelevanceClassifier(LogisticRegression()).fit(X, y)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(
        ValueError, match=r"LinearRelevanceClassifier: the explanations are not finite although X and the scores are"
    ):
        clf.explain(X[:1], target=np.full((1, 3), value), method=method)
    assert np.isfinite(clf.explain(X[:1], target=np.full((1, 3), 1.0), method=method)).all()


@pytest.mark.parametrize("n_classes, est", [
    (3, LogisticRegression()),
    (2, LogisticRegression()),
    (2, LogisticRegression(solver="liblinear")),
])
def test_predict_log_proba_in_log_space_where_probabilities_underflow(n_classes, est):
    """Entries whose probability underflows to 0 get the log-softmax/log-sigmoid of the finite scores; the
    others are the wrapped estimator's own."""
    from scipy.special import log_expit, log_softmax

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 4)), np.arange(60) % n_classes
    model = LinearRelevanceClassifier(est).fit(X, y)
    x = np.vstack([X[:3], 1e3 * X[:3]])
    with np.errstate(divide="ignore"):
        naive = np.log(model.predict_proba(x))
    assert np.isneginf(naive).any()  # the case this is about
    out = model.predict_log_proba(x)
    assert np.isfinite(out).all()
    d = model.decision_function(x)
    if n_classes == 2:
        expected = np.stack([log_expit(-d), log_expit(d)], axis=1)
    else:
        expected = log_softmax(d, axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-12)
    normal = naive >= np.log(np.finfo(np.float64).tiny)  # neither zero nor subnormal probabilities
    np.testing.assert_array_equal(out[normal], naive[normal])


@pytest.mark.parametrize("make", [lambda: __import__("sklearn.svm", fromlist=["SVC"]).SVC(kernel="linear"),
                                  lambda: __import__("sklearn.svm", fromlist=["NuSVC"]).NuSVC(kernel="linear")])
def test_one_vs_one_linear_svc_is_refused(make):
    """SVC with a linear kernel has one coef_ row per pair of classes: with three classes, three rows were taken
    for one per class and explained silently wrong (the predicted class for 16 % of iris)."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match=r"decision scores are not X @ coef_\.T \+ intercept_ .* one-vs-one"):
        LinearRelevanceClassifier(make()).fit(X, y)
    binary = LinearRelevanceClassifier(make()).fit(X[y < 2], y[y < 2])  # two classes: one linear score
    R = binary.explain(X[:5], target=1)
    np.testing.assert_allclose(R.sum(axis=1), binary.decision_function(X[:5]), rtol=1e-8)


def test_regressors_and_dense_only_models_get_clear_errors():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LinearRegression
    from sklearn.utils import get_tags

    X, y = make_classification(40, 5, random_state=0)
    for reg in (LinearRegression(), __import__("sklearn.linear_model", fromlist=["Ridge"]).Ridge()):
        get_tags(LinearRelevanceClassifier(reg))  # failed inside the tags ('NoneType' has no 'poor_score')
        with pytest.raises(TypeError, match=r"needs a linear classifier; \w+ has no classes_ after fitting"):
            LinearRelevanceClassifier(reg).fit(X, y)
    lda = LinearRelevanceClassifier(LinearDiscriminantAnalysis())
    assert not get_tags(lda).input_tags.sparse and get_tags(LinearRelevanceClassifier()).input_tags.sparse
    lda.fit(X, y)
    np.testing.assert_allclose(lda.explain(X[:3]).sum(axis=1),
                               lda.decision_function(X[:3]) * np.where(lda.predict(X[:3]) == 1, 1, -1), rtol=1e-8)


def test_predict_log_proba_of_a_sample_does_not_depend_on_its_batch():
    """One-vs-rest rows whose sigmoids all underflow come back uniform from scikit-learn; such a row in a batch
    turned the log-space fallback off for every row (-inf for 43 of 60 rows that were finite one at a time)."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 3), rng.randint(3, size=60)
    model = LinearRelevanceClassifier(SGDClassifier(loss="log_loss", random_state=0)).fit(X, y)
    Xb = X * 1e4
    batch = model.predict_log_proba(Xb)
    alone = np.vstack([model.predict_log_proba(Xb[i:i + 1]) for i in range(len(Xb))])
    assert np.all(np.isfinite(batch))
    np.testing.assert_allclose(batch, alone, rtol=1e-12)  # the same link for every row (rounding aside)


def test_log_proba_keeps_an_estimators_own_link():
    """The log-space fallback is used only where the wrapped probabilities are the scores' sigmoid or softmax:
    modified Huber's probabilities reach exactly 0 and keep their -inf (a binary model was assumed to be a
    sigmoid)."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = (X[:, 0] > 0).astype(int)
    huber = LinearRelevanceClassifier(SGDClassifier(loss="modified_huber", random_state=0)).fit(X, y)
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(huber.predict_log_proba(X * 1e4),
                                      np.log(huber.estimator_.predict_proba(X * 1e4)))
    logistic = LinearRelevanceClassifier(LogisticRegression()).fit(X, y)
    assert np.all(np.isfinite(logistic.predict_log_proba(X * 1e4)))

"""pandas input: feature names are kept as scikit-learn keeps them, explanations are arrays."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import sklrp
from sklrp import ConvNetClassifier, DenseNetClassifier, LinearRelevanceClassifier
from sklrp.metrics import aopc_score, perturbation_curve

pd = pytest.importorskip("pandas")

ESTIMATORS = {
    "dense": lambda: DenseNetClassifier((8,), max_iter=20, random_state=0),
    "conv": lambda: ConvNetClassifier(input_shape=(1, 2, 2), filters=(2,), kernel_size=2, hidden_layer_sizes=(4,),
                                      max_iter=5, random_state=0),
    "linear": lambda: LinearRelevanceClassifier(LogisticRegression()),
}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    y = y.map({0: "setosa", 1: "versicolor", 2: "virginica"})  # a Series of strings
    return X, y


def _fit(name, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ESTIMATORS[name]().fit(X, y)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_dataframe_fit_keeps_feature_names_and_explains_to_arrays(iris, name):
    X, y = iris
    model = _fit(name, X, y)
    assert list(model.feature_names_in_) == list(X.columns)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    same = _fit(name, X.to_numpy(), y.to_numpy())  # the same model from arrays
    for method in ("predict", "predict_proba", "explain"):
        out = getattr(model, method)(X.iloc[:5])
        assert isinstance(out, np.ndarray), f"{method} returned {type(out).__name__}"
        ref = getattr(same, method)(X.to_numpy()[:5])
        if out.dtype.kind == "f":
            np.testing.assert_allclose(out, ref, rtol=1e-12)
        else:
            np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(sklrp.explain(model, X.iloc[:5]), model.explain(X.iloc[:5]))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_dataframe_with_other_columns_is_refused(iris, name):
    X, y = iris
    model = _fit(name, X, y)
    renamed = X.iloc[:3].rename(columns={"petal length (cm)": "petal length"})
    for method in (model.predict, model.explain):
        with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
            method(renamed)
    with pytest.warns(UserWarning, match=f"X does not have valid feature names, but {type(model).__name__} was "
                                         "fitted with feature names"):
        model.explain(X.iloc[:3].to_numpy())


def test_dataframe_in_perturbation_curves(iris):
    X, y = iris
    model = _fit("dense", X, y)
    R = model.explain(X.iloc[:10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the names are checked on the DataFrame; the perturbed arrays say nothing
        res = perturbation_curve(model, X.iloc[:10], R, n_steps=2, random_state=0)
    with pytest.warns(UserWarning, match="X does not have valid feature names") as record:
        ref = perturbation_curve(model, X.to_numpy()[:10], R, n_steps=2, random_state=0)
    assert len(record) == 1  # once, for the array given, not once per perturbation step
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        perturbation_curve(model, X.iloc[:10].rename(columns=lambda c: c.upper()), R, n_steps=2)
    np.testing.assert_allclose(res.curves, ref.curves)
    assert aopc_score(model, X.iloc[:10], R, n_steps=2, random_state=0) == ref.aopc

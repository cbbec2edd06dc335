"""make_explanation_scorer("aopc"): model selection by the quality of the explanations."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score

import sklrp
from sklrp import DenseNetClassifier
from sklrp.metrics import aopc_score, make_explanation_scorer


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16, y[:400]


@pytest.fixture(scope="module")
def net(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DenseNetClassifier((32,), max_iter=30, random_state=0).fit(X[:300], y[:300])


def test_aopc_scorer_is_the_aopc_of_the_estimators_own_explanation(net, digits):
    X, _ = digits
    Xv = X[300:]
    scorer = make_explanation_scorer("aopc", n_steps=8)
    expected = aopc_score(net, Xv, sklrp.explain(net, Xv), n_steps=8, random_state=0)
    assert scorer(net, Xv, None) == expected
    assert make_explanation_scorer("pixel_flipping", n_steps=8)(net, Xv, None) == expected
    # method= goes to explain: the gradient ranks the pixels differently
    sa = make_explanation_scorer("aopc", n_steps=8, method="sensitivity")(net, Xv, None)
    assert sa == aopc_score(net, Xv, sklrp.explain(net, Xv, method="sensitivity"), n_steps=8, random_state=0)
    assert sa != expected
    # the random baseline is worse than LRP
    rnd = aopc_score(net, Xv, None, n_steps=8, random_state=0)
    assert expected > rnd


def test_grid_search_selects_a_composite_by_aopc(digits):
    """Under accuracy every composite scores the same (it does not change the predictions); under AOPC they
    differ and the flat rule, which ignores the input, is not chosen."""
    X, y = digits
    grid = {"composite": ["epsilon", "alpha_beta", "flat"]}
    base = DenseNetClassifier((32,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_accuracy = GridSearchCV(base, grid, cv=2).fit(X, y)
        by_aopc = GridSearchCV(base, grid, cv=2, scoring=make_explanation_scorer("aopc", n_steps=10)).fit(X, y)
    acc = by_accuracy.cv_results_["mean_test_score"]
    assert np.all(acc == acc[0])
    aopc = by_aopc.cv_results_["mean_test_score"]
    assert len(set(aopc.tolist())) == 3
    assert by_aopc.best_params_["composite"] != "flat"
    assert aopc[2] < min(aopc[:2])


def test_aopc_scorer_in_cross_val_score(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(DenseNetClassifier((16,), max_iter=10, random_state=0), X, y, cv=2,
                                 scoring=make_explanation_scorer("aopc", n_steps=4))
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


@pytest.mark.parametrize("kwargs, message", [
    ({"embeddings": {}}, r"Unexpected argument\(s\) \['embeddings'\] for the aopc scorer\."),
    ({"R": None}, r"Unexpected argument\(s\) \['R'\] for the aopc scorer\."),
    ({"target": 1}, r"Unexpected argument\(s\) \['target'\] for the aopc scorer\."),
])
def test_aopc_scorer_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_explanation_scorer("aopc", **kwargs)


def test_aopc_scorer_refuses_sample_weight(net, digits):
    X, _ = digits
    with pytest.raises(ValueError, match="The aopc scorer does not support sample_weight."):
        make_explanation_scorer("aopc")(net, X[:5], None, sample_weight=np.ones(5))


def test_unknown_scorer_lists_aopc():
    with pytest.raises(ValueError, match=r"Unknown explanation scorer 'x'; choose one of \[.*'aopc'.*\]"):
        make_explanation_scorer("x")

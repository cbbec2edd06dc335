"""The networks' shared training loop: frozen layers and the output layer."""

import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from sklrp import ConvNetClassifier, DenseNetClassifier
from sklrp.nn import Conv2D, Dense, Flatten, ReLU

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(max_iter=5, tol=0.0, learning_rate_init=1e-2, random_state=0)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=120, n_features=16, n_informative=8, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, random_state=0)


def make(kind, **kw):
    if kind == "dense":
        return DenseNetClassifier(hidden_layer_sizes=(12, 8), **{**FAST, **kw})
    return ConvNetClassifier(input_shape=(1, 4, 4), filters=(3,), hidden_layer_sizes=(8,), **{**FAST, **kw})


def snapshot(est):
    """Bytes of every parameter, per layer (bit-identical comparison)."""
    return [{k: v.tobytes() for k, v in layer.params.items()} for layer in est.net_.layers]


def trainable(est):
    return [i for i, layer in enumerate(est.net_.layers) if layer.params]


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_frozen_layers_keep_their_weights_bit_identical(kind, solver, data):
    X, y = data
    # trained unfrozen first, so the optimiser holds momentum for every layer
    est = make(kind, solver=solver, weight_decay=0.1).fit(X, y)
    first, last = trainable(est)[0], trainable(est)[-1]
    names = est.net_.layer_names()
    before = snapshot(est)
    est.set_params(warm_start=True, frozen_layers=[first])
    est.fit(X, y)
    after = snapshot(est)
    assert after[first] == before[first]
    assert after[last] != before[last]
    assert est.n_iter_ == 10
    # by name, with partial_fit and with early stopping (best weights restored)
    est.set_params(frozen_layers=[names[last], first])
    est.partial_fit(X, y)
    est.set_params(early_stopping=True, validation_fraction=0.2)
    est.fit(X, y)
    final = snapshot(est)
    assert final[first] == before[first]
    assert final[last] == after[last]
    for i in trainable(est)[1:-1]:
        assert final[i] != before[i]


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_frozen_layers_in_a_fresh_fit_keep_their_initial_weights(kind, data):
    X, y = data
    n_layers = len(make(kind).fit(X, y).net_.layers)
    initial = snapshot(make(kind, frozen_layers=list(range(n_layers))).fit(X, y))
    est = make(kind, frozen_layers=[0, -1]).fit(X, y)  # negative indices count from the end
    trained = snapshot(est)
    assert trained[0] == initial[0] and trained[-1] == initial[-1]
    assert all(trained[i] != initial[i] for i in trainable(est)[1:-1])


def test_unknown_frozen_layers_are_named(data):
    X, y = data
    est = make("dense").fit(X, y)
    assert est.net_.layer_names()[:3] == ["dense_0", "relu_0", "dense_1"]
    before = snapshot(est)
    est.set_params(warm_start=True, frozen_layers=["dense_0", "conv2d_0", 17, True])
    with pytest.raises(ValueError, match=r"frozen_layers names unknown layer\(s\) \['conv2d_0', 17, True\]"):
        est.fit(X, y)
    assert snapshot(est) == before
    with pytest.raises(ValueError, match="dense_0"):  # the error lists the layers there are
        clone(est).set_params(frozen_layers=["x"]).fit(X, y)
    with pytest.raises(ValueError, match="frozen_layers"):
        clone(est).set_params(frozen_layers="dense_0").fit(X, y)


def test_named_layers_can_be_frozen(data):
    X, y = data
    head = Dense(3)
    head.name = "head"
    layers = [Conv2D(3, 2, padding="same"), ReLU(), Flatten(), Dense(8), ReLU(), head]
    est = ConvNetClassifier(input_shape=(1, 4, 4), layers=layers, **FAST).fit(X, y)
    assert est.net_.layer_names()[-1] == "head"
    before = snapshot(est)
    est.set_params(warm_start=True, frozen_layers=["head"]).fit(X, y)
    assert snapshot(est)[-1] == before[-1] and snapshot(est)[0] != before[0]


@pytest.mark.parametrize(
    "layers, appended",
    [
        ([Conv2D(3, 4), ReLU(), Flatten()], False),  # (3, 1, 1) -> 3 outputs: already the output layer
        ([Conv2D(3, 2), ReLU(), Flatten()], True),  # 27 outputs
        ([Flatten(), Dense(3)], False),
        ([Flatten(), Dense(3), ReLU(), Dense(8)], True),
    ],
)
def test_output_layer_appended_from_the_built_shape(layers, appended, data):
    X, y = data
    est = ConvNetClassifier(input_shape=(1, 4, 4), layers=layers, **FAST).fit(X, y)
    assert len(est.net_.layers) == len(layers) + appended
    assert est.net_.output_shape == (3,)
    assert est.decision_function(X[:4]).shape == (4, 3)


def test_an_empty_stack_gets_an_output_layer(data):
    X, y = data
    est = DenseNetClassifier(hidden_layer_sizes=(), **FAST).fit(X[:, :3], y)  # 3 features, 3 classes
    assert [type(layer) for layer in est.net_.layers] == [Dense]


def test_appended_output_layer_draws_the_same_initial_weights(data):
    X, y = data
    implicit = ConvNetClassifier(input_shape=(1, 4, 4), layers=[Conv2D(3, 2), ReLU(), Flatten()], **FAST)
    explicit = ConvNetClassifier(input_shape=(1, 4, 4), layers=[Conv2D(3, 2), ReLU(), Flatten(), Dense(3)], **FAST)
    assert snapshot(implicit.fit(X, y)) == snapshot(explicit.fit(X, y))
    assert_allclose(implicit.explain(X[:5]), explicit.explain(X[:5]))


def test_early_stopping_keeps_the_best_epoch_and_patience_uses_tol(data):
    """The weights of the best validation score are kept even when its gain is below tol (a smaller gain was not
    kept, and the weights of a worse epoch were restored); tol only decides the patience."""
    import numpy as np

    X, y = data
    est = make("dense", max_iter=30, tol=0.5, n_iter_no_change=30, early_stopping=True,
               validation_fraction=0.3).fit(X, y)
    scores = est.history_["val_score"]
    assert len(scores) == est.n_iter_ == 30 and max(scores) > scores[0]  # no gain above tol: no early stop
    assert est.best_validation_score_ == max(scores)
    # the restored weights are those of the best epoch: refit on the same seed, stopping right after it
    best_epoch = int(np.argmax(scores)) + 1
    again = make("dense", max_iter=best_epoch, tol=0.5, n_iter_no_change=30, early_stopping=True,
                 validation_fraction=0.3).fit(X, y)
    assert snapshot(again) == snapshot(est)


def test_a_warm_started_fit_takes_the_solver_settings_and_clears_stale_scores(data):
    """As scikit-learn's MLPClassifier, every fit (warm started too) makes its optimiser from solver,
    learning_rate_init and momentum (changed settings were ignored), and partial_fit keeps its state;
    best_validation_score_ and the validation history describe the weights they were measured on."""
    import numpy as np

    X, y = data
    est = make("dense", max_iter=3, early_stopping=True, validation_fraction=0.2).fit(X, y)
    assert est.best_validation_score_ is not None
    est.set_params(warm_start=True, early_stopping=False, solver="sgd", learning_rate_init=0.5, momentum=0.0)
    est.fit(X, y)
    optimizer = est._trainer.optimizer
    assert type(optimizer).__name__.lower().startswith("sgd") and optimizer.learning_rate == 0.5
    assert not hasattr(est, "best_validation_score_")
    assert len(est.history_["loss"]) == len(est.history_["val_score"]) == len(est.history_["val_loss"]) == 6
    assert np.all(np.isnan(est.history_["val_score"][3:]))
    est.partial_fit(X, y)
    assert est._trainer.optimizer is optimizer and len(est.history_["val_score"]) == 7


def test_early_stopping_on_few_samples_and_the_warning_of_one_epoch():
    """A validation set too small to hold every class is drawn unstratified (the stratified split failed about a
    test_size nobody set); fit with max_iter=1 warns as any fit that stops at max_iter, partial_fit does not."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    X, y = make_classification(20, 5, n_informative=3, n_classes=3, random_state=0)
    est = DenseNetClassifier((4,), max_iter=3, early_stopping=True, random_state=0).fit(X, y)
    assert len(est.history_["val_score"]) == 3
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(1\) reached"):
        DenseNetClassifier((4,), max_iter=1, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.partial_fit(X, y)
    assert np.isfinite(est.loss_)

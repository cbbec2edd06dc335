"""transfer_fit: pre-training then fine-tuning, frozen layers, pipelines, errors."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.pipeline import make_pipeline

from sklrp import EEGDNNClassifier
from sklrp.eeg import transfer_fit

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def trials(n, seed, channel):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 5, 40))
    y = np.repeat([0, 1], n // 2)
    X[y == 1, channel] *= 3.0
    return X, y


def net(**kw):
    params = dict(temporal_kernel=5, n_temporal_filters=3, n_spatial_filters=3, pool_size=8, pool_stride=4,
                  dropout=0.0, max_iter=20, batch_size=16, learning_rate_init=1e-2, random_state=0)
    return EEGDNNClassifier(**{**params, **kw})


def test_pretrained_weights_start_the_fine_tuning_and_frozen_layers_stay():
    Xs, ys = trials(80, 0, channel=1)
    Xt, yt = trials(10, 1, channel=1)
    template = net()
    pre = net().fit(Xs, ys)
    model = transfer_fit(template, Xs, ys, Xt, yt, frozen_layers=["conv2d_0", "conv2d_1"], max_iter=3)
    assert model is not template and not hasattr(template, "net_")
    for i in (1, 2):  # the convolutions: the pre-trained weights, unchanged by the fine-tuning
        for k, v in pre.net_.layers[i].params.items():
            assert_array_equal(model.net_.layers[i].params[k], v)
    assert not np.array_equal(model.net_.layers[-1].params["weight"], pre.net_.layers[-1].params["weight"])
    assert model.n_iter_ == pre.n_iter_ + 3 and model.warm_start
    assert_array_equal(model.pretrained_classes_, [0, 1])
    X_new, y_new = trials(40, 2, channel=1)
    assert model.score(X_new, y_new) >= 0.8  # the pre-trained detector carries over


def test_pipelines_refit_their_transformers_on_the_target():
    mne = pytest.importorskip("mne")
    from mne.decoding import Scaler

    info = mne.create_info([f"EEG{i}" for i in range(5)], 100.0, "eeg")
    Xs, ys = trials(60, 0, channel=2)
    Xt, yt = trials(10, 1, channel=2)
    model = transfer_fit(make_pipeline(Scaler(info, scalings="mean"), net()), Xs, ys, Xt * 5, yt, max_iter=2)
    assert model.predict(Xt * 5).shape == (10,)
    assert model[-1].n_iter_ > 2


def test_errors():
    Xs, ys = trials(20, 0, channel=1)
    Xt, yt = trials(10, 1, channel=1)
    with pytest.raises(ValueError, match="labels \\[2\\] that the source trials lack"):
        transfer_fit(net(), Xs, ys, Xt, yt + 1)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="max_iter must be a positive int"):
            transfer_fit(net(), Xs, ys, Xt, yt, max_iter=bad)


def test_source_groups_align_every_source_subject_on_its_own():
    from sklrp.eeg import EuclideanAlignment

    subjects = []
    for s, gain in enumerate((1.0, 40.0, 0.05)):  # three subjects recorded with very different gains
        X, y = trials(40, s, channel=1)
        subjects.append((gain * X, y))
    Xs = np.concatenate([X for X, _ in subjects])
    ys = np.concatenate([y for _, y in subjects])
    groups = np.repeat([10, 11, 12], 40)
    Xt, yt = trials(20, 7, channel=1)
    pipe = make_pipeline(EuclideanAlignment(), net(max_iter=15))
    model = transfer_fit(pipe, Xs, ys, 3.0 * Xt, yt, source_groups=groups, max_iter=5)
    # pre-training saw each subject aligned on its own: the same as aligning them by hand
    by_hand = np.concatenate([EuclideanAlignment().fit_transform(X) for X, _ in subjects])
    pre = make_pipeline(EuclideanAlignment(), net(max_iter=15)).fit(by_hand, ys)
    again = transfer_fit(pipe, by_hand, ys, 3.0 * Xt, yt, max_iter=5)
    np.testing.assert_allclose(model.decision_function(3.0 * Xt), again.decision_function(3.0 * Xt), rtol=1e-10)
    assert model[-1].n_iter_ == pre[-1].n_iter_ + 5


def test_source_groups_need_an_aligning_pipeline_and_one_group_per_trial():
    from sklrp.eeg import EuclideanAlignment

    Xs, ys = trials(40, 0, channel=1)
    Xt, yt = trials(10, 1, channel=1)
    with pytest.raises(ValueError, match="first step is sklrp.eeg.EuclideanAlignment; got EEGDNNClassifier"):
        transfer_fit(net(), Xs, ys, Xt, yt, source_groups=np.zeros(40))
    with pytest.raises(ValueError, match="one group label per source trial \\(40\\); got shape \\(39,\\)"):
        transfer_fit(make_pipeline(EuclideanAlignment(), net()), Xs, ys, Xt, yt, source_groups=np.zeros(39))

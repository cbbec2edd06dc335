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

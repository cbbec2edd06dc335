"""An LRP pass that owns its forward caches releases them as it goes, with the same relevance."""

import numpy as np

from sklrp.nn import LSTM, Conv1D, Dense, Embedding, Flatten, MaxPool1D, ReLU, Sequential


def test_released_caches_give_the_same_relevance_and_keep_the_rest():
    rng = np.random.RandomState(0)
    net = Sequential([Conv1D(4, 3, padding="same"), ReLU(), MaxPool1D(2), Flatten(), Dense(3)])
    net.build((2, 10), rng, np.float64)
    x = rng.normal(size=(5, 2, 10))
    out, caches = net.forward(x)
    seed = np.eye(3)[[0, 1, 2, 0, 1]]
    kept = net.explain_from(x, out, caches, seed)
    assert all(c for c in caches if isinstance(c, dict))  # not released by default: reusable
    again = net.explain_from(x, out, caches, seed, release=True)
    np.testing.assert_array_equal(again, kept)
    assert all(not c for c in caches if isinstance(c, dict))
    np.testing.assert_array_equal(net.explain(x, seed), kept)

    # a recurrent layer's relevance of its initial states survives the release
    seq = Sequential([Embedding(20, 4), LSTM(3), Dense(2)])
    seq.build((6,), rng, np.float64)
    ids = rng.randint(1, 20, size=(3, 6))
    out, caches = seq.forward(ids)
    seed = np.eye(2)[[0, 1, 1]]
    R = seq.explain_from(ids, out, caches, seed)
    rest = Sequential.relevance_rest(caches)
    out, caches = seq.forward(ids)
    R2 = seq.explain_from(ids, out, caches, seed, release=True)
    np.testing.assert_array_equal(R2, R)
    assert list(caches[1]) == ["relevance_rest"] and not caches[0] and not caches[2]
    np.testing.assert_array_equal(Sequential.relevance_rest(caches), rest)

"""Layer parameters that cannot fit in memory are refused before any allocation."""

import numpy as np
import pytest

from sklrp.nn import Dense


def test_parameters_larger_than_the_machine_are_refused_before_allocation(monkeypatch):
    import sklrp.nn._base as base
    from sklrp.nn import LSTM, Conv2D, Embedding

    monkeypatch.setattr(base, "_physical_memory", lambda: 1 << 20)  # a 1 MiB machine
    rng = np.random.RandomState(0)
    cases = [(Dense(400), (400,), r"Dense: a parameter of shape \(400, 400\) needs 1\.83 MiB to initialise, more "
                                   r"than this machine's 1 MiB of memory; use smaller layer sizes\."),
             (Conv2D(4000, 3), (8, 5, 5), r"Conv2D: a parameter of shape \(4000, 8, 3, 3\)"),
             (Embedding(100_000, 8), (5,), r"Embedding: a parameter of shape \(100000, 8\)"),
             (LSTM(200), (5, 300), r"LSTM: a parameter of shape \(500, 800\)")]
    for layer, shape, message in cases:
        with pytest.raises(ValueError, match=message):
            layer.build(shape, rng, np.float32)
    Dense(10).build((10,), rng, np.float32)  # small ones build

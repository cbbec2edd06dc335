"""CuPy path of MultiPurposeLSH (runs only where CuPy and a GPU exist)."""

import numpy as np
import pytest

from sklrp.neighbors import MultiPurposeLSH

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cp():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.zeros(1).sum()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"CuPy present but no usable GPU: {exc}")
    return cupy


@pytest.mark.parametrize("variant", ["sa", "ca", "cc"])
def test_gpu_matches_cpu(cp, variant):
    rng = np.random.RandomState(0)
    centers = rng.normal(size=(30, 12))
    X = centers[rng.randint(0, 30, 8000)] + 0.3 * rng.normal(size=(8000, 12))
    Q = centers[rng.randint(0, 30, 64)] + 0.3 * rng.normal(size=(64, 12))
    groups = [0] * 6 + [1] * 6
    kw = dict(n_bits=128, variant=variant, feature_groups=groups, n_candidates=300, random_state=0)
    cpu = MultiPurposeLSH(**kw).fit(X)
    gpu = MultiPurposeLSH(**kw).fit(cp.asarray(X))
    assert gpu.device_ == "cuda"
    np.testing.assert_array_equal(cp.asnumpy(gpu.codes_), cpu.codes_)
    for w in ("l2", "cosine", "ip", {"l2": 1.0, "cosine": 2.0}):
        d_c, i_c = cpu.kneighbors(Q, n_neighbors=10, weights=w, group_weights=[1.0, 0.5])
        d_g, i_g = gpu.kneighbors(cp.asarray(Q), n_neighbors=10, weights=w, group_weights=[1.0, 0.5])
        assert isinstance(i_g, cp.ndarray)
        # exact path: identical neighbours
        _, e_c = cpu.kneighbors(Q, n_neighbors=10, weights=w, n_candidates=10**6)
        _, e_g = gpu.kneighbors(cp.asarray(Q), n_neighbors=10, weights=w, n_candidates=10**6)
        np.testing.assert_array_equal(cp.asnumpy(e_g), e_c)
        # approximate path: same codes, so the same recall up to tie-breaking
        # among equal code scores
        rec_c = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i_c, e_c)])
        rec_g = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(cp.asnumpy(i_g), e_c)])
        assert rec_g >= rec_c - 0.05, (w, rec_c, rec_g)
    # NumPy queries against a GPU index come back as NumPy
    _, ind = gpu.kneighbors(Q[:3])
    assert isinstance(ind, np.ndarray)

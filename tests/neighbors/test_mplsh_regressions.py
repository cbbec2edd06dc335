"""Regression tests of MultiPurposeLSH for reported wrong results.

1. kneighbors(Q, k) returned fewer than k neighbours when the candidate pool
   was smaller than k.
2. The same with some queries short of k: a broadcast error in ``_search``.
3. save("idx") wrote idx.npz, which load("idx") did not find.
4. Zero vectors under cosine distance (convention: cosine distance 1).
5. Float32 re-ranking: distances off brute force by ~1e-6.
"""

import io
import pathlib

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_distances

from sklrp.neighbors import MultiPurposeLSH
from sklrp.neighbors import _mplsh

METRICS = ("l2", "ip", "cosine")


def reference(X, Q, weights="l2", groups=None, group_weights=None):
    """Float64 brute-force mixture dissimilarity ``(n_queries, n_samples)``.

    Straight from the documented formula; the cosine of a zero group vector
    is 0.  Pure L2 returns the square root, as the index does.
    """
    X = np.asarray(X, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if isinstance(weights, str):
        weights = {weights: 1.0}
    groups = np.zeros(X.shape[1], int) if groups is None else np.asarray(groups)
    labels = np.unique(groups)
    gw = np.ones(len(labels)) if group_weights is None else np.asarray(group_weights, float)
    D = np.zeros((len(Q), len(X)))
    for g, lab in enumerate(labels):
        xg, qg = X[:, groups == lab], Q[:, groups == lab]
        nx, nq = np.linalg.norm(xg, axis=1), np.linalg.norm(qg, axis=1)
        dot = qg @ xg.T
        denom = nq[:, None] * nx[None, :]
        cos = np.divide(dot, denom, out=np.zeros_like(dot), where=denom > 0)
        term = (
            weights.get("l2", 0.0) * ((qg[:, None, :] - xg[None, :, :]) ** 2).sum(-1)
            + weights.get("ip", 0.0) * (nq[:, None] * nx.max() - dot)
            + weights.get("cosine", 0.0) * (1.0 - cos)
        )
        D += gw[g] * term
    D = np.clip(D, 0.0, None)
    if {m for m, v in weights.items() if v > 0} == {"l2"}:
        D = np.sqrt(D)
    return D


def assert_valid_neighbours(D, I, ref, k, exclude_self=False):
    """k distinct valid indices per query, ascending distances equal to the
    reference distances of those indices."""
    n = ref.shape[1]
    assert D.shape == I.shape == (ref.shape[0], k)
    assert np.all((I >= 0) & (I < n))
    for row in I:
        assert len(set(row.tolist())) == k
    if exclude_self:
        assert not np.any(I == np.arange(len(I))[:, None])
    assert np.all(np.isfinite(D))
    assert np.all(np.diff(D, axis=1) >= 0)
    np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-10, atol=1e-12)


# ------------------------------------------------- 1. exactly k neighbours
def test_issue_k_neighbours_with_a_single_candidate():
    """The reported case: 5 points, one table of 2-bit keys, one probe, one
    candidate; kneighbors(Q, 5) must return all five points, in order."""
    rng = np.random.RandomState(0)
    X5x3 = rng.normal(size=(5, 3))
    Q = rng.normal(size=(3, 3))
    index = MultiPurposeLSH(
        n_tables=1, key_bits=2, n_probes=1, n_candidates=1, random_state=0
    ).fit(X5x3)
    D, I = index.kneighbors(Q, 5)
    assert D.shape == I.shape == (3, 5)
    ref = reference(X5x3, Q)
    np.testing.assert_array_equal(I, np.argsort(ref, axis=1))
    np.testing.assert_allclose(D, np.sort(ref, axis=1), rtol=1e-12)
    with pytest.raises(
        ValueError,
        match=r"Expected n_neighbors <= n_samples_fit, but n_neighbors = 6, n_samples_fit = 5",
    ):
        index.kneighbors(Q, 6)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("weights", ["l2", "ip", "cosine", {"l2": 1.0, "cosine": 2.0}])
def test_k_neighbours_when_every_pool_is_smaller_than_k(seed, weights):
    """Pools of one or two points (one probe of a 2-bit table): every query is
    answered by brute force, with exactly k neighbours, also with X=None and
    one query per batch (batches of different pool widths)."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(5, 3))
    Q = rng.normal(size=(4, 3))
    for batch_size in ("auto", 1):
        index = MultiPurposeLSH(
            n_tables=1, key_bits=2, n_probes=1, n_candidates=1, batch_size=batch_size,
            random_state=seed,
        ).fit(X)
        D, I = index.kneighbors(Q, 5, weights=weights)
        ref = reference(X, Q, weights)
        assert_valid_neighbours(D, I, ref, 5)
        np.testing.assert_allclose(D, np.sort(ref, axis=1), rtol=1e-12, atol=1e-14)
        # X=None: each point excluded from its own neighbours
        D0, I0 = index.kneighbors(None, 4, weights=weights)
        ref0 = reference(X, X, weights)
        np.fill_diagonal(ref0, np.inf)
        assert_valid_neighbours(D0, I0, ref0, 4, exclude_self=True)
        np.testing.assert_allclose(D0, np.sort(ref0, axis=1)[:, :4], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weights", ["l2", "ip", "cosine"])
def test_short_pools_fall_back_to_brute_force(weights):
    """Many points, tiny pools (one probe of an 8-bit table): k neighbours for
    every query; the queries whose pool holds fewer than k points get exactly
    the brute-force answer, the others k points of their pool."""
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 6))
    Q = rng.normal(size=(50, 6))
    k = 10
    index = MultiPurposeLSH(
        n_bits=64, n_tables=1, key_bits=8, n_probes=1, n_candidates=20, random_state=0
    ).fit(X)
    alpha = {m: float(m == weights) for m in METRICS}
    qid, cand = index._table_pool(index._query_state(Q, alpha, np.ones(1)), 1)
    pool_size = np.bincount(qid, minlength=len(Q))
    short = pool_size < k
    assert short.any() and (~short).any()  # both kinds of query occur
    D, I = index.kneighbors(Q, k, weights=weights)
    ref = reference(X, Q, weights)
    assert_valid_neighbours(D, I, ref, k)
    exact_D, exact_I = index.kneighbors(Q, k, weights=weights, n_candidates=len(X))
    np.testing.assert_array_equal(I[short], exact_I[short])
    np.testing.assert_allclose(D[short], exact_D[short], rtol=1e-12)
    pools = [set(cand[qid == q].tolist()) for q in range(len(Q))]
    for q in np.flatnonzero(~short):
        assert set(I[q].tolist()) <= pools[q]


# ----------------------------------- 2. broadcast error with key_bits=4
@pytest.mark.parametrize("n_tables", [1, 2])
@pytest.mark.parametrize("n_probes", [1, 2])
def test_issue_key_bits_4_on_6_points(n_tables, n_probes):
    """16 buckets for 6 points: most pools hold fewer than 3 points.  The
    re-ranking returned as many columns as the largest pool of the batch,
    and the brute-force answers (3 columns) of the queries short of 3
    candidates were then written into them: "shape mismatch: value array of
    shape (m,3) could not be broadcast to indexing result of shape (m,p)".
    (n_candidates < 6: with the default 100 the search is exhaustive.)"""
    for seed in range(6):
        rng = np.random.RandomState(seed)
        X = rng.normal(size=(6, 3))
        Q = rng.normal(size=(4, 3))
        index = MultiPurposeLSH(
            key_bits=4, n_tables=n_tables, n_probes=n_probes, n_candidates=3,
            random_state=seed,
        ).fit(X)
        assert index.key_bits_ == 4 and index.n_tables_ == n_tables
        for weights in ("l2", "ip", "cosine"):
            D, I = index.kneighbors(Q, 3, weights=weights)
            assert_valid_neighbours(D, I, reference(X, Q, weights), 3)


# --------------------------------------------------- 3. save / load paths
@pytest.fixture(scope="module")
def small_index():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 4))
    return MultiPurposeLSH(n_bits=32, n_candidates=10, random_state=0).fit(X), rng.normal(
        size=(3, 4)
    )


@pytest.mark.parametrize("spelling", ["idx", "idx.npz"])
@pytest.mark.parametrize("as_path", [False, True])
def test_save_load_roundtrip_with_or_without_suffix(tmp_path, small_index, spelling, as_path):
    index, Q = small_index
    target = tmp_path / spelling if as_path else str(tmp_path / spelling)
    written = index.save(target)
    # save returns the file it wrote: the path with the .npz suffix
    assert isinstance(written, pathlib.Path if as_path else str)
    assert pathlib.Path(written) == tmp_path / "idx.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx.npz"]
    d0, i0 = index.kneighbors(Q, 3)
    # load accepts the string given to save, what save returned, and the
    # other spelling
    for name in (target, written, str(tmp_path / "idx"), tmp_path / "idx.npz"):
        loaded = MultiPurposeLSH.load(name)
        d1, i1 = loaded.kneighbors(Q, 3)
        np.testing.assert_array_equal(i1, i0)
        np.testing.assert_array_equal(d1, d0)


def test_save_load_file_object_and_missing_file(tmp_path, small_index):
    index, Q = small_index
    buf = io.BytesIO()
    assert index.save(buf) is buf
    buf.seek(0)
    np.testing.assert_array_equal(
        MultiPurposeLSH.load(buf).kneighbors(Q, 3)[1], index.kneighbors(Q, 3)[1]
    )
    # a file written under its own name (no .npz suffix) through a file object
    with open(tmp_path / "raw", "wb") as f:
        index.save(f)
    assert MultiPurposeLSH.load(tmp_path / "raw").n_samples_fit_ == 40
    missing = str(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match=r"nothing'.*nothing\.npz'"):
        MultiPurposeLSH.load(missing)


# ------------------------------------------ 4. zero vectors under cosine
@pytest.fixture(scope="module")
def zero_data():
    rng = np.random.RandomState(2)
    X = rng.normal(size=(120, 6)) + 0.5
    X[:4] = 0.0  # zero points
    X[4:8, :3] = 0.0  # zero in the first group only
    Q = rng.normal(size=(7, 6)) + 0.5
    Q[0] = 0.0
    Q[1, 3:] = 0.0
    return X, Q


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("variant", ["sa", "ca", "cc"])
def test_zero_vectors_cosine_distance_is_one(zero_data, dtype, variant):
    """Cosine distance between a zero vector and anything is 1, as in
    sklearn.metrics.pairwise.cosine_distances; never NaN, exact and
    approximate search, with and without X."""
    X, Q = (a.astype(dtype) for a in zero_data)
    ref = cosine_distances(Q.astype(np.float64), X.astype(np.float64))
    assert np.all(ref[0] == 1.0) and np.all(ref[:, :4] == 1.0)
    index = MultiPurposeLSH(n_bits=64, variant=variant, random_state=0).fit(X)
    n = len(X)
    # exact: every distance, against scikit-learn's
    D, I = index.kneighbors(Q, n, weights="cosine", n_candidates=n)
    assert not np.isnan(D).any()
    np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(D, np.sort(ref, axis=1), rtol=1e-12, atol=1e-15)
    assert np.all(D[0] == 1.0)
    # approximate (code ranking, then hash tables)
    for kw in ({"n_tables": 0}, {"n_tables": 2, "key_bits": 3}):
        approx = MultiPurposeLSH(n_bits=64, variant=variant, n_candidates=15, random_state=0,
                                 **kw).fit(X)
        D, I = approx.kneighbors(Q, 10, weights="cosine")
        assert_valid_neighbours(D, I, ref, 10)
    # X=None: the zero points are at distance 1 from every other point
    D0, I0 = index.kneighbors(None, n - 1, weights="cosine", n_candidates=n)
    ref0 = cosine_distances(X.astype(np.float64))
    np.fill_diagonal(ref0, np.inf)
    assert_valid_neighbours(D0, I0, ref0, n - 1, exclude_self=True)
    assert np.all(D0[:4] == 1.0)


def test_zero_group_vectors_in_mixtures(zero_data):
    """Per group: a zero group vector has group cosine term 1; in mixtures
    with L2 and IP the other terms are the usual ones."""
    X, Q = zero_data
    groups = [0, 0, 0, 1, 1, 1]
    gw = [1.0, 0.5]
    index = MultiPurposeLSH(n_bits=64, feature_groups=groups, random_state=0).fit(X)
    for weights in ("cosine", {"cosine": 1.0, "l2": 0.5}, {"cosine": 2.0, "ip": 1.0}):
        ref = reference(X, Q, weights, groups, gw)
        D, I = index.kneighbors(Q, len(X), weights=weights, group_weights=gw,
                                n_candidates=len(X))
        assert not np.isnan(D).any()
        np.testing.assert_allclose(D, np.sort(ref, axis=1), rtol=1e-12, atol=1e-14)
    # the cosine term of the zero first group of points 4..7 is exactly 1
    D, I = index.kneighbors(Q[2:3], len(X), weights="cosine", group_weights=[1.0, 0.0],
                            n_candidates=len(X))
    assert np.all(D[0][np.isin(I[0], np.arange(8))] == 1.0)


def test_tiny_float32_vectors_are_not_zero_vectors():
    """Float32 vectors whose squares underflow (|x| ~ 1e-30) are not zero: in
    float64 their cosine distances are the true ones.  (scikit-learn's
    cosine_distances treats norms below 10 eps as zero, so it is not the
    reference here.)"""
    rng = np.random.RandomState(3)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    X[:5] *= np.float32(1e-30)
    assert np.all(np.linalg.norm(X[:5].astype(np.float64), axis=1) > 0)
    assert np.all(np.sum(X[:5] * X[:5], axis=1) == 0)  # squares underflow in float32
    Q = rng.normal(size=(4, 4)).astype(np.float32)
    index = MultiPurposeLSH(n_bits=32, random_state=0).fit(X)
    D, I = index.kneighbors(Q, len(X), weights="cosine", n_candidates=len(X))
    ref = reference(X, Q, "cosine")
    np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(D, np.sort(ref, axis=1), rtol=1e-12, atol=1e-15)
    D, I = index.kneighbors(X[:5], 1, weights="cosine", n_candidates=len(X))
    np.testing.assert_array_equal(I[:, 0], np.arange(5))  # each its own neighbour
    np.testing.assert_allclose(D, 0.0, atol=1e-12)


# ------------------------------------------------ 5. float64 re-ranking
MIXTURES = ["l2", "cosine", "ip", {"l2": 0.5, "ip": 0.3, "cosine": 2.0}]


@pytest.fixture(scope="module")
def offset_data():
    # an offset makes |q|^2 + |x|^2 - 2 <q, x> lose digits in float32
    rng = np.random.RandomState(4)
    X = rng.normal(size=(400, 8)) + 3.0
    Q = rng.normal(size=(25, 8)) + 3.0
    return X, Q


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weights", MIXTURES)
@pytest.mark.parametrize("groups", [None, [0, 0, 0, 0, 1, 1, 1, 1]])
def test_float64_reranking_matches_brute_force(offset_data, dtype, weights, groups):
    """n_candidates >= n_samples: the distances equal a float64 brute-force
    computation on the (float32) data to rtol 1e-12, the indices its order."""
    X, Q = (a.astype(dtype) for a in offset_data)
    gw = None if groups is None else [1.0, 0.7]
    index = MultiPurposeLSH(n_bits=64, feature_groups=groups, random_state=0).fit(X)
    ref = reference(X, Q, weights, groups, gw)  # float64 on the stored values
    k = 10
    for nc in (len(X), 10**6):
        D, I = index.kneighbors(Q, k, weights=weights, group_weights=gw, n_candidates=nc)
        assert D.dtype == np.float64
        np.testing.assert_array_equal(I, np.argsort(ref, axis=1, kind="stable")[:, :k])
        np.testing.assert_allclose(D, np.sort(ref, axis=1)[:, :k], rtol=1e-12)
    # the re-ranking of a candidate subset is float64 as well
    approx = MultiPurposeLSH(n_bits=64, feature_groups=groups, n_tables=0, n_candidates=50,
                             random_state=0).fit(X)
    D, I = approx.kneighbors(Q, k, weights=weights, group_weights=gw)
    np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-12)
    # X=None
    D0, I0 = index.kneighbors(None, k, weights=weights, group_weights=gw, n_candidates=len(X))
    ref0 = reference(X, X, weights, groups, gw)
    np.fill_diagonal(ref0, np.inf)
    np.testing.assert_array_equal(I0, np.argsort(ref0, axis=1, kind="stable")[:, :k])
    np.testing.assert_allclose(D0, np.sort(ref0, axis=1)[:, :k], rtol=1e-12)


def test_float64_query_on_float32_index(offset_data):
    """A float64 query is re-ranked as given, not rounded to float32."""
    X, Q = offset_data
    X32 = X.astype(np.float32)
    index = MultiPurposeLSH(n_bits=64, random_state=0).fit(X32)
    ref = reference(X32, Q, "l2")
    D, I = index.kneighbors(Q, 5, n_candidates=len(X))
    np.testing.assert_array_equal(I, np.argsort(ref, axis=1)[:, :5])
    np.testing.assert_allclose(D, np.sort(ref, axis=1)[:, :5], rtol=1e-12)


@pytest.mark.parametrize("weights", ["l2", "ip", "cosine"])
def test_exhaustive_float32_in_row_blocks(offset_data, monkeypatch, weights):
    """Float32 data are converted to float64 a block of rows at a time in the
    brute-force search; the merged result is that of one block."""
    X, Q = offset_data
    X32, Q32 = X.astype(np.float32), Q.astype(np.float32)
    index = MultiPurposeLSH(n_bits=64, random_state=0).fit(X32)
    one = index.kneighbors(Q32, 12, weights=weights, n_candidates=len(X))
    one0 = index.kneighbors(None, 12, weights=weights, n_candidates=len(X))
    monkeypatch.setattr(_mplsh, "_MAX_UPCAST", 37 * X.shape[1])  # 37 rows a block
    blocks = index.kneighbors(Q32, 12, weights=weights, n_candidates=len(X))
    blocks0 = index.kneighbors(None, 12, weights=weights, n_candidates=len(X))
    for a, b in ((one, blocks), (one0, blocks0)):
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], rtol=1e-13)
    ref = reference(X32, Q32, weights)
    np.testing.assert_allclose(blocks[0], np.sort(ref, axis=1)[:, :12], rtol=1e-12)


def test_absurd_numbers_of_tables_are_refused_at_fit():
    from sklearn.utils._param_validation import InvalidParameterError

    X = np.random.RandomState(0).rand(50, 8)
    with pytest.raises(InvalidParameterError, match=r"'n_tables' parameter of MultiPurposeLSH must be an int in "
                                                    r"the range \[0, 1024\]"):
        MultiPurposeLSH(n_tables=10**7).fit(X)
    assert MultiPurposeLSH(n_tables=1024, key_bits=4, random_state=0).fit(X).kneighbors(X[:2], 3)[1].shape == (2, 3)


@pytest.fixture
def saved_index(tmp_path):
    X = np.random.RandomState(0).rand(300, 8)
    path = tmp_path / "idx.npz"
    MultiPurposeLSH(random_state=0).fit(X).save(path)
    return path


def test_truncated_or_corrupted_index_files_get_one_clear_error(saved_index, tmp_path):
    raw = saved_index.read_bytes()
    bad = tmp_path / "bad.npz"
    for k in range(1, 20):  # every 1/20th
        bad.write_bytes(raw[: len(raw) * k // 20])
        with pytest.raises(ValueError, match=r"^MultiPurposeLSH\.load: '.*bad\.npz' is not a readable "
                                             r"MultiPurposeLSH index file: BadZipFile"):
            MultiPurposeLSH.load(bad)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF  # inside a member's data: its checksum no longer matches
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"is not a readable MultiPurposeLSH index file: BadZipFile: Bad CRC-32"):
        MultiPurposeLSH.load(bad)


def _rewrite(src, dst, edit_config=None, drop=()):
    import json
    import zipfile

    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k not in drop}
    if edit_config is not None:
        config = json.loads(str(arrays["config"]))
        edit_config(config)
        arrays["config"] = np.array(json.dumps(config))
    with zipfile.ZipFile(dst, "w") as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, v, allow_pickle=False)
            zf.writestr(f"{k}.npy", buf.getvalue())


@pytest.mark.parametrize("edit, drop, match", [
    (lambda c: c["params"].__setitem__("variant", "os.system"), (), r"The 'variant' parameter of MultiPurposeLSH"),
    (lambda c: c["params"].__setitem__("evil", 1), (),
     r"its configuration names parameters MultiPurposeLSH does not have: \['evil'\]"),
    (lambda c: c.__setitem__("params", 3), (), r"its configuration is not a JSON object with 'params'"),
    (None, ("codes",), r"KeyError: codes is not a file in the archive"),
    (lambda c: c.__setitem__("n_features_in", 5), (), r"its data X has shape \(300, 8\) and dtype float64; "
                                                       r"expected floats of shape \(n_samples, 5\)"),
])
def test_tampered_index_files_are_refused_at_load(saved_index, tmp_path, edit, drop, match):
    bad = tmp_path / "bad.npz"
    _rewrite(saved_index, bad, edit, drop)
    with pytest.raises(ValueError, match=r"^MultiPurposeLSH\.load: .*is not a readable MultiPurposeLSH index "
                                         r"file: .*" + match):
        MultiPurposeLSH.load(bad)
    assert MultiPurposeLSH.load(saved_index).n_samples_fit_ == 300  # the untouched file loads


def test_key_bits_far_beyond_the_data_are_refused_before_allocating():
    X = np.random.RandomState(1).normal(size=(60, 6))
    with pytest.raises(ValueError, match=r"key_bits=30 gives 4294967296 buckets per table \(32 GiB of bucket offsets "
                                         r"for 1 table\(s\)\); that is more than 1 GiB and far more buckets than the "
                                         r"60 points need\. Use a smaller key_bits \(or 'auto'\)\."):
        MultiPurposeLSH(n_tables=1, key_bits=30, random_state=0).fit(X)


def test_n_bits_beyond_the_machine_are_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(_mplsh, "_physical_memory", lambda: 1 << 20)  # a 1 MiB machine
    X = np.random.RandomState(1).normal(size=(60, 6))
    with pytest.raises(ValueError, match=r"n_bits=100000 needs [\d.]+ MiB of projections and codes for 60 points of "
                                         r"6 features, more than this machine's 1 MiB of memory; use fewer n_bits\."):
        MultiPurposeLSH(n_bits=100_000, random_state=0).fit(X)
    assert MultiPurposeLSH(n_bits=64, random_state=0).fit(X).kneighbors(X[:1], 2)[1].shape == (1, 2)

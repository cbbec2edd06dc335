"""Regression tests of MultiPurposeLSH for reported wrong results.

1. kneighbors(Q, k) returned fewer than k neighbours when the candidate pool
   was smaller than k.
2. The same with some queries short of k: a broadcast error in ``_search``.
3. save("idx") wrote idx.npz, which load("idx") did not find.
4. Zero vectors under cosine distance (convention: cosine distance 1).
5. Float32 re-ranking: distances off brute force by ~1e-6.
6. Overflow: a finite query of 1e160, or weights near the float maximum,
   gave inf distances (squared norms overflowed), and kneighbors(X=None)
   then returned a point as its own neighbour (self excluded by distance).
7. Tampered index files loaded and crashed later in kneighbors (IndexError)
   or gave NaN distances; every failure of load is now a ModelFileError.
"""

import io
import pathlib

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_distances

from sklrp.exceptions import ModelFileError
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
    for k in range(20):  # every 1/20th, the empty file included
        bad.write_bytes(raw[: len(raw) * k // 20])
        with pytest.raises(ModelFileError, match=r"^MultiPurposeLSH\.load: '.*bad\.npz' is not a readable "
                                                 r"MultiPurposeLSH index file: BadZipFile"):
            MultiPurposeLSH.load(bad)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF  # inside a member's data: its checksum no longer matches
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match=r"is not a readable MultiPurposeLSH index file: its array '\w+' cannot "
                                             r"be read: Bad CRC-32 for file '\w+\.npy'$"):
        MultiPurposeLSH.load(bad)
    assert issubclass(ModelFileError, ValueError)
    # the same through a file object: the message names it
    with pytest.raises(ModelFileError, match=r"^MultiPurposeLSH\.load: <_io\.BytesIO object .*> is not a "
                                             r"readable MultiPurposeLSH index file: BadZipFile"):
        MultiPurposeLSH.load(io.BytesIO(raw[: len(raw) // 2]))


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
    (None, ("codes",), r"its array 'codes' is missing$"),
    (lambda c: c.__setitem__("n_features_in", 5), (), r"its data X has shape \(300, 8\) and dtype float64; "
                                                       r"expected float32 or float64 of shape \(n_samples, 5\)$"),
])
def test_tampered_index_files_are_refused_at_load(saved_index, tmp_path, edit, drop, match):
    bad = tmp_path / "bad.npz"
    _rewrite(saved_index, bad, edit, drop)
    with pytest.raises(ModelFileError, match=r"^MultiPurposeLSH\.load: .*is not a readable MultiPurposeLSH index "
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


# ------------------------------------------------ 6. overflow / underflow
def _terms(X, Q, groups, gw):
    """Float64 brute force of every term alone (weight one): the squared L2 distance, the inner-product and
    the cosine terms, ``(n_queries, n_samples)`` each."""
    return {"l2": reference(X, Q, "l2", groups, gw) ** 2, "ip": reference(X, Q, "ip", groups, gw),
            "cosine": reference(X, Q, "cosine", groups, gw)}


def _scaled_reference(X, Q, weights, groups, gw, s, data_scaled):
    """Float64 brute force of the distances of the queries ``Q * s`` (``s`` a power of two) to the indexed
    points ``X * s`` (``data_scaled``) or ``X``, computed on moderate data: with both scaled the L2 and
    inner-product terms scale with ``s**2``; with only the queries scaled, ``|q s - x|^2 = s^2 |q - x / s|^2``
    and the inner-product term scales with ``s``; the cosine term does not change.  Pure L2 is the square root,
    computed as ``s`` times that of the scaled-down data (representable where its square is not)."""
    weights = {weights: 1.0} if isinstance(weights, str) else weights
    X_l2 = X if data_scaled else X / s
    if {m for m, v in weights.items() if v > 0} == {"l2"}:
        return reference(X_l2, Q, "l2", groups, gw) * s
    base, l2 = _terms(X, Q, groups, gw), _terms(X_l2, Q, groups, gw)["l2"]
    with np.errstate(over="ignore"):
        parts = {"l2": l2 * s * s, "ip": base["ip"] * (s * s if data_scaled else s), "cosine": base["cosine"]}
        return sum(weights.get(m, 0.0) * parts[m] for m in METRICS if weights.get(m, 0.0) > 0)


@pytest.fixture(scope="module")
def moderate_data():
    rng = np.random.RandomState(7)
    X = rng.normal(size=(200, 6)) + 0.5
    Q = rng.normal(size=(8, 6)) + 0.5
    X[:2] = 0.0  # zero points
    X[2:4, 3:] = 0.0  # zero second group
    Q[0, :3] = 0.0
    return X, Q


@pytest.mark.parametrize("exponent", [200, 500, 1000])
@pytest.mark.parametrize("weights", MIXTURES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_queries_give_finite_distances_matching_scaled_brute_force(moderate_data, exponent, weights, dtype):
    """The reported case: a finite query of 1e160 gave inf distances (|q|^2 overflowed).  Queries up to
    2**1000 (1e301) on moderate data: the distances are finite, ascending and equal the float64 brute force of
    the query scaled down by 2**exponent (exact arithmetic on powers of two), exact and approximate search;
    where the distance itself exceeds the float range (the L2/IP terms of 2**1000 scale as 2**2000), a
    ValueError that names the weights."""
    X, Q = moderate_data
    groups, gw = [0, 0, 0, 1, 1, 1], [1.0, 0.6]
    X = X.astype(dtype)
    s = 2.0 ** exponent
    Qs = Q * s  # float64 queries (beyond the float32 range for an exponent > 128)
    for kw in ({"n_candidates": 10**6}, {"n_tables": 0, "n_candidates": 30},
               {"n_tables": 2, "key_bits": 3, "n_candidates": 30}):
        index = MultiPurposeLSH(n_bits=48, feature_groups=groups, random_state=0, **kw).fit(X)
        ref = _scaled_reference(X.astype(np.float64), Q, weights, groups, gw, s, data_scaled=False)
        if not np.all(np.isfinite(np.sort(ref, axis=1)[:, :5])):  # the mixtures at 2**1000
            with pytest.raises(ValueError, match=r"The distances of 8 of the 8 queries to their nearest neighbours "
                                                 r"exceed the float64 range \(the first: query 0\), with "
                                                 r"weights=\{.*\}, group_weights=\[1\.0, 0\.6\] and query values X "
                                                 r"of magnitude up to .*e\+(30[01]|150)"):
                index.kneighbors(Qs, 5, weights=weights, group_weights=gw)
            continue
        D, I = index.kneighbors(Qs, 5, weights=weights, group_weights=gw)
        assert D.dtype == np.float64 and np.all(np.isfinite(D)) and np.all(np.diff(D, axis=1) >= 0)
        np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-12)
        if "n_tables" not in kw:  # exact: the brute-force neighbours
            np.testing.assert_allclose(D, np.sort(ref, axis=1)[:, :5], rtol=1e-12)


@pytest.mark.parametrize("exponent", [500, -500, -1000])
@pytest.mark.parametrize("weights", MIXTURES)
def test_large_and_tiny_indexed_points_match_scaled_brute_force(moderate_data, exponent, weights):
    """Indexed points and queries scaled by 2**exponent (norms of 1e151 down to 1e-301): the squared norms
    overflow or underflow float64, the distances do not (tiny vectors keep their true cosine); X=None never
    returns a point as its own neighbour."""
    X, Q = moderate_data
    groups, gw = [0, 0, 0, 1, 1, 1], [1.0, 0.6]
    s = 2.0 ** exponent
    if weights == "ip" and exponent < -500:
        pytest.skip("the inner-product term (scale 2**-2000) underflows: not representable")
    for kw in ({"n_candidates": 10**6}, {"n_tables": 2, "key_bits": 3, "n_candidates": 40}):
        index = MultiPurposeLSH(n_bits=48, feature_groups=groups, random_state=0, **kw).fit(X * s)
        for queries, ref_q in ((Q * s, Q), (None, X)):
            D, I = index.kneighbors(queries, 6, weights=weights, group_weights=gw)
            assert np.all(np.isfinite(D)) and np.all(np.diff(D, axis=1) >= 0)
            ref = _scaled_reference(X, ref_q, weights, groups, gw, s, data_scaled=True)
            if queries is None:
                assert not np.any(I == np.arange(len(X))[:, None])
                np.fill_diagonal(ref, np.inf)
            np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-12)
            if "n_tables" not in kw:
                np.testing.assert_allclose(D, np.sort(ref, axis=1)[:, :6], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaled_distances_equal_the_plain_ones(offset_data, monkeypatch, dtype):
    """The scaled computation (used beyond the plain range) gives the plain formula's neighbours and distances
    on moderate data, to rounding: exact, approximate and X=None, every mixture, two groups."""
    X, Q = (a.astype(dtype) for a in offset_data)
    X[:3, :4] = 0.0
    groups, gw = [0, 0, 0, 0, 1, 1, 1, 1], [1.0, 0.7]
    for kw in ({"n_candidates": 10**6}, {"n_tables": 2, "key_bits": 4, "n_candidates": 30}):
        index = MultiPurposeLSH(n_bits=64, feature_groups=groups, random_state=0, **kw).fit(X)
        for weights in MIXTURES:
            plain = [index.kneighbors(q, 7, weights=weights, group_weights=gw) for q in (Q, None)]
            with monkeypatch.context() as m:
                m.setattr(MultiPurposeLSH, "_plain_ok", lambda self, Q: False)
                scaled = [index.kneighbors(q, 7, weights=weights, group_weights=gw) for q in (Q, None)]
            for (d0, i0), (d1, i1) in zip(plain, scaled):
                np.testing.assert_array_equal(i1, i0)
                np.testing.assert_allclose(d1, d0, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("exact", [True, False])
def test_weights_near_the_float_maximum(moderate_data, exact):
    """The reported case: weights {'l2': 1e308, 'ip': 1e308} gave inf distances, and with X=None a point as its
    own neighbour.  The distances of pure L2 with weight 1e308 (whose squares overflow) and of weights whose
    product is representable are finite and exact; beyond the float range a ValueError names the weights."""
    X, Q = moderate_data
    groups = [0, 0, 0, 1, 1, 1]
    kw = {"n_candidates": 10**6} if exact else {"n_tables": 2, "key_bits": 3, "n_candidates": 40}
    index = MultiPurposeLSH(n_bits=48, feature_groups=groups, random_state=0, **kw).fit(X)
    # pure L2: sqrt(1e308 * D) is representable although 1e308 * D is not
    D, I = index.kneighbors(Q, 5, weights={"l2": 1e308})
    ref = reference(X, Q, "l2", groups) * np.sqrt(1e308)
    np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-12)
    assert np.all(np.isfinite(D)) and D.max() > 1e154
    # products of weights near the extremes (1e300 * 1e-300): the moderate distances of moderate weights
    for weights, gw, same_weights, same_gw in (
        ({"ip": 1e300, "cosine": 1e300}, [1e-300, 2e-300], {"ip": 1.0, "cosine": 1.0}, [1.0, 2.0]),
        ({"l2": 1e-300}, [1e300, 1.0], {"l2": 1.0}, [1.0, 1e-300]),
    ):
        D, I = index.kneighbors(Q, 5, weights=weights, group_weights=gw)
        ref = reference(X, Q, same_weights, groups, same_gw)
        np.testing.assert_allclose(D, np.take_along_axis(ref, I, axis=1), rtol=1e-12)
        if exact:
            np.testing.assert_allclose(D, np.sort(ref, axis=1)[:, :5], rtol=1e-12)
    # the true distances exceed the float range: refused (never inf, never the point itself)
    msg = (r"with weights=\{'l2': 1e\+308, 'ip': 1e\+308\}, "
           r"group_weights=\[1\.0, 1\.0\] and query values X of magnitude up to [\d.e+]+: the mixture dissimilarity "
           r"cannot be represented\. Use smaller weights or group_weights, or scale X and the indexed points down\.$")
    with pytest.raises(ValueError, match=r"^The distances of 8 of the 8 queries to their nearest neighbours exceed "
                                         r"the float64 range \(the first: query 0\), " + msg):
        index.kneighbors(Q, 5, weights={"l2": 1e308, "ip": 1e308})
    # X=None: the two zero points have neighbours at representable distances (1e308 |x|^2 with |x| < 1.3)
    with pytest.raises(ValueError, match=r"^The distances of 198 of the 200 queries to their nearest neighbours "
                                         r"exceed the float64 range \(the first: query 2\), " + msg):
        index.kneighbors(None, 5, weights={"l2": 1e308, "ip": 1e308})


@pytest.mark.parametrize("kw", [{"n_candidates": 10**6}, {"n_tables": 0, "n_candidates": 3},
                                {"n_tables": 2, "key_bits": 3, "n_candidates": 3}])
def test_self_is_excluded_by_index(kw):
    """X=None excludes each point by its index, not by its distance: with every point duplicated, a point's
    nearest neighbour is its duplicate (distance 0, the same as its own), never itself."""
    X = np.random.RandomState(8).normal(size=(60, 6))
    X2 = np.vstack([X, X])
    index = MultiPurposeLSH(n_bits=48, random_state=0, **kw).fit(X2)
    exact = kw["n_candidates"] >= 120
    for weights in ("l2", "cosine", {"l2": 1e300, "ip": 1e-300}):
        D, I = index.kneighbors(None, 2, weights=weights)
        assert not np.any(I == np.arange(120)[:, None])
        assert np.all(np.isfinite(D)) and np.all(D[:, 1] > 0)
        if exact:  # the duplicate first, at distance 0 up to the rounding of |q|^2 + |x|^2 - 2 <q, x> (whose
            # square root pure L2 returns)
            np.testing.assert_array_equal(I[:, 0], (np.arange(120) + 60) % 120)
            assert np.all(D[:, 0] <= (1e-6 if weights == "l2" else 1e-13) * D[:, 1])


def test_self_exclusion_does_not_depend_on_the_distance_values(monkeypatch):
    """With every distance inf (what overflowing squared norms gave), the query itself is still never its
    neighbour: re-ranking and brute force exclude it by index (index -1), and kneighbors refuses."""
    X = np.random.RandomState(9).normal(size=(30, 4))
    index = MultiPurposeLSH(n_bits=32, n_tables=0, n_candidates=8, random_state=0).fit(X)
    monkeypatch.setenv("SKLRP_NUMBA", "0")  # _distances is the NumPy path's (the kernels: tests/neighbors/test_kernels.py)
    monkeypatch.setattr(MultiPurposeLSH, "_distances", lambda self, dots, *args: np.full(dots.shape[:-1], np.inf))
    alpha, gw, e = _mplsh._normalized_weights({"l2": 1.0, "ip": 0.0, "cosine": 0.0}, np.ones(1))
    own = np.arange(30)
    D, I = index._exhaustive(X, 3, alpha, gw, own, (e, True))
    assert np.all(np.isinf(D)) and not np.any(I == own[:, None])
    D, I = index._rerank(X, np.tile(own, (30, 1)), 3, alpha, gw, own, (e, True))
    assert np.all(np.isinf(D)) and not np.any(I == own[:, None])
    with pytest.raises(ValueError, match=r"^The distances of 30 of the 30 queries to their nearest neighbours exceed "
                                         r"the float64 range"):
        index.kneighbors(None, 3)


def test_indexed_points_beyond_the_hashing_range_are_refused_at_fit():
    X = np.random.RandomState(1).normal(size=(60, 6))
    with pytest.raises(ValueError, match=r"^X has feature-group norms up to [\d.]+e\+160 \(of the points or of the "
                                         r"points minus their mean\); MultiPurposeLSH hashes squared norms in "
                                         r"float64, so they must be at most 2\.09e\+152\. Scale X down \(all "
                                         r"distances scale with it\)\.$"):
        MultiPurposeLSH(random_state=0).fit(X * 1e160)
    with pytest.raises(ValueError, match=r"norms up to [\d.]+e\+20 .* in float32, so they must be at most "
                                         r"2\.88e\+17\. Scale X down \(all distances scale with it\) or convert it "
                                         r"to float64\.$"):
        MultiPurposeLSH(random_state=0).fit((X * 1e20).astype(np.float32))
    # just inside: fitted, and queried with the finite distances of brute force
    index = MultiPurposeLSH(n_bits=32, random_state=0).fit(X * 1e151)
    D, I = index.kneighbors(X[:3] * 1e151, 4, n_candidates=60)
    ref = reference(X, X[:3], "l2") * 1e151
    np.testing.assert_array_equal(I, np.argsort(ref, axis=1)[:, :4])
    np.testing.assert_allclose(D, np.sort(ref, axis=1)[:, :4], rtol=1e-12, atol=1e140)
    assert D[:, 1:].min() > 1e150


# --------------------------------------------- 7. tampered index files
@pytest.fixture(scope="module")
def table_index():
    """The fuzz suite's index with hash tables: 60 points, two feature groups, two tables of 3-bit keys."""
    X = np.random.RandomState(1).normal(size=(60, 6))
    return MultiPurposeLSH(n_bits=32, feature_groups=[0, 0, 0, 1, 1, 1], n_tables=2, key_bits=3, n_candidates=10,
                           random_state=0).fit(X), X


def _tampered(index, tmp_path, edit=None, config_items=None, **arrays):
    """Save ``index`` and rewrite the file with ``arrays`` replaced (None: removed), ``edit(arrays)`` applied
    and configuration items replaced; numpy writes object arrays pickled."""
    import json

    path = index.save(tmp_path / "idx")
    with np.load(path, allow_pickle=False) as f:
        saved = {k: f[k] for k in f.files}
    for key, value in arrays.items():
        if value is None:
            del saved[key]
        else:
            saved[key] = value(saved[key]) if callable(value) else value
    if edit is not None:
        edit(saved)
    if config_items:
        c = json.loads(str(saved["config"]))
        c.update(config_items)
        saved["config"] = np.array(json.dumps(c))
    np.savez(path, **saved)
    return path


def _refused(path, match):
    with pytest.raises(ModelFileError, match=r"^MultiPurposeLSH\.load: '.*idx\.npz' is not a readable "
                                             r"MultiPurposeLSH index file: " + match):
        MultiPurposeLSH.load(path)


@pytest.mark.parametrize("key, tamper, match", [
    ("center", lambda a: a[:0], r"its array 'center' has shape \(0,\); expected \(6,\)$"),
    ("hash_max_norm", lambda a: a[:0], r"its array 'hash_max_norm' has shape \(0,\); expected \(2,\)$"),
    ("table_order", lambda a: a[:0], r"its array 'table_order' has shape \(0,\); expected \(240,\)$"),
    ("table_offsets", lambda a: a[:0], r"its array 'table_offsets' has shape \(0, 33\); expected \(4, 33\)$"),
    ("block_bits", lambda a: a[:0], r"its array 'block_bits' has shape \(0,\); expected \(4,\)$"),
    ("codes", lambda a: a.T.copy(), r"its array 'codes' has shape \(4, 60\); expected \(60, 4\)$"),
    ("group_index", lambda a: a[:-1], r"its array 'group_index' has shape \(5,\); expected \(6,\)$"),
    ("groups", lambda a: a[:1], r"its array 'groups' has shape \(1,\); expected \(2,\)$"),
    ("group_max_norm", lambda a: np.asarray(a[0]), r"its array 'group_max_norm' has shape \(\); expected \(2,\)$"),
    ("projection_2", lambda a: a.T.copy(), r"its array 'projection_2' has shape \(8, 5\); expected \(5, 8\)$"),
    ("table_projection_1", lambda a: a[:-1], r"its array 'table_projection_1' has shape \(2, 6\); expected "
                                             r"\(3, 6\)$"),
    ("X", lambda a: a[:, :-1], r"its data X has shape \(60, 5\) and dtype float64; expected float32 or float64 of "
                               r"shape \(n_samples, 6\)$"),
    ("X", lambda a: a[:-1], r"its array 'codes' has shape \(60, 4\); expected \(59, 4\)$"),
])
def test_load_refuses_arrays_of_the_wrong_shape(table_index, tmp_path, key, tamper, match):
    """The reported case: arrays of the wrong shape loaded, then kneighbors raised IndexError."""
    _refused(_tampered(table_index[0], tmp_path, **{key: tamper}), match)


@pytest.mark.parametrize("key", ["X", "group_max_norm", "hash_max_norm", "center", "projection_1",
                                 "table_projection_0"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_load_refuses_non_finite_arrays(table_index, tmp_path, key, value):
    """The reported case: NaN in X (or group_max_norm) loaded, then kneighbors returned NaN distances."""
    what = "its data X" if key == "X" else f"its array '{key}'"
    path = _tampered(table_index[0], tmp_path, **{key: lambda a: np.full(a.shape, value)})
    _refused(path, what + r" holds NaN or infinite values$")


@pytest.mark.parametrize("key, dtype, match", [
    ("X", np.int64, r"its data X has shape \(60, 6\) and dtype int64; expected float32 or float64 of shape "
                    r"\(n_samples, 6\)$"),
    ("X", np.float16, r"its data X has shape \(60, 6\) and dtype float16; expected float32 or float64"),
    ("codes", np.float64, r"its array 'codes' has dtype float64; expected uint64$"),
    ("codes", np.int64, r"its array 'codes' has dtype int64; expected uint64$"),
    ("center", np.float32, r"its array 'center' has dtype float32; expected float64, the dtype of the data X$"),
    ("projection_0", np.float32, r"its array 'projection_0' has dtype float32; expected float64, the dtype of the "
                                 r"data X$"),
    ("group_max_norm", np.float32, r"its array 'group_max_norm' has dtype float32; expected float64$"),
    ("table_order", np.float64, r"its array 'table_order' has dtype float64; expected integers$"),
    ("table_offsets", "U3", r"its array 'table_offsets' has dtype <U3; expected integers$"),
    ("block_bits", np.complex128, r"its array 'block_bits' has dtype complex128; expected integers$"),
    ("groups", "U3", r"its groups \['0', '1'\] do not match the feature_groups of its parameters$"),
])
def test_load_refuses_arrays_of_the_wrong_dtype(table_index, tmp_path, key, dtype, match):
    _refused(_tampered(table_index[0], tmp_path, **{key: lambda a: a.astype(dtype)}), match)


@pytest.mark.parametrize("config, match", [
    ({"norm_ranges": 7}, r"its configuration has norm_ranges=7, but the tables of 60 points hold 4 norm range\(s\) "
                         r"per bucket$"),
    ({"norm_ranges": 1}, r"its configuration has norm_ranges=1, but the tables of 60 points hold 4"),
    ({"norm_ranges": 0}, r"its configuration has norm_ranges=0; expected an integer >= 1$"),
    ({"norm_ranges": "4"}, r"its configuration has norm_ranges='4'; expected an integer >= 1$"),
    ({"norm_ranges": True}, r"its configuration has norm_ranges=True; expected an integer >= 1$"),
    ({"n_tables": 3}, r"its configuration has n_tables=3, but fit builds 2 for n_tables=2$"),
    ({"n_tables": 10**12}, r"its configuration has n_tables=1000000000000; expected an integer in \[0, 1024\]$"),
    ({"key_bits": 4}, r"its configuration has key_bits=4, but fit uses 3 for key_bits=3$"),
    ({"n_features_in": 0}, r"its configuration has n_features_in=0; expected an integer >= 1$"),
    # a number of features that sizes arrays beyond the machine is refused before they are made (a 14 KB file
    # allocated GiBs for the feature-group checks)
    ({"n_features_in": 10**12}, r"its arrays and features declare .* more than this machine's .* of memory$"),
    ({"format_version": True}, r"unsupported format_version True; expected 1$"),
    ({"extra": 1}, r"its configuration has unknown keys \['extra'\]$"),
])
def test_load_checks_the_configuration_against_the_tables(table_index, tmp_path, config, match):
    """The reported case: norm_ranges=7 for tables saved with 4 loaded, then kneighbors raised IndexError."""
    _refused(_tampered(table_index[0], tmp_path, config_items=config), match)


def _not_a_permutation(a):
    a = a.copy()
    a[70] = a[71]  # table 1 (points 60..119 of the flat order) holds a point twice
    return a


def _falling_offsets(a):
    a = a.copy()
    a[2, 5], a[2, 6] = a[2, 6] + 1, a[2, 5]
    return a


@pytest.mark.parametrize("key, tamper, match", [
    ("table_order", _not_a_permutation, r"its table_order is not a permutation of the 60 points in table 1$"),
    ("table_order", lambda a: a + 1, r"its table_order holds indices outside \[0, 60\)$"),
    ("table_offsets", _falling_offsets, r"its table_offsets do not rise from 0 to n_samples=60 in every table$"),
    ("table_offsets", lambda a: a * 2, r"its table_offsets do not rise from 0 to n_samples=60 in every table$"),
    ("block_bits", lambda a: a[::-1] + np.array([1, 0, 0, -1]),
     r"its block_bits \[9, 8, 8, 7\] do not match n_bits=32 and variant='cc' \(expected \[8, 8, 8, 8\]\)$"),
    ("codes", lambda a: a | np.uint64(1 << 63), r"its codes have bits set past the 8 hash bits of block 0$"),
    ("group_index", lambda a: a[::-1].copy(), r"its group_index does not match the feature_groups of its "
                                              r"parameters$"),
    ("groups", lambda a: a + 1, r"its groups \[1, 2\] do not match the feature_groups of its parameters$"),
    ("group_max_norm", lambda a: a * 2, r"its group_max_norm \[.*\] does not match the largest group norms of its "
                                        r"data X \(\[.*\]\)$"),
    ("hash_max_norm", lambda a: a * 1e-300, r"its hash_max_norm \[.*\] does not match the largest norms of its "
                                            r"centred data X"),
    ("center", lambda a: a + 1.0, r"its center is not the mean of its data X \(feature 0: "),
    ("projection_3", lambda a: a * 1e300, r"its array 'projection_3' holds values up to .*e\+300; its entries are "
                                          r"standard normal draws, at most 16\.0 in magnitude$"),
    ("X", lambda a: a * 1e160, r"its center is not the mean of its data X"),
])
def test_load_checks_values_and_consistency(table_index, tmp_path, key, tamper, match):
    _refused(_tampered(table_index[0], tmp_path, **{key: tamper}), match)


def test_load_refuses_data_beyond_the_hashing_range(table_index, tmp_path):
    """Consistent arrays (center and norms recomputed) of points whose squared norms overflow: refused as fit
    refuses them."""
    index, X = table_index

    def scale(saved):
        saved["X"] = saved["X"] * 1e160
        saved["center"] = saved["center"] * 1e160
        saved["group_max_norm"] = saved["group_max_norm"] * 1e160
        saved["hash_max_norm"] = saved["hash_max_norm"] * 1e160

    _refused(_tampered(index, tmp_path, edit=scale),
             r"its data X has feature-group norms up to .*e\+160 \(of the points or of the points minus their "
             r"mean\); MultiPurposeLSH hashes squared norms in float64, so they must be at most 2\.09e\+152")


@pytest.mark.parametrize("key", ["codes", "X", "config", "table_order", "projection_3", "table_projection_1"])
def test_load_refuses_a_missing_array(table_index, tmp_path, key):
    match = {"X": r"its array 'X' \(the indexed points\) is missing$",
             "config": r"its array 'config' \(the JSON configuration\) is missing$"}.get(key, rf"its array '{key}' "
                                                                                       r"is missing$")
    _refused(_tampered(table_index[0], tmp_path, **{key: None}), match)


def test_load_refuses_extra_members(table_index, tmp_path):
    def add(saved):
        saved["projection_4"] = saved["projection_3"]

    _refused(_tampered(table_index[0], tmp_path, edit=add), r"it holds the array 'projection_4', which a "
                                                           r"MultiPurposeLSH index of its configuration does not "
                                                           r"have$")


class _Unpickled:
    """Records being unpickled (in a class attribute), as a malicious payload would run code."""

    ran = False

    def __reduce__(self):
        return (_mark_unpickled, ())


def _mark_unpickled():
    _Unpickled.ran = True
    return 0


@pytest.mark.parametrize("key", ["groups", "X", "config", "extra"])
def test_load_never_unpickles(table_index, tmp_path, key):
    """A pickled object array in the npz is refused, its pickle never run."""
    _Unpickled.ran = False
    payload = np.array([_Unpickled(), _Unpickled()], dtype=object)

    def put(saved):
        saved[key] = payload

    path = _tampered(table_index[0], tmp_path, edit=put)
    with np.load(path, allow_pickle=True) as f:  # the payload works when unpickled
        f[key]
    assert _Unpickled.ran
    _Unpickled.ran = False
    _refused(path, rf"its array '{key}' holds Python objects \(dtype object\), which are never unpickled\.$")
    assert not _Unpickled.ran


def test_load_refuses_members_that_are_not_arrays_or_are_truncated(table_index, tmp_path):
    import zipfile

    index = table_index[0]
    path = index.save(tmp_path / "idx")
    raw = path.read_bytes()
    # a member that is not a .npy array
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("notes.txt", "hello")
    _refused(path, r"it holds the member 'notes\.txt', which is not a \.npy array$")
    # a member whose .npy header declares more data than it holds (a crafted or cut member)
    path.write_bytes(raw)
    with np.load(path, allow_pickle=False) as f:
        saved = {k: f[k] for k in f.files}
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in saved.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, v, allow_pickle=False)
            data = buf.getvalue()
            zf.writestr(f"{k}.npy", data[:-8] if k == "codes" else data)
    _refused(path, r"its array 'codes' holds 1912 bytes of array data once decompressed, but its header declares "
                   r"shape \(60, 4\) of dtype uint64, 1920 bytes; the member is corrupt or crafted \(a zip bomb, or a "
                   r"truncated array\)\.$")
    # a member that is no .npy at all
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in saved.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, v, allow_pickle=False)
            zf.writestr(f"{k}.npy", b"garbage" if k == "center" else buf.getvalue())
    _refused(path, r"its array 'center' is not a \.npy array \(it lacks the \.npy magic string\)\.$")


def test_every_tampered_index_either_loads_and_answers_or_is_refused(table_index, tmp_path):
    """The fuzz oracle over a grid of tampered arrays: load raises ModelFileError (only) or the index answers
    with finite distances and valid indices."""
    index, X = table_index
    Q = X[:3] + 0.1
    path = index.save(tmp_path / "idx")
    with np.load(path, allow_pickle=False) as f:
        keys = list(f.files)
    tampers = [lambda a: a.reshape(-1)[:0], lambda a: np.asarray(a.ravel()[0]), lambda a: a.T.copy(),
               lambda a: a[:-1] if a.ndim else a.reshape(1),
               lambda a: -np.abs(a) - 1 if a.dtype.kind in "fi" else a,
               lambda a: np.full(a.shape, 2**31 - 1 if a.dtype.kind in "iu" else 1e300, dtype=a.dtype)
               if a.dtype.kind in "fiu" else a,
               lambda a: np.zeros(a.shape, dtype=np.int64), lambda a: np.full(a.shape, "x")]
    loaded = 0
    for key in keys:
        for tamper in tampers:
            bad = _tampered(index, tmp_path, **{key: tamper})
            try:
                other = MultiPurposeLSH.load(bad)
            except ModelFileError:
                continue
            loaded += 1
            for weights in ("l2", "ip", "cosine"):
                D, ind = other.kneighbors(Q, 2, weights=weights)
                assert np.all(np.isfinite(D)) and np.all((ind >= 0) & (ind < 60))
    assert loaded < len(keys) * len(tampers) / 4  # most tampering is caught


@pytest.mark.parametrize("change", [dict(variant="sa"), dict(variant="ca"), dict(n_bits=64),
                                    dict(feature_groups=[0, 1, 1, 0, 1, 1]), dict(n_tables=1), dict(key_bits=5),
                                    dict(random_state=7)])
def test_structural_parameters_set_after_fit_apply_at_the_next_fit(tmp_path, change):
    """The parameters that shape the index take effect at the next fit, as in scikit-learn: queries and save keep
    the fitted ones.  A changed variant crashed kneighbors inside a matrix product; a changed n_bits, groups or
    key bits made save write a file that load always refused."""
    X = np.random.RandomState(2).normal(size=(3000, 6))
    index = MultiPurposeLSH(n_bits=32, feature_groups=[0, 0, 0, 1, 1, 1], n_tables=2, key_bits=3,
                            n_candidates=40, random_state=0).fit(X)
    dist, ind = index.kneighbors(X[:20], 5)
    index.set_params(**change)
    assert index.variant_ == "cc"
    dist2, ind2 = index.kneighbors(X[:20], 5)
    np.testing.assert_array_equal(ind2, ind)
    np.testing.assert_array_equal(dist2, dist)
    loaded = MultiPurposeLSH.load(index.save(tmp_path / "idx.npz"))
    np.testing.assert_array_equal(loaded.kneighbors(X[:20], 5)[1], ind)
    assert {k: loaded.get_params()[k] for k in ("variant", "n_bits", "key_bits")} == {
        "variant": "cc", "n_bits": 32, "key_bits": 3}
    # the loaded index saves its own structure too, and the next fit takes the new parameters
    loaded.set_params(**change)
    np.testing.assert_array_equal(MultiPurposeLSH.load(loaded.save(tmp_path / "again.npz")).codes_, index.codes_)
    refit = index.fit(X)
    assert refit.variant_ == change.get("variant", "cc")
    assert int(refit.block_bits_.sum()) == change.get("n_bits", 32)


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e-180), (np.float32, 1e-30), (np.float32, 1e-21)])
@pytest.mark.parametrize("numba", [True, False])
def test_cosine_ranking_of_tiny_vectors(monkeypatch, dtype, scale, numba):
    """Cosine does not depend on scale: the squared norms of tiny points underflowed in the ranking's norm cache,
    every point looked like a zero vector (cosine estimate 0) and recall fell to chance (0.15)."""
    monkeypatch.setenv("SKLRP_NUMBA", "1" if numba else "0")  # the compiled ranking or the NumPy one
    rng = np.random.RandomState(0)
    C = rng.normal(size=(30, 6)) * 3
    X = C[rng.randint(0, 30, 6000)] + rng.normal(size=(6000, 6))
    Q = C[rng.randint(0, 30, 40)] + rng.normal(size=(40, 6))
    truth = np.argsort(cosine_distances(Q, X), axis=1)[:, :10]

    def recall(s):
        index = MultiPurposeLSH(random_state=0).fit((X * s).astype(dtype))
        ind = index.kneighbors((Q * s).astype(dtype), 10, weights="cosine", return_distance=False)
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, truth)])

    unit = recall(1.0)
    assert unit > 0.9
    assert recall(scale) >= unit - 0.02


def test_all_zero_feature_group_has_no_inner_product_term(tmp_path):
    """M_g of a group that is zero in every indexed point is 0: its inner-product term M_g |q_g| - <q_g, x_g> is
    0 (it was 1.0, adding |q_g| to every distance).  Files that wrote 1.0 still load."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    X[:, 2:] = 0
    Q = rng.normal(size=(5, 4))
    groups = [0, 0, 1, 1]
    index = MultiPurposeLSH(feature_groups=groups, n_candidates=300, random_state=0).fit(X)
    assert index.group_max_norm_[1] == 0.0 and index.group_max_norm_[0] > 0
    for weights in ("ip", {"ip": 1.0, "l2": 0.5}, {"ip": 2.0, "cosine": 1.0}):
        for n_candidates in (300, 40):  # exhaustive, and ranked then re-ranked
            D, I = index.kneighbors(Q, 4, weights=weights, n_candidates=n_candidates)
            assert_valid_neighbours(D, I, reference(X, Q, weights, groups=groups), 4)
    legacy = _tampered(index, tmp_path, group_max_norm=lambda M: np.where(M == 0, 1.0, M))
    loaded = MultiPurposeLSH.load(legacy)
    assert loaded.group_max_norm_[1] == 0.0
    np.testing.assert_array_equal(loaded.kneighbors(Q, 4, weights="ip")[0], index.kneighbors(Q, 4, weights="ip")[0])

"""The compiled (Numba) kernels of the LSH query against NumPy references,
and the compiled query path against the NumPy one."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from sklrp.neighbors import MultiPurposeLSH
from sklrp.neighbors import _hashing as H
from sklrp.neighbors import _kernels as K

numba = pytest.importorskip("numba")
NK = pytest.importorskip("sklrp.neighbors._numba_kernels")


def _segments(rng, n, nq, n_seg, n_tables=3):
    """Random bucket segments into a table order like the index's."""
    order = np.concatenate([rng.permutation(n) for _ in range(n_tables)]).astype(np.int32)
    lens = rng.integers(0, 40, (nq, n_seg)).astype(np.int64)
    starts = np.stack([rng.integers(0, len(order) - 40, n_seg) for _ in range(nq)]).astype(np.int64)
    return starts, lens, order


def _reference_ids(starts, lens, order):
    """Per query, its distinct ids in order of first appearance (NumPy)."""
    out = []
    for s_q, l_q in zip(starts, lens):
        ids = np.concatenate([order[s : s + ln] for s, ln in zip(s_q, l_q)] + [np.zeros(0, np.int32)])
        _, first = np.unique(ids, return_index=True)
        out.append(ids[np.sort(first)])
    return out


def test_enabled_follows_environment(monkeypatch):
    monkeypatch.setenv("SKLRP_NUMBA", "0")
    assert not K.enabled()
    monkeypatch.setenv("SKLRP_NUMBA", "1")
    assert K.enabled()


def test_unique_pool_is_sorted_dedup():
    rng = np.random.default_rng(0)
    starts, lens, order = _segments(rng, 5000, 37, 20)
    lens[3] = 0  # a query with an empty pool
    counts, cand = K.unique_pool(starts, lens, order, 5000)
    ref = _reference_ids(starts, lens, order)
    assert counts.tolist() == [len(r) for r in ref]
    assert counts[3] == 0
    np.testing.assert_array_equal(cand, np.concatenate([np.sort(r) for r in ref]))


@pytest.mark.parametrize("seed", range(4))
def test_select_is_kth_smallest(seed):
    rng = np.random.default_rng(seed)
    for m in [1, 2, 7, 900, 1100, 5000]:
        for x in [rng.standard_normal(m), np.round(rng.standard_normal(m), 1), np.ones(m)]:
            for k in sorted({1, max(1, m // 7), max(1, m // 2), m}):
                tmp = np.empty(m)
                got = NK._kth_smallest(x.copy(), m, k, tmp)
                assert got == np.partition(x, k - 1)[k - 1], (m, k)


def _rank_inputs(rng, n, G, W):
    codes = rng.integers(0, 2**63, (n, G * W), dtype=np.uint64)
    sq = rng.random((G, n)) * 4
    xn = np.sqrt(sq)
    xn[:, :5] = 0.0  # zero vectors
    sq[:, :5] = 0.0
    rec = np.zeros((n, G * (W + 2)))
    ru = rec.view(np.uint64)
    for g in range(G):
        ru[:, g * (W + 2) : g * (W + 2) + W] = codes[:, g * W : (g + 1) * W]
        rec[:, g * (W + 2) + W] = sq[g]
        rec[:, g * (W + 2) + W + 1] = xn[g]
    return codes, sq, xn, rec


@pytest.mark.parametrize("G, gidx", [(1, [0]), (3, [0, 2]), (3, [1])])
@pytest.mark.parametrize("n_cand", [1, 50, 10_000])
def test_pool_top_takes_the_cheapest_candidates(G, gidx, n_cand):
    """The ids are distinct, from the pool, and their costs (recomputed in NumPy
    from the documented formula) are the n_cand smallest of the pool."""
    rng = np.random.default_rng(1)
    n, W, nq = 3000, 2, 25
    starts, lens, order = _segments(rng, n, nq, 30)
    codes, sq, xn, rec = _rank_inputs(rng, n, G, W)
    t = 64 * W
    ng = len(gidx)
    qcodes = rng.integers(0, 2**63, (nq, ng, W), dtype=np.uint64)
    coslut = np.tile(np.cos(np.arange(t + 1) * np.pi / t), (ng, 1))
    a, c = rng.random(ng), rng.random(ng)
    qn = rng.random((nq, ng))
    qn[0] = 0.0  # a zero query
    b = rng.random((nq, ng)) * qn
    ids = K.pool_top(starts, lens, order, rec, gidx, qcodes, coslut, a, b, c, qn, n_cand)
    assert ids.shape == (nq, n_cand)
    for q, pool in enumerate(_reference_ids(starts, lens, order)):
        cost = np.zeros(len(pool))
        for i, g in enumerate(gidx):
            ham = H.popcount64(codes[pool][:, g * W : (g + 1) * W] ^ qcodes[q, i]).sum(axis=1)
            cos = np.where((xn[g, pool] > 0) & (qn[q, i] > 0), coslut[i, ham], 0.0)
            cost += a[i] * sq[g, pool] - cos * (b[q, i] * xn[g, pool] + c[i])
        got = ids[q][ids[q] >= 0]
        assert len(got) == min(n_cand, len(pool)) and len(set(got.tolist())) == len(got)
        assert set(got.tolist()) <= set(pool.tolist())
        pos = {p: i for i, p in enumerate(pool.tolist())}
        np.testing.assert_allclose(
            np.sort(cost[[pos[p] for p in got.tolist()]]), np.sort(cost)[: len(got)], rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("G, gidx", [(1, [0]), (3, [0, 2])])
@pytest.mark.parametrize("n_cand", [1, 50, 10_000])
def test_pool_top_on_records_in_bucket_order(G, gidx, n_cand):
    """Records kept in bucket order (row e for entry e of the table order)
    give exactly the ids of records kept once per point."""
    rng = np.random.default_rng(2)
    n, W, nq = 3000, 2, 25
    starts, lens, order = _segments(rng, n, nq, 30)
    _, _, _, rec = _rank_inputs(rng, n, G, W)
    ng = len(gidx)
    args = (gidx, rng.integers(0, 2**63, (nq, ng, W), dtype=np.uint64),
            np.tile(np.cos(np.arange(64 * W + 1) * np.pi / (64 * W)), (ng, 1)),
            rng.random(ng), rng.random((nq, ng)), rng.random(ng), rng.random((nq, ng)), n_cand)
    by_point = K.pool_top(starts, lens, order, rec, *args)
    by_bucket = K.pool_top(starts, lens, order, rec[order], *args, n_points=n)
    np.testing.assert_array_equal(by_bucket, by_point)
    with pytest.raises(ValueError, match="one row per entry of order"):
        K.pool_top(starts, lens, order, rec, *args, n_points=n)


def _reference_rerank(X, ids, Q, gi, G, alpha, gw, k):
    """The documented mixture dissimilarity of every candidate, in NumPy; the k smallest."""
    X64 = X.astype(np.float64)
    M = np.array([np.linalg.norm(X64[:, gi == g], axis=1).max() for g in range(G)])
    D = np.full(ids.shape, np.inf)
    for q in range(len(Q)):
        for j, p in enumerate(ids[q]):
            if p < 0:
                continue
            t = 0.0
            for g in range(G):
                x, y = X64[p, gi == g], Q[q, gi == g]
                nx, ny = np.linalg.norm(x), np.linalg.norm(y)
                cos = x @ y / (nx * ny) if nx * ny > 0 else 0.0
                t += gw[g] * (alpha["l2"] * ((x - y) ** 2).sum() + alpha["ip"] * (ny * M[g] - x @ y)
                              + alpha["cosine"] * (1 - cos))
            D[q, j] = max(t, 0.0)
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, order, axis=1), np.where(np.isfinite(np.take_along_axis(D, order, axis=1)),
                                                          np.take_along_axis(ids, order, axis=1), -1), M


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("G", [1, 3])
@pytest.mark.parametrize("alpha", [{"l2": 1.0, "ip": 0.0, "cosine": 0.0}, {"l2": 0.0, "ip": 1.0, "cosine": 0.0},
                                   {"l2": 0.3, "ip": 0.5, "cosine": 2.0}])
def test_rerank_top_is_the_k_smallest_dissimilarities(dtype, G, alpha):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 10)).astype(dtype)
    X[:3] = 0.0  # zero vectors: cosine 0
    Q = rng.standard_normal((7, 10))
    gi = np.arange(10) % G
    gw = np.linspace(0.5, 2.0, G)
    ids = rng.integers(-1, 500, (7, 30))
    ids[0, :28] = -1  # fewer candidates than k
    ids[1, :5] = [0, 1, 2, 3, 4]
    ref_D, ref_I, M = _reference_rerank(X, ids, Q, gi, G, alpha, gw, 5)
    sq = np.stack([(X.astype(np.float64)[:, gi == g] ** 2).sum(1) for g in range(G)], axis=1)
    D, I = K.rerank_top(X, ids, Q, gi, G, sq, M, gw, alpha, 5)
    np.testing.assert_allclose(D, ref_D, rtol=1e-10, atol=1e-12)
    fin = np.isfinite(ref_D)
    np.testing.assert_array_equal(I[~fin], -1)
    np.testing.assert_allclose(np.take_along_axis(D, np.argsort(I, 1), 1)[fin.all(1)],
                               np.take_along_axis(ref_D, np.argsort(ref_I, 1), 1)[fin.all(1)], rtol=1e-10)


def _clustered(n, d, n_queries, seed):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((60, d))
    X = centers[rng.integers(0, 60, n)] + 0.5 * rng.standard_normal((n, d))
    X *= np.exp(0.25 * rng.standard_normal((n, 1)))
    Q = centers[rng.integers(0, 60, n_queries)] + 0.5 * rng.standard_normal((n_queries, d))
    return X.astype(np.float32), Q.astype(np.float32)


@pytest.fixture(scope="module")
def two_group_index():
    X, Q = _clustered(3000, 16, 60, seed=0)
    X[:20, :8] = 0.0  # zero vectors in the first group
    groups = np.repeat([0, 1], 8)
    # hash tables are used from 4096 points on by default: asked for here
    index = MultiPurposeLSH(feature_groups=groups, n_tables=8, key_bits=7, random_state=0)
    return index.fit(X), X, Q


@pytest.mark.parametrize(
    "weights, gw",
    [("l2", None), ("cosine", None), ("ip", None), ({"l2": 0.3, "ip": 1.0, "cosine": 2.0}, None),
     ("l2", [1.0, 0.0]), ({"cosine": 1.0, "ip": 0.5}, [0.5, 2.0])],
)
@pytest.mark.parametrize("self_query", [False, True])
def test_compiled_path_gives_the_numpy_neighbours(two_group_index, monkeypatch, weights, gw, self_query):
    """The same neighbours with and without the kernels: equal code costs are
    broken by the smaller id on both paths, so the candidates re-ranked are
    the same; only points at exactly equal distances (here the zero vectors of
    the first group) may come in another order."""
    index, X, Q = two_group_index
    assert index.n_tables_ > 0
    query = None if self_query else Q
    kw = dict(n_neighbors=10, weights=weights, group_weights=gw, n_candidates=300)
    calls = []
    pool_top = K.pool_top
    monkeypatch.setattr(K, "pool_top", lambda *a, **k: calls.append(1) or pool_top(*a, **k))
    monkeypatch.setenv("SKLRP_NUMBA", "1")
    D1, I1 = index.kneighbors(query, **kw)
    assert calls, "the compiled path did not run"
    monkeypatch.setenv("SKLRP_NUMBA", "0")
    n_calls = len(calls)
    D0, I0 = index.kneighbors(query, **kw)
    assert len(calls) == n_calls, "the NumPy path used a kernel"
    # the kernels sum the dot products in another order than NumPy: equal to rounding
    np.testing.assert_allclose(D1, D0, rtol=1e-12, atol=1e-12)
    untied = np.all(np.diff(D0, axis=1) > 1e-9 * (1.0 + D0[:, 1:]), axis=1)
    # with the second group off, the 20 points that are zero in the first are at
    # one distance from every query: also tied with points that are not returned
    untied &= np.all(I0 >= 20, axis=1)
    assert untied.mean() > 0.5
    np.testing.assert_array_equal(I1[untied], I0[untied])
    for a, b, d in zip(I1[~untied], I0[~untied], D0[~untied]):
        for v in np.unique(d[d < d[-1]]):  # the same points at every distance but the last (cut)
            assert set(a[d == v]) == set(b[d == v])
    if self_query:
        assert not np.any(I1 == np.arange(len(X))[:, None])


def test_blas_threads_restored_after_query(two_group_index):
    index, X, Q = two_group_index
    before = [(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    index.kneighbors(Q, n_neighbors=3)
    after = [(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    assert before == after
    # also after queries from several threads at once (one shared limit, restored by the last)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: index.kneighbors(Q, n_neighbors=3), range(12)))
    after = [(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    assert before == after


def test_rerank_does_not_depend_on_the_batch():
    """Bit for bit the same distances whatever queries and candidates share the
    call (a fastmath build once vectorised some iterations and not others)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((2000, 37)).astype(np.float32)
    Q = rng.standard_normal((131, 37))
    ids = np.stack([rng.permutation(2000)[:53] for _ in range(131)])  # distinct, as the pools
    ids[rng.random(ids.shape) < 0.1] = -1
    sq = (X.astype(np.float64) ** 2).sum(1)[:, None]
    args = (np.zeros(37, np.int64), 1, sq, np.array([7.0]), np.ones(1), {"l2": 1.0, "ip": 0.5, "cosine": 0.2})
    whole = K.rerank_top(X, ids, Q, *args, 53)
    for start, stop in [(0, 1), (128, 131), (5, 69), (64, 128)]:
        part = K.rerank_top(X, ids[start:stop], Q[start:stop], *args, 53)
        assert np.array_equal(part[0], whole[0][start:stop]) and np.array_equal(part[1], whole[1][start:stop])
    # and one candidate at a time
    for j in (0, 7, 52):
        one = K.rerank_top(X, ids[:, j : j + 1], Q, *args, 1)
        hit = (whole[1] == ids[:, j : j + 1]) & (ids[:, j : j + 1] >= 0)
        assert np.array_equal(one[0][:, 0][hit.any(1)], whole[0][hit])


@pytest.mark.parametrize("params", [{"variant": "ca"}, {"code_ranking": "blocks"}, {"variant": "sa"}])
def test_other_rankings_use_the_dedup_kernel_and_agree(monkeypatch, params):
    """Rankings other than "cc" with norms keep their NumPy ranking, on the
    compiled deduplication and dot products: the same neighbours as NumPy."""
    X, Q = _clustered(3000, 12, 40, seed=1)
    index = MultiPurposeLSH(n_tables=6, key_bits=7, random_state=0, **params).fit(X)
    calls = []
    unique_pool = K.unique_pool
    monkeypatch.setattr(K, "unique_pool", lambda *a: calls.append(1) or unique_pool(*a))
    for weights in ["l2", "ip", {"l2": 1.0, "cosine": 2.0}]:
        monkeypatch.setenv("SKLRP_NUMBA", "1")
        D1, I1 = index.kneighbors(Q, n_neighbors=8, weights=weights, n_candidates=200)
        monkeypatch.setenv("SKLRP_NUMBA", "0")
        D0, I0 = index.kneighbors(Q, n_neighbors=8, weights=weights, n_candidates=200)
        np.testing.assert_allclose(D1, D0, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(I1, I0)
    assert calls


def test_concurrent_queries_from_threads(two_group_index):
    """Queries from several threads at once (Dask's threaded scheduler, joblib
    threads) give the results of one thread."""
    from concurrent.futures import ThreadPoolExecutor

    index, X, Q = two_group_index
    ref = index.kneighbors(Q, n_neighbors=5)[1]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: index.kneighbors(Q, n_neighbors=5)[1], range(8)))
    for out in outs:
        np.testing.assert_array_equal(out, ref)


def test_records_are_not_pickled(two_group_index):
    import pickle

    index, X, Q = two_group_index
    index.kneighbors(Q[:3])
    assert index._records_cache is not None
    clone = pickle.loads(pickle.dumps(index))
    assert getattr(clone, "_records_cache", None) is None
    np.testing.assert_array_equal(clone.kneighbors(Q)[1], index.kneighbors(Q)[1])


def test_records_by_point_beyond_the_memory_bound(two_group_index, monkeypatch):
    """Past _MAX_BUCKET_RECORD_BYTES the records are kept once per point, with the same neighbours."""
    from sklrp.neighbors import _mplsh

    index, X, Q = two_group_index
    monkeypatch.setenv("SKLRP_NUMBA", "1")
    index._records_cache = None
    D, I = index.kneighbors(Q, n_neighbors=5)
    rec, bucketed = index._records_cache
    assert bucketed and rec.shape[0] == index._table_order.shape[0]
    monkeypatch.setattr(_mplsh, "_MAX_BUCKET_RECORD_BYTES", rec.nbytes - 1)
    index._records_cache = None
    D1, I1 = index.kneighbors(Q, n_neighbors=5)
    rec, bucketed = index._records_cache
    assert not bucketed and rec.shape[0] == len(X)
    np.testing.assert_array_equal(I1, I)
    np.testing.assert_array_equal(D1, D)
    index._records_cache = None


def test_pool_top_breaks_ties_by_the_smaller_id():
    rng = np.random.default_rng(5)
    n, W, nq = 3000, 2, 6
    starts, lens, order = _segments(rng, n, nq, 30)
    _, _, _, rec = _rank_inputs(rng, n, 1, W)
    zeros = np.zeros((nq, 1))
    ids = K.pool_top(starts, lens, order, rec, [0], np.zeros((nq, 1, W), np.uint64),
                     np.ones((1, 64 * W + 1)), [0.0], zeros, [0.0], zeros + 1.0, 40)
    for q, pool in enumerate(_reference_ids(starts, lens, order)):  # every cost is 0
        np.testing.assert_array_equal(np.sort(ids[q]), np.sort(pool)[:40])


def test_large_sets_probe_the_top_norm_range_deeper_for_inner_products(monkeypatch):
    """IP queries probe the top norm range deeper on larger indexes (_ip_depth);
    the pool still contains the pool without IP (same probe order)."""
    from sklrp.neighbors import _mplsh

    X, Q = _clustered(6000, 12, 30, seed=2)
    index = MultiPurposeLSH(n_bits=64, random_state=0).fit(X)
    assert index.n_tables_ > 0 and index._n_ranges == 4
    l2 = {"l2": 1.0, "ip": 0.0, "cosine": 0.0}
    ip = {"l2": 0.0, "ip": 1.0, "cosine": 0.0}

    def pool(weights):
        q, c = index._table_pool(index._query_state(Q, weights, np.ones(1)), 8)
        return set(zip(q.tolist(), c.tolist()))

    shallow = pool(ip)
    assert _mplsh._ip_depth(len(X)) == pytest.approx(1 / 3) and _mplsh._ip_depth(10**6) == 2.0
    monkeypatch.setattr(_mplsh, "_ip_depth", lambda n: 2.0)
    deep, base = pool(ip), pool(l2)
    assert base < shallow < deep
    norms = np.linalg.norm(X, axis=1)
    extra = np.array([c for _, c in deep - shallow])
    assert np.all(norms[extra] >= np.quantile(norms, 0.75) - 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_probes, n_enum", [(2, None), (16, 64), (64, 64), (112, 112), (300, None)])
def test_probe_keys_kernel_equals_numpy(monkeypatch, dtype, n_probes, n_enum):
    """The compiled probe sequence is the NumPy one, ties included (zero rows,
    repeated projections)."""
    X, _ = _clustered(5000, 12, 1, seed=3)
    index = MultiPurposeLSH(n_bits=64, key_bits=9, random_state=0).fit(X)
    rng = np.random.default_rng(4)
    proj = rng.standard_normal((300, 9)).astype(dtype)
    proj[:5] = 0.0  # every flip costs 0
    proj[5:10] = np.round(proj[5:10], 1)  # ties between bits and between subsets
    proj[10] = 1.0
    proj[11, :4] = 0.0
    monkeypatch.setenv("SKLRP_NUMBA", "0")
    ref = index._probe_keys(proj, 0, n_probes, n_enum)
    monkeypatch.setenv("SKLRP_NUMBA", "1")
    got = index._probe_keys(proj, 0, n_probes, n_enum)
    np.testing.assert_array_equal(got, ref)
    # distinct buckets, the query's own first
    assert np.all(ref[:, 0] == ref[:, 0]) and all(len(set(row)) == len(row) for row in ref.tolist())
    bits = (proj >= 0).astype(np.int64) @ (1 << np.arange(9))
    np.testing.assert_array_equal(ref[:, 0], bits)

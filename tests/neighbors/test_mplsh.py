"""Tests of sklrp.neighbors.MultiPurposeLSH."""

import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import KNeighborsClassifier, KNeighborsTransformer, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklrp.neighbors import MultiPurposeLSH
from sklrp.neighbors import _hashing as H

VARIANTS = ["sa", "ca", "cc"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    centers = rng.normal(size=(20, 8)) * 2.0
    lab = rng.randint(0, 20, 600)
    X = centers[lab] + 0.5 * rng.normal(size=(600, 8))
    X *= np.exp(0.3 * rng.normal(size=(600, 1)))  # varied norms: IP != cosine
    Q = centers[rng.randint(0, 20, 40)] + 0.5 * rng.normal(size=(40, 8))
    return X, Q, lab


def brute(X, Q, weights, group_index, group_weights, k, exclude_self=False):
    """Slow reference: the documented mixture dissimilarity, point by point."""
    G = group_index.max() + 1
    M = np.array([np.linalg.norm(X[:, group_index == g], axis=1).max() for g in range(G)])
    D = np.zeros((len(Q), len(X)))
    for i, q in enumerate(Q):
        for g in range(G):
            qg, xg = q[group_index == g], X[:, group_index == g]
            nq, nx = np.linalg.norm(qg), np.linalg.norm(xg, axis=1)
            dot = xg @ qg
            cos = np.where(nq * nx > 0, dot / np.where(nq * nx > 0, nq * nx, 1), 0.0)
            term = (
                weights.get("l2", 0) * ((qg - xg) ** 2).sum(1)
                + weights.get("ip", 0) * (nq * M[g] - dot)
                + weights.get("cosine", 0) * (1 - cos)
            )
            D[i] += group_weights[g] * term
        if exclude_self:
            D[i, i] = np.inf
    ind = np.argsort(D, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(D, ind, axis=1)
    if set(k_ for k_, v in weights.items() if v > 0) == {"l2"}:
        dist = np.sqrt(dist)
    return dist, ind


MIXTURES = [
    {"l2": 1.0},
    {"cosine": 1.0},
    {"ip": 1.0},
    {"l2": 0.5, "ip": 0.5},
    {"l2": 0.2, "ip": 1.0, "cosine": 3.0},
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("weights", MIXTURES)
def test_all_candidates_equals_brute_force(data, variant, weights):
    X, Q, _ = data
    groups = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    gw = [1.0, 0.5, 2.0]
    index = MultiPurposeLSH(
        n_bits=48, variant=variant, feature_groups=groups, n_candidates=len(X), random_state=0
    ).fit(X)
    dist, ind = index.kneighbors(Q, n_neighbors=7, weights=weights, group_weights=gw)
    rdist, rind = brute(X, Q, weights, groups, gw, 7)
    np.testing.assert_array_equal(ind, rind)
    np.testing.assert_allclose(dist, rdist, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_matches_sklearn_brute(data, metric):
    X, Q, _ = data
    w = {"euclidean": "l2", "cosine": "cosine"}[metric]
    index = MultiPurposeLSH(n_candidates=10**6, random_state=0).fit(X)
    dist, ind = index.kneighbors(Q, n_neighbors=5, weights=w)
    nn = NearestNeighbors(n_neighbors=5, algorithm="brute", metric=metric).fit(X)
    rdist, rind = nn.kneighbors(Q)
    np.testing.assert_array_equal(ind, rind)
    np.testing.assert_allclose(dist, rdist, atol=1e-9)
    # X=None excludes each point itself, as in scikit-learn
    d0, i0 = index.kneighbors(n_neighbors=4, weights=w)
    rd0, ri0 = nn.kneighbors(n_neighbors=4)
    np.testing.assert_array_equal(i0, ri0)
    np.testing.assert_allclose(d0, rd0, atol=1e-9)


@pytest.mark.parametrize("variant", VARIANTS)
def test_x_none_excludes_self_approximate(data, variant):
    X, _, _ = data
    index = MultiPurposeLSH(n_bits=64, variant=variant, n_candidates=30, n_tables=0,
                            random_state=0).fit(X)
    _, ind = index.kneighbors(n_neighbors=5, weights="cosine")
    assert not np.any(ind == np.arange(len(X))[:, None])
    rdist, rind = brute(X, X, {"cosine": 1.0}, np.zeros(8, int), [1.0], 5, exclude_self=True)
    rec = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(ind, rind)])
    assert rec > 0.8


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("weights", MIXTURES)
def test_code_ranking_beats_random(data, variant, weights):
    """With few candidates the codes must do far better than chance."""
    X, Q, _ = data
    index = MultiPurposeLSH(n_bits=256, variant=variant, n_candidates=60, n_tables=0,
                            random_state=1).fit(X)
    _, ind = index.kneighbors(Q, n_neighbors=10, weights=weights)
    _, rind = brute(X, Q, weights, np.zeros(8, int), [1.0], 10)
    rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, rind)])
    assert rec > 0.4, rec  # chance level is 60 / 600 = 0.1


def test_hash_tables_sublinear_pool_and_recall():
    rng = np.random.RandomState(3)
    centers = rng.normal(size=(50, 16))
    X = centers[rng.randint(0, 50, 20000)] + 0.3 * rng.normal(size=(20000, 16))
    Q = centers[rng.randint(0, 50, 50)] + 0.3 * rng.normal(size=(50, 16))
    index = MultiPurposeLSH(n_neighbors=10, n_bits=128, n_candidates=200, random_state=0).fit(X)
    assert index.n_tables_ > 0
    state = index._query_state(Q, {"l2": 0.0, "ip": 0.0, "cosine": 1.0}, np.ones(1))
    qid, cand = index._table_pool(state, index.n_probes)
    assert len(qid) < 0.25 * len(Q) * len(X)  # queries do not scan every code
    # recall@10 against exact search; chance level is n_candidates / 20000
    for w, c, target in (("cosine", 200, 0.9), ("ip", 1000, 0.9), ("l2", 1000, 0.8)):
        _, ind = index.kneighbors(Q, weights=w, n_candidates=c)
        _, rind = index.kneighbors(Q, weights=w, n_candidates=len(X))
        rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, rind)])
        assert rec >= target, (w, rec)
    # more probes never shrink the pool
    q2, _ = index._table_pool(state, 4 * index.n_probes)
    assert len(q2) >= len(qid)


def _angles(rng, d, cos_targets):
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    out = []
    for c in cos_targets:
        v = rng.normal(size=d)
        v -= (v @ u) * u
        v /= np.linalg.norm(v)
        out.append(c * u + math.sqrt(1 - c * c) * v)
    return u, np.array(out)


def _binomial_ok(hits, trials, p):
    return abs(hits / trials - p) <= 4.0 * math.sqrt(p * (1 - p) / trials) + 1e-12


@pytest.mark.parametrize("cos", [-0.5, 0.0, 0.3, 0.7, 0.95])
def test_collision_probability_sign_random_projection(cos):
    """Cosine block: P[collision] = 1 - theta / pi."""
    rng = np.random.RandomState(10)
    u, V = _angles(rng, 12, [cos])
    T = 20000
    A = np.random.RandomState(11).normal(size=(12, T))
    hits = int(np.sum((u @ A >= 0) == (V[0] @ A >= 0)))
    assert _binomial_ok(hits, T, H.srp_collision_probability(cos))


@pytest.mark.parametrize("variant", ["cc", "sa"])
@pytest.mark.parametrize("weights", [{"ip": 1.0}, {"l2": 1.0}, {"l2": 1.0, "cosine": 2.0, "ip": 0.5}])
def test_collision_probability_augmented_families(data, variant, weights):
    """L2/IP block (Neyshabur-Srebro augmentation) and the SA vector:
    P[h(P(x)) = h(Q(q))] = 1 - arccos(<P(x), Q(q)> / |Q(q)|) / pi, with the
    data and query vectors built from the index's own augmentation."""
    X, Q, _ = data
    T = 20000
    index = MultiPurposeLSH(n_bits=2 * T if variant == "cc" else T, variant=variant,
                            n_tables=0, random_state=5).fit(X[:50])
    alpha = {m: float(weights.get(m, 0.0)) for m in H.METRICS}
    gw = np.ones(1)
    P = index._data_vectors(X[:3])[0]  # lin block (cc) or the SA vector
    qb = H.query_blocks(Q[:1], index._group_cols, index.hash_max_norm_, index.center_,
                        alpha, gw)
    Qv = H.sa_query(qb) if variant == "sa" else qb[0]
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), 1.0, rtol=1e-12)
    A = index.projections_[0]
    qbits = Qv @ A >= 0
    for i in range(3):
        cos = float(P[i] @ Qv[0] / np.linalg.norm(Qv[0]))
        hits = int(np.sum((P[i] @ A >= 0) == qbits[0]))
        assert _binomial_ok(hits, A.shape[1], H.srp_collision_probability(cos)), (i, cos)


def test_augmentation_inner_product_is_mixture_similarity(data):
    """sum_b <Q_b, P_b(x)> equals -D(q, x) up to a constant per query."""
    X, Q, _ = data
    groups = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    index = MultiPurposeLSH(n_bits=60, feature_groups=groups, n_tables=0, random_state=0).fit(X)
    alpha = {"l2": 0.7, "ip": 0.4, "cosine": 1.3}
    gw = np.array([1.0, 0.0, 2.5])
    qb = H.query_blocks(Q[:5], index._group_cols, index.hash_max_norm_, index.center_, alpha, gw)
    pb = H.data_blocks(X, index._group_cols, index.hash_max_norm_, index.center_)
    S = sum(q @ p.T for q, p in zip(qb, pb))  # (5, n)
    D, _ = brute(X, Q[:5], alpha, groups, gw, len(X))
    Dfull = np.zeros_like(S)
    _, ind = brute(X, Q[:5], alpha, groups, gw, len(X))
    np.put_along_axis(Dfull, ind, D, axis=1)
    const = S + Dfull
    np.testing.assert_allclose(const, np.repeat(const[:, :1], const.shape[1], axis=1), rtol=1e-10)


def test_code_augmentation_is_unbiased():
    """CA: E[sign(<a, x>) <a, q>] = sqrt(2/pi) cos(x, q)."""
    rng = np.random.RandomState(2)
    u, V = _angles(rng, 10, [0.8, -0.2])
    T = 40000
    A = np.random.RandomState(3).normal(size=(10, T))
    for v, c in zip(V, [0.8, -0.2]):
        prod = np.where(v @ A >= 0, 1.0, -1.0) * (u @ A)
        se = prod.std() / math.sqrt(T)
        assert abs(prod.mean() - H.asymmetric_expectation(c)) <= 4 * se


def test_weights_change_without_rehash(data):
    X, Q, _ = data
    index = MultiPurposeLSH(n_bits=64, random_state=0, n_candidates=50).fit(X)
    codes = index.codes_.copy()
    calls = []
    orig = index._encode
    index._encode = lambda *a: calls.append(1) or orig(*a)
    a = index.kneighbors(Q, weights="cosine", return_distance=False)
    b = index.kneighbors(Q, weights="ip", return_distance=False)
    c = index.kneighbors(Q, weights={"l2": 1, "cosine": 1}, group_weights=[2.0])
    assert calls == []
    np.testing.assert_array_equal(index.codes_, codes)
    assert not np.array_equal(a, b)
    assert c[1].shape == (len(Q), 5)


def test_group_weights_turn_groups_off(data):
    X, Q, _ = data
    groups = [0, 0, 0, 0, 1, 1, 1, 1]
    index = MultiPurposeLSH(feature_groups=groups, n_candidates=10**6, random_state=0).fit(X)
    _, ind = index.kneighbors(Q, n_neighbors=5, weights="l2", group_weights=[1.0, 0.0])
    nn = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(X[:, :4])
    np.testing.assert_array_equal(ind, nn.kneighbors(Q[:, :4], return_distance=False))


def test_pipeline_with_precomputed_classifier(data):
    X, Q, lab = data
    Xtr, ytr, Xte, yte = X[:500], lab[:500], X[500:], lab[500:]
    pipe = make_pipeline(
        MultiPurposeLSH(n_neighbors=5, mode="distance", n_candidates=10**6, random_state=0),
        KNeighborsClassifier(n_neighbors=5, metric="precomputed"),
    )
    pipe.fit(Xtr, ytr)
    ref = make_pipeline(
        KNeighborsTransformer(n_neighbors=5, mode="distance"),
        KNeighborsClassifier(n_neighbors=5, metric="precomputed"),
    ).fit(Xtr, ytr)
    np.testing.assert_array_equal(pipe.predict(Xte), ref.predict(Xte))
    G = pipe[0].transform(Xte)
    Gref = ref[0].transform(Xte)
    np.testing.assert_array_equal(G.indices, Gref.indices)
    np.testing.assert_allclose(G.data, Gref.data, atol=1e-9)
    assert pipe.score(Xte, yte) > 0.8


def test_kneighbors_graph(data):
    X, Q, _ = data
    index = MultiPurposeLSH(n_candidates=10**6, random_state=0).fit(X)
    A = index.kneighbors_graph(Q, n_neighbors=3, mode="distance", weights="cosine")
    d, i = index.kneighbors(Q, n_neighbors=3, weights="cosine")
    assert A.shape == (len(Q), len(X))
    np.testing.assert_allclose(A.toarray()[np.arange(len(Q))[:, None], i], d)
    C = index.kneighbors_graph(n_neighbors=2)
    np.testing.assert_array_equal(C.sum(1).A.ravel(), 2)
    assert C.diagonal().sum() == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_load_roundtrip(data, tmp_path, variant):
    X, Q, _ = data
    X = np.vstack([X] * 8)  # large enough for hash tables
    index = MultiPurposeLSH(n_bits=64, variant=variant, feature_groups=[0] * 4 + [1] * 4,
                            n_candidates=40, random_state=0).fit(X)
    assert index.n_tables_ > 0
    path = tmp_path / "index.npz"
    index.save(path)
    with np.load(path, allow_pickle=False) as f:  # loads with no pickle at all
        assert "codes" in f
    loaded = MultiPurposeLSH.load(path)
    np.testing.assert_array_equal(loaded.codes_, index.codes_)
    assert loaded._n_ranges == index._n_ranges == 4
    for w in ("l2", {"ip": 1, "cosine": 1}):
        d1, i1 = index.kneighbors(Q, weights=w, group_weights=[1.0, 0.3])
        d2, i2 = loaded.kneighbors(Q, weights=w, group_weights=[1.0, 0.3])
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(d1, d2)
    assert loaded.get_params() == {**index.get_params(), "feature_groups": [0] * 4 + [1] * 4}


def test_float32_kept(data):
    """Float32 data are stored and hashed as float32; the distances are float64
    (exact re-ranking in float64, see test_float64_reranking_matches_brute_force)."""
    X, Q, _ = data
    index = MultiPurposeLSH(n_candidates=50, random_state=0).fit(X.astype(np.float32))
    assert index.X_.dtype == np.float32
    assert all(A.dtype == np.float32 for A in index.projections_)
    d, _ = index.kneighbors(Q.astype(np.float32), weights="cosine")
    assert d.dtype == np.float64


def test_reproducible_with_random_state(data):
    X, Q, _ = data
    a = MultiPurposeLSH(n_candidates=20, random_state=7).fit(X)
    b = MultiPurposeLSH(n_candidates=20, random_state=7).fit(X)
    np.testing.assert_array_equal(a.codes_, b.codes_)
    c = MultiPurposeLSH(n_candidates=20, random_state=8).fit(X)
    assert not np.array_equal(a.codes_, c.codes_)


# ----------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def fitted(data):
    X, _, _ = data
    return MultiPurposeLSH(feature_groups=[0, 0, 0, 1, 1, 1, 2, 2], random_state=0).fit(X)


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"l2": 0.0, "cosine": 0.0}, "must not all be zero"),
        ({"l2": -1.0}, "non-negative"),
        ({"ip": float("nan")}, "finite"),
        ({"euclid": 1.0}, r"Unknown metric name.*'euclid'.*\['l2', 'ip', 'cosine'\]"),
        ("manhattan", r"Unknown metric name.*'manhattan'"),
        ([1.0, 2.0], "weights must be None, a metric name or a dict"),
    ],
)
def test_bad_weights(fitted, data, weights, match):
    _, Q, _ = data
    with pytest.raises(ValueError, match=match):
        fitted.kneighbors(Q, weights=weights)


@pytest.mark.parametrize(
    "gw, match",
    [
        ([1.0, 1.0], r"one weight per feature group \(length n_groups=3"),
        ([1.0, 1.0, 1.0, 1.0], "length n_groups=3"),
        ([0.0, 0.0, 0.0], "must not all be zero"),
        ([1.0, -0.5, 1.0], "non-negative"),
    ],
)
def test_bad_group_weights(fitted, data, gw, match):
    _, Q, _ = data
    with pytest.raises(ValueError, match=match):
        fitted.kneighbors(Q, group_weights=gw)


def test_bad_constructor_weights_fail_at_fit(data):
    X, _, _ = data
    with pytest.raises(ValueError, match="Unknown metric name"):
        MultiPurposeLSH(weights={"dot": 1.0}).fit(X)
    with pytest.raises(ValueError, match="length n_groups=1"):
        MultiPurposeLSH(group_weights=[1.0, 2.0]).fit(X)
    with pytest.raises(ValueError, match="variant"):
        MultiPurposeLSH(variant="xx").fit(X)
    with pytest.raises(ValueError, match=r"feature_groups.*expected shape \(8,\)"):
        MultiPurposeLSH(feature_groups=[0, 1]).fit(X)


def test_dimension_mismatch(fitted, data):
    _, Q, _ = data
    with pytest.raises(ValueError, match="X has 5 features, but MultiPurposeLSH is expecting 8"):
        fitted.kneighbors(Q[:, :5])


def test_too_many_neighbors(fitted, data):
    X, Q, _ = data
    # scikit-learn's wording (NearestNeighbors.kneighbors)
    with pytest.raises(
        ValueError,
        match=r"Expected n_neighbors <= n_samples_fit, but n_neighbors = 601, "
        r"n_samples_fit = 600, n_samples = 40",
    ):
        fitted.kneighbors(Q, n_neighbors=601)
    with pytest.raises(
        ValueError,
        match=r"Expected n_neighbors < n_samples_fit, but n_neighbors = 600, "
        r"n_samples_fit = 600.*n_samples_fit - 1 = 599",
    ):
        fitted.kneighbors(n_neighbors=600)
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
        fitted.kneighbors_graph(Q, n_neighbors=601)
    # exactly n_samples_fit neighbours is allowed
    assert fitted.kneighbors(Q[:2], n_neighbors=600, return_distance=False).shape == (2, 600)
    with pytest.raises(ValueError, match="positive integer"):
        fitted.kneighbors(Q, n_neighbors=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_input(fitted, data, bad):
    X, Q, _ = data
    Qb = Q.copy()
    Qb[0, 0] = bad
    with pytest.raises(ValueError, match="Input X contains"):
        fitted.kneighbors(Qb)
    Xb = X.copy()
    Xb[3, 2] = bad
    with pytest.raises(ValueError, match="Input X contains"):
        MultiPurposeLSH().fit(Xb)


def test_unfitted(data):
    _, Q, _ = data
    for call in (
        lambda e: e.kneighbors(Q),
        lambda e: e.kneighbors_graph(Q),
        lambda e: e.transform(Q),
        lambda e: e.save("x.npz"),
    ):
        with pytest.raises(NotFittedError):
            call(MultiPurposeLSH())


@parametrize_with_checks([MultiPurposeLSH(n_bits=32, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------- ranking by codes plus exact norms
def test_norm_ranking_estimate_converges_to_dissimilarity(data):
    """code_ranking="norms": per group, cos(q_g, x_g) from the cos-block code and
    the exact norms give -D(q, x); with many bits the estimate is close to D."""
    X, Q, _ = data
    groups = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    T = 6 * 4000  # 4000 bits per block
    index = MultiPurposeLSH(n_bits=T, variant="cc", feature_groups=groups, n_tables=0,
                            random_state=0).fit(X)
    assert index._norm_ranking()
    gw = np.array([1.0, 0.5, 2.0])
    for weights in MIXTURES:
        alpha = {m: float(weights.get(m, 0.0)) for m in H.METRICS}
        state = index._query_state(Q[:4], alpha, gw)
        qid = np.repeat(np.arange(4), len(X))
        cand = np.tile(np.arange(len(X)), 4)
        est = -index._pair_scores(state, qid, cand).reshape(4, len(X))
        D, ind = brute(X, Q[:4], weights, groups, gw, len(X))
        if set(k for k, v in weights.items() if v > 0) == {"l2"}:
            D = D**2
        Dfull = np.zeros_like(est)
        np.put_along_axis(Dfull, ind, D, axis=1)
        # angle error of 4000 bits is about pi * 0.5 / sqrt(4000) = 0.025 rad
        scale = np.abs(Dfull).max(axis=1, keepdims=True)
        assert np.max(np.abs(est - Dfull) / scale) < 0.05, weights
        assert np.corrcoef(est.ravel(), Dfull.ravel())[0, 1] > 0.99, weights


@pytest.mark.parametrize("variant", ["ca", "cc"])
@pytest.mark.parametrize("weights", [{"l2": 1.0}, {"ip": 1.0}])
def test_norm_ranking_beats_augmented_blocks(data, variant, weights):
    """The intended change: with the exact norms, the cos-block codes rank L2 and
    IP candidates better than the Neyshabur-Srebro lin blocks (whose extra
    coordinates dilute the angles)."""
    X, Q, _ = data
    rec = {}
    for ranking in ("norms", "blocks"):
        index = MultiPurposeLSH(n_bits=128, variant=variant, n_candidates=20, n_tables=0,
                                code_ranking=ranking, random_state=2).fit(X)
        _, ind = index.kneighbors(Q, n_neighbors=10, weights=weights)
        _, rind = brute(X, Q, weights, np.zeros(8, int), [1.0], 10)
        rec[ranking] = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, rind)])
    assert rec["norms"] > rec["blocks"], rec


def test_code_ranking_options(data):
    X, Q, _ = data
    assert not MultiPurposeLSH(variant="sa", n_bits=32).fit(X)._norm_ranking()
    assert MultiPurposeLSH(variant="ca", n_bits=32).fit(X)._norm_ranking()
    assert not MultiPurposeLSH(variant="cc", n_bits=32, code_ranking="blocks").fit(X)._norm_ranking()
    with pytest.raises(ValueError, match=r"code_ranking='norms'.*variant='sa'"):
        MultiPurposeLSH(variant="sa", n_bits=32, code_ranking="norms").fit(X)
    with pytest.raises(ValueError, match="code_ranking"):
        MultiPurposeLSH(code_ranking="exact").fit(X)
    # read at query time: set_params switches the ranking without refitting
    index = MultiPurposeLSH(n_bits=64, n_candidates=30, n_tables=0, random_state=0).fit(X)
    codes = index.codes_.copy()
    a = index.kneighbors(Q, weights="l2", return_distance=False)
    index.set_params(code_ranking="blocks")
    b = index.kneighbors(Q, weights="l2", return_distance=False)
    np.testing.assert_array_equal(index.codes_, codes)
    assert not np.array_equal(a, b)


def test_norm_ranging_pool_for_inner_product():
    """IP queries probe the top norm range deeper: their pool contains the pool of
    the same query without IP, and every extra candidate is in the top range."""
    rng = np.random.RandomState(4)
    centers = rng.normal(size=(40, 12))
    X = centers[rng.randint(0, 40, 20000)] + 0.4 * rng.normal(size=(20000, 12))
    X *= np.exp(0.3 * rng.normal(size=(20000, 1)))
    Q = centers[rng.randint(0, 40, 30)] + 0.4 * rng.normal(size=(30, 12))
    index = MultiPurposeLSH(n_bits=64, random_state=0).fit(X)
    assert index.n_tables_ > 0 and index._n_ranges == 4
    base = index._table_pool(index._query_state(Q, {"l2": 1.0, "ip": 0.0, "cosine": 0.0},
                                                np.ones(1)), 8)
    ip = index._table_pool(index._query_state(Q, {"l2": 0.0, "ip": 1.0, "cosine": 0.0},
                                              np.ones(1)), 8)
    base_pairs = set(zip(*(a.tolist() for a in base)))
    ip_pairs = set(zip(*(a.tolist() for a in ip)))
    assert base_pairs < ip_pairs
    norms = np.linalg.norm(X, axis=1)
    top = norms >= np.quantile(norms, 0.75) - 1e-12
    extra = np.array([c for _, c in ip_pairs - base_pairs])
    assert len(extra) > 0 and np.all(top[extra])
    # and the IP recall does not get worse for it
    _, ind = index.kneighbors(Q, n_neighbors=10, weights="ip", n_candidates=200, n_probes=8)
    _, rind = index.kneighbors(Q, n_neighbors=10, weights="ip", n_candidates=len(X))
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, rind)]) >= 0.9


@pytest.mark.parametrize("variant", ["ca", "cc"])
@pytest.mark.parametrize("weights", MIXTURES)
@pytest.mark.parametrize("gw", [[1.0], [1.0, 0.0], [0.5, 2.0]])
def test_search_costs_rank_like_code_scores(data, variant, weights, gw):
    """The search ranks the pool by a cheaper per-pair cost (per-query
    constants left out; the Hamming distance for cosine on one group; |x| c for
    inner product on one group): per query it orders the pairs exactly as the
    documented code estimate -_pair_scores does."""
    X, Q, _ = data
    X = X.copy()
    X[5, :4] = 0.0  # a zero group: its cosine is taken as 0
    groups = [0] * 8 if len(gw) == 1 else [0] * 4 + [1] * 4
    index = MultiPurposeLSH(n_bits=64, variant=variant, feature_groups=groups, n_tables=0,
                            random_state=0).fit(X)
    alpha = {m: float(weights.get(m, 0.0)) for m in H.METRICS}
    nq = 6
    state = index._query_state(Q[:nq], alpha, np.asarray(gw))
    qid = np.repeat(np.arange(nq), len(X))
    cand = np.tile(np.arange(len(X)), nq)
    D = -index._pair_scores(state, qid, cand).reshape(nq, len(X))
    state["counts"] = np.bincount(qid, minlength=nq)
    cost = index._pair_costs(state, qid, cand).reshape(nq, len(X))
    for i in range(nq):
        order = np.argsort(cost[i], kind="stable")
        steps = np.diff(D[i][order])
        assert np.all(steps >= -1e-9 * (1.0 + np.abs(D[i]).max())), (weights, gw, i)
        # the cost is not constant where D is not
        assert np.ptp(cost[i]) > 0 or np.ptp(D[i]) == 0


def test_batch_size_does_not_change_results(data):
    """Batches are independent: with the whole pool re-ranked (no ties at the
    n_candidates cut) any batch size gives the same neighbours."""
    X, Q, _ = data
    X = np.vstack([X] * 8) + 0.3 * np.random.RandomState(1).normal(size=(8 * len(X), 8))
    kw = {"n_bits": 64, "n_tables": 4, "key_bits": 8, "n_probes": 4, "n_candidates": 2000,
          "random_state": 0}
    auto = MultiPurposeLSH(**kw).fit(X)
    assert auto.batch_size == "auto" and auto.n_tables_ == 4
    small = MultiPurposeLSH(batch_size=7, **kw).fit(X)
    for w in ("l2", "cosine", "ip", {"l2": 1.0, "cosine": 2.0}):
        d_a, i_a = auto.kneighbors(Q, n_neighbors=5, weights=w)
        d_s, i_s = small.kneighbors(Q, n_neighbors=5, weights=w)
        np.testing.assert_array_equal(i_a, i_s)
        np.testing.assert_allclose(d_a, d_s)


def _mixture(n, d, n_queries, n_clusters, seed):
    """Clustered data as in benchmarks/bench_lsh.py: a Gaussian mixture with a random scale per component."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, d))
    scales = np.exp(0.25 * rng.standard_normal(n_clusters))

    def draw(m):
        lab = rng.integers(0, n_clusters, m)
        return (scales[lab, None] * (centers[lab] + 0.5 * rng.standard_normal((m, d)))).astype(np.float32)

    return draw(n), draw(n_queries)


@pytest.mark.parametrize("metric", ["l2", "cosine", "ip"])
def test_default_settings_reach_high_recall_on_clustered_data(metric):
    """n_candidates="auto" (the default): recall@10 >= 0.9 without tuning (the default of 100 candidates gave
    0.61 for L2 and cosine on 200k points; benchmarks/bench_lsh.py measures the full size)."""
    X, Q = _mixture(30_000, 64, 200, 100, seed=0)
    index = MultiPurposeLSH(random_state=0).fit(X)
    _, ind = index.kneighbors(Q, n_neighbors=10, weights=metric)
    X64, Q64 = X.astype(np.float64), Q.astype(np.float64)
    if metric == "l2":
        score = -((Q64**2).sum(1)[:, None] - 2 * Q64 @ X64.T + (X64**2).sum(1)[None, :])
    elif metric == "cosine":
        score = (Q64 / np.linalg.norm(Q64, axis=1, keepdims=True)) @ (X64 / np.linalg.norm(X64, axis=1,
                                                                                          keepdims=True)).T
    else:
        score = Q64 @ X64.T
    truth = np.argsort(-score, axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, truth)])
    assert recall >= 0.9, recall
    # fewer candidates than "auto" lose recall: the default is what reaches it
    _, few = index.kneighbors(Q, n_neighbors=10, weights=metric, n_candidates=30)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(few, truth)]) < recall

"""Multiple-purpose locality-sensitive hashing (mp-LSH).

Pronobis, Panknin, Kirschnick, Srinivasan, Samek, Markl, Kaul, Müller and
Nakajima, "Sharing Hash Codes for Multiple Purposes", Japanese Journal of
Statistics and Data Science (2018), arXiv:1609.03219.
"""

import json
import math
import os
import pathlib
import zipfile
import zlib
from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._backend import get_namespace, is_gpu_array, resolve_device, to_device, to_host
from .._validation import format_bytes as _human_bytes
from .._validation import physical_memory as _physical_memory
from .._validation import validate_array
from . import _hashing as H

__all__ = ["MultiPurposeLSH"]

_VARIANTS = ("sa", "ca", "cc")
_FORMAT_VERSION = 1
_MAX_PAIRS = 1 << 22  # pairs (query, candidate) scored at once
_MAX_DENSE = 1 << 24  # floats in one exhaustive distance block
_MAX_GATHER = 1 << 20  # candidate features gathered at once for re-ranking
_MAX_UPCAST = 1 << 22  # indexed features converted to float64 at once (exhaustive search)
_NORM_RANGES = 4  # norm ranges (quantiles) inside each hash bucket


def _npz_path(path):
    """The file that :meth:`MultiPurposeLSH.save` writes for ``path``.

    ``path`` with ``".npz"`` appended unless it already ends with it (the
    convention of :func:`numpy.savez`); a :class:`pathlib.Path` stays a
    ``Path``, anything else path-like becomes a ``str``.
    """
    try:
        name = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(
            f"path must be a str or path-like object (or a file object); got "
            f"{type(path).__name__} {path!r}."
        ) from None
    if not name.endswith(".npz"):
        name += ".npz"
    return pathlib.Path(name) if isinstance(path, pathlib.PurePath) else name


def _check_nonneg_weights(values, name, received):
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite non-negative numbers; got {received!r}.")
    if np.any(values < 0):
        raise ValueError(
            f"{name} must be non-negative (allowed: numbers >= 0, not all zero); "
            f"got {received!r}."
        )
    if not np.any(values > 0):
        raise ValueError(
            f"{name} must not all be zero (allowed: numbers >= 0 with at least one > 0); "
            f"got {received!r}."
        )
    return values


def _parse_weights(weights):
    """Mixture weights -> dict over ``("l2", "ip", "cosine")`` of floats."""
    if weights is None:
        weights = {"l2": 1.0}
    if isinstance(weights, str):
        weights = {weights: 1.0}
    if not isinstance(weights, dict):
        raise ValueError(
            "weights must be None, a metric name or a dict mapping metric names "
            f"{list(H.METRICS)} to non-negative floats; got {weights!r}."
        )
    unknown = [k for k in weights if k not in H.METRICS]
    if unknown:
        raise ValueError(
            f"Unknown metric name(s) {unknown!r} in weights; allowed names are "
            f"{list(H.METRICS)}; got weights={weights!r}."
        )
    try:
        vals = [float(weights.get(m, 0.0)) for m in H.METRICS]
    except (TypeError, ValueError):
        raise ValueError(
            f"weights values must be non-negative numbers; got weights={weights!r}."
        ) from None
    _check_nonneg_weights(vals, "weights", weights)
    return dict(zip(H.METRICS, vals))


#: how the errors of :meth:`MultiPurposeLSH.load` on an unreadable file begin
_LOAD_ERROR_PREFIX = "MultiPurposeLSH.load:"

#: the largest bucket-offset arrays the hash tables may need, in bytes (key_bits sizes them, not the data)
_MAX_OFFSET_BYTES = 1 << 30

#: the most hash tables an index may build (more cost more than a linear scan)
_MAX_TABLES = 1024

class MultiPurposeLSH(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Nearest neighbours whose dissimilarity is chosen at query time (mp-LSH).

    One set of hash codes serves L2, inner-product (IP) and cosine search
    and their weighted sums, with per-feature-group weights, all chosen per
    query without re-hashing the data (Pronobis et al., arXiv:1609.03219).
    For a query ``q``, mixture weights ``a`` and group weights ``w`` the
    dissimilarity to a data point ``x`` is

    .. math::

        D(q, x) = \\sum_g w_g \\big[a_{l2} \\|q_g - x_g\\|^2
                  + a_{ip} (\\|q_g\\| M_g - \\langle q_g, x_g \\rangle)
                  + a_{cos} (1 - \\cos(q_g, x_g))\\big]

    where ``g`` runs over the feature groups and ``M_g`` is the largest norm
    of group ``g`` in the training data (the IP term is shifted by the
    query-only constant ``|q_g| M_g`` so that every term is non-negative;
    the ranking is that of ``-<q, x>``).  When only the L2 term is active
    the square root of ``D`` is returned, so that with unit weights the
    distances are Euclidean distances as in
    :class:`~sklearn.neighbors.NearestNeighbors`.

    Search runs in three stages: bucketed hash tables (sign random
    projections of the unit group vectors, multi-probe with ``n_probes``
    buckets per table, norm-ranged for inner products) give a sub-linear
    candidate pool, the pool is ranked by the mp-LSH codes with the query's
    weights (by default the cosine codes plus the exact norms, see
    ``code_ranking``), and the best ``n_candidates`` are re-ranked exactly.  With ``n_candidates`` at least
    the number of indexed points the search is exact (brute force).
    :meth:`kneighbors` always returns exactly ``n_neighbors`` neighbours: a
    query whose candidate pool (the points in its probed buckets) holds fewer
    than ``n_neighbors`` points (``n_neighbors + 1`` with ``X=None``, the
    point itself being excluded) is answered by exact brute force over all
    indexed points instead.

    The exact re-ranking and the brute-force search compute ``D`` in float64,
    also for float32 data (which the index stores and hashes as float32), and
    the distances are returned as float64, like the Euclidean distances of
    :class:`~sklearn.neighbors.NearestNeighbors`.  The L2 term uses
    ``|q_g|^2 + |x_g|^2 - 2 <q_g, x_g>``, as scikit-learn does.

    **Zero vectors.**  The cosine of a zero vector is taken as 0: when
    ``q_g`` or ``x_g`` is all zeros, the group's cosine term is
    ``1 - 0 = 1`` (never NaN), the convention of
    :func:`sklearn.metrics.pairwise.cosine_distances` (a zero query is at
    cosine distance 1 from every point, and so is a zero data point from
    every query, zero queries included).  Vectors of tiny but non-zero norm
    keep their true cosine.  The L2 and inner-product terms need no
    convention.

    Read more in the :ref:`mp-LSH user guide <neighbors>`.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours of :meth:`kneighbors` and :meth:`transform`.
    n_bits : int, default=256
        Total number of hash bits per data point.  Variants ``"ca"`` and
        ``"cc"`` split them evenly over the ``2 * n_groups`` blocks
        (one L2/IP block and one cosine block per feature group).
    variant : {"sa", "ca", "cc"}, default="cc"
        ``"sa"``: simple (vector) augmentation, one sign-random-projection
        code of an augmented vector, Hamming ranking with a weight-dependent
        query code.  ``"ca"``: code augmentation, per-block binary data
        codes compared with real-valued weighted query projections (an
        unbiased estimate of the mixture similarity).  ``"cc"``: code
        concatenation, per-block binary codes for data and query, compared
        by a weighted sum of per-block angle estimates.
    feature_groups : array-like of shape (n_features,), default=None
        Group label of each feature; ``None`` puts all features in one
        group.  Group weights follow the sorted unique labels
        (``groups_``).
    weights : dict, str or None, default=None
        Default mixture weights over ``"l2"``, ``"ip"`` and ``"cosine"``
        (non-negative, not all zero), e.g. ``{"l2": 0.5, "ip": 0.5}``; a
        metric name means weight one on that metric; ``None`` means
        ``{"l2": 1.0}``.  Used by :meth:`transform` and whenever a query
        method gets no ``weights``.
    group_weights : array-like of shape (n_groups,), default=None
        Default non-negative weights of the feature groups (not all zero);
        ``None`` means all ones.
    n_candidates : int, default=100
        Number of code-ranked candidates that are re-ranked exactly; trades
        recall for speed.  At least the number of indexed points makes the
        search exact.  Fewer than the number of neighbours asked for is
        raised to it; a query whose candidate pool is smaller than that is
        answered by brute force (see above).
    n_tables : int or "auto", default="auto"
        Number of bucketed hash tables per feature group that produce the
        candidate pool; each is keyed by ``key_bits`` sign random
        projections of the unit group vector.  Groups with zero weight are
        not probed.  ``0`` ranks all codes instead (a linear scan of the
        packed codes).  ``"auto"``: 0 below 4096 points, else 8.  At most
        1024: beyond that, building and probing the tables costs more than
        the linear scan they are meant to avoid.
    key_bits : int or "auto", default="auto"
        Bits per table key.  ``"auto"``: about ``log2(n_samples / 16)``,
        between 4 and 20, and at most the bits of a block.
    n_probes : int, default=16
        Buckets probed per table (query-directed multi-probe: the buckets
        reached by flipping the least confident key bits).  Inside every
        bucket the points are ordered by norm range (quartiles of the group
        norm); when the inner-product weight is non-zero, ``3 * n_probes``
        further buckets are probed for their top-quartile points only
        (norm-ranging: large-norm points reach a given inner product at larger
        angles), at about the cost of ``n_probes`` more whole buckets.
    code_ranking : {"auto", "norms", "blocks"}, default="auto"
        How the candidate pool is ranked before exact re-ranking.
        ``"norms"``: per feature group, ``cos(q_g, x_g)`` is estimated from
        the group's cosine-block code (``"cc"``: ``cos(pi H / T)``; ``"ca"``:
        the asymmetric estimate) and combined with the exact stored norms
        into the whole mixture, ``<q_g, x_g> ~ |q_g| |x_g| cos`` and
        ``|q_g - x_g|^2 ~ |q_g|^2 + |x_g|^2 - 2 <q_g, x_g>``.  ``"blocks"``:
        the variant's own estimate from all its blocks (the paper's
        construction; the Neyshabur-Srebro L2/IP blocks).  ``"auto"``:
        ``"norms"`` for ``"ca"`` and ``"cc"``, ``"blocks"`` for ``"sa"``
        (whose single code has no per-group cosine block).  Read at query
        time: no re-hashing.
    mode : {"distance", "connectivity"}, default="distance"
        Graph type returned by :meth:`transform`, as in
        :class:`~sklearn.neighbors.KNeighborsTransformer`.
    device : {None, "cpu", "cuda"}, default=None
        Where the index lives; ``None`` follows the data given to
        :meth:`fit`.
    batch_size : int or "auto", default="auto"
        Queries processed together.  ``"auto"``: 32 on the CPU, where the
        (query, candidate) pair arrays of a batch then stay cache-sized
        (about 15% faster than 256 on the benchmark), and 256 on the GPU,
        where larger batches amortise kernel launches.
    random_state : int, RandomState instance or None, default=None
        Seed of the random projections (drawn on the host, so CPU and GPU
        indexes built with the same seed are identical).

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during :meth:`fit` (only when X has string
        column names).
    n_samples_fit_ : int
        Number of indexed points.
    groups_ : ndarray of shape (n_groups,)
        Sorted unique feature-group labels.
    n_groups_ : int
        Number of feature groups.
    group_index_ : ndarray of shape (n_features,)
        Position in ``groups_`` of each feature's group.
    group_max_norm_ : ndarray of shape (n_groups,)
        Largest norm of each feature group in the training data (``M_g`` of
        the inner-product term).
    center_ : ndarray of shape (n_features,)
        Feature means; the L2/IP hash blocks hash the centred data.
    hash_max_norm_ : ndarray of shape (n_groups,)
        Largest norm of each centred feature group (scale of the L2/IP
        hash blocks).
    block_bits_ : ndarray of int
        Hash bits of each hashed block (one block for ``"sa"``,
        ``2 * n_groups`` otherwise).
    codes_ : ndarray of shape (n_samples_fit, n_words) of uint64
        Packed binary codes; each block starts on a 64-bit word.
    projections_ : list of ndarray
        Gaussian projection matrix of each hashed block.
    n_tables_ : int
        Hash tables per feature group actually built.
    table_projections_ : list of ndarray
        Projection matrix of the table keys of each feature group.
    key_bits_ : int
        Bits per table key.
    device_ : str
        ``"cpu"`` or ``"cuda"``.

    See Also
    --------
    sklearn.neighbors.NearestNeighbors : Exact neighbours for a fixed metric.
    sklearn.neighbors.KNeighborsTransformer : The transformer this class can replace.

    References
    ----------
    .. [1] W. Pronobis et al., "Sharing Hash Codes for Multiple Purposes",
       Japanese Journal of Statistics and Data Science 1 (2018),
       arXiv:1609.03219.
    .. [2] B. Neyshabur and N. Srebro, "On Symmetric and Asymmetric LSHs for
       Inner Product Search", ICML 2015.
    .. [3] M. Charikar, "Similarity Estimation Techniques from Rounding
       Algorithms", STOC 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.neighbors import MultiPurposeLSH
    >>> X = np.random.RandomState(0).normal(size=(200, 6))
    >>> index = MultiPurposeLSH(n_bits=64, feature_groups=[0, 0, 0, 1, 1, 1],
    ...                         random_state=0).fit(X)
    >>> dist, ind = index.kneighbors(X[:2], n_neighbors=3, weights="cosine")
    >>> ind.shape
    (2, 3)
    >>> dist, ind = index.kneighbors(X[:2], n_neighbors=3,
    ...                              weights={"l2": 0.5, "ip": 0.5},
    ...                              group_weights=[1.0, 0.0])
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "variant": [StrOptions(set(_VARIANTS))],
        "feature_groups": ["array-like", None],
        "weights": [dict, str, None],
        "group_weights": ["array-like", None],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "n_tables": [Interval(Integral, 0, _MAX_TABLES, closed="both"), StrOptions({"auto"})],
        "key_bits": [Interval(Integral, 1, 30, closed="both"), StrOptions({"auto"})],
        "n_probes": [Interval(Integral, 1, None, closed="left")],
        "code_ranking": [StrOptions({"auto", "norms", "blocks"})],
        "mode": [StrOptions({"distance", "connectivity"})],
        "device": [StrOptions({"cpu", "cuda"}), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_neighbors=5,
        *,
        n_bits=256,
        variant="cc",
        feature_groups=None,
        weights=None,
        group_weights=None,
        n_candidates=100,
        n_tables="auto",
        key_bits="auto",
        n_probes=16,
        code_ranking="auto",
        mode="distance",
        device=None,
        batch_size="auto",
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.n_bits = n_bits
        self.variant = variant
        self.feature_groups = feature_groups
        self.weights = weights
        self.group_weights = group_weights
        self.n_candidates = n_candidates
        self.n_tables = n_tables
        self.key_bits = key_bits
        self.n_probes = n_probes
        self.code_ranking = code_ranking
        self.mode = mode
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _validate_X(self, X, reset):
        """Validate X on the host (sklearn) or on the GPU (same checks there)."""
        return validate_array(self, X, reset=reset)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Hash the data and build the index.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to index (NumPy or CuPy).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : MultiPurposeLSH
            The fitted index.
        """
        X = self._validate_X(X, reset=True)
        self.device_ = resolve_device(self.device, X)
        X = to_device(X, self.device_)
        xp = get_namespace(X)
        n, d = X.shape

        if self.feature_groups is None:
            labels = np.zeros(d, dtype=np.int64)
        else:
            labels = np.asarray(self.feature_groups)
            if labels.ndim != 1 or labels.shape[0] != d:
                raise ValueError(
                    "feature_groups must hold one group label per feature: expected "
                    f"shape ({d},), got shape {labels.shape}."
                )
        self.groups_, self.group_index_ = np.unique(labels, return_inverse=True)
        self.group_index_ = self.group_index_.reshape(-1).astype(np.int64)
        self.n_groups_ = len(self.groups_)
        # defaults are validated here so that a bad constructor value fails early
        _parse_weights(self.weights)
        self._parse_group_weights(self.group_weights)
        self._norm_ranking()  # code_ranking="norms" with variant="sa" fails here

        variant = self.variant
        n_hashed = 1 if variant == "sa" else 2 * self.n_groups_
        if self.n_bits < n_hashed:
            raise ValueError(
                f"n_bits must be at least the number of hashed blocks ({n_hashed} = "
                f"2 * n_groups for variant={variant!r}); got n_bits={self.n_bits}."
            )
        base, extra = divmod(self.n_bits, n_hashed)
        self.block_bits_ = np.array(
            [base + (1 if b < extra else 0) for b in range(n_hashed)], dtype=np.int64
        )
        words = (self.block_bits_ + 63) // 64
        self._word_start = np.concatenate([[0], np.cumsum(words)[:-1]]).astype(np.int64)
        self._n_words = int(words.sum())

        self.X_ = X
        onehot = H.group_masks(self.group_index_, self.n_groups_, xp, X.dtype)
        self.sq_norms_ = self._sq_norms64(X)
        max_norm = np.sqrt(to_host(xp.max(self.sq_norms_, axis=0)).astype(np.float64))
        self.group_max_norm_ = np.where(max_norm > 0, max_norm, 1.0)
        self.center_ = xp.mean(X, axis=0)
        csq = H.group_sq_norms(X - self.center_, onehot) if n <= 65536 else xp.concatenate(
            [H.group_sq_norms(X[i : i + 65536] - self.center_, onehot) for i in range(0, n, 65536)]
        )
        hmax = np.sqrt(to_host(xp.max(csq, axis=0)).astype(np.float64))
        self.hash_max_norm_ = np.where(hmax > 0, hmax, 1.0)
        del csq

        rng = check_random_state(self.random_state)
        dims = self._block_dims()
        # the projections (drawn in float64) and the codes of the data: refuse what cannot fit
        need = 8 * sum(int(dim) * int(t) for dim, t in zip(dims, self.block_bits_)) + 8 * n * self._n_words
        limit = _physical_memory()
        if limit is not None and need > limit:
            raise ValueError(
                f"n_bits={self.n_bits} needs {_human_bytes(need)} of projections and codes for {n} points of "
                f"{X.shape[1]} features, more than this machine's {_human_bytes(limit)} of memory; use fewer n_bits."
            )
        self.projections_ = [
            to_device(rng.standard_normal((dim, int(t))).astype(X.dtype), self.device_)
            for dim, t in zip(dims, self.block_bits_)
        ]
        chunk = max(1, (1 << 23) // max(1, 2 * d + 2 * self.n_groups_ + self.n_bits))
        codes = [self._encode(X[i : i + chunk]) for i in range(0, n, chunk)]
        self.codes_ = xp.concatenate(codes, axis=0)
        self.n_samples_fit_ = n
        self._set_norm_cache()
        self._build_tables(X, rng)
        return self

    def _parse_group_weights(self, group_weights):
        if group_weights is None:
            return np.ones(self.n_groups_)
        gw = np.asarray(group_weights, dtype=float)
        if gw.ndim != 1 or gw.shape[0] != self.n_groups_:
            raise ValueError(
                f"group_weights must have one weight per feature group "
                f"(length n_groups={self.n_groups_}, groups {self.groups_.tolist()}); "
                f"got {np.asarray(group_weights).tolist()!r} of shape {gw.shape}."
            )
        return _check_nonneg_weights(gw, "group_weights", gw.tolist())

    @property
    def _group_cols(self):
        return [np.flatnonzero(self.group_index_ == g) for g in range(self.n_groups_)]

    def _block_dims(self):
        sizes = [len(c) for c in self._group_cols]
        per_block = []
        for s in sizes:
            per_block += [s + 2, s]
        if self.variant == "sa":
            return [sum(per_block) + 1]
        return per_block

    def _data_vectors(self, X):
        blocks = H.data_blocks(X, self._group_cols, self.hash_max_norm_, self.center_)
        if self.variant == "sa":
            return [H.sa_vector(blocks)]
        return blocks

    def _encode(self, X):
        """Packed codes ``(n, n_words)`` uint64 of data points."""
        xp = get_namespace(X)
        out = []
        for V, A, t, w in zip(
            self._data_vectors(X),
            self.projections_,
            self.block_bits_,
            (self.block_bits_ + 63) // 64,
        ):
            bits = (V @ A) >= 0
            out.append(H.pack_bits(bits, int(w)))
        return xp.concatenate(out, axis=1)

    def _build_tables(self, X, rng):
        """Bucketed hash tables on sign random projections of each unit group vector."""
        xp = get_namespace(X)
        n = self.n_samples_fit_
        if self.key_bits == "auto":
            k = int(np.clip(round(math.log2(max(n, 2) / 16.0)), 4, 20))
        else:
            k = int(self.key_bits)
        if self.n_tables == "auto":
            n_tables = 0 if n < 4096 else 8
        else:
            n_tables = int(self.n_tables)
        self.key_bits_ = k
        self.n_tables_ = n_tables
        self.table_projections_ = [
            to_device(rng.standard_normal((len(c), n_tables * k)).astype(X.dtype), self.device_)
            for c in self._group_cols
        ]
        self._table_order = self._table_offsets = None
        self._n_ranges = 1
        if n_tables == 0:
            return
        chunk = max(1, (1 << 22) // max(1, n_tables * k + X.shape[1]))
        orders, offsets = [], []
        R = _NORM_RANGES if n >= _NORM_RANGES else 1
        self._n_ranges = R
        offset_bytes = len(self._group_cols) * n_tables * ((R << k) + 1) * 8
        if offset_bytes > _MAX_OFFSET_BYTES:
            raise ValueError(
                f"key_bits={k} gives {R << k} buckets per table ({_human_bytes(offset_bytes)} of bucket offsets for "
                f"{n_tables} table(s)); that is more than {_human_bytes(_MAX_OFFSET_BYTES)} and far more buckets "
                f"than the {n} points need. Use a smaller key_bits (or 'auto')."
            )
        for g, cols in enumerate(self._group_cols):
            A = self.table_projections_[g]
            keys = xp.concatenate(
                [self._table_keys(X[i : i + chunk, cols], A) for i in range(0, n, chunk)]
            )
            # norm ranges (quantiles of the group norm), highest first inside
            # each bucket, so that a probe can read only the top range
            gsq = self.sq_norms_[:, g]
            order = xp.argsort(gsq)
            rank = xp.empty(n, dtype=xp.int64)
            rank[order] = xp.arange(n, dtype=xp.int64)
            top_first = (R - 1) - (rank * R) // n  # 0 = highest norm range
            for j in range(n_tables):
                kj = keys[:, j] * R + top_first
                orders.append(xp.argsort(kj).astype(xp.int32))
                counts = xp.bincount(kj, minlength=R << k)
                offsets.append(
                    xp.concatenate([xp.zeros(1, dtype=xp.int64), xp.cumsum(counts)])
                )
        self._table_order = xp.stack(orders).reshape(-1)
        self._table_offsets = xp.stack(offsets)

    def _table_keys(self, Xg, A):
        """Integer keys ``(n, n_tables)`` of the rows of one feature group."""
        k = self.key_bits_
        bits = (Xg @ A) >= 0  # the sign does not depend on the row norm
        return H.bits_to_keys(bits.reshape(-1, k)).reshape(Xg.shape[0], -1)

    # --------------------------------------------------------------- query
    def _query_state(self, Q, alpha, gw):
        """Per-block query directions, magnitudes and projections."""
        xp = get_namespace(Q)
        qblocks = H.query_blocks(
            Q, self._group_cols, self.hash_max_norm_, self.center_, alpha, gw
        )
        active = []
        for g in range(self.n_groups_):
            lin_on = gw[g] > 0 and (alpha["l2"] > 0 or alpha["ip"] > 0)
            cos_on = gw[g] > 0 and alpha["cosine"] > 0
            active += [lin_on, cos_on]
        if self.variant == "sa":
            qblocks = [H.sa_query(qblocks)]
            active = [True]
        mags, projs = [], []
        for V, A in zip(qblocks, self.projections_):
            u, m = H.unit_rows(V)
            mags.append(m)
            projs.append(u @ A)
        tprojs = [
            Q[:, cols] @ A if gw[g] > 0 else None
            for g, (cols, A) in enumerate(zip(self._group_cols, self.table_projections_))
        ]
        state = {"mags": mags, "projs": projs, "active": active, "xp": xp, "tprojs": tprojs,
                 "alpha": alpha, "gw": gw}
        if self._norm_ranking():
            # per group: the query's unit direction projected on the cos block,
            # independent of the weights (the weights enter the estimate below)
            qsq = H.group_sq_norms(Q, H.group_masks(self.group_index_, self.n_groups_, xp, Q.dtype))
            state["qsq"] = qsq
            state["qn"] = xp.sqrt(qsq)
            state["qzero"] = np.asarray(to_host(xp.any(qsq <= 0, axis=0))).reshape(-1)
            state["cos_projs"] = [
                H.unit_rows(Q[:, cols])[0] @ self.projections_[2 * g + 1] if gw[g] > 0 else None
                for g, cols in enumerate(self._group_cols)
            ]
        return state

    def _norm_ranking(self):
        """Whether candidates are ranked by cos-block codes plus exact norms."""
        mode = getattr(self, "code_ranking", "auto")
        if mode == "auto":
            return self.variant != "sa"
        if mode == "norms" and self.variant == "sa":
            raise ValueError(
                "code_ranking='norms' needs per-group cosine codes, which variant='sa' "
                "does not have; use code_ranking='auto' or 'blocks' with variant='sa', "
                "or variant='ca' / 'cc'; got code_ranking='norms', variant='sa'."
            )
        return mode == "norms"

    def _sq_norms64(self, X):
        """Squared norm of every feature group of ``X``, ``(n, n_groups)``, in
        float64 whatever the dtype of ``X`` (used by the exact re-ranking)."""
        xp = get_namespace(X)
        onehot = H.group_masks(self.group_index_, self.n_groups_, xp, np.float64)
        step = max(1, _MAX_UPCAST // max(1, X.shape[1]))
        parts = [
            H.group_sq_norms(X[i : i + step].astype(xp.float64, copy=False), onehot)
            for i in range(0, X.shape[0], step)
        ]
        return parts[0] if len(parts) == 1 else xp.concatenate(parts)

    def _set_norm_cache(self):
        """Per-group squared norms and norms as contiguous ``(n_groups, n)``
        rows in the dtype of the codes (a per-pair gather is then 1-D), and
        which groups hold an all-zero row; computed once at fit / load."""
        xp = get_namespace(self.sq_norms_)
        zero = np.asarray(to_host(xp.any(self.sq_norms_ <= 0, axis=0))).reshape(-1)
        sq_t = xp.ascontiguousarray(self.sq_norms_.T.astype(self.X_.dtype, copy=False))
        self._norms_cache = (sq_t, xp.sqrt(sq_t), zero)

    def _norm_cache(self):
        if getattr(self, "_norms_cache", None) is None:
            self._set_norm_cache()
        return self._norms_cache

    @staticmethod
    def _per_pair(state, values, qid):
        """``values[qid]`` for per-query ``values``; on NumPy a repeat when the
        pairs are sorted by query (``state["counts"]``), cheaper than a gather."""
        counts = state.get("counts")
        if counts is not None and state["xp"] is np:
            return np.repeat(values, counts, axis=0)
        return values[qid]

    def _cos_estimate(self, state, g, qid, cand, rows, hamming=False):
        """Estimate of ``cos(q_g, x_g)`` per pair from group ``g``'s cos block.

        ``rows`` holds the candidates' packed code words (one gather of whole
        rows serves every block).  ``hamming=True`` (``"cc"`` only) returns
        the Hamming distance instead, a decreasing function of the estimate.
        """
        xp = state["xp"]
        b = 2 * g + 1
        w0 = int(self._word_start[b])
        nw = int((self.block_bits_[b] + 63) // 64)
        t = int(self.block_bits_[b])
        proj = state["cos_projs"][g]
        if self.variant == "ca":
            lut = state.setdefault(("cos_lut", g), self._byte_lut(proj, nw))
            acc = xp.zeros(qid.shape[0], dtype=lut.dtype)
            for j in range(8 * nw):
                byte = (rows[:, w0 + j // 8] >> np.uint64(8 * (j % 8))) & np.uint64(255)
                acc += lut[qid, j, byte.astype(xp.int64)]
            return xp.clip(acc * (math.sqrt(math.pi / 2.0) / t), -1.0, 1.0)
        qcode = state.setdefault(("cos_qcode", g), H.pack_bits(proj >= 0, nw))
        qc = self._per_pair(state, qcode, qid)
        ham = H.popcount64(rows[:, w0] ^ qc[:, 0]).astype(xp.int32)
        for w in range(1, nw):
            ham += H.popcount64(rows[:, w0 + w] ^ qc[:, w])
        if hamming:
            return ham
        return xp.cos(ham.astype(proj.dtype) * proj.dtype.type(math.pi / t))

    def _norm_costs(self, state, qid, cand, exact=True):
        """Plug-in estimate of the mixture dissimilarity ``D`` per pair.

        Per group, ``c = cos(q_g, x_g)`` is estimated from the cos-block code
        and the exact norms do the rest: ``<q_g, x_g> = |q_g| |x_g| c`` and
        ``|q_g - x_g|^2 = |q_g|^2 + |x_g|^2 - 2 <q_g, x_g>``, so that per group

        ``D_g = a_l2 |x_g|^2 - c (|q_g| |x_g| (2 a_l2 + a_ip) + a_cos) + K_g(q)``

        with ``K_g(q) = a_l2 |q_g|^2 + a_ip |q_g| M_g + a_cos`` independent of
        the candidate.  ``exact=False`` only keeps the ranking of each query:
        ``K`` is left out, and for cosine on one group (``"cc"``) the cost is
        the Hamming distance itself (``D`` is increasing in it).
        """
        xp = state["xp"]
        alpha, gw = state["alpha"], state["gw"]
        dtype = state["projs"][0].dtype
        a_l2, a_ip, a_cos = alpha["l2"], alpha["ip"], alpha["cosine"]
        sq_t, xnorms, zero = self._norm_cache()
        rows = H.take_rows(self.codes_, cand)
        on = [g for g in range(self.n_groups_) if gw[g] > 0]
        if (
            not exact
            and self.variant == "cc"
            and len(on) == 1
            and a_l2 == 0
            and a_ip == 0
            and not (zero[on[0]] or state["qzero"][on[0]])
        ):
            ham = self._cos_estimate(state, on[0], qid, cand, rows, hamming=True)
            return ham.astype(dtype)
        if not exact and len(on) == 1 and a_l2 == 0 and a_cos == 0 and not zero[on[0]]:
            # inner product on one group: D = K(q) - w a_ip |q| |x| c, and the
            # positive factor w a_ip |q| is the same for every pair of a query
            g = on[0]
            c = self._cos_estimate(state, g, qid, cand, rows)
            c *= xp.take(xnorms[g], cand)
            return xp.negative(c, out=c)
        D = None
        for g in on:
            w = float(gw[g])
            c = self._cos_estimate(state, g, qid, cand, rows)
            qn = state["qn"][:, g]
            if a_cos > 0 and (zero[g] or state["qzero"][g]):
                # the cosine of a zero vector is taken as 0
                xz = xp.take(xnorms[g], cand) > 0
                c = xp.where(xz & (self._per_pair(state, qn, qid) > 0), c, 0.0)
            if a_l2 > 0 or a_ip > 0:
                slope = self._per_pair(state, (w * (2.0 * a_l2 + a_ip)) * qn, qid)
                slope *= xp.take(xnorms[g], cand)
                if a_cos > 0:
                    slope += w * a_cos
                term = c * slope
                if a_l2 > 0:
                    term = xp.take(sq_t[g], cand) * (w * a_l2) - term
                else:
                    term = -term
            else:
                term = c * (-w * a_cos)
            if exact:
                K = w * (a_l2 * qn * qn + a_ip * float(self.group_max_norm_[g]) * qn + a_cos)
                term = term + self._per_pair(state, K.astype(dtype), qid)
            D = term if D is None else D + term
        if D is None:
            D = xp.zeros(qid.shape[0], dtype=dtype)
        return D.astype(dtype, copy=False)

    def _pair_costs(self, state, qid, cand):
        """Per-pair cost whose order per query is that of the code ranking
        (smaller is closer); cheaper than ``-_pair_scores``."""
        if "cos_projs" in state:
            return self._norm_costs(state, qid, cand, exact=False)
        return -self._pair_scores(state, qid, cand)

    def _pair_scores(self, state, qid, cand, exact=True):
        """Code similarity of (query, candidate) pairs; larger is closer.

        With ``exact=False`` only the ranking per query is kept (terms that
        depend on the query alone may be left out).
        """
        if "cos_projs" in state:
            return -self._norm_costs(state, qid, cand, exact=exact)
        xp = state["xp"]
        codes = self.codes_
        score = xp.zeros(qid.shape[0], dtype=state["projs"][0].dtype)
        for b, on in enumerate(state["active"]):
            if not on:
                continue
            w0 = int(self._word_start[b])
            nw = int((self.block_bits_[b] + 63) // 64)
            t = int(self.block_bits_[b])
            proj = state["projs"][b]
            if self.variant == "ca":
                # asymmetric: binary data codes against real query projections,
                # one 256-entry lookup table per code byte
                lut = state.setdefault(("lut", b), self._byte_lut(proj, nw))
                data = codes[:, w0 : w0 + nw]
                nbytes = 8 * nw
                acc = xp.zeros(qid.shape[0], dtype=lut.dtype)
                for j in range(nbytes):
                    byte = (data[cand, j // 8] >> np.uint64(8 * (j % 8))) & np.uint64(255)
                    acc += lut[qid, j, byte.astype(xp.int64)]
                mag = state["mags"][b]
                score += (mag * (math.sqrt(math.pi / 2.0) / t))[qid] * acc
                continue
            qcode = state.setdefault(("qcode", b), H.pack_bits(proj >= 0, nw))
            ham = xp.zeros(qid.shape[0], dtype=xp.int64)
            for w in range(nw):
                ham += H.popcount64(codes[cand, w0 + w] ^ qcode[qid, w]).astype(xp.int64)
            if self.variant == "sa":
                score -= ham.astype(score.dtype)
            else:
                est = xp.cos((math.pi / t) * ham.astype(score.dtype))
                score += state["mags"][b][qid] * est
        return score

    @staticmethod
    def _byte_lut(proj, n_words):
        """``lut[q, j, v] = sum_i s_i(v) proj[q, 8 j + i]`` with ``s = +-1``."""
        xp = get_namespace(proj)
        nq, t = proj.shape
        padded = xp.zeros((nq, 64 * n_words), dtype=proj.dtype)
        padded[:, :t] = proj
        signs = ((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1) * 2.0 - 1.0
        signs = xp.asarray(signs.astype(proj.dtype))  # (256, 8)
        return padded.reshape(nq, 8 * n_words, 8) @ signs.T  # (nq, nbytes, 256)

    def _probe_keys(self, proj, bit_start, n_probes, n_enum=None):
        """Query-directed multi-probe keys ``(nq, n_probes)`` of one table.

        The probes are the cheapest flips of the least confident key bits; how
        many bits are enumerated depends on ``n_enum`` (default ``n_probes``)
        only, so calls with the same ``n_enum`` return prefixes of one list.
        """
        xp = get_namespace(proj)
        k = self.key_bits_
        r = proj[:, bit_start : bit_start + k]
        base = H.bits_to_keys(r >= 0)
        n_probes = min(n_probes, 1 << k)
        if n_probes == 1:
            return base[:, None]
        n_enum = max(n_probes, n_probes if n_enum is None else n_enum)
        m = min(k, int(math.ceil(math.log2(n_enum))) + 2, 12)
        # the m least confident bits (any order: every subset is enumerated)
        order = xp.argpartition(xp.abs(r), m - 1, axis=1)[:, :m] if m < k else (
            xp.broadcast_to(xp.arange(k, dtype=xp.int64)[None], r.shape)
        )
        cost = xp.take_along_axis(r * r, order, axis=1)  # (nq, m)
        subsets = ((np.arange(1 << m)[:, None] >> np.arange(m)[None, :]) & 1).astype(
            np.float64
        )
        total = cost @ xp.asarray(subsets.astype(proj.dtype)).T  # (nq, 2^m)
        if n_probes < (1 << m):
            best = xp.argpartition(total, n_probes - 1, axis=1)[:, :n_probes]
        else:
            best = xp.broadcast_to(xp.arange(1 << m, dtype=xp.int64)[None], total.shape)
        # cheapest first: the first probes are the most likely buckets
        best = xp.take_along_axis(
            best, xp.argsort(xp.take_along_axis(total, best, axis=1), axis=1), axis=1
        )
        # the key mask of every subset, exact in float64 (keys have <= 30 bits)
        masks = (xp.ones_like(order) << order).astype(xp.float64)  # (nq, m)
        flips = xp.take_along_axis(masks @ xp.asarray(subsets).T, best, axis=1)
        flips = flips.astype(xp.int64)
        return base[:, None] ^ flips

    def _table_pool(self, state, n_probes):
        """Deduplicated (query, candidate) pairs from the hash tables."""
        xp = state["xp"]
        n = self.n_samples_fit_
        k = self.key_bits_
        R = getattr(self, "_n_ranges", 1)
        # norm-ranging for inner products: large-norm points reach a given
        # <q, x> at larger angles, so the top norm range (1/R of the points)
        # is probed (R - 1) times deeper, at about the cost of n_probes
        # more whole buckets
        extra = (R - 1) * n_probes if (R > 1 and state["alpha"]["ip"] > 0) else 0
        starts, lens = [], []
        for g, tproj in enumerate(state["tprojs"]):
            if tproj is None:
                continue
            nq = tproj.shape[0]
            # the probes of every table at once: one row per (query, table)
            all_keys = self._probe_keys(
                tproj.reshape(nq * self.n_tables_, k), 0, n_probes + extra,
                n_enum=R * n_probes,  # the same probe order with and without IP
            ).reshape(nq, self.n_tables_, -1)
            for j in range(self.n_tables_):
                t = g * self.n_tables_ + j
                off = self._table_offsets[t]
                if not extra:
                    keys = all_keys[:, j] * R
                    s = off[keys]
                    starts.append(s + t * n)
                    lens.append(off[keys + R] - s)
                    continue
                keys = all_keys[:, j] * R
                s = off[keys]
                # the first n_probes buckets whole, the next ones top range only
                end = xp.concatenate(
                    [off[keys[:, :n_probes] + R], off[keys[:, n_probes:] + 1]], axis=1
                )
                starts.append(s + t * n)
                lens.append(end - s)
        starts = xp.concatenate(starts, axis=1)
        lens = xp.concatenate(lens, axis=1)
        nq = starts.shape[0]
        lens_f = lens.reshape(-1)
        cum = xp.cumsum(lens_f)
        total = int(cum[-1]) if cum.shape[0] else 0
        kdt = xp.int32 if nq * n < 2**31 else xp.int64
        if total == 0:
            e = xp.zeros(0, dtype=kdt)
            return e, e
        if xp is np:
            # element i of segment s sits at starts[s] + i: one repeat of the
            # per-segment shift instead of a search per element
            shift = starts.reshape(-1) - (cum - lens_f)
            elem = np.arange(total, dtype=np.int64)
            elem += np.repeat(shift, lens_f)
            qid = np.repeat(np.arange(nq, dtype=kdt), lens.sum(axis=1))
        else:
            pos = xp.arange(total, dtype=xp.int64)
            seg = xp.searchsorted(cum, pos, side="right")
            first = cum - lens_f
            elem = starts.reshape(-1)[seg] + (pos - first[seg])
            qid = (seg // starts.shape[1]).astype(kdt)
        cand = self._table_order[elem]
        # deduplicate (query, candidate) pairs with one sort of a combined key
        # (32-bit when it fits: the sort is then about twice as fast).  qid is
        # non-decreasing, so after the sort the pairs' queries are still qid.
        u = qid * kdt(n)
        u += cand.astype(kdt, copy=False)
        u.sort()
        keep = xp.empty(u.shape[0], dtype=bool)
        keep[0] = True
        xp.not_equal(u[1:], u[:-1], out=keep[1:])
        u = u[keep]
        q = u // kdt(n)  # division by a constant: cheaper than a second compress
        u -= q * kdt(n)
        return q, u

    def _top_candidates(self, qid, cand, cost, nq, n_cand, counts=None):
        """``n_cand`` candidates of smallest ``cost`` per query, from pairs
        sorted by query (``-1`` where a query has fewer pairs)."""
        xp = get_namespace(qid)
        if counts is None:
            counts = xp.bincount(qid, minlength=nq)
        start = xp.cumsum(counts) - counts
        width = max(1, int(counts.max()) if qid.shape[0] else 1)
        if cand.shape[0] == 0:
            return xp.full((nq, min(width, n_cand)), -1, dtype=xp.int64)
        # pair i of query q goes to column i - start[q] of row q: one flat
        # scatter with a per-query shift
        shift = xp.arange(nq, dtype=xp.int64) * width - start
        flat = xp.arange(qid.shape[0], dtype=xp.int64)
        if xp is np:
            flat += np.repeat(shift, counts)
        else:  # CuPy's repeat takes host repeat counts only
            flat += shift[qid]
        dense = xp.full(nq * width, xp.inf, dtype=cost.dtype)
        dense[flat] = cost
        dense = dense.reshape(nq, width)
        if width > n_cand:
            top = xp.argpartition(dense, n_cand - 1, axis=1)[:, :n_cand]
        else:
            top = xp.broadcast_to(xp.arange(width, dtype=xp.int64)[None], (nq, width))
        # position in the pair list; slots past a query's pairs are empty (-1)
        valid = top < counts[:, None]
        pos = xp.where(valid, start[:, None] + top, 0)
        return xp.where(valid, cand[pos], -1).astype(xp.int64)

    def _distances(self, dots, xsq, qsq, alpha, gw):
        """Mixture dissimilarity from per-group dot products and squared norms.

        Computed in the dtype of ``dots`` (float64 in the search).  The cosine
        of a zero group vector (query or data side) is taken as 0, so its
        cosine term is ``1``, as in :func:`sklearn.metrics.pairwise.cosine_distances`.
        """
        xp = get_namespace(dots)
        M = xp.asarray(self.group_max_norm_.astype(np.float64)).astype(dots.dtype)
        gw = xp.asarray(gw).astype(dots.dtype)
        D = xp.zeros(dots.shape[:-1], dtype=dots.dtype)
        qn = xp.sqrt(qsq)
        if alpha["l2"] > 0:
            D += alpha["l2"] * ((qsq + xsq - 2.0 * dots) @ gw)
        if alpha["ip"] > 0:
            D += alpha["ip"] * ((qn * M - dots) @ gw)
        if alpha["cosine"] > 0:
            denom = qn * xp.sqrt(xsq)
            cos = xp.where(denom > 0, dots / xp.where(denom > 0, denom, 1.0), 0.0)
            D += alpha["cosine"] * ((1.0 - cos) @ gw)
        return xp.clip(D, 0.0, None)

    def _rerank(self, Q, ids, k, alpha, gw, self_ids):
        """Exact float64 distances of candidates ``ids`` (``-1`` = none); top ``k``.

        Always returns ``k`` columns; slots without a candidate hold distance
        ``inf`` and index ``-1``.
        """
        xp = get_namespace(Q)
        # a few MB of gathered rows at a time: large temporaries cost page
        # faults on every allocation
        step = max(1, _MAX_GATHER // max(1, ids.shape[1] * Q.shape[1]))
        if Q.shape[0] > step:
            parts = [
                self._rerank(
                    Q[i : i + step], ids[i : i + step], k, alpha, gw,
                    None if self_ids is None else self_ids[i : i + step],
                )
                for i in range(0, Q.shape[0], step)
            ]
            return xp.concatenate([a for a, _ in parts]), xp.concatenate([b for _, b in parts])
        Q = Q.astype(xp.float64, copy=False)
        onehot = H.group_masks(self.group_index_, self.n_groups_, xp, np.float64)
        valid = ids >= 0
        safe = xp.where(valid, ids, 0)
        nq, C = ids.shape
        # a gather of whole rows, faster than 2-D fancy indexing; float32 data
        # are converted after the gather (only the candidates' rows)
        Xc = H.take_rows(self.X_, safe.reshape(-1)).reshape(nq, C, -1)  # (nq, C, d)
        Xc = Xc.astype(xp.float64, copy=False)
        if self.n_groups_ == 1:
            dots = xp.einsum("qcd,qd->qc", Xc, Q)[:, :, None]
        else:
            Qm = Q[:, :, None] * onehot[None, :, :]  # (nq, d, G)
            dots = Xc @ Qm  # (nq, C, G)
        xsq = xp.take(self.sq_norms_, safe.reshape(-1), axis=0).reshape(nq, C, -1)
        qsq = (Q * Q) @ onehot
        D = self._distances(dots, xsq, qsq[:, None, :], alpha, gw)
        D = xp.where(valid, D, xp.inf)
        if self_ids is not None:
            D = xp.where(ids == self_ids[:, None], xp.inf, D)
        return self._select(D, ids, k)

    @staticmethod
    def _select(D, ids, k):
        """The ``k`` smallest of every row, ascending; rows with fewer than
        ``k`` columns are padded with distance ``inf`` and index ``-1``."""
        xp = get_namespace(D)
        if D.shape[1] < k:
            nq, pad = D.shape[0], k - D.shape[1]
            D = xp.concatenate([D, xp.full((nq, pad), xp.inf, dtype=D.dtype)], axis=1)
            ids = xp.concatenate([ids, xp.full((nq, pad), -1, dtype=ids.dtype)], axis=1)
        if D.shape[1] > k:
            part = xp.argpartition(D, k - 1, axis=1)[:, :k]
            D = xp.take_along_axis(D, part, axis=1)
            ids = xp.take_along_axis(ids, part, axis=1)
        order = xp.argsort(D, axis=1)
        return xp.take_along_axis(D, order, axis=1), xp.take_along_axis(ids, order, axis=1)

    def _exhaustive(self, Q, k, alpha, gw, self_ids):
        """Exact brute-force search over every indexed point, in float64.

        Float32 data are converted to float64 a block of rows at a time
        (``_MAX_UPCAST`` values), and the ``k`` best are merged block by block.
        """
        xp = get_namespace(Q)
        n = self.n_samples_fit_
        G = self.n_groups_
        d = self.X_.shape[1]
        onehot = H.group_masks(self.group_index_, G, xp, np.float64)
        rows = n if self.X_.dtype == xp.float64 else max(k, _MAX_UPCAST // max(1, d))
        rows = min(rows, n)
        step = max(1, _MAX_DENSE // max(1, rows * G))
        bestD = bestI = None
        for j in range(0, n, rows):
            XT = self.X_[j : j + rows].astype(xp.float64, copy=False).T
            xsq = self.sq_norms_[j : j + rows][None]
            ids_j = xp.arange(j, j + XT.shape[1], dtype=xp.int64)[None]
            outD, outI = [], []
            for i in range(0, Q.shape[0], step):
                q = Q[i : i + step].astype(xp.float64, copy=False)
                qsq = (q * q) @ onehot
                Qm = q[:, None, :] * onehot.T[None, :, :]  # (b, G, d)
                dots = xp.moveaxis(Qm @ XT, 1, 2)  # (b, rows, G)
                D = self._distances(dots, xsq, qsq[:, None, :], alpha, gw)
                ids = xp.broadcast_to(ids_j, D.shape)
                if self_ids is not None:
                    D = xp.where(ids == self_ids[i : i + step, None], xp.inf, D)
                if bestD is not None:  # merge with the best of the previous rows
                    D = xp.concatenate([bestD[i : i + step], D], axis=1)
                    ids = xp.concatenate([bestI[i : i + step], ids], axis=1)
                d_, i_ = self._select(D, ids, k)
                outD.append(d_)
                outI.append(i_)
            bestD, bestI = xp.concatenate(outD), xp.concatenate(outI)
        return bestD, bestI

    def _search(self, Q, k, alpha, gw, n_candidates, n_probes, self_ids):
        """``k`` neighbours of every query: float64 distances and indices.

        ``Q`` may be float32 or float64: the hashing sees it in the dtype of
        the index, the exact re-ranking in float64.  A query whose candidate
        pool holds fewer than ``k`` points (``k + 1`` with ``self_ids``, the
        query itself excluded) is answered by exhaustive search.
        """
        xp = get_namespace(Q)
        n = self.n_samples_fit_
        if n_candidates >= n:
            D, I = self._exhaustive(Q, k, alpha, gw, self_ids)
            return self._finish(D, alpha), I
        n_cand = max(n_candidates, k + (self_ids is not None))
        outD, outI = [], []
        step = self.batch_size
        if step == "auto":
            step = 256 if is_gpu_array(Q) else 32
        if self.n_tables_ == 0:
            step = max(1, min(step, _MAX_PAIRS // n))
        for i in range(0, Q.shape[0], step):
            q = Q[i : i + step]
            nq = q.shape[0]
            state = self._query_state(q.astype(self.X_.dtype, copy=False), alpha, gw)
            if self.n_tables_ == 0:
                qid = xp.repeat(xp.arange(nq, dtype=xp.int64), n)
                cand = xp.tile(xp.arange(n, dtype=xp.int64), nq)
            else:
                qid, cand = self._table_pool(state, n_probes)
            # pairs come sorted by query: per-query values expand by a repeat
            state["counts"] = xp.bincount(qid, minlength=nq)
            cost = self._pair_costs(state, qid, cand)
            ids = self._top_candidates(qid, cand, cost, nq, n_cand, state["counts"])
            sid = None if self_ids is None else self_ids[i : i + step]
            # k columns per query even when the pool is smaller (inf / -1 there)
            D, I = self._rerank(q, ids, k, alpha, gw, sid)
            outD.append(D)
            outI.append(I)
        D = xp.concatenate(outD)
        I = xp.concatenate(outI)
        # queries whose pool held fewer than k points: answer them exactly
        short = xp.flatnonzero(~xp.all(xp.isfinite(D), axis=1))
        if short.shape[0]:
            sid = None if self_ids is None else self_ids[short]
            D2, I2 = self._exhaustive(Q[short], k, alpha, gw, sid)
            D[short] = D2
            I[short] = I2
        return self._finish(D, alpha), I

    @staticmethod
    def _finish(D, alpha):
        # pure L2: report (weighted) Euclidean distances, as NearestNeighbors does
        if alpha["ip"] == 0 and alpha["cosine"] == 0:
            return get_namespace(D).sqrt(D)
        return D

    def kneighbors(
        self,
        X=None,
        n_neighbors=None,
        return_distance=True,
        *,
        weights=None,
        group_weights=None,
        n_candidates=None,
        n_probes=None,
    ):
        """Find the nearest neighbours under a mixture chosen for this call.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Query points.  ``None`` queries the indexed points, each point
            not being its own neighbour.
        n_neighbors : int, default=None
            Number of neighbours; ``None`` uses the constructor value.
        return_distance : bool, default=True
            Whether to return the distances.
        weights : dict, str or None, default=None
            Mixture weights over ``"l2"``, ``"ip"`` and ``"cosine"`` for this
            call (non-negative, not all zero); ``None`` uses the
            constructor's.  No re-hashing happens.
        group_weights : array-like of shape (n_groups,), default=None
            Feature-group weights for this call; ``None`` uses the
            constructor's.
        n_candidates : int, default=None
            Candidates re-ranked exactly for this call (at least
            ``n_neighbors`` are).  A query whose candidate pool holds fewer
            than ``n_neighbors`` points (``n_neighbors + 1`` when ``X`` is
            None) is answered by exact brute force, so that exactly
            ``n_neighbors`` neighbours are always returned.
        n_probes : int, default=None
            Buckets probed per table for this call.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors) of float64
            Mixture dissimilarities, ascending, computed in float64 whatever
            the dtype of the data (only if ``return_distance``).
        neigh_ind : ndarray of shape (n_queries, n_neighbors)
            Indices of the neighbours in the indexed data.

        Raises
        ------
        ValueError
            If ``n_neighbors`` exceeds the number of indexed points
            (``n_samples_fit_ - 1`` when ``X`` is None), as in
            :meth:`sklearn.neighbors.NearestNeighbors.kneighbors`.
        """
        check_is_fitted(self)
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        if (
            not isinstance(n_neighbors, Integral)
            or isinstance(n_neighbors, bool)
            or n_neighbors < 1
        ):
            raise ValueError(
                f"n_neighbors must be a positive integer; got {n_neighbors!r}."
            )
        alpha = _parse_weights(self.weights if weights is None else weights)
        gw = self._parse_group_weights(
            self.group_weights if group_weights is None else group_weights
        )
        n_candidates = self.n_candidates if n_candidates is None else n_candidates
        n_probes = self.n_probes if n_probes is None else n_probes
        for name, val in (("n_candidates", n_candidates), ("n_probes", n_probes)):
            if not isinstance(val, Integral) or isinstance(val, bool) or val < 1:
                raise ValueError(f"{name} must be a positive integer; got {val!r}.")
        n = self.n_samples_fit_
        if X is None:
            if n_neighbors > n - 1:
                raise ValueError(
                    f"Expected n_neighbors < n_samples_fit, but n_neighbors = {n_neighbors}, "
                    f"n_samples_fit = {n}, n_samples = {n}: with X=None each point is "
                    f"excluded from its own neighbours, so n_neighbors must be <= "
                    f"n_samples_fit - 1 = {n - 1}."
                )
            Q = self.X_
            xp = get_namespace(Q)
            self_ids = xp.arange(n, dtype=xp.int64)
            host_out = False
        else:
            Q = self._validate_X(X, reset=False)
            if n_neighbors > n:
                raise ValueError(
                    f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {n_neighbors}, "
                    f"n_samples_fit = {n}, n_samples = {Q.shape[0]}: n_neighbors must be at "
                    f"most the number of indexed points."
                )
            host_out = not is_gpu_array(Q)
            # float32 or float64 as given: the hashing converts it to the dtype
            # of the index, the exact re-ranking to float64
            Q = to_device(Q, self.device_)
            self_ids = None
        D, I = self._search(Q, n_neighbors, alpha, gw, n_candidates, n_probes, self_ids)
        if host_out:
            D, I = to_host(D), to_host(I)
        if return_distance:
            return D, I
        return I

    def kneighbors_graph(
        self,
        X=None,
        n_neighbors=None,
        mode="connectivity",
        *,
        weights=None,
        group_weights=None,
        n_candidates=None,
        n_probes=None,
    ):
        """Sparse graph of the k nearest neighbours.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Query points; ``None`` uses the indexed points (self excluded).
        n_neighbors : int, default=None
            Neighbours per row; ``None`` uses the constructor value.
        mode : {"connectivity", "distance"}, default="connectivity"
            Ones, or the mixture dissimilarities.
        weights, group_weights, n_candidates, n_probes
            As in :meth:`kneighbors`.

        Returns
        -------
        A : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
            Rows sorted by distance (always a host array).
        """
        check_is_fitted(self)
        if mode not in ("connectivity", "distance"):
            raise ValueError(
                f"mode must be 'connectivity' or 'distance'; got {mode!r}."
            )
        D, I = self.kneighbors(
            X,
            n_neighbors,
            return_distance=True,
            weights=weights,
            group_weights=group_weights,
            n_candidates=n_candidates,
            n_probes=n_probes,
        )
        D, I = to_host(D), to_host(I)
        nq, k = I.shape
        data = np.ones(nq * k) if mode == "connectivity" else D.ravel().astype(np.float64)
        indptr = np.arange(0, nq * k + 1, k)
        return sparse.csr_matrix(
            (data, I.ravel(), indptr), shape=(nq, self.n_samples_fit_)
        )

    def transform(self, X):
        """Neighbour graph of ``X`` like :class:`~sklearn.neighbors.KNeighborsTransformer`.

        In ``"distance"`` mode each row holds ``n_neighbors + 1`` neighbours
        (a training point is its own first neighbour), so the graph can feed
        ``KNeighborsClassifier(metric="precomputed")`` with up to
        ``n_neighbors`` neighbours.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query points.

        Returns
        -------
        Xt : scipy.sparse.csr_matrix of shape (n_queries, n_samples_fit)
            Graph with the constructor's weights.
        """
        check_is_fitted(self)
        add_one = self.mode == "distance"
        k = min(self.n_neighbors + add_one, self.n_samples_fit_)
        return self.kneighbors_graph(X, n_neighbors=k, mode=self.mode)

    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return the neighbour graph of ``X`` (self included).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to index and query.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        Xt : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        """
        return self.fit(X).transform(X)

    @property
    def _n_features_out(self):
        return self.n_samples_fit_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    # ------------------------------------------------------------ save/load
    def save(self, path):
        """Save the fitted index to an ``.npz`` file (no pickle).

        Parameters
        ----------
        path : str, path-like or file object
            Target file.  As with :func:`numpy.savez`, ``".npz"`` is appended
            to a path that does not already end with it; the path actually
            written is returned, and :meth:`load` accepts either spelling
            (``save("idx")`` writes ``idx.npz``, which ``load("idx")`` and
            ``load("idx.npz")`` both read).  A file object is written as is.

        Returns
        -------
        path : str, pathlib.Path or file object
            The file written: ``path`` with the ``.npz`` suffix (a
            :class:`pathlib.Path` when ``path`` is one, else a ``str``), or
            the file object itself.
        """
        check_is_fitted(self)
        params = self.get_params(deep=False)
        for key in ("feature_groups", "group_weights"):
            if params[key] is not None:
                params[key] = np.asarray(params[key]).tolist()
        rs = params["random_state"]
        if rs is not None and not isinstance(rs, Integral):
            params["random_state"] = None
        config = {
            "format_version": _FORMAT_VERSION,
            "class": type(self).__name__,
            "params": params,
            "n_features_in": int(self.n_features_in_),
            "n_tables": int(self.n_tables_),
            "key_bits": int(self.key_bits_),
            "norm_ranges": int(self._n_ranges),
        }
        arrays = {
            "config": np.array(json.dumps(config)),
            "X": to_host(self.X_),
            "codes": to_host(self.codes_),
            "groups": self.groups_,
            "group_index": self.group_index_,
            "group_max_norm": self.group_max_norm_,
            "hash_max_norm": self.hash_max_norm_,
            "center": to_host(self.center_),
            "block_bits": self.block_bits_,
        }
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in"] = np.asarray(self.feature_names_in_, dtype=str)
        for i, A in enumerate(self.projections_):
            arrays[f"projection_{i}"] = to_host(A)
        for g, A in enumerate(self.table_projections_):
            arrays[f"table_projection_{g}"] = to_host(A)
        if self._table_order is not None:
            arrays["table_order"] = to_host(self._table_order)
            arrays["table_offsets"] = to_host(self._table_offsets)
        target = path if hasattr(path, "write") else _npz_path(path)
        np.savez(target, **arrays)
        return target

    @classmethod
    def load(cls, path, device=None):
        """Load an index written by :meth:`save` (``allow_pickle=False``).

        Parameters
        ----------
        path : str, path-like or file object
            File written by :meth:`save`, named as given to :meth:`save` or as
            returned by it: a path without the ``.npz`` suffix reads
            ``path + ".npz"`` (what :meth:`save` wrote), or ``path`` itself
            when only that file exists.
        device : {None, "cpu", "cuda"}, default=None
            Where to put the index; ``None`` uses the saved ``device``
            parameter (host when that was ``None``).

        Returns
        -------
        index : MultiPurposeLSH
            The fitted index; the codes are not recomputed.
        """
        if not hasattr(path, "read"):
            # what save(path) wrote first, then path itself (a file written
            # under its own name, e.g. through a file object)
            tried = [_npz_path(path), path]
            found = [p for p in tried if os.path.exists(p)]
            if not found:
                names = sorted({os.fsdecode(os.fspath(p)) for p in tried})
                raise FileNotFoundError(
                    f"No saved {cls.__name__} index for path={os.fsdecode(os.fspath(path))!r}; "
                    f"looked for {' and '.join(repr(p) for p in names)}."
                )
            path = found[0]
        try:
            return cls._load(path, device)
        except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, IndexError, json.JSONDecodeError,
                UnicodeDecodeError, TypeError, ValueError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(_LOAD_ERROR_PREFIX):
                raise
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise ValueError(
                f"{_LOAD_ERROR_PREFIX} {os.fsdecode(os.fspath(path)) if not hasattr(path, 'read') else path!r} is not "
                f"a readable {cls.__name__} index file: {type(exc).__name__}: {reason}"
            ) from None

    @classmethod
    def _load(cls, path, device):
        """:meth:`load` of an existing file; format errors surface as the exceptions of reading it."""
        with np.load(path, allow_pickle=False) as f:
            config = json.loads(str(f["config"]))
            if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
                raise ValueError("its configuration is not a JSON object with 'params'")
            if config.get("class") != cls.__name__:
                raise ValueError(
                    f"{path!r} does not hold a {cls.__name__} (class={config.get('class')!r})."
                )
            if config.get("format_version") != _FORMAT_VERSION:
                raise ValueError(
                    f"Unsupported format_version {config.get('format_version')!r}; "
                    f"expected {_FORMAT_VERSION}."
                )
            unknown = sorted(set(config["params"]) - set(cls().get_params(deep=False)))
            if unknown:
                raise ValueError(f"its configuration names parameters {cls.__name__} does not have: {unknown}")
            est = cls(**config["params"])
            est._validate_params()
            dev = resolve_device(device if device is not None else est.device)
            est.device_ = dev
            est.X_ = to_device(f["X"], dev)
            est.codes_ = to_device(f["codes"], dev)
            est.groups_ = f["groups"]
            est.group_index_ = f["group_index"]
            est.group_max_norm_ = f["group_max_norm"]
            est.hash_max_norm_ = f["hash_max_norm"]
            est.center_ = to_device(f["center"], dev)
            est.block_bits_ = f["block_bits"]
            if "feature_names_in" in f:
                est.feature_names_in_ = f["feature_names_in"].astype(object)
            n_proj = len(est.block_bits_)
            est.projections_ = [to_device(f[f"projection_{i}"], dev) for i in range(n_proj)]
            est.table_projections_ = [
                to_device(f[f"table_projection_{g}"], dev) for g in range(len(est.groups_))
            ]
            if "table_order" in f:
                est._table_order = to_device(f["table_order"], dev)
                est._table_offsets = to_device(f["table_offsets"], dev)
            else:
                est._table_order = est._table_offsets = None
        est.n_features_in_ = config["n_features_in"]
        if est.X_.ndim != 2 or est.X_.dtype.kind != "f" or est.X_.shape[1] != est.n_features_in_:
            raise ValueError(f"its data X has shape {est.X_.shape} and dtype {est.X_.dtype}; expected floats of "
                             f"shape (n_samples, {est.n_features_in_})")
        if est.codes_.shape[0] != est.X_.shape[0]:
            raise ValueError(f"it holds codes for {est.codes_.shape[0]} points and data for {est.X_.shape[0]}")
        est.n_groups_ = len(est.groups_)
        est.n_samples_fit_ = est.X_.shape[0]
        words = (est.block_bits_ + 63) // 64
        est._word_start = np.concatenate([[0], np.cumsum(words)[:-1]]).astype(np.int64)
        est._n_words = int(words.sum())
        est.sq_norms_ = est._sq_norms64(est.X_)
        est._set_norm_cache()
        est.key_bits_ = config["key_bits"]
        est.n_tables_ = config["n_tables"]
        est._n_ranges = int(config.get("norm_ranges", 1))
        return est

"""Multiple-purpose locality-sensitive hashing (mp-LSH).

Pronobis, Panknin, Kirschnick, Srinivasan, Samek, Markl, Kaul, Müller and
Nakajima, "Sharing Hash Codes for Multiple Purposes", Japanese Journal of
Statistics and Data Science (2018), arXiv:1609.03219.
"""

import copy
import json
import math
import os
import pathlib
import zipfile
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
from .._archive import _MAX_NPY_HEADER, _member_header, regular_file
from .._dask import dask_blocks, is_dask_array
from .._validation import validate_array
from ..exceptions import ModelFileError
from . import _hashing as H
from . import _kernels

__all__ = ["MultiPurposeLSH"]

_VARIANTS = ("sa", "ca", "cc")
_FORMAT_VERSION = 1
_MAX_PAIRS = 1 << 22  # pairs (query, candidate) scored at once
def _ip_depth(n):
    """How deep inner-product queries probe the top norm range, relative to ``(R - 1) * n_probes`` buckets.

    Grows with the index, ``n / 500,000`` between 1/3 and 2: the true inner-product neighbours spread over
    more buckets as the clusters fill.  Measured on 64-d clustered data (300 components): at 200,000 points
    depth 1/3 kept recall@10 at 0.93 (0.94 with depth 1) with a quarter fewer candidates; at 1,000,000
    points depth 2 raised it from 0.896 (depth 1) to 0.906.
    """
    return min(2.0, max(1.0 / 3.0, n / 500_000))
_MAX_DENSE = 1 << 24  # floats in one exhaustive distance block
_MAX_GATHER = 1 << 20  # candidate features gathered at once for re-ranking
_MAX_UPCAST = 1 << 22  # indexed features converted to float64 at once (exhaustive search)
_NORM_RANGES = 4  # norm ranges (quantiles) inside each hash bucket
#: the plain float64 distance formula serves queries and indexed points whose nonzero feature groups have a
#: largest |value| in [2**-_PLAIN_EXP, 2**_PLAIN_EXP / n_features] (squared norms and distances are then finite
#: and normal); beyond, the distances are computed on values scaled by powers of two (``_scaled_distances``)
_PLAIN_EXP = 480
#: binary exponent standing for an all-zero feature group in the scaled distances (below any float64's)
_ZERO_EXP = -1100
#: exponent shift that makes ``ldexp`` of any finite float64 zero (inactive terms of the scaled distances)
_NEG_EXP = -(1 << 20)


def _pow2_exponent(value):
    """``e`` with ``value / 2**e`` in ``[1, 2)``, for a positive finite ``value``."""
    return math.frexp(value)[1] - 1


def _normalized_weights(alpha, gw):
    """Mixture and group weights divided by powers of two so that the largest of each is in ``[1, 2)``.

    The dissimilarity is bilinear in the two, so it is that of the scaled
    weights times ``2**e`` (exact, as long as nothing underflows): every
    ranking is unchanged, and weights up to the float64 maximum no longer
    overflow the intermediate quantities.

    Returns
    -------
    alpha : dict
    gw : ndarray of float64
    e : int
        The binary exponent of the factor between the two dissimilarities.
    """
    ea = _pow2_exponent(max(alpha.values()))
    gw = np.asarray(gw, dtype=np.float64)
    ew = _pow2_exponent(float(gw.max()))
    return {m: math.ldexp(v, -ea) for m, v in alpha.items()}, np.ldexp(gw, -ew), ea + ew


def _norm_limit(dtype):
    """Largest feature-group norm of the indexed points that the hashing in ``dtype`` handles."""
    return math.sqrt(float(np.finfo(dtype).max)) / 64.0


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


#: longest JSON configuration read, in characters
_MAX_CONFIG_CHARS = 8 * 2**20

#: largest |entry| of a saved projection matrix (standard normal draws: P(|z| > 16) is about 1e-57)
_MAX_GAUSSIAN = 16.0

#: the keys of a saved configuration
def _auto_candidates(k, n):
    """``n_candidates="auto"``: the candidates re-ranked exactly for ``k`` neighbours among ``n`` indexed points.

    At least 300 and 30 per neighbour; on larger sets one point in 400, since the true neighbours of a
    clustered set sit deeper in the code ranking as the clusters fill (on 300 clusters of 64-d points,
    recall@10 with 300 candidates is 0.99 / 0.99 / 0.94 for L2 / cosine / inner product at 100,000 points,
    0.90 at 200,000 and 0.83 at 300,000; with one point in 400 it stays at 0.96-0.97 from 200,000 to
    1,000,000 points, where the pool itself limits inner products).  At 100,000 points recall@50 is the same
    with 1,500 candidates as with 2,500 (0.985 / 0.986 / 0.956): the pool, not the re-ranking, limits it,
    and every candidate re-ranked costs a random read of its row.
    """
    return max(300, 30 * int(k), -(-int(n) // 400))


_CONFIG_KEYS = {"format_version", "class", "params", "n_features_in", "n_tables", "key_bits", "norm_ranges"}

#: dtypes of the saved arrays: ``spec -> (accepts(dtype), description)`` (any byte order)
_DTYPE_SPECS = {
    "data32": (lambda t: t.kind == "f" and t.itemsize == 4, "float32, the dtype of the data X"),
    "data64": (lambda t: t.kind == "f" and t.itemsize == 8, "float64, the dtype of the data X"),
    "float64": (lambda t: t.kind == "f" and t.itemsize == 8, "float64"),
    "uint64": (lambda t: t.kind == "u" and t.itemsize == 8, "uint64"),
    "int": (lambda t: t.kind in "iu" and t.itemsize <= 8, "integers"),
    "labels": (lambda t: (t.kind in "biuf" and t.itemsize <= 8) or t.kind == "U", "feature-group labels"),
    "str": (lambda t: t.kind == "U", "strings"),
}


def _dtype_ok(dtype, spec):
    return _DTYPE_SPECS[spec][0](dtype)


class _BadFile(Exception):
    """A problem of an index file; :meth:`MultiPurposeLSH.load` raises it as a ModelFileError."""


def _npy_header(zf, info, key):
    """``(shape, dtype)`` of the ``.npy`` zip member ``info``, checked as a model file's members are
    (:func:`sklrp._archive._member_header`: magic string, header size, no pickled objects, the declared size
    equal to the member's); a problem raises :class:`_BadFile`."""
    shape, dtype, _ = _member_header(zf, info, None, where=f"its array {key!r}", error=_BadFile)
    return tuple(int(d) for d in shape), dtype


def _read_npy(zf, info):
    """The array of the zip member ``info`` (checked by :func:`_npy_header`), never unpickled."""
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False, max_header_size=_MAX_NPY_HEADER)


def _parse_config(text):
    """The JSON configuration of an index file, checked (keys, class and format version)."""
    try:
        config = json.loads(text)
    except RecursionError:
        raise _BadFile("its configuration is nested too deeply to be read") from None
    except ValueError as exc:
        raise _BadFile(f"its configuration is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
        raise _BadFile("its configuration is not a JSON object with 'params'")
    if config.get("class") != "MultiPurposeLSH":
        raise _BadFile(f"it does not hold a MultiPurposeLSH (class={config.get('class')!r:.80})")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version != _FORMAT_VERSION:
        raise _BadFile(
            f"unsupported format_version {config.get('format_version')!r:.80}; expected {_FORMAT_VERSION}"
        )
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise _BadFile(f"its configuration has unknown keys {unknown!r:.200}")
    return config


def _config_int(config, key, low, high):
    """``config[key]``, an int in ``[low, high]`` (``high=None``: no upper bound)."""
    value = config.get(key)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise _BadFile(f"its configuration has {key}={value!r:.80}; expected an integer {bounds}")
    return value


def _same_labels(a, b):
    """Whether two arrays of feature-group labels are equal (strings with strings, numbers with numbers)."""
    if a.shape != b.shape or (a.dtype.kind == "U") != (b.dtype.kind == "U"):
        return False
    if a.dtype.kind == "U":
        return bool(np.all(a == b))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f" and b.dtype.kind == "f"))

#: the largest bucket-offset arrays the hash tables may need, in bytes (key_bits sizes them, not the data)
_MAX_OFFSET_BYTES = 1 << 30

#: the most hash tables an index may build (more cost more than a linear scan)
_MAX_TABLES = 1024

#: the most memory, in bytes, the compiled ranking's records may take in bucket order (one record per
#: point and table); beyond it they are kept once per point and fetched from wherever the point's is
_MAX_BUCKET_RECORD_BYTES = 1 << 30

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
    n_candidates : int or "auto", default="auto"
        Number of code-ranked candidates that are re-ranked exactly; trades
        recall for speed.  ``"auto"`` re-ranks ``max(300, 30 * k, n / 400)``
        for ``k`` neighbours among ``n`` indexed points, which reached recall@10 of 0.91 or more for L2, cosine and
        inner product on clustered 64-d data of 100,000 to 1,000,000 points (0.96 or more for L2 and cosine; see
        :doc:`/neighbors` for the trade-off).  At least the number of indexed
        points makes the search exact.  Fewer than the number of neighbours asked for is
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
        norm); when the inner-product weight is non-zero, further buckets
        are probed for their top-quartile points only, ``n_probes`` of them
        up to 166,000 indexed points, then growing with the index up to
        ``6 * n_probes`` from 1,000,000 points on
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
        Queries processed together.  ``"auto"``: on the CPU 512 with the
        compiled kernels (Numba installed, see the user guide: the threads
        share a batch's queries) and 32 without them, where the (query,
        candidate) pair arrays of a batch then stay cache-sized; 256 on the
        GPU, where larger batches amortise kernel launches.
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
    variant_ : str
        The hashing variant of the fitted codes.  ``n_bits``, ``variant``,
        ``feature_groups``, ``n_tables``, ``key_bits`` and ``random_state``
        shape the index: changed by ``set_params`` after ``fit``, they take
        effect at the next ``fit`` (queries and :meth:`save` keep the fitted
        ones); the other parameters apply at query time.
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
        "n_candidates": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
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
        n_candidates="auto",
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

    #: parameters that shape the fitted index (codes, groups, tables); the others apply at query time
    _STRUCTURE = ("n_bits", "variant", "feature_groups", "n_tables", "key_bits", "random_state")

    def _structure_params(self):
        """The current values of the :attr:`_STRUCTURE` parameters (feature groups copied as a list)."""
        out = {key: getattr(self, key) for key in self._STRUCTURE}
        if out["feature_groups"] is not None:
            out["feature_groups"] = np.asarray(out["feature_groups"]).tolist()
        return out

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
        # the parameters that shape the fitted index; set_params after fit changes them for the next fit only
        self.variant_ = self.variant
        self._fit_structure = self._structure_params()
        # defaults are validated here so that a bad constructor value fails early
        _parse_weights(self.weights)
        self._parse_group_weights(self.group_weights)
        self._norm_ranking()  # code_ranking="norms" with variant="sa" fails here

        variant = self.variant_
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
        self.sq_norms_, self.group_max_norm_, self.center_, self.hash_max_norm_ = self._data_norms(X)
        self._check_norms(X.dtype)

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
        self._set_query_limits()
        self._build_tables(X, rng)
        return self

    def _data_norms(self, X, center=None):
        """Squared group norms (float64), their largest norms ``M_g``, the feature means (unless
        ``center`` is given) and the largest norms of the centred groups, of the indexed points ``X``.

        Norms beyond the float range come out as ``inf`` (refused by :meth:`_check_norms`).
        """
        xp = get_namespace(X)
        n = X.shape[0]
        step = max(1, _MAX_UPCAST // max(1, X.shape[1]))
        with np.errstate(over="ignore", invalid="ignore"):  # inf * 0 of the group masks: NaN
            # the norms from rows scaled by powers of two: M_g without underflow
            # (or overflow), and the squared norms bitwise as (X * X) @ masks
            # wherever those neither overflow nor underflow
            sq, max_norm = [], None
            for i in range(0, n, step):
                e, _, sq_scaled = self._scaled_rows(X[i : i + step])
                sq.append(xp.ldexp(sq_scaled, 2 * e))
                top = xp.max(xp.ldexp(xp.sqrt(sq_scaled), e), axis=0)
                max_norm = top if max_norm is None else xp.maximum(max_norm, top)
            sq = sq[0] if len(sq) == 1 else xp.concatenate(sq)
            max_norm = np.asarray(to_host(max_norm), dtype=np.float64)
            if center is None:
                center = xp.mean(X, axis=0)
            onehot = H.group_masks(self.group_index_, self.n_groups_, xp, X.dtype)
            csq = H.group_sq_norms(X - center, onehot) if n <= 65536 else xp.concatenate(
                [H.group_sq_norms(X[i : i + 65536] - center, onehot) for i in range(0, n, 65536)]
            )
            hmax = np.sqrt(to_host(xp.max(csq, axis=0)).astype(np.float64))
        max_norm, hmax = (np.where(np.isnan(a), np.inf, a) for a in (max_norm, hmax))
        # M_g of an all-zero group is 0 (its inner-product term M_g |q_g| - <q_g, x_g> is 0); the hashing scale
        # of such a group is 1 (it divides)
        return sq, max_norm, center, np.where(hmax > 0, hmax, 1.0)

    def _check_norms(self, dtype):
        """Refuse indexed points whose squared feature-group norms the hashing cannot represent."""
        limit = _norm_limit(dtype)
        big = max(float(np.max(self.group_max_norm_)), float(np.max(self.hash_max_norm_)))
        if not big <= limit:
            if not math.isfinite(big):  # the centred norms overflowed: the (float64) norms of the points
                big = float(np.max(self.group_max_norm_))
            shown = f"up to {big:.3g}" if math.isfinite(big) else "beyond the float range"
            raise ValueError(
                f"X has feature-group norms {shown} (of the points or of the points minus their mean); "
                f"MultiPurposeLSH hashes squared norms in {np.dtype(dtype).name}, so they must be at most "
                f"{limit:.3g}. Scale X down (all distances scale with it)"
                + (" or convert it to float64." if np.dtype(dtype) == np.float32 else ".")
            )

    def _group_absmax(self, A):
        """Largest ``|value|`` of every feature group of every row of ``A``: ``(n, n_groups)``."""
        xp = get_namespace(A)
        absA = xp.abs(A)
        if self.n_groups_ == 1:
            return xp.max(absA, axis=1)[:, None]
        return xp.stack([xp.max(absA[:, cols], axis=1) for cols in self._group_cols], axis=1)

    def _plain_bounds(self):
        d = max(1, self.n_features_in_)
        return math.ldexp(1.0, -_PLAIN_EXP), math.ldexp(1.0, _PLAIN_EXP) / d

    def _set_query_limits(self):
        """What decides, per query, between the plain and the scaled exact distances and whether the
        query can be hashed; computed once at fit / load."""
        X = self.X_
        xp = get_namespace(X)
        plain = True
        if X.dtype != xp.float32:  # float32 values are always in the plain range
            lo, hi = self._plain_bounds()
            step = max(1, _MAX_UPCAST // max(1, X.shape[1]))
            for i in range(0, X.shape[0], step):
                a = self._group_absmax(X[i : i + step]).astype(xp.float64, copy=False)
                if not bool(xp.all((a <= hi) & ((a >= lo) | (a == 0)))):
                    plain = False
                    break
        scale = max(1.0, float(np.max(self.group_max_norm_)), float(np.max(self.hash_max_norm_)))
        self._limits = {"data_plain": plain, "hash_scale": scale}
        self._scaled_cache = None

    def _query_limits(self):
        if getattr(self, "_limits", None) is None:
            self._set_query_limits()
        return self._limits

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
        if self.variant_ == "sa":
            return [sum(per_block) + 1]
        return per_block

    def _data_vectors(self, X):
        blocks = H.data_blocks(X, self._group_cols, self.hash_max_norm_, self.center_)
        if self.variant_ == "sa":
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
        if self.variant_ == "sa":
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
            # independent of the weights (the weights enter the estimate below);
            # the norms are computed without overflow or underflow
            units = [H.unit_rows(Q[:, cols]) for cols in self._group_cols]
            qn = xp.stack([norm for _, norm in units], axis=1)
            state["qn"] = qn
            state["qzero"] = np.asarray(to_host(xp.any(qn <= 0, axis=0))).reshape(-1)
            state["cos_projs"] = [
                u @ self.projections_[2 * g + 1] if gw[g] > 0 else None
                for g, (u, _) in enumerate(units)
            ]
        return state

    def _norm_ranking(self):
        """Whether candidates are ranked by cos-block codes plus exact norms."""
        mode = getattr(self, "code_ranking", "auto")
        if mode == "auto":
            return self.variant_ != "sa"
        if mode == "norms" and self.variant_ == "sa":
            raise ValueError(
                "code_ranking='norms' needs per-group cosine codes, which variant='sa' "
                "does not have; use code_ranking='auto' or 'blocks' with variant='sa', "
                "or variant='ca' / 'cc'; got code_ranking='norms', variant='sa'."
            )
        return mode == "norms"

    def _set_norm_cache(self):
        """Per-group squared norms and norms as contiguous ``(n_groups, n)``
        rows in the dtype of the codes (a per-pair gather is then 1-D), and
        which groups hold an all-zero row; computed once at fit / load."""
        xp = get_namespace(self.sq_norms_)
        sq_t = xp.ascontiguousarray(self.sq_norms_.T.astype(self.X_.dtype, copy=False))
        xnorms = xp.sqrt(sq_t)
        # a squared norm below the dtype's normal range has lost its precision or vanished (about 1e-154 and
        # smaller norms in float64, 1e-19 in float32), although the norm is representable: such points looked
        # like zero vectors (cosine 0 for every candidate, chance recall); their norms come from the rows scaled
        # by powers of two
        low = sq_t < np.finfo(sq_t.dtype).tiny
        if bool(xp.any(low)):
            e, sq = self._scaled_data()
            xnorms = xp.where(low, xp.ldexp(xp.sqrt(sq), e).T.astype(sq_t.dtype), xnorms)
        zero = np.asarray(to_host(xp.any(xnorms <= 0, axis=1))).reshape(-1)
        self._norms_cache = (sq_t, xp.ascontiguousarray(xnorms), zero)
        self._records_cache = None

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
        if self.variant_ == "ca":
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
            and self.variant_ == "cc"
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
            if self.variant_ == "ca":
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
            if self.variant_ == "sa":
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
        Every step is defined to the tie (the ``m`` smallest squared
        projections in bit order, the flip costs summed in float64 in that
        order, the cheapest flips ordered by cost and then by subset), so the
        compiled kernel (:func:`sklrp.neighbors._kernels.probe_keys`) returns
        the same keys.
        """
        xp = get_namespace(proj)
        k = self.key_bits_
        r = proj[:, bit_start : bit_start + k]
        base = H.bits_to_keys(r >= 0)
        # the probe order per row does not change when the row is scaled by a
        # power of two (exact): scaled, the squares below cannot overflow
        r = xp.ldexp(r, -H._row_exponents(r)[:, None])
        n_probes = min(n_probes, 1 << k)
        if n_probes == 1:
            return base[:, None]
        n_enum = max(n_probes, n_probes if n_enum is None else n_enum)
        m = min(k, int(math.ceil(math.log2(n_enum))) + 2, 12)
        if xp is np and _kernels.enabled():
            return _kernels.probe_keys(r, base, n_probes, m)
        r = r.astype(xp.float64)
        sq = r * r
        # the m least confident bits, by squared projection and then by bit
        order = xp.argsort(sq, axis=1, kind="stable")[:, :m] if xp is np else xp.argsort(sq, axis=1)[:, :m]
        cost = xp.take_along_axis(sq, order, axis=1)  # (nq, m), ascending
        S = 1 << m
        bits = (np.arange(S)[:, None] >> np.arange(m)[None, :]) & 1  # (S, m): bit i of subset s
        total = xp.zeros((r.shape[0], S), dtype=xp.float64)
        for i in range(m):  # left to right, as the kernel
            total += cost[:, i : i + 1] * xp.asarray(bits[:, i].astype(np.float64))[None, :]
        if n_probes < S:
            part = xp.argpartition(total, n_probes - 1, axis=1)[:, :n_probes]
            kth = xp.max(xp.take_along_axis(total, part, axis=1), axis=1)
            # equal costs across the cut (e.g. a zero row): the smaller subsets, as the kernel
            cut = xp.sum(total <= kth[:, None], axis=1) > n_probes
            if bool(xp.any(cut)):
                rows = xp.nonzero(cut)[0]
                part[rows] = self._stable_argsort(total[rows])[:, :n_probes]
            sel = xp.take_along_axis(total, part, axis=1)
            best = xp.take_along_axis(part, self._stable_argsort(sel, part), axis=1)
        else:
            best = self._stable_argsort(total)
        # the key mask of every chosen subset (exact: keys have <= 30 bits)
        masks = xp.ones_like(order) << order  # (nq, m) int64
        chosen = xp.asarray(bits)[best]  # (nq, n_probes, m)
        flips = xp.sum(chosen * masks[:, None, :], axis=2)
        return base[:, None] ^ flips

    @staticmethod
    def _stable_argsort(values, ties=None):
        """Row-wise argsort of ``values``, equal values by ``ties`` (default: by
        column), on NumPy and CuPy alike."""
        xp = get_namespace(values)
        if ties is None:
            ties = xp.broadcast_to(xp.arange(values.shape[1])[None, :], values.shape)
        if xp is np:
            return np.lexsort((ties, values), axis=-1)
        # CuPy: sort by the tie key first, then stably by value
        o1 = xp.argsort(ties, axis=1)
        o2 = xp.argsort(xp.take_along_axis(values, o1, axis=1), axis=1)
        return xp.take_along_axis(o1, o2, axis=1)

    def _table_pool(self, state, n_probes):
        """Deduplicated (query, candidate) pairs from the hash tables."""
        xp = state["xp"]
        n = self.n_samples_fit_
        starts, lens = self._probe_segments(state, n_probes)
        nq = starts.shape[0]
        kdt = xp.int32 if nq * n < 2**31 else xp.int64
        if xp is np and _kernels.enabled():
            # compiled: one pass over the buckets with a "seen" bitset per thread
            counts, cand = _kernels.unique_pool(starts, lens, self._table_order, n)
            return np.repeat(np.arange(nq, dtype=kdt), counts), cand
        lens_f = lens.reshape(-1)
        cum = xp.cumsum(lens_f)
        total = int(cum[-1]) if cum.shape[0] else 0
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

    def _probe_segments(self, state, n_probes):
        """Start (into ``_table_order``) and length ``(nq, n_segments)`` of
        every probed bucket segment of every query."""
        xp = state["xp"]
        n = self.n_samples_fit_
        k = self.key_bits_
        R = getattr(self, "_n_ranges", 1)
        # norm-ranging for inner products: large-norm points reach a given
        # <q, x> at larger angles, so the top norm range (1/R of the points)
        # is probed deeper (_ip_depth: from n_probes to 6 n_probes further
        # buckets, growing with the index), at the cost of a quarter of that
        # in whole buckets
        deep = int(round(_ip_depth(n) * (R - 1) * n_probes))
        n_enum = n_probes + deep  # the same probe order with and without IP
        extra = deep if (R > 1 and state["alpha"]["ip"] > 0) else 0
        starts, lens = [], []
        for g, tproj in enumerate(state["tprojs"]):
            if tproj is None:
                continue
            nq = tproj.shape[0]
            # the probes of every table at once: one row per (query, table)
            all_keys = self._probe_keys(
                tproj.reshape(nq * self.n_tables_, k), 0, n_probes + extra,
                n_enum=n_enum,
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
        return xp.concatenate(starts, axis=1), xp.concatenate(lens, axis=1)

    def _compiled_top(self, state, n_probes, n_cand):
        """The ``n_cand`` best candidates ``(nq, <= n_cand)`` of every query in
        one compiled pass (bucket ids, deduplication, the code ranking of
        :meth:`_norm_costs` and the selection), or ``None`` where that pass
        does not apply (no compiled kernels, CuPy, no hash tables, or a
        ranking other than the ``"cc"`` cosine codes plus exact norms)."""
        if not (
            state["xp"] is np and _kernels.enabled() and self.n_tables_ > 0
            and self.variant_ == "cc" and "cos_projs" in state
        ):
            return None
        alpha, gw = state["alpha"], state["gw"]
        on = [g for g in range(self.n_groups_) if gw[g] > 0]
        if not on:
            return None
        blocks = [2 * g + 1 for g in on]
        bits = [int(self.block_bits_[b]) for b in blocks]
        nw = [(t + 63) // 64 for t in bits]
        nq = state["qn"].shape[0]
        # as wide as the longest cos block of any group (_rank_records)
        W = max((int(self.block_bits_[2 * g + 1]) + 63) // 64 for g in range(self.n_groups_))
        qcodes = np.zeros((nq, len(on), W), dtype=np.uint64)
        coslut = np.zeros((len(on), max(bits) + 1))
        for i, (g, t, w) in enumerate(zip(on, bits, nw)):
            qcodes[:, i, :w] = H.pack_bits(state["cos_projs"][g] >= 0, w)
            coslut[i, : t + 1] = np.cos(np.arange(t + 1) * (math.pi / t))
        w = np.asarray([float(gw[g]) for g in on])
        qn = np.asarray(state["qn"], dtype=np.float64)[:, on]
        starts, lens = self._probe_segments(state, n_probes)
        rec, bucketed = self._rank_records()
        ids = _kernels.pool_top(
            starts, lens, self._table_order, rec, on, qcodes, coslut,
            w * alpha["l2"], qn * (w * (2.0 * alpha["l2"] + alpha["ip"])), w * alpha["cosine"], qn,
            n_cand, n_points=self.n_samples_fit_ if bucketed else None,
        )
        return ids[:, : max(1, int((ids >= 0).sum(axis=1).max()))]

    def __getstate__(self):
        # the records of the compiled ranking are rebuilt on first use: not shipped to workers or pickles
        state = super().__getstate__()
        state.pop("_records_cache", None)
        return state

    def _rank_records(self):
        """What the code ranking reads, and whether it is in bucket order.

        Per point, side by side (one memory fetch per candidate instead of
        three): per feature group the words of its cos-block code (padded to
        the longest), then its squared norm and its norm as float64
        (:func:`sklrp.neighbors._kernels.pool_top`).  Kept in the order of
        the hash tables' buckets, one record per point and table, so that a
        probed bucket is one contiguous read (the fetches of records from
        anywhere in memory were most of the query's time), unless that takes
        more than ``_MAX_BUCKET_RECORD_BYTES``; then once per point.  Built
        on first use from the codes and norms (not saved).

        Returns
        -------
        rec : ndarray of shape (len(_table_order) or n, n_groups * (W + 2))
        bucketed : bool
            Whether ``rec`` is in bucket order (row ``e`` for entry ``e`` of
            ``_table_order``).
        """
        if getattr(self, "_records_cache", None) is None:
            sq_t, xnorms, _ = self._norm_cache()
            G = self.n_groups_
            nws = [(int(self.block_bits_[2 * g + 1]) + 63) // 64 for g in range(G)]
            W = max(nws)
            rec = np.zeros((self.n_samples_fit_, G * (W + 2)), dtype=np.float64)
            ru = rec.view(np.uint64)
            for g, nw in enumerate(nws):
                w0 = int(self._word_start[2 * g + 1])
                ru[:, g * (W + 2) : g * (W + 2) + nw] = self.codes_[:, w0 : w0 + nw]
                rec[:, g * (W + 2) + W] = sq_t[g]
                rec[:, g * (W + 2) + W + 1] = xnorms[g]
            bucketed = self._table_order.shape[0] * rec.itemsize * rec.shape[1] <= _MAX_BUCKET_RECORD_BYTES
            if bucketed:
                rec = rec[self._table_order]
            self._records_cache = (rec, bucketed)
        return self._records_cache

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
            # the n_cand smallest costs; equal costs at the boundary go by
            # position, i.e. by the smaller id (the pairs of a query are in
            # id order), as in the compiled kernels
            thr = xp.partition(dense, n_cand - 1, axis=1)[:, n_cand - 1 : n_cand]
            below = dense < thr
            tie = dense == thr
            need = n_cand - xp.sum(below, axis=1, keepdims=True)
            take = below | (tie & (xp.cumsum(tie, axis=1) <= need))
            if bool(xp.all(xp.sum(take, axis=1) == n_cand)):
                top = xp.nonzero(take)[1].reshape(nq, n_cand)
            else:  # a NaN cost (none from finite data): any n_cand of the row
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
        Used where the squared norms neither overflow nor underflow
        (:meth:`_plain_ok`); see :meth:`_scaled_distances` for the rest.
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

    def _scaled_distances(self, dots, xsq, ex, qsq, eq, alpha, gw, out):
        """Output distances (see :meth:`_output`) from values scaled by powers of two.

        Every feature group of every query and indexed point is divided by
        ``2**e``, ``e`` the binary exponent of its largest ``|value|``
        (``_ZERO_EXP`` for a zero group), so that the scaled ``dots``, ``xsq``
        and ``qsq`` (per group: ``<q_g, x_g>``, ``|x_g|^2``, ``|q_g|^2``, all of
        the scaled values) neither overflow nor underflow.  Per pair and
        group, the L2 term is ``2**(2 max(eq, ex))`` times a bounded number,
        the inner-product term ``2**(eq + max(eM, ex))`` times one (``M_g =
        mh 2**eM``), the cosine term is scale free; the terms are summed
        relative to the largest exponent ``F`` of the pair, and the result,
        ``S 2**F``, goes to the output scale with ``ldexp``: finite whenever
        the distance itself is representable.
        """
        xp = get_namespace(dots)
        mh, eM = np.frexp(np.asarray(self.group_max_norm_, dtype=np.float64))
        mh, eM = xp.asarray(mh), xp.asarray(eM.astype(np.int32))
        on = np.asarray(gw) > 0
        on_d = xp.asarray(on)
        gw_d = xp.asarray(np.where(on, gw, 0.0))
        with np.errstate(over="ignore", under="ignore"):
            terms = []
            if alpha["l2"] > 0:
                eb = xp.maximum(eq, ex)
                v = xp.ldexp(qsq, 2 * (eq - eb)) + xp.ldexp(xsq, 2 * (ex - eb))
                v -= 2.0 * xp.ldexp(dots, eq + ex - 2 * eb)
                terms.append((v, 2 * eb, alpha["l2"]))
            if alpha["ip"] > 0:
                ei = xp.maximum(eM, ex)
                v = xp.sqrt(qsq) * xp.ldexp(mh, eM - ei) - xp.ldexp(dots, ex - ei)
                terms.append((v, eq + ei, alpha["ip"]))
            if alpha["cosine"] > 0:
                denom = xp.sqrt(qsq * xsq)
                cos = xp.where(denom > 0, dots / xp.where(denom > 0, denom, 1.0), 0.0)
                terms.append((1.0 - cos, xp.zeros(cos.shape, dtype=xp.int32), alpha["cosine"]))
            F = None
            for _, e, _ in terms:
                top = xp.max(xp.where(on_d, e, _NEG_EXP), axis=-1)
                F = top if F is None else xp.maximum(F, top)
            S = None
            for v, e, a in terms:
                shift = xp.where(on_d, e - F[..., None], _NEG_EXP)
                part = a * (xp.ldexp(v, shift) @ gw_d)
                S = part if S is None else S + part
            S = xp.clip(S, 0.0, None)
            T = F + out[0]
            if out[1]:  # pure L2: sqrt(S 2**T), T split into an even part and a remainder
                p = T & 1
                return xp.ldexp(xp.sqrt(xp.ldexp(S, p)), (T - p) >> 1)
            return xp.ldexp(S, T)

    @staticmethod
    def _output(D, out):
        """Distances as returned from the dissimilarity ``D`` of the scaled weights.

        ``out = (e, pure_l2)``: the weights were divided by ``2**e``
        (:func:`_normalized_weights`); pure L2 returns the square root.
        Computed with ``ldexp``, so that a returned value is finite whenever
        it is representable (the square root of an overflowing ``D`` may be).
        """
        e, pure = out
        xp = get_namespace(D)
        with np.errstate(over="ignore", under="ignore"):
            if pure:
                if e == 0:
                    return xp.sqrt(D)
                p = e & 1
                return xp.ldexp(xp.sqrt(xp.ldexp(D, p) if p else D), (e - p) // 2)
            return D if e == 0 else xp.ldexp(D, e)

    def _plain_ok(self, Q):
        """Whether the plain float64 formula serves the queries ``Q`` (and the indexed points)."""
        if not self._query_limits()["data_plain"]:
            return False
        xp = get_namespace(Q)
        lo, hi = self._plain_bounds()
        a = self._group_absmax(Q).astype(xp.float64, copy=False)
        return bool(xp.all((a <= hi) & ((a >= lo) | (a == 0))))

    def _scaled_rows(self, A):
        """Rows scaled per feature group by powers of two (see :meth:`_scaled_distances`).

        Returns
        -------
        e : array of int32, shape (n, n_groups)
            Binary exponent of each group (``_ZERO_EXP`` for a zero group).
        A_scaled : array of float64, shape (n, n_features)
        sq : array of float64, shape (n, n_groups)
            Squared group norms of ``A_scaled``.
        """
        xp = get_namespace(A)
        A = A.astype(xp.float64, copy=False)
        amax = self._group_absmax(A)
        e = xp.frexp(amax)[1].astype(xp.int32)
        gi = xp.asarray(self.group_index_)
        A = xp.ldexp(A, -e[:, gi])
        e = xp.where(amax > 0, e, _ZERO_EXP).astype(xp.int32)
        onehot = H.group_masks(self.group_index_, self.n_groups_, xp, np.float64)
        return e, A, H.group_sq_norms(A, onehot)

    def _scaled_data(self):
        """Group exponents and scaled squared group norms of the indexed points (computed once, on demand)."""
        if getattr(self, "_scaled_cache", None) is None:
            xp = get_namespace(self.X_)
            step = max(1, _MAX_UPCAST // max(1, self.X_.shape[1]))
            parts = [self._scaled_rows(self.X_[i : i + step]) for i in range(0, self.n_samples_fit_, step)]
            self._scaled_cache = (
                xp.concatenate([e for e, _, _ in parts]),
                xp.concatenate([sq for _, _, sq in parts]),
            )
        return self._scaled_cache

    def _group_dots(self, Xc, Q):
        """``<q_g, x_g>`` of gathered candidate rows ``Xc`` ``(nq, C, d)``: ``(nq, C, n_groups)``."""
        xp = get_namespace(Q)
        if self.n_groups_ == 1:
            return xp.einsum("qcd,qd->qc", Xc, Q)[:, :, None]
        onehot = H.group_masks(self.group_index_, self.n_groups_, xp, np.float64)
        return Xc @ (Q[:, :, None] * onehot[None, :, :])  # (nq, C, G)

    def _rerank(self, Q, ids, k, alpha, gw, self_ids, out):
        """Exact float64 distances of candidates ``ids`` (``-1`` = none); top ``k``.

        Always returns ``k`` columns, as output distances (:meth:`_output`);
        slots without a candidate hold distance ``inf`` and index ``-1``.  The
        query itself (``self_ids``) is no candidate: excluded by index.
        """
        xp = get_namespace(Q)
        # a few MB of gathered rows at a time: large temporaries cost page
        # faults on every allocation (the compiled dot products gather
        # nothing: only the (query, candidate) arrays count)
        if xp is np and _kernels.enabled():
            step = max(1, _MAX_PAIRS // max(1, ids.shape[1] * self.n_groups_))
        else:
            step = max(1, _MAX_GATHER // max(1, ids.shape[1] * Q.shape[1]))
        if Q.shape[0] > step:
            parts = [
                self._rerank(
                    Q[i : i + step], ids[i : i + step], k, alpha, gw,
                    None if self_ids is None else self_ids[i : i + step], out,
                )
                for i in range(0, Q.shape[0], step)
            ]
            return xp.concatenate([a for a, _ in parts]), xp.concatenate([b for _, b in parts])
        Q = Q.astype(xp.float64, copy=False)
        if self_ids is not None:
            ids = xp.where(ids == self_ids[:, None], -1, ids)
        valid = ids >= 0
        flat = xp.where(valid, ids, 0).reshape(-1)
        nq, C = ids.shape
        plain = self._plain_ok(Q)
        if plain and xp is np and _kernels.enabled():
            # compiled: the candidates' rows read in place (no gathered copy),
            # the dissimilarity and the k best in the same pass
            D, I = _kernels.rerank_top(
                self.X_, ids, Q, self.group_index_, self.n_groups_, self.sq_norms_,
                self.group_max_norm_, gw, alpha, k,
            )
            return self._output(D, out), I
        if plain:
            onehot = H.group_masks(self.group_index_, self.n_groups_, xp, np.float64)
            dots = self._group_dots(self._candidate_rows(flat, nq, C), Q)
            xsq = xp.take(self.sq_norms_, flat, axis=0).reshape(nq, C, -1)
            qsq = (Q * Q) @ onehot
            D = self._distances(dots, xsq, qsq[:, None, :], alpha, gw)
        else:
            ex_all, xsq_all = self._scaled_data()
            ex = xp.take(ex_all, flat, axis=0).reshape(nq, C, -1)
            xsq = xp.take(xsq_all, flat, axis=0).reshape(nq, C, -1)
            gi = xp.asarray(self.group_index_)
            Xc = xp.ldexp(self._candidate_rows(flat, nq, C), -xp.where(ex > _ZERO_EXP, ex, 0)[:, :, gi])
            eq, Qs, qsq = self._scaled_rows(Q)
            dots = self._group_dots(Xc, Qs)
            D = self._scaled_distances(dots, xsq, ex, qsq[:, None, :], eq[:, None, :], alpha, gw, out)
        D = xp.where(valid, D, xp.inf)
        D, I = self._select(D, ids, k)
        return (self._output(D, out) if plain else D), I

    def _candidate_rows(self, flat, nq, C):
        """The rows ``X_[flat]`` as float64 ``(nq, C, d)``: a gather of whole
        rows (faster than 2-D fancy indexing), float32 data converted after
        the gather (only the candidates' rows)."""
        Xc = H.take_rows(self.X_, flat).reshape(nq, C, -1)
        return Xc.astype(get_namespace(Xc).float64, copy=False)

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

    def _exhaustive(self, Q, k, alpha, gw, self_ids, out):
        """Exact brute-force search over every indexed point, in float64.

        Float32 data are converted to float64 a block of rows at a time
        (``_MAX_UPCAST`` values), and the ``k`` best are merged block by block.
        Returns output distances (:meth:`_output`) and indices; the query
        itself (``self_ids``) is excluded by index (index ``-1``, distance
        ``inf``, should it be among the ``k``).
        """
        xp = get_namespace(Q)
        n = self.n_samples_fit_
        G = self.n_groups_
        d = self.X_.shape[1]
        onehot = H.group_masks(self.group_index_, G, xp, np.float64)
        rows = n if self.X_.dtype == xp.float64 else max(k, _MAX_UPCAST // max(1, d))
        rows = min(rows, n)
        step = max(1, _MAX_DENSE // max(1, rows * G))
        all_plain = self._plain_ok(Q)
        if not all_plain:
            step = max(1, step // 4)  # the scaled distances hold more temporaries
        starts = list(range(0, Q.shape[0], step))
        plain = [all_plain or self._plain_ok(Q[i : i + step]) for i in starts]
        scaled_q = {i: self._scaled_rows(Q[i : i + step]) for i, p in zip(starts, plain) if not p}
        if scaled_q:
            ex_all, xsqs_all = self._scaled_data()
            gi = xp.asarray(self.group_index_)
        best = [None] * len(starts)
        for j in range(0, n, rows):
            Xb = self.X_[j : j + rows].astype(xp.float64, copy=False)
            XT = Xb.T
            xsq = self.sq_norms_[j : j + rows][None]
            if scaled_q:
                exb = ex_all[j : j + rows]
                XsT = xp.ldexp(Xb, -xp.where(exb > _ZERO_EXP, exb, 0)[:, gi]).T
                exb, xsqs = exb[None], xsqs_all[j : j + rows][None]
            ids_j = xp.arange(j, j + XT.shape[1], dtype=xp.int64)[None]
            for b, (i, p) in enumerate(zip(starts, plain)):
                if p:
                    q = Q[i : i + step].astype(xp.float64, copy=False)
                    qsq = (q * q) @ onehot
                    Qm = q[:, None, :] * onehot.T[None, :, :]  # (b, G, d)
                    dots = xp.moveaxis(Qm @ XT, 1, 2)  # (b, rows, G)
                    D = self._distances(dots, xsq, qsq[:, None, :], alpha, gw)
                else:
                    eq, qs, qsqs = scaled_q[i]
                    Qm = qs[:, None, :] * onehot.T[None, :, :]
                    dots = xp.moveaxis(Qm @ XsT, 1, 2)
                    D = self._scaled_distances(dots, xsqs, exb, qsqs[:, None, :], eq[:, None, :], alpha, gw, out)
                ids = xp.broadcast_to(ids_j, D.shape)
                if self_ids is not None:
                    own = ids == self_ids[i : i + step, None]
                    D = xp.where(own, xp.inf, D)
                    ids = xp.where(own, -1, ids)
                if best[b] is not None:  # merge with the best of the previous rows
                    D = xp.concatenate([best[b][0], D], axis=1)
                    ids = xp.concatenate([best[b][1], ids], axis=1)
                best[b] = self._select(D, ids, k)
        D = xp.concatenate([self._output(bd, out) if p else bd for (bd, _), p in zip(best, plain)])
        return D, xp.concatenate([bi for _, bi in best])

    def _hashable(self, Q):
        """Per query: whether its hashing (in the dtype of the index) stays finite.

        The query blocks scale the query by the norms of the indexed points
        (``hash_scale``); queries beyond (larger than about 1.7e305 / n_features**2
        for a float64 index, 3e35 / n_features**2 for a float32 one, over the
        norms of the indexed points) are answered by brute force.
        """
        xp = get_namespace(Q)
        d = Q.shape[1]
        # the query blocks, table keys and code scores are sums of up to d^2
        # products of |q| with norms of the data (hash_scale) and with
        # projection entries (at most _MAX_GAUSSIAN), the 'ca' byte tables...
        limit = float(np.finfo(self.X_.dtype).max) / (1024.0 * d * d * self._query_limits()["hash_scale"])
        return xp.max(xp.abs(Q), axis=1).astype(xp.float64, copy=False) <= limit

    def _search(self, Q, k, alpha, gw, n_candidates, n_probes, self_ids):
        """``k`` neighbours of every query: float64 distances and indices.

        ``Q`` may be float32 or float64: the hashing sees it in the dtype of
        the index, the exact re-ranking in float64.  A query whose candidate
        pool holds fewer than ``k`` points (``k + 1`` with ``self_ids``, the
        query itself excluded), whose ``k`` candidates are not all at a finite
        distance, or whose hashing would overflow (:meth:`_hashable`) is
        answered by exhaustive search.  A distance that is ``inf`` here
        exceeds the float64 range (see :meth:`kneighbors`).
        """
        xp = get_namespace(Q)
        n = self.n_samples_fit_
        out_pure = alpha["ip"] == 0 and alpha["cosine"] == 0
        alpha, gw, e = _normalized_weights(alpha, gw)
        out = (e, out_pure)
        if n_candidates >= n:
            return self._exhaustive(Q, k, alpha, gw, self_ids, out)
        nq = Q.shape[0]
        ok = np.asarray(to_host(self._hashable(Q))).reshape(-1)
        if ok.all():
            D, I = self._approximate(Q, k, alpha, gw, n_candidates, n_probes, self_ids, out)
        else:
            D = xp.full((nq, k), xp.inf, dtype=xp.float64)
            I = xp.full((nq, k), -1, dtype=xp.int64)
            if ok.any():
                sel = xp.asarray(np.flatnonzero(ok))
                D[sel], I[sel] = self._approximate(
                    Q[sel], k, alpha, gw, n_candidates, n_probes,
                    None if self_ids is None else self_ids[sel], out,
                )
        # queries whose pool held fewer than k points (or whose hashing would
        # overflow): answer them exactly
        short = xp.flatnonzero(~(xp.all(I >= 0, axis=1) & xp.all(xp.isfinite(D), axis=1)))
        if short.shape[0]:
            sid = None if self_ids is None else self_ids[short]
            D2, I2 = self._exhaustive(Q[short], k, alpha, gw, sid, out)
            D[short] = D2
            I[short] = I2
        return D, I

    def _approximate(self, Q, k, alpha, gw, n_candidates, n_probes, self_ids, out):
        """Hash-table or code-scan candidates, re-ranked exactly (see :meth:`_search`)."""
        xp = get_namespace(Q)
        if xp is np and _kernels.enabled():
            # the compiled kernels run on their own threads: BLAS threads left
            # spinning after a product would take the cores from them (the
            # products here are small, one BLAS thread is enough for them)
            with _kernels.one_blas_thread:
                return self._approximate_batches(Q, k, alpha, gw, n_candidates, n_probes, self_ids, out)
        return self._approximate_batches(Q, k, alpha, gw, n_candidates, n_probes, self_ids, out)

    def _approximate_batches(self, Q, k, alpha, gw, n_candidates, n_probes, self_ids, out):
        xp = get_namespace(Q)
        n = self.n_samples_fit_
        n_cand = max(n_candidates, k + (self_ids is not None))
        outD, outI = [], []
        step = self.batch_size
        if step == "auto":
            # the compiled kernels spread a batch's queries over the threads:
            # larger batches keep them busy (the NumPy path's temporaries grow
            # with the batch, 32 queries at a time suit it best)
            step = 256 if is_gpu_array(Q) else (512 if (xp is np and _kernels.enabled()) else 32)
        if self.n_tables_ == 0:
            step = max(1, min(step, _MAX_PAIRS // n))
        for i in range(0, Q.shape[0], step):
            q = Q[i : i + step]
            nq = q.shape[0]
            state = self._query_state(q.astype(self.X_.dtype, copy=False), alpha, gw)
            ids = self._compiled_top(state, n_probes, n_cand)
            if ids is None:
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
            D, I = self._rerank(q, ids, k, alpha, gw, sid, out)
            outD.append(D)
            outI.append(I)
        return xp.concatenate(outD), xp.concatenate(outI)

    def _overflow_error(self, Q, D, alpha, gw):
        """The ValueError of distances beyond the float64 range."""
        xp = get_namespace(D)
        bad = np.flatnonzero(~np.asarray(to_host(xp.all(xp.isfinite(D), axis=1))))
        qmax = float(to_host(xp.max(xp.abs(Q[xp.asarray(bad)]))))
        weights = {m: v for m, v in alpha.items() if v > 0}
        return ValueError(
            f"The distances of {len(bad)} of the {D.shape[0]} queries to their nearest neighbours exceed the "
            f"float64 range (the first: query {bad[0]}), with weights={weights}, "
            f"group_weights={np.asarray(gw).tolist()} and query values X of magnitude up to {qmax:.3g}: the "
            "mixture dissimilarity cannot be represented. Use smaller weights or group_weights, or scale X and "
            "the indexed points down."
        )

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
        n_candidates : int or "auto", default=None
            Candidates re-ranked exactly for this call (at least
            ``n_neighbors`` are; ``"auto"``: ``max(300, 30 * n_neighbors,
            n_samples_fit_ / 400)``;
            ``None`` uses the constructor's).  A query whose candidate pool holds fewer
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
            :meth:`sklearn.neighbors.NearestNeighbors.kneighbors`; or if a
            returned distance exceeds the float64 range (about 1.8e308, e.g.
            with weights near the float maximum), naming ``weights``,
            ``group_weights`` and the magnitude of ``X``.  Large (or tiny)
            finite queries, indexed points and weights otherwise give finite
            distances: they are computed on values scaled by powers of two
            where the squared norms would overflow or underflow, and queries
            whose hashing would overflow are answered by exact brute force.

        Notes
        -----
        A Dask array ``X`` gives lazy Dask arrays, computed block by block
        of queries on the workers (see :doc:`/scaling`).
        """
        check_is_fitted(self)
        if is_dask_array(X):
            kw = dict(n_neighbors=self.n_neighbors if n_neighbors is None else n_neighbors, weights=weights,
                      group_weights=group_weights, n_candidates=n_candidates, n_probes=n_probes)
            stacked = self._kneighbors_stacked(X, **kw)
            k = stacked.shape[1] // 2
            ind = stacked[:, k:].astype(np.intp)
            return (stacked[:, :k], ind) if return_distance else ind
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
        if isinstance(n_candidates, str) and n_candidates == "auto":
            n_candidates = _auto_candidates(n_neighbors, self.n_samples_fit_)
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
        if not bool(get_namespace(D).all(get_namespace(D).isfinite(D))):
            raise self._overflow_error(Q, D, alpha, gw)
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

    def _dask_snapshot(self):
        """The index as it is now, for a lazy Dask query: a shallow copy (fit and load replace the fitted arrays and
        caches, never update them in place), not a copy of the indexed points."""
        return copy.copy(self)

    @dask_blocks
    def _kneighbors_stacked(self, X, **kwargs):
        """``[distances, indices]`` side by side in one float64 array (one block of a Dask query)."""
        dist, ind = self.kneighbors(X, **kwargs)
        return np.hstack([dist, ind.astype(np.float64)])  # indices below 2**53: exact in float64

    @dask_blocks
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
        params.update(self._fit_structure)  # those of the fitted index, whatever set_params changed since
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

        Every array of the file is checked against the configuration before
        the index is built: its presence (no array missing, none extra), its
        ``.npy`` header against its size in the archive (a truncated or
        crafted member), shape and dtype, finite values and their ranges
        and consistency (the feature groups and hash bits of the parameters,
        the largest group norms of the data, the norm ranges, key bits and
        number of the hash tables, every table a permutation of the points
        with bucket offsets rising from 0 to ``n_samples``).  A loaded index
        therefore answers queries as the saved one did.

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

        Raises
        ------
        FileNotFoundError
            If neither ``path + ".npz"`` nor ``path`` exists.
        sklrp.exceptions.ModelFileError
            If the file is not a readable index file: not a zip archive, a
            truncated or corrupted one (a failed checksum), a member that is
            not a ``.npy`` array or holds pickled Python objects (never
            unpickled), an invalid configuration, or an array that is
            missing, extra, of the wrong shape or dtype, non-finite, out of
            range or inconsistent with the configuration or the data (a
            tampered file).  The message, which starts with
            ``"MultiPurposeLSH.load: '<file>' is not a readable
            MultiPurposeLSH index file:"``, names the file and the problem.
            :class:`~sklrp.exceptions.ModelFileError` subclasses
            :class:`ValueError`.
        ValueError
            If ``device`` is not one of None, ``"cpu"`` or ``"cuda"``.
        ImportError
            If the index goes to the GPU (``device="cuda"``, or ``None`` with
            a saved ``device`` parameter of ``"cuda"``) and CuPy is not
            installed; ``device="cpu"`` loads it on the host.
        """
        if device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be one of None, 'cpu' or 'cuda'; got {device!r}.")
        if hasattr(path, "read"):
            name, fh = path, path
        else:
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
            name = os.fsdecode(os.fspath(found[0]))
            if not regular_file(found[0]):  # a directory, a device (read forever) or a pipe (blocks)
                raise ModelFileError(
                    f"{_LOAD_ERROR_PREFIX} {name!r} is not a readable {cls.__name__} index file: it is not a "
                    "regular file (a directory, a device or a pipe)"
                )
            fh = open(found[0], "rb")  # noqa: SIM115 - closed below; OS errors (permissions) stay as they are
        reason = None
        try:
            est = cls._read_index(fh)
        except MemoryError:
            raise
        except _BadFile as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - every failure of reading the file is a ModelFileError
            shown = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            reason = f"{type(exc).__name__}: {shown}"
        finally:
            if fh is not path:
                fh.close()
        if reason is not None:
            raise ModelFileError(
                f"{_LOAD_ERROR_PREFIX} {name!r} is not a readable {cls.__name__} index file: {reason}"
            )
        dev = resolve_device(device if device is not None else est.device)
        est.device_ = dev
        for attr in ("X_", "codes_", "center_", "sq_norms_", "_table_order", "_table_offsets"):
            setattr(est, attr, to_device(getattr(est, attr), dev))
        est.projections_ = [to_device(A, dev) for A in est.projections_]
        est.table_projections_ = [to_device(A, dev) for A in est.table_projections_]
        est._set_norm_cache()
        est._set_query_limits()
        return est

    @classmethod
    def _read_index(cls, fh):
        """The checked index of an open file, on the host; a problem of the file raises :class:`_BadFile`
        (or the exception of reading the archive)."""
        with zipfile.ZipFile(fh) as zf:
            members = {}
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise _BadFile(f"it holds the member {info.filename!r}, which is not a .npy array")
                key = info.filename[: -len(".npy")]
                if key in members:
                    raise _BadFile(f"it holds the array {key!r} twice")
                members[key] = info
            # every header first: pickled objects and sizes that disagree with the archive are refused
            headers = {key: _npy_header(zf, info, key) for key, info in members.items()}
            if "config" not in members:
                raise _BadFile("its array 'config' (the JSON configuration) is missing")
            shape, dtype = headers["config"]
            if shape != () or dtype.kind != "U":
                raise _BadFile(
                    f"its array 'config' has shape {shape} and dtype {dtype}; expected a JSON string (a 0-d "
                    "unicode array)"
                )
            if dtype.itemsize // 4 > _MAX_CONFIG_CHARS:
                raise _BadFile(
                    f"its configuration has {dtype.itemsize // 4} characters; at most {_MAX_CONFIG_CHARS} are read"
                )
            config = _parse_config(str(_read_npy(zf, members["config"])))
            # the sizes the headers declare, before anything of their size is made (the configuration's
            # n_features_in sizes the feature-group arrays that the checks below build)
            declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype in headers.values())
            d = config.get("n_features_in")
            per_feature = 48 * d if isinstance(d, int) and not isinstance(d, bool) else 0
            limit = _physical_memory()
            if limit is not None and declared + per_feature > limit:
                raise _BadFile(
                    f"its arrays and features declare {_human_bytes(declared + per_feature)}, more than this "
                    f"machine's {_human_bytes(limit)} of memory"
                )
            est, expected = cls._expected_arrays(config, headers)
            for key in expected:
                if key not in members:
                    raise _BadFile(f"its array {key!r} is missing")
            for key in members:
                if key not in expected and key not in ("config", "feature_names_in"):
                    raise _BadFile(
                        f"it holds the array {key!r}, which a {cls.__name__} index of its configuration does not have"
                    )
            if "feature_names_in" in members:
                expected["feature_names_in"] = ((est.n_features_in_,), "str")
            for key, (shape, spec) in expected.items():  # their sizes were bounded with all declared above
                got_shape, got_dtype = headers[key]
                if not _dtype_ok(got_dtype, spec):
                    raise _BadFile(f"its array {key!r} has dtype {got_dtype}; expected {_DTYPE_SPECS[spec][1]}")
                if got_shape != shape:
                    raise _BadFile(f"its array {key!r} has shape {got_shape}; expected {shape}")
            arrays = {}
            for key in expected:
                a = _read_npy(zf, members[key])
                arrays[key] = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("="), copy=False))
        est._set_loaded_state(config, arrays)
        return est

    @classmethod
    def _expected_arrays(cls, config, headers):
        """The index of the configuration (parameters set, not fitted) and its arrays:
        ``{name: (shape, dtype spec of _DTYPE_SPECS)}`` from the configuration and the shape of X."""
        unknown = sorted(set(config["params"]) - set(cls().get_params(deep=False)))
        if unknown:
            raise _BadFile(f"its configuration names parameters {cls.__name__} does not have: {unknown}")
        est = cls(**config["params"])
        try:
            est._validate_params()
        except ValueError as exc:  # InvalidParameterError
            raise _BadFile(f"its parameters are invalid: {exc}") from None
        est.variant_ = est.variant
        est._fit_structure = est._structure_params()
        d = _config_int(config, "n_features_in", 1, None)
        if "X" not in headers:
            raise _BadFile("its array 'X' (the indexed points) is missing")
        xshape, xdtype = headers["X"]
        if len(xshape) != 2 or xdtype.kind != "f" or xdtype.itemsize not in (4, 8) or xshape[1] != d:
            raise _BadFile(
                f"its data X has shape {xshape} and dtype {xdtype}; expected float32 or float64 of shape "
                f"(n_samples, {d})"
            )
        n = xshape[0]
        if n < 1:
            raise _BadFile("its data X holds no point")
        est.n_features_in_ = d
        labels = np.zeros(d, dtype=np.int64) if est.feature_groups is None else np.asarray(est.feature_groups)
        if labels.ndim != 1 or labels.shape[0] != d:
            raise _BadFile(
                f"its parameter feature_groups has shape {labels.shape}; expected one label per feature, ({d},)"
            )
        groups, group_index = np.unique(labels, return_inverse=True)
        est._expected_groups = (groups, group_index.reshape(-1).astype(np.int64))
        est.groups_, est.group_index_ = est._expected_groups
        est.n_groups_ = G = len(groups)
        _parse_weights(est.weights)
        est._parse_group_weights(est.group_weights)
        est._norm_ranking()
        n_hashed = 1 if est.variant == "sa" else 2 * G
        if est.n_bits < n_hashed:
            raise _BadFile(f"its n_bits={est.n_bits} is fewer than its {n_hashed} hashed blocks")
        base, extra = divmod(est.n_bits, n_hashed)
        est._expected_bits = np.array([base + (b < extra) for b in range(n_hashed)], dtype=np.int64)
        dims = est._block_dims()
        # the hash tables: their number, key bits and norm ranges as fit builds them for n points
        T = _config_int(config, "n_tables", 0, _MAX_TABLES)
        want = (0 if n < 4096 else 8) if est.n_tables == "auto" else est.n_tables
        if T != want:
            raise _BadFile(f"its configuration has n_tables={T}, but fit builds {want} for n_tables={est.n_tables!r}")
        k = _config_int(config, "key_bits", 1, 30)
        want = int(np.clip(round(math.log2(max(n, 2) / 16.0)), 4, 20)) if est.key_bits == "auto" else est.key_bits
        if k != want:
            raise _BadFile(f"its configuration has key_bits={k}, but fit uses {want} for key_bits={est.key_bits!r}")
        if "norm_ranges" in config:
            R = _config_int(config, "norm_ranges", 1, None)
            want = 1 if T == 0 else (_NORM_RANGES if n >= _NORM_RANGES else 1)
            if R != want:
                raise _BadFile(
                    f"its configuration has norm_ranges={R}, but the tables of {n} points hold {want} norm "
                    "range(s) per bucket"
                )
        else:  # files written before the norm ranges
            R = 1
        if G * T * ((R << k) + 1) * 8 > _MAX_OFFSET_BYTES:
            raise _BadFile(f"its {G * T} tables of {R << k} buckets exceed {_human_bytes(_MAX_OFFSET_BYTES)}")
        est.key_bits_, est.n_tables_, est._n_ranges = k, T, R
        xf = "data32" if xdtype.itemsize == 4 else "data64"  # the dtype of the data
        n_words = int(((est._expected_bits + 63) // 64).sum())
        expected = {
            "X": ((n, d), xf),
            "codes": ((n, n_words), "uint64"),
            "groups": ((G,), "labels"),
            "group_index": ((d,), "int"),
            "group_max_norm": ((G,), "float64"),
            "hash_max_norm": ((G,), "float64"),
            "center": ((d,), xf),
            "block_bits": ((n_hashed,), "int"),
        }
        for i, (dim, t) in enumerate(zip(dims, est._expected_bits)):
            expected[f"projection_{i}"] = ((int(dim), int(t)), xf)
        for g, cols in enumerate(est._group_cols):
            expected[f"table_projection_{g}"] = ((len(cols), T * k), xf)
        if T:
            expected["table_order"] = ((G * T * n,), "int")
            expected["table_offsets"] = ((G * T, (R << k) + 1), "int")
        return est, expected

    def _set_loaded_state(self, config, arrays):
        """Check the values of the arrays read by :meth:`_read_index` and set the fitted state (host)."""
        n, d = arrays["X"].shape
        X = arrays["X"]
        groups, group_index = self._expected_groups
        del self._expected_groups
        if not _same_labels(arrays["groups"], groups):
            raise _BadFile(
                f"its groups {arrays['groups'].tolist()!r:.200} do not match the feature_groups of its parameters"
            )
        if not np.array_equal(arrays["group_index"], group_index):
            raise _BadFile("its group_index does not match the feature_groups of its parameters")
        bits = self._expected_bits
        del self._expected_bits
        if not np.array_equal(arrays["block_bits"], bits):
            raise _BadFile(
                f"its block_bits {arrays['block_bits'].tolist()!r:.200} do not match n_bits={self.n_bits} and "
                f"variant={self.variant!r} (expected {bits.tolist()!r:.200})"
            )
        for key, a in arrays.items():
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                what = "its data X" if key == "X" else f"its array {key!r}"
                raise _BadFile(f"{what} holds NaN or infinite values")
            if "projection_" in key and a.size and np.max(np.abs(a)) > _MAX_GAUSSIAN:
                raise _BadFile(
                    f"its array {key!r} holds values up to {np.max(np.abs(a)):.3g}; its entries are standard normal "
                    f"draws, at most {_MAX_GAUSSIAN} in magnitude"
                )
        # the hash bits past each block's end are zero (the Hamming distances count every bit of a word)
        codes = arrays["codes"]
        words = (bits + 63) // 64
        starts = np.concatenate([[0], np.cumsum(words)[:-1]])
        for b, (t, w0, nw) in enumerate(zip(bits, starts, words)):
            if t % 64 and np.any(codes[:, w0 + nw - 1] >> np.uint64(t % 64)):
                raise _BadFile(f"its codes have bits set past the {t} hash bits of block {b}")
        # center, group_max_norm and hash_max_norm: those of the data (up to the rounding of another device)
        center = arrays["center"]
        rtol = 1e-3 if X.dtype == np.float32 else 1e-9
        mean = X.mean(axis=0, dtype=np.float64)
        off = np.flatnonzero(np.abs(center - mean) > rtol * np.max(np.abs(X), axis=0))
        if off.size:
            raise _BadFile(f"its center is not the mean of its data X (feature {off[0]}: {center[off[0]]:.6g}, "
                           f"mean {mean[off[0]]:.6g})")
        sq, max_norm, _, hash_norm = self._data_norms(X, center=center)
        M, Hn = arrays["group_max_norm"], arrays["hash_max_norm"]
        M = np.where((max_norm == 0) & (M == 1.0), 0.0, M)  # earlier files wrote 1.0 for an all-zero group
        if not np.all(np.abs(M - max_norm) <= 1e-6 * max_norm):
            raise _BadFile(
                f"its group_max_norm {M.tolist()!r:.200} does not match the largest group norms of its data X "
                f"({max_norm.tolist()!r:.200})"
            )
        # 1.0 stands for a group whose points all equal their mean
        constant = (Hn == 1.0) & (hash_norm <= rtol * max_norm)
        if not np.all((np.abs(Hn - hash_norm) <= 10 * rtol * hash_norm) | constant):
            raise _BadFile(
                f"its hash_max_norm {Hn.tolist()!r:.200} does not match the largest norms of its centred data X "
                f"({hash_norm.tolist()!r:.200})"
            )
        try:
            self.group_max_norm_, self.hash_max_norm_ = M, Hn
            self._check_norms(X.dtype)
        except ValueError as exc:
            raise _BadFile(str(exc).replace("X has", "its data X has", 1)) from None
        T, G = self.n_tables_, self.n_groups_
        order = offsets = None
        if T:
            order, offsets = arrays["table_order"], arrays["table_offsets"]
            if order.size and (order.min() < 0 or order.max() >= n):
                raise _BadFile(f"its table_order holds indices outside [0, {n})")
            order = order.astype(np.int64)
            counts = np.bincount((order.reshape(G * T, n) + (np.arange(G * T) * n)[:, None]).ravel(),
                                 minlength=G * T * n)
            bad = np.flatnonzero(np.any(counts.reshape(G * T, n) != 1, axis=1))
            if bad.size:
                raise _BadFile(f"its table_order is not a permutation of the {n} points in table {bad[0]}")
            if not (np.all(offsets[:, 0] == 0) and np.all(offsets[:, -1] == n) and np.all(np.diff(offsets, axis=1) >= 0)):
                raise _BadFile(f"its table_offsets do not rise from 0 to n_samples={n} in every table")
            order, offsets = order.astype(np.int32), offsets.astype(np.int64)
        self.n_features_in_ = d
        if "feature_names_in" in arrays:
            self.feature_names_in_ = arrays["feature_names_in"].astype(object)
        self.X_, self.codes_ = X, codes
        self.groups_, self.group_index_, self.n_groups_ = arrays["groups"], group_index, G
        self.group_max_norm_ = M.astype(np.float64)
        self.hash_max_norm_ = Hn.astype(np.float64)
        self.center_ = center
        self.block_bits_ = bits
        self._word_start, self._n_words = starts.astype(np.int64), int(words.sum())
        self.projections_ = [arrays[f"projection_{i}"] for i in range(len(bits))]
        self.table_projections_ = [arrays[f"table_projection_{g}"] for g in range(G)]
        self._table_order, self._table_offsets = order, offsets
        self.n_samples_fit_ = n
        self.sq_norms_ = sq


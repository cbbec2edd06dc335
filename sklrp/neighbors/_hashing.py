"""Array-level building blocks of multiple-purpose LSH.

Everything here is a plain function of arrays and works on NumPy or CuPy
arrays alike (the namespace comes from :func:`sklrp._backend.get_namespace`).

Notation (see ``docs/neighbors.rst`` for the derivation)
---------------------------------------------------------
The features are split into ``G`` groups.  For every group ``g`` there are two
*blocks*:

* the **lin** block (index ``2 g``) serves L2 and inner product.  With the
  centred data ``y = x - mu`` a data vector becomes the unit vector
  ``P(x) = (y_g / (sqrt2 M_g), |y_g|^2 / (sqrt2 M_g^2), s)`` where ``M_g`` is
  the largest norm of ``y_g`` in the training data and the slack
  ``s = sqrt(1 - |.|^2)`` is the Neyshabur-Srebro augmentation;
* the **cos** block (index ``2 g + 1``) serves cosine: ``P(x) = x_g / |x_g|``.

A query with mixture weights ``a = (a_l2, a_ip, a_cos)`` and group weights
``w`` becomes, per block, an un-normalised vector ``Q_b`` such that
``sum_b <Q_b, P_b(x)> = S(q, x)``, the mixture *similarity*
``S = sum_g w_g [<2 a_l2 (q_g - mu_g) + a_ip q_g, y_g> - a_l2 |y_g|^2 + a_cos cos(q_g, x_g)]``
which is, for a fixed query, the mixture dissimilarity up to sign and an
additive constant.  Only the query side depends on the weights.
"""

import math

import numpy as np

from .._backend import get_namespace

METRICS = ("l2", "ip", "cosine")

_SQRT2 = math.sqrt(2.0)

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


def popcount64(x):
    """Number of set bits of every element of a ``uint64`` array."""
    xp = get_namespace(x)
    if xp is np and hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return ((x * _H01) >> np.uint64(56)).astype(xp.uint8)


def take_rows(A, idx):
    """``A[idx]`` for a C-contiguous 2-D ``A`` and 1-D integer ``idx``.

    On NumPy every row is gathered as one opaque (void) element, which is
    about twice as fast as a row gather of several numeric columns.
    """
    xp = get_namespace(A)
    if xp is np and A.ndim == 2 and A.flags.c_contiguous and A.shape[1] > 1:
        rows = A.view(np.dtype((np.void, A.dtype.itemsize * A.shape[1]))).reshape(-1)
        return np.take(rows, idx).view(A.dtype).reshape(idx.shape[0], A.shape[1])
    return xp.take(A, idx, axis=0)


def pack_bits(bits, n_words):
    """Pack a boolean matrix ``(n, n_bits)`` into ``(n, n_words)`` uint64.

    Bit ``i`` goes to word ``i // 64``, position ``i % 64`` (little-endian);
    the padding up to ``64 * n_words`` bits is zero.
    """
    xp = get_namespace(bits)
    n, nb = bits.shape
    total = 64 * n_words
    if nb < total:
        bits = xp.concatenate([bits, xp.zeros((n, total - nb), dtype=bool)], axis=1)
    b = bits.reshape(n, n_words, 64).astype(xp.uint64)
    shifts = xp.arange(64, dtype=xp.uint64)
    return xp.sum(b << shifts, axis=2, dtype=xp.uint64)


def bits_to_keys(bits):
    """Integer key (little-endian) of each row of a boolean matrix ``(n, k)``."""
    xp = get_namespace(bits)
    k = bits.shape[1]
    weights = xp.asarray(1 << np.arange(k, dtype=np.int64))
    return bits.astype(xp.int64) @ weights


def group_masks(group_index, n_groups, xp, dtype):
    """One-hot matrix ``(n_features, n_groups)`` of the feature groups."""
    onehot = np.zeros((group_index.shape[0], n_groups))
    onehot[np.arange(group_index.shape[0]), group_index] = 1.0
    return xp.asarray(onehot.astype(dtype))


def group_sq_norms(X, onehot):
    """Squared norm of every feature group: ``(n, n_groups)``."""
    return (X * X) @ onehot


def data_blocks(X, group_cols, max_norms, center):
    """Unit-norm data vectors of every block (lin and cos of each group).

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
    group_cols : list of ndarray
        Column indices of each group.
    max_norms : sequence of float
        ``M_g``, the largest norm of the centred group in the training data.
    center : ndarray of shape (n_features,)
        Feature means of the training data; the lin blocks hash ``x - mu``
        (L2 and inner-product rankings do not change under this shift).

    Returns
    -------
    blocks : list of ndarray
        ``2 * n_groups`` arrays; block ``2 g`` has ``len(cols_g) + 2``
        columns, block ``2 g + 1`` has ``len(cols_g)``.
    """
    xp = get_namespace(X)
    blocks = []
    for cols, m in zip(group_cols, max_norms):
        xg = X[:, cols]
        xc = xg - center[cols]
        sqc = xp.sum(xc * xc, axis=1, keepdims=True)
        lin = xp.concatenate([xc / (_SQRT2 * m), sqc / (_SQRT2 * m * m)], axis=1)
        used = xp.sum(lin * lin, axis=1, keepdims=True)
        slack = xp.sqrt(xp.clip(1.0 - used, 0.0, None))
        blocks.append(xp.concatenate([lin, slack], axis=1))
        norm = xp.sqrt(xp.sum(xg * xg, axis=1, keepdims=True))
        blocks.append(xg / xp.where(norm > 0, norm, 1.0))
    return blocks


def sa_vector(blocks):
    """Simple-augmentation data vector: the blocks side by side, scaled to unit norm.

    A global slack coordinate keeps the norm at exactly one when a cos block
    is zero (a group that is all zeros).
    """
    xp = get_namespace(*blocks)
    n_blocks = len(blocks)
    cat = xp.concatenate(blocks, axis=1)
    used = xp.sum(cat * cat, axis=1, keepdims=True)
    slack = xp.sqrt(xp.clip(n_blocks - used, 0.0, None))
    return xp.concatenate([cat, slack], axis=1) / math.sqrt(n_blocks)


def query_blocks(Q, group_cols, max_norms, center, alpha, group_weights):
    """Un-normalised query vector of every block for the given weights.

    Returns
    -------
    blocks : list of ndarray
        Same layout as :func:`data_blocks`; ``sum_b <Q_b, P_b(x)>`` equals the
        mixture similarity ``S(q, x)``.
    """
    xp = get_namespace(Q)
    a_l2, a_ip, a_cos = (alpha[m] for m in METRICS)
    blocks = []
    n = Q.shape[0]
    for cols, m, w in zip(group_cols, max_norms, group_weights):
        qg = Q[:, cols]
        lin = (_SQRT2 * w * m) * (2.0 * a_l2 * (qg - center[cols]) + a_ip * qg)
        blocks.append(
            xp.concatenate(
                [
                    lin,
                    xp.full((n, 1), -_SQRT2 * a_l2 * w * m * m, dtype=Q.dtype),
                    xp.zeros((n, 1), dtype=Q.dtype),
                ],
                axis=1,
            )
        )
        norm = row_norms(qg)[:, None]  # no overflow for large queries
        blocks.append((a_cos * w) * qg / xp.where(norm > 0, norm, 1.0))
    return blocks


def sa_query(qblocks):
    """Simple-augmentation query vector (global slack coordinate zero)."""
    xp = get_namespace(*qblocks)
    cat = xp.concatenate(qblocks, axis=1)
    return xp.concatenate([cat, xp.zeros((cat.shape[0], 1), dtype=cat.dtype)], axis=1)


def _row_exponents(V):
    """Exponent ``e`` per row with ``max |V[i]| / 2**e`` in ``[0.5, 1)`` (0 for a zero row)."""
    xp = get_namespace(V)
    if V.shape[1] == 0:
        return xp.zeros(V.shape[0], dtype=xp.int32)
    return xp.frexp(xp.max(xp.abs(V), axis=1))[1]


def row_norms(V):
    """Euclidean norm of every row of a 2-D array, without overflow or underflow.

    Every row is scaled by a power of two near its largest absolute value
    before squaring (exact), so the norm is finite whenever it is
    representable; in the range where the squares neither overflow nor
    underflow the result is bitwise that of ``sqrt(sum(V * V))``.
    """
    xp = get_namespace(V)
    e = _row_exponents(V)
    W = xp.ldexp(V, -e[:, None])
    return xp.ldexp(xp.sqrt(xp.sum(W * W, axis=1)), e)


def unit_rows(V):
    """Rows scaled to unit norm, and the norms (zero rows stay zero).

    Computed on rows scaled by a power of two (see :func:`row_norms`): large
    rows (whose squares overflow) and tiny ones (whose squares underflow)
    keep their direction.
    """
    xp = get_namespace(V)
    e = _row_exponents(V)
    W = xp.ldexp(V, -e[:, None])
    nw = xp.sqrt(xp.sum(W * W, axis=1))
    return W / xp.where(nw > 0, nw, 1.0)[:, None], xp.ldexp(nw, e)


def srp_collision_probability(cos_angle):
    """Theoretical collision probability of sign random projections.

    ``P[sign(<a, u>) == sign(<a, v>)] = 1 - arccos(cos(u, v)) / pi`` for
    ``a ~ N(0, I)`` (Goemans-Williamson, Charikar 2002).
    """
    c = np.clip(np.asarray(cos_angle, dtype=float), -1.0, 1.0)
    return 1.0 - np.arccos(c) / np.pi


def asymmetric_expectation(cos_angle):
    """Expected value of ``sign(<a, x>) <a, q>`` for unit ``x``, ``q``.

    Equals ``sqrt(2 / pi) cos(x, q)`` for ``a ~ N(0, I)``; the basis of the
    code-augmentation estimator.
    """
    return math.sqrt(2.0 / math.pi) * np.asarray(cos_angle, dtype=float)

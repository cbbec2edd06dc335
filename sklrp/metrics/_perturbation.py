"""Perturbation analysis of explanations: pixel flipping and AOPC.

A good explanation ranks the input regions by how much they matter to the
model.  Perturbation analysis (Bach et al. 2015; Samek et al. 2017) checks the
ranking: it destroys the regions one after the other, *most relevant first*
(MoRF), and records how fast the score of the explained class falls.  The
faster it falls, the better the ranking.  The area over that curve, averaged
over samples, is the AOPC.

Everything the papers leave open (the scored output, the replacement values,
the region size, the number of steps, the AOPC normalisation) is a parameter
of :func:`perturbation_curve` with a documented default.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_is_fitted

from .._backend import get_namespace, to_device, to_host
from .._validation import overflow_as_value_error
from ..base import final_estimator, resolve_target, transform_to_final

__all__ = ["perturbation_curve", "aopc_score"]

_ORDERS = ("morf", "lerf", "random")
_REPLACEMENTS = ("uniform", "normal")
_SCORES = ("decision", "proba")


# --------------------------------------------------------------------- helpers
def _as_dense(A, name):
    """Return ``A`` as a dense 2-D array (NumPy or CuPy), densifying sparse input."""
    if sp.issparse(A) or type(A).__module__.startswith("cupyx.scipy.sparse"):
        A = A.toarray()
    if not (hasattr(A, "shape") and hasattr(A, "dtype")):
        A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features); got {A.ndim} dimension(s).")
    return A


def _normalise_shape(input_shape, n_features):
    """Return ``(C, *spatial)`` for a flat row of ``n_features`` values."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 0 or len(shape) > 3 or any(s < 1 for s in shape):
        raise ValueError(
            f"input_shape must be (n_features,), (channels, length) or (channels, height, width) of positive "
            f"ints; got {input_shape!r}."
        )
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"input_shape={shape} holds {int(np.prod(shape))} values but X has {n_features} features "
            "(in the space of the estimator's final step)."
        )
    if len(shape) == 1:
        shape = (1,) + shape
    return shape


def _patch_ids(shape, patch_size):
    """Map every feature of a flat row to its patch.

    Parameters
    ----------
    shape : tuple
        ``(C, *spatial)``.
    patch_size : int or tuple of int
        Patch extent per spatial axis.

    Returns
    -------
    pid : ndarray of shape (n_features,)
        Patch index of each feature (C order), the same for every channel.
    n_patches : int
    patch : tuple of int
        The patch size per spatial axis.
    """
    spatial = shape[1:]
    nd = len(spatial)
    def _is_int(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    if _is_int(patch_size):
        patch = (int(patch_size),) * nd
    else:
        ok = isinstance(patch_size, (tuple, list)) and len(patch_size) == nd and all(map(_is_int, patch_size))
        if not ok:
            raise ValueError(
                f"patch_size must be a positive int or a tuple of {nd} positive int(s) (one per spatial axis "
                f"of the input shape {tuple(shape)}); got {patch_size!r}."
            )
        patch = tuple(int(v) for v in patch_size)
    for p, s in zip(patch, spatial):
        if p < 1 or p > s:
            raise ValueError(
                f"patch_size must lie between 1 and the spatial size {tuple(spatial)} on every axis; "
                f"got {patch_size!r}."
            )
    grid = tuple(-(-s // p) for s, p in zip(spatial, patch))  # ceil: edge patches are clipped
    idx = [np.arange(s) // p for s, p in zip(spatial, patch)]
    pid = np.zeros(spatial, dtype=np.int64)
    stride = 1
    for axis in reversed(range(nd)):
        sh = [1] * nd
        sh[axis] = spatial[axis]
        pid = pid + idx[axis].reshape(sh) * stride
        stride *= grid[axis]
    pid = np.broadcast_to(pid, shape).ravel()
    return pid, int(np.prod(grid)), patch


def _argsort_stable(xp, a):
    if xp is np:
        return np.argsort(a, axis=1, kind="stable")
    return xp.argsort(a, axis=1)  # CuPy sorts with a stable radix sort


def _target_indices(final, target, n, base_scores):
    """Class index per sample (NumPy) from ``target``; ``None`` = predicted class."""
    classes = getattr(final, "classes_", None)
    if classes is None:
        raise ValueError(f"{type(final).__name__} has no classes_; perturbation_curve needs a fitted classifier.")
    classes = np.asarray(classes)
    if target is None:
        return np.asarray(to_host(base_scores.argmax(axis=1)), dtype=np.int64)
    if np.ndim(to_host(target)) == 2:
        raise ValueError(
            f"target must be None, one class label or one label per sample (length {n}); an "
            "output-relevance array does not name a class to track."
        )
    idx, _ = resolve_target(classes, target, n)
    return idx.astype(np.int64)


def _score_fn(final, score, n_classes):
    """Return ``f(X) -> (n, n_classes)`` scores for the chosen ``score``."""
    if callable(score):
        def fn(X):
            return score(final, X)
        return fn
    if score == "decision":
        if not hasattr(final, "decision_function"):
            raise ValueError(
                f"score='decision' needs a decision_function, which {type(final).__name__} lacks; use "
                "score='proba'."
            )

        def fn(X):
            z = final.decision_function(X)
            if z.ndim == 1:  # binary: f scores classes_[1], -f scores classes_[0]
                xp = get_namespace(z)
                z = xp.stack([-z, z], axis=1)
            return z

        return fn
    if score == "proba":
        if not hasattr(final, "predict_proba"):
            raise ValueError(
                f"score='proba' needs predict_proba, which {type(final).__name__} lacks; use score='decision'."
            )
        return final.predict_proba
    raise ValueError(f"score must be 'decision', 'proba' or a callable; got {score!r}.")


def _replacement_values(replacement, X_host_stats, shape, dtype, rng, low, high, loc, scale):
    """Replacement values (host NumPy, shape ``shape``) for every feature."""
    if isinstance(replacement, numbers.Real) and not isinstance(replacement, bool):
        if not np.isfinite(replacement):
            raise ValueError(f"A numeric replacement must be finite; got {replacement!r}.")
        return None, float(replacement)
    if replacement == "uniform":
        lo = X_host_stats["min"] if low is None else float(low)
        hi = X_host_stats["max"] if high is None else float(high)
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
            raise ValueError(f"replacement='uniform' needs finite low <= high; got low={lo!r}, high={hi!r}.")
        return rng.uniform(lo, hi, size=shape).astype(dtype, copy=False), None
    if replacement == "normal":
        mu = X_host_stats["mean"] if loc is None else float(loc)
        sd = X_host_stats["std"] if scale is None else float(scale)
        if not (np.isfinite(mu) and np.isfinite(sd)) or sd < 0:
            raise ValueError(f"replacement='normal' needs finite loc and scale >= 0; got loc={mu!r}, scale={sd!r}.")
        return rng.normal(mu, sd, size=shape).astype(dtype, copy=False), None
    raise ValueError(
        f"replacement must be a float or one of {list(_REPLACEMENTS)}; got {replacement!r}."
    )


def _scale(a):
    """The largest magnitude of the finite array ``a`` (1.0 for an all-zero array): a divisor that keeps sums finite."""
    s = float(np.max(np.abs(a))) if a.size else 0.0
    return s if s > 0 else 1.0


def _mean(a, axis=None):
    """The mean of finite float64 values, computed in units of their largest magnitude so that it cannot overflow.

    ``a.mean()`` of values near the float maximum is inf although the mean
    itself (never larger than the largest value) is representable.
    """
    s = _scale(a)
    return (a / s).mean(axis=axis) * s


def _std(a):
    """The standard deviation of finite values, without overflow (see :func:`_mean`)."""
    s = _scale(a)
    return float((a / s).std()) * s


def _without_feature_names_warning(score_fn):
    """``score_fn`` without scikit-learn's "X does not have valid feature names" warning.

    The perturbed inputs are arrays; the feature names of a DataFrame were
    checked on the unperturbed input (or the warning given there once).
    """

    def score(X):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
            return score_fn(X)

    return score


def _aopc_from_curves(curves, include_start):
    """AOPC per sample from curves of shape (n, L + 1).

    The drops ``f(x^0) - f(x^k)`` are averaged in units of the curves'
    largest magnitude; a mean drop beyond the float range (scores of
    opposite signs near the float maximum) raises a ValueError.
    """
    s = _scale(curves)
    c = curves / s
    drops = c[:, :1] - c  # (f(x^0) - f(x^k)) / s, k = 0..L
    per_sample = drops.mean(axis=1) if include_start else drops[:, 1:].mean(axis=1)
    with np.errstate(over="ignore"):
        per_sample = per_sample * s
    if not np.isfinite(per_sample).all():
        raise ValueError(
            "The AOPC (the mean score drop) exceeds the float range: the scores span more than the largest float "
            f"(largest magnitude {s:.3g}). Scale the model's scores (e.g. score='proba')."
        )
    return per_sample


# ------------------------------------------------------------------ public API
@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "R": ["array-like", "sparse matrix", None],
        "include_start": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def perturbation_curve(
    estimator,
    X,
    R=None,
    *,
    target=None,
    patch_size=1,
    input_shape=None,
    n_steps=None,
    patches_per_step=1,
    order=None,
    replacement="uniform",
    low=None,
    high=None,
    loc=None,
    scale=None,
    score="decision",
    n_repeats=1,
    include_start=False,
    batch_size=None,
    random_state=None,
):
    """Perturbation (pixel-flipping) curve of an explanation.

    The input of each sample is cut into non-overlapping patches.  Patches are
    ranked by their relevance (summed over the patch and over channels) and,
    step by step, replaced: after step ``k`` the ``k * patches_per_step``
    top-ranked patches of every sample hold replacement values.  The curve is
    the score of the target class after each step; the perturbations
    accumulate (step ``k`` keeps the patches of steps ``1 .. k - 1``
    perturbed).

    Parameters
    ----------
    estimator : fitted classifier or Pipeline
        A classifier with ``classes_`` and ``decision_function`` (or
        ``predict_proba`` with ``score="proba"``).  For a Pipeline, ``X`` is
        transformed by every step but the last and the perturbation happens
        in the last step's input space, where ``R`` lives (as returned by
        :func:`sklrp.explain`).
    X : array-like or sparse matrix of shape (n_samples, n_features_raw)
        Samples (the raw Pipeline input).  NumPy or CuPy; sparse input of the
        final step is densified.
    R : array of shape (n_samples, n_features) or None, default=None
        Relevance of every feature of the final step's input, in the same
        array type as that input.  ``None`` perturbs in random order (the
        random baseline); ``order`` must then be ``None`` or ``"random"``.
    target : None, label or array-like of labels, default=None
        Class whose score is tracked.  ``None`` uses each sample's predicted
        class on the unperturbed input (the class ``explain`` explains by
        default), kept fixed along the curve.
    patch_size : int or tuple of int, default=1
        Patch extent per spatial axis of ``input_shape`` (an int applies to
        every axis).  Patches tile the input from the first element on;
        when the size does not divide an axis, the last patch on that axis is
        clipped (smaller) rather than rejected.  Relevance is summed over the
        patch and over all channels; a patch is perturbed in every channel at
        once.
    input_shape : tuple of int, default=None
        Layout of a flat row: ``(n_features,)``, ``(C, L)`` or ``(C, H, W)``
        (C order).  ``None`` uses the final estimator's ``input_shape_`` when
        it has one and ``(n_features,)`` otherwise (every feature its own
        patch for ``patch_size=1``).
    n_steps : int, default=None
        Number of perturbation steps ``L``.  ``None`` perturbs until every
        patch is replaced, i.e. ``ceil(n_patches / patches_per_step)`` steps.
        (Samek et al. 2017 report ``L = 100`` steps of 9x9 patches on
        ImageNet-sized images; pass ``n_steps=100`` to follow them.)
    patches_per_step : int, default=1
        Patches replaced per step.
    order : {"morf", "lerf", "random"}, default=None
        ``"morf"``: most relevant first; ``"lerf"``: least relevant first;
        ``"random"``: a random permutation per sample (ignores ``R``).
        ``None`` means ``"morf"`` when ``R`` is given and ``"random"``
        otherwise.  Ties in the relevance are broken at random (drawn from
        ``random_state``), so that e.g. many zero-relevance pixels are not
        perturbed in raster order.
    replacement : float or {"uniform", "normal"}, default="uniform"
        Value written into a perturbed patch: a constant, or noise drawn
        once per sample and feature (so a patch keeps its value on later
        steps).  ``"uniform"`` draws from ``U(low, high)``, ``"normal"`` from
        ``N(loc, scale**2)``.  The default follows the uniform random
        replacement recorded for Samek et al. (2017) [unverified].
    low, high : float, default=None
        Bounds of the uniform noise; ``None`` takes the minimum / maximum of
        ``X`` (in the final step's input space).
    loc, scale : float, default=None
        Mean and standard deviation of the normal noise; ``None`` takes the
        mean / standard deviation of all values of ``X``.
    score : {"decision", "proba"} or callable, default="decision"
        Tracked output: the raw score of the target class
        (``decision_function``; for two classes ``f`` for ``classes_[1]`` and
        ``-f`` for ``classes_[0]``), or its probability (``predict_proba``).
        A callable ``score(final_estimator, X) -> (n_samples, n_classes)``
        is used as given.
    n_repeats : int, default=1
        Repetitions with independent random draws (random order, noise),
        averaged per sample.  Useful for the random baseline.
    include_start : bool, default=False
        AOPC normalisation (see :func:`aopc_score`): ``False`` averages the
        drops of steps ``1 .. L``; ``True`` averages over ``0 .. L``
        (``L + 1`` terms, the first being zero).
    batch_size : int, default=None
        Samples perturbed and scored together per model call; ``None`` takes
        all of them.  Bounds the memory of one step (``batch_size *
        n_features`` values).
    random_state : int, RandomState instance or None, default=None
        Seeds the random order, the tie-breaking and the noise (drawn on the
        host, so NumPy and CuPy runs agree).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        - ``curve``: ndarray of shape (n_steps + 1,), mean score of the
          target class after 0, 1, ..., L steps (entry 0: unperturbed);
        - ``curves``: ndarray of shape (n_samples, n_steps + 1), per sample
          (averaged over ``n_repeats``);
        - ``fraction_perturbed``: ndarray of shape (n_steps + 1,), fraction
          of the patches replaced after each step;
        - ``aopc``: float, :func:`aopc_score` of these curves;
        - ``aopc_per_sample``: ndarray of shape (n_samples,);
        - ``target``: ndarray of shape (n_samples,), index into ``classes_``
          of the tracked class;
        - ``order``, ``n_patches``, ``patch_size`` (tuple), ``input_shape``
          (tuple ``(C, *spatial)``), ``n_steps``.

        All arrays are NumPy arrays (the curves are small), whatever the
        array type of ``X``.

    Raises
    ------
    ValueError
        When ``R`` does not have the shape of the final step's input, holds
        NaN or infinity, or is of another array type than ``X``; when
        ``patch_size``, ``input_shape``, ``n_steps``, ``order``,
        ``replacement`` or ``score`` is invalid; when a target label is not in
        ``classes_``.

    See Also
    --------
    aopc_score : The area over the MoRF curve.
    sklrp.plotting.PerturbationCurveDisplay : Plot several curves.

    References
    ----------
    W. Samek, A. Binder, G. Montavon, S. Lapuschkin and K.-R. Müller,
    "Evaluating the visualization of what a deep neural network has learned",
    IEEE Transactions on Neural Networks and Learning Systems 28(11),
    2660-2673, 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklrp import DenseNetClassifier
    >>> from sklrp.metrics import perturbation_curve
    >>> X, y = load_digits(return_X_y=True)
    >>> net = DenseNetClassifier((32,), max_iter=30, random_state=0).fit(X / 16, y)
    >>> R = net.explain(X[:20] / 16)
    >>> res = perturbation_curve(net, X[:20] / 16, R, n_steps=10, random_state=0)
    >>> res.curve.shape
    (11,)
    """
    final = final_estimator(estimator)
    check_is_fitted(final)
    with overflow_as_value_error():
        X_final = transform_to_final(estimator, X)
        Xf = _as_dense(X_final, "X")
        xp = get_namespace(Xf)
        if Xf.dtype not in (xp.float32, xp.float64):
            Xf = Xf.astype(xp.float64)
    n, n_features = Xf.shape
    if n < 1:
        raise ValueError("X holds no samples; perturbation_curve needs at least one.")
    if not bool(xp.isfinite(Xf).all()):
        raise ValueError("X contains NaN or infinity (in the space of the estimator's final step).")

    # -- order and relevance
    if order is None:
        order = "random" if R is None else "morf"
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {list(_ORDERS)} (or None); got {order!r}.")
    if R is None and order != "random":
        raise ValueError(f"order={order!r} needs a relevance R; pass R, or order='random' for the random baseline.")
    if R is not None:
        R = _as_dense(R, "R")
        get_namespace(Xf, R)  # raises on a NumPy/CuPy mix
        if tuple(R.shape) != (n, n_features):
            raise ValueError(
                f"R must have the shape of X in the final step's input space, {(n, n_features)}; got "
                f"{tuple(R.shape)}."
            )
        if not bool(xp.isfinite(R).all()):
            raise ValueError("R contains NaN or infinity.")

    # -- layout and patches
    if input_shape is None:
        input_shape = getattr(final, "input_shape_", None) or (n_features,)
    shape = _normalise_shape(input_shape, n_features)
    pid_host, n_patches, patch = _patch_ids(shape, patch_size)

    if not isinstance(patches_per_step, numbers.Integral) or isinstance(patches_per_step, bool) or patches_per_step < 1:
        raise ValueError(f"patches_per_step must be a positive int; got {patches_per_step!r}.")
    max_steps = -(-n_patches // patches_per_step)
    if n_steps is None:
        n_steps = max_steps
    if not isinstance(n_steps, numbers.Integral) or isinstance(n_steps, bool) or not 1 <= n_steps <= max_steps:
        raise ValueError(
            f"n_steps must be an int between 1 and {max_steps} (= ceil(n_patches / patches_per_step) with "
            f"{n_patches} patches); got {n_steps!r}."
        )
    n_steps = int(n_steps)
    if not isinstance(n_repeats, numbers.Integral) or isinstance(n_repeats, bool) or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive int; got {n_repeats!r}.")
    if batch_size is not None and (
        not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be None or a positive int; got {batch_size!r}.")
    if not (callable(score) or score in _SCORES):
        raise ValueError(f"score must be one of {list(_SCORES)} or a callable; got {score!r}.")
    if not (isinstance(replacement, numbers.Real) and not isinstance(replacement, bool)) and replacement not in _REPLACEMENTS:
        raise ValueError(f"replacement must be a float or one of {list(_REPLACEMENTS)}; got {replacement!r}.")

    rng = check_random_state(random_state)
    device = "cuda" if xp is not np else "cpu"
    stats = {}
    if isinstance(replacement, str):
        stats = {
            "min": float(Xf.min()),
            "max": float(Xf.max()),
            "mean": float(_mean(to_host(Xf).astype(np.float64))),
            "std": _std(to_host(Xf).astype(np.float64)),
        }

    # -- target class per sample, from the unperturbed input
    n_classes = len(getattr(final, "classes_", ()))
    score_fn = _score_fn(final, score, n_classes)
    # the unperturbed input as given (a DataFrame keeps its column names), so that the estimator checks the
    # feature names once, as scikit-learn does; the perturbed copies are arrays of the same columns
    base = score_fn(X_final if hasattr(X_final, "columns") else Xf)
    score_fn = _without_feature_names_warning(score_fn)
    t_idx = _target_indices(final, target, n, base)
    pid = to_device(pid_host, device)

    # -- patch relevance (n, n_patches): scatter-add of R over the patch map
    if R is not None:
        Rd = R.astype(xp.float64)
        flat_ids = (xp.arange(n)[:, None] * n_patches + pid[None, :]).ravel()
        Rp = xp.bincount(flat_ids, weights=Rd.ravel(), minlength=n * n_patches).reshape(n, n_patches)

    curves = np.zeros((n, n_steps + 1))
    bs = n if batch_size is None else int(batch_size)
    rows = np.arange(n)
    for rep in range(n_repeats):
        # tie-breaking / random order keys, drawn on the host
        noise_key = to_device(rng.random_sample((n, n_patches)), device)
        if order == "random":
            perm = xp.argsort(noise_key, axis=1)
        else:
            # shuffle, stable-sort the shuffled relevance, map back: ties in random order
            shuffle = xp.argsort(noise_key, axis=1)
            key = xp.take_along_axis(Rp, shuffle, axis=1)
            key = -key if order == "morf" else key
            perm = xp.take_along_axis(shuffle, _argsort_stable(xp, key), axis=1)
        rank = xp.argsort(perm, axis=1)  # rank[i, p]: step position of patch p
        feat_rank = rank[:, pid]  # (n, n_features)
        for start in range(0, n, bs):
            sl = slice(start, start + bs)
            xb = Xf[sl]
            fr = feat_rank[sl]
            noise, const = _replacement_values(
                replacement, stats, xb.shape, np.dtype(str(xb.dtype)), rng, low, high, loc, scale
            )
            repl = to_device(noise, device) if noise is not None else const
            tb = to_device(t_idx[sl], device)
            ar = xp.arange(xb.shape[0])
            out = [base[sl][ar, tb]]
            for k in range(1, n_steps + 1):
                mask = fr < k * patches_per_step
                xk = xp.where(mask, repl, xb)
                out.append(score_fn(xk)[ar, tb])
            # each repeat's share added, so that the sum of scores near the float maximum cannot overflow
            curves[rows[sl]] += to_host(xp.stack(out, axis=1)).astype(np.float64) / n_repeats
    if not np.isfinite(curves).all():
        raise ValueError(
            "The estimator's scores on the perturbed inputs hold NaN or infinity although X is finite; the model "
            "overflows on the replacement values (check `replacement` and the scale of X)."
        )

    frac = np.minimum(np.arange(n_steps + 1) * patches_per_step, n_patches) / n_patches
    per_sample = _aopc_from_curves(curves, include_start)
    return Bunch(
        curve=_mean(curves, axis=0),
        curves=curves,
        fraction_perturbed=frac,
        aopc=float(_mean(per_sample)),
        aopc_per_sample=per_sample,
        target=t_idx,
        order=order,
        n_patches=n_patches,
        patch_size=patch,
        input_shape=tuple(shape),
        n_steps=n_steps,
    )


@validate_params(
    {"X": ["array-like", "sparse matrix"], "R": ["array-like", "sparse matrix", None]},
    prefer_skip_nested_validation=False,  # perturbation_curve validates the keywords
)
def aopc_score(estimator, X, R=None, **kwargs):
    """Area over the perturbation curve (AOPC).

    With ``x^(0)`` the input and ``x^(k)`` the input after ``k``
    perturbation steps (most relevant patches first by default), and ``f``
    the tracked score of the target class,

    .. math::

        \\mathrm{AOPC} = \\frac{1}{L} \\sum_{k=1}^{L}
        \\big\\langle f(x^{(0)}) - f(x^{(k)}) \\big\\rangle_{p(x)}

    the mean drop of the score over the ``L = n_steps`` steps, averaged over
    the samples.  Higher is better for MoRF: the explanation found the
    regions whose removal hurts the score most quickly.

    Samek et al. (2017) write the normalisation as ``1 / (L + 1)`` with the
    sum running over ``k = 0 .. L`` (whose ``k = 0`` term is zero)
    [unverified]; ``include_start=True`` computes that form, which equals
    ``L / (L + 1)`` times the default.

    Parameters
    ----------
    estimator : fitted classifier or Pipeline
    X : array-like of shape (n_samples, n_features_raw)
    R : array of shape (n_samples, n_features) or None, default=None
        Relevance in the final step's input space; ``None`` gives the
        random-order baseline.
    **kwargs
        Any keyword of :func:`perturbation_curve` (``target``,
        ``patch_size``, ``n_steps``, ``order``, ``replacement``, ``score``,
        ``random_state``, ``include_start``, ...) with the same defaults.

    Returns
    -------
    aopc : float

    See Also
    --------
    perturbation_curve : The curves behind the score.

    References
    ----------
    W. Samek, A. Binder, G. Montavon, S. Lapuschkin and K.-R. Müller,
    "Evaluating the visualization of what a deep neural network has learned",
    IEEE Transactions on Neural Networks and Learning Systems 28(11),
    2660-2673, 2017.
    """
    return perturbation_curve(estimator, X, R, **kwargs).aopc

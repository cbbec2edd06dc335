"""Euclidean alignment: whiten a subject's trials by their mean spatial covariance (He and Wu 2019)."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._backend import array_device, get_namespace, to_device, to_host

__all__ = ["EuclideanAlignment"]


def _check_trials(X, what):
    """``X`` as a finite floating array of shape (n_trials, n_channels, n_times), NumPy or CuPy."""
    if not hasattr(X, "ndim"):
        X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            f"{what} takes X of shape (n_trials, n_channels, n_times), as from epochs.get_data(); got an array "
            f"of shape {X.shape}."
        )
    if min(X.shape) == 0:
        raise ValueError(f"{what} got an empty X of shape {X.shape}.")
    xp = get_namespace(X)
    if X.dtype not in (xp.float32, xp.float64):
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{what} needs real numbers; X has dtype {X.dtype}.")
        X = X.astype(xp.float64)
    if not bool(xp.isfinite(X).all()):
        raise ValueError(f"{what}: X contains NaN or infinity.")
    return X, xp


class EuclideanAlignment(TransformerMixin, BaseEstimator):
    """Whiten EEG trials by the inverse square root of their mean spatial covariance.

    Euclidean alignment (He and Wu 2019) maps each subject's (or session's)
    trials to a common space: with ``C`` the average over trials of the
    spatial covariance ``X_i X_i^T / n_times``, every trial becomes
    ``C^{-1/2} X_i``, so that the aligned trials of every subject have the
    identity as their mean covariance.  It needs no labels.  Fitted per
    subject, it lets a network trained on some subjects be used on
    another (subject-to-subject transfer); within one subject it makes the
    spatial filters of a network well conditioned (the input's covariance is
    the identity, so a filter and its spatial pattern coincide).

    ``C^{-1/2}`` is the symmetric (ZCA) square root: the whitening closest to
    the identity, so that aligned channel ``k`` stays centred on channel
    ``k`` (a local re-referencing that removes what it shares with the other
    channels).  Relevance computed on aligned trials is therefore shown on
    the original channel positions.  MNE has no transformer for this; pyRiemann
    re-centres covariance matrices, not signals.

    Parameters
    ----------
    reg : float in [0, 1), default=1e-3
        Shrinkage of the mean covariance towards a multiple of the identity:
        ``(1 - reg) C + reg trace(C) / n_channels I``; keeps the inverse
        square root bounded for rank-deficient data (e.g. after an average
        reference).

    Attributes
    ----------
    reference_covariance_ : ndarray of shape (n_channels, n_channels)
        The mean covariance ``C`` of the fitted trials (float64, before
        shrinkage).  The fitted arrays are NumPy arrays, also when fitted on
        CuPy trials.
    filters_ : ndarray of shape (n_channels, n_channels)
        ``C^{-1/2}`` (after shrinkage), symmetric; ``transform`` computes
        ``filters_ @ X_i``.
    patterns_ : ndarray of shape (n_channels, n_channels)
        ``C^{1/2}``, the inverse of ``filters_`` (``inverse_transform``).
    n_channels_ : int

    See Also
    --------
    sklrp.eeg.transfer_fit : Pre-train on other subjects, fine-tune on one.
    mne.decoding.Scaler : Per-channel scaling.

    References
    ----------
    He and Wu, "Transfer learning for brain-computer interfaces: a Euclidean
    space data alignment approach", IEEE Trans. Biomed. Eng. 67(2), 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.eeg import EuclideanAlignment
    >>> rng = np.random.RandomState(0)
    >>> mixing = rng.normal(size=(4, 4))
    >>> X = mixing @ rng.normal(size=(30, 4, 200))    # 30 trials, 4 correlated channels
    >>> Z = EuclideanAlignment(reg=0).fit_transform(X)
    >>> C = np.einsum("nct,ndt->cd", Z, Z) / (30 * 200)
    >>> np.allclose(C, np.eye(4))
    True
    """

    _parameter_constraints = {"reg": [Interval(numbers.Real, 0, 1, closed="left")]}

    def __init__(self, reg=1e-3):
        self.reg = reg

    def fit(self, X, y=None):
        """Compute the mean covariance of the trials and its inverse square root.

        Parameters
        ----------
        X : array of shape (n_trials, n_channels, n_times)
            Trials (NumPy or CuPy) of one subject or session.
        y : None
            Ignored (alignment uses no labels).

        Returns
        -------
        self
        """
        self._validate_params()
        X, xp = _check_trials(X, type(self).__name__)
        n_trials, n_channels, n_times = X.shape
        X64 = X.astype(xp.float64, copy=False)
        C = xp.tensordot(X64, X64, axes=([0, 2], [0, 2])) / (n_trials * n_times)
        C = (C + C.T) / 2
        scale = float(xp.trace(C)) / n_channels
        if not scale > 0:
            raise ValueError(f"{type(self).__name__}: X has no variance (all trials are constant zero).")
        Cr = (1 - self.reg) * C + self.reg * scale * xp.eye(n_channels, dtype=xp.float64)
        w, V = xp.linalg.eigh(Cr)
        floor = scale * np.finfo(np.float64).eps * n_channels
        if float(w.min()) <= floor:
            raise ValueError(
                f"{type(self).__name__}: the mean covariance of X is singular (rank below {n_channels} channels, "
                "e.g. after an average reference or with a flat channel); set reg > 0 (e.g. reg=1e-3)."
            )
        # fitted attributes live on the host (as scikit-learn's); transform moves them to X's device
        self.reference_covariance_ = to_host(C)
        self.filters_ = to_host((V / xp.sqrt(w)) @ V.T)
        self.patterns_ = to_host((V * xp.sqrt(w)) @ V.T)
        self.n_channels_ = n_channels
        return self

    def _apply(self, attribute, X, what):
        check_is_fitted(self)
        M = getattr(self, attribute)
        X, xp = _check_trials(X, f"{type(self).__name__}.{what}")
        if X.shape[1] != self.n_channels_:
            raise ValueError(
                f"X has {X.shape[1]} channels but {type(self).__name__} was fitted on {self.n_channels_}."
            )
        return xp.matmul(to_device(M.astype(X.dtype), array_device(X)), X)

    def transform(self, X):
        """Align trials: ``filters_ @ X_i`` for every trial.

        Parameters
        ----------
        X : array of shape (n_trials, n_channels, n_times)

        Returns
        -------
        X_aligned : array of shape (n_trials, n_channels, n_times)
            In X's array type and floating dtype.
        """
        return self._apply("filters_", X, "transform")

    def inverse_transform(self, X):
        """Undo :meth:`transform`: ``patterns_ @ X_i`` for every trial.

        Parameters
        ----------
        X : array of shape (n_trials, n_channels, n_times)

        Returns
        -------
        X_original : array of shape (n_trials, n_channels, n_times)
        """
        return self._apply("patterns_", X, "inverse_transform")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags

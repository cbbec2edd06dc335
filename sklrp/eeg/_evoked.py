"""Relevance of EEG classifiers as MNE objects, and its link to CSP patterns.

An explainable estimator fitted on epochs ``X`` of shape
``(n_trials, n_channels, n_times)`` (MNE's decoding convention) returns
relevance ``R`` of the same shape.  :func:`relevance_to_evoked` wraps ``R``
in :class:`mne.EvokedArray` (class averages) or :class:`mne.EpochsArray`
(single trials) with the recording's :class:`mne.Info`, so that MNE's own
plots (``plot_topomap``, ``plot_joint``, ``plot_image``) show where and
when the classifier found its evidence.  :func:`csp_relevance_correlation`
compares the class-average relevance topographies with the spatial
patterns of a Common Spatial Patterns model.

Relevance has no physical unit.  The channels keep the types of ``info``
(``"eeg"`` for EEG: topomaps need EEG channel positions), so MNE's plots
would by default multiply the values by ``1e6`` (volts to microvolts) and
label them "µV".  Pass :data:`RELEVANCE_PLOT_KWARGS` (``scalings`` of 1 and
a "relevance" unit label for every channel type) to undo this::

    evk.plot_topomap(times=[0.1, 0.2], **RELEVANCE_PLOT_KWARGS)
    evk.plot_joint(ts_args=RELEVANCE_PLOT_KWARGS, topomap_args=RELEVANCE_PLOT_KWARGS)
    evk.plot_image(**RELEVANCE_PLOT_KWARGS)
    epochs.plot_image(**RELEVANCE_PLOT_KWARGS)

The stored data are the relevance values themselves (never rescaled).
"""

import numbers

import numpy as np
from sklearn.utils import Bunch

from .._backend import to_host

__all__ = ["RELEVANCE_PLOT_KWARGS", "csp_relevance_correlation", "relevance_to_evoked"]

_CH_TYPES = (
    "eeg", "mag", "grad", "planar1", "planar2", "seeg", "ecog", "dbs", "eog", "ecg", "emg",
    "misc", "hbo", "hbr", "fnirs_cw_amplitude", "fnirs_od", "csd", "ref_meg", "bio", "resp",
)

#: Keyword arguments for MNE's plotting methods that show relevance unscaled
#: (``scalings`` of 1 for every channel type instead of e.g. ``eeg=1e6``) and
#: labelled as relevance in arbitrary units instead of "µV".  Usable as
#: ``**RELEVANCE_PLOT_KWARGS`` in ``Evoked.plot``, ``Evoked.plot_topomap``,
#: ``Evoked.plot_image`` and ``Epochs.plot_image``, and as ``ts_args`` /
#: ``topomap_args`` of ``Evoked.plot_joint``.  Copy it before modifying it.
RELEVANCE_PLOT_KWARGS = {
    "scalings": {t: 1.0 for t in _CH_TYPES},
    "units": {t: "relevance (a.u.)" for t in _CH_TYPES},
}


def _import_mne(caller):
    try:
        import mne
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{caller} requires MNE-Python; install it with `pip install 'mne>=1.6'` (or `pip install '.[eeg]'` in a checkout of sklrp).") from exc
    return mne


def _check_info(info, mne):
    if not isinstance(info, mne.Info):
        raise TypeError(f"info must be an mne.Info (e.g. epochs.info); got {type(info).__name__}.")


def _check_tmin(tmin):
    if isinstance(tmin, (bool, np.bool_)) or not isinstance(tmin, numbers.Real) or not np.isfinite(float(tmin)):
        raise TypeError(f"tmin must be a finite real number of seconds; got {tmin!r}.")
    return float(tmin)


def _check_relevance(R, n_channels=None, name="R"):
    """``R`` as a finite float64 host array of shape (n_trials, n_channels, n_times)."""
    if hasattr(R, "toarray"):
        R = R.toarray()
    R = np.asarray(to_host(R))
    if R.ndim != 3:
        raise ValueError(
            f"{name} must be a 3-D array of shape (n_trials, n_channels, n_times), like MNE epochs data; "
            f"got shape {R.shape}. Reshape flat relevance with R.reshape(n_trials, n_channels, n_times)."
        )
    if min(R.shape) == 0:
        raise ValueError(f"{name} must not be empty; got shape {R.shape}.")
    try:
        R = R.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold real numbers; got dtype {R.dtype}.") from exc
    if not np.all(np.isfinite(R)):
        raise ValueError(f"{name} contains NaN or infinity.")
    if n_channels is not None and R.shape[1] != n_channels:
        raise ValueError(
            f"{name} has {R.shape[1]} channels (axis 1) but info has {n_channels} (len(info.ch_names)); "
            "use the info of the data that was explained, picked to the same channels."
        )
    return R


def _check_y(y, n_trials, name="y"):
    y = np.asarray(to_host(y))
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per trial); got shape {y.shape}.")
    if y.shape[0] != n_trials:
        raise ValueError(f"{name} has {y.shape[0]} labels but R has {n_trials} trials.")
    if y.dtype.kind in "fO" and any(isinstance(v, float) and not np.isfinite(v) for v in y.tolist()):
        raise ValueError(f"{name} contains NaN or infinity; give one class label per trial.")
    return y


def _check_classes(y, classes):
    """The labels to keep, in order, as a list of Python scalars."""
    present = np.unique(y).tolist()
    if classes is None:
        return present
    classes = np.asarray(classes).ravel().tolist()
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat labels; got {classes}.")
    missing = [c for c in classes if c not in present]
    if missing:
        raise ValueError(f"classes {missing} have no trial in y (labels present: {present}).")
    return classes


def relevance_to_evoked(R, info, *, tmin=0.0, y=None, classes=None, per_trial=False, comment=None):
    """Wrap EEG relevance in MNE objects (class averages or single trials).

    Parameters
    ----------
    R : array of shape (n_trials, n_channels, n_times)
        Relevance of every channel and sample, e.g. from
        ``sklrp.explain(estimator, X)`` with ``X`` of the same shape
        (NumPy or CuPy; moved to the host as float64).
    info : mne.Info
        The measurement info of the explained epochs (``epochs.info``):
        channel names and types, montage and ``sfreq``; it is copied.
        ``len(info.ch_names)`` must equal ``n_channels``.  The channel types
        are kept (``"eeg"``, so that topomaps find the sensor positions);
        see the Notes for plotting without MNE's microvolt scaling.
    tmin : float, default=0.0
        Time of the first sample in seconds (``epochs.tmin``).
    y : array-like of shape (n_trials,), default=None
        Label of each trial.  With ``y``, one average per class is returned;
        without, the average over all trials.
    classes : array-like, default=None
        Labels to keep, in this order (each must occur in ``y``); ``None``
        keeps every label of ``y`` in sorted order.  Needs ``y``.
    per_trial : bool, default=False
        Return the single trials as :class:`mne.EpochsArray` instead of
        averages.  With ``y``, the events carry the labels: ``event_id``
        maps ``str(label)`` to the codes ``1, 2, ...`` in the order of
        ``classes``, and only the trials of ``classes`` are kept.
    comment : str, default=None
        Comment of the averages: ``"relevance"`` (all trials) or the class
        label (per class) when None; with ``y``, a given comment is used as
        the prefix ``f"{comment}: {label}"``.  Ignored when ``per_trial``.

    Returns
    -------
    evoked : mne.EvokedArray, dict of label to mne.EvokedArray, or mne.EpochsArray
        - ``y`` is None: one EvokedArray, the mean over trials
          (``nave = n_trials``);
        - ``y`` given: ``{label: EvokedArray}`` with the mean over the trials
          of each class (``nave`` = their number, ``comment`` = the label),
          in the order of ``classes``;
        - ``per_trial=True``: one EpochsArray of the (selected) trials.

    Raises
    ------
    ValueError
        ``R`` is not 3-D, is empty or contains NaN/inf; its channel count
        differs from ``len(info.ch_names)``; ``y`` is not 1-D or its length
        differs from ``n_trials``; ``classes`` holds a label absent from
        ``y`` or is given without ``y``.
    TypeError
        ``info`` is not an :class:`mne.Info`, or ``tmin`` not a finite real
        number.
    ImportError
        MNE-Python is not installed.

    See Also
    --------
    RELEVANCE_PLOT_KWARGS : Plot keywords that show relevance unscaled.
    csp_relevance_correlation : Relevance topographies against CSP patterns.

    Notes
    -----
    Relevance has no unit and the data are stored unscaled, but MNE's plots
    scale ``"eeg"`` channels by ``1e6`` and label them "µV".  Pass
    ``**RELEVANCE_PLOT_KWARGS`` (``scalings`` of 1 and a "relevance (a.u.)"
    unit label) to ``plot``, ``plot_topomap`` and ``plot_image``, and
    ``ts_args=RELEVANCE_PLOT_KWARGS, topomap_args=RELEVANCE_PLOT_KWARGS`` to
    ``plot_joint``.  Positive relevance is evidence for the explained class,
    negative against it; a diverging colour map centred at zero (MNE's
    default ``"RdBu_r"`` for signed data) shows this.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.eeg import relevance_to_evoked, RELEVANCE_PLOT_KWARGS
    >>> R = sklrp.explain(clf, epochs.get_data(), target=y)  # doctest: +SKIP
    >>> evokeds = relevance_to_evoked(R, epochs.info, tmin=epochs.tmin, y=y)  # doctest: +SKIP
    >>> evokeds[1].plot_topomap(times=[0.5, 1.0], **RELEVANCE_PLOT_KWARGS)  # doctest: +SKIP
    >>> evokeds[1].plot_joint(ts_args=RELEVANCE_PLOT_KWARGS,
    ...                       topomap_args=RELEVANCE_PLOT_KWARGS)  # doctest: +SKIP
    >>> epo = relevance_to_evoked(R, epochs.info, tmin=epochs.tmin, y=y, per_trial=True)  # doctest: +SKIP
    >>> epo["1"].plot_image(picks="Cz", **RELEVANCE_PLOT_KWARGS)  # doctest: +SKIP
    """
    mne = _import_mne("relevance_to_evoked")
    _check_info(info, mne)
    tmin = _check_tmin(tmin)
    R = _check_relevance(R, len(info.ch_names))
    if comment is not None and not isinstance(comment, str):
        raise TypeError(f"comment must be a str or None; got {type(comment).__name__}.")
    info = info.copy()
    n_trials = R.shape[0]
    if y is None:
        if classes is not None:
            raise ValueError("classes needs y (the label of each trial).")
        if per_trial:
            return mne.EpochsArray(R, info, tmin=tmin, verbose=False)
        return mne.EvokedArray(
            R.mean(axis=0), info, tmin=tmin, nave=n_trials,
            comment="relevance" if comment is None else comment, verbose=False,
        )
    y = _check_y(y, n_trials)
    classes = _check_classes(y, classes)
    if per_trial:
        codes = {c: k + 1 for k, c in enumerate(classes)}
        labels = y.tolist()
        keep = np.array([lab in codes for lab in labels])
        idx = np.flatnonzero(keep)
        events = np.column_stack(
            [idx, np.zeros(idx.size, dtype=int), [codes[labels[i]] for i in idx]]
        ).astype(int)
        event_id = {str(c): codes[c] for c in classes}
        if len(event_id) != len(classes):
            raise ValueError(f"The labels {classes} are not distinct as strings; event_id needs distinct names.")
        return mne.EpochsArray(R[idx], info, events=events, tmin=tmin, event_id=event_id, verbose=False)
    out = {}
    labels = y.tolist()
    for c in classes:
        mask = np.array([lab == c for lab in labels])
        name = str(c) if comment is None else f"{comment}: {c}"
        out[c] = mne.EvokedArray(
            R[mask].mean(axis=0), info, tmin=tmin, nave=int(mask.sum()), comment=name, verbose=False
        )
    return out


def _class_means(R, y):
    """Per-class mean of ``R`` over trials: (classes, means)."""
    if y is None:
        return ["all"], R.mean(axis=0, keepdims=True)
    y = _check_y(y, R.shape[0])
    classes = np.unique(y).tolist()
    labels = y.tolist()
    means = np.stack([R[np.array([lab == c for lab in labels])].mean(axis=0) for c in classes])
    return classes, means


def _time_mask(times, n_times, time_window):
    """Samples of ``time_window = (start, stop)`` (seconds, inclusive)."""
    if time_window is None:
        return slice(None)
    if times is None:
        raise ValueError("time_window needs times (the time in seconds of each sample, e.g. epochs.times).")
    times = np.asarray(times, dtype=np.float64).ravel()
    if times.shape[0] != n_times:
        raise ValueError(f"times has {times.shape[0]} values but R has {n_times} samples (axis 2).")
    try:
        start, stop = (float(v) for v in time_window)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"time_window must be a pair (start, stop) of seconds; got {time_window!r}.") from exc
    if not start <= stop:
        raise ValueError(f"time_window must have start <= stop; got {time_window!r}.")
    mask = (times >= start) & (times <= stop)
    if not mask.any():
        raise ValueError(
            f"time_window {time_window!r} holds no sample; the samples span [{times[0]:g}, {times[-1]:g}] s."
        )
    return mask


def _patterns(csp_or_patterns, n_patterns):
    if hasattr(csp_or_patterns, "fit") and not isinstance(csp_or_patterns, np.ndarray):
        if not hasattr(csp_or_patterns, "patterns_"):
            raise ValueError(
                f"{type(csp_or_patterns).__name__} is not fitted (it has no patterns_); fit the CSP first."
            )
        P = np.asarray(csp_or_patterns.patterns_, dtype=np.float64)
        if n_patterns is None:
            n_patterns = getattr(csp_or_patterns, "n_components", None)
    else:
        P = np.asarray(to_host(csp_or_patterns), dtype=np.float64)
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2:
        raise ValueError(f"The patterns must be a 2-D array (n_patterns, n_channels); got shape {P.shape}.")
    if not np.all(np.isfinite(P)):
        raise ValueError("The patterns contain NaN or infinity.")
    if n_patterns is not None:
        if not isinstance(n_patterns, (int, np.integer)) or n_patterns < 1:
            raise ValueError(f"n_patterns must be a positive int or None; got {n_patterns!r}.")
        P = P[: int(n_patterns)]
    return P


def _pearson_rows(A, B):
    """Pearson correlation of every row of A with every row of B (NaN for constant rows)."""
    Ac = A - A.mean(axis=1, keepdims=True)
    Bc = B - B.mean(axis=1, keepdims=True)
    na = np.linalg.norm(Ac, axis=1)
    nb = np.linalg.norm(Bc, axis=1)
    const_a = na <= 1e-10 * np.linalg.norm(A, axis=1)  # constant (or zero) rows
    const_b = nb <= 1e-10 * np.linalg.norm(B, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (Ac @ Bc.T) / np.outer(na, nb)
    r[const_a, :] = np.nan
    r[:, const_b] = np.nan
    return np.clip(r, -1.0, 1.0)


def csp_relevance_correlation(R, y, csp_or_patterns, *, time_window=None, times=None, n_patterns=None,
                              absolute=False):
    """Spatial correlation of class-average relevance with CSP patterns.

    For every class, the relevance is averaged over the trials of that
    class and over the samples of ``time_window``, giving one topography
    (one value per channel).  Each topography is correlated (Pearson,
    across channels) with each spatial pattern of a Common Spatial Patterns
    model.  A CSP pattern is the scalp map of a source whose band power
    differs most between the classes; a high ``|r|`` says that the
    classifier drew its evidence for that class from the channels where
    that CSP source projects, i.e. that it relies on the same spatial
    information as CSP.  CSP patterns have an arbitrary sign, so compare
    ``abs_correlation``; the sign of ``correlation`` only says whether the
    relevance follows the pattern or its mirror image.

    Parameters
    ----------
    R : array of shape (n_trials, n_channels, n_times)
        Relevance (NumPy or CuPy), typically explained for the true class
        of each trial (``target=y``) so that class averages are meaningful.
    y : array-like of shape (n_trials,)
        Label of each trial.
    csp_or_patterns : fitted mne.decoding.CSP or array of shape (n_patterns, n_channels)
        A fitted CSP (its ``patterns_``, one pattern per row; by default only
        its first ``n_components`` ones, those its ``transform`` uses), or
        the patterns as rows of an array (a single 1-D pattern is allowed).
    time_window : tuple of (float, float), default=None
        ``(start, stop)`` in seconds (inclusive) of the samples averaged
        into the topography; needs ``times``.  ``None`` uses all samples.
    times : array-like of shape (n_times,), default=None
        Time of every sample in seconds (``epochs.times``).
    n_patterns : int, default=None
        Use only the first ``n_patterns`` patterns; ``None`` uses all rows of
        an array and ``n_components`` of a CSP.
    absolute : bool, default=False
        Average ``|R|`` instead of ``R`` over trials and time (where the
        classifier looks, whatever the sign of the evidence).

    Returns
    -------
    result : sklearn.utils.Bunch
        With the keys

        - ``correlation`` : ndarray of shape (n_classes, n_patterns), the
          signed Pearson correlation (NaN when a topography or a pattern is
          constant across channels);
        - ``abs_correlation`` : ndarray of shape (n_classes, n_patterns),
          its absolute value;
        - ``best`` : ndarray of shape (n_classes,) of int, per class the
          index of the pattern with the largest ``abs_correlation``
          (-1 when all are NaN);
        - ``best_abs_correlation`` : ndarray of shape (n_classes,), that
          largest ``abs_correlation``;
        - ``classes`` : ndarray of shape (n_classes,), the sorted labels
          (the rows);
        - ``topographies`` : ndarray of shape (n_classes, n_channels), the
          class-average relevance topographies;
        - ``patterns`` : ndarray of shape (n_patterns, n_channels), the
          patterns used.

    Raises
    ------
    ValueError
        For a wrongly shaped or non-finite ``R`` or patterns, channel counts
        that differ, a ``y`` of the wrong length, an unfitted CSP, or a
        ``time_window`` without ``times`` or without samples.

    Notes
    -----
    The correlation is descriptive: with few channels it varies a lot
    between data sets, and it ignores the magnitude of the relevance.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.eeg import csp_relevance_correlation
    >>> rng = np.random.default_rng(0)
    >>> pattern = rng.normal(size=8)
    >>> R = np.stack([np.outer(pattern, np.ones(5))] * 4)   # 4 trials, 8 channels, 5 samples
    >>> res = csp_relevance_correlation(R, [0, 0, 1, 1], pattern[None, :])
    >>> res.abs_correlation.round(3)
    array([[1.],
           [1.]])
    >>> res = csp_relevance_correlation(R, y, csp, time_window=(0.5, 2.5),
    ...                                 times=epochs.times)  # doctest: +SKIP
    """
    R = _check_relevance(R)
    if y is None:
        raise ValueError("y (the label of each trial) is required.")
    P = _patterns(csp_or_patterns, n_patterns)
    if P.shape[1] != R.shape[1]:
        raise ValueError(
            f"The patterns cover {P.shape[1]} channels but R has {R.shape[1]}; fit the CSP on the same channels."
        )
    mask = _time_mask(times, R.shape[2], time_window)
    data = np.abs(R) if absolute else R
    classes, means = _class_means(data, y)
    topo = means[:, :, mask].mean(axis=2)
    r = _pearson_rows(topo, P)
    a = np.abs(r)
    best = np.full(len(classes), -1, dtype=np.intp)
    best_abs = np.full(len(classes), np.nan)
    for i in range(len(classes)):
        if np.any(np.isfinite(a[i])):
            best[i] = int(np.nanargmax(a[i]))
            best_abs[i] = a[i, best[i]]
    return Bunch(
        correlation=r,
        abs_correlation=a,
        best=best,
        best_abs_correlation=best_abs,
        classes=np.asarray(classes),
        topographies=topo,
        patterns=P,
    )

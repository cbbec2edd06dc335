"""Topomaps of class-average EEG relevance: rows are classes, columns times."""

import numbers

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from ._evoked import (
    _check_info,
    _check_relevance,
    _check_tmin,
    _class_means,
    _import_mne,
)

__all__ = ["RelevanceTopomapDisplay"]


def _check_times(times, name="times"):
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name} must be a time or a non-empty 1-D sequence of times in seconds; got {times!r}.")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} must be finite; got {times!r}.")
    return t


def _topomap_picks(info):
    """Indices of the channels a topomap can show: all of one type (EEG preferred)."""
    types = info.get_channel_types()
    if len(set(types)) == 1:
        return np.arange(len(types)), types[0]
    if "eeg" in types:
        return np.array([i for i, t in enumerate(types) if t == "eeg"]), "eeg"
    raise ValueError(
        f"info mixes the channel types {sorted(set(types))} and holds no EEG channel; pick the channels of one "
        "type (e.g. info = mne.pick_info(info, picks)) and the same channels of the relevance."
    )


class RelevanceTopomapDisplay:
    """Topomaps of class-average relevance: one row per class, one column per time.

    Each panel shows, on the scalp, the relevance averaged over the trials
    of one class at one time (the nearest sample, or the mean over a time
    window).  A diverging colour map is centred at zero with symmetric
    limits ``[-m, m]`` *shared by all panels* (``m`` the largest absolute
    value shown), so that red marks evidence for the explained class, blue
    evidence against it, and magnitudes compare across classes and times.
    One colour bar serves the whole grid.

    Create it with :meth:`from_estimator` or :meth:`from_relevance`; both
    call :meth:`plot`.

    Parameters
    ----------
    relevance : ndarray of shape (n_classes, n_channels, n_times)
        Class-average relevance.
    info : mne.Info
        Measurement info with the channel positions (a montage);
        ``len(info.ch_names) == n_channels``.
    times : float or array-like of float
        Times in seconds of the columns.
    tmin : float, default=0.0
        Time of the first sample in seconds; the samples are at
        ``tmin + arange(n_times) / info["sfreq"]``.
    labels : sequence, default=None
        Label of each row (class); ``None`` numbers them.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes of shape (n_classes, n_times_shown)
        The topomap axes (rows = classes, columns = ``times``).
    figure_ : matplotlib Figure
    images_ : ndarray of matplotlib AxesImage of shape (n_classes, n_times_shown)
        The topomap images (all with the same colour limits).
    colorbar_ : matplotlib Colorbar or None
    vlim_ : tuple of (float, float)
        The colour limits used, ``(-m, m)`` unless ``vlim`` was a pair.
    data_ : ndarray of shape (n_classes, n_times_shown, n_channels)
        The values drawn.

    See Also
    --------
    relevance_to_evoked : Relevance as MNE Evoked / Epochs objects.

    Notes
    -----
    Only channels of one type are drawn: all channels if ``info`` holds a
    single type, otherwise its EEG channels.

    Examples
    --------
    >>> from sklrp.eeg import RelevanceTopomapDisplay
    >>> disp = RelevanceTopomapDisplay.from_estimator(
    ...     clf, epochs.get_data(), y, epochs.info, times=[0.5, 1.0, 1.5],
    ...     tmin=epochs.tmin, time_window=0.2)  # doctest: +SKIP
    >>> disp.figure_.savefig("relevance_topomaps.png")  # doctest: +SKIP
    """

    def __init__(self, relevance, info, times, *, tmin=0.0, labels=None):
        self.relevance = relevance
        self.info = info
        self.times = times
        self.tmin = tmin
        self.labels = labels

    # ------------------------------------------------------------ factories
    @classmethod
    def from_relevance(cls, R, y, info, *, times, tmin=0.0, ax=None, **plot_kw):
        """Average relevance per class and plot the topomaps.

        Parameters
        ----------
        R : array of shape (n_trials, n_channels, n_times)
            Relevance (NumPy or CuPy).
        y : array-like of shape (n_trials,) or None
            Label of each trial (one row per class, in sorted order);
            ``None`` averages all trials into one row.
        info : mne.Info
            Measurement info with a montage; ``len(info.ch_names) == n_channels``.
        times : float or array-like of float
            Times in seconds of the columns.
        tmin : float, default=0.0
            Time of the first sample (``epochs.tmin``).
        ax : array-like of matplotlib Axes, default=None
            See :meth:`plot`.
        **plot_kw : dict
            ``cmap``, ``vlim``, ``colorbar``, ``time_window`` and keywords of
            :func:`mne.viz.plot_topomap`; see :meth:`plot`.

        Returns
        -------
        display : RelevanceTopomapDisplay
        """
        mne = _import_mne(f"{cls.__name__}.from_relevance")
        _check_info(info, mne)
        R = _check_relevance(R, len(info.ch_names))
        classes, means = _class_means(R, y)
        labels = ["all trials"] if y is None else classes
        disp = cls(means, info, times, tmin=tmin, labels=labels)
        return disp.plot(ax=ax, **plot_kw)

    @classmethod
    def from_estimator(cls, estimator, X, y, info, *, times, tmin=0.0, target="true", method=None, ax=None,
                       **plot_kw):
        """Explain the epochs ``X`` with ``estimator`` and plot the class-average relevance.

        Parameters
        ----------
        estimator : fitted explainable estimator or Pipeline
            Explained with :func:`sklrp.explain`; the relevance (in the input
            space of its last step) must have the shape
            ``(n_trials, n_channels, n_times)``.
        X : array of shape (n_trials, n_channels, n_times)
            The epochs (raw input of ``estimator``).
        y : array-like of shape (n_trials,)
            True label of each trial; the rows group the trials by it.
        info : mne.Info
            Measurement info with a montage.
        times : float or array-like of float
            Times in seconds of the columns.
        tmin : float, default=0.0
            Time of the first sample (``epochs.tmin``).
        target : "true", None or label, default="true"
            What to explain: ``"true"`` the true class of each trial (``y``),
            ``None`` the predicted class, a label that class for all trials.
        method : str, default=None
            Explanation method (``"lrp"``, ``"sensitivity"``, ...); ``None``
            uses the estimator's own.
        ax : array-like of matplotlib Axes, default=None
            See :meth:`plot`.
        **plot_kw : dict
            ``cmap``, ``vlim``, ``colorbar``, ``time_window`` and keywords of
            :func:`mne.viz.plot_topomap`; see :meth:`plot`.

        Returns
        -------
        display : RelevanceTopomapDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        from ..base import explain

        if y is None:
            raise ValueError("y (the true label of each trial) is required; use from_relevance(R, None, ...) "
                             "to average all trials.")
        if isinstance(target, str) and target == "true":
            target = np.asarray(y)
        kwargs = {} if method is None else {"method": method}
        R = explain(estimator, X, target=target, **kwargs)
        if getattr(R, "ndim", None) != 3:
            raise ValueError(
                f"The relevance returned by explain has shape {getattr(R, 'shape', None)}; a topomap needs "
                "(n_trials, n_channels, n_times). Reshape it and use from_relevance."
            )
        return cls.from_relevance(R, y, info, times=times, tmin=tmin, ax=ax, **plot_kw)

    # ----------------------------------------------------------------- plot
    def _panel_data(self, rel, times, time_window):
        """Values per (class, time, channel): nearest sample or window mean."""
        sfreq = float(self.info["sfreq"])
        tmin = _check_tmin(self.tmin)
        n_times = rel.shape[2]
        sample_times = tmin + np.arange(n_times) / sfreq
        half = 0.5 / sfreq
        out_of_range = (times < sample_times[0] - half) | (times > sample_times[-1] + half)
        if out_of_range.any():
            raise ValueError(
                f"times {times[out_of_range].tolist()} lie outside the data, which spans "
                f"[{sample_times[0]:g}, {sample_times[-1]:g}] s (tmin={tmin:g}, sfreq={sfreq:g})."
            )
        if time_window is not None and (
            isinstance(time_window, (bool, np.bool_))
            or not isinstance(time_window, numbers.Real)
            or not (np.isfinite(time_window) and time_window >= 0)
        ):
            raise ValueError(f"time_window must be a non-negative number of seconds or None; got {time_window!r}.")
        data = np.empty((rel.shape[0], times.size, rel.shape[1]))
        for j, t in enumerate(times):
            nearest = int(np.argmin(np.abs(sample_times - t)))
            sel = [nearest]
            if time_window is not None:
                window = np.flatnonzero(np.abs(sample_times - t) <= time_window / 2 + 1e-9 / sfreq)
                if window.size:
                    sel = window
            data[:, j, :] = rel[:, :, sel].mean(axis=2)
        return data

    def plot(self, ax=None, *, cmap="RdBu_r", vlim=None, colorbar=True, time_window=None, **topomap_kwargs):
        """Draw the grid of topomaps.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            ``n_classes * len(times)`` Axes, in row-major order (rows =
            classes) or as a 2-D array of that shape.  ``None`` creates a
            figure.
        cmap : str or Colormap, default="RdBu_r"
            A diverging colour map; its centre is mapped to zero relevance.
        vlim : float or tuple of (float, float), default=None
            Colour limits shared by all panels: ``m`` gives ``(-m, m)``, a
            pair is used as given; ``None`` uses ``m`` = the largest
            absolute value shown.
        colorbar : bool, default=True
            Add one colour bar for the whole grid.
        time_window : float, default=None
            Width in seconds of a window centred on each time whose samples
            are averaged; ``None`` (or a window holding no sample) uses the
            nearest sample.
        **topomap_kwargs : dict
            Passed to :func:`mne.viz.plot_topomap` (e.g. ``sensors``,
            ``contours``, ``sphere``, ``extrapolate``, ``res``;
            ``image_interp="nearest"`` draws much faster than the default
            cubic interpolation).

        Returns
        -------
        self : RelevanceTopomapDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        mne = _import_mne(f"{type(self).__name__}.plot")
        _check_info(self.info, mne)
        rel = np.asarray(self.relevance, dtype=np.float64)
        if rel.ndim == 2:
            rel = rel[None]
        rel = _check_relevance(rel, len(self.info.ch_names), name="relevance")
        n_rows = rel.shape[0]
        times = _check_times(self.times)
        n_cols = times.size
        labels = list(range(n_rows)) if self.labels is None else list(self.labels)
        if len(labels) != n_rows:
            raise ValueError(f"labels must hold one label per class ({n_rows}); got {len(labels)}.")
        data = self._panel_data(rel, times, time_window)
        picks, ch_type = _topomap_picks(self.info)
        info = mne.pick_info(self.info, picks, verbose=False) if picks.size != len(self.info.ch_names) else self.info
        data = data[:, :, picks]

        if vlim is None:
            m = float(np.abs(data).max())
            m = m if m > 0 else 1.0
            lims = (-m, m)
        elif isinstance(vlim, numbers.Real) and not isinstance(vlim, (bool, np.bool_)):
            m = float(vlim)
            if not (np.isfinite(m) and m > 0):
                raise ValueError(f"vlim must be a positive number or a pair (vmin, vmax); got {vlim!r}.")
            lims = (-m, m)
        else:
            try:
                lo, hi = (float(v) for v in vlim)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"vlim must be a positive number or a pair (vmin, vmax); got {vlim!r}.") from exc
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"vlim must satisfy vmin < vmax; got {vlim!r}.")
            lims = (lo, hi)

        if ax is None:
            fig, axes = plt.subplots(
                n_rows, n_cols, figsize=(1.8 * n_cols + (1.0 if colorbar else 0.4), 1.8 * n_rows + 0.4),
                squeeze=False, layout="constrained",
            )
        else:
            axes = np.asarray(ax, dtype=object).ravel()
            if axes.size != n_rows * n_cols:
                raise ValueError(
                    f"ax holds {axes.size} Axes but the grid has {n_rows} classes x {n_cols} times = "
                    f"{n_rows * n_cols} panels."
                )
            axes = axes.reshape(n_rows, n_cols)
            fig = axes[0, 0].figure

        images = np.empty((n_rows, n_cols), dtype=object)
        for i in range(n_rows):
            for j in range(n_cols):
                a = axes[i, j]
                im, _ = mne.viz.plot_topomap(
                    data[i, j], info, ch_type=ch_type, axes=a, cmap=cmap, vlim=lims, show=False, **topomap_kwargs
                )
                images[i, j] = im
                if i == 0:
                    a.set_title(f"{times[j]:.3f} s", fontsize="small")
                if j == 0:
                    a.set_ylabel(str(labels[i]), fontsize="small")
        self.colorbar_ = None
        if colorbar:
            self.colorbar_ = fig.colorbar(images[0, 0], ax=axes.ravel().tolist(), shrink=0.8)
            self.colorbar_.set_label("relevance")
        self.figure_ = fig
        self.ax_ = axes
        self.images_ = images
        self.vlim_ = lims
        self.data_ = data
        return self

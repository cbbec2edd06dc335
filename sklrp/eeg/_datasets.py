"""EEG data: the PhysioNet EEG Motor Movement/Imagery data set (EEGBCI) read
offline with MNE, and motor-imagery trials with a known ground truth made
from its resting recordings.

Nothing here downloads: the EDF files are looked up on disk first, in MNE's
own layout (``<root>/MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R04.edf``),
and a clear :class:`FileNotFoundError` is raised when they are absent.
"""

import numbers
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..datasets._base import get_data_home

__all__ = ["STAGED_SUBJECTS", "load_eegbci", "simulate_motor_imagery"]

#: Runs of each EEGBCI subject staged in sklrp's shared data folder
#: (``shared/data/eegbci``); subject number -> tuple of run numbers.
#: Runs 1/2 are the eyes-open/eyes-closed baselines, 4/8/12 left vs right fist
#: imagery, 6/10/14 both fists vs both feet imagery, 3/7/11 left vs right fist
#: execution and 5/9/13 fists vs feet execution.
STAGED_SUBJECTS = {
    1: tuple(range(1, 15)),
    2: (4, 6, 8, 12),
    3: (4, 6, 8, 12),
    4: (4, 6, 8, 12, 14),
    5: (4, 6, 8, 12),
    6: (4, 6, 8, 12),
    7: (4, 6, 8, 12),
    8: (4, 6, 8, 12),
    9: (4, 6, 8, 12),
    10: (4, 6, 8, 12),
    11: (4, 8, 12),
    12: (4, 8, 12),
    13: (4, 8, 12),
    15: (4, 6, 8, 10, 12, 14),
    32: (3,),
    42: (4, 6, 8, 10, 12, 14),
}

# task -> (runs, {annotation code: event name}); event ids are 1 and 2 in that order.
_TASKS = {
    "left_right": ((4, 8, 12), {"T1": "left", "T2": "right"}),
    "hands_feet": ((6, 10, 14), {"T1": "hands", "T2": "feet"}),
    "left_right_execution": ((3, 7, 11), {"T1": "left", "T2": "right"}),
    "hands_feet_execution": ((5, 9, 13), {"T1": "hands", "T2": "feet"}),
}

_BASELINE_RUNS = (1, 2)  # S001 eyes open, eyes closed
_REST_BAND = (1.0, 40.0)  # band-pass applied to the resting EEG before cutting trials
_TAPER_ALPHA = 0.25  # Tukey taper of the desynchronisation envelope (fraction of the window)
_N_SUBJECTS = 109


# --------------------------------------------------------------------------- helpers
def _import_mne():
    try:
        import mne
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sklrp.eeg needs MNE-Python; install it with `pip install 'mne>=1.6'` (or `pip install '.[eeg]'` in a checkout of sklrp)."
        ) from exc
    return mne


def _eeg_root(path=None):
    """``path``, else ``$MNE_DATA``, else ``get_data_home() / "eegbci"``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("MNE_DATA")
    if env:
        return Path(env).expanduser()
    return get_data_home() / "eegbci"


def _root_hint(path=None):
    """How the data root was chosen and how to choose another, for a missing-file message."""
    if path is not None:
        chosen = "the `path` argument"
    elif os.environ.get("MNE_DATA"):
        chosen = "MNE_DATA"
    else:
        env = os.environ.get("SKLRP_DATA")
        chosen = f"the eegbci/ folder of sklrp's data home (SKLRP_DATA={env!r}, else ~/sklrp_data)"
    return (f"That folder is {chosen}. Set `path` or MNE_DATA to the folder that holds 'MNE-eegbci-data', or "
            "SKLRP_DATA to a data home whose eegbci/ folder holds it (read when MNE_DATA is unset); nothing is "
            "downloaded.")


def _subject_folder(root, subject):
    return Path(root, "MNE-eegbci-data", "files", "eegmmidb", "1.0.0", f"S{subject:03d}")


def _run_file(root, subject, run):
    return _subject_folder(root, subject) / f"S{subject:03d}R{run:02d}.edf"


def _check_subject(subject):
    if isinstance(subject, (bool, np.bool_)) or not isinstance(subject, (int, np.integer)):
        raise ValueError(f"subject must be an integer between 1 and {_N_SUBJECTS}; got {subject!r}.")
    if not 1 <= int(subject) <= _N_SUBJECTS:
        raise ValueError(f"subject must be between 1 and {_N_SUBJECTS}; got {subject}.")
    return int(subject)


def _staged_for(runs):
    """Staged subjects with at least one of ``runs``, as 'S001, S002, ...'."""
    subs = [s for s, staged in sorted(STAGED_SUBJECTS.items()) if set(staged) & set(runs)]
    return ", ".join(f"S{s:03d}" for s in subs) if subs else "none"


def _montage_name(mne):
    # MNE 1.13 renamed "standard_1005" to "colin27_1005" (same positions) and deprecated the old name.
    return "colin27_1005" if "colin27_1005" in mne.channels.get_builtin_montages() else "standard_1005"


def _read_runs(mne, files, verbose):
    raws = [mne.io.read_raw_edf(f, preload=True, verbose=verbose) for f in files]
    raw = mne.concatenate_raws(raws, verbose=verbose) if len(raws) > 1 else raws[0]
    mne.datasets.eegbci.standardize(raw)  # 'C3..' -> 'C3', 'Fp1.' -> 'Fp1', ...
    raw.set_montage(_montage_name(mne), verbose=verbose)
    return raw


# --------------------------------------------------------------------------- load_eegbci
def load_eegbci(subject, task="left_right", *, tmin=-1.0, tmax=4.0, l_freq=7.0, h_freq=30.0,
                resample=None, baseline=None, path=None, picks="eeg", verbose=False):
    """Epochs of one subject of the EEG Motor Movement/Imagery data set (offline).

    Reads the subject's EDF runs for ``task`` with MNE, concatenates them,
    standardises the channel names (``eegbci.standardize``), sets the 10-05
    montage, band-pass filters, optionally resamples, and cuts epochs around
    the cue onsets (annotations ``T1``/``T2``).  Nothing is downloaded: the
    files are looked up on disk first.

    Only the task's runs present on disk are loaded.  In sklrp's staged copy
    (see :data:`STAGED_SUBJECTS`) this is all three runs, hence 45 epochs,
    except for ``hands_feet`` of S002-S010, which have run 6 only: 15 epochs
    (S004 also has run 14: 30 epochs).  The execution tasks are staged for
    S001 (and run 3 of S032) only.

    Parameters
    ----------
    subject : int
        Subject number, 1 to 109.
    task : {"left_right", "hands_feet", "left_right_execution", \
"hands_feet_execution"}, default="left_right"
        ``"left_right"``: left vs right fist motor imagery, runs 4, 8, 12;
        ``"hands_feet"``: both fists vs both feet imagery, runs 6, 10, 14;
        the ``*_execution`` variants: the same movements executed, runs
        3, 7, 11 and 5, 9, 13.
    tmin, tmax : float, default=-1.0, 4.0
        Epoch start and end in seconds relative to the cue (both included).
    l_freq, h_freq : float or None, default=7.0, 30.0
        Band-pass edges in Hz (``raw.filter``; FIR, zero phase, not across
        run boundaries); no filtering when both are None.
    resample : float or None, default=None
        New sampling frequency in Hz; the continuous data are resampled after
        filtering and before epoching.  None keeps the native 160 Hz.
    baseline : None or tuple, default=None
        Passed to :class:`mne.Epochs` (None: no baseline correction).
    path : str or path-like, default=None
        Folder holding ``MNE-eegbci-data``; default ``$MNE_DATA``, else
        ``get_data_home() / "eegbci"`` (see :func:`sklrp.datasets.get_data_home`).
    picks : str or list, default="eeg"
        Channels to keep, as for :class:`mne.Epochs`.
    verbose : bool or str, default=False
        MNE's verbosity.

    Returns
    -------
    epochs : mne.Epochs
        Preloaded.  ``epochs.get_data()`` has shape ``(n_epochs, 64, n_times)``
        (``n_times = 801`` with the defaults at 160 Hz); the event ids are
        ``{"left": 1, "right": 2}`` (left/right tasks) or
        ``{"hands": 1, "feet": 2}`` (hands/feet tasks), so
        ``epochs.events[:, -1]`` are the labels in {1, 2}.  Data are in volts.

    Raises
    ------
    ValueError
        Unknown ``task``, or ``subject`` not an integer in 1..109.
    FileNotFoundError
        None of the task's runs is on disk for this subject; the message names
        the folder searched and the staged subjects for the task.

    Examples
    --------
    >>> from sklrp.eeg import load_eegbci
    >>> epochs = load_eegbci(1, "left_right")  # doctest: +SKIP
    >>> epochs.get_data().shape  # doctest: +SKIP
    (45, 64, 801)
    >>> epochs.event_id  # doctest: +SKIP
    {'left': 1, 'right': 2}
    >>> X, y = epochs.get_data(), epochs.events[:, -1]  # doctest: +SKIP
    >>> len(load_eegbci(2, "hands_feet"))  # only run 6 is staged  # doctest: +SKIP
    15
    """
    if task not in _TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(_TASKS)}.")
    subject = _check_subject(subject)
    if resample is not None and (isinstance(resample, (bool, np.bool_)) or not isinstance(resample, numbers.Real)
                                 or not 0 < resample < np.inf):
        raise ValueError(f"resample must be a positive sampling frequency in Hz, or None; got {resample!r}.")
    runs, codes = _TASKS[task]
    root = _eeg_root(path)
    files = [_run_file(root, subject, r) for r in runs]
    files = [f for f in files if f.is_file()]
    if not files:
        raise FileNotFoundError(
            f"No EEGBCI files for subject {subject} (S{subject:03d}), task {task!r} (runs "
            f"{', '.join(map(str, runs))}) in {_subject_folder(root, subject)}. Staged subjects for "
            f"this task: {_staged_for(runs)}. {_root_hint(path)}"
        )
    mne = _import_mne()
    raw = _read_runs(mne, files, verbose)
    raw.annotations.rename(codes)
    if l_freq is not None or h_freq is not None:
        raw.filter(l_freq, h_freq, skip_by_annotation="edge", verbose=verbose)
    if resample is not None:
        raw.resample(resample, verbose=verbose)
    event_id = {name: i for i, name in enumerate(codes.values(), start=1)}
    events, _ = mne.events_from_annotations(raw, event_id=event_id, verbose=verbose)
    return mne.Epochs(raw, events, event_id=event_id, tmin=tmin, tmax=tmax, baseline=baseline,
                      preload=True, picks=picks, verbose=verbose)


# --------------------------------------------------------------------------- simulate_motor_imagery
def _load_rest(root, sfreq, verbose=False, path=None):
    """S001's resting runs, band-passed to 1-40 Hz (and resampled): (list of arrays, info)."""
    files = [_run_file(root, 1, r) for r in _BASELINE_RUNS]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"simulate_motor_imagery needs the resting runs 1 and 2 of subject 1 (S001R01.edf, "
            f"S001R02.edf); not found: {', '.join(f.name for f in missing)} in {_subject_folder(root, 1)}. "
            f"Staged subjects with these runs: {_staged_for(_BASELINE_RUNS)}. {_root_hint(path)}"
        )
    mne = _import_mne()
    data, info = [], None
    for f in files:
        raw = _read_runs(mne, [f], verbose)
        raw.pick("eeg")
        raw.filter(*_REST_BAND, verbose=verbose)
        if sfreq is not None:
            raw.resample(sfreq, verbose=verbose)
        data.append(raw.get_data())
        info = raw.info
    return data, info


def _neighbours(info, channels, radius):
    pos = info.get_montage().get_positions()["ch_pos"]
    names = info["ch_names"]
    out = {}
    for ch in channels:
        d = {n: float(np.linalg.norm(np.asarray(pos[n]) - np.asarray(pos[ch]))) for n in names if n != ch}
        out[ch] = sorted((n for n in d if d[n] <= radius), key=d.get)
    return out


def simulate_motor_imagery(n_trials=100, *, channels=("C3", "C4"), band=(8.0, 12.0), window=(0.5, 2.5),
                           amplitude=0.5, tmin=0.0, tmax=4.0, sfreq=None, random_state=None, path=None,
                           neighbour_radius=0.06):
    """Left vs right hand motor-imagery trials with a known ground truth.

    Real resting EEG plus a simulated event-related desynchronisation (ERD)
    of the mu rhythm over the motor cortex contralateral to the imagined hand,
    so that explanation methods can be scored against where and when the
    class information really is.

    How the trials are made:

    1. The resting recordings of subject 1 (run 1, eyes open, and run 2,
       eyes closed; 61 s each, 64 channels, 160 Hz) are band-passed to
       1-40 Hz (and resampled to ``sfreq`` if given).
    2. Each trial is a ``tmax - tmin`` second segment starting at a random
       sample of either run (segments never cross the run boundary; with
       2 x 61 s of data, trials of different indices overlap in time).
       ``times`` runs from ``tmin`` to ``tmax`` (both included) and only labels
       the time axis.  Labels are balanced: ``n_trials // 2`` or
       ``n_trials // 2 + 1`` per class, in random order.
    3. ERD: for class 0 (``"left"``) the right-hemisphere channel
       ``channels[1]`` (C4), for class 1 (``"right"``) the left-hemisphere
       channel ``channels[0]`` (C3), is changed to
       ``x - amplitude * envelope(t) * x_band(t)``, where ``x_band`` is the
       channel's ``band`` component (zero-phase FIR band-pass of the
       continuous recording, :func:`mne.filter.filter_data`) and
       ``envelope`` is a Tukey window (25 % cosine taper) equal to 1 inside
       ``window`` except the ramps and 0 outside it.  On the envelope's
       plateau the band power of that channel is multiplied by
       ``(1 - amplitude) ** 2`` (0.25 with the default: a 75 % ERD).  All
       other channels and samples are untouched, so the trials differ from
       the resting EEG only there.

    Parameters
    ----------
    n_trials : int, default=100
    channels : tuple of 2 str, default=("C3", "C4")
        Left- and right-hemisphere channels that carry the ERD.
    band : tuple of 2 float, default=(8.0, 12.0)
        Frequency band (Hz) of the desynchronised rhythm.
    window : tuple of 2 float, default=(0.5, 2.5)
        Start and end (s, on the ``times`` axis) of the ERD.
    amplitude : float in [0, 1], default=0.5
        Fraction of the band component removed (0: no class information).
    tmin, tmax : float, default=0.0, 4.0
        Time axis of a trial, in seconds.
    sfreq : float or None, default=None
        Sampling frequency; None keeps the native 160 Hz.
    random_state : int, RandomState instance or None, default=None
        Seeds the labels and the start points (the same seed gives the same
        segments and labels for any ``amplitude``, ``band`` or ``window``).
    path : str or path-like, default=None
        Folder holding ``MNE-eegbci-data``, as for :func:`load_eegbci`.
    neighbour_radius : float, default=0.06
        Distance (m) between montage positions within which a channel counts
        as a neighbour of an ERD channel.  The default 6 cm gives the eight
        surrounding 10-10 electrodes (C3: CP3, FC3, C5, C1, CP5, FC1, FC5,
        CP1, at 3.5-5.4 cm; the next ones, P3 and F3, are ~7 cm away).

    Returns
    -------
    Bunch
        X : ndarray of shape (n_trials, 64, n_times), float64
            EEG in volts (``n_times = round((tmax - tmin) * sfreq) + 1``:
            641 with the defaults).
        y : ndarray of shape (n_trials,), int64
            0 = left hand imagery (ERD over ``channels[1]``), 1 = right hand
            imagery (ERD over ``channels[0]``).
        target_names : ndarray
            ``["left", "right"]``.
        info : mne.Info
            Channel names, sampling frequency and the 10-05 montage.
        ch_names : list of str
            The 64 channel names.
        sfreq : float
            Sampling frequency in Hz.
        times : ndarray of shape (n_times,)
            Time of each sample in seconds.
        channels : tuple of 2 str
            The ERD channels, as given.
        erd_channels : tuple of 2 str
            The ERD channel of each class: ``(channels[1], channels[0])``.
        band, window, amplitude : tuple, tuple, float
            As given.
        envelope : ndarray of shape (n_times,)
            The taper in [0, 1] multiplying the removed band component.
        neighbours : dict
            ERD channel -> names of the channels within ``neighbour_radius``,
            nearest first.
        truth : ndarray of shape (2, 64, n_times), bool
            Per class, True for the class's ERD channel and its neighbours at
            the samples inside ``window`` (``window[0] <= t <= window[1]``):
            where a faithful explanation should put its relevance.
        truth_injected : ndarray of shape (2, 64, n_times), bool
            As ``truth`` but the ERD channel only (where X was changed).
        sources : ndarray of shape (n_trials, 2), int
            Run (1 or 2) and first sample (at ``sfreq``) of each segment.

    Raises
    ------
    FileNotFoundError
        S001's runs 1 or 2 are not on disk.
    ValueError
        Invalid arguments.

    Examples
    --------
    >>> from sklrp.eeg import simulate_motor_imagery
    >>> sim = simulate_motor_imagery(100, random_state=0)  # doctest: +SKIP
    >>> sim.X.shape, sim.truth.shape  # doctest: +SKIP
    ((100, 64, 641), (2, 64, 641))
    >>> sim.neighbours["C3"][:4]  # doctest: +SKIP
    ['CP3', 'FC3', 'C5', 'C1']
    """
    if isinstance(n_trials, (bool, np.bool_)) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer; got {n_trials!r}.")
    channels = tuple(channels)
    if len(channels) != 2 or channels[0] == channels[1]:
        raise ValueError(f"channels must be two different channel names; got {channels!r}.")
    lo, hi = (float(b) for b in band)
    if not 0 < lo < hi:
        raise ValueError(f"band must satisfy 0 < low < high; got {band!r}.")
    if not tmin < tmax:
        raise ValueError(f"tmin must be smaller than tmax; got {tmin!r}, {tmax!r}.")
    w0, w1 = (float(w) for w in window)
    if not tmin <= w0 < w1 <= tmax:
        raise ValueError(f"window must satisfy tmin <= start < end <= tmax; got {window!r}.")
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"amplitude must be in [0, 1]; got {amplitude!r}.")
    if sfreq is not None and not sfreq > 0:
        raise ValueError(f"sfreq must be positive; got {sfreq!r}.")

    data, info = _load_rest(_eeg_root(path), sfreq, path=path)
    mne = _import_mne()
    fs = float(info["sfreq"])
    if hi >= fs / 2:
        raise ValueError(f"band must lie below the Nyquist frequency {fs / 2} Hz; got {band!r}.")
    ch_names = list(info["ch_names"])
    unknown = [c for c in channels if c not in ch_names]
    if unknown:
        raise ValueError(f"Unknown channels {unknown}; choose among {ch_names}.")
    idx = [ch_names.index(c) for c in channels]

    n_times = int(round((tmax - tmin) * fs)) + 1
    times = tmin + np.arange(n_times) / fs
    n_valid = np.array([d.shape[1] - n_times + 1 for d in data])
    if (n_valid < 1).any():
        raise ValueError(f"Trials of {tmax - tmin} s are longer than the resting runs.")

    rng = check_random_state(random_state)
    y = rng.permutation(np.arange(n_trials) % 2).astype(np.int64)
    draw = rng.randint(0, int(n_valid.sum()), size=n_trials)
    run_idx = np.searchsorted(np.cumsum(n_valid), draw, side="right")
    starts = draw - np.concatenate([[0], np.cumsum(n_valid)[:-1]])[run_idx]

    in_window = (times >= w0) & (times <= w1)
    envelope = np.zeros(n_times)
    from scipy.signal.windows import tukey

    envelope[in_window] = tukey(int(in_window.sum()), alpha=_TAPER_ALPHA)

    # band component of the two ERD channels, on the continuous recordings (no edge effects in trials)
    band_parts = [mne.filter.filter_data(d[idx], fs, lo, hi, verbose=False) for d in data]
    X = np.empty((n_trials, len(ch_names), n_times))
    erd_row = [1, 0]  # class 0 (left hand) -> right hemisphere channel, class 1 -> left hemisphere
    for i, (r, s) in enumerate(zip(run_idx, starts)):
        X[i] = data[r][:, s : s + n_times]
        if amplitude > 0:
            k = erd_row[y[i]]
            X[i, idx[k]] -= amplitude * envelope * band_parts[r][k, s : s + n_times]

    erd_channels = (channels[1], channels[0])
    neighbours = _neighbours(info, channels, neighbour_radius)
    truth = np.zeros((2, len(ch_names), n_times), dtype=bool)
    truth_injected = np.zeros_like(truth)
    for c, ch in enumerate(erd_channels):
        truth_injected[c, ch_names.index(ch)] = in_window
        for n in [ch, *neighbours[ch]]:
            truth[c, ch_names.index(n)] = in_window

    return Bunch(
        X=X, y=y, target_names=np.array(["left", "right"]), info=info, ch_names=ch_names, sfreq=fs,
        times=times, channels=channels, erd_channels=erd_channels, band=(lo, hi), window=(w0, w1),
        amplitude=float(amplitude), envelope=envelope, neighbours=neighbours, truth=truth,
        truth_injected=truth_injected,
        sources=np.column_stack([np.asarray(_BASELINE_RUNS)[run_idx], starts]).astype(np.int64),
    )

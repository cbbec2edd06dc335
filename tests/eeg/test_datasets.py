"""EEGBCI loader and the simulated motor-imagery data set (offline, MNE)."""

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import welch

from sklrp.eeg._datasets import STAGED_SUBJECTS, load_eegbci, simulate_motor_imagery

pytest.importorskip("mne")

REPO = Path(__file__).resolve().parents[2]


def _eeg_root():
    """``$MNE_DATA``, ``$SKLRP_DATA/eegbci`` or ``../shared/data/eegbci`` beside the checkout, if it holds S001's files."""
    cands = [Path(os.environ["MNE_DATA"])] if os.environ.get("MNE_DATA") else []
    if os.environ.get("SKLRP_DATA"):
        cands.append(Path(os.environ["SKLRP_DATA"]) / "eegbci")
    cands.append(REPO.parent / "shared" / "data" / "eegbci")
    for root in cands:
        if (root / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0" / "S001" / "S001R04.edf").is_file():
            return root
    return None


@pytest.fixture(scope="module")
def eeg_root():
    root = _eeg_root()
    if root is None:
        pytest.skip("EEGBCI files not available: set MNE_DATA to the folder holding MNE-eegbci-data")
    return root


@pytest.fixture(scope="module")
def left_right(eeg_root):
    return load_eegbci(1, "left_right", path=eeg_root)


@pytest.fixture(scope="module")
def sim(eeg_root):
    return simulate_motor_imagery(60, random_state=0, path=eeg_root)


@pytest.fixture(scope="module")
def sim_rest(eeg_root):
    """Same segments and labels as ``sim``, without the desynchronisation."""
    return simulate_motor_imagery(60, random_state=0, amplitude=0.0, path=eeg_root)


def _band_power(x, sfreq, band=(8.0, 12.0)):
    f, p = welch(x, fs=sfreq, nperseg=x.shape[-1])
    return p[..., (f >= band[0]) & (f <= band[1])].sum(axis=-1)


# --------------------------------------------------------------------------- load_eegbci
def test_left_right_subject_1(left_right):
    ep = left_right
    X = ep.get_data()
    assert X.shape == (45, 64, 801)
    assert ep.event_id == {"left": 1, "right": 2}
    np.testing.assert_array_equal(np.bincount(ep.events[:, -1]), [0, 23, 22])
    assert ep.info["sfreq"] == 160.0
    assert ep.tmin == -1.0 and ep.tmax == 4.0
    assert ep.times[0] == -1.0 and ep.times[-1] == 4.0
    assert {"C3", "C4", "Cz", "Fp1"} <= set(ep.ch_names)
    assert not any(name.endswith(".") for name in ep.ch_names)
    pos = ep.get_montage().get_positions()["ch_pos"]
    assert set(pos) == set(ep.ch_names)
    assert np.isfinite(np.array(list(pos.values()))).all()
    assert np.isfinite(X).all() and np.abs(X).max() < 1e-3  # volts


def test_hands_feet_partial_subject(eeg_root):
    ep = load_eegbci(2, "hands_feet", path=eeg_root)  # S002: run 6 only
    assert len(ep) == 15
    assert ep.event_id == {"hands": 1, "feet": 2}
    assert set(np.unique(ep.events[:, -1])) == {1, 2}


def test_options(eeg_root):
    ep = load_eegbci(1, "left_right", tmin=0.0, tmax=2.0, resample=80.0, l_freq=None, h_freq=None,
                     picks=["C3", "Cz", "C4"], path=eeg_root)
    assert ep.info["sfreq"] == 80.0
    assert ep.get_data().shape == (45, 3, 161)
    assert ep.ch_names == ["C3", "Cz", "C4"]


def test_path_from_environment(eeg_root, monkeypatch):
    monkeypatch.setenv("MNE_DATA", str(eeg_root))
    assert len(load_eegbci(2, "hands_feet")) == 15


def test_missing_subject_names_staged_subjects(eeg_root):
    assert 50 not in STAGED_SUBJECTS
    with pytest.raises(FileNotFoundError, match="S050") as err:
        load_eegbci(50, path=eeg_root)
    msg = str(err.value)
    assert "S001" in msg and "S042" in msg and "left_right" in msg and "S032" not in msg
    with pytest.raises(FileNotFoundError, match="hands_feet"):
        load_eegbci(11, "hands_feet", path=eeg_root)  # S011: left/right runs only


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="left_right"):
        load_eegbci(1, "tongue")
    for bad in ("1", 1.0, True, 0, 110):
        with pytest.raises(ValueError, match="subject"):
            load_eegbci(bad)
    with pytest.raises(FileNotFoundError, match="S001"):
        load_eegbci(1, path=tmp_path)  # nothing there, and nothing is downloaded
    with pytest.raises(FileNotFoundError, match="S001R01"):
        simulate_motor_imagery(4, path=tmp_path)
    for bad in (0, -5, np.inf, "160", True):  # after reading every file, MNE failed with unrelated errors
        with pytest.raises(ValueError, match=r"^resample must be a positive sampling frequency in Hz, or None; got "):
            load_eegbci(1, resample=bad, path=tmp_path)


def test_missing_files_say_how_the_folder_was_chosen(tmp_path, monkeypatch):
    """The loaders read SKLRP_DATA/eegbci when MNE_DATA is unset; the message said only "set path or MNE_DATA"."""
    monkeypatch.delenv("MNE_DATA", raising=False)
    monkeypatch.setenv("SKLRP_DATA", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match=r"in .*home.eegbci.MNE-eegbci-data.* That folder is the eegbci/ "
                                                r"folder of sklrp's data home \(SKLRP_DATA='.*home'"):
        load_eegbci(1)
    monkeypatch.setenv("MNE_DATA", str(tmp_path / "mne"))
    with pytest.raises(FileNotFoundError, match=r"That folder is MNE_DATA\. Set `path` or MNE_DATA"):
        simulate_motor_imagery(4)
    with pytest.raises(FileNotFoundError, match=r"That folder is the `path` argument\."):
        load_eegbci(1, path=tmp_path)


def test_staged_subjects_table():
    assert STAGED_SUBJECTS[1] == tuple(range(1, 15))
    assert STAGED_SUBJECTS[2] == (4, 6, 8, 12)
    assert 14 in STAGED_SUBJECTS[4] and 14 not in STAGED_SUBJECTS[5]
    assert len([s for s, runs in STAGED_SUBJECTS.items() if {4, 8, 12} <= set(runs)]) == 15


# --------------------------------------------------------------------------- simulate_motor_imagery
def test_simulation_shapes(sim):
    n_times = 641  # 4 s at 160 Hz, both ends included
    assert sim.X.shape == (60, 64, n_times) and sim.X.dtype == np.float64
    assert sim.y.shape == (60,) and set(np.unique(sim.y)) == {0, 1}
    np.testing.assert_array_equal(np.bincount(sim.y), [30, 30])
    assert sim.times.shape == (n_times,) and sim.times[0] == 0.0 and sim.times[-1] == pytest.approx(4.0)
    assert sim.sfreq == 160.0 and sim.info["sfreq"] == 160.0
    assert sim.info["ch_names"] == sim.ch_names and len(sim.ch_names) == 64
    assert sim.info.get_montage() is not None
    assert sim.channels == ("C3", "C4") and sim.erd_channels == ("C4", "C3")
    assert sim.truth.shape == sim.truth_injected.shape == (2, 64, n_times)
    assert sim.truth.dtype == bool
    assert sim.sources.shape == (60, 2) and set(np.unique(sim.sources[:, 0])) <= {1, 2}


def test_simulation_reproducible(eeg_root, sim):
    again = simulate_motor_imagery(60, random_state=0, path=eeg_root)
    np.testing.assert_array_equal(again.X, sim.X)
    np.testing.assert_array_equal(again.y, sim.y)
    other = simulate_motor_imagery(60, random_state=1, path=eeg_root)
    assert not np.array_equal(other.X, sim.X)


def test_erd_changes_only_the_contralateral_channel_in_the_window(sim, sim_rest):
    np.testing.assert_array_equal(sim.y, sim_rest.y)
    changed = sim.X != sim_rest.X
    assert not changed[:, :, ~((sim.times >= 0.5) & (sim.times <= 2.5))].any()
    c3, c4 = sim.ch_names.index("C3"), sim.ch_names.index("C4")
    others = np.ones(64, bool)
    others[[c3, c4]] = False
    assert not changed[:, others].any()
    assert not changed[sim.y == 0, c3].any() and changed[sim.y == 0, c4].any()
    assert not changed[sim.y == 1, c4].any() and changed[sim.y == 1, c3].any()
    # every change lies inside the injected-channel truth of the trial's class
    assert not (changed & ~sim.truth_injected[sim.y]).any()


def test_band_power_drops_by_the_documented_factor(sim, sim_rest):
    plateau = sim.envelope == 1.0
    assert plateau.sum() > 200
    for cls, ch in ((0, "C4"), (1, "C3")):
        i, sel = sim.ch_names.index(ch), sim.y == cls
        ratio = _band_power(sim.X[sel, i][:, plateau], sim.sfreq) / _band_power(sim_rest.X[sel, i][:, plateau],
                                                                               sim.sfreq)
        np.testing.assert_allclose(np.median(ratio), (1 - sim.amplitude) ** 2, rtol=0.1)


def test_band_power_contrast_by_class(sim):
    window = (sim.times >= 0.5) & (sim.times <= 2.5)
    c3, c4 = sim.ch_names.index("C3"), sim.ch_names.index("C4")
    log_ratio = np.log(_band_power(sim.X[:, c3][:, window], sim.sfreq)
                       / _band_power(sim.X[:, c4][:, window], sim.sfreq))
    # left hand imagery (0): C4 desynchronised -> C3/C4 larger; right hand (1): smaller
    assert log_ratio[sim.y == 0].mean() > log_ratio[sim.y == 1].mean() + 1.0
    assert (log_ratio[sim.y == 0] > np.median(log_ratio[sim.y == 1])).mean() > 0.9


def test_truth_marks_erd_channels_and_neighbours(sim):
    window = (sim.times >= 0.5) & (sim.times <= 2.5)
    assert set(sim.neighbours) == {"C3", "C4"}
    assert set(sim.neighbours["C3"]) == {"FC3", "C1", "C5", "CP3", "FC5", "FC1", "CP5", "CP1"}
    assert set(sim.neighbours["C4"]) == {"FC4", "C2", "C6", "CP4", "FC6", "FC2", "CP6", "CP2"}
    for cls, ch in ((0, "C4"), (1, "C3")):
        marked = {sim.ch_names[i] for i in np.flatnonzero(sim.truth[cls].any(axis=1))}
        assert marked == {ch, *sim.neighbours[ch]}
        np.testing.assert_array_equal(sim.truth[cls, sim.ch_names.index(ch)], window)
        assert {sim.ch_names[i] for i in np.flatnonzero(sim.truth_injected[cls].any(axis=1))} == {ch}
        assert not sim.truth[cls][:, ~window].any()
    assert sim.envelope[~window].max() == 0.0 and sim.envelope.max() == 1.0


def test_simulation_options_and_errors(eeg_root):
    s = simulate_motor_imagery(5, sfreq=100.0, tmin=-0.5, tmax=1.5, window=(0.0, 1.0), random_state=3,
                               path=eeg_root)
    assert s.X.shape == (5, 64, 201) and s.sfreq == 100.0 and s.times[0] == -0.5
    assert np.bincount(s.y).tolist() in ([2, 3], [3, 2])
    with pytest.raises(ValueError, match="window"):
        simulate_motor_imagery(4, window=(3.0, 5.0), path=eeg_root)
    with pytest.raises(ValueError, match="amplitude"):
        simulate_motor_imagery(4, amplitude=1.5, path=eeg_root)
    with pytest.raises(ValueError, match="channels"):
        simulate_motor_imagery(4, channels=("C3", "XX"), path=eeg_root)
    with pytest.raises(ValueError, match="n_trials"):
        simulate_motor_imagery(0, path=eeg_root)

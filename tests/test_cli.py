"""Tests of the sklrp command line."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from sklrp.cli import main

pytest.importorskip("matplotlib")


def test_demo_quick(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--quick", "--output", str(out_dir)]) == 0
    text = capsys.readouterr().out
    for name in ("heatmaps.png", "perturbation_curves.png"):
        path = out_dir / name
        assert path.exists()
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc = float(re.search(r"test accuracy: (\d\.\d+)", text).group(1))
    assert 0.5 < acc <= 1.0
    aopc = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s*AOPC (.+?): (-?\d+\.\d+)$", text, re.M)}
    assert len(aopc) == 4
    assert any(k.startswith("LRP") for k in aopc)
    assert {"sensitivity", "gradient x input"} <= set(aopc)
    random = next(v for k, v in aopc.items() if k.startswith("random"))
    # every explanation beats perturbing in random order, even after a quick fit
    assert all(v > random for k, v in aopc.items() if not k.startswith("random"))


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_python_m_sklrp_help():
    out = subprocess.run([sys.executable, "-m", "sklrp", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "--quick" in out.stdout


def test_reproduce_lists_and_runs_experiments(capsys, monkeypatch):
    from sklrp.experiments import EXPERIMENTS

    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    assert exc.value.code == 0 and "text-cnn" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "nonsense"])
    assert exc.value.code == 2 and "text-cnn" in capsys.readouterr().err
    module = EXPERIMENTS["text-cnn"][0]
    seen = []
    monkeypatch.setattr(module, "run", seen.append)
    assert main(["reproduce", "text-cnn", "--n-filters", "800", "--dim", "300", "--filter-sizes", "1", "2", "3"]) == 0
    (args,) = seen
    assert (args.n_filters, args.dim, args.filter_sizes, args.settings) == (800, 300, [1, 2, 3], ["headers_kept"])


def test_reproduce_sst_lstm_runs_end_to_end_on_a_small_sample(capsys, monkeypatch, tmp_path):
    from sklrp.datasets import get_data_home, load_sst
    from sklrp.experiments import EXPERIMENTS

    if not (get_data_home() / "sst" / "trees" / "test.txt").is_file():
        pytest.skip("SST data not available (set SKLRP_DATA)")
    module = EXPERIMENTS["sst-lstm"][0]

    def small(subset, **kw):  # 80 items of each class
        b = load_sst(subset, **kw)
        keep = np.concatenate([np.flatnonzero(b.target == c)[:80] for c in range(5)])
        return type(b)(data=[b.data[i] for i in keep], target=b.target[keep])

    monkeypatch.setattr(module, "load_sst", small)
    html = tmp_path / "sst.html"
    assert main(["reproduce", "sst-lstm", "--phrases", "--epochs", "2", "--dim", "8", "--hidden", "8",
                 "--html", str(html)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    figures = [r["figure"] for r in rows]
    assert figures.count("fit") == 2 and figures.count("accuracy") == 2 and figures.count("claim") == 3
    deletion = [r for r in rows if r["figure"] == "word_deletion"]
    assert {r["subset"] for r in deletion} == {"correct", "misclassified"}
    for r in deletion:
        assert r["n_deleted"] == [0, 1, 2, 3, 4, 5] and len(r["lrp"]) == 6
        if r["n_sentences"]:
            assert r["lrp"][0] == (1.0 if r["subset"] == "correct" else 0.0)
    heat = [r for r in rows if r["figure"] == "heatmap"]
    assert heat[0]["tokens"][:3] == ["neither", "funny", "nor"] and len(heat[0]["relevance"]) == 8
    assert "neither" in html.read_text(encoding="utf-8")


def test_reproduce_eeg_runs_end_to_end_on_one_subject(capsys):
    pytest.importorskip("mne")
    from sklrp.eeg._datasets import _eeg_root, _subject_folder

    if not _subject_folder(_eeg_root(), 1).is_dir():
        pytest.skip("EEGBCI data not available (set MNE_DATA)")
    assert main(["reproduce", "eeg", "--tasks", "hands_feet", "--subjects", "1", "--epochs", "1", "--n-splits", "2",
                 "--n-simulated", "24", "--no-transfer"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    acc = [r for r in rows if r["figure"] == "accuracy"]
    assert len(acc) == 1 and acc[0]["subject"] == 1 and 0.0 <= acc[0]["csp_lda"] <= 1.0
    assert 0.0 <= acc[0]["sensorimotor_relevance_share"] <= 1.0
    loc = [r for r in rows if r["figure"] == "localisation"]
    assert len(loc) == 1 and loc[0]["n_test"] == 6
    assert {r["claim"][:12] for r in rows if r["figure"] == "claim"} >= {"hands vs fee", "simulated da"}


# ------------------------------------------------------------------ user errors
@pytest.mark.parametrize("argv, message", [
    (["demo", "--n-heatmaps", "0"], "sklrp demo: error: argument --n-heatmaps: expected a positive integer; got '0'"),
    (["demo", "--n-heatmaps", "-3"], "sklrp demo: error: argument --n-heatmaps: expected a positive integer; got '-3'"),
    (["demo", "--n-heatmaps", "x"], "sklrp demo: error: argument --n-heatmaps: expected an integer; got 'x'"),
    (["reproduce", "text-cnn", "--epochs", "0"],
     "sklrp reproduce text-cnn: error: argument --epochs: expected a positive integer; got '0'"),
    (["reproduce", "sst-lstm", "--dropout", "1.5"],
     "sklrp reproduce sst-lstm: error: argument --dropout: expected a number in [0, 1); got '1.5'"),
    (["reproduce", "sst-lstm", "--learning-rate", "nan"],
     "sklrp reproduce sst-lstm: error: argument --learning-rate: expected a positive number; got 'nan'"),
    (["reproduce", "eeg", "--subjects", "1", "-2"],
     "sklrp reproduce eeg: error: argument --subjects: expected a positive integer; got '-2'"),
])
def test_bad_arguments_are_one_line_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == message
    assert not any("Traceback" in line for line in err)


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--quick", "-o", str(path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"sklrp demo: error: argument --output/-o: {str(path)!r} exists and is not a folder")


def test_unwritable_output_is_one_line_not_a_traceback():
    """/proc/nope passes the access check as root and fails at makedirs: still one line and status 2."""
    out = subprocess.run([sys.executable, "-m", "sklrp", "demo", "--quick", "-o", "/proc/nope/x"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr
    assert re.fullmatch(r"sklrp demo: error: .*(/proc|nope).*", lines[-1]), lines


def test_missing_data_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "sst-lstm", "--data-home", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sklrp reproduce sst-lstm: error: ") and str(tmp_path) in err[-1], err

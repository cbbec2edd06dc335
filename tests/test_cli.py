"""Tests of the sklrp command line."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklrp.cli import main

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ("newsgroups", "mnist-lenet", "lsh", "text-cnn", "sst-lstm", "eeg")


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Run every test in its own folder: a default output folder never lands in the checkout."""
    monkeypatch.chdir(tmp_path)


def _rows(text):
    return [json.loads(line) for line in text.splitlines()]


def _check_output(folder, stdout, figures):
    """results.jsonl holds the JSON lines of stdout; the summary names it and the PNGs, which are PNGs."""
    rows = _rows(stdout)
    assert (folder / "results.jsonl").read_text(encoding="utf-8").splitlines() == stdout.splitlines()
    summary = rows[-1]
    assert summary["figure"] == "summary" and summary["output"] == str(folder.resolve())
    assert summary["files"][0] == "results.jsonl" and set(figures) <= set(summary["files"])
    for name in figures:
        assert (folder / name).read_bytes()[:8] == PNG
    return rows


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


def test_reproduce_lists_and_runs_experiments(capsys, monkeypatch, tmp_path):
    from sklrp.experiments import EXPERIMENTS

    assert tuple(EXPERIMENTS) == NAMES
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    for name, (_, description) in EXPERIMENTS.items():
        assert re.search(rf"^\s+{re.escape(name)}\s", out, re.MULTILINE), name
        assert " ".join(description.split()[:4]) in " ".join(out.split())
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "nonsense"])
    assert exc.value.code == 2 and "text-cnn" in capsys.readouterr().err
    module = EXPERIMENTS["text-cnn"][0]
    seen = []
    monkeypatch.setattr(module, "run", seen.append)
    assert main(["reproduce", "text-cnn", "--n-filters", "800", "--dim", "300", "--filter-sizes", "1", "2", "3"]) == 0
    (args,) = seen
    assert (args.n_filters, args.dim, args.filter_sizes, args.settings) == (800, 300, [1, 2, 3], ["headers_kept"])
    # the default output folder, created before the experiment runs, with the summary in results.jsonl
    folder = tmp_path / "sklrp_reproduce_output" / "text-cnn"
    assert (args.output, args.quiet) == (str(Path("sklrp_reproduce_output", "text-cnn")), False)
    (summary,) = _check_output(folder, capsys.readouterr().out, [])
    assert summary["experiment"] == "text-cnn" and summary["files"] == ["results.jsonl"]


def test_reproduce_without_a_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "sklrp reproduce: error: the following arguments are required: NAME"


def test_reproduce_lsh_runs_end_to_end(capsys, tmp_path):
    out = tmp_path / "lsh"
    assert main(["reproduce", "lsh", "--n", "3000", "--queries", "20", "--candidates", "50", "auto",
                 "-o", str(out)]) == 0
    rows = _check_output(out, capsys.readouterr().out, ["recall_speedup.png"])
    refs = [r for r in rows if r["figure"] == "reference"]
    assert {r["metric"] for r in refs} == {"l2", "cosine", "ip"}
    # the exact routes agree with each other
    assert all(r.get("recall_vs_cosine_metric", 1.0) == 1.0 and r.get("recall_vs_numpy", 1.0) == 1.0 for r in refs)
    queries = [r for r in rows if r["figure"] == "query"]
    assert sorted((r["metric"], str(r["n_candidates"])) for r in queries) == sorted(
        (m, c) for m in ("l2", "cosine", "ip") for c in ("50", "auto"))
    for r in queries:
        assert 0.0 <= r["recall_at_k"] <= 1.0 and r["speedup_vs_reference"] > 0
        assert r["speedup_vs_named_reference"] >= r["speedup_vs_reference"]
    recall_claim, speed_claim = [r for r in rows if r["figure"] == "claim"]
    assert recall_claim["reproduced"] and min(recall_claim["numbers"].values()) >= 0.9
    # at 3,000 points brute force is as fast as the index: the claim is reported, not met
    assert set(speed_claim["numbers"]) == {"l2", "cosine", "ip"}
    assert speed_claim["reproduced"] == (min(speed_claim["numbers"].values()) >= 3.0)
    (build,) = [r for r in rows if r["figure"] == "build"]
    assert build["n_bits"] == 256 and build["codes_MB"] > 0 and build["warmup_seconds"] > 0


def _newsgroups_available():
    from sklrp.datasets import get_data_home
    from sklrp.datasets._newsgroups import _cache_folder
    from sklrp.datasets._pretrained import GLOVE_FILE

    return (Path(_cache_folder()) / "20news-bydate_py3.pkz").is_file() and (
        get_data_home() / "glove" / GLOVE_FILE).is_file()


def test_reproduce_newsgroups_runs_end_to_end_on_a_sample(capsys, tmp_path):
    if not _newsgroups_available():
        pytest.skip("20 Newsgroups or the GloVe subset not available (set SKLRP_DATA / SCIKIT_LEARN_DATA)")
    out = tmp_path / "ng"
    assert main(["reproduce", "newsgroups", "--settings", "headers_kept", "--n-test", "200", "--n-splits", "2",
                 "--n-words", "3", "-o", str(out), "-q"]) == 0
    rows = _check_output(out, capsys.readouterr().out, ["word_deletion.png", "explanatory_power.png"])
    by = {}
    for r in rows:
        by.setdefault(r["figure"], []).append(r)
    (acc,) = by["accuracy"]
    assert acc["n_test"] == 200 and 0.7 < acc["accuracy"] <= 1.0  # the full test set: 0.853
    assert by["conservation"][0]["max_relative_error"] < 1e-6
    assert {r["subset"] for r in by["word_deletion"]} == {"correct", "misclassified"}
    for r in by["word_deletion"]:
        assert r["n_deleted"] == [0, 1, 2, 3] and set(r) >= {"lrp", "sa", "random", "random_std", "n_documents"}
    assert [r["weighting"] for r in by["explanatory_power"]] == ["lrp", "sa", "tfidf", "uniform"]
    assert all(0.0 <= r["epi"] <= 1.0 for r in by["explanatory_power"])
    assert len(by["explanatory_power_variant"]) == 6
    assert {"bias_share", "coverage", "top_words"} <= set(by)
    assert len(by["top_words"][0]["words"]) == 20
    claims = {r["claim"].split(":")[0]: r["reproduced"] for r in by["claim"]}
    assert claims["conservation"] and claims["correctly classified"]


def _mnist_lenet_available():
    from sklrp.datasets import get_data_home
    from sklrp.datasets._pretrained import LENET5_FILE

    home = get_data_home()
    return (home / LENET5_FILE).is_file() and (home / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_reproduce_mnist_lenet_runs_end_to_end_on_a_sample(capsys, tmp_path):
    if not _mnist_lenet_available():
        pytest.skip("MNIST or the LRP toolbox's LeNet-5 not available (set SKLRP_DATA)")
    out = tmp_path / "lenet"
    assert main(["reproduce", "mnist-lenet", "--n-test", "300", "--n-samples", "4", "--patch-sizes", "8",
                 "--n-heatmaps", "2", "-o", str(out), "-q"]) == 0
    rows = _check_output(out, capsys.readouterr().out, ["heatmaps.png", "pixel_flipping.png"])
    by = {}
    for r in rows:
        by.setdefault(r["figure"], []).append(r)
    (acc,) = by["accuracy"]
    assert acc["n_test"] == 300 and acc["accuracy"] >= 0.97 and acc["published_accuracy"] == 0.9923
    conservation = {r["method"]: r for r in by["conservation"]}
    assert conservation["lrp:deep_taylor"]["max_relative_error"] < 1e-6
    flipping = by["pixel_flipping"]
    assert [(r["patch_size"], r["n_steps"], r["replacement"]) for r in flipping] == [(8, 16, "uniform"), (8, 16, -1.0)]
    for r in flipping:
        assert len(r["aopc"]) == 7 and r["ranking"][-1] == "random"
    claims = {r["claim"].split(":")[0]: r["reproduced"] for r in by["claim"]}
    assert set(claims) == {"deep Taylor", "pixel flipping"}  # the accuracy claim only on the whole test set
    assert claims["deep Taylor"]


def test_reproduce_output_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "lsh", "--n", "100", "-o", str(path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"sklrp reproduce lsh: error: argument --output/-o: {str(path)!r} exists and is not a folder")


def test_reproduce_unwritable_output_is_one_line(capsys):
    """/proc/nope passes the access check as root and fails when the folder is made: one line, status 2."""
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "lsh", "--n", "100", "-o", "/proc/nope/x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert re.fullmatch(r"sklrp reproduce lsh: error: .*(/proc|nope).*", err[-1]), err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_on_stderr_unless_quiet(capsys, monkeypatch, tmp_path, quiet):
    stderr = _Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    argv = ["reproduce", "lsh", "--n", "500", "--queries", "5", "--candidates", "50", "-o", str(tmp_path / "o")]
    assert main(argv + ["--quiet"] * quiet) == 0
    text = stderr.getvalue()
    if quiet:
        assert text == ""
    else:
        from sklrp.neighbors._kernels import enabled

        steps = 9 if enabled() else 8  # the NumPy path is timed beside the compiled kernels
        assert "lsh: 100%" in text and f"{steps}/{steps}" in text and "exact inner product" in text
        assert ("NumPy path" in text) == enabled()
    rows = _rows(capsys.readouterr().out)  # the bar never lands on stdout
    assert rows[-1]["figure"] == "summary"


def test_progress_bar_follows_tqdm_when_stderr_is_not_a_terminal(capsys, tmp_path):
    assert main(["reproduce", "lsh", "--n", "500", "--queries", "5", "--candidates", "50",
                 "-o", str(tmp_path / "o")]) == 0
    assert capsys.readouterr().err == ""


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
    out = tmp_path / "sst"
    assert main(["reproduce", "sst-lstm", "--phrases", "--epochs", "2", "--dim", "8", "--hidden", "8",
                 "--html", str(html), "-o", str(out)]) == 0
    rows = _check_output(out, capsys.readouterr().out, ["word_deletion.png"])
    assert "heatmaps.html" in rows[-1]["files"] and "neither" in (out / "heatmaps.html").read_text(encoding="utf-8")
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


def test_reproduce_eeg_runs_end_to_end_on_one_subject(capsys, tmp_path):
    pytest.importorskip("mne")
    from sklrp.eeg._datasets import _eeg_root, _subject_folder

    if not _subject_folder(_eeg_root(), 1).is_dir():
        pytest.skip("EEGBCI data not available (set MNE_DATA)")
    out = tmp_path / "eeg"
    assert main(["reproduce", "eeg", "--tasks", "hands_feet", "--subjects", "1", "--epochs", "1", "--n-splits", "2",
                 "--n-simulated", "24", "--no-transfer", "-o", str(out)]) == 0
    rows = _check_output(out, capsys.readouterr().out, ["accuracy.png", "localisation.png"])
    acc = [r for r in rows if r["figure"] == "accuracy"]
    assert len(acc) == 1 and acc[0]["subject"] == 1 and 0.0 <= acc[0]["csp_lda"] <= 1.0
    assert 0.0 <= acc[0]["sensorimotor_relevance_share"] <= 1.0
    assert 0.0 <= acc[0]["sensorimotor_relevance_share_w2"] <= 1.0
    loc = [r for r in rows if r["figure"] == "localisation"]
    # scored against both injected sites and against the trial's own site (half of the samples)
    assert len(loc) == 2 and loc[0]["n_test"] == 6
    assert loc[1]["truth_share_of_samples"] == pytest.approx(loc[0]["truth_share_of_samples"] / 2)
    for row in loc:
        assert {"lrp_share", "lrp_w2_share", "sensitivity_share", "gradient_x_input_share"} <= set(row)
    assert {r["claim"][:12] for r in rows if r["figure"] == "claim"} >= {"hands vs fee", "simulated da"}


def test_reproduce_eeg_runs_the_requested_subjects_or_names_the_missing_one(capsys, tmp_path):
    """--subjects are run as given: subject 2 (one hands/feet run staged) was dropped silently, and the task
    without subjects then failed with NaN claims and a ZeroDivisionError traceback."""
    pytest.importorskip("mne")
    from sklrp.eeg._datasets import _eeg_root, _run_file

    if not _run_file(_eeg_root(), 2, 6).is_file():
        pytest.skip("EEGBCI subject 2, run 6 not available (set MNE_DATA)")
    out = tmp_path / "eeg"
    assert main(["reproduce", "eeg", "--tasks", "hands_feet", "--subjects", "2", "--epochs", "1", "--n-splits", "2",
                 "--n-simulated", "8", "--no-transfer", "-q", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["subject"] for r in rows if r["figure"] == "accuracy"] == [2]
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "eeg", "--tasks", "hands_feet", "--subjects", "14", "--epochs", "1", "-q",
              "-o", str(tmp_path / "none")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sklrp reproduce eeg: error: No EEGBCI files for subject 14 (S014), task 'hands_feet'")


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
    (["reproduce", "lsh", "--n", "0"],
     "sklrp reproduce lsh: error: argument --n: expected a positive integer; got '0'"),
    (["reproduce", "lsh", "--candidates", "100", "many"],
     "sklrp reproduce lsh: error: argument --candidates: expected an integer; got 'many'"),
    (["reproduce", "newsgroups", "--n-test", "1.5"],
     "sklrp reproduce newsgroups: error: argument --n-test: expected an integer; got '1.5'"),
    (["reproduce", "mnist-lenet", "--patch-sizes", "0"],
     "sklrp reproduce mnist-lenet: error: argument --patch-sizes: expected a positive integer; got '0'"),
])
def test_bad_arguments_are_one_line_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == message
    assert not any("Traceback" in line for line in err)


def test_output_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch, capsys):
    """The shell leaves --output=~/x as it is: the folder is $HOME/x, not a literal ./~ folder; an empty value is
    refused when the arguments are read."""
    from sklrp.experiments._common import output_folder

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert output_folder("~/demo_out") == str(tmp_path / "home" / "demo_out")
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--quick", "--output="])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "sklrp demo: error: argument --output/-o: the output folder must not be empty")
    assert not (tmp_path / "~").exists()


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


@pytest.mark.parametrize("name", ["sst-lstm", "mnist-lenet"])
def test_missing_data_is_one_line(tmp_path, capsys, name):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", name, "--data-home", str(tmp_path), "-o", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"sklrp reproduce {name}: error: ") and str(tmp_path) in err[-1], err
    assert not any("Traceback" in line for line in err)
    assert (tmp_path / "out" / "results.jsonl").is_file()  # the folder was made before the work


def test_missing_glove_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SKLRP_DATA", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "newsgroups", "-o", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sklrp reproduce newsgroups: error: The GloVe vectors not found: "), err
    assert str(tmp_path / "glove") in err[-1] and "SKLRP_DATA" in err[-1]


def test_reproduce_eeg_localisation_with_no_correct_test_trial(capsys, tmp_path, monkeypatch):
    """The simulated data's relevance shares are taken on the correctly classified test trials; with none (a tiny
    --n-simulated) they are taken on all test trials, not on an empty set (which the networks refuse)."""
    pytest.importorskip("mne")
    from sklrp.eeg._datasets import _eeg_root, _run_file
    from sklrp.experiments import _eeg

    if not _run_file(_eeg_root(), 1, 1).is_file():
        pytest.skip("EEGBCI subject 1 resting runs not available (set MNE_DATA)")
    fit = _eeg.fit_quietly

    def wrong(model, X, y):
        model = fit(model, X, y)
        model.predict = lambda X: np.full(len(X), -1)  # no test trial classified correctly
        return model

    monkeypatch.setattr(_eeg, "fit_quietly", wrong)
    assert main(["reproduce", "eeg", "--only-simulated", "--n-simulated", "8", "--epochs", "1", "-q",
                 "-o", str(tmp_path / "eeg")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    loc = [r for r in rows if r["figure"] == "localisation"]
    assert loc and loc[0]["accuracy"] == 0.0 and 0.0 <= loc[0]["lrp_share"] <= 1.0

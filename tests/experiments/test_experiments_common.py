"""The output helpers of sklrp.experiments: JSON lines, the output folder, figures, the progress bar."""

import io
import json
import sys

import pytest

from sklrp.experiments import build_parser, reproduce
from sklrp.experiments._common import RESULTS_FILE, Recorder, Steps, emit, new_figure, output_file, save_figure


def _figure():
    fig = new_figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    return fig


def test_outside_a_recorder_lines_go_to_stdout_only_and_no_file_is_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    emit(figure="x", value=1)
    assert json.loads(capsys.readouterr().out) == {"figure": "x", "value": 1}
    assert output_file("a.html") is None and save_figure(_figure(), "a.png") is None
    assert list(tmp_path.iterdir()) == []


def test_recorder_writes_lines_and_files_into_its_folder(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "new" / "folder"
    with Recorder(folder) as rec:
        assert folder.is_dir()  # made on entry, before any work
        emit(figure="a", value=[1.5, 2])
        path = save_figure(_figure(), "f.png")
        html = output_file("f.html")
        with pytest.raises(RuntimeError, match="already active"):
            Recorder(tmp_path / "other").__enter__()
    assert rec.files == [str(folder / RESULTS_FILE), path, html] and path == str(folder / "f.png")
    assert (folder / "f.png").read_bytes()[:4] == b"\x89PNG"
    lines = (folder / RESULTS_FILE).read_text(encoding="utf-8").splitlines()
    assert lines == capsys.readouterr().out.splitlines() == ['{"figure": "a", "value": [1.5, 2]}']
    emit(figure="after")  # the recorder is closed: stdout only
    assert len((folder / RESULTS_FILE).read_text(encoding="utf-8").splitlines()) == 1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_steps_show_labels_and_count_on_a_terminal(monkeypatch, tmp_path, capsys):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with Steps(2, "demo") as steps:
        with steps.step("first step"):
            emit(figure="inside")  # a line printed while the bar is shown lands on stdout, whole
        with steps.step("second step"):
            pass
    text = err.getvalue()
    assert "first step" in text and "second step" in text and "demo: 100%" in text and "2/2" in text
    assert capsys.readouterr().out == '{"figure": "inside"}\n'
    with Recorder(tmp_path, quiet=True), Steps(1, "quiet") as steps, steps.step("x"):
        pass
    assert "quiet" not in err.getvalue()


def test_reproduce_runs_an_experiment_from_its_parser(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    args = build_parser("lsh").parse_args(["--n", "400", "--d", "8", "--clusters", "4", "--queries", "5",
                                            "--candidates", "20", "-o", str(tmp_path / "lsh"), "-q"])
    files = reproduce("lsh", args)
    assert [f.rsplit("/", 1)[-1] for f in files] == [RESULTS_FILE, "recall_speedup.png"]
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["figure"] == "settings" and rows[-1]["figure"] == "summary"
    assert rows[-1]["files"] == [RESULTS_FILE, "recall_speedup.png"]


def test_timed_pair_times_each_call_warm_and_alternates():
    """Every timed call follows an untimed call of the same function; the pairs alternate."""
    from sklrp.experiments._lsh import timed_pair

    calls = []
    (a, ta), (b, tb) = timed_pair(lambda: calls.append("a") or 1, lambda: calls.append("b") or 2, 3)
    assert calls == ["a", "a", "b", "b"] * 3
    assert (a, b) == (1, 2) and ta >= 0 and tb >= 0

"""Output and fitting helpers shared by the experiments.

An experiment's ``run(args)`` reports through this module: :func:`emit` prints
one JSON object per line on stdout (and, inside a :class:`Recorder`, appends
it to the output folder's ``results.jsonl``), :func:`save_figure` writes a PNG
into the output folder, :func:`output_file` names any other file written
there, and :class:`Steps` is the progress bar over the experiment's main steps
(tqdm, on stderr; off with ``--quiet``).  Outside a :class:`Recorder` (an
experiment's ``run`` called directly), the JSON lines go to stdout only and no
files are written.
"""

import argparse
import contextlib
import json
import os
import sys
import warnings

from sklearn.exceptions import ConvergenceWarning

__all__ = ["deletion_panel", "epi_bars", 
    "RESULTS_FILE",
    "Recorder",
    "Steps",
    "emit",
    "fit_quietly",
    "fraction",
    "new_figure",
    "nonnegative_int",
    "output_file",
    "output_folder",
    "positive_float",
    "positive_int",
    "r4",
    "save_figure",
]

#: the JSON lines of a run, in its output folder
RESULTS_FILE = "results.jsonl"


# ------------------------------------------------------------ argument types
# argparse calls them on the command-line strings; an ArgumentTypeError becomes argparse's one-line
# "sklrp ...: error: argument --x: ..." with exit status 2.
def _number(kind, text):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}; got {text!r}")


def positive_int(text):
    """An int >= 1."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def nonnegative_int(text):
    """An int >= 0."""
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}")
    return value


def positive_float(text):
    """A finite float > 0."""
    value = _number(float, text)
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}")
    return value


def fraction(text):
    """A float in [0, 1) (a dropout rate)."""
    value = _number(float, text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1); got {text!r}")
    return value


def output_folder(text):
    """A folder to write into: an existing writable folder, or one whose nearest existing parent is writable.

    Nothing is created here; the command creates it when it writes.  Returns the path with ``~`` expanded (the
    shell leaves ``--output=~/x`` as it is: a literal ``./~`` folder was created).
    """
    if not text:
        raise argparse.ArgumentTypeError("the output folder must not be empty")
    expanded = os.path.expanduser(text)
    path = os.path.abspath(expanded)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
        if not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"the folder {text!r} is not writable")
        return expanded
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: {parent!r} is not a writable folder")
    return expanded


# ------------------------------------------------------------ where a run's output goes
_RECORDER = None  # the Recorder of the run in progress


class Recorder:
    """The output of one run: its folder, ``results.jsonl``, the files written and the progress setting.

    A context manager: entering creates the folder and opens
    ``<folder>/results.jsonl`` (replacing an earlier run's); while it is
    active :func:`emit` also writes there, :func:`save_figure` and
    :func:`output_file` write into the folder, and :class:`Steps` shows no bar
    when ``quiet``.

    Parameters
    ----------
    folder : str or path-like
        The output folder (created if missing).
    quiet : bool, default=False
        No progress bar.

    Attributes
    ----------
    files : list of str
        The files written so far, ``results.jsonl`` first.
    """

    def __init__(self, folder, *, quiet=False):
        self.folder = os.fspath(folder)
        self.quiet = bool(quiet)
        self.files = []
        self._fh = None

    def __enter__(self):
        global _RECORDER
        if _RECORDER is not None:
            raise RuntimeError("a Recorder is already active")
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, RESULTS_FILE)
        self._fh = open(path, "w", encoding="utf-8")
        self.files.append(path)
        _RECORDER = self
        return self

    def __exit__(self, *exc_info):
        global _RECORDER
        _RECORDER = None
        self._fh.close()
        return False

    def path(self, name):
        """``<folder>/<name>``, recorded as written."""
        path = os.path.join(self.folder, name)
        if path not in self.files:
            self.files.append(path)
        return path


def emit(**kw):
    """Print one JSON line on stdout (and append it to ``results.jsonl`` inside a :class:`Recorder`)."""
    line = json.dumps(kw)
    with _bars_cleared():
        print(line, flush=True)
    if _RECORDER is not None:
        _RECORDER._fh.write(line + "\n")
        _RECORDER._fh.flush()


def output_file(name):
    """The path of ``name`` in the output folder (recorded as written), or ``None`` outside a :class:`Recorder`."""
    return None if _RECORDER is None else _RECORDER.path(name)


def new_figure(**kw):
    """A :class:`matplotlib.figure.Figure` (no pyplot: safe with any backend, no window opens)."""
    from matplotlib.figure import Figure

    kw.setdefault("layout", "constrained")
    return Figure(**kw)


def save_figure(fig, name, dpi=100):
    """Save ``fig`` as ``<output folder>/<name>`` and return the path; ``None`` (nothing written) outside a
    :class:`Recorder`."""
    path = output_file(name)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return path


# ------------------------------------------------------------ progress bar
_BARS = []  # the visible bars


@contextlib.contextmanager
def _bars_cleared():
    """Clear the visible progress bars while a line is printed (so that the line does not land inside one)."""
    if not _BARS:
        yield
        return
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stdout):
        yield


class Steps:
    """A progress bar over an experiment's main steps (tqdm, on stderr).

    Off when the active :class:`Recorder` is ``quiet``; otherwise tqdm's own
    rule applies (shown when stderr is a terminal).  Use it as a context
    manager and wrap each step in :meth:`step`::

        with Steps(3, "newsgroups") as steps:
            with steps.step("fit"):
                ...

    Parameters
    ----------
    total : int
        The number of steps.
    desc : str
        The bar's label.
    """

    def __init__(self, total, desc):
        from tqdm import tqdm

        quiet = _RECORDER is not None and _RECORDER.quiet
        self.bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, disable=True if quiet else None,
                        dynamic_ncols=True)
        if not self.bar.disable:
            _BARS.append(self.bar)

    @contextlib.contextmanager
    def step(self, label):
        """A step: its label is shown while it runs; the bar advances when it ends."""
        self.bar.set_postfix_str(label, refresh=True)
        yield
        self.bar.update(1)

    def close(self):
        """Remove the bar."""
        if self.bar in _BARS:
            _BARS.remove(self.bar)
        self.bar.set_postfix_str("", refresh=False)
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def r4(a):
    """The values of ``a`` as a list of floats rounded to 4 decimals."""
    return [round(float(v), 4) for v in a]


def fit_quietly(model, X, y):
    """``model.fit(X, y)`` without convergence warnings (the experiments fix their epochs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def deletion_panel(ax, curve, methods, title):
    """One panel of word-deletion curves: accuracy against the number of deleted words, one line per method.

    ``curve`` maps ``"n_deleted"`` and each key of ``methods`` (method -> label) to values.
    """
    from matplotlib.ticker import MaxNLocator

    for method, label in methods.items():
        ax.plot(curve["n_deleted"], curve[method], "o-", ms=3, label=label)
    ax.set_title(title, fontsize="small")
    ax.set_xlabel("words deleted")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def epi_bars(results, keys, title, *, tick_labels=None, figsize=(8, 4)):
    """A figure of explanatory-power bars: one group per weighting ``keys``, one bar per setting, with error bars.

    ``results`` maps a setting to its ``"epi"`` dict (weighting -> ``(mean, std)``).
    """
    import numpy as np

    settings = list(results)
    fig = new_figure(figsize=figsize)
    ax = fig.subplots()
    width = 0.8 / len(settings)
    x = np.arange(len(keys))
    for i, setting in enumerate(settings):
        epi = results[setting]["epi"]
        ax.bar(x + (i - (len(settings) - 1) / 2) * width, [epi[k][0] for k in keys], width,
               yerr=[epi[k][1] for k in keys], capsize=3, label=setting.replace("_", " "))
    ax.set_xticks(x, list(keys) if tick_labels is None else tick_labels)
    ax.set_ylabel("explanatory power index (KNN accuracy)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    ax.set_title(title, fontsize="medium")
    return fig

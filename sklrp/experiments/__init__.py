"""Published experiments that ``sklrp reproduce NAME`` runs.

Each entry of :data:`EXPERIMENTS` has ``add_arguments(parser)`` and
``run(args)``.  :func:`reproduce` runs one with its output folder: the JSON
lines go to stdout and to ``<output>/results.jsonl``, the figures (PNG) into
the folder, a progress bar to stderr, and a last ``summary`` line lists the
files written.  The scripts in ``benchmarks/`` call
``sklrp.cli.main(["reproduce", NAME, ...])``.
"""

import argparse
import os
import time

from . import _eeg, _lsh, _mnist_lenet, _newsgroups, _sst_lstm, _text_cnn
from ._common import Recorder, emit, output_folder

__all__ = ["DEFAULT_OUTPUT", "EXPERIMENTS", "add_common_arguments", "build_parser", "reproduce"]

#: name -> (module with add_arguments / run, one-line description)
EXPERIMENTS = {
    "newsgroups": (_newsgroups, "bag-of-words SVM on 20 Newsgroups, LRP vs SA: word deletion, EPI (Arras et al. 2017)"),
    "mnist-lenet": (_mnist_lenet, "LRP toolbox's LeNet-5 on MNIST: accuracy, deep Taylor, pixel flipping (Samek 2017)"),
    "lsh": (_lsh, "multiple-purpose LSH: recall@10 and speed-up over exact brute force (Pronobis et al. 2017)"),
    "text-cnn": (_text_cnn, "word CNN vs bag-of-words SVM on 20 Newsgroups (Arras et al. 2016/2017)"),
    "sst-lstm": (_sst_lstm, "bi-LSTM on SST-5, LRP vs SA by word deletion (Arras et al. 2017)"),
    "eeg": (_eeg, "single-trial EEG DNN vs CSP+LDA, transfer, relevance localisation (Sturm et al. 2016)"),
}

#: parent of the default output folders (``./sklrp_reproduce_output/NAME``)
DEFAULT_OUTPUT = "sklrp_reproduce_output"


def add_common_arguments(parser, name):
    """Add ``--output/-o`` and ``--quiet/-q``, the options of every experiment, to ``parser``."""
    default = os.path.join(DEFAULT_OUTPUT, name)
    parser.add_argument("--output", "-o", type=output_folder, default=default,
                        help=f"folder for results.jsonl and the figures (created if missing; default: ./{default})")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar on stderr")
    return parser


def build_parser(name, parser=None):
    """``parser`` (a new one if ``None``) with the options of the experiment ``name`` and the common ones."""
    module, description = EXPERIMENTS[name]
    if parser is None:
        parser = argparse.ArgumentParser(description=description)
    module.add_arguments(parser)
    return add_common_arguments(parser, name)


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("sklrp reproduce writes PNG figures and needs matplotlib; install it with "
                          "`pip install matplotlib` (or `pip install '.[plot]'` in a checkout of sklrp).") from exc


def reproduce(name, args):
    """Run the experiment ``name`` with the options ``args`` and write its output folder.

    Parameters
    ----------
    name : str
        A key of :data:`EXPERIMENTS`.
    args : argparse.Namespace
        Parsed by :func:`build_parser`: the experiment's options and
        ``output`` and ``quiet``.

    Returns
    -------
    files : list of str
        The files written: ``<output>/results.jsonl`` and the figures.
    """
    module = EXPERIMENTS[name][0]
    _require_matplotlib()  # before the work, not after an hour of it
    t0 = time.perf_counter()
    with Recorder(args.output, quiet=args.quiet) as rec:  # creates the folder first
        module.run(args)
        emit(figure="summary", experiment=name, output=os.path.abspath(args.output),
             files=[os.path.relpath(f, args.output) for f in rec.files],
             seconds=round(time.perf_counter() - t0, 1))
    return list(rec.files)

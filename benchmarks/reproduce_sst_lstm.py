"""Reproduce the bi-LSTM sentiment study of Arras et al. (WASSA 2017) on SST-5.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce sst-lstm``);
this script runs it with the same options: JSON lines on stdout and in
``OUTPUT/results.jsonl``, figures in ``OUTPUT`` (``--output/-o``, default
``./sklrp_reproduce_output/sst-lstm``), a progress bar on stderr when it is a
terminal (``--quiet``: none).  The data come from the data home (``$SKLRP_DATA/sst``).
Run from the repository root::

    python benchmarks/reproduce_sst_lstm.py [--phrases] [--epochs 3] [--html sst_lstm.html]
"""

import sys

from sklrp.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "sst-lstm", *sys.argv[1:]]))

"""Reproduce the single-trial EEG study of Sturm et al. (2016) on the PhysioNet EEGBCI data.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce eeg``);
this script runs it with the same options: JSON lines on stdout and in
``OUTPUT/results.jsonl``, figures in ``OUTPUT`` (``--output/-o``, default
``./sklrp_reproduce_output/eeg``), a progress bar on stderr when it is a
terminal (``--quiet``: none).  The data come from the data home (``MNE_DATA``, else ``$SKLRP_DATA/eegbci``).
Run from the repository root::

    python benchmarks/reproduce_eeg.py [--tasks hands_feet left_right] [--subjects 1 15 42]
"""

import sys

from sklrp.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "eeg", *sys.argv[1:]]))

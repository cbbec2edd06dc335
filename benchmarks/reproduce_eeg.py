"""Reproduce the single-trial EEG study of Sturm et al. (2016) on the PhysioNet EEGBCI data.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce eeg``);
this script runs it with the same options.  Run from the repository root::

    python benchmarks/reproduce_eeg.py [--tasks hands_feet left_right] [--subjects 1 15 42]
"""

import argparse
import os

from sklrp.experiments import EXPERIMENTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PATH = os.path.join(ROOT, "..", "shared", "data", "eegbci")

if __name__ == "__main__":
    module, description = EXPERIMENTS["eeg"]
    parser = module.add_arguments(argparse.ArgumentParser(description=description))
    args = parser.parse_args()
    args.path = args.path or os.environ.get("MNE_DATA", DEFAULT_PATH)
    module.run(args)

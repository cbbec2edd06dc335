"""Reproduce the bi-LSTM sentiment study of Arras et al. (WASSA 2017) on SST-5.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce sst-lstm``);
this script runs it with the same options.  Run from the repository root::

    python benchmarks/reproduce_sst_lstm.py [--phrases] [--epochs 3] [--html sst_lstm.html]
"""

import argparse
import os

from sklrp.experiments import EXPERIMENTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_HOME = os.path.join(ROOT, "..", "shared", "data")

if __name__ == "__main__":
    module, description = EXPERIMENTS["sst-lstm"]
    parser = module.add_arguments(argparse.ArgumentParser(description=description))
    args = parser.parse_args()
    args.data_home = args.data_home or os.environ.get("SKLRP_DATA", DEFAULT_HOME)
    module.run(args)

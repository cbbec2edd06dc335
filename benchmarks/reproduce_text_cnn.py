"""Reproduce the word-CNN versus bag-of-words SVM study of Arras et al. on 20 Newsgroups.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce text-cnn``);
this script runs it with the same options.  Run from the repository root::

    python benchmarks/reproduce_text_cnn.py [--filter-sizes 1 2 3] [--n-filters 800] [--dim 300]
"""

import argparse
import os

from sklrp.experiments import EXPERIMENTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DH = os.path.join(ROOT, "..", "shared", "data", "20newsgroups", "sklearn_data_home")

if __name__ == "__main__":
    module, description = EXPERIMENTS["text-cnn"]
    parser = module.add_arguments(argparse.ArgumentParser(description=description))
    args = parser.parse_args()
    args.data_home = args.data_home or os.environ.get("SCIKIT_LEARN_DATA", DEFAULT_DH)
    module.run(args)

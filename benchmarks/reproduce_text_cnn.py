"""Reproduce the word-CNN versus bag-of-words SVM study of Arras et al. on 20 Newsgroups.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce text-cnn``);
this script runs it with the same options: JSON lines on stdout and in
``OUTPUT/results.jsonl``, figures in ``OUTPUT`` (``--output/-o``, default
``./sklrp_reproduce_output/text-cnn``), a progress bar on stderr when it is a
terminal (``--quiet``: none).  The data come from the data home (``SCIKIT_LEARN_DATA``, else
``$SKLRP_DATA/20newsgroups/sklearn_data_home``).
Run from the repository root::

    python benchmarks/reproduce_text_cnn.py [--filter-sizes 1 2 3] [--n-filters 800] [--dim 300]
"""

import sys

from sklrp.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "text-cnn", *sys.argv[1:]]))

"""Reproduce the bag-of-words SVM experiments of Arras et al. on 20 Newsgroups.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce newsgroups``);
this script runs it with the same options: JSON lines on stdout and in
``OUTPUT/results.jsonl``, figures in ``OUTPUT`` (``--output/-o``, default
``./sklrp_reproduce_output/newsgroups``), a progress bar on stderr when it is a
terminal (``--quiet``: none).  The data come from the data home (``SCIKIT_LEARN_DATA``, else
``$SKLRP_DATA/20newsgroups/sklearn_data_home``; GloVe from ``$SKLRP_DATA/glove``).
Run from the repository root::

    python benchmarks/reproduce_newsgroups.py [--settings headers_kept] [--n-test 2000]
"""

import sys

from sklrp.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "newsgroups", *sys.argv[1:]]))

"""The LRP toolbox's pretrained LeNet-5 on MNIST: accuracy, deep Taylor conservation, pixel flipping.

The experiment lives in :mod:`sklrp.experiments` (``sklrp reproduce mnist-lenet``);
this script runs it with the same options: JSON lines on stdout and in
``OUTPUT/results.jsonl``, figures in ``OUTPUT`` (``--output/-o``, default
``./sklrp_reproduce_output/mnist-lenet``), a progress bar on stderr when it is a
terminal (``--quiet``: none).  The data come from the data home (``$SKLRP_DATA``: ``mnist/`` and
``lrp_toolbox/``).
Run from the repository root::

    python benchmarks/bench_mnist_lenet.py [--n-samples 2000] [--device cuda]
"""

import sys

from sklrp.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "mnist-lenet", *sys.argv[1:]]))

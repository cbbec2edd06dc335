"""Training time of DenseNetClassifier against scikit-learn's MLPClassifier.

Same architecture, solver (adam), learning rate, batch size and number of
epochs (both forced to run every epoch: ``tol=0``, a large
``n_iter_no_change``, no L2 penalty), on the bundled digits and on 20,000
synthetic 784-d samples.  Prints JSON lines with both times, the ratio
and both test accuracies.

Usage::

    python benchmarks/bench_training.py [--repeat 3]
"""

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklrp import DenseNetClassifier


def datasets():
    X, y = load_digits(return_X_y=True)
    yield "digits", X / 16.0, y, (100,), 50
    X, y = make_classification(
        n_samples=20000, n_features=784, n_informative=60, n_redundant=40, n_classes=10,
        n_clusters_per_class=2, class_sep=1.5, random_state=0,
    )
    yield "synthetic_784d_20k", X, y, (256, 128), 10


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=200)
    args = ap.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, X, y, hidden, epochs in datasets():
        for dtype in (np.float64, np.float32):
            Xd = X.astype(dtype)
            Xtr, Xte, ytr, yte = train_test_split(Xd, y, test_size=0.25, stratify=y, random_state=0)
            common = dict(max_iter=epochs, tol=0.0, n_iter_no_change=10**6, random_state=0,
                          batch_size=args.batch_size, learning_rate_init=1e-3)
            res = {}
            for label, make in (
                ("sklrp", lambda: DenseNetClassifier(hidden, solver="adam", weight_decay=0.0, **common)),
                ("sklearn", lambda: MLPClassifier(hidden, solver="adam", alpha=0.0, **common)),
            ):
                times = []
                for _ in range(args.repeat):
                    est = make()
                    t0 = time.perf_counter()
                    est.fit(Xtr, ytr)
                    times.append(time.perf_counter() - t0)
                res[label] = (float(np.median(times)), float(est.score(Xte, yte)), est.n_iter_)
            print(json.dumps({
                "bench": "training_vs_MLPClassifier",
                "dataset": name,
                "dtype": np.dtype(dtype).name,
                "hidden_layer_sizes": list(hidden),
                "epochs": epochs,
                "batch_size": args.batch_size,
                "sklrp_fit_s": round(res["sklrp"][0], 3),
                "sklearn_fit_s": round(res["sklearn"][0], 3),
                "ratio_sklrp_over_sklearn": round(res["sklrp"][0] / res["sklearn"][0], 3),
                "sklrp_accuracy": round(res["sklrp"][1], 4),
                "sklearn_accuracy": round(res["sklearn"][1], 4),
                "epochs_run": [res["sklrp"][2], res["sklearn"][2]],
            }), flush=True)


if __name__ == "__main__":
    main()

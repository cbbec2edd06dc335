"""Explain/predict ratios of two sklrp checkouts, alternating between them (JSON lines).

For regressions between commits: the MLP (784-512-512-10) and CNN
(conv5x5x32-maxpool2-conv5x5x64-maxpool2-dense1024-dense10) of
``bench_explain.py``, each ratio the minimum over ``--calls`` calls, the two
checkouts run one after the other ``--runs`` times so that load changes hit
both alike.

Usage::

    git worktree add /tmp/old <commit>
    python benchmarks/compare_explain.py /tmp/old . [--runs 3] [--calls 5]
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np


def measure(calls):
    """Ratios explain / decision_function of the imported sklrp (one JSON line)."""
    import sklrp

    rng = np.random.RandomState(0)
    X = rng.rand(256, 784).astype(np.float32)
    y = np.arange(256) % 10
    cnn = sklrp.ConvNetClassifier(input_shape=(1, 28, 28), filters=(32, 64), kernel_size=5, padding="same",
                                  hidden_layer_sizes=(1024,), max_iter=1, random_state=0).fit(X, y)
    mlp = sklrp.DenseNetClassifier(hidden_layer_sizes=(512, 512), max_iter=1, random_state=0).fit(X, y)

    def best(fn):
        fn()
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    out = {}
    Xc = X[:128]
    p = best(lambda: cnn.decision_function(Xc))
    for comp in ("epsilon_plus", "epsilon"):
        cnn.set_params(composite=comp)
        out[f"cnn:lrp:{comp}"] = round(best(lambda: cnn.explain(Xc)) / p, 3)
    out["cnn:sensitivity"] = round(best(lambda: cnn.explain(Xc, method="sensitivity")) / p, 3)
    p = best(lambda: mlp.decision_function(X))
    out["mlp:lrp:epsilon"] = round(best(lambda: mlp.explain(X)) / p, 3)
    out["mlp:guided_backprop"] = round(best(lambda: mlp.explain(X, method="guided_backprop")) / p, 3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkouts", nargs=2, help="two sklrp source trees (folders holding the sklrp package)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        sys.path.insert(0, args.worker)
        print(json.dumps(measure(args.calls)))
        return
    results = {c: [] for c in args.checkouts}
    for _ in range(args.runs):
        for c in args.checkouts:
            line = subprocess.run([sys.executable, __file__, *args.checkouts, "--calls", str(args.calls),
                                   "--worker", c], capture_output=True, text=True, check=True).stdout
            results[c].append(json.loads(line.strip().splitlines()[-1]))
    a, b = args.checkouts
    for key in results[a][0]:
        old, new = min(r[key] for r in results[a]), min(r[key] for r in results[b])
        print(json.dumps({"ratio": key, a: old, b: new, "change": round(new / old - 1, 3)}))


if __name__ == "__main__":
    main()

"""The LRP toolbox's pretrained LeNet-5 on MNIST: accuracy and pixel-flipping AOPC.

Imports ``lrp_toolbox/models/MNIST/LeNet-5.txt`` with
:func:`sklrp.load_lrp_toolbox_model`, measures its accuracy on the 10,000
MNIST test images, then explains ``--n-samples`` test digits with LRP
(``epsilon_plus_flat``, ``deep_taylor``, ``epsilon_gamma_box``), gradient x
input and sensitivity, and runs pixel flipping (most relevant patches first)
with patches of 2x2 and 4x4 pixels, replacing them by uniform noise in
[-1, 1] or by the background value -1, against the random-order baseline.
Prints JSON lines.

Usage::

    SKLRP_DATA=../shared/data python benchmarks/bench_mnist_lenet.py [--n-samples 500]
"""

import argparse
import json
import os
import time
from pathlib import Path


import sklrp
from sklrp.datasets import load_mnist
from sklrp.metrics import perturbation_curve


def data_home():
    env = os.environ.get("SKLRP_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-samples", type=int, default=500)
    ap.add_argument("--patch-sizes", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    home = data_home()
    X, y = load_mnist("test", data_home=home, return_X_y=True, lrp_toolbox_format=True)
    net = sklrp.load_lrp_toolbox_model(home / "lrp_toolbox" / "models" / "MNIST" / "LeNet-5.txt")
    if args.device == "cuda":
        import cupy

        X = cupy.asarray(X)
    t0 = time.perf_counter()
    acc = float((net.predict(X) == y).mean())
    print(json.dumps({"bench": "lenet5_mnist", "n_test": len(y), "accuracy": round(acc, 4),
                      "predict_s": round(time.perf_counter() - t0, 2)}), flush=True)

    Xs = X[: args.n_samples]
    methods = {
        "lrp:epsilon_plus_flat": dict(method="lrp", composite="epsilon_plus_flat"),
        "lrp:deep_taylor": dict(method="lrp", composite="deep_taylor"),
        "lrp:epsilon_gamma_box": dict(method="lrp", composite="epsilon_gamma_box"),
        "lrp:epsilon": dict(method="lrp", composite="epsilon"),
        "gradient_x_input": dict(method="gradient_x_input"),
        "sensitivity": dict(method="sensitivity"),
        "random": None,
    }
    relevances, times = {}, {}
    for name, kw in methods.items():
        t0 = time.perf_counter()
        if kw is None:
            relevances[name] = None
        else:
            net.set_params(composite=kw.get("composite", "epsilon_plus_flat"))
            relevances[name] = net.explain(Xs, method=kw["method"])
        times[name] = time.perf_counter() - t0
    # two replacements: uniform noise in the pixel range (the recorded default of
    # Samek et al. 2017 [unverified]) and the background value -1 ("remove the ink")
    for patch in args.patch_sizes:
        n_steps = min(100, (32 // patch) ** 2)
        for replacement in ("uniform", -1.0):
            row = {}
            for name, R in relevances.items():
                res = perturbation_curve(net, Xs, R, patch_size=patch, n_steps=n_steps, replacement=replacement,
                                         low=-1.0, high=1.0, random_state=0)
                row[name] = round(float(res.aopc), 4)
            print(json.dumps({
                "bench": "lenet5_pixel_flipping_aopc",
                "n_samples": int(Xs.shape[0]),
                "patch_size": patch,
                "n_steps": n_steps,
                "replacement": replacement,
                "aopc": row,
                "ranking": sorted(row, key=row.get, reverse=True),
            }), flush=True)
    print(json.dumps({"bench": "lenet5_explain_time_s", **{k: round(v, 3) for k, v in times.items()}}), flush=True)


if __name__ == "__main__":
    main()

"""Cost of an explanation relative to a prediction (JSON lines on stdout).

For a 784-512-512-10 ReLU MLP and the CNN
conv5x5x32-maxpool2-conv5x5x64-maxpool2-dense1024-dense10 on 28x28 inputs,
times ``decision_function`` and ``explain`` (LRP with several composites and
the gradient methods) and prints the ratio explain / predict.  PyTorch's
autograd (forward + backward for gradient x input) runs side by side on the
same weights as the reference for "one backward pass", when torch is
installed.

Usage::

    python benchmarks/bench_explain.py                 # CPU, batch 256 / 128
    python benchmarks/bench_explain.py --device cuda   # GPU throughput, batch 8192 / 1024
"""

import argparse
import json
import platform
import time

import numpy as np

import sklrp
from sklrp._backend import to_device


def _sync(device):
    if device == "cuda":
        import cupy

        cupy.cuda.Device().synchronize()


def timeit(fn, device, repeat=7, min_time=0.2):
    fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        n = 0
        t0 = time.perf_counter()
        while True:
            fn()
            n += 1
            _sync(device)
            if time.perf_counter() - t0 >= min_time / repeat or n >= 50:
                break
        times.append((time.perf_counter() - t0) / n)
    return float(np.median(times))


def make_models(dtype, rng):
    X = rng.rand(512, 784).astype(dtype)
    y = np.arange(512) % 10
    mlp = sklrp.DenseNetClassifier(hidden_layer_sizes=(512, 512), max_iter=1, random_state=0).fit(X, y)
    cnn = sklrp.ConvNetClassifier(
        input_shape=(1, 28, 28),
        filters=(32, 64),
        kernel_size=5,
        padding="same",
        pool="max",
        pool_size=2,
        hidden_layer_sizes=(1024,),
        max_iter=1,
        batch_size=256,
        random_state=0,
    ).fit(X[:256], y[:256])
    # biases are zero after one epoch's start; give them values so rules see a real bias
    for est in (mlp, cnn):
        for layer in est.net_.layers:
            if "bias" in layer.params:
                layer.params["bias"] = (rng.randn(*layer.params["bias"].shape) * 0.01).astype(dtype)
    return mlp, cnn


def torch_reference(est, X, device):
    """Forward and forward+backward (gradient x input) times in PyTorch, same weights."""
    try:
        import torch
    except ImportError:
        return None
    from sklrp.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU

    tdev = "cuda" if device == "cuda" else "cpu"
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    mods = []
    for layer in est.net_.layers:
        if isinstance(layer, Dense):
            m = torch.nn.Linear(*layer.params["weight"].shape)
            m.weight.data = torch.as_tensor(np.asarray(layer.params["weight"]).T.copy())
            m.bias.data = torch.as_tensor(np.asarray(layer.params["bias"]))
        elif isinstance(layer, Conv2D):
            w = np.asarray(layer.params["weight"])
            m = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], padding="same")
            m.weight.data = torch.as_tensor(w.copy())
            m.bias.data = torch.as_tensor(np.asarray(layer.params["bias"]))
        elif isinstance(layer, MaxPool2D):
            m = torch.nn.MaxPool2d(layer.pool_size)
        elif isinstance(layer, ReLU):
            m = torch.nn.ReLU()
        elif isinstance(layer, Flatten):
            m = torch.nn.Flatten()
        else:
            return None
        mods.append(m)
    model = torch.nn.Sequential(*mods).to(tdev, dtype)
    xt = torch.as_tensor(np.asarray(X).reshape((-1,) + est.input_shape_)).to(tdev, dtype)

    def sync():
        if tdev == "cuda":
            torch.cuda.synchronize()

    def fwd():
        with torch.no_grad():
            model(xt)
        sync()

    def gxi():
        x = xt.clone().requires_grad_(True)
        out = model(x)
        sel = out.gather(1, out.argmax(1, keepdim=True)).sum()
        (g,) = torch.autograd.grad(sel, x)
        (g * x).detach()
        sync()

    t_f = timeit(fwd, "cpu")
    t_b = timeit(gxi, "cpu")
    return {"torch_predict_s": t_f, "torch_grad_x_input_s": t_b, "torch_ratio": t_b / t_f}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--mlp-batch", type=int, default=None)
    ap.add_argument("--cnn-batch", type=int, default=None)
    args = ap.parse_args()
    dev = args.device
    dtype = np.dtype(args.dtype)
    rng = np.random.RandomState(0)
    mlp, cnn = make_models(dtype, rng)
    batches = {
        "mlp": args.mlp_batch or (8192 if dev == "cuda" else 256),
        "cnn": args.cnn_batch or (1024 if dev == "cuda" else 128),
    }
    info = {"bench": "explain_vs_predict", "device": dev, "dtype": str(dtype), "machine": platform.processor() or platform.machine()}
    if dev == "cuda":
        import cupy

        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(json.dumps(info), flush=True)
    cases = {
        "mlp": (mlp, ["epsilon", "epsilon_plus_flat", "alpha2_beta1", "deep_taylor"]),
        "cnn": (cnn, ["epsilon_plus", "epsilon", "epsilon_plus_flat", "epsilon_gamma_box", "alpha2_beta1"]),
    }
    for name, (est, composites) in cases.items():
        n = batches[name]
        X = to_device(rng.rand(n, 784).astype(dtype), dev)
        est._chunk_size = max(est._chunk_size, n)
        t_pred = timeit(lambda: est.decision_function(X), dev)
        rows = []
        for comp in composites:
            est.set_params(composite=comp)
            t = timeit(lambda: est.explain(X), dev)
            rows.append(("lrp:" + comp, t))
        for method in ("sensitivity", "gradient_x_input", "guided_backprop"):
            t = timeit(lambda: est.explain(X, method=method), dev)
            rows.append((method, t))
        ref = torch_reference(est, to_device(X, "cpu") if dev == "cpu" else X.get(), dev)
        for label, t in rows:
            rec = {
                "model": name,
                "batch": n,
                "method": label,
                "predict_s": round(t_pred, 6),
                "explain_s": round(t, 6),
                "ratio_explain_over_predict": round(t / t_pred, 3),
                "explain_samples_per_s": round(n / t, 1),
            }
            if ref is not None:
                rec["torch_grad_x_input_over_forward"] = round(ref["torch_ratio"], 3)
                rec["sklrp_explain_over_torch_grad_x_input"] = round(t / ref["torch_grad_x_input_s"], 3)
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()

"""sklrp against PyTorch / zennit on the same NumPy weights (JSON lines on stdout).

Two networks of ``bench_explain.make_models`` (float32, CPU, nonzero biases):
the MLP 784-512-512-10 (ReLU, batch 256) and the CNN
conv5x5x32(same)-ReLU-maxpool2-conv5x5x64(same)-ReLU-maxpool2-dense1024-ReLU-dense10
on 1x28x28 inputs (batch 128).  Their weights are copied into a
``torch.nn.Sequential``; torch's forward must equal ``decision_function``.
Per case and method, reference and sklrp run interleaved (``--repeats``
rounds; each round times torch/zennit, then sklrp, best of a few calls):

- forward: torch forward under ``no_grad`` vs ``decision_function``;
- epsilon: zennit ``Gradient`` with ``Epsilon(1e-6)`` on every Linear/Conv
  layer vs sklrp's ``"epsilon"`` composite;
- epsilon_plus / epsilon_alpha2_beta1: zennit's ``EpsilonPlus()`` /
  ``EpsilonAlpha2Beta1()`` vs the sklrp presets with ``conventions="zennit"``.

Both explain the predicted class from one-hot * output; each row reports the
max abs difference of the relevance maps relative to max |R_sklrp| (max,
99th percentile, samples above 1e-5), samples/s of both, and
sklrp / reference (>1: sklrp faster) from the median times and the minimum
over rounds.  ``--memory`` (default) reports tracemalloc peaks of predict and
explain, ``--big-explain N`` the peak and time of explaining N CNN samples in
one call, ``--train`` one training epoch of the CNN in sklrp and in torch.
In float32 a few relevances are ill-conditioned, so the max difference can
reach ~1e-3 while the 99th percentile stays ~1e-6: hidden units with |z_j|
about epsilon = 1e-6, i.e. about the rounding error of z_j itself (MLP), and
2x2 max-pooling windows whose two largest values differ by less than the
float32 conv rounding (~3e-6), so that the two libraries route relevance to
different winners (CNN).  ``max_rel_diff_relevance_float64`` repeats the
comparison with both networks in float64 (same weights): ~1e-14 for LRP-eps;
~1e-6 to 3e-5 for the z+ / alpha-beta conv rules, whose denominators zennit
stabilises with 1e-6 and sklrp does not (docs/conventions.rst, "What is left").
Both libraries share the 2 cores: PyTorch's OpenMP workers spin-wait after
every operation, and spinning workers take the cores from OpenBLAS's threads
in the next sklrp call (measured: LRP-epsilon on the CNN ran at 0.66x zennit
with ``OMP_WAIT_POLICY=ACTIVE``, 1.83x with ``PASSIVE``, and sklrp alone in a
process at its PASSIVE speed).  ``--omp-wait-policy`` (default ``passive``,
set before torch is imported; ``inherit`` keeps the environment's) is
reported in the first line; ``passive`` costs torch's forward about 10 %.
zennit needs ``pip install --no-deps zennit`` (torchvision is replaced by a
placeholder, see ``bench_text_cnn.py``); without torch/zennit the comparisons
print a "skipped" line.

Usage::

    python benchmarks/bench_vs_zennit.py [--cases mlp cnn] [--repeats 5] [--quick]
    python benchmarks/bench_vs_zennit.py --no-memory --cases cnn --train [--train-samples 10000] [--train-data mnist]
    python benchmarks/bench_vs_zennit.py --cases cnn --no-memory --big-explain 100000
"""

import argparse
import copy
import json
import os
import platform
import time
import tracemalloc
import warnings

import numpy as np
from bench_explain import make_models

import sklrp
from sklrp.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from sklrp.rules import get_composite

METHODS = ("forward", "epsilon", "epsilon_plus", "epsilon_alpha2_beta1")


def _best(fn, min_calls=3, min_time=0.2):
    """Shortest of at least ``min_calls`` calls of ``fn`` (more while under ``min_time`` s in all, max 50)."""
    times, start = [], time.perf_counter()
    while len(times) < min_calls or (time.perf_counter() - start < min_time and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def torch_model(est, torch):
    """The estimator's network as a torch.nn.Sequential with the same weights."""
    mods = []
    for layer in est.net_.layers:
        p = {k: torch.as_tensor(np.ascontiguousarray(v)) for k, v in layer.params.items()}
        if isinstance(layer, Dense):  # sklrp holds (in, out), torch (out, in)
            m = torch.nn.Linear(*p["weight"].shape)
            m.weight.data = p["weight"].T.contiguous()
        elif isinstance(layer, Conv2D):  # both (out, in, kh, kw), cross-correlation
            w = p["weight"]
            m = torch.nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=layer.stride, padding=layer.padding)
            m.weight.data = w
        elif isinstance(layer, MaxPool2D):
            m = torch.nn.MaxPool2d(layer.pool_size, layer.stride)
        elif isinstance(layer, ReLU):
            m = torch.nn.ReLU()
        elif isinstance(layer, Flatten):  # sklrp flattens (C, H, W) in C order, as torch
            m = torch.nn.Flatten()
        else:
            raise TypeError(f"no torch counterpart for {type(layer).__name__}")
        if "bias" in p:
            m.bias.data = p["bias"]
        mods.append(m)
    return torch.nn.Sequential(*mods).eval()


def _float64_copy(est):
    """A deep copy of the estimator with float64 parameters (for the rounding-free agreement check)."""
    est64 = copy.deepcopy(est)
    for layer in est64.net_.layers:
        layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
    return est64


def compare_case(name, est, X, torch, repeats):
    """Forward check, relevance agreement and interleaved timings of one case (prints one row per method)."""
    from zennit.attribution import Gradient
    from zennit.composites import (
        EpsilonAlpha2Beta1,
        EpsilonPlus,
        LayerMapComposite,
        layer_map_base,
    )
    from zennit.rules import Epsilon
    from zennit.types import Convolution, Linear

    model = torch_model(est, torch)
    xt = torch.as_tensor(X.reshape((-1,) + est.input_shape_))
    with torch.no_grad():
        scores = model(xt)
    z_s = est.decision_function(X)
    fwd_diff = float(np.abs(scores.numpy() - z_s).max() / np.abs(z_s).max())
    onehot = torch.nn.functional.one_hot(scores.argmax(1), scores.shape[1]).to(scores.dtype)
    zennit_composites = {  # factories: one composite instance per model
        "epsilon": lambda: LayerMapComposite(layer_map=layer_map_base() + [(Convolution, Epsilon(epsilon=1e-6)),
                                                                           (Linear, Epsilon(epsilon=1e-6))]),
        "epsilon_plus": EpsilonPlus,
        "epsilon_alpha2_beta1": EpsilonAlpha2Beta1,
    }
    # the same weights in float64 on both sides: the rules' agreement without float32 rounding
    est64, model64, xt64 = _float64_copy(est), copy.deepcopy(model).double(), xt.double()
    with torch.no_grad():
        scores64 = model64(xt64)
    onehot64 = torch.nn.functional.one_hot(scores64.argmax(1), scores64.shape[1]).to(scores64.dtype)

    def torch_forward():
        with torch.no_grad():
            return model(xt)

    for method in METHODS:
        row = {"bench": "vs_zennit", "case": name, "batch": X.shape[0], "method": method}
        if method == "forward":
            ref_fn, skl_fn = torch_forward, lambda: est.decision_function(X)
            row["max_rel_diff_scores"] = fwd_diff
        else:
            attributor = Gradient(model=model, composite=zennit_composites[method]())

            def ref_fn(attributor=attributor):
                return attributor(xt, onehot * scores)[1]

            # explain() has no composite argument: the composite is an estimator parameter
            est.set_params(composite=get_composite(method, epsilon=1e-6, conventions="zennit"))

            def skl_fn():
                return est.explain(X, method="lrp")  # the predicted class, from one-hot * score

            R_z = ref_fn().numpy().reshape(X.shape[0], -1)
            R_s = skl_fn()
            err = np.abs(R_z - R_s) / np.abs(R_s).max()
            row.update(max_rel_diff_relevance=float(err.max()), q99_rel_diff_relevance=float(np.quantile(err, 0.99)),
                       samples_over_1e_5=int((err.max(1) > 1e-5).sum()))
            row["max_abs_relevance"] = float(np.abs(R_s).max())
            est64.set_params(composite=est.composite)
            R_s64 = est64.explain(X.astype(np.float64), method="lrp")
            attributor64 = Gradient(model=model64, composite=zennit_composites[method]())
            R_z64 = attributor64(xt64, onehot64 * scores64)[1].numpy().reshape(X.shape[0], -1)
            row["max_rel_diff_relevance_float64"] = float(np.abs(R_z64 - R_s64).max() / np.abs(R_s64).max())
        t_ref, t_skl = [], []
        ref_fn(), skl_fn()  # warm-up
        for _ in range(repeats):  # interleaved: load changes hit both alike
            t_ref.append(_best(ref_fn))
            t_skl.append(_best(skl_fn))
        m_ref, m_skl = float(np.median(t_ref)), float(np.median(t_skl))
        row.update(reference="torch" if method == "forward" else "zennit",
                   reference_samples_per_s=round(X.shape[0] / m_ref, 1),
                   sklrp_samples_per_s=round(X.shape[0] / m_skl, 1),
                   sklrp_over_reference=round(m_ref / m_skl, 3),
                   sklrp_over_reference_min=round(min(r / s for r, s in zip(t_ref, t_skl)), 3))
        print(json.dumps(row), flush=True)
    est.set_params(composite=type(est)().composite)


def _peak_mib(fn):
    """Peak of traced (NumPy and Python) allocations during ``fn()``, in MiB, and its seconds."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20, seconds


def memory_case(name, est, X):
    est.set_params(composite=get_composite("epsilon", conventions="zennit"))
    est.decision_function(X), est.explain(X)  # warm-up (lazy caches are not the per-call cost)
    pred, _ = _peak_mib(lambda: est.decision_function(X))
    expl, _ = _peak_mib(lambda: est.explain(X))
    print(json.dumps({"bench": "vs_zennit_memory", "case": name, "batch": X.shape[0], "composite": "epsilon",
                      "input_mib": round(X.nbytes / 2**20, 3), "predict_peak_mib": round(pred, 3),
                      "explain_peak_mib": round(expl, 3), "explain_over_predict": round(expl / pred, 3)}), flush=True)
    est.set_params(composite=type(est)().composite)


def big_explain(cnn, n, rng):
    X = rng.rand(n, 784).astype(np.float32)  # allocated before tracing: the input is the caller's
    peak, seconds = _peak_mib(lambda: cnn.explain(X))
    print(json.dumps({"bench": "vs_zennit_big_explain", "case": "cnn", "n_samples": n, "composite": cnn.composite,
                      "chunk_size": cnn._chunk_step(X), "input_mib": round(X.nbytes / 2**20, 1),
                      "peak_mib": round(peak, 1), "under_2_gib": bool(peak < 2048), "seconds": round(seconds, 1),
                      "samples_per_s": round(n / seconds, 1)}), flush=True)


def train_epoch(torch, cnn, n, rng, data="random"):
    """Seconds of one CNN epoch (batch 128, Adam lr 1e-3 as sklrp's default solver) in sklrp and in torch.

    ``data="random"``: uniform pixels and labels; ``"mnist"``: the first ``n`` MNIST training digits (scaled to
    [0, 1]; at most the stored set's size), where the gradients are less sparse than on random data.
    """
    if data == "mnist":
        from sklrp.datasets import load_mnist

        X, y = load_mnist("train", return_X_y=True)
        X, y = (X[:n] / np.float32(255)).astype(np.float32), np.asarray(y[:n])
        n = X.shape[0]
    else:
        X = rng.rand(n, 784).astype(np.float32)
        y = rng.randint(0, 10, size=n)
    est = sklrp.ConvNetClassifier(input_shape=(1, 28, 28), filters=(32, 64), kernel_size=5, padding="same",
                                  pool="max", pool_size=2, hidden_layer_sizes=(1024,), max_iter=1, batch_size=128,
                                  random_state=0)
    model = torch_model(cnn, torch).train()
    opt = torch.optim.Adam(model.parameters(), lr=est.learning_rate_init, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.as_tensor(X.reshape(-1, 1, 28, 28)), torch.as_tensor(y)
    t0 = time.perf_counter()
    perm = torch.randperm(n)
    for i in range(0, n, 128):
        idx = perm[i:i + 128]
        opt.zero_grad()
        loss = loss_fn(model(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    t_torch = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of max_iter=1
        est.fit(X, y)
    t_sklrp = time.perf_counter() - t0
    print(json.dumps({"bench": "vs_zennit_train_epoch", "case": "cnn", "data": data, "n_samples": n, "batch": 128,
                      "solver": est.solver, "torch_s": round(t_torch, 2), "sklrp_s": round(t_sklrp, 2),
                      "sklrp_over_torch_s": round(t_sklrp / t_torch, 3)}), flush=True)


def _import_torch_zennit():
    # torch plus zennit, with placeholder torchvision modules
    from bench_text_cnn import _import_zennit

    torch = _import_zennit()
    torch.set_grad_enabled(True)
    return torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mlp-batch", type=int, default=256)
    ap.add_argument("--cnn-batch", type=int, default=128)
    ap.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                    help="tracemalloc peaks of predict and explain (default: on)")
    ap.add_argument("--big-explain", type=int, default=0, metavar="N",
                    help="explain N random CNN samples in one call: peak MiB and seconds (0: skip)")
    ap.add_argument("--train", action="store_true", help="time one CNN training epoch in sklrp and torch")
    ap.add_argument("--train-samples", type=int, default=10000)
    ap.add_argument("--train-data", choices=["random", "mnist"], default="random",
                    help="training data of --train: random pixels and labels, or MNIST digits (needs SKLRP_DATA)")
    ap.add_argument("--quick", action="store_true", help="smoke test: repeats 2, batches 32/16, 1024 train samples")
    ap.add_argument("--omp-wait-policy", choices=["passive", "active", "inherit"], default="passive",
                    help="OMP_WAIT_POLICY for torch's OpenMP workers (see above; default: passive)")
    args = ap.parse_args()
    if args.omp_wait_policy != "inherit":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()  # read when torch loads its OpenMP
    args.omp_wait_policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    if args.quick:
        args.repeats, args.mlp_batch, args.cnn_batch = 2, 32, 16
        args.train_samples = min(args.train_samples, 1024)
    rng = np.random.RandomState(0)
    mlp, cnn = make_models(np.float32, rng)
    try:
        torch = _import_torch_zennit()
    except Exception as exc:  # noqa: BLE001  (ImportError, or a zennit that fails with this torch)
        torch, skipped = None, f"torch/zennit not importable: {exc!r}"
    info = {"bench": "vs_zennit", "machine": platform.processor() or platform.machine(), "dtype": "float32",
            "device": "cpu", "numpy": np.__version__, "sklrp": getattr(sklrp, "__version__", None), **vars(args)}
    if torch is not None:
        from importlib.metadata import version

        info.update(torch=torch.__version__, zennit=version("zennit"),
                    torch_threads=torch.get_num_threads())
    print(json.dumps(info), flush=True)
    cases = {"mlp": (mlp, args.mlp_batch), "cnn": (cnn, args.cnn_batch)}
    if torch is None:
        print(json.dumps({"bench": "vs_zennit", "skipped": skipped}), flush=True)
    for name in args.cases:
        est, n = cases[name]
        X = rng.rand(n, 784).astype(np.float32)
        if torch is not None:
            compare_case(name, est, X, torch, args.repeats)
        if args.memory:
            memory_case(name, est, X)
    if args.big_explain > 0:
        big_explain(cnn, args.big_explain, rng)
    if args.train:
        if torch is None:
            print(json.dumps({"bench": "vs_zennit_train_epoch", "skipped": skipped}), flush=True)
        else:
            train_epoch(torch, cnn, args.train_samples, rng, args.train_data)


if __name__ == "__main__":
    main()

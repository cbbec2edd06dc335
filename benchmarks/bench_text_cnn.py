"""Word CNN speed: sklrp's TextCNNClassifier against PyTorch / zennit on the same weights (JSON lines).

The papers' network (Arras et al. 2016/2017): 300-d embeddings, documents of
400 tokens, 800 filters of width 2, ReLU, max-pooling over time, 20 classes;
float32, batch 64, on the CPU.  Prints, per method, the documents per second
of ``predict`` / ``explain`` and the ratio explain / predict; PyTorch's
forward pass and zennit's epsilon explanation of the same network run side by
side, interleaved (median of ``--repeats``), when torch and zennit are
installed (``pip install torch==2.13.0`` (CPU build) and ``pip install
--no-deps zennit``; zennit imports torchvision only for its ResNet canonizers,
so a placeholder module stands in for it here).  ``--train-epoch`` also times
one training epoch on the 20 Newsgroups training set (``SCIKIT_LEARN_DATA``).

Usage::

    python benchmarks/bench_text_cnn.py [--batch 64] [--repeats 5] [--train-epoch] [--device cuda]
"""

import argparse
import json
import platform
import sys
import time
import types

import numpy as np

import sklrp
from sklrp.nn import Conv1D, Dense


def _timeit(fn, repeats, sync=lambda: None):
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def sklrp_model(args, rng):
    """A TextCNNClassifier of the papers' size, fitted for one epoch on random ids."""
    E = rng.normal(scale=0.3, size=(args.vocab, args.dim)).astype(np.float32)
    X = rng.randint(1, args.vocab, size=(max(2 * args.batch, args.classes), args.length))
    y = np.arange(X.shape[0]) % args.classes
    est = sklrp.TextCNNClassifier(embeddings=E, filter_sizes=(args.filter_size,), n_filters=args.filters,
                                  max_iter=1, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return est


def _import_zennit():
    import torch

    if "torchvision" not in sys.modules:
        # zennit imports torchvision's ResNet blocks for its canonizers only
        tv, models, resnet = (types.ModuleType(n) for n in ("torchvision", "torchvision.models",
                                                             "torchvision.models.resnet"))
        resnet.Bottleneck = type("Bottleneck", (torch.nn.Module,), {})
        resnet.BasicBlock = type("BasicBlock", (torch.nn.Module,), {})
        tv.models, models.resnet = models, resnet
        sys.modules.update({"torchvision": tv, "torchvision.models": models, "torchvision.models.resnet": resnet})
    import zennit  # noqa: F401

    return torch


def torch_model(est, torch):
    """The same network in PyTorch, on embedded input (N, dim, length)."""
    conv = next(layer for layer in est.net_.layers if isinstance(layer, Conv1D))
    dense = [layer for layer in est.net_.layers if isinstance(layer, Dense)][-1]
    c = torch.nn.Conv1d(conv.params["weight"].shape[1], conv.params["weight"].shape[0], conv.kernel_size[0])
    c.weight.data = torch.as_tensor(np.ascontiguousarray(conv.params["weight"]))
    c.bias.data = torch.as_tensor(conv.params["bias"])
    d = torch.nn.Linear(*dense.params["weight"].shape)
    d.weight.data = torch.as_tensor(np.ascontiguousarray(dense.params["weight"].T))
    d.bias.data = torch.as_tensor(dense.params["bias"])
    model = torch.nn.Sequential(c, torch.nn.ReLU(), torch.nn.AdaptiveMaxPool1d(1), torch.nn.Flatten(), d)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=400)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--filters", type=int, default=800)
    ap.add_argument("--filter-size", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-epoch", action="store_true", help="also time one epoch on 20 Newsgroups")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="cuda: CuPy input on the GPU (documents/s; zennit is skipped: torch here is a CPU build)")
    args = ap.parse_args()
    rng = np.random.RandomState(0)
    print(json.dumps({"bench": "text_cnn", "machine": platform.machine(), "dtype": "float32", **vars(args)}))
    est = sklrp_model(args, rng)
    X = rng.randint(1, args.vocab, size=(args.batch, args.length))
    X[: args.batch // 4, args.length // 2 :] = 0  # a quarter of the documents end early
    sync = lambda: None  # noqa: E731
    if args.device == "cuda":
        import cupy

        X, sync = cupy.asarray(X), cupy.cuda.Device().synchronize
    fns = {"predict": lambda: est.decision_function(X)}
    for method in ("lrp", "sensitivity", "gradient_x_input"):
        fns[method] = (lambda m: lambda: est.explain(X, method=m))(method)
    ref = {}
    try:
        if args.device != "cpu":
            raise ImportError("zennit runs on the CPU build of torch only here")
        torch = _import_zennit()
    except ImportError as exc:
        print(json.dumps({"bench": "zennit", "skipped": f"torch/zennit not importable: {exc!r}"}))
    else:
        from zennit.attribution import Gradient
        from zennit.composites import LayerMapComposite, layer_map_base
        from zennit.rules import Epsilon
        from zennit.types import Convolution, Linear

        torch.set_grad_enabled(True)
        model = torch_model(est, torch)
        emb = est.net_.layers[0].params["weight"]
        xt = torch.as_tensor(np.ascontiguousarray(emb[X].transpose(0, 2, 1)))
        composite = LayerMapComposite(layer_map=layer_map_base() + [(Convolution, Epsilon(1e-6)),
                                                                    (Linear, Epsilon(1e-6))])
        attributor = Gradient(model=model, composite=composite)
        with torch.no_grad():
            scores = model(xt)
        onehot = torch.nn.functional.one_hot(scores.argmax(1), scores.shape[1]).to(scores.dtype)

        def torch_forward():
            with torch.no_grad():
                model(xt)

        def zennit_epsilon():
            _, rel = attributor(xt, onehot * scores)
            return rel.sum(1)

        # same relevance as sklrp's LRP-epsilon (the check that both explain the same network)
        R_z = zennit_epsilon().numpy()
        R_s = est.explain(X, method="lrp")
        ref["max_abs_diff_vs_zennit"] = float(np.abs(R_z - R_s).max() / np.abs(R_s).max())
        fns["torch_forward"] = torch_forward
        fns["zennit_epsilon"] = zennit_epsilon
    times = {k: [] for k in fns}
    for _ in range(args.repeats):  # interleaved, so that load changes hit every method alike
        for k, fn in fns.items():
            times[k] += _timeit(fn, 1, sync)
    med = {k: float(np.median(v)) for k, v in times.items()}
    docs = {k: args.batch / v for k, v in med.items()}
    for method in ("lrp", "sensitivity", "gradient_x_input"):
        row = {"bench": "text_cnn_explain", "method": method, "explain_docs_per_s": round(docs[method], 1),
               "predict_docs_per_s": round(docs["predict"], 1),
               "ratio_explain_over_predict": round(med[method] / med["predict"], 3)}
        if method == "lrp" and "zennit_epsilon" in med:
            row.update(zennit_epsilon_docs_per_s=round(docs["zennit_epsilon"], 1),
                       sklrp_over_zennit_docs_per_s=round(docs["lrp"] / docs["zennit_epsilon"], 3), **ref)
        print(json.dumps(row))
    if "torch_forward" in med:
        print(json.dumps({"bench": "text_cnn_predict", "sklrp_docs_per_s": round(docs["predict"], 1),
                          "torch_docs_per_s": round(docs["torch_forward"], 1),
                          "sklrp_over_torch": round(docs["predict"] / docs["torch_forward"], 3)}))
    if args.train_epoch:
        train_epoch(args)


def train_epoch(args):
    """Seconds of one training epoch on 20 Newsgroups (headers kept), random fixed embeddings."""
    from sklearn.datasets import fetch_20newsgroups

    try:
        data = fetch_20newsgroups(subset="train", download_if_missing=False)
    except OSError as exc:
        print(json.dumps({"bench": "text_cnn_train_epoch", "skipped": f"no 20 Newsgroups cache: {exc}"}))
        return
    vec = sklrp.text.TokenSequenceVectorizer(max_length=args.length, min_df=2)
    X = vec.fit_transform(data.data)
    E = np.random.RandomState(0).normal(scale=0.3, size=(vec.vocab_size_, args.dim)).astype(np.float32)
    est = sklrp.TextCNNClassifier(embeddings=E, filter_sizes=(args.filter_size,), n_filters=args.filters,
                                  max_iter=1, random_state=0)
    t0 = time.perf_counter()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, data.target)
    print(json.dumps({"bench": "text_cnn_train_epoch", "n_docs": X.shape[0], "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()

"""Per-layer time of the forward pass and of the LRP pass (JSON lines).

Runs the CNN conv5x5x32-maxpool2-conv5x5x64-maxpool2-dense1024-dense10 of
``bench_explain.py`` layer by layer, timing each layer's forward and its
relevance step under a composite, to show where an explanation's time goes.

Usage::

    python benchmarks/profile_layers.py [--device cuda] [--batch 1024] [--composite epsilon_plus]
"""

import argparse
import json
import time

import numpy as np

from sklrp._backend import to_device
from sklrp.nn import LinearLayer
from sklrp.rules import get_composite

from bench_explain import _sync, make_models


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--composite", default="epsilon_plus")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--clock", choices=["wall", "process"], default="wall",
                    help="process: CPU time of this process (steadier on a shared machine; run with "
                         "OPENBLAS_NUM_THREADS=1 so that idle BLAS threads do not count)")
    args = ap.parse_args()
    dev = args.device
    n = args.batch or (1024 if dev == "cuda" else 128)
    rng = np.random.RandomState(0)
    _, cnn = make_models(np.float32, rng)
    net = cnn.net_.to(dev)
    comp = get_composite(args.composite)
    x = to_device(rng.rand(n, 1, 28, 28).astype(np.float32), dev)
    layers = net.layers
    linear = [i for i, layer in enumerate(layers) if isinstance(layer, LinearLayer)]

    clock = time.process_time if args.clock == "process" else time.perf_counter

    def timed(fn):
        fn()
        _sync(dev)
        t0 = clock()
        for _ in range(args.repeat):
            fn()
        _sync(dev)
        return (clock() - t0) / args.repeat

    h = x
    caches, outs = [], []
    fwd_times = []
    for layer in layers:
        inp = h
        fwd_times.append(timed(lambda: layer.forward(inp)))
        h, cache = layer.forward(inp)
        caches.append(cache)
        outs.append(h)
    R = h * (h == h.max(axis=1, keepdims=True))
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if isinstance(layer, LinearLayer):
            rule = comp.rule_for(layer, i, len(layers), i == linear[0], i == linear[-1])
            op = layer.linear_op(caches[i])
            Rin = R
            t = timed(lambda: rule(op, Rin))
            name = type(rule).__name__
            R = rule(op, Rin)
        else:
            Rin = R
            t = timed(lambda: layer.relevance(Rin, caches[i]))
            name = "pass"
            R = layer.relevance(Rin, caches[i])
        print(json.dumps({
            "layer": i,
            "type": type(layer).__name__,
            "rule": name,
            "output_shape": list(outs[i].shape),
            "forward_ms": round(fwd_times[i] * 1e3, 3),
            "relevance_ms": round(t * 1e3, 3),
        }), flush=True)
    print(json.dumps({"device": dev, "batch": n, "composite": args.composite, "clock": args.clock,
                      "forward_total_ms": round(sum(fwd_times) * 1e3, 3)}), flush=True)


if __name__ == "__main__":
    main()

"""Bi-LSTM speed: sklrp's batched LRP against the per-sentence algorithm of Arras et al. (JSON lines).

The model is the published SST-5 bi-LSTM of ArrasL/LRP_for_LSTM (hidden size
60, 60-d inputs, 5 classes; ``SKLRP_DATA/lrp_for_lstm/model``; random weights
of the same shapes when absent) with stand-in random embeddings (the published
ones are not distributed), on the 2,210 SST test sentences
(``SKLRP_DATA/lrp_for_lstm/data/sequence_test.txt``; random sentences of the
same lengths when absent).  Timed, median of ``--repeats``:

- sklrp ``predict`` and ``explain`` (LRP-epsilon, eps=1e-3, signal-take-all)
  on all sentences at once, and the ratio explain / predict;
- the *reference*: the authors' algorithm, one sentence at a time, written
  as in their code (NumPy, float64, vectorised over units, a loop over
  time), on the same weights, timed interleaved with sklrp's batched
  explanation of the same sentences (every ``--reference-every``-th one);
  the speed-up (median and minimum over the repeats), and the largest
  difference between the two relevance maps (they agree at
  ``bias_factor=0``, up to float32 rounding with ``--dtype float32``);
- PyTorch's ``nn.LSTM`` forward (bidirectional, packed sequences) on the
  same weights when torch is installed (``pip install torch==2.13.0``, the
  CPU build), against sklrp's ``predict``.

Usage::

    python benchmarks/bench_lstm.py [--repeats 5] [--dtype float32] [--device cuda]
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import sklrp


def _median_time(fn, repeats, sync=lambda: None):
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def load_model_and_sentences(seed=0):
    """Weights (published layout), vocabulary size and the test sentences as lists of word ids."""
    home = Path(os.environ.get("SKLRP_DATA", Path.home() / "sklrp_data")) / "lrp_for_lstm"
    rng = np.random.RandomState(seed)
    if (home / "model" / "model.npz").is_file():
        with np.load(home / "model" / "model.npz", allow_pickle=False) as archive:
            w = {k: archive[k] for k in archive.files}
        source = "published"
    else:
        w = {}
        for side in ("Left", "Right"):
            w.update({f"Wxh_{side}": rng.normal(0, 0.3, (240, 60)), f"bxh_{side}": rng.normal(0, 0.3, 240),
                      f"Whh_{side}": rng.normal(0, 0.3, (240, 60)), f"bhh_{side}": rng.normal(0, 0.3, 240),
                      f"Why_{side}": rng.normal(0, 0.3, (5, 60))})
        source = "random"
    n_words = 19538
    lines = []
    if (home / "data" / "sequence_test.txt").is_file() and (home / "model" / "vocab.txt").is_file():
        vocab = (home / "model" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
        index = {word: i for i, word in enumerate(vocab)}
        for line in (home / "data" / "sequence_test.txt").read_text(encoding="utf-8").splitlines():
            lines.append([index[word] for word in line.split("\t")[1].split(" | ")])
    else:
        lengths = rng.randint(2, 57, 2210)
        lines = [list(rng.randint(0, n_words, k)) for k in lengths]
    return w, n_words, lines, source


# --------------------------------------------------------------------------- the authors' algorithm
def _lrp_linear(hin, w, b, hout, Rout, n, eps, bias_factor):
    """The epsilon rule as ArrasL/LRP_for_LSTM writes it (dense matrices, one sentence)."""
    sign_out = np.where(hout[None, :] >= 0, 1.0, -1.0)
    numer = w * hin[:, None] + bias_factor * (b[None, :] + eps * sign_out) / n
    return (numer / (hout[None, :] + eps * sign_out) * Rout[None, :]).sum(axis=1)


def reference_lrp(w, E, ids, target, eps=1e-3, bias_factor=0.0):
    """Per-sentence bi-LSTM LRP (signal-take-all) in the style of the authors' code."""
    X = E[np.asarray(ids)]
    T, e = X.shape
    d = w["Whh_Left"].shape[1]
    gi, gg, gf, go = (np.arange(k * d, (k + 1) * d) for k in range(4))

    def run(side, Xs):
        Wxh, Whh, b = w["Wxh_" + side], w["Whh_" + side], w["bxh_" + side] + w["bhh_" + side]
        h, c = np.zeros((T + 1, d)), np.zeros((T + 1, d))
        pre, gates = np.zeros((T, 4 * d)), np.zeros((T, 4 * d))
        for t in range(T):
            pre[t] = Wxh @ Xs[t] + Whh @ h[t - 1] + b
            gates[t] = 1.0 / (1.0 + np.exp(-pre[t]))
            gates[t, gg] = np.tanh(pre[t, gg])
            c[t] = gates[t, gf] * c[t - 1] + gates[t, gi] * gates[t, gg]
            h[t] = gates[t, go] * np.tanh(c[t])
        return h, c, pre, gates

    def back(side, Xs, h, c, pre, gates, Rh_last):
        Wxh, Whh, b = w["Wxh_" + side], w["Whh_" + side], w["bxh_" + side] + w["bhh_" + side]
        Rh, Rc, Rx = np.zeros((T + 1, d)), np.zeros((T + 1, d)), np.zeros((T, e))
        Rh[T - 1] = Rh_last
        eye, zero = np.identity(d), np.zeros(d)
        for t in reversed(range(T)):
            Rc[t] += Rh[t]
            Rc[t - 1] = _lrp_linear(gates[t, gf] * c[t - 1], eye, zero, c[t], Rc[t], 2 * d, eps, bias_factor)
            Rg = _lrp_linear(gates[t, gi] * gates[t, gg], eye, zero, c[t], Rc[t], 2 * d, eps, bias_factor)
            Rx[t] = _lrp_linear(Xs[t], Wxh[gg].T, b[gg], pre[t, gg], Rg, d + e, eps, bias_factor)
            Rh[t - 1] = _lrp_linear(h[t - 1], Whh[gg].T, b[gg], pre[t, gg], Rg, d + e, eps, bias_factor)
        return Rx

    L, R = run("Left", X), run("Right", X[::-1])
    s = w["Why_Left"] @ L[0][T - 1] + w["Why_Right"] @ R[0][T - 1]
    Rout = np.where(np.arange(len(s)) == target, s, 0.0)
    zero = np.zeros_like(s)
    RhL = _lrp_linear(L[0][T - 1], w["Why_Left"].T, zero, s, Rout, 2 * d, eps, bias_factor)
    RhR = _lrp_linear(R[0][T - 1], w["Why_Right"].T, zero, s, Rout, 2 * d, eps, bias_factor)
    return (back("Left", X, *L, RhL) + back("Right", X[::-1], *R, RhR)[::-1]).sum(axis=1)


# --------------------------------------------------------------------------- PyTorch
def torch_lstm(w, E, dtype):
    import torch

    d = w["Whh_Left"].shape[1]
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    lstm = torch.nn.LSTM(E.shape[1], d, bidirectional=True, batch_first=True).to(tdtype)
    # PyTorch's gate order is i, f, g, o; the published one i, g, f, o
    order = np.r_[0:d, 2 * d : 3 * d, d : 2 * d, 3 * d : 4 * d]
    with torch.no_grad():
        for side, suffix in (("Left", ""), ("Right", "_reverse")):
            getattr(lstm, "weight_ih_l0" + suffix).copy_(torch.from_numpy(w["Wxh_" + side][order]))
            getattr(lstm, "weight_hh_l0" + suffix).copy_(torch.from_numpy(w["Whh_" + side][order]))
            getattr(lstm, "bias_ih_l0" + suffix).copy_(torch.from_numpy(w["bxh_" + side][order]))
            getattr(lstm, "bias_hh_l0" + suffix).copy_(torch.from_numpy(w["bhh_" + side][order]))
    out = torch.from_numpy(np.concatenate([w["Why_Left"], w["Why_Right"]], axis=1)).to(tdtype)
    emb = torch.from_numpy(E.astype(dtype))

    def predict(ids, lengths):
        with torch.no_grad():
            x = torch.nn.utils.rnn.pack_padded_sequence(emb[ids], lengths, batch_first=True, enforce_sorted=False)
            _, (h, _) = lstm(x)
            return torch.cat([h[0], h[1]], dim=1) @ out.T

    return predict


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float32",
                    help="sklrp's dtype (float32: the estimator's default for token ids)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--reference-every", type=int, default=1,
                    help="time the per-sentence reference on every k-th sentence (default 1: all)")
    args = ap.parse_args()
    dtype = np.dtype(args.dtype)
    w, n_words, sentences, source = load_model_and_sentences()
    E = np.random.RandomState(1).normal(0, 0.5, (n_words, 60))
    print(json.dumps({"bench": "lstm", "machine": platform.machine(), "weights": source,
                      "n_sentences": len(sentences), **vars(args)}))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # the published model with the stand-in embeddings
        folder = Path(tmp)
        np.savez(folder / "model.npz", **w)
        (folder / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(n_words)), encoding="utf-8")
        pipe = sklrp.load_lrp_for_lstm(folder, embeddings=E, max_length=max(map(len, sentences)),
                                       dtype=args.dtype)
    clf = pipe[-1]
    X = np.zeros((len(sentences), clf.n_features_in_), dtype=np.int64)
    for n, s in enumerate(sentences):
        X[n, : len(s)] = np.asarray(s) + 1
    sync = lambda: None  # noqa: E731
    if args.device == "cuda":
        import cupy as cp

        X = cp.asarray(X)
        sync = cp.cuda.Device().synchronize
    t_pred = _median_time(lambda: clf.predict(X), args.repeats, sync)
    t_lrp = _median_time(lambda: clf.explain(X, target=0), args.repeats, sync)
    t_sa = _median_time(lambda: clf.explain(X, target=0, method="sensitivity"), args.repeats, sync)
    n = len(sentences)
    print(json.dumps({"bench": "lstm_sklrp", "device": args.device, "dtype": args.dtype,
                      "predict_sentences_per_s": round(n / t_pred, 1), "lrp_sentences_per_s": round(n / t_lrp, 1),
                      "sensitivity_sentences_per_s": round(n / t_sa, 1),
                      "explain_over_predict": round(t_lrp / t_pred, 2),
                      "sensitivity_over_predict": round(t_sa / t_pred, 2)}))
    if args.device == "cpu":
        # the reference on every k-th sentence (all lengths), interleaved with sklrp on the same ones
        sub = np.arange(0, n, args.reference_every)
        Xs = X[sub]
        R = clf.explain(Xs, target=0)
        R_ref = [reference_lrp(w, E, sentences[k], 0) for k in sub]
        diff = max(float(np.abs(R[j, : len(r)] - r).max()) for j, r in enumerate(R_ref))
        scale = max(float(np.abs(r).max()) for r in R_ref)
        t_ref, t_ours = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for k in sub:
                reference_lrp(w, E, sentences[k], 0)
            t_ref.append(time.perf_counter() - t0)
            t_ours.append(_median_time(lambda: clf.explain(Xs, target=0), 1))
        ratios = np.array(t_ref) / np.array(t_ours)
        print(json.dumps({"bench": "lstm_reference", "n_sentences": len(sub),
                          "reference_sentences_per_s": round(len(sub) / float(np.median(t_ref)), 1),
                          "sklrp_lrp_sentences_per_s": round(len(sub) / float(np.median(t_ours)), 1),
                          "speedup_median": round(float(np.median(ratios)), 1),
                          "speedup_min": round(float(ratios.min()), 1),
                          "max_abs_difference": diff, "max_abs_relevance": scale}))
        try:
            import torch

            torch.set_num_threads(os.cpu_count() or 1)
            predict = torch_lstm(w, E, dtype)
            lengths = torch.tensor([len(s) for s in sentences])
            ids = torch.from_numpy(np.where(X > 0, X - 1, 0))
            scores = predict(ids, lengths).numpy()
            t_torch = _median_time(lambda: predict(ids, lengths), args.repeats)
            print(json.dumps({"bench": "lstm_torch_forward", "torch": torch.__version__,
                              "torch_sentences_per_s": round(n / t_torch, 1),
                              "sklrp_predict_sentences_per_s": round(n / t_pred, 1),
                              "sklrp_over_torch_speed": round(t_torch / t_pred, 2),
                              "max_abs_score_difference": float(np.abs(scores - clf.decision_function(X)).max())}))
        except ImportError as exc:
            print(json.dumps({"bench": "lstm_torch_forward", "skipped": f"torch not importable: {exc!r}"}))


if __name__ == "__main__":
    main()

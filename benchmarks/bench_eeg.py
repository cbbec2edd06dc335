"""EEG nets: explain / predict time and one subject's training time beside CSP+LDA (JSON lines).

Subject 1, hands vs feet imagery of the PhysioNet EEGBCI data (``MNE_DATA``;
64 channels, the 1-2 s window, 161 samples), band-passed 7-30 Hz as in MNE's
CSP example.  For each architecture of ``EEGDNNClassifier``: the time to fit
on the 45 trials (``max_iter`` epochs), and, on a batch of ``--batch`` trials
(the 45 repeated), the median time of ``predict`` and of ``explain`` for LRP,
sensitivity and gradient x input, with the ratios explain / predict.  MNE's
CSP(4) + LDA is fitted on the same trials for comparison.

Usage::

    python benchmarks/bench_eeg.py [--batch 512] [--repeats 5] [--epochs 100]
"""

import argparse
import json
import platform
import time
import warnings

import numpy as np


def _median(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--path", default=None)
    args = ap.parse_args()
    import mne
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    from sklrp import EEGDNNClassifier
    from sklrp.eeg import load_eegbci

    mne.set_log_level("ERROR")
    warnings.simplefilter("ignore")
    epochs = load_eegbci(1, "hands_feet", path=args.path).crop(tmin=1.0, tmax=2.0)
    X = epochs.get_data(copy=True).astype(np.float32)
    X /= X.std()
    y = epochs.events[:, -1]
    print(json.dumps({"bench": "eeg", "machine": platform.machine(), "trials": X.shape, **vars(args)}, default=str))
    t0 = time.perf_counter()
    make_pipeline(CSP(4, reg=None, log=True, norm_trace=False), LinearDiscriminantAnalysis()).fit(
        X.astype(np.float64), y)
    csp = time.perf_counter() - t0
    batch = np.concatenate([X] * (args.batch // len(X) + 1))[: args.batch]
    for arch in ("shallow", "dnn"):
        clf = EEGDNNClassifier(arch, max_iter=args.epochs, batch_size=16, random_state=0)
        t0 = time.perf_counter()
        clf.fit(X, y)
        fit = time.perf_counter() - t0
        t_pred = _median(lambda: clf.predict(batch), args.repeats)
        row = {"bench": "eeg_net", "architecture": arch, "fit_seconds": round(fit, 2),
               "csp_lda_fit_seconds": round(csp, 3), "predict_trials_per_s": round(len(batch) / t_pred, 1)}
        for method in ("lrp", "sensitivity", "gradient_x_input"):
            t = _median(lambda m=method: clf.explain(batch, method=m), args.repeats)
            row[f"{method}_over_predict"] = round(t / t_pred, 2)
        print(json.dumps(row))


if __name__ == "__main__":
    main()

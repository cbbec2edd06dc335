"""Single-trial EEG: DNN vs CSP+LDA, transfer, and where LRP puts the relevance (``sklrp reproduce eeg``).

Sturm, Lapuschkin, Samek and Müller (J. Neurosci. Methods 2016) classify
single motor-imagery trials with a neural network, explain each decision with
LRP, and report that (1) the network is about as accurate as CSP+LDA, (2) its
heatmaps lie over sensorimotor cortex and resemble CSP patterns, and (3)
pre-training on other subjects helps the low performers.  On the PhysioNet
EEGBCI data (``MNE_DATA``), with MNE's CSP example protocol (band-pass
7-30 Hz, the 1-2 s window after the cue, 10 shuffle splits with 20 % test,
``random_state=42``), the experiment prints one JSON object per line:

- ``accuracy``: per subject and task, CSP(4)+LDA, the DNN within subject, and
  (left vs right) the DNN pre-trained on the other subjects and fine-tuned on
  the subject's training trials; all on the same splits;
- ``localisation``: on :func:`sklrp.eeg.simulate_motor_imagery` data (a known
  mu-band power drop over C3 or C4 in a known window), the share of positive
  relevance of correctly classified trials that lies on the injected channels
  (C3 and C4: the class is told by comparing them), their neighbours and the
  window, and on the trial's own injected channel alone, for LRP-epsilon, LRP
  with the w^2 rule on the input block (:func:`input_block_w2`), SA and
  gradient x input; and on the real data, the share of relevance on C3, C4,
  Cz and their neighbours against their share of the channels;
- ``claim``: the paper's claims, reproduced or not, with the numbers.

Figures: ``accuracy.png`` (per task and subject, with the real data) and
``localisation.png`` (the relevance shares on the simulated data).

Usage::

    sklrp reproduce eeg [--subjects 1 2 3] [--tasks hands_feet left_right] [--no-transfer]
"""

import copy
import time

import numpy as np
from sklearn.model_selection import ShuffleSplit
from sklearn.pipeline import make_pipeline

from ..base import explain
from ..eeg import EuclideanAlignment, load_eegbci, simulate_motor_imagery
from ..eeg._datasets import _neighbours
from ..estimators import EEGDNNClassifier
from ._common import (
    Steps,
    emit,
    fit_quietly,
    fraction,
    new_figure,
    positive_float,
    positive_int,
    save_figure,
)

__all__ = ["add_arguments", "input_block_w2", "run"]

#: the subjects run by default: those with all runs of the task staged in the shared data folder
TASK_SUBJECTS = {
    "hands_feet": (1, 15, 42),
    "left_right": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 42),
}
SENSORIMOTOR = ("C3", "C4", "Cz")



def _dnn(args, info):
    from mne.decoding import Scaler

    return make_pipeline(
        EuclideanAlignment() if args.align else Scaler(info, scalings="mean"),
        EEGDNNClassifier(args.architecture, activation=args.activation, n_temporal_filters=args.temporal_filters,
                         temporal_kernel=args.temporal_kernel, n_spatial_filters=args.spatial_filters,
                         pool_size=args.pool_size, pool_stride=args.pool_size, dropout=args.dropout,
                         max_iter=args.epochs, batch_size=args.batch_size, learning_rate_init=args.lr,
                         random_state=0),
    )


def _csp():
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    return make_pipeline(CSP(n_components=4, reg=None, log=True, norm_trace=False), LinearDiscriminantAnalysis())


def _load(subject, task, args):
    import mne

    mne.set_log_level("ERROR")
    epochs = load_eegbci(subject, task, tmin=-1.0, tmax=4.0, l_freq=7.0, h_freq=30.0, path=args.path)
    cropped = epochs.copy().crop(tmin=1.0, tmax=2.0)
    return cropped.get_data(copy=True), epochs.events[:, -1] - 1, cropped.info



def _neighbourhood(info, names, radius=0.06):
    """Boolean mask of the channels ``names`` and their neighbours within ``radius`` metres."""
    near = _neighbours(info, [n for n in names if n in info.ch_names], radius)
    keep = set(near) | {n for ns in near.values() for n in ns}
    return np.array([ch in keep for ch in info.ch_names])


def _accuracies(task, args, data, steps):
    cv = ShuffleSplit(args.n_splits, test_size=0.2, random_state=42)
    results = {}
    for subject in data:
        with steps.step(f"{task}: subject {subject}"):
            results[subject] = _subject(task, subject, args, data, cv)
    return results


def _subject(task, subject, args, data, cv):
    """Accuracies of one subject (CSP+LDA, the DNN, transfer) and where the DNN puts its relevance."""
    X, y, info = data[subject]
    splits = list(cv.split(X))
    t0 = time.perf_counter()
    csp = [np.mean(fit_quietly(_csp(), X[tr], y[tr]).predict(X[te]) == y[te]) for tr, te in splits]
    t_csp = time.perf_counter() - t0
    t0 = time.perf_counter()
    dnn_models = [fit_quietly(_dnn(args, info), X[tr], y[tr]) for tr, _ in splits]
    dnn = [np.mean(m.predict(X[te]) == y[te]) for m, (_, te) in zip(dnn_models, splits)]
    t_dnn = time.perf_counter() - t0
    row = {"csp_lda": float(np.mean(csp)), "dnn": float(np.mean(dnn))}
    extra = {}
    if task == "left_right" and args.transfer and len(data) > 1:
        others = [s for s in data if s != subject]
        # each source subject in its own aligned space (its trials need no labels for that); the
        # target's alignment is the pipeline's, refitted on its training trials by the fine-tuning
        Xs = np.concatenate([EuclideanAlignment().fit_transform(data[s][0]) if args.align else data[s][0]
                             for s in others])
        ys = np.concatenate([data[s][1] for s in others])
        t0 = time.perf_counter()
        pre = _dnn(args, info)
        pre[-1].set_params(max_iter=args.pretrain_epochs)
        pre = fit_quietly(pre, Xs, ys)
        transfer = []
        for tr, te in splits:
            model = copy.deepcopy(pre)
            model[-1].set_params(warm_start=True, max_iter=args.fine_tune_epochs)
            fit_quietly(model, X[tr], y[tr])
            transfer.append(np.mean(model.predict(X[te]) == y[te]))
        row["dnn_transfer"] = float(np.mean(transfer))
        extra["transfer_seconds"] = round(time.perf_counter() - t0, 1)
    # where the within-subject DNN puts its relevance (true class, test trials of every split)
    near = _neighbourhood(info, SENSORIMOTOR)
    mass, mass_w2 = [], []
    for m, (_, te) in zip(dnn_models, splits):
        for out, composite in ((mass, None), (mass_w2, input_block_w2)):
            R = np.clip(_explain_with(m, X[te], y[te], "lrp", composite), 0, None)
            total = R.sum()
            if total > 0:
                out.append(float(R[:, near].sum() / total))
    emit(figure="accuracy", task=task, subject=subject, n_trials=len(y),
         **{k: round(v, 4) for k, v in row.items()},
         csp_lda_std=round(float(np.std(csp)), 4), dnn_std=round(float(np.std(dnn)), 4),
         seconds_csp_lda=round(t_csp, 1), seconds_dnn=round(t_dnn, 1), **extra,
         sensorimotor_relevance_share=round(float(np.mean(mass)), 4) if mass else None,
         sensorimotor_relevance_share_w2=round(float(np.mean(mass_w2)), 4) if mass_w2 else None,
         sensorimotor_channel_share=round(float(near.mean()), 4))
    return row


def input_block_w2(estimator):
    """LRP-epsilon with the w^2 rule on the linear layers that see the input before any non-linearity.

    Deep Taylor decomposition's rule for real-valued, unbounded inputs (EEG
    voltages; Montavon et al. 2017): the relevance of a spatial filter goes
    to the channels in proportion to the squared filter weights.  For the
    shallow network these are the temporal and the spatial convolution.
    """
    from ..nn import Dropout, Flatten, Reshape
    from ..rules import Composite

    net = estimator.net_
    block = []
    for name, layer in zip(net.layer_names(), net.layers):
        if isinstance(layer, (Reshape, Flatten, Dropout)):
            continue
        if not getattr(layer, "uses_rules", False):
            break
        block.append(name)
    return Composite({"default": "epsilon"}, layer_rules={name: "w2" for name in block})


#: relevance methods scored on the simulated data: name -> (explain method, LRP composite or None)
_METHODS = {"lrp": ("lrp", None), "lrp_w2": ("lrp", input_block_w2), "sensitivity": ("sensitivity", None),
            "gradient_x_input": ("gradient_x_input", None)}


def _explain_with(model, X, target, method, composite):
    net = model[-1]
    if composite is None:
        return explain(model, X, target=target, method=method)
    saved = net.composite
    net.set_params(composite=composite(net))
    try:
        return explain(model, X, target=target, method=method)
    finally:
        net.set_params(composite=saved)


def _simulated(args):
    import mne

    sim = simulate_motor_imagery(args.n_simulated, random_state=0, path=args.path)
    # the real data's preprocessing: band-pass 7-30 Hz, the 1-2 s window (inside the injected 0.5-2.5 s)
    keep = (sim.times >= 1.0) & (sim.times <= 2.0)
    X = mne.filter.filter_data(sim.X, sim.sfreq, 7.0, 30.0, verbose="error")[..., keep]
    y = sim.y
    truth = sim.truth[..., keep]
    # the two sites: the class is told by comparing C3 and C4 (a drop at C4 is evidence for "left", the
    # intact C3 as well), so both injected channels, their neighbours and the window are the ground truth
    sites = truth.max(axis=0)
    n_train = int(0.75 * len(y))
    model = fit_quietly(_dnn(args, sim.info), X[:n_train], y[:n_train])
    Xt, yt = X[n_train:], y[n_train:]
    pred = model.predict(Xt)
    ok = pred == yt
    accuracy = float(np.mean(ok))
    if not ok.any():  # nothing classified correctly (a tiny --n-simulated): the test trials' own classes
        ok = np.ones_like(ok)
    shares, own = {}, {}
    for name, (method, composite) in _METHODS.items():
        R = np.clip(_explain_with(model, Xt[ok], yt[ok], method, composite), 0, None)
        total = max(float(R.sum()), 1e-300)
        shares[name] = float((R * sites).sum() / total)
        own[name] = float((R * truth[yt[ok]]).sum() / total)
    emit(figure="localisation", data="simulated", n_test=len(yt), accuracy=round(accuracy, 4),
         truth="both injected channels (C3, C4), their neighbours and the window",
         truth_share_of_samples=round(float(sites.mean()), 4),
         **{f"{m}_share": round(v, 4) for m, v in shares.items()})
    emit(figure="localisation", data="simulated", n_test=len(yt), accuracy=round(accuracy, 4),
         truth="the trial's own injected channel, its neighbours and the window",
         truth_share_of_samples=round(float(truth[0].mean()), 4),
         **{f"{m}_share": round(v, 4) for m, v in own.items()})
    return shares, float(sites.mean())


_MODELS = {"csp_lda": "CSP+LDA", "dnn": "DNN", "dnn_transfer": "DNN, pre-trained on the others"}
_SHARES = {"lrp": "LRP-epsilon", "lrp_w2": "LRP, w$^2$ input", "sensitivity": "SA",
           "gradient_x_input": "gradient x input"}


def _figures(all_results, shares, baseline):
    """accuracy.png (per task and subject; only with real data) and localisation.png (simulated data)."""
    if all_results:
        width = max(5.0, 0.5 * max(len(r) for r in all_results.values()) + 3)
        fig = new_figure(figsize=(width, 3.2 * len(all_results)))
        axes = fig.subplots(len(all_results), 1, squeeze=False)[:, 0]
        for ax, (task, results) in zip(axes, all_results.items()):
            subjects = list(results)
            models = [m for m in _MODELS if any(m in r for r in results.values())]
            width = 0.8 / len(models)
            x = np.arange(len(subjects))
            for i, m in enumerate(models):
                ax.bar(x + (i - (len(models) - 1) / 2) * width, [results[s].get(m, np.nan) for s in subjects],
                       width, label=_MODELS[m])
            ax.axhline(0.5, color="grey", lw=0.8)
            ax.set_xticks(x, [f"S{s}" for s in subjects])
            ax.set_ylim(0, 1)
            ax.set_ylabel("test accuracy")
            ax.set_title(task.replace("_", " vs "), fontsize="small")
            ax.legend(fontsize="x-small", loc="lower right")
        fig.suptitle("Single-trial motor imagery (shuffle splits, 20 % test)", fontsize="medium")
        save_figure(fig, "accuracy.png")

    fig = new_figure(figsize=(5, 3.4))
    ax = fig.subplots()
    ax.bar(list(_SHARES.values()), [shares[m] for m in _SHARES], color=["C3", "C1", "C0", "C2"])
    ax.axhline(0.8, color="grey", lw=0.8, ls="--", label="the claim (80 %)")
    ax.axhline(baseline, color="k", lw=0.8, ls=":", label="share of the samples (chance)")
    ax.legend(fontsize="x-small")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of positive relevance")
    ax.set_title("Simulated motor imagery: relevance on the injected\nchannels (C3, C4), neighbours and window",
                 fontsize="small")
    save_figure(fig, "localisation.png")


def run(args):
    """Run the experiment with the options of :func:`add_arguments`; prints JSON lines and writes figures."""
    emit(figure="settings", **{k: v for k, v in vars(args).items() if k not in ("path", "command", "name")})
    all_results = {}
    # --subjects: exactly those, for every task (a subject without the task's files is a one-line error naming
    # the folder; they were dropped silently when not in TASK_SUBJECTS, and an empty task then failed)
    tasks = {task: list(TASK_SUBJECTS[task]) if args.subjects is None else list(dict.fromkeys(args.subjects))
             for task in ([] if args.only_simulated else args.tasks)}
    with Steps(2 * sum(len(s) for s in tasks.values()) + 1, "eeg") as steps:
        for task, subjects in tasks.items():
            data = {}
            for s in subjects:
                with steps.step(f"{task}: load subject {s}"):
                    data[s] = _load(s, task, args)
            all_results[task] = _accuracies(task, args, data, steps)
        with steps.step("simulated data"):
            shares, baseline = _simulated(args)
    claims = []
    if all_results.get("hands_feet"):
        r = all_results["hands_feet"]
        dnn = float(np.mean([v["dnn"] for v in r.values()]))
        csp = float(np.mean([v["csp_lda"] for v in r.values()]))
        claims.append(("hands vs feet: the DNN's mean accuracy is >= 0.90", dnn >= 0.9,
                       {"dnn": round(dnn, 4), "csp_lda": round(csp, 4)}))
        claims.append(("hands vs feet: DNN about as accurate as CSP+LDA (within 0.05)", abs(dnn - csp) <= 0.05,
                       {"dnn": round(dnn, 4), "csp_lda": round(csp, 4)}))
    r = all_results.get("left_right", {})
    low = [s for s, v in r.items() if v["csp_lda"] < 0.6 and "dnn_transfer" in v]
    if low:
        t = float(np.mean([r[s]["dnn_transfer"] for s in low]))
        c = float(np.mean([r[s]["csp_lda"] for s in low]))
        d = float(np.mean([r[s]["dnn"] for s in low]))
        claims.append((("left vs right, subjects with CSP+LDA < 0.6: transfer beats CSP+LDA and the "
                       "within-subject DNN"), t > c and t > d,
                       {"subjects": low, "dnn_transfer": round(t, 4), "csp_lda": round(c, 4), "dnn": round(d, 4)}))
    claims.append((("simulated data: >= 80 % of LRP's positive relevance (w^2 rule on the input block) on the "
                   "injected channels, their neighbours and window"), shares["lrp_w2"] >= 0.8,
                   {k: round(v, 4) for k, v in shares.items()}))
    for claim, ok, numbers in claims:
        emit(figure="claim", claim=claim, reproduced=bool(ok), numbers=numbers)
    _figures(all_results, shares, baseline)


def add_arguments(parser):
    """Add the experiment's options to an ``argparse`` parser."""
    parser.add_argument("--path", default=None,
                        help="EEGBCI data root, the folder holding MNE-eegbci-data (default: MNE_DATA, else "
                             "SKLRP_DATA/eegbci)")
    parser.add_argument("--tasks", nargs="+", default=["hands_feet", "left_right"], choices=sorted(TASK_SUBJECTS))
    parser.add_argument("--subjects", type=positive_int, nargs="+", default=None)
    parser.add_argument("--architecture", default="shallow", choices=["shallow", "dnn"])
    # defaults: a CSP-like shallow net (4 spatial filters, log power over the 1 s window), the best of the
    # settings tried on hands vs feet (10 splits; subject 1 / 15): 0.86 / 0.72, against 0.82 / 0.63 with
    # ReLU instead of the log power, 0.67 (subject 1) for 20 temporal x 20 spatial filters with ReLU and
    # 0.51 for the fully connected net; CSP+LDA: 0.93 / 0.97
    parser.add_argument("--activation", default="square", choices=["square", "relu"])
    parser.add_argument("--temporal-filters", type=positive_int, default=1)
    parser.add_argument("--temporal-kernel", type=positive_int, default=1)
    parser.add_argument("--spatial-filters", type=positive_int, default=4)
    parser.add_argument("--pool-size", type=positive_int, default=161, help="average-pooling window and stride (samples)")
    parser.add_argument("--dropout", type=fraction, default=0.0)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--epochs", type=positive_int, default=300)
    parser.add_argument("--lr", type=positive_float, default=3e-3)
    parser.add_argument("--pretrain-epochs", type=positive_int, default=30,
                        help="epochs on the other subjects' trials (about 14 times the target's)")
    parser.add_argument("--fine-tune-epochs", type=positive_int, default=30)
    parser.add_argument("--no-transfer", dest="transfer", action="store_false")
    parser.add_argument("--no-align", dest="align", action="store_false",
                        help="scale each channel (mne.decoding.Scaler) instead of the Euclidean alignment of each "
                             "subject's trials (sklrp.eeg.EuclideanAlignment)")
    parser.add_argument("--n-splits", type=positive_int, default=10, help="shuffle splits (MNE's example: 10)")
    parser.add_argument("--n-simulated", type=positive_int, default=200, help="simulated trials (3/4 train, 1/4 test)")
    parser.add_argument("--only-simulated", action="store_true", help="skip the real data")
    return parser

"""
===========================================================================
Where does the network look? LRP heatmaps of single-trial motor-imagery EEG
===========================================================================

Sturm, Lapuschkin, Samek and Müller (J. Neurosci. Methods 2016) classify
single EEG trials of imagined movements with a neural network and explain
every decision with LRP as a channel x time heatmap.  They report that the
network is about as accurate as the classic CSP+LDA pipeline and that its
heatmaps lie over the sensorimotor cortex, where the CSP patterns are.

We follow MNE's CSP example on subject 1 of the PhysioNet EEG Motor
Movement/Imagery data set (EEGBCI): imagined movement of both hands vs both
feet, band-passed to 7-30 Hz, the 1-2 s window after the cue, 10 shuffle
splits with 20 % test trials.  The network is a CSP-like shallow
:class:`~sklrp.EEGDNNClassifier` (four spatial filters, rectification,
averaging over the whole second, a dense layer) behind MNE's ``Scaler``.
We compare it with CSP+LDA, show its relevance on the scalp with
:class:`~sklrp.eeg.RelevanceTopomapDisplay` and MNE's own plots
(:func:`~sklrp.eeg.relevance_to_evoked`), draw a single trial as a channel
x time heatmap, correlate the relevance with the CSP patterns, and finally
score LRP, sensitivity analysis (SA) and gradient x input against a known
ground truth (:func:`~sklrp.eeg.simulate_motor_imagery`).

The EDF files are read from ``$MNE_DATA`` (MNE's layout,
``MNE-eegbci-data/files/eegmmidb/1.0.0/S001``); nothing is downloaded.
``sklrp reproduce eeg`` runs the full experiment (more subjects, left vs
right imagery, transfer between subjects).
"""

import time
import warnings

import matplotlib.pyplot as plt
import mne
import numpy as np
from mne.decoding import CSP, Scaler
from sklearn.base import clone
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, cross_val_score
from sklearn.pipeline import make_pipeline

import sklrp
from sklrp import EEGDNNClassifier
from sklrp.eeg import (
    RELEVANCE_PLOT_KWARGS,
    RelevanceTopomapDisplay,
    csp_relevance_correlation,
    load_eegbci,
    relevance_to_evoked,
    simulate_motor_imagery,
)
from sklrp.rules import Composite

mne.set_log_level("ERROR")
# the networks train for a fixed budget of 300 epochs; don't warn about it
warnings.filterwarnings("ignore", category=ConvergenceWarning)
t_start = time.perf_counter()

try:
    epochs = load_eegbci(1, "hands_feet", tmin=-1.0, tmax=4.0, l_freq=7.0, h_freq=30.0)
except FileNotFoundError as exc:
    raise SystemExit(f"This example needs the EEGBCI data of subject 1 (set MNE_DATA): {exc}") from None
epochs = epochs.crop(tmin=1.0, tmax=2.0)  # 1-2 s after the cue: 161 samples at 160 Hz
X = epochs.get_data(copy=True)            # (n_trials, 64 channels, 161 samples), volts
y = epochs.events[:, -1] - 1              # 0 = hands, 1 = feet
info = epochs.info
names = list(epochs.event_id)             # ["hands", "feet"]
print(f"{X.shape[0]} trials of {X.shape[1]} channels x {X.shape[2]} samples; "
      f"{np.bincount(y).tolist()} trials of {names}")

# %%
# CSP+LDA against the network
# ---------------------------
# CSP finds four spatial filters whose band power differs most between the
# classes; LDA separates their log-power.  The network learns four spatial
# filters too (a convolution across all channels), rectifies their output
# and averages it over the second: a band-power detector that LRP can
# explain layer by layer.  ``Scaler(scalings="mean")`` standardises every
# channel (the data are in volts).  Both are scored on the same ten splits;
# with 36 training trials per split the network trails CSP+LDA on this
# subject.
csp_lda = make_pipeline(CSP(n_components=4, reg=None, log=True, norm_trace=False),
                        LinearDiscriminantAnalysis())
pipe = make_pipeline(
    Scaler(info, scalings="mean"),
    EEGDNNClassifier("shallow", n_temporal_filters=1, temporal_kernel=1, n_spatial_filters=4,
                     pool_size=161, pool_stride=161, dropout=0.0, max_iter=300, batch_size=8,
                     learning_rate_init=3e-3, random_state=0),
)
cv = ShuffleSplit(10, test_size=0.2, random_state=42)
t0 = time.perf_counter()
acc_csp = cross_val_score(csp_lda, X, y, cv=cv)
t_csp = time.perf_counter() - t0
t0 = time.perf_counter()
acc_dnn = cross_val_score(pipe, X, y, cv=cv)
t_dnn = time.perf_counter() - t0
print(f"CSP+LDA accuracy: {acc_csp.mean():.3f} +/- {acc_csp.std():.3f} ({t_csp:.1f} s)")
print(f"network accuracy: {acc_dnn.mean():.3f} +/- {acc_dnn.std():.3f} ({t_dnn:.1f} s)")
print(f"chance level: {max(np.mean(y), 1 - np.mean(y)):.3f}")

# %%
# Explain every trial
# -------------------
# Fit both models on all trials and explain the network's score of each
# trial's *true* class.  ``sklrp.explain`` sends the relevance through the
# scaler back to the epochs, so ``R`` has their shape, one value per
# channel and sample.  Positive relevance is evidence for the class,
# negative relevance evidence against it.
pipe.fit(X, y)
csp_lda.fit(X, y)
R = sklrp.explain(pipe, X, target=y)
print(f"relevance: {R.shape}; training accuracy {pipe.score(X, y):.3f}")

# %%
# Class-average relevance on the scalp
# ------------------------------------
# One row per class, one column per time (relevance averaged over 0.1 s
# around it); all panels share the colour limits, centred at zero.  The
# evidence sits over the centro-parietal channels, where the two kinds of
# imagery change the mu and beta rhythms, and over the occipital channels.
disp = RelevanceTopomapDisplay.from_relevance(R, y, info, times=[1.25, 1.5, 1.75], tmin=epochs.tmin,
                                              time_window=0.1, image_interp="nearest")
for row, name in zip(disp.ax_, names):
    row[0].set_ylabel(name)
disp.figure_.suptitle("Class-average LRP relevance (true class)")

# %%
# The same averages as MNE objects
# --------------------------------
# :func:`~sklrp.eeg.relevance_to_evoked` wraps the class averages in
# :class:`mne.EvokedArray`, so every MNE plot works on relevance.  MNE would
# scale ``"eeg"`` channels by 1e6 and call the unit µV;
# :data:`~sklrp.eeg.RELEVANCE_PLOT_KWARGS` shows the relevance unscaled.
evokeds = relevance_to_evoked(R, info, tmin=epochs.tmin, y=y)
evokeds[1].comment = "feet"
evokeds[1].plot_joint(times=[1.25, 1.5, 1.75], title="Relevance for 'feet' (class average)",
                      ts_args=RELEVANCE_PLOT_KWARGS, topomap_args=RELEVANCE_PLOT_KWARGS)

# %%
# One trial as a channel x time heatmap
# -------------------------------------
# The relevance of the first 'feet' trial, as the paper draws it: channels
# on the vertical axis, time on the horizontal one, red for and blue against
# the class.  The colour map is centred at zero.  The rows follow the
# recording's channel order: the 21 sensorimotor channels (FC, C and CP
# rows) first, then the frontal, temporal, parietal and occipital ones;
# a few sensorimotor channels and, for orientation, Fz, Pz and Oz are
# named.
trial = int(np.flatnonzero(y == 1)[0])
heat = R[trial]
m = np.abs(heat).max()
fig, ax = plt.subplots(figsize=(7, 6.5), layout="constrained")
im = ax.imshow(heat, aspect="auto", cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest",
               extent=(epochs.times[0], epochs.times[-1], len(info.ch_names) - 0.5, -0.5))
shown = [ch for ch in ("FCz", "C3", "Cz", "C4", "CPz", "Fz", "Pz", "Oz") if ch in info.ch_names]
ax.set_yticks([info.ch_names.index(ch) for ch in shown])
ax.set_yticklabels(shown, fontsize=7)
ax.set_xlabel("time after cue (s)")
ax.set_ylabel("channel")
ax.set_title(f"LRP relevance of trial {trial} (true class 'feet', "
             f"predicted {names[pipe.predict(X[trial:trial + 1])[0]]!r})", fontsize=10)
fig.colorbar(im, ax=ax, label="relevance")

# %%
# Does the network look where CSP looks?
# --------------------------------------
# Correlate each class's relevance topography (averaged over trials and
# time) with the four CSP patterns, across the 64 channels.  The sign of a
# CSP pattern is arbitrary, so the absolute correlation counts.
csp = csp_lda[0]
corr = csp_relevance_correlation(R, y, csp)
for c, name in enumerate(names):
    print(f"{name:>5}: |r| with CSP patterns 1-4 = {np.round(corr.abs_correlation[c], 3).tolist()}; "
          f"best: pattern {corr.best[c] + 1} (|r| = {corr.best_abs_correlation[c]:.3f})")

fig, axes = plt.subplots(1, 4, figsize=(8, 2.3), layout="constrained")
for k, ax in enumerate(axes):
    mne.viz.plot_topomap(corr.patterns[k], info, axes=ax, show=False, image_interp="nearest")
    ax.set_title(f"CSP pattern {k + 1}", fontsize=9)

# %%
# Ground truth: simulated desynchronisation
# -----------------------------------------
# Real data hold no ground truth.  :func:`~sklrp.eeg.simulate_motor_imagery`
# takes resting EEG of subject 1 (1-40 Hz) and removes half of the 8-12 Hz
# rhythm of C4 (class 0, "left") or C3 (class 1, "right") between 0.5 and
# 2.5 s: ``sim.truth[c]`` marks class ``c``'s channel, its eight neighbours
# and the window.  A trial is "left" because C4's rhythm is low *and* C3's
# is not, so the evidence lies on both sites: we score the share of each
# method's positive relevance (for the true class, correctly classified
# test trials) inside both sites (``sim.truth.max(axis=0)``); a method that
# ignored them would score their share of the samples.  We treat the 4 s
# trials as the real ones (band-pass 7-30 Hz, then keep 1-2 s, inside the
# window) and train the same network on 150 of the 200 trials.  Without the
# band-pass and the crop the small mu-band change drowns in the broadband
# EEG and this network stays at chance on the test trials.
#
# LRP's epsilon rule credits every channel with its weight times its signal,
# a signed product that also rewards the channels a spatial filter uses to
# cancel the background EEG.  For real-valued inputs such as EEG voltages,
# deep Taylor decomposition prescribes the w\ :sup:`2` rule at the input: a
# filter's relevance goes to the channels in proportion to its squared
# weights.  With it on the two convolutions (the linear block that sees the
# input), most of LRP's relevance lies on the two sites.
t0 = time.perf_counter()
try:
    sim = simulate_motor_imagery(200, random_state=0)
except FileNotFoundError as exc:
    raise SystemExit(f"The simulation needs the resting runs of subject 1 (set MNE_DATA): {exc}") from None
keep = (sim.times >= 1.0 - 1e-9) & (sim.times <= 2.0 + 1e-9)
X_sim = mne.filter.filter_data(sim.X, sim.sfreq, 7.0, 30.0)[:, :, keep]
sites = sim.truth[:, :, keep].max(axis=0)         # both sites and the window: (64 channels, 161 samples)
sim_pipe = clone(pipe).set_params(scaler__info=sim.info)
n_train = 150
sim_pipe.fit(X_sim[:n_train], sim.y[:n_train])
Xt, yt = X_sim[n_train:], sim.y[n_train:]
ok = sim_pipe.predict(Xt) == yt
print(f"simulated data: test accuracy {ok.mean():.3f} on {len(yt)} trials; "
      f"the two sites cover {sites.mean():.1%} of the channel x time samples")
w2_input = Composite({"default": "epsilon"}, layer_rules={"conv2d_0": "w2", "conv2d_1": "w2"})
shares = {}
for method, composite, label in (("lrp", "epsilon", "LRP-epsilon"), ("lrp", w2_input, "LRP, w2 input"),
                                 ("sensitivity", "epsilon", "SA"), ("gradient_x_input", "epsilon", "grad x input")):
    sim_pipe[-1].set_params(composite=composite)
    Rs = np.clip(sklrp.explain(sim_pipe, Xt[ok], target=yt[ok], method=method), 0, None)
    shares[label] = float((Rs * sites).sum() / max(Rs.sum(), 1e-300))
    print(f"{label:>16}: {shares[label]:.1%} of the positive relevance on the two sites")
sim_pipe[-1].set_params(composite="epsilon")
print(f"({time.perf_counter() - t0:.1f} s)")

fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.bar(list(shares), list(shares.values()), color=["tab:red", "tab:orange", "tab:gray", "tab:blue"])
ax.axhline(sites.mean(), color="black", linestyle="--", linewidth=0.8, label="the sites' share of samples")
ax.set_ylim(0, 1)
ax.set_ylabel("positive relevance on C3, C4\nand their neighbours")
ax.tick_params(axis="x", labelsize=8)
ax.legend(fontsize=8)

print(f"total: {time.perf_counter() - t_start:.0f} s")
plt.show()

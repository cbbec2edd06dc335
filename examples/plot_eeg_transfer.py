"""
Subject-to-subject transfer for single-trial EEG
================================================

Sturm et al. (2016) report that a network pre-trained on other subjects and
fine-tuned on a new one helps subjects whose own data are hard to classify.
This example runs that protocol on left vs right fist imagery of the
PhysioNet EEGBCI data (needs ``MNE_DATA``): the network of
``sklrp reproduce eeg`` (a CSP-like shallow net: spatial filters, log power)
is pre-trained on five other subjects with :func:`sklrp.eeg.transfer_fit`,
fine-tuned on the target subject's training trials, and compared with
CSP+LDA and the same network trained on the target alone, on the same
shuffle splits.  Every subject's trials are first put in a common space by
:class:`sklrp.eeg.EuclideanAlignment` (whitening by the subject's mean
covariance; no labels needed): each source subject on its own trials, the
target inside the pipeline, refitted on its training trials.  The relevance
of the transferred network is then shown as class-average scalp maps (of the
aligned channels, which stay centred on the channels).
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import mne
import numpy as np
from mne.decoding import CSP
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit
from sklearn.pipeline import make_pipeline

import sklrp
from sklrp import EEGDNNClassifier
from sklrp.eeg import EuclideanAlignment, RelevanceTopomapDisplay, load_eegbci, transfer_fit

warnings.simplefilter("ignore", ConvergenceWarning)
mne.set_log_level("ERROR")
TARGET, SOURCES = 4, (1, 2, 5, 7, 42)


def load(subject):
    epochs = load_eegbci(subject, "left_right").crop(tmin=1.0, tmax=2.0)
    return epochs.get_data(copy=True), epochs.events[:, -1] - 1, epochs.info


try:
    data = {s: load(s) for s in (TARGET,) + SOURCES}
except FileNotFoundError as exc:
    raise SystemExit(f"This example needs the EEGBCI data (set MNE_DATA): {exc}") from None
X, y, info = data[TARGET]
Xs = np.concatenate([data[s][0] for s in SOURCES])
subject = np.concatenate([np.full(len(data[s][1]), s) for s in SOURCES])   # each aligned on its own trials
ys = np.concatenate([data[s][1] for s in SOURCES])
print(f"target S{TARGET:03d}: {len(y)} trials; sources {SOURCES}: {len(ys)} trials")


def network(max_iter=300):
    return make_pipeline(
        EuclideanAlignment(),   # refitted on the target's trials when fine-tuning
        EEGDNNClassifier("shallow", activation="square", n_temporal_filters=1, temporal_kernel=1,
                         n_spatial_filters=4, pool_size=161, pool_stride=161, dropout=0.0, batch_size=8,
                         learning_rate_init=3e-3, max_iter=max_iter, random_state=0),
    )


# %%
# The same three models on the same splits
# -----------------------------------------
cv = ShuffleSplit(5, test_size=0.2, random_state=42)
scores = {"CSP+LDA": [], "network": [], "network, transferred": []}
t0 = time.perf_counter()
for train, test in cv.split(X):
    csp = make_pipeline(CSP(4, reg=None, log=True, norm_trace=False), LinearDiscriminantAnalysis())
    scores["CSP+LDA"].append(csp.fit(X[train], y[train]).score(X[test], y[test]))
    scores["network"].append(network().fit(X[train], y[train]).score(X[test], y[test]))
    transferred = transfer_fit(network(max_iter=30), Xs, ys, X[train], y[train], source_groups=subject,
                               max_iter=30)
    scores["network, transferred"].append(transferred.score(X[test], y[test]))
for name, s in scores.items():
    print(f"{name:>22}: {np.mean(s):.3f} +/- {np.std(s):.3f}")
print(f"({time.perf_counter() - t0:.0f} s)")

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(list(scores), [np.mean(s) for s in scores.values()], yerr=[np.std(s) for s in scores.values()])
ax.axhline(0.5, color="grey", ls="--", lw=1)
ax.set_ylabel("test accuracy")
ax.set_title(f"left vs right imagery, subject {TARGET}")
fig.tight_layout()

# %%
# Where the transferred network looks
# -----------------------------------
# Relevance of the true class for every trial, averaged per class; one
# symmetric colour scale for all maps.
model = transfer_fit(network(max_iter=30), Xs, ys, X, y, source_groups=subject, max_iter=30)
R = sklrp.explain(model, X, target=y)
disp = RelevanceTopomapDisplay.from_relevance(R, np.array(["left", "right"])[y], info, times=[1.25, 1.5, 1.75],
                                              tmin=1.0, time_window=0.2, image_interp="nearest")
plt.show()

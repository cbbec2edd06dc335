"""
==================================================
Comparing LRP rule presets by pixel flipping
==================================================

The same network, explained with every composite preset of
:data:`sklrp.rules.COMPOSITES`, and each explanation scored by pixel
flipping: the test digits' pixels are replaced, most relevant first, and the
AOPC (area over the perturbation curve) measures how fast the score of the
predicted class falls.  Higher is better; the random order is the floor.

The ranking depends on what "removing" a pixel means.  Uniform noise (the
default of :func:`sklrp.metrics.perturbation_curve`) and setting pixels to the
digits' background value 0 are both shown: they do not agree, which is why
the replacement is a parameter rather than a fixed choice.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklrp import ConvNetClassifier
from sklrp.metrics import aopc_score
from sklrp.plotting import RelevanceHeatmapDisplay
from sklrp.rules import COMPOSITES

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
net = ConvNetClassifier(
    input_shape=(1, 8, 8), learning_rate_init=3e-3, batch_size=64, max_iter=12, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    net.fit(X_train, y_train)
print(f"test accuracy: {net.score(X_test, y_test):.3f}")

# %%
# AOPC of every preset
# --------------------
# 100 test digits, 16 steps of one pixel each.  With the tiny default
# ``epsilon=1e-6``, ``"epsilon"`` equals ``"zero"`` (LRP-0), which on a ReLU
# network equals gradient x input; ``"alpha_beta"`` uses the default
# ``alpha=2, beta=1`` and so equals ``"alpha2_beta1"``.
X_eval = X_test[:100]
settings = {"uniform noise": "uniform", "set to 0": 0.0}
relevance = {}
for name in COMPOSITES:
    net.set_params(composite=name)
    relevance[name] = net.explain(X_eval)
relevance["sensitivity"] = net.explain(X_eval, method="sensitivity")
relevance["gradient x input"] = net.explain(X_eval, method="gradient_x_input")
relevance["random order"] = None

scores = {label: {} for label in settings}
for label, replacement in settings.items():
    for name, R in relevance.items():
        scores[label][name] = aopc_score(
            net, X_eval, R, n_steps=16, replacement=replacement, random_state=0,
            n_repeats=2 if R is None else 1,
        )
print(f"{'method':24s}" + "".join(f"{label:>16s}" for label in settings))
for name in relevance:
    print(f"{name:24s}" + "".join(f"{scores[label][name]:16.3f}" for label in settings))

# %%
# Bar chart
# ---------
names = list(relevance)
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
width = 0.4
for k, label in enumerate(settings):
    ax.bar(np.arange(len(names)) + (k - 0.5) * width, [scores[label][n] for n in names], width, label=label)
ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right")
ax.set_ylabel("AOPC (raw score)")
ax.legend(title="replacement")

# %%
# What the presets look like
# --------------------------
# One digit, every preset, on one colour scale (``scale="shared"``, one
# colour bar): every preset decomposes the same class score, so equal colours
# are equal relevance and the presets' magnitudes compare directly; a preset
# that spreads the score over many pixels (``flat``, ``gamma``) looks pale.
fig, axes = plt.subplots(2, (len(COMPOSITES) + 1) // 2, figsize=(10.5, 3.8), layout="constrained")
RelevanceHeatmapDisplay.from_relevance(
    np.stack([relevance[name][0] for name in COMPOSITES]), input_shape=(1, 8, 8), ax=axes.ravel(),
    titles=list(COMPOSITES), scale="shared",
)
for extra in axes.ravel()[len(COMPOSITES):]:
    extra.set_axis_off()
plt.show()

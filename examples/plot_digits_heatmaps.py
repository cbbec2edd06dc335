"""
===========================================
Relevance heatmaps of handwritten digits
===========================================

Train a small convolutional network on scikit-learn's bundled 8x8 digits and
explain its predictions with several methods: LRP (two composites),
sensitivity analysis (squared gradient), gradient x input and guided
backprop.  Red pixels speak for the predicted digit, blue ones against it.
In the grid each method has one colour scale, shared by its digits (the bar
below its column); in the overlay each heatmap has its own scale and bar.
"""

# %%
# Train the network
# -----------------
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklrp import ConvNetClassifier
from sklrp.plotting import RelevanceHeatmapDisplay

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

net = ConvNetClassifier(
    input_shape=(1, 8, 8), learning_rate_init=3e-3, batch_size=64, max_iter=12, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    net.fit(X_train, y_train)
print(f"test accuracy: {net.score(X_test, y_test):.3f}")

# %%
# Explain six test digits
# -----------------------
# ``explain`` returns one relevance per pixel, shaped like ``X``.  The LRP
# composite is a constructor parameter, so ``set_params`` switches it on the
# fitted model.
X_show = X_test[:6]
pred = net.predict(X_show)
methods = {
    "LRP epsilon_plus": ("lrp", "epsilon_plus"),
    "LRP epsilon_gamma_box": ("lrp", "epsilon_gamma_box"),
    "sensitivity": ("sensitivity", None),
    "gradient x input": ("gradient_x_input", None),
    "guided backprop": ("guided_backprop", None),
}

#
# ``scale="shared"`` gives the six digits of a method one colour scale, so
# their colours compare; the colour bars below the columns give each
# method's range (the methods' relevance is not in the same units:
# sensitivity is a squared gradient).
fig, axes = plt.subplots(len(X_show), len(methods) + 1, figsize=(8, 9), layout="constrained")
for i in range(len(X_show)):
    axes[i, 0].imshow(X_show[i].reshape(8, 8), cmap="gray_r")
    axes[i, 0].set_xticks([])
    axes[i, 0].set_yticks([])
    axes[i, 0].set_ylabel(f"pred {pred[i]}")
axes[0, 0].set_title("input", fontsize="small")
for j, (name, (method, composite)) in enumerate(methods.items(), start=1):
    if composite is not None:
        net.set_params(composite=composite)
    RelevanceHeatmapDisplay.from_estimator(
        net, X_show, method=method, ax=axes[:, j], scale="shared", colorbar_kw={"location": "bottom", "label": None}
    )
    axes[0, j].set_title(name, fontsize="small")

# %%
# Overlay on the input
# --------------------
# ``overlay=True`` draws the digit in grey under a semi-transparent heatmap.
# With the default ``scale="sample"`` every panel uses its own limits, shown by
# its colour bar (``disp.vmax_``).
net.set_params(composite="epsilon_gamma_box")
disp = RelevanceHeatmapDisplay.from_estimator(net, X_show, overlay=True, n_cols=6)
print("colour limits:", disp.vmax_.round(3))
plt.show()

"""
=======================================================
Deep Taylor decomposition on MNIST (pretrained LeNet-5)
=======================================================

Deep Taylor decomposition (Montavon et al., Pattern Recognition 2017)
explains a ReLU network with the z+ rule in the hidden layers and the z^B
rule at the input, whose pixels are bounded.  This example runs it on two
networks:

1. the pretrained LeNet-5 of the LRP toolbox, imported from its plain-text
   format with :func:`sklrp.datasets.load_lenet5` (inputs are 32x32 with
   pixels in [-1, 1], so z^B uses ``l = -1``, ``h = 1``);
2. a :class:`~sklrp.ConvNetClassifier` trained here on the 5,000-image MNIST
   training subset (pixels scaled to [0, 1], so ``l = 0``, ``h = 1``).

The data and the LeNet-5 file come from sklrp's data home, ``$SKLRP_DATA``
(see :func:`sklrp.datasets.get_data_home`); nothing is downloaded, and a
missing file is named in the error.
"""

import matplotlib.pyplot as plt
import numpy as np

import sklrp
from sklrp.datasets import load_lenet5, load_mnist
from sklrp.plotting import RelevanceHeatmapDisplay

# %%
# The pretrained LeNet-5
# ----------------------
X32, y = load_mnist("test", return_X_y=True, lrp_toolbox_format=True)
lenet = load_lenet5(composite="deep_taylor", input_bounds=(-1.0, 1.0))
print(f"LeNet-5 accuracy on the first 2,000 test digits: {lenet.score(X32[:2000], y[:2000]):.4f}")

samples = X32[:8]
R_dt = lenet.explain(samples)
# deep Taylor on a ReLU net with z+ keeps most of the score: compare the sums
print("relevance sums :", np.round(R_dt.sum(axis=1), 2))
print("predicted score:", np.round(lenet.decision_function(samples).max(axis=1), 2))

# One colour scale for the eight heatmaps (one colour bar): deep Taylor
# redistributes each predicted score, so the panels' magnitudes compare.
fig, axes = plt.subplots(2, 8, figsize=(12.5, 3.6), layout="constrained")
RelevanceHeatmapDisplay.from_relevance(
    samples, input_shape=(1, 32, 32), ax=axes[0], cmap="gray", scale=1.0, colorbar=False
)
RelevanceHeatmapDisplay.from_relevance(
    R_dt, input_shape=(1, 32, 32), ax=axes[1], titles=[f"class {c}" for c in lenet.predict(samples)],
    scale="shared",
)
fig.suptitle("LeNet-5 (LRP toolbox): input and deep Taylor relevance")

# %%
# A network trained on the MNIST subset
# -------------------------------------
Xtr, ytr = load_mnist("train5k", return_X_y=True)
Xte, yte = load_mnist("test", return_X_y=True)
net = sklrp.ConvNetClassifier(
    input_shape=(1, 28, 28),
    filters=(16, 32),
    kernel_size=5,
    hidden_layer_sizes=(100,),
    max_iter=8,
    batch_size=64,
    random_state=0,
    composite="deep_taylor",
    input_bounds=(0.0, 1.0),
).fit(Xtr / 255.0, ytr)
print(f"ConvNet trained on 5,000 digits: test accuracy {net.score(Xte[:2000] / 255.0, yte[:2000]):.4f}")

R_net = net.explain(Xte[:8] / 255.0)
fig, axes = plt.subplots(1, 8, figsize=(12.5, 2.1), layout="constrained")
RelevanceHeatmapDisplay.from_relevance(R_net, input_shape=(1, 28, 28), ax=axes, scale="shared")
fig.suptitle("ConvNetClassifier trained on the MNIST subset: deep Taylor relevance")
plt.show()

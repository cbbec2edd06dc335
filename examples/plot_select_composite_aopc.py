"""
=============================================
Choosing an LRP composite by its AOPC score
=============================================

Which LRP rules explain a network best?  Accuracy cannot tell: the
composite changes the explanation, never the prediction, so every candidate
scores the same.  The area over the perturbation curve (AOPC, Samek et al.
2017) can: pixels are replaced most relevant first, and the faster the score
of the predicted class falls, the better the explanation found what the
network uses.  ``make_explanation_scorer("aopc")`` turns it into a scorer
for ``GridSearchCV``.
"""

# %%
# A grid search over composites, scored by AOPC
# ---------------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

import sklrp
from sklrp import ConvNetClassifier
from sklrp.metrics import make_explanation_scorer, perturbation_curve

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]

net = ConvNetClassifier(input_shape=(1, 8, 8), learning_rate_init=3e-3, batch_size=64, max_iter=8, random_state=0)
grid = {"composite": ["epsilon", "epsilon_plus", "epsilon_alpha2_beta1", "flat"]}
scoring = {"aopc": make_explanation_scorer("aopc", n_steps=16), "accuracy": "accuracy"}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search = GridSearchCV(net, grid, scoring=scoring, refit="aopc", cv=2).fit(X, y)

for composite, aopc, acc in zip(grid["composite"], search.cv_results_["mean_test_aopc"],
                                search.cv_results_["mean_test_accuracy"]):
    print(f"{composite:>22}: AOPC {aopc:6.3f}   accuracy {acc:.3f}")
print("chosen:", search.best_params_["composite"])

# %%
# The perturbation curves behind the scores
# -----------------------------------------
# The refitted best model, and the same network with the other composites,
# on 200 digits; the random order is the baseline every explanation should
# beat.
best = search.best_estimator_
X_eval = X[:200]
fig, ax = plt.subplots(figsize=(6, 4))
for composite in grid["composite"]:
    est = best.set_params(composite=composite)
    res = perturbation_curve(est, X_eval, sklrp.explain(est, X_eval), n_steps=16, random_state=0)
    ax.plot(res.fraction_perturbed, res.curve, label=f"{composite} (AOPC {res.aopc:.2f})")
res = perturbation_curve(best, X_eval, None, n_steps=16, random_state=0)
ax.plot(res.fraction_perturbed, res.curve, "k--", label=f"random (AOPC {res.aopc:.2f})")
best.set_params(composite=search.best_params_["composite"])
ax.set_xlabel("fraction of pixels replaced (most relevant first)")
ax.set_ylabel("score of the predicted class")
ax.legend(fontsize=8)
ax.set_title("Perturbation curves by composite")
fig.tight_layout()
assert np.isfinite(search.best_score_)
plt.show()

"""
==========================================================================
What is relevant in a newsgroup post? LRP for a bag-of-words linear SVM
==========================================================================

A TF-IDF + linear SVM pipeline on 20 Newsgroups explained with LRP
(Arras et al., PLoS ONE 2017): accuracy, the most relevant words per class, a
highlighted post, word-deletion curves (LRP vs sensitivity analysis vs random),
the explanatory power of relevance-weighted document vectors and a 2-D PCA of
those vectors.

The linear SVM's class score is :math:`f_c(x) = \\sum_i x_i w_{c,i} + b_c`;
LRP gives word :math:`i` the relevance :math:`R_i = x_i w_{c,i} + b_c / D`
(:math:`D` distinct words in the post), so the relevances of a post sum to its
score.  To keep the example quick we use four newsgroups with headers, footers
and quotes removed; ``benchmarks/reproduce_newsgroups.py`` runs all 20.
"""


import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.datasets import load_20newsgroups, load_glove
from sklrp.feature_extraction import RelevanceDocumentVectorizer
from sklrp.metrics import explanatory_power_score, word_deletion_curve
from sklrp.text import highlight_ansi, highlight_html, token_relevances, top_words_per_class

categories = ["comp.graphics", "rec.sport.hockey", "sci.space", "talk.politics.mideast"]
kw = dict(categories=categories, remove=("headers", "footers", "quotes"),
          download_if_missing=False)
train = load_20newsgroups("train", **kw)
test = load_20newsgroups("test", **kw)

# %%
# Fit and explain
# ---------------
pipe = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC()))
pipe.fit(train.data, train.target)
print(f"test accuracy: {np.mean(pipe.predict(test.data) == test.target):.3f}")

R = sklrp.explain(pipe, test.data)  # sparse, the TF-IDF matrix's sparsity pattern
scores = pipe.decision_function(test.data).max(axis=1)  # score of the predicted class
nonempty = R.getnnz(axis=1) > 0  # posts left empty by the removal keep their bias unassigned
err = np.abs(np.asarray(R.sum(axis=1)).ravel() - scores)[nonempty]
print(f"max |sum R - f_c(x)| over {nonempty.sum()} non-empty posts: {err.max():.1e}")

# %%
# Most relevant words per class
# -----------------------------
for c, words in top_words_per_class(pipe, test.data, k=8).items():
    print(f"{test.target_names[c]:>24}: " + ", ".join(w for w, _ in words))

# %%
# A highlighted post
# ------------------
# ``highlight_html`` returns a self-contained page (text escaped, colour scale
# centred at 0); in a notebook the ``TokenRelevances`` object renders itself.
words = token_relevances(pipe, test.data[:1])
html = highlight_html(words, title="First test post")
print(highlight_ansi(words, color=False)[:600])

# %%
# Word deletion
# -------------
# Delete the most relevant words of correctly classified posts (accuracy should
# fall fast) and the most negative words of misclassified posts (accuracy
# should rise), ranking by LRP, by sensitivity analysis (w^2) or at random.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, subset in zip(axes, ["correct", "misclassified"]):
    for method, style in [("lrp", "r-o"), ("sensitivity", "g-s"), ("random", "k--")]:
        curve = word_deletion_curve(pipe, test.data, test.target, method=method, subset=subset,
                                    n_words=10, random_state=0)
        ax.plot(curve.n_deleted, curve.accuracy, style, ms=3, label=method)
    ax.set(title=f"{subset} ({curve.n_documents} posts)", xlabel="words deleted",
           ylabel="accuracy")
axes[0].legend()
fig.tight_layout()

# %%
# Explanatory power and document vectors
# --------------------------------------
glove = load_glove()
for weighting in ["lrp", "sa", "tfidf", "uniform"]:
    d = explanatory_power_score(pipe, test.data, test.target, embeddings=glove,
                                weighting=weighting, n_splits=5, return_details=True)
    print(f"EPI {weighting:>7}: {d.score:.3f} +- {d.std:.3f} (K={d.best_k})")

V = RelevanceDocumentVectorizer(pipe, glove, weighting="lrp").transform(test.data)
P = PCA(n_components=2).fit_transform(V)
fig, ax = plt.subplots(figsize=(5, 4.5))
for c, name in enumerate(test.target_names):
    ax.scatter(*P[test.target == c].T, s=4, label=name)
ax.set(title="LRP-weighted GloVe document vectors (PCA)")
ax.legend(markerscale=3, fontsize="small")
plt.show()

"""
=======================================================================
Retrieving 20 Newsgroups documents with multiple-purpose LSH (mp-LSH)
=======================================================================

One :class:`sklrp.neighbors.MultiPurposeLSH` index over document vectors
answers cosine, inner-product and L2 queries, and re-weights feature groups,
all chosen at query time -- the data are hashed once.

Each document gets two feature groups:

* group 0: the TF-IDF-weighted average of its words' GloVe vectors (50-d);
* group 1: a 20-d latent semantic analysis (truncated SVD) of its TF-IDF
  vector.

We retrieve the 10 nearest training documents of every test document and
measure how many share its newsgroup (precision@10) for several weightings.
"""


import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from sklrp.datasets import load_20newsgroups, load_glove
from sklrp.neighbors import MultiPurposeLSH

categories = ["comp.graphics", "rec.sport.hockey", "sci.space", "talk.politics.mideast"]
train = load_20newsgroups("train", categories=categories, remove=("headers", "footers", "quotes"),
                          download_if_missing=False)
test = load_20newsgroups("test", categories=categories, remove=("headers", "footers", "quotes"),
                         download_if_missing=False)

# %%
# Document vectors
# ----------------
# GloVe vectors of the 5,000 most frequent words; a document vector is the
# TF-IDF-weighted mean of the vectors of its words.
glove = load_glove()
words, E = glove.words, glove.vectors.astype(np.float64)

tfidf = TfidfVectorizer(vocabulary=words, lowercase=True)
T_train = tfidf.fit_transform(train.data)
T_test = tfidf.transform(test.data)


def doc_vectors(T):
    weight = np.asarray(T.sum(axis=1)).ravel()
    return np.asarray(T @ E) / np.where(weight > 0, weight, 1.0)[:, None]


svd = TruncatedSVD(n_components=20, random_state=0).fit(T_train)
X = np.hstack([doc_vectors(T_train), svd.transform(T_train)])
Q = np.hstack([doc_vectors(T_test), svd.transform(T_test)])
keep_train = np.linalg.norm(X, axis=1) > 0  # drop empty documents
keep_test = np.linalg.norm(Q, axis=1) > 0
X, y = X[keep_train], train.target[keep_train]
Q, yq = Q[keep_test], test.target[keep_test]
groups = [0] * 50 + [1] * 20
print(f"{len(X)} training and {len(Q)} test documents, {X.shape[1]} features in 2 groups")

# %%
# One index, many questions
# -------------------------
# The index is built once; ``weights`` and ``group_weights`` change per call.
index = MultiPurposeLSH(n_neighbors=10, n_bits=256, variant="cc", feature_groups=groups,
                        n_candidates=200, random_state=0).fit(X)
codes_before = index.codes_.copy()

settings = {
    "cosine, both groups": dict(weights="cosine", group_weights=[1.0, 1.0]),
    "IP, both groups": dict(weights="ip", group_weights=[1.0, 1.0]),
    "L2, both groups": dict(weights="l2", group_weights=[1.0, 1.0]),
    "cosine, GloVe only": dict(weights="cosine", group_weights=[1.0, 0.0]),
    "cosine, LSA only": dict(weights="cosine", group_weights=[0.0, 1.0]),
    "0.5 cos + 0.5 IP": dict(weights={"cosine": 0.5, "ip": 0.5}, group_weights=[1.0, 1.0]),
}
precision, recall = {}, {}
for name, kw in settings.items():
    ind = index.kneighbors(Q, return_distance=False, **kw)
    exact = index.kneighbors(Q, return_distance=False, n_candidates=len(X), **kw)
    precision[name] = float(np.mean(y[ind] == yq[:, None]))
    recall[name] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ind, exact)]))
    print(f"{name:22s} precision@10 = {precision[name]:.3f}   "
          f"recall@10 vs exact search = {recall[name]:.3f}")

assert np.array_equal(index.codes_, codes_before)  # nothing was re-hashed

# %%
# The neighbours of one document under cosine and under inner product
# -----------------------------------------------------------------------
# Inner product favours long document vectors (confident, on-topic words),
# cosine only their direction.
i = 0
print("query:", test.target_names[yq[i]], "|", " ".join(test.data[np.flatnonzero(keep_test)[i]].split())[:100])
for w in ("cosine", "ip"):
    d, ind = index.kneighbors(Q[i : i + 1], n_neighbors=3, weights=w)
    for dist, j in zip(d[0], ind[0]):
        text = " ".join(train.data[np.flatnonzero(keep_train)[j]].split())[:70]
        print(f"  {w:6s} D={dist:8.3f}  {train.target_names[y[j]]:22s} {text}")

# %%
# Precision of each query-time setting
fig, ax = plt.subplots(figsize=(7, 3))
names = list(settings)
ax.barh(names, [precision[n] for n in names])
ax.set_xlabel("precision@10 (same newsgroup)")
ax.set_xlim(0, 1)
ax.invert_yaxis()
fig.tight_layout()
plt.show()

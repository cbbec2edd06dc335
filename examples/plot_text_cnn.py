"""
===========================================================================
Which words made the word CNN decide? LRP vs sensitivity on newsgroup posts
===========================================================================

A word-based convolutional network (Arras et al., ACL Rep4NLP 2016 and PLoS
ONE 2017) reads newsgroup posts as sequences of word vectors: one convolution
over time, ReLU, max-pooling over time, a dense layer.  LRP sends each post's
class score back through the network onto its words; sensitivity analysis
(the squared gradient with respect to each word's vector) is the baseline.
We highlight three posts with both, and plot a 2-D PCA of the
relevance-weighted document vectors.

To keep the example quick we use four newsgroups with headers, footers and
quotes removed, short documents (200 tokens), 100-d word vectors learned with
the network and 200 filters of width 2;
``benchmarks/reproduce_text_cnn.py`` runs the papers' settings on all 20.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline

import sklrp
from sklrp import TextCNNClassifier
from sklrp.datasets import load_20newsgroups
from sklrp.plotting import DocumentVectorsDisplay
from sklrp.text import TokenSequenceVectorizer, token_relevances

categories = ["comp.graphics", "rec.sport.hockey", "sci.space", "talk.politics.mideast"]
kw = dict(categories=categories, remove=("headers", "footers", "quotes"),
          download_if_missing=False)
train = load_20newsgroups("train", **kw)
test = load_20newsgroups("test", **kw)

# %%
# Fit the word CNN
# ----------------
pipe = make_pipeline(
    TokenSequenceVectorizer(max_length=200, min_df=2),
    TextCNNClassifier(embedding_dim=100, filter_sizes=(2,), n_filters=200,
                      max_iter=8, random_state=0),
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed budget of 8 epochs
    pipe.fit(train.data, train.target)
print(f"test accuracy: {np.mean(pipe.predict(test.data) == test.target):.3f}")

# %%
# Explain three posts with LRP and with sensitivity analysis
# ----------------------------------------------------------
R = sklrp.explain(pipe, test.data[:50])  # (50, 200): one relevance per token position, padding 0
scores = pipe.decision_function(test.data[:50]).max(axis=1)
print(f"LRP relevances sum to {R.sum(axis=1)[:3].round(3)}; class scores {scores[:3].round(3)}")
explained = {m: token_relevances(pipe, test.data[:3], method=m) for m in ("lrp", "sensitivity")}
for i in range(3):
    print(f"--- post {i}, explaining {test.target_names[explained['lrp'][i].label]!r}")
    for method, docs in explained.items():
        words = docs[i]
        top = np.argsort(-words.relevance)[:6]
        print(f"{method:>12}: " + ", ".join(f"{words.tokens[t]} ({words.relevance[t]:+.2f})" for t in top))
# ``highlight_html(explained["lrp"][0])`` gives the post as escaped, self-contained HTML
# with every word coloured by its relevance (red: for the class, blue: against).

# %%
# Relevance-weighted document vectors
# -----------------------------------
# A post's vector is the sum of its words' embeddings weighted by their LRP
# relevance (Arras et al. 2016): posts of one class gather where the words that
# decided for it point.
emb = pipe[-1].net_.layers[0].params["weight"]
terms = pipe[0].get_feature_names_out()[: len(emb)]  # ids the network saw in training
vectors = sklrp.feature_extraction.WordEmbeddings(terms[1:], emb[1:])  # id 0 is padding
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, weighting in zip(axes, ("lrp", "uniform")):
    DocumentVectorsDisplay.from_estimator(pipe, test.data[:400], test.target[:400], embeddings=vectors,
                                          weighting=weighting, class_names=test.target_names, ax=ax)
    ax.set_title(f"{weighting} weighting")
fig.tight_layout()
plt.show()

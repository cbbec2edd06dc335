"""
=======================================================================
Why is this review negative? A bi-LSTM on SST-5, explained word by word
=======================================================================

A bidirectional LSTM reads a movie-review sentence left to right and right
to left and rates it on the five-class Stanford Sentiment Treebank (SST-5:
very negative, negative, neutral, positive, very positive).  Arras,
Montavon, Müller and Samek (WASSA 2017) explain such a network with LRP: the
epsilon rule on the linear maps into the gates and on the cell state's sum,
and *signal-take-all* on the gated products (the gates only scale the
signal, so they get no relevance).  Sensitivity analysis (SA, the squared
gradient with respect to each word's vector) is the baseline.

We train a small :class:`~sklrp.BiLSTMClassifier` on the 8,544 training
sentences for three epochs, explain the paper's example sentence and two
more with both methods, check that LRP with ``bias_factor=1`` conserves the
class score, and compare LRP, SA and a random order by deleting the most
relevant words of correctly classified test sentences.

The treebank's tree files are read from the data home,
``$SKLRP_DATA/sst/trees`` (see :func:`sklrp.datasets.get_data_home`);
nothing is downloaded.  ``sklrp reproduce sst-lstm``
runs the full experiment (development-set epoch selection, misclassified
sentences, gradient x input).
"""

import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

import sklrp
from sklrp import BiLSTMClassifier
from sklrp.datasets import load_sst
from sklrp.metrics import word_deletion_curve
from sklrp.text import TokenSequenceVectorizer, highlight_html, token_relevances

try:
    train = load_sst("train")
    test = load_sst("test")
except FileNotFoundError as exc:
    raise SystemExit(f"This example needs the Stanford Sentiment Treebank (set SKLRP_DATA): {exc}") from None
names = test.target_names
print(f"{len(train.data)} training and {len(test.data)} test sentences; classes {names}")

# %%
# Fit the bi-LSTM
# ---------------
# The vectorizer keeps the treebank's tokens (split on spaces, lower-cased);
# words seen fewer than twice map to one out-of-vocabulary id.  Word vectors
# (60-d) are learned with the network; 60 hidden units per direction, as in
# the published model.
pipe = Pipeline([
    ("vectorizer", TokenSequenceVectorizer(lowercase=True, token_pattern=r"[^ ]+", min_df=2, oov="map",
                                           max_length=60)),
    ("classifier", BiLSTMClassifier(embedding_dim=60, hidden_size=60, dropout=0.3, batch_size=64,
                                     max_iter=3, random_state=0)),
])
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed budget of 3 epochs
    pipe.fit(train.data, train.target)
clf = pipe[-1]
print(f"trained in {time.perf_counter() - t0:.0f} s; vocabulary {clf.vocab_size_} ids, blank id {clf.blank_id_}")
print(f"five-class test accuracy: {np.mean(pipe.predict(test.data) == test.target):.3f} "
      "(chance 0.2; about 0.46 for the published model)")

# %%
# Explain three sentences with LRP and with sensitivity analysis
# --------------------------------------------------------------
# :func:`~sklrp.text.token_relevances` explains the predicted class and
# hands each token position's relevance to its word.  LRP is signed (red:
# for the class, blue: against); SA is a squared gradient, never negative.
sentences = [
    "neither funny nor suspenseful nor particularly well-drawn .",
    "it 's a charming and often affecting journey .",
    "the movie is n't painfully bad , it 's just boring .",
]
explained = {m: token_relevances(pipe, sentences, method=m) for m in ("lrp", "sensitivity")}
for i in range(len(sentences)):
    lrp, sa = explained["lrp"][i], explained["sensitivity"][i]
    print(f"--- predicted {names[lrp.label]!r}: {sentences[i]}")
    print("  LRP: " + " ".join(f"{t}({r:+.2f})" for t, r in zip(lrp.tokens, lrp.relevance)))
    print("  SA : " + " ".join(f"{t}({r:.3f})" for t, r in zip(sa.tokens, sa.relevance)))

# The same words as self-contained HTML, coloured by relevance (in a notebook,
# ``explained["lrp"][0]`` displays itself this way).
page = (
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>bi-LSTM on SST-5</title></head><body>"
    + highlight_html(explained["lrp"], title="LRP", full_page=False)
    + highlight_html(explained["sensitivity"], title="sensitivity", full_page=False)
    + "</body></html>\n"
)
html_path = Path(tempfile.gettempdir()) / "sst_lstm_heatmaps.html"
html_path.write_text(page, encoding="utf-8")
print(f"heatmaps written to {html_path}")

# %%
# One bar per word: LRP and SA side by side.  LRP separates the words that
# speak for the predicted class from those against it; SA only says how
# strongly the score reacts to each word's vector.
fig, axes = plt.subplots(len(sentences), 2, figsize=(12, 2.6 * len(sentences)))
for i in range(len(sentences)):
    for ax, (method, title) in zip(axes[i], (("lrp", "LRP"), ("sensitivity", "sensitivity (SA)"))):
        words = explained[method][i]
        x = np.arange(len(words.tokens))
        colors = np.where(words.relevance >= 0, "tab:red", "tab:blue") if method == "lrp" else "tab:gray"
        ax.bar(x, words.relevance, color=colors)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(x)
        ax.set_xticklabels(words.tokens, rotation=40, ha="right")
        ax.set_title(f"{title}, explaining {names[words.label]!r}", fontsize=10)
fig.tight_layout()

# %%
# Conservation: where does the score go?
# ---------------------------------------
# With the default ``bias_factor=0`` the biases and the stabiliser
# (``epsilon=1e-3``) absorb their share of the relevance, as in the paper.
# With ``bias_factor=1`` their shares are spread over the inputs, and the
# only relevance that reaches no word is what the LSTMs' initial states
# receive, which ``return_rest=True`` reports: words plus rest equal the
# explained score.
scores = pipe.decision_function(sentences).max(axis=1)  # the predicted class's raw score
R0 = sklrp.explain(pipe, sentences)
clf.set_params(bias_factor=1)
R1, rest = sklrp.explain(pipe, sentences, return_rest=True)
clf.set_params(bias_factor=0)
print("score                 :", np.round(scores, 4))
print("words, bias_factor=0  :", np.round(R0.sum(axis=1), 4))
print("words, bias_factor=1  :", np.round(R1.sum(axis=1), 4))
print("rest (initial states) :", np.round(rest, 4))
print("words + rest - score  :", np.abs(R1.sum(axis=1) + rest - scores).max())

# %%
# Word deletion
# -------------
# In correctly classified test sentences of at least 10 tokens, delete the
# words one by one, most relevant (for the true class) first, and watch the
# accuracy fall.  A deleted word's vector is set to zero at its position
# (the model's ``blank_id_``), so the sentence keeps its length.  The
# steeper the fall, the better the ranking; random orders are averaged
# over 5 draws.  A large gradient (SA) says that a word *could* move the
# score, not that it did, so SA's ranking does no better than chance
# here, while deleting LRP's top words quickly changes the decisions.
long_ = [i for i, doc in enumerate(test.data) if len(doc.split()) >= 10]
docs, y = [test.data[i] for i in long_], test.target[long_]
t0 = time.perf_counter()
curves = {m: word_deletion_curve(pipe, docs, y, method=m, n_words=5, subset="correct", random_state=0)
          for m in ("lrp", "sensitivity", "random")}
print(f"word deletion on {curves['lrp'].n_documents} sentences ({time.perf_counter() - t0:.0f} s)")
for m, c in curves.items():
    print(f"{m:>12}: " + " ".join(f"{a:.3f}" for a in c.accuracy))

fig, ax = plt.subplots(figsize=(5, 3.8))
labels = {"lrp": "LRP", "sensitivity": "SA", "random": "random (mean of 5)"}
for (m, c), style in zip(curves.items(), ("o-", "s-", "^--")):
    ax.plot(c.n_deleted, c.accuracy, style, label=labels[m])
ax.set_xlabel("words deleted")
ax.set_ylabel("accuracy")
ax.set_title(f"Word deletion, {curves['lrp'].n_documents} correctly classified sentences", fontsize=10)
ax.legend()
fig.tight_layout()
plt.show()

"""Bi-LSTM on SST-5, explained word by word (``sklrp reproduce sst-lstm``).

Arras, Montavon, Müller and Samek (WASSA 2017) explain a bidirectional LSTM
trained on the five-class Stanford Sentiment Treebank with LRP (epsilon rule,
signal-take-all for the gates) and compare it with sensitivity analysis (SA)
by deleting words: in correctly classified test sentences, deleting the words
LRP finds most relevant for the true class should make the accuracy fall
fastest; in misclassified ones, deleting the most negative words first should
make it rise fastest, which SA, being sign-less, cannot do.  The experiment
prints one JSON object per line:

- ``fit`` / ``accuracy``: the bi-LSTM trained here on the training sentences
  and, with ``--phrases``, on all labelled phrases of the training trees;
  the epoch is chosen on the development set; five-class test accuracy;
- ``word_deletion``: accuracy after deleting 0..5 words of the test
  sentences with at least 10 tokens, for LRP, SA, gradient x input and
  random orders (mean of 10), correctly classified and misclassified
  sentences separately; a deleted word's vector is set to zero at its
  position (the model's blank id), as in the paper;
- ``claim``: the paper's claims (LRP steeper than SA in both settings; SA
  close to random for misclassified sentences), reproduced or not, with the
  numbers;
- ``heatmap``: word relevances of a few test sentences (the paper's
  "neither funny nor suspenseful nor particularly well-drawn ." among them),
  written highlighted to ``heatmaps.html`` in the output folder (and to
  ``--html PATH``).

Figure: ``word_deletion.png`` (the deletion curves, correctly classified and
misclassified sentences).

About 10 minutes on a 2-core CPU with ``--phrases`` (3 epochs of 160,000
phrases), 2 minutes without::

    sklrp reproduce sst-lstm [--phrases] [--epochs 4] [--html sst_lstm.html]
"""

import copy
import time

import numpy as np
from sklearn.pipeline import make_pipeline

from ..datasets import load_sst
from ..estimators import BiLSTMClassifier
from ..metrics import word_deletion_curve
from ..text import TokenSequenceVectorizer, highlight_html, token_relevances
from ._common import (
    Steps,
    deletion_panel,
    emit,
    fit_quietly,
    fraction,
    new_figure,
    nonnegative_int,
    output_file,
    positive_float,
    positive_int,
    r4,
    save_figure,
)

__all__ = ["add_arguments", "run"]

#: sentences shown as heatmaps: the paper's example (test sentence #291) and two more
EXAMPLES = (
    "neither funny nor suspenseful nor particularly well-drawn .",
    "it 's a charming and often affecting journey .",
    "the movie is n't painfully bad , it 's just boring .",
)

METHODS = ("lrp", "sensitivity", "gradient_x_input", "random")
LABELS = {"lrp": "LRP", "sensitivity": "SA", "gradient_x_input": "gradient x input", "random": "random (mean of 10)"}




def train(args, docs, y, dev_docs, dev_y, *, name):
    """A (vectorizer, bi-LSTM) pipeline, trained epoch by epoch; the best development epoch is kept."""
    vec = TokenSequenceVectorizer(max_length=args.max_length, lowercase=True, token_pattern=r"[^ ]+",
                                  min_df=2, oov="map").fit(docs)
    clf = BiLSTMClassifier(vocab_size=vec.vocab_size_, embedding_dim=args.dim, hidden_size=args.hidden, cell=args.cell,
                           dropout=args.dropout, batch_size=args.batch_size, learning_rate_init=args.learning_rate,
                           max_iter=1, warm_start=True, random_state=args.seed)
    X, X_dev = vec.transform(docs), vec.transform(dev_docs)
    best, best_acc, history = None, -1.0, []
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        fit_quietly(clf, X, y)
        acc = float(np.mean(clf.predict(X_dev) == dev_y))
        history.append(round(acc, 4))
        if acc > best_acc:
            best, best_acc = copy.deepcopy(clf), acc
    emit(figure="fit", model=name, n_train=len(docs), epochs=args.epochs, dev_accuracy=history,
         best_epoch=int(np.argmax(history)) + 1, seconds=round(time.perf_counter() - t0, 1))
    return make_pipeline(vec, best)


def _figure(curves_by_subset, name):
    """word_deletion.png: accuracy against words deleted, correct and misclassified sentences."""
    fig = new_figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2)
    for ax, (subset, curves) in zip(axes, curves_by_subset.items()):
        first = curves["lrp"]
        first_words = "most relevant" if first.order == "descending" else "most negative"
        deletion_panel(ax, {"n_deleted": first.n_deleted, **{m: curves[m].accuracy for m in METHODS}},
                       {m: LABELS[m] for m in METHODS},
                       f"{subset} ({first.n_documents} sentences; {first_words} words first)")
    fig.suptitle(f"Word deletion, bi-LSTM on SST-5 (trained on {name}; relevance for the true class)",
                 fontsize="medium")
    save_figure(fig, "word_deletion.png")


def run(args):
    """Run the experiment with the options of :func:`add_arguments`; prints JSON lines and writes figures."""
    emit(figure="settings", **{k: v for k, v in vars(args).items() if k not in ("data_home", "command", "name")})
    with Steps(6 + bool(args.phrases), "sst-lstm") as steps:
        with steps.step("data"):
            train_set = load_sst("train", phrases=False, data_home=args.data_home)
            dev = load_sst("dev", data_home=args.data_home)
            test = load_sst("test", data_home=args.data_home)
        with steps.step("train on sentences"):
            models = {"sentences": train(args, train_set.data, train_set.target, dev.data, dev.target,
                                         name="sentences")}
        if args.phrases:
            with steps.step("train on phrases"):
                phrases = load_sst("train", phrases=True, data_home=args.data_home)
                models["phrases"] = train(args, phrases.data, phrases.target, dev.data, dev.target, name="phrases")
        with steps.step("accuracy"):
            for name, pipe in models.items():
                emit(figure="accuracy", model=name, n_test=len(test.data),
                     accuracy=round(float(np.mean(pipe.predict(test.data) == test.target)), 4),
                     published_model_accuracy="about 0.46 (Li et al. 2016 / Arras et al. 2017; not recomputable "
                                              "here)")
        name = "phrases" if args.phrases else "sentences"
        pipe = models[name]
        long_ = [i for i, doc in enumerate(test.data) if len(doc.split()) >= 10]
        docs = [test.data[i] for i in long_]
        y = test.target[long_]
        final, all_curves = {}, {}
        for subset in ("correct", "misclassified"):
            with steps.step(f"word deletion ({subset})"):
                curves = {m: word_deletion_curve(pipe, docs, y, method=m, subset=subset, n_words=5, target="true",
                                                 n_repeats=10, random_state=0) for m in METHODS}
                all_curves[subset] = curves
                final[subset] = {m: float(c.accuracy[-1]) for m, c in curves.items()}
                emit(figure="word_deletion", model=name, subset=subset, n_sentences=curves["lrp"].n_documents,
                     order=curves["lrp"].order, n_deleted=curves["lrp"].n_deleted.tolist(),
                     **{m: r4(c.accuracy) for m, c in curves.items()},
                     random_std=r4(curves["random"].accuracy_std))
        c, m = final["correct"], final["misclassified"]
        claims = [
            ("correctly classified: deleting LRP's most relevant words lowers accuracy more than SA's",
             c["lrp"] < c["sensitivity"], {k: round(v, 4) for k, v in c.items()}),
            ("misclassified: deleting LRP's most negative words raises accuracy more than SA's",
             m["lrp"] > m["sensitivity"], {k: round(v, 4) for k, v in m.items()}),
            ("misclassified: SA is close to random (within 0.05 after 5 deletions)",
             abs(m["sensitivity"] - m["random"]) <= 0.05,
             {"sensitivity": round(m["sensitivity"], 4), "random": round(m["random"], 4)}),
        ]
        for claim, ok, numbers in claims:
            emit(figure="claim", model=name, claim=claim, reproduced=bool(ok), numbers=numbers)
        with steps.step("heatmaps"):
            labels = ["very negative", "negative", "neutral", "positive", "very positive"]
            words = token_relevances(pipe, list(EXAMPLES), target=None, method="lrp")
            for doc, w in zip(EXAMPLES, words):
                emit(figure="heatmap", model=name, sentence=doc, predicted=labels[int(w.label)],
                     tokens=list(w.tokens), relevance=r4(w.relevance))
            html = highlight_html(words)
            for path in (output_file("heatmaps.html"), args.html):
                if path:
                    with open(path, "w", encoding="utf-8") as fh:
                        fh.write(html)
                    emit(figure="html", path=path)
    _figure(all_curves, name)


def add_arguments(parser):
    """Add the experiment's options to an ``argparse`` parser."""
    parser.add_argument("--data-home", default=None, help="folder holding sst/ (default: SKLRP_DATA)")
    parser.add_argument("--phrases", action="store_true",
                        help="also train on all labelled phrases of the training trees (about 4x slower)")
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--dim", type=positive_int, default=60, help="word-vector length (60 in the published model)")
    parser.add_argument("--hidden", type=positive_int, default=60, help="hidden units per direction")
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"], help="the recurrent unit")
    parser.add_argument("--dropout", type=fraction, default=0.3)
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--learning-rate", type=positive_float, default=1e-3)
    parser.add_argument("--max-length", type=positive_int, default=60)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--html", default=None,
                        help="also write the example heatmaps as HTML here (always: OUTPUT/heatmaps.html)")
    return parser

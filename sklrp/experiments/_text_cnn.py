"""Word CNN versus bag-of-words SVM on 20 Newsgroups (``sklrp reproduce text-cnn``).

Arras et al. (ACL Rep4NLP 2016; PLoS ONE 2017) train word CNNs (filter widths
H = 1, 2, 3) and a TF-IDF linear SVM, explain both with LRP down to words and
report that, at similar accuracy, the CNN's relevance-weighted document vectors
have the higher explanatory power (EPI).  The experiment prints one JSON
object per line:

- ``accuracy``: test accuracy of each CNN and of the SVM;
- ``explanatory_power``: EPI (KNN over K = 1..20 on document vectors, random
  half splits, mean +- std) for CNN-LRP, CNN-SA, SVM-LRP, SVM-SA, TF-IDF and
  uniform weighting, all with the same word2vec vectors trained on the
  training documents, with their coverage of the test tokens;
- ``word_deletion``: accuracy after deleting the most relevant words of
  correctly classified documents (LRP vs SA vs random), for the CNN and the SVM;
- ``claims``: each claim of the papers, reproduced or not, with the numbers.

Figures: ``word_deletion.png`` (the deletion curves of the CNN and the SVM)
and ``explanatory_power.png`` (EPI per document-vector weighting).

The papers' sizes (300-d vectors, 800 filters, 400 tokens, all test documents,
50 deleted words) take hours on a 2-core CPU; the defaults are smaller and every
size is an option::

    sklrp reproduce text-cnn [--filter-sizes 1 2 3] [--n-filters 800] [--dim 300]
"""

import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from ..datasets import load_20newsgroups
from ..estimators import LinearRelevanceClassifier, TextCNNClassifier
from ..feature_extraction import RelevanceDocumentVectorizer, train_word2vec
from ..metrics import explanatory_power_score, word_deletion_curve
from ..text import TokenSequenceVectorizer
from ._common import Steps, deletion_panel, emit, epi_bars, fit_quietly, new_figure, positive_int, r4, save_figure

__all__ = ["add_arguments", "run"]

_REMOVE = {"headers_kept": (), "headers_footers_quotes_removed": ("headers", "footers", "quotes")}
_DELETION = {"lrp": "LRP", "sensitivity": "SA", "random": "random"}


def _n_steps(args):
    """Progress steps of one setting: data, SVM, the CNNs, accuracy, word2vec, 6 EPI, 2 deletion curves."""
    return 11 + len(args.filter_sizes)


def _run_setting(setting, remove, args, steps):
    with steps.step(f"{setting}: data"):
        train = load_20newsgroups("train", remove=remove, data_home=args.data_home)
        test = load_20newsgroups("test", remove=remove, data_home=args.data_home)
        rng = np.random.RandomState(0)
        idx = np.sort(rng.choice(len(test.data), min(args.n_test, len(test.data)), replace=False))
        docs, y = [test.data[i] for i in idx], test.target[idx]

    models, accuracy = {}, {}
    with steps.step(f"{setting}: fit the SVM"):
        svm = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC()))
        models["SVM"] = fit_quietly(svm, train.data, train.target)
    for h in args.filter_sizes:
        with steps.step(f"{setting}: fit CNN{h}"):
            t0 = time.perf_counter()
            # the vocabulary's size, not the largest id of the (truncated) training sequences: test posts may
            # hold words that only occur beyond max_length in the training posts
            vec = TokenSequenceVectorizer(max_length=args.max_length, min_df=2).fit(train.data)
            cnn = make_pipeline(
                vec,
                TextCNNClassifier(embeddings=None if args.cnn_embeddings == "random" else args.cnn_embeddings,
                                  vocab_size=vec.vocab_size_, embedding_dim=args.dim, filter_sizes=(h,),
                                  n_filters=args.n_filters, max_iter=args.epochs, batch_size=64, random_state=0),
            )
            fit_quietly(cnn, train.data, train.target)
            models[f"CNN{h}"] = cnn
            emit(figure="fit", setting=setting, model=f"CNN{h}", seconds=round(time.perf_counter() - t0, 1),
                 seconds_per_epoch=round((time.perf_counter() - t0) / args.epochs, 1))
    with steps.step(f"{setting}: accuracy"):
        for name, pipe in models.items():
            accuracy[name] = float(np.mean(pipe.predict(test.data) == test.target))
            emit(figure="accuracy", setting=setting, model=name, n_test=len(test.data),
                 accuracy=round(accuracy[name], 4))

    # one set of word vectors for every document-vector weighting (trained on the training posts)
    with steps.step(f"{setting}: word2vec"):
        emb = train_word2vec(train.data, vector_size=args.epi_dim, min_count=1, epochs=10, random_state=0)
    cnn_name = f"CNN{args.filter_sizes[len(args.filter_sizes) // 2]}"
    epi = {}
    for name, weighting in [(cnn_name, "lrp"), (cnn_name, "sa"), ("SVM", "lrp"), ("SVM", "sa"),
                            ("SVM", "tfidf"), ("SVM", "uniform")]:
        label = f"{name}-{weighting.upper()}" if weighting in ("lrp", "sa") else weighting
        with steps.step(f"{setting}: explanatory power ({label})"):
            d = explanatory_power_score(models[name], docs, y, embeddings=emb, weighting=weighting,
                                        n_splits=args.n_splits, return_details=True)
            epi[label] = (d.score, d.std)
            cov = RelevanceDocumentVectorizer(models[name], emb, weighting=weighting).fit(docs).coverage_
            emit(figure="explanatory_power", setting=setting, vectors=label, epi=round(d.score, 4),
                 std=round(d.std, 4), best_k=d.best_k, vocabulary_coverage=round(float(cov), 3))

    deletion, curves_out = {}, {}
    for name in (cnn_name, "SVM"):
        with steps.step(f"{setting}: word deletion ({name})"):
            curves = {m: word_deletion_curve(models[name], docs, y, method=m, subset="correct",
                                             n_words=args.n_words, n_repeats=3, random_state=0) for m in _DELETION}
            deletion[name] = {m: float(c.accuracy[-1]) for m, c in curves.items()}
            curves_out[name] = {"n_deleted": curves["lrp"].n_deleted.tolist(),
                                "n_documents": curves["lrp"].n_documents,
                                **{m: r4(c.accuracy) for m, c in curves.items()}}
            emit(figure="word_deletion", setting=setting, model=name, subset="correct",
                 n_documents=curves["lrp"].n_documents, n_deleted=curves["lrp"].n_deleted.tolist(),
                 lrp=r4(curves["lrp"].accuracy), sa=r4(curves["sensitivity"].accuracy),
                 random=r4(curves["random"].accuracy))

    score = {k: v[0] for k, v in epi.items()}
    best_cnn = max((k for k in accuracy if k.startswith("CNN")), key=accuracy.get)
    claims = [
        ("CNN and SVM accuracy within a few points", abs(accuracy[best_cnn] - accuracy["SVM"]) <= 0.03,
         {"best_cnn": best_cnn, "cnn": round(accuracy[best_cnn], 4), "svm": round(accuracy["SVM"], 4)}),
        ("EPI(CNN-LRP) > EPI(SVM-LRP)", score[f"{cnn_name}-LRP"] > score["SVM-LRP"],
         {"cnn_lrp": round(score[f"{cnn_name}-LRP"], 4), "svm_lrp": round(score["SVM-LRP"], 4)}),
        ("LRP > SA > uniform for the CNN", score[f"{cnn_name}-LRP"] > score[f"{cnn_name}-SA"] > score["uniform"],
         {"lrp": round(score[f"{cnn_name}-LRP"], 4), "sa": round(score[f"{cnn_name}-SA"], 4),
          "uniform": round(score["uniform"], 4)}),
        ("LRP deletion steeper than SA (CNN)", deletion[cnn_name]["lrp"] < deletion[cnn_name]["sensitivity"],
         {"accuracy_after_deletion": {k: round(v, 4) for k, v in deletion[cnn_name].items()}}),
    ]
    for claim, ok, numbers in claims:
        emit(figure="claim", setting=setting, claim=claim, reproduced=bool(ok), numbers=numbers)
    return {"epi": epi, "deletion": curves_out}


def _figures(results):
    """word_deletion.png (one panel per setting and model) and explanatory_power.png (EPI bars)."""

    settings = list(results)
    models = list(next(iter(results.values()))["deletion"])
    fig = new_figure(figsize=(4.5 * len(models), 3.2 * len(settings)))
    axes = fig.subplots(len(settings), len(models), squeeze=False)
    for row, setting in enumerate(settings):
        for col, model in enumerate(models):
            d = results[setting]["deletion"][model]
            deletion_panel(axes[row, col], d, _DELETION,
                           f"{model}, {setting.replace('_', ' ')} ({d['n_documents']} posts)")
    fig.suptitle("Word deletion in correctly classified posts (most relevant for the true class first)",
                 fontsize="medium")
    save_figure(fig, "word_deletion.png")

    labels = list(next(iter(results.values()))["epi"])
    fig = epi_bars(results, labels, "EPI of word2vec document vectors (mean +- std at the best K)")
    save_figure(fig, "explanatory_power.png")


def add_arguments(parser):
    """Add the experiment's options to an ``argparse`` parser."""
    parser.add_argument("--data-home", default=None,
                        help="scikit-learn data home holding 20 Newsgroups (default: SCIKIT_LEARN_DATA)")
    parser.add_argument("--filter-sizes", type=positive_int, nargs="+", default=[2])
    parser.add_argument("--n-filters", type=positive_int, default=200)
    parser.add_argument("--dim", type=positive_int, default=100, help="CNN word-vector length")
    parser.add_argument("--cnn-embeddings", default="random", choices=["random", "word2vec"],
                        help="the CNN's initial vectors: random and learned (default) or word2vec")
    parser.add_argument("--max-length", type=positive_int, default=400)
    parser.add_argument("--epochs", type=positive_int, default=6)
    parser.add_argument("--epi-dim", type=positive_int, default=100, help="length of the word2vec vectors of the EPI")
    parser.add_argument("--n-test", type=positive_int, default=2000, help="test documents for EPI and word deletion")
    parser.add_argument("--n-splits", type=positive_int, default=10)
    parser.add_argument("--n-words", type=positive_int, default=10)
    parser.add_argument("--settings", nargs="+", default=["headers_kept"], choices=sorted(_REMOVE))
    return parser


def run(args):
    """Run the experiment with the options of :func:`add_arguments`; prints JSON lines and writes figures."""
    emit(figure="settings", **{k: v for k, v in vars(args).items() if k not in ("data_home", "command", "name")})
    results = {}
    with Steps(len(args.settings) * _n_steps(args), "text-cnn") as steps:
        for setting in args.settings:
            results[setting] = _run_setting(setting, _REMOVE[setting], args, steps)
    _figures(results)

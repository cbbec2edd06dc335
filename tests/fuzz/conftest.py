"""Profiles and fitted models of the fuzz suite.

Run: ``pytest tests/fuzz`` (profile ``ci``: derandomized, >2,000 examples in
well under three minutes) or ``pytest tests/fuzz --hypothesis-profile=long``
(>10,000 examples, randomized).  Every test here is marked ``fuzz``.

The models are tiny (40 samples x 6 features) and built once per session.

At the end of a run the outcomes of the public calls are summarised per
entry point (calls, results, clean errors by type); with
``SKLRP_FUZZ_REPORT=file.json`` they are also written there as JSON.
"""

import json
import os
import warnings

import numpy as np
import pytest
from hypothesis import settings
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from ._profiles import register
from ._support import TALLY

register()


def pytest_configure(config):
    # the hypothesis plugin has loaded --hypothesis-profile when given; "ci" otherwise
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("ci")


def fuzz_report():
    """The tally as ``{entry point: {"calls": n, "ok": n, "errors": {type name: n}}}``, sorted by name."""
    report = {}
    for (name, outcome), count in sorted(TALLY.items()):
        entry = report.setdefault(name, {"calls": 0, "ok": 0, "errors": {}})
        entry["calls"] += count
        if outcome == "ok":
            entry["ok"] += count
        else:
            entry["errors"][outcome] = entry["errors"].get(outcome, 0) + count
    return report


def pytest_terminal_summary(terminalreporter):
    report = fuzz_report()
    if not report:
        return
    profile = settings.get_current_profile_name()
    total = sum(e["calls"] for e in report.values())
    terminalreporter.section(f"fuzz outcomes per entry point (profile {profile!r}, {total} calls)")
    width = max(len(name) for name in report)
    for name, e in report.items():
        errors = ", ".join(f"{k} {v}" for k, v in sorted(e["errors"].items(), key=lambda kv: -kv[1]))
        terminalreporter.write_line(f"{name:<{width}}  {e['calls']:>6} calls  {e['ok']:>6} ok  {errors}")
    path = os.environ.get("SKLRP_FUZZ_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"profile": profile, "calls": total, "entry_points": report}, f, indent=1)
        terminalreporter.write_line(f"written to {path}")


N_FEATURES = 6
DOCS = ["good movie great", "bad film awful", "great fun plot", "awful boring bad acting", "good acting",
        "boring plot", "great great film", "bad bad movie"] * 3
DOC_LABELS_2 = ["pos", "neg", "pos", "neg", "pos", "neg", "pos", "neg"] * 3
DOC_LABELS_3 = [2, 0, 2, 0, 1, 1, 2, 0] * 3
EMBEDDINGS = {"good": np.array([1.0, 0.5]), "bad": np.array([-1.0, 0.25]), "movie": np.array([0.0, 1.0]),
              "great": np.array([2.0, -1.0]), "plot": np.array([0.5, 0.5])}


class Fixtures(dict):
    """A dict of session objects whose repr stays short in hypothesis' falsifying examples."""

    def __repr__(self):
        return f"<{', '.join(self)}>"


class Data(tuple):
    def __repr__(self):
        return "<training data>"


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


@pytest.fixture(scope="session")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, N_FEATURES))
    y3 = np.arange(40) % 3
    y2 = np.array(["neg", "pos"])[(X[:, 0] > 0).astype(int)]
    yf = np.array([-1.0, 2.0])[(X[:, 1] > 0).astype(int)]
    return Data((X, y3, y2, yf))


@pytest.fixture(scope="session")
def models(data):
    """The fitted numeric models by name (3 classes of ints, 2 of strings, 2 of floats)."""
    from sklrp import ConvNetClassifier, DenseNetClassifier, LinearRelevanceClassifier

    X, y3, y2, yf = data
    return Fixtures({
        "dense3": _quiet(lambda: DenseNetClassifier((8,), max_iter=5, random_state=0).fit(X, y3)),
        "dense2": _quiet(lambda: DenseNetClassifier((4, 3), activation="tanh", composite="alpha_beta", max_iter=5,
                                                    random_state=0).fit(X, y2)),
        "conv3": _quiet(lambda: ConvNetClassifier(input_shape=(1, 2, 3), filters=(2,), kernel_size=2,
                                                  hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y3)),
        "linear3": _quiet(lambda: LinearRelevanceClassifier(LogisticRegression(), random_state=0).fit(X, y3)),
        "linear2": _quiet(lambda: LinearRelevanceClassifier(LinearSVC(), bias="ignore", random_state=0).fit(X, yf)),
    })


@pytest.fixture(scope="session")
def text_pipes():
    """Fitted text Pipelines: tf-idf + linear SVM (2 classes), counts of 1-2-grams + logistic regression (3)."""
    from sklrp import LinearRelevanceClassifier

    return Fixtures({
        "tfidf_svc": _quiet(lambda: make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC(), random_state=0)).fit(
            DOCS, DOC_LABELS_2)),
        "count_lr": _quiet(lambda: make_pipeline(
            CountVectorizer(ngram_range=(1, 2), stop_words=["acting"]),
            LinearRelevanceClassifier(LogisticRegression(), random_state=0)).fit(DOCS, DOC_LABELS_3)),
    })


@pytest.fixture(scope="session")
def lsh_data():
    """``lsh_data["X"]``: the 60 x 6 points of the indexes."""
    return Fixtures({"X": np.random.RandomState(1).normal(size=(60, N_FEATURES))})


@pytest.fixture(scope="session")
def indexes(lsh_data):
    """Fitted MultiPurposeLSH indexes: hash tables (cc), linear code scan (sa), float32 data (ca)."""
    from sklrp.neighbors import MultiPurposeLSH

    X = lsh_data["X"]
    return Fixtures({
        "cc_tables": MultiPurposeLSH(n_bits=32, feature_groups=[0, 0, 0, 1, 1, 1], n_tables=2, key_bits=3,
                                     n_candidates=10, random_state=0).fit(X),
        "sa_scan": MultiPurposeLSH(n_bits=24, variant="sa", random_state=0).fit(X),
        "ca_float32": MultiPurposeLSH(n_bits=16, variant="ca", n_tables=1, key_bits=2, n_probes=2,
                                      random_state=0).fit(X.astype(np.float32)),
    })


@pytest.fixture(scope="session")
def model_files(models, indexes, tmp_path_factory):
    """Bytes of valid saved model files: DenseNet and ConvNet (save_model), and an index (MultiPurposeLSH.save)."""
    from sklrp.estimators import save_model

    folder = tmp_path_factory.mktemp("models")
    files = Fixtures()
    for name in ("dense3", "conv3", "dense2"):
        path = folder / f"{name}.npz"
        save_model(models[name], path)
        files[name] = path.read_bytes()
    path = indexes["cc_tables"].save(folder / "lsh")
    files["lsh"] = path.read_bytes()
    return files


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    """A folder for the files the tests write."""
    return tmp_path_factory.mktemp("fuzz_files")

"""Fuzz the text entry points with malformed documents: :func:`sklrp.explain` of text Pipelines,
:func:`~sklrp.text.token_relevances`, :func:`~sklrp.text.highlight_html` (and ``highlight_ansi``),
:class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer` and
:func:`~sklrp.metrics.word_deletion_curve`."""

import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sklrp
from sklrp.feature_extraction import RelevanceDocumentVectorizer
from sklrp.metrics import word_deletion_curve
from sklrp.text import TokenRelevances, highlight_ansi, highlight_html, token_relevances

from ._support import (
    DOC_TEXT,
    ELEMENTS,
    SPECIAL_TEXT,
    assert_finite,
    check_call,
    clearly_valid_documents,
    documents,
    scaled,
    targets,
)
from .conftest import EMBEDDINGS

pytestmark = pytest.mark.fuzz

PIPES = ["tfidf_svc", "count_lr"]


def _n_docs(docs):
    return len(docs) if isinstance(docs, (list, tuple, np.ndarray)) else 1


@pytest.mark.parametrize("pipe_name", PIPES)
@scaled(0.6)
@given(data=st.data())
def test_explain_documents(text_pipes, pipe_name, data):
    pipe = text_pipes[pipe_name]
    docs = data.draw(documents(), label="documents")
    target = data.draw(targets(_n_docs(docs), pipe.classes_), label="target")
    method = data.draw(st.sampled_from([None, "lrp", "sensitivity", "gradient", "gradient_x_input", "random", "x"]),
                       label="method")
    status, R = check_call(sklrp.explain, pipe, docs, target=target, method=method, inputs=[docs, target])
    if status == "ok":
        assert sp.issparse(R) and R.shape == (_n_docs(docs), len(pipe[0].vocabulary_))
        assert_finite(R, "explain")


# ----------------------------------------------------------------- highlighting
ALLOWED_TAGS = {"div", "span", "style", "h3", "html", "head", "body", "meta", "title"}
ALLOWED_ATTRS = {"class", "style", "title", "charset"}


class _Audit(HTMLParser):
    """Collects the tags and attributes of an HTML string, and the text of its documents."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for key, value in attrs:
            if key not in ALLOWED_ATTRS:
                self.problems.append(f"attribute {key}={value!r} on <{tag}>")
            elif key == "style" and value and not re.fullmatch(r"background-color:rgb\(\d+, \d+, \d+\)", value):
                self.problems.append(f"style {value!r}")

    def handle_endtag(self, tag):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"end tag </{tag}>")


def assert_safe_html(page, words):
    """Only sklrp's own tags and attributes; every special character of the documents escaped."""
    assert isinstance(page, str)
    audit = _Audit()
    audit.feed(page)
    audit.close()
    assert not audit.problems, f"markup from the documents got through: {audit.problems}"
    assert "<script" not in page.lower()
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL)
    # outside the markup sklrp writes, no raw <, > or quote survives from the text
    stripped = re.sub(r"<(/?)(div|span|h3|html|head|body|meta|title)( [^<>]*)?>|<!DOCTYPE html>", "", body)
    for ch in "<>\"'":
        assert ch not in stripped, f"raw {ch!r} in the HTML text: {stripped[:300]!r}"


@pytest.mark.parametrize("pipe_name", PIPES)
@scaled(0.8)
@given(data=st.data())
def test_token_relevances_and_highlighting(text_pipes, pipe_name, data):
    pipe = text_pipes[pipe_name]
    docs = data.draw(documents(), label="documents")
    target = data.draw(st.one_of(st.none(), st.sampled_from(list(pipe.classes_) + [99, "zzz"])), label="target")
    method = data.draw(st.sampled_from([None, "lrp", "sensitivity", "gradient_x_input", "x"]), label="method")
    occurrences = data.draw(st.sampled_from(["split", "each", "all"]), label="occurrences")
    status, words = check_call(token_relevances, pipe, docs, target=target, method=method, occurrences=occurrences,
                               inputs=[docs])
    if status != "ok":
        if clearly_valid_documents(docs) and occurrences != "all" and method != "x" and target in (
                [None] + list(pipe.classes_)):
            raise AssertionError(f"token_relevances refused valid documents: {words!r}")
        return
    assert len(words) == _n_docs(docs)
    for w in words:
        assert isinstance(w, TokenRelevances)
        assert len(w.tokens) == len(w.spans) == len(w.relevance) == len(w.known)
        assert_finite(np.asarray(w.relevance, dtype=float), "token relevances")
        for span in w.spans:
            assert span is None or 0 <= span[0] <= span[1] <= len(w.text), f"span {span} outside the text"
    kwargs = data.draw(st.fixed_dictionaries({}, optional={
        "vmax": st.sampled_from([None, 1.0, 1e-300, 1e308, 0.0, -1.0, math.nan, math.inf, "2"]),
        "title": st.one_of(st.none(), DOC_TEXT),
        "legend": st.booleans(),
        "full_page": st.booleans(),
        "precision": st.sampled_from([3, 1, 0, 17, -1, 2.5, "3"]),
    }), label="highlight kwargs")
    status, page = check_call(highlight_html, words, **kwargs)
    if status == "ok":
        assert_safe_html(page, words)
    status, text = check_call(highlight_ansi, words, vmax=kwargs.get("vmax"))
    if status == "ok":
        assert isinstance(text, str)


@st.composite
def token_relevance_objects(draw):
    """TokenRelevances built by hand: any text, tokens, spans (also outside the text), relevances, label."""
    text = draw(st.one_of(DOC_TEXT, st.sampled_from(SPECIAL_TEXT)))
    n = draw(st.integers(0, 5))
    tokens = draw(st.lists(st.one_of(DOC_TEXT, st.sampled_from(["<b>", "\"'", "&amp;", "<script>"])),
                           min_size=n, max_size=n))
    span = st.one_of(st.none(), st.tuples(st.integers(-2, len(text) + 2), st.integers(-2, len(text) + 2)))
    spans = draw(st.lists(span, min_size=n, max_size=n))
    relevance = draw(hnp.arrays(np.float64, n, elements=ELEMENTS["any"]))
    known = draw(hnp.arrays(bool, n))
    label = draw(st.one_of(st.none(), DOC_TEXT, st.integers(), st.floats()))
    return TokenRelevances(text, tokens, spans, relevance, known, label)


@scaled(0.8)
@given(words=st.lists(token_relevance_objects(), min_size=1, max_size=3),
       title=st.one_of(st.none(), st.sampled_from(SPECIAL_TEXT)), full_page=st.booleans())
def test_highlight_html_escapes_everything(words, title, full_page):
    status, page = check_call(highlight_html, words, title=title, full_page=full_page, inputs=[words])
    if status == "ok":
        assert_safe_html(page, words)
    status, text = check_call(highlight_ansi, words, inputs=[words])
    if status == "ok":
        assert "\x1b]" not in text and not re.search(r"\x1b(?!\[(0|38;2;0;0;0|48;2;\d+;\d+;\d+)m)", text), (
            f"an escape sequence from the documents reached the terminal: {text!r}")


# ------------------------------------------------------------ document vectors
@pytest.mark.parametrize("pipe_name", PIPES)
@scaled(0.6)
@given(data=st.data())
def test_document_vectors(text_pipes, pipe_name, data):
    pipe = text_pipes[pipe_name]
    docs = data.draw(documents(), label="documents")
    weighting = data.draw(st.sampled_from(["lrp", "sa", "tfidf", "uniform", "x"]), label="weighting")
    normalize = data.draw(st.sampled_from(["l2", "l1", None, "max"]), label="normalize")
    target = data.draw(st.one_of(st.none(), st.sampled_from(list(pipe.classes_) + [99])), label="target")

    def vectors(docs, target):
        vec = RelevanceDocumentVectorizer(pipe, EMBEDDINGS, weighting=weighting, normalize=normalize).fit()
        return vec.transform(docs, target=target)

    status, V = check_call(vectors, docs, target, entry="RelevanceDocumentVectorizer.transform")
    if status == "ok":
        assert V.shape == (_n_docs(docs), 2)
        assert_finite(V, "document vectors")


# --------------------------------------------------------------- word deletion
@pytest.mark.parametrize("pipe_name", PIPES)
@scaled(0.5)
@given(data=st.data())
def test_word_deletion_curve(text_pipes, pipe_name, data):
    pipe = text_pipes[pipe_name]
    docs = data.draw(documents(), label="documents")
    n = _n_docs(docs)
    classes = list(pipe.classes_)
    y = data.draw(st.one_of(
        st.lists(st.sampled_from(classes), min_size=n, max_size=n),
        st.lists(st.sampled_from(classes + [99, None, "zzz", 1.5]), min_size=n, max_size=n),
        st.lists(st.sampled_from(classes), max_size=n + 2),
        st.sampled_from([None, classes[0], "pos"]),
    ), label="y")
    kwargs = data.draw(st.fixed_dictionaries({}, optional={
        "method": st.sampled_from(["lrp", "sensitivity", "random", "gradient", "x"]),
        "n_words": st.sampled_from([0, 1, 3, 10, 10_000, -1, 1.5, None, True]),
        "subset": st.sampled_from(["correct", "misclassified", "all", "x"]),
        "order": st.sampled_from(["auto", "descending", "ascending", "x"]),
        "target": st.sampled_from(["true", "predicted", "x"]),
        "min_words": st.sampled_from([0, 1, 5, -1]),
        "n_repeats": st.sampled_from([1, 2, 0]),
    }), label="kwargs")
    status, res = check_call(word_deletion_curve, pipe, docs, y, inputs=[docs, y], random_state=0, **kwargs)
    if status == "ok":
        k = kwargs.get("n_words")
        if k is None:  # documented default: 10, or the number of columns when there are fewer
            k = min(10, len(pipe[0].vocabulary_))
        assert res.accuracy.shape == (k + 1,) and res.accuracy_std.shape == (k + 1,)
        if res.n_documents > 0:  # documented: NaN accuracies when no document is selected
            assert_finite((res.accuracy, res.accuracy_std), "word_deletion_curve")
            assert np.all((res.accuracy >= 0) & (res.accuracy <= 1))

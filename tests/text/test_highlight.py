"""HTML / ANSI highlighting and top words per class."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.text import (
    TokenRelevances,
    highlight_ansi,
    highlight_html,
    relevance_color,
    token_relevances,
    top_words_per_class,
)

TRAIN = ["good great film", "bad awful film", "great plot", "awful acting, bad plot",
         "good acting", "bad film"]
Y = [1, 0, 1, 0, 1, 0]


@pytest.fixture(scope="module")
def pipe():
    return make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(TRAIN, Y)


def test_script_document_is_inert(pipe):
    doc = 'good <script>alert("x")</script> <img src=x onerror=alert(1)> & "bad"'
    words = token_relevances(pipe, [doc])
    words[0].label = "<b>label</b>"
    out = highlight_html(words, title="<script>t</script>")
    assert "<script" not in out.lower()
    assert "<img" not in out.lower() and "<b>" not in out
    assert "&lt;script&gt;" in out and out.count("&lt;") >= 4  # title + 3 tags in the text
    assert "&amp;" in out and out.count("&quot;") >= 2
    # text is preserved: unescaping the visible text gives back the document
    body = re.search(r'<div class="sklrp-doc">(.*?)</div>', out, re.S).group(1)
    import html
    assert html.unescape(re.sub(r"<[^>]+>", "", body)) == doc


def test_html_is_self_contained_with_centred_scale(pipe):
    words = token_relevances(pipe, ["good film bad"], target=1)
    out = highlight_html(words)
    assert out.startswith("<!DOCTYPE html>")
    for forbidden in ("http://", "https://", "<link", "@import", "src="):
        assert forbidden not in out
    rel = dict(zip(words[0].tokens, words[0].relevance))
    vmax = max(abs(v) for v in rel.values())
    assert f"-{vmax:.3g}" in out and f"+{vmax:.3g}" in out  # legend symmetric around 0
    colours = dict(re.findall(r'background-color:rgb\((\d+, \d+, \d+)\)" title="(\w+):', out)[::1])
    by_tok = {tok: col for col, tok in re.findall(
        r'background-color:rgb\((\d+, \d+, \d+)\)" title="(\w+):', out)}
    assert rel["good"] > 0 and by_tok["good"].startswith("255,")
    assert rel["bad"] < 0 and by_tok["bad"].endswith(", 255")
    assert colours
    frag = highlight_html(words, full_page=False, legend=False)
    assert frag.startswith("<div") and "class=\"sklrp-legend\"" not in frag


def test_relevance_color_scale():
    assert relevance_color(0.0, 1.0) == (255, 255, 255)
    assert relevance_color(np.nan, 1.0) == relevance_color(np.inf, 2.0) == (255, 255, 255)  # shown white
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="vmax must be a positive finite number"):
            relevance_color(0.5, bad)
    assert relevance_color(1.0, 1.0) == (255, 0, 0)
    assert relevance_color(-5.0, 1.0) == (0, 0, 255)  # clipped
    r, g, b = relevance_color(0.5, 1.0)
    assert r == 255 and g == b and 0 < g < 255
    assert relevance_color(-0.5, 1.0) == (g, g, 255)


def test_vmax_and_input_validation(pipe):
    words = token_relevances(pipe, ["good film"])
    with pytest.raises(ValueError, match="vmax"):
        highlight_html(words, vmax=0)
    with pytest.raises(TypeError, match="TokenRelevances"):
        highlight_html(["not relevances"])
    empty = token_relevances(pipe, [""])
    assert "sklrp-doc" in highlight_html(empty)  # empty document renders (no tokens)
    unknown = token_relevances(pipe, ["zzz qqq"])
    assert "rgb(255, 255, 255)" in highlight_html(unknown)


def test_ansi_rendering_and_escape_sanitising(pipe):
    doc = "good film \x1b[2J\x1b]0;owned\x07 bad"
    words = token_relevances(pipe, [doc])
    out = highlight_ansi(words)
    assert "\x1b[2J" not in out and "\x07" not in out and "\x1b]0" not in out
    assert "\x1b[48;2;" in out and out.count("\x1b[0m") >= 2
    plain = highlight_ansi(words, color=False)
    assert "\x1b" not in plain
    assert re.search(r"\[good\|[+-]\d", plain) and re.search(r"\[bad\|[+-]\d", plain)


def test_top_words_per_class(pipe):
    docs = TRAIN + ["good great acting", "bad awful plot"]
    top = top_words_per_class(pipe, docs, k=3)
    assert set(top) == {0, 1}
    R = sp.csr_matrix(sklrp.explain(pipe, docs))
    pred = pipe.predict(docs)
    names = pipe[0].get_feature_names_out()
    for c in (0, 1):
        tot = np.asarray(R[pred == c].sum(axis=0)).ravel()
        best = [names[j] for j in np.argsort(-tot, kind="stable")[:3]]
        assert [w for w, _ in top[c]] == best
        vals = [v for _, v in top[c]]
        assert vals == sorted(vals, reverse=True)
    mean = top_words_per_class(pipe, docs, k=3, aggregate="mean")
    n1 = np.sum(pred == 1)
    assert mean[1][0][1] == pytest.approx(top[1][0][1] / n1)
    with pytest.raises(ValueError, match="k must"):
        top_words_per_class(pipe, docs, k=0)
    with pytest.raises(ValueError, match="one label per document"):
        top_words_per_class(pipe, docs, target=[1, 0])


def test_token_relevances_repr_html(pipe):
    w = token_relevances(pipe, ["good <b>film</b>"])[0]
    assert isinstance(w, TokenRelevances)
    assert "&lt;b&gt;" in w._repr_html_()

"""Raw-document input of the text functions: a clear error for anything that is not documents."""

import time

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from sklrp import LinearRelevanceClassifier
from sklrp._validation import check_documents
from sklrp.feature_extraction import RelevanceDocumentVectorizer
from sklrp.metrics import word_deletion_curve
from sklrp.text import token_relevances

DOCS = ["good movie great", "bad film awful", "great fun", "awful boring bad"] * 5
Y = [1, 0, 1, 0] * 5


@pytest.fixture(scope="module")
def pipe():
    return make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())).fit(DOCS, Y)


ENTRY_POINTS = {
    "token_relevances": lambda pipe, docs: token_relevances(pipe, docs),
    "word_deletion_curve": lambda pipe, docs: word_deletion_curve(pipe, docs, [1, 0], n_words=1),
    "RelevanceDocumentVectorizer": lambda pipe, docs: RelevanceDocumentVectorizer(
        pipe, {"good": np.ones(2), "bad": -np.ones(2)}).fit(DOCS).transform(docs),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("bad, message", [
    (["good", None], r"\[1\] must be a str document; got NoneType: None\."),
    (["good", 3], r"\[1\] must be a str document; got int: 3\."),
    ([["good"], "bad"], r"\[0\] must be a str document; got list: \['good'\]\."),
])
def test_items_that_are_not_documents_are_named(pipe, entry, bad, message):
    with pytest.raises(TypeError, match=message):
        ENTRY_POINTS[entry](pipe, bad)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_one_string_or_nothing(pipe, entry):
    with pytest.raises(ValueError, match="must be an iterable of documents, not one string"):
        ENTRY_POINTS[entry](pipe, "good movie")
    with pytest.raises(ValueError, match="holds no document; at least one is required"):
        ENTRY_POINTS[entry](pipe, [])


def test_check_documents():
    assert check_documents(iter(["a", b"b"])) == ["a", b"b"]  # bytes are the vectorizer's to decode
    with pytest.raises(TypeError, match=r"raw_documents must be an iterable of str documents; got int\."):
        check_documents(5, "raw_documents")
    with pytest.raises(TypeError, match=r"X\[0\] must be a str document; got float: 0\.12345678901234568\."):
        check_documents([0.12345678901234568])
    long = ["x"] * 100
    with pytest.raises(TypeError, match=r"X\[0\] must be a str document; got list: \['x', 'x', .*\.\.\.\."):
        check_documents([long])


def test_word_deletion_work_is_bounded_by_the_documents(pipe):
    """n_words far beyond the longest document (up to the columns of the input space, a limit tested in
    tests/metrics/test_text_metrics.py): the curve is constant past the longest document and the work stops there."""
    n_columns = len(pipe[0].vocabulary_)
    assert n_columns > 3
    t0 = time.perf_counter()
    res = word_deletion_curve(pipe, DOCS, Y, n_words=n_columns)
    assert time.perf_counter() - t0 < 10
    assert res.accuracy.shape == (n_columns + 1,)
    short = word_deletion_curve(pipe, DOCS, Y, n_words=3)
    np.testing.assert_array_equal(res.accuracy[:4], short.accuracy)
    assert np.all(res.accuracy[3:] == res.accuracy[3])  # three words at most: all deleted from step 3 on

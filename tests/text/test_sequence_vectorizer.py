"""TokenSequenceVectorizer: raw documents -> padded token-id matrices, with spans."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sklrp.nn import Embedding
from sklrp.text import TokenSequenceVectorizer, TokenSpan

DOCS = [
    "The rocket reached orbit, and the shuttle landed!",
    "NASA plans a new orbit for the space station.",
    "The goalie blocked the puck; the team won the game.",
    "Hockey fans cheered as the team scored a goal.",
    "Space launch delayed: rocket engine tested again.",
    "The game went to overtime and the puck hit the post.",
    "Café CRÈME at the Straße in İstanbul, naïve façade.",
    "",
]
Y = [0, 0, 1, 1, 0, 1, 0, 1]

WORD_SETTINGS = [
    {},
    {"min_df": 2},
    {"max_df": 0.3},
    {"max_features": 7},
    {"stop_words": "english"},
    {"stop_words": ["the", "and", "a"]},
    {"lowercase": False},
    {"strip_accents": "unicode"},
    {"token_pattern": r"(?u)\b\w+\b"},
    {"vocabulary": ["orbit", "rocket", "the", "puck"]},
    {"vocabulary": {"space": 1, "game": 0}},
]


def _cv(**kw):
    return CountVectorizer(**kw).fit(DOCS)


def _rows(X):
    return [row.tolist() for row in X]


# ----------------------------------------------------------- agreement with sklearn


@pytest.mark.parametrize("kw", WORD_SETTINGS, ids=lambda kw: ",".join(kw) or "defaults")
@pytest.mark.parametrize("oov", ["drop", "map"])
def test_vocabulary_agrees_with_countvectorizer(kw, oov):
    cv = _cv(**kw)
    vec = TokenSequenceVectorizer(oov=oov, **kw).fit(DOCS)
    offset = 1 if oov == "drop" else 2
    assert set(vec.vocabulary_) == set(cv.vocabulary_)
    assert vec.vocabulary_ == {t: j + offset for t, j in cv.vocabulary_.items()}
    assert vec.vocab_size_ == len(cv.vocabulary_) + offset
    names = vec.get_feature_names_out()
    assert names.shape == (vec.vocab_size_,)
    assert names[0] == "<pad>"
    assert (names[1] == "<oov>") == (oov == "map")
    assert names[offset:].tolist() == cv.get_feature_names_out().tolist()
    assert vec.oov_id_ == (1 if oov == "map" else None)


@pytest.mark.parametrize("kw", WORD_SETTINGS, ids=lambda kw: ",".join(kw) or "defaults")
def test_ids_spell_the_analyzer_tokens(kw):
    cv = _cv(**kw)
    analyze = cv.build_analyzer()
    names = {}
    for oov in ("drop", "map"):
        vec = TokenSequenceVectorizer(oov=oov, max_length=50, **kw).fit(DOCS)
        names[oov] = vec.inverse_transform(vec.transform(DOCS))
    for doc, dropped, mapped in zip(DOCS, names["drop"], names["map"]):
        tokens = analyze(doc)
        assert mapped.tolist() == [t if t in cv.vocabulary_ else "<oov>" for t in tokens]
        assert dropped.tolist() == [t for t in tokens if t in cv.vocabulary_]


def test_transform_output_type_and_embedding_input():
    vec = TokenSequenceVectorizer(max_length=12, oov="map")
    X = vec.fit_transform(DOCS)
    assert isinstance(X, np.ndarray) and X.dtype == np.int64 and X.flags.c_contiguous
    assert X.shape == (len(DOCS), 12) and vec.max_length_ == 12
    emb = Embedding(vocab_size=vec.vocab_size_, embedding_dim=3)
    np.testing.assert_array_equal(emb.check_ids(X), X)
    np.testing.assert_array_equal(emb.compute_mask(X), X != 0)
    assert X.min() >= 0 and X.max() < vec.vocab_size_


def test_fit_transform_equals_fit_then_transform():
    for kw in ({"max_length": None}, {"max_length": 5, "truncating": "pre", "padding": "pre"}):
        a = TokenSequenceVectorizer(min_df=2, **kw).fit_transform(DOCS)
        b = TokenSequenceVectorizer(min_df=2, **kw).fit(DOCS).transform(DOCS)
        np.testing.assert_array_equal(a, b)


def test_max_length_none_is_longest_training_sequence():
    analyze = _cv(stop_words="english").build_analyzer()
    vec = TokenSequenceVectorizer(stop_words="english").fit(DOCS)
    assert vec.max_length_ == max(len(analyze(d)) for d in DOCS)
    longer = " ".join(["orbit"] * 40)
    assert vec.transform([longer]).shape == (1, vec.max_length_)
    # with oov="drop", the length counts the tokens that remain after min_df
    vec2 = TokenSequenceVectorizer(min_df=2).fit(DOCS)
    kept = _cv(min_df=2)
    analyze = kept.build_analyzer()
    assert vec2.max_length_ == max(sum(t in kept.vocabulary_ for t in analyze(d)) for d in DOCS)
    assert vec2.max_length_ < TokenSequenceVectorizer(min_df=2, oov="map").fit(DOCS).max_length_
    # a fixed vocabulary no training document contains gives one padding column
    vec3 = TokenSequenceVectorizer(vocabulary=["zebra"]).fit(DOCS)
    assert vec3.max_length_ == 1
    np.testing.assert_array_equal(vec3.transform(DOCS), 0)


# ------------------------------------------------------------ truncation / padding


@pytest.mark.parametrize("truncating", ["post", "pre"])
@pytest.mark.parametrize("padding", ["post", "pre"])
def test_truncating_and_padding_sides(truncating, padding):
    train = ["aa bb cc dd ee ff"]
    vec = TokenSequenceVectorizer(max_length=4, truncating=truncating, padding=padding).fit(train)
    ids = {t: vec.vocabulary_[t] for t in "aa bb cc dd ee ff".split()}
    X = vec.transform(["aa bb cc dd ee ff", "bb dd", ""])
    kept = ["aa", "bb", "cc", "dd"] if truncating == "post" else ["cc", "dd", "ee", "ff"]
    long_row = [ids[t] for t in kept]
    short = [ids["bb"], ids["dd"]]
    short_row = short + [0, 0] if padding == "post" else [0, 0] + short
    assert _rows(X) == [long_row, short_row, [0, 0, 0, 0]]
    spans = vec.token_spans(["aa bb cc dd ee ff", "bb dd", ""])
    assert [[s.token if s else None for s in row] for row in spans] == [
        [vec.get_feature_names_out()[i] if i else None for i in row] for row in X
    ]


def test_truncation_and_padding_are_read_at_transform_time():
    vec = TokenSequenceVectorizer(max_length=3).fit(["aa bb cc dd"])
    before = vec.transform(["aa bb cc dd", "aa"])
    vec.set_params(truncating="pre", padding="pre")
    after = vec.transform(["aa bb cc dd", "aa"])
    assert _rows(before) == [[1, 2, 3], [1, 0, 0]]
    assert _rows(after) == [[2, 3, 4], [0, 0, 1]]


# --------------------------------------------------------------------- OOV policy


def test_oov_policies():
    train = ["aa bb cc", "aa bb", "aa dd"]  # min_df=2 keeps aa, bb
    doc = ["zz aa cc the bb yy"]
    drop = TokenSequenceVectorizer(min_df=2, max_length=6, stop_words=["the"]).fit(train)
    mapped = TokenSequenceVectorizer(min_df=2, max_length=6, stop_words=["the"], oov="map").fit(train)
    assert drop.vocabulary_ == {"aa": 1, "bb": 2}
    assert mapped.vocabulary_ == {"aa": 2, "bb": 3}
    assert _rows(drop.transform(doc)) == [[1, 2, 0, 0, 0, 0]]
    # unseen (zz, yy) and min_df-removed (cc) words map to 1; stop words are removed
    assert _rows(mapped.transform(doc)) == [[1, 2, 1, 3, 1, 0]]
    assert [s.token if s else None for s in mapped.token_spans(doc)[0]] == [
        "zz", "aa", "cc", "bb", "yy", None
    ]
    assert [s.token if s else None for s in drop.token_spans(doc)[0]] == ["aa", "bb"] + [None] * 4


def test_oov_is_fixed_at_fit():
    vec = TokenSequenceVectorizer(oov="map", max_length=3).fit(["aa bb"])
    vec.set_params(oov="drop", max_length=1)
    assert _rows(vec.transform(["aa zz bb"])) == [[2, 1, 3]]


# -------------------------------------------------------------------------- spans


@pytest.mark.parametrize("kw", [{}, {"strip_accents": "unicode"}, {"lowercase": False},
                                {"stop_words": "english", "min_df": 2}, {"token_pattern": r"\S+"}])
@pytest.mark.parametrize("oov", ["drop", "map"])
def test_spans_map_back_to_raw_text(kw, oov):
    docs = DOCS + ["cafe\u0301 CAFE\u0301 Cafe\u0301", "  ISTANBUL İstanbul\tİSTANBUL  "]
    vec = TokenSequenceVectorizer(oov=oov, max_length=20, **kw).fit(docs)
    preprocess = vec.vectorizer_.build_preprocessor()
    X = vec.transform(docs)
    spans = vec.token_spans(docs)
    assert len(spans) == len(docs)
    for doc, row, ids in zip(docs, spans, X):
        assert len(row) == vec.max_length_
        for item, i in zip(row, ids):
            if i == 0:
                assert item is None
                continue
            assert isinstance(item, TokenSpan)
            token, start, end = item
            assert preprocess(doc[start:end]) == token  # the raw text, up to case and accents
            assert i == vec.vocabulary_.get(token, vec.oov_id_)


def test_span_offsets_in_raw_text():
    vec = TokenSequenceVectorizer(max_length=4).fit(["Hello, World! hello"])
    assert vec.token_spans(["  HELLO   wOrLd"])[0] == [
        TokenSpan("hello", 2, 7), TokenSpan("world", 10, 15), None, None
    ]
    # a character whose lower case is longer (İ -> i + combining dot) shifts the offsets
    vec = TokenSequenceVectorizer(max_length=2).fit(["İstanbul ok"])
    assert vec.token_spans(["İstanbul ok"])[0] == [TokenSpan("stanbul", 1, 8), TokenSpan("ok", 9, 11)]


def test_spans_with_custom_tokenizer_and_preprocessor():
    def tokenize(text):
        return text.split() + ["<end>"]  # a token that is not in the text

    vec = TokenSequenceVectorizer(tokenizer=tokenize, token_pattern=None, max_length=4)
    vec.fit(["Some WORDS here"])
    assert vec.token_spans(["some words"])[0] == [
        TokenSpan("some", 0, 4), TokenSpan("words", 5, 10), TokenSpan("<end>", None, None), None
    ]
    # a character-wise preprocessor that deletes characters: the span covers them
    vec = TokenSequenceVectorizer(preprocessor=lambda s: s.replace("-", "").lower(), max_length=3)
    vec.fit(["co-operate now"])
    assert vec.token_spans(["CO-OPERATE now"])[0] == [
        TokenSpan("cooperate", 0, 10), TokenSpan("now", 11, 14), None
    ]
    # a preprocessor that is not character-wise: tokens searched case-insensitively in the raw
    # text; a token the text does not contain has no span
    vec = TokenSequenceVectorizer(preprocessor=lambda s: s.lower().replace("colour", "color"))
    vec.fit(["colour now"])
    assert vec.token_spans(["Colour NOW"])[0] == [TokenSpan("color", None, None), TokenSpan("now", 7, 10)]


# ------------------------------------------------------------------ empty documents


def test_empty_documents_give_padding_rows():
    vec = TokenSequenceVectorizer(max_length=5, oov="map", stop_words="english").fit(DOCS)
    docs = ["", "   ", "!!! ?", "a", "the of and"]  # no token, or only stop words
    np.testing.assert_array_equal(vec.transform(docs), np.zeros((5, 5), dtype=np.int64))
    assert vec.token_spans(docs) == [[None] * 5] * 5
    assert vec.transform([]).shape == (0, 5)
    assert [r.tolist() for r in vec.inverse_transform(vec.transform(docs))] == [[]] * 5


def test_fit_without_any_term_raises_sklearns_error():
    with pytest.raises(ValueError, match="empty vocabulary"):
        TokenSequenceVectorizer().fit(["", "!"])


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "docs, error, match",
    [
        ("one document", ValueError, r"^raw_documents must be an iterable of documents, not one string\.$"),
        (b"one document", ValueError, r"^raw_documents must be an iterable of documents, not one string\.$"),
        (3, TypeError, r"^raw_documents must be an iterable of str documents; got int\.$"),
        (["ok", None], TypeError, r"^raw_documents\[1\] must be a str document; got NoneType: None\.$"),
        (["ok", float("nan")], TypeError, r"^raw_documents\[1\] must be a str document; got float: nan\.$"),
        ([b"bytes"], TypeError, r"^raw_documents\[0\] must be a str document; got bytes: b'bytes' \(decode bytes "
                                r"first, e\.g\. doc\.decode\('utf-8'\)\)\.$"),
        (np.array([["a", "b"]]), TypeError, r"^raw_documents\[0\] must be a str document; got ndarray: "),
    ],
)
def test_bad_documents(docs, error, match):
    fitted = TokenSequenceVectorizer().fit(DOCS)
    for call in (TokenSequenceVectorizer().fit, TokenSequenceVectorizer().fit_transform,
                 fitted.transform, fitted.token_spans):
        with pytest.raises(error, match=match):
            call(docs)


def test_generator_and_numpy_documents():
    vec = TokenSequenceVectorizer(max_length=8).fit(d for d in DOCS)
    np.testing.assert_array_equal(vec.transform(np.array(DOCS)), vec.transform(iter(DOCS)))


@pytest.mark.parametrize("analyzer", ["char", "char_wb", str.split])
def test_non_word_analyzer_rejected(analyzer):
    with pytest.raises(ValueError, match="analyzer='word' only"):
        TokenSequenceVectorizer(analyzer=analyzer).fit(DOCS)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"max_length": 0}, "'max_length' parameter"),
        ({"max_length": 2.5}, "'max_length' parameter"),
        ({"truncating": "middle"}, "'truncating' parameter"),
        ({"padding": "both"}, "'padding' parameter"),
        ({"oov": "keep"}, "'oov' parameter"),
        ({"analyzer": "sentence"}, "'analyzer' parameter"),
        ({"min_df": -1}, "'min_df' parameter"),
        ({"stop_words": "french"}, "'stop_words' parameter"),
    ],
)
def test_invalid_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        TokenSequenceVectorizer(**kw).fit(DOCS)


def test_not_fitted():
    vec = TokenSequenceVectorizer()
    for call in (lambda: vec.transform(DOCS), lambda: vec.token_spans(DOCS),
                 vec.get_feature_names_out, lambda: vec.inverse_transform([[1]])):
        with pytest.raises(NotFittedError):
            call()


def test_inverse_transform_checks_ids():
    vec = TokenSequenceVectorizer(max_length=3).fit(["aa bb"])
    assert [r.tolist() for r in vec.inverse_transform([[2, 1, 0], [0, 0, 0]])] == [["bb", "aa"], []]
    with pytest.raises(ValueError, match=r"\[0, vocab_size_=3\)"):
        vec.inverse_transform([[3, 0, 0]])
    with pytest.raises(ValueError, match="2-D array of integer"):
        vec.inverse_transform([1, 2])
    with pytest.raises(ValueError, match="2-D array of integer"):
        vec.inverse_transform([[1.5, 0.0]])


# ----------------------------------------------------- sklearn API: clone, pickle, CV


def test_get_set_params_clone_and_no_set_output():
    vec = TokenSequenceVectorizer(max_length=400, min_df=2, oov="map")
    params = vec.get_params()
    assert params["max_length"] == 400 and params["min_df"] == 2 and params["oov"] == "map"
    cloned = clone(vec)
    assert cloned.get_params() == params and cloned is not vec
    vec.set_params(padding="pre", stop_words="english")
    assert vec.padding == "pre" and vec.stop_words == "english"
    fitted = clone(vec).fit(DOCS)
    assert not hasattr(clone(fitted), "vocabulary_")
    assert not hasattr(vec, "set_output")  # the feature names are ids, not columns
    tags = vec.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


def test_pickle_roundtrip():
    vec = TokenSequenceVectorizer(max_length=9, oov="map", min_df=2, stop_words="english").fit(DOCS)
    again = pickle.loads(pickle.dumps(vec))
    np.testing.assert_array_equal(again.transform(DOCS), vec.transform(DOCS))
    assert again.token_spans(DOCS) == vec.token_spans(DOCS)
    assert again.vocabulary_ == vec.vocabulary_


def test_pipeline_and_grid_search():
    docs, y = DOCS[:6] * 3, Y[:6] * 3
    pipe = make_pipeline(
        TokenSequenceVectorizer(max_length=6),
        OneHotEncoder(handle_unknown="ignore"),
        LogisticRegression(),
    )
    search = GridSearchCV(
        pipe,
        {"tokensequencevectorizer__max_length": [3, 6], "tokensequencevectorizer__oov": ["drop", "map"]},
        cv=3,
    ).fit(docs, y)
    assert search.best_estimator_.predict(docs[:2]).shape == (2,)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    vec = search.best_estimator_.named_steps["tokensequencevectorizer"]
    assert vec.max_length_ == search.best_params_["tokensequencevectorizer__max_length"]


# ------------------------------------------------------------------------ real data


def _newsgroups_home():
    env = os.environ.get("SCIKIT_LEARN_DATA")
    if not env:
        pytest.skip("20 Newsgroups cache not configured: set SCIKIT_LEARN_DATA")
    if not (Path(env) / "20news-bydate_py3.pkz").exists():
        pytest.skip(f"20 Newsgroups cache not found in SCIKIT_LEARN_DATA={env}")
    return env


def test_real_newsgroups_documents():
    from sklearn.datasets import fetch_20newsgroups

    home = _newsgroups_home()
    train = fetch_20newsgroups(subset="train", categories=["sci.space", "rec.autos"],
                               data_home=home, download_if_missing=False)
    docs = train.data[:40]
    kw = {"min_df": 2, "stop_words": "english"}
    cv = CountVectorizer(**kw).fit(docs)
    analyze = cv.build_analyzer()
    vec = TokenSequenceVectorizer(max_length=400, oov="map", **kw)
    X = vec.fit_transform(docs)
    assert set(vec.vocabulary_) == set(cv.vocabulary_)
    assert X.shape == (40, 400) and X.dtype == np.int64
    preprocess = vec.vectorizer_.build_preprocessor()
    for doc, ids, row, terms in zip(docs, X, vec.token_spans(docs), vec.inverse_transform(X)):
        tokens = analyze(doc)[:400]
        assert terms.tolist() == [t if t in cv.vocabulary_ else "<oov>" for t in tokens]
        assert [s.token for s in row if s is not None] == tokens
        assert all(preprocess(doc[s.start:s.end]) == s.token for s in row if s is not None)
        assert (ids[len(tokens):] == 0).all()

"""token_relevances: feature relevances back onto the tokens of raw text."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import (
    CountVectorizer,
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.feature_selection import SelectKBest, chi2
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.text import text_feature_map, token_relevances

TRAIN = [
    "The rocket reached orbit and the shuttle landed.",
    "NASA plans a new orbit for the space station.",
    "The goalie blocked the puck; the team won the game.",
    "Hockey fans cheered as the team scored a goal.",
    "Space launch delayed, rocket engine tested again.",
    "The game went to overtime and the puck hit the post.",
]
Y = [0, 0, 1, 1, 0, 1]


def _pipe(vec, clf=None, *middle):
    return make_pipeline(vec, *middle, clf or LinearRelevanceClassifier(LinearSVC())).fit(TRAIN, Y)


def _scores(pipe, docs):
    df = pipe.decision_function(docs)
    pred = pipe.predict(docs)
    return np.where(pred == 1, df, -df)


@pytest.mark.parametrize("vec", [
    TfidfVectorizer(),
    CountVectorizer(),
    TfidfVectorizer(ngram_range=(1, 2)),
    TfidfVectorizer(ngram_range=(1, 3), stop_words="english"),
    TfidfVectorizer(lowercase=False),
])
def test_split_tokens_sum_to_score_and_spans_match(vec):
    pipe = _pipe(vec)
    docs = ["The ROCKET and the team: rocket, orbit, goal!", "puck puck puck space"]
    words = token_relevances(pipe, docs)
    np.testing.assert_allclose([w.total() for w in words], _scores(pipe, docs), rtol=1e-10)
    for w, d in zip(words, docs):
        assert w.text == d
        for tok, span in zip(w.tokens, w.spans):
            frag = d[span[0]:span[1]]
            assert (frag.lower() if vec.lowercase else frag) == tok
        # tokens come out in document order
        starts = [s[0] for s in w.spans]
        assert starts == sorted(starts)
    assert words[0].label == pipe.predict(docs[:1])[0]


def test_tokens_match_vectorizer_analysis():
    vec = TfidfVectorizer(ngram_range=(1, 2), stop_words=["the", "and"])
    pipe = _pipe(vec)
    doc = "The rocket and the orbit and the team"
    w = token_relevances(pipe, [doc])[0]
    analyzer = pipe[0].build_analyzer()
    assert w.tokens == pipe[0].build_tokenizer()(doc.lower())
    stop = np.array([t in ("the", "and") for t in w.tokens])
    assert not w.known[stop].any() and np.all(w.relevance[stop] == 0)
    # every known term the analyzer produces is credited
    in_vocab = [t for t in analyzer(doc) if t in pipe[0].vocabulary_]
    assert "rocket orbit" in analyzer(doc)  # sklearn forms n-grams after removing stop words
    known_words = {t for t, k in zip(w.tokens, w.known) if k}
    assert known_words == {u for term in in_vocab for u in term.split()}


def test_ngram_relevance_is_shared_among_its_tokens():
    pipe = _pipe(CountVectorizer(ngram_range=(2, 2)))
    fmap = text_feature_map(pipe)
    col = fmap.column_of_term["the team"]
    R = sp.lil_matrix((1, fmap.n_columns))
    R[0, col] = 1.0
    doc = "so the team and the team"
    w = token_relevances(pipe, [doc], relevance=R.tocsr())[0]
    # two occurrences, split: 0.5 each, shared by 2 tokens: 0.25 per token
    np.testing.assert_allclose(w.relevance, [0, 0.25, 0.25, 0, 0.25, 0.25])
    each = token_relevances(pipe, [doc], relevance=R.tocsr(), occurrences="each")[0]
    np.testing.assert_allclose(each.relevance, [0, 0.5, 0.5, 0, 0.5, 0.5])
    assert w.label is None


def test_preprocessor_changing_length_and_custom_tokenizer():
    pipe = _pipe(TfidfVectorizer(strip_accents="unicode"))
    doc = "The \ufb01ne rocket reached orbit"  # U+FB01 'fi' ligature: 1 char -> 2
    w = token_relevances(pipe, [doc])[0]
    k = w.tokens.index("rocket")
    assert doc[slice(*w.spans[k])] == "rocket"
    assert doc[slice(*w.spans[w.tokens.index("fine")])] == "\ufb01ne"

    # a ligature that expands (+1) and a combining accent that vanishes (-1) leave the length unchanged: the
    # spans must still follow the characters (they were taken as the identity and shifted by one)
    doc = "\ufb01ne orbit cafe\u0301 rocket"
    assert len(pipe[0].build_preprocessor()(doc)) == len(doc)
    w = token_relevances(pipe, [doc])[0]
    assert [doc[slice(*span)] for span in w.spans] == ["\ufb01ne", "orbit", "cafe\u0301", "rocket"]
    seq = sklrp.text.TokenSequenceVectorizer(strip_accents="unicode", oov="map").fit(TRAIN)
    spans = [t for t in seq.token_spans([doc])[0] if t is not None]  # None: padding
    assert [doc[t.start:t.end] for t in spans] == ["\ufb01ne", "orbit", "cafe\u0301", "rocket"]

    def stem(text):
        return [t.rstrip("s") for t in text.split()]

    pipe2 = _pipe(TfidfVectorizer(tokenizer=stem, token_pattern=None))
    w2 = token_relevances(pipe2, ["fans cheered rockets"])[0]
    assert w2.tokens == ["fan", "cheered", "rocket"]
    assert w2.spans[0] == (0, 3) and w2.spans[2] == (13, 19)
    np.testing.assert_allclose(w2.total(), _scores(pipe2, ["fans cheered rockets"])[0], rtol=1e-10)


def test_empty_and_unknown_documents():
    pipe = _pipe(TfidfVectorizer())
    empty, unknown = token_relevances(pipe, ["", "zzz qqq xyzzy"])
    assert len(empty) == 0 and empty.relevance.shape == (0,)
    assert unknown.tokens == ["zzz", "qqq", "xyzzy"]
    assert not unknown.known.any() and np.all(unknown.relevance == 0)


def test_selector_and_column_keeping_steps_are_mapped():
    pipe = _pipe(CountVectorizer(), None, TfidfTransformer(), SelectKBest(chi2, k=6), Normalizer())
    fmap = text_feature_map(pipe)
    assert fmap.n_columns == 6
    doc = "rocket orbit puck team game space"
    w = token_relevances(pipe, [doc])[0]
    np.testing.assert_allclose(w.total(), _scores(pipe, [doc])[0], rtol=1e-10)
    kept = set(fmap.terms.tolist())
    assert all(k == (t in kept) for t, k in zip(w.tokens, w.known))


@pytest.mark.parametrize("build", [
    lambda: _pipe(HashingVectorizer(n_features=64)),
    lambda: _pipe(TfidfVectorizer(analyzer="char", ngram_range=(2, 3))),
    lambda: _pipe(CountVectorizer(), None, TruncatedSVD(n_components=3, random_state=0)),
])
def test_features_that_cannot_be_mapped(build):
    pipe = build()
    with pytest.raises(ValueError, match="Cannot map features back to tokens"):
        token_relevances(pipe, ["rocket"])


def test_other_bad_input():
    pipe = _pipe(TfidfVectorizer())
    with pytest.raises(ValueError, match="not one string"):
        token_relevances(pipe, "rocket orbit")
    with pytest.raises(ValueError, match="relevance has shape"):
        token_relevances(pipe, ["rocket"], relevance=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="occurrences"):
        token_relevances(pipe, ["rocket"], occurrences="all")
    with pytest.raises(ValueError, match="Unknown target"):
        token_relevances(pipe, ["rocket"], target=7)
    with pytest.raises(ValueError, match="Cannot map"):
        token_relevances(pipe[-1], ["rocket"])
    tree = make_pipeline(TfidfVectorizer(), DecisionTreeClassifier()).fit(TRAIN, Y)
    with pytest.raises(TypeError, match="explain"):
        token_relevances(tree, ["rocket"])


def test_target_and_method_are_passed_on():
    pipe = _pipe(TfidfVectorizer())
    doc = ["rocket orbit game"]
    w0 = token_relevances(pipe, doc, target=0)[0]
    w1 = token_relevances(pipe, doc, target=1)[0]
    np.testing.assert_allclose(w0.relevance[w0.known].sum(), -w1.relevance[w1.known].sum())
    assert w0.label == 0 and w1.label == 1
    sa = token_relevances(pipe, doc, target=1, method="sensitivity")[0]
    assert np.all(sa.relevance >= 0) and sa.relevance.sum() > 0
    R = sklrp.explain(pipe, doc, target=1)
    np.testing.assert_allclose(token_relevances(pipe, doc, relevance=R)[0].relevance, w1.relevance)

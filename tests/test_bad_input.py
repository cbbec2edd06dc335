"""The bad inputs of the hardening issue, each with its exact error message (or its now correct result).

The model-file and index-file examples are tested in tests/estimators/test_model_files.py and
tests/neighbors/test_mplsh_regressions.py, the overflow examples in tests/fuzz/test_fuzz_regressions.py.
"""

import re
import warnings

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import ConvNetClassifier, DenseNetClassifier, LinearRelevanceClassifier
from sklrp.feature_extraction import RelevanceDocumentVectorizer, load_embeddings
from sklrp.metrics import word_deletion_curve
from sklrp.text import relevance_color, token_relevances


def _quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(40, 6)), np.arange(40) % 3


@pytest.fixture(scope="module")
def models(data):
    X, y = data
    return {
        "dense": _quiet_fit(DenseNetClassifier((8,), max_iter=5, random_state=0), X, y),
        "conv": _quiet_fit(ConvNetClassifier(input_shape=(1, 2, 3), filters=(2,), kernel_size=2,
                                             hidden_layer_sizes=(4,), max_iter=5, random_state=0), X, y),
        "linear": _quiet_fit(LinearRelevanceClassifier(LogisticRegression()), X, y),
    }


DOCS = ["good movie", "bad film", "great fun", "awful plot"] * 3
DOC_Y = [1, 0, 1, 0] * 3


@pytest.fixture(scope="module")
def pipe():
    return _quiet_fit(make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())), DOCS, DOC_Y)


# ------------------------------------------------------------------ explain input
def _bad_inputs():
    return {
        "None": (None, ValueError, "Expected 2D array, got scalar array instead:\narray=nan."),
        "3.0": (3.0, ValueError, "Expected 2D array, got scalar array instead:\narray=3.0."),
        "0-D": (np.array(1.0), ValueError, "Expected 2D array, got scalar array instead:\narray=1.0."),
        "generator": ((x for x in np.zeros((2, 6))), TypeError,
                      "float() argument must be a string or a real number, not 'generator'"),
        "no sample": (np.zeros((0, 6)), ValueError, "Found array with 0 sample(s) (shape=(0, 6)) while a minimum of 1 "
                                                    "is required by {name}."),
        "5 features": (np.zeros((2, 5)), ValueError, "X has 5 features, but {name} is expecting 6 features as input."),
        "string": ([[1, 2, 3, 4, 5, "a"]], ValueError, "could not convert string to float: 'a'"),
        "NaN": (np.full((1, 6), np.nan), ValueError, "Input X contains NaN."),
    }


@pytest.mark.parametrize("model_name", ["dense", "conv", "linear"])
@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_explain_gets_the_message_predict_gets(models, model_name, case):
    """explain(None), explain(3.0), a generator, a 0-D array...: scikit-learn's message, as predict gives it
    (they raised TypeError: object of type 'NoneType' has no len() / IndexError inside _nets.py)."""
    model = models[model_name]
    bad, error, message = _bad_inputs()[case]
    message = message.format(name=type(model).__name__)
    for method in (model.predict, model.explain, lambda X: sklrp.explain(model, X)):
        if case == "generator":
            bad = (x for x in np.zeros((2, 6)))  # a fresh one per call
        if case in ("None", "3.0", "generator") and method not in (model.predict, model.explain):
            # sklrp.explain's parameter validation, before the estimator sees X
            with pytest.raises(ValueError, match=r"^The 'X' parameter of explain must be an array-like or a sparse "
                                                 r"array or matrix\. Got .* instead\.$"):
                method(bad)
            continue
        with pytest.raises(error, match="^" + re.escape(message)):
            method(bad)


def test_dict_composite_through_set_params(models, data):
    """A documented dict composite given through set_params (was TypeError: unhashable type: 'dict')."""
    X, y = data
    composite = {"dense": "epsilon", "first": "flat"}
    net = models["dense"]
    direct = _quiet_fit(DenseNetClassifier((8,), max_iter=5, random_state=0, composite=composite), X, y)
    R = net.set_params(composite=composite).explain(X[:3])
    try:
        np.testing.assert_allclose(R, direct.explain(X[:3]), rtol=1e-12, atol=1e-15)
        # the flat rule on the first layer: relevance independent of the input's values at that layer
        assert not np.allclose(R, net.set_params(composite="epsilon").explain(X[:3]))
    finally:
        net.set_params(composite="epsilon_plus")


# ------------------------------------------------------------------ input_bounds
def test_input_bounds_in_the_flat_layout_of_a_convnet(models, data):
    """Per-feature bounds given in X's flat layout on a ConvNet equal the same bounds in input_shape (was a
    broadcast error inside rules/_rules.py)."""
    X, _ = data
    conv = models["conv"]
    low, high = -np.arange(1.0, 7.0), np.arange(1.0, 7.0)
    try:
        flat = conv.set_params(input_bounds=(low, high), composite="epsilon_gamma_box").explain(X[:2])
        shaped = conv.set_params(input_bounds=(low.reshape(1, 2, 3), high.reshape(1, 2, 3))).explain(X[:2])
        other = conv.set_params(input_bounds=(-1.0, 1.0)).explain(X[:2])
    finally:
        conv.set_params(input_bounds=None, composite="epsilon_plus")
    np.testing.assert_array_equal(flat, shaped)
    assert not np.allclose(flat, other)  # the bounds are used


@pytest.mark.parametrize("bounds, message", [
    (("a", "b"), "input_bounds: low must be a number or an array of numbers; got 'a'."),
    ((np.zeros(5), np.ones(5)), "input_bounds: low has 5 values; expected one number, or one value per input "
                                "feature (6, in the flat layout of X or as (1, 2, 3))."),
    ((1.0, 0.0), "input_bounds: low must not exceed high."),
    ((np.nan, 1.0), "input_bounds: low must be finite; got nan."),
])
def test_bad_input_bounds(models, data, bounds, message):
    X, _ = data
    conv = models["conv"]
    try:
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            conv.set_params(input_bounds=bounds, composite="epsilon_gamma_box").explain(X[:2])
    finally:
        conv.set_params(input_bounds=None, composite="epsilon_plus")


# ---------------------------------------------------------------- hyperparameters
def test_layer_larger_than_the_machine_is_refused_before_allocating(data):
    X, y = data
    with pytest.raises(ValueError, match=r"^Dense: a parameter of shape \(6, 1000000000000\) needs 87\.3 TiB to "
                                         r"initialise, more than this machine's .* of memory; use smaller layer "
                                         r"sizes\.$"):
        DenseNetClassifier((10**12,), max_iter=1).fit(X, y)


def test_zero_layer_size(data):
    X, y = data
    with pytest.raises(ValueError, match=re.escape("hidden_layer_sizes must hold positive integers; got (0,).")):
        DenseNetClassifier((0,), max_iter=1).fit(X, y)


def test_training_that_diverges_raises(data):
    X, y = data
    with pytest.raises(ValueError, match=r"^DenseNetClassifier: the solver produced non-finite parameter weights in "
                                         r"epoch 1 \(mean loss inf\)\. The learning rate may be too large, or the "
                                         r"input data may contain large values and need to be preprocessed\.$"):
        _quiet_fit(DenseNetClassifier((3,), max_iter=5, random_state=0), X * 1.7e307, y)


def test_partial_fit_with_one_class(data):
    X, _ = data
    with pytest.raises(ValueError, match=re.escape("DenseNetClassifier needs at least 2 classes in classes; got 1 "
                                                   "class: [0].")):
        DenseNetClassifier((3,)).partial_fit(X, np.zeros(40), classes=[0])


# ------------------------------------------------------------------------ text
@pytest.mark.parametrize("bad, shown", [(None, "NoneType: None"), (3, "int: 3"), (["good"], "list: ['good']")])
def test_non_string_documents(pipe, bad, shown):
    """None, numbers, lists as documents (was AttributeError: 'NoneType' object has no attribute 'lower')."""
    docs = ["good", bad]
    for name, call in [
        ("raw_documents", lambda: token_relevances(pipe, docs)),
        ("X", lambda: RelevanceDocumentVectorizer(pipe, {"good": np.ones(2)}).fit().transform(docs)),
        ("X", lambda: word_deletion_curve(pipe, docs, [1, 0])),
        ("X", lambda: sklrp.explain(pipe, docs)),
    ]:
        with pytest.raises(TypeError, match="^" + re.escape(f"{name}[1] must be a str document; got {shown}.") + "$"):
            call()


def test_undecodable_bytes_document(pipe):
    """Bytes are decoded by the vectorizer as scikit-learn's do: a UnicodeDecodeError (a ValueError)."""
    with pytest.raises(UnicodeDecodeError, match="'utf-8' codec can't decode byte 0xff in position 0"):
        token_relevances(pipe, [b"\xff\xfe bad"])


def test_word_deletion_n_words_is_bounded(pipe):
    """n_words=100000 on a few documents did not return in 30 s; 10**12 tried to allocate 7 TiB."""
    with pytest.raises(ValueError, match=r"^n_words=100000 exceeds the 8 columns of the last step's input"):
        word_deletion_curve(pipe, DOCS, DOC_Y, n_words=100_000)


@pytest.mark.parametrize("relevance, error, message", [
    ("abc", TypeError, "relevance must be an array of numbers; got str."),
    (None, None, None),
    ([[1j] * 8] * 12, TypeError, "relevance must hold real numbers; got complex values (dtype complex128)."),
    ([[np.nan] * 8] * 12, ValueError, "relevance contains NaN or infinity."),
    ([[1.0, 2.0]], ValueError, "relevance has shape (1, 2); expected (n_documents, n_columns) = (12, 8)."),
])
def test_relevance_given_by_the_user(pipe, relevance, error, message):
    """A relevance given as a list works (was AttributeError); strings, complex, NaN, wrong shapes are named."""
    if error is None:  # a list equal to the explanation gives the same words and values
        R = sklrp.explain(pipe, DOCS)
        from_list = token_relevances(pipe, DOCS, relevance=R.toarray().tolist())
        for a, b in zip(from_list, token_relevances(pipe, DOCS, relevance=R), strict=True):
            assert a.tokens == b.tokens
            np.testing.assert_array_equal(a.relevance, b.relevance)
        assert np.abs(np.concatenate([d.relevance for d in from_list])).max() > 0
        return
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        token_relevances(pipe, DOCS, relevance=relevance)
    message = message.replace("(n_documents, n_columns) = ", "")  # word_deletion_curve's wording
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        word_deletion_curve(pipe, DOCS, DOC_Y, relevance=relevance)


@pytest.mark.parametrize("embeddings, error, message", [
    ({"good": np.ones(2), "bad": [1, 2, 3]}, ValueError,
     "Embedding vectors in the dict have different lengths: 'good' has 2 values, 'bad' has 3."),
    ({"good": ["a", "b"]}, TypeError, "The embedding of 'good' must be a 1-D sequence of numbers; got list ['a', "
                                      "'b']."),
    ({"good": np.array([1j, 2])}, TypeError, "The embedding of 'good' holds complex numbers; embeddings must be "
                                             "real."),
    ({"good": [np.nan, 1.0]}, ValueError, "The embedding of 'good' contains NaN or inf (or a number beyond the float "
                                          "range)."),
    ({"good": [10**400, 1]}, ValueError, "The embedding of 'good' holds a number beyond the float range."),
    ({"good": [[1.0, 2.0]]}, ValueError, "The embedding of 'good' must be 1-D; got an array of shape (1, 2)."),
])
def test_bad_embedding_dicts(pipe, embeddings, error, message):
    """Ragged, non-numeric or complex vectors (were raw conversion errors; complex ones were silently made real)."""
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        load_embeddings(embeddings)
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        RelevanceDocumentVectorizer(pipe, embeddings).fit()


def test_relevance_color_of_nan_and_non_numbers():
    """NaN is shown white (was: cannot convert float NaN to integer); a non-number is named."""
    assert relevance_color(np.nan, 1.0) == (255, 255, 255)
    assert relevance_color(10**400, 1.0) == (255, 0, 0)  # beyond the float range: saturated
    with pytest.raises(TypeError, match=r"^value must be a real number; got str: 'x'\.$"):
        relevance_color("x", 1.0)
    with pytest.raises(ValueError, match=r"^vmax must be a positive finite number; got nan\.$"):
        relevance_color(0.5, np.nan)


# ------------------------------------------------------------------------ overflow
def test_network_overflow_is_reported(data):
    """Finite inputs whose scores overflow (were NaN/inf returned silently), float32 network."""
    X, y = data
    net = _quiet_fit(DenseNetClassifier((8,), max_iter=5, random_state=0), X.astype(np.float32), y)
    x = np.vstack([X[:2], np.full((1, 6), 3e38)]).astype(np.float32)
    message = ("DenseNetClassifier: the scores of 1 of 3 samples are not finite although X is: the network overflows "
               "(float32 arithmetic) on inputs this large (largest |x| of those samples: 3e+38). Scale X as the "
               "training data was scaled.")
    for method in (net.decision_function, net.predict_proba, net.predict, net.explain):
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            method(x)


@pytest.mark.parametrize("sparse", [False, True])
def test_linear_overflow_is_reported(models, data, sparse):
    import scipy.sparse as sp

    X, _ = data
    model = models["linear"]
    x = np.vstack([X[:1], 1.7e308 * np.sign(model.estimator_.coef_[:1])])
    x = sp.csr_matrix(x) if sparse else x
    message = ("LinearRelevanceClassifier: the scores of 1 of 2 samples are not finite although X is: the scores "
               "overflow on inputs this large (largest |x| of those samples: 1.7e+308). Scale X as the training data "
               "was scaled.")
    for method in (model.decision_function, model.predict_proba, model.explain):
        with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
            method(x)

"""Map the feature columns of a text Pipeline's last step back to vectorizer terms."""

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["TextFeatureMap", "text_feature_map"]


class TextFeatureMap:
    """How the columns seen by a Pipeline's last step relate to vectorizer terms.

    Attributes
    ----------
    vectorizer : CountVectorizer or TfidfVectorizer
        The fitted vectorizer (first step of the Pipeline).
    terms : ndarray of str, shape (n_columns,)
        The vectorizer term (a word or a space-joined n-gram) of every column
        of the last step's input.
    column_of_term : dict
        Vectorizer term -> column of the last step's input (terms removed by
        a feature selector are absent).
    n_columns : int
        Number of columns of the last step's input.
    """

    def __init__(self, vectorizer, terms, column_of_term):
        self.vectorizer = vectorizer
        self.terms = terms
        self.column_of_term = column_of_term
        self.n_columns = len(terms)


def _is_word_vectorizer(vec):
    return hasattr(vec, "build_preprocessor") and hasattr(vec, "build_tokenizer")


def text_feature_map(estimator, vectorizer=None):
    """Relate the last step's input columns to the terms of a text vectorizer.

    Parameters
    ----------
    estimator : Pipeline or estimator
        A fitted Pipeline whose first step is a fitted ``CountVectorizer`` or
        ``TfidfVectorizer`` (or a subclass) with a word analyzer. Steps
        between the vectorizer and the last step must keep or select columns
        (``TfidfTransformer``, ``Normalizer``, ``MaxAbsScaler``,
        ``SelectKBest``, ...), which is checked through their
        ``get_feature_names_out``.
    vectorizer : CountVectorizer or TfidfVectorizer, default=None
        Use this fitted vectorizer instead of the Pipeline's first step; the
        last step's input is then the vectorizer's output.

    Returns
    -------
    TextFeatureMap

    Raises
    ------
    ValueError
        When the features cannot be mapped back to tokens: no vectorizer, a
        vectorizer without a vocabulary (e.g. ``HashingVectorizer``), a
        character or callable analyzer, or a step that mixes columns (e.g.
        ``TruncatedSVD``).
    """
    if vectorizer is not None:
        vec, middle = vectorizer, []
    elif isinstance(estimator, Pipeline) and len(estimator.steps) >= 2:
        vec, middle = estimator.steps[0][1], [s for _, s in estimator.steps[1:-1]]
    else:
        raise ValueError(
            "Cannot map features back to tokens: expected a Pipeline whose first step is a "
            "CountVectorizer or TfidfVectorizer, or pass vectorizer=; got "
            f"{type(estimator).__name__}."
        )
    name = type(vec).__name__
    if not _is_word_vectorizer(vec):
        raise ValueError(
            f"Cannot map features back to tokens: the first step {name} is not a "
            "CountVectorizer/TfidfVectorizer-like text vectorizer."
        )
    if isinstance(vec, HashingVectorizer) or not hasattr(vec, "fixed_vocabulary_") and (
        hasattr(vec, "n_features") and not hasattr(vec, "vocabulary")
    ):
        raise ValueError(
            f"Cannot map features back to tokens: {name} has no vocabulary (hashed "
            "features cannot be inverted); use CountVectorizer or TfidfVectorizer."
        )
    check_is_fitted(vec, "vocabulary_")
    analyzer = getattr(vec, "analyzer", "word")
    if analyzer != "word":
        raise ValueError(
            "Cannot map features back to tokens: token_relevances supports "
            f"analyzer='word' only; {name} has analyzer={analyzer!r}."
        )
    vocab = vec.vocabulary_
    terms = np.empty(len(vocab), dtype=object)
    for t, j in vocab.items():
        terms[j] = t
    names = terms
    for step in middle:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if not hasattr(step, "get_feature_names_out"):
            raise ValueError(
                "Cannot map features back to tokens: pipeline step "
                f"{type(step).__name__} has no get_feature_names_out."
            )
        try:
            out = np.asarray(step.get_feature_names_out(names.astype(str)), dtype=object)
        except Exception as exc:  # noqa: BLE001 - report any failure the same way
            raise ValueError(
                "Cannot map features back to tokens through pipeline step "
                f"{type(step).__name__}: {exc}"
            ) from exc
        known = set(names.tolist())
        if not all(o in known for o in out.tolist()):
            raise ValueError(
                "Cannot map features back to tokens: pipeline step "
                f"{type(step).__name__} builds new features ({out[:3].tolist()} ...) "
                "instead of keeping or selecting the vectorizer's terms."
            )
        names = out
    column_of_term = {t: j for j, t in enumerate(names.tolist())}
    return TextFeatureMap(vec, names, column_of_term)

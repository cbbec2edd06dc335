"""Word embeddings from a dict, a gensim KeyedVectors or a GloVe / word2vec text file."""

import json
import os

import numpy as np

__all__ = ["WordEmbeddings", "load_embeddings"]


class WordEmbeddings:
    """A read-only table of word vectors.

    Parameters
    ----------
    words : sequence of str
        The vocabulary, one entry per row of ``vectors`` (first occurrence
        wins for duplicates).
    vectors : ndarray of shape (n_words, dim)
        Finite vectors.

    Attributes
    ----------
    index : dict
        Word -> row of ``vectors``.
    dim : int
        Embedding dimension.
    """

    def __init__(self, words, vectors):
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(
                f"vectors must have shape (n_words, dim) = ({len(words)}, dim); got {vectors.shape}."
            )
        if vectors.dtype.kind not in "fiub":
            raise TypeError(
                f"Embedding vectors must hold real numbers; got dtype {vectors.dtype}"
                + (" (the imaginary parts would be dropped)." if vectors.dtype.kind == "c" else ".")
            )
        if not np.issubdtype(vectors.dtype, np.floating):
            vectors = vectors.astype(np.float64)
        if not np.all(np.isfinite(vectors)):
            raise ValueError("Embedding vectors contain NaN or inf.")
        self.words = list(words)
        self.vectors = vectors
        self.index = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)
        self.dim = vectors.shape[1]

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __getitem__(self, word):
        return self.vectors[self.index[word]]

    def __repr__(self):
        return f"WordEmbeddings(n_words={len(self)}, dim={self.dim})"

    def lookup(self, terms, lowercase_fallback=True):
        """Rows of ``vectors`` for ``terms`` (-1 where out of vocabulary).

        Parameters
        ----------
        terms : sequence of str
        lowercase_fallback : bool, default=True
            Try ``term.lower()`` when ``term`` itself is missing.

        Returns
        -------
        ndarray of int, shape (n_terms,)
        """
        idx = np.full(len(terms), -1, dtype=np.intp)
        get = self.index.get
        for k, t in enumerate(terms):
            j = get(t)
            if j is None and lowercase_fallback and isinstance(t, str):
                j = get(t.lower())
            if j is not None:
                idx[k] = j
        return idx


def _from_text_file(path, dtype, limit):
    words, rows = [], []
    dim = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
        parts = first.rstrip("\n").rstrip().split(" ")
        header = len(parts) == 2 and all(p.isdigit() for p in parts)
        if header:
            dim = int(parts[1])
        else:
            fh.seek(0)
        for lineno, line in enumerate(fh, start=2 if header else 1):
            if limit is not None and len(words) >= limit:
                break
            parts = line.rstrip("\n").rstrip().split(" ")
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise ValueError(
                    f"{path}: line {lineno} has {len(parts) - 1} values; expected {dim} "
                    "(GloVe 'word v1 ... vd' or word2vec text format with a 'count dim' header)."
                )
            words.append(parts[0])
            rows.append(parts[1:])
    if not words:
        raise ValueError(f"{path}: no word vectors found.")
    return WordEmbeddings(words, np.asarray(rows, dtype=dtype))


def _dict_vector(word, vector):
    """One vector of an embedding dict as a 1-D float64 array, or an error naming the word."""
    arr = np.asarray(vector) if not isinstance(vector, (str, bytes)) else np.asarray([vector])
    if arr.dtype.kind == "c":
        raise TypeError(f"The embedding of {word!r} holds complex numbers; embeddings must be real.")
    if arr.dtype.kind not in "fiub":
        try:
            arr = arr.astype(np.float64)
        except OverflowError:
            raise ValueError(f"The embedding of {word!r} holds a number beyond the float range.") from None
        except (TypeError, ValueError):
            raise TypeError(
                f"The embedding of {word!r} must be a 1-D sequence of numbers; got {type(vector).__name__} "
                f"{vector!r:.60}."
            ) from None
    if arr.ndim != 1:
        raise ValueError(f"The embedding of {word!r} must be 1-D; got an array of shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"The embedding of {word!r} is empty.")
    with np.errstate(over="ignore"):
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"The embedding of {word!r} contains NaN or inf (or a number beyond the float range).")
    return arr


def load_embeddings(source, *, dtype=np.float32, limit=None):
    """Load word embeddings from any of the usual sources.

    Parameters
    ----------
    source : WordEmbeddings, dict, gensim KeyedVectors or path
        - a :class:`WordEmbeddings` (returned as is);
        - a dict mapping words to equal-length vectors;
        - a gensim ``KeyedVectors`` (or any object with ``key_to_index`` and
          ``vectors``, such as ``Word2Vec(...).wv``);
        - a path to a text file in GloVe format (``word v1 ... vd``, no
          header) or word2vec text format (first line ``count dim``); the
          format is detected from the first line. ``.json`` files holding a
          ``{word: [floats]}`` object are read too. Binary word2vec files
          need gensim: load them with ``KeyedVectors.load_word2vec_format(...,
          binary=True)`` and pass the result.
    dtype : dtype, default=np.float32
        Floating type of the vectors read from a file.
    limit : int, default=None
        Read at most this many words from a text file.

    Returns
    -------
    WordEmbeddings

    Raises
    ------
    ValueError
        For inconsistent dimensions, non-finite values or an empty source,
        naming the word (dict) or the line (file).
    TypeError
        For an unsupported source type, or vectors that are not real
        numbers (strings, complex numbers).
    """
    if isinstance(source, WordEmbeddings):
        return source
    if isinstance(source, dict):
        if not source:
            raise ValueError("The embedding dict is empty.")
        words = list(source.keys())
        rows = [_dict_vector(w, source[w]) for w in words]
        dim = rows[0].shape[0]
        for w, row in zip(words, rows):
            if row.shape[0] != dim:
                raise ValueError(
                    f"Embedding vectors in the dict have different lengths: {words[0]!r} has {dim} values, "
                    f"{w!r} has {row.shape[0]}."
                )
        return WordEmbeddings(words, np.asarray(rows))
    if hasattr(source, "key_to_index") and hasattr(source, "vectors"):
        words = [None] * len(source.key_to_index)
        for w, i in source.key_to_index.items():
            words[i] = w
        return WordEmbeddings(words, np.asarray(source.vectors))
    if hasattr(source, "wv") and hasattr(source.wv, "key_to_index"):
        return load_embeddings(source.wv)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise ValueError(f"Embedding file {path!r} does not exist.")
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                return load_embeddings(json.load(fh))
        if path.endswith(".bin"):
            raise ValueError(
                "Binary word2vec files need gensim: load with gensim's "
                "KeyedVectors.load_word2vec_format(path, binary=True) and pass the result."
            )
        return _from_text_file(path, dtype, limit)
    raise TypeError(
        "embeddings must be a dict, a gensim KeyedVectors, a WordEmbeddings or a path to a "
        f"GloVe/word2vec text file; got {type(source).__name__}."
    )


def train_word2vec(documents, *, vectorizer=None, vector_size=50, window=5, min_count=2,
                   epochs=5, random_state=0, workers=1, **kwargs):
    """Train word2vec embeddings on a corpus with gensim (optional extra ``text``).

    Documents are tokenised with ``vectorizer.build_analyzer()`` (default: a
    ``CountVectorizer``'s word analyzer, lower-cased), so the vocabulary
    matches the model's terms.

    Parameters
    ----------
    documents : iterable of str
    vectorizer : CountVectorizer or TfidfVectorizer, default=None
    vector_size, window, min_count, epochs, workers : int
        gensim ``Word2Vec`` settings.
    random_state : int, default=0
        gensim's ``seed``.
    **kwargs
        Further ``Word2Vec`` arguments.

    Returns
    -------
    WordEmbeddings

    Raises
    ------
    ImportError
        When gensim is not installed (``pip install gensim``).
    """
    try:
        from gensim.models import Word2Vec
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "train_word2vec needs gensim; install it with `pip install 'gensim>=4.3'` (or `pip install '.[text]'` in a checkout of sklrp)."
        ) from exc
    if vectorizer is None:
        from sklearn.feature_extraction.text import CountVectorizer

        vectorizer = CountVectorizer()
    analyze = vectorizer.build_analyzer()
    sentences = [analyze(d) for d in documents]
    model = Word2Vec(sentences, vector_size=vector_size, window=window, min_count=min_count,
                     epochs=epochs, seed=random_state, workers=workers, **kwargs)
    return load_embeddings(model.wv)


__all__.append("train_word2vec")


def embedding_matrix(embeddings, vectorizer, *, dtype=np.float32, lowercase_fallback=True):
    """Pre-trained word vectors as the rows of an embedding matrix aligned with a vectorizer's ids.

    The ``embeddings`` array of :class:`~sklrp.TextCNNClassifier` and
    :class:`~sklrp.BiLSTMClassifier` holds one row per token id; this builds
    it from any source :func:`load_embeddings` reads (a dict, a gensim
    ``KeyedVectors``, a GloVe or word2vec text file, :class:`WordEmbeddings`)
    for a fitted :class:`~sklrp.text.TokenSequenceVectorizer`.

    Parameters
    ----------
    embeddings : WordEmbeddings, dict, gensim KeyedVectors or path
        The word vectors.
    vectorizer : fitted TokenSequenceVectorizer
        Row ``i`` of the result is the vector of ``get_feature_names_out()[i]``.
    dtype : dtype, default=np.float32
    lowercase_fallback : bool, default=True
        Look a word up lower-cased when it is missing as it is.

    Returns
    -------
    W : ndarray of shape (``vectorizer.vocab_size_``, dim)
        Zero rows for padding (id 0), the out-of-vocabulary id and the words
        without a vector.
    coverage : float
        The fraction of the vocabulary's words that have a vector.

    Examples
    --------
    >>> from sklrp.feature_extraction import embedding_matrix
    >>> from sklrp.text import TokenSequenceVectorizer
    >>> vec = TokenSequenceVectorizer().fit(["good movie", "bad movie"])
    >>> W, coverage = embedding_matrix({"good": [1.0, 0.0], "bad": [-1.0, 0.0]}, vec)
    >>> W.shape, coverage
    ((4, 2), 0.6666666666666666)
    """
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(vectorizer, "get_feature_names_out") or not hasattr(vectorizer, "vocabulary_"):
        raise TypeError(
            "vectorizer must be a fitted TokenSequenceVectorizer (with vocabulary_ and get_feature_names_out); "
            f"got {type(vectorizer).__name__}."
        )
    check_is_fitted(vectorizer, "vocabulary_")
    emb = load_embeddings(embeddings)
    names = np.asarray(vectorizer.get_feature_names_out(), dtype=object)
    W = np.zeros((len(names), emb.dim), dtype=dtype)
    word_ids = np.fromiter(vectorizer.vocabulary_.values(), dtype=np.intp, count=len(vectorizer.vocabulary_))
    rows = emb.lookup([names[i] for i in word_ids], lowercase_fallback=lowercase_fallback)
    found = rows >= 0
    W[word_ids[found]] = emb.vectors[rows[found]]
    coverage = float(found.mean()) if found.size else 0.0
    return W, coverage


__all__.append("embedding_matrix")

"""Feature relevances back onto the token occurrences of raw text."""

import unicodedata

import numpy as np
import scipy.sparse as sp

from .._validation import check_documents, check_relevance
from ..base import explain as _explain
from ._highlight import TokenRelevances
from ._vocab import bow_input, sequence_feature_map, text_feature_map

__all__ = ["TokenRelevances", "token_relevances"]


def _offset_map(preprocess, text, pre):
    """Index in ``text`` of every character of ``pre``: None for the identity (each character preprocessed to one
    character), False when the preprocessor does not work character by character (``pre`` is not the join of the
    characters' preprocessed pieces)."""
    piece_of = {ch: preprocess(ch) for ch in set(text)}  # one call per distinct character
    pieces = [piece_of[ch] for ch in text]
    if "".join(pieces) != pre:
        return False
    if all(len(piece) == 1 for piece in piece_of.values()):
        return None  # not merely the same length: a ligature that expands and an accent that vanishes cancel out
    offs = np.empty(len(pre) + 1, dtype=np.intp)
    k = 0
    for i, piece in enumerate(pieces):
        offs[k:k + len(piece)] = i
        k += len(piece)
    offs[len(pre)] = len(text)
    return offs


def _locate(tokens, pre, text, offs):
    """Character spans of tokens in ``text`` (sequential search)."""
    spans = []
    if offs is False:  # preprocessor not character-wise: search case-insensitively
        hay, cursor = text.lower(), 0
        for tok in tokens:
            p = hay.find(tok.lower(), cursor)
            if p < 0:
                spans.append(None)
            else:
                spans.append((p, p + len(tok)))
                cursor = p + len(tok)
        return spans
    cursor = 0
    for tok in tokens:
        p = pre.find(tok, cursor) if tok else -1
        if p < 0:
            spans.append(None)
            continue
        e = p + len(tok)
        cursor = e
        if offs is None:
            spans.append((p, e))
        else:
            end = int(offs[e - 1]) + 1
            while end < len(text) and unicodedata.combining(text[end]):  # a mark the preprocessor removed
                end += 1
            spans.append((int(offs[p]), end))
    return spans


class _DocumentAnalyzer:
    """Re-runs a word vectorizer's analysis while keeping token positions."""

    def __init__(self, fmap):
        vec = fmap.vectorizer
        self.vec = vec
        self.preprocess = vec.build_preprocessor()
        self.tokenize = vec.build_tokenizer()
        self.stop = vec.get_stop_words() or frozenset()
        self.ngram_range = tuple(vec.ngram_range)
        self.column_of_term = fmap.column_of_term

    def __call__(self, doc):
        text = self.vec.decode(doc)
        if not isinstance(text, str):
            raise ValueError(
                f"Documents must be strings (or bytes the vectorizer decodes); got {type(doc).__name__}."
            )
        pre = self.preprocess(text)
        tokens = list(self.tokenize(pre))
        spans = _locate(tokens, pre, text, _offset_map(self.preprocess, text, pre))
        kept = [i for i, t in enumerate(tokens) if t not in self.stop]
        kept_tok = [tokens[i] for i in kept]
        occ = []  # (column, token positions)
        min_n, max_n = self.ngram_range
        col_of = self.column_of_term
        for n in range(min_n, max_n + 1):
            for i in range(len(kept) - n + 1):
                term = kept_tok[i] if n == 1 else " ".join(kept_tok[i:i + n])
                col = col_of.get(term)
                if col is not None:
                    occ.append((col, kept[i:i + n]))
        return text, tokens, spans, occ


def token_relevances(estimator, raw_documents, target=None, *, method=None, relevance=None,
                     vectorizer=None, occurrences="split"):
    """Map feature relevances of a text Pipeline onto the tokens of raw documents.

    **Bag-of-words Pipelines.** The Pipeline is explained with
    :func:`sklrp.explain` in the space of its last step's input (one
    relevance per vocabulary term and document); each term's relevance is
    then handed to the token occurrences that produced it, found by
    re-running the vectorizer's own ``decode``, preprocessor (``lowercase``,
    ``strip_accents``), tokenizer (``token_pattern`` or a callable),
    stop-word list and ``ngram_range``.

    **Sequence Pipelines** (a :class:`~sklrp.text.TokenSequenceVectorizer`
    as the last transformer, then a classifier on token ids such as a word
    CNN). The last step's ``explain`` gives one relevance per token
    *position* (an array with a third, embedding axis is summed over it);
    the tokens and character spans of the positions come from
    :meth:`~sklrp.text.TokenSequenceVectorizer.token_spans`, so every
    occurrence has its own relevance and ``occurrences`` does not apply.
    The tokens listed are those the model reads, in the order of the id
    row: padding positions are dropped, and tokens the vectorizer removed
    (stop words, out-of-vocabulary tokens with ``oov="drop"``, tokens cut
    by ``max_length``) are *absent* from ``tokens`` (their text stays
    unhighlighted in :func:`highlight_html`). Every listed token has
    ``known=True``, including out-of-vocabulary tokens mapped to the OOV id
    with ``oov="map"`` (they keep their own string and the relevance of
    their position). ``meta["positions"]`` and ``meta["ids"]`` give each
    token's position in the id row and its id.

    Parameters
    ----------
    estimator : Pipeline
        Fitted Pipeline: a ``CountVectorizer`` / ``TfidfVectorizer`` first,
        optionally column-keeping or selecting transformers, and an
        explainable last step (e.g. :class:`sklrp.LinearRelevanceClassifier`);
        or a sequence Pipeline ending with a ``TokenSequenceVectorizer`` and
        an explainable classifier on token ids.
    raw_documents : iterable of str
        Documents in the form the Pipeline's ``predict`` takes.
    target : None, label, array-like, default=None
        Which class to explain; see the last step's ``explain`` (``None`` is
        the predicted class).
    method : str, default=None
        Explanation method passed to ``explain`` (e.g. ``"sensitivity"``).
    relevance : array-like or sparse matrix of shape (n_documents, n_columns), default=None
        Precomputed relevances in the last step's input space (for a
        sequence Pipeline ``(n_documents, max_length_)``, or
        ``(n_documents, max_length_, dim)`` per embedding dimension); when
        given, ``estimator`` is used for the vocabulary only and
        ``target``/``method`` are ignored (the label is then ``None``).
    vectorizer : CountVectorizer, TfidfVectorizer or TokenSequenceVectorizer, default=None
        A fitted vectorizer to use instead of the Pipeline's first step. A
        ``TokenSequenceVectorizer`` makes the last step of ``estimator`` (or
        ``estimator`` itself, e.g. a bare word CNN) explain
        ``vectorizer.transform(raw_documents)``; so does a bag-of-words
        vectorizer given with a bare classifier (not a Pipeline) fitted on
        its output.
    occurrences : {"split", "each"}, default="split"
        How a term's relevance ``R_f`` reaches its occurrences. ``"split"``:
        each of the ``n_f`` occurrences gets ``R_f / n_f``, so token relevances
        sum to the document's total relevance (with ``bias="distribute"``, to
        the class score). ``"each"``: every occurrence shows ``R_f`` (the
        heatmap convention of Arras et al. 2017; sums are then not conserved).
        Either way an n-gram's share is divided equally among its ``n``
        tokens, and a token collects the shares of all n-grams it belongs to.
        Ignored for sequence Pipelines (relevance is per occurrence there).

    Returns
    -------
    list of TokenRelevances
        One per document. Empty documents give an empty token list;
        documents with no known word have all relevances zero and ``known``
        all ``False``.

    Raises
    ------
    ValueError
        If the features cannot be mapped back to tokens (see
        :func:`sklrp.text.text_feature_map`), or ``relevance`` (or the
        output of a sequence model's ``explain``) has the wrong shape.
    TypeError
        If the last step has no ``explain`` method.
    """
    if occurrences not in ("split", "each"):
        raise ValueError(f"occurrences must be 'split' or 'each'; got {occurrences!r}.")
    docs = check_documents(raw_documents, "raw_documents")
    smap = sequence_feature_map(estimator, vectorizer=vectorizer)
    if smap is not None:
        return _sequence_token_relevances(smap, docs, target, method, relevance)
    fmap = text_feature_map(estimator, vectorizer=vectorizer)
    labels = [None] * len(docs)
    if relevance is None:
        Xin = bow_input(estimator, docs, vectorizer)
        R = _explain(estimator, Xin, target=target, method=method)
        labels = _target_labels(lambda: estimator.predict(Xin), len(docs), target)
    else:
        R = check_relevance(relevance, "relevance")
    R = sp.csr_matrix(R) if not sp.issparse(R) else R.tocsr()
    if R.shape != (len(docs), fmap.n_columns):
        raise ValueError(
            f"relevance has shape {R.shape}; expected (n_documents, n_columns) = "
            f"{(len(docs), fmap.n_columns)}."
        )
    analyze = _DocumentAnalyzer(fmap)
    out = []
    for i, doc in enumerate(docs):
        text, tokens, spans, occ = analyze(doc)
        rel = np.zeros(len(tokens), dtype=np.float64)
        known = np.zeros(len(tokens), dtype=bool)
        row = R.getrow(i)
        row_vals = dict(zip(row.indices.tolist(), row.data.tolist()))
        if occ:
            counts = {}
            for col, _ in occ:
                counts[col] = counts.get(col, 0) + 1
            for col, pos in occ:
                value = row_vals.get(col, 0.0)
                if occurrences == "split":
                    value = value / counts[col]
                share = value / len(pos)
                for p in pos:
                    rel[p] += share
                    known[p] = True
        out.append(TokenRelevances(text, tokens, spans, rel, known, labels[i]))
    return out


def _sequence_token_relevances(smap, raw_documents, target, method, relevance):
    """token_relevances of a sequence Pipeline: one relevance per token position."""
    docs = smap.documents(raw_documents)
    if relevance is None:
        ids, R = smap.explain(docs, target=target, method=method)
        labels = _target_labels(lambda: smap.final.predict(ids), len(docs), target)
    else:
        ids = smap.ids(docs)
        R = smap.position_relevance(relevance, ids.shape)
        labels = [None] * len(docs)
    out = []
    for i, (text, row) in enumerate(zip(docs, smap.vectorizer.token_spans(docs))):
        pos = np.array([t for t, span in enumerate(row) if span is not None], dtype=np.intp)
        spans = [None if row[t].start is None else (row[t].start, row[t].end) for t in pos]
        out.append(TokenRelevances(
            text, [row[t].token for t in pos], spans, R[i, pos], np.ones(pos.size, dtype=bool),
            labels[i], meta={"positions": pos, "ids": ids[i, pos]},
        ))
    return out


def _target_labels(predict, n, target):
    """The explained label of each of ``n`` documents (``predict()`` gives the predicted ones)."""
    if target is None:
        return list(predict())
    arr = np.asarray(target)
    if arr.ndim == 0:
        return [arr.item()] * n
    if arr.ndim == 1:
        return arr.tolist()
    return [None] * n

"""Stanford Sentiment Treebank (SST-5 / SST-2) loader over local PTB tree files."""

import re

import numpy as np
from sklearn.utils import Bunch

from ._base import get_data_home, missing_data

__all__ = ["load_sst"]

_SUBSETS = ("train", "dev", "test")
_FINE_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]
_BINARY_NAMES = ["negative", "positive"]
# "(" and ")" are tokens of their own; anything else up to ASCII whitespace or
# a parenthesis is a label or a word (the treebank spells brackets -LRB-/-RRB-).
# Not ``\s``: three training leaves ("8\xa01\/2", "2\xa01\/2") hold a
# no-break space that belongs to the word.
_TOKEN = re.compile(r"[()]|[^ \t\n\r\f\v()]+")
_LABELS = {str(i): i for i in range(5)}

_DESCR = """\
Stanford Sentiment Treebank (SST)
---------------------------------

Movie-review sentences from rottentomatoes.com, parsed into binary trees
whose every node (sentence, phrase and word) carries a sentiment label:
0 = very negative, 1 = negative, 2 = neutral, 3 = positive, 4 = very positive.

Official splits (sentences): train 8,544, dev 1,101, test 2,210.
Read from the PTB-style files ``trees/{train,dev,test}.txt`` (one tree per
line).  Tokens are kept as in the treebank (original case, ``-LRB-`` /
``-RRB-`` for brackets) and joined by single spaces.

SST-2 (``fine_grained=False``) maps labels 0, 1 to negative (0) and 3, 4 to
positive (1) and drops neutral (2) items.

Socher, R., Perelygin, A., Wu, J., Chuang, J., Manning, C. D., Ng, A. and
Potts, C. Recursive Deep Models for Semantic Compositionality Over a
Sentiment Treebank. EMNLP 2013.
"""


def _parse_tree(line, phrases):
    """Parse one PTB tree line.

    Returns the list of ``(text, label)`` of its nodes in pre-order (root
    first) when ``phrases`` is true, else the root's ``(text, label)`` only.
    Raises ``ValueError`` with a bare reason on malformed input; the caller
    adds the file and line number.
    """
    tokens = _TOKEN.findall(line)
    if not tokens or tokens[0] != "(":
        raise ValueError("a tree must start with '('")
    words = []
    # Each open node: [label, index of its first word, n_children, output slot].
    stack = []
    out = []
    expect_label = False
    closed_root = False
    for tok in tokens:
        if closed_root:
            raise ValueError(f"unexpected {tok!r} after the end of the tree")
        if expect_label:
            label = _LABELS.get(tok)
            if label is None:
                raise ValueError(f"expected a label in 0..4 after '(', got {tok!r}")
            slot = -1
            if phrases:
                slot = len(out)
                out.append(None)
            stack.append([label, len(words), 0, slot])
            expect_label = False
        elif tok == "(":
            if stack:
                stack[-1][2] += 1
            expect_label = True
        elif tok == ")":
            if not stack:
                raise ValueError("unbalanced ')'")
            label, start, n_children, slot = stack.pop()
            if n_children == 0:
                raise ValueError("empty node (a label with no word or sub-tree)")
            if phrases:
                out[slot] = (" ".join(words[start:]), label)
            if not stack:
                closed_root = True
                root_label = label
        else:
            if not stack:
                raise ValueError(f"word {tok!r} outside any node")
            stack[-1][2] += 1
            words.append(tok)
    if expect_label:
        raise ValueError("missing label after '('")
    if stack:
        raise ValueError(f"unbalanced '(': {len(stack)} node(s) left open")
    if phrases:
        return out
    return [(" ".join(words), root_label)]


def _read_trees(path, phrases):
    items = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                items.extend(_parse_tree(line, phrases))
            except ValueError as exc:
                raise ValueError(f"{path}, line {lineno}: malformed tree: {exc}") from None
    return items


def load_sst(subset="train", *, fine_grained=True, phrases=False, lowercase=False,
             data_home=None, return_X_y=False):
    """Load the Stanford Sentiment Treebank (SST-5, or SST-2) from local files.

    Nothing is downloaded: the official PTB-style tree files
    ``trees/train.txt``, ``trees/dev.txt`` and ``trees/test.txt`` (one tree
    per line, e.g. ``(3 (2 It) (4 ...))``) are read from ``data_home/sst``
    and parsed here (no NLTK needed).  A sentence's text is its leaves joined
    by single spaces, in the treebank's tokenisation and original case:
    brackets are spelt ``-LRB-`` / ``-RRB-``, slashes ``\\/``, and three
    training leaves (``"8\\xa01\\/2"``, ``"2\\xa01\\/2"``) keep their
    no-break space, so ``str.split`` can see more tokens than the tree has
    leaves there.

    Parameters
    ----------
    subset : {"train", "dev", "test"}, default="train"
        Official split: 8,544, 1,101 and 2,210 sentences.
    fine_grained : bool, default=True
        ``True``: five classes, 0 = very negative ... 4 = very positive.
        ``False``: the binary SST-2 convention, labels 0 and 1 become 0
        (negative), 3 and 4 become 1 (positive), and neutral (2) items are
        dropped (train 6,920, dev 872, test 1,821 sentences).
    phrases : bool, default=False
        ``False``: one item per sentence (root of each tree), in file order.
        ``True``: every labelled node of every tree of the subset (sentences,
        internal phrases and single words), in file order and pre-order
        (each sentence before its own phrases).  Many phrases occur more than
        once (single words such as "the", common phrases, a few repeated
        sentences), so items are de-duplicated by their returned text within
        the subset, keeping the label of the first occurrence (in the
        official files a given text always has the same label within a
        split, so the choice only matters with ``lowercase=True``); every
        sentence is included (a sentence repeated in the split, as 10 are in
        train, appears once).  Unique phrases: train 159,274 (from 318,582
        labelled nodes), dev 24,772, test 46,663.  De-duplication happens
        before the SST-2 mapping, so with ``fine_grained=False`` the neutral
        phrases are dropped afterwards (train 77,616, dev 11,395, test
        21,931 binary phrases).
    lowercase : bool, default=False
        Lower-case the texts (de-duplication then uses the lower-cased text).
    data_home : str or path-like, default=None
        Folder holding the ``sst`` sub-folder; ``None`` uses the
        ``SKLRP_DATA`` environment variable, else ``~/sklrp_data`` (see
        :func:`get_data_home`).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of the Bunch.

    Returns
    -------
    data : Bunch
        ``data`` (list of str), ``target`` (ndarray of int64),
        ``target_names`` (list of str: the five SST-5 class names, or
        ``["negative", "positive"]``) and ``DESCR`` (str).
    (data, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    ValueError
        When ``subset`` is not one of the valid values, or when a tree line
        is malformed (the message names the file and the 1-based line).
    FileNotFoundError
        When ``data_home/sst/trees/<subset>.txt`` is missing; the message
        names the path searched and how to point at the data
        (``SKLRP_DATA`` or ``data_home``).

    References
    ----------
    .. [1] R. Socher, A. Perelygin, J. Wu, J. Chuang, C. D. Manning, A. Ng
       and C. Potts. Recursive Deep Models for Semantic Compositionality Over
       a Sentiment Treebank. EMNLP 2013.

    Examples
    --------
    >>> from sklrp.datasets import load_sst
    >>> sst = load_sst("test")  # doctest: +SKIP
    >>> len(sst.data), sst.target_names[sst.target[0]]  # doctest: +SKIP
    (2210, 'neutral')
    >>> X, y = load_sst("train", fine_grained=False, return_X_y=True)  # doctest: +SKIP
    >>> len(X), int(y.sum())  # doctest: +SKIP
    (6920, 3610)
    """
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {', '.join(map(repr, _SUBSETS))}; got {subset!r}.")
    folder = get_data_home(data_home) / "sst"
    path = folder / "trees" / f"{subset}.txt"
    if not path.is_file():
        raise missing_data(f"The Stanford Sentiment Treebank's {subset} trees", path, data_home, sub_folder="sst")
    items = _read_trees(path, phrases)
    if lowercase:
        items = [(text.lower(), label) for text, label in items]
    if phrases:
        seen = set()
        items = [it for it in items if not (it[0] in seen or seen.add(it[0]))]
    texts = [text for text, _ in items]
    target = np.fromiter((label for _, label in items), dtype=np.int64, count=len(items))
    if fine_grained:
        names = list(_FINE_NAMES)
    else:
        keep = target != 2
        texts = [t for t, k in zip(texts, keep) if k]
        target = (target[keep] >= 3).astype(np.int64)
        names = list(_BINARY_NAMES)
    if return_X_y:
        return texts, target
    return Bunch(data=texts, target=target, target_names=names, DESCR=_DESCR)

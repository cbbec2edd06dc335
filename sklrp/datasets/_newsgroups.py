"""20 Newsgroups through scikit-learn's own cache."""

import os

from sklearn.datasets import fetch_20newsgroups, get_data_home

from ._base import get_data_home as sklrp_data_home

__all__ = ["load_20newsgroups"]

#: the corpus's newsgroups, in scikit-learn's order of ``target_names``
NEWSGROUPS = (
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware", "comp.sys.mac.hardware",
    "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles", "rec.sport.baseball", "rec.sport.hockey",
    "sci.crypt", "sci.electronics", "sci.med", "sci.space", "soc.religion.christian", "talk.politics.guns",
    "talk.politics.mideast", "talk.politics.misc", "talk.religion.misc",
)


def _cache_folder(data_home=None):
    """scikit-learn's cache folder: ``data_home``, ``SCIKIT_LEARN_DATA``, the copy in sklrp's data home
    (``<SKLRP_DATA>/20newsgroups/sklearn_data_home``) when it holds the corpus, else scikit-learn's default."""
    if data_home is None and not os.environ.get("SCIKIT_LEARN_DATA"):
        staged = sklrp_data_home() / "20newsgroups" / "sklearn_data_home"
        if (staged / "20news-bydate_py3.pkz").is_file():
            return str(staged)
    return get_data_home(data_home)


def load_20newsgroups(subset="train", *, categories=None, remove=(), data_home=None,
                      shuffle=True, random_state=42, download_if_missing=False,
                      return_X_y=False):
    """Load the 20 Newsgroups "bydate" corpus (raw text) via ``fetch_20newsgroups``.

    A thin wrapper over :func:`sklearn.datasets.fetch_20newsgroups`, so the
    data come from scikit-learn's cache: ``data_home`` when given, else the
    ``SCIKIT_LEARN_DATA`` environment variable, else ``~/scikit_learn_data``.
    A machine with a pre-filled cache (e.g. ``SCIKIT_LEARN_DATA`` pointing at
    ``../shared/data/20newsgroups/sklearn_data_home``) needs no network.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The bydate split: 11,314 training and 7,532 test documents.
    categories : list of str, default=None
        Newsgroups to keep (all 20 when ``None``); an unknown name raises a
        ``ValueError`` listing the 20.
    remove : tuple of {"headers", "footers", "quotes"}, default=()
        Parts of each post to strip (scikit-learn's heuristics); removing
        all three gives the harder, less leaky task.
    data_home : str or path-like, default=None
        Cache folder; ``None`` follows ``SCIKIT_LEARN_DATA``, else uses the
        copy in sklrp's data home (``<SKLRP_DATA>/20newsgroups/sklearn_data_home``,
        see :func:`get_data_home`) when it holds the corpus, else
        scikit-learn's default ``~/scikit_learn_data``.
    shuffle, random_state :
        As in ``fetch_20newsgroups`` (its defaults, so document order matches
        scikit-learn's documented examples).
    download_if_missing : bool, default=False
        Download when the cache is empty (needs network access).  Off by
        default, as every sklrp loader: nothing is downloaded unless asked
        for (scikit-learn's ``fetch_20newsgroups`` defaults to ``True``).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of the Bunch.

    Returns
    -------
    Bunch or tuple
        ``data`` (list of str), ``target`` (ndarray of int), ``target_names``,
        ``filenames``, ``DESCR``; or ``(data, target)``.

    Raises
    ------
    OSError
        When the data are not cached (and, with ``download_if_missing=True``,
        could not be downloaded); the message names the folder searched and
        ``SCIKIT_LEARN_DATA``.

    References
    ----------
    .. [1] K. Lang, NewsWeeder: Learning to filter netnews. ICML 1995.
    """
    if categories is not None:
        if isinstance(categories, str):
            raise ValueError(f"categories must be a list of newsgroup names; got the string {categories!r}.")
        unknown = [c for c in categories if c not in NEWSGROUPS]
        if unknown:
            raise ValueError(f"Unknown newsgroup(s) {unknown}; choose among {list(NEWSGROUPS)}.")
    home = _cache_folder(data_home)
    try:
        return fetch_20newsgroups(
            data_home=home, subset=subset, categories=categories, remove=remove,
            shuffle=shuffle, random_state=random_state,
            download_if_missing=download_if_missing, return_X_y=return_X_y,
        )
    except OSError as exc:
        env = os.environ.get("SCIKIT_LEARN_DATA")
        raise OSError(
            f"20 Newsgroups not found in {home!r} (SCIKIT_LEARN_DATA={env!r})"
            + (" and it could not be downloaded. " if download_if_missing
               else "; nothing is downloaded unless download_if_missing=True. ")
            + "Point SCIKIT_LEARN_DATA (or data_home=) at a folder holding "
            "scikit-learn's '20news-bydate_py3.pkz' cache, or put it in "
            "<SKLRP_DATA>/20newsgroups/sklearn_data_home."
        ) from exc

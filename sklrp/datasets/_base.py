"""The data home: one folder, ``SKLRP_DATA``, for every data set sklrp reads (nothing is downloaded)."""

import os
from pathlib import Path

__all__ = ["get_data_home"]

#: the environment variable naming the data home
DATA_HOME_VARIABLE = "SKLRP_DATA"


def get_data_home(data_home=None):
    """The folder holding sklrp's data sets.

    As scikit-learn's :func:`~sklearn.datasets.get_data_home`: the
    ``data_home`` argument, else the ``SKLRP_DATA`` environment variable,
    else ``~/sklrp_data``.  Every loader of :mod:`sklrp.datasets` and the
    examples read their files below it, each from its own sub-folder:

    ==================  ==========================================================
    ``mnist/``          MNIST IDX files (:func:`load_mnist`)
    ``sst/trees/``      the Stanford Sentiment Treebank (:func:`load_sst`)
    ``glove/``          GloVe vectors (:func:`load_glove`)
    ``lrp_toolbox/``    the LRP toolbox's pretrained models (:func:`load_lenet5`)
    ``lrp_for_lstm/``   the published bi-LSTM (:func:`sklrp.load_lrp_for_lstm`)
    ``eegbci/``         EEGBCI in MNE's layout (when ``MNE_DATA`` is not set)
    ``20newsgroups/``   scikit-learn's 20 Newsgroups cache in ``sklearn_data_home/``
                        (when ``SCIKIT_LEARN_DATA`` is not set)
    ==================  ==========================================================

    Nothing is created or downloaded: a loader whose file is missing raises
    ``FileNotFoundError`` naming the file, the data home and how it was
    chosen.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder; ``None`` follows ``SKLRP_DATA``.

    Returns
    -------
    data_home : pathlib.Path
        ``~`` is expanded; the folder need not exist.

    Examples
    --------
    >>> import os
    >>> from sklrp.datasets import get_data_home
    >>> get_data_home("/data/sklrp").as_posix()
    '/data/sklrp'
    """
    if data_home is not None:
        return Path(os.fspath(data_home)).expanduser()
    env = os.environ.get(DATA_HOME_VARIABLE)
    if env:
        return Path(env).expanduser()
    return Path.home() / "sklrp_data"


def data_home_origin(data_home=None):
    """How :func:`get_data_home` chose the folder, for messages."""
    if data_home is not None:
        return "given as data_home"
    if os.environ.get(DATA_HOME_VARIABLE):
        return f"from the {DATA_HOME_VARIABLE} environment variable"
    return f"the default; {DATA_HOME_VARIABLE} is not set"


def missing_data(what, path, data_home=None, *, sub_folder=None):
    """The FileNotFoundError of a loader whose file is missing: the file, the data home, the variable to set."""
    home = get_data_home(data_home)
    hint = f" (with the {sub_folder!r} sub-folder)" if sub_folder else ""
    return FileNotFoundError(
        f"{what} not found: {path} does not exist. The data home is {home} ({data_home_origin(data_home)}); set "
        f"{DATA_HOME_VARIABLE} to the folder holding sklrp's data{hint}, or pass data_home=."
    )


def data_file(relative, what, data_home=None):
    """``get_data_home(data_home) / relative`` if that file exists, else :func:`missing_data`'s error."""
    path = get_data_home(data_home) / relative
    if not path.is_file():
        raise missing_data(what, path, data_home, sub_folder=Path(relative).parts[0])
    return path

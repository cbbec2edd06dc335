"""Pretrained resources of the data home: GloVe vectors, the LRP toolbox's LeNet-5."""

from pathlib import Path

from ._base import data_file, get_data_home, missing_data

__all__ = ["load_glove", "load_lenet5"]

#: the GloVe file of the staged data (the 5,050 most frequent words of GloVe 6B, 50 dimensions)
GLOVE_FILE = "glove.6B.50d.top5k.txt"
#: the LRP toolbox's pretrained LeNet-5 for MNIST, in its plain-text format
LENET5_FILE = Path("lrp_toolbox", "models", "MNIST", "LeNet-5.txt")


def load_glove(data_home=None, *, name=GLOVE_FILE, limit=None):
    """GloVe word vectors from the data home's ``glove`` folder.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    name : str, default="glove.6B.50d.top5k.txt"
        The file in ``<data_home>/glove``: any GloVe or word2vec text file
        (the default is the staged subset of GloVe 6B, 50 dimensions).
    limit : int, default=None
        Read at most this many words.

    Returns
    -------
    embeddings : sklrp.feature_extraction.WordEmbeddings

    Raises
    ------
    FileNotFoundError
        When the file is missing (the message names it, the data home and
        ``SKLRP_DATA``).

    Examples
    --------
    >>> from sklrp.datasets import load_glove
    >>> glove = load_glove()  # doctest: +SKIP
    >>> glove.dim  # doctest: +SKIP
    50
    """
    from ..feature_extraction import load_embeddings

    return load_embeddings(data_file(Path("glove", name), "The GloVe vectors", data_home), limit=limit)


def load_lenet5(data_home=None, **params):
    """The LRP toolbox's pretrained LeNet-5 for MNIST (99.24 % test accuracy), as a fitted ConvNetClassifier.

    Its inputs are 32x32 images scaled to [-1, 1]: load them with
    ``load_mnist(..., lrp_toolbox_format=True)``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`get_data_home`; the file is
        ``<data_home>/lrp_toolbox/models/MNIST/LeNet-5.txt``.
    **params
        Passed to :func:`sklrp.load_lrp_toolbox_model` (``composite``,
        ``input_bounds``...).

    Returns
    -------
    model : ConvNetClassifier

    Raises
    ------
    FileNotFoundError
        When the file is missing (the message names it, the data home and
        ``SKLRP_DATA``).

    Examples
    --------
    >>> from sklrp.datasets import load_lenet5, load_mnist
    >>> lenet = load_lenet5(composite="deep_taylor", input_bounds=(-1.0, 1.0))  # doctest: +SKIP
    >>> X, y = load_mnist("test", return_X_y=True, lrp_toolbox_format=True)  # doctest: +SKIP
    >>> round(lenet.score(X, y), 4)  # doctest: +SKIP
    0.9924
    """
    from ..estimators import load_lrp_toolbox_model

    return load_lrp_toolbox_model(data_file(LENET5_FILE, "The LRP toolbox's LeNet-5", data_home), **params)


def lstm_reference_folder(data_home=None):
    """``<data_home>/lrp_for_lstm/model``, the published bi-LSTM of Arras et al., if it is there."""
    folder = get_data_home(data_home) / "lrp_for_lstm" / "model"
    if not folder.is_dir():
        raise missing_data("The published bi-LSTM (LRP_for_LSTM)", folder, data_home, sub_folder="lrp_for_lstm")
    return folder

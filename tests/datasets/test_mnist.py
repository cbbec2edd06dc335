"""MNIST loader over local files."""

import numpy as np
import pytest

from sklrp.datasets import load_mnist, lrp_toolbox_preprocess


def test_load_test_set(data_dir):
    b = load_mnist("test", data_home=data_dir)
    assert b.data.shape == (10000, 784)
    assert b.images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(b.target), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert b.data.min() == 0 and b.data.max() == 255


def test_train_falls_back_to_5k_subset(data_dir):
    b = load_mnist("train", data_home=data_dir)
    assert b.subset == "train5k"
    assert b.data.shape == (5000, 784)
    np.testing.assert_array_equal(np.bincount(b.target), [500] * 10)


def test_lrp_toolbox_format():
    X = np.zeros((2, 784))
    X[0, 0] = 255
    Z = lrp_toolbox_preprocess(X)
    assert Z.shape == (2, 1024)
    img = Z.reshape(2, 32, 32)
    assert (img[:, :2, :] == -1).all() and (img[:, :, :2] == -1).all()
    assert img[0, 2, 2] == 1.0 and img[1, 2, 2] == -1.0


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="subset"):
        load_mnist("validation", data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^The MNIST test set not found: .*mnist/t10k-images-idx3-ubyte\.gz "
                                                r"does not exist\. The data home is .* \(given as data_home\)"):
        load_mnist("test", data_home=tmp_path)

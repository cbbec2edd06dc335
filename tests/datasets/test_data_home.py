"""One data home (SKLRP_DATA) for every loader; a missing file names itself, the data home and the variable."""

import re
from pathlib import Path

import pytest

from sklrp.datasets import get_data_home, load_20newsgroups, load_glove, load_lenet5, load_mnist, load_sst


def test_get_data_home_order(monkeypatch, tmp_path):
    monkeypatch.delenv("SKLRP_DATA", raising=False)
    assert get_data_home() == Path.home() / "sklrp_data"
    monkeypatch.setenv("SKLRP_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"  # the argument first
    monkeypatch.setenv("SKLRP_DATA", "~/somewhere")
    assert get_data_home() == Path.home() / "somewhere"


@pytest.mark.parametrize("loader, what, relative", [
    (lambda: load_mnist("test"), "The MNIST test set", "mnist/t10k-images-idx3-ubyte.gz"),
    (lambda: load_sst("dev"), "The Stanford Sentiment Treebank's dev trees", "sst/trees/dev.txt"),
    (load_glove, "The GloVe vectors", "glove/glove.6B.50d.top5k.txt"),
    (load_lenet5, "The LRP toolbox's LeNet-5", "lrp_toolbox/models/MNIST/LeNet-5.txt"),
])
@pytest.mark.parametrize("how", ["env", "default"])
def test_missing_data_says_which_file_where_and_which_variable(monkeypatch, tmp_path, loader, what, relative, how):
    if how == "env":
        monkeypatch.setenv("SKLRP_DATA", str(tmp_path))
        home, origin = tmp_path, "from the SKLRP_DATA environment variable"
    else:
        monkeypatch.delenv("SKLRP_DATA", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))  # ~/sklrp_data, empty
        home, origin = tmp_path / "sklrp_data", "the default; SKLRP_DATA is not set"
    sub = relative.split("/")[0]
    message = (f"{what} not found: {home / relative} does not exist. The data home is {home} ({origin}); set "
               f"SKLRP_DATA to the folder holding sklrp's data (with the {sub!r} sub-folder), or pass data_home=.")
    with pytest.raises(FileNotFoundError, match="^" + re.escape(message) + "$"):
        loader()


def test_every_loader_reads_the_data_home(monkeypatch, data_dir):
    """With SKLRP_DATA alone (no SCIKIT_LEARN_DATA, no MNE_DATA), every staged data set loads."""
    monkeypatch.setenv("SKLRP_DATA", str(data_dir))
    monkeypatch.delenv("SCIKIT_LEARN_DATA", raising=False)
    monkeypatch.delenv("MNE_DATA", raising=False)
    assert load_mnist("test").data.shape == (10000, 784)
    assert len(load_sst("dev").data) == 1101
    glove = load_glove(limit=100)
    assert glove.dim == 50 and len(glove) == 100
    lenet = load_lenet5()
    X, y = load_mnist("test", return_X_y=True, lrp_toolbox_format=True)
    assert lenet.score(X[:500], y[:500]) > 0.97
    news = load_20newsgroups("test", download_if_missing=False)
    assert len(news.data) == 7532
    pytest.importorskip("mne")
    from sklrp.eeg import load_eegbci

    assert len(load_eegbci(1, task="hands_feet")) == 45

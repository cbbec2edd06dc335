"""load_20newsgroups over scikit-learn's cache."""

import os
from pathlib import Path

import numpy as np
import pytest

from sklrp.datasets import load_20newsgroups

REPO = Path(__file__).resolve().parents[2]


def _data_home():
    env = os.environ.get("SCIKIT_LEARN_DATA")
    cand = Path(env) if env else REPO / ".." / "shared" / "data" / "20newsgroups" / "sklearn_data_home"
    if not (cand / "20news-bydate_py3.pkz").exists():
        pytest.skip(f"20 Newsgroups cache not found in {cand} (set SCIKIT_LEARN_DATA)")
    return str(cand.resolve())


def test_documented_subset_and_env_variable(monkeypatch):
    dh = _data_home()
    monkeypatch.setenv("SCIKIT_LEARN_DATA", dh)
    b = load_20newsgroups("train", categories=["alt.atheism", "sci.space"],
                          download_if_missing=False)  # data_home from SCIKIT_LEARN_DATA
    assert len(b.data) == 1073 and isinstance(b.data[0], str)
    np.testing.assert_array_equal(b.target[:10], [0, 1, 1, 1, 0, 1, 1, 0, 0, 0])
    assert b.target_names == ["alt.atheism", "sci.space"]
    X, y = load_20newsgroups("test", categories=["sci.space"], data_home=dh,
                             remove=("headers", "footers", "quotes"), return_X_y=True)
    assert len(X) == len(y) == 394
    kept, _ = load_20newsgroups("test", categories=["sci.space"], data_home=dh, return_X_y=True)
    assert all("Subject:" in d for d in kept)
    assert sum("Subject:" in d for d in X) < 0.05 * len(X)


def test_missing_cache_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    with pytest.raises(OSError, match="SCIKIT_LEARN_DATA"):
        load_20newsgroups("train", download_if_missing=False)


def test_nothing_is_downloaded_by_default(tmp_path, monkeypatch):
    """The docs promise that no loader downloads implicitly; the default made scikit-learn try the network."""
    import sklearn.datasets._twenty_newsgroups as tng

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(tng, "_download_20newsgroups", no_network)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    with pytest.raises(OSError, match=r"nothing is downloaded unless download_if_missing=True"):
        load_20newsgroups("train")


@pytest.mark.parametrize("categories", [["sci.space", "sci.spaec"], "sci.space"])
def test_unknown_category_names_the_choices(categories):
    with pytest.raises(ValueError, match=r"Unknown newsgroup\(s\) \['sci.spaec'\]; choose among \['alt.atheism'"
                                         r"|categories must be a list of newsgroup names; got the string"):
        load_20newsgroups("train", categories=categories)

"""Stanford Sentiment Treebank loader over local PTB tree files."""

import numpy as np
import pytest

from sklrp.datasets import get_data_home, load_sst

COUNTS = {
    "train": [1092, 2218, 1624, 2322, 1288],
    "dev": [139, 289, 229, 279, 165],
    "test": [279, 633, 389, 510, 399],
}
FINE_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]


@pytest.fixture(scope="module")
def sst_home():
    """Data home (``SKLRP_DATA`` / ``~/sklrp_data``) holding ``sst/trees``; skips when absent."""
    home = get_data_home()
    if not (home / "sst" / "trees").is_dir():
        pytest.skip(f"SST data not available: no {home / 'sst' / 'trees'} (set SKLRP_DATA)")
    return home


@pytest.mark.parametrize("subset", ["train", "dev", "test"])
def test_sentence_and_class_counts(sst_home, subset):
    b = load_sst(subset, data_home=sst_home)
    assert isinstance(b.data, list) and all(isinstance(t, str) for t in b.data)
    assert b.target.dtype == np.int64
    assert len(b.data) == len(b.target) == sum(COUNTS[subset])
    np.testing.assert_array_equal(np.bincount(b.target, minlength=5), COUNTS[subset])
    assert b.target_names == FINE_NAMES
    assert "Socher" in b.DESCR


def test_default_data_home_follows_env(sst_home, monkeypatch):
    monkeypatch.setenv("SKLRP_DATA", str(sst_home))
    assert len(load_sst("dev").data) == 1101


def test_text_matches_tsv(sst_home):
    b = load_sst("test", data_home=sst_home)
    with open(sst_home / "sst" / "sst5_test.tsv", encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh]
    assert len(rows) == len(b.data)
    for i, ((label, text), got, y) in enumerate(zip(rows, b.data, b.target), 1):
        assert got == text, f"line {i}"
        assert int(label) == y, f"line {i}"
    assert b.data[0] == "Effective but too-tepid biopic"


@pytest.mark.parametrize("subset", ["dev", "test"])
def test_phrases(sst_home, subset):
    s = load_sst(subset, data_home=sst_home)
    p = load_sst(subset, phrases=True, data_home=sst_home)
    assert len(p.data) > 10 * len(s.data)
    assert len(set(p.data)) == len(p.data)  # de-duplicated
    assert p.target.min() >= 0 and p.target.max() <= 4
    assert set(np.unique(p.target)) == set(range(5))
    label = dict(zip(p.data, p.target))
    assert all(t in label for t in s.data)
    # in the official files a text always keeps its label within a split
    assert all(label[t] == y for t, y in zip(s.data, s.target))
    assert label["the"] == 2


def test_phrases_train_count(sst_home):
    p = load_sst("train", phrases=True, data_home=sst_home)
    assert len(p.data) == 159274
    assert p.data[0] == load_sst("train", data_home=sst_home).data[0]  # root first


def test_binary(sst_home):
    expected = {"train": (3310, 3610), "dev": (428, 444), "test": (912, 909)}
    for subset, (neg, pos) in expected.items():
        b = load_sst(subset, fine_grained=False, data_home=sst_home)
        c = COUNTS[subset]
        assert (neg, pos) == (c[0] + c[1], c[3] + c[4])
        np.testing.assert_array_equal(np.bincount(b.target, minlength=2), [neg, pos])
        assert set(np.unique(b.target)) == {0, 1}
        assert b.target_names == ["negative", "positive"]
        assert len(b.data) == len(b.target)
    fine = load_sst("test", data_home=sst_home)
    binary = load_sst("test", fine_grained=False, data_home=sst_home)
    assert binary.data == [t for t, y in zip(fine.data, fine.target) if y != 2]
    pb = load_sst("test", fine_grained=False, phrases=True, data_home=sst_home)
    pf = load_sst("test", phrases=True, data_home=sst_home)
    assert len(pb.data) == int((pf.target != 2).sum())


def test_lowercase(sst_home):
    b = load_sst("test", data_home=sst_home)
    low = load_sst("test", lowercase=True, data_home=sst_home)
    assert low.data == [t.lower() for t in b.data]
    np.testing.assert_array_equal(low.target, b.target)
    assert low.data[0] == "effective but too-tepid biopic"
    p = load_sst("test", phrases=True, lowercase=True, data_home=sst_home)
    assert all(t == t.lower() for t in p.data)
    assert len(set(p.data)) == len(p.data)


def test_return_X_y(sst_home):
    X, y = load_sst("dev", return_X_y=True, data_home=sst_home)
    b = load_sst("dev", data_home=sst_home)
    assert X == b.data
    np.testing.assert_array_equal(y, b.target)


def test_train_nbsp_leaves_kept(sst_home):
    # three training leaves hold a no-break space ("8\xa01\/2"); it stays in the word
    b = load_sst("train", data_home=sst_home)
    assert b.data[4341] == "A mimetic approximation of better films like Contempt and 8\xa01\\/2 ."


def test_bad_subset(tmp_path):
    with pytest.raises(ValueError, match="subset must be one of 'train', 'dev', 'test'"):
        load_sst("validation", data_home=tmp_path)


def test_missing_data(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        load_sst("test", data_home=tmp_path)
    msg = str(exc.value)
    assert str(tmp_path / "sst" / "trees" / "test.txt") in msg
    assert "SKLRP_DATA" in msg and "data_home" in msg


def _write_trees(tmp_path, text, subset="test"):
    trees = tmp_path / "sst" / "trees"
    trees.mkdir(parents=True, exist_ok=True)
    (trees / f"{subset}.txt").write_text(text, encoding="utf-8")


def test_tiny_file(tmp_path):
    _write_trees(tmp_path, "(3 (2 It) (4 (3 works) (2 .)))\n(1 (1 Bad))\n\n(2 (2 It) (2 .))\n")
    b = load_sst("test", data_home=tmp_path)
    assert b.data == ["It works .", "Bad", "It ."]
    assert b.target.tolist() == [3, 1, 2]
    p = load_sst("test", phrases=True, data_home=tmp_path)
    assert p.data == ["It works .", "It", "works .", "works", ".", "Bad", "It ."]
    assert p.target.tolist() == [3, 2, 4, 3, 2, 1, 2]


@pytest.mark.parametrize("bad", [
    "(3 (2 It) (4 fun)",      # unbalanced '('
    "(3 (2 It) (4 fun)))",    # unbalanced ')'
    "(3 (7 It) (4 fun))",     # label out of range
    "(x (2 It) (4 fun))",     # non-numeric label
    "(3 (2 It) (4))",         # empty node
    "3 (2 It)",               # no opening bracket
    "(3 (2 It)) (2 more)",    # two trees on one line
])
def test_malformed_tree_names_file_and_line(tmp_path, bad):
    _write_trees(tmp_path, "(3 (2 It) (4 fun))\n(2 (2 ok))\n" + bad + "\n")
    path = tmp_path / "sst" / "trees" / "test.txt"
    with pytest.raises(ValueError, match="line 3") as exc:
        load_sst("test", data_home=tmp_path)
    assert str(path) in str(exc.value)
    with pytest.raises(ValueError, match="line 3"):
        load_sst("test", phrases=True, data_home=tmp_path)

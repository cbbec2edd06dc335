"""Data loaders that go through the ecosystem's caches (no implicit downloads)."""

from ._mnist import get_data_home, load_mnist, lrp_toolbox_preprocess
from ._newsgroups import load_20newsgroups

__all__ = ["load_20newsgroups", "get_data_home", "load_mnist", "lrp_toolbox_preprocess"]

"""Data loaders that go through the ecosystem's caches (no implicit downloads)."""

from ._mnist import get_data_home, load_mnist, lrp_toolbox_preprocess
from ._newsgroups import load_20newsgroups
from ._sst import load_sst

__all__ = ["get_data_home", "load_20newsgroups", "load_mnist", "load_sst", "lrp_toolbox_preprocess"]

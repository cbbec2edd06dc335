"""Data loaders that read the data home (``SKLRP_DATA``) and the ecosystem's caches; nothing is downloaded."""

from ._base import get_data_home
from ._mnist import load_mnist, lrp_toolbox_preprocess
from ._newsgroups import load_20newsgroups
from ._pretrained import load_glove, load_lenet5
from ._sst import load_sst

__all__ = ["get_data_home", "load_20newsgroups", "load_glove", "load_lenet5", "load_mnist", "load_sst",
           "lrp_toolbox_preprocess"]

"""Sphinx configuration of the sklrp documentation.

Build from the repository root, after ``pip install -e ".[docs]"``::

    python -m sphinx -W -b html docs docs/_build/html                    # runs the examples (SKLRP_DATA set)
    python -m sphinx -W -b html -D plot_gallery=0 docs docs/_build/html  # without running them (CI)

The gallery is generated from ``../examples`` by sphinx-gallery; the
examples find their data through ``SKLRP_DATA`` (see
:func:`sklrp.datasets.get_data_home`), from any folder.  Links to other
projects' documentation (intersphinx) are made only when their inventories
can be reached, so an offline build has no warnings (``-W``) and plain
names instead of links.
"""

import os
import socket
import sys

sys.path.insert(0, os.path.abspath(".."))

import sklrp  # noqa: E402

project = "sklrp"
author = "sklrp developers"
copyright = "sklrp developers"
release = sklrp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.md5"]
source_suffix = ".rst"
master_doc = "index"

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's generated metadata-routing setters; documented upstream
    "exclude-members": "set_fit_request,set_partial_fit_request,set_predict_request,set_score_request,"
    "set_transform_request",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "matplotlib": ("https://matplotlib.org/stable/", None),
}


def _reachable(url, timeout=3.0):
    """Whether the host of ``url`` accepts an HTTPS connection (the inventory can then be fetched)."""
    host = url.split("/")[2]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


# offline (CI, sandboxes): no intersphinx, instead of one warning per unreachable inventory
intersphinx_mapping = {k: v for k, v in _INTERSPHINX.items() if _reachable(v[0])}

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "doc_module": ("sklrp",),
    "reference_url": {"sklrp": None},
}

html_theme = "alabaster"
html_static_path = []

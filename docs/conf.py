"""Sphinx configuration of the sklrp documentation.

Build with ``sphinx-build -b html docs docs/_build/html`` after
``pip install sklrp[docs]``.  The gallery is generated from ``../examples``
by sphinx-gallery.
"""

import os
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

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "matplotlib": ("https://matplotlib.org/stable/", None),
}

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

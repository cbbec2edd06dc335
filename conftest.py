"""Run the code blocks of README.md and docs/*.rst as tests (Sybil).

Every ``.. code-block:: python`` of a page in docs/ and every fenced python block of README.md is one test item.
A page's blocks run in order in one namespace, so a page may build its data and models in a visible setup block
at its top and use them further down.  A ``.. literalinclude:: ... :pyobject: NAME`` of a Python file puts that
object into the page's namespace, so code shown that way can be used by the blocks after it.

Blocks are skipped only with a visible comment in the page's source, e.g.::

    .. skip: next "needs CuPy and a CUDA GPU"
    .. skip: start if(data_missing("mnist"), reason="needs MNIST in the data home (set SKLRP_DATA)")
    .. skip: end

(``<!-- skip: next ... -->`` in Markdown).  ``data_missing(name)`` is put into every page's namespace; it says
whether a real data set (a sub-folder of the data home, see :func:`sklrp.datasets.get_data_home`) is missing, so
that blocks reading it skip with a reason instead of failing where the data are not staged.  Bash and text blocks are
not run.
"""

import importlib.util
import os
import sys
from pathlib import Path

try:
    from sybil import Region, Sybil
    from sybil.parsers.markdown import PythonCodeBlockParser as MarkdownPythonCodeBlockParser
    from sybil.parsers.markdown import SkipParser as MarkdownSkipParser
    from sybil.parsers.rest import PythonCodeBlockParser, SkipParser
    from sybil.parsers.rest.lexers import DirectiveLexer
except ImportError as exc:  # pragma: no cover - a missing test dependency
    raise ImportError(
        "the documentation's code blocks are collected with Sybil: pip install 'sybil>=8' "
        "(or pip install -e '.[test]')"
    ) from exc

ROOT = Path(__file__).resolve().parent


# Not collected: sphinx's configuration (docs/conf.py) and what sphinx writes (build output, generated pages).
collect_ignore = ["docs/conf.py"]
collect_ignore_glob = ["docs/_build", "docs/_build/*", "docs/auto_examples", "docs/auto_examples/*",
                       "docs/generated", "docs/generated/*"]


def _data_files():
    """One file per real data set that tells whether it is staged (what the loaders read)."""
    from sklrp.datasets import get_data_home

    home = get_data_home()
    if os.environ.get("SCIKIT_LEARN_DATA"):
        newsgroups = Path(os.environ["SCIKIT_LEARN_DATA"]) / "20news-bydate_py3.pkz"
    else:
        newsgroups = home / "20newsgroups" / "sklearn_data_home" / "20news-bydate_py3.pkz"
    eeg_root = Path(os.environ["MNE_DATA"]) if os.environ.get("MNE_DATA") else home / "eegbci"
    eegmmidb = eeg_root / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0"
    return {
        "mnist": [home / "mnist" / "t10k-images-idx3-ubyte.gz", home / "mnist" / "t10k-labels-idx1-ubyte.gz"],
        "lrp_toolbox": [home / "lrp_toolbox" / "models" / "MNIST" / "LeNet-5.txt"],
        "glove": [home / "glove" / "glove.6B.50d.top5k.txt"],
        "sst": [home / "sst" / "trees" / f"{split}.txt" for split in ("train", "dev", "test")],
        "lrp_for_lstm": [home / "lrp_for_lstm" / "model" / "model.npz"],
        "20newsgroups": [newsgroups],
        # subject 1's resting runs (simulation) and its hands/feet imagery runs
        "eegbci": [eegmmidb / "S001" / f"S001R{run:02d}.edf" for run in (1, 2, 6, 10, 14)],
    }


def data_missing(*names):
    """Whether any of the named real data sets is missing from the data home (see ``_data_files``)."""
    files = _data_files()
    unknown = set(names) - set(files)
    if unknown:
        raise ValueError(f"unknown data set(s) {sorted(unknown)}; known: {sorted(files)}")
    return not all(path.is_file() for name in names for path in files[name])


def _setup_namespace(namespace):
    namespace["data_missing"] = data_missing


def _teardown_namespace(namespace):
    """Close the page's figures and free its data (the documents live until the session ends)."""
    namespace.clear()
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


class LiteralIncludeParser:
    """``.. literalinclude:: FILE`` with ``:pyobject: NAME``: the named object of that Python file, in the namespace.

    The page shows the object's source; this makes the blocks below it able to use it, as a reader who copied it
    would.
    """

    def __init__(self):
        self.lexer = DirectiveLexer(directive="literalinclude")

    def __call__(self, document):
        for lexed in self.lexer(document):
            name = lexed.lexemes["options"].get("pyobject")
            filename = lexed.lexemes["arguments"].strip()
            if name and filename.endswith(".py"):
                path = (Path(document.path).parent / filename).resolve()
                yield Region(lexed.start, lexed.end, (path, name.strip()), self.evaluate)

    @staticmethod
    def evaluate(example):
        path, name = example.parsed
        # the module as pytest imported it (a test module), else imported once here under a name of its own
        module = next((m for m in list(sys.modules.values())
                       if getattr(m, "__file__", None) and Path(m.__file__).resolve() == path), None)
        if module is None:
            module_name = "_sybil_include_" + "_".join(path.relative_to(ROOT).with_suffix("").parts)
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        example.namespace[name] = getattr(module, name)


_docs = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser(), LiteralIncludeParser()],
    patterns=["docs/*.rst"],
    excludes=["docs/sg_execution_times.rst"],
    setup=_setup_namespace,
    teardown=_teardown_namespace,
    name="docs",
)
_readme = Sybil(
    parsers=[MarkdownPythonCodeBlockParser(), MarkdownSkipParser()],
    patterns=["README.md"],
    excludes=["*/README.md"],  # only the repository's own README
    setup=_setup_namespace,
    teardown=_teardown_namespace,
    name="readme",
)

pytest_collect_file = (_docs + _readme).pytest()

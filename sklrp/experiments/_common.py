"""Output and fitting helpers shared by the experiments."""

import argparse
import json
import os
import warnings

from sklearn.exceptions import ConvergenceWarning

__all__ = ["emit", "r4", "fit_quietly", "positive_int", "nonnegative_int", "positive_float", "fraction",
           "output_folder"]


# ------------------------------------------------------------ argument types
# argparse calls them on the command-line strings; an ArgumentTypeError becomes argparse's one-line
# "sklrp ...: error: argument --x: ..." with exit status 2.
def _number(kind, text):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}; got {text!r}")


def positive_int(text):
    """An int >= 1."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def nonnegative_int(text):
    """An int >= 0."""
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0; got {text!r}")
    return value


def positive_float(text):
    """A finite float > 0."""
    value = _number(float, text)
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}")
    return value


def fraction(text):
    """A float in [0, 1) (a dropout rate)."""
    value = _number(float, text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1); got {text!r}")
    return value


def output_folder(text):
    """A folder to write into: an existing writable folder, or one whose nearest existing parent is writable.

    Nothing is created here; the command creates it when it writes.
    """
    path = os.path.abspath(os.path.expanduser(text))
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
        if not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"the folder {text!r} is not writable")
        return text
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: {parent!r} is not a writable folder")
    return text


def emit(**kw):
    """Print one JSON line."""
    print(json.dumps(kw), flush=True)


def r4(a):
    """The values of ``a`` as a list of floats rounded to 4 decimals."""
    return [round(float(v), 4) for v in a]


def fit_quietly(model, X, y):
    """``model.fit(X, y)`` without convergence warnings (the experiments fix their epochs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)

"""Input validation shared by sklrp's estimators, for NumPy, SciPy and CuPy input."""

import contextlib
import os

import numpy as np
from sklearn.utils.validation import column_or_1d, validate_data

from ._backend import get_namespace, is_gpu_array, to_host

__all__ = ["validate_array", "check_documents", "overflow_as_value_error", "physical_memory", "format_bytes"]


@contextlib.contextmanager
def overflow_as_value_error():
    """Turn the OverflowError of converting Python ints beyond the float range into a clear ValueError."""
    try:
        yield
    except OverflowError as exc:
        raise ValueError(f"X holds a number too large for a float ({exc}); scale X first.") from None


def validate_array(estimator, X, *, reset, y=None):
    """Validate ``X`` (and ``y``) the scikit-learn way, CuPy arrays included.

    NumPy and SciPy input goes through :func:`sklearn.utils.validation.validate_data`
    (float64 or float32 kept).  CuPy input, which scikit-learn's validation
    would copy to the host, gets the same checks on the device: 2-D, at least
    one sample, floating dtype, finite values (one device reduction), the
    number of features (``n_features_in_``, set when ``reset``).  ``y`` is
    brought to the host.

    Parameters
    ----------
    estimator : estimator instance
    X : array-like, sparse matrix or CuPy array
    reset : bool
        Record ``n_features_in_`` (fit) instead of checking it.
    y : array-like, default=None

    Returns
    -------
    X, or ``(X, y)`` when ``y`` is given.
    """
    if not is_gpu_array(X):
        with overflow_as_value_error():
            if y is not None:
                return validate_data(estimator, X, y, reset=reset, dtype=[np.float64, np.float32])
            return validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32])
    xp = get_namespace(X)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array of shape (n_samples, n_features); got an array of shape {X.shape}.")
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.dtype not in (xp.float32, xp.float64):
        X = X.astype(xp.float64)
    if not bool(xp.isfinite(X).all()):
        raise ValueError("Input X contains NaN or infinity.")
    name = type(estimator).__name__
    if reset:
        estimator.n_features_in_ = X.shape[1]
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting {estimator.n_features_in_} features as input."
        )
    if y is None:
        return X
    y = column_or_1d(to_host(y), warn=True)
    if len(y) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {len(y)}.")
    return X, y


def check_documents(documents, name="X"):
    """Raw text documents as a list, or a clear error naming the first bad one.

    Parameters
    ----------
    documents : iterable of str or bytes
        One document per item (bytes are left for the vectorizer to decode,
        as scikit-learn's vectorizers do).
    name : str, default="X"
        The argument's name, for the messages.

    Returns
    -------
    list

    Raises
    ------
    ValueError
        For one string instead of an iterable of documents, or no document.
    TypeError
        For something that is not iterable, or an item that is not str or
        bytes (``None``, a number, a list...), naming its position.
    """
    if isinstance(documents, (str, bytes)):
        raise ValueError(f"{name} must be an iterable of documents, not one string.")
    try:
        docs = list(documents)
    except TypeError:
        raise TypeError(
            f"{name} must be an iterable of str documents; got {type(documents).__name__}."
        ) from None
    for i, doc in enumerate(docs):
        if not isinstance(doc, (str, bytes)):
            shown = repr(doc)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise TypeError(f"{name}[{i}] must be a str document; got {type(doc).__name__}: {shown}.")
    if not docs:
        raise ValueError(f"{name} holds no document; at least one is required.")
    return docs


def physical_memory():
    """Bytes of physical memory of this machine, or None where the system does not say.

    The bound against which sizes from hyperparameters (layer widths, hash
    bits) are refused before anything of that size is allocated.
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def format_bytes(nbytes):
    """``nbytes`` for a message: ``"1.83 MiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024

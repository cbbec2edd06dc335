"""Input validation shared by sklrp's estimators, for NumPy, SciPy and CuPy input."""

import contextlib
import os
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import column_or_1d, validate_data

from ._backend import get_namespace, is_gpu_array, to_host

__all__ = ["validate_array", "check_documents", "check_relevance", "check_finite_output", "overflow_as_value_error", "physical_memory", "format_bytes"]


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


def check_documents(documents, name="X", *, allow_bytes=True, allow_empty=False):
    """Raw text documents as a list, or a clear error naming the first bad one.

    The one validation of raw documents in sklrp: explanations of text
    pipelines, token relevances, document vectors, the sequence vectorizer.

    Parameters
    ----------
    documents : iterable of str or bytes
        One document per item (bytes are left for the vectorizer to decode,
        as scikit-learn's vectorizers do).
    name : str, default="X"
        The argument's name, for the messages.
    allow_bytes : bool, default=True
        Whether bytes documents are accepted (a consumer that maps
        positions back to the text needs str).
    allow_empty : bool, default=False
        Whether no document at all is accepted (a transformer's
        ``transform([])`` returns zero rows, as scikit-learn's do).

    Returns
    -------
    list

    Raises
    ------
    ValueError
        For one string instead of an iterable of documents, or no document
        (unless ``allow_empty``).
    TypeError
        For something that is not iterable, or an item that is not str (or
        bytes, when allowed): ``None``, a number, a list..., naming its
        position.
    """
    if isinstance(documents, (str, bytes)):
        raise ValueError(f"{name} must be an iterable of documents, not one string.")
    try:
        docs = list(documents)
    except TypeError:
        raise TypeError(
            f"{name} must be an iterable of str documents; got {type(documents).__name__}."
        ) from None
    accepted = (str, bytes) if allow_bytes else str
    for i, doc in enumerate(docs):
        if not isinstance(doc, accepted):
            shown = repr(doc)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            hint = " (decode bytes first, e.g. doc.decode('utf-8'))" if isinstance(doc, bytes) else ""
            raise TypeError(f"{name}[{i}] must be a str document; got {type(doc).__name__}: {shown}{hint}.")
    if not docs and not allow_empty:
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


def check_relevance(R, name="relevance", *, sparse_ok=True):
    """A relevance array given by the user as float64, or a clear error.

    Parameters
    ----------
    R : array-like or sparse matrix
        Relevance values (a nested list, a NumPy array, a SciPy sparse
        matrix when ``sparse_ok``).
    name : str, default="relevance"
        The argument's name, for the messages.
    sparse_ok : bool, default=True
        Whether a sparse matrix is kept sparse (CSR); otherwise it is
        densified.

    Returns
    -------
    ndarray or scipy.sparse.csr_matrix of float64

    Raises
    ------
    TypeError
        For something that is not an array of real numbers (strings,
        objects, complex numbers, ragged lists).
    ValueError
        For NaN or infinity, or numbers beyond the float range.

    The caller checks the shape, which it knows.
    """
    if sp.issparse(R):
        if R.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers; got a sparse matrix of dtype {R.dtype}.")
        R = R.tocsr().astype(np.float64) if sparse_ok else R.toarray().astype(np.float64)
        values = R.data if sp.issparse(R) else R
    else:
        if isinstance(R, (str, bytes)) or R is None:
            raise TypeError(f"{name} must be an array of numbers; got {type(R).__name__}.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", np.exceptions.ComplexWarning)
                arr = np.asarray(R)
                if arr.dtype.kind == "c":
                    raise TypeError(f"{name} must hold real numbers; got complex values (dtype {arr.dtype}).")
                R = arr.astype(np.float64)
        except OverflowError:
            raise ValueError(f"{name} holds a number beyond the float range.") from None
        except (TypeError, ValueError) as exc:
            if str(exc).startswith(name):
                raise
            raise TypeError(f"{name} must be an array of numbers; got {type(R).__name__} ({exc}).") from None
        values = R
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return R


def check_finite_output(out, X, *, owner, what, cause):
    """``out``, unless the finite (validated) input ``X`` gave non-finite values in it: then a clear ValueError.

    The one check of overflow in sklrp's forward and relevance passes
    (NumPy, CuPy, and SciPy sparse ``X``): it counts the samples whose
    output is not finite and names the largest input magnitude among them.

    Parameters
    ----------
    out : array of shape (n_samples, ...)
    X : array or sparse matrix of shape (n_samples, ...)
    owner : str
        Who computed ``out`` (the estimator's class name).
    what : str
        What ``out`` is ("scores", "explanations").
    cause : str
        How the overflow arises ("the scores overflow").
    """
    xp = get_namespace(out)
    n = X.shape[0]
    bad = ~xp.isfinite(out.reshape(n, -1)).all(axis=1)
    n_bad = int(bad.sum())
    if n_bad:
        if sp.issparse(X):
            rows = X.tocsr()[np.flatnonzero(to_host(bad))]
        else:
            rows = X.reshape(n, -1)[bad]
        big = float(abs(rows).max())
        raise ValueError(
            f"{owner}: the {what} of {n_bad} of {n} samples are not finite although X is: {cause} on inputs this "
            f"large (largest |x| of those samples: {big:.3g}). Scale X as the training data was scaled."
        )
    return out

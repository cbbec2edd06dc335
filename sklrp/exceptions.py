"""Exceptions raised by sklrp, beyond scikit-learn's ``ValueError``/``TypeError`` habits.

Every error sklrp raises on bad input is a ``ValueError``, a ``TypeError``
or scikit-learn's ``NotFittedError``.  The classes here subclass those, so
that code written against scikit-learn's conventions keeps working, and add
a precise type where a caller may want to tell one failure from another.
"""

__all__ = ["ModelFileError"]


class ModelFileError(ValueError):
    """A saved model or index file that cannot be read as what it claims to be.

    Raised by :func:`sklrp.load_model`, :meth:`sklrp.neighbors.MultiPurposeLSH.load`,
    :func:`sklrp.load_lrp_toolbox_model` and :func:`sklrp.load_lrp_for_lstm` for
    every unreadable, truncated, corrupted or tampered file: not an archive,
    a damaged archive, a missing or extra member, a configuration that does
    not match the format's schema (types, allowed values, shapes consistent
    with the layer configuration, float32/float64 arrays only), arrays whose
    declared size exceeds the limits, or non-finite parameters.  The message
    names the file and the problem.

    Loading never unpickles (``allow_pickle=False``) and never imports or
    calls anything named in the file: a pickled payload inside an archive is
    refused with this error.

    It subclasses :class:`ValueError`, so ``except ValueError`` keeps catching
    it.  A file that does not exist raises :class:`FileNotFoundError` as
    :func:`open` does.

    Examples
    --------
    >>> import sklrp
    >>> from sklrp.exceptions import ModelFileError
    >>> try:
    ...     sklrp.load_model(__file__)
    ... except ModelFileError as exc:
    ...     print("refused:", type(exc).__name__)
    refused: ModelFileError
    """

"""Output and fitting helpers shared by the experiments."""

import json
import warnings

from sklearn.exceptions import ConvergenceWarning

__all__ = ["emit", "r4", "fit_quietly"]


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

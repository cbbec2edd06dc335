"""Strategies and oracles shared by the fuzz tests.

The oracle of every public call (:func:`check_call`):

- it returns, or raises an *allowed* exception: ``ValueError`` (which covers
  scikit-learn's ``InvalidParameterError`` and ``UnicodeDecodeError``),
  ``TypeError`` or ``NotFittedError``.  Any other exception propagates and
  fails the test, hypothesis showing the input;
- it takes less than ``HANG_SECONDS`` (30 s; ``SKLRP_FUZZ_HANG_SECONDS``
  overrides it);
- it leaves its array-like inputs unchanged (values, dtype, shape, the
  ``writeable`` flag, the buffers of sparse matrices);
- called twice it gives identical results (or the same exception type).

The callers then check the shape and finiteness of the result.

Input families that fail are left out of the strategies only while they
have a strict xfail reproducer in ``test_fuzz_regressions.py`` (none at
present); the reproducers marked "fixed" there stay as regression tests.
"""

import collections
import contextlib
import copy
import decimal
import fractions
import math
import os
import signal
import sys
import threading
import time
import types
import warnings

import numpy as np
import scipy.sparse as sp
from hypothesis import currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError

#: exception types a public call may raise on bad input
ALLOWED = (ValueError, TypeError, NotFittedError)

#: a call on tiny input that takes longer than this is a hang
HANG_SECONDS = float(os.environ.get("SKLRP_FUZZ_HANG_SECONDS", "30"))

#: Python ints of lists and object arrays reach this magnitude, beyond the
#: float range (test_fuzz_regressions.py::test_python_int_beyond_float_range)
MAX_PY_INT = 10**400


def scaled(factor):
    """``settings`` with ``factor`` times the loaded profile's ``max_examples``."""
    return settings(max_examples=max(1, round(settings.default.max_examples * factor)))


# ------------------------------------------------------------------- timing
class Hang(Exception):
    """A call ran longer than ``HANG_SECONDS`` (never an allowed exception)."""


@contextlib.contextmanager
def time_limit(seconds=HANG_SECONDS):
    """Raise :class:`Hang` in the main thread once ``seconds`` have passed (POSIX)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"the call took more than {seconds} s")

    outer_left = signal.getitimer(signal.ITIMER_REAL)[0]  # a time_limit around this one keeps running
    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_left) if outer_left > 0 else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - start), 1e-3))


# ----------------------------------------------------------- value equality
def _float_like(a):
    return a.dtype.kind in "fc"


def same(a, b):
    """Exact equality of two results or inputs (NaN equal to NaN, types and dtypes compared)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "O":
            return all(same(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
        if a.dtype.kind in "VMm":  # structured, datetime (NaT != NaT)
            return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
        return bool(np.array_equal(a, b, equal_nan=_float_like(a)))
    if sp.issparse(a):
        return a.format == b.format and a.shape == b.shape and a.dtype == b.dtype and same(
            a.toarray(), b.toarray()
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (float, np.floating)):
        return bool((np.isnan(a) and np.isnan(b)) or a == b)
    if hasattr(a, "__dataclass_fields__"):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return repr(a) == repr(b)


# ----------------------------------------------------------------- snapshots
_SPARSE_BUFFERS = ("data", "indices", "indptr", "row", "col", "offsets")


def snapshot(x):
    """What :func:`assert_unchanged` compares against (a deep copy, plus flags)."""
    if isinstance(x, np.ndarray):
        return ("ndarray", x.copy(), x.flags.writeable, x.dtype, x.shape)
    if sp.issparse(x):
        buffers = {}
        for name in _SPARSE_BUFFERS:
            buf = getattr(x, name, None)
            if isinstance(buf, np.ndarray):
                buffers[name] = (buf.copy(), buf.flags.writeable)
        return ("sparse", x.format, x.shape, x.dtype, buffers, x.toarray())
    if isinstance(x, (list, tuple, dict)):
        return ("container", copy.deepcopy(x))
    return ("other", None)


def assert_unchanged(x, snap, name="input"):
    """Fail when ``x`` differs from ``snapshot(x)`` taken before a call."""
    kind = snap[0]
    if kind == "ndarray":
        _, before, writeable, dtype, shape = snap
        assert x.dtype == dtype and x.shape == shape, f"{name}: dtype/shape changed by the call"
        assert x.flags.writeable == writeable, f"{name}: the writeable flag changed ({writeable} -> {x.flags.writeable})"
        assert same(x, before), f"{name} was mutated by the call: {before!r} -> {x!r}"
    elif kind == "sparse":
        _, fmt, shape, dtype, buffers, dense = snap
        assert (x.format, x.shape, x.dtype) == (fmt, shape, dtype), f"{name}: sparse format/shape/dtype changed"
        for buf_name, (before, writeable) in buffers.items():
            now = getattr(x, buf_name, None)
            assert isinstance(now, np.ndarray) and same(now, before), (
                f"{name}.{buf_name} (the buffer of a {fmt} input) was mutated by the call: {before!r} -> {now!r}"
            )
            assert now.flags.writeable == writeable, f"{name}.{buf_name}: the writeable flag changed"
        assert same(x.toarray(), dense), f"{name}: the sparse matrix's values were mutated by the call"
    elif kind == "container":
        assert same(x, snap[1]), f"{name} was mutated by the call: {snap[1]!r} -> {x!r}"


# -------------------------------------------------------------------- calls
def attempt(fn, *args, **kwargs):
    """``("ok", result)`` or ``("error", exc)`` for an allowed exception; others propagate."""
    with time_limit(), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return "ok", fn(*args, **kwargs)
        except ALLOWED as exc:
            return "error", exc


#: outcomes of the calls made under the oracle in this process: (entry point, outcome) -> count, where the
#: outcome is "ok" or the type name of the allowed exception raised (an exception of another type propagates
#: from ``attempt`` and fails the test: it is never counted).  tests/fuzz/conftest.py reports it at the end of
#: a run.
TALLY = collections.Counter()


def entry_point(fn):
    """The public name of a called function: ``Class.method`` for bound methods, else its qualified name."""
    owner = getattr(fn, "__self__", None)
    if owner is not None and not isinstance(owner, types.ModuleType):
        cls = owner if isinstance(owner, type) else type(owner)
        return f"{cls.__name__}.{fn.__name__}"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or "call"
    module = getattr(fn, "__module__", None) or ""
    if module.startswith("sklrp"):  # the shortest public path: sklrp.base.explain -> sklrp.explain
        parts = [part for part in module.split(".") if not part.startswith("_")]
        for i in range(1, len(parts) + 1):
            if getattr(sys.modules.get(".".join(parts[:i])), getattr(fn, "__name__", ""), None) is fn:
                return ".".join(parts[:i] + [name])
    return name


def check_call(fn, *args, inputs=None, deterministic=True, entry=None, **kwargs):
    """Call ``fn(*args, **kwargs)`` under the oracle above; return ``(status, result_or_exc)``.

    ``inputs`` are the objects checked for mutation (default: every
    positional and keyword argument).  ``entry`` names the public entry
    point in the tally (default: :func:`entry_point` of ``fn``).
    """
    if inputs is None:
        inputs = list(args) + list(kwargs.values())
    snaps = [snapshot(x) for x in inputs]
    first = attempt(fn, *args, **kwargs)
    outcome = "ok" if first[0] == "ok" else type(first[1]).__name__
    if currently_in_test_context():  # every execution of a test body (generation, and shrinking after a failure)
        name = entry or entry_point(fn)
        TALLY[name, outcome] += 1
        event(f"{name}: {outcome}")  # outcome counts in --hypothesis-show-statistics
    for i, (x, s) in enumerate(zip(inputs, snaps)):
        assert_unchanged(x, s, name=f"argument {i}")
    if deterministic:
        second = attempt(fn, *args, **kwargs)
        assert first[0] == second[0], f"not deterministic: first call {first[1]!r}, second call {second[1]!r}"
        if first[0] == "ok":
            assert same(first[1], second[1]), f"not deterministic: {first[1]!r} != {second[1]!r}"
        else:
            assert type(first[1]) is type(second[1]), f"not deterministic: {first[1]!r} then {second[1]!r}"
    return first


def assert_finite(out, what="output"):
    """Every number in ``out`` (array, sparse matrix, tuple/list of them, float) is finite."""
    if sp.issparse(out):
        assert_finite(out.tocoo().data, what)
    elif isinstance(out, np.ndarray):
        if out.dtype.kind in "fc":
            bad = ~np.isfinite(out)
            assert not bad.any(), f"{what} holds non-finite values although the input was finite: {out!r}"
    elif isinstance(out, (list, tuple)):
        for o in out:
            assert_finite(o, what)
    elif isinstance(out, float):
        assert math.isfinite(out), f"{what} is {out} although the input was finite"


def n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def max_abs(X):
    """Largest finite magnitude in a numeric ``X`` (0 when there is none or X is not numeric)."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            A = X.toarray() if sp.issparse(X) else np.asarray(X)
            A = A.astype(np.float64) if A.dtype.kind in "fiub" else np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, AttributeError):
        return 0.0
    A = np.abs(A[np.isfinite(A)])
    return float(A.max()) if A.size else 0.0


# --------------------------------------------------------------- strategies
MODERATE = st.floats(-4.0, 4.0)
EDGE_FINITE = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 0.5, 1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324,
     -5e-324, 2.2250738585072014e-308, 1e-300, 65504.0, 65520.0, 3.4028235e38, 3.5e38, 1e20, -1e20, 1e6]
)
NONFINITE = st.sampled_from([math.nan, math.inf, -math.inf])
ELEMENTS = {
    "moderate": MODERATE,
    "edge": st.one_of(MODERATE, EDGE_FINITE),
    "any": st.one_of(MODERATE, EDGE_FINITE, NONFINITE, st.floats()),
}
#: dtypes of generated arrays; the first ones are the usual ones
FLOAT_DTYPES = ["float64", "float32", "float16", ">f8", "longdouble"]
INT_DTYPES = ["int64", "int32", "int8", "uint8", "uint64", ">i4", "bool"]
OTHER_DTYPES = ["complex128", "complex64", "object", "str", "bytes", "datetime64[ns]", "timedelta64[s]"]

OBJECT_ELEMENTS = st.one_of(
    ELEMENTS["any"],
    st.integers(-MAX_PY_INT, MAX_PY_INT),
    st.sampled_from([2**1024, -(10**400), 2**63, -(2**64)]),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.sampled_from(["1.5", "nan", "inf", "-1e400", "", " 3 "]),
    st.sampled_from([decimal.Decimal("1.5"), decimal.Decimal("NaN"), decimal.Decimal("1e400"), fractions.Fraction(1, 3)]),
    st.lists(st.integers(0, 3), max_size=2),
    st.complex_numbers(max_magnitude=10),
)


@st.composite
def shapes(draw, n_features):
    ndim = draw(st.sampled_from([2, 2, 2, 2, 1, 0, 3]))
    rows = st.integers(0, 5)
    cols = st.one_of(st.just(n_features), st.integers(0, 8))
    if ndim == 2:
        return (draw(rows), draw(cols))
    if ndim == 1:
        return (draw(st.integers(0, 8)),)
    if ndim == 0:
        return ()
    return (draw(rows), draw(cols), draw(st.integers(0, 3)))


@st.composite
def base_arrays(draw, n_features, dtypes=None):
    """A C-contiguous array of a generated shape and dtype."""
    shape = draw(shapes(n_features))
    dtype = draw(st.sampled_from(dtypes or (FLOAT_DTYPES * 3 + INT_DTYPES + OTHER_DTYPES)))
    if dtype in FLOAT_DTYPES:
        elements = ELEMENTS[draw(st.sampled_from(["moderate", "edge", "any"]))]
        a = draw(hnp.arrays(np.float64, shape, elements=elements))
        with np.errstate(all="ignore"):
            a = a.astype(dtype)
            if dtype == "longdouble" and draw(st.booleans()):
                a = a * np.longdouble(1e200) * np.longdouble(1e200)  # beyond the float64 range, finite here
        return a
    if dtype in INT_DTYPES:
        return draw(hnp.arrays(np.dtype(dtype), shape))
    if dtype.startswith("complex"):
        return draw(hnp.arrays(np.dtype(dtype), shape))
    if dtype == "object":
        return draw(hnp.arrays(object, shape, elements=OBJECT_ELEMENTS))
    if dtype == "str":
        return draw(hnp.arrays("<U6", shape, elements=st.one_of(
            st.text(max_size=6).filter(lambda t: not t.endswith("\0")),
            st.sampled_from(["1.5", "nan", "inf", "1e400", "-0", " 3 ", ""]))))
    if dtype == "bytes":
        return draw(hnp.arrays("S4", shape, elements=st.binary(max_size=4).filter(lambda b: not b.endswith(b"\0"))))
    return draw(hnp.arrays(np.dtype(dtype), shape))


LAYOUTS = ["c", "fortran", "rows_step2", "cols_step2", "reversed", "readonly", "readonly_fortran", "broadcast",
           "byteswapped"]


def relayout(a, how):
    """The same values (or, for "broadcast", the first row repeated) in another memory layout."""
    if how == "fortran":
        return np.asfortranarray(a)
    if how == "rows_step2" and a.ndim >= 1:
        return np.repeat(a, 2, axis=0)[::2]
    if how == "cols_step2" and a.ndim >= 2:
        return np.repeat(a, 2, axis=1)[:, ::2]
    if how == "reversed" and a.ndim >= 1:
        return a[::-1].copy()[::-1]
    if how in ("readonly", "readonly_fortran"):
        b = np.array(a, order="F" if how == "readonly_fortran" else "C", copy=True)
        b.flags.writeable = False
        return b
    if how == "broadcast" and a.ndim >= 1 and a.shape[0] >= 1:
        return np.broadcast_to(a[:1], a.shape)  # zero stride, read-only
    if how == "byteswapped" and a.dtype.kind in "fiuc" and a.dtype.itemsize > 1 and a.dtype != np.longdouble:
        return a.astype(a.dtype.newbyteorder())
    return a


@st.composite
def dense_arrays(draw, n_features, dtypes=None):
    a = draw(base_arrays(n_features, dtypes))
    return relayout(a, draw(st.sampled_from(LAYOUTS)))


SPARSE_FORMATS = ["csr", "csc", "coo", "csr_array", "csc_array", "coo_array", "lil", "dok", "bsr"]


@st.composite
def sparse_matrices(draw, n_features):
    shape = (draw(st.integers(0, 5)), draw(st.one_of(st.just(n_features), st.integers(0, 8))))
    dtype = draw(st.sampled_from(["float64", "float64", "float32", "int64", "int8", "bool", "complex128"]))
    elements = ELEMENTS[draw(st.sampled_from(["moderate", "edge", "any"]))]
    a = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.just(0.0), st.just(0.0), elements)))
    with np.errstate(all="ignore"):
        a = a.astype(dtype) if dtype != "int64" and dtype != "int8" else np.nan_to_num(a).clip(-100, 100).astype(dtype)
    fmt = draw(st.sampled_from(SPARSE_FORMATS))
    variant = draw(st.sampled_from(["plain", "explicit_zeros", "unsorted", "duplicates", "int64_indices", "readonly"]))
    if variant == "duplicates" and a.size:
        # the same entries twice in COO form: the matrix holds their sum (which may overflow)
        coo = sp.coo_matrix(a)
        m = sp.coo_matrix((np.concatenate([coo.data, coo.data]),
                           (np.concatenate([coo.row, coo.row]), np.concatenate([coo.col, coo.col]))), shape=a.shape)
        if fmt == "coo":
            return m
        if fmt == "coo_array":
            return sp.coo_array(m)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return m.asformat(fmt.replace("_array", ""))
    m = sp.csr_matrix(a)
    if variant == "explicit_zeros" and a.size:
        dense_pos = np.argwhere(a == 0)
        if len(dense_pos):
            r, c = dense_pos[0]
            m = sp.csr_matrix((np.append(m.tocoo().data, 0).astype(m.dtype),
                               (np.append(m.tocoo().row, r), np.append(m.tocoo().col, c))), shape=a.shape)
            m.sort_indices()
    if fmt.endswith("_array"):
        m = {"csr_array": sp.csr_array, "csc_array": sp.csc_array, "coo_array": sp.coo_array}[fmt](m)
    else:
        m = m.asformat(fmt)
    if variant == "unsorted" and m.format in ("csr", "csc") and m.nnz > 1:
        m = m.copy()
        for i in range(len(m.indptr) - 1):
            s, e = m.indptr[i], m.indptr[i + 1]
            m.indices[s:e] = m.indices[s:e][::-1].copy()
            m.data[s:e] = m.data[s:e][::-1].copy()
        m.has_sorted_indices = False
    if variant == "int64_indices" and m.format in ("csr", "csc"):
        m = m.copy()
        m.indices = m.indices.astype(np.int64)
        m.indptr = m.indptr.astype(np.int64)
    if variant == "readonly" and m.format in ("csr", "csc", "coo", "bsr"):
        m = m.copy()
        m.data.flags.writeable = False
    return m


PY_SCALARS = st.one_of(
    st.floats(), st.integers(-MAX_PY_INT, MAX_PY_INT), st.none(), st.text(max_size=3), st.booleans()
)


@st.composite
def python_lists(draw, n_features):
    kind = draw(st.sampled_from(["tolist", "tolist", "ragged", "mixed", "tuples", "rows_of_arrays", "flat"]))
    if kind in ("tolist", "tuples", "rows_of_arrays"):
        a = draw(base_arrays(n_features, FLOAT_DTYPES[:3] + ["int64", "bool", "object"]))
        if kind == "tolist":
            return a.tolist()
        if kind == "tuples":
            return tuple(tuple(r) if isinstance(r, list) else r for r in a.tolist()) if a.ndim else a.tolist()
        return [row for row in a] if a.ndim else a.tolist()
    if kind == "ragged":
        return draw(st.lists(st.lists(ELEMENTS["edge"], max_size=8), min_size=1, max_size=4))
    if kind == "mixed":
        return draw(st.lists(st.lists(PY_SCALARS, min_size=n_features, max_size=n_features), min_size=1, max_size=3))
    return draw(st.lists(ELEMENTS["any"], max_size=8))


NOT_ARRAYS = st.sampled_from([None, 0, 1.5, math.nan, "abc", "", b"abc", {}, set(), True, Ellipsis, [], [[]], ()])


@st.composite
def well_shaped_arrays(draw, n_features):
    """Arrays of the right shape, finite values (possibly extreme), any float or int dtype and layout."""
    n = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(["float64", "float64", "float32", "float16", "int64", "uint8", "bool", ">f8"]))
    elements = ELEMENTS[draw(st.sampled_from(["moderate", "moderate", "edge"]))]
    a = draw(hnp.arrays(np.float64, (n, n_features), elements=elements))
    with np.errstate(all="ignore"):
        a = np.nan_to_num(a).clip(-1e6, 1e6).astype(dtype) if dtype[0] in "iub" else a.astype(dtype)
    return relayout(a, draw(st.sampled_from(LAYOUTS)))


def x_inputs(n_features, sparse=True):
    """Anything a user might pass as ``X``: mostly arrays, some sparse matrices, lists and non-arrays."""
    parts = [well_shaped_arrays(n_features), dense_arrays(n_features), dense_arrays(n_features),
             python_lists(n_features), NOT_ARRAYS]
    if sparse:
        parts.insert(2, sparse_matrices(n_features))
    return st.one_of(*parts)


def clearly_valid_X(X, n_features, sparse_ok):
    """True for input every estimator must accept: 2-D real numbers, at least one row, ``n_features``
    columns, all finite and at most 1e6 in magnitude (no overflow possible in the small models)."""
    if sp.issparse(X):
        if not sparse_ok or X.format not in ("csr", "csc", "coo"):
            return False
        A = X.toarray()
    elif isinstance(X, np.ndarray):
        A = X
    else:
        return False
    if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] != n_features or A.dtype.kind not in "fiub":
        return False
    if A.dtype == np.longdouble:
        return False
    with np.errstate(all="ignore"):
        B = A.astype(np.float64)
    return bool(np.all(np.isfinite(B)) and np.all(np.abs(B) <= 1e6))


BAD_LABELS = [99, -1, 1.5, "zzz", None, math.nan, b"0", (0,), 1e308, "0", {}]


@st.composite
def targets(draw, n, classes, n_classes=None):
    """``target`` of ``explain``: None, labels (known or not), per-sample labels, output relevances..."""
    classes = list(classes)
    k = len(classes) if n_classes is None else n_classes
    label = st.sampled_from(classes)
    kind = draw(st.sampled_from(
        ["none", "label", "bad_label", "per_sample", "per_sample_array", "wrong_length", "relevance",
         "relevance_wrong_shape", "relevance_3d", "text", "nested"]))
    if kind == "none":
        return None
    if kind == "label":
        return draw(label)
    if kind == "bad_label":
        return draw(st.sampled_from(BAD_LABELS))
    if kind in ("per_sample", "per_sample_array"):
        labels = draw(st.lists(st.one_of(label, label, label, st.sampled_from(BAD_LABELS)), min_size=n, max_size=n))
        if kind == "per_sample":
            return labels
        try:
            return np.array(labels)
        except ValueError:
            return labels
    if kind == "wrong_length":
        m = draw(st.integers(0, n + 2).filter(lambda m: m != n))
        return draw(st.lists(label, min_size=m, max_size=m))
    if kind == "relevance":
        elements = ELEMENTS[draw(st.sampled_from(["moderate", "moderate", "edge", "any"]))]
        return draw(hnp.arrays(np.float64, (n, k), elements=elements))
    if kind == "relevance_wrong_shape":
        shape = draw(st.tuples(st.integers(0, n + 1), st.integers(0, k + 1)).filter(lambda s: s != (n, k)))
        return draw(hnp.arrays(np.float64, shape, elements=MODERATE))
    if kind == "relevance_3d":
        return np.zeros((n, k, 1))
    if kind == "text":
        return draw(st.text(max_size=3))
    return [[draw(label)]] * n


def clearly_valid_target(t, n, classes, k):
    if t is None:
        return True
    known = set(np.asarray(classes).tolist())
    if isinstance(t, np.ndarray) and t.dtype.kind == "f" and t.shape == (n, k):
        return bool(np.all(np.abs(t) <= 1e6))
    if isinstance(t, (str, int, float)) or np.isscalar(t):
        try:
            return t in known and not (isinstance(t, float) and math.isnan(t))
        except TypeError:
            return False
    if isinstance(t, (list, np.ndarray)) and len(t) == n:
        try:
            values = np.asarray(t)
            return values.ndim == 1 and all(isinstance(v, (str, int, float)) and v in known for v in values.tolist())
        except (TypeError, ValueError):
            return False
    return False


# ---------------------------------------------------------------- documents
VOCAB = ["good", "bad", "movie", "great", "awful", "plot", "fun", "boring", "acting", "film"]
SPECIAL_TEXT = [
    "", " ", "<script>alert(1)</script>", "&amp; &lt; &#x3C;", '"quoted" good', "'single' bad", "a<b>c</b>",
    "\x00\x1b[31mred\x1b[0m", "\u202egood\u202c", "\u00e9t\u00e9 GOOD", "\u0130stanbul good", "stra\u00dfe",
    "\ufb01lm movie", "\ufeffgood", "good\u0301", "\ud800 bad", "\n\t\r good \r\n", "\U0001F600 good \U0001F600",
    "x" * 3000, "good " * 600, "<img src=x onerror=alert(1)> good", "\" onmouseover=\"alert(1)",
    "</div></span><style>body{}</style>", "GOOD Movie BAD", "good-bad good_bad good.bad",
]
DOC_TEXT = st.one_of(
    st.lists(st.sampled_from(VOCAB + ["<b>", "&", '"', "'", "zzz", "GOOD"]), max_size=8).map(" ".join),
    st.text(max_size=30),
    st.sampled_from(SPECIAL_TEXT),
)
DOC_ITEM = st.one_of(
    DOC_TEXT,
    DOC_TEXT,
    DOC_TEXT.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=12),
    st.none(),
    st.integers(-5, 5),
    st.floats(),
    st.lists(st.sampled_from(VOCAB), max_size=3),
    st.just(np.str_("good movie")),
)


def documents():
    """Anything a user might pass as raw documents."""
    return st.one_of(
        st.lists(DOC_TEXT, min_size=1, max_size=5),
        st.lists(DOC_ITEM, max_size=5),
        st.lists(DOC_TEXT, min_size=1, max_size=4).map(tuple),
        st.lists(DOC_TEXT, min_size=1, max_size=4).map(lambda d: np.array(d, dtype=object)),
        st.lists(DOC_TEXT, min_size=1, max_size=4).map(np.array),
        DOC_TEXT,
        st.sampled_from([None, 3, b"good movie", {"a": 1}, math.nan]),
    )


def clearly_valid_documents(docs):
    return isinstance(docs, list) and len(docs) >= 1 and all(isinstance(d, str) for d in docs)

"""Failures found by the fuzz suite, one minimal deterministic reproducer each.

Every test states the contract (allowed exceptions, finite output, bounded
memory) and is a strict xfail while the library breaks it: fixing the bug
makes the test pass, and the strict xfail then fails, so that the marker
and the exclusion of the input family from the fuzz strategies (each names
the test here) are removed together.  The tests marked "# fixed:" were
found failing and are kept as plain regression tests.
"""

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import (
    ConvNetClassifier,
    DenseNetClassifier,
    LinearRelevanceClassifier,
    load_model,
)
from sklrp.estimators import save_model
from sklrp.metrics import aopc_score, perturbation_curve
from sklrp.neighbors import MultiPurposeLSH

from ._support import ALLOWED, Hang, assert_finite, attempt, time_limit

pytestmark = pytest.mark.fuzz


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(40, 6)), np.arange(40) % 3


def _outcome(fn, *args, **kwargs):
    """The result, or the allowed exception raised; any other exception propagates (and fails the test)."""
    return attempt(fn, *args, **kwargs)[1]


# --------------------------------------------------------------- numeric input
# fixed: OverflowError (int too large to convert to float) from check_array for Python ints beyond the float range
@pytest.mark.parametrize("case", ["DenseNetClassifier.predict", "LinearRelevanceClassifier.explain",
                                  "DenseNetClassifier.fit"])
def test_python_int_beyond_float_range(case):
    X, y = _data()
    huge = [[10**400] * 6]
    if case == "DenseNetClassifier.predict":
        _outcome(_fit(DenseNetClassifier((4,), max_iter=1, random_state=0), X, y).predict, huge)
    elif case == "LinearRelevanceClassifier.explain":
        _outcome(_fit(LinearRelevanceClassifier(LogisticRegression()), X, y).explain, huge)
    else:
        _outcome(DenseNetClassifier((4,), max_iter=1, random_state=0).fit, huge * 3, [0, 1, 0])


# fixed: predict_log_proba was log(predict_proba), -inf where a probability underflows to 0 (the networks), and
#   the wrapped LogisticRegression's log(predict_proba) (LinearRelevanceClassifier, X = 1e3), although log-softmax
#   of the finite scores is finite
@pytest.mark.parametrize("case", ["DenseNetClassifier", "LinearRelevanceClassifier(LogisticRegression())"])
def test_predict_log_proba_is_finite(case):
    X, y = _data()
    if case == "DenseNetClassifier":
        model, x = _fit(DenseNetClassifier((8,), max_iter=5, random_state=0), X, y), np.full((1, 6), 1e6)
    else:
        model, x = _fit(LinearRelevanceClassifier(LogisticRegression()), X, y), np.full((1, 6), 1e3)
    out = _outcome(model.predict_log_proba, x)
    if isinstance(out, np.ndarray):
        assert_finite(out, "predict_log_proba")


# fixed (found by the long profile): ConvNetClassifier.predict_log_proba returned -inf for X = [0, 0, 0, 0, 1.8e308, 0],
#   whose finite scores (1.6e308, -2.5e307, 2.4e307) span more than the float range, so that the log probability of
#   the lowest is below -1.8e308
def test_predict_log_proba_of_scores_spanning_more_than_the_float_range():
    X, y = _data()
    net = _fit(ConvNetClassifier(input_shape=(1, 2, 3), filters=(2,), kernel_size=2, hidden_layer_sizes=(4,),
                                 max_iter=5, random_state=0), X, y)
    x = np.array([[0.0, 0.0, 0.0, 0.0, 1.79769313e308, 0.0]])
    assert np.all(np.isfinite(net.decision_function(x)))
    with pytest.raises(ValueError, match=r"^ConvNetClassifier: the log probabilities of 1 of 1 samples are not "
                                         r"finite although X is: the scores span more than the float range on "
                                         r"inputs this large \(largest \|x\| of those samples: 1\.8e\+308\)\."):
        net.predict_log_proba(x)
    assert np.all(np.isfinite(net.predict_log_proba(X)))


# fixed: LinearRelevanceClassifier.decision_function/predict_proba/predict_log_proba returned inf/nan for finite X
#   whose scores overflow
@pytest.mark.parametrize("method", ["decision_function", "predict_proba", "predict_log_proba"])
def test_linear_score_overflow_is_reported(method):
    X, y = _data()
    model = _fit(LinearRelevanceClassifier(LogisticRegression()), X, y)
    x = np.array([[1.7e308, 1.7e308, 1.7e308, -1.7e308, -1.7e308, -1.7e308]])  # the signs of coef_[0]
    assert isinstance(_outcome(model.explain, x), ValueError)
    out = _outcome(getattr(model, method), x)
    if isinstance(out, np.ndarray):
        assert_finite(out, method)


# fixed: LinearRelevanceClassifier.explain returned inf for a finite explicit output relevance (2-D target) of
#   1e308 (lrp) or 1e200 (sensitivity squares it)
@pytest.mark.parametrize("method, value", [("lrp", 1e308), ("sensitivity", 1e200)])
def test_linear_explain_of_a_large_output_relevance(method, value):
    X, y = _data()
    model = _fit(LinearRelevanceClassifier(LogisticRegression()), X, y)
    R = _outcome(model.explain, X[:1], target=np.full((1, 3), value), method=method)
    if isinstance(R, np.ndarray):
        assert_finite(R, "explain")


# fixed: perturbation_curve/aopc_score raised OverflowError (int too large to convert to float) for Python ints
#   beyond the float range in X
@pytest.mark.parametrize("fn", [perturbation_curve, aopc_score])
def test_perturbation_curve_python_int_beyond_float_range(fn):
    X, y = _data()
    model = _fit(DenseNetClassifier((4,), max_iter=1, random_state=0), X, y)
    with pytest.raises(ValueError, match="X holds a number too large for a float"):
        fn(model, [[10**400] * 6], random_state=0)


# fixed: perturbation_curve returned inf for curve and aopc, the means of finite per-sample scores near the float64
#   maximum
def test_perturbation_curve_mean_does_not_overflow():
    X, y = _data()
    model = _fit(DenseNetClassifier((4,), max_iter=1, random_state=0), X, y)
    # any model whose scores reach ~1e308 (e.g. a ConvNetClassifier on X = 1e308, whose scores stay finite)

    def score(est, X):
        return np.full((X.shape[0], 3), 1e308)

    res = perturbation_curve(model, X[:2], score=score, n_steps=1, n_repeats=3, random_state=0)
    np.testing.assert_array_equal(res.curves, 1e308)
    np.testing.assert_array_equal(res.curve, 1e308)
    assert res.aopc == 0.0


def test_perturbation_curve_aopc_beyond_the_float_range():
    """Scores of opposite signs near the float maximum: the mean drop (~2e308) is not representable."""
    X, y = _data()
    model = _fit(DenseNetClassifier((4,), max_iter=1, random_state=0), X, y)

    x0 = X[:1]

    def score(est, X):  # +1.5e308 on the unperturbed input, -1.5e308 once anything is replaced
        return np.where(np.all(X == x0, axis=1)[:, None], 1.5e308, -1.5e308) * np.ones(3)

    with pytest.raises(ValueError, match="The AOPC .* exceeds the float range"):
        perturbation_curve(model, x0, score=score, n_steps=1, replacement=0.0, random_state=0)


def test_perturbation_curve_non_finite_scores_are_reported():
    X, y = _data()
    model = _fit(DenseNetClassifier((4,), max_iter=1, random_state=0), X, y)

    def score(est, X):
        return np.full((X.shape[0], 3), np.nan)

    with pytest.raises(ValueError, match="scores on the perturbed inputs hold NaN or infinity although X is finite"):
        perturbation_curve(model, X[:2], score=score, n_steps=1, random_state=0)


# ---------------------------------------------------------------- neighbours
@pytest.fixture(scope="module")
def lsh_points():
    return np.random.RandomState(1).normal(size=(60, 6))


# fixed: MultiPurposeLSH.kneighbors gave inf distances when the squared norms overflow: finite query 1e160, or
#   accepted weights {'l2': 1e308, 'ip': 1e308}
@pytest.mark.parametrize("case", ["large query", "large weights"])
def test_lsh_overflow_gives_finite_distances(lsh_points, case):
    index = MultiPurposeLSH(random_state=0).fit(lsh_points)
    if case == "large query":
        out = _outcome(index.kneighbors, np.full((1, 6), 1e160), n_neighbors=2)
    else:
        out = _outcome(index.kneighbors, lsh_points[:1] + 0.5, n_neighbors=2, weights={"l2": 1e308, "ip": 1e308})
    if isinstance(out, tuple):
        assert_finite(out[0], "distances")


# fixed: MultiPurposeLSH.kneighbors(X=None) returned a point as its own neighbour when the distances overflow
#   (weights {'l2': 1e308, 'ip': 1e308})
def test_lsh_overflowing_weights_keep_self_out(lsh_points):
    index = MultiPurposeLSH(random_state=0).fit(lsh_points)
    out = _outcome(index.kneighbors, None, n_neighbors=5, weights={"l2": 1e308, "ip": 1e308})
    if isinstance(out, tuple):
        assert not np.any(out[1] == np.arange(60)[:, None])


def _run_with_memory_limit(code, limit_gib=2):
    """Run ``code`` in a Python subprocess whose address space is capped; its outcome: "ok" or the exception type."""
    resource = pytest.importorskip("resource")  # POSIX
    del resource
    script = textwrap.dedent(f"""
        import resource, sys
        limit = {limit_gib} * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            import numpy as np
    """) + textwrap.indent(textwrap.dedent(code), "    ") + textwrap.dedent("""
            print("outcome: ok")
        except BaseException as exc:
            print("outcome:", type(exc).__name__, str(exc)[:200])
    """)
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PATH": ""}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("outcome:")]
    assert lines, f"the subprocess died: rc={proc.returncode}, stderr={proc.stderr[-2000:]}"
    return lines[-1].split()[1], lines[-1]


def test_memory_limited_subprocess_works():
    """The helper of the two tests below reports a small fit as ok."""
    kind, line = _run_with_memory_limit("""
        from sklrp.neighbors import MultiPurposeLSH
        MultiPurposeLSH(n_tables=1, key_bits=4, random_state=0).fit(np.random.RandomState(1).normal(size=(60, 6)))
    """)
    assert kind == "ok", line


# fixed: MultiPurposeLSH(n_tables=1, key_bits=30).fit on 60 points allocated 4 << key_bits bucket offsets per
#   table (32 GiB): MemoryError or OOM kill
def test_lsh_table_memory_is_bounded():
    kind, line = _run_with_memory_limit("""
        from sklrp.neighbors import MultiPurposeLSH
        MultiPurposeLSH(n_tables=1, key_bits=30, random_state=0).fit(np.random.RandomState(1).normal(size=(60, 6)))
    """)
    assert kind in ("ok", "ValueError", "TypeError"), line


# fixed: MultiPurposeLSH(n_bits=10**13).fit raised MemoryError (the networks refuse oversized layers with a
#   ValueError)
def test_lsh_huge_n_bits_is_refused_clearly():
    kind, line = _run_with_memory_limit("""
        from sklrp.neighbors import MultiPurposeLSH
        MultiPurposeLSH(n_bits=10**13, random_state=0).fit(np.random.RandomState(1).normal(size=(60, 6)))
    """)
    assert kind in ("ValueError", "TypeError"), line


# fixed: MultiPurposeLSH.load accepted index arrays of the wrong shape; kneighbors then raises IndexError
#   (_hashing.py:166, _mplsh.py:685/896/858/587)
@pytest.mark.parametrize("key", ["center", "hash_max_norm", "table_order", "table_offsets", "block_bits"])
def test_lsh_load_checks_array_shapes(lsh_points, tmp_path, key):
    index = MultiPurposeLSH(n_bits=32, feature_groups=[0, 0, 0, 1, 1, 1], n_tables=2, key_bits=3, n_candidates=10,
                            random_state=0).fit(lsh_points)
    path = index.save(tmp_path / "index")
    arrays = _arrays(path)
    arrays[key] = arrays[key][:0]
    np.savez(path, **arrays)
    loaded = _outcome(MultiPurposeLSH.load, path)
    if not isinstance(loaded, Exception):
        _outcome(loaded.kneighbors, lsh_points[:2] + 0.1, n_neighbors=2)


# fixed: MultiPurposeLSH.load accepted NaN in the indexed data X (or group_max_norm); kneighbors then returns NaN
#   distances
@pytest.mark.parametrize("key, weights", [("X", "l2"), ("group_max_norm", "ip")])
def test_lsh_load_refuses_nan_arrays(lsh_points, tmp_path, key, weights):
    path = MultiPurposeLSH(random_state=0).fit(lsh_points).save(tmp_path / "index")
    arrays = _arrays(path)
    arrays[key] = np.full(arrays[key].shape, np.nan)
    np.savez(path, **arrays)
    loaded = _outcome(MultiPurposeLSH.load, path)
    if not isinstance(loaded, Exception):
        out = _outcome(loaded.kneighbors, lsh_points[:2] + 0.1, n_neighbors=2, weights=weights)
        if isinstance(out, tuple):
            assert_finite(out[0], "distances")


# fixed: MultiPurposeLSH.load accepted a configuration with norm_ranges=7 for tables saved with 4; kneighbors then
#   raises IndexError (_mplsh.py:861)
def test_lsh_load_checks_norm_ranges(lsh_points, tmp_path):
    index = MultiPurposeLSH(n_bits=32, feature_groups=[0, 0, 0, 1, 1, 1], n_tables=2, key_bits=3, n_candidates=10,
                            random_state=0).fit(lsh_points)
    path = index.save(tmp_path / "index")
    arrays = _arrays(path)
    config = json.loads(str(arrays["config"]))
    assert config["norm_ranges"] == 4
    config["norm_ranges"] = 7
    arrays["config"] = np.array(json.dumps(config))
    np.savez(path, **arrays)
    loaded = _outcome(MultiPurposeLSH.load, path)
    if not isinstance(loaded, Exception):
        _outcome(loaded.kneighbors, lsh_points[:2] + 0.1, n_neighbors=2)


# ------------------------------------------------------------------ model files
@pytest.fixture(scope="module")
def saved_dense(tmp_path_factory):
    X, y = _data()
    model = _fit(DenseNetClassifier((8,), max_iter=5, random_state=0), X, y)
    path = tmp_path_factory.mktemp("regressions") / "dense.npz"
    save_model(model, path)
    return path


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# fixed: load_model raised OSError [Errno 22] (negative seek in zipfile) for a model file whose first byte is
#   deleted (member offsets before the file start)
def test_load_model_with_shifted_zip_offsets(saved_dense, tmp_path):
    path = tmp_path / "shifted.npz"
    path.write_bytes(saved_dense.read_bytes()[1:])
    _outcome(load_model, path)


# fixed: load_model raised NotImplementedError (zip file version 10.9) from zipfile for a model file whose
#   directory declares an unsupported version
def test_load_model_unsupported_zip_version(saved_dense, tmp_path):
    raw = bytearray(saved_dense.read_bytes())
    entry = raw.index(b"PK\x01\x02")  # the first entry of the central directory
    raw[entry + 6] = 109  # "version needed to extract": 10.9
    path = tmp_path / "version.npz"
    path.write_bytes(bytes(raw))
    _outcome(load_model, path)


# fixed: load_model raised RuntimeError (File ... is encrypted, password required for extraction) from zipfile
#   for a member whose encryption flag bit is set
def test_load_model_encrypted_member(saved_dense, tmp_path):
    raw = bytearray(saved_dense.read_bytes())
    entry = raw.index(b"PK\x01\x02")  # the first entry of the central directory
    raw[entry + 8] |= 0x1  # general purpose bit flag: encrypted
    path = tmp_path / "encrypted.npz"
    path.write_bytes(bytes(raw))
    _outcome(load_model, path)


# fixed: load_model raised KeyError from _set_fitted_state when the state of a version-2 file lacked input_shape_,
#   input_bounds_, layers or history_['loss']
@pytest.mark.parametrize("key", ["input_shape_", "input_bounds_", "layers", "history_.loss"])
def test_load_model_state_missing_keys(saved_dense, tmp_path, key):
    arrays = _arrays(saved_dense)
    config = json.loads(str(arrays["config"]))
    if key == "history_.loss":
        del config["state"]["history_"]["loss"]
    else:
        del config["state"][key]
    arrays["config"] = np.array(json.dumps(config))
    path = tmp_path / "tampered.npz"
    np.savez(path, **arrays)
    _outcome(load_model, path)


# fixed: load_model accepted classes_ with fewer classes than network outputs (predict_proba had 3 columns for 2
#   classes, predict raised IndexError)
def test_load_model_fewer_classes_than_outputs(saved_dense, tmp_path):
    arrays = _arrays(saved_dense)
    arrays["state.classes_"] = np.array([0, 1])  # the network has 3 outputs
    path = tmp_path / "tampered.npz"
    np.savez(path, **arrays)
    model = _outcome(load_model, path)
    if isinstance(model, Exception):
        return
    X, _ = _data()
    proba = _outcome(model.predict_proba, X)
    if isinstance(proba, np.ndarray):
        assert proba.shape[1] == len(model.classes_)
    _outcome(model.predict, 3 * X)


# fixed: LinearRelevanceClassifier.explain returned CSR for COO/LIL/DOK/BSR input (documented: sparse out in X's
#   format)
@pytest.mark.parametrize("fmt", ["coo", "lil", "dok", "bsr"])
def test_linear_explain_keeps_the_sparse_format(fmt):
    import scipy.sparse as sp

    X, y = _data()
    model = _fit(LinearRelevanceClassifier(LinearSVC()), X, y)
    R = _outcome(model.explain, sp.csr_matrix(X[:2]).asformat(fmt))
    assert R.format == fmt


# ------------------------------------------------------------------------- text
# fixed: sklrp.explain(text Pipeline, [..., None]) raised AttributeError from the vectorizer
@pytest.mark.parametrize("bad", [None, 3, ["good"]])
def test_explain_text_pipeline_with_non_string_documents(bad):
    docs = ["good movie", "bad film", "great fun", "awful plot"]
    pipe = _fit(make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC())), docs, [1, 0, 1, 0])
    _outcome(sklrp.explain, pipe, ["good", bad])


def test_allowed_exceptions_are_the_documented_ones():
    """The oracle itself: ValueError (InvalidParameterError, UnicodeDecodeError), TypeError, NotFittedError."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils._param_validation import InvalidParameterError

    assert issubclass(InvalidParameterError, ALLOWED) and issubclass(UnicodeDecodeError, ALLOWED)
    assert issubclass(NotFittedError, ALLOWED)
    assert not issubclass(IndexError, ALLOWED) and not issubclass(OverflowError, ALLOWED)
    X, _ = _data()
    net = ConvNetClassifier(input_shape=(1, 2, 3), filters=(2,), max_iter=1, random_state=0)
    assert isinstance(_outcome(net.predict, X), NotFittedError)


def test_hangs_are_detected():
    """The hang limit interrupts a busy call, and a hang is never an allowed outcome."""
    import signal
    import time

    assert not issubclass(Hang, ALLOWED)
    if not hasattr(signal, "setitimer"):
        pytest.skip("the hang limit needs POSIX interval timers")
    start = time.monotonic()
    with pytest.raises(Hang), time_limit(0.2):
        while True:
            pass
    assert time.monotonic() - start < 5

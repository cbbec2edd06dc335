"""The LRP toolbox's pretrained LeNet-5 imported as a fitted ConvNetClassifier."""

import re

import numpy as np
import pytest

import sklrp
from sklrp.datasets import load_mnist
from sklrp.exceptions import ModelFileError
from sklrp.nn import Conv2D, Flatten, ReLU, SumPool2D


@pytest.fixture(scope="module")
def lenet(data_dir):
    path = data_dir / "lrp_toolbox" / "models" / "MNIST" / "LeNet-5.txt"
    if not path.exists():
        pytest.skip(f"LeNet-5 model file not found at {path}")
    return sklrp.load_lrp_toolbox_model(path)


@pytest.fixture(scope="module")
def mnist_test(data_dir):
    return load_mnist("test", data_home=data_dir, return_X_y=True, lrp_toolbox_format=True)


def test_architecture(lenet):
    kinds = [type(layer) for layer in lenet.net_.layers]
    assert kinds == [Conv2D, ReLU, SumPool2D, Conv2D, ReLU, SumPool2D, Conv2D, ReLU, SumPool2D, Conv2D, Flatten]
    assert lenet.input_shape_ == (1, 32, 32)
    assert lenet.n_features_in_ == 1024
    # toolbox SumPool = window sum / sqrt(h * w)
    assert float(lenet.net_.layers[2].params["weight"]) == pytest.approx(0.5)
    np.testing.assert_array_equal(lenet.classes_, np.arange(10))


def test_accuracy_on_mnist_test_set(lenet, mnist_test):
    X, y = mnist_test
    assert X.shape == (10000, 1024)
    acc = lenet.score(X, y)
    assert abs(acc - 0.992) <= 0.0005 + 1e-12, acc


def test_explanations_conserve_and_match_shapes(lenet, mnist_test):
    X, _ = mnist_test
    Xs = X[:16]
    lenet.set_params(composite="zero")
    R = lenet.explain(Xs)
    assert R.shape == Xs.shape
    scores = lenet.decision_function(Xs)
    top = scores.max(axis=1)
    # LRP-0 conserves up to what the biases absorb: the relevance sums track the scores
    assert np.corrcoef(R.sum(axis=1), top)[0, 1] > 0.9
    for comp in ("epsilon_plus_flat", "deep_taylor", "epsilon_gamma_box"):
        lenet.set_params(composite=comp)
        Rc = lenet.explain(Xs)
        assert Rc.shape == Xs.shape and np.isfinite(Rc).all()


def test_safe_save_load_roundtrip(lenet, mnist_test, tmp_path):
    X, _ = mnist_test
    lenet.set_params(composite="epsilon_plus_flat")
    path = tmp_path / "lenet.npz"
    lenet.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert "config" in data.files
    loaded = sklrp.load_model(path)
    np.testing.assert_allclose(loaded.decision_function(X[:8]), lenet.decision_function(X[:8]))
    np.testing.assert_allclose(loaded.explain(X[:8]), lenet.explain(X[:8]))


def test_bad_model_file(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Convolution 5 5 1 10 1 1\n0.1 0.2\n0\n")
    with pytest.raises(ModelFileError, match=r"bad\.txt, line 2: expected 250 weights; found 2 numbers\.$"):
        sklrp.load_lrp_toolbox_model(bad)
    bad.write_text("Softmax\n")
    with pytest.raises(ModelFileError, match=r"bad\.txt, line 1: Unsupported layer 'Softmax'; the toolbox layers read "
                                             r"are Convolution, Linear, Rect, Tanh, SumPool and Flatten\.$"):
        sklrp.load_lrp_toolbox_model(bad)


def test_two_output_model_explains_each_class_score(tmp_path):
    """A toolbox model with two outputs is two class scores, not sklrp's one-output binary encoding."""
    rng = np.random.RandomState(0)
    W = rng.normal(size=(2, 2, 1, 2))
    path = tmp_path / "two.txt"
    path.write_text("Convolution 2 2 1 2 1 1\n" + " ".join(repr(float(v)) for v in W.ravel()) + "\n0 0\nRect\n"
                    "SumPool 2 2 2 2\nFlatten\n")
    est = sklrp.load_lrp_toolbox_model(path, composite="zero")
    assert est.net_.layers[-1].output_shape == (2,) and est.classes_.tolist() == [0, 1]
    X = rng.normal(size=(6, est.n_features_in_))
    scores = est.decision_function(X)
    assert scores.shape == (6, 2)
    for t in (0, 1):  # bias-free ReLU/sum-pool net and LRP-0: the relevance sums to that class's score
        np.testing.assert_allclose(est.explain(X, target=t).sum(axis=1), scores[:, t], rtol=1e-10)
    # the gradient of each score, against central differences
    eps = 1e-6
    for t in (0, 1):
        G = est.explain(X, target=t, method="gradient")
        assert G.shape == X.shape
        for j in range(X.shape[1]):
            Xp, Xm = X.copy(), X.copy()
            Xp[:, j] += eps
            Xm[:, j] -= eps
            fd = (est.decision_function(Xp)[:, t] - est.decision_function(Xm)[:, t]) / (2 * eps)
            np.testing.assert_allclose(G[:, j], fd, rtol=1e-5, atol=1e-8)


def test_input_size_inferred_from_the_linear_layer_after_flatten(tmp_path):
    """A Linear layer after Flatten fixes the flattened size: a 2x2 convolution of 3 filters whose Flatten sees a
    3x3 map (Linear 27 2) reads 4x4 inputs; the inference asked for a 1x1 map there and refused the file."""
    rng = np.random.RandomState(0)
    fmt = lambda a: " ".join(repr(float(v)) for v in np.ravel(a))  # noqa: E731
    path = tmp_path / "dense_head.txt"
    path.write_text(f"Convolution 2 2 1 3 1 1\n{fmt(rng.normal(size=(2, 2, 1, 3)))}\n{fmt(rng.normal(size=3))}\n"
                    f"Rect\nFlatten\nLinear 27 2\n{fmt(rng.normal(size=(27, 2)))}\n{fmt(rng.normal(size=2))}\n")
    inferred = sklrp.load_lrp_toolbox_model(path)
    given = sklrp.load_lrp_toolbox_model(path, input_shape=(1, 4, 4))
    assert tuple(inferred.input_shape_) == (1, 4, 4)
    X = rng.normal(size=(5, 16))
    np.testing.assert_array_equal(inferred.decision_function(X), given.decision_function(X))


def test_two_output_binary_model_trains_on_one_hot_targets(tmp_path):
    """Further training of a two-output model (partial_fit, warm_start) uses the softmax loss of its two outputs on
    one-hot targets; the 0/1 column of sklrp's one-output binary nets was broadcast against them (a wrong loss and
    gradient, without an error)."""
    from sklrp.nn import softmax_cross_entropy

    rng = np.random.RandomState(0)
    fmt = lambda a: " ".join(repr(float(v)) for v in np.ravel(a))  # noqa: E731
    path = tmp_path / "two.txt"
    path.write_text(f"Convolution 2 2 1 3 1 1\n{fmt(rng.normal(size=(2, 2, 1, 3)))}\n{fmt(rng.normal(size=3))}\n"
                    f"Rect\nFlatten\nLinear 3 2\n{fmt(rng.normal(size=(3, 2)))}\n{fmt(rng.normal(size=2))}\n")
    est = sklrp.load_lrp_toolbox_model(path, classes=["no", "yes"])
    X = rng.normal(size=(40, 4))
    y = np.where(X[:, 0] - X[:, 3] > 0, "yes", "no")
    expected = softmax_cross_entropy(est.decision_function(X), np.eye(2)[(y == "yes").astype(int)])[0]
    est.set_params(batch_size=40, shuffle=False)  # one batch: the epoch's loss is that of the weights before it
    est.partial_fit(X, y)
    assert est.loss_ == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("text, message", [
    ("Convolution 2 2 1 2 1 1\n0.1 0.2\n0 0\n", r", line 2: expected 8 weights; found 2 numbers\."),
    ("Convolution 2 2 1 2 1 1\n", r": the file ends after line 1; expected a line of 8 weights\."),
    ("Linear 0 0\n", r", line 1: Linear expects 2 integers from 1 to 1048576 after its name; got '0 0'\."),
    ("Convolution 2 1000000000 1 1 1 1\n0.1 0.2\n0\n",
     r", line 1: Convolution expects 6 integers from 1 to 1048576 after its name; got '2 1000000000 1 1 1 1'\."),
    ("\nConvolution 1 1 1 1 1 1\nabc\n0\n", r", line 3: expected 1 weights; 'abc' is not a number\."),
    ("Convolution 1 1\n1\n0\n", r", line 1: Convolution expects 6 integers .* got '1 1'\."),
    ("Convolution 1 1 1 1 1 1\nnan\n0\n", r", line 2: the weights must be finite numbers\."),
    ("Convolution 1 1 1 1 1 1\n1\n0\nRect 3\n", r", line 4: Rect takes no arguments; got '3'\."),
    ("SumPool 0 2 2 2\n", r", line 1: SumPool expects 4 integers from 1 to 1048576 after its name; got '0 2 2 2'\."),
])
def test_malformed_model_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=re.escape(str(path)) + message):
        sklrp.load_lrp_toolbox_model(path)


def test_binary_file_is_not_a_toolbox_model(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\xff\xfe\x00Convolution")
    with pytest.raises(ModelFileError, match=r"is not a text model file of the LRP toolbox \(byte 0 is not UTF-8 "
                                             r"text\), line 1\.$"):
        sklrp.load_lrp_toolbox_model(path)
    path.write_bytes(b"Convolution 1 1 1 1 1 1\n1\n0 \xff\n")
    with pytest.raises(ModelFileError, match=r"bad\.txt is not a text model file of the LRP toolbox \(byte 28 is not "
                                             r"UTF-8 text\), line 3\.$"):
        sklrp.load_lrp_toolbox_model(path)


TWO_OUTPUTS = "Convolution 2 2 1 2 1 1\n0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8\n0 0\nRect\nSumPool 2 2 2 2\nFlatten\n"


@pytest.mark.parametrize("text, message", [
    (TWO_OUTPUTS + "Linear 1048576 1048576\n", r", line 7: the layer declares 1099511627776 weights "
                                               r"\(8796093022208 bytes as float64\), more than MAX_MODEL_BYTES=\d+ "
                                               r"allows\.$"),
    (TWO_OUTPUTS.replace("Flatten", "Flatten 2"), r", line 6: Flatten takes no arguments; got '2'\.$"),
    # 2 channels flattened are never 3 values: no input size fits the Linear layer
    (TWO_OUTPUTS + "Linear 3 2\n1 2 3 4 5 6\n0 0\n", r": could not infer the input size of the toolbox model \(its "
                                                     r"layers build with the file's parameter shapes on no square "
                                                     r"input .*; pass input_shape\.$"),
    ("Rect\nFlatten\n", r": only convolutional toolbox models are imported; found no Convolution layer\.$"),
    ("", r": only convolutional toolbox models are imported; found no Convolution layer\.$"),
    ("Convolution 4 4 1 1 1 1\n" + "1 " * 16 + "\n0\nFlatten\nSumPool 1048576 1 1 1\n",
     r": could not infer the input size of the toolbox model"),
    ("Convolution 1 1 1 1 1 1\n1e999\n0\n", r", line 2: the weights must be finite numbers\.$"),
])
def test_malformed_or_absurd_models_are_model_file_errors(tmp_path, text, message):
    """The first malformed line is named; absurd sizes are refused before anything is allocated."""
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ModelFileError, match="^" + re.escape(str(path)) + message):
        sklrp.load_lrp_toolbox_model(path)


def test_argument_errors_stay_value_errors(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text(TWO_OUTPUTS)
    assert sklrp.load_lrp_toolbox_model(path).input_shape_ == (1, 3, 3)
    with pytest.raises(ValueError, match=r"classes has 3 labels but the model has 2 outputs\.") as info:
        sklrp.load_lrp_toolbox_model(path, classes=[0, 1, 2])
    assert not isinstance(info.value, ModelFileError)
    with pytest.raises(ValueError, match=r"the layers do not build on the input shape \(1, 1, 1\)") as info:
        sklrp.load_lrp_toolbox_model(path, input_shape=(1, 1, 1))
    assert not isinstance(info.value, ModelFileError)
    with pytest.raises(FileNotFoundError):
        sklrp.load_lrp_toolbox_model(tmp_path / "missing.txt")

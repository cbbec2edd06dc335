"""Neural-network classifiers that explain their predictions with LRP.

:class:`DenseNetClassifier` (a multi-layer perceptron) and
:class:`ConvNetClassifier` (1-D signals and 2-D images, flat ``X`` plus
``input_shape``) share one training loop and one ``explain`` in
:class:`BaseNetClassifier`.
"""

import copy
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from .._backend import (
    array_device,
    get_namespace,
    is_gpu_array,
    resolve_device,
    to_device,
    to_host,
)
from .._validation import validate_array
from ..nn import (
    METHODS,
    OPTIMIZERS,
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Sequential,
    SumPool1D,
    SumPool2D,
    Tanh,
    softmax,
    softmax_cross_entropy,
)
from ..rules import COMPOSITES, Composite, Rule, get_composite
from ._explain import resolve_target

__all__ = ["BaseNetClassifier", "DenseNetClassifier", "ConvNetClassifier"]

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}


def _sigmoid_cross_entropy(z, y01):
    """Mean logistic loss of one raw score per sample, and its gradient."""
    xp = get_namespace(z)
    # log(1 + exp(-|z|)) + max(z, 0) - y z, stable for large |z|
    loss = (xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0) - y01 * z).sum() / z.shape[0]
    p = 1.0 / (1.0 + xp.exp(-z))
    return loss, (p - y01) / z.shape[0]


class BaseNetClassifier(ClassifierMixin, BaseEstimator):
    """Shared training loop, prediction and explanation of sklrp's networks.

    Not meant to be used directly; see :class:`DenseNetClassifier` and
    :class:`ConvNetClassifier` for the parameters.
    """

    _parameter_constraints = {
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "solver": [StrOptions(set(OPTIMIZERS))],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "device": [StrOptions({"cpu", "cuda"}), None],
        "composite": [StrOptions(set(COMPOSITES)), Composite, Rule, dict],
        "epsilon": [Interval(numbers.Real, 0, None, closed="left")],
        "gamma": [Interval(numbers.Real, 0, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "input_bounds": [tuple, list, None],
        "method": [StrOptions(set(METHODS))],
    }

    #: samples per chunk in predict / explain (bounds memory)
    _chunk_size = 4096

    # ------------------------------------------------------------------ layers
    def _build_layers(self, input_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def _input_shape(self, n_features):
        return (n_features,)

    # -------------------------------------------------------------- validation
    def _check_X(self, X, reset, y=None):
        """Validate X (NumPy/SciPy via scikit-learn, CuPy on the device)."""
        return validate_array(self, X, reset=reset, y=y)

    def _resolved_input_shape(self, n_features):
        shape = tuple(int(s) for s in self._input_shape(n_features))
        if int(np.prod(shape)) != n_features:
            raise ValueError(
                f"input_shape={tuple(shape)} holds {int(np.prod(shape))} values but X has {n_features} features; "
                "give input_shape whose product equals n_features (X is flat, one row per sample)."
            )
        return shape

    # ---------------------------------------------------------------- devices
    def _net_for(self, device):
        """The fitted network with its parameters on ``device`` (cached copy)."""
        if device == self._device:
            return self.net_
        cache = self.__dict__.setdefault("_device_cache", {})
        if device not in cache:
            cache[device] = self.net_.to(device)
        return cache[device]

    def _compute_device(self, X):
        return resolve_device(self.device, X)

    # ------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array (flat rows; see ``input_shape``).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : object
        """
        self._validate_params()
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """Train for one epoch over ``X``, keeping the current weights.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All class labels; required on the first call.

        Returns
        -------
        self : object
        """
        if not hasattr(self, "net_"):
            self._validate_params()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X, y, incremental, classes=None):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        first = not hasattr(self, "net_") or not (self.warm_start or incremental)
        X, y = self._check_X(X, reset=first, y=y)
        check_classification_targets(y)
        if first:
            self.classes_ = unique_labels(y) if classes is None else np.asarray(unique_labels(classes))
            if classes is None and len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data; "
                    f"got 1 class: {self.classes_[0]!r}."
                )
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise ValueError(f"y contains labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}.")
        device = self._compute_device(X)
        X = to_device(X, device)
        xp = get_namespace(X)
        n_classes = len(self.classes_)
        if first:
            self._rng = check_random_state(self.random_state)
            self.input_shape_ = self._resolved_input_shape(X.shape[1])
            net = Sequential(self._build_layers(self.input_shape_))
            n_out = 1 if n_classes == 2 else n_classes
            last = net.layers[-1] if net.layers else None
            if not net.layers or getattr(last, "units", getattr(last, "filters", None)) != n_out:
                net.layers.append(Dense(n_out))
            net.build(self.input_shape_, self._rng, X.dtype)
            self.net_ = net.to(device)
            self._device = device
            self._device_cache = {}
            self.history_ = {"loss": [], "val_loss": [], "val_score": []}
            self.n_iter_ = 0
            self._optimizer = None
            self._best_loss = np.inf
            self._no_improve = 0
            self.input_bounds_ = (float(X.min()), float(X.max()))
        elif device != self._device:
            self.net_ = self.net_.to(device)
            self._device = device
            self._device_cache = {}
            self._optimizer = None
        else:
            self._device_cache = {}
        if self.net_.dtype is not None:
            X = X.astype(self.net_.dtype, copy=False)
        X = X.reshape((-1,) + self.input_shape_)
        # targets on the device: indices -> one-hot (or 0/1 column for binary)
        y_idx = np.searchsorted(self.classes_, y)
        Y = self._encode(to_device(y_idx, device), xp, X.dtype)
        if self._optimizer is None:
            if self.solver == "adam":
                self._optimizer = OPTIMIZERS["adam"](self.learning_rate_init)
            else:
                self._optimizer = OPTIMIZERS["sgd"](self.learning_rate_init, momentum=self.momentum)
        if incremental:
            self._run_epochs(X, Y, y_idx, 1, early_stopping=False)
        else:
            self._run_epochs(X, Y, y_idx, self.max_iter, early_stopping=self.early_stopping)
        return self

    def _encode(self, y_idx, xp, dtype):
        if len(self.classes_) == 2:
            return y_idx.astype(dtype)[:, None]
        return (y_idx[:, None] == xp.arange(len(self.classes_))).astype(dtype)

    def _loss(self, z, Y):
        if z.shape[1] == 1:
            return _sigmoid_cross_entropy(z, Y)
        return softmax_cross_entropy(z, Y)

    def _run_epochs(self, X, Y, y_idx, n_epochs, early_stopping):
        xp = get_namespace(X)
        n = X.shape[0]
        rng = self._rng
        if early_stopping:
            stratify = y_idx if np.min(np.bincount(y_idx)) >= 2 else None
            tr, va = train_test_split(
                np.arange(n), test_size=self.validation_fraction, random_state=rng, stratify=stratify
            )
            tr_d, va_d = to_device(tr, self._device), to_device(va, self._device)
            X_val, Y_val, yv = X[va_d], Y[va_d], to_device(y_idx[va], self._device)
            X, Y = X[tr_d], Y[tr_d]
            n = X.shape[0]
            best_score, best_params = -np.inf, None
        batch = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        layers = self.net_.layers
        epochs = range(n_epochs)
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(epochs, desc=type(self).__name__, unit="epoch")
            epochs = bar
        converged = False
        for _ in epochs:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            order = to_device(order, self._device)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                xb, yb = X[idx], Y[idx]
                out, caches = self.net_.forward(xb, training=True, rng=rng)
                loss, grad = self._loss(out, yb)
                _, grads = self.net_.backward(grad, caches, need_input_grad=False)
                self._optimizer.step(layers, grads, self.weight_decay)
                total = total + loss * xb.shape[0]
            epoch_loss = float(total) / n  # one device sync per epoch
            self.n_iter_ += 1
            self.history_["loss"].append(epoch_loss)
            if early_stopping:
                zv = self.net_.predict(X_val)
                vloss, _ = self._loss(zv, Y_val)
                pred = (zv[:, 0] > 0).astype(yv.dtype) if zv.shape[1] == 1 else xp.argmax(zv, axis=1)
                score = float((pred == yv).mean())
                self.history_["val_loss"].append(float(vloss))
                self.history_["val_score"].append(score)
                if score > best_score + self.tol:
                    best_score, self._no_improve = score, 0
                    best_params = [{k: v.copy() for k, v in layer.params.items()} for layer in layers]
                else:
                    self._no_improve += 1
            else:
                if epoch_loss > self._best_loss - self.tol:
                    self._no_improve += 1
                else:
                    self._no_improve = 0
                self._best_loss = min(self._best_loss, epoch_loss)
            if bar is not None:
                post = {"loss": f"{epoch_loss:.4f}"}
                if early_stopping:
                    post["val_acc"] = f"{score:.4f}"
                bar.set_postfix(post)
            if self._no_improve > self.n_iter_no_change:
                converged = True
                break
        if bar is not None:
            bar.close()
        if early_stopping and best_params is not None:
            for layer, params in zip(layers, best_params):
                layer.params.update(params)
            self.best_validation_score_ = best_score
        self.loss_ = self.history_["loss"][-1]
        if not converged and n_epochs > 1:
            warnings.warn(
                f"{type(self).__name__}: maximum iterations ({n_epochs}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
            )

    # ----------------------------------------------------------- prediction
    def _forward_chunks(self, X, fn):
        """Apply ``fn(net, chunk)`` over chunks of X on the compute device."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        in_gpu = is_gpu_array(X)
        device = self._compute_device(X)
        net = self._net_for(device)
        Xd = to_device(X, device)
        Xd = Xd.astype(net.dtype or Xd.dtype, copy=False)
        xp = get_namespace(Xd)
        shape = (-1,) + self.input_shape_
        outs = [fn(net, Xd[s : s + self._chunk_size].reshape(shape), s) for s in range(0, Xd.shape[0], self._chunk_size)]
        out = outs[0] if len(outs) == 1 else xp.concatenate(outs, axis=0)
        return out, in_gpu

    def _return(self, arr, in_gpu):
        # results follow X's array type, also when ``device`` moved the work elsewhere
        return to_device(arr, "cuda") if in_gpu else to_host(arr)

    def decision_function(self, X):
        """Raw (pre-softmax) class scores.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        scores : array of shape (n_samples, n_classes), or (n_samples,) for
            two classes (the score of ``classes_[1]``), in X's array type.
        """
        z, in_gpu = self._forward_chunks(X, lambda net, x, s: net.predict(x))
        if z.shape[1] == 1:
            z = z[:, 0]
        return self._return(z, in_gpu)

    def predict_proba(self, X):
        """Class probabilities (softmax of the raw scores; logistic for two classes).

        Returns
        -------
        proba : array of shape (n_samples, n_classes), in X's array type.
        """
        z, in_gpu = self._forward_chunks(X, lambda net, x, s: net.predict(x))
        xp = get_namespace(z)
        if z.shape[1] == 1:
            p1 = 1.0 / (1.0 + xp.exp(-z))
            p = xp.concatenate([1 - p1, p1], axis=1)
        else:
            p = softmax(z)
        return self._return(p, in_gpu)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        p = self.predict_proba(X)
        return get_namespace(p).log(p)

    def predict(self, X):
        """Predicted class labels (a NumPy array of ``classes_`` entries)."""
        z, _ = self._forward_chunks(X, lambda net, x, s: net.predict(x))
        idx = (z[:, 0] > 0).astype(np.int64) if z.shape[1] == 1 else get_namespace(z).argmax(z, axis=1)
        return self.classes_[to_host(idx)]

    # ------------------------------------------------------------ explanation
    def get_composite(self):
        """The composite used by ``explain``, resolved from the parameters.

        Returns
        -------
        Composite
        """
        bounds = self.input_bounds
        if bounds is None:
            bounds = getattr(self, "input_bounds_", None)
        return get_composite(
            self.composite,
            epsilon=self.epsilon,
            gamma=self.gamma,
            alpha=self.alpha,
            beta=self.beta,
            input_bounds=bounds,
        )

    def _target_seed(self, target, n, gradient=False):
        """Resolve ``target`` on the host.

        Returns ``(seed, explicit)``: class indices (or None for the predicted
        class) and False, or an explicit output seed of shape
        ``(n, n_outputs)`` and True.
        """
        idx, t = resolve_target(self.classes_, target, n)
        if t is None:
            return idx, False
        if len(self.classes_) == 2:
            # the one output f carries both class scores (f for classes_[1], -f for
            # classes_[0]): relevance on either score flows back to f whole (LRP),
            # while a gradient of the class scores becomes g1 - g0 on f
            return (t[:, 1:2] - t[:, 0:1] if gradient else t[:, 1:2] + t[:, 0:1]), True
        return t, True

    def explain(self, X, target=None, method=None):
        """Relevance of every input feature for the target class score.

        LRP starts from the raw (pre-softmax) score of the target class, zero
        for the other classes, and propagates it back with the rules of
        ``composite``.  Gradient methods take the gradient of that score.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array.
        target : None, label, array-like of labels, or array of shape (n_samples, n_classes)
            ``None`` explains the predicted class; a label (from
            ``classes_``) explains that class for all samples; one label per
            sample explains each sample's own; a 2-D array is taken as the
            output relevance itself (LRP) or the output gradient (gradient
            methods).
        method : str, default=None
            Overrides the ``method`` parameter for this call: ``"lrp"``,
            ``"sensitivity"`` (squared gradient), ``"gradient"``,
            ``"gradient_x_input"``, ``"deconvnet"`` or ``"guided_backprop"``.

        Returns
        -------
        R : array of shape (n_samples, n_features)
            In X's array type (NumPy in, NumPy out; CuPy in, CuPy out).

        Notes
        -----
        For two classes the network has one output ``f`` (the score of
        ``classes_[1]``); the score of ``classes_[0]`` is ``-f``.  A 2-D
        target ``(n_samples, 2)`` then starts LRP from ``R_0 + R_1`` on ``f``
        (relevance on either score flows back to ``f`` whole) and gradient
        methods from ``g_1 - g_0``.
        """
        check_is_fitted(self)
        method = self.method if method is None else method
        if method not in METHODS:
            raise ValueError(f"Unknown explanation method {method!r}; expected one of {list(METHODS)}.")
        composite = self.get_composite() if method == "lrp" else None
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        binary = len(self.classes_) == 2
        seed, explicit = self._target_seed(target, n, gradient=method != "lrp")

        def run(net, x, start):
            xp = get_namespace(x)
            device = array_device(x)
            out, caches = net.forward(x)
            stop = start + x.shape[0]
            if explicit:
                s = to_device(seed[start:stop].astype(x.dtype), device)
            else:
                if seed is None:
                    idx = (out[:, 0] > 0).astype(xp.int64) if binary else xp.argmax(out, axis=1)
                else:
                    idx = to_device(seed[start:stop], device)
                if binary:
                    s = (2 * idx.astype(x.dtype) - 1)[:, None]
                else:
                    s = (idx[:, None] == xp.arange(out.shape[1])).astype(x.dtype)
            return net.explain_from(x, out, caches, s, method, composite, scale_by_output=not explicit)

        R, in_gpu = self._forward_chunks(X, run)
        R = R.reshape(R.shape[0], -1)
        return self._return(R, in_gpu)

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_device_cache", None)
        if "net_" in state:
            state["net_"] = state["net_"].to("cpu")
            state["_device"] = "cpu"
        opt = state.pop("_optimizer", None)
        if opt is not None and getattr(self, "_device", "cpu") != "cpu":
            opt = None  # optimizer state lives on the GPU; restart it after unpickling
        state["_optimizer"] = opt
        return state

    def save(self, path):
        """Save the fitted model to ``path`` (``.npz``) without pickle.

        The file holds the parameters as arrays and the configuration as a
        JSON string; :func:`sklrp.load_model` (or ``Class.load``) reads it with
        ``allow_pickle=False``.

        Parameters
        ----------
        path : str or path-like
        """
        from ._io import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path):
        """Load a model saved with :meth:`save` (no unpickling).

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        estimator : fitted instance of ``cls``
        """
        from ._io import load_model

        est = load_model(path)
        if not isinstance(est, cls):
            raise ValueError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}.")
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


class DenseNetClassifier(BaseNetClassifier):
    """Multi-layer perceptron classifier with LRP explanations.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Units of the hidden dense layers.
    activation : {"relu", "tanh"}, default="relu"
    dropout : float, default=0.0
        Dropout rate after each hidden layer (training only).
    solver : {"adam", "sgd"}, default="adam"
    learning_rate_init : float, default=1e-3
    momentum : float, default=0.9
        Nesterov momentum for ``solver="sgd"``.
    weight_decay : float, default=0.0
        L2 penalty on the weights.
    batch_size : int or "auto", default="auto"
        ``"auto"`` is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Minimum improvement of the training loss (or validation accuracy with
        ``early_stopping``) that counts as progress.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its accuracy
        stops improving and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and the validation split
        (all drawn on the host, so CPU and GPU models are identical).
    verbose : bool, default=False
        Show a tqdm progress bar over epochs.
    warm_start : bool, default=False
        Continue from the current weights on the next ``fit``.
    device : {None, "cpu", "cuda"}, default=None
        ``None`` follows X (NumPy: CPU, CuPy: GPU).
    composite : str, Composite, Rule or dict, default="epsilon"
        LRP rules per layer (see :data:`sklrp.rules.COMPOSITES`).
    epsilon : float, default=1e-6
        Stabiliser of the epsilon rule.
    gamma : float, default=0.25
        Parameter of the gamma rule.
    alpha, beta : float, default=2.0, 1.0
        Parameters of the ``"alpha_beta"`` composite (``alpha - beta = 1``).
    input_bounds : tuple (low, high) or None, default=None
        Input bounds for the z^B rule; ``None`` uses the training data's
        range (``input_bounds_``).
    method : str, default="lrp"
        Default explanation method (see :meth:`explain`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    input_shape_ : tuple
    net_ : sklrp.nn.Sequential
        The trained network.
    history_ : dict
        Per-epoch ``"loss"``, and ``"val_loss"`` / ``"val_score"`` with
        early stopping.
    n_iter_ : int
        Epochs run.
    loss_ : float
        Training loss of the last epoch.
    input_bounds_ : tuple of float
        Minimum and maximum of the training data.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklrp import DenseNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> net = DenseNetClassifier(hidden_layer_sizes=(64,), max_iter=20, random_state=0).fit(X / 16, y)
    >>> R = net.explain(X[:5] / 16)          # relevance of each pixel, shape (5, 64)
    """

    _parameter_constraints = {
        **BaseNetClassifier._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="relu",
        dropout=0.0,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        device=None,
        composite="epsilon",
        epsilon=1e-6,
        gamma=0.25,
        alpha=2.0,
        beta=1.0,
        input_bounds=None,
        method="lrp",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
        self.composite = composite
        self.epsilon = epsilon
        self.gamma = gamma
        self.alpha = alpha
        self.beta = beta
        self.input_bounds = input_bounds
        self.method = method

    def _build_layers(self, input_shape):
        sizes = list(self.hidden_layer_sizes)
        if any(not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must hold positive integers; got {self.hidden_layer_sizes!r}.")
        layers = []
        for units in sizes:
            layers += [Dense(units), _ACTIVATIONS[self.activation]()]
            if self.dropout:
                layers.append(Dropout(self.dropout))
        return layers


class ConvNetClassifier(BaseNetClassifier):
    """Convolutional network classifier (1-D signals or 2-D images) with LRP.

    ``X`` stays flat (one row per sample, as scikit-learn expects);
    ``input_shape`` says how a row is laid out: ``(channels, length)`` for
    signals, ``(channels, height, width)`` for images (C order).

    The network is ``[conv -> activation -> pool] * len(filters) -> flatten
    -> [dense -> activation] * len(hidden_layer_sizes) -> dense``.  A pooling
    layer is added only while the feature map is at least ``pool_size``
    long on every axis.  ``layers`` replaces this architecture with any list
    of :mod:`sklrp.nn` layers.

    Parameters
    ----------
    input_shape : tuple of int, default=None
        ``(C, L)`` or ``(C, H, W)``; ``None`` treats each row as a
        one-channel 1-D signal ``(1, n_features)``.
    filters : tuple of int, default=(16, 32)
        Output channels of the convolution blocks.
    kernel_size : int, default=3
    padding : {"same", "valid"}, default="same"
    pool : {"max", "avg", "sum"}, default="max"
    pool_size : int, default=2
    hidden_layer_sizes : tuple of int, default=(64,)
        Dense layers after the convolutions.
    layers : list of sklrp.nn.Layer, default=None
        A custom architecture (templates; copied at fit).  A final dense
        layer with one output per class (one for two classes) is appended
        unless the last layer already has that many outputs.
    activation, dropout, solver, learning_rate_init, momentum, weight_decay, \
batch_size, max_iter, tol, early_stopping, validation_fraction, \
n_iter_no_change, shuffle, random_state, verbose, warm_start, device, \
composite, epsilon, gamma, alpha, beta, input_bounds, method
        As in :class:`DenseNetClassifier` (``composite`` defaults to
        ``"epsilon_plus"`` here).

    Attributes
    ----------
    classes_, n_features_in_, input_shape_, net_, history_, n_iter_, loss_, input_bounds_
        As in :class:`DenseNetClassifier`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklrp import ConvNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> net = ConvNetClassifier(input_shape=(1, 8, 8), max_iter=5, random_state=0).fit(X / 16, y)
    >>> R = net.explain(X[:3] / 16, method="gradient_x_input")
    """

    _parameter_constraints = {
        **BaseNetClassifier._parameter_constraints,
        "input_shape": [tuple, list, None],
        "filters": [tuple, list],
        "kernel_size": [Interval(numbers.Integral, 1, None, closed="left"), tuple, list],
        "padding": [StrOptions({"same", "valid"})],
        "pool": [StrOptions({"max", "avg", "sum"})],
        "pool_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_layer_sizes": [tuple, list],
        "layers": [list, None],
    }

    _chunk_size = 1024

    def __init__(
        self,
        input_shape=None,
        *,
        filters=(16, 32),
        kernel_size=3,
        padding="same",
        pool="max",
        pool_size=2,
        hidden_layer_sizes=(64,),
        layers=None,
        activation="relu",
        dropout=0.0,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        device=None,
        composite="epsilon_plus",
        epsilon=1e-6,
        gamma=0.25,
        alpha=2.0,
        beta=1.0,
        input_bounds=None,
        method="lrp",
    ):
        self.input_shape = input_shape
        self.filters = filters
        self.kernel_size = kernel_size
        self.padding = padding
        self.pool = pool
        self.pool_size = pool_size
        self.hidden_layer_sizes = hidden_layer_sizes
        self.layers = layers
        self.activation = activation
        self.dropout = dropout
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.device = device
        self.composite = composite
        self.epsilon = epsilon
        self.gamma = gamma
        self.alpha = alpha
        self.beta = beta
        self.input_bounds = input_bounds
        self.method = method

    def _input_shape(self, n_features):
        if self.input_shape is None:
            return (1, n_features)
        shape = tuple(self.input_shape)
        if len(shape) not in (2, 3) or any(not isinstance(s, numbers.Integral) or s < 1 for s in shape):
            raise ValueError(
                f"input_shape must be (channels, length) or (channels, height, width) of positive ints; "
                f"got {self.input_shape!r}."
            )
        return shape

    def _build_layers(self, input_shape):
        if self.layers is not None:
            if not all(isinstance(layer, Layer) for layer in self.layers):
                raise ValueError("layers must be a list of sklrp.nn.Layer instances.")
            return [copy.deepcopy(layer) for layer in self.layers]
        nd = len(input_shape) - 1
        conv = Conv1D if nd == 1 else Conv2D
        pools = {
            "max": (MaxPool1D, MaxPool2D),
            "avg": (AvgPool1D, AvgPool2D),
            "sum": (SumPool1D, SumPool2D),
        }[self.pool]
        pool_cls = pools[nd - 1]
        act = _ACTIVATIONS[self.activation]
        layers = []
        spatial = list(input_shape[1:])
        k = self.kernel_size
        ks = [k] * nd if isinstance(k, numbers.Integral) else list(k)
        for f in self.filters:
            if not isinstance(f, numbers.Integral) or f < 1:
                raise ValueError(f"filters must hold positive integers; got {self.filters!r}.")
            layers += [conv(f, self.kernel_size, padding=self.padding), act()]
            if self.padding == "valid":
                spatial = [s - kk + 1 for s, kk in zip(spatial, ks)]
            if self.pool_size > 1 and all(s >= self.pool_size for s in spatial):
                layers.append(pool_cls(self.pool_size))
                spatial = [s // self.pool_size for s in spatial]
            if self.dropout:
                layers.append(Dropout(self.dropout))
        layers.append(Flatten())
        for units in self.hidden_layer_sizes:
            if not isinstance(units, numbers.Integral) or units < 1:
                raise ValueError(f"hidden_layer_sizes must hold positive integers; got {self.hidden_layer_sizes!r}.")
            layers += [Dense(units), act()]
            if self.dropout:
                layers.append(Dropout(self.dropout))
        return layers

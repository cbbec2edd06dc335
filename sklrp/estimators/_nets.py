"""Neural-network classifiers that explain their predictions with LRP.

:class:`DenseNetClassifier` (a multi-layer perceptron) and
:class:`ConvNetClassifier` (1-D signals and 2-D images, flat ``X`` plus
``input_shape``) are thin model families over :class:`BaseNetClassifier`:
each is a builder of its hidden layers (``_architectures``) plus the
validation of its input shape.  Training is the shared ``Trainer``'s
(``_training``), ``explain`` that of :class:`sklrp.base.ExplainMixin`.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from .._backend import array_device, get_namespace, is_gpu_array, to_device, to_host
from .._dask import dask_blocks
from .._validation import check_finite_output, validate_array
from ..base import ExplainMixin
from ..nn import METHODS, OPTIMIZERS, Dense, Sequential, softmax, softmax_cross_entropy
from ..rules import COMPOSITES, Composite, Rule, get_composite
from ._architectures import ACTIVATIONS, conv_stack, copy_layers, dense_stack
from ._io import PersistenceMixin
from ._training import Trainer, predicted_index

__all__ = ["BaseNetClassifier", "DenseNetClassifier", "ConvNetClassifier"]

#: constructor parameters handed to :meth:`Trainer.run` as they are
_TRAINING_PARAMS = (
    "solver",
    "learning_rate_init",
    "momentum",
    "weight_decay",
    "batch_size",
    "shuffle",
    "tol",
    "validation_fraction",
    "n_iter_no_change",
    "verbose",
)


def _sigmoid_cross_entropy(z, y01):
    """Mean logistic loss of one raw score per sample, and its gradient."""
    xp = get_namespace(z)
    # log(1 + exp(-|z|)) + max(z, 0) - y z, stable for large |z|
    loss = (xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0) - y01 * z).sum() / z.shape[0]
    p = 1.0 / (1.0 + xp.exp(-z))
    return loss, (p - y01) / z.shape[0]


class BaseNetClassifier(PersistenceMixin, ExplainMixin, ClassifierMixin, BaseEstimator):
    """Shared fitting, prediction, explanation and persistence of sklrp's networks.

    Not meant to be used directly; see :class:`DenseNetClassifier` and
    :class:`ConvNetClassifier` for the parameters.  A model family
    implements ``_build_layers(input_shape) -> list of layers`` (the hidden
    layers; the output layer is appended by :meth:`_build_net`) and, when
    its rows are not plain feature vectors, ``_input_shape(n_features)``
    (the validated shape of one row).
    """

    _parameter_constraints = {
        "activation": [StrOptions(set(ACTIVATIONS))],
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
        "frozen_layers": [list, tuple, None],
        "device": [StrOptions({"cpu", "cuda"}), None],
        "composite": [StrOptions(set(COMPOSITES)), Composite, Rule, dict],
        "epsilon": [Interval(numbers.Real, 0, None, closed="left")],
        "gamma": [Interval(numbers.Real, 0, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "beta": [Interval(numbers.Real, 0, None, closed="left")],
        "input_bounds": [tuple, list, None],
        "method": [StrOptions(set(METHODS))],
    }

    _explain_methods = METHODS

    # ------------------------------------------------------------------ layers
    def _input_shape(self, n_features):
        return (n_features,)

    def _resolved_input_shape(self, n_features):
        shape = tuple(int(s) for s in self._input_shape(n_features))
        if int(np.prod(shape)) != n_features:
            raise ValueError(
                f"input_shape={shape} holds {int(np.prod(shape))} values but X has {n_features} features; "
                "give input_shape whose product equals n_features (X is flat, one row per sample)."
            )
        return shape

    def _build_net(self, input_shape, n_out, rng, dtype):
        """The family's layers built for ``input_shape``, ending in ``n_out`` outputs.

        ``Dense(n_out)`` is appended unless the built stack already outputs
        ``n_out`` values; the initial weights are those of building the whole
        stack at once with ``rng``.
        """
        layers = self._build_layers(input_shape)
        state = rng.get_state()
        net = Sequential(layers)
        if not layers or net.build(input_shape, rng, dtype) != (n_out,):
            rng.set_state(state)
            net = Sequential(layers + [Dense(n_out)])
            net.build(input_shape, rng, dtype)
        return net

    def _frozen_indices(self, net):
        """Indices of the layers of ``net`` named by ``frozen_layers``."""
        if self.frozen_layers is None:
            return frozenset()
        names = net.layer_names()
        n = len(names)
        frozen, unknown = set(), []
        for ref in self.frozen_layers:
            if isinstance(ref, str) and ref in names:
                frozen.add(names.index(ref))
            elif isinstance(ref, numbers.Integral) and not isinstance(ref, bool) and -n <= ref < n:
                frozen.add(int(ref) % n)
            else:
                unknown.append(ref)
        if unknown:
            raise ValueError(
                f"frozen_layers names unknown layer(s) {unknown}; the network's layers are {names} "
                f"(names, or indices from {-n} to {n - 1})."
            )
        return frozenset(frozen)

    # ------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        With ``warm_start=True`` and a fitted network, training continues
        from the current weights; otherwise the network is built anew.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array (flat rows; see ``input_shape``).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Train for one epoch over ``X``, keeping the current weights.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array (flat rows; see ``input_shape``).
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All class labels; required on the first call, and when given on
            a later call, the same.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if classes is None and not hasattr(self, "net_"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and hasattr(self, "net_"):
            given = np.asarray(unique_labels(classes))
            if not (given.shape == self.classes_.shape and np.all(given == self.classes_)):
                raise ValueError(
                    f"classes={given.tolist()!r} differs from the fitted classes_ {self.classes_.tolist()!r}, "
                    "which the first fit or partial_fit fixed (they are the network's outputs)."
                )
        return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X, y, incremental, classes=None):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        first = not hasattr(self, "net_") or not (self.warm_start or incremental)
        X, y = validate_array(self, X, reset=first, y=y)
        check_classification_targets(y)
        if first:
            self.classes_ = unique_labels(y) if classes is None else np.asarray(unique_labels(classes))
            if len(self.classes_) < 2:
                where = "in the data" if classes is None else "in classes"
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes {where}; "
                    f"got {len(self.classes_)} class{'es' if len(self.classes_) != 1 else ''}: "
                    f"{self.classes_.tolist()!r}."
                )
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise ValueError(f"y contains labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}.")
        device = self._compute_device(X)
        X = to_device(X, device)
        if first:
            rng = check_random_state(self.random_state)
            input_shape = self._resolved_input_shape(X.shape[1])
            n_classes = len(self.classes_)
            net = self._build_net(input_shape, 1 if n_classes == 2 else n_classes, rng, X.dtype).to(device)
            frozen = self._frozen_indices(net)
            self.net_, self.input_shape_, self._trainer = net, input_shape, Trainer(rng)
            self.input_bounds_ = (float(X.min()), float(X.max()))
        else:
            frozen = self._frozen_indices(self.net_)
            if device != self._device:
                self.net_ = self.net_.to(device)
        self._device = device
        self._device_cache = {}
        X = X.astype(self.net_.dtype or X.dtype, copy=False).reshape((-1,) + self._net_input_shape())
        y_idx = np.searchsorted(self.classes_, y)
        with self.net_.threaded_passes(X):
            self._trainer.run(
                self.net_,
                X,
                self._encode(to_device(y_idx, device), X.dtype, self.net_.output_shape[-1]),
                y_idx,
                loss=self._loss,
                epochs=1 if incremental else self.max_iter,
                early_stopping=self.early_stopping and not incremental,
                frozen=frozen,
                name=type(self).__name__,
                max_grad_norm=getattr(self, "max_grad_norm", None),
                groups=self.__dict__.get("_fit_groups"),
                incremental=incremental,
                **{name: getattr(self, name) for name in _TRAINING_PARAMS},
            )
        self._record_training()
        return self

    def _record_training(self):
        """Expose the trainer's counters as fitted attributes."""
        trainer = self._trainer
        self.n_iter_ = trainer.n_iter
        self.history_ = trainer.history
        self.loss_ = trainer.history["loss"][-1] if trainer.history["loss"] else None
        if trainer.best_validation_score is None:
            self.__dict__.pop("best_validation_score_", None)  # left by an earlier fit
        else:
            self.best_validation_score_ = trainer.best_validation_score

    def _encode(self, y_idx, dtype, n_out):
        """Class indices -> targets for the network's ``n_out`` outputs: a 0/1 column for one output (two classes),
        else one-hot (also for two classes read by two outputs, as a loaded toolbox model's)."""
        if n_out == 1:
            return y_idx.astype(dtype)[:, None]
        return (y_idx[:, None] == get_namespace(y_idx).arange(n_out)).astype(dtype)

    def _loss(self, z, Y):
        if z.shape[1] == 1:
            return _sigmoid_cross_entropy(z, Y)
        return softmax_cross_entropy(z, Y)

    # ----------------------------------------------------------- prediction
    def _net_for(self, device):
        """The fitted network with its parameters on ``device`` (cached copy)."""
        if device == self._device:
            return self.net_
        cache = self.__dict__.setdefault("_device_cache", {})
        if device not in cache:
            cache[device] = self.net_.to(device)
        return cache[device]

    def _net_input_shape(self):
        """The shape of one row as the network reads it (a hook): ``input_shape_``."""
        return tuple(self.input_shape_)

    def _net_input(self, X):
        """The network on ``X``'s device and ``X`` in its dtype and input shape."""
        net = self._net_for(array_device(X))
        return net, X.astype(net.dtype or X.dtype, copy=False).reshape((-1,) + self._net_input_shape())

    def _scores_batch(self, X):
        net, x = self._net_input(X)
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, with the cause
            z = net.predict(x)
        self._check_finite(z, x, "scores")
        return z

    def _check_finite(self, out, x, what):
        """Raise if the finite (validated) input ``x`` gave non-finite ``out``: an overflow inside the network."""
        check_finite_output(out, x, owner=type(self).__name__, what=what,
                            cause=f"the network overflows ({x.dtype} arithmetic)")

    def _proba_batch(self, X):
        z = self._scores_batch(X)
        if z.shape[1] == 1:
            xp = get_namespace(z)
            p1 = 1.0 / (1.0 + xp.exp(-z))
            return xp.concatenate([1 - p1, p1], axis=1)
        return softmax(z)

    @dask_blocks
    def decision_function(self, X):
        """Raw (pre-softmax) class scores.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array.

        Returns
        -------
        scores : array of shape (n_samples, n_classes) or (n_samples,)
            In X's array type; for two classes the score of ``classes_[1]``
            (that of ``classes_[0]`` is its negative).
        """
        z = self._map_chunks(self._validate_input(X), self._scores_batch)
        return z[:, 0] if z.shape[1] == 1 else z

    @dask_blocks
    def predict_proba(self, X):
        """Class probabilities (softmax of the raw scores; logistic for two classes).

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array.

        Returns
        -------
        proba : array of shape (n_samples, n_classes)
            In X's array type.
        """
        return self._map_chunks(self._validate_input(X), self._proba_batch)

    @dask_blocks
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array.

        Returns
        -------
        log_proba : array of shape (n_samples, n_classes)
            In X's array type.
        """
        X = self._validate_input(X)
        z = self._map_chunks(X, self._scores_batch)
        xp = get_namespace(z)
        if z.shape[1] == 1:  # two classes: log sigmoid(-z), log sigmoid(z)
            z = xp.concatenate([xp.zeros_like(z), z], axis=1)
        # log-softmax from the scores: finite where exp would round a probability to 0
        with np.errstate(over="ignore"):
            shifted = z - z.max(axis=1, keepdims=True)
            out = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        # scores that span more than the float range (e.g. -1e308 and 1e308): the log probability of the
        # lowest is below -1.8e308 and cannot be represented
        return check_finite_output(out, X, owner=type(self).__name__, what="log probabilities",
                                   cause="the scores span more than the float range")

    @dask_blocks
    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Entries of ``classes_`` (a NumPy array).
        """
        z = self._map_chunks(self._validate_input(X), self._scores_batch)
        return self.classes_[to_host(predicted_index(z))]

    # ------------------------------------------------------------ explanation
    def get_composite(self):
        """The composite used by ``explain``, resolved from the parameters.

        Returns
        -------
        composite : Composite
            Built from ``composite``, ``epsilon``, ``gamma``, ``alpha``,
            ``beta`` and ``input_bounds`` (``input_bounds_`` when None).
        """
        bounds = self.input_bounds
        if bounds is None:
            bounds = getattr(self, "input_bounds_", None)
        else:
            bounds = self._checked_bounds(bounds)
        return get_composite(
            self.composite,
            epsilon=self.epsilon,
            gamma=self.gamma,
            alpha=self.alpha,
            beta=self.beta,
            input_bounds=bounds,
        )

    def _checked_bounds(self, bounds):
        """``input_bounds`` as ``(low, high)`` floats or arrays of the network's input shape, or a clear error."""
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise ValueError(f"input_bounds must be a pair (low, high); got {bounds!r}.")
        shape = tuple(getattr(self, "input_shape_", ()))
        out = []
        for name, b in zip(("low", "high"), bounds):
            try:
                arr = np.asarray(b, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"input_bounds: {name} must be a number or an array of numbers; got {b!r}.") from None
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"input_bounds: {name} must be finite; got {b!r}.")
            if arr.ndim:
                size = int(np.prod(shape)) if shape else arr.size
                if arr.size != size:
                    raise ValueError(
                        f"input_bounds: {name} has {arr.size} values; expected one number, or one value per "
                        f"input feature ({size}, in the flat layout of X or as {shape})."
                    )
                arr = arr.reshape(shape) if shape else arr
            out.append(float(arr) if arr.ndim == 0 else arr)
        if np.any(np.asarray(out[0]) > np.asarray(out[1])):
            raise ValueError("input_bounds: low must not exceed high.")
        return tuple(out)

    @dask_blocks
    def explain(self, X, target=None, method=None):
        """Relevance of every input feature for the target class score.

        LRP starts from the raw (pre-softmax) score of the target class, zero
        for the other classes, and propagates it back with the rules of
        ``composite``.  Gradient methods take the gradient of that score.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
            NumPy or CuPy array.
        target : None, label, array-like of labels, or array of shape (n_samples, n_classes), default=None
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
        return super().explain(X, target=target, method=method)

    def _explain_context(self, method):
        return self.get_composite() if method == "lrp" else None

    def _explain_batch(self, X, target_index, target_relevance, *, method, context):
        net, x = self._net_input(X)
        device = array_device(x)
        with np.errstate(over="ignore", invalid="ignore"):
            out, caches = net.forward(x)
        self._check_finite(out, x, "scores")
        binary = out.shape[1] == 1
        if target_relevance is not None:
            seed = target_relevance
            if binary:
                # the one output f carries both class scores (f for classes_[1], -f for
                # classes_[0]): relevance on either score flows back to f whole (LRP),
                # while a gradient of the class scores becomes g1 - g0 on f
                seed = seed[:, 1:2] + seed[:, 0:1] if method == "lrp" else seed[:, 1:2] - seed[:, 0:1]
            seed = to_device(seed.astype(x.dtype), device)
        else:
            idx = predicted_index(out) if target_index is None else to_device(target_index, device)
            if binary:
                seed = (2 * idx.astype(x.dtype) - 1)[:, None]
            else:
                seed = (idx[:, None] == get_namespace(x).arange(out.shape[1])).astype(x.dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported below, with the cause
            # the caches are not used again (but for each layer's "relevance_rest"): released as the pass goes
            R = net.explain_from(x, out, caches, seed, method, context, scale_by_output=target_relevance is None,
                                 release=True)
        self._check_finite(R, x, "explanations")
        return self._explanation_rows(R.reshape(R.shape[0], -1), caches)

    def _explanation_rows(self, R, caches):
        """One chunk's explanation rows from the flat relevance and the forward caches (a hook)."""
        return R

    #: on the CPU, the largest activation of one pass (samples x the largest layer output) is kept near this
    #: many bytes (None: no bound): new temporaries of hundreds of MB cost more in fresh memory pages than in
    #: arithmetic (2-core CPU: explaining 4,096 MNIST-shaped samples with the CNN took 5.5 s in passes of
    #: 1,024 samples (100 MB activations), 3.6 s in passes of 256; EEG trials: 3.1 s in one pass of 512,
    #: 0.95 s in passes of 81)
    _chunk_bytes = 32 << 20

    def _chunk_step(self, X):
        """Samples per pass over ``X``: ``_chunk_size``, fewer on the CPU for networks with large activations."""
        step = self._chunk_size
        net = self.__dict__.get("net_")
        if self._chunk_bytes is None or net is None or is_gpu_array(X):
            return step
        sizes = [int(np.prod(shape)) for shape in (getattr(layer, "output_shape", None) for layer in net.layers)
                 if shape]
        if not sizes:
            return step
        per_sample = max(sizes) * np.dtype(net.dtype or np.float64).itemsize
        return max(1, min(step, self._chunk_bytes // per_sample))

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_device_cache", None)
        if "net_" in state:
            state["net_"] = state["net_"].to("cpu")
            state["_device"] = "cpu"
        return state

    def _get_fitted_state(self):
        """The fitted state, for :func:`sklrp.estimators.save_model`.

        Returns
        -------
        config : dict
            JSON-serialisable: the layers (``net_.get_config()``),
            ``input_shape_``, ``input_bounds_``, ``n_iter_``, ``history_``
            and, after early stopping, ``best_validation_score_``.
        arrays : dict of str to ndarray
            Host arrays: ``classes_``, ``feature_names_in_`` when set, and
            the parameters as ``"net_.<layer index>.<name>"``.
        """
        check_is_fitted(self)
        config = {
            "layers": self.net_.get_config(),
            "input_shape_": list(self.input_shape_),
            "input_bounds_": list(self.input_bounds_),
            "n_iter_": int(self.n_iter_),
            "history_": self.history_,
        }
        if hasattr(self, "best_validation_score_"):
            config["best_validation_score_"] = float(self.best_validation_score_)
        arrays = {f"net_.{k}": v for k, v in self.net_.get_arrays().items()}
        arrays["classes_"] = np.asarray(self.classes_)
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in_"] = np.asarray(self.feature_names_in_)
        return config, arrays

    def _set_fitted_state(self, config, arrays):
        """Restore the state returned by :meth:`_get_fitted_state`.

        Parameters
        ----------
        config : dict
            ``layers``, ``input_shape_`` and ``input_bounds_``; optionally
            ``n_iter_``, ``history_`` and ``best_validation_score_``.
        arrays : dict of str to ndarray
            ``classes_``, the ``"net_.*"`` parameters and optionally
            ``feature_names_in_``.

        Returns
        -------
        self : object
            The estimator, fitted on the host.
        """
        input_shape = tuple(int(s) for s in config["input_shape_"])
        params = {k[len("net_.") :]: v for k, v in arrays.items() if k.startswith("net_.")}
        self.net_ = Sequential.from_config(config["layers"], params, input_shape)
        self.classes_ = np.asarray(arrays["classes_"])
        self.input_shape_ = input_shape
        self.n_features_in_ = int(np.prod(input_shape))
        if "feature_names_in_" in arrays:
            self.feature_names_in_ = np.asarray(arrays["feature_names_in_"], dtype=object)
        self.input_bounds_ = tuple(float(b) for b in config["input_bounds_"])
        self._trainer = Trainer(self.random_state, history=config.get("history_"), n_iter=config.get("n_iter_", 0))
        if "best_validation_score_" in config:
            self._trainer.best_validation_score = float(config["best_validation_score_"])
        self._record_training()
        self._device = "cpu"
        self._device_cache = {}
        return self

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
        Activation after each hidden layer.
    dropout : float, default=0.0
        Dropout rate after each hidden layer (training only).
    solver : {"adam", "sgd"}, default="adam"
        Optimiser of the mini-batch training.
    learning_rate_init : float, default=1e-3
        Learning rate.
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
        stops improving by more than ``tol`` and keep the weights of its best
        accuracy.  The split is stratified by class when every class has two
        or more samples and both sides can hold every class.
    validation_fraction : float, default=0.1
        Fraction of the training data held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` before training stops.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and the validation split
        (all drawn on the host, so CPU and GPU models are identical).
    verbose : bool, default=False
        Show a tqdm progress bar over epochs.
    warm_start : bool, default=False
        Continue from the current weights on the next ``fit``.  As in
        scikit-learn's ``MLPClassifier``, every ``fit`` makes a new optimiser
        from ``solver``, ``learning_rate_init`` and ``momentum`` (so changed
        settings apply); ``partial_fit`` keeps the optimiser's state.
    frozen_layers : list of str or int, default=None
        Layers of ``net_`` whose parameters ``fit`` and ``partial_fit``
        leave unchanged: names from ``net_.layer_names()`` (e.g.
        ``"dense_0"``, or a layer's own ``name``) or indices.  With
        ``warm_start=True`` (or ``partial_fit``) this fine-tunes the other
        layers of a fitted network (transfer learning).  Unknown layers
        raise a ``ValueError`` at fit.
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
        Input bounds for the z^B rule: numbers, or arrays with one value per
        input feature (flat, as the columns of ``X``, or in
        ``input_shape``); ``None`` uses the training data's range
        (``input_bounds_``).
    method : str, default="lrp"
        Default explanation method (see :meth:`explain`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` had string column names.
    input_shape_ : tuple
        Shape of one row as the network sees it.
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
    best_validation_score_ : float
        Best validation accuracy, after a fit with ``early_stopping``.

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
        frozen_layers=None,
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
        self.frozen_layers = frozen_layers
        self.device = device
        self.composite = composite
        self.epsilon = epsilon
        self.gamma = gamma
        self.alpha = alpha
        self.beta = beta
        self.input_bounds = input_bounds
        self.method = method

    def _build_layers(self, input_shape):
        return dense_stack(self.hidden_layer_sizes, self.activation, self.dropout)


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
    kernel_size : int or tuple of int, default=3
        Kernel size of the convolutions.
    padding : {"same", "valid"}, default="same"
        Padding of the convolutions.
    pool : {"max", "avg", "sum"}, default="max"
        Pooling after each convolution.
    pool_size : int, default=2
        Pooling window and stride.
    hidden_layer_sizes : tuple of int, default=(64,)
        Dense layers after the convolutions.
    layers : list of sklrp.nn.Layer, default=None
        A custom architecture (templates; copied at fit).  A final dense
        layer with one output per class (one for two classes) is appended
        unless the stack, built for ``input_shape``, already outputs a vector
        of that many values.
    activation, dropout, solver, learning_rate_init, momentum, weight_decay, \
batch_size, max_iter, tol, early_stopping, validation_fraction, \
n_iter_no_change, shuffle, random_state, verbose, warm_start, frozen_layers, device, \
composite, epsilon, gamma, alpha, beta, input_bounds, method
        As in :class:`DenseNetClassifier` (``composite`` defaults to
        ``"epsilon_plus"`` here).

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, input_shape_, net_, history_, n_iter_, loss_, \
input_bounds_, best_validation_score_
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
        frozen_layers=None,
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
        self.frozen_layers = frozen_layers
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
            return copy_layers(self.layers)
        return conv_stack(
            input_shape,
            self.filters,
            kernel_size=self.kernel_size,
            padding=self.padding,
            pool=self.pool,
            pool_size=self.pool_size,
            hidden_layer_sizes=self.hidden_layer_sizes,
            activation=self.activation,
            dropout=self.dropout,
        )

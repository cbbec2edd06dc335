"""Single-trial EEG classifiers explained as channel x time heatmaps (Sturm et al. 2016).

:class:`EEGDNNClassifier` takes the 3-D arrays of MNE's decoding estimators,
``(n_trials, n_channels, n_times)`` (or flat rows with ``input_shape``), and
returns relevance of the same shape.  Two LRP-explainable architectures: the
paper's fully connected net on channels x time (``"dnn"``) and a shallow
convolutional net (``"shallow"``: temporal convolution, spatial convolution
across channels, ReLU, average pooling over time, dense).
"""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._backend import get_namespace, to_host
from .._dask import dask_blocks
from .._validation import validate_array
from ..nn import AvgPool2D, Conv2D, Dropout, Flatten, Log, ReLU, Reshape, Square
from ._architectures import _positive_ints, dense_stack
from ._nets import BaseNetClassifier
from ._training import predicted_index

__all__ = ["EEGDNNClassifier"]

ARCHITECTURES = ("dnn", "shallow")


class EEGDNNClassifier(BaseNetClassifier):
    """Deep net for single-trial EEG, explained per channel and time point with LRP.

    Sturm, Lapuschkin, Samek and Müller (2016) classify single motor-imagery
    trials with a neural network and explain each decision with LRP as a
    channel x time heatmap.  ``X`` is what MNE's decoding tools take and
    give, ``(n_trials, n_channels, n_times)`` (e.g. ``epochs.get_data()``
    after ``mne.decoding.Scaler``); :meth:`explain` returns the relevance of
    every channel and time point in that shape.

    Parameters
    ----------
    architecture : {"shallow", "dnn"}, default="shallow"
        ``"dnn"``: flatten -> ``hidden_layer_sizes`` dense layers with ReLU
        (and ``dropout``) -> dense, the paper's fully connected net on
        channels x time.  ``"shallow"``: a temporal convolution
        (``n_temporal_filters`` filters of ``temporal_kernel`` samples,
        "same" padding) -> a spatial convolution across all channels
        (``n_spatial_filters``) -> ReLU -> average pooling over time
        (``pool_size`` samples, stride ``pool_stride``; skipped for trials
        shorter than the window) -> dropout -> dense; a band-power detector
        in the spirit of Schirrmeister et al.'s shallow ConvNet, with ReLU
        and average pooling (instead of squaring and a logarithm) so that
        every layer has an LRP rule.
    activation : {"relu", "square"}, default="relu"
        Non-linearity of ``"shallow"`` after the spatial convolution.
        ``"square"``: square -> average pooling -> logarithm, the log band
        power of each spatially filtered signal (CSP's feature, as in the
        shallow ConvNet of Schirrmeister et al.), which LRP explains with
        element-wise pass-through rules; the relevance then follows the
        filtered signal's power over time.  ``"relu"``: ReLU -> average
        pooling (rectified amplitude).
    input_shape : tuple (n_channels, n_times) or None, default=None
        Layout of flat 2-D rows; one entry may be -1 (inferred).  ``None``:
        ``X`` must be 3-D.
    hidden_layer_sizes : tuple of int, default=(100,)
        Dense layers of ``"dnn"``.
    n_temporal_filters, n_spatial_filters : int, default=20, 20
        Filters of the ``"shallow"`` convolutions.
    temporal_kernel : int, default=25
        Length of the temporal filters in samples (156 ms at 160 Hz).
    pool_size, pool_stride : int, default=75, 15
        Average-pooling window and stride over time, in samples.
    dropout : float, default=0.5
        Dropout rate before the output layer (and after each ``"dnn"``
        hidden layer).
    crop_size : int or None, default=None
        Cropped training (Schirrmeister et al. 2017), for data sets of few
        trials: the network sees windows of ``crop_size`` samples, every
        ``crop_stride`` samples inside each trial (the last one ending with
        the trial), each labelled with its trial's class; a trial's class
        scores are the mean of its crops' scores, and its relevance the mean
        of the crops' relevance, each in its place in the trial (the mean is
        linear, so LRP through it is exact).  With ``early_stopping``, the
        validation set holds out whole trials (all crops of a trial on one
        side), stratified by class.  ``None`` (or the trial's length): whole
        trials.
    crop_stride : int or None, default=None
        Samples between crop starts; ``None``: ``crop_size // 4``.
    solver, learning_rate_init, momentum, weight_decay, batch_size, max_iter, \
tol, early_stopping, validation_fraction, n_iter_no_change, shuffle, \
random_state, verbose, warm_start, frozen_layers, device
        As in :class:`~sklrp.DenseNetClassifier`, except ``batch_size=32``
        (EEG data sets hold tens to hundreds of trials: small batches give
        many updates per epoch; ``"auto"`` would train on one batch of up
        to 200) and ``max_iter=100``.
        ``frozen_layers`` take names of ``net_.layer_names()``, e.g.
        ``["conv2d_0", "conv2d_1"]`` to fine-tune only the output layer on a
        new subject (subject-to-subject transfer, with ``warm_start=True``).
    composite : str, Composite, Rule or dict, default="epsilon"
        LRP rules.  The input and the convolutions' outputs are signed EEG,
        so the epsilon rule is the default (z+ assumes non-negative inputs).
    epsilon, gamma, alpha, beta, input_bounds, method
        As in :class:`~sklrp.DenseNetClassifier`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        ``n_channels * n_times``.
    input_shape_ : tuple
        ``(n_channels, n_times)``.
    crop_starts_ : ndarray of int or None
        The first sample of every crop of a trial; None without cropping.
    crop_size_ : int or None
        The length of the crops the network was built for.
    net_, history_, n_iter_, loss_, input_bounds_, best_validation_score_
        As in :class:`~sklrp.DenseNetClassifier`.

    See Also
    --------
    sklrp.eeg.load_eegbci : Motor-imagery epochs through MNE.
    sklrp.eeg.relevance_to_evoked : Relevance as ``mne.Evoked`` for topomaps.

    References
    ----------
    Sturm, Lapuschkin, Samek and Müller, "Interpretable deep neural networks
    for single-trial EEG classification", J. Neurosci. Methods 274, 2016.

    Schirrmeister et al., "Deep learning with convolutional neural networks
    for EEG decoding and visualization", Hum. Brain Mapp. 38(11), 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp import EEGDNNClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(40, 8, 64))            # 40 trials, 8 channels, 64 samples
    >>> y = np.repeat([0, 1], 20)
    >>> X[y == 1, 2] *= 3                            # class 1: more power on channel 2
    >>> clf = EEGDNNClassifier(temporal_kernel=9, pool_size=16, pool_stride=8, max_iter=30,
    ...                        random_state=0).fit(X, y)
    >>> R = clf.explain(X[:3])
    >>> R.shape
    (3, 8, 64)
    """

    #: a fitted state may hold crops (``crop_starts_``, ``trial_times_``); the model files check it
    _fits_crops = True

    _parameter_constraints = {
        **BaseNetClassifier._parameter_constraints,
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "input_shape": [tuple, list, None],
        "hidden_layer_sizes": [tuple, list],
        "n_temporal_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_spatial_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "temporal_kernel": [Interval(numbers.Integral, 1, None, closed="left")],
        "pool_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "pool_stride": [Interval(numbers.Integral, 1, None, closed="left")],
        "crop_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "crop_stride": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }
    _parameter_constraints["activation"] = [StrOptions({"relu", "square"})]

    _chunk_size = 1024
    #: the largest activation of one pass about 64 MB (a shallow network's first convolution holds 20
    #: copies of the trial, 0.8 MB per trial at 64 x 161): passes over chunks of 81 trials measured 0.95 s
    #: for 512 trials, 1.15 s over chunks of 32, 3.1 s in one pass (2-core CPU)
    _chunk_bytes = 64 << 20

    def __init__(
        self,
        architecture="shallow",
        *,
        activation="relu",
        input_shape=None,
        hidden_layer_sizes=(100,),
        n_temporal_filters=20,
        n_spatial_filters=20,
        temporal_kernel=25,
        pool_size=75,
        pool_stride=15,
        dropout=0.5,
        crop_size=None,
        crop_stride=None,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        batch_size=32,
        max_iter=100,
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
        self.architecture = architecture
        self.activation = activation
        self.input_shape = input_shape
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_temporal_filters = n_temporal_filters
        self.n_spatial_filters = n_spatial_filters
        self.temporal_kernel = temporal_kernel
        self.pool_size = pool_size
        self.pool_stride = pool_stride
        self.dropout = dropout
        self.crop_size = crop_size
        self.crop_stride = crop_stride
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

    # ---------------------------------------------------------------- input
    def _trial_shape(self, n_features):
        """``(n_channels, n_times)`` of a flat row of ``n_features`` values, from ``input_shape``."""
        shape = self.input_shape
        if shape is None:
            raise ValueError(
                f"{type(self).__name__} got a 2-D X with {n_features} features per row; give 3-D X of shape "
                "(n_trials, n_channels, n_times) as from epochs.get_data(), or set input_shape=(n_channels, "
                "n_times) for flat rows."
            )
        shape = tuple(shape)
        if len(shape) != 2 or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or (s < 1 and s != -1) for s in shape
        ) or shape.count(-1) > 1:
            raise ValueError(
                f"input_shape must be (n_channels, n_times) of positive ints, one of which may be -1; got "
                f"{self.input_shape!r}."
            )
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1]))
            if n_features % known:
                raise ValueError(f"input_shape={shape} does not divide the {n_features} features of a row.")
            shape = tuple(n_features // known if s == -1 else s for s in shape)
        return tuple(int(s) for s in shape)

    def _as_rows(self, X):
        """``(X_2d, trial_shape or None)``: 3-D input flattened, flat input as it is."""
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            X = np.asarray(X)
            ndim = X.ndim
        if ndim == 3:
            if X.shape[0] < 1:
                raise ValueError(f"Found array with 0 trial(s) (shape={X.shape}) while a minimum of 1 is required.")
            if self.input_shape is not None and any(
                    want not in (-1, got) for want, got in zip(tuple(self.input_shape), X.shape[1:])):
                raise ValueError(
                    f"X has trials of shape {tuple(X.shape[1:])} but input_shape={tuple(self.input_shape)}."
                )
            return X.reshape(X.shape[0], -1), tuple(int(s) for s in X.shape[1:])
        if ndim not in (1, 2):
            raise ValueError(
                f"X must be 3-D (n_trials, n_channels, n_times) or 2-D with input_shape; got {ndim} dimension(s)."
            )
        return X, None

    def _input_shape(self, n_features):
        shape = self.__dict__.get("_fit_trial_shape")
        return shape if shape is not None else self._trial_shape(n_features)

    def _fitted_rows(self, X):
        """:meth:`_as_rows` for a fitted network: 3-D trials must have its trial shape."""
        X2, shape = self._as_rows(X)
        if shape is not None and shape != tuple(self.input_shape_):
            raise ValueError(
                f"X has trials of shape {shape} (n_channels, n_times) but {type(self).__name__} was fitted on "
                f"{tuple(self.input_shape_)}."
            )
        return X2, shape

    def _validate_input(self, X):
        check_is_fitted(self)
        return validate_array(self, self._fitted_rows(X)[0], reset=False)

    def _fit(self, X, y, incremental, classes=None):
        first = not hasattr(self, "net_") or not (self.warm_start or incremental)
        X2, shape = self._as_rows(X) if first else self._fitted_rows(X)
        trial = shape
        if first:
            self.crop_starts_ = self.crop_size_ = None
            if self.crop_size is not None:
                trial = shape if shape is not None else self._trial_shape(np.shape(X2)[1])
                starts = self._crop_plan(trial[1])
                if starts is not None:
                    self.crop_starts_, self.crop_size_ = starts, int(self.crop_size)
        starts = getattr(self, "crop_starts_", None)
        if starts is None:
            self._fit_trial_shape = shape
            try:
                return super()._fit(X2, y, incremental, classes=classes)
            finally:
                self.__dict__.pop("_fit_trial_shape", None)
        # cropped training: the trials are validated whole, then cut into crops that the network is fitted on
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        X2, y = validate_array(self, X2, reset=first, y=y)
        n_channels, n_times = trial if trial is not None else self.input_shape_  # a warm start's flat rows
        crops = self._crops(X2, (n_channels, n_times))
        y = np.repeat(np.asarray(y), len(starts))
        self._fit_trial_shape = (n_channels, self.crop_size_)  # the network's input, on a first fit
        # early stopping holds out whole trials: overlapping crops of one trial on both sides of the split would
        # score the network on near-copies of its training rows
        self._fit_groups = np.repeat(np.arange(X2.shape[0]), len(starts))
        if not first:  # the network's view of its rows while it trains on crops
            self.n_features_in_ = n_channels * self.crop_size_
        # the trials' column names (a DataFrame's), checked above: the crops have none, and the network's own
        # validation of them would drop the names (or warn that they are missing)
        names = self.__dict__.pop("feature_names_in_", None)
        try:
            return super()._fit(crops, y, incremental, classes=classes)
        finally:
            self.__dict__.pop("_fit_trial_shape", None)
            self.__dict__.pop("_fit_groups", None)
            if hasattr(self, "net_"):
                self.input_shape_, self.n_features_in_ = (n_channels, n_times), n_channels * n_times
                if names is not None:
                    self.feature_names_in_ = names

    # ---------------------------------------------------------------- crops
    def _crop_plan(self, n_times):
        """First sample of every crop of a trial of ``n_times`` samples; None when the crop is the trial."""
        size = int(self.crop_size)
        if size > n_times:
            raise ValueError(f"crop_size={size} is longer than the trials ({n_times} samples).")
        if size == n_times:
            return None
        stride = int(self.crop_stride) if self.crop_stride is not None else max(1, size // 4)
        starts = list(range(0, n_times - size + 1, stride))
        if starts[-1] != n_times - size:  # the last crop ends with the trial
            starts.append(n_times - size)
        return np.asarray(starts, dtype=np.intp)

    def _crops(self, X, trial=None):
        """Flat trial rows ``(n, n_channels * n_times)`` -> flat crop rows ``(n * n_crops, n_channels * crop_size)``."""
        n_channels, n_times = self.input_shape_ if trial is None else trial
        size = self.crop_size_
        xp = get_namespace(X)
        X3 = X.reshape(X.shape[0], n_channels, n_times)
        crops = xp.stack([X3[:, :, s:s + size] for s in self.crop_starts_.tolist()], axis=1)
        return crops.reshape(-1, n_channels * size)

    def _overlap_add(self, R, n):
        """Crop rows ``(n * n_crops, n_channels * crop_size)`` summed into trial rows ``(n, n_channels * n_times)``."""
        n_channels, n_times = self.input_shape_
        size, starts = self.crop_size_, self.crop_starts_.tolist()
        xp = get_namespace(R)
        R = R.reshape(n, len(starts), n_channels, size)
        out = xp.zeros((n, n_channels, n_times), dtype=R.dtype)
        for j, s in enumerate(starts):
            out[:, :, s:s + size] += R[:, j]
        return out.reshape(n, -1)

    def _net_input_shape(self):
        # with crops the network reads crops, not trials
        if getattr(self, "crop_starts_", None) is None:
            return super()._net_input_shape()
        return (self.input_shape_[0], self.crop_size_)

    def _chunk_step(self, X):
        # a chunk of trials becomes n_crops times as many rows for the network
        starts = getattr(self, "crop_starts_", None)
        step = super()._chunk_step(X)
        return step if starts is None else max(1, step // len(starts))

    def _crop_scores(self, X):
        """Scores of every crop of the trial rows ``X``: ``(n, n_crops, n_outputs)``."""
        z = super()._scores_batch(self._crops(X))
        return z.reshape(X.shape[0], len(self.crop_starts_), -1)

    def _scores_batch(self, X):
        if getattr(self, "crop_starts_", None) is None:
            return super()._scores_batch(X)
        return self._crop_scores(X).mean(axis=1)

    def _explain_batch(self, X, target_index, target_relevance, *, method, context):
        starts = getattr(self, "crop_starts_", None)
        if starts is None:
            return super()._explain_batch(X, target_index, target_relevance, method=method, context=context)
        n, k = X.shape[0], len(starts)
        crops = self._crops(X)
        # sensitivity and gradient x input are maps of the trial's gradient (the mean of the crops')
        raw = "gradient" if method in ("sensitivity", "gradient_x_input") else method
        if target_relevance is None:
            if target_index is None:  # the trial's decision, not each crop's
                target_index = to_host(predicted_index(self._scores_batch(X)))
            R = self._overlap_add(super()._explain_batch(crops, np.repeat(np.asarray(target_index), k), None,
                                                         method=raw, context=context), n) / k
        else:
            if raw == "lrp":
                # LRP-0 through the mean over crops: crop j gets the share f_j / (k mean f) of each score's relevance
                f = to_host(self._crop_scores(X)).astype(np.float64)
                z = f.mean(axis=1, keepdims=True)
                share = f / (k * np.where(z >= 0, z + 1e-12, z - 1e-12))
                seed = target_relevance[:, None, :] * share
            else:  # the gradient of the mean: each crop's output gradient over k
                seed = np.broadcast_to(target_relevance[:, None, :] / k, (n, k, target_relevance.shape[1]))
            seed = np.ascontiguousarray(seed).reshape(n * k, -1)
            R = self._overlap_add(super()._explain_batch(crops, None, seed, method=raw, context=context), n)
        if method == "sensitivity":
            return R**2
        if method == "gradient_x_input":
            return R * X.astype(R.dtype, copy=False)
        return R

    # ---------------------------------------------------------- persistence
    def _get_fitted_state(self):
        # with crops the saved input shape is the network's, (n_channels, crop_size); the trials' length and
        # the crop starts are kept beside it
        config, arrays = super()._get_fitted_state()
        if getattr(self, "crop_starts_", None) is not None:
            config["input_shape_"] = [int(self.input_shape_[0]), int(self.crop_size_)]
            config["trial_times_"] = int(self.input_shape_[1])
            config["crop_starts_"] = [int(s) for s in self.crop_starts_]
        return config, arrays

    def _set_fitted_state(self, config, arrays):
        starts = config.get("crop_starts_")
        super()._set_fitted_state({k: v for k, v in config.items() if k not in ("crop_starts_", "trial_times_")},
                                  arrays)
        self.crop_starts_ = self.crop_size_ = None
        if starts is not None:
            n_channels, size = self.input_shape_
            n_times = int(config["trial_times_"])
            self.input_shape_, self.n_features_in_ = (n_channels, n_times), n_channels * n_times
            self.crop_starts_, self.crop_size_ = np.asarray(starts, dtype=np.intp), int(size)
        return self

    # ------------------------------------------------------------------ net
    def _build_layers(self, input_shape):
        channels, times = input_shape
        if self.architecture == "dnn":
            layers = [Flatten()] + dense_stack(self.hidden_layer_sizes, "relu", self.dropout)
            return layers + ([Dropout(self.dropout)] if self.dropout and not self.hidden_layer_sizes else [])
        _positive_ints("hidden_layer_sizes", self.hidden_layer_sizes)
        layers = [
            Reshape((1, channels, times)),
            Conv2D(self.n_temporal_filters, (1, self.temporal_kernel), padding="same"),
            Conv2D(self.n_spatial_filters, (channels, 1)),
            Square() if self.activation == "square" else ReLU(),
        ]
        if times >= self.pool_size:
            layers.append(AvgPool2D((1, self.pool_size), stride=(1, self.pool_stride)))
        if self.activation == "square":
            layers.append(Log())
        layers.append(Flatten())
        if self.dropout:
            layers.append(Dropout(self.dropout))
        return layers

    # ---------------------------------------------------------- explanation
    @dask_blocks
    def explain(self, X, target=None, method=None):
        """Relevance of every channel and time point for the target class score.

        Parameters
        ----------
        X : array of shape (n_trials, n_channels, n_times) or (n_trials, n_features)
            Trials (NumPy or CuPy), flat rows with ``input_shape``.
        target : None, label, array-like of labels, or array of shape (n_trials, n_classes), default=None
            As in :meth:`sklrp.DenseNetClassifier.explain` (``None``: the
            predicted class).
        method : str, default=None
            ``"lrp"``, ``"sensitivity"``, ``"gradient"``,
            ``"gradient_x_input"``, ``"deconvnet"`` or ``"guided_backprop"``.

        Returns
        -------
        R : array shaped like ``X``
            In X's array type.
        """
        check_is_fitted(self)
        X2, shape = self._fitted_rows(X)
        R = super().explain(X2, target=target, method=method)
        return R.reshape((R.shape[0],) + shape) if shape is not None else R

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

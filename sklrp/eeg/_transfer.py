"""Subject-to-subject transfer: pre-train on other subjects, fine-tune on the target's trials."""

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .._backend import get_namespace

__all__ = ["transfer_fit"]


def _final(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _align_groups(estimator, X_source, source_groups):
    """``X_source`` with every group's trials aligned on their own by a clone of the pipeline's first step."""
    from ._alignment import EuclideanAlignment

    first = estimator.steps[0][1] if isinstance(estimator, Pipeline) else None
    if not isinstance(first, EuclideanAlignment):
        raise ValueError(
            "source_groups aligns every source subject on its own trials, so the estimator must be a Pipeline "
            f"whose first step is sklrp.eeg.EuclideanAlignment; got {type(estimator).__name__}"
            + (f" starting with {type(first).__name__}." if first is not None else ".")
        )
    groups = np.asarray(source_groups)
    if groups.ndim != 1 or groups.shape[0] != len(X_source):
        raise ValueError(
            f"source_groups must hold one group label per source trial ({len(X_source)}); got shape {groups.shape}."
        )
    if not hasattr(X_source, "ndim"):
        X_source = np.asarray(X_source)
    xp = get_namespace(X_source)  # NumPy or CuPy trials stay where they are
    aligned = xp.empty(X_source.shape, dtype=xp.result_type(X_source.dtype, xp.float32))
    for g in np.unique(groups):
        rows = xp.asarray(np.flatnonzero(groups == g))
        aligned[rows] = clone(first).fit_transform(X_source[rows])
    return aligned


def transfer_fit(estimator, X_source, y_source, X_target, y_target, *, source_groups=None, frozen_layers=None,
                 max_iter=None):
    """Pre-train a network on source subjects, then fine-tune it on a target subject.

    The transfer of Sturm et al. (2016): a network trained on other subjects'
    trials starts the target subject's training, which helps subjects with
    few or noisy trials.  The estimator (or the last step of a Pipeline, e.g.
    ``make_pipeline(mne.decoding.Scaler(info), EEGDNNClassifier())``) is
    cloned, fitted on the source trials, and fitted again on the target
    trials with ``warm_start=True`` (training continues from the pre-trained
    weights), ``frozen_layers`` kept fixed and ``max_iter`` epochs.  The
    Pipeline's transformers are refitted on the target trials (a scaler then
    adapts to the target's amplitudes).

    Parameters
    ----------
    estimator : EEGDNNClassifier or Pipeline ending in one
        Unfitted template (it is cloned).
    X_source, y_source : arrays
        Trials of the other subjects, ``(n_trials, n_channels, n_times)``,
        and their labels.
    X_target, y_target : arrays
        The target subject's training trials and labels.
    source_groups : array-like of shape (n_source_trials,), default=None
        The subject (or session) of every source trial.  With it, the
        estimator must be a Pipeline starting with
        :class:`~sklrp.eeg.EuclideanAlignment`: every group's trials are
        aligned on their own by a clone of that step before pre-training
        (the target is aligned by the pipeline itself, refitted on its
        trials), so that all subjects share one space.
    frozen_layers : list of str or int, default=None
        Layers left unchanged by the fine-tuning (names from
        ``net_.layer_names()``, e.g. ``["conv2d_0", "conv2d_1"]``); None
        fine-tunes all of them.
    max_iter : int, default=None
        Epochs of fine-tuning; None keeps the estimator's ``max_iter``.

    Returns
    -------
    estimator : fitted clone of ``estimator``
        With ``pretrained_classes_`` on the network, the classes seen in
        pre-training (the target's labels must be among them).

    Raises
    ------
    ValueError
        When the target has labels the source lacks, ``max_iter`` is not
        a positive int, or ``source_groups`` is given without a pipeline
        starting with ``EuclideanAlignment`` or with the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp import EEGDNNClassifier
    >>> from sklrp.eeg import transfer_fit
    >>> rng = np.random.RandomState(0)
    >>> Xs, ys = rng.normal(size=(60, 4, 32)), np.repeat([0, 1], 30)
    >>> Xt, yt = rng.normal(size=(10, 4, 32)), np.repeat([0, 1], 5)
    >>> clf = transfer_fit(EEGDNNClassifier(temporal_kernel=5, pool_size=8, pool_stride=4, max_iter=5,
    ...                                     random_state=0), Xs, ys, Xt, yt, max_iter=3)
    >>> clf.predict(Xt).shape
    (10,)
    """
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral)
                                 or max_iter < 1):
        raise ValueError(f"max_iter must be a positive int or None; got {max_iter!r}.")
    if source_groups is not None:
        X_source = _align_groups(estimator, X_source, source_groups)
    model = clone(estimator).fit(X_source, y_source)
    net = _final(model)
    classes = list(net.classes_)
    unknown = sorted(set(np.unique(y_target).tolist()) - set(np.asarray(classes).tolist()))
    if unknown:
        raise ValueError(
            f"The target trials have labels {unknown} that the source trials lack ({classes}); transfer needs "
            "the same classes."
        )
    params = {"warm_start": True, "frozen_layers": frozen_layers}
    if max_iter is not None:
        params["max_iter"] = int(max_iter)
    net.set_params(**params)
    model.fit(X_target, y_target)
    net.pretrained_classes_ = np.asarray(classes)
    return model

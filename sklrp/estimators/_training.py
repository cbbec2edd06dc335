"""The training loop shared by sklrp's networks.

:class:`Trainer` runs mini-batch epochs of a :class:`sklrp.nn.Sequential`
with an optimiser of :data:`sklrp.nn.OPTIMIZERS`, optional early stopping on
a validation split (best weights restored), a per-epoch history and a tqdm
progress bar.  It keeps its state (random generator, optimiser, counters,
history) between calls, which is what ``warm_start`` and ``partial_fit``
continue from.
"""

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .._backend import array_device, get_namespace, to_device
from ..nn import OPTIMIZERS

__all__ = ["Trainer"]


def _empty_history():
    return {"loss": [], "val_loss": [], "val_score": []}


def predicted_index(z):
    """Class index per row of raw scores (one column: the sign of the score)."""
    if z.shape[1] == 1:
        return (z[:, 0] > 0).astype(get_namespace(z).int64)
    return get_namespace(z).argmax(z, axis=1)


def _clip_gradients(grads, max_norm):
    """Scale the gradients (list of dicts, in place) to a global L2 norm of at most ``max_norm``."""
    arrays = [g for layer_grads in grads for g in layer_grads.values()]
    if not arrays:
        return
    xp = get_namespace(arrays[0])
    total = sum((g * g).sum() for g in arrays)
    scale = xp.minimum(1.0, max_norm / (xp.sqrt(total) + 1e-12)).astype(arrays[0].dtype)
    for layer_grads in grads:
        for k in layer_grads:
            layer_grads[k] = layer_grads[k] * scale


def _stratify(classes, validation_fraction):
    """``classes`` when a split stratified by them is possible: every class has two or more units, and both sides
    can hold every class; else None (a plain split; a stratified one raised about a test_size nobody set)."""
    counts = np.bincount(classes)
    counts = counts[counts > 0]
    n, k = len(classes), len(counts)
    n_val = math.ceil(validation_fraction * n)
    if counts.min() >= 2 and k <= n_val <= n - k:
        return classes
    return None


def _validation_split(y_idx, groups, validation_fraction, rng):
    """Training and validation row indices, stratified by class when possible (see :func:`_stratify`); with
    ``groups``, whole groups are held out (a group's class is that of its first row)."""
    if groups is None:
        return train_test_split(np.arange(len(y_idx)), test_size=validation_fraction, random_state=rng,
                                stratify=_stratify(y_idx, validation_fraction))
    labels, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    group_class = y_idx[first]
    stratify = _stratify(group_class, validation_fraction)
    tr_g, va_g = train_test_split(np.arange(len(labels)), test_size=validation_fraction, random_state=rng,
                                  stratify=stratify)
    held = np.zeros(len(labels), dtype=bool)
    held[va_g] = True
    rows = held[inverse.reshape(-1)]
    return np.flatnonzero(~rows), np.flatnonzero(rows)


class Trainer:
    """Mini-batch training of a network, resumable between calls.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Host generator of shuffling, dropout and the validation split (the
        same instance that initialised the network, so that one seed fixes
        the whole run).
    history : dict, default=None
        History to continue (``"loss"``, ``"val_loss"``, ``"val_score"``
        lists); ``None`` starts an empty one.
    n_iter : int, default=0
        Epochs already run.

    Attributes
    ----------
    rng : numpy.random.RandomState
        The host generator.
    history : dict
        Per-epoch ``"loss"``, and ``"val_loss"`` / ``"val_score"`` with early
        stopping.
    n_iter : int
        Epochs run so far.
    best_validation_score : float or None
        Best validation accuracy of the last run with early stopping.
    optimizer : SGD, Adam or None
        The optimiser and its state (created on the first run, and again
        when the data moves to another device).
    """

    def __init__(self, random_state=None, *, history=None, n_iter=0):
        self.rng = check_random_state(random_state)
        self.history = _empty_history() if history is None else history
        self.n_iter = int(n_iter)
        self.best_validation_score = None
        self.optimizer = None
        self.device = "cpu"
        self._best_loss = np.inf
        self._no_improve = 0

    def run(
        self,
        net,
        X,
        Y,
        y_idx,
        *,
        loss,
        epochs,
        solver,
        learning_rate_init,
        momentum,
        weight_decay,
        batch_size,
        shuffle,
        tol,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        frozen=(),
        verbose=False,
        name="Trainer",
        max_grad_norm=None,
        groups=None,
        incremental=False,
    ):
        """Train ``net`` for up to ``epochs`` epochs on ``X`` and ``Y``.

        Parameters
        ----------
        net : sklrp.nn.Sequential
            The network, updated in place.
        X : array of shape (n_samples, ...)
            Inputs in the network's input shape, on the compute device.
        Y : array of shape (n_samples, n_outputs)
            Encoded targets on the same device.
        y_idx : ndarray of shape (n_samples,)
            Class index per sample on the host (stratifies the validation
            split and scores it).
        loss : callable
            ``loss(z, Y) -> (loss, grad)`` of the raw outputs ``z``.
        epochs : int
            Maximum number of epochs of this run.
        solver : {"adam", "sgd"}
            Optimiser (:data:`sklrp.nn.OPTIMIZERS`), created on the first run.
        learning_rate_init : float
            Learning rate of a newly created optimiser.
        momentum : float
            Nesterov momentum of ``solver="sgd"``.
        weight_decay : float
            L2 penalty on the weights.
        batch_size : int or "auto"
            Samples per mini-batch; ``"auto"`` is ``min(200, n_samples)``.
        shuffle : bool
            Shuffle the samples every epoch.
        tol : float
            Minimum improvement of the training loss (or validation accuracy)
            that counts as progress.
        early_stopping : bool
            Hold out ``validation_fraction`` of the samples, stop when their
            accuracy stops improving and restore the best weights.
        validation_fraction : float
            Fraction of the samples held out with ``early_stopping``.
        n_iter_no_change : int
            Epochs without progress before stopping.
        frozen : collection of int, default=()
            Indices of layers whose parameters are not updated.
        verbose : bool, default=False
            Show a tqdm progress bar over epochs.
        name : str, default="Trainer"
            Name shown on the progress bar and in warnings.
        max_grad_norm : float or None, default=None
            Gradient clipping: when the L2 norm of all parameter gradients
            of a mini-batch together exceeds it, they are scaled down to
            it (computed on the device, no synchronisation).
        groups : ndarray of shape (n_samples,), default=None
            Samples that must stay on one side of the validation split (the
            crops of one trial): the split holds out whole groups.
        incremental : bool, default=False
            A ``partial_fit`` step: the optimiser keeps its state and no
            ``ConvergenceWarning`` is raised.  Otherwise (``fit``, also with
            ``warm_start``) a new optimiser is made from ``solver``,
            ``learning_rate_init`` and ``momentum``, as scikit-learn's
            ``MLPClassifier`` does.

        Returns
        -------
        converged : bool
            Whether the run stopped before ``epochs`` for lack of progress.
        """
        device = array_device(X)
        if self.optimizer is None or device != self.device or not incremental:
            if solver == "sgd":
                self.optimizer = OPTIMIZERS["sgd"](learning_rate_init, momentum=momentum)
            else:
                self.optimizer = OPTIMIZERS[solver](learning_rate_init)
            self.device = device
        layers = net.layers
        trainable = [i for i in range(len(layers)) if i not in frozen]
        n = X.shape[0]
        rng = self.rng
        history = self.history
        if early_stopping:
            for key in ("val_loss", "val_score"):  # epochs of earlier runs without a validation set: NaN
                history[key].extend([float("nan")] * (len(history["loss"]) - len(history[key])))
            tr, va = _validation_split(y_idx, groups, validation_fraction, rng)
            tr_d, va_d = to_device(tr, device), to_device(va, device)
            X_val, Y_val, y_val = X[va_d], Y[va_d], to_device(y_idx[va], device)
            X, Y = X[tr_d], Y[tr_d]
            n = X.shape[0]
            best_score, best_params = -np.inf, None
        batch = min(200, n) if batch_size == "auto" else min(int(batch_size), n)
        bar = None
        epoch_iter = range(epochs)
        if verbose:
            from tqdm.auto import tqdm

            bar = epoch_iter = tqdm(epoch_iter, desc=name, unit="epoch")
        converged = False
        for _ in epoch_iter:
            order = to_device(rng.permutation(n) if shuffle else np.arange(n), device)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                xb, yb = X[idx], Y[idx]
                out, caches = net.forward(xb, training=True, rng=rng)
                batch_loss, grad = loss(out, yb)
                _, grads = net.backward(grad, caches, need_input_grad=False)
                for i in frozen:
                    grads[i] = {}
                if max_grad_norm is not None:
                    _clip_gradients(grads, max_grad_norm)
                self.optimizer.step(layers, grads, weight_decay)
                total = total + batch_loss * xb.shape[0]
            epoch_loss = float(total) / n  # one device sync per epoch
            self.n_iter += 1
            self.history["loss"].append(epoch_loss)
            if not np.isfinite(epoch_loss) or not all(
                bool(get_namespace(p).isfinite(p).all()) for i in trainable for p in layers[i].params.values()
            ):
                raise ValueError(
                    f"{name}: the solver produced non-finite parameter weights in epoch {self.n_iter} (mean "
                    f"loss {epoch_loss}). The learning rate may be too large, or the input data may contain "
                    "large values and need to be preprocessed."
                )
            post = {"loss": f"{epoch_loss:.4f}"}
            if early_stopping:
                z_val = net.predict(X_val)
                val_loss, _ = loss(z_val, Y_val)
                score = float((predicted_index(z_val) == y_val).mean())
                self.history["val_loss"].append(float(val_loss))
                self.history["val_score"].append(score)
                post["val_acc"] = f"{score:.4f}"
                # patience counts epochs without a gain above tol, but the best weights are those of the best
                # score (a smaller gain was not kept, and the weights of a worse epoch were restored)
                self._no_improve = 0 if score > best_score + tol else self._no_improve + 1
                if score > best_score:
                    best_score = score
                    best_params = {i: {k: v.copy() for k, v in layers[i].params.items()} for i in trainable}
            else:
                if history["val_loss"]:  # the lists stay aligned with "loss", epoch by epoch
                    history["val_loss"].append(float("nan"))
                    history["val_score"].append(float("nan"))
                self._no_improve = self._no_improve + 1 if epoch_loss > self._best_loss - tol else 0
                self._best_loss = min(self._best_loss, epoch_loss)
            if bar is not None:
                bar.set_postfix(post)
            if self._no_improve > n_iter_no_change:
                converged = True
                break
        if bar is not None:
            bar.close()
        if early_stopping and best_params is not None:
            for i, params in best_params.items():
                layers[i].params.update(params)
            self.best_validation_score = best_score
        elif not early_stopping:
            self.best_validation_score = None  # that of an earlier run describes weights trained since
        if not converged and not incremental:
            warnings.warn(
                f"{name}: maximum iterations ({epochs}) reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return converged

    def __getstate__(self):
        state = self.__dict__.copy()
        if self.device != "cpu":
            state["optimizer"] = None  # its state lives on the GPU; restart it after unpickling
        return state

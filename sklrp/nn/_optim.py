"""Losses and optimizers (SGD with momentum, Adam) over layer parameters."""

import numpy as np

from .. import _backend, _numba
from .._backend import get_namespace

#: parameters from this size up take the compiled Adam step (Numba): one pass instead of ten
_COMPILED_MIN_SIZE = 1 << 14

__all__ = ["softmax", "softmax_cross_entropy", "SGD", "Adam", "OPTIMIZERS"]


def softmax(z):
    """Row-wise softmax of raw scores."""
    xp = get_namespace(z)
    e = xp.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(z, y_onehot):
    """Mean cross-entropy of softmax(z) against one-hot targets, and its gradient.

    Returns
    -------
    loss : 0-d array (kept on the device; no host sync)
    grad : array like ``z``
    """
    xp = get_namespace(z)
    shifted = z - z.max(axis=1, keepdims=True)
    logsum = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    logp = shifted - logsum
    n = z.shape[0]
    loss = -(y_onehot * logp).sum() / n
    grad = (xp.exp(logp) - y_onehot) / n
    return loss, grad


class _Optimizer:
    def __init__(self, learning_rate):
        self.learning_rate = float(learning_rate)
        self.state = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_buffers", None)  # scratch space, made again when needed
        return state

    def step(self, layers, grads, weight_decay=0.0):
        """Update ``layers``' parameters in place from per-layer ``grads``."""
        for i, (layer, g) in enumerate(zip(layers, grads)):
            for name, grad in g.items():
                p = layer.params[name]
                if weight_decay and name == "weight":
                    grad = grad + weight_decay * p
                self._update((i, name), p, grad)


class SGD(_Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum."""

    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=True):
        super().__init__(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, key, p, grad):
        if self.momentum == 0:
            p -= self.learning_rate * grad
            return
        v = self.state.get(key)
        if v is None:
            v = self.state[key] = get_namespace(p).zeros_like(p)
        v *= self.momentum
        v -= self.learning_rate * grad
        if self.nesterov:
            p += self.momentum * v - self.learning_rate * grad
        else:
            p += v


class Adam(_Optimizer):
    """Adam (Kingma and Ba, 2015)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.t = 0

    def step(self, layers, grads, weight_decay=0.0):
        self.t += 1
        self._lr_t = (
            self.learning_rate * (1 - self.beta_2**self.t) ** 0.5 / (1 - self.beta_1**self.t)
        )
        super().step(layers, grads, weight_decay)

    def _scratch(self, p):
        """Two scratch arrays shaped like ``p``, shared by all parameters (sized for the largest).

        With them the update allocates nothing: fresh temporaries the size of
        a large weight matrix cost more than its arithmetic.
        """
        xp = get_namespace(p)
        buffers = self.__dict__.setdefault("_buffers", {})
        key = (np.dtype(p.dtype).str, xp.__name__)
        buf = buffers.get(key)
        if buf is None or buf.shape[1] < p.size:
            buf = buffers[key] = xp.empty((2, p.size), dtype=p.dtype)
        return buf[0, : p.size].reshape(p.shape), buf[1, : p.size].reshape(p.shape)

    def _update(self, key, p, grad):
        xp = get_namespace(p)
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = (xp.zeros_like(p), xp.zeros_like(p))
        m, v = st
        if xp is np and _numba.enabled() and p.size >= _COMPILED_MIN_SIZE and all(
                arr.flags.c_contiguous and arr.dtype == p.dtype for arr in (p, grad, m, v)):
            _backend.adam_update_cpu(p, grad, m, v, self.beta_1, self.beta_2, self._lr_t, self.epsilon)
            return
        a, b = self._scratch(p)
        # m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g g;  p -= lr_t m / (sqrt(v) + eps), in that order
        m *= self.beta_1
        xp.multiply(grad, 1 - self.beta_1, out=a)
        m += a
        v *= self.beta_2
        xp.multiply(grad, 1 - self.beta_2, out=a)
        a *= grad
        v += a
        xp.multiply(m, self._lr_t, out=a)
        xp.sqrt(v, out=b)
        b += self.epsilon
        a /= b
        p -= a


OPTIMIZERS = {"adam": Adam, "sgd": SGD}

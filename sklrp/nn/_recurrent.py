"""Recurrent layers explained with LRP through their multiplicative gates.

:class:`LSTM` reads a batch of padded sequences ``(N, T, D)`` (one direction
or both) and returns the last hidden state of each direction.  Its LRP pass
is the one of Arras, Montavon, Müller and Samek (2017): the epsilon rule (with
``bias_factor``) on the linear maps into the gates, the same rule on the cell
state's sum ``f * c_prev + i * g``, and a product rule (signal-take-all by
default) on the gated products.  Padding positions (the mask an
:class:`~sklrp.nn.Embedding` threads through :class:`~sklrp.nn.Sequential`)
leave the state unchanged, so each sentence is read from its own first to its
own last token in both directions, whatever padding follows or precedes it.
"""

import math

import numpy as np

from .._backend import get_namespace, to_host
from ..rules import Epsilon, ProductRule, TraversalContext, sum_rule
from ._base import Layer, LinearOp

__all__ = ["LSTM"]

#: gate order along the 4 * units axis of the weights (that of Arras et al.'s code)
GATES = ("i", "g", "f", "o")


def _sigmoid(z):
    """Logistic function without overflow warnings: ``(1 + tanh(z / 2)) / 2``."""
    xp = get_namespace(z)
    return 0.5 * (1.0 + xp.tanh(0.5 * z))


def _epsilon_rule(rule, op_name):
    """``rule`` if the LSTM supports it on ``op_name`` (an epsilon-family rule), else a clear error."""
    if isinstance(rule, Epsilon):
        return rule
    raise ValueError(
        f"LSTM: the rule for its {op_name!r} maps must be an epsilon-family rule (Epsilon, Zero), "
        f"got {rule!r}. The input and recurrent maps of a gate share one pre-activation, which the epsilon "
        "rule divides by; rules that build their own denominators (z+, gamma, alpha-beta, flat, w^2) do not "
        "apply. Use the 'epsilon' or 'zero' composite, or a Composite with a 'recurrent' entry."
    )


class LSTM(Layer):
    """Long short-term memory layer (one or two directions) with LRP.

    Input ``(N, T, D)`` (time-major per sample, e.g. an
    :class:`~sklrp.nn.Embedding` with ``channels_first=False``); output the
    last hidden state, ``(N, units)``, or ``(N, 2 * units)`` with
    ``bidirectional=True`` (the left-to-right state, then the right-to-left
    one).

    Parameters
    ----------
    units : int
        Size ``d`` of the hidden and cell states (per direction).
    bidirectional : bool, default=True
        Also read every sequence from its last to its first real token.

    Attributes
    ----------
    params : dict
        Per direction ``"input_weight"`` ``(D, 4d)``, ``"recurrent_weight"``
        ``(d, 4d)`` and ``"bias"`` ``(4d,)``; the right-to-left direction's
        have the suffix ``"_reverse"``.  Columns are the gates in the order
        i, g, f, o (input gate, cell candidate, forget gate, output gate).

    Notes
    -----
    **Cell.**  With ``z_t = x_t W_x + h_{t-1} W_h + b`` split into the gates,
    ``i, f, o = sigmoid``, ``g = tanh``, ``c_t = f c_{t-1} + i g``,
    ``h_t = o tanh(c_t)``, ``h_0 = c_0 = 0``.  The forget gate's bias is
    initialised to 1, the weights Glorot-uniform.

    **Padding.**  ``forward(x, mask=...)`` takes the ``(N, T)`` boolean mask
    of real positions (threaded by :class:`~sklrp.nn.Sequential` from the
    embedding's padding ids); at a padding position both states are carried
    over unchanged, so padding anywhere (after, before or inside a
    sequence) changes nothing.  Columns that are padding in every row are
    skipped.  Without a mask every position is read.

    **Relevance** (Arras et al. 2017), asked from the composite per
    sub-operation (kind ``"recurrent"``):

    - ``"input"`` and ``"recurrent"``: the maps ``x_t W_x`` and
      ``h_{t-1} W_h`` into the pre-activations; both are one
      pre-activation's inputs, so the rule divides by the whole ``z_t``
      (bias included) and spreads the bias share over the ``D + d``
      connected inputs.  Only epsilon-family rules apply.
    - ``"cell"``: the sum ``c_t = f c_{t-1} + i g``, element-wise, with the
      epsilon rule's ``epsilon`` and ``bias_factor`` (:func:`sum_rule`; the
      share of unit ``j`` is split between its own two terms, where Arras et
      al.'s code spreads it over all units: the two agree at
      ``bias_factor=0``).
    - ``"gate"``: a :class:`~sklrp.rules.ProductRule` for ``o * tanh(c)``,
      ``f * c_{t-1}`` and ``i * g``; anything else found for it (e.g. a
      composite entry that is one rule for the whole layer) means
      signal-take-all, the paper's rule: the gates get no relevance.

    Relevance that reaches the initial states (their bias and stabiliser
    shares when ``bias_factor > 0``) is recorded per sample as
    ``cache["relevance_rest"]`` (:meth:`Sequential.relevance_rest`).

    References
    ----------
    Hochreiter and Schmidhuber, "Long short-term memory", Neural Computation
    9(8), 1997.

    Arras, Montavon, Müller and Samek, "Explaining recurrent neural network
    predictions in sentiment analysis", WASSA 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.nn import LSTM, Dense, Embedding, Sequential
    >>> net = Sequential([Embedding(50, 8), LSTM(6), Dense(3, use_bias=False)])
    >>> net.build((5,), np.random.RandomState(0), np.float64)
    (3,)
    >>> ids = np.array([[4, 9, 2, 0, 0], [7, 0, 0, 0, 0]])
    >>> R = net.explain(ids, np.array([[1.0, 0, 0], [0, 1.0, 0]]), composite="epsilon")
    >>> R.shape, R[0, 3:].tolist()
    ((2, 5), [0.0, 0.0])
    """

    kind = "recurrent"
    uses_rules = True
    accepts_mask = True

    def __init__(self, units, bidirectional=True):
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive int; got {units!r}.")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional must be True or False; got {bidirectional!r}.")
        self.units = int(units)
        self.bidirectional = bool(bidirectional)

    def config(self):
        return {"units": self.units, "bidirectional": self.bidirectional}

    @property
    def directions(self):
        """Parameter-name suffixes of the directions: ``("",)`` or ``("", "_reverse")``."""
        return ("", "_reverse") if self.bidirectional else ("",)

    def build(self, input_shape, rng, dtype):
        if len(input_shape) != 2:
            raise ValueError(
                f"LSTM expects inputs of shape (time, features), e.g. from Embedding(channels_first=False); "
                f"got {tuple(input_shape)}."
            )
        dim, d = int(input_shape[1]), self.units
        self.params = {}
        for suffix in self.directions:
            lim_x = math.sqrt(6.0 / (dim + 4 * d))
            lim_h = math.sqrt(6.0 / (d + 4 * d))
            bias = np.zeros(4 * d, dtype=dtype)
            bias[2 * d : 3 * d] = 1.0  # forget gate open at the start (Jozefowicz et al. 2015)
            self.params["input_weight" + suffix] = rng.uniform(-lim_x, lim_x, (dim, 4 * d)).astype(dtype)
            self.params["recurrent_weight" + suffix] = rng.uniform(-lim_h, lim_h, (d, 4 * d)).astype(dtype)
            self.params["bias" + suffix] = bias
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = (d * len(self.directions),)
        return self.output_shape

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _span(mask, T):
        """First and one-past-last columns with a real position in some row."""
        if mask is None:
            return 0, T
        cols = np.flatnonzero(to_host(mask.any(axis=0)))
        if cols.size == 0:
            return 0, 0
        return int(cols[0]), int(cols[-1]) + 1

    def _steps(self, suffix, t0, t1):
        return range(t1 - 1, t0 - 1, -1) if suffix else range(t0, t1)

    # --------------------------------------------------------------- passes
    def forward(self, x, training=False, rng=None, mask=None):
        xp = get_namespace(x)
        if x.ndim != 3:
            raise ValueError(f"LSTM expects inputs of shape (N, T, features); got shape {x.shape}.")
        N, T, _ = x.shape
        d = self.units
        t0, t1 = self._span(mask, T)
        outs, dirs = [], []
        for suffix in self.directions:
            Wx, Wh, b = (self.params[k + suffix] for k in ("input_weight", "recurrent_weight", "bias"))
            zx = x[:, t0:t1] @ Wx + b  # input maps of all steps at once
            h = xp.zeros((N, d), dtype=x.dtype)
            c = xp.zeros((N, d), dtype=x.dtype)
            L = t1 - t0
            Z = xp.empty((N, L, 4 * d), dtype=x.dtype)  # pre-activations
            A = xp.empty((N, L, 4 * d), dtype=x.dtype)  # gate values i, g, f, o
            H_prev = xp.empty((N, L, d), dtype=x.dtype)
            C_prev = xp.empty((N, L, d), dtype=x.dtype)
            C = xp.empty((N, L, d), dtype=x.dtype)
            for t in self._steps(suffix, t0, t1):
                k = t - t0
                z = zx[:, k] + h @ Wh
                a = xp.concatenate(
                    [_sigmoid(z[:, :d]), xp.tanh(z[:, d : 2 * d]), _sigmoid(z[:, 2 * d :])], axis=1
                )
                c_new = a[:, 2 * d : 3 * d] * c + a[:, :d] * a[:, d : 2 * d]
                h_new = a[:, 3 * d :] * xp.tanh(c_new)
                Z[:, k], A[:, k], H_prev[:, k], C_prev[:, k], C[:, k] = z, a, h, c, c_new
                if mask is not None:
                    m = mask[:, t, None]
                    c_new = xp.where(m, c_new, c)
                    h_new = xp.where(m, h_new, h)
                h, c = h_new, c_new
            outs.append(h)
            dirs.append({"Z": Z, "A": A, "H_prev": H_prev, "C_prev": C_prev, "C": C})
        out = outs[0] if len(outs) == 1 else xp.concatenate(outs, axis=1)
        cache = {"x": x, "mask": mask, "span": (t0, t1), "dirs": dirs}
        return out, cache

    def _step_mask(self, cache, t):
        mask = cache["mask"]
        return None if mask is None else mask[:, t, None]

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        """Backpropagation through time; the input gradient and the parameter gradients."""
        x = cache["x"]
        xp = get_namespace(grad)
        t0, t1 = cache["span"]
        d = self.units
        gx = xp.zeros_like(x)
        grads = {}
        for n, suffix in enumerate(self.directions):
            Wx, Wh = self.params["input_weight" + suffix], self.params["recurrent_weight" + suffix]
            D = cache["dirs"][n]
            dh = grad[:, n * d : (n + 1) * d]
            dc = xp.zeros_like(dh)
            dZ = xp.zeros_like(D["Z"])
            for t in reversed(self._steps(suffix, t0, t1)):
                k = t - t0
                a = D["A"][:, k]
                i, g, f, o = a[:, :d], a[:, d : 2 * d], a[:, 2 * d : 3 * d], a[:, 3 * d :]
                tc = xp.tanh(D["C"][:, k])
                dct = dc + dh * o * (1 - tc * tc)
                dz = xp.concatenate(
                    [dct * g * i * (1 - i), dct * i * (1 - g * g), dct * D["C_prev"][:, k] * f * (1 - f),
                     dh * tc * o * (1 - o)],
                    axis=1,
                )
                m = self._step_mask(cache, t)
                if m is not None:
                    dz = xp.where(m, dz, dz.dtype.type(0))
                dh_prev = dz @ Wh.T
                dc_prev = dct * f
                if m is not None:
                    dh_prev = xp.where(m, dh_prev, dh)
                    dc_prev = xp.where(m, dc_prev, dc)
                dZ[:, k] = dz
                dh, dc = dh_prev, dc_prev
            gx[:, t0:t1] += dZ @ Wx.T
            if need_param_grads:
                flat = dZ.reshape(-1, 4 * d)
                grads["input_weight" + suffix] = x[:, t0:t1].reshape(-1, x.shape[2]).T @ flat
                grads["recurrent_weight" + suffix] = D["H_prev"].reshape(-1, d).T @ flat
                grads["bias" + suffix] = flat.sum(axis=0)
        return gx, grads

    def param_grads(self, grad, cache):
        return self.backward(grad, cache)[1]

    def relevance(self, R, cache, ctx=None):
        ctx = TraversalContext() if ctx is None else ctx
        rule_x = _epsilon_rule(ctx.rule(self, "input"), "input")
        rule_h = _epsilon_rule(ctx.rule(self, "recurrent"), "recurrent")
        cell = _epsilon_rule(ctx.rule(self, "cell"), "cell")
        product = ctx.rule(self, "gate")
        if not isinstance(product, ProductRule):
            product = ProductRule()
        x = cache["x"]
        xp = get_namespace(R)
        t0, t1 = cache["span"]
        N, _, dim = x.shape
        d = self.units
        fan_in = dim + d
        # with signal-take-all only the cell candidate g receives relevance
        cols = slice(d, 2 * d) if product.mode == "signal_take_all" else slice(0, 4 * d)
        R_x = xp.zeros_like(x)
        rest = xp.zeros(N, dtype=R.dtype)
        for n, suffix in enumerate(self.directions):
            Wx = self.params["input_weight" + suffix][:, cols]
            Wh = self.params["recurrent_weight" + suffix][:, cols]
            b = self.params["bias" + suffix][cols]
            D = cache["dirs"][n]
            Rh = R[:, n * d : (n + 1) * d]
            Rc = xp.zeros_like(Rh)
            R_pre = xp.zeros(D["Z"][..., cols].shape, dtype=R.dtype)
            for t in reversed(self._steps(suffix, t0, t1)):
                k = t - t0
                a = D["A"][:, k]
                i, g, f, o = a[:, :d], a[:, d : 2 * d], a[:, 2 * d : 3 * d], a[:, 3 * d :]
                c_prev = D["C_prev"][:, k]
                R_o, R_tc = product(o, xp.tanh(D["C"][:, k]), Rh)
                Rct = Rc + R_tc
                R_fc, R_ig = sum_rule([f * c_prev, i * g], Rct, epsilon=cell.epsilon, bias_factor=cell.bias_factor)
                R_f, R_cprev = product(f, c_prev, R_fc)
                R_i, R_g = product(i, g, R_ig)
                r = R_g if cols.start == d else xp.concatenate([R_i, R_g, R_f, R_o], axis=1)
                m = self._step_mask(cache, t)
                if m is not None:
                    r = xp.where(m, r, r.dtype.type(0))
                op = LinearOp.dense(D["H_prev"][:, k], Wh, b, output=D["Z"][:, k, cols], fan_in=fan_in)
                R_hprev = rule_h(op, r)
                if m is not None:
                    R_hprev = xp.where(m, R_hprev, Rh)
                    R_cprev = xp.where(m, R_cprev, Rc)
                R_pre[:, k] = r
                Rh, Rc = R_hprev, R_cprev
            op = LinearOp.dense(x[:, t0:t1], Wx, b, output=D["Z"][..., cols], fan_in=fan_in)
            R_x[:, t0:t1] += rule_x(op, R_pre)
            rest = rest + Rh.sum(axis=1) + Rc.sum(axis=1)
        cache["relevance_rest"] = rest
        return R_x

    def output_nonnegative(self, input_nonnegative):
        return False

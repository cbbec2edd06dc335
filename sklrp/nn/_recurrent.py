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

import functools
import math

import numpy as np

from .._backend import empty, get_namespace, to_host, zeros
from ..rules import Epsilon, ProductRule, TraversalContext, sum_rule
from ._base import Layer, LinearOp, check_parameter_size, whole_number

__all__ = ["LSTM", "GRU"]

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


class _Recurrent(Layer, register=False):
    """Shared machinery of the recurrent layers: parameters, packed steps, reverse sweeps.

    Subclasses set ``n_gates`` and implement ``_initial_bias(d, dtype)``,
    ``forward``, ``backward`` and ``relevance`` with :meth:`_schedule`,
    :meth:`_steps` and :meth:`_sweep`.
    """

    kind = "recurrent"
    uses_rules = True
    accepts_mask = True
    threads_itself = False  # its products run on BLAS's threads
    #: number of gate blocks along the weights' second axis
    n_gates = None

    def __init__(self, units, bidirectional=True):
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive int; got {units!r}.")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional must be True or False; got {bidirectional!r}.")
        self.units = whole_number("units", units)
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
                f"{type(self).__name__} expects inputs of shape (time, features), e.g. from "
                f"Embedding(channels_first=False); got {tuple(input_shape)}."
            )
        dim, d, G = int(input_shape[1]), self.units, self.n_gates
        self.params = {}
        for suffix in self.directions:
            check_parameter_size(self, (dim + d, G * d), dtype)
            lim_x = math.sqrt(6.0 / (dim + G * d))
            lim_h = math.sqrt(6.0 / (d + G * d))
            self.params["input_weight" + suffix] = rng.uniform(-lim_x, lim_x, (dim, G * d)).astype(dtype)
            self.params["recurrent_weight" + suffix] = rng.uniform(-lim_h, lim_h, (d, G * d)).astype(dtype)
            self.params["bias" + suffix] = self._initial_bias(d, dtype)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output_shape = (d * len(self.directions),)
        return self.output_shape

    # ------------------------------------------------------------ schedule
    @staticmethod
    def _schedule(x, mask):
        """How the batch is read: the real positions packed step by step, longest rows first.

        Padding leaves the state unchanged, so only real positions are read.
        Rows are sorted by their number of real positions (longest first);
        step ``k`` reads the ``k``-th real position of the ``counts[k]``
        rows that have one, a prefix of the sorted rows, stored contiguously
        at ``offsets[k]`` in a ``(n_tokens, features)`` array (PyTorch's
        packed-sequence layout).

        Returns ``(perm, counts, offsets, src)``: the row order (host), the
        host lists of counts and offsets, and ``src = (rows, cols)``, the
        position in ``x`` of every packed token (device index arrays).
        """
        xp = get_namespace(x)
        N, T = x.shape[:2]
        if mask is None:
            lengths = np.full(N, T, dtype=np.int64)
            mask_h = np.ones((N, T), dtype=bool)
        else:
            mask_h = to_host(mask).astype(bool, copy=False)
            lengths = mask_h.sum(axis=1)
        perm = np.argsort(-lengths, kind="stable")
        L = int(lengths.max()) if N else 0
        ordered = lengths[perm]
        counts = [int(np.searchsorted(-ordered, -k, side="right")) for k in range(1, L + 1)]  # rows with >= k
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64).tolist()
        sorted_row, col = np.nonzero(mask_h[perm])  # row-major: each row's real columns in order
        starts = np.concatenate([[0], np.cumsum(ordered)])[:-1]
        rank = np.arange(sorted_row.size) - starts[sorted_row]  # which real position of its row
        order = np.lexsort((sorted_row, rank))  # step by step, sorted rows within a step
        rows = perm[sorted_row[order]]
        cols = col[order]
        return perm, counts, offsets, (xp.asarray(rows), xp.asarray(cols))

    def _steps(self, suffix, counts, offsets):
        """``(active rows, packed slice)`` per step, in the order a direction reads them."""
        steps = [(n, slice(offsets[k], offsets[k] + n)) for k, n in enumerate(counts)]
        return steps[::-1] if suffix else steps

    def _by_gate(self, W):
        """``(rows, G d)`` weights as ``(G, rows, d)``, one contiguous block per gate (``G = n_gates``)."""
        xp = get_namespace(W)
        rows = W.shape[0]
        return xp.ascontiguousarray(W.reshape(rows, self.n_gates, self.units).transpose(1, 0, 2))

    @staticmethod
    def _carry(states, n):
        """The previous states of a step that reads ``n`` rows.

        Views of ``states`` (the last step's; ``(0, d)`` before the first),
        extended with zero initial states for the rows that start here.
        """
        if n <= states[0].shape[0]:
            return [s[:n] for s in states]
        xp = get_namespace(states[0])
        out = []
        for s in states:
            p = xp.zeros((n,) + s.shape[1:], dtype=s.dtype)
            p[: s.shape[0]] = s
            out.append(p)
        return out

    @staticmethod
    def _output(outs, perm, cache):
        """The last hidden states in the input's row order, both directions side by side, and ``cache``."""
        xp = get_namespace(outs[0])
        rows = xp.asarray(perm)
        restored = []
        for h_last in outs:
            out = xp.empty_like(h_last)
            out[rows] = h_last
            restored.append(out)
        return (restored[0] if len(restored) == 1 else xp.concatenate(restored, axis=1)), cache

    def _unpack(self, flat, cache):
        """Packed ``(n_tokens, features)`` values at their positions of ``x`` (zeros elsewhere)."""
        xp = get_namespace(flat)
        out = zeros(xp, cache["x"].shape, flat.dtype)
        out[cache["src"]] = flat
        return out

    @staticmethod
    def _gather(x, src):
        """The packed ``(n_tokens, features)`` values of ``x`` at the positions ``src``."""
        xp = get_namespace(x)
        rows, cols = src
        flat = x.reshape((-1,) + x.shape[2:])
        return xp.take(flat, rows * x.shape[1] + cols, axis=0,
                       out=empty(xp, (rows.shape[0],) + x.shape[2:], x.dtype))

    def _sweep(self, suffix, counts, offsets, g_last, step_fn, n_states):
        """Run ``step_fn`` over one direction's steps in reverse reading order.

        ``g_last`` (sorted rows) is the signal on the last hidden states;
        ``step_fn(j, n, sl, *signals) -> signals_prev`` gets the signal on
        step ``j``'s ``n_states`` states (hidden first, then e.g. the cell)
        and returns that on the previous ones.  Returns the signal left on
        the initial states per sorted row, one ``(N, d)`` array per state.
        """
        xp = get_namespace(g_last)
        N, d = g_last.shape
        steps = self._steps(suffix, counts, offsets)
        first = [xp.zeros((N, d), dtype=g_last.dtype) for _ in range(n_states)]
        nxt = None
        for j in range(len(steps) - 1, -1, -1):
            n, sl = steps[j]
            n_next = steps[j + 1][0] if j + 1 < len(steps) else 0
            if nxt is None:
                cur = [xp.zeros((n, d), dtype=g_last.dtype) for _ in range(n_states)]
            elif n_next >= n:
                cur = [a[:n] for a in nxt]
                if n_next > n:  # rows [n, n_next) started at the next step: their initial state
                    for f, a in zip(first, nxt):
                        f[n:n_next] = a[n:]
            else:
                cur = [xp.zeros((n, d), dtype=g_last.dtype) for _ in range(n_states)]
                for c, a in zip(cur, nxt):
                    c[:n_next] = a
            if n_next < n:  # rows whose last token is here get the output signal
                cur[0][n_next:n] += g_last[n_next:n]
            nxt = step_fn(j, n, sl, *cur)
        if nxt is not None:
            n = nxt[0].shape[0]
            for f, a in zip(first, nxt):
                f[:n] = a
        return first

    def _input_gradients(self, suffix, data, dZ, dU, need_param_grads, grads):
        """Gradient at the packed inputs from the gate-major ``dZ`` ``(G, n_tokens, d)``; fills ``grads``.

        ``dU`` ``(G, d, d)`` is the accumulated gradient of the recurrent
        weights per gate (None without parameter gradients).
        """
        xp = get_namespace(dZ)
        G, d = self.n_gates, self.units
        WxT = xp.ascontiguousarray(self._by_gate(self.params["input_weight" + suffix]).transpose(0, 2, 1))
        g = xp.matmul(dZ[0], WxT[0])
        for k in range(1, G):
            g += xp.matmul(dZ[k], WxT[k])
        if need_param_grads:
            e = data.shape[1]
            grads["input_weight" + suffix] = xp.matmul(data.T, dZ).transpose(1, 0, 2).reshape(e, G * d)
            grads["recurrent_weight" + suffix] = dU.transpose(1, 0, 2).reshape(d, G * d)
            grads["bias" + suffix] = dZ.sum(axis=1).reshape(G * d)
        return g

    def param_grads(self, grad, cache):
        return self.backward(grad, cache)[1]

    def _rules(self, ctx):
        """``(rule_x, rule_h, cell, product)``: the rules of this layer's sub-operations in ``ctx``."""
        ctx = TraversalContext() if ctx is None else ctx
        rule_x = _epsilon_rule(ctx.rule(self, "input"), "input")
        rule_h = _epsilon_rule(ctx.rule(self, "recurrent"), "recurrent")
        cell = _epsilon_rule(ctx.rule(self, "cell"), "cell")
        product = ctx.rule(self, "gate")
        if not isinstance(product, ProductRule):
            product = ProductRule()
        return rule_x, rule_h, cell, product

    def output_nonnegative(self, input_nonnegative):
        return False


class LSTM(_Recurrent):
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

    n_gates = 4

    def _initial_bias(self, d, dtype):
        bias = np.zeros(4 * d, dtype=dtype)
        bias[2 * d : 3 * d] = 1.0  # forget gate open at the start (Jozefowicz et al. 2015)
        return bias

    def _gate_constants(self, xp, dtype):
        """``scale``, ``add`` of shape (4, 1, 1): gates as ``tanh(z * scale) * scale + add``.

        sigmoid(z) = (1 + tanh(z / 2)) / 2 for i, f, o; tanh(z) for g.
        """
        half = np.array([0.5, 1.0, 0.5, 0.5]).reshape(4, 1, 1)
        return xp.asarray(half.astype(dtype)), xp.asarray(np.where(half == 0.5, 0.5, 0.0).astype(dtype))

    # --------------------------------------------------------------- passes
    def forward(self, x, training=False, rng=None, mask=None):
        xp = get_namespace(x)
        if x.ndim != 3:
            raise ValueError(f"LSTM expects inputs of shape (N, T, features); got shape {x.shape}.")
        N = x.shape[0]
        d = self.units
        perm, counts, offsets, src = self._schedule(x, mask)
        data = self._gather(x, src)  # (n_tokens, features): the real positions, step by step
        scale, add = self._gate_constants(xp, x.dtype)
        outs, dirs = [], []
        for suffix in self.directions:
            Wx, Wh, b = (self.params[k + suffix] for k in ("input_weight", "recurrent_weight", "bias"))
            # gate-major (4, ., d) maps, scaled per gate so that one tanh gives every gate (z / 2 for
            # the sigmoids; halving is exact, and g, the gate LRP divides by, is unscaled)
            Wx4, Wh4 = self._by_gate(Wx) * scale, self._by_gate(Wh) * scale
            n_tokens = data.shape[0]
            # the input maps of all tokens at once, (4, n_tokens, d)
            Z = xp.matmul(data, Wx4, out=empty(xp, (4, n_tokens, d), xp.result_type(data, Wx4)))
            bias4 = b.reshape(4, 1, d) * scale  # added step by step, where z is in the cache
            A = empty(xp, Z.shape, Z.dtype)  # gate values i, g, f, o
            C = empty(xp, (n_tokens, d), Z.dtype)
            IG = empty(xp, C.shape, Z.dtype)  # i * g, the cell's new content
            TC = empty(xp, C.shape, Z.dtype)
            H = empty(xp, C.shape, Z.dtype)
            steps = self._steps(suffix, counts, offsets)
            h_last = xp.zeros((N, d), dtype=x.dtype)
            # one buffer for the recurrent products: fresh (4, n, d) temporaries of a few hundred
            # kB each step are mapped and zeroed by the allocator every time (about 2x slower)
            rec_buf = xp.empty(4 * max(counts, default=0) * d, dtype=x.dtype)
            prev = []
            h = c = xp.zeros((0, d), dtype=x.dtype)
            for j, (n, sl) in enumerate(steps):
                hp, cp = self._carry([h, c], n)
                z, a = Z[:, sl], A[:, sl]
                rec = xp.matmul(hp, Wh4, out=rec_buf[: 4 * n * d].reshape(4, n, d))
                rec += bias4
                z += rec
                xp.tanh(z, out=a)
                a *= scale
                a += add
                c, ig = C[sl], IG[sl]
                xp.multiply(a[0], a[1], out=ig)
                xp.multiply(a[2], cp, out=c)
                c += ig
                tc = TC[sl]
                xp.tanh(c, out=tc)
                h = H[sl]
                xp.multiply(a[3], tc, out=h)
                n_next = steps[j + 1][0] if j + 1 < len(steps) else 0
                if n_next < n:  # rows [n_next, n) read their last token here
                    h_last[n_next:n] = h[n_next:n]
                prev.append((hp, cp))
            outs.append(h_last)
            # Z holds the pre-activations times scale (g's unscaled), gate-major
            dirs.append({"Z": Z, "A": A, "C": C, "IG": IG, "TC": TC, "prev": prev})
        return self._output(outs, perm, {"x": x, "data": data, "perm": perm, "counts": counts,
                                         "offsets": offsets, "src": src, "dirs": dirs})

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        """Backpropagation through time; the input gradient and the parameter gradients."""
        data, perm, counts, offsets = (cache[k] for k in ("data", "perm", "counts", "offsets"))
        xp = get_namespace(grad)
        d = self.units
        rows = xp.asarray(perm)
        gdata = None
        grads = {}
        for n_dir, suffix in enumerate(self.directions):
            Wh = self.params["recurrent_weight" + suffix]
            WhT4 = xp.ascontiguousarray(self._by_gate(Wh).transpose(0, 2, 1))  # (4, d, d): gate k's W^T
            D = cache["dirs"][n_dir]
            A, TC, prev = D["A"], D["TC"], D["prev"]
            dZ = empty(xp, A.shape, A.dtype)  # gate-major gradient of the (unscaled) pre-activations
            dWh = xp.zeros((4, d, d), dtype=grad.dtype) if need_param_grads else None

            def step(j, n, sl, dh, dc, A=A, TC=TC, prev=prev, dZ=dZ, WhT4=WhT4, dWh=dWh):
                a, tc = A[:, sl], TC[sl]
                hp, cp = prev[j]
                i, g, f, o = a[0], a[1], a[2], a[3]
                dct = dc + dh * o * (1 - tc * tc)
                dz = dZ[:, sl]
                xp.multiply(dct * g, i * (1 - i), out=dz[0])
                xp.multiply(dct * i, 1 - g * g, out=dz[1])
                xp.multiply(dct * cp, f * (1 - f), out=dz[2])
                xp.multiply(dh * tc, o * (1 - o), out=dz[3])
                if dWh is not None:
                    dWh += xp.matmul(hp.T, dz)
                return xp.matmul(dz, WhT4).sum(axis=0), dct * f

            self._sweep(suffix, counts, offsets, grad[rows, n_dir * d : (n_dir + 1) * d], step, 2)
            g_dir = self._input_gradients(suffix, data, dZ, dWh, need_param_grads, grads)
            gdata = g_dir if gdata is None else gdata + g_dir
        return self._unpack(gdata, cache), grads

    @staticmethod
    def _relevance_step(j, n, sl, Rh, Rc, *, rule_h, cell, product, take_all, fan_in, Z, A, C, IG, TC, prev,
                        R_pre, Wh, b):
        """One step of the relevance pass for any epsilon-family rules and product rule.

        Takes the relevance of step ``j``'s hidden and cell states, writes
        that of its gate pre-activations into ``R_pre`` and returns that of
        the previous states.
        """
        xp = get_namespace(Rh)
        hp, cp = prev[j]
        a = A[:, sl]
        i, g, f, o = a[0], a[1], a[2], a[3]
        if take_all:
            Rct = Rc + Rh
        else:
            R_o, R_tc = product(o, TC[sl], Rh)
            Rct = Rc + R_tc
        R_fc, R_ig = sum_rule([f * cp, IG[sl]], Rct, epsilon=cell.epsilon, bias_factor=cell.bias_factor)
        if take_all:
            r, R_cp = R_ig, R_fc
        else:
            R_f, R_cp = product(f, cp, R_fc)
            R_i, R_g = product(i, g, R_ig)
            r = xp.concatenate([R_i, R_g, R_f, R_o], axis=1)
        R_pre[sl] = r
        return rule_h(LinearOp.dense(hp, Wh, b, output=Z[sl], fan_in=fan_in), r), R_cp

    def relevance(self, R, cache, ctx=None):
        rule_x, rule_h, cell, product = self._rules(ctx)
        take_all = product.mode == "signal_take_all"
        data, perm, counts, offsets = (cache[k] for k in ("data", "perm", "counts", "offsets"))
        xp = get_namespace(R)
        N = R.shape[0]
        d = self.units
        fan_in = data.shape[1] + d
        rows = xp.asarray(perm)
        # the usual case, written out below: signal-take-all and one plain epsilon > 0 rule (denominators
        # never vanish; subclasses may compute otherwise) on both maps of the gates, and on the cell
        plain = [type(rule) is Epsilon and rule.epsilon > 0 and not rule.bias_factor for rule in (rule_x, cell)]
        fast = take_all and all(plain) and rule_x == rule_h
        # with signal-take-all only the cell candidate g receives relevance
        sel = slice(d, 2 * d) if take_all else slice(0, 4 * d)
        R_data = None
        rest = xp.zeros(N, dtype=R.dtype)
        for n_dir, suffix in enumerate(self.directions):
            Wx = self.params["input_weight" + suffix][:, sel]
            Wh = self.params["recurrent_weight" + suffix][:, sel]
            b = self.params["bias" + suffix][sel]
            D = cache["dirs"][n_dir]
            Z, A, C, IG, TC, prev = (D[k] for k in ("Z", "A", "C", "IG", "TC", "prev"))
            if take_all:
                Z = Z[1]  # g's pre-activations (unscaled), (n_tokens, d)
            else:  # all pre-activations as (n_tokens, 4d) in the weights' column order
                Z = (Z / self._gate_constants(xp, Z.dtype)[0]).transpose(1, 0, 2).reshape(Z.shape[1], 4 * d)
            R_pre = empty(xp, Z.shape, R.dtype)  # every packed token is written by its step

            if fast:
                # Plain epsilon everywhere and signal-take-all. The sum rule on c = f c_prev + i g gives
                # c_prev f c_prev / c and g i g / c of R_c; g's share divided by z_g is the signal that the
                # maps into g (x_t and h_{t-1}) multiply by their weights and inputs. Stabilisers take the
                # sign of their denominator with copysign: where that is a signed zero, so is the numerator
                # (c = -0 needs f c_prev = i g = -0; z_g = -0 gives g = -0), and the share is 0 either way.
                WhT = xp.ascontiguousarray(Wh.T)
                eps_c, eps_g = C.dtype.type(cell.epsilon), C.dtype.type(rule_x.epsilon)

                def step(j, n, sl, Rh, Rc, prev=prev, R_pre=R_pre, WhT=WhT, C=C, IG=IG, Z=Z):
                    c, ig, z = C[sl], IG[sl], Z[sl]
                    s = Rc + Rh
                    den = xp.copysign(eps_c, c)
                    den += c
                    s /= den  # R_c / c, stabilised
                    r = xp.multiply(ig, s, out=den)
                    s *= c
                    s -= r  # c_prev's share: f c_prev R_c / c
                    s_g = xp.copysign(eps_g, z, out=R_pre[sl])
                    s_g += z
                    xp.divide(r, s_g, out=s_g)
                    R_hp = xp.matmul(s_g, WhT)
                    R_hp *= prev[j][0]
                    return R_hp, s
            else:
                step = functools.partial(
                    self._relevance_step, rule_h=rule_h, cell=cell, product=product, take_all=take_all,
                    fan_in=fan_in, Z=Z, A=A, C=C, IG=IG, TC=TC, prev=prev, R_pre=R_pre, Wh=Wh, b=b,
                )

            h0, c0 = self._sweep(suffix, counts, offsets, R[rows, n_dir * d : (n_dir + 1) * d], step, 2)
            rest[rows] += h0.sum(axis=1) + c0.sum(axis=1)
            if fast:  # R_pre holds the signal here
                t = xp.matmul(R_pre, Wx.T, out=empty(xp, data.shape, xp.result_type(R_pre, Wx)))
                t *= data
            else:
                t = rule_x(LinearOp.dense(data, Wx, b, output=Z, fan_in=fan_in), R_pre)
            if R_data is None:
                R_data = t
            else:
                R_data += t
        cache["relevance_rest"] = rest
        return self._unpack(R_data, cache)


class GRU(_Recurrent):
    """Gated recurrent unit layer (one or two directions) with LRP.

    The same interface as :class:`LSTM` (input ``(N, T, D)``, padding mask,
    output the last hidden state of each direction), for the original GRU of
    Cho et al. (2014), whose reset gate acts before the recurrent map::

        r = sigmoid(x_t W_r + h_{t-1} U_r + b_r)
        u = sigmoid(x_t W_u + h_{t-1} U_u + b_u)
        n = tanh(x_t W_n + (r * h_{t-1}) U_n + b_n)
        h_t = (1 - u) * n + u * h_{t-1},      h_0 = 0

    Parameters
    ----------
    units : int
        Size ``d`` of the hidden state (per direction).
    bidirectional : bool, default=True
        Also read every sequence from its last to its first real token.

    Attributes
    ----------
    params : dict
        Per direction ``"input_weight"`` ``(D, 3d)``, ``"recurrent_weight"``
        ``(d, 3d)`` and ``"bias"`` ``(3d,)`` (suffix ``"_reverse"`` for the
        right-to-left direction); columns are the gates r, u, n.

    Notes
    -----
    **Relevance** (the rules of Arras et al. 2017 for gated units), per
    sub-operation of kind ``"recurrent"``:

    - ``"input"``: the maps from ``x_t`` into the pre-activations;
      ``"recurrent"``: from ``r * h_{t-1}`` into the candidate's and from
      ``h_{t-1}`` into the gates'.  Epsilon-family rules, dividing by the
      whole pre-activation and spreading bias shares over the ``D + d``
      inputs.
    - ``"cell"``: the sum ``h_t = (1 - u) n + u h_{t-1}``, element-wise (the
      epsilon rule's ``epsilon`` and ``bias_factor``).
    - ``"gate"``: the product rule for ``(1 - u) * n``, ``u * h_{t-1}`` and
      ``r * h_{t-1}`` (gates first); signal-take-all unless a
      :class:`~sklrp.rules.ProductRule` is given: the gates get no relevance,
      ``n`` and ``h_{t-1}`` get it all.

    The relevance of ``h_0`` is recorded as ``cache["relevance_rest"]``.

    References
    ----------
    Cho et al., "Learning phrase representations using RNN encoder-decoder
    for statistical machine translation", EMNLP 2014.

    Arras, Montavon, Müller and Samek, "Explaining recurrent neural network
    predictions in sentiment analysis", WASSA 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.nn import GRU, Dense, Embedding, Sequential
    >>> net = Sequential([Embedding(50, 8), GRU(6), Dense(3, use_bias=False)])
    >>> net.build((5,), np.random.RandomState(0), np.float64)
    (3,)
    >>> R = net.explain(np.array([[4, 9, 2, 0, 0]]), np.array([[1.0, 0, 0]]), composite="epsilon")
    >>> R.shape, R[0, 3:].tolist()
    ((1, 5), [0.0, 0.0])
    """

    n_gates = 3

    def _initial_bias(self, d, dtype):
        return np.zeros(3 * d, dtype=dtype)

    def forward(self, x, training=False, rng=None, mask=None):
        xp = get_namespace(x)
        if x.ndim != 3:
            raise ValueError(f"GRU expects inputs of shape (N, T, features); got shape {x.shape}.")
        N = x.shape[0]
        d = self.units
        perm, counts, offsets, src = self._schedule(x, mask)
        data = self._gather(x, src)
        outs, dirs = [], []
        for suffix in self.directions:
            Wx, U, b = (self.params[k + suffix] for k in ("input_weight", "recurrent_weight", "bias"))
            Wx3 = self._by_gate(Wx)
            Z = xp.matmul(data, Wx3, out=empty(xp, (3, data.shape[0], d), xp.result_type(data, Wx3)))  # r, u, n
            Z += b.reshape(3, 1, d)
            U3 = self._by_gate(U)
            U_ru, U_n = U3[:2], U3[2]
            A = empty(xp, Z.shape, Z.dtype)  # r, u, n
            S = empty(xp, (Z.shape[1], d), Z.dtype)  # r * h_prev
            H = empty(xp, S.shape, Z.dtype)
            steps = self._steps(suffix, counts, offsets)
            h_last = xp.zeros((N, d), dtype=x.dtype)
            buf = xp.empty(2 * max(counts, default=0) * d, dtype=x.dtype)
            prev = []
            h = xp.zeros((0, d), dtype=x.dtype)
            for j, (n, sl) in enumerate(steps):
                (hp,) = self._carry([h], n)
                z, a = Z[:, sl], A[:, sl]
                z[:2] += xp.matmul(hp, U_ru, out=buf[: 2 * n * d].reshape(2, n, d))
                xp.tanh(z[:2] * 0.5, out=a[:2])  # sigmoid(z) = (1 + tanh(z / 2)) / 2
                a[:2] *= 0.5
                a[:2] += 0.5
                s_ = S[sl]
                xp.multiply(a[0], hp, out=s_)
                z[2] += s_ @ U_n
                xp.tanh(z[2], out=a[2])
                h = H[sl]
                xp.subtract(hp, a[2], out=h)  # h = n + u * (h_prev - n)
                h *= a[1]
                h += a[2]
                n_next = steps[j + 1][0] if j + 1 < len(steps) else 0
                if n_next < n:
                    h_last[n_next:n] = h[n_next:n]
                prev.append(hp)
            outs.append(h_last)
            dirs.append({"Z": Z, "A": A, "S": S, "prev": prev})
        return self._output(outs, perm, {"x": x, "data": data, "perm": perm, "counts": counts,
                                         "offsets": offsets, "src": src, "dirs": dirs})

    def backward(self, grad, cache, ctx=None, need_param_grads=True):
        """Backpropagation through time; the input gradient and the parameter gradients."""
        data, perm, counts, offsets = (cache[k] for k in ("data", "perm", "counts", "offsets"))
        xp = get_namespace(grad)
        d = self.units
        rows = xp.asarray(perm)
        gdata = None
        grads = {}
        for n_dir, suffix in enumerate(self.directions):
            U = self.params["recurrent_weight" + suffix]
            UT3 = xp.ascontiguousarray(self._by_gate(U).transpose(0, 2, 1))  # (3, d, d): gate k's U^T
            D = cache["dirs"][n_dir]
            A, S, prev = D["A"], D["S"], D["prev"]
            dZ = empty(xp, A.shape, A.dtype)
            dU = xp.zeros((3, d, d), dtype=grad.dtype) if need_param_grads else None

            def step(j, n, sl, dh, A=A, S=S, prev=prev, dZ=dZ, UT3=UT3, dU=dU):
                a = A[:, sl]
                r, u, nn = a[0], a[1], a[2]
                hp = prev[j]
                dz = dZ[:, sl]
                xp.multiply(dh * (1 - u), 1 - nn * nn, out=dz[2])  # through n = tanh(z_n)
                ds = dz[2] @ UT3[2]
                xp.multiply(ds * hp, r * (1 - r), out=dz[0])
                xp.multiply(dh * (hp - nn), u * (1 - u), out=dz[1])
                dhp = dh * u + ds * r + dz[0] @ UT3[0] + dz[1] @ UT3[1]
                if dU is not None:
                    dU[0] += hp.T @ dz[0]
                    dU[1] += hp.T @ dz[1]
                    dU[2] += S[sl].T @ dz[2]
                return (dhp,)

            self._sweep(suffix, counts, offsets, grad[rows, n_dir * d : (n_dir + 1) * d], step, 1)
            g_dir = self._input_gradients(suffix, data, dZ, dU, need_param_grads, grads)
            gdata = g_dir if gdata is None else gdata + g_dir
        return self._unpack(gdata, cache), grads

    def relevance(self, R, cache, ctx=None):
        rule_x, rule_h, cell, product = self._rules(ctx)
        take_all = product.mode == "signal_take_all"
        data, perm, counts, offsets = (cache[k] for k in ("data", "perm", "counts", "offsets"))
        xp = get_namespace(R)
        N = R.shape[0]
        d = self.units
        fan_in = data.shape[1] + d
        rows = xp.asarray(perm)
        R_data = zeros(xp, data.shape, data.dtype)
        rest = xp.zeros(N, dtype=R.dtype)
        for n_dir, suffix in enumerate(self.directions):
            Wx, U, b = (self.params[k + suffix] for k in ("input_weight", "recurrent_weight", "bias"))
            D = cache["dirs"][n_dir]
            Z, A, S, prev = D["Z"], D["A"], D["S"], D["prev"]
            R_n = zeros(xp, (Z.shape[1], d), R.dtype)  # relevance of the candidate's pre-activation
            R_ru = None if take_all else zeros(xp, (Z.shape[1], 2 * d), R.dtype)
            U_n, b_n = U[:, 2 * d :], b[2 * d :]
            U_ru, b_ru = U[:, : 2 * d], b[: 2 * d]

            def step(j, n, sl, Rh, Z=Z, A=A, S=S, prev=prev, R_n=R_n, R_ru=R_ru, U_n=U_n, b_n=b_n,
                     U_ru=U_ru, b_ru=b_ru):
                a = A[:, sl]
                r, u, nn = a[0], a[1], a[2]
                hp = prev[j]
                keep = 1 - u
                R_t1, R_t2 = sum_rule([keep * nn, u * hp], Rh, epsilon=cell.epsilon, bias_factor=cell.bias_factor)
                R_keep, R_cand = product(keep, nn, R_t1)
                R_u, R_hp = product(u, hp, R_t2)
                R_n[sl] = R_cand
                op = LinearOp.dense(S[sl], U_n, b_n, output=Z[2, sl], fan_in=fan_in)
                R_r, R_hp_r = product(r, hp, rule_h(op, R_cand))
                R_hp = R_hp + R_hp_r
                if not take_all:
                    r_ru = xp.concatenate([R_r, R_keep + R_u], axis=1)
                    R_ru[sl] = r_ru
                    z_ru = xp.concatenate([Z[0, sl], Z[1, sl]], axis=1)
                    R_hp = R_hp + rule_h(LinearOp.dense(hp, U_ru, b_ru, output=z_ru, fan_in=fan_in), r_ru)
                return (R_hp,)

            (h0,) = self._sweep(suffix, counts, offsets, R[rows, n_dir * d : (n_dir + 1) * d], step, 1)
            rest[rows] += h0.sum(axis=1)
            R_data += rule_x(LinearOp.dense(data, Wx[:, 2 * d :], b_n, output=Z[2], fan_in=fan_in), R_n)
            if not take_all:
                z_ru = xp.concatenate([Z[0], Z[1]], axis=1)
                R_data += rule_x(LinearOp.dense(data, Wx[:, : 2 * d], b_ru, output=z_ru, fan_in=fan_in), R_ru)
        cache["relevance_rest"] = rest
        return self._unpack(R_data, cache)

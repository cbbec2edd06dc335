"""LRP rules: how one linear map redistributes relevance onto its input.

Every rule is a callable ``rule(op, R) -> R_in`` over the
:class:`~sklrp.nn.LinearOp` interface (``op.x``, ``op.weight``, ``op.bias``,
``op.output``, ``op.forward(x, W, b)``, ``op.transpose(s, W)``), so the same
rule serves dense layers, convolutions and sum/average pooling.

Notation: the layer computes ``z_j = sum_i x_i w_ij + b_j``; ``R_j`` is the
relevance of output ``j`` and ``R_i`` that of input ``i``.  Stabilisers use
``sign(0) = +1``.  A denominator that is exactly zero passes no relevance
(the message is set to zero instead of producing inf/NaN).
"""

import math
import numbers

import numpy as np

from .._backend import stabilized_divide

__all__ = [
    "Rule",
    "Zero",
    "Epsilon",
    "Gamma",
    "AlphaBeta",
    "ZPlus",
    "ZBox",
    "WSquare",
    "Flat",
    "RULES",
    "make_rule",
]


def _safe_div(xp, R, z):
    """``R / z`` with 0 where ``z == 0``."""
    return stabilized_divide(R, z, 0.0)


#: per-sample input magnitudes outside [2**-_SCALE_EXP, 2**_SCALE_EXP] are rescaled by the rules whose relevance
#: is invariant to the scale of the input (no bias, no absolute stabiliser): see :func:`_unit_scaled`
_SCALE_EXP = 400


def _unit_scaled(xp, x):
    """``x`` divided, sample by sample, by a power of two near its largest magnitude, when that is extreme.

    For a rule without bias and without an absolute stabiliser (alpha-beta,
    z+), ``R_i = x_i sum_j w_ij R_j / z_j`` with ``z_j = sum_i x_i w_ij`` does
    not change when ``x`` is scaled, but ``R_j / z_j`` overflows when the
    inputs are tiny (about 1e-308: the relevance became inf) and underflows
    to 0 when they are huge.  Scaling by a power of two is exact (and makes
    subnormal inputs normal), so the relevance is the same number computed
    without the overflow.  Inputs of ordinary magnitude are returned as they
    are, after one reduction.
    """
    n = x.shape[0]
    if n == 0:
        return x
    m = xp.abs(x.reshape(n, -1)).max(axis=1)
    # the bounds in x's dtype: 2**±400 for float64, 2**±60 for float32 (whose range ends at 2**128)
    exp = min(_SCALE_EXP, int(np.finfo(x.dtype).maxexp) // 2 - 4)
    lo, hi = 2.0**-exp, 2.0**exp
    if not bool(xp.any(((m < lo) & (m > 0)) | (m > hi))):
        return x
    _, e = xp.frexp(xp.where(m > 0, m, 1.0))  # m = f * 2**e, 0.5 <= f < 1
    # x * 2**-e, exact; applied as an exponent shift, since 2**-e itself overflows for a subnormal maximum
    # (e < -1021 in float64, e < -125 in float32)
    return xp.ldexp(x, -e.reshape((n,) + (1,) * (x.ndim - 1)))


def _nonnegative(op):
    """Whether the op's input has no negative entry: guaranteed by the network's structure, or found by one
    reduction (pixels in [0, 1]: the terms of negative inputs are zero and need no pass)."""
    x = op.x
    return op.nonnegative_input or x.size == 0 or bool(op.xp.min(x) >= 0)


def _sign(xp, z):
    """``sign(z)`` with ``sign(0) = +1``, in z's dtype (the stabilisers' convention)."""
    return xp.where(z >= 0, 1.0, -1.0).astype(z.dtype)


def _pos(xp, a):
    return xp.maximum(a, 0)


def _neg(xp, a):
    return xp.minimum(a, 0)


def _check_real(name, value, low=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number; got {value!r}.")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}; got {value!r}.")
    return float(value)


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def _flags(params, **flags):
    """``params`` plus the boolean options that are set (defaults stay out of reprs)."""
    params.update({k: True for k, v in flags.items() if v})
    return params


def _bias(op, use, modify):
    """``modify(op.bias)`` when the rule keeps the bias in its denominator, else None."""
    return modify(op.bias) if use and op.bias is not None else None


class Rule:
    """Base class: a rule maps ``(op, R)`` to the input relevance."""

    name = None

    def __call__(self, op, R):  # pragma: no cover - abstract
        raise NotImplementedError

    def _params(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self._params().items()))))


class Epsilon(Rule):
    r"""LRP-epsilon, optionally with the bias and stabiliser shares redistributed.

    .. math:: R_i = \sum_j \frac{x_i w_{ij} + \delta\,(\epsilon\,\mathrm{sign}(z_j) + b_j) / N_j}
              {z_j + \epsilon\,\mathrm{sign}(z_j)} R_j,
              \qquad z_j = \sum_i x_i w_{ij} + b_j

    where the second term of the numerator only reaches the :math:`N_j`
    inputs connected to output :math:`j` (``op.fan_in``) and
    :math:`\delta` is ``bias_factor``.  With ``bias_factor=0`` (default) the
    bias and the stabiliser absorb part of the relevance; with
    ``bias_factor=1`` their shares are spread over the inputs, so the layer
    conserves relevance exactly (Arras et al. 2017, the epsilon rule of
    their LSTM code since 2018).

    Parameters
    ----------
    epsilon : float, default=1e-6
        Stabiliser (``sign(0) = +1``).
    bias_factor : float, default=0.0
        Share of the bias and stabiliser that is redistributed (0 or 1 in
        the literature).

    References
    ----------
    Bach et al., "On pixel-wise explanations for non-linear classifier
    decisions by layer-wise relevance propagation", PLoS ONE 10(7), 2015.
    Arras et al., "Explaining recurrent neural network predictions in
    sentiment analysis", WASSA 2017.
    """

    name = "epsilon"

    def __init__(self, epsilon=1e-6, bias_factor=0.0):
        self.epsilon = _check_real("epsilon", epsilon, low=0.0)
        self.bias_factor = _check_real("bias_factor", bias_factor, low=0.0)

    def _params(self):
        if self.bias_factor:
            return {"epsilon": self.epsilon, "bias_factor": self.bias_factor}
        return {"epsilon": self.epsilon}

    def __call__(self, op, R):
        s = stabilized_divide(R, op.output, self.epsilon)
        R_in = op.x * op.transpose(s, op.weight)
        if not self.bias_factor:
            return R_in
        xp = op.xp
        z = op.output
        share = self.epsilon * _sign(xp, z)
        if op.bias is not None:
            share = share + op.bias_output()
        fan_in = op.fan_in
        if isinstance(fan_in, numbers.Real):  # the same N_j for every output (LinearOp.dense maps)
            share = (self.bias_factor / fan_in) * (share * s)
        else:
            share = self.bias_factor * _safe_div(xp, share * s, fan_in)
        return R_in + op.transpose(share, xp.ones_like(op.weight))


class Zero(Epsilon):
    r"""LRP-0: :class:`Epsilon` with ``epsilon = 0``.

    .. math:: R_i = \sum_j \frac{x_i w_{ij}}{z_j} R_j

    The bias (inside ``z_j``) absorbs ``R_j b_j / z_j``.

    References
    ----------
    Bach et al., PLoS ONE 10(7), 2015.
    """

    name = "zero"

    def __init__(self):
        self.epsilon = 0.0
        self.bias_factor = 0.0

    def _params(self):
        return {}


class Gamma(Rule):
    r"""LRP-gamma: favour positive contributions.

    .. math:: R_i = \sum_j \frac{x_i (w_{ij} + \gamma w_{ij}^+)}
              {\epsilon\,\mathrm{sign}(z_j) + \sum_{i'} x_{i'} (w_{i'j} + \gamma w_{i'j}^+) + b_j + \gamma b_j^+} R_j

    Meant for layers whose inputs are non-negative (after a ReLU).

    With ``generalized=True`` the rule of zennit's ``Gamma`` (the
    generalised gamma rule, Andéol et al. 2021): positive and negative
    outputs are treated separately, each favouring the contributions of its
    own sign, so negative inputs and negative outputs are handled
    symmetrically.  With :math:`z_{ij} = x_i w_{ij}` and
    :math:`z_{ij}^\pm` its positive / negative part
    (:math:`z_{ij}^+ = x_i^+ w_{ij}^+ + x_i^- w_{ij}^-`),

    .. math:: R_i = \sum_{j:\, z_j > 0} \frac{z_{ij} + \gamma z_{ij}^+}
              {\sum_{i'} (z_{i'j} + \gamma z_{i'j}^+) + b_j + \gamma b_j^+ + \epsilon} R_j
              + \sum_{j:\, z_j < 0} \frac{z_{ij} + \gamma z_{ij}^-}
              {\sum_{i'} (z_{i'j} + \gamma z_{i'j}^-) + b_j + \gamma b_j^- - \epsilon} R_j

    where :math:`z_j` is the layer's output (outputs with :math:`z_j = 0`
    pass no relevance).  On non-negative inputs and positive outputs both
    forms agree; zennit's stabiliser is ``epsilon=1e-6``.

    Parameters
    ----------
    gamma : float, default=0.25
    epsilon : float, default=0.0
        Optional stabiliser (``sign(0) = +1``).
    generalized : bool, default=False
        Use the generalised rule for negative inputs and outputs (zennit's
        ``Gamma``) instead of the single-sign rule above.

    References
    ----------
    Montavon et al., "Layer-wise relevance propagation: an overview", in
    Explainable AI, LNCS 11700, Springer, 2019.
    Andéol et al., "Learning domain invariant representations by joint
    Wasserstein distance minimization", 2021 (the generalised rule; cited by
    zennit's ``Gamma``).
    """

    name = "gamma"

    def __init__(self, gamma=0.25, epsilon=0.0, generalized=False):
        self.gamma = _check_real("gamma", gamma, low=0.0)
        self.epsilon = _check_real("epsilon", epsilon, low=0.0)
        self.generalized = _check_bool("generalized", generalized)

    def _params(self):
        return _flags({"gamma": self.gamma, "epsilon": self.epsilon}, generalized=self.generalized)

    def _modified(self, op, part):
        """``(w + gamma * part(w), b + gamma * part(b))``."""
        xp = op.xp
        w = op.weight + self.gamma * part(xp, op.weight)
        return w, _bias(op, True, lambda b: b + self.gamma * part(xp, b))

    def __call__(self, op, R):
        if self.generalized:
            return self._generalized(op, R)
        w, b = self._modified(op, _pos)
        s = stabilized_divide(R, op.forward(op.x, w, b), self.epsilon)
        return op.x * op.transpose(s, w)

    def _generalized(self, op, R):
        xp = op.xp
        fwd, T = op.forward, op.transpose
        up, down = self._modified(op, _pos), self._modified(op, _neg)
        z = op.output
        # x+ meets the weights favouring the output's sign, x- the others
        # (x- w- >= 0); the bias enters with x+ only
        x_pos, x_neg = (op.x, None) if _nonnegative(op) else (_pos(xp, op.x), _neg(xp, op.x))
        R_in = 0
        for mask, (w_same, b_same), (w_other, _) in ((z > 0, up, down), (z < 0, down, up)):
            d = fwd(x_pos, w_same, b_same)
            if x_neg is not None:
                d = d + fwd(x_neg, w_other)
            s = stabilized_divide(R * mask, d, self.epsilon)
            R_in = R_in + x_pos * T(s, w_same)
            if x_neg is not None:
                R_in = R_in + x_neg * T(s, w_other)
        return R_in


class AlphaBeta(Rule):
    r"""LRP-alpha-beta with :math:`\alpha - \beta = 1`, :math:`\alpha, \beta \ge 0`.

    .. math:: R_i = \sum_j \left(\alpha \frac{(x_i w_{ij})^+}{\sum_{i'} (x_{i'} w_{i'j})^+ + \delta\, b_j^+}
              - \beta \frac{(x_i w_{ij})^-}{\sum_{i'} (x_{i'} w_{i'j})^- + \delta\, b_j^-}\right) R_j

    with :math:`\delta = 0` by default: the bias is not part of the rule
    (DSP'18 formulation), so every layer conserves relevance when both sums
    are non-zero.  ``bias=True`` sets :math:`\delta = 1`, zennit's
    ``AlphaBeta`` (and the LRP toolbox's): the positive part of the bias
    joins the positive denominator, the negative part the negative one, and
    absorbs relevance.  ``alpha=1, beta=0`` is the z+ rule on non-negative
    inputs; ``alpha=2, beta=1`` the balanced one.  Values in the LRP-toolbox
    convention (``alpha + beta = 1``) convert by flipping the sign of beta.

    Parameters
    ----------
    alpha : float, default=2.0
    beta : float, default=1.0
    bias : bool, default=False
        Keep the bias in the denominators (zennit's convention; zennit
        drops it only with ``zero_params=['bias']``).

    References
    ----------
    Bach et al., PLoS ONE 10(7), 2015; Montavon, Samek, Müller, "Methods for
    interpreting and understanding deep neural networks", DSP 73, 2018.
    """

    name = "alpha_beta"

    def __init__(self, alpha=2.0, beta=1.0, bias=False):
        alpha = _check_real("alpha", alpha, low=0.0)
        beta = _check_real("beta", beta, low=0.0)
        if abs(alpha - beta - 1.0) > 1e-9:
            raise ValueError(
                f"alpha and beta must satisfy alpha - beta = 1 (alpha, beta >= 0); "
                f"got alpha={alpha!r}, beta={beta!r}. LRP-toolbox values (alpha + beta = 1) "
                "convert by flipping the sign of beta."
            )
        self.alpha, self.beta = alpha, beta
        self.bias = _check_bool("bias", bias)

    def _params(self):
        return _flags({"alpha": self.alpha, "beta": self.beta}, bias=self.bias)

    def __call__(self, op, R):
        xp = op.xp
        wp, wn = _pos(xp, op.weight), _neg(xp, op.weight)
        bp = _bias(op, self.bias, lambda b: _pos(xp, b))
        bn = _bias(op, self.bias, lambda b: _neg(xp, b))
        fwd, T = op.forward, op.transpose
        # without bias the relevance does not depend on the scale of x: extreme inputs are rescaled exactly
        x = op.x if self.bias else _unit_scaled(xp, op.x)
        if _nonnegative(op):
            # x = x+ (e.g. after a ReLU, or pixels): the x- terms vanish
            sp = _safe_div(xp, R, fwd(x, wp, bp))
            Rp = x * T(sp, wp)
            if self.beta == 0:
                return self.alpha * Rp
            sn = _safe_div(xp, R, fwd(x, wn, bn))
            return self.alpha * Rp - self.beta * (x * T(sn, wn))
        xp_, xn = _pos(xp, x), _neg(xp, x)
        # positive contributions: x+ w+ and x- w-; negative: x+ w- and x- w+
        # (the bias part of each sign enters once, with x+)
        zp = fwd(xp_, wp, bp) + fwd(xn, wn)
        sp = _safe_div(xp, R, zp)
        Rp = xp_ * T(sp, wp) + xn * T(sp, wn)
        if self.beta == 0:
            return self.alpha * Rp
        zn = fwd(xp_, wn, bn) + fwd(xn, wp)
        sn = _safe_div(xp, R, zn)
        Rn = xp_ * T(sn, wn) + xn * T(sn, wp)
        return self.alpha * Rp - self.beta * Rn


class ZPlus(Rule):
    r"""The z+ rule of deep Taylor decomposition (inputs ``x >= 0``).

    .. math:: R_i = \sum_j \frac{x_i w_{ij}^+}{\sum_{i'} x_{i'} w_{i'j}^+ + \delta\, b_j^+} R_j

    with :math:`\delta = 0` by default: the bias is not used, as in deep
    Taylor decomposition.  ``bias=True`` sets :math:`\delta = 1`, zennit's
    ``ZPlus``, which keeps the positive part of the bias in the denominator
    (unless ``zero_params=['bias']``).  For inputs that may be negative use
    ``AlphaBeta(1, 0)`` (with the same ``bias``), which equals this rule on
    non-negative inputs; zennit's ``ZPlus`` *is* that rule on any input.

    Parameters
    ----------
    bias : bool, default=False
        Keep the positive part of the bias in the denominator (zennit).

    References
    ----------
    Montavon et al., "Explaining nonlinear classification decisions with
    deep Taylor decomposition", Pattern Recognition 65, 2017.
    """

    name = "zplus"

    def __init__(self, bias=False):
        self.bias = _check_bool("bias", bias)

    def _params(self):
        return _flags({}, bias=self.bias)

    def __call__(self, op, R):
        xp = op.xp
        w = _pos(xp, op.weight)
        x = op.x if self.bias else _unit_scaled(xp, op.x)  # see AlphaBeta
        s = _safe_div(xp, R, op.forward(x, w, _bias(op, self.bias, lambda b: _pos(xp, b))))
        return x * op.transpose(s, w)


class ZBox(Rule):
    r"""The z^B rule for inputs bounded by ``low <= x <= high``.

    .. math:: R_i = \sum_j \frac{x_i w_{ij} - l_i w_{ij}^+ - h_i w_{ij}^-}
              {\sum_{i'} x_{i'} w_{i'j} - l_{i'} w_{i'j}^+ - h_{i'} w_{i'j}^-} R_j

    The bias is not used.  With ``low = high = 0`` this is LRP-0 without bias.

    Parameters
    ----------
    low, high : float or array broadcastable to the layer input
        The input bounds.

    References
    ----------
    Montavon et al., Pattern Recognition 65, 2017.
    """

    name = "zbox"

    def __init__(self, low=-1.0, high=1.0):
        self.low, self.high = low, high

    def _params(self):
        def conv(v):
            return float(v) if isinstance(v, numbers.Real) else tuple(map(float, getattr(v, "ravel", lambda: v)()))

        return {"low": conv(self.low), "high": conv(self.high)}

    def _bound(self, xp, value, x, name):
        """``value`` broadcast to the layer input ``x``; one value per input feature in another layout (bounds
        given in the network's input shape, the layer after a Flatten or Reshape) is reshaped to a sample's."""
        v = xp.asarray(value, dtype=x.dtype)
        if v.ndim and v.size == math.prod(x.shape[1:]) and v.shape != x.shape[1:]:
            v = v.reshape(x.shape[1:])
        try:
            return xp.broadcast_to(v, x.shape)
        except ValueError:
            raise ValueError(
                f"ZBox: the bound {name} of shape {tuple(v.shape)} does not fit the input of the layer it applies "
                f"to, of shape {tuple(x.shape[1:])} per sample ({math.prod(x.shape[1:])} values); give a number or "
                "one value per input feature (input_bounds of the estimators)."
            ) from None

    def __call__(self, op, R):
        xp = op.xp
        x = op.x
        low = self._bound(xp, self.low, x, "low")
        high = self._bound(xp, self.high, x, "high")
        w = op.weight
        wp, wn = _pos(xp, w), _neg(xp, w)
        fwd, T = op.forward, op.transpose
        z = fwd(x, w) - fwd(low, wp) - fwd(high, wn)
        s = _safe_div(xp, R, z)
        return x * T(s, w) - low * T(s, wp) - high * T(s, wn)


class WSquare(Rule):
    r"""The w^2 rule (unbounded real inputs); input values do not enter.

    .. math:: R_i = \sum_j \frac{w_{ij}^2}{\sum_{i'} w_{i'j}^2 + \delta\, b_j^2} R_j

    with :math:`\delta = 0` by default: the bias is not used, as in deep
    Taylor decomposition.  ``bias=True`` sets :math:`\delta = 1`, zennit's
    ``WSquare``, which squares the bias along with the weights (unless
    ``zero_params=['bias']``).

    Parameters
    ----------
    bias : bool, default=False
        Add the squared bias to the denominator (zennit).

    References
    ----------
    Montavon et al., Pattern Recognition 65, 2017.
    """

    name = "w2"

    def __init__(self, bias=False):
        self.bias = _check_bool("bias", bias)

    def _params(self):
        return _flags({}, bias=self.bias)

    def __call__(self, op, R):
        xp = op.xp
        w = op.weight**2
        ones = xp.ones_like(op.x)
        s = _safe_div(xp, R, op.forward(ones, w, _bias(op, self.bias, lambda b: b**2)))
        return op.transpose(s, w)


class Flat(Rule):
    r"""The flat rule: relevance spread uniformly over the receptive field.

    .. math:: R_i = \sum_j \frac{1}{|\{i' : i' \to j\}|} R_j

    (all weights set to one, bias ignored).

    References
    ----------
    Lapuschkin et al., "Unmasking Clever Hans predictors and assessing what
    machines really learn", Nature Communications 10, 2019.
    """

    name = "flat"

    def __call__(self, op, R):
        xp = op.xp
        w = xp.ones_like(op.weight)
        ones = xp.ones_like(op.x)
        s = _safe_div(xp, R, op.forward(ones, w))
        return op.transpose(s, w)


RULES = {
    "zero": Zero,
    "lrp0": Zero,
    "epsilon": Epsilon,
    "gamma": Gamma,
    "alpha_beta": AlphaBeta,
    "zplus": ZPlus,
    "zbox": ZBox,
    "w2": WSquare,
    "wsquare": WSquare,
    "flat": Flat,
}


def make_rule(rule, **params):
    """Return a :class:`Rule` from a rule instance or a rule name.

    Parameters
    ----------
    rule : Rule or str
        A rule, or one of the names in :data:`RULES` (``"zero"``,
        ``"epsilon"``, ``"gamma"``, ``"alpha_beta"``, ``"zplus"``, ``"zbox"``,
        ``"w2"``, ``"flat"``).
    **params
        Parameters for a named rule; those the rule does not take are
        ignored (``epsilon``, ``gamma``, ``alpha``, ``beta``, ``low``,
        ``high``, ``bias``, ``generalized``, ``bias_factor``), and so are
        ``None`` values.

    Returns
    -------
    Rule

    Examples
    --------
    >>> from sklrp.rules import make_rule
    >>> make_rule("alpha_beta", alpha=1.0, beta=0.0, bias=True, gamma=0.5)
    AlphaBeta(alpha=1.0, beta=0.0, bias=True)
    >>> make_rule("gamma", gamma=0.1, generalized=True, bias=True)
    Gamma(gamma=0.1, epsilon=0.0, generalized=True)
    """
    if isinstance(rule, Rule):
        return rule
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(f"Unknown LRP rule {rule!r}; expected a Rule instance or one of {sorted(RULES)}.")
    cls = RULES[rule]
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in params.items() if k in accepted and v is not None}
    return cls(**kwargs)

"""Rules for operations that are not one linear map.

- :func:`sum_rule`: a sum of terms ``z = sum_k t_k (+ b)``, e.g. an LSTM
  cell state ``f * c_prev + i * g``;
- :func:`product_rule`: a product ``gate * signal`` (multiplicative gates);
- :class:`Gradient`, :class:`DeconvNet`, :class:`GuidedBackprop`: how an
  element-wise activation passes a *gradient* backwards, the rules behind the
  gradient-based methods.

All are plain array functions (NumPy or CuPy), like the linear-map rules.
"""

from .._backend import get_namespace, stabilized_divide
from ._rules import Rule, _check_real, _sign

__all__ = [
    "sum_rule",
    "product_rule",
    "PRODUCT_MODES",
    "ProductRule",
    "ActivationOp",
    "Gradient",
    "DeconvNet",
    "GuidedBackprop",
]

#: how :func:`product_rule` splits the relevance of ``gate * signal``
PRODUCT_MODES = ("signal_take_all", "half", "proportional")


def sum_rule(terms, R, *, bias=None, epsilon=0.0, bias_factor=0.0):
    r"""Split the relevance of a sum ``z = sum_k t_k + b`` onto its terms.

    .. math:: R_k = \frac{t_k + \delta\,(\epsilon\,\mathrm{sign}(z) + b) / K}
              {z + \epsilon\,\mathrm{sign}(z)} R

    element-wise, with :math:`K` the number of terms and :math:`\delta` the
    ``bias_factor``: the epsilon rule on an identity-weight linear map
    (Arras et al. 2017 use it for the LSTM cell state ``f c_{t-1} + i g``).
    With ``bias_factor=1`` the terms receive all of ``R``.

    Parameters
    ----------
    terms : sequence of arrays of the same shape
        The summands :math:`t_k`.
    R : array of that shape
        Relevance of the sum.
    bias : array or None, default=None
        A constant part of the sum (not a term).
    epsilon : float, default=0.0
        Stabiliser, ``sign(0) = +1``.
    bias_factor : float, default=0.0
        Share of the bias and stabiliser that is redistributed onto the terms.

    Returns
    -------
    list of arrays
        The relevance of each term, in order.
    """
    terms = list(terms)
    if not terms:
        raise ValueError("sum_rule needs at least one term.")
    epsilon = _check_real("epsilon", epsilon, low=0.0)
    bias_factor = _check_real("bias_factor", bias_factor, low=0.0)
    xp = get_namespace(R)
    z = terms[0]
    for t in terms[1:]:
        z = z + t
    if bias is not None:
        z = z + bias
    s = stabilized_divide(R, z, epsilon)
    if not bias_factor:
        return [t * s for t in terms]
    share = epsilon * _sign(xp, z)
    if bias is not None:
        share = share + bias
    share = (bias_factor / len(terms)) * share
    return [(t + share) * s for t in terms]


def product_rule(gate, signal, R, *, mode="signal_take_all", epsilon=0.0):
    r"""Split the relevance of a product ``gate * signal``.

    - ``"signal_take_all"`` (Arras et al. 2017): the signal gets all of
      ``R``, the gate none; the gate only scales the signal, and its effect
      is already in the forward value.
    - ``"half"``: each factor gets ``R / 2``.
    - ``"proportional"``: factor :math:`k` gets
      :math:`u_k / (u_{gate} + u_{signal} + \epsilon\,\mathrm{sign}(\cdot)) R`.

    The last two are the alternatives compared by Arras et al., "Evaluating
    recurrent neural network explanations", BlackboxNLP 2019.

    Parameters
    ----------
    gate, signal : arrays of the same shape
        The two factors (forward values).
    R : array of that shape
        Relevance of the product.
    mode : {"signal_take_all", "half", "proportional"}, default="signal_take_all"
    epsilon : float, default=0.0
        Stabiliser of ``"proportional"``.

    Returns
    -------
    R_gate, R_signal : arrays
    """
    xp = get_namespace(R)
    if mode == "signal_take_all":
        return xp.zeros_like(R), R
    if mode == "half":
        return 0.5 * R, 0.5 * R
    if mode == "proportional":
        s = stabilized_divide(R, gate + signal, _check_real("epsilon", epsilon, low=0.0))
        return gate * s, signal * s
    raise ValueError(f"Unknown product rule mode {mode!r}; expected one of {list(PRODUCT_MODES)}.")


class ProductRule(Rule):
    """How a layer with multiplicative gates splits the relevance of ``gate * signal``.

    A composite entry for the sub-operation ``"gate"`` of a gated layer
    (:class:`sklrp.nn.LSTM`); calling it applies :func:`product_rule`.

    Parameters
    ----------
    mode : {"signal_take_all", "half", "proportional"}, default="signal_take_all"
        See :func:`product_rule`.
    epsilon : float, default=0.0
        Stabiliser of ``"proportional"``.

    Examples
    --------
    >>> from sklrp.rules import Composite, Epsilon, ProductRule
    >>> comp = Composite({"recurrent": {"default": Epsilon(1e-3), "gate": ProductRule("half")}})
    """

    name = "product"

    def __init__(self, mode="signal_take_all", epsilon=0.0):
        if mode not in PRODUCT_MODES:
            raise ValueError(f"Unknown product rule mode {mode!r}; expected one of {list(PRODUCT_MODES)}.")
        self.mode = mode
        self.epsilon = _check_real("epsilon", epsilon, low=0.0)

    def _params(self):
        params = {"mode": self.mode}
        if self.epsilon:
            params["epsilon"] = self.epsilon
        return params

    def __call__(self, gate, signal, R):
        """``(R_gate, R_signal)`` for the product ``gate * signal`` with relevance ``R``."""
        return product_rule(gate, signal, R, mode=self.mode, epsilon=self.epsilon)


class ActivationOp:
    """An element-wise activation ``y = g(x)`` seen by a gradient rule.

    Parameters
    ----------
    x : array
        The activation's input.
    derivative : callable
        ``derivative() -> g'(x)``, evaluated only when a rule asks for it.
    """

    def __init__(self, x, derivative):
        self.x = x
        self.xp = get_namespace(x)
        self._derivative = derivative

    def derivative(self):
        """The local derivative ``g'(x)``."""
        return self._derivative()


class Gradient(Rule):
    """The true gradient through an activation: ``grad * g'(x)``."""

    name = "gradient"

    def __call__(self, op, grad):
        return grad * op.derivative()


class DeconvNet(Rule):
    """Deconvnet: rectify the backward signal, ignore the forward input.

    ``grad_in = max(grad, 0)`` (meant for ReLU layers).

    References
    ----------
    Zeiler and Fergus, "Visualizing and understanding convolutional
    networks", ECCV 2014.
    """

    name = "deconvnet"

    def __call__(self, op, grad):
        return op.xp.maximum(grad, 0)


class GuidedBackprop(Rule):
    """Guided backpropagation: the rectified gradient, masked by ``g'(x)``.

    ``grad_in = max(grad, 0) * g'(x)``; on a ReLU the mask is ``x > 0``.

    References
    ----------
    Springenberg et al., "Striving for simplicity: the all convolutional
    net", ICLR workshop 2015.
    """

    name = "guided_backprop"

    def __call__(self, op, grad):
        return op.xp.maximum(grad, 0) * op.derivative()

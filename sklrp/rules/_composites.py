"""Composites: which rule applies to which layer.

A composite assigns a rule per layer *kind* (``"dense"``, ``"conv"``,
``"pool"`` for sum/average pooling), with an override for the *first*
linear layer (the one that sees the input), an optional one for the *last*
linear layer (the output layer) and per-index overrides.  Named presets are
built from the estimator's explanation parameters (``epsilon``, ``gamma``,
``alpha``, ``beta``, ``input_bounds``).
"""

from ._rules import (
    AlphaBeta,
    Epsilon,
    Flat,
    Gamma,
    Rule,
    WSquare,
    ZBox,
    Zero,
    ZPlus,
    make_rule,
)

__all__ = ["Composite", "COMPOSITES", "get_composite"]

_KINDS = ("dense", "conv", "pool")


class Composite:
    """Per-layer assignment of LRP rules.

    Parameters
    ----------
    rules : dict, default=None
        Maps a layer kind (``"dense"``, ``"conv"``, ``"pool"``) or
        ``"default"`` to a :class:`~sklrp.rules.Rule` (or a rule name).
        Kinds not given fall back to ``"default"`` and then to LRP-0.
    first : Rule or str, default=None
        Rule for the first linear layer (input layer).
    last : Rule or str, default=None
        Rule for the last linear layer (output layer).
    layer_rules : dict of int to Rule, default=None
        Rules for individual layers, by position in the network's layer list
        (negative indices count from the end); these win over everything.

    Examples
    --------
    >>> from sklrp.rules import Composite, Epsilon, Gamma, ZBox
    >>> comp = Composite({"dense": Epsilon(0.1), "conv": Gamma(0.25)},
    ...                  first=ZBox(-1.0, 1.0))
    """

    def __init__(self, rules=None, *, first=None, last=None, layer_rules=None):
        rules = dict(rules or {})
        unknown = set(rules) - set(_KINDS) - {"default"}
        if unknown:
            raise ValueError(
                f"Unknown layer kind(s) {sorted(unknown)} in composite; expected {list(_KINDS) + ['default']}."
            )
        self.rules = {k: make_rule(v) for k, v in rules.items()}
        self.first = None if first is None else make_rule(first)
        self.last = None if last is None else make_rule(last)
        self.layer_rules = {int(k): make_rule(v) for k, v in (layer_rules or {}).items()}

    def rule_for(self, layer, index, n_layers, is_first, is_last):
        """Return the rule for ``layer`` at position ``index``."""
        for key in (index, index - n_layers):
            if key in self.layer_rules:
                return self.layer_rules[key]
        if is_first and self.first is not None:
            return self.first
        if is_last and self.last is not None:
            return self.last
        if layer.kind in self.rules:
            return self.rules[layer.kind]
        return self.rules.get("default", Zero())

    def __repr__(self):
        parts = [f"{self.rules!r}"]
        if self.first is not None:
            parts.append(f"first={self.first!r}")
        if self.last is not None:
            parts.append(f"last={self.last!r}")
        if self.layer_rules:
            parts.append(f"layer_rules={self.layer_rules!r}")
        return f"Composite({', '.join(parts)})"


def _bounds(input_bounds):
    if input_bounds is None:
        raise ValueError(
            "This composite uses the z^B rule at the input and needs input_bounds=(low, high); "
            "set input_bounds or fit the estimator (it records the training data range)."
        )
    low, high = input_bounds
    return low, high


def _epsilon(p):
    return Composite({"dense": Epsilon(p["epsilon"]), "conv": Epsilon(p["epsilon"]), "pool": Zero()})


def _epsilon_plus(p):
    return Composite({"dense": Epsilon(p["epsilon"]), "conv": ZPlus(), "pool": Zero()})


def _epsilon_plus_flat(p):
    return Composite({"dense": Epsilon(p["epsilon"]), "conv": ZPlus(), "pool": Zero()}, first=Flat())


def _epsilon_gamma_box(p):
    return Composite(
        {"dense": Epsilon(p["epsilon"]), "conv": Gamma(p["gamma"]), "pool": Zero()},
        first=ZBox(*_bounds(p["input_bounds"])),
    )


def _deep_taylor(p):
    first = WSquare() if p["input_bounds"] is None else ZBox(*p["input_bounds"])
    return Composite({"default": ZPlus()}, first=first)


def _alpha_beta(p):
    return Composite({"dense": AlphaBeta(p["alpha"], p["beta"]), "conv": AlphaBeta(p["alpha"], p["beta"]), "pool": Zero()})


#: Named presets: name -> (factory(params), description)
COMPOSITES = {
    "zero": (lambda p: Composite({"default": Zero()}), "LRP-0 on every linear layer"),
    "epsilon": (_epsilon, "LRP-epsilon on dense and conv layers"),
    "gamma": (
        lambda p: Composite({"dense": Gamma(p["gamma"]), "conv": Gamma(p["gamma"]), "pool": Zero()}),
        "LRP-gamma on dense and conv layers",
    ),
    "epsilon_plus": (_epsilon_plus, "z+ on conv layers, epsilon on dense layers"),
    "epsilon_plus_flat": (_epsilon_plus_flat, "epsilon_plus with the flat rule at the input layer"),
    "epsilon_gamma_box": (_epsilon_gamma_box, "gamma on conv, epsilon on dense, z^B at the input"),
    "alpha_beta": (_alpha_beta, "alpha-beta (the estimator's alpha, beta) on dense and conv layers"),
    "alpha2_beta1": (
        lambda p: Composite({"dense": AlphaBeta(2.0, 1.0), "conv": AlphaBeta(2.0, 1.0), "pool": Zero()}),
        "alpha=2, beta=1 on dense and conv layers",
    ),
    "alpha1_beta0": (
        lambda p: Composite({"dense": AlphaBeta(1.0, 0.0), "conv": AlphaBeta(1.0, 0.0), "pool": Zero()}),
        "alpha=1, beta=0 on dense and conv layers",
    ),
    "epsilon_alpha2_beta1": (
        lambda p: Composite({"dense": Epsilon(p["epsilon"]), "conv": AlphaBeta(2.0, 1.0), "pool": Zero()}),
        "alpha=2, beta=1 on conv layers, epsilon on dense layers",
    ),
    "deep_taylor": (_deep_taylor, "z+ on hidden layers; z^B at the input (w^2 without input_bounds)"),
    "flat": (lambda p: Composite({"default": Flat()}), "flat rule everywhere (a sanity baseline)"),
}


def get_composite(composite, *, epsilon=1e-6, gamma=0.25, alpha=2.0, beta=1.0, input_bounds=None):
    """Resolve a composite given by name, :class:`Composite`, rule or dict.

    Parameters
    ----------
    composite : str, Composite, Rule or dict
        A preset name (see :data:`COMPOSITES`), a composite, a single rule
        (applied to every linear layer) or a dict accepted by
        :class:`Composite`.
    epsilon, gamma, alpha, beta : float
        Parameters of the rules inside a named preset.
    input_bounds : tuple (low, high) or None
        Bounds for the z^B rule.

    Returns
    -------
    Composite
    """
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, Rule):
        return Composite({"default": composite})
    if isinstance(composite, dict):
        rules = dict(composite)
        first = rules.pop("first", None)
        last = rules.pop("last", None)
        return Composite(rules, first=first, last=last)
    if isinstance(composite, str) and composite in COMPOSITES:
        params = dict(epsilon=epsilon, gamma=gamma, alpha=alpha, beta=beta, input_bounds=input_bounds)
        return COMPOSITES[composite][0](params)
    raise ValueError(
        f"Unknown composite {composite!r}; expected a Composite, a Rule, a dict of rules or one of "
        f"{sorted(COMPOSITES)}."
    )

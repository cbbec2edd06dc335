"""Composites: which rule applies to which layer, and the traversal context.

A composite assigns rules to layers by *kind* (``"dense"``, ``"conv"``,
``"pool"`` for sum/average pooling, or the ``kind`` of any user-defined
layer), by layer *type* (a class or tuple of classes), by a *predicate*
(``callable(layer) -> bool``), by position or name (``layer_rules``), and
to the *first* and *last* rule-using layers.  A layer made of several
linear maps (an LSTM cell, a gated unit) asks for one rule per named
sub-operation; a composite entry may then be a dict ``{op_name: rule}``.

Named presets are built from the estimator's explanation parameters
(``epsilon``, ``gamma``, ``alpha``, ``beta``, ``input_bounds``) and, where
sklrp and zennit differ, from the convention options of
:func:`get_composite` (``conventions``, ``bias``, ``generalized_gamma``,
``pool_epsilon``, ``first_layer``).
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
    _check_bool,
    _check_real,
    make_rule,
)

__all__ = ["Composite", "COMPOSITES", "CONVENTIONS", "get_composite", "TraversalContext", "register_layer_kind"]

#: layer kinds that composites accept as string keys; layer classes with a
#: ``kind`` register it when they are defined (see :class:`sklrp.nn.Layer`)
_KINDS = {"dense", "conv", "pool", "recurrent"}


def register_layer_kind(kind):
    """Make ``kind`` a valid string key of :class:`Composite` rules."""
    _KINDS.add(str(kind))


def _as_rule(value):
    """A rule, or a dict ``{sub-operation: rule}``, from names or instances."""
    if isinstance(value, dict):
        return {str(op): make_rule(v) for op, v in value.items()}
    return make_rule(value)


def _pick(value, op):
    """The rule for sub-operation ``op`` in a composite entry (None: no entry)."""
    if isinstance(value, dict):
        return value.get(op, value.get("default"))
    return value


def _check_matcher(key):
    if isinstance(key, str):
        if key != "default" and key not in _KINDS:
            raise ValueError(
                f"Unknown layer kind {key!r} in composite; expected one of "
                f"{sorted(_KINDS) + ['default']}, a layer class, a tuple of classes or a predicate."
            )
    elif isinstance(key, tuple):
        if not key or not all(isinstance(k, type) for k in key):
            raise ValueError(f"A tuple key of a composite must hold layer classes; got {key!r}.")
    elif not (isinstance(key, type) or callable(key)):
        raise ValueError(
            f"Composite keys are layer kinds, layer classes, tuples of classes or predicates; got {key!r}."
        )
    return key


def _matches(key, layer):
    if isinstance(key, str):
        return getattr(layer, "kind", None) == key
    if isinstance(key, (type, tuple)):
        return isinstance(layer, key)
    return bool(key(layer))


class Composite:
    """Per-layer assignment of LRP rules.

    Parameters
    ----------
    rules : dict, default=None
        Maps a key to a :class:`~sklrp.rules.Rule` (or a rule name), or to a
        dict ``{sub-operation: rule}`` for layers made of several linear maps
        (``"default"`` inside it covers the other sub-operations).  A key is a
        layer kind (``"dense"``, ``"conv"``, ``"pool"`` or a user layer's
        ``kind``), a layer class, a tuple of classes, or a predicate
        ``callable(layer) -> bool``; the first matching key in insertion order
        wins.  ``"default"`` covers the remaining layers, and LRP-0 the rest.
    first : Rule, str or dict, default=None
        Rule for the first rule-using layer (the one that sees the input).
    last : Rule, str or dict, default=None
        Rule for the last rule-using layer (the output layer).
    layer_rules : dict, default=None
        Rules for individual layers by position in the network's layer list
        (int; negative counts from the end) or by layer name (str, see
        :meth:`sklrp.nn.Sequential.layer_names`); these win over everything.
        A key that reaches no layer using a rule (a misspelt name, a position
        beyond the network or of an activation) raises a ``ValueError`` when
        the network is explained.
    first_match : str, class, tuple of classes or callable, default=None
        Which layers count when looking for the *first* layer: ``None`` any
        rule-using layer; e.g. ``(Conv1D, Conv2D)`` gives zennit's "first
        convolution" convention for ``first``.

    Examples
    --------
    >>> from sklrp.nn import Conv2D, Dense
    >>> from sklrp.rules import Composite, Epsilon, Gamma, ZBox
    >>> comp = Composite({"dense": Epsilon(0.1), "conv": Gamma(0.25)},
    ...                  first=ZBox(-1.0, 1.0))
    >>> comp = Composite({Conv2D: Gamma(0.25), lambda layer: layer.kind == "dense": "epsilon"})
    """

    def __init__(self, rules=None, *, first=None, last=None, layer_rules=None, first_match=None):
        self.rules = {_check_matcher(k): _as_rule(v) for k, v in dict(rules or {}).items()}
        self.first = None if first is None else _as_rule(first)
        self.last = None if last is None else _as_rule(last)
        self.layer_rules = {}
        for k, v in (layer_rules or {}).items():
            if isinstance(k, bool) or not isinstance(k, (int, str)):
                raise ValueError(f"layer_rules keys are layer positions (int) or names (str); got {k!r}.")
            self.layer_rules[k] = _as_rule(v)
        self.first_match = None if first_match is None else _check_matcher(first_match)

    def counts_as_first(self, layer):
        """Whether ``layer`` (a rule-using layer) may be the *first* layer."""
        return self.first_match is None or _matches(self.first_match, layer)

    def rule_for(self, layer, index, n_layers, is_first, is_last, *, op="input", name=None):
        """Return the rule for sub-operation ``op`` of ``layer`` at position ``index``.

        Priority: ``layer_rules`` (position, negative position, name), then
        ``first`` / ``last``, then the first matching entry of ``rules``,
        then ``rules["default"]``, then LRP-0.
        """
        candidates = [self.layer_rules.get(key) for key in (index, index - n_layers, name) if key is not None]
        if is_first:
            candidates.append(self.first)
        if is_last:
            candidates.append(self.last)
        candidates += [v for k, v in self.rules.items() if not (isinstance(k, str) and k == "default") and _matches(k, layer)]
        candidates.append(self.rules.get("default"))
        for value in candidates:
            rule = None if value is None else _pick(value, op)
            if rule is not None:
                return rule
        return Zero()

    def __repr__(self):
        parts = [f"{self.rules!r}"]
        for field in ("first", "last", "first_match"):
            if getattr(self, field) is not None:
                parts.append(f"{field}={getattr(self, field)!r}")
        if self.layer_rules:
            parts.append(f"layer_rules={self.layer_rules!r}")
        return f"Composite({', '.join(parts)})"


class TraversalContext:
    """What a layer knows about its place in one backward traversal.

    :meth:`sklrp.nn.Sequential.relevance` (and ``backward`` with a gradient
    composite) hands one context to every layer; the layer asks it for the
    rule of each of its linear sub-operations.

    Parameters
    ----------
    composite : Composite, default=None
        ``None`` gives LRP-0 everywhere.
    index, n_layers : int, default=0, 1
        Position of the layer and length of the stack.
    name : str, default=None
        The layer's name.
    is_first, is_last : bool, default=False
        Whether the layer is the first / last rule-using layer.
    nonnegative_input : bool, default=False
        Whether the network's structure guarantees a non-negative input to
        this layer (e.g. it follows a ReLU); rules may use it to skip terms.

    Examples
    --------
    >>> from sklrp.nn import Dense
    >>> from sklrp.rules import Composite, Epsilon, TraversalContext
    >>> ctx = TraversalContext(Composite({"dense": Epsilon(0.1)}))
    >>> ctx.rule(Dense(3))
    Epsilon(epsilon=0.1)
    """

    def __init__(self, composite=None, *, index=0, n_layers=1, name=None, is_first=False, is_last=False,
                 nonnegative_input=False):
        self.composite = Composite() if composite is None else composite
        self.index = index
        self.n_layers = n_layers
        self.name = name
        self.is_first = is_first
        self.is_last = is_last
        self.nonnegative_input = nonnegative_input

    def rule(self, layer, op="input"):
        """The rule for sub-operation ``op`` of ``layer`` (``"input"`` for a single map)."""
        return self.composite.rule_for(
            layer, self.index, self.n_layers, self.is_first, self.is_last, op=op, name=self.name
        )

    @classmethod
    def for_layers(cls, composite, layers, names=None, nonnegative_inputs=None):
        """One context per layer of a stack (first/last among rule-using layers)."""
        n = len(layers)
        using = [i for i, layer in enumerate(layers) if getattr(layer, "uses_rules", False)]
        firsts = [i for i in using if composite.counts_as_first(layers[i])]
        first = firsts[0] if firsts else None
        last = using[-1] if using else None
        names = names or [None] * n
        nonneg = nonnegative_inputs or [False] * n
        return [
            cls(composite, index=i, n_layers=n, name=names[i], is_first=i == first, is_last=i == last,
                nonnegative_input=nonneg[i])
            for i in range(n)
        ]


def _bounds(input_bounds):
    if input_bounds is None:
        raise ValueError(
            "This composite uses the z^B rule at the input and needs input_bounds=(low, high); "
            "set input_bounds or fit the estimator (it records the training data range)."
        )
    low, high = input_bounds
    return low, high


class _KindIn:
    """Predicate ``layer.kind in kinds`` (a readable, comparable ``first_match``)."""

    def __init__(self, *kinds):
        self.kinds = tuple(kinds)

    def __call__(self, layer):
        return getattr(layer, "kind", None) in self.kinds

    def __eq__(self, other):
        return type(other) is _KindIn and other.kinds == self.kinds

    def __hash__(self):
        return hash(self.kinds)

    def __repr__(self):
        return f"kind in {self.kinds!r}"


#: ``first_layer`` shorthands of :func:`get_composite` -> ``Composite(first_match=...)``
_FIRST_LAYERS = {"any": None, "dense_or_conv": _KindIn("dense", "conv")}

#: What each value of ``conventions`` sets when an option is not given.
#: ``first_layer`` under zennit depends on the preset (zennit's
#: EpsilonGammaBox puts z^B on the first convolution, its *Flat composites
#: the flat rule on the first dense or convolution layer).
CONVENTIONS = {
    "sklrp": {"bias": False, "generalized_gamma": False, "pool_epsilon": 0.0, "first_layer": {}},
    "zennit": {
        "bias": True,
        "generalized_gamma": True,
        "pool_epsilon": 1e-6,
        "first_layer": {"epsilon_gamma_box": "conv", "epsilon_plus_flat": "dense_or_conv"},
    },
}


# --- rule factories shared by the presets; ``p`` holds the resolved options
def _eps(p):
    return Epsilon(p["epsilon"], bias_factor=p["bias_factor"])


def _gamma(p):
    return Gamma(p["gamma"], generalized=p["generalized_gamma"])


def _ab(p, alpha=None, beta=None):
    alpha = p["alpha"] if alpha is None else alpha
    beta = p["beta"] if beta is None else beta
    return AlphaBeta(alpha, beta, bias=p["bias"])


def _zplus(p):
    # zennit's ZPlus is alpha=1, beta=0 on any input (x- w- counts as
    # positive); sklrp's z+ assumes x >= 0 (where both agree)
    if p["conventions"] == "zennit":
        return AlphaBeta(1.0, 0.0, bias=p["bias"])
    return ZPlus(bias=p["bias"])


def _pool(p):
    return Epsilon(p["pool_epsilon"]) if p["pool_epsilon"] else Zero()


def _by_kind(p, dense, conv, first=None):
    """Preset with rules for dense and conv layers, the pooling rule and a first-layer rule.

    Recurrent layers get the dense layers' rule (their maps are dense).
    """
    return Composite(
        {"dense": dense(p), "conv": conv(p), "pool": _pool(p), "recurrent": dense(p)},
        first=first, first_match=None if first is None else p["first_match"],
    )


def _deep_taylor(p):
    first = WSquare(bias=p["bias"]) if p["input_bounds"] is None else ZBox(*p["input_bounds"])
    return Composite({"default": _zplus(p)}, first=first, first_match=p["first_match"])


#: Named presets: name -> (factory(params), description)
COMPOSITES = {
    "zero": (lambda p: Composite({"default": Zero() if not p["bias_factor"] else Epsilon(0.0, p["bias_factor"])}),
             "LRP-0 on every linear layer"),
    "epsilon": (lambda p: _by_kind(p, _eps, _eps), "LRP-epsilon on dense and conv layers"),
    "gamma": (lambda p: _by_kind(p, _gamma, _gamma), "LRP-gamma on dense and conv layers"),
    "epsilon_plus": (lambda p: _by_kind(p, _eps, _zplus), "z+ on conv layers, epsilon on dense layers"),
    "epsilon_plus_flat": (
        lambda p: _by_kind(p, _eps, _zplus, first=Flat()),
        "epsilon_plus with the flat rule at the input layer",
    ),
    "epsilon_gamma_box": (
        lambda p: _by_kind(p, _eps, _gamma, first=ZBox(*_bounds(p["input_bounds"]))),
        "gamma on conv, epsilon on dense, z^B at the input",
    ),
    "alpha_beta": (
        lambda p: _by_kind(p, _ab, _ab),
        "alpha-beta (the estimator's alpha, beta) on dense and conv layers",
    ),
    "alpha2_beta1": (
        lambda p: _by_kind(p, lambda q: _ab(q, 2.0, 1.0), lambda q: _ab(q, 2.0, 1.0)),
        "alpha=2, beta=1 on dense and conv layers",
    ),
    "alpha1_beta0": (
        lambda p: _by_kind(p, lambda q: _ab(q, 1.0, 0.0), lambda q: _ab(q, 1.0, 0.0)),
        "alpha=1, beta=0 on dense and conv layers",
    ),
    "epsilon_alpha2_beta1": (
        lambda p: _by_kind(p, _eps, lambda q: _ab(q, 2.0, 1.0)),
        "alpha=2, beta=1 on conv layers, epsilon on dense layers",
    ),
    "deep_taylor": (_deep_taylor, "z+ on hidden layers; z^B at the input (w^2 without input_bounds)"),
    "flat": (lambda p: Composite({"default": Flat()}), "flat rule everywhere (a sanity baseline)"),
}


def _preset_options(name, conventions, bias, generalized_gamma, pool_epsilon, first_layer):
    """The options of preset ``name``: given values, else those of ``conventions``."""
    if not isinstance(conventions, str) or conventions not in CONVENTIONS:
        raise ValueError(f"conventions must be one of {sorted(CONVENTIONS)}; got {conventions!r}.")
    defaults = CONVENTIONS[conventions]
    if first_layer is None:
        first_layer = defaults["first_layer"].get(name, "any")
    names = _FIRST_LAYERS.keys() | _KINDS
    if isinstance(first_layer, str) and first_layer not in names:
        raise ValueError(
            f"first_layer must be one of {sorted(names)}, a layer class, a tuple of classes or a predicate; "
            f"got {first_layer!r}."
        )
    first_match = _FIRST_LAYERS.get(first_layer, first_layer) if isinstance(first_layer, str) else first_layer
    first_match = None if first_match is None else _check_matcher(first_match)
    return {
        "conventions": conventions,
        "bias": _check_bool("bias", defaults["bias"] if bias is None else bias),
        "generalized_gamma": _check_bool(
            "generalized_gamma", defaults["generalized_gamma"] if generalized_gamma is None else generalized_gamma
        ),
        "pool_epsilon": _check_real(
            "pool_epsilon", defaults["pool_epsilon"] if pool_epsilon is None else pool_epsilon, low=0.0
        ),
        "first_match": first_match,
    }


def get_composite(composite, *, epsilon=1e-6, gamma=0.25, alpha=2.0, beta=1.0, input_bounds=None,
                  conventions="sklrp", bias=None, generalized_gamma=None, pool_epsilon=None, first_layer=None,
                  bias_factor=0.0):
    """Resolve a composite given by name, :class:`Composite`, rule or dict.

    Parameters
    ----------
    composite : str, Composite, Rule or dict
        A preset name (see :data:`COMPOSITES`), a composite, a single rule
        (applied to every linear layer) or a dict of :class:`Composite`'s
        rules, whose keys ``"first"``, ``"last"``, ``"layer_rules"`` and
        ``"first_match"`` are its keyword arguments.
    epsilon, gamma, alpha, beta : float
        Parameters of the rules inside a named preset.  Recurrent layers
        (kind ``"recurrent"``) get the preset's dense-layer rule.
    input_bounds : tuple (low, high) or None
        Bounds for the z^B rule.
    conventions : {"sklrp", "zennit"}, default="sklrp"
        Where zennit 0.5 and the papers differ, which side the preset takes;
        sets every option below that is left at ``None`` (see
        :data:`CONVENTIONS` and :doc:`/conventions`).  ``"zennit"`` also
        uses zennit's z+ rule, ``AlphaBeta(1, 0)``, which differs from
        :class:`ZPlus` on negative inputs.
    bias : bool, default=None
        Whether z+, alpha-beta and w^2 keep the bias in their denominators
        (``ZPlus(bias=...)``, ``AlphaBeta(bias=...)``,
        ``WSquare(bias=...)``).  ``None``: False (sklrp) or True (zennit).
    generalized_gamma : bool, default=None
        Whether the gamma rule is the generalised one for negative inputs and
        outputs (``Gamma(generalized=...)``).  ``None``: False (sklrp) or
        True (zennit).
    pool_epsilon : float, default=None
        Stabiliser of the rule on sum/average pooling layers:
        ``Epsilon(pool_epsilon)``, LRP-0 when 0.  ``None``: 0 (sklrp) or
        1e-6 (zennit's ``Norm`` rule).  Applies to the presets that treat
        pooling separately (not ``zero``, ``deep_taylor``, ``flat``).
    first_layer : str, class, tuple of classes or callable, default=None
        Which layer gets the preset's first-layer rule (``first_match`` of
        :class:`Composite`): ``"any"`` the first rule-using layer,
        ``"conv"`` the first convolution, ``"dense_or_conv"`` the first
        dense or convolution layer, or any other layer kind, class or
        predicate.  ``None``: ``"any"`` (sklrp); zennit: ``"conv"`` for
        ``epsilon_gamma_box``, ``"dense_or_conv"`` for ``epsilon_plus_flat``,
        ``"any"`` otherwise.
    bias_factor : float, default=0.0
        ``bias_factor`` of the preset's :class:`Epsilon` rules (LRP-0 of
        ``"zero"`` included): the share of the bias and stabiliser spread
        over the inputs (1 conserves relevance exactly; Arras et al. 2017
        for LSTMs).

    Returns
    -------
    Composite

    Notes
    -----
    ``conventions`` and the options after it shape named presets only; a
    composite, rule or dict is returned as given.

    Examples
    --------
    >>> from sklrp.rules import get_composite
    >>> get_composite("epsilon_plus", epsilon=0.1, bias=True)
    Composite({'dense': Epsilon(epsilon=0.1), 'conv': ZPlus(bias=True), 'pool': Zero(), 'recurrent': Epsilon(epsilon=0.1)})
    >>> get_composite("epsilon_gamma_box", input_bounds=(-1.0, 1.0), conventions="zennit").first_match
    'conv'
    """
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, Rule):
        return Composite({"default": composite})
    if isinstance(composite, dict):
        rules = dict(composite)
        first = rules.pop("first", None)
        last = rules.pop("last", None)
        layer_rules = rules.pop("layer_rules", None)
        first_match = rules.pop("first_match", None)
        return Composite(rules, first=first, last=last, layer_rules=layer_rules, first_match=first_match)
    if isinstance(composite, str) and composite in COMPOSITES:
        params = dict(epsilon=epsilon, gamma=gamma, alpha=alpha, beta=beta, input_bounds=input_bounds,
                      bias_factor=_check_real("bias_factor", bias_factor, low=0.0))
        params.update(_preset_options(composite, conventions, bias, generalized_gamma, pool_epsilon, first_layer))
        return COMPOSITES[composite][0](params)
    raise ValueError(
        f"Unknown composite {composite!r}; expected a Composite, a Rule, a dict of rules or one of "
        f"{sorted(COMPOSITES)}."
    )

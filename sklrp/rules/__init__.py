"""LRP rules and composites.

Rules are plain array functions over the :class:`sklrp.nn.LinearOp`
interface (one linear map) or over the parts of a sum or product
(:func:`sum_rule`, :func:`product_rule`); gradient rules say how an
activation passes a gradient (deconvnet, guided backprop).  Composites
assign rules to layers, and a :class:`TraversalContext` hands each layer its
rules during one backward traversal.
"""

from ._composites import COMPOSITES, CONVENTIONS, Composite, TraversalContext, get_composite, register_layer_kind
from ._elementwise import (
    PRODUCT_MODES,
    ActivationOp,
    DeconvNet,
    Gradient,
    GuidedBackprop,
    ProductRule,
    product_rule,
    sum_rule,
)
from ._rules import (
    RULES,
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
    "sum_rule",
    "product_rule",
    "PRODUCT_MODES",
    "ProductRule",
    "ActivationOp",
    "Gradient",
    "DeconvNet",
    "GuidedBackprop",
    "Composite",
    "COMPOSITES",
    "CONVENTIONS",
    "get_composite",
    "TraversalContext",
    "register_layer_kind",
]

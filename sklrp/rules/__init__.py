"""LRP rules and composites.

Rules are plain array functions over the :class:`sklrp.nn.LinearOp`
interface; composites assign them to layers.
"""

from ._composites import COMPOSITES, Composite, get_composite
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
    "Composite",
    "COMPOSITES",
    "get_composite",
]

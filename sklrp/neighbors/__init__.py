"""Nearest neighbours with multiple-purpose LSH (mp-LSH).

:class:`MultiPurposeLSH` hashes the data once and answers L2, cosine and
inner-product queries and their weighted mixtures, with per-feature-group
weights, all chosen at query time (Pronobis et al., arXiv:1609.03219).
"""

from ._mplsh import MultiPurposeLSH

__all__ = ["MultiPurposeLSH"]

"""A distribution tagged with the coupling GradInf should use at its site.

``plait.sample(name, dist, coupling="crn")`` wraps ``dist`` in
:class:`Coupled`.  Every other interpretation sees ``dist`` itself: sampling,
densities, supports and enumeration are delegated, so the tag costs nothing
outside gradient estimation (:mod:`plait.inference.gradient_estimation.estimator`).
"""

from __future__ import annotations


from ...errors import EffectTypeError
from .base import Distribution, Wrapped

__all__ = ["Coupled", "COUPLINGS"]

#: The couplings of gradinf.md §3 (``"reparam"`` is CRN for continuous families; the
#: "same_or" pair is for layers of coins, §3.5).
COUPLINGS = ("crn", "reparam", "maxindep", "reflection", "always_flip", "score", "indep",
             "same_or_antithetic", "same_or_indep")


class Coupled(Wrapped):
    """``base`` with the name of the coupling to use in GradInf.

    >>> from plait.effects.distributions import Bernoulli
    >>> d = Coupled(Bernoulli(0.3), "always_flip")
    >>> d.coupling, d.log_prob(1) == Bernoulli(0.3).log_prob(1)
    ('always_flip', True)
    """

    __slots__ = ("coupling",)

    def __init__(self, base: Distribution, coupling: str) -> None:
        if coupling not in COUPLINGS:
            raise EffectTypeError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")
        if isinstance(base, Coupled):
            base = base.base
        self.base = base
        self.coupling = coupling
        self.batch_shape = base.batch_shape

    def __repr__(self) -> str:
        return f"{self.base!r}[coupling={self.coupling!r}]"

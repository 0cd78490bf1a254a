"""A distribution tagged with the coupling GradInf should use at its site.

``plait.sample(name, dist, coupling="crn")`` wraps ``dist`` in
:class:`Coupled`.  Every other interpretation sees ``dist`` itself: sampling,
densities, supports and enumeration are delegated, so the tag costs nothing
outside gradient estimation (:mod:`plait.inference.gradinf`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import EffectTypeError
from .base import Distribution

__all__ = ["Coupled", "COUPLINGS"]

#: The couplings of gradinf.md §3 (``"reparam"`` is CRN for continuous families).
COUPLINGS = ("crn", "reparam", "maxindep", "reflection", "always_flip", "score", "indep")


class Coupled(Distribution):
    """``base`` with the name of the coupling to use in GradInf.

    >>> from plait.effects.distributions import Bernoulli
    >>> d = Coupled(Bernoulli(0.3), "always_flip")
    >>> d.coupling, d.log_prob(1) == Bernoulli(0.3).log_prob(1)
    ('always_flip', True)
    """

    __slots__ = ("base", "coupling")

    def __init__(self, base: Distribution, coupling: str) -> None:
        if coupling not in COUPLINGS:
            raise EffectTypeError(f"coupling must be one of {COUPLINGS}, got {coupling!r}")
        if isinstance(base, Coupled):
            base = base.base
        self.base = base
        self.coupling = coupling
        self.batch_shape = base.batch_shape

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Sample from ``base``."""
        return self.base.sample(rng, shape)

    def log_prob(self, x: Any) -> Any:
        """``base.log_prob(x)``."""
        return self.base.log_prob(x)

    support = property(lambda self: self.base.support, doc="The support of ``base``.")
    mean = property(lambda self: self.base.mean, doc="The mean of ``base``.")
    variance = property(lambda self: self.base.variance, doc="The variance of ``base``.")
    event_shape = property(lambda self: self.base.event_shape, doc="``base.event_shape``.")
    is_discrete = property(lambda self: self.base.is_discrete, doc="``base.is_discrete``.")
    has_enumerate_support = property(
        lambda self: self.base.has_enumerate_support, doc="``base.has_enumerate_support``."
    )

    def enumerate_support(self) -> list:
        """Enumerate ``base``'s support."""
        return self.base.enumerate_support()

    def __repr__(self) -> str:
        return f"{self.base!r}[coupling={self.coupling!r}]"

"""How GradInf's base interpreters read a site: a sample's law and coupling, an observation's weight.

The primal path, the alternative paths and the mean-field run each have a
base interpreter of their own (what answers an effect that left every
handler); they read sample sites and weigh observations and factors
through these two functions.  What every other effect answers is the run
loop's one table, :func:`plait.ext._interpreter.plain_answer`.

>>> import plait
>>> coupled_law(plait.sample("b", plait.Bernoulli(0.5), coupling="always_flip").dist)
('always_flip', Bernoulli(p=0.5))
>>> log_weight_of(plait.factor("f", -1.5))
-1.5
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ...effects.distributions import Coupled
from ...effects.distributions.base import Wrapped
from ...effects.records import Observe
from ...gradients.dual import Dual, _numpy

__all__ = ["coupled_law", "log_weight_of"]


def log_weight_of(effect: Any) -> Any:
    """The log weight an observation or factor adds (a plain number or a Dual), summed over a batch.

    >>> import plait
    >>> round(float(log_weight_of(plait.observe("y", plait.Normal(0.0, 1.0), 0.0))), 6)
    -0.918939
    """
    if type(effect) is Observe:
        return _log_total(effect.dist.log_prob(effect.value))
    return _log_total(effect.log_weight)


def coupled_law(dist: Any) -> Tuple[str, Any]:
    """The coupling named at a sample site, and the law to couple: ``dist`` without its wrappers.

    ``plait.sample(..., coupling=...)`` wraps the law in :class:`Coupled`;
    ``plait.handlers.scale`` and ``mask`` wrap it again, changing only its
    density, which a sample site does not weigh.  Without a named coupling,
    discrete laws are coupled by ``"crn"`` and continuous ones by ``"reparam"``.

    >>> import plait
    >>> coupled_law(plait.Normal(0.0, 1.0))
    ('reparam', Normal(loc=0.0, scale=1.0))
    """
    if type(dist) is Coupled and not isinstance(dist.base, Wrapped):
        return dist.coupling, dist.base  # the common case, without the loop
    coupling = None
    while isinstance(dist, Wrapped):
        if coupling is None and type(dist) is Coupled:
            coupling = dist.coupling
        dist = dist.base
    if coupling is None:
        coupling = "crn" if dist.is_discrete else "reparam"
    return coupling, dist


def _log_total(lp: Any) -> Any:
    if type(lp) is Dual or isinstance(lp, np.ndarray):
        return _numpy.sum(lp)
    return lp

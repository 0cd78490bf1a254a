"""Mean-field GradInf: every random choice replaced by its mean (a biased, deterministic baseline).

GradInf's mean-field inference (gradinf.md §4.3) runs the program once with
each random choice replaced by its expected value, so the program becomes a
deterministic function of θ whose derivative dual numbers give exactly.  It
costs one forward run and has no variance, but it estimates
``d/dθ F(E[choices])`` rather than ``d/dθ E[F(choices)]``: **biased**
whenever F is not linear in the choices.  Use it as a cheap baseline, a
starting point for an optimiser, or to build a twist for :class:`TwistedSMC`.

Control flow is where the approximation shows: Haskell's mean-field base type
mixes the two arms of an ``if`` linearly, but a Python ``if`` takes one arm.
A condition on a mean-field value takes the arm of its *primal* value (a
coin's mean ``p`` is true unless p = 0), so write choices into arithmetic
(``x + 2 * b - 1``, not ``x + 1 if b else x - 1``) where the mean field
should mix them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...effects.records import UNSET, Factor, Observe, Sample
from ...errors import GradInfError
from ...ext._interpreter import plain_answer
from ...gradients.dual import primal
from ...handlers.base import start
from ...handlers.runloop import Execution
from .sites import coupled_law, log_weight_of

__all__ = ["MeanField"]


class MeanField:
    """Replace every random choice by its mean and differentiate the result: biased, zero variance.

    The estimate is the exact derivative of the program run on means (see
    the module docstring for what that approximates).  With observations or
    factors, F is the return value times their exponentiated log weights.
    The program runs once on the run loop, its loops expanded and its
    handlers bound as anywhere else, over a base that answers means.

    >>> import plait
    >>> def flips(theta):
    ...     total = 0.0
    ...     for i in range(10):
    ...         total += yield plait.sample(("b", i), plait.Bernoulli(theta))
    ...     return total * total                      # E[S²] = 10θ(1-θ) + 100θ², not (10θ)²
    >>> round(float(plait.gradinf(flips, 0.3, inference=MeanField())), 6)  # d/dθ (10θ)² = 60
    60.0
    """

    def run(self, model: Callable[[Any], Any], theta: Any) -> Any:
        """``F`` of ``model(theta)`` run on means (a Dual when ``theta`` is one)."""
        means = _Means()
        execution = Execution(None, False, base=means)
        value = execution.drive(start(model, (theta,)), means, True)
        log_weight = means.log_weight
        if type(log_weight) is float and log_weight == 0.0:
            return value
        return value * np.exp(log_weight)


class _Means:
    """The mean-field base interpreter: a sample answers its law's mean; observations and factors are weighed.

    Every other effect is answered by the run loop's table; a resampling
    point is a deterministic answered with its value (there is no population).

    >>> import plait
    >>> _Means()(plait.sample("b", plait.Bernoulli(0.25)))
    0.25
    """

    __slots__ = ("log_weight",)

    def __init__(self) -> None:
        self.log_weight: Any = 0.0

    def __call__(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Sample:
            return _mean_of(effect)
        if kind is Observe or kind is Factor:
            self.log_weight = self.log_weight + log_weight_of(effect)
        return plain_answer(effect)


def _mean_of(effect: Sample) -> Any:
    if effect.value is not UNSET:
        return effect.value
    dist = coupled_law(effect.dist)[1]
    try:
        mean = dist.mean
    except NotImplementedError:
        raise GradInfError(f"MeanField: {type(dist).__name__} at {effect.name!r} has no mean") from None
    if not np.all(np.isfinite(np.asarray(primal(mean), dtype=float))):
        raise GradInfError(f"MeanField: {dist!r} at {effect.name!r} has no finite mean ({primal(mean)!r})")
    return mean

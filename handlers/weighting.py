"""Handlers that reweight sites: scale (multiply log densities) and mask (drop them)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..effects.distributions import MaskedDistribution, ScaledDistribution
from ..effects.records import Effect, Factor, Observe, Sample
from ..errors import InvalidParameterError
from .base import Handler, HandledModel

__all__ = ["Scale", "Mask", "scale", "mask"]


class Scale(Handler):
    """Multiply the log density of every sample, observation and factor by ``factor``.

    Used for mini-batching (scale = data size / batch size) and tempering.
    Values and supports are unchanged.

    >>> import plait
    >>> def model():
    ...     yield plait.factor("f", -1.0)
    >>> plait.simulate(plait.handlers.scale(model, 3.0), seed=0).log_joint
    -3.0
    """

    def __init__(self, factor: Any) -> None:
        array = np.asarray(factor, dtype=float)
        if not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise InvalidParameterError(f"scale: factor must be finite and > 0, got {factor!r}")
        self.factor = factor

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample:
            effect = Sample(effect.name, ScaledDistribution(effect.dist, self.factor), effect.value)
        elif type(effect) is Observe:
            effect = Observe(effect.name, ScaledDistribution(effect.dist, self.factor), effect.value)
        elif type(effect) is Factor:
            effect = Factor(effect.name, effect.log_weight * self.factor)
        return self.fwd(effect)


class Mask(Handler):
    """Keep the log density where ``mask`` is true and replace it by 0 elsewhere.

    A masked-out site still draws its value; it just does not count.

    >>> import plait
    >>> def model():
    ...     yield plait.observe("y", plait.Normal(0, 1), 5.0)
    >>> plait.simulate(plait.handlers.mask(model, False), seed=0).log_joint
    0.0
    """

    def __init__(self, mask: Any) -> None:
        array = np.asarray(mask)
        if array.dtype != bool:
            raise InvalidParameterError(f"mask: mask must be a bool or bool array, got {mask!r}")
        self.mask = mask

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample:
            effect = Sample(effect.name, MaskedDistribution(effect.dist, self.mask), effect.value)
        elif type(effect) is Observe:
            effect = Observe(effect.name, MaskedDistribution(effect.dist, self.mask), effect.value)
        elif type(effect) is Factor:
            weight = np.where(self.mask, effect.log_weight, 0.0)
            effect = Factor(effect.name, weight if np.ndim(weight) else float(weight))
        return self.fwd(effect)


def scale(model: Callable[..., Any], factor: Any) -> HandledModel:
    """Apply :class:`Scale` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     yield plait.factor("f", -2.0)
    >>> plait.simulate(plait.handlers.scale(model, 0.5), seed=0).log_joint
    -1.0
    """
    return HandledModel(model, Scale(factor))


def mask(model: Callable[..., Any], mask: Any) -> HandledModel:
    """Apply :class:`Mask` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     yield plait.factor("f", -2.0)
    >>> plait.simulate(plait.handlers.mask(model, True), seed=0).log_joint
    -2.0
    """
    return HandledModel(model, Mask(mask))

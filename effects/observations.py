"""Checks of observed values: finite, of a shape that fits the distribution, inside its support.

:func:`plait.observe` runs :func:`check_observation` when the model builds the
record, so a bad observation fails at the user's ``yield`` line, in every
engine, naming the address, the distribution and the value.  An observation
outside the family's support raises unless the model asks for ``-inf``
(``plait.observe(..., outside_support="-inf")``): almost always it is a data
error (a count of -1, a Bernoulli outcome of 2), and its ``-inf`` log density
would surface far away, as an impossible run or a zero evidence.  A value
inside the family's support but outside this instance's, set by its
parameters (1 under ``Bernoulli(0.0)``, 3 under ``Uniform(0, theta)`` for a
proposed ``theta < 3``), is a valid observation of probability zero and
scores ``-inf`` (:func:`family_bounds`).

The check runs once per observation of every run, so scalar values under
scalar distributions with a real, interval or integer-range support take a
path of a few comparisons; everything else goes through the support's
vectorized ``contains``.
"""

from __future__ import annotations

import math
from typing import Any, Hashable

import numpy as np

from ..errors import InvalidObservationError, ObservationSupportError
from ..gradients.dual import Dual, stop_gradient
from .distributions.base import is_tensor, show
from .distributions.supports import (
    Interval, IntRange, Real, boolean, nonnegative_integer, positive, real, unit_interval,
)

__all__ = ["OUTSIDE_SUPPORT", "check_observation", "family_bounds", "inside_scalar"]

#: What ``plait.observe(..., outside_support=...)`` accepts: raise, or score ``-inf``.
OUTSIDE_SUPPORT = ("raise", "-inf")


def check_observation(name: Hashable, dist: Any, value: Any, outside_support: str = "raise") -> None:
    """Raise if ``value`` cannot be an observation of ``dist`` at ``name``.

    NaN or infinite values and values whose shape does not broadcast with
    the distribution raise :class:`~plait.errors.InvalidObservationError`;
    values outside the support raise
    :class:`~plait.errors.ObservationSupportError` unless ``outside_support``
    is ``"-inf"``.

    >>> import plait
    >>> check_observation("y", plait.Bernoulli(0.3), 1)
    >>> check_observation("y", plait.Bernoulli(0.3), 2)
    Traceback (most recent call last):
    ...
    plait.errors.ObservationSupportError: observe 'y': the observed value 2 at 'y' is outside the support Boolean {0, 1} [discrete] of Bernoulli(p=0.3); pass outside_support="-inf" to plait.observe to score it as impossible instead
    >>> check_observation("y", plait.Bernoulli(0.3), 2, outside_support="-inf")
    """
    kind = type(value)
    if (kind is float or kind is int) and not dist.batch_shape and inside_scalar(dist.support, value):
        return
    _check_general(name, dist, value, outside_support)


def inside_scalar(support: Any, value: float) -> bool:
    """True when a scalar ``value`` lies in the family's support (see :func:`family_bounds`); False: look closer.

    >>> import plait
    >>> inside_scalar(plait.Poisson(2.0).support, 3), inside_scalar(plait.Poisson(2.0).support, 2.5)
    (True, False)
    """
    kind = type(support)
    if kind is Real:
        return value - value == 0  # finite
    low: Any = getattr(support, "low", None)
    high: Any = getattr(support, "high", None)
    if type(low) not in (float, int) or type(high) not in (float, int) or value - value != 0:
        return False
    low, high = family_bounds(kind, low, high)
    return low <= value <= high and (kind is Interval or value == math.floor(value))


#: id of a module-level support -> (low, high, integer) of its family (they live as long as
#: plait): plait.observe checks a finite scalar against them inline, without a call.
CONSTANT_BOUNDS: dict[int, tuple[float, float, bool]] = {
    id(real): (-math.inf, math.inf, False),
    id(positive): (0.0, math.inf, False),
    id(unit_interval): (0.0, 1.0, False),
    id(boolean): (0, 1, True),
    id(nonnegative_integer): (0, math.inf, True),
}


def family_bounds(kind: type, low: float, high: float) -> tuple[float, float]:
    """The bounds of a scalar interval or integer-range support that belong to the family, not the parameters.

    A distribution's ``support`` is computed from its parameters:
    ``Bernoulli(0.0)`` has support ``{0}`` and ``Uniform(0, theta)`` ends at
    ``theta``.  A value outside that, but inside the family's support, is a
    valid observation of probability zero (an MH proposal of ``theta``
    below the data); a value outside the family's support is a data error.
    Bounds at 0 and 1 (signs, probabilities) and the integer set ``{0, 1}``
    are the family's; other finite bounds are taken to be parameters.

    >>> family_bounds(IntRange, 0, 0), family_bounds(IntRange, 0, 1), family_bounds(Interval, 0.0, 3.5)
    ((0, inf), (0, 1), (0.0, inf))
    """
    if kind is IntRange:
        if low == 0:
            return (0, 1) if high == 1 else (0, math.inf)
        return -math.inf, math.inf
    return (low if low in (0.0, 1.0) else -math.inf), (high if high in (0.0, 1.0) else math.inf)


def _check_general(name: Hashable, dist: Any, value: Any, outside_support: str) -> None:
    if outside_support not in OUTSIDE_SUPPORT:
        raise InvalidObservationError(
            f"observe {name!r}: outside_support must be one of {OUTSIDE_SUPPORT}, got {outside_support!r}", name
        )
    if is_tensor(value):
        return  # a description for the Pyro bridge: torch checks it there
    plain = stop_gradient(value) if isinstance(value, Dual) else value
    try:
        array = np.asarray(plain, dtype=float)
    except (TypeError, ValueError):
        return _not_numeric(name, dist, value)
    _check_finite(name, dist, value, array)
    _check_shape(name, dist, value, array)
    if outside_support == "raise":
        _check_support(name, dist, value, plain)


def _not_numeric(name: Hashable, dist: Any, value: Any) -> None:
    raise InvalidObservationError(
        f"observe {name!r}: the value {value!r} is not a number or an array of numbers ({dist!r})", name
    )


def _check_finite(name: Hashable, dist: Any, value: Any, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    where = "" if array.ndim == 0 else f" (element {tuple(int(i) for i in np.argwhere(bad)[0])})"
    what = "NaN" if np.isnan(array).any() else "infinite"
    raise InvalidObservationError(
        f"observe {name!r}: observed site {name!r} ~ {dist!r} has the value {show(value)}, which is "
        f"{what}{where}; observations must be finite numbers: leave missing data out of the observation",
        name,
    )


def _check_shape(name: Hashable, dist: Any, value: Any, array: np.ndarray) -> None:
    event = tuple(dist.event_shape)
    expected = tuple(dist.batch_shape) + event
    shape = array.shape
    fits = len(shape) >= len(event) and shape[len(shape) - len(event):] == event
    if fits:
        try:
            np.broadcast_shapes(shape, expected)
        except ValueError:
            fits = False
    if not fits:
        raise InvalidObservationError(
            f"observe {name!r}: the observed value {show(value)} has shape {shape}, which does not fit "
            f"{dist!r} (batch shape {tuple(dist.batch_shape)}, event shape {event})",
            name,
        )


def _check_support(name: Hashable, dist: Any, value: Any, plain: Any) -> None:
    support = dist.support
    inside = np.asarray(_inside_family(support, plain))
    if inside.all():
        return
    where = "" if inside.ndim == 0 else f" (element {tuple(int(i) for i in np.argwhere(~inside)[0])})"
    raise ObservationSupportError(
        f"observe {name!r}: the observed value {show(value)}{where} at {name!r} is outside the support "
        f"{support!r} of {dist!r}; "
        "pass outside_support=\"-inf\" to plait.observe to score it as impossible instead",
        name,
    )


def _inside_family(support: Any, value: Any) -> Any:
    """Vectorized: where ``value`` lies in the family's support (:func:`family_bounds`)."""
    kind = type(support)
    if kind not in (Interval, IntRange):
        return support.contains(value)
    a = np.asarray(value, dtype=float)
    bounds = np.vectorize(lambda lo, hi: family_bounds(kind, lo, hi), otypes=[float, float])
    low, high = bounds(np.asarray(support.low, dtype=float), np.asarray(support.high, dtype=float))
    inside = (a >= low) & (a <= high)
    return inside & (a == np.floor(a)) if kind is IntRange else inside

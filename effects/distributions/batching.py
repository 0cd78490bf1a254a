"""Distributions in a batched run: lane parameters lowered to one plain batched distribution.

A model running in a batched run builds ``Normal(x, 1.0)`` with ``x`` a
:class:`~plait.effects.lanes.Lanes` value.  The distribution keeps the lane
value (its ``batch_shape`` is what one lane sees).  To draw or score it for
all lanes at once, :func:`lowered` rebuilds the same family from plain arrays
whose axis 0 is the lane: each lane parameter gets unit axes after the lane
axis so that it broadcasts against the plain parameters exactly as one
lane's value would.  Families whose parameters have event axes (a
covariance matrix, a probability vector) declare them in
``_param_event_dims``.

>>> import numpy as np
>>> from plait.effects.lanes import Lanes, FixedLanes
>>> from plait.effects.distributions import Normal
>>> d = lowered(Normal(Lanes(np.array([0.0, 10.0]), FixedLanes(2)), np.ones(3)))
>>> d.batch_shape
(2, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..lanes import Lanes, in_space, lane_data
from .base import Distribution, lowerable, trusted

__all__ = ["has_lanes", "lowered", "lowerable", "plain_by_value", "draw", "score"]


def has_lanes(dist: Any) -> bool:
    """True when some parameter of ``dist`` (or of the distribution it wraps) holds lane values.

    >>> import numpy as np
    >>> from plait.effects.distributions import Normal
    >>> has_lanes(Normal(0.0, 1.0))
    False
    """
    base = getattr(dist, "base", None)
    if base is not None and has_lanes(base):
        return True
    for name in getattr(type(dist), "_param_names", ()):
        if type(getattr(dist, name, None)) is Lanes:
            return True
    return False


def lowered(dist: Any, space: Any = None) -> Any:
    """The same family over plain arrays with the lane as batch axis 0 (not checked again).

    ``space`` is the lane space the draws are for (parameters that belong to an
    enclosing space, e.g. a value a loop kernel closes over, are gathered to it).

    >>> import numpy as np
    >>> from plait.effects.lanes import FixedLanes
    >>> from plait.effects.distributions import Categorical
    >>> probs = Lanes(np.array([[0.5, 0.5], [1.0, 0.0]]), FixedLanes(2))
    >>> lowered(Categorical(probs)).batch_shape
    (2,)
    """
    cls = type(dist)
    if cls._stores_params and not getattr(cls, "_param_event_dims", None):
        per_lane_batch = len(dist.batch_shape)
        built = _stored(cls, [_plain(getattr(dist, n), per_lane_batch, space) for n in cls._param_names])
        if built is not None:
            return built
    with trusted():
        return _lowered(dist, space)


def _lowered(dist: Any, space: Any) -> Any:
    base = getattr(dist, "base", None)
    names = type(dist)._param_names
    if base is not None:
        return type(dist)(_lowered(base, space), *(_plain(getattr(dist, n), 0, space) for n in names))
    event_dims = getattr(type(dist), "_param_event_dims", {})
    per_lane_batch = len(dist.batch_shape)
    return type(dist)(**{
        n: _plain(getattr(dist, n), per_lane_batch + event_dims.get(n, 0), space) for n in names
    })


def _stored(cls: Any, plain: list[Any]) -> Any:
    """What ``cls(*plain)`` builds, for a family that only stores its (checked) parameters.

    None when a parameter is neither a float nor an array (a dual number: the
    constructor knows its shape).
    """
    dist = object.__new__(cls)
    shape: Any = ()
    for name, value in zip(cls._param_names, plain):
        object.__setattr__(dist, name, value)
        t = type(value)
        if t is not np.ndarray:
            if t is not float:
                return None
            continue
        value_shape = value.shape
        if value_shape and value_shape != shape:
            shape = np.broadcast_shapes(shape, value_shape) if shape else value_shape
    dist.batch_shape = tuple(shape)
    return dist


def plain_by_value(dist: Any) -> Any:
    """Make ``dist``'s lane parameters plain, in place: lanes that disagree split into groups.

    For a family that cannot be lowered generically (:func:`lowerable`): each
    lane value held by the distribution is converted to a plain array, a lane
    decision exactly like ``float(x)``, after which every lane of the running
    group holds the same value and the distribution is an ordinary one.

    >>> import numpy as np
    >>> from plait.effects.lanes import FixedLanes
    >>> from plait.effects.distributions import Delta
    >>> d = Delta(Lanes(np.array([1.0, 1.0]), FixedLanes(2)))
    >>> float(plain_by_value(d).value)
    1.0
    """
    for cls in type(dist).__mro__:
        for name in getattr(cls, "__slots__", ()):
            value = getattr(dist, name, None)
            if type(value) is Lanes:
                object.__setattr__(dist, name, np.asarray(value))
            else:
                _plain_parts(value)
    for name, value in list(getattr(dist, "__dict__", {}).items()):
        if type(value) is Lanes:
            setattr(dist, name, np.asarray(value))
        else:
            _plain_parts(value)
    return dist


def _plain_parts(value: Any) -> None:
    """Distributions held by a distribution (a base, components) are made plain too."""
    if isinstance(value, Distribution):
        plain_by_value(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, Distribution):
                plain_by_value(item)


def _plain(value: Any, ndim: int, space: Any) -> Any:
    if type(value) is not Lanes:
        return value
    return lane_data(in_space(value, space) if space is not None else value, ndim)


def draw(dist: Distribution, rng: np.random.Generator, n: int, space: Any = None,
         extra: tuple[int, ...] = ()) -> np.ndarray:
    """``n`` draws, one per lane, as an array whose axis 0 is the lane.

    ``extra`` draws that many independent values per lane (after the lane axis).

    >>> import numpy as np
    >>> from plait.effects.distributions import Normal
    >>> draw(Normal(0.0, 1.0), np.random.default_rng(0), 4).shape
    (4,)
    """
    lanes = has_lanes(dist)
    if lanes and not lowerable(type(dist)):
        plain_by_value(dist)
        lanes = False
    if lanes:
        draws = np.asarray(lowered(dist, space).sample(rng, extra))
        return np.moveaxis(draws, len(extra), 0) if extra else draws
    return np.asarray(dist.sample(rng, (n,) + extra))


def score(dist: Distribution, value: Any, n: int, space: Any = None) -> Any:
    """Each lane's log density of ``value`` (summed over the site's own axes): a float or shape (n,).

    A float when neither the distribution nor the value varies between lanes.

    >>> import numpy as np
    >>> from plait.effects.lanes import FixedLanes
    >>> from plait.effects.distributions import Normal
    >>> score(Normal(0.0, 1.0), Lanes(np.zeros(2), FixedLanes(2)), 2).round(4).tolist()
    [-0.9189, -0.9189]
    """
    lanes = has_lanes(dist)
    if lanes and not lowerable(type(dist)):
        plain_by_value(dist)
        lanes = False
    if not lanes and type(value) is not Lanes:
        lp = np.asarray(dist.log_prob(value), dtype=float)
        return float(lp.sum())
    plain = lowered(dist, space) if lanes else dist
    per_lane_ndim = len(dist.batch_shape) + len(dist.event_shape)
    if space is not None:
        value = in_space(value, space)
    lp = np.asarray(plain.log_prob(lane_data(value, per_lane_ndim)), dtype=float)
    return lp.reshape(n, -1).sum(axis=1) if lp.ndim > 1 else lp

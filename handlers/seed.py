"""The seed handler: a private random source for the model it wraps."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..effects.records import UNSET, Effect, Sample
from ..errors import InvalidArgumentError
from .base import Handler, HandledModel

__all__ = ["Seed", "seed", "make_rng", "seed_sequence"]

SeedLike = Any  # None | int | Sequence[int] | np.random.SeedSequence | np.random.Generator


def make_rng(seed: SeedLike) -> np.random.Generator:
    """Return a numpy Generator for ``seed`` (a Generator is used as it is).

    >>> int(make_rng(0).integers(10)) == int(make_rng(0).integers(10))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed))


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """``seed`` (None, an int >= 0, a sequence of them, or a ``SeedSequence``) as a ``SeedSequence``.

    Anything else raises :class:`~plait.errors.InvalidArgumentError` naming
    ``seed`` and the value, instead of numpy's message.

    >>> seed_sequence(3).entropy
    3
    >>> seed_sequence(-1)
    Traceback (most recent call last):
    ...
    plait.errors.InvalidArgumentError: seed must be None, an int >= 0, a sequence of such ints, a numpy SeedSequence or a numpy Generator; got -1
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    try:
        if isinstance(seed, (float, str, bytes, bool, np.floating, np.bool_)):
            raise TypeError(seed)
        return np.random.SeedSequence(seed)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            "seed must be None, an int >= 0, a sequence of such ints, a numpy SeedSequence or a numpy "
            f"Generator; got {seed!r}", "seed",
        ) from None


class Seed(Handler):
    """Draw every unfixed sample from a generator made from ``seed`` for this run.

    The drawn value is forwarded as a fixed sample, so outer handlers still
    see (and trace) the site.  An int or ``SeedSequence`` seed gives every run
    the same stream; a ``numpy.random.Generator`` is used as it is and keeps
    advancing across runs.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> seeded = plait.handlers.seed(model, 7)
    >>> plait.run(seeded).value == plait.run(seeded).value
    True
    """

    def __init__(self, seed: Any) -> None:
        self.seed = seed

    def begin(self) -> None:
        self.rng = make_rng(self.seed)

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.value is UNSET:
            effect = effect.with_value(effect.dist.sample(self.rng))
        return self.fwd(effect)


def seed(model: Callable[..., Any], seed: Any) -> HandledModel:
    """Apply :class:`Seed` to ``model``.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> isinstance(plait.run(plait.handlers.seed(model, 0)).value, float)
    True
    """
    return HandledModel(model, Seed(seed))

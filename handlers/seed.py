"""The seed handler: a private random source for the model it wraps."""

from __future__ import annotations

from typing import Any, Callable

from ..effects.records import UNSET, Sample
from .base import Handler, HandledModel

__all__ = ["Seed", "seed"]


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
        from ..inference.runtime import make_rng

        self.rng = make_rng(self.seed)

    def handle(self, effect: Any) -> Any:
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

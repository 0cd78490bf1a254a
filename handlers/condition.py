"""The condition handler: turn samples into observations."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping

from ..effects.records import Effect, Observe, Sample
from ..errors import EffectTypeError
from .base import Handler, HandledModel

__all__ = ["Condition", "condition"]


class Condition(Handler):
    """Observe ``data[address]`` wherever the model samples ``address``.

    The site becomes an observation: it contributes to the log likelihood,
    not the log prior, and ``yield`` evaluates to the given value.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Bernoulli(0.3)))
    >>> t = plait.simulate(plait.handlers.condition(model, {"x": 1}), seed=0)
    >>> t.value, round(t.log_likelihood, 6), t.log_prior
    (1, -1.203973, 0.0)
    """

    def __init__(self, data: Mapping[Hashable, Any]) -> None:
        for address, value in data.items():
            if value is None:
                raise EffectTypeError(f"condition: the value for {address!r} is None")
        self.data = dict(data)

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.name in self.data:
            effect = Observe(effect.name, effect.dist, self.data[effect.name])
        return self.fwd(effect)


def condition(model: Callable[..., Any], data: Mapping[Hashable, Any]) -> HandledModel:
    """Apply :class:`Condition` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> plait.simulate(plait.handlers.condition(model, {"x": 0.0}), seed=0).value
    0.0
    """
    return HandledModel(model, Condition(data))

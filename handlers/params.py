"""The parameter handler: answer ``param`` effects from unconstrained values.

An optimiser keeps every parameter as an *unconstrained* array ``u`` and the
program sees ``biject_to(constraint).forward(u)``, which lies inside the
constraint whatever ``u`` is.  ``u`` may be a :class:`~plait.gradients.Dual`,
so the program's densities carry derivatives with respect to it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, Mapping

import attrs

from ..effects.distributions.supports import real
from ..effects.records import Effect, Param
from ..effects.transforms import Transform, biject_to
from .base import Handler, HandledModel

__all__ = ["Params", "ParamsSeen", "params", "transform_of"]


def transform_of(effect: Param) -> Transform:
    """The bijection of a param effect: ``biject_to(constraint)``, identity without one.

    >>> import plait
    >>> from plait.handlers.params import transform_of
    >>> transform_of(plait.param("s", 1.0, constraint=plait.supports.positive))
    Exp() -> PositiveReal (0, inf) [continuous]
    """
    return biject_to(real if effect.constraint is None else effect.constraint)


@attrs.frozen(slots=True, eq=False)
class ParamsSeen:
    """What a :class:`Params` run published: the param effects the store did not hold.

    ``new`` maps each such address to its effect (``init`` and
    ``constraint``), in visit order; they were answered with ``init``.

    >>> import plait
    >>> def model():
    ...     return (yield plait.param("w", 2.0))
    >>> seen = plait.run(plait.handlers.params(model, {})).outputs[-1][1]
    >>> list(seen.new)
    ['w']
    """

    new: Mapping[Hashable, Param]


class Params(Handler):
    """Answer each ``param`` with ``biject_to(constraint).forward(unconstrained[address])``.

    A param the mapping does not hold is answered with its ``init`` and
    listed in the :class:`ParamsSeen` record the run publishes in
    ``result.outputs``, so an optimiser can add it to its state.  The
    answered param is forwarded outward with the value as its ``init``, so a
    trace records the constrained value.

    >>> import numpy as np, plait
    >>> def guide():
    ...     s = yield plait.param("scale", 1.0, constraint=plait.supports.positive)
    ...     return s
    >>> float(plait.run(plait.handlers.params(guide, {"scale": np.log(4.0)})).value)
    4.0
    """

    def __init__(self, unconstrained: Mapping[Hashable, Any]) -> None:
        self.unconstrained = unconstrained

    def begin(self) -> None:
        self.new: Dict[Hashable, Param] = {}

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Param:
            name = effect.name
            if name in self.unconstrained:
                value = transform_of(effect).forward(self.unconstrained[name])
                effect = Param(name, value, effect.constraint)
            else:
                self.new[name] = effect
        return self.fwd(effect)

    def end(self, result: Any) -> None:
        result.outputs.append((self, ParamsSeen(dict(self.new))))


def params(model: Callable[..., Any], unconstrained: Mapping[Hashable, Any]) -> HandledModel:
    """Apply :class:`Params` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     return (yield plait.param("p", 0.5, constraint=plait.supports.unit_interval))
    >>> float(plait.run(plait.handlers.params(model, {"p": 0.0})).value)
    0.5
    """
    return HandledModel(model, Params(unconstrained))

"""Handlers that fix sample values: replay (from a trace) and substitute (from a mapping)."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping

from ..effects.records import UNSET, Effect, Param, Sample
from ..errors import ExtraAddressError, MissingAddressError
from .base import Handler, HandledModel

__all__ = ["Replay", "Substitute", "replay", "substitute"]


class Replay(Handler):
    """Reuse the latent values of ``trace`` at the addresses it has.

    Sites the trace lacks are forwarded unchanged (and drawn fresh by the
    seed).  The replayed site stays latent: it counts in the log prior.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> t = plait.simulate(model, seed=1)
    >>> plait.simulate(plait.handlers.replay(model, t), seed=2)["x"] == t["x"]
    True
    """

    def __init__(self, trace: Any) -> None:
        self.values = trace.latents

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.value is UNSET:
            values = self.values
            if effect.name in values:
                effect = effect.with_value(values[effect.name])
        return self.fwd(effect)


class Substitute(Handler):
    """Fix sample and param values from ``data`` (address → value).

    With ``strict=True`` every latent sample must be in ``data`` (else
    :class:`MissingAddressError` names it) and every entry of ``data`` must be
    used (else :class:`ExtraAddressError` lists the unused addresses).

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> plait.run(plait.handlers.substitute(model, {"x": 0.25})).value
    0.25
    """

    def __init__(self, data: Mapping[Hashable, Any], strict: bool = False) -> None:
        self.data = dict(data)
        self.strict = strict

    def begin(self) -> None:
        self.used: set[Any] = set()

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.value is UNSET:
            name = effect.name
            if name in self.data:
                self.used.add(name)
                effect = effect.with_value(self.data[name])
            elif self.strict:
                raise MissingAddressError(
                    f"latent site {name!r} ~ {effect.dist!r} has no value in the given choices"
                )
        elif type(effect) is Param and effect.name in self.data:
            self.used.add(effect.name)
            effect = Param(effect.name, self.data[effect.name], effect.constraint)
        return self.fwd(effect)

    def end(self, result: Any) -> None:
        if self.strict and len(self.used) < len(self.data):
            unused = [a for a in self.data if a not in self.used]
            raise ExtraAddressError(
                f"the choices give values for {unused!r}, which the program never sampled; "
                f"it sampled {sorted(map(repr, self.used))}"
            )


def replay(model: Callable[..., Any], trace: Any) -> HandledModel:
    """Apply :class:`Replay` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> t = plait.simulate(model, seed=0)
    >>> plait.run(plait.handlers.replay(model, t)).value == t.value
    True
    """
    return HandledModel(model, Replay(trace))


def substitute(model: Callable[..., Any], data: Mapping[Hashable, Any], strict: bool = False) -> HandledModel:
    """Apply :class:`Substitute` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     return (yield plait.param("w", 1.0))
    >>> plait.run(plait.handlers.substitute(model, {"w": 3.0})).value
    3.0
    """
    return HandledModel(model, Substitute(data, strict))

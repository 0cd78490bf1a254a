"""Handlers that rename addresses: scope (a prefix) and the per-step scope of loops."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Hashable

from ..effects.records import Effect, Handled, Loop, renamed
from ..errors import EffectTypeError
from .base import Handler, HandledModel

__all__ = ["Scope", "LoopStep", "scope", "scope_model"]


class Scope(Handler):
    """Prefix every address: ``name`` becomes ``(prefix, name)``.

    A loop record keeps its own name: the sites inside the loop get the
    prefix one by one, so a handler that interprets loops can run the kernel
    under this scope without prefixing twice.

    >>> import plait
    >>> def model():
    ...     yield plait.sample("x", plait.Normal(0, 1))
    >>> list(plait.simulate(plait.handlers.scope_model(model, "a"), seed=0))
    [('a', 'x')]
    """

    def __init__(self, prefix: Hashable) -> None:
        self.prefix = prefix

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Loop:  # its sites are renamed one by one (see LoopStep)
            return self.fwd(effect)
        # A Handled effect never reaches a handler: the run loop runs sub-programs itself.
        return self.fwd(renamed(effect, (self.prefix, effect.name)))  # type: ignore[union-attr]


class LoopStep(Handler):
    """Address the sites of step ``step`` of loop ``name`` as ``(name, step, address)``.

    The run loop binds one around each step of an expanded
    :func:`plait.iterate` or :func:`plait.fold`.

    >>> import plait
    >>> def kernel(s):
    ...     yield plait.sample("b", plait.Bernoulli(0.5))
    ...     return s
    >>> def model():
    ...     yield plait.iterate(kernel, 0, 2, name="L")
    >>> list(plait.simulate(model, seed=0))
    [('L', 0, 'b'), ('L', 1, 'b')]
    """

    def __init__(self, name: Hashable, step: int) -> None:
        self.name = name
        self.step = step

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Loop:
            return self.fwd(effect)
        return self.fwd(renamed(effect, (self.name, self.step, effect.name)))  # type: ignore[union-attr]  # (as in Scope)


def scope(prefix: Hashable, program: Any) -> Any:
    """Run ``program`` (a generator) with its addresses prefixed by ``prefix``.

    Use it to call one sub-model several times:
    ``yield from plait.scope("left", sub(x))``; its site ``"z"`` is then
    addressed ``("left", "z")``.  Given a model (a callable) instead of a
    generator, it returns the scoped model.

    >>> import plait
    >>> def sub():
    ...     return (yield plait.sample("z", plait.Normal(0, 1)))
    >>> def model():
    ...     a = yield from plait.scope("left", sub())
    ...     b = yield from plait.scope("right", sub())
    ...     return a - b
    >>> list(plait.simulate(model, seed=0))
    [('left', 'z'), ('right', 'z')]
    """
    if inspect.isgenerator(program):
        return Handled((Scope(prefix),), program)
    if callable(program):
        return HandledModel(program, Scope(prefix))
    raise EffectTypeError(
        f"scope {prefix!r}: expected a generator (a called sub-model) or a model, got {program!r}"
    )


def scope_model(model: Callable[..., Any], prefix: Hashable) -> HandledModel:
    """Apply :class:`Scope` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     yield plait.sample("x", plait.Normal(0, 1))
    >>> list(plait.simulate(scope_model(model, 1), seed=0))
    [(1, 'x')]
    """
    return HandledModel(model, Scope(prefix))

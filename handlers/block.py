"""The block handler: hide sites from every handler further out."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Optional

from ..effects.records import Effect
from ..errors import HandlerError
from .base import Handler, HandledModel

__all__ = ["Block", "block"]


class Block(Handler):
    """Send hidden effects straight to the run's base interpreter.

    Handlers outside the block never see a hidden site: an outer trace does
    not record it and an outer condition cannot touch it.  The base
    interpreter still answers it, drawing from the run's random source, so
    blocking never leaves a sample without a value (the confusion of a
    block that also hides sites from the seed does not arise).  Give at most
    one of ``hide`` (addresses), ``expose`` (the only visible addresses) or
    ``hide_fn`` (a predicate on the effect); with none, everything is hidden.

    >>> import plait
    >>> def model():
    ...     yield plait.sample("x", plait.Normal(0, 1))
    ...     yield plait.sample("y", plait.Normal(0, 1))
    >>> list(plait.simulate(plait.handlers.block(model, hide=["y"]), seed=0))
    ['x']
    """

    def __init__(
        self,
        hide: Optional[Iterable[Hashable]] = None,
        expose: Optional[Iterable[Hashable]] = None,
        hide_fn: Optional[Callable[[Any], bool]] = None,
    ) -> None:
        if sum(option is not None for option in (hide, expose, hide_fn)) > 1:
            raise HandlerError("block: give at most one of hide, expose and hide_fn")
        if hide is not None:
            hidden = frozenset(hide)
            self.hide_fn: Callable[[Any], bool] = lambda effect: effect.name in hidden
        elif expose is not None:
            visible = frozenset(expose)
            self.hide_fn = lambda effect: effect.name not in visible
        elif hide_fn is not None:
            self.hide_fn = hide_fn
        else:
            self.hide_fn = lambda effect: True

    def handle(self, effect: Effect) -> Any:
        if self.hide_fn(effect):
            return self.run.bypass(effect)
        return self.fwd(effect)


def block(
    model: Callable[..., Any],
    hide: Optional[Iterable[Hashable]] = None,
    expose: Optional[Iterable[Hashable]] = None,
    hide_fn: Optional[Callable[[Any], bool]] = None,
) -> HandledModel:
    """Apply :class:`Block` to ``model`` (see its docstring).

    >>> import plait
    >>> def model():
    ...     yield plait.sample("x", plait.Normal(0, 1))
    >>> len(plait.simulate(plait.handlers.block(model), seed=0))
    0
    """
    return HandledModel(model, Block(hide, expose, hide_fn))

"""The handler protocol, and handlers applied to models.

A handler is a small object with one method, :meth:`Handler.handle`, which
receives an effect and returns its answer.  To let the rest of the stack see
the effect it calls ``self.fwd(effect)`` (possibly with a rewritten effect) and
may post-process the answer on the way back.

The order rule, stated once: **the handler closest to the model sees each
effect first.**  In ``trace(replay(model, t))`` replay is closest, so it fixes
the values and trace, further out, records them.  In an explicit list,
``plait.run(model, handlers=[replay_h, trace_h])``, the first handler is the
innermost.  Every effect that leaves the outermost handler reaches the run's
base interpreter, which draws unfixed samples from the run's generator and
checks that no address is used twice.

Handler objects are configuration.  For every run the run loop makes a
private copy with :meth:`Handler.bind`, so per-run state (a trace being
recorded, a random generator) never outlives the run, and the same handler can
serve nested runs and threads at once.
"""

from __future__ import annotations

import copy as _copy
import inspect
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Self, Sequence

from ..effects.records import Effect, Handled
from ..errors import ModelTypeError

if TYPE_CHECKING:  # pragma: no cover
    from .runloop import Execution, RunResult

__all__ = ["Handler", "HandledModel", "apply", "start"]


class Handler:
    """Base class of every handler.

    Subclasses override :meth:`handle`, and :meth:`begin` / :meth:`end` if they
    keep per-run state.  ``self.fwd`` passes an effect outward; ``self.run``
    is the :class:`~plait.handlers.runloop.Execution` being driven.

    >>> import plait
    >>> class CountSamples(plait.handlers.Handler):
    ...     def begin(self):
    ...         self.count = 0
    ...     def handle(self, effect):
    ...         if isinstance(effect, plait.effects.Sample):
    ...             self.count += 1
    ...         return self.fwd(effect)
    ...     def end(self, result):
    ...         result.outputs.append((self, self.count))
    >>> def model():
    ...     yield plait.sample("a", plait.Normal(0, 1))
    ...     yield plait.sample("b", plait.Normal(0, 1))
    >>> plait.run(model, handlers=[CountSamples()], seed=0).outputs[-1][1]
    2
    """

    #: Set by handlers that answer :class:`~plait.effects.Loop` effects
    #: themselves; otherwise the run loop expands loops inline.
    interprets_loops: ClassVar[bool] = False

    fwd: Callable[[Effect], Any]
    run: "Execution"

    def handle(self, effect: Effect) -> Any:
        """Answer ``effect``; the default forwards it unchanged."""
        return self.fwd(effect)

    def begin(self) -> None:
        """Initialise per-run state on the run's private copy."""

    def end(self, result: "RunResult") -> None:
        """Publish per-run outputs into ``result`` after the program returned."""

    def bind(self, fwd: Callable[[Effect], Any], run: "Execution") -> Self:
        """Return a private copy of this handler for one run, forwarding to ``fwd``."""
        if hasattr(self, "__dict__"):
            copy = object.__new__(type(self))
            copy.__dict__.update(self.__dict__)
        else:  # a subclass with __slots__
            copy = _copy.copy(self)
        copy.fwd = fwd
        copy.run = run
        copy.begin()
        return copy

    def __call__(self, model: Callable[..., Any]) -> "HandledModel":
        """Apply this handler to ``model`` (``Seed(0)(model)``)."""
        return HandledModel(model, self)

    def __repr__(self) -> str:
        config = ", ".join(
            f"{k}={v!r}" for k, v in self.__dict__.items() if k not in ("fwd", "run")
        )
        return f"{type(self).__name__}({config})"


class HandledModel:
    """A model with a handler applied; calling it returns a generator, so it is a model too.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> fixed = plait.handlers.substitute(model, {"x": 2.0})
    >>> plait.run(fixed).value
    2.0
    """

    __slots__ = ("model", "handler")

    def __init__(self, model: Callable[..., Any], handler: Handler) -> None:
        if not callable(model):
            raise ModelTypeError(f"cannot apply {handler!r} to {model!r}: it is not callable")
        self.model = model
        self.handler = handler

    def __call__(self, *args: Any) -> Any:
        return iter(Handled((self.handler,), start(self.model, args)))

    def __repr__(self) -> str:
        return f"{self.handler!r}({self.model!r})"


def apply(model: Callable[..., Any], *handlers: Handler) -> Callable[..., Any]:
    """Apply ``handlers`` to ``model``, the first one innermost.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> h = plait.handlers
    >>> m = h.apply(model, h.Substitute({"x": 1.0}), h.TraceHandler())
    >>> plait.run(m).trace["x"]
    1.0
    """
    for handler in handlers:
        model = HandledModel(model, handler)
    return model


def start(model: Callable[..., Any], args: Sequence[Any]) -> Any:
    """Call ``model(*args)`` and check that it returned a generator.

    >>> def not_a_model(x):
    ...     return x
    >>> start(not_a_model, (1,))
    Traceback (most recent call last):
    ...
    plait.errors.ModelTypeError: not_a_model is a plain function, not a model: a model is a generator function (a function containing `yield`, e.g. `x = yield plait.sample("x", plait.Normal(0, 1))`), or any callable returning a generator
    """
    if inspect.isfunction(model) and not inspect.isgeneratorfunction(model):
        raise ModelTypeError(
            f"{model.__name__} is a plain function, not a model: " + _WHAT_A_MODEL_IS
        )
    if not callable(model):
        raise ModelTypeError(f"{model!r} is not callable: " + _WHAT_A_MODEL_IS)
    gen = model(*args)
    if not inspect.isgenerator(gen):
        name = getattr(model, "__name__", repr(model))
        raise ModelTypeError(f"{name}(...) returned {gen!r}, not a generator: " + _WHAT_A_MODEL_IS)
    return gen


_WHAT_A_MODEL_IS = (
    "a model is a generator function (a function containing `yield`, e.g. "
    '`x = yield plait.sample("x", plait.Normal(0, 1))`), or any callable returning a generator'
)

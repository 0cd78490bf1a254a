"""The run loop: drive one program through an explicit handler stack.

:func:`run` primes the model's generator and then repeats: take the yielded
effect, pass it to the innermost handler, send the answer back.  There is no
global handler stack; everything one run needs lives in an
:class:`Execution`, so runs nest (SMC inside MH) and run in threads.

* An exception raised while handling an effect is thrown into the generator
  with ``gen.throw``: the traceback ends at the user's ``yield`` line, and the
  model may catch it.  Every generator is closed, however the run ends.
* :class:`~plait.effects.Loop` effects are expanded inline (each step runs
  the kernel under a scope that prefixes ``(name, step)``) unless a handler in
  the stack interprets loops.  :class:`~plait.effects.Handled` effects bind
  extra handlers around one sub-program.
* Multi-shot by replay: a run can record every answer (``record=True``) and a
  later run can be fed a recorded prefix (``prefix=``), which answers the
  first effects positionally without consulting the run's handlers.  The re-run must
  ask the same things in the same order, or :class:`ReplayDivergenceError`
  names the position and both addresses.  Generators cannot be copied, so
  this is how enumeration, SMC and MH resume a program at a given point.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generator, Hashable, Iterable, Optional, Sequence, TypeVar

import attrs
import numpy as np

from ..effects.records import (
    UNSET,
    Branch,
    Deterministic,
    Effect,
    Factor,
    Handled,
    Loop,
    Observe,
    Param,
    Sample,
)
from ..ext import _interpreter
from ..ext._interpreter import AnswerLog, BaseInterpreter, Process, run_to_end
from .base import Handler, start
from .scope import LoopStep
from .seed import SeedLike, make_rng
from .sites import name_site, site_error
from .trace import Trace
from ..errors import (
    DuplicateAddressError,
    EffectTypeError,
    ReplayDivergenceError,
    UnhandledEffectError,
)

__all__ = ["run", "Execution", "RunResult", "Stack", "answer_log"]

_H = TypeVar("_H", bound=Handler)


@attrs.define(eq=False)
class RunResult:
    """What one run produced.

    ``value`` is the model's return value; ``outputs`` holds
    ``(handler, output)`` pairs in the order handlers finished (innermost
    first); ``answers`` is the answer log when the run was recorded.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Bernoulli(1.0)))
    >>> r = plait.run(model, seed=0, record=True)
    >>> r.value, [(e.name, a) for e, a in r.answers]
    (1, [('x', 1)])
    """

    value: Any = None
    outputs: list[tuple[Handler, Any]] = attrs.Factory(list)
    answers: Optional[list[tuple[Effect, Any]]] = None

    @property
    def trace(self) -> Any:
        """The trace recorded by the outermost trace handler, or None."""
        for _, output in reversed(self.outputs):
            if isinstance(output, Trace):
                return output
        return None


def _fail(reason: str, effect: Any) -> None:
    """Raise the base interpreter's error for ``reason`` (see ext/_interpreter.pyx)."""
    if reason == "no-rng":
        raise UnhandledEffectError(
            f"sample {effect.name!r} ~ {effect.dist!r} reached the bottom of the handler "
            "stack with no random source: pass seed=... or add a seed handler"
        )
    if reason == "duplicate":
        raise DuplicateAddressError(
            f"address {effect.name!r} is used twice in one run; addresses must be unique "
            "(build them from loop indices, e.g. ('x', i), or use plait.scope)"
        )
    if reason == "receive":
        raise UnhandledEffectError(
            f"branch {effect.name!r} has no condition: a guide receives the model's decision "
            "only when run with its model under plait.guided(model, guide) (plait.importance, "
            "plait.smc and plait.check with guide=... do that); elsewhere write "
            "plait.branch(name, condition)"
        )
    if reason == "unhashable":
        raise EffectTypeError(
            f"address {effect.name!r} is not hashable; use a str, an int or a tuple"
        )
    if hasattr(effect, "name"):
        raise UnhandledEffectError(
            f"no handler handles the effect {effect!r} at address {effect.name!r}"
        )
    raise EffectTypeError(_not_an_effect(effect))


_interpreter.register_effect_kinds(Sample, Observe, Factor, Param, Deterministic, Branch, Loop, Handled, UNSET, _fail)
_interpreter.register_error_hooks(site_error, name_site)


class Execution:
    """The state of one run: its random source, the record of its sites, the answer log.

    Handlers reach it as ``self.run``.  ``base`` is the interpreter below
    the outermost handler (by default the compiled
    :class:`~plait.ext._interpreter.BaseInterpreter` over ``rng`` and
    ``record``); :meth:`drive` runs a generator to completion.

    >>> import plait, numpy as np
    >>> def model():
    ...     return (yield plait.sample("x", plait.Bernoulli(1.0)))
    >>> ex = Execution(np.random.default_rng(0), record_answers=False)
    >>> ex.drive(model(), ex.base, True), list(ex.record)
    (1, ['x'])
    """

    __slots__ = ("rng", "record", "hidden", "answers", "result", "base", "handled")

    def __init__(self, rng: Optional[np.random.Generator], record_answers: bool, base: Any = None) -> None:
        self.rng = rng
        #: address -> (answer, effect) for every effect that reached the base,
        #: in visit order; it doubles as the duplicate-address check.
        self.record: dict[Hashable, tuple[Any, Effect]] = {}
        #: addresses that reached the base through :meth:`bypass` (blocked).
        self.hidden: set[Hashable] = set()
        self.answers: Optional[list[tuple[Effect, Any]]] = [] if record_answers else None
        self.result = RunResult(answers=self.answers)
        #: Handler configurations of the sub-programs being driven now
        #: (outermost first); handlers that interpret loops run kernels under them.
        self.handled: list[tuple[Handler, ...]] = []
        #: The base interpreter: answers an effect that left the outermost
        #: handler (a fixed sample's value, a fresh draw from ``rng``, an
        #: observation's value...) and records it, raising on a reused address.
        #: Compiled, because it runs once per effect.  An engine with a base
        #: of its own (GradInf's coupled sites) passes it as ``base``.
        self.base: Any = BaseInterpreter(rng, self.record) if base is None else base

    def bypass(self, effect: Effect) -> Any:
        """Answer ``effect`` at the base, hidden from every handler (used by block)."""
        answer = self.base(effect)
        self.hidden.add(effect.name)  # type: ignore[union-attr]  # (a Handled never reaches a handler)
        return answer

    # -- binding handlers --------------------------------------------------------------
    def bind(
        self, handlers: Iterable[_H], fwd: Callable[[Effect], Any], expand_loops: bool
    ) -> tuple[Callable[[Effect], Any], bool, list[_H]]:
        """Bind per-run copies of ``handlers`` (innermost first) around ``fwd``.

        Returns ``(dispatch, expand_loops, bound_handlers)``.
        """
        bound: list[_H] = []
        for handler in reversed(tuple(handlers)):
            copy = handler.bind(fwd, self)
            fwd = copy.handle
            expand_loops = expand_loops and not copy.interprets_loops
            bound.append(copy)
        bound.reverse()
        return fwd, expand_loops, bound

    # -- driving -----------------------------------------------------------------------
    def drive(self, gen: Any, dispatch: Callable[[Effect], Any], expand_loops: bool) -> Any:
        """Run ``gen`` to completion, answering its effects with ``dispatch``.

        Errors raised while answering are thrown into ``gen``; loops are
        expanded when ``expand_loops``; ``gen`` is always closed.
        """
        return run_to_end(gen, dispatch, expand_loops, self)

    def process(
        self, gen: Any, dispatch: Callable[[Effect], Any], expand_loops: bool = True,
        before: tuple[type, ...] = (), after: tuple[type, ...] = (),
    ) -> Process:
        """``gen`` as a :class:`~plait.ext._interpreter.Process` of this run, not started.

        It pauses before answering an effect whose type is in ``before`` and
        after answering one in ``after``; ``resume()`` runs it to the next pause.

        >>> import plait, numpy as np
        >>> def model():
        ...     yield plait.observe("y", plait.Normal(0.0, 1.0), 0.5)
        ...     return (yield plait.sample("x", plait.Bernoulli(1.0)))
        >>> ex = Execution(np.random.default_rng(0), record_answers=False)
        >>> p = ex.process(model(), ex.base, before=(plait.Sample,))
        >>> p.resume().name, p.resume(0), p.value
        ('x', None, 0)
        """
        return Process(gen, dispatch, expand_loops, self, before, after)

    # -- the rare paths of a process: loop steps and sub-programs -----------------------
    def loop_step(
        self, loop: Loop, step: int, state: Any, dispatch: Callable[[Effect], Any]
    ) -> tuple[Generator[Any, Any, Any], Callable[[Effect], Any]]:
        """Step ``step`` of an expanded loop: the kernel's generator, and its sites' dispatch (scoped)."""
        args = (state,) if loop.xs is None else (state, loop.xs[step])
        return start(loop.kernel, args), LoopStep(loop.name, step).bind(dispatch, self).handle

    def enter(
        self, effect: Handled, dispatch: Callable[[Effect], Any], expand: bool
    ) -> tuple[Callable[[Effect], Any], bool, list[Handler]]:
        """Bind a sub-program's handlers around ``dispatch``: ``(dispatch, expand_loops, token)``."""
        inner, inner_expand, bound = self.bind(effect.handlers, dispatch, expand)
        self.handled.append(effect.handlers)
        return inner, inner_expand, bound

    def leave(self, bound: list[Handler], value: Any) -> None:
        """A sub-program returned ``value``: its handlers publish their outputs."""
        self.handled.pop()
        # Handlers applied to a sub-program report that program's value.
        self.result.value = value
        for handler in bound:
            handler.end(self.result)

    def abandon(self, bound: list[Handler]) -> None:
        """A sub-program ended by an exception, or will not be resumed."""
        self.handled.pop()

    def inner_handlers(self) -> tuple[Handler, ...]:
        """The sub-program handlers between the running generator and the run's own handlers.

        Innermost first, as configurations (not the bound per-run copies).
        """
        return tuple(h for handlers in reversed(self.handled) for h in handlers)


def _not_an_effect(obj: Any) -> str:
    hint = ""
    if inspect.isgenerator(obj):
        hint = " (it is a generator: run sub-models with `yield from`, not `yield`)"
    return (
        f"the model yielded {obj!r}, which is not a plait effect{hint}; "
        "yield plait.sample(...), plait.observe(...), plait.factor(...), ..."
    )


def _diverged(position: int, recorded: Any, effect: Any) -> None:
    """Raise the error for a re-run that left its recorded prefix (see ``AnswerLog``)."""
    raise ReplayDivergenceError(
        f"re-execution diverged at position {position}: the recorded run had "
        f"{_describe(recorded)} there, the re-run asks for {_describe(effect)}; "
        "a replayed program must be deterministic given its answers"
    )


def answer_log(
    prefix: Sequence[tuple[Effect, Any]],
    dispatch: Callable[[Effect], Any],
    answers: Optional[list[tuple[Effect, Any]]],
) -> AnswerLog:
    """Wrap ``dispatch``: answer ``prefix`` positionally, then record into ``answers``.

    The compiled :class:`~plait.ext._interpreter.AnswerLog`; a re-run that
    leaves the prefix raises :class:`ReplayDivergenceError`.

    >>> import plait
    >>> log = answer_log([(plait.sample("x", plait.Normal(0, 1)), 0.5)], None, [])
    >>> log(plait.sample("x", plait.Normal(0, 1)))
    0.5
    """
    return AnswerLog(prefix, dispatch, answers, _diverged)


def _describe(effect: Any) -> str:
    return f"{type(effect).__name__.lower()} {getattr(effect, 'name', effect)!r}"


def run(
    model: Callable[..., Any],
    *args: Any,
    handlers: Sequence[Any] = (),
    seed: SeedLike = None,
    record: bool = False,
    prefix: Optional[Sequence[tuple[Effect, Any]]] = None,
) -> RunResult:
    """Run ``model(*args)`` once under ``handlers`` (innermost first).

    ``seed`` gives the base interpreter its random source; without one, a
    sample that no handler fixes raises :class:`UnhandledEffectError`.
    ``record=True`` keeps the answer log in ``result.answers``; ``prefix``
    replays such a log positionally, bypassing the handlers, before the run
    continues live.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0, 1))
    ...     return x > 0
    >>> r = plait.run(model, handlers=[plait.handlers.TraceHandler()], seed=3)
    >>> r.value == (r.trace["x"] > 0)
    True
    """
    gen = start(model, args)
    rng = None if seed is None else make_rng(seed)
    execution = Execution(rng, record)
    dispatch, expand, bound = execution.bind(handlers, execution.base, True)
    if record or (prefix is not None and len(prefix)):
        # Just inside the run's handlers: it sees effects as the stack receives
        # them, and replayed effects bypass every run-level handler.
        dispatch = answer_log(prefix or (), dispatch, execution.answers)
    result = execution.result
    result.value = execution.drive(gen, dispatch, expand)
    for handler in bound:
        handler.end(result)
    return result


class Stack:
    """An explicit, immutable handler stack (innermost first) that runs models.

    >>> import plait
    >>> h = plait.handlers
    >>> stack = plait.Stack(h.Condition({"x": 0.5}), h.TraceHandler())
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> stack.run(model).trace.choices["x"].observed
    True
    """

    __slots__ = ("handlers",)

    def __init__(self, *handlers: Any) -> None:
        self.handlers = tuple(handlers)

    def run(self, model: Callable[..., Any], *args: Any, **options: Any) -> RunResult:
        """Run ``model(*args)`` under this stack; ``options`` as for :func:`run`."""
        return run(model, *args, handlers=self.handlers, **options)

    def __repr__(self) -> str:
        return f"Stack{self.handlers!r}"

"""Traced gradient programs: record a reverse-mode run once, replay it as straight-line code.

A sampler evaluates the same function (a model's log density) at thousands
of points; each evaluation re-runs the Python that builds it (generators,
handlers, distribution objects, checks) although only the numbers change.
:func:`tracing` watches one reverse-mode evaluation on a :class:`~.reverse.Tape`
and keeps, for every tape node, how to recompute it from its inputs' values;
:meth:`Program.replay` runs that list at new inputs (forward values, then the
same vector-Jacobian rules in reverse) without the code that produced it.

The recording is refused, or a replay gives up (returns None, and the caller
runs the function itself), whenever it could differ from a real run:

* every place the traced run turned a traced value into a plain one
  (``bool()``, a comparison, ``np.any``/``np.shape`` and the other plain
  rules, a plain output of a rule, :func:`guarded` checks such as a
  distribution's parameter validation) is a *guard*: the replay recomputes
  it and gives up unless the outcome is exactly the recorded one;
* any other read of a traced value's primal outside a rule (``.primal``,
  ``stop_gradient``, ``float()``...), a node pushed outside a rule, a nested
  derivative, or a value of another tape makes the recording invalid;
* any exception during a replay (a division by zero that a real run would
  route elsewhere, say) gives up.

Plain arguments are copied when recorded, so a model that mutates an array
after using it replays the values it used.  Only what flows through the
tape is replayed: a function that depends on mutable state other than its
inputs must not be traced (plait's log densities are functions of ``x``).

>>> import numpy as np
>>> from plait.gradients import perturbation
>>> from plait.gradients.reverse import Tape
>>> from plait.gradients.trace import tracing
>>> def f(x):
...     return np.sum(np.sin(x) * x) if x[0] > 0 else np.sum(x)
>>> with perturbation() as tag:
...     tape = Tape(tag)
...     x = tape.variable(np.array([1.0, 2.0]))
...     with tracing(tape) as recording:
...         y = f(x)
...     program = recording.program(y)
>>> value, (g,) = program.replay([np.array([0.5, 1.0])])
>>> bool(np.isclose(value, np.sum(np.sin([0.5, 1.0]) * [0.5, 1.0])))
True
>>> program.replay([np.array([-0.5, 1.0])]) is None   # the branch changed: replay refuses
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import reverse as _rev
from .dual import Dual, _shape, perturbation, stop_gradient
from .reverse import _finite
from .reverse_rules import _sum as _sum_rule
from .reverse_rules import _sum_back
from .straight_line import compile_program

__all__ = ["GuardFailed", "Program", "Recording", "float_status", "guarded", "primal_type", "record", "tracing"]


class GuardFailed(Exception):
    """A replay met a point where the recorded run would have gone differently."""


class _Slot:
    """A reference to tape node ``index`` in a recorded argument."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Invalid(Exception):
    """A recorded argument holds something a replay cannot reproduce."""


def _template(x: Any, tape: Any) -> Any:
    """``x`` with this tape's ``Reverse`` values replaced by slots and arrays copied."""
    t = type(x)
    if t is _rev.Reverse:
        if x.tape is not tape:
            raise _Invalid("a reverse-mode value of another derivative call")
        return _Slot(x.index)
    if t is np.ndarray:
        if x.dtype.kind == "O":
            raise _Invalid("an object array (it may hold traced values)")
        return x.copy()
    if t is tuple or t is list:
        return t(_template(v, tape) for v in x)
    if t is dict:
        return {k: _template(v, tape) for k, v in x.items()}
    if isinstance(x, Dual):
        if t is not Dual or x._tangent is not None:
            raise _Invalid("a forward-mode value with a tangent")
        return x  # a constant dual: immutable
    return x


def _has_slot(template: Any) -> bool:
    t = type(template)
    if t is _Slot:
        return True
    if t is tuple or t is list:
        return any(_has_slot(v) for v in template)
    if t is dict:
        return any(_has_slot(v) for v in template.values())
    return False


def _fill(template: Any, values: list[Any], reverse: Callable[[int], Any] | None) -> Any:
    """A template's value at replay: slots become the nodes' values (or ``Reverse`` values)."""
    t = type(template)
    if t is _Slot:
        return values[template.index] if reverse is None else reverse(template.index)
    if t is tuple or t is list:
        return t(_fill(v, values, reverse) for v in template)
    if t is dict:
        return {k: _fill(v, values, reverse) for k, v in template.items()}
    return template


def same(a: Any, b: Any) -> bool:
    """Exact equality of two guard outcomes (NaN equals NaN; arrays by shape, dtype and elements).

    >>> same(np.array([1.0, np.nan]), np.array([1.0, np.nan])), same(0.0, 1e-300)
    (True, False)
    """
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is np.ndarray:
        return bool(a.shape == b.shape and a.dtype == b.dtype
                    and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if ta is tuple or ta is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if ta is float or ta is np.float64:
        return bool(a == b or (a != a and b != b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an outcome that cannot be compared does not match
        return False


class Recording:
    """What :func:`tracing` saw: a step per tape node (or per rule call), and the guards among them.

    >>> recording, _ = record(lambda x: x * float(stop_gradient(x)), 2.0)  # a number no replay recomputes
    >>> recording.invalid.startswith("the value of a traced")
    True
    """

    def __init__(self, tape: Any) -> None:
        self.tape = tape
        self.depth = 0  # > 0 inside a rule: its own reads and nodes are the rule's business
        self.steps: list[Callable[[list[Any], list[Any], Any], None]] = []
        self.inputs = len(tape.nodes)
        self.claimed = 0
        self.invalid: str | None = None

    def refuse(self, why: str) -> None:
        """Make this recording unusable (the first reason is kept for :meth:`program`'s caller)."""
        if self.invalid is None:
            self.invalid = why

    # -- nodes whose recipe the recording site knows ---------------------------------------
    def node(self, step: Callable[[list[Any], list[Any], Any], None]) -> None:
        """One node just pushed at depth 0, recomputed at replay by ``step(values, nodes, tape)``."""
        self.claimed += 1
        self.steps.append(step)

    def _ref(self, x: Any, tag: int) -> tuple[int, Any]:
        """``(node index, None)`` for a traced value, ``(-1, its plain value)`` for a constant."""
        t = type(x)
        if t is np.ndarray and x.dtype.kind == "O":
            self.refuse("an object array (it may hold traced values)")
        if t is _rev.Reverse:
            if x.tape is not self.tape or type(_rev.raw_primal(x)) is Dual:
                self.refuse("a nested derivative")
            return x.index, None
        if t is Dual:
            if x._tangent is not None or x.tag > tag:
                self.refuse("a forward-mode value with a tangent")
            return -1, _copy(x.primal)
        if isinstance(x, Dual):
            self.refuse("a value of another derivative call")
        return -1, _copy(x)

    def scalar(self, kind: int, a: Any, b: Any, parents: tuple[Any, ...]) -> None:
        """A node of :func:`~.reverse._scalar_op` (``kind``: add, subtract, multiply, divide)."""
        tag = self.tape.tag
        (ia, ca), (ib, cb) = self._ref(a, tag), self._ref(b, tag)
        self.node(_scalar_step(kind, ia, ca, ib, cb, parents))

    def ufunc(self, ufunc: Any, partials: Any, inputs: Sequence[Any], tag: int, parents: tuple[Any, ...]) -> None:
        """A node of :func:`~.reverse.record_ufunc`."""
        refs = [self._ref(x, tag) for x in inputs]
        if ufunc is np.true_divide and any(i < 0 and np.ndim(c) == 0 and c == 0 for i, c in refs[1:]):
            self.refuse("a division by a constant zero (the scalar path would differ)")
        self.node(_ufunc_step(ufunc, partials, refs, parents))

    def fused(self, args: Sequence[Any], compute: Callable[..., Any], elementwise: bool,
              parents: tuple[Any, ...]) -> None:
        """A node of :func:`~.reverse.scalar_node` / :func:`~.reverse.elementwise_node`."""
        refs = [self._ref(x, self.tape.tag) for x in args]
        self.node(_fused_step(compute, elementwise, refs, parents))

    def template(self, x: Any) -> Any:
        try:
            return _template(x, self.tape)
        except _Invalid as error:
            self.refuse(str(error))
            return None

    # -- rule calls: replayed by calling the rule again on reverse-mode values ------------------
    def call(self, func: Callable[..., Any], args: Sequence[Any], kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` at depth 0, recorded as one step (its plain outputs become guards)."""
        targs, tkwargs = self.template(tuple(args)), self.template(dict(kwargs))
        if func is _sum_rule and not kwargs and len(args) == 1 and type(targs[0]) is _Slot \
                and type(_rev.raw_primal(args[0])) is np.ndarray:
            self.depth += 1
            try:
                out = func(*args)  # a whole-array sum: the commonest rule call, replayed without the rule
            finally:
                self.depth -= 1
            self.node(_sum_step(targs[0].index, out.index))
            return out
        start = len(self.tape.nodes)
        self.depth += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self.depth -= 1
        pushed = len(self.tape.nodes) - start
        self.claimed += pushed
        tout = self.template(out)
        if self.invalid is None and (_has_slot(targs) or _has_slot(tkwargs)):
            step = _CallStep(func, targs, tkwargs, pushed, tout)
            if func is _rev._plain_ufunc and not pushed and not kwargs \
                    and not any(type(a) is not _Slot and _has_slot(a) for a in targs):
                # A comparison or another plain-valued ufunc: a guard on plain values.
                refs = [(a.index, None) if type(a) is _Slot else (-1, a) for a in targs]
                step.spec = ("plain", func, refs, tout)
            self.steps.append(step)
        return out

    def guard(self, check: Callable[[Any], Any], value: Any) -> Any:
        """``check(stop_gradient(value))``, recomputed at replay and compared with this outcome."""
        template = self.template(value)
        self.depth += 1
        try:
            outcome = check(stop_gradient(value))
        finally:
            self.depth -= 1
        if type(template) is _Slot:
            self.steps.append(_slot_guard(check, template.index, _copy(outcome)))
        elif _has_slot(template):
            self.steps.append(_GuardStep(check, template, _copy(outcome)))
        return outcome

    def program(self, output: Any) -> Program | None:
        """The replayable program whose result is ``output`` (a value of this tape), or None if refused."""
        if self.invalid is not None or type(output) is not _rev.Reverse or output.tape is not self.tape:
            return None
        if self.claimed != len(self.tape.nodes) - self.inputs:
            self.refuse("a node was pushed outside any recorded step")
            return None
        return Program(self.inputs, self.steps, output.index)


def _copy(outcome: Any) -> Any:
    t = type(outcome)
    if t is np.ndarray:
        return outcome.copy()
    if t is tuple or t is list:
        return t(_copy(v) for v in outcome)
    return outcome


Step = Callable[[list[Any], list[Any], Any], None]


def _described(step: Step, *spec: Any) -> Step:
    """``step`` with its description for :func:`~.straight_line.compile_program` (kind, then fields)."""
    step.spec = spec  # type: ignore[attr-defined]
    return step


def _scalar_step(kind: int, ia: int, ca: Any, ib: int, cb: Any, parents: tuple[Any, ...]) -> Step:
    """Replay of a scalar operator node: the arithmetic of ``_scalar_op``, its VJP."""
    back = _rev._SCALAR_BACK[kind]
    arithmetic = _rev.scalar_arithmetic

    def step(values: list[Any], nodes: list[Any], tape: Any) -> None:
        pa = values[ia] if ia >= 0 else ca
        pb = values[ib] if ib >= 0 else cb
        y = arithmetic(kind, pa, pb)
        if y is None:
            raise GuardFailed("division by zero: a real run takes the ufunc path")
        values.append(y)
        nodes.append((back, parents, (pa, pb, y)))

    return _described(step, "scalar", kind, ia, ca, ib, cb, parents)


def _ufunc_step(ufunc: Any, partials: Any, refs: list[tuple[int, Any]], parents: tuple[Any, ...]) -> Step:
    """Replay of a ufunc node (``record_ufunc``): the ufunc on the inputs' values, the same VJP."""
    own = callable(partials)
    back = partials if own else _rev._elementwise_back

    def step(values: list[Any], nodes: list[Any], tape: Any) -> None:
        primals = [values[i] if i >= 0 else c for i, c in refs]
        y = ufunc(*primals)
        values.append(y)
        nodes.append((back, parents, (y, primals) if own else (partials, y, primals)))

    return _described(step, "ufunc", ufunc, partials, refs, parents)


def _fused_step(compute: Callable[..., Any], elementwise: bool, refs: list[tuple[int, Any]],
                parents: tuple[Any, ...]) -> Step:
    """Replay of a ``scalar_node``/``elementwise_node`` node: ``compute`` on the inputs' values."""
    float64 = np.float64
    shape = _shape

    def step(values: list[Any], nodes: list[Any], tape: Any) -> None:
        plains = [values[i] if i >= 0 else c for i, c in refs]
        y, partials = compute(*plains)
        if elementwise:
            nodes.append((_rev._elementwise_partials_back, parents, (partials, tuple(shape(p) for p in plains))))
        else:
            y = float64(y)
            nodes.append((_rev._partials_back, parents, partials))
        values.append(y)

    return _described(step, "fused", compute, elementwise, refs, parents)


def _slot_guard(check: Callable[[Any], Any], index: int, outcome: Any) -> Step:
    """A guard on one node's value (the common case: a parameter check, a NaN test)."""
    def step(values: list[Any], nodes: list[Any], tape: Any) -> None:
        result = check(values[index])
        if result is not outcome and not same(result, outcome):
            raise GuardFailed("a guard's outcome changed")

    return _described(step, "guard", check, index, outcome)


def _sum_step(index: int, out: int) -> Step:
    """Replay of ``np.sum(a)`` over a whole array (the rule's ndarray path, its node)."""
    reduce = np.add.reduce
    back = _sum_back
    parents = ((0, index),)

    def step(values: list[Any], nodes: list[Any], tape: Any) -> None:
        p = values[index]
        if type(p) is not np.ndarray:
            raise GuardFailed("the summed value is no longer an array")
        values.append(reduce(p, axis=None, dtype=None, keepdims=False))
        nodes.append((back, parents, (p.shape, None, False, 1)))

    return _described(step, "sum", index)


class _CallStep:
    """A rule call: run again on reverse-mode values of the replay's tape."""

    __slots__ = ("args", "func", "kwargs", "out", "pushed", "spec")

    def __init__(self, func: Callable[..., Any], args: Any, kwargs: Any, pushed: int, out: Any) -> None:
        self.func, self.args, self.kwargs, self.pushed, self.out = func, args, kwargs, pushed, out
        #: Set for a rule call that :mod:`.straight_line` compiles (a plain ufunc: no nodes).
        self.spec: tuple[Any, ...] | None = None

    def __call__(self, values: list[Any], nodes: list[Any], tape: Any) -> None:
        def reverse(i: int) -> Any:
            return _rev.make_reverse(tape, values[i], i)

        start = len(nodes)
        out = self.func(*_fill(self.args, values, reverse), **_fill(self.kwargs, values, reverse))
        if len(nodes) - start != self.pushed:
            raise GuardFailed("the rule recorded a different number of nodes")
        values.extend([None] * self.pushed)
        _match(self.out, out, values)


def _match(template: Any, out: Any, values: list[Any]) -> None:
    """Check a rule's output against the recorded one; store its nodes' values."""
    t = type(template)
    if t is _Slot:
        if type(out) is not _rev.Reverse or out.index != template.index:
            raise GuardFailed("a rule's output changed")
        values[template.index] = _rev.raw_primal(out)
    elif t is tuple or t is list:
        if type(out) is not t or len(out) != len(template):
            raise GuardFailed("a rule's output changed")
        for a, b in zip(template, out):
            _match(a, b, values)
    elif not same(template, out):
        raise GuardFailed("a plain result of a rule changed")


class _GuardStep:
    """A conversion of traced values to a plain outcome: the replay needs the same outcome."""

    __slots__ = ("check", "outcome", "value")

    def __init__(self, check: Callable[[Any], Any], value: Any, outcome: Any) -> None:
        self.check, self.value, self.outcome = check, value, outcome

    def __call__(self, values: list[Any], nodes: list[Any], tape: Any) -> None:
        if not same(self.check(stop_gradient(_fill(self.value, values, None))), self.outcome):
            raise GuardFailed("a guard's outcome changed")


class Program:
    """A recorded reverse-mode evaluation, replayable at new input values (see the module docstring).

    >>> _, program = record(lambda x: x * x + 1.0, 2.0)
    >>> value, (g,) = program.replay([np.float64(3.0)])
    >>> float(value), float(g)
    (10.0, 6.0)
    """

    def __init__(self, inputs: int, steps: list[Callable[[list[Any], list[Any], Any], None]],
                 output: int) -> None:
        self.inputs = inputs
        self.steps = steps
        self.output = output
        self.calls = any(type(step) is _CallStep for step in steps)
        #: The straight-line form (:mod:`.straight_line`), written at the first replay; None
        #: before, or when a step has no compiled form.
        self.compiled: Callable[..., tuple[Any, list[Any]]] | None = None
        self._compile_pending = True

    def replay(self, inputs: Sequence[Any]) -> tuple[Any, list[Any]] | None:
        """``(output value, cotangents of the inputs)`` at ``inputs``, or None where a real run is needed.

        Inputs are given as to :meth:`~.reverse.Tape.variable` (float64
        scalars or arrays, in the traced order); a cotangent is None where
        the output does not depend on that input.
        """
        if len(inputs) != self.inputs:
            raise ValueError(f"Program.replay: expected {self.inputs} inputs, got {len(inputs)}")
        compiled = self.compiled
        if compiled is not None:
            try:
                y, cotangents = compiled(*inputs)
            except GuardFailed:
                return None  # the interpreted replay would give up at the same guard
            except Exception:  # noqa: BLE001 - the interpreted replay decides
                pass
            else:
                # A non-finite result may come from a product that the interpreted rules make
                # zero (module docstring of .straight_line): then their numbers are the answer.
                if _finite(y) and all(c is None or _finite(c) for c in cotangents):
                    return y, cotangents
        if self.calls:  # rule calls run on reverse-mode values of a live tape
            with perturbation() as tag:
                return self._run(list(inputs), _rev.Tape(tag))
        return self._run(list(inputs), _rev.Tape(0))

    def _run(self, values: list[Any], tape: Any) -> tuple[Any, list[Any]] | None:
        nodes = tape.nodes
        nodes.extend([_rev.VARIABLE] * len(values))
        inputs = len(values)
        try:
            for step in self.steps:
                step(values, nodes, tape)
        except Exception:  # noqa: BLE001 - any surprise: the caller runs the real thing
            return None
        if self._compile_pending:
            self._compile_pending = False
            self.compiled = compile_program(self.steps, inputs, self.output, values, GuardFailed, same)
        top = self.output
        y = values[top]
        cotangents = _rev.backward_nodes(nodes, top, _rev.ones_like_primal(y), False)
        return y, [_rev.dense(cotangents[i]) for i in range(inputs)]


class tracing:
    """Record what happens on ``tape`` while the context is open (a :class:`Recording`).

    Reads of a traced value's primal outside the rules are watched only
    inside this context (the ``primal`` attribute of reverse-mode values is
    swapped for a checking one), so untraced runs pay nothing.

    >>> from plait.gradients import perturbation
    >>> from plait.gradients.reverse import Tape
    >>> with perturbation() as tag:
    ...     tape = Tape(tag)
    ...     with tracing(tape) as recording:
    ...         y = tape.variable(1.0) * 3.0
    >>> len(recording.steps), tape.recorder is None
    (1, True)
    """

    def __init__(self, tape: Any) -> None:
        self.recording = Recording(tape)

    def __enter__(self) -> Recording:
        self.recording.tape.recorder = self.recording
        _rev.watch_primals(True)
        return self.recording

    def __exit__(self, *exc: object) -> None:
        _rev.watch_primals(False)
        self.recording.tape.recorder = None


def record(f: Callable[..., Any], *inputs: Any) -> tuple[Recording, Program | None]:
    """Run ``f`` once on reverse-mode values of ``inputs`` while recording: ``(recording, program or None)``.

    >>> recording, program = record(lambda x: x * float(stop_gradient(x)), 2.0)
    >>> program is None, recording.invalid is not None
    (True, True)
    """
    with perturbation() as tag:
        tape = _rev.Tape(tag)
        leaves = [tape.variable(v) for v in inputs]
        with tracing(tape) as recording:
            y = f(*leaves)
        return recording, recording.program(y)


def guarded(value: Any, check: Callable[[Any], Any]) -> Any:
    """``check(stop_gradient(value))``; inside :func:`tracing`, recorded as a guard on ``value``.

    The way for code outside the derivative rules to look at a traced
    value's number (a parameter check, a NaN test): a replay recomputes the
    check and refuses unless its outcome is exactly the recorded one.  An
    exception from ``check`` propagates (and, at replay, refuses).

    >>> guarded(2.0, lambda v: v > 0)
    True
    """
    rec = _recorder(value)
    if rec is None or rec.depth:
        return check(stop_gradient(value))
    return rec.guard(check, value)


def _recorder(value: Any) -> Recording | None:
    found: Recording | None = None
    for x in _leaves(value):
        if type(x) is _rev.Reverse and x.tape.recorder is not None:
            found = x.tape.recorder
    return found


def _leaves(value: Any) -> Iterator[Any]:
    if type(value) is tuple or type(value) is list:
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def primal_type(x: Dual) -> type:
    """The type of ``x``'s primal: structure (a nested dual or a number), never a guard.

    >>> from plait.gradients import Dual, perturbation
    >>> with perturbation() as tag:
    ...     primal_type(Dual(np.float64(1.0), tag=tag)).__name__
    'float64'
    """
    return type(_rev._get_primal(x))


def float_status(x: float) -> int:
    """0 for a finite or +inf number, 1 for -inf, 2 for NaN (a log density's three cases).

    >>> float_status(-math.inf), float_status(math.nan)
    (1, 2)
    """
    if math.isnan(x):
        return 2
    return 1 if x == -math.inf else 0

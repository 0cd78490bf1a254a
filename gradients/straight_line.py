"""A traced gradient program compiled to one Python function: forward lines, then backward lines.

:meth:`.trace.Program.replay` interprets its recorded steps one closure at a
time and then walks the generic backward loop (a cotangent list, a rule
call per parent, zero-absorbing products under their own error state,
broadcasting checks).  Once a program has replayed, every node's shape is
known (the inputs' shapes are fixed and every recorded operation's output
shape follows from its inputs'), so the same program can be written out as
straight-line Python: a local variable per node, each forward step as its
call, and each vector-Jacobian product as the arithmetic it comes to at
those shapes, with the broadcasting sums resolved in advance.

The compiled function computes the same numbers in the same order as the
interpreted replay (the same functions on the same values; cotangents
accumulated in the same order), with one difference: its products are plain
IEEE products, where the interpreted rules make an exactly-zero factor
absorb an infinite or NaN one.  The two agree whenever every cotangent is
finite; an infinite or NaN cotangent stays non-finite through later sums
and products (or is dropped by a selection, and then affects nothing), so
a caller that re-runs the interpreted replay whenever the compiled result
is not finite gets the interpreted numbers exactly.  :class:`.trace.Program`
does that.

Only the common step kinds are compiled (scalar operators, ufuncs, fused
scalar or elementwise nodes, whole-array sums, guards on one node, and
comparisons: rule calls with a plain result); a program with another rule
call (``where``, indexing...) or a guard over several values stays
interpreted (:func:`compile_program` returns None).

>>> import numpy as np
>>> from plait.gradients.trace import record
>>> _, program = record(lambda x: np.sum(np.sin(x) * x), np.array([1.0, 2.0]))
>>> value, (g,) = program.replay([np.array([0.5, 1.0])])
>>> program.compiled is not None   # the first replay compiled it
True
>>> bool(np.allclose(g, np.cos([0.5, 1.0]) * [0.5, 1.0] + np.sin([0.5, 1.0])))
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import reverse as _rev
from .dual import _shape
from .reverse_rules import _sum_back

__all__ = ["compile_program"]


class _Writer:
    """The source of the compiled function and the constants it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self._ids: dict[int, str] = {}

    def const(self, value: Any, hint: str = "k") -> str:
        """A global name bound to ``value`` (one name per object)."""
        key = id(value)
        name = self._ids.get(key)
        if name is None:
            name = f"{hint}{len(self.names)}"
            self.names[name] = value
            self._ids[key] = name
        return name

    def line(self, text: str, depth: int = 1) -> None:
        self.lines.append("    " * depth + text)


def _operand(w: _Writer, index: int, constant: Any) -> str:
    return f"v{index}" if index >= 0 else w.const(constant)


class _Backward:
    """Cotangent bookkeeping while writing the backward lines (nodes visited top down)."""

    def __init__(self, w: _Writer, top: int) -> None:
        self.w = w
        self.contributed: set[int] = {top}
        self.certain: set[int] = {top}  # a dense cotangent is surely bound at top level

    def add(self, j: int, expression: str, depth: int, certain: bool) -> None:
        """``g_j += expression`` (``certain``: the expression is a dense array or number, never None)."""
        w = self.w
        if j not in self.contributed and certain and depth == 1:
            w.line(f"g{j} = {expression}", depth)
            self.certain.add(j)
        elif j in self.certain and certain and depth == 1:
            w.line(f"g{j} = g{j} + {expression}", depth)
        else:
            w.line(f"g{j} = acc(g{j}, {expression})", depth)
            self.certain.discard(j)
        self.contributed.add(j)


def compile_program(steps: Sequence[Any], inputs: int, output: int, values: Sequence[Any],
                    guard_failed: type[Exception], same: Callable[[Any, Any], bool]
                    ) -> Callable[..., tuple[Any, list[Any]]] | None:
    """The straight-line function of a replayed program, or None if a step has no compiled form.

    ``values``: every node's value from one replay (their shapes are the
    program's).  The function takes the inputs as positional arguments and
    returns ``(output value, cotangents of the inputs)``; it raises
    ``guard_failed`` where the interpreted replay would give up (guards
    compare outcomes with ``same``).

    >>> from plait.gradients.trace import GuardFailed, record, same
    >>> _, program = record(lambda x: x * x + 1.0, 2.0)
    >>> f = compile_program(program.steps, program.inputs, program.output, [2.0, 4.0, 5.0], GuardFailed, same)
    >>> value, (g,) = f(np.float64(3.0))
    >>> float(value), float(g)
    (10.0, 6.0)
    """
    specs: list[tuple[Any, ...]] = []
    for step in steps:
        spec = getattr(step, "spec", None)
        if spec is None:
            return None
        specs.append(spec)
    w = _Writer()
    nodes: dict[int, tuple[Any, ...]] = {}
    node = inputs
    for spec in specs:
        if spec[0] == "guard":
            _guard(w, spec)
            continue
        if spec[0] == "plain":
            _plain_call(w, spec)
            continue
        _forward(w, node, spec)
        nodes[node] = spec
        node += 1
    if node != len(values) or output >= node:
        return None
    _backward(w, nodes, inputs, output, values)
    args = ", ".join(f"v{i}" for i in range(inputs))
    source = f"def compiled({args}):\n" + "\n".join(w.lines) + "\n"
    namespace: dict[str, Any] = dict(w.names)
    namespace.update(_GLOBALS)
    namespace["same"] = same

    def fail(message: str) -> None:
        raise guard_failed(message)

    namespace["fail"] = fail
    try:
        exec(compile(source, "<plait traced program>", "exec"), namespace)  # noqa: S102 - our own generated code
    except (MemoryError, RecursionError, SyntaxError):  # a program beyond the compiler's limits stays interpreted
        return None
    function: Callable[..., tuple[Any, list[Any]]] = namespace["compiled"]
    function.source = source  # type: ignore[attr-defined]  # for debugging: print(program.compiled.source)
    return function


def _acc(prev: Any, c: Any) -> Any:
    if c is None:
        return prev
    if prev is None:
        return c
    return _rev._accumulate(prev, c)


_GLOBALS: dict[str, Any] = {
    "acc": _acc, "dense": _rev.dense, "arith": _rev.scalar_arithmetic, "ndarray": np.ndarray,
    "reduce": np.add.reduce, "float64": np.float64,
}


def _guard(w: _Writer, spec: tuple[Any, ...]) -> None:
    _, check, index, outcome = spec
    c, o = w.const(check, "check"), w.const(outcome, "outcome")
    w.line(f"r = {c}(v{index})")
    w.line(f"if r is not {o} and not same(r, {o}): fail('a guard changed')")


def _plain_call(w: _Writer, spec: tuple[Any, ...]) -> None:
    """A rule with a plain result (a comparison): called on the plain values, its result a guard."""
    _, func, refs, outcome = spec
    o = w.const(outcome, "outcome")
    w.line(f"r = {w.const(func, 'rule')}({', '.join(_operand(w, i, c) for i, c in refs)})")
    w.line(f"if r is not {o} and not same(r, {o}): fail('a plain result changed')")


def _forward(w: _Writer, n: int, spec: tuple[Any, ...]) -> None:
    kind = spec[0]
    if kind == "scalar":
        _, op, ia, ca, ib, cb, _parents = spec
        w.line(f"v{n} = arith({op}, {_operand(w, ia, ca)}, {_operand(w, ib, cb)})")
        w.line(f"if v{n} is None: fail('division by zero')")
    elif kind == "ufunc":
        _, ufunc, _partials, refs, _parents = spec
        operands = ", ".join(_operand(w, i, c) for i, c in refs)
        w.line(f"v{n} = {w.const(ufunc, 'ufunc')}({operands})")
    elif kind == "fused":
        _, compute, elementwise, refs, _parents = spec
        operands = ", ".join(_operand(w, i, c) for i, c in refs)
        w.line(f"v{n}, p{n} = {w.const(compute, 'compute')}({operands})")
        if not elementwise:
            w.line(f"v{n} = float64(v{n})")
    elif kind == "sum":
        _, index = spec
        w.line(f"if type(v{index}) is not ndarray: fail('the summed value is no longer an array')")
        w.line(f"v{n} = reduce(v{index}, axis=None, dtype=None, keepdims=False)")
    else:  # pragma: no cover - every spec kind is listed above
        raise AssertionError(kind)


def _unbroadcast(w: _Writer, expression: str, from_shape: tuple[int, ...], to_shape: tuple[int, ...]) -> str:
    """``expression`` (of ``from_shape``) summed to ``to_shape``: the axes are known now."""
    if from_shape == to_shape:
        return expression
    if to_shape == () and len(from_shape) == 1:
        return f"reduce({expression}, axis=0)"  # the same sum along the one axis, as a scalar
    lead = len(from_shape) - len(to_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(to_shape) if size == 1 and from_shape[lead + i] != 1)
    out = f"reduce({expression}, axis={axes!r}, keepdims=True)" if axes else expression
    return f"({out}).reshape({to_shape!r})"


def _backward(w: _Writer, nodes: dict[int, tuple[Any, ...]], inputs: int, output: int,
              values: Sequence[Any]) -> None:
    seed = _rev.ones_like_primal(values[output])
    w.line("# backward")
    for j in range(output):
        w.line(f"g{j} = None")
    w.line(f"g{output} = {w.const(seed, 'seed')}")
    book = _Backward(w, output)
    for n in range(output, inputs - 1, -1):
        if n not in book.contributed:
            continue
        depth = 1
        if n not in book.certain:
            w.line(f"if g{n} is not None:")
            w.line(f"g{n} = dense(g{n})", 2)
            depth = 2
        _node_backward(w, book, n, nodes[n], values, depth)
    outs = ", ".join(f"g{i}" if i in book.certain else f"dense(g{i})" for i in range(inputs))
    w.line(f"return v{output}, [{outs}]")


def _node_backward(w: _Writer, book: _Backward, n: int, spec: tuple[Any, ...], values: Sequence[Any],
                   depth: int) -> None:
    kind = spec[0]
    g = f"g{n}"
    certain = depth == 1
    if kind == "scalar":
        _, op, ia, ca, ib, cb, parents = spec
        a, b = _operand(w, ia, ca), _operand(w, ib, cb)
        for position, j in parents:
            if op == 0:
                c = g
            elif op == 1:
                c = g if position == 0 else f"-{g}"
            elif op == 2:
                c = f"{g} * {b if position == 0 else a}"
            else:
                c = f"{g} * (1.0 / {b})" if position == 0 else f"{g} * (-v{n} / {b})"
            book.add(j, c, depth, certain)
    elif kind == "ufunc":
        _, _ufunc, partials, refs, parents = spec
        operands = ", ".join(_operand(w, i, c) for i, c in refs)
        if callable(partials):  # a rule with its own vector-Jacobian product: called as recorded
            for position, j in parents:
                book.add(j, f"{w.const(partials, 'back')}({g}, (v{n}, ({operands},)), {position})", depth, False)
            return
        for position, j in parents:
            d = partials[position]
            if d is _rev.ONE:
                c = g
            elif d is _rev.MINUS_ONE:
                c = f"-{g}"
            else:
                c = f"{g} * {w.const(d, 'partial')}(v{n}, {operands})"
            book.add(j, _unbroadcast(w, c, _shape(values[n]), _shape(values[j])), depth, certain)
    elif kind == "fused":
        _, _compute, elementwise, refs, parents = spec
        for position, j in parents:
            c = f"{g} * p{n}[{position}]"
            if elementwise:
                c = _unbroadcast(w, c, _shape(values[n]), _shape(values[j]))
            book.add(j, c, depth, certain)
    elif kind == "sum":
        _, index = spec
        payload = w.const((_shape(values[index]), None, False, 1), "payload")
        book.add(index, f"{w.const(_sum_back, 'back')}({g}, {payload}, 0)", depth, certain)

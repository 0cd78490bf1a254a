"""Reverse mode: the :class:`Reverse` value, recorded on a :class:`Tape` (a Wengert list).

A ``Reverse`` holds

* ``primal`` — its value: a float numpy array or scalar, or a :class:`~.dual.Dual`
  or ``Reverse`` of a lower tag when derivatives are nested;
* ``tape`` and ``index`` — the tape of the derivative call that owns it and
  its position there;
* ``tag`` — that call's tag, drawn from the same counter as the dual
  numbers' (:func:`~.dual.perturbation`), so the two modes nest.

Every operation on a ``Reverse`` goes through numpy's protocols
(``__array_ufunc__``/``__array_function__``), computes the primal with the
user's numpy call, and appends one node to the tape: the positions of its
``Reverse`` inputs and a vector-Jacobian rule (:mod:`.reverse_rules`).
:meth:`Tape.backward` walks the list once from the output down, adding up
cotangents.  The tape belongs to one derivative call: nothing global grows,
and it is garbage as soon as the call returns.

``Reverse`` subclasses ``Dual`` for one reason: numpy offers an override to
a subclass before its base class, so an operation that mixes a ``Reverse``
with a ``Dual`` always asks the ``Reverse`` first; it answers when its tag
is the highest and returns ``NotImplemented`` otherwise.  The dual-number
code tests ``type(x) is Dual``, so for it a ``Reverse`` is a constant whose
own derivative flows through the primal computation, as with any lower tag.

>>> import numpy as np
>>> from plait.gradients.reverse import Tape
>>> from plait.gradients import perturbation
>>> with perturbation() as tag:
...     tape = Tape(tag)
...     x = tape.variable(np.array([1.0, 2.0]))
...     y = np.sum(x * np.sin(x))
...     print(tape.backward(y, [x])[0].round(6))
[1.381773 0.077004]
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..errors import NoDerivativeRuleError
from .dual import _LIVE, Dual, _dtype, _float_primal, _shape, _ufunc_name, escaped

__all__ = ["Reverse", "Tape", "plain", "is_reverse", "scalar_node", "elementwise_node"]


class Tape:
    """The Wengert list of one reverse-mode derivative call.

    A node is ``(backward, parents, payload)``: ``parents`` pairs each
    ``Reverse`` input's argument position with its node index, and
    ``backward(g, payload, position)`` is the cotangent of that argument
    given the output's cotangent ``g`` (or None for exactly zero).
    Variables are nodes without a rule.

    >>> import numpy as np
    >>> from plait.gradients import perturbation
    >>> from plait.gradients.reverse import Tape
    >>> with perturbation() as tag:
    ...     tape = Tape(tag)
    ...     x = tape.variable(3.0)
    ...     print(float(tape.backward(x * x + 1.0, [x])[0]))
    6.0
    """

    __slots__ = ("tag", "nodes", "recorder")

    def __init__(self, tag: int) -> None:
        self.tag = tag
        self.nodes: List[Any] = []
        self.recorder: Any = None  # a trace.Recording while a traced run records this tape

    def variable(self, value: Any) -> "Reverse":
        """A new input of this tape (ints become float64, bools are refused)."""
        return self.push(_float_primal(value, "reverse mode") if type(value) is not Reverse else value,
                         None, (), None)

    def push(self, value: Any, backward: Any, parents: tuple[Any, ...], payload: Any) -> "Reverse":
        """Record one node and return its ``Reverse`` value."""
        nodes = self.nodes
        r = _object_new(Reverse)
        _set_primal(r, value)
        _set_tag(r, self.tag)
        _set_tape(r, self)
        _set_index(r, len(nodes))
        nodes.append((backward, parents, payload))
        return r

    def backward(self, y: Any, inputs: Sequence["Reverse"], seed: Any = None,
                 keep: bool = False) -> List[Any]:
        """Cotangents of ``inputs`` (None where ``y`` does not depend on one) for ``y``'s ``seed``.

        ``seed`` defaults to ones shaped like ``y``.  Nodes are dropped as
        they are used unless ``keep`` (for several backward passes).
        """
        if type(y) is not Reverse or y.tape is not self:
            if isinstance(y, Dual) and y.tag > self.tag:
                escaped(y.tag)
            return [None for _ in inputs]
        if seed is None:
            seed = ones_like_primal(y.primal)
        cots = backward_nodes(self.nodes, y.index, seed, keep)
        top = y.index
        return [_dense(cots[x.index]) if x.index <= top else None for x in inputs]


def ones_like_primal(p: Any) -> Any:
    """The default seed of a backward pass from a value whose primal is ``p``."""
    return np.ones(_shape(p), dtype=np.result_type(_dtype(p), np.float32))[()]


def backward_nodes(nodes: List[Any], top: int, seed: Any, keep: bool) -> List[Any]:
    """The cotangent of every node up to ``top`` (None where zero), from ``seed`` at node ``top``.

    The loop of :meth:`Tape.backward`, shared with the replay of traced
    programs (:mod:`.trace`), which keep their nodes in a list of their own.
    """
    cots: List[Any] = [None] * (top + 1)
    cots[top] = seed
    for i in range(top, -1, -1):
        g = cots[i]
        if g is None:
            continue
        backward, parents, payload = nodes[i]
        if backward is None:
            continue  # a variable: its cotangent stays in cots
        cots[i] = None
        if not keep:
            nodes[i] = _DONE
        if type(g) is Sparse:
            g = g.dense()
        for position, j in parents:
            c = backward(g, payload, position)
            if c is not None:
                prev = cots[j]
                cots[j] = c if prev is None else _accumulate(prev, c)
    return cots


_DONE = (None, (), None)
#: The node of an input (no rule).
VARIABLE = (None, (), None)


class Sparse:
    """A cotangent that is zero except at a few basic indices: ``x[i]`` in a loop over ``i``.

    Scattering each ``x[i]``'s cotangent into a dense array would cost the
    size of ``x`` per access (quadratic over a loop); the entries are kept
    as a list instead and added into one array when the node is reached.
    Only the backward pass sees this type.
    """

    __slots__ = ("shape", "dtype", "entries")

    def __init__(self, shape: tuple[int, ...], dtype: Any, entries: list[Any]) -> None:
        self.shape = shape
        self.dtype = dtype
        self.entries = entries

    def dense(self) -> np.ndarray:
        z = np.zeros(self.shape, dtype=self.dtype)
        for index, g in self.entries:
            z[index] += g  # basic indices: one element or slice at a time, repeats add
        return z


def _dense(c: Any) -> Any:
    return c.dense() if type(c) is Sparse else c


dense = _dense


def _accumulate(prev: Any, c: Any) -> Any:
    if type(prev) is Sparse and type(c) is Sparse:
        prev.entries.extend(c.entries)  # both made by this pass, held only in its list
        return prev
    return _dense(prev) + _dense(c)


class Reverse(Dual):
    """A value recorded on a reverse-mode :class:`Tape`; built by the combinators.

    Behaves like a read-only array: numpy functions, operators, indexing,
    ``.shape``/``.sum()``/``.T``...  Comparisons and ``bool()`` use the plain
    value; ``float()`` refuses (it would drop the derivative).

    >>> import numpy as np
    >>> from plait.gradients import grad
    >>> grad(lambda v: v[0] * np.sin(v[1]), np.array([2.0, 0.0]))
    array([0., 2.])
    """

    __slots__ = ("tape", "index")
    tape: "Tape"
    index: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Reverse values are made by a Tape (Tape.variable) inside a reverse-mode "
                        "derivative call (grad, vjp, jacrev...), not constructed directly")

    def __repr__(self) -> str:
        return f"Reverse({self.primal!r}, tag={self.tag}, index={self.index})"

    @property
    def tangent(self) -> Any:
        """None: a reverse-mode value carries no tangent (its derivative comes from the tape)."""
        return None

    @property
    def directions(self) -> int:
        """0: no tangent directions."""
        return 0

    def __bool__(self) -> bool:
        if _TRACING[0]:
            rec = self.tape.recorder
            if rec is not None and rec.depth == 0:
                return bool(rec.guard(bool, self))  # a branch on a traced value: a guard
        return bool(plain(self))

    # The structure of a value does not depend on its numbers: read without the trace's watch.
    @property
    def shape(self) -> tuple[int, ...]:
        """The primal's shape."""
        return _shape(_get_primal(self))

    @property
    def ndim(self) -> int:
        """The primal's number of dimensions."""
        return len(_shape(_get_primal(self)))

    @property
    def size(self) -> int:
        """The primal's number of elements."""
        return math.prod(_shape(_get_primal(self)))

    @property
    def dtype(self) -> Any:
        """The primal's dtype."""
        return _dtype(_get_primal(self))

    def __reduce__(self) -> Any:
        raise TypeError("a Reverse value belongs to a running derivative call and cannot be pickled")

    def __getitem__(self, index: Any) -> Any:
        index = _kept_in(index)
        if _TRACING[0]:
            rec = self.tape.recorder
            if rec is not None and rec.depth == 0:
                return rec.call(PROTOCOL_VJPS["getitem"], (self, index), {})
        return PROTOCOL_VJPS["getitem"](self, index)

    # Operators go straight to the ufuncs (the Dual fast paths are for Duals only).
    def __add__(self, o: Any) -> Any:
        return _add(self, o)

    def __radd__(self, o: Any) -> Any:
        return _add(o, self)

    def __sub__(self, o: Any) -> Any:
        return _subtract(self, o)

    def __rsub__(self, o: Any) -> Any:
        return _subtract(o, self)

    def __mul__(self, o: Any) -> Any:
        return _multiply(self, o)

    def __rmul__(self, o: Any) -> Any:
        return _multiply(o, self)

    def __truediv__(self, o: Any) -> Any:
        return _divide(self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return _divide(o, self)

    def __neg__(self) -> Any:
        return _subtract(0.0, self) if type(self.primal) is np.float64 else np.negative(self)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        tag = _top(inputs)
        if tag < 0:
            return NotImplemented
        if method != "__call__" or kwargs:
            inputs = _kept_in(inputs)
            rec = _recording(inputs) if _TRACING[0] else None
            if rec is not None:
                return rec.call(PROTOCOL_VJPS["ufunc_method"], (ufunc, method, inputs, kwargs), {})
            return PROTOCOL_VJPS["ufunc_method"](ufunc, method, inputs, kwargs)
        partials = UFUNC_VJPS.get(ufunc)
        if partials is None:
            if ufunc in PLAIN:
                rec = _recording(inputs) if _TRACING[0] else None
                if rec is not None:  # a comparison of traced values: its outcome is a guard
                    return rec.call(_plain_ufunc, (ufunc, *inputs), {})
                return ufunc(*[plain(x) for x in inputs])
            raise NoDerivativeRuleError(
                f"plait.gradients has no reverse rule for the ufunc {_ufunc_name(ufunc)}; "
                "it was called on a reverse-mode value"
            )
        return record_ufunc(ufunc, partials, inputs, tag)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if _top_nested(args, kwargs) < 0:
            return NotImplemented
        rule = FUNCTION_VJPS.get(func)
        if rule is None:
            name = getattr(func, "__name__", repr(func))
            module = getattr(func, "__module__", "numpy") or "numpy"
            raise NoDerivativeRuleError(
                f"plait.gradients has no reverse rule for {module}.{name}; it was called on "
                "a reverse-mode value"
            )
        args, kwargs = _kept_in(args), {k: v if k == "out" else _kept_in(v) for k, v in kwargs.items()}
        if _TRACING[0]:
            rec = _recording((*args, *kwargs.values()))
            if rec is not None:
                return rec.call(rule, args, kwargs)
        return rule(*args, **kwargs)


_object_new = object.__new__
_get_primal = Dual.primal.__get__  # type: ignore[misc]  # the slot itself, never watched
_set_primal = Dual.primal.__set__  # type: ignore[misc]
_set_tangent = Dual._tangent.__set__  # type: ignore[misc]
_set_tag = Dual.tag.__set__  # type: ignore[misc, attr-defined]
_set_tape = Reverse.tape.__set__  # type: ignore[misc, attr-defined]
_get_tape = Reverse.tape.__get__  # type: ignore[misc, attr-defined]
_set_index = Reverse.index.__set__  # type: ignore[misc, attr-defined]

def raw_primal(r: Reverse) -> Any:
    """``r.primal``, read without the watch of a traced run (for :mod:`.trace`)."""
    return _get_primal(r)


def make_reverse(tape: Tape, value: Any, index: int) -> Reverse:
    """A ``Reverse`` for the existing node ``index`` of ``tape`` holding ``value`` (replays of :mod:`.trace`)."""
    r = _object_new(Reverse)
    _set_primal(r, value)
    _set_tag(r, tape.tag)
    _set_tape(r, tape)
    _set_index(r, index)
    return r


def _plain_ufunc(ufunc: Any, *inputs: Any) -> Any:
    return ufunc(*[plain(x) for x in inputs])


#: The number of traced runs recording now (:mod:`.trace`); the hot paths look at nothing else when 0.
_TRACING = [0]


def _recording(values: Any) -> Any:
    """The recording of the first traced tape among ``values`` (lists looked into), if it is at depth 0."""
    for x in values:
        if type(x) is Reverse:
            rec = x.tape.recorder
            if rec is not None:
                return rec if rec.depth == 0 else None
        elif type(x) is list or type(x) is tuple:
            rec = _recording(x)
            if rec is not None:
                return rec
    return None


def _watched_primal(r: Reverse) -> Any:
    """``r.primal`` during a traced run: a read outside the rules makes the recording unusable."""
    p = _get_primal(r)
    rec = _get_tape(r).recorder
    if rec is not None and rec.depth == 0 and sys._getframe(1).f_code not in _TRUSTED_READERS:
        rec.refuse(f"the value of a traced quantity was read outside a derivative rule "
                   f"({sys._getframe(1).f_code.co_name})")
    return p


def watch_primals(on: bool) -> None:
    """Swap ``Reverse.primal`` for the watching property (``on``), or back to the plain slot."""
    _TRACING[0] += 1 if on else -1
    if _TRACING[0] == 1 and on:
        setattr(Reverse, "primal", property(_watched_primal))
    elif _TRACING[0] == 0 and "primal" in Reverse.__dict__:
        delattr(Reverse, "primal")


#: ufunc -> tuple of partials ``partial(y, *primals)`` (or a callable VJP), filled by .reverse_rules
UFUNC_VJPS: Dict[Any, Any] = {}
#: ufuncs with plain results (comparisons, piecewise constants), shared with the forward mode
PLAIN: set[Any] = set()
#: numpy function -> replacement that records on the tape; filled by .reverse_rules
FUNCTION_VJPS: Dict[Any, Callable[..., Any]] = {}
#: Indexing (``"getitem"``) and ufunc methods other than ``__call__`` (``"ufunc_method"``):
#: rules that need the VJP rules, registered by them (reverse_rules imports this module).
PROTOCOL_VJPS: Dict[str, Callable[..., Any]] = {}


def _top(inputs: Sequence[Any]) -> int:
    """The tag this operation works at, checked live; -1 if a Dual outranks every Reverse."""
    tag = 0
    rev = 0
    for x in inputs:
        if isinstance(x, Dual):
            t = x.tag
            if t > tag:
                tag = t
            if type(x) is Reverse and t > rev:
                rev = t
    if rev < tag:
        return -1
    if tag not in _LIVE:
        escaped(tag)
    return tag


def _top_nested(args: Any, kwargs: Any) -> int:
    """:func:`_top` over the arguments of a numpy function, looking inside lists and tuples."""
    found: list[Any] = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, Dual):
            found.append(a)
        elif isinstance(a, (list, tuple)):
            found.extend(v for v in a if isinstance(v, Dual))
    return _top(found) if found else 0


def top_reverse(values: Sequence[Any]) -> int:
    """The highest tag among the ``Reverse`` values in ``values`` (0 if none), checked live."""
    tag = 0
    for x in values:
        if type(x) is Reverse and x.tag > tag:
            tag = x.tag
    if tag and tag not in _LIVE:
        escaped(tag)
    return tag


def tape_of(values: Sequence[Any], tag: int) -> Optional[Tape]:
    for x in values:
        if type(x) is Reverse and x.tag == tag:
            return x.tape
    return None


def value(x: Any, tag: int) -> Any:
    """The value of ``x`` at level ``tag``: its primal if it is a ``Reverse`` of that tag."""
    return x.primal if type(x) is Reverse and x.tag == tag else x


def record(y: Any, args: Sequence[Any], backward: Callable[..., Any], payload: Any, tag: int) -> Any:
    """``y`` as a ``Reverse`` node whose parents are the ``Reverse`` arguments of level ``tag``.

    ``backward(g, payload, position)`` gives the cotangent of ``args[position]``.
    Returns ``y`` itself when no argument is a ``Reverse`` of that level.
    """
    parents = tuple((i, x.index) for i, x in enumerate(args) if type(x) is Reverse and x.tag == tag)
    if not parents:
        return y
    return tape_of(args, tag).push(y, backward, parents, payload)  # type: ignore[union-attr]


def record_ufunc(ufunc: Any, partials: Any, inputs: Sequence[Any], tag: int) -> Any:
    primals = []
    parents = []
    tape = None
    for i, x in enumerate(inputs):
        if type(x) is Reverse and x.tag == tag:
            primals.append(x.primal)
            parents.append((i, x.index))
            tape = x.tape
        elif type(x) is Dual and x._tangent is None:
            primals.append(kept(x.primal))  # a constant dual: skip its own dispatch
        else:
            primals.append(kept(x))
    y = ufunc(*primals)
    if tape is None:
        return y
    if callable(partials):  # a rule with its own VJP (maximum, matmul...)
        r = tape.push(y, partials, tuple(parents), (y, primals))
    else:
        r = tape.push(y, _elementwise_back, tuple(parents), (partials, y, primals))
    rec = tape.recorder
    if rec is not None and rec.depth == 0:
        rec.ufunc(ufunc, partials, inputs, tag, tuple(parents))
    return r


def _elementwise_back(g: Any, payload: Any, position: int) -> Any:
    partials, y, primals = payload
    d = partials[position]
    p = primals[position]
    if d is ONE:
        c = g
    elif d is MINUS_ONE:
        c = -g
    else:
        c = absorbing_mul(g, d(y, *primals))
    return unbroadcast(c, _shape(p))


ONE: Any = None  # set by .reverse_rules to the forward tables' markers
MINUS_ONE: Any = None


def kept(x: Any) -> Any:
    """``x`` as a tape may keep it for the backward pass: a writeable numpy array is copied.

    The caller may change its array after the operation (a buffer reused in a
    loop); the backward pass runs later and must see the value the operation
    saw.  Reverse values' own arrays are the tape's, and never copied.

    >>> a = np.zeros(2); kept(a) is a, kept(3.0)
    (False, 3.0)
    """
    if type(x) is np.ndarray and x.flags.writeable:
        return x.copy()
    return x


def _kept_in(x: Any) -> Any:
    """:func:`kept` on ``x`` and on the items of a tuple or list ``x`` (a numpy function's arguments)."""
    t = type(x)
    if t is tuple or t is list:
        return t(_kept_in(v) for v in x)
    return kept(x)


def _binary(ufunc: Any, kind: int) -> Callable[[Any, Any], Any]:
    """An operator for ``Reverse``: a scalar fast path, else its ufunc's recording directly.

    ``kind``: 0 add, 1 subtract, 2 multiply, 3 divide.
    """

    def op(a: Any, b: Any) -> Any:
        r = _scalar_op(a, b, kind)
        if r is not None:
            return r
        tb = type(b)
        ta = type(a)
        if (tb is float or tb is int or tb is np.float64 or tb is np.ndarray or tb is Reverse) and (
                ta is float or ta is int or ta is np.float64 or ta is np.ndarray or ta is Reverse):
            tag = _top((a, b))
            return record_ufunc(ufunc, UFUNC_VJPS[ufunc], (a, b), tag)
        return ufunc(a, b)

    return op


def _scalar_op(a: Any, b: Any, kind: int) -> Any:
    """``a op b`` on 0-d float64 values in Python arithmetic, or None to take the ufunc path.

    numpy's scalar dispatch is the cost of scalar-heavy models; the values
    are the ufuncs' (IEEE double arithmetic), division by zero excepted
    (left to the ufunc for its inf/nan).  Operands: ``Reverse`` values of
    one tag holding float64, Python/numpy floats, constant duals.
    """
    ta = type(a)
    ra = rb = None
    if ta is Reverse:
        ra, pa = a, a.primal
        if type(pa) is not np.float64 and not _scalar_dual(pa):
            return None
    elif ta is float or ta is np.float64 or ta is int:
        pa = a
    elif ta is Dual and a._tangent is None and type(a.primal) is np.float64:
        pa = a.primal  # a constant dual (a distribution's plain parameter)
    else:
        return None
    tb = type(b)
    if tb is Reverse:
        rb, pb = b, b.primal
        if (type(pb) is not np.float64 and not _scalar_dual(pb)) or (ra is not None and ra.tag != b.tag):
            return None
    elif tb is float or tb is np.float64 or tb is int:
        pb = b
    elif tb is Dual and b._tangent is None and type(b.primal) is np.float64:
        pb = b.primal
    else:
        return None
    r = ra if ra is not None else rb
    if r is None:
        return None
    tag = r.tag
    if tag not in _LIVE:
        escaped(tag)
    y = scalar_arithmetic(kind, pa, pb)
    if y is None:
        return None
    if rb is None:
        parents: tuple[Any, ...] = ((0, ra.index),)  # type: ignore[union-attr]
    elif ra is None:
        parents = ((1, rb.index),)
    else:
        parents = ((0, ra.index), (1, rb.index))
    tape = r.tape
    node = tape.push(y, _SCALAR_BACK[kind], parents, (pa, pb, y))
    rec = tape.recorder
    if rec is not None and rec.depth == 0:
        rec.scalar(kind, a, b, parents)
    return node


def scalar_arithmetic(kind: int, pa: Any, pb: Any) -> Any:
    """``pa op pb`` (``kind``: add, subtract, multiply, divide) as a float64 (or 0-d dual); None for ``x / 0``.

    The arithmetic of :func:`_scalar_op`, shared with the replay of traced programs.

    >>> scalar_arithmetic(3, 1.0, 4.0), scalar_arithmetic(3, 1.0, 0.0)
    (np.float64(0.25), None)
    """
    if kind == 0:
        y = pa + pb
    elif kind == 1:
        y = pa - pb
    elif kind == 2:
        y = pa * pb
    elif (pb.primal if type(pb) is Dual else pb) == 0:
        return None
    else:
        y = pa / pb
    ty = type(y)
    if ty is not np.float64 and ty is not Dual:
        y = np.float64(y)
    return y


def scalar_node(args: Sequence[Any], compute: Callable[..., Any], duals: bool = True) -> Any:
    """One tape node for a scalar function of scalar arguments, or None if it does not apply.

    ``compute(*values) -> (value, partials)``, the values plain floats or,
    under forward over reverse, 0-d duals (``compute`` must accept both).
    Applies when some argument is a ``Reverse`` holding a float64 (or a 0-d
    dual of one, unless ``duals`` is False) and every other one is a number
    or a constant dual; other
    nested values and arrays return None (the
    caller then takes its generic path, which records one node per
    operation).  Distributions use it for their commonest log densities:
    one node instead of seven.

    >>> import numpy as np
    >>> from plait.gradients import grad
    >>> from plait.gradients.reverse import scalar_node
    >>> square = lambda x: scalar_node((x,), lambda v: (v * v, (2.0 * v,)))
    >>> float(grad(square, 3.0))
    6.0
    """
    found = _operands(args, arrays=False, duals=duals)
    if found is None:
        return None
    r, plains = found
    y, partials = compute(*plains)
    parents = tuple((i, a.index) for i, a in enumerate(args) if type(a) is Reverse)
    tape = r.tape
    node = tape.push(y if type(y) is Dual else np.float64(y), _partials_back, parents, partials)
    rec = tape.recorder
    if rec is not None and rec.depth == 0:
        rec.fused(args, compute, False, parents)
    return node


def elementwise_node(args: Sequence[Any], compute: Callable[..., Any]) -> Any:
    """One tape node for an elementwise function of array arguments, or None if it does not apply.

    The array counterpart of :func:`scalar_node`: ``compute(*values) ->
    (value, partials)`` on plain float arrays (broadcasting as numpy does),
    each partial shaped like ``value`` or broadcastable to it.  Applies when
    some argument is a ``Reverse`` holding a plain float array or float64
    and every other one is a number, a plain array or a constant dual; under
    nested derivatives it returns None and the caller takes its generic
    path.  A distribution's log density over a batch then costs one node
    instead of one per arithmetic operation.

    >>> import numpy as np
    >>> from plait.gradients import grad
    >>> from plait.gradients.reverse import elementwise_node
    >>> square = lambda x: np.sum(elementwise_node((x,), lambda v: (v * v, (2.0 * v,))))
    >>> grad(square, np.array([1.0, 3.0])).tolist()
    [2.0, 6.0]
    """
    found = _operands(args, arrays=True, duals=False)
    if found is None:
        return None
    r, plains = found
    y, partials = compute(*plains)
    parents = tuple((i, a.index) for i, a in enumerate(args) if type(a) is Reverse)
    shapes = tuple(_shape(p) for p in plains)
    tape = r.tape
    node = tape.push(y, _elementwise_partials_back, parents, (partials, shapes))
    rec = tape.recorder
    if rec is not None and rec.depth == 0:
        rec.fused(args, compute, True, parents)
    return node


def _operands(args: Sequence[Any], arrays: bool, duals: bool) -> Optional[tuple[Any, List[Any]]]:
    """``(a Reverse among args, the plain values of args)``, or None when a fused node does not apply.

    Accepted: ``Reverse`` values of one tag holding a float64 (or, with
    ``arrays``, a float64 array; with ``duals``, a 0-d dual of one), numbers
    (and, with ``arrays``, plain arrays), constant duals over such values.
    """
    r = None
    plains = []
    for a in args:
        t = type(a)
        if t is Reverse:
            p = a.primal
            tp = type(p)
            if not (tp is np.float64 or (arrays and tp is np.ndarray and p.dtype == np.float64)
                    or (duals and _scalar_dual(p))):
                return None
            if r is not None and a.tag != r.tag:
                return None
            r = a
        elif t is float or t is np.float64 or t is int or (arrays and t is np.ndarray):
            p = a
        elif t is Dual and a._tangent is None and (type(a.primal) is np.float64
                                                    or (arrays and type(a.primal) is np.ndarray)):
            p = a.primal
        else:
            return None
        plains.append(p)
    if r is None:
        return None
    if r.tag not in _LIVE:
        escaped(r.tag)
    return r, plains


def _elementwise_partials_back(g: Any, payload: Any, position: int) -> Any:
    partials, shapes = payload
    return unbroadcast(absorbing_mul(g, partials[position]), shapes[position])


def _partials_back(g: Any, partials: Any, position: int) -> Any:
    return _smul(g, partials[position])


def _scalar_dual(p: Any) -> bool:
    """A 0-d dual number over a float64 (Hessian-vector products: forward over reverse)."""
    return type(p) is Dual and type(p.primal) is np.float64


def _smul(g: Any, d: Any) -> Any:
    """:func:`absorbing_mul` for a scalar partial ``d``."""
    td = type(d)
    if (type(g) is np.float64 or type(g) is float) and (td is float or td is np.float64 or td is int):
        if g == 0 or d == 0:
            return 0.0
        return g * d
    return absorbing_mul(g, d)


def _add_back(g: Any, payload: Any, position: int) -> Any:
    return g


def _sub_back(g: Any, payload: Any, position: int) -> Any:
    if not position:
        return g
    return g * -1.0 if type(g) is Dual else -g  # Dual.__neg__ takes the generic ufunc path


def _mul_back(g: Any, payload: Any, position: int) -> Any:
    return _smul(g, payload[1 - position])


def _div_back(g: Any, payload: Any, position: int) -> Any:
    pa, pb, y = payload
    return _smul(g, 1.0 / pb) if position == 0 else _smul(g, -y / pb)


_SCALAR_BACK = (_add_back, _sub_back, _mul_back, _div_back)


_add = _binary(np.add, 0)
_subtract = _binary(np.subtract, 1)
_multiply = _binary(np.multiply, 2)
_divide = _binary(np.true_divide, 3)


# -- helpers the VJP rules share --------------------------------------------------------

def plain(x: Any) -> Any:
    """The plain value of ``x``: every dual and reverse level removed; containers mapped.

    >>> from plait.gradients.reverse import plain
    >>> plain((1.0, [2.0]))
    (1.0, [2.0])
    """
    while isinstance(x, Dual):
        x = x.primal
    if isinstance(x, (tuple, list)):
        return type(x)(plain(v) for v in x)
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    return x


def is_reverse(x: Any) -> bool:
    """True for a reverse-mode value.

    >>> from plait.gradients.reverse import is_reverse
    >>> is_reverse(1.0)
    False
    """
    return type(x) is Reverse


def _finite(x: Any) -> bool:
    while isinstance(x, Dual):
        x = x.primal
    t = type(x)
    if t is float or t is np.float64:
        return math.isfinite(x)
    if t is np.ndarray:
        return x.dtype.kind not in "fc" or bool(np.isfinite(x).all())
    a = np.asarray(x)
    return a.dtype.kind not in "fc" or bool(np.isfinite(a).all())


def absorbing_mul(g: Any, d: Any) -> Any:
    """``g * d`` where an exactly-zero factor on either side gives exactly zero, even times inf/NaN.

    The reverse-mode counterpart of :func:`~.dual.zmul`: a zero cotangent
    (the output does not depend on this path) absorbs an infinite partial,
    and a zero partial absorbs an infinite cotangent, which is what a zero
    tangent does in forward mode after reordering the product
    (``sqrt(x * y)`` at ``[1, 0]`` has gradient ``[0, inf]`` both ways).
    """
    tg, td = type(g), type(d)
    if (tg is np.float64 or tg is float) and (td is np.float64 or td is float):
        # Python arithmetic on scalars: the same IEEE product, without numpy's error-state context.
        product = float(g) * float(d)
        if math.isfinite(product):
            return product if tg is float and td is float else np.float64(product)
    elif (tg is np.ndarray or tg is np.float64 or tg is float) and (td is np.ndarray or td is np.float64 or td is float):
        # A finite product means both factors were finite (inf and NaN never multiply to a
        # finite number), and then it is the plain product: one check instead of two.
        with np.errstate(over="ignore", invalid="ignore"):
            product = g * d
        if tg is np.ndarray or td is np.ndarray:
            if np.isfinite(product).all():
                return product
        elif math.isfinite(product):
            return product
    if _finite(d) and _finite(g):
        # A dual partial goes on the left: its scalar fast path (a numpy scalar on the left
        # would send the product through the generic ufunc dispatch).  IEEE products commute.
        return d * g if type(d) is Dual and type(g) is not Dual else g * d
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where((plain(g) == 0) | (plain(d) == 0), 0.0, g * d)


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting added to an operand of shape ``shape``."""
    gs = _shape(g)
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gs[lead + i] != 1)
    if axes:
        # np.sum's own path for an ndarray, without its Python wrapper (a third of a cotangent's cost)
        g = np.add.reduce(g, axis=axes, keepdims=True) if type(g) is np.ndarray else np.sum(g, axis=axes, keepdims=True)
    if lead or _shape(g) != shape:
        g = np.reshape(g, shape)
    return g


#: Functions that read a traced value's primal at depth 0 as part of recording it (:func:`_watched_primal`).
_TRUSTED_READERS = frozenset(f.__code__ for f in (
    _scalar_op, record_ufunc, _operands, Reverse.__neg__, Reverse.__bool__, Tape.backward))

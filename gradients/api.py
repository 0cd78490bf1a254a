"""The derivative combinators, after Haskell's ``ad``: ``diff``, ``grad``, ``jacobian``...

Each call opens a fresh nesting tag (:func:`~.dual.perturbation`), seeds
its input with tangents, runs the function once, and reads back the part
of the result that carries its own tag.  Everything else in the result is
constant at that level, which is what makes nested calls safe:
``diff(lambda x: x * diff(lambda y: x + y, 1.0), 1.0)`` is 1, not 2.

Inputs may be scalars, arrays, tuples or lists of arrays, or dicts of
arrays (parameter dicts); integers are promoted to float64 and booleans
are refused.  Forward-mode combinators (``diff``, ``du``, ``jacfwd``,
``grad_forward``) seed one direction per input element and run a single
forward pass; reverse-mode ones (``grad``, ``value_and_grad``, ``vjp``,
``jacrev``) record the pass on a tape (:mod:`.reverse`) and walk it back
once per output element.  ``jacobian`` picks the cheaper mode, ``hessian``
and ``hessian_product`` are forward over reverse.  Combinators must return
values, not functions over dual numbers: a dual number used after its call
returned raises :class:`~plait.errors.PerturbationEscapeError`.

>>> import numpy as np
>>> from plait.gradients import diff, grad
>>> float(diff(np.sin, 0.0))
1.0
>>> grad(lambda v: v[0] * v[1], np.array([3.0, 4.0]))
array([4., 3.])
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Tuple

import numpy as np

from .dual import Dual, _dtype, _float_primal, _numpy, escaped, new, perturbation, shape
from .reverse import Reverse, Tape, record, top_reverse, value

__all__ = [
    "diff",
    "value_and_diff",
    "grad",
    "value_and_grad",
    "grad_forward",
    "value_and_grad_forward",
    "vjp",
    "jacfwd",
    "jacrev",
    "custom_vjp",
    "jacobian",
    "hessian",
    "hessian_product",
    "du",
    "jvp",
    "diffs",
    "taylor",
]

Function = Callable[..., Any]


# -- inputs and outputs as trees of arrays --------------------------------------------------

def _flatten(x: Any) -> Tuple[List[Any], Callable[[List[Any]], Any]]:
    """Leaves of a tuple/list/dict tree, and a function that rebuilds the tree."""
    if isinstance(x, (tuple, list)):
        parts = [_flatten(v) for v in x]
        sizes = [len(leaves) for leaves, _ in parts]

        def rebuild(leaves: List[Any]) -> Any:
            out, i = [], 0
            for (_, build), n in zip(parts, sizes):
                out.append(build(leaves[i:i + n]))
                i += n
            return type(x)(out) if type(x) in (tuple, list) else type(x)(*out)

        return [leaf for leaves, _ in parts for leaf in leaves], rebuild
    if isinstance(x, dict):
        keys = list(x)
        parts = [_flatten(x[k]) for k in keys]
        sizes = [len(leaves) for leaves, _ in parts]

        def rebuild_dict(leaves: List[Any]) -> Any:
            out, i = {}, 0
            for key, (_, build), n in zip(keys, parts, sizes):
                out[key] = build(leaves[i:i + n])
                i += n
            return out

        return [leaf for leaves, _ in parts for leaf in leaves], rebuild_dict
    return [x], lambda leaves: leaves[0]


def _inputs(x: Any, who: str) -> Tuple[List[Any], Callable[[List[Any]], Any]]:
    leaves, rebuild = _flatten(x)
    if not leaves:
        raise ValueError(f"{who}: the input has no arrays to differentiate")
    # Values of an outer derivative call (Dual or Reverse) are kept as they are.
    return [leaf if isinstance(leaf, Dual) else _float_primal(leaf, who) for leaf in leaves], rebuild


def _seed(leaves: List[Any], tag: int) -> List[Dual]:
    """One one-hot direction per input element, across all leaves."""
    sizes = [math.prod(shape(v)) for v in leaves]
    n = sum(sizes)
    out, offset = [], 0
    for leaf, size in zip(leaves, sizes):
        t = np.zeros((n, size), dtype=np.result_type(_dtype(leaf), np.float32))
        t[np.arange(offset, offset + size), np.arange(size)] = 1.0
        out.append(new(leaf, t.reshape((n,) + shape(leaf)), tag))
        offset += size
    return out


def _read(y: Any, tag: int, k: int) -> Tuple[Any, Any]:
    """``(value, tangent of shape (k, *shape))`` of one output leaf at level ``tag``."""
    if isinstance(y, np.ndarray) and y.dtype == object:
        # np.array([dual, ...]) builds an object array; stack it into one Dual.
        items = list(y.ravel())
        if items and any(type(v) is Dual for v in items):
            y = np.reshape(np.stack(items), y.shape)
        else:
            raise TypeError(f"cannot differentiate an object array output {y!r}")
    if type(y) is Dual:
        if y.tag == tag:
            t = y.tangent
            return y.primal, (np.zeros((k,) + shape(y.primal)) if t is None else t)
        if y.tag > tag:
            escaped(y.tag)
    elif isinstance(y, (bool, np.bool_)) or getattr(y, "dtype", None) == np.bool_:
        raise TypeError(f"cannot differentiate a boolean output {y!r}")
    return y, np.zeros((k,) + shape(y))


def _read_tree(y: Any, tag: int, k: int) -> Tuple[Any, Any]:
    leaves, rebuild = _flatten(y)
    pairs = [_read(leaf, tag, k) for leaf in leaves]
    return rebuild([p for p, _ in pairs]), rebuild([t for _, t in pairs])


def _scalar(x: Any, who: str) -> Any:
    v = x if isinstance(x, Dual) else _float_primal(x, who)
    if shape(v) != ():
        raise TypeError(f"{who}: the input must be a scalar, got shape {shape(v)}; use grad or jacobian")
    return v


def _map(f: Callable[[Any], Any], tree: Any) -> Any:
    leaves, rebuild = _flatten(tree)
    return rebuild([f(leaf) for leaf in leaves])


# -- scalar input ---------------------------------------------------------------------------

def value_and_diff(f: Function, x: Any) -> Tuple[Any, Any]:
    """``(f(x), f'(x))`` for a scalar ``x`` (ad's ``diff'``); ``f`` may return arrays or trees.

    >>> import numpy as np
    >>> from plait.gradients import value_and_diff
    >>> value_and_diff(lambda x: np.exp(np.log(x)), 2.0)
    (np.float64(2.0), np.float64(1.0))
    """
    v = _scalar(x, "value_and_diff")
    with perturbation() as tag:
        y = f(new(v, np.ones((1,), dtype=np.result_type(v, np.float32)), tag))
        value, t = _read_tree(y, tag, 1)
    return value, _map(lambda a: a[0], t)


def diff(f: Function, x: Any) -> Any:
    """The derivative of ``f`` at the scalar ``x``; ``f`` may return an array (ad's ``diffF``).

    >>> import numpy as np
    >>> from plait.gradients import diff
    >>> float(diff(lambda x: x ** 3, 2.0)), diff(lambda x: np.array([x, x * x]), 3.0)
    (12.0, array([1., 6.]))
    """
    return value_and_diff(f, x)[1]


def du(f: Function, x: Any, v: Any) -> Any:
    """The directional derivative ``J_f(x) v`` (forward-mode JVP; alias ``jvp``).

    ``v`` has the structure of ``x``; a leaf of shape ``(k, *x.shape)``
    stacks ``k`` directions, and the result then has a leading axis ``k``.

    >>> import numpy as np
    >>> from plait.gradients import du
    >>> float(du(lambda p: p[0] * p[1], np.array([2.0, 5.0]), np.array([1.0, 1.0])))
    7.0
    """
    leaves, _ = _inputs(x, "du")
    vs, _ = _flatten(v)
    if len(vs) != len(leaves):
        raise ValueError(f"du: direction has {len(vs)} arrays, the input has {len(leaves)}")
    vs = [np.asarray(d, dtype=float) for d in vs]
    stacked = [shape(d) == (shape(d)[:1] + shape(p)) and len(shape(d)) == len(shape(p)) + 1
               for d, p in zip(vs, leaves)]
    single = [shape(d) == shape(p) for d, p in zip(vs, leaves)]
    if all(single):
        vs, k, one = [d[None] for d in vs], 1, True
    elif all(stacked) and len({shape(d)[0] for d in vs}) == 1:
        k, one = shape(vs[0])[0], False
    else:
        raise ValueError(
            "du: each direction must have the shape of its input, or (k, *shape) for k directions; "
            f"got {[shape(d) for d in vs]} for inputs {[shape(p) for p in leaves]}"
        )
    _, rebuild = _flatten(x)
    with perturbation() as tag:
        y = f(rebuild([new(p, d, tag) for p, d in zip(leaves, vs)]))
        _, t = _read_tree(y, tag, k)
    return _map(lambda a: a[0], t) if one else t


jvp = du


# -- many inputs: one pass with one direction per input element ------------------------------

def value_and_grad_forward(f: Function, x: Any) -> Tuple[Any, Any]:
    """``(f(x), gradient)`` by forward mode: one pass with one direction per input element.

    Cheaper than :func:`value_and_grad` (reverse mode) for a handful of
    scalar inputs, where reverse mode's tape costs more than the directions.

    >>> import numpy as np
    >>> from plait.gradients import value_and_grad_forward
    >>> value_and_grad_forward(lambda p: p["a"] ** 2 + p["b"], {"a": 3.0, "b": 1.0})
    (np.float64(10.0), {'a': np.float64(6.0), 'b': np.float64(1.0)})
    """
    leaves, rebuild = _inputs(x, "value_and_grad")
    with perturbation() as tag:
        seeds = _seed(leaves, tag)
        k = shape(seeds[0].tangent)[0]
        y = f(rebuild(seeds))
        if isinstance(y, (tuple, list, dict)) or shape(y) != ():
            raise TypeError(
                f"grad: f must return a scalar, got {type(y).__name__} of shape {np.shape(y) if type(y) is not Dual else shape(y)}; "
                "use jacobian for array outputs"
            )
        value, t = _read(y, tag, k)
    grads, offset = [], 0
    for leaf in leaves:
        size = math.prod(shape(leaf))
        grads.append(np.reshape(t[offset:offset + size], shape(leaf))[()])
        offset += size
    return value, rebuild(grads)


def grad_forward(f: Function, x: Any) -> Any:
    """The gradient by forward mode (see :func:`value_and_grad_forward`), shaped like ``x``.

    >>> import numpy as np
    >>> from plait.gradients import grad_forward
    >>> grad_forward(lambda xy: xy[0] * np.sin(xy[1]), (2.0, 0.0))
    (np.float64(0.0), np.float64(2.0))
    """
    return value_and_grad_forward(f, x)[1]


def jacfwd(f: Function, x: Any) -> Any:
    """The Jacobian by forward mode: one pass with one direction per input element.

    Shaped ``output.shape + input.shape`` per output and input leaf; for
    tree inputs and outputs the result is the output's tree with, at each
    leaf, the input's tree of blocks.

    >>> import numpy as np
    >>> from plait.gradients import jacfwd
    >>> jacfwd(lambda v: v ** 2, np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    leaves, rebuild = _inputs(x, "jacobian")
    with perturbation() as tag:
        seeds = _seed(leaves, tag)
        k = shape(seeds[0].tangent)[0]
        y = f(rebuild(seeds))
        _, t = _read_tree(y, tag, k)

    def blocks(tout: Any) -> Any:
        out, offset = [], 0
        yshape = shape(tout)[1:]
        for leaf in leaves:
            size = math.prod(shape(leaf))
            part = np.moveaxis(tout[offset:offset + size], 0, -1)
            out.append(np.reshape(part, yshape + shape(leaf))[()])
            offset += size
        return rebuild(out)

    return _map(blocks, t)


# -- reverse mode: one recorded pass, one backward pass per output element --------------------

def _record_inputs(leaves: List[Any], tape: Tape) -> List[Reverse]:
    return [tape.variable(leaf) for leaf in leaves]


def _as_cotangent(c: Any, leaf: Any) -> Any:
    """A leaf's cotangent as the gradient block: shaped and typed like the leaf, zeros for None."""
    dtype = np.result_type(_dtype(leaf), np.float32)
    if c is None:
        return np.zeros(shape(leaf), dtype=dtype)[()]
    if isinstance(c, Dual):
        return c if shape(c) == shape(leaf) else _numpy.broadcast_to(c, shape(leaf))
    return np.array(np.broadcast_to(c, shape(leaf)), dtype=dtype)[()]


def _scalar_output(y: Any, who: str) -> None:
    if isinstance(y, (tuple, list, dict)) or shape(y) != ():
        raise TypeError(
            f"{who}: f must return a scalar, got {type(y).__name__} of shape {shape(y)}; "
            "use jacobian for array outputs"
        )
    if isinstance(y, (bool, np.bool_)) or getattr(y, "dtype", None) == np.bool_:
        raise TypeError(f"cannot differentiate a boolean output {y!r}")


def value_and_grad(f: Function, x: Any) -> Tuple[Any, Any]:
    """``(f(x), gradient)`` by reverse mode; the gradient has the structure and shapes of ``x``.

    One recorded evaluation and one backward pass, whatever the number of
    inputs (ad's ``grad'``).  :func:`value_and_grad_forward` is the forward
    mode version.

    >>> import numpy as np
    >>> from plait.gradients import value_and_grad
    >>> value_and_grad(lambda p: p["a"] ** 2 + p["b"], {"a": 3.0, "b": 1.0})
    (np.float64(10.0), {'a': np.float64(6.0), 'b': np.float64(1.0)})
    """
    leaves, rebuild = _inputs(x, "value_and_grad")
    with perturbation() as tag:
        tape = Tape(tag)
        xs = _record_inputs(leaves, tape)
        y = f(rebuild(xs))
        _scalar_output(y, "grad")
        cots = tape.backward(y, xs)
        value = y.primal if type(y) is Reverse and y.tag == tag else y
    return value, rebuild([_as_cotangent(c, leaf) for c, leaf in zip(cots, leaves)])


def grad(f: Function, x: Any) -> Any:
    """The gradient of a scalar function by reverse mode, shaped like ``x`` (scalars, arrays, trees).

    >>> import numpy as np
    >>> from plait.gradients import grad
    >>> grad(lambda xy: xy[0] * np.sin(xy[1]), (2.0, 0.0))
    (np.float64(0.0), np.float64(2.0))
    """
    return value_and_grad(f, x)[1]


def vjp(f: Function, x: Any) -> Tuple[Any, Callable[[Any], Any]]:
    """``(f(x), pullback)``: ``pullback(w)`` is ``w^T J_f(x)``, shaped like ``x``.

    ``w`` has the structure and shapes of ``f(x)``.  The pullback keeps the
    recorded tape alive and may be called many times.

    >>> import numpy as np
    >>> from plait.gradients import vjp
    >>> y, pullback = vjp(lambda v: v ** 2, np.array([1.0, 2.0]))
    >>> pullback(np.array([1.0, 10.0]))
    array([ 2., 40.])
    """
    leaves, rebuild = _inputs(x, "vjp")
    with perturbation() as tag:
        tape = Tape(tag)
        xs = _record_inputs(leaves, tape)
        y = f(rebuild(xs))
        outs, rebuild_out = _flatten(y)
        values = [o.primal if type(o) is Reverse and o.tag == tag else o for o in outs]
        for o in outs:
            if isinstance(o, Dual) and o.tag > tag:
                escaped(o.tag)

    def pullback(w: Any) -> Any:
        ws, _ = _flatten(w)
        if len(ws) != len(outs):
            raise ValueError(f"vjp: the cotangent has {len(ws)} arrays, the output has {len(outs)}")
        total: List[Any] = [None] * len(xs)
        for o, wi in zip(outs, ws):
            seed = wi if isinstance(wi, Dual) else np.asarray(wi, dtype=float)[()]  # a Dual: nested use
            for i, c in enumerate(tape.backward(o, xs, seed, keep=True)):
                if c is not None:
                    total[i] = c if total[i] is None else total[i] + c
        return rebuild([_as_cotangent(c, leaf) for c, leaf in zip(total, leaves)])

    return rebuild_out(values), pullback


def jacrev(f: Function, x: Any) -> Any:
    """The Jacobian by reverse mode: one recorded pass, one backward pass per output element.

    Same shapes as :func:`jacfwd` (``output.shape + input.shape``).

    >>> import numpy as np
    >>> from plait.gradients import jacrev
    >>> jacrev(lambda v: v[0] * v, np.array([1.0, 2.0]))
    array([[2., 0.],
           [2., 1.]])
    """
    return _jacrev_unless(f, x, lambda outs: False)


def _jacrev_unless(f: Function, x: Any, prefer_forward: Callable[[List[Any]], bool]) -> Any:
    """The reverse-mode Jacobian, or None when ``prefer_forward(output leaves)`` after recording."""
    leaves, rebuild = _inputs(x, "jacobian")
    with perturbation() as tag:
        tape = Tape(tag)
        xs = _record_inputs(leaves, tape)
        outs, rebuild_out = _flatten(f(rebuild(xs)))
        if prefer_forward(outs):
            return None
        blocks = [_rows(tape, o, xs, leaves, rebuild) for o in outs]
    return rebuild_out(blocks)


def _rows(tape: Tape, y: Any, xs: List[Reverse], leaves: List[Any], rebuild: Callable[..., Any]) -> Any:
    """The Jacobian blocks of one output leaf: a backward pass per output element."""
    if isinstance(y, np.ndarray) and y.dtype == object:
        y = np.reshape(np.stack(list(y.ravel())), y.shape)  # np.array([r1, r2]) of Reverse values
    ys = shape(y)
    m = math.prod(ys)
    rows: List[List[Any]] = [[] for _ in leaves]
    for e in range(m):
        seed = np.zeros(m)
        seed[e] = 1.0
        for i, (c, leaf) in enumerate(zip(tape.backward(y, xs, seed.reshape(ys)[()], keep=True), leaves)):
            rows[i].append(_as_cotangent(c, leaf))
    blocks = []
    for leaf, r in zip(leaves, rows):
        stacked = np.stack(r) if m else np.zeros((0,) + shape(leaf))
        blocks.append(np.reshape(stacked, ys + shape(leaf))[()])
    return rebuild(blocks)


def _size(leaves: List[Any]) -> int:
    return sum(math.prod(shape(leaf)) for leaf in leaves)


def jacobian(f: Function, x: Any) -> Any:
    """The Jacobian, shaped ``output.shape + input.shape``: forward mode when the inputs are fewer than the outputs, else reverse (as ad's ``jacobian``).

    The output size is known once ``f`` has run: the pass is recorded for
    reverse mode, and ``f`` runs again in forward mode if that is cheaper.
    :func:`jacfwd` and :func:`jacrev` choose the mode explicitly.

    >>> import numpy as np
    >>> from plait.gradients import jacobian
    >>> jacobian(lambda v: v ** 2, np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    n = _size(_flatten(x)[0])
    out = _jacrev_unless(f, x, lambda outs: n < _size(outs))
    return jacfwd(f, x) if out is None else out


def hessian(f: Function, x: Any) -> Any:
    """The Hessian of a scalar function of a scalar or array ``x`` (forward over reverse).

    >>> import numpy as np
    >>> from plait.gradients import hessian
    >>> hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 3.0]))
    array([[6., 2.],
           [2., 0.]])
    """
    if isinstance(x, (tuple, list, dict)):
        raise TypeError("hessian: x must be a scalar or an array (flatten tree inputs into one array)")
    return jacfwd(lambda z: grad(f, z), x)


def hessian_product(f: Function, x: Any, v: Any) -> Any:
    """The Hessian-vector product ``H_f(x) v`` without forming ``H`` (forward over reverse).

    >>> import numpy as np
    >>> from plait.gradients import hessian_product
    >>> hessian_product(lambda v: np.sum(v ** 3), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    return du(lambda z: grad(f, z), x, v)


class custom_vjp:
    """A function with a hand-written vector-Jacobian product for reverse mode.

    ``defvjp(fwd, bwd)``: ``fwd(*args) -> (y, residuals)`` runs on plain
    (lower-level) values, ``bwd(residuals, g) -> tuple`` gives one
    cotangent per argument (None for none).  Without reverse-mode
    arguments the function itself runs, so forward mode differentiates its
    body as usual.

    >>> import numpy as np
    >>> from plait.gradients import custom_vjp, grad
    >>> clipped = custom_vjp(lambda x: x * 1.0)
    >>> clipped = clipped.defvjp(lambda x: (x * 1.0, None), lambda res, g: (np.clip(g, -1, 1),))
    >>> float(grad(lambda x: 5.0 * clipped(x), 2.0))
    1.0
    """

    def __init__(self, f: Function) -> None:
        self.f = f
        self.fwd: Any = None
        self.bwd: Any = None

    def defvjp(self, fwd: Function, bwd: Function) -> "custom_vjp":
        """Set the forward and backward functions; returns the function itself."""
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args: Any) -> Any:
        tag = top_reverse(args)
        if not tag or self.fwd is None:
            return self.f(*args)
        y, residuals = self.fwd(*[value(a, tag) for a in args])
        last: List[Any] = [None, None]  # (g, cotangents): bwd runs once per backward pass

        def back(g: Any, _: Any, i: int) -> Any:
            if last[0] is not g:
                last[0], last[1] = g, tuple(self.bwd(residuals, g))
            return last[1][i]

        return record(y, args, back, None, tag)


# -- higher derivatives of scalar functions -----------------------------------------------------

def _tower(f: Function, x: Any, n: int, dx: float, who: str) -> List[Any]:
    """``[f(x), f'(x) dx, f''(x) dx^2, ...]`` (n terms) from one nested evaluation."""
    if n < 1:
        raise ValueError(f"{who}: n must be >= 1, got {n}")
    v = _scalar(x, who)
    levels = [perturbation() for _ in range(n - 1)]
    tags = []
    try:
        z = v
        for level in levels:
            tag = level.__enter__()
            tags.append(tag)
            z = new(z, np.full((1,), dx, dtype=np.float64), tag)
        y = f(z)
        # The m-th derivative is the coefficient of eps_1 ... eps_m: take the
        # tangent at the m outermost levels and the primal at the others.
        out = []
        for m in range(n):
            w = y
            for depth, tag in enumerate(reversed(tags)):
                if type(w) is Dual and w.tag > tag:
                    escaped(w.tag)
                if type(w) is not Dual or w.tag != tag:
                    if depth < m:
                        w = 0.0
                        break
                    continue
                if depth < m:
                    w = 0.0 if w.tangent is None else w.tangent[0]
                else:
                    w = w.primal
            if type(w) is Dual:
                escaped(w.tag)
            out.append(w)
        return out
    finally:
        for level in reversed(levels[: len(tags)]):
            level.__exit__(None, None, None)


def diffs(f: Function, x: Any, n: int) -> List[Any]:
    """``[f(x), f'(x), ..., f^(n-1)(x)]`` for a scalar function (the first ``n`` of ad's stream).

    Nested forward mode: the cost grows like ``2^n``, fine for ``n`` up to about 10.

    >>> import numpy as np
    >>> from plait.gradients import diffs
    >>> [float(d) for d in diffs(lambda x: x ** 3, 2.0, 5)]
    [8.0, 12.0, 12.0, 6.0, 0.0]
    """
    return _tower(f, x, n, 1.0, "diffs")


def taylor(f: Function, x: Any, dx: float, n: int) -> List[Any]:
    """The first ``n`` terms ``f^(m)(x) dx^m / m!`` of the Taylor series of ``f`` around ``x``.

    >>> import numpy as np
    >>> from plait.gradients import taylor
    >>> [round(float(c), 6) for c in taylor(np.exp, 0.0, 1.0, 4)]
    [1.0, 1.0, 0.5, 0.166667]
    """
    terms = _tower(f, x, n, float(dx), "taylor")
    return [t / math.factorial(m) for m, t in enumerate(terms)]

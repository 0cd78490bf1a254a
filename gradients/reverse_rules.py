"""Vector-Jacobian rules for reverse mode, one for every forward rule.

* Elementwise ufuncs reuse the forward mode's partial derivatives
  (``ufunc_rules.elementwise`` keeps them on the rule): the cotangent of an
  input is ``unbroadcast(g * partial)``, with the absorbing product of
  :func:`~.reverse.absorbing_mul`.  ``maximum``/``minimum`` and ``matmul``
  have their own.
* Reductions broadcast the cotangent back; shape functions apply the
  inverse reshaping; indexing scatters (:func:`scatter`, itself
  differentiable in both modes); ``where`` selects the cotangent, so the
  unselected branch never leaks an infinite partial.
* Linear algebra: ``solve`` (``gb = A^-T g``, ``gA = -gb x^T``), ``inv``,
  ``det``, ``slogdet`` (``gA = g A^-T``) and ``cholesky``
  (``gA = L^-T Phi(L^T gL) L^-1``, the exact transpose of the forward rule).
* The rest (``sort``, ``diff``, ``diagonal``, ``cumprod``, ``take`` along an
  axis, ``take_along_axis``, unusual ``einsum``/``prod`` forms) take the
  cotangent through the forward rule: one forward pass with one direction
  per input element, contracted with ``g`` (:func:`_forward_back`).  That is
  exact but costs ``O(n)``; these functions are rare in log densities.

Every VJP is written with dispatching numpy calls, so it differentiates
again (Hessians by forward over reverse, reverse over reverse).

>>> import numpy as np
>>> from plait.gradients import grad
>>> grad(lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0)), np.array([0.0, 4.0]))
array([0.  , 0.25])
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import NoDerivativeRuleError
from . import reverse as _rev
from .dual import _shape
from .dual import FUNCTION_RULES, PLAIN_UFUNCS, UFUNC_RULES, Dual, new, perturbation
from .function_rules import _atleast_2d, _clip, _einsum_spec, _exclusive_products
from .reverse import (
    FUNCTION_VJPS,
    PLAIN,
    PROTOCOL_VJPS,
    UFUNC_VJPS,
    Reverse,
    Sparse,
    plain,
    record,
    top_reverse,
    unbroadcast,
    value,
)
from .ufunc_rules import MINUS_ONE, ONE

__all__ = ["scatter"]

_NO = np._NoValue
_rev.ONE = ONE
_rev.MINUS_ONE = MINUS_ONE


def register(*funcs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(rule: Callable[..., Any]) -> Callable[..., Any]:
        for f in funcs:
            FUNCTION_VJPS[f] = rule
        return rule

    return deco


def _refuse(name: str, what: str) -> None:
    raise NoDerivativeRuleError(f"numpy.{name} on a reverse-mode value: {what} is not supported")


def _arg(x: Any, name: str) -> tuple[Any, ...]:
    """``(tag, primal)`` of the ``Reverse`` array argument of a one-array function."""
    if type(x) is not Reverse:
        _refuse(name, "a reverse-mode value in an argument other than the array")
    tag = top_reverse((x,))
    return tag, x.primal


def _check_kwargs(name: str, **kw: Any) -> None:
    for key, v in kw.items():
        if v is not None and v is not _NO and v is not False:
            _refuse(name, f"the {key}= argument")


def _ndim(x: Any) -> int:
    return len(_shape(x))


def _axes(axis: Any, nd: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, tuple):
        return tuple(sorted(operator.index(a) % nd for a in axis))
    return (operator.index(axis) % nd,)


def _expand(g: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """``g`` with the reduced axes put back as unit axes (so it broadcasts against ``shape``)."""
    if keepdims or not shape:
        return g
    return np.reshape(g, tuple(1 if i in _axes(axis, len(shape)) else n for i, n in enumerate(shape)))


# -- elementwise ufuncs with their own rules ---------------------------------------------------

def _extremum_back(pick_first: Callable[[Any, Any], Any], nan_aware: bool) -> Callable[..., Any]:
    def back(g: Any, payload: Any, position: int) -> Any:
        y, (a, b) = payload
        pa, pb = plain(a), plain(b)
        first = pick_first(pa, pb)
        if nan_aware:
            first = first | (np.isnan(pb) & ~np.isnan(pa))
        wa = np.where(pa == pb, 0.5, np.where(first, 1.0, 0.0))
        w = wa if position == 0 else 1.0 - wa
        return unbroadcast(g * w, _shape((a, b)[position]))

    return back


def _matmul_back(g: Any, payload: Any, position: int) -> Any:
    y, (a, b) = payload
    na, nb = _ndim(a), _ndim(b)
    if na == 1 and nb == 1:
        return g * (b if position == 0 else a)
    if position == 1 and na == 2 and nb == 1:  # A @ x: the common case, A^T g
        return np.matmul(np.swapaxes(a, -1, -2), g)
    aa = np.reshape(a, (1,) + _shape(a)) if na == 1 else a
    bb = np.reshape(b, _shape(b) + (1,)) if nb == 1 else b
    gg = g
    if na == 1:
        gg = np.expand_dims(gg, -2)
    if nb == 1:
        gg = np.expand_dims(gg, -1)
    if position == 0:
        c = np.matmul(gg, np.swapaxes(bb, -1, -2))
        return unbroadcast(np.reshape(c, _shape(c)[:-2] + _shape(c)[-1:]) if na == 1 else c, _shape(a))
    c = np.matmul(np.swapaxes(aa, -1, -2), gg)
    return unbroadcast(np.reshape(c, _shape(c)[:-1]) if nb == 1 else c, _shape(b))


def _fill_ufunc_table() -> None:
    for u, rule in UFUNC_RULES.items():
        partials = getattr(rule, "partials", None)
        if partials is not None:
            UFUNC_VJPS[u] = partials
    UFUNC_VJPS[np.maximum] = _extremum_back(np.greater, False)
    UFUNC_VJPS[np.minimum] = _extremum_back(np.less, False)
    UFUNC_VJPS[np.fmax] = _extremum_back(np.greater, True)
    UFUNC_VJPS[np.fmin] = _extremum_back(np.less, True)
    UFUNC_VJPS[np.matmul] = _matmul_back
    PLAIN.update(PLAIN_UFUNCS)


_fill_ufunc_table()


# -- the fallback: a VJP through the forward rule -----------------------------------------------

def _forward_back(func: Callable[..., Any], args: Sequence[Any], position: int, g: Any) -> Any:
    """``J^T g`` for argument ``position`` of ``func``: one forward pass, one direction per element."""
    p = args[position]
    shape = _shape(p)
    n = int(np.prod(shape, dtype=int))
    with perturbation() as tag:
        seed = new(p, np.eye(n).reshape((n,) + shape), tag)
        y = func(*args[:position], seed, *args[position + 1:])
        t = y.tangent if type(y) is Dual and y.tag == tag else None
    if t is None:
        return None
    c = np.sum(t * g, axis=tuple(range(1, _ndim(t))))
    return np.reshape(c, shape)


def _fallback_back(g: Any, payload: Any, position: int) -> Any:
    func, args = payload
    return _forward_back(func, args, position, g)


def _via_forward(func: Any, name: str) -> Callable[..., Any]:
    """A rule for a one-array function whose VJP goes through its forward rule."""

    def rule(a: Any, *args: Any, **kwargs: Any) -> Any:
        tag, p = _arg(a, name)
        y = func(p, *args, **kwargs)
        f = (lambda x: func(x, *args, **kwargs))
        return record(y, (a,), _fallback_back, (f, (p,)), tag)

    return rule


for _f, _name in ((np.diagonal, "diagonal"), (np.diff, "diff"), (np.sort, "sort"),
                  (np.take_along_axis, "take_along_axis"), (np.cumprod, "cumprod")):
    register(_f)(_via_forward(_f, _name))


# -- indexing ------------------------------------------------------------------------------------

def _advanced(index: Any) -> bool:
    idx = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (list, np.ndarray)) for i in idx)


def scatter(g: Any, index: Any, shape: tuple[Any, ...]) -> Any:
    """``zeros(shape)`` with ``g`` added at ``index`` (repeated indices add up).

    The transpose of ``x[index]``; differentiable in ``g`` in both modes.

    >>> import numpy as np
    >>> from plait.gradients.reverse_rules import scatter
    >>> scatter(np.array([1.0, 2.0]), [0, 0], (3,))
    array([3., 0., 0.])
    """
    if type(g) is Reverse:
        tag = top_reverse((g,))
        return record(scatter(g.primal, index, shape), (g,), _scatter_back, index, tag)
    if type(g) is Dual:
        t = g.tangent
        p = scatter(g.primal, index, shape)
        if t is None:
            return p
        return new(p, np.stack([scatter(t[j], index, shape) for j in range(_shape(t)[0])]), g.tag)
    z = np.zeros(shape, dtype=np.result_type(getattr(g, "dtype", np.float64), np.float32))
    if _advanced(index):
        np.add.at(z, index, g)
    else:
        z[index] = g
    return z


def _scatter_back(g: Any, index: Any, position: int) -> Any:
    return g[index]


def getitem(x: Reverse, index: Any) -> Any:
    """``x[index]`` recorded on the tape; the VJP scatters the cotangent back."""
    if isinstance(index, Dual) or (isinstance(index, tuple) and any(isinstance(i, Dual) for i in index)):
        raise TypeError("a reverse-mode value cannot be used as an index; index with plain integers or arrays")
    tag = top_reverse((x,))
    p = x.primal
    return record(p[index], (x,), _getitem_back, (index, _shape(p)), tag)


def _getitem_back(g: Any, payload: Any, position: int) -> Any:
    index, shape = payload
    tg = type(g)
    if (tg is np.float64 or tg is float or tg is np.ndarray) and not _advanced(index):
        return Sparse(shape, np.result_type(getattr(g, "dtype", np.float64), np.float32), [(index, g)])
    return scatter(g, index, shape)


# -- reductions ------------------------------------------------------------------------------------

def _sum_back(g: Any, payload: Any, position: int) -> Any:
    shape, axis, keepdims, count = payload
    tg = type(g)
    if axis is None and shape and (tg is np.float64 or tg is float or (tg is np.ndarray and g.ndim == 0)):
        # A whole-array sum's plain cotangent, filled in (np.broadcast_to costs ten times more).
        if count != 1:
            g = g / count
        filled = np.empty(shape, dtype=np.float64 if type(g) is float else g.dtype)
        filled[...] = g
        return filled
    g = _expand(g, shape, axis, keepdims)
    if count != 1:
        g = g / count
    return np.broadcast_to(g, shape)


@register(np.sum)
def _sum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         initial: Any = _NO, where: Any = _NO) -> Any:
    _check_kwargs("sum", out=out, where=where)
    tag, p = _arg(a, "sum")
    kw = {} if initial is _NO else {"initial": initial}
    if type(p) is np.ndarray:  # what np.sum does for an ndarray, minus its Python layers
        y = np.add.reduce(p, axis=axis, dtype=dtype, keepdims=keepdims, **kw)
    else:
        y = np.sum(p, axis=axis, dtype=dtype, keepdims=keepdims, **kw)
    return record(y, (a,), _sum_back, (_shape(p), axis, keepdims, 1), tag)


@register(np.mean)
def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
          *, where: Any = _NO) -> Any:
    _check_kwargs("mean", out=out, where=where)
    tag, p = _arg(a, "mean")
    y = np.mean(p, axis=axis, dtype=dtype, keepdims=keepdims)
    shape = _shape(p)
    count = int(np.prod([shape[i] for i in _axes(axis, len(shape))], dtype=int))
    return record(y, (a,), _sum_back, (shape, axis, keepdims, count), tag)


def _prod_back(g: Any, payload: Any, position: int) -> Any:
    p, axis, keepdims, initial = payload
    shape = _shape(p)
    g = _expand(g, shape, axis, keepdims)
    if axis is None:
        excl = np.reshape(_exclusive_products(np.reshape(p, (-1,))), shape)
    else:
        ax = operator.index(axis) % len(shape)
        excl = np.moveaxis(_exclusive_products(np.moveaxis(p, ax, -1)), -1, ax)
    if initial is not _NO:
        excl = excl * initial
    return g * excl


@register(np.prod)
def _prod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
          initial: Any = _NO, where: Any = _NO) -> Any:
    _check_kwargs("prod", out=out, where=where)
    if isinstance(axis, tuple):
        return _via_forward(np.prod, "prod")(a, axis=axis, dtype=dtype, keepdims=keepdims)
    tag, p = _arg(a, "prod")
    kw = {} if initial is _NO else {"initial": initial}
    y = np.prod(p, axis=axis, dtype=dtype, keepdims=keepdims, **kw)
    return record(y, (a,), _prod_back, (p, axis, keepdims, initial), tag)


def _extreme(func: Any, name: str) -> Callable[..., Any]:
    def back(g: Any, payload: Any, position: int) -> Any:
        p, axis, keepdims, kw = payload
        q = plain(p)
        # Ties share the cotangent equally (the forward rule averages tied tangents).
        hit = q == func(q, axis=axis, keepdims=True, **kw)
        weight = hit / np.sum(hit, axis=axis, keepdims=True)
        return _expand(g, _shape(p), axis, keepdims) * weight

    def rule(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
             initial: Any = _NO, where: Any = _NO) -> Any:
        _check_kwargs(name, out=out, where=where)
        tag, p = _arg(a, name)
        kw = {} if initial is _NO else {"initial": initial}
        y = func(p, axis=axis, keepdims=keepdims, **kw)
        return record(y, (a,), back, (p, axis, keepdims, kw), tag)

    return rule


_max = register(np.max, np.amax)(_extreme(np.max, "max"))
_min = register(np.min, np.amin)(_extreme(np.min, "min"))


def _cumsum_back(g: Any, payload: Any, position: int) -> Any:
    shape, axis = payload
    if axis is None:
        return np.reshape(np.flip(np.cumsum(np.flip(g))), shape)
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


@register(np.cumsum)
def _cumsum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    _check_kwargs("cumsum", out=out)
    tag, p = _arg(a, "cumsum")
    return record(np.cumsum(p, axis=axis, dtype=dtype), (a,), _cumsum_back, (_shape(p), axis), tag)


_cumprod = FUNCTION_VJPS[np.cumprod]
_REDUCERS = {np.add: _sum, np.multiply: _prod, np.maximum: _max, np.minimum: _min}
_ACCUMULATORS = {np.add: _cumsum, np.multiply: _cumprod}


def ufunc_method(ufunc: Any, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``ufunc.reduce``/``.accumulate`` and ``ufunc(..., **kwargs)`` on reverse-mode values."""
    out = kwargs.get("out")
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise TypeError(f"numpy.{ufunc.__name__} with out=: in-place results cannot hold reverse-mode values")
    kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    if method == "__call__":
        if kwargs.get("where", True) is not True or kwargs.get("dtype") not in (None, float, np.float64):
            raise TypeError(f"numpy.{ufunc.__name__} on a reverse-mode value: keyword arguments "
                            f"{sorted(kwargs)} are not supported")
        return ufunc(*inputs)
    if method in ("reduce", "accumulate") and len(inputs) == 1:
        axis = kwargs.pop("axis", 0)
        keepdims = kwargs.pop("keepdims", False)
        kwargs.pop("dtype", None)
        table = _REDUCERS if method == "reduce" else _ACCUMULATORS
        f = table.get(ufunc)
        if f is not None and not kwargs:
            return f(inputs[0], axis=axis, keepdims=keepdims) if method == "reduce" else f(inputs[0], axis=axis)
    raise NoDerivativeRuleError(f"plait.gradients has no reverse rule for numpy.{ufunc.__name__}.{method}")


# -- shapes ----------------------------------------------------------------------------------------

def _reshape_back(g: Any, shape: Any, position: int) -> Any:
    return np.reshape(g, shape)


def _same_data(func: Any, name: str) -> Callable[..., Any]:
    """Functions that only change the shape: the cotangent is reshaped back."""

    def rule(a: Any, *args: Any, **kwargs: Any) -> Any:
        tag, p = _arg(a, name)
        return record(func(p, *args, **kwargs), (a,), _reshape_back, _shape(p), tag)

    return rule


register(np.reshape)(_same_data(np.reshape, "reshape"))
register(np.squeeze)(_same_data(np.squeeze, "squeeze"))
register(np.expand_dims)(_same_data(np.expand_dims, "expand_dims"))
register(np.atleast_1d)(_same_data(np.atleast_1d, "atleast_1d"))
register(np.ravel)(_same_data(np.ravel, "ravel"))
register(np.atleast_2d)(_atleast_2d)
register(np.clip)(_clip)  # minimum of maximum: the two ufuncs record themselves


@register(np.copy)
def _copy(a: Any, order: str = "K", subok: bool = False) -> Any:
    return a  # reverse-mode values are immutable


def _transpose_back(g: Any, axes: Any, position: int) -> Any:
    return np.transpose(g, None if axes is None else tuple(np.argsort(axes)))


@register(np.transpose)
def _transpose(a: Any, axes: Any = None) -> Any:
    tag, p = _arg(a, "transpose")
    nd = _ndim(p)
    axes = None if axes is None else tuple(operator.index(x) % nd for x in axes)
    return record(np.transpose(p, axes), (a,), _transpose_back, axes, tag)


@register(np.swapaxes)
def _swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    tag, p = _arg(a, "swapaxes")
    return record(np.swapaxes(p, axis1, axis2), (a,),
                  lambda g, _, __: np.swapaxes(g, axis1, axis2), None, tag)


@register(np.moveaxis)
def _moveaxis(a: Any, source: Any, destination: Any) -> Any:
    tag, p = _arg(a, "moveaxis")
    return record(np.moveaxis(p, source, destination), (a,),
                  lambda g, _, __: np.moveaxis(g, destination, source), None, tag)


@register(np.broadcast_to)
def _broadcast_to(array: Any, shape: Any = None, subok: bool = False, **kw: Any) -> Any:
    tag, p = _arg(array, "broadcast_to")
    return record(np.broadcast_to(p, kw.get("shape", shape)), (array,),
                  lambda g, s, _: unbroadcast(g, s), _shape(p), tag)


@register(np.flip)
def _flip(m: Any, axis: Any = None) -> Any:
    tag, p = _arg(m, "flip")
    return record(np.flip(p, axis), (m,), lambda g, _, __: np.flip(g, axis), None, tag)


@register(np.trace)
def _trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
           out: Any = None) -> Any:
    _check_kwargs("trace", out=out)
    tag, p = _arg(a, "trace")
    shape = _shape(p)
    if len(shape) != 2:
        return _via_forward(np.trace, "trace")(a, offset, axis1, axis2, dtype)
    eye = np.eye(shape[0], shape[1], offset)
    return record(np.trace(p, offset, axis1, axis2, dtype), (a,), lambda g, _, __: g * eye, None, tag)


@register(np.take)
def _take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
    _check_kwargs("take", out=out)
    if axis is not None or mode != "raise":
        return _via_forward(np.take, "take")(a, indices, axis=axis, mode=mode)
    tag, p = _arg(a, "take")
    shape = _shape(p)
    idx = np.asarray(indices)
    return record(np.take(p, indices), (a,),
                  lambda g, _, __: np.reshape(scatter(g, idx, (int(np.prod(shape, dtype=int)),)), shape),
                  None, tag)


# -- joining ---------------------------------------------------------------------------------------

def _piece(g: Any, axis: int, start: int, stop: int) -> Any:
    return g[(slice(None),) * axis + (slice(start, stop),)]


@register(np.concatenate)
def _concatenate(arrays: Sequence[Any], axis: Any = 0, out: Any = None, *, dtype: Any = None,
                 casting: str = "same_kind") -> Any:
    _check_kwargs("concatenate", out=out)
    arrays = list(arrays)
    tag = top_reverse(arrays)
    primals = [value(x, tag) for x in arrays]
    y = np.concatenate(primals, axis=axis, dtype=dtype, casting=casting)  # type: ignore[call-overload]  # casting: any str numpy takes
    shapes = [_shape(p) for p in primals]
    if axis is None:
        sizes = [int(np.prod(s, dtype=int)) for s in shapes]
        ax = 0
    else:
        ax = operator.index(axis) % _ndim(y)
        sizes = [s[ax] for s in shapes]
    starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()

    def back(g: Any, _: Any, i: int) -> Any:
        return np.reshape(_piece(np.reshape(g, (-1,)) if axis is None else g, ax, starts[i], starts[i + 1]),
                          shapes[i])

    return record(y, arrays, back, None, tag)


@register(np.stack)
def _stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, *, dtype: Any = None,
           casting: str = "same_kind") -> Any:
    _check_kwargs("stack", out=out)
    arrays = list(arrays)
    tag = top_reverse(arrays)
    y = np.stack([value(x, tag) for x in arrays], axis=axis, dtype=dtype, casting=casting)  # type: ignore[call-overload]  # casting: any str numpy takes
    ax = operator.index(axis) % _ndim(y)
    return record(y, arrays, lambda g, _, i: g[(slice(None),) * ax + (i,)], None, tag)


# -- selection -------------------------------------------------------------------------------------

@register(np.where)
def _where(condition: Any, x: Any = _NO, y: Any = _NO) -> Any:
    cond = plain(condition)
    if x is _NO and y is _NO:
        return np.where(cond)
    tag = top_reverse((x, y))
    out = np.where(cond, value(x, tag), value(y, tag))
    shapes = ((), _shape(x), _shape(y))  # the condition (position 0) gets no cotangent

    def back(g: Any, _: Any, i: int) -> Any:
        if i == 0:
            return None  # the condition is piecewise constant
        picked = np.where(cond, g, 0.0) if i == 1 else np.where(cond, 0.0, g)
        return unbroadcast(picked, shapes[i])

    return record(out, (condition, x, y), back, None, tag)


# -- products --------------------------------------------------------------------------------------

def _bilinear(func: Any, a: Any, b: Any, back: Callable[..., Any]) -> Any:
    tag = top_reverse((a, b))
    pa, pb = value(a, tag), value(b, tag)
    y = func(pa, pb)
    return record(y, (a, b), back, (y, (pa, pb)), tag)


@register(np.dot)
def _dot(a: Any, b: Any, out: Any = None) -> Any:
    _check_kwargs("dot", out=out)
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if (na <= 2 and nb <= 2) or nb == 1:
        return _bilinear(np.dot, a, b, _matmul_back)
    _refuse("dot", "arrays of more than 2 dimensions (use np.matmul or np.einsum)")


@register(np.inner)
def _inner(a: Any, b: Any) -> Any:
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    if na == 1 and nb == 1:
        return _bilinear(np.inner, a, b, _matmul_back)
    _refuse("inner", "arrays of more than 1 dimension (use np.einsum)")


def _outer_back(g: Any, payload: Any, i: int) -> Any:
    y, (a, b) = payload
    if i == 0:
        return np.reshape(np.matmul(g, np.reshape(b, (-1,))), _shape(a))
    return np.reshape(np.matmul(np.reshape(a, (-1,)), g), _shape(b))


@register(np.outer)
def _outer(a: Any, b: Any, out: Any = None) -> Any:
    _check_kwargs("outer", out=out)
    return _bilinear(np.outer, a, b, _outer_back)


def _vdot_back(g: Any, payload: Any, i: int) -> Any:
    y, (a, b) = payload
    return np.reshape(g * np.reshape((b, a)[i], (-1,)), _shape((a, b)[i]))


@register(np.vdot)
def _vdot(a: Any, b: Any) -> Any:
    return _bilinear(np.vdot, a, b, _vdot_back)


def _einsum_parts(subscripts: str, n: int) -> tuple[Any, ...]:
    inputs, out, _ = _einsum_spec(subscripts, n)
    return inputs, out


@register(np.einsum)
def _einsum(subscripts: Any, *operands: Any, **kwargs: Any) -> Any:
    if not isinstance(subscripts, str):
        _refuse("einsum", "the interleaved (operand, sublist) form")
    _check_kwargs("einsum", out=kwargs.pop("out", None))
    tag = top_reverse(operands)
    primals = [value(x, tag) for x in operands]
    y = np.einsum(subscripts, *primals, **kwargs)
    inputs, out = _einsum_parts(subscripts, len(operands))

    def back(g: Any, _: Any, i: int) -> Any:
        own = inputs[i]
        others = [s for j, s in enumerate(inputs) if j != i]
        direct = "." not in subscripts and len(set(own)) == len(own) and all(
            c in out or any(c in s for s in others) for c in own)
        if direct:
            spec = ",".join([out] + others) + "->" + own
            c = np.einsum(spec, g, *[p for j, p in enumerate(primals) if j != i], **kwargs)
            return unbroadcast(c, _shape(primals[i]))  # letters only in `own`'s broadcast dims
        return _forward_back(lambda *ops: np.einsum(subscripts, *ops, **kwargs), primals, i, g)

    return record(y, operands, back, None, tag)


# -- linear algebra --------------------------------------------------------------------------------

def _mT(a: Any) -> Any:
    return np.swapaxes(a, -1, -2)


@register(np.linalg.solve)
def _solve(a: Any, b: Any) -> Any:
    tag = top_reverse((a, b))
    pa, pb = value(a, tag), value(b, tag)
    x = np.linalg.solve(pa, pb)
    vector = _ndim(pb) == 1

    def back(g: Any, _: Any, i: int) -> Any:
        # Batch axes broadcast between A and b: each cotangent is summed back to its shape.
        gb = np.linalg.solve(_mT(pa), g)
        if i == 1:
            return unbroadcast(gb, _shape(pb))
        if vector:
            return unbroadcast(-np.matmul(np.expand_dims(gb, -1), np.expand_dims(x, -2)), _shape(pa))
        return unbroadcast(-np.matmul(gb, _mT(x)), _shape(pa))

    return record(x, (a, b), back, None, tag)


@register(np.linalg.inv)
def _inv(a: Any) -> Any:
    tag, p = _arg(a, "linalg.inv")
    y = np.linalg.inv(p)
    return record(y, (a,), lambda g, _, __: -np.matmul(np.matmul(_mT(y), g), _mT(y)), None, tag)


@register(np.linalg.det)
def _det(a: Any) -> Any:
    tag, p = _arg(a, "linalg.det")
    y = np.linalg.det(p)
    return record(y, (a,), lambda g, _, __: np.expand_dims(np.expand_dims(g * y, -1), -1)
                  * _mT(np.linalg.inv(p)), None, tag)


@register(np.linalg.slogdet)
def _slogdet(a: Any) -> Any:
    tag, p = _arg(a, "linalg.slogdet")
    res = np.linalg.slogdet(p)
    logdet = record(res[1], (a,), lambda g, _, __: np.expand_dims(np.expand_dims(g, -1), -1)
                    * _mT(np.linalg.inv(p)), None, tag)
    return type(res)(res[0], logdet)


@register(np.linalg.cholesky)
def _cholesky(a: Any, /, *, upper: bool = False) -> Any:
    tag, p = _arg(a, "linalg.cholesky")
    low = np.linalg.cholesky(p)
    n = _shape(p)[-1]
    phi = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)

    def back(g: Any, _: Any, __: int) -> Any:
        # The transpose of the forward rule dL = L Phi(L^-1 dA L^-T).
        gl = _mT(g) if upper else g
        inv_l = np.linalg.inv(low)
        return np.matmul(np.matmul(_mT(inv_l), np.matmul(_mT(low), gl) * phi), inv_l)

    return record(_mT(low) if upper else low, (a,), back, None, tag)


# -- plain answers: shapes, predicates, array creation -----------------------------------------------

def _plain_rule(func: Any) -> Callable[..., Any]:
    def rule(*args: Any, **kwargs: Any) -> Any:
        return func(*plain(list(args)), **plain(dict(kwargs)))

    return rule


for _plain_function in (np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like,
           np.full_like, np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero,
           np.isclose, np.allclose, np.array_equal, np.any, np.all, np.round, np.around,
           np.searchsorted, np.isreal, np.iscomplexobj, np.isrealobj, np.result_type):
    FUNCTION_VJPS[_plain_function] = _plain_rule(_plain_function)


PROTOCOL_VJPS["getitem"] = getitem
PROTOCOL_VJPS["ufunc_method"] = ufunc_method


def missing_rules() -> list[str]:
    """Forward rules without a reverse rule (the completeness test wants none).

    >>> from plait.gradients.reverse_rules import missing_rules
    >>> missing_rules()
    []
    """
    ufuncs = [u for u in UFUNC_RULES if u not in UFUNC_VJPS]
    funcs = [f for f in FUNCTION_RULES if f not in FUNCTION_VJPS]
    return [getattr(f, "__name__", repr(f)) for f in ufuncs + funcs]

"""Derivative rules for numpy functions (``__array_function__``) and indexing.

Reductions and shape functions are linear, so the tangent is the same
function applied to the tangent with every user axis shifted past the
direction axis.  ``prod`` uses exclusive products (correct with zeros);
``max``/``min`` average the tangents of tied maxima; ``where`` selects
tangents, so the unselected branch never leaks into the derivative.

Every rule computes the primal with the very numpy call the user made, so
primal values are bit-identical to plain numpy.

>>> import numpy as np
>>> from plait.gradients import grad
>>> grad(lambda x: np.prod(x), np.array([2.0, 0.0, 3.0]))
array([0., 6., 0.])
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Literal, Sequence

import numpy as np

from ..errors import NoDerivativeRuleError
from .dual import (
    FUNCTION_RULES,
    PROTOCOL_RULES,
    UFUNC_RULES,
    Dual,
    escaped,
    fit,
    lift,
    ndim,
    new,
    shape,
    split,
    stop_gradient,
    top_tag,
    _LIVE,
)
from .factored import Factored, known_finite, reduced

__all__: list[str] = []

_NO = np._NoValue  # numpy's "argument not given" marker
# numpy's accepted values of the ``mode`` of np.take and the ``casting`` of np.concatenate / np.stack
_TakeMode = Literal["raise", "wrap", "clip"]
_Casting = Literal["no", "equiv", "safe", "same_kind", "unsafe"]


def register(*funcs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(rule: Callable[..., Any]) -> Callable[..., Any]:
        for f in funcs:
            FUNCTION_RULES[f] = rule
        return rule

    return deco


def _refuse(name: str, what: str) -> None:
    raise NoDerivativeRuleError(f"numpy.{name} on a dual number: {what} is not supported")


def _one(x: Any, name: str) -> tuple[Any, ...]:
    """``(tag, primal, tangent)`` of the Dual argument of a one-array function."""
    if type(x) is not Dual:
        _refuse(name, "a dual number in an argument other than the array")
    tag = x.tag
    if tag not in _LIVE:
        escaped(tag)
    return tag, x.primal, x.tangent


def _one_raw(x: Any, name: str) -> tuple[Any, ...]:
    """Like :func:`_one`, but a factored tangent is returned as it is."""
    if type(x) is not Dual:
        _refuse(name, "a dual number in an argument other than the array")
    tag = x.tag
    if tag not in _LIVE:
        escaped(tag)
    return tag, x.primal, x._tangent


def _axis(axis: Any, nd: int) -> Any:
    """The tangent's axis for a user ``axis`` of an ``nd``-dimensional primal."""
    if axis is None:
        return tuple(range(1, nd + 1))
    if isinstance(axis, tuple):
        return tuple(_axis(a, nd) for a in axis)
    a = operator.index(axis)
    if not -nd <= a < nd:
        raise np.exceptions.AxisError(a, nd)
    return a % nd + 1


def _check_kwargs(name: str, **kw: Any) -> None:
    for key, value in kw.items():
        if value is not None and value is not _NO and value is not False:
            _refuse(name, f"the {key}= argument")


# -- indexing -----------------------------------------------------------------------------

def _is_advanced(i: Any) -> bool:
    return isinstance(i, (list, np.ndarray)) or (
        isinstance(i, (int, np.integer)) and not isinstance(i, bool)
    )


def getitem(x: Dual, index: Any) -> Any:
    """``x[index]``: the same index on the primal and on every direction of the tangent."""
    tag = x.tag
    if tag not in _LIVE:
        escaped(tag)
    if type(index) is Dual or (isinstance(index, tuple) and any(type(i) is Dual for i in index)):
        raise TypeError("a Dual cannot be used as an index; index with plain integers or arrays")
    y = x.primal[index]
    t = x._tangent
    if t is None:
        return y
    if type(t) is Factored:
        t = t.checked()
        if t is not None:
            v = t.value[index]
            return new(y, known_finite(t.coef, v) if ndim(y) else t.coef * v, tag)
        t = x.tangent
    idx = index if isinstance(index, tuple) else (index,)
    r = t[(slice(None),) + idx]
    # numpy moves the dimensions of non-adjacent advanced indices to the front,
    # in front of the direction axis too: move that axis back.
    if ndim(r) == ndim(y) + 1:
        flags = [_is_advanced(i) for i in idx]
        arrays = [i for i in idx if isinstance(i, (list, np.ndarray))]
        if arrays:
            positions = [j for j, f in enumerate(flags) if f]
            if positions[-1] - positions[0] + 1 != len(positions):
                nadv = len(np.broadcast_shapes(*(np.shape(i) for i in idx if _is_advanced(i))))
                r = np.moveaxis(r, nadv, 0)
    return new(y, r, tag)


# -- ufunc methods (reduce, accumulate) -------------------------------------------------------

def ufunc_method(ufunc: Any, method: str, inputs: tuple[Any, ...], kwargs: dict[Any, Any]) -> Any:
    out = kwargs.get("out")
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise TypeError(
            f"numpy.{ufunc.__name__} with out=: in-place results cannot hold dual numbers; "
            "use the returned value"
        )
    kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    if method == "__call__":
        if kwargs.get("where", True) is not True or kwargs.get("dtype") not in (None, float, np.float64):
            raise TypeError(
                f"numpy.{ufunc.__name__} on a dual number: keyword arguments {sorted(kwargs)} "
                "are not supported"
            )
        return ufunc(*inputs)
    if method in ("reduce", "accumulate") and len(inputs) == 1:
        axis = kwargs.pop("axis", 0)
        keepdims = kwargs.pop("keepdims", False)
        kwargs.pop("dtype", None)
        if not kwargs:
            if method == "reduce":
                f = _REDUCERS.get(ufunc)
                if f is not None:
                    return f(inputs[0], axis=axis, keepdims=keepdims)
            else:
                f = _ACCUMULATORS.get(ufunc)
                if f is not None:
                    return f(inputs[0], axis=axis)
    raise NoDerivativeRuleError(
        f"plait.gradients has no derivative rule for numpy.{ufunc.__name__}.{method}"
        + (f" with {sorted(kwargs)}" if kwargs else "")
    )


# -- reductions -------------------------------------------------------------------------------

@register(np.sum)
def _sum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         initial: Any = _NO, where: Any = _NO) -> Any:
    _check_kwargs("sum", out=out, where=where)
    tag, p, t = _one_raw(a, "sum")
    kw = {} if initial is _NO else {"initial": initial}
    if type(p) is np.ndarray:  # what np.sum does for an ndarray, minus its Python layers
        y = np.add.reduce(p, axis=axis, dtype=dtype, keepdims=keepdims, **kw)
    else:
        y = np.sum(p, axis=axis, dtype=dtype, keepdims=keepdims, **kw)
    if t is None:
        return y
    if type(t) is Factored:
        r = reduced(t, np.add.reduce, axis, keepdims)
        if r is not None:
            return new(y, r, tag)
        t = t.materialise()
    return new(y, np.sum(t, axis=_axis(axis, ndim(p)), keepdims=keepdims), tag)


@register(np.mean)
def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
          *, where: Any = _NO) -> Any:
    _check_kwargs("mean", out=out, where=where)
    tag, p, t = _one_raw(a, "mean")
    y = np.mean(p, axis=axis, dtype=dtype, keepdims=keepdims)
    if t is None:
        return y
    if type(t) is Factored:
        r = reduced(t, np.mean, axis, keepdims)
        if r is not None:
            return new(y, r, tag)
        t = t.materialise()
    return new(y, np.mean(t, axis=_axis(axis, ndim(p)), keepdims=keepdims), tag)


def _to_last(a: Any, axis: Any, nd: int, offset: int) -> Any:
    """Move the reduced axes of ``a`` (user axes shifted by ``offset``) last and merge them."""
    if axis is None:
        axes = list(range(nd))
    else:
        axes = [operator.index(x) % nd for x in (axis if isinstance(axis, tuple) else (axis,))]
    keep = [i for i in range(nd) if i not in axes]
    perm = list(range(offset)) + [i + offset for i in keep + axes]
    moved = np.transpose(a, perm)
    s = shape(moved)
    return np.reshape(moved, s[: offset + len(keep)] + (-1,))


def _exclusive_products(p: Any) -> Any:
    """``prod_{j != i} p_j`` along the last axis, without dividing (zeros are fine)."""
    n = shape(p)[-1]
    ones = np.ones(shape(p)[:-1] + (1,))
    if n == 1:
        return np.broadcast_to(ones, shape(p)) + 0.0 * p
    left = np.concatenate([ones, np.cumprod(p[..., :-1], axis=-1)], axis=-1)
    right = np.concatenate([np.cumprod(p[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    return left * right


@register(np.prod)
def _prod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
          initial: Any = _NO, where: Any = _NO) -> Any:
    _check_kwargs("prod", out=out, where=where)
    tag, p, t = _one(a, "prod")
    kw = {} if initial is _NO else {"initial": initial}
    y = np.prod(p, axis=axis, dtype=dtype, keepdims=keepdims, **kw)
    if t is None:
        return y
    nd = ndim(p)
    excl = _exclusive_products(_to_last(p, axis, nd, 0))
    if initial is not _NO:
        excl = excl * initial
    dt = np.sum(_to_last(t, axis, nd, 1) * excl, axis=-1)
    return new(y, np.reshape(dt, shape(t)[:1] + shape(y)), tag)


def _extreme(func: Any, name: str) -> Callable[..., Any]:
    def rule(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
             initial: Any = _NO, where: Any = _NO) -> Any:
        _check_kwargs(name, out=out, where=where)
        tag, p, t = _one(a, name)
        kw = {} if initial is _NO else {"initial": initial}
        y = func(p, axis=axis, keepdims=keepdims, **kw)
        if t is None:
            return y
        # Ties share the derivative equally (the average of the tied tangents).
        plain = stop_gradient(p)
        hit = plain == func(plain, axis=axis, keepdims=True, **kw)
        weight = hit / np.sum(hit, axis=axis, keepdims=True)
        return new(y, np.sum(t * weight, axis=_axis(axis, ndim(p)), keepdims=keepdims), tag)

    return rule


_max_rule = register(np.max, np.amax)(_extreme(np.max, "max"))
_min_rule = register(np.min, np.amin)(_extreme(np.min, "min"))


@register(np.cumsum)
def _cumsum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    _check_kwargs("cumsum", out=out)
    tag, p, t = _one(a, "cumsum")
    y = np.cumsum(p, axis=axis, dtype=dtype)
    if t is None:
        return y
    if axis is None:
        return new(y, np.cumsum(np.reshape(t, shape(t)[:1] + (-1,)), axis=1), tag)
    return new(y, np.cumsum(t, axis=_axis(axis, ndim(p))), tag)


@register(np.cumprod)
def _cumprod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    _check_kwargs("cumprod", out=out)
    tag, p, t = _one(a, "cumprod")
    y = np.cumprod(p, axis=axis, dtype=dtype)
    if t is None:
        return y
    if axis is None:
        p = np.reshape(p, (-1,))
        t = np.reshape(t, shape(t)[:1] + (-1,))
        axis = 0
    nd = ndim(p)
    ax = operator.index(axis) % nd
    pl = np.moveaxis(p, ax, -1)
    tl = np.moveaxis(t, ax + 1, -1)
    n = shape(pl)[-1]
    # d y_i = sum_{j <= i} t_j prod_{l <= i, l != j} p_l: row j of `rows` is the
    # cumulative product with p_j replaced by 1 (O(n^2), exact with zeros).
    eye = np.eye(n, dtype=bool)
    rows: Any = np.cumprod(np.where(eye, 1.0, pl[..., None, :]), axis=-1)
    rows = rows * np.triu(np.ones((n, n)))
    dt = np.sum(tl[..., :, None] * rows, axis=-2)
    return new(y, np.moveaxis(dt, -1, ax + 1), tag)


_REDUCERS = {np.add: _sum, np.multiply: _prod, np.maximum: _max_rule, np.minimum: _min_rule}
_ACCUMULATORS = {np.add: _cumsum, np.multiply: _cumprod}


# -- shapes -----------------------------------------------------------------------------------

@register(np.reshape)
def _reshape(a: Any, shape_: Any = None, order: str = "C", *, newshape: Any = None,
             copy: Any = None, **kw: Any) -> Any:
    if "shape" in kw:
        shape_ = kw.pop("shape")
    if shape_ is None:
        shape_ = newshape
    if order != "C":
        _refuse("reshape", f"order={order!r}")
    tag, p, t = _one(a, "reshape")
    y = np.reshape(p, shape_)
    if t is None:
        return y
    return new(y, np.reshape(t, shape(t)[:1] + shape(y)), tag)


@register(np.ravel)
def _ravel(a: Any, order: str = "C") -> Any:
    return _reshape(a, (-1,), order)


@register(np.transpose)
def _transpose(a: Any, axes: Any = None) -> Any:
    tag, p, t = _one(a, "transpose")
    y = np.transpose(p, axes)
    if t is None:
        return y
    nd = ndim(p)
    order = range(nd - 1, -1, -1) if axes is None else [operator.index(x) % nd for x in axes]
    return new(y, np.transpose(t, (0,) + tuple(i + 1 for i in order)), tag)


@register(np.swapaxes)
def _swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    tag, p, t = _one(a, "swapaxes")
    y = np.swapaxes(p, axis1, axis2)
    if t is None:
        return y
    nd = ndim(p)
    return new(y, np.swapaxes(t, _axis(axis1, nd), _axis(axis2, nd)), tag)


@register(np.moveaxis)
def _moveaxis(a: Any, source: Any, destination: Any) -> Any:
    tag, p, t = _one(a, "moveaxis")
    y = np.moveaxis(p, source, destination)
    if t is None:
        return y
    nd = ndim(p)
    shift = (lambda v: _axis(v, nd)) if not isinstance(source, (tuple, list)) else (
        lambda v: tuple(_axis(i, nd) for i in v))
    return new(y, np.moveaxis(t, shift(source), shift(destination)), tag)


def _same_layout(func: Any, name: str) -> Callable[..., Any]:
    """Functions that only add or drop unit axes: the tangent is reshaped to match."""

    def rule(a: Any, *args: Any, **kwargs: Any) -> Any:
        tag, p, t = _one(a, name)
        y = func(p, *args, **kwargs)
        if t is None:
            return y
        return new(y, np.reshape(t, shape(t)[:1] + shape(y)), tag)

    return rule


register(np.squeeze)(_same_layout(np.squeeze, "squeeze"))
register(np.expand_dims)(_same_layout(np.expand_dims, "expand_dims"))
register(np.atleast_1d)(_same_layout(np.atleast_1d, "atleast_1d"))


@register(np.broadcast_to)
def _broadcast_to(array: Any, shape_: Any = None, subok: bool = False, **kw: Any) -> Any:
    if "shape" in kw:
        shape_ = kw.pop("shape")
    tag, p, t = _one(array, "broadcast_to")
    y = np.broadcast_to(p, shape_)
    if t is None:
        return y
    s = shape(y)
    return new(y, np.broadcast_to(lift(t, ndim(p), len(s)), shape(t)[:1] + s), tag)


@register(np.diagonal)
def _diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    tag, p, t = _one(a, "diagonal")
    y = np.diagonal(p, offset, axis1, axis2)
    if t is None:
        return y
    nd = ndim(p)
    return new(y, np.diagonal(t, offset, _axis(axis1, nd), _axis(axis2, nd)), tag)


@register(np.trace)
def _trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
           out: Any = None) -> Any:
    _check_kwargs("trace", out=out)
    tag, p, t = _one(a, "trace")
    y = np.trace(p, offset, axis1, axis2, dtype)
    if t is None:
        return y
    nd = ndim(p)
    return new(y, np.trace(t, offset, _axis(axis1, nd), _axis(axis2, nd)), tag)


@register(np.diff)
def _diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = _NO, append: Any = _NO) -> Any:
    if prepend is not _NO or append is not _NO:
        _refuse("diff", "prepend=/append=")
    tag, p, t = _one(a, "diff")
    y = np.diff(p, n, axis)
    if t is None:
        return y
    return new(y, np.diff(t, n, _axis(axis, ndim(p))), tag)


@register(np.flip)
def _flip(m: Any, axis: Any = None) -> Any:
    tag, p, t = _one(m, "flip")
    y = np.flip(p, axis)
    if t is None:
        return y
    return new(y, np.flip(t, _axis(axis, ndim(p))), tag)


@register(np.take)
def _take(
    a: Any, indices: Any, axis: Any = None, out: Any = None, mode: _TakeMode = "raise"
) -> Any:
    _check_kwargs("take", out=out)
    tag, p, t = _one(a, "take")
    y = np.take(p, indices, axis=axis, mode=mode)
    if t is None:
        return y
    if axis is None:
        return new(y, np.take(np.reshape(t, shape(t)[:1] + (-1,)), indices, axis=1, mode=mode), tag)
    return new(y, np.take(t, indices, axis=_axis(axis, ndim(p)), mode=mode), tag)


@register(np.take_along_axis)
def _take_along_axis(arr: Any, indices: Any, axis: Any = -1) -> Any:
    tag, p, t = _one(arr, "take_along_axis")
    y = np.take_along_axis(p, indices, axis=axis)
    if t is None:
        return y
    idx = np.asarray(indices)[None]
    if axis is None:
        return new(y, np.take_along_axis(np.reshape(t, shape(t)[:1] + (-1,)), idx, axis=1), tag)
    return new(y, np.take_along_axis(t, idx, axis=_axis(axis, ndim(p))), tag)


@register(np.sort)
def _sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kw: Any) -> Any:
    tag, p, t = _one(a, "sort")
    y = np.sort(p, axis=axis, kind=kind)
    if t is None:
        return y
    if axis is None:
        p, t, axis = np.reshape(p, (-1,)), np.reshape(t, shape(t)[:1] + (-1,)), 0
    idx = np.argsort(stop_gradient(p), axis=axis, kind="stable")
    return new(y, np.take_along_axis(t, idx[None], axis=_axis(axis, ndim(p))), tag)


# -- joining ----------------------------------------------------------------------------------

def _tangents_for(parts: Sequence[Any], tag: int) -> tuple[Any, ...]:
    primals, tangents, k = [], [], None
    for x in parts:
        p, t = split(x, tag)
        primals.append(p)
        tangents.append(t)
        if t is not None:
            k = shape(t)[0]
    return primals, tangents, k


def _zero_fill(primals: list[Any], tangents: list[Any], k: int) -> list[Any]:
    return [t if t is not None else np.zeros((k,) + shape(p)) for p, t in zip(primals, tangents)]


@register(np.concatenate)
def _concatenate(arrays: Sequence[Any], axis: Any = 0, out: Any = None, *, dtype: Any = None,
                 casting: _Casting = "same_kind") -> Any:
    _check_kwargs("concatenate", out=out)
    arrays = list(arrays)
    tag = top_tag(arrays)
    primals, tangents, k = _tangents_for(arrays, tag)
    y = np.concatenate(primals, axis=axis, dtype=dtype, casting=casting)
    if k is None:
        return y
    ts = _zero_fill(primals, tangents, k)
    if axis is None:
        return new(y, np.concatenate([np.reshape(t, (k, -1)) for t in ts], axis=1), tag)
    return new(y, np.concatenate(ts, axis=_axis(axis, ndim(primals[0]))), tag)


@register(np.stack)
def _stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, *, dtype: Any = None,
           casting: _Casting = "same_kind") -> Any:
    _check_kwargs("stack", out=out)
    arrays = list(arrays)
    tag = top_tag(arrays)
    primals, tangents, k = _tangents_for(arrays, tag)
    y = np.stack(primals, axis=axis, dtype=dtype, casting=casting)
    if k is None:
        return y
    ts = _zero_fill(primals, tangents, k)
    return new(y, np.stack(ts, axis=_axis(axis, ndim(y))), tag)


# -- selection --------------------------------------------------------------------------------

@register(np.where)
def _where(condition: Any, x: Any = _NO, y: Any = _NO) -> Any:
    cond = stop_gradient(condition)
    if x is _NO and y is _NO:
        return np.where(cond)
    tag = top_tag((x, y))
    px, tx = split(x, tag)
    py, ty = split(y, tag)
    out = np.where(cond, px, py)
    if tx is None and ty is None:
        return out
    nd = ndim(out)
    a = 0.0 if tx is None else lift(tx, ndim(px), nd)
    b = 0.0 if ty is None else lift(ty, ndim(py), nd)
    return new(out, fit(np.where(cond, a, b), shape(out)), tag)


@register(np.clip)
def _clip(a: Any, a_min: Any = _NO, a_max: Any = _NO, out: Any = None, *, min: Any = _NO,
          max: Any = _NO, **kw: Any) -> Any:
    _check_kwargs("clip", out=out)
    lo = a_min if a_min is not _NO else min
    hi = a_max if a_max is not _NO else max
    # clip = minimum(maximum(a, lo), hi): a bound that is hit exactly splits 0.5/0.5.
    r = a
    if lo is not _NO and lo is not None:
        r = np.maximum(r, lo)
    if hi is not _NO and hi is not None:
        r = np.minimum(r, hi)
    return r


# -- products ---------------------------------------------------------------------------------

def _bilinear(func: Any, a: Any, b: Any, rule: Callable[..., Any]) -> Any:
    """``func(a, b)`` with the primal from ``func`` itself and the tangent from ``rule``."""
    tag = top_tag((a, b))
    pa, ta = split(a, tag)
    pb, tb = split(b, tag)
    y = func(pa, pb)
    if ta is None and tb is None:
        return y
    return new(y, rule(y, [pa, pb], [ta, tb]), tag)


@register(np.dot)
def _dot(a: Any, b: Any, out: Any = None) -> Any:
    _check_kwargs("dot", out=out)
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        return _bilinear(np.dot, a, b, UFUNC_RULES[np.multiply])
    if (na <= 2 and nb <= 2) or nb == 1:
        return _bilinear(np.dot, a, b, UFUNC_RULES[np.matmul])
    _refuse("dot", "arrays of more than 2 dimensions (use np.matmul or np.einsum)")


@register(np.inner)
def _inner(a: Any, b: Any) -> Any:
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        return _bilinear(np.inner, a, b, UFUNC_RULES[np.multiply])
    if na == 1 and nb == 1:
        return _bilinear(np.inner, a, b, UFUNC_RULES[np.matmul])
    _refuse("inner", "arrays of more than 1 dimension (use np.einsum)")


def _outer_tangent(y: Any, ps: list[Any], ts: list[Any]) -> Any:
    a, b = (np.reshape(p, (-1,)) for p in ps)
    total = None
    if ts[0] is not None:
        ta = np.reshape(ts[0], shape(ts[0])[:1] + (-1,))
        total = ta[:, :, None] * b[None, None, :]
    if ts[1] is not None:
        tb = np.reshape(ts[1], shape(ts[1])[:1] + (-1,))
        c = a[None, :, None] * tb[:, None, :]
        total = c if total is None else total + c
    return total


@register(np.outer)
def _outer(a: Any, b: Any, out: Any = None) -> Any:
    _check_kwargs("outer", out=out)
    return _bilinear(np.outer, a, b, _outer_tangent)


def _vdot_tangent(y: Any, ps: list[Any], ts: list[Any]) -> Any:
    a, b = (np.reshape(p, (-1,)) for p in ps)
    total = None
    if ts[0] is not None:
        total = np.matmul(np.reshape(ts[0], shape(ts[0])[:1] + (-1,)), b)
    if ts[1] is not None:
        c = np.matmul(np.reshape(ts[1], shape(ts[1])[:1] + (-1,)), a)
        total = c if total is None else total + c
    return total


@register(np.vdot)
def _vdot(a: Any, b: Any) -> Any:
    return _bilinear(np.vdot, a, b, _vdot_tangent)


def _einsum_spec(spec: str, n: int) -> tuple[Any, ...]:
    spec = spec.replace(" ", "")
    if "->" in spec:
        ins, out = spec.split("->")
        inputs = ins.split(",")
    else:
        inputs = spec.split(",")
        letters = "".join(inputs).replace(".", "")
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        out = ("..." if any("..." in s for s in inputs) else "") + "".join(once)
    if len(inputs) != n:
        raise ValueError(f"einsum: {len(inputs)} operands in {spec!r}, got {n}")
    used = set(spec)
    free = next(c for c in "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in used)
    return inputs, out, free


@register(np.einsum)
def _einsum(subscripts: Any, *operands: Any, **kwargs: Any) -> Any:
    if not isinstance(subscripts, str):
        _refuse("einsum", "the interleaved (operand, sublist) form")
    _check_kwargs("einsum", out=kwargs.pop("out", None))
    tag = top_tag(operands)
    primals, tangents, k = _tangents_for(operands, tag)
    y = np.einsum(subscripts, *primals, **kwargs)
    if k is None:
        return y
    inputs, out, free = _einsum_spec(subscripts, len(operands))
    total = None
    for i, t in enumerate(tangents):
        if t is None:
            continue
        spec = ",".join(free + s if j == i else s for j, s in enumerate(inputs)) + "->" + free + out
        c = np.einsum(spec, *[t if j == i else p for j, p in enumerate(primals)], **kwargs)
        total = c if total is None else total + c
    return new(y, total, tag)


# -- plain answers: shapes, predicates, array creation ---------------------------------------

def _plain(func: Any) -> Callable[..., Any]:
    def rule(*args: Any, **kwargs: Any) -> Any:
        return func(*stop_gradient(list(args)), **stop_gradient(dict(kwargs)))

    return rule


for _f in (np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like,
           np.full_like, np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero,
           np.isclose, np.allclose, np.array_equal, np.any, np.all, np.round, np.around,
           np.searchsorted, np.isreal, np.iscomplexobj, np.isrealobj, np.result_type):
    FUNCTION_RULES[_f] = _plain(_f)


@register(np.copy)
def _copy(a: Any, order: str = "K", subok: bool = False) -> Any:
    return a  # Duals are immutable


@register(np.atleast_2d)
def _atleast_2d(*arys: Any) -> Any:
    res = [a if ndim(a) >= 2 else np.reshape(a, (1, -1)) for a in arys]
    return res[0] if len(res) == 1 else res


PROTOCOL_RULES["getitem"] = getitem
PROTOCOL_RULES["ufunc_method"] = ufunc_method

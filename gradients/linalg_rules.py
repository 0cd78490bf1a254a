"""Derivative rules for ``numpy.linalg``: solve, inv, det, slogdet, cholesky.

The ``k`` tangent directions ride along as a leading batch axis, so one
``solve`` call handles every direction.  The rules use dispatching numpy
calls, so nested duals give higher derivatives.

* ``solve``: ``dx = A^-1 (db - dA x)``
* ``inv``: ``dY = -Y dA Y``
* ``det``: ``d det = det * tr(A^-1 dA)``; ``slogdet``: ``d logabsdet = tr(A^-1 dA)``
* ``cholesky``: ``dL = L Phi(L^-1 dA L^-T)``, Phi = lower triangle with the diagonal halved

>>> import numpy as np
>>> from plait.gradients import grad
>>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
>>> np.allclose(grad(lambda a: np.linalg.det(a), A), np.linalg.det(A) * np.linalg.inv(A).T)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dual import lift, ndim, new, shape, split, top_tag
from .function_rules import _one, register

__all__: list[str] = []


def _tr_solve(a: Any, t: Any) -> Any:
    """``tr(A^-1 dA)`` for every direction of ``dA``."""
    return np.trace(np.linalg.solve(a, t), axis1=-2, axis2=-1)


@register(np.linalg.solve)
def _solve(a: Any, b: Any) -> Any:
    tag = top_tag((a, b))
    pa, ta = split(a, tag)
    pb, tb = split(b, tag)
    x = np.linalg.solve(pa, pb)
    if ta is None and tb is None:
        return x
    # Work in matrix form: a vector right-hand side becomes one column.
    vector = ndim(pb) == 1
    xs = x[..., None] if vector else x
    rank = ndim(xs)
    rhs: Any = None
    if tb is not None:
        tbs = tb[..., None] if vector else tb
        rhs = lift(tbs, ndim(pb) + vector, rank)
    if ta is not None:
        tax = np.matmul(lift(ta, ndim(pa), max(rank, ndim(pa))), xs)
        rhs = -tax if rhs is None else rhs - tax
    dx = np.linalg.solve(pa, rhs)
    return new(x, dx[..., 0] if vector else dx, tag)


@register(np.linalg.inv)
def _inv(a: Any) -> Any:
    tag, p, t = _one(a, "linalg.inv")
    y = np.linalg.inv(p)
    if t is None:
        return y
    return new(y, -np.matmul(np.matmul(y, t), y), tag)


@register(np.linalg.det)
def _det(a: Any) -> Any:
    tag, p, t = _one(a, "linalg.det")
    y = np.linalg.det(p)
    if t is None:
        return y
    return new(y, y * _tr_solve(p, t), tag)


@register(np.linalg.slogdet)
def _slogdet(a: Any) -> Any:
    tag, p, t = _one(a, "linalg.slogdet")
    res = np.linalg.slogdet(p)
    if t is None:
        return res
    return type(res)(res[0], new(res[1], _tr_solve(p, t), tag))


@register(np.linalg.cholesky)
def _cholesky(a: Any, /, *, upper: bool = False) -> Any:
    tag, p, t = _one(a, "linalg.cholesky")
    low = np.linalg.cholesky(p)
    y = np.swapaxes(low, -1, -2) if upper else low
    if t is None:
        return y
    n = shape(p)[-1]
    inv_l = np.linalg.inv(low)
    x = np.matmul(np.matmul(inv_l, t), np.swapaxes(inv_l, -1, -2))
    phi = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
    dl = np.matmul(low, x * phi)
    return new(y, np.swapaxes(dl, -1, -2) if upper else dl, tag)

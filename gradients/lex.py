"""Lexicographic comparisons of dual numbers, for coupled samplers (GradInf §2.2).

Coupling formulas compare two parameters that are equal in value and differ
only in their perturbation, so plain comparisons (which look at the primal
only) are wrong there.  These helpers compare by primal first, then by the
tangent directions in order; a tangent entry counts only beyond ``tol``
(1e-15 by default).  They work elementwise and on plain numbers, whose
tangent is zero.

>>> from plait.gradients import Dual, perturbation, lex_gt, lexabs
>>> with perturbation() as tag:
...     w = Dual(0.0, [-2.0], tag=tag)
...     print(bool(lex_gt(w, 0.0)), lexabs(w).tangent)
False [2.]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dual import Dual, new, shape, stop_gradient, top_tag

__all__ = ["lex_sign", "lex_gt", "lex_lt", "lex_ge", "lex_le", "lexabs", "safe_mul", "safe_div", "is_zero"]

TOL = 1e-15


def _top(x: Any) -> tuple[Any, ...]:
    """``(plain value, plain tangent rows or None)`` at the outermost level."""
    if type(x) is Dual:
        t = x.tangent
        return stop_gradient(x), (None if t is None else np.asarray(stop_gradient(t)))
    return np.asarray(x, dtype=float), None


def lex_sign(x: Any, tol: float = TOL) -> Any:
    """-1, 0 or 1 per element: the sign of the primal, or else of the first tangent beyond ``tol``.

    >>> from plait.gradients import Dual, perturbation, lex_sign
    >>> with perturbation() as tag:
    ...     print(lex_sign(Dual(0.0, [0.0, 3.0], tag=tag)), lex_sign(-2.0))
    1 -1
    """
    p, t = _top(x)
    sign = np.sign(p).astype(int)
    if t is not None:
        decided = sign != 0
        for row in t:
            s = np.where(row > tol, 1, np.where(row < -tol, -1, 0))
            sign = np.where(decided, sign, s)
            decided = sign != 0
    return sign[()] if np.ndim(sign) == 0 else sign


def lex_gt(x: Any, y: Any, tol: float = TOL) -> Any:
    """``x > y`` lexicographically (primal, then tangents).

    >>> from plait.gradients import Dual, perturbation, lex_gt
    >>> with perturbation() as tag:
    ...     print(bool(lex_gt(Dual(1.0, [1e-3], tag=tag), 1.0)))
    True
    """
    return lex_sign(x - y, tol) > 0


def lex_lt(x: Any, y: Any, tol: float = TOL) -> Any:
    """``x < y`` lexicographically.

    >>> from plait.gradients import lex_lt
    >>> bool(lex_lt(1.0, 2.0))
    True
    """
    return lex_sign(x - y, tol) < 0


def lex_ge(x: Any, y: Any, tol: float = TOL) -> Any:
    """``x >= y`` lexicographically.

    >>> from plait.gradients import lex_ge
    >>> bool(lex_ge(2.0, 2.0))
    True
    """
    return lex_sign(x - y, tol) >= 0


def lex_le(x: Any, y: Any, tol: float = TOL) -> Any:
    """``x <= y`` lexicographically.

    >>> from plait.gradients import lex_le
    >>> bool(lex_le(3.0, 2.0))
    False
    """
    return lex_sign(x - y, tol) <= 0


def lexabs(x: Any, tol: float = TOL) -> Any:
    """``x`` if lexicographically positive, else ``-x``: keeps the tangent of a zero-valued weight.

    >>> from plait.gradients import Dual, perturbation, lexabs
    >>> with perturbation() as tag:
    ...     print(lexabs(Dual(0.0, [-0.5], tag=tag)).tangent)
    [0.5]
    """
    return np.where(lex_sign(x, tol) >= 0, x, -x)


def safe_mul(x: Any, y: Any) -> Any:
    """``x * y``, but exactly zero (no tangent) where both primals are zero.

    >>> from plait.gradients import Dual, perturbation, safe_mul
    >>> with perturbation() as tag:
    ...     print(safe_mul(Dual(0.0, [1.0], tag=tag), Dual(0.0, [2.0], tag=tag)))
    0.0
    """
    both = (stop_gradient(x) == 0) & (stop_gradient(y) == 0)
    if np.all(both):
        return np.zeros(np.broadcast_shapes(np.shape(stop_gradient(x)), np.shape(stop_gradient(y))))[()]
    return np.where(both, 0.0, x * y)


def safe_div(x: Any, y: Any, tol: float = TOL) -> Any:
    """``x / y``; where both primals are zero, the ratio of tangents (L'Hôpital), as a constant.

    With several directions, the first direction in which ``y`` moves
    (beyond ``tol``) is used.

    >>> from plait.gradients import Dual, perturbation, safe_div
    >>> with perturbation() as tag:
    ...     print(safe_div(Dual(0.0, [1.0], tag=tag), Dual(0.0, [4.0], tag=tag)))
    0.25
    """
    px, tx = _top(x)
    py, ty = _top(y)
    both = (px == 0) & (py == 0)
    if not np.any(both):
        return x / y
    shp = np.broadcast_shapes(np.shape(px), np.shape(py))
    ratio = np.full(shp, np.nan)
    if ty is not None:
        k = ty.shape[0]
        tx = np.zeros((k,) + np.shape(px)) if tx is None else tx
        decided = np.zeros(shp, dtype=bool)
        for j in range(k):
            moves = (np.abs(ty[j]) > tol) & ~decided
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(moves, tx[j] / ty[j], ratio)
            decided = decided | moves
    if np.all(both):
        return ratio[()]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(both, ratio, x / np.where(both, 1.0, y))


def is_zero(w: Any, tol: float = TOL) -> Any:
    """True where the primal is exactly zero and every tangent entry is at most ``tol`` in size.

    >>> from plait.gradients import Dual, perturbation, is_zero
    >>> with perturbation() as tag:
    ...     print(bool(is_zero(Dual(0.0, [0.0], tag=tag))), bool(is_zero(Dual(0.0, [1.0], tag=tag))))
    True False
    """
    p, t = _top(w)
    zero = p == 0
    if t is not None:
        zero = zero & np.all(np.abs(t) <= tol, axis=0)
    return zero[()] if np.ndim(zero) == 0 else zero

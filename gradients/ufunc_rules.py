"""Derivative rules for elementwise ufuncs: numpy's and the scipy.special ones plait uses.

A rule is ``rule(y, primals, tangents) -> tangent or None``.  Most are built
by :func:`elementwise` from one partial derivative per input, written with
dispatching numpy calls so that they are themselves differentiable (nested
duals give higher derivatives).  Each tangent is lifted to the output's rank
after the direction axis before it meets a partial (so a ``(k, 3)`` tangent
never broadcasts against a ``(2, 3)`` primal by accident), and multiplied by
:func:`~.dual.zmul`, so a zero tangent entry stays zero where the partial is
infinite.

Conventions: ``d|x|`` is 0 at 0; ties in ``maximum``/``minimum``/``fmax``/
``fmin`` split the derivative 0.5/0.5; piecewise-constant functions
(``sign``, ``floor``, ``rint``...) and comparisons return plain values;
``x ** y`` has partial 0 in ``y`` where ``x == 0``.

>>> import numpy as np
>>> from plait.gradients import diff
>>> float(diff(np.abs, 0.0)), float(diff(lambda x: np.maximum(x, 0.0), 0.0))
(0.0, 0.5)
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import scipy.special as sc

from ..errors import NoDerivativeRuleError
from . import buffers
from .dual import FACTORED_RULES, PLAIN_UFUNCS, UFUNC_RULES, fit, lift, ndim, shape, stop_gradient, zmul
from .factored import Factored, plus, start

__all__: list[str] = []

ONE = object()  # partial == 1: add the tangent as is
MINUS_ONE = object()  # partial == -1: subtract it

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_SQRT_PI_2 = 2.0 / math.sqrt(math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def elementwise(*partials: Any) -> Callable[..., Any]:
    """A rule from one partial derivative ``partial(y, *primals)`` per input."""

    def rule(y: Any, ps: list[Any], ts: list[Any]) -> Any:
        ys = y.shape  # ndarray, numpy scalar or Dual: all have .shape
        nd = len(ys)
        total = None
        for i, t in enumerate(ts):
            if t is None:
                continue
            d = partials[i]
            if type(t) is Factored:
                t = _factored_term(t, d, y, ps, ys)
            elif d is MINUS_ONE:
                t = -lift(t, ndim(ps[i]), nd)
            elif d is ONE:
                t = lift(t, ndim(ps[i]), nd)
            else:
                dv = d(y, *ps)
                if nd and type(t) is np.ndarray and t.ndim == 1 and type(dv) is np.ndarray and dv.ndim:
                    # The tangent of a 0-d primal times an array: k coefficients
                    # times one array, kept factored (see .factored).
                    t = start(t, _owned(dv, ps), ys)
                else:
                    t = zmul(lift(t, ndim(ps[i]), nd), dv)
            if total is None:
                total = t
            else:
                total = _add(total, t, nd, ys)
        if total is None:
            return None
        if type(total) is Factored:
            return total if total.primal_shape == ys else total.broadcast(ys)
        return fit(total, ys)

    FACTORED_RULES.add(rule)
    rule.partials = partials  # type: ignore[attr-defined]  # reverse mode reuses them (.reverse_rules)
    return rule


def _factored_term(t: Factored, d: Any, y: Any, ps: list[Any], ys: tuple[Any, ...]) -> Any:
    if d is ONE:
        return t
    if d is MINUS_ONE:
        return t.negated()
    nd = len(ys)
    dv = d(y, *ps)
    if type(dv) is np.ndarray or type(dv) is float or isinstance(dv, np.floating):
        r = t.times(_owned(dv, ps), ys)
        return r if type(r) is Factored else lift(r, ndim(r) - 1, nd)
    return zmul(_expanded(t, nd), dv)  # a nested Dual partial: expand


def _owned(dv: Any, ps: list[Any]) -> Any:
    """``dv``, copied if it is one of the caller's writeable input arrays.

    A factored tangent keeps its partials until it is read; a partial that
    is the user's own array (``x`` in ``theta * x``) would otherwise change
    under it if the user mutated ``x`` in between.  The copy goes into a
    reused block when large (:mod:`.buffers`): a fresh one page-faults.
    """
    if type(dv) is np.ndarray:
        for p in ps:
            if dv is p and _writable(dv):
                return buffers.copy(dv)
    return dv


def _writable(a: np.ndarray) -> bool:
    """Whether ``a``'s memory can still be written: through ``a`` or an array it views.

    A read-only view (``np.broadcast_to(x, ...)``) of a writeable ``x``
    changes when ``x`` does.  Memory behind another object (a buffer) is
    taken to be writable; only bytes are not.

    >>> import numpy as np
    >>> x = np.zeros(3)
    >>> _writable(np.broadcast_to(x, (2, 3)))  # read-only itself, not so x
    True
    >>> x.flags.writeable = False
    >>> _writable(np.broadcast_to(x, (2, 3))), _writable(x[1:])
    (False, False)
    """
    view: Any = a
    while type(view) is np.ndarray:
        if view.flags.writeable:
            return True
        view = view.base
    return view is not None and type(view) is not bytes


def _add(a: Any, b: Any, nd: int, out_shape: tuple[Any, ...]) -> Any:
    """The sum of two terms of an elementwise rule, either of which may be factored."""
    if type(a) is Factored and type(b) is Factored:
        r = plus(a, b, out_shape)
        if r is not None:
            return r
    if type(a) is Factored:
        a = _expanded(a, nd)
    if type(b) is Factored:
        b = _expanded(b, nd)
    return a + b


def _expanded(t: Factored, nd: int) -> Any:
    return lift(t.materialise(), len(t.primal_shape), nd)


def constant_in(name: str, position: int) -> Callable[..., Any]:
    """A partial that refuses: the function is not differentiated in this argument."""

    def partial(y: Any, *ps: Any) -> Any:
        raise NoDerivativeRuleError(
            f"{name}: no derivative rule with respect to argument {position} (only the "
            "other argument may carry a derivative)"
        )

    return partial


def _register(ufuncs: Any, rule: Callable[..., Any]) -> None:
    for u in ufuncs if isinstance(ufuncs, tuple) else (ufuncs,):
        UFUNC_RULES[u] = rule


def _unary(ufuncs: Any, partial: Any) -> None:
    _register(ufuncs, elementwise(partial))


def _quiet(f: Callable[..., Any]) -> Callable[..., Any]:
    """Partials with poles: IEEE values (inf, nan) without RuntimeWarnings."""

    def g(*a: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return f(*a)

    return g


# -- arithmetic ----------------------------------------------------------------------
_register(np.add, elementwise(ONE, ONE))
_register(np.subtract, elementwise(ONE, MINUS_ONE))
_register(np.multiply, elementwise(lambda y, a, b: b, lambda y, a, b: a))
_register(np.true_divide, elementwise(
    _quiet(lambda y, a, b: 1.0 / b), _quiet(lambda y, a, b: -y / b)))
_unary(np.negative, MINUS_ONE)
_unary(np.positive, ONE)
_unary(np.conjugate, ONE)
_unary(np.square, lambda y, x: 2.0 * x)
_unary(np.reciprocal, lambda y, x: -(y * y))
_unary((np.absolute, np.fabs), lambda y, x: np.sign(x))
_unary(np.sqrt, _quiet(lambda y, x: 0.5 / y))
_unary(np.cbrt, _quiet(lambda y, x: 1.0 / (3.0 * y * y)))


def _power_base(y: Any, x: Any, p: Any) -> Any:
    # p * x**(p-1), with the exact 0 for p == 0 (d/dx x**0 = 0 even at x = 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p == 0, 0.0, p * np.power(x, p - 1.0))


def _power_exponent(y: Any, x: Any, p: Any) -> Any:
    # y * log x; at x == 0 the partial is taken as 0 (0**p is 0 or 1 on p > 0).
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero, 0.0, y * np.log(np.where(zero, 1.0, x)))


_register((np.power, np.float_power), elementwise(_power_base, _power_exponent))


def _remainder_divisor(y: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.floor_divide(_plain(a), _plain(b))


def _fmod_divisor(y: Any, a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.trunc(np.true_divide(_plain(a), _plain(b)))


def _plain(x: Any) -> Any:
    return stop_gradient(x)


_register(np.remainder, elementwise(ONE, _remainder_divisor))
_register(np.fmod, elementwise(ONE, _fmod_divisor))


def _copysign_magnitude(y: Any, a: Any, b: Any) -> Any:
    return np.where(np.signbit(a) == np.signbit(b), 1.0, -1.0)


_register(np.copysign, elementwise(_copysign_magnitude, lambda y, a, b: 0.0))

# -- exponentials and logarithms ---------------------------------------------------------
_unary(np.exp, lambda y, x: y)
_unary(np.exp2, lambda y, x: y * _LN2)
_unary((np.expm1, sc.expm1), lambda y, x: y + 1.0)
_unary(np.log, _quiet(lambda y, x: 1.0 / x))
_unary(np.log2, _quiet(lambda y, x: 1.0 / (x * _LN2)))
_unary(np.log10, _quiet(lambda y, x: 1.0 / (x * _LN10)))
_unary((np.log1p, sc.log1p), _quiet(lambda y, x: 1.0 / (1.0 + x)))


def _softmax_weight(base_exp: Callable[[Any], Any]) -> Callable[..., Any]:
    # The partials of logaddexp are softmax weights; where both operands are
    # -inf (zero mass in log space) they are taken as 0 rather than NaN.
    @_quiet
    def partial(y: Any, own: Any, other: Any) -> Any:
        return np.where(y == -np.inf, 0.0, base_exp(own - y))

    return partial


_register(np.logaddexp, elementwise(
    _softmax_weight(np.exp), lambda y, a, b: _softmax_weight(np.exp)(y, b, a)))
_register(np.logaddexp2, elementwise(
    _softmax_weight(np.exp2), lambda y, a, b: _softmax_weight(np.exp2)(y, b, a)))

# -- trigonometric and hyperbolic -----------------------------------------------------------
_unary(np.sin, lambda y, x: np.cos(x))
_unary(np.cos, lambda y, x: -np.sin(x))
_unary(np.tan, lambda y, x: 1.0 + y * y)
_unary(np.arcsin, _quiet(lambda y, x: 1.0 / np.sqrt(1.0 - x * x)))
_unary(np.arccos, _quiet(lambda y, x: -1.0 / np.sqrt(1.0 - x * x)))
_unary(np.arctan, lambda y, x: 1.0 / (1.0 + x * x))
_unary(np.sinh, lambda y, x: np.cosh(x))
_unary(np.cosh, lambda y, x: np.sinh(x))
_unary(np.tanh, lambda y, x: 1.0 - y * y)
_unary(np.arcsinh, lambda y, x: 1.0 / np.sqrt(x * x + 1.0))
_unary(np.arccosh, _quiet(lambda y, x: 1.0 / np.sqrt(x * x - 1.0)))
_unary(np.arctanh, _quiet(lambda y, x: 1.0 / (1.0 - x * x)))
_unary((np.deg2rad, np.radians), lambda y, x: math.pi / 180.0)
_unary((np.rad2deg, np.degrees), lambda y, x: 180.0 / math.pi)
_register(np.arctan2, elementwise(
    _quiet(lambda y, a, b: b / (a * a + b * b)), _quiet(lambda y, a, b: -a / (a * a + b * b))))
_register(np.hypot, elementwise(_quiet(lambda y, a, b: a / y), _quiet(lambda y, a, b: b / y)))


# -- kinks: maximum/minimum split ties ------------------------------------------------------
def _extremum(pick_first: Callable[[Any, Any], Any], nan_aware: bool) -> Callable[..., Any]:
    def rule(y: Any, ps: list[Any], ts: list[Any]) -> Any:
        a, b = ps
        ta, tb = ts
        nd = ndim(y)
        pa, pb = _plain(a), _plain(b)
        first = pick_first(pa, pb)
        tie = pa == pb
        if nan_aware:  # fmax/fmin ignore a NaN operand
            first = first | (np.isnan(pb) & ~np.isnan(pa))
        wa = np.where(tie, 0.5, np.where(first, 1.0, 0.0))
        total = None
        if ta is not None:
            total = lift(ta, ndim(a), nd) * wa
        if tb is not None:
            c = lift(tb, ndim(b), nd) * (1.0 - wa)
            total = c if total is None else total + c
        return fit(total, shape(y))

    return rule


_register(np.maximum, _extremum(np.greater, False))
_register(np.minimum, _extremum(np.less, False))
_register(np.fmax, _extremum(np.greater, True))
_register(np.fmin, _extremum(np.less, True))


# -- matmul (a generalised ufunc) --------------------------------------------------------
def _matmul(y: Any, ps: list[Any], ts: list[Any]) -> Any:
    a, b = (p if hasattr(p, "shape") else np.asarray(p) for p in ps)
    ta, tb = ts
    na, nb = ndim(a), ndim(b)
    rank = max(na, nb, 2)
    total = None
    if ta is not None:
        t = ta[:, None, :] if na == 1 else ta
        bb = b[:, None] if nb == 1 else b
        r = np.matmul(lift(t, max(na, 2), rank), bb)
        total = _unvector(r, na, nb)
    if tb is not None:
        aa = a[None, :] if na == 1 else a
        t = tb[..., None] if nb == 1 else tb
        r = _unvector(np.matmul(aa, lift(t, max(nb, 2), rank)), na, nb)
        total = r if total is None else total + r
    return None if total is None else fit(total, shape(y))


def _unvector(r: Any, na: int, nb: int) -> Any:
    """Drop the unit axes that stand in for 1-d operands of matmul."""
    if na == 1:
        r = r[..., 0, :]
    if nb == 1:
        r = r[..., 0]
    return r


_register(np.matmul, _matmul)

# -- scipy.special --------------------------------------------------------------------------


def _zeta_q(y: Any, s: Any, q: Any) -> Any:
    return -s * sc.zeta(s + 1.0, q)


_HURWITZ = getattr(getattr(sc, "_ufuncs", None), "_zeta", None)
if _HURWITZ is not None:  # the ufunc behind scipy.special.zeta(s, q)
    _register(_HURWITZ, elementwise(constant_in("scipy.special.zeta", 0), _quiet(_zeta_q)))

_unary(sc.gammaln, _quiet(lambda y, x: sc.digamma(x)))
_unary(sc.gamma, _quiet(lambda y, x: y * sc.digamma(x)))
_unary((sc.digamma, sc.psi), _quiet(lambda y, x: sc.zeta(2.0, x)))
_register(sc.betaln, elementwise(
    _quiet(lambda y, a, b: sc.digamma(a) - sc.digamma(a + b)),
    _quiet(lambda y, a, b: sc.digamma(b) - sc.digamma(a + b))))
_register(sc.beta, elementwise(
    _quiet(lambda y, a, b: y * (sc.digamma(a) - sc.digamma(a + b))),
    _quiet(lambda y, a, b: y * (sc.digamma(b) - sc.digamma(a + b)))))


def _xlogy_x(y: Any, x: Any, v: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(v)


def _xlogy_y(y: Any, x: Any, v: Any) -> Any:
    # x / v, taken as 0 where x == 0 (xlogy(0, v) is 0 for every v).
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero, 0.0, x / np.where(zero, 1.0, v))


def _xlog1py_x(y: Any, x: Any, v: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log1p(v)


def _xlog1py_y(y: Any, x: Any, v: Any) -> Any:
    zero = x == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(zero, 0.0, x / (1.0 + np.where(zero, 0.0, v)))


_register(sc.xlogy, elementwise(_xlogy_x, _xlogy_y))
_register(sc.xlog1py, elementwise(_xlog1py_x, _xlog1py_y))
_unary(sc.expit, lambda y, x: y * (1.0 - y))
_unary(sc.logit, _quiet(lambda y, x: 1.0 / (x * (1.0 - x))))
_unary(sc.log_expit, lambda y, x: sc.expit(-x))
_unary(sc.erf, lambda y, x: _SQRT_PI_2 * np.exp(-(x * x)))
_unary(sc.erfc, lambda y, x: -_SQRT_PI_2 * np.exp(-(x * x)))
_unary(sc.erfcx, lambda y, x: 2.0 * x * y - _SQRT_PI_2)
_unary(sc.erfinv, _quiet(lambda y, x: (1.0 / _SQRT_PI_2) * np.exp(y * y)))
_unary(sc.ndtr, lambda y, x: np.exp(-0.5 * x * x - _LOG_SQRT_2PI))
# phi(x) / Phi(x) in log space: the naive ratio is 0/0 far in the left tail.
_unary(sc.log_ndtr, lambda y, x: np.exp(-0.5 * x * x - _LOG_SQRT_2PI - y))
_unary(sc.ndtri, _quiet(lambda y, x: np.exp(0.5 * y * y + _LOG_SQRT_2PI)))


def _gammainc_x(y: Any, a: Any, x: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(sc.xlogy(a - 1.0, x) - x - sc.gammaln(a))


_register(sc.gammainc, elementwise(constant_in("scipy.special.gammainc", 0), _gammainc_x))
_register(sc.gammaincc, elementwise(
    constant_in("scipy.special.gammaincc", 0), lambda y, a, x: -_gammainc_x(y, a, x)))

# -- plain results: comparisons, predicates, piecewise-constant functions ------------------
PLAIN_UFUNCS.update({
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
    np.isfinite, np.isinf, np.isnan, np.signbit, np.logical_and, np.logical_or,
    np.logical_xor, np.logical_not, np.sign, np.floor, np.ceil, np.trunc, np.rint,
    np.floor_divide, np.heaviside, np.spacing,
})

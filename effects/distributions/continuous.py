"""Continuous families: Normal, LogNormal, Uniform, Beta, Gamma, Exponential, StudentT.

Scalar draws are Python floats.  Log densities are computed in log space and
agree with ``scipy.stats``; they are ``-inf`` off the support and ``nan`` only
for a NaN value.  Support endpoints are included (a null set), so e.g.
``Exponential(1).log_prob(0.0) == 0.0``.

>>> import numpy as np
>>> from plait.effects.distributions import Normal
>>> x = Normal(0, 1).sample(np.random.default_rng(0))
>>> type(x)
<class 'float'>
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import betaln, gammaln, ndtr, ndtri
from scipy.special import digamma as _digamma
from scipy.special import xlog1py as _xlog1py
from scipy.special import xlogy as _xlogy

from ...ext._densities import normal_log_density
from ...gradients.dual import Dual, stop_gradient
from ...gradients.trace import guarded
from ...gradients.reverse import Reverse, elementwise_node, scalar_node
from .base import (
    SCALARS,
    ArrayLike,
    Distribution,
    as_values,
    detached,
    fail,
    norm_shape,
    out,
    params,
    plain,
    restrict,
    scalar_or_array,
    show,
    xlog1py,
    xlogy,
)
from .reparam import gamma_draw
from .supports import Interval, positive, real, unit_interval

__all__ = ["Normal", "LogNormal", "Uniform", "Beta", "Gamma", "Exponential", "StudentT"]

_INF = math.inf
_NAN = math.nan
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _normal_log_prob(x: float, loc: float, scale: float) -> tuple[Any, Any]:
    """The Normal log density and its partials in ``(x, loc, scale)``: floats, or 0-d duals."""
    z = (x - loc) / scale
    zz = z * z
    lp = zz * -0.5 - _LOG_SQRT_2PI - (np.log(scale) if isinstance(scale, Dual) else math.log(scale))
    dz = z / scale
    return lp, (dz * -1.0, dz, (zz - 1.0) / scale)  # * -1.0, not unary minus: a dual's fast path


def _normal_log_prob_array(x: Any, loc: Any, scale: Any) -> tuple[Any, Any]:
    """:func:`_normal_log_prob` on plain arrays (one reverse-mode node for a batch)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        z = (x - loc) / scale
        lp = z * z * -0.5 - _LOG_SQRT_2PI - np.log(scale)
        dz = z / scale
        return lp, (-dz, dz, (z * z - 1.0) / scale)


def _reverse_inside(x: Any, params: tuple[Any, ...], closed: bool) -> bool:
    """Some argument is a reverse-mode value and ``x`` is a scalar in ``(0, inf)`` (``[0, inf)`` if closed).

    Outside, the generic path gives the support's ``-inf`` (or NaN) as usual.
    """
    if type(x) is not Reverse and all(type(p) is not Reverse for p in params):
        return False
    return guarded(x, _closed_inside if closed else _open_inside)  # type: ignore[no-any-return]  # a guard when traced


def _open_inside(v: Any) -> bool:
    return type(v) in (float, int, np.float64) and 0.0 < v < _INF


def _closed_inside(v: Any) -> bool:
    return type(v) in (float, int, np.float64) and 0.0 <= v < _INF


def _gamma_log_prob(x: float, a: float, r: float) -> tuple[Any, Any]:
    """The Gamma log density for ``x > 0`` and its partials in ``(x, shape, rate)``."""
    y = x * r
    lp = _xlogy(a - 1.0, y) - y - math.lgamma(a) + math.log(r)
    return lp, ((a - 1.0) / x - r, math.log(y) - _digamma(a), a / r - x)


def _exponential_log_prob(x: float, r: float) -> tuple[Any, Any]:
    """The Exponential log density for ``x >= 0`` and its partials in ``(x, rate)``."""
    return -x * r + math.log(r), (-r, 1.0 / r - x)


_MINUS_HALF = np.float64(-0.5)
_PLAIN = (float, np.ndarray)  # parameters that sample() may apply in place
_LOG_SQRT_2PI_F64 = np.float64(_LOG_SQRT_2PI)


def _normal_log_density_numpy(values: Any, loc: Any, scale: Any) -> Any:
    """The Normal log density by numpy (any shapes); ``normal_log_density`` computes the same bits in one pass."""
    z = (values - loc) / scale
    with np.errstate(over="ignore"):
        if type(z) is np.ndarray and z.dtype == np.float64:
            # z is a new array: the same values in place (-z z / 2 is z z (-0.5)
            # exactly: a sign and a power of two, no rounding; and no division)
            # (numpy scalars: an in-place operation with a Python float costs
            # several passes' worth more in numpy 2)
            np.multiply(z, z, out=z)
            z *= _MINUS_HALF
            z -= _LOG_SQRT_2PI_F64
            z -= np.log(scale)
            return z
        return out(-z * z / 2.0 - _LOG_SQRT_2PI - np.log(scale))


class Normal(Distribution):
    """Normal(loc, scale) with ``scale > 0``.

    >>> from plait.effects.distributions import Normal
    >>> d = Normal(0, 1)
    >>> d, round(d.log_prob(0.0), 6), d.support
    (Normal(loc=0.0, scale=1.0), -0.918939, Real (-inf, inf) [continuous])
    """

    __slots__ = ("loc", "scale")
    _param_names = ("loc", "scale")
    _stores_params = True

    def __init__(self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> None:
        # Converting first keeps the comparisons float-only (faster); chained
        # comparisons are False for NaN, so NaN falls through to the checked path.
        if type(loc) in SCALARS and type(scale) in SCALARS:
            loc += 0.0
            scale += 0.0
            if -_INF < loc < _INF and 0.0 < scale < _INF:
                self.loc = loc
                self.scale = scale
                self.batch_shape = ()
                return
        (loc, scale), self.batch_shape = params(
            "Normal", loc=(loc, "real"), scale=(scale, "positive")
        )
        self.loc, self.scale = scalar_or_array(loc), scalar_or_array(scale)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``loc + scale * z`` (a Python float for a scalar draw)."""
        if shape == () and not self.batch_shape:
            return self.loc + self.scale * rng.standard_normal()
        z = rng.standard_normal(norm_shape(shape) + self.batch_shape)
        loc, scale = self.loc, self.scale
        if type(loc) in _PLAIN and type(scale) in _PLAIN:
            # The same values, in place on the new draws (1.0 * z is z exactly).
            if type(scale) is not float or scale != 1.0:
                z *= np.float64(scale) if type(scale) is float else scale
            z += np.float64(loc) if type(loc) is float else loc
            return z
        return loc + scale * z

    def log_prob(self, x: ArrayLike) -> Any:
        """``-z^2/2 - log(sqrt(2 pi)) - log(scale)`` with ``z = (x - loc) / scale``."""
        if type(x) in SCALARS and type(self.loc) is float:
            try:
                z = (x - self.loc) / self.scale
                return -z * z / 2.0 - _LOG_SQRT_2PI - math.log(self.scale)
            except OverflowError:  # an int too large for a float: the array path copes
                pass
        if type(x) is Reverse or type(self.loc) is Reverse or type(self.scale) is Reverse:
            lp = scalar_node((x, self.loc, self.scale), _normal_log_prob)  # one tape node
            if lp is None:
                lp = elementwise_node((as_values(x), self.loc, self.scale), _normal_log_prob_array)
            if lp is not None:
                return lp
        values = as_values(x)
        lp = normal_log_density(values, self.loc, self.scale)  # one compiled pass, where it applies
        return lp if lp is not None else _normal_log_density_numpy(values, self.loc, self.scale)

    @property
    def support(self) -> Any:
        """The real line."""
        return real

    @property
    def mean(self) -> Any:
        """loc."""
        return self.loc

    @property
    def variance(self) -> Any:
        """scale^2."""
        return self.scale * self.scale

    def cdf(self, x: ArrayLike) -> Any:
        """``Phi((x - loc) / scale)``.

        >>> from plait.effects.distributions import Normal
        >>> Normal(1.0, 2.0).cdf(1.0)
        0.5
        """
        return out(ndtr((as_values(x) - self.loc) / self.scale))

    def icdf(self, u: ArrayLike) -> Any:
        """``loc + scale * Phi^-1(u)``.

        >>> from plait.effects.distributions import Normal
        >>> Normal(1.0, 2.0).icdf(0.5)
        1.0
        """
        return out(self.loc + self.scale * ndtri(as_values(u)))


class LogNormal(Distribution):
    """exp of Normal(loc, scale); matches ``scipy.stats.lognorm(s=scale, scale=exp(loc))``.

    >>> from plait.effects.distributions import LogNormal
    >>> d = LogNormal(0, 1)
    >>> round(d.log_prob(1.0), 6), d.log_prob(0.0), d.support
    (-0.918939, -inf, PositiveReal (0, inf) [continuous])
    """

    __slots__ = ("loc", "scale")
    _param_names = ("loc", "scale")

    def __init__(self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> None:
        if type(loc) in SCALARS and type(scale) in SCALARS:
            loc += 0.0
            scale += 0.0
            if -_INF < loc < _INF and 0.0 < scale < _INF:
                self.loc = loc
                self.scale = scale
                self.batch_shape = ()
                return
        (loc, scale), self.batch_shape = params(
            "LogNormal", loc=(loc, "real"), scale=(scale, "positive")
        )
        self.loc, self.scale = scalar_or_array(loc), scalar_or_array(scale)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``exp(loc + scale * z)``."""
        if shape == () and not self.batch_shape:
            v = self.loc + self.scale * rng.standard_normal()
            return math.exp(v) if type(v) is float else np.exp(v)
        return np.exp(self.loc + self.scale * rng.standard_normal(norm_shape(shape) + self.batch_shape))

    def log_prob(self, x: ArrayLike) -> Any:
        """Normal log density of ``log x`` minus ``log x``; ``-inf`` for x <= 0."""
        if type(x) in SCALARS and type(self.loc) is float:
            if not x > 0:
                return _NAN if x != x else -_INF
            if x == _INF:
                return -_INF
            lx = math.log(x)  # fine for any int: math.log takes big ints
            z = (lx - self.loc) / self.scale
            return -z * z / 2.0 - _LOG_SQRT_2PI - math.log(self.scale) - lx
        x = as_values(x)
        inside = (x > 0) & (x < _INF)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_x = np.log(np.where(inside, x, 1.0))
            z = (log_x - self.loc) / self.scale
            lp = -z * z / 2.0 - _LOG_SQRT_2PI - np.log(self.scale) - log_x
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> Any:
        """The positive reals."""
        return positive

    @property
    def mean(self) -> Any:
        """exp(loc + scale^2 / 2)."""
        return scalar_or_array(np.exp(self.loc + np.square(self.scale) / 2))

    @property
    def variance(self) -> Any:
        """(exp(scale^2) - 1) exp(2 loc + scale^2)."""
        s2 = np.square(self.scale)
        return scalar_or_array(np.expm1(s2) * np.exp(2 * self.loc + s2))

    def cdf(self, x: ArrayLike) -> Any:
        """``Phi((log x - loc) / scale)`` (0 for x <= 0).

        >>> from plait.effects.distributions import LogNormal
        >>> LogNormal(0.0, 1.0).cdf(1.0), LogNormal(0.0, 1.0).cdf(-1.0)
        (0.5, 0.0)
        """
        x = as_values(x)
        inside = x > 0
        with np.errstate(divide="ignore"):
            return out(np.where(inside, ndtr((np.log(np.where(inside, x, 1.0)) - self.loc) / self.scale), 0.0))

    def icdf(self, u: ArrayLike) -> Any:
        """``exp(loc + scale * Phi^-1(u))``.

        >>> from plait.effects.distributions import LogNormal
        >>> LogNormal(0.0, 1.0).icdf(0.5)
        1.0
        """
        return out(np.exp(self.loc + self.scale * ndtri(as_values(u))))


class Uniform(Distribution):
    """Uniform on the interval ``[low, high]`` (finite, ``low < high``).

    >>> from plait.effects.distributions import Uniform
    >>> d = Uniform(0, 2)
    >>> round(d.log_prob(1.0), 6), d.log_prob(3.0), d.support
    (-0.693147, -inf, Interval(0, 2) [continuous])
    """

    __slots__ = ("low", "high")
    _param_names = ("low", "high")

    def __init__(self, low: ArrayLike = 0.0, high: ArrayLike = 1.0) -> None:
        if type(low) in SCALARS and type(high) in SCALARS:
            low += 0.0
            high += 0.0
            if -_INF < low < high < _INF:
                self.low = low
                self.high = high
                self.batch_shape = ()
                return
        (lo, hi), self.batch_shape = params("Uniform", low=(low, "real"), high=(high, "real"))
        if (detached(lo) >= detached(hi)).any():
            fail("Uniform", "high", f"> low ({show(low)})", high)
        self.low, self.high = scalar_or_array(lo), scalar_or_array(hi)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``low + (high - low) * u``."""
        if shape == () and not self.batch_shape:
            return self.low + (self.high - self.low) * rng.random()
        return self.low + (self.high - self.low) * rng.random(norm_shape(shape) + self.batch_shape)

    def log_prob(self, x: ArrayLike) -> Any:
        """``-log(high - low)`` on ``[low, high]``, ``-inf`` elsewhere."""
        lo, hi = self.low, self.high
        if type(x) in SCALARS and type(lo) is float:
            if lo <= x <= hi:
                return -math.log(hi - lo)
            return _NAN if x != x else -_INF
        x = as_values(x)
        return out(restrict(-np.log(hi - lo), x, (x >= lo) & (x <= hi)))

    @property
    def support(self) -> Interval:
        """Interval(low, high)."""
        return Interval(plain(self.low), plain(self.high))

    @property
    def mean(self) -> Any:
        """(low + high) / 2."""
        return (self.low + self.high) / 2

    @property
    def variance(self) -> Any:
        """(high - low)^2 / 12."""
        return (self.high - self.low) ** 2 / 12

    def cdf(self, x: ArrayLike) -> Any:
        """``(x - low) / (high - low)`` clipped to [0, 1].

        >>> from plait.effects.distributions import Uniform
        >>> Uniform(0.0, 4.0).cdf(1.0), Uniform(0.0, 4.0).cdf(5.0)
        (0.25, 1.0)
        """
        return out(np.clip((as_values(x) - self.low) / (self.high - self.low), 0.0, 1.0))

    def icdf(self, u: ArrayLike) -> Any:
        """``low + (high - low) u``.

        >>> from plait.effects.distributions import Uniform
        >>> Uniform(0.0, 4.0).icdf(0.25)
        1.0
        """
        return out(self.low + (self.high - self.low) * as_values(u))


class Beta(Distribution):
    """Beta(a, b) on the unit interval, ``a, b > 0``.

    >>> from plait.effects.distributions import Beta
    >>> d = Beta(2, 2)
    >>> round(d.log_prob(0.5), 6), d.log_prob(1.2), d.mean
    (0.405465, -inf, 0.5)
    """

    __slots__ = ("a", "b")
    _param_names = ("a", "b")

    def __init__(self, a: ArrayLike, b: ArrayLike) -> None:
        if type(a) in SCALARS and type(b) in SCALARS:
            a += 0.0
            b += 0.0
            if 0.0 < a < _INF and 0.0 < b < _INF:
                self.a = a
                self.b = b
                self.batch_shape = ()
                return
        (a, b), self.batch_shape = params("Beta", a=(a, "positive"), b=(b, "positive"))
        self.a, self.b = scalar_or_array(a), scalar_or_array(b)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Beta draws; for dual parameters ``g_a / (g_a + g_b)`` from reparameterised Gamma draws."""
        if isinstance(self.a, Dual):
            size = norm_shape(shape) + self.batch_shape
            ga, gb = gamma_draw(rng, self.a, size), gamma_draw(rng, self.b, size)
            return ga / (ga + gb)
        if shape == () and not self.batch_shape:
            return rng.beta(self.a, self.b)
        return rng.beta(self.a, self.b, size=norm_shape(shape) + self.batch_shape)

    def log_prob(self, x: ArrayLike) -> Any:
        """``(a-1) log x + (b-1) log(1-x) - log B(a, b)`` on [0, 1]."""
        a, b = self.a, self.b
        if type(x) in SCALARS and type(a) is float:
            if not 0 <= x <= 1:
                return _NAN if x != x else -_INF
            return xlog1py(b - 1.0, -x) + xlogy(a - 1.0, x) - float(betaln(a, b))
        x = as_values(x)
        inside = (x >= 0) & (x <= 1)
        xs = np.where(inside, x, 0.5)
        with np.errstate(divide="ignore"):
            lp = _xlog1py(b - 1.0, -xs) + _xlogy(a - 1.0, xs) - betaln(a, b)
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> Any:
        """The unit interval."""
        return unit_interval

    @property
    def mean(self) -> Any:
        """a / (a + b)."""
        return self.a / (self.a + self.b)

    @property
    def variance(self) -> Any:
        """a b / ((a + b)^2 (a + b + 1))."""
        s = self.a + self.b
        return self.a * self.b / (s * s * (s + 1))


class Gamma(Distribution):
    """Gamma(shape, rate), density ∝ x^(shape-1) exp(-rate x); ``scipy.stats.gamma(shape, scale=1/rate)``.

    >>> from plait.effects.distributions import Gamma
    >>> d = Gamma(2.0, 3.0)
    >>> round(d.log_prob(1.0), 6), d.log_prob(-1.0), round(d.mean, 6)
    (-0.802775, -inf, 0.666667)
    """

    __slots__ = ("shape", "rate")
    _param_names = ("shape", "rate")

    def __init__(self, shape: ArrayLike, rate: ArrayLike = 1.0) -> None:
        if type(shape) in SCALARS and type(rate) in SCALARS:
            shape += 0.0
            rate += 0.0
            if 0.0 < shape < _INF and 0.0 < rate < _INF:
                self.shape = shape
                self.rate = rate
                self.batch_shape = ()
                return
        (shape, rate), self.batch_shape = params(
            "Gamma", shape=(shape, "positive"), rate=(rate, "positive")
        )
        self.shape, self.rate = scalar_or_array(shape), scalar_or_array(rate)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Gamma draws (``standard_gamma(shape) / rate``; implicitly reparameterised for duals)."""
        if isinstance(self.shape, Dual):
            return gamma_draw(rng, self.shape, norm_shape(shape) + self.batch_shape) / self.rate
        if shape == () and not self.batch_shape:
            return rng.standard_gamma(self.shape) / self.rate
        return rng.standard_gamma(self.shape, size=norm_shape(shape) + self.batch_shape) / self.rate

    def log_prob(self, x: ArrayLike) -> Any:
        """``(shape-1) log(rate x) - rate x - lgamma(shape) + log(rate)`` for x >= 0."""
        a, r = self.shape, self.rate
        if type(x) in SCALARS and type(a) is float:
            try:
                if not 0 <= x < _INF:
                    return _NAN if x != x else -_INF
                y = x * r
                return xlogy(a - 1.0, y) - y - math.lgamma(a) + math.log(r)
            except OverflowError:  # an int too large for a float: the array path copes
                pass
        if _reverse_inside(x, (a, r), closed=False):
            lp = scalar_node((x, a, r), _gamma_log_prob, duals=False)  # one tape node
            if lp is not None:
                return lp
        x = as_values(x)
        inside = (x >= 0) & (x < _INF)
        y = np.where(inside, x, 1.0) * r
        with np.errstate(divide="ignore"):
            lp = _xlogy(a - 1.0, y) - y - gammaln(a) + np.log(r)
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> Any:
        """The positive reals."""
        return positive

    @property
    def mean(self) -> Any:
        """shape / rate."""
        return self.shape / self.rate

    @property
    def variance(self) -> Any:
        """shape / rate^2."""
        return self.shape / (self.rate * self.rate)


class Exponential(Distribution):
    """Exponential(rate), density ``rate exp(-rate x)`` for x >= 0.

    >>> from plait.effects.distributions import Exponential
    >>> d = Exponential(2.0)
    >>> round(d.log_prob(1.0), 6), d.log_prob(-0.5), d.mean
    (-1.306853, -inf, 0.5)
    """

    __slots__ = ("rate",)
    _param_names = ("rate",)

    def __init__(self, rate: ArrayLike = 1.0) -> None:
        if type(rate) in SCALARS:
            rate += 0.0
            if 0.0 < rate < _INF:
                self.rate = rate
                self.batch_shape = ()
                return
        (rate,), self.batch_shape = params("Exponential", rate=(rate, "positive"))
        self.rate = scalar_or_array(rate)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Exponential draws."""
        if shape == () and not self.batch_shape:
            return rng.standard_exponential() / self.rate
        return rng.standard_exponential(norm_shape(shape) + self.batch_shape) / self.rate

    def log_prob(self, x: ArrayLike) -> Any:
        """``log(rate) - rate x`` for x >= 0."""
        r = self.rate
        if type(x) in SCALARS and type(r) is float:
            try:
                if not x >= 0:
                    return _NAN if x != x else -_INF
                return -x * r + math.log(r)
            except OverflowError:  # an int too large for a float: the array path copes
                pass
        if _reverse_inside(x, (r,), closed=True):
            lp = scalar_node((x, r), _exponential_log_prob, duals=False)  # one tape node
            if lp is not None:
                return lp
        x = as_values(x)
        inside = x >= 0
        return out(restrict(-np.where(inside, x, 0.0) * r + np.log(r), x, inside))

    @property
    def support(self) -> Any:
        """The positive reals."""
        return positive

    @property
    def mean(self) -> Any:
        """1 / rate."""
        return 1 / self.rate

    @property
    def variance(self) -> Any:
        """1 / rate^2."""
        return 1 / (self.rate * self.rate)

    def cdf(self, x: ArrayLike) -> Any:
        """``1 - exp(-rate x)`` (0 below 0).

        >>> from plait.effects.distributions import Exponential
        >>> round(Exponential(2.0).cdf(0.5), 6), Exponential(2.0).cdf(-1.0)
        (0.632121, 0.0)
        """
        return out(-np.expm1(-np.maximum(as_values(x), 0.0) * self.rate))

    def icdf(self, u: ArrayLike) -> Any:
        """``-log(1 - u) / rate``.

        >>> from plait.effects.distributions import Exponential
        >>> round(Exponential(2.0).icdf(0.632120558828558), 6)
        0.5
        """
        return out(-np.log1p(-as_values(u)) / self.rate)


def _t_log_norm(df: Any) -> Any:
    """``lgamma((df+1)/2) - lgamma(df/2) - log(df pi)/2``, accurate for every ``df``.

    For large ``df`` the two log-gammas nearly cancel, so there we use the
    asymptotic series of their difference (error < 1e-15 from df = 50 on).
    """
    if type(df) is float:
        if df < 50:
            return math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
        return _t_series(df / 2)
    small = np.minimum(df, 50.0)
    direct = gammaln((small + 1) / 2) - gammaln(small / 2) - 0.5 * np.log(small * np.pi)
    return np.where(df < 50, direct, _t_series(np.maximum(df, 50.0) / 2))


def _t_series(a: Any) -> Any:
    # lgamma(a + 1/2) - lgamma(a) = log(a)/2 - 1/(8a) + 1/(192a^3) - 1/(640a^5) + 17/(14336a^7) + ...
    # and log(a)/2 - log(2 a pi)/2 = -log(2 pi)/2 exactly.
    r = 1 / (a * a)
    return -_LOG_SQRT_2PI - (1 / (8 * a)) * (1 - r * (1 / 24 - r * (1 / 80 - r * (17 / 1792))))


class StudentT(Distribution):
    """Student's t with ``df > 0`` degrees of freedom, location and scale.

    The mean is ``nan`` for ``df <= 1``; the variance is ``inf`` for ``df <= 2``.

    >>> from plait.effects.distributions import StudentT
    >>> d = StudentT(3.0)
    >>> round(d.log_prob(0.0), 6), d.variance, StudentT(1.0).mean
    (-1.000889, 3.0, nan)
    """

    __slots__ = ("df", "loc", "scale")
    _param_names = ("df", "loc", "scale")

    def __init__(self, df: ArrayLike, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> None:
        if type(df) in SCALARS and type(loc) in SCALARS and type(scale) in SCALARS:
            df, loc, scale = df + 0.0, loc + 0.0, scale + 0.0
            if 0.0 < df < _INF and -_INF < loc < _INF and 0.0 < scale < _INF:
                self.df, self.loc, self.scale = df, loc, scale
                self.batch_shape = ()
                return
        (df, loc, scale), self.batch_shape = params(
            "StudentT", df=(df, "positive"), loc=(loc, "real"), scale=(scale, "positive")
        )
        self.df, self.loc, self.scale = (scalar_or_array(v) for v in (df, loc, scale))

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``loc + scale * t``; for duals ``t = z sqrt(df / (2 g))``, g ~ Gamma(df / 2)."""
        if isinstance(self.df, Dual):
            size = norm_shape(shape) + self.batch_shape
            z = rng.standard_normal(size)
            g = gamma_draw(rng, self.df / 2.0, size)
            return self.loc + self.scale * (z * np.sqrt(self.df / (2.0 * g)))
        if shape == () and not self.batch_shape:
            return self.loc + self.scale * rng.standard_t(self.df)
        return self.loc + self.scale * rng.standard_t(self.df, size=norm_shape(shape) + self.batch_shape)

    def log_prob(self, x: ArrayLike) -> Any:
        """``log C(df) - (df+1)/2 log1p(z^2/df) - log(scale)`` with ``z = (x - loc) / scale``."""
        df = self.df
        if type(x) in SCALARS and type(df) is float:
            try:
                z = (x - self.loc) / self.scale
                c = _t_log_norm(df) - math.log(self.scale)
                return c - (df + 1) / 2 * math.log1p(z * z / df)
            except OverflowError:  # an int too large for a float: the array path copes
                pass
        z = (as_values(x) - self.loc) / self.scale
        c = _t_log_norm(df) - np.log(self.scale)
        with np.errstate(over="ignore"):
            return out(c - (df + 1) / 2 * np.log1p(z * z / df))

    @property
    def support(self) -> Any:
        """The real line."""
        return real

    @property
    def mean(self) -> Any:
        """loc for df > 1, else nan."""
        return scalar_or_array(np.where(np.asarray(stop_gradient(self.df)) > 1, self.loc, np.nan))

    @property
    def variance(self) -> Any:
        """scale^2 df / (df - 2) for df > 2, else inf."""
        df = self.df if isinstance(self.df, Dual) else np.asarray(self.df)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(stop_gradient(df) > 2, np.square(self.scale) * df / (df - 2), np.inf)
        return scalar_or_array(v)

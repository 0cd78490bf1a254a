"""Location-scale families beyond the Normal: Cauchy, Laplace, Logistic, HalfNormal, HalfCauchy.

Each is ``loc + scale * Z`` for a standard variable ``Z`` (the half families
have no location), so draws are reparameterised: with dual parameters a
draw carries its pathwise derivative.  Every family also has ``cdf`` and
``icdf``, which :class:`~plait.effects.distributions.Truncated` uses.
Log densities agree with ``scipy.stats`` (``cauchy``, ``laplace``,
``logistic``, ``halfnorm``, ``halfcauchy``).

>>> import numpy as np
>>> from plait.effects.distributions import Cauchy, HalfNormal
>>> round(Cauchy(0.0, 1.0).log_prob(1.0), 6), round(HalfNormal(2.0).mean, 6)
(-1.837877, 1.595769)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import erf, erfinv, expit, log_expit, logit

from .base import (
    ArrayLike,
    Distribution,
    as_values,
    norm_shape,
    out,
    params,
    restrict,
    scalar_or_array,
)
from ...gradients.reverse import scalar_node
from .continuous import _reverse_inside
from .supports import positive, real

__all__ = ["Cauchy", "HalfCauchy", "HalfNormal", "Laplace", "Logistic"]

_LOG_PI = math.log(math.pi)
_LOG_2 = math.log(2.0)
_SQRT_2 = math.sqrt(2.0)


def _full(value: float, shape: tuple[int, ...]) -> Any:
    """``value`` everywhere in the batch (a float for a scalar batch)."""
    return scalar_or_array(np.full(shape, value))


class _Standard(Distribution):
    """A family built on a standard variable ``Z``: subclasses give its draws, log density, cdf and quantiles."""

    __slots__ = ()

    @staticmethod
    def _standard_draw(rng: np.random.Generator, size: tuple[int, ...]) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _standard_log_prob(z: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _standard_cdf(z: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def _standard_icdf(u: Any) -> Any:  # pragma: no cover
        raise NotImplementedError


class _LocationScale(_Standard):
    """``loc + scale * Z`` on the real line; subclasses give the standard variable's functions."""

    __slots__ = ("loc", "scale")
    _param_names = ("loc", "scale")

    def __init__(self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0) -> None:
        (loc, scale), self.batch_shape = params(
            type(self).__name__, loc=(loc, "real"), scale=(scale, "positive")
        )
        self.loc, self.scale = scalar_or_array(loc), scalar_or_array(scale)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``loc + scale * z`` (a Python float for a scalar draw)."""
        z = self._standard_draw(rng, norm_shape(shape) + self.batch_shape)
        return out(self.loc + self.scale * z)

    def log_prob(self, x: ArrayLike) -> Any:
        """``log f((x - loc) / scale) - log(scale)`` with ``f`` the standard density."""
        z = (as_values(x) - self.loc) / self.scale
        with np.errstate(over="ignore", divide="ignore"):
            return out(self._standard_log_prob(z) - np.log(self.scale))

    def cdf(self, x: ArrayLike) -> Any:
        """``P(X <= x)``.

        >>> from plait.effects.distributions import Logistic
        >>> Logistic(1.0, 2.0).cdf(1.0)
        0.5
        """
        return out(self._standard_cdf((as_values(x) - self.loc) / self.scale))

    def icdf(self, u: ArrayLike) -> Any:
        """The quantile function, inverse of ``cdf`` on ``(0, 1)``.

        >>> from plait.effects.distributions import Laplace
        >>> Laplace(1.0, 2.0).icdf(0.5)
        1.0
        """
        return out(self.loc + self.scale * self._standard_icdf(as_values(u)))

    @property
    def support(self) -> Any:
        """The real line."""
        return real


class Cauchy(_LocationScale):
    """Cauchy(loc, scale): ``scipy.stats.cauchy(loc, scale)``; no mean or variance (``nan``).

    >>> from plait.effects.distributions import Cauchy
    >>> d = Cauchy(1.0, 2.0)
    >>> round(d.log_prob(3.0), 6), d.mean, d.support
    (-2.531024, nan, Real (-inf, inf) [continuous])
    """

    __slots__ = ()

    @staticmethod
    def _standard_draw(rng: np.random.Generator, size: tuple[int, ...]) -> Any:
        return rng.standard_cauchy(size)

    @staticmethod
    def _standard_log_prob(z: Any) -> Any:
        return -np.log1p(z * z) - _LOG_PI

    @staticmethod
    def _standard_cdf(z: Any) -> Any:
        return 0.5 + np.arctan(z) / math.pi

    @staticmethod
    def _standard_icdf(u: Any) -> Any:
        return np.tan(math.pi * (u - 0.5))

    @property
    def mean(self) -> Any:
        """Undefined: nan (as scipy.stats)."""
        return _full(math.nan, self.batch_shape)

    @property
    def variance(self) -> Any:
        """Undefined: nan (as scipy.stats)."""
        return _full(math.nan, self.batch_shape)


class Laplace(_LocationScale):
    """Laplace(loc, scale), density ``exp(-|x - loc| / scale) / (2 scale)``.

    >>> from plait.effects.distributions import Laplace
    >>> d = Laplace(0.0, 2.0)
    >>> round(d.log_prob(1.0), 6), d.variance
    (-1.886294, 8.0)
    """

    __slots__ = ()

    @staticmethod
    def _standard_draw(rng: np.random.Generator, size: tuple[int, ...]) -> Any:
        return rng.laplace(0.0, 1.0, size)

    @staticmethod
    def _standard_log_prob(z: Any) -> Any:
        return -np.abs(z) - _LOG_2

    @staticmethod
    def _standard_cdf(z: Any) -> Any:
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(z, 0.0)))

    @staticmethod
    def _standard_icdf(u: Any) -> Any:
        low = u < 0.5
        with np.errstate(divide="ignore"):
            return np.where(low, np.log(2.0 * np.where(low, u, 0.25)),
                            -np.log(2.0 - 2.0 * np.where(low, 0.75, u)))

    @property
    def mean(self) -> Any:
        """loc."""
        return self.loc

    @property
    def variance(self) -> Any:
        """2 scale^2."""
        return 2.0 * self.scale * self.scale


class Logistic(_LocationScale):
    """Logistic(loc, scale): density ``expit(z) expit(-z) / scale`` with ``z = (x - loc) / scale``.

    >>> from plait.effects.distributions import Logistic
    >>> d = Logistic(0.0, 1.0)
    >>> round(d.log_prob(0.0), 6), round(d.variance, 6)
    (-1.386294, 3.289868)
    """

    __slots__ = ()

    @staticmethod
    def _standard_draw(rng: np.random.Generator, size: tuple[int, ...]) -> Any:
        return rng.logistic(0.0, 1.0, size)

    @staticmethod
    def _standard_log_prob(z: Any) -> Any:
        return log_expit(z) + log_expit(-z)

    @staticmethod
    def _standard_cdf(z: Any) -> Any:
        return expit(z)

    @staticmethod
    def _standard_icdf(u: Any) -> Any:
        return logit(u)

    @property
    def mean(self) -> Any:
        """loc."""
        return self.loc

    @property
    def variance(self) -> Any:
        """scale^2 pi^2 / 3."""
        return self.scale * self.scale * (math.pi ** 2 / 3.0)


class _HalfScale(_Standard):
    """``scale * |Z|`` on ``[0, inf)`` for a symmetric standard ``Z``; subclasses give its functions."""

    __slots__ = ("scale",)
    _param_names = ("scale",)

    def __init__(self, scale: ArrayLike = 1.0) -> None:
        (scale,), self.batch_shape = params(type(self).__name__, scale=(scale, "positive"))
        self.scale = scalar_or_array(scale)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``scale * |z|`` (a Python float for a scalar draw)."""
        return out(self.scale * np.abs(self._standard_draw(rng, norm_shape(shape) + self.batch_shape)))

    def log_prob(self, x: ArrayLike) -> Any:
        """``log 2 + log f(x / scale) - log(scale)`` for ``x >= 0``, ``-inf`` below."""
        x = as_values(x)
        inside = x >= 0
        z = np.where(inside, x, 0.0) / self.scale
        with np.errstate(over="ignore", divide="ignore"):
            lp = self._standard_log_prob(z) - np.log(self.scale)
        return out(restrict(lp, x, inside))

    def cdf(self, x: ArrayLike) -> Any:
        """``P(X <= x)`` (0 below 0).

        >>> from plait.effects.distributions import HalfCauchy
        >>> HalfCauchy(2.0).cdf(2.0)
        0.5
        """
        x = as_values(x)
        return out(self._standard_cdf(np.maximum(x, 0.0) / self.scale))

    def icdf(self, u: ArrayLike) -> Any:
        """The quantile function on ``[0, 1)``.

        >>> from plait.effects.distributions import HalfCauchy
        >>> round(HalfCauchy(2.0).icdf(0.5), 12)
        2.0
        """
        return out(self.scale * self._standard_icdf(as_values(u)))

    @property
    def support(self) -> Any:
        """The positive reals."""
        return positive


class HalfNormal(_HalfScale):
    """HalfNormal(scale): ``|Normal(0, scale)|``; ``scipy.stats.halfnorm(scale=scale)``.

    >>> from plait.effects.distributions import HalfNormal
    >>> d = HalfNormal(1.0)
    >>> round(d.log_prob(1.0), 6), d.log_prob(-1.0), round(d.variance, 6)
    (-0.725791, -inf, 0.36338)
    """

    __slots__ = ()

    @staticmethod
    def _standard_draw(rng: np.random.Generator, size: tuple[int, ...]) -> Any:
        return rng.standard_normal(size)

    @staticmethod
    def _standard_log_prob(z: Any) -> Any:
        return z * z * -0.5 + 0.5 * math.log(2.0 / math.pi)

    @staticmethod
    def _standard_cdf(z: Any) -> Any:
        return erf(z / _SQRT_2)

    @staticmethod
    def _standard_icdf(u: Any) -> Any:
        return _SQRT_2 * erfinv(u)

    @property
    def mean(self) -> Any:
        """scale sqrt(2 / pi)."""
        return self.scale * math.sqrt(2.0 / math.pi)

    @property
    def variance(self) -> Any:
        """scale^2 (1 - 2 / pi)."""
        return self.scale * self.scale * (1.0 - 2.0 / math.pi)


def _half_cauchy_log_prob(x: float, scale: float) -> tuple[Any, Any]:
    """The HalfCauchy log density for ``x >= 0`` and its partials in ``(x, scale)``."""
    z = x / scale
    zz = z * z
    lp = _LOG_2 - _LOG_PI - math.log1p(zz) - math.log(scale)
    q = 2.0 / (1.0 + zz) / scale
    return lp, (-z * q, zz * q - 1.0 / scale)


class HalfCauchy(_HalfScale):
    """HalfCauchy(scale): ``|Cauchy(0, scale)|``; ``scipy.stats.halfcauchy(scale=scale)``.

    Its mean and variance are infinite.

    >>> from plait.effects.distributions import HalfCauchy
    >>> d = HalfCauchy(5.0)
    >>> round(d.log_prob(1.0), 6), d.mean
    (-2.100241, inf)
    """

    __slots__ = ()

    def log_prob(self, x: ArrayLike) -> Any:
        """As :meth:`_HalfScale.log_prob`; one reverse-mode node for a scalar inside the support."""
        if _reverse_inside(x, (self.scale,), closed=True):
            lp = scalar_node((x, self.scale), _half_cauchy_log_prob, duals=False)
            if lp is not None:
                return lp
        return super().log_prob(x)

    @staticmethod
    def _standard_draw(rng: np.random.Generator, size: tuple[int, ...]) -> Any:
        return rng.standard_cauchy(size)

    @staticmethod
    def _standard_log_prob(z: Any) -> Any:
        return _LOG_2 - _LOG_PI - np.log1p(z * z)

    @staticmethod
    def _standard_cdf(z: Any) -> Any:
        return np.arctan(z) * (2.0 / math.pi)

    @staticmethod
    def _standard_icdf(u: Any) -> Any:
        return np.tan(u * (math.pi / 2.0))

    @property
    def mean(self) -> Any:
        """Infinite (as scipy.stats)."""
        return _full(math.inf, self.batch_shape)

    @property
    def variance(self) -> Any:
        """Infinite (as scipy.stats)."""
        return _full(math.inf, self.batch_shape)

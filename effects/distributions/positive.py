"""Families on the positive reals beyond the Gamma: InverseGamma and Weibull.

Both have reparameterised draws: the InverseGamma's is ``scale / g`` with
``g`` an implicitly reparameterised Gamma draw, the Weibull's is
``scale * e^(1 / shape)`` with ``e`` a standard exponential draw.  Log
densities agree with ``scipy.stats.invgamma`` and ``scipy.stats.weibull_min``.

>>> import numpy as np
>>> from plait.effects.distributions import InverseGamma, Weibull
>>> round(InverseGamma(3.0, 2.0).mean, 6), round(Weibull(2.0, 1.0).log_prob(1.0), 6)
(1.0, -0.306853)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gamma as gamma_fn
from scipy.special import gammaln, xlogy

from ...gradients.dual import stop_gradient
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
from .reparam import gamma_draw
from .supports import positive

__all__ = ["InverseGamma", "Weibull"]


def _where_above(param: Any, bound: float, value: Any, otherwise: float) -> Any:
    """``value`` where ``param > bound``, else ``otherwise`` (moments that exist only for large shapes)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return scalar_or_array(np.where(np.asarray(stop_gradient(param)) > bound, value, otherwise))


class InverseGamma(Distribution):
    """InverseGamma(shape, scale): ``1 / X`` for ``X ~ Gamma(shape, rate=scale)``.

    Density ``scale^shape x^(-shape-1) exp(-scale / x) / Gamma(shape)``;
    ``scipy.stats.invgamma(shape, scale=scale)``.  The mean is infinite for
    ``shape <= 1``, the variance for ``shape <= 2``.

    >>> from plait.effects.distributions import InverseGamma
    >>> d = InverseGamma(3.0, 2.0)
    >>> round(d.log_prob(1.0), 6), d.log_prob(0.0), d.variance
    (-0.613706, -inf, 1.0)
    """

    __slots__ = ("scale", "shape")
    _param_names = ("shape", "scale")

    def __init__(self, shape: ArrayLike, scale: ArrayLike = 1.0) -> None:
        (shape, scale), self.batch_shape = params(
            "InverseGamma", shape=(shape, "positive"), scale=(scale, "positive")
        )
        self.shape, self.scale = scalar_or_array(shape), scalar_or_array(scale)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``scale / g``, ``g ~ Gamma(shape, 1)`` (implicitly reparameterised for duals)."""
        return out(self.scale / gamma_draw(rng, self.shape, norm_shape(shape) + self.batch_shape))

    def log_prob(self, x: ArrayLike) -> Any:
        """``shape log(scale) - lgamma(shape) - (shape + 1) log x - scale / x`` for ``x > 0``."""
        x = as_values(x)
        inside = (x > 0) & (x < math.inf)
        xs = np.where(inside, x, 1.0)
        a, b = self.shape, self.scale
        lp = a * np.log(b) - gammaln(a) - (a + 1.0) * np.log(xs) - b / xs
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> Any:
        """The positive reals."""
        return positive

    @property
    def mean(self) -> Any:
        """scale / (shape - 1) for shape > 1, else inf."""
        return _where_above(self.shape, 1.0, self.scale / (self.shape - 1.0), math.inf)

    @property
    def variance(self) -> Any:
        """scale^2 / ((shape - 1)^2 (shape - 2)) for shape > 2, else inf."""
        a = self.shape
        return _where_above(a, 2.0, self.scale * self.scale / ((a - 1.0) * (a - 1.0) * (a - 2.0)), math.inf)


class Weibull(Distribution):
    """Weibull(shape, scale): density ``(k/s) (x/s)^(k-1) exp(-(x/s)^k)`` with ``k = shape``, ``s = scale``.

    ``scipy.stats.weibull_min(shape, scale=scale)``; ``cdf`` and ``icdf`` are
    closed-form (so it can be :class:`~plait.effects.distributions.Truncated`).

    >>> from plait.effects.distributions import Weibull
    >>> d = Weibull(1.0, 2.0)
    >>> round(d.log_prob(1.0), 6), d.mean, round(d.icdf(d.cdf(3.0)), 12)
    (-1.193147, 2.0, 3.0)
    """

    __slots__ = ("scale", "shape")
    _param_names = ("shape", "scale")

    def __init__(self, shape: ArrayLike, scale: ArrayLike = 1.0) -> None:
        (shape, scale), self.batch_shape = params(
            "Weibull", shape=(shape, "positive"), scale=(scale, "positive")
        )
        self.shape, self.scale = scalar_or_array(shape), scalar_or_array(scale)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``scale * e^(1 / shape)`` with ``e`` standard exponential (reparameterised)."""
        e = rng.standard_exponential(norm_shape(shape) + self.batch_shape)
        return out(self.scale * e ** (1.0 / self.shape))

    def log_prob(self, x: ArrayLike) -> Any:
        """``log(k / s) + (k - 1) log(x / s) - (x / s)^k`` for ``x >= 0``."""
        x = as_values(x)
        inside = (x >= 0) & (x < math.inf)
        z = np.where(inside, x, 1.0) / self.scale
        k = self.shape
        with np.errstate(divide="ignore"):
            lp = np.log(k) - np.log(self.scale) + xlogy(k - 1.0, z) - z ** k
        return out(restrict(lp, x, inside))

    def cdf(self, x: ArrayLike) -> Any:
        """``1 - exp(-(x / scale)^shape)`` (0 below 0)."""
        z = np.maximum(as_values(x), 0.0) / self.scale
        return out(-np.expm1(-(z ** self.shape)))

    def icdf(self, u: ArrayLike) -> Any:
        """``scale (-log(1 - u))^(1 / shape)``."""
        return out(self.scale * (-np.log1p(-as_values(u))) ** (1.0 / self.shape))

    @property
    def support(self) -> Any:
        """The positive reals."""
        return positive

    @property
    def mean(self) -> Any:
        """scale Gamma(1 + 1 / shape)."""
        return out(self.scale * gamma_fn(1.0 + 1.0 / self.shape))

    @property
    def variance(self) -> Any:
        """scale^2 (Gamma(1 + 2 / shape) - Gamma(1 + 1 / shape)^2)."""
        g1 = gamma_fn(1.0 + 1.0 / self.shape)
        return out(self.scale * self.scale * (gamma_fn(1.0 + 2.0 / self.shape) - g1 * g1))


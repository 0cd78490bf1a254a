"""Overdispersed and multivariate counts: NegativeBinomial, BetaBinomial, Multinomial.

Log masses agree with ``scipy.stats`` (``nbinom``, ``betabinom``,
``multinomial``) and are ``-inf`` off the support.  Their real parameters
carry derivatives (the counts and totals cannot).

>>> import numpy as np
>>> from plait.effects.distributions import NegativeBinomial
>>> d = NegativeBinomial(mean=4.0, concentration=2.0)
>>> round(d.mean, 12), round(d.variance, 12)
(4.0, 12.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln, gammaln, logsumexp

from ...errors import InvalidParameterError
from ...gradients.dual import Dual, stop_gradient
from ...gradients.special import logsumexp as _dual_logsumexp
from .base import (
    ArrayLike,
    Distribution,
    as_values,
    fail,
    norm_shape,
    out,
    params,
    plain,
    restrict,
    scalar_or_array,
    validate,
)
from .discrete import _integral, _xlogp
from .supports import CountVector, IntRange, nonnegative_integer

__all__ = ["BetaBinomial", "Multinomial", "NegativeBinomial"]


def _both(family: str, **given: Any) -> None:
    """Refuse a parameterisation given in part."""
    missing = [name for name, v in given.items() if v is None]
    if missing:
        shown = ", ".join(f"{name}={v!r}" for name, v in given.items())
        raise InvalidParameterError(f"{family}: give both {' and '.join(given)}, got {shown}")


def _one_of(family: str, given: dict[str, Any]) -> None:
    """Refuse anything but exactly one parameterisation."""
    chosen = [name for name, v in given.items() if v is not None]
    if len(chosen) != 1:
        raise InvalidParameterError(
            f"{family}: give exactly one of {' / '.join(given)}, got {chosen or 'none'}"
        )


class NegativeBinomial(Distribution):
    """Failures before the ``n``-th success, success probability ``p``; or by mean and concentration.

    ``NegativeBinomial(n, p)`` is ``scipy.stats.nbinom(n, p)``: mass
    ``C(k + n - 1, k) p^n (1 - p)^k`` with real ``n > 0`` and ``p`` in (0, 1].
    ``NegativeBinomial(mean=mu, concentration=phi)`` is Stan's
    ``neg_binomial_2``: mean ``mu``, variance ``mu + mu^2 / phi`` (``n = phi``,
    ``p = phi / (phi + mu)``, its log masses computed from ``mu`` and ``phi``
    directly).

    >>> from plait.effects.distributions import NegativeBinomial
    >>> d = NegativeBinomial(3.0, 0.5)
    >>> round(d.log_prob(2), 6), d.log_prob(-1), d.mean
    (-1.673976, -inf, 3.0)
    """

    __slots__ = ("_log_p", "_log_q", "n", "p")
    is_discrete = True
    _param_names = ("n", "p")

    def __init__(self, n: ArrayLike = None, p: ArrayLike = None, *,
                 mean: ArrayLike = None, concentration: ArrayLike = None) -> None:
        name = "NegativeBinomial"
        by_mean = mean is not None or concentration is not None
        if by_mean and (n is not None or p is not None):
            raise InvalidParameterError(f"{name}: give (n, p) or (mean, concentration), not both")
        if not by_mean:
            _both(name, n=n, p=p)
            (n, p), self.batch_shape = params(name, n=(n, "positive"), p=(p, "success"))
            with np.errstate(divide="ignore"):
                self._log_p, self._log_q = np.log(p), np.log1p(-p)
        else:
            _both(name, mean=mean, concentration=concentration)
            (mu, n), self.batch_shape = params(name, mean=(mean, "positive"), concentration=(concentration, "positive"))
            log_total = np.log(mu + n)
            self._log_p, self._log_q = np.log(n) - log_total, np.log(mu) - log_total
            p = n / (mu + n)
        self.n, self.p = scalar_or_array(n), scalar_or_array(p)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Counts (a Python int for a scalar draw)."""
        size = norm_shape(shape) + self.batch_shape
        k = rng.negative_binomial(plain(self.n), plain(self.p), size=size)
        return int(k) if size == () else k.astype(np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``lgamma(k + n) - lgamma(k + 1) - lgamma(n) + n log p + k log(1 - p)`` for integers ``k >= 0``."""
        x = as_values(x)
        inside = _integral(x) & (x >= 0)
        k = np.where(inside, x, 0.0)
        n = self.n
        with np.errstate(invalid="ignore"):
            lp = gammaln(k + n) - gammaln(k + 1.0) - gammaln(n) + n * self._log_p + _xlogp(k, self._log_q)
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> IntRange:
        """The naturals, shrunk to {0} for p = 1."""
        p = plain(self.p)
        if type(p) is float:
            return IntRange(0, 0) if p == 1 else nonnegative_integer
        return IntRange(0, np.where(p == 1, 0.0, np.inf))

    @property
    def mean(self) -> Any:
        """n (1 - p) / p."""
        return out(self.n * np.exp(self._log_q - self._log_p))

    @property
    def variance(self) -> Any:
        """n (1 - p) / p^2."""
        return out(self.n * np.exp(self._log_q - 2.0 * self._log_p))


class BetaBinomial(Distribution):
    """BetaBinomial(n, a, b): Binomial(n, p) with ``p ~ Beta(a, b)``; ``scipy.stats.betabinom(n, a, b)``.

    >>> from plait.effects.distributions import BetaBinomial
    >>> d = BetaBinomial(4, 1.0, 1.0)
    >>> round(d.log_prob(2), 6), d.enumerate_support(), d.mean
    (-1.609438, [0, 1, 2, 3, 4], 2.0)
    """

    __slots__ = ("a", "b", "n")
    is_discrete = True
    has_enumerate_support = True
    _param_names = ("n", "a", "b")

    def __init__(self, n: ArrayLike, a: ArrayLike, b: ArrayLike) -> None:
        (n, a, b), self.batch_shape = params(
            "BetaBinomial", n=(n, "count"), a=(a, "positive"), b=(b, "positive")
        )
        self.n = scalar_or_array(n, integer=True)
        self.a, self.b = scalar_or_array(a), scalar_or_array(b)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Counts: a Beta draw, then a Binomial draw (a Python int for a scalar draw)."""
        size = norm_shape(shape) + self.batch_shape
        k = rng.binomial(self.n, rng.beta(plain(self.a), plain(self.b), size=size))
        return int(k) if size == () else np.asarray(k, dtype=np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``log C(n, k) + log B(k + a, n - k + b) - log B(a, b)`` for ``k`` in {0..n}."""
        x = as_values(x)
        n = self.n
        inside = _integral(x) & (x >= 0) & (x <= n)
        k = np.where(inside, x, 0.0)
        comb = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
        lp = comb + betaln(k + self.a, n - k + self.b) - betaln(self.a, self.b)
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> IntRange:
        """{0..n}."""
        return IntRange(0, self.n)

    @property
    def mean(self) -> Any:
        """n a / (a + b)."""
        return self.n * self.a / (self.a + self.b)

    @property
    def variance(self) -> Any:
        """n a b (a + b + n) / ((a + b)^2 (a + b + 1))."""
        s = self.a + self.b
        return self.n * self.a * self.b * (s + self.n) / (s * s * (s + 1.0))


class Multinomial(Distribution):
    """Counts of ``n`` draws over ``k`` categories, from ``probs`` or ``logits`` (last axis = categories).

    ``event_shape == (k,)``; ``scipy.stats.multinomial(n, probs)``.  ``probs``
    must sum to 1 (within ``1e-8 * k``) and are renormalised exactly.

    >>> from plait.effects.distributions import Multinomial
    >>> d = Multinomial(3, [0.2, 0.3, 0.5])
    >>> round(d.log_prob([1, 1, 1]), 6), d.log_prob([1, 1, 2]), d.mean
    (-1.714798, -inf, array([0.6, 0.9, 1.5]))
    """

    __slots__ = ("event_shape", "logits", "n", "probs")
    is_discrete = True
    _param_names = ("n", "probs")
    _param_event_dims = {"probs": 1}

    def __init__(self, n: ArrayLike, probs: ArrayLike = None, logits: ArrayLike = None) -> None:
        name = "Multinomial"
        _one_of(name, {"probs": probs, "logits": logits})
        (count,), _ = params(name, n=(n, "count"))
        if probs is not None:
            p = validate(name, "probs", probs, "nonnegative")
            _need_vector(p, "probs")
            total = p.sum(axis=-1)
            if (np.abs(stop_gradient(total) - 1.0) > 1e-8 * p.shape[-1]).any():
                fail(name, "probs", "1 along the last axis", probs, verb="sum to")
            with np.errstate(divide="ignore"):
                lg = np.log(p / total[..., None])
        else:
            lg = validate(name, "logits", logits, "real")
            _need_vector(lg, "logits")
        lse = _dual_logsumexp if isinstance(lg, Dual) else logsumexp
        self.logits = lg - lse(lg, axis=-1, keepdims=True)
        self.probs = np.exp(self.logits)
        k = lg.shape[-1]
        self.batch_shape = tuple(np.broadcast_shapes(count.shape, lg.shape[:-1]))
        self.event_shape = (k,)
        self.n = scalar_or_array(count, integer=True)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Count vectors, shape ``shape + batch_shape + (k,)``."""
        size = norm_shape(shape) + self.batch_shape
        probs = np.asarray(stop_gradient(self.probs))
        return rng.multinomial(self.n, probs / probs.sum(-1, keepdims=True), size=size).astype(np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``lgamma(n + 1) - sum lgamma(x_i + 1) + sum x_i log p_i`` where the counts sum to ``n``."""
        x = as_values(x)
        k = self.event_shape[0]
        if x.ndim == 0 or x.shape[-1] != k:
            raise ValueError(f"Multinomial.log_prob: value must have last axis {k}, got shape {x.shape}")
        inside = np.all(_integral(x) & (x >= 0), axis=-1) & (np.sum(stop_gradient(x), axis=-1) == self.n)
        xs = np.where(inside[..., None], x, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = gammaln(self.n + 1.0) - np.sum(gammaln(xs + 1.0), axis=-1) + np.sum(_xlogp(xs, self.logits), axis=-1)
        nan = np.isnan(stop_gradient(x)).any(-1)
        return out(np.where(inside, lp, np.where(nan, np.nan, -np.inf)))

    @property
    def support(self) -> CountVector:
        """CountVector(k, n)."""
        return CountVector(self.event_shape[0], self.n)

    @property
    def mean(self) -> Any:
        """n probs."""
        return np.asarray(self.n)[..., None] * self.probs

    @property
    def variance(self) -> Any:
        """n probs (1 - probs)."""
        return np.asarray(self.n)[..., None] * self.probs * (1.0 - self.probs)


def _need_vector(a: Any, name: str) -> None:
    if a.ndim == 0 or a.shape[-1] == 0:
        fail("Multinomial", name, "a non-empty vector (last axis = categories)", a)


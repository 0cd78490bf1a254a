"""Distributions built from others or from a support: Delta, ImproperUniform, Mixture, Truncated.

* :class:`Delta` is a point mass (a deterministic site; a Delta guide gives
  MAP estimates under :func:`plait.svi`);
* :class:`ImproperUniform` is a flat log density (0) on a support: allowed
  where only densities are needed (:class:`plait.LogDensity`, :func:`plait.mh`
  started from ``init=``), refused with :class:`~plait.errors.ImproperSampleError`
  by every engine that must draw from it;
* :class:`Mixture` is a categorical choice among components, its density the
  log-sum-exp over them (the component is summed out);
* :class:`Truncated` restricts a continuous family with a ``cdf`` to an
  interval and renormalises it.

>>> import numpy as np
>>> from plait.effects.distributions import Mixture, Normal
>>> d = Mixture([0.5, 0.5], [Normal(-1.0, 1.0), Normal(1.0, 1.0)])
>>> round(d.log_prob(0.0), 6), d.mean, d.variance
(-1.418939, 0.0, 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.integrate import quad

from ...errors import EffectTypeError, ImproperSampleError, InvalidParameterError
from ...gradients.dual import Dual, stop_gradient
from ...gradients.special import logsumexp
from .base import (
    ArrayLike,
    Distribution,
    as_values,
    fail,
    norm_shape,
    out,
    plain,
    restrict,
    scalar_or_array,
    show,
)
from .discrete import Categorical
from .supports import FiniteSet, Interval, IntRange, Real, RealVector, Support, real

__all__ = ["Delta", "ImproperUniform", "Mixture", "Truncated"]


def _nan_batch(shape: tuple[int, ...]) -> Any:
    return scalar_or_array(np.full(shape, math.nan))


# --------------------------------------------------------------------------
# Delta
# --------------------------------------------------------------------------

class Delta(Distribution):
    """A point mass at ``value``, with log density ``log_density`` there and ``-inf`` elsewhere.

    The last ``event_dim`` axes of ``value`` are one event.  Like Pyro's and
    NumPyro's Delta it counts as continuous (a guide's ``Delta`` site
    contributes ``log_density``, 0 by default, so SVI maximises the model's
    density: MAP); draws return ``value`` itself, derivatives included.

    >>> from plait.effects.distributions import Delta
    >>> d = Delta(2.5)
    >>> d.sample(None), d.log_prob(2.5), d.log_prob(2.0), d.variance
    (2.5, 0.0, -inf, 0.0)
    """

    __slots__ = ("event_shape", "log_density", "value")
    _param_names = ("value", "log_density")

    def __init__(self, value: ArrayLike, log_density: ArrayLike = 0.0, event_dim: int = 0) -> None:
        v = value if isinstance(value, Dual) else np.asarray(value, dtype=float)
        if np.isnan(stop_gradient(v)).any():
            fail("Delta", "value", "a number, not NaN", value)
        shape = tuple(np.shape(stop_gradient(v)))
        if not 0 <= event_dim <= len(shape):
            fail("Delta", "event_dim", f"between 0 and value's rank {len(shape)}", event_dim)
        self.value = scalar_or_array(v)
        self.log_density = log_density
        split = len(shape) - event_dim
        self.batch_shape, self.event_shape = shape[:split], shape[split:]

    def sample(self, rng: Any, shape: Any = ()) -> Any:
        """``value``, broadcast to ``shape + batch_shape + event_shape`` (no randomness)."""
        size = norm_shape(shape)
        if not size:
            return self.value
        return np.broadcast_to(self.value, size + self.batch_shape + self.event_shape)

    def log_prob(self, x: ArrayLike) -> Any:
        """``log_density`` where ``x`` equals ``value`` (every entry of an event), ``-inf`` elsewhere."""
        xs = np.asarray(stop_gradient(as_values(x)))
        axes = tuple(range(-len(self.event_shape), 0))
        equal = np.all(xs == np.asarray(stop_gradient(self.value)), axis=axes) if axes else xs == stop_gradient(self.value)
        nan = np.any(np.isnan(xs), axis=axes) if axes else np.isnan(xs)
        return out(np.where(equal, self.log_density, np.where(nan, np.nan, -np.inf)))

    @property
    def support(self) -> Support:
        """The real line (or real vectors): a point is a null set of it, as in Pyro."""
        return RealVector(self.event_shape[-1]) if self.event_shape else real

    @property
    def mean(self) -> Any:
        """value."""
        return self.value

    @property
    def variance(self) -> Any:
        """0."""
        return scalar_or_array(np.zeros(self.batch_shape + self.event_shape))


# --------------------------------------------------------------------------
# ImproperUniform
# --------------------------------------------------------------------------

def _event_shape(support: Support) -> tuple[int, ...]:
    """The shape of one value of ``support``: () for scalars, (d,) for vectors, (d, d) for matrices."""
    if support.event_dim == 0:
        return ()
    size = int(getattr(support, "d", getattr(support, "k", 0)))
    return (size,) * support.event_dim


class ImproperUniform(Distribution):
    """The flat (improper) prior on ``support``: log density 0 inside, ``-inf`` outside.

    It has no draws: engines that need one (``simulate``, ``importance``,
    ``smc``, a prior move of ``mh``) raise
    :class:`~plait.errors.ImproperSampleError`.  :class:`plait.LogDensity`
    handles it through ``biject_to(support)`` (e.g. an ordered vector with
    ``plait.supports.ordered_vector(d)``), and ``plait.mh`` runs it from
    ``init=`` with random-walk moves only (``SingleSite(prior_probability=0)``).

    >>> import plait
    >>> from plait.effects.distributions import ImproperUniform
    >>> d = ImproperUniform(plait.supports.ordered_vector(2))
    >>> d.log_prob([0.0, 1.0]), d.log_prob([1.0, 0.0]), d.event_shape
    (0.0, -inf, (2,))
    """

    __slots__ = ("_support", "event_shape")

    def __init__(self, support: Support, batch_shape: Any = ()) -> None:
        if not isinstance(support, Support):
            raise EffectTypeError(
                f"ImproperUniform: support must be a plait support (e.g. plait.supports.real or "
                f"plait.supports.ordered_vector(3)), got {type(support).__name__}: {support!r}"
            )
        self._support = support
        self.batch_shape = norm_shape(batch_shape)
        self.event_shape = _event_shape(support)

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        """Whether the support is discrete (then the density is flat w.r.t. counting measure)."""
        return self._support.is_discrete

    def sample(self, rng: Any, shape: Any = ()) -> Any:
        """Refused: an improper distribution has no draws."""
        raise ImproperSampleError(
            f"{self!r} is an improper flat prior and cannot be sampled; use it where only its "
            "density is needed (plait.LogDensity, or plait.mh with init= and "
            "SingleSite(prior_probability=0)), or give the site a proper prior"
        )

    def log_prob(self, x: ArrayLike) -> Any:
        """0 where ``x`` lies in the support (per event), ``-inf`` outside, ``nan`` for NaN."""
        xs = np.asarray(stop_gradient(as_values(x)))
        inside = np.asarray(self._support.contains(xs))
        axes = tuple(range(-self._support.event_dim, 0))
        nan = np.any(np.isnan(xs), axis=axes) if axes else np.isnan(xs)
        lp = np.where(inside, 0.0, np.where(nan, np.nan, -np.inf))
        return out(np.broadcast_to(lp, np.broadcast_shapes(lp.shape, self.batch_shape)))

    @property
    def support(self) -> Support:
        """The support it is flat on."""
        return self._support

    @property
    def mean(self) -> Any:
        """Undefined: nan."""
        return _nan_batch(self.batch_shape + self.event_shape)

    @property
    def variance(self) -> Any:
        """Undefined: nan."""
        return _nan_batch(self.batch_shape + self.event_shape)

    def __repr__(self) -> str:
        shape = f", batch_shape={self.batch_shape}" if self.batch_shape else ""
        return f"ImproperUniform({self._support!r}{shape})"


# --------------------------------------------------------------------------
# Mixture
# --------------------------------------------------------------------------

class Mixture(Distribution):
    """A mixture: component ``i`` with probability ``weights[i]``, the component summed out.

    ``weights`` is a :class:`Categorical` (``Categorical(logits=...)`` for
    weights that are themselves latent) or a probability vector.
    ``components`` is a list of distributions with one event shape, or one
    distribution whose last batch axis indexes the components (``Normal(mu,
    sigma)`` with ``mu`` of shape ``(k,)``).  ``log_prob`` is
    ``logsumexp_i(log w_i + log p_i(x))``; ``component_log_probs(x)`` gives
    the terms (their softmax is the posterior of the component).  A mixture
    of finite discrete components enumerates the union of their supports.

    >>> from plait.effects.distributions import Mixture, Normal, Poisson
    >>> d = Mixture([0.3, 0.7], Normal([0.0, 5.0], 1.0))
    >>> round(d.log_prob(0.0), 6), round(d.mean, 6)
    (-2.122903, 3.5)
    >>> round(Mixture([0.5, 0.5], [Poisson(1.0), Poisson(4.0)]).variance, 6)
    4.75
    """

    __slots__ = ("components", "event_shape", "weights")
    weights: Categorical
    components: Any

    def __init__(self, weights: Any, components: Any) -> None:
        self.weights = weights if isinstance(weights, Categorical) else Categorical(weights)
        k = self.weights.probs.shape[-1]
        if isinstance(components, Distribution):
            if not components.batch_shape or components.batch_shape[-1] != k:
                _bad_components(f"a distribution whose last batch axis has the {k} components", components)
            shapes = [components.batch_shape[:-1]]
            self.event_shape = components.event_shape
        else:
            components = list(components) if isinstance(components, Sequence) else components
            if not isinstance(components, list) or len(components) != k or not all(
                isinstance(c, Distribution) for c in components
            ):
                _bad_components(f"a list of {k} distributions (one per weight)", components)
            if len({(c.event_shape, c.is_discrete) for c in components}) > 1:
                _bad_components("distributions of one event shape, all discrete or all continuous", components)
            shapes = [c.batch_shape for c in components]
            self.event_shape = components[0].event_shape
        self.components = components
        self.batch_shape = tuple(np.broadcast_shapes(self.weights.batch_shape, *shapes))

    def _parts(self) -> list[Distribution]:
        return self.components if isinstance(self.components, list) else [self.components]

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        """Whether the components are discrete."""
        return self._parts()[0].is_discrete

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        """True when every component has a finite support to enumerate."""
        return isinstance(self.components, list) and all(c.has_enumerate_support for c in self.components)

    def enumerate_support(self) -> list[Any]:
        """The union of the components' supports, sorted.

        >>> from plait.effects.distributions import Bernoulli, Binomial, Mixture
        >>> Mixture([0.5, 0.5], [Bernoulli(0.5), Binomial(3, 0.5)]).enumerate_support()
        [0, 1, 2, 3]
        """
        if not self.has_enumerate_support:
            return super().enumerate_support()
        return sorted({v for c in self.components for v in c.enumerate_support()})

    def component_log_probs(self, x: ArrayLike) -> Any:
        """``log w_i + log p_i(x)`` for each component ``i``, on a new last axis.

        >>> from plait.effects.distributions import Mixture, Normal
        >>> Mixture([0.5, 0.5], [Normal(0.0, 1.0), Normal(0.0, 1.0)]).component_log_probs(0.0).shape
        (2,)
        """
        if isinstance(self.components, list):
            lps = [c.log_prob(x) for c in self.components]
            shape = np.broadcast_shapes(*(np.shape(stop_gradient(lp)) for lp in lps))
            terms = np.stack([np.broadcast_to(lp, shape) for lp in lps], axis=-1)
        else:
            x = as_values(x)
            axis = x.ndim - len(self.event_shape)
            terms = self.components.log_prob(x[(Ellipsis, None) + (slice(None),) * len(self.event_shape)] if axis >= 0 else x)
        return terms + self.weights.logits

    def log_prob(self, x: ArrayLike) -> Any:
        """``logsumexp_i(log w_i + log p_i(x))``."""
        return out(logsumexp(self.component_log_probs(x), axis=-1))

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draw a component for each value, then the value from it."""
        size = norm_shape(shape)
        index = np.asarray(self.weights.sample(rng, size + self.batch_shape))
        if isinstance(self.components, list):
            draws = np.stack([np.broadcast_to(c.sample(rng, size + self.batch_shape),
                                              size + self.batch_shape + self.event_shape) for c in self.components],
                             axis=len(size + self.batch_shape))
        else:
            draws = self.components.sample(rng, size)
            draws = np.broadcast_to(draws, size + self.batch_shape + (draws.shape[len(size) + len(self.batch_shape)],)
                                    + self.event_shape) if np.ndim(stop_gradient(draws)) else draws
        pick = index.reshape(index.shape + (1,) * (1 + len(self.event_shape)))
        chosen = np.take_along_axis(draws, pick, axis=len(size + self.batch_shape))
        chosen = np.squeeze(chosen, axis=len(size + self.batch_shape))
        if np.ndim(stop_gradient(chosen)) == 0:
            return plain(chosen) if not isinstance(chosen, Dual) else chosen
        return chosen

    def _moments(self) -> tuple[Any, Any]:
        """Per-component means and variances on a last component axis (before event axes)."""
        if isinstance(self.components, list):
            means = np.stack([np.broadcast_to(np.asarray(c.mean), np.shape(c.mean)) for c in self.components], -1)
            variances = np.stack([np.asarray(c.variance) for c in self.components], -1)
            return means, variances
        return np.asarray(self.components.mean), np.asarray(self.components.variance)

    @property
    def mean(self) -> Any:
        """``sum_i w_i mean_i``."""
        means, _ = self._moments()
        return scalar_or_array(np.sum(np.asarray(self.weights.probs) * means, axis=-1))

    @property
    def variance(self) -> Any:
        """``sum_i w_i (var_i + mean_i^2) - mean^2`` (law of total variance)."""
        means, variances = self._moments()
        w = np.asarray(self.weights.probs)
        mean = np.sum(w * means, axis=-1)
        return scalar_or_array(np.sum(w * (variances + means * means), axis=-1) - mean * mean)

    @property
    def support(self) -> Support:
        """The components' support, or the smallest interval holding theirs."""
        supports = [c.support for c in self._parts()]
        if all(s == supports[0] for s in supports):
            return supports[0]
        if all(isinstance(s, (Interval, Real)) for s in supports):
            low = min(float(np.min(getattr(s, "low", -math.inf))) for s in supports)
            high = max(float(np.max(getattr(s, "high", math.inf))) for s in supports)
            return real if (low, high) == (-math.inf, math.inf) else Interval(low, high)
        ranges = [s for s in supports if isinstance(s, IntRange)]
        if len(ranges) == len(supports):
            return IntRange(min(np.min(r.low) for r in ranges), max(np.max(r.high) for r in ranges))
        if self.has_enumerate_support:
            union: Support = FiniteSet(self.enumerate_support())
            return union
        raise NotImplementedError(f"Mixture: no common support for {supports!r}")

    def __repr__(self) -> str:
        return f"Mixture(weights={show(self.weights.probs)}, components={self.components!r})"


def _bad_components(need: str, got: Any) -> None:
    raise InvalidParameterError(f"Mixture: components must be {need}, got {got!r}")


# --------------------------------------------------------------------------
# Truncated
# --------------------------------------------------------------------------

class Truncated(Distribution):
    """``base`` restricted to ``[low, high]`` and renormalised (``None``: no bound on that side).

    ``base`` is a scalar continuous family with ``cdf`` and ``icdf`` (Normal,
    LogNormal, Uniform, Exponential, Cauchy, Laplace, Logistic, HalfNormal,
    HalfCauchy, Weibull).  The log density is ``base.log_prob(x) - log(F(high)
    - F(low))`` and draws are ``icdf(F(low) + u (F(high) - F(low)))``, so
    both carry derivatives in the base's parameters (and in the bounds).
    The kept mass is computed as a difference of cdf values, so it must be
    well above ``1e-15``.  ``mean`` and ``variance`` are computed by numerical
    integration (``scipy.integrate.quad``) of the plain values.

    >>> from plait.effects.distributions import Normal, Truncated
    >>> d = Truncated(Normal(0.0, 1.0), low=0.0)
    >>> round(d.log_prob(1.0), 6), d.log_prob(-1.0), d.support
    (-0.725791, -inf, PositiveReal (0, inf) [continuous])
    """

    __slots__ = ("_log_mass", "_lower_cdf", "_mass", "base", "high", "low")
    base: Any
    _param_names = ("base", "low", "high")

    def __init__(self, base: Distribution, low: ArrayLike = None, high: ArrayLike = None) -> None:
        if not isinstance(base, Distribution) or base.is_discrete or base.event_shape or not (
            hasattr(base, "cdf") and hasattr(base, "icdf")
        ):
            raise EffectTypeError(
                "Truncated: base must be a scalar continuous plait distribution with cdf and icdf "
                f"(Normal, Cauchy, Laplace, Logistic, ...), got {base!r}"
            )
        self.base = base
        self.low = -math.inf if low is None else _bound("low", low)
        self.high = math.inf if high is None else _bound("high", high)
        if np.any(np.asarray(stop_gradient(self.low)) >= np.asarray(stop_gradient(self.high))):
            fail("Truncated", "high", f"> low ({show(self.low)})", self.high)
        self._lower_cdf = _cdf(base, self.low, 0.0)
        self._mass = _cdf(base, self.high, 1.0) - self._lower_cdf
        if np.any(np.asarray(stop_gradient(self._mass)) <= 0):
            fail("Truncated", "low, high", f"an interval of positive probability under {base!r}",
                 (plain(self.low), plain(self.high)), verb="bound")
        self._log_mass = np.log(self._mass)
        self.batch_shape = tuple(np.broadcast_shapes(
            base.batch_shape, np.shape(stop_gradient(self.low)), np.shape(stop_gradient(self.high))))

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """``icdf(F(low) + u (F(high) - F(low)))``, kept inside the bounds against rounding."""
        u = rng.random(norm_shape(shape) + self.batch_shape)
        x = self.base.icdf(self._lower_cdf + u * self._mass)
        return out(np.clip(x, self.low, self.high))

    def log_prob(self, x: ArrayLike) -> Any:
        """``base.log_prob(x) - log(F(high) - F(low))`` on ``[low, high]``, ``-inf`` outside."""
        x = as_values(x)
        inside = (x >= self.low) & (x <= self.high)
        lp = self.base.log_prob(np.where(inside, x, _inner_point(self)))
        return out(restrict(lp - self._log_mass, x, inside))

    @property
    def support(self) -> Support:
        """The base's support cut to ``[low, high]``."""
        s = self.base.support
        low = np.maximum(np.asarray(getattr(s, "low", -math.inf)), plain(self.low))
        high = np.minimum(np.asarray(getattr(s, "high", math.inf)), plain(self.high))
        if np.all(low == -math.inf) and np.all(high == math.inf):
            return real
        return Interval(low, high)

    def _integral(self, power: int, centre: Any) -> Any:
        """``E[(X - centre)^power]`` by quadrature, per batch element (plain values)."""
        def one(index: tuple[int, ...]) -> float:
            d = self._element(index)
            c = float(np.asarray(centre)[index]) if np.ndim(centre) else float(centre)
            lo, hi = float(np.asarray(plain(d.low))), float(np.asarray(plain(d.high)))
            return float(quad(lambda t: (t - c) ** power * math.exp(d.log_prob(t)), lo, hi, limit=200)[0])
        values = np.array([one(i) for i in np.ndindex(*self.batch_shape)]).reshape(self.batch_shape)
        return scalar_or_array(values)

    def _element(self, index: tuple[int, ...]) -> Truncated:
        if not self.batch_shape:
            return self
        pick = [np.broadcast_to(np.asarray(plain(getattr(self.base, n))), self.batch_shape)[index]
                for n in self.base._param_names]
        low, high = (np.broadcast_to(np.asarray(plain(b)), self.batch_shape)[index] for b in (self.low, self.high))
        return Truncated(type(self.base)(*(float(p) for p in pick)), float(low), float(high))

    @property
    def mean(self) -> Any:
        """``E[X]`` by numerical integration."""
        return self._integral(1, 0.0)

    @property
    def variance(self) -> Any:
        """``E[(X - mean)^2]`` by numerical integration."""
        return self._integral(2, self.mean)

    def __repr__(self) -> str:
        return f"Truncated({self.base!r}, low={show(self.low)}, high={show(self.high)})"


def _bound(name: str, value: Any) -> Any:
    """A bound: a float, an array or a Dual; NaN refused, infinities allowed."""
    a = np.asarray(stop_gradient(value), dtype=float)
    if np.isnan(a).any():
        fail("Truncated", name, "a number or +-inf, not NaN", value)
    return value if isinstance(value, Dual) else scalar_or_array(a)


def _cdf(base: Any, bound: Any, at_infinity: float) -> Any:
    """``base.cdf(bound)``; an infinite bound's value is known (and has no derivative to go wrong)."""
    if not isinstance(bound, Dual) and np.all(np.isinf(bound)):
        return at_infinity
    return base.cdf(bound)


def _inner_point(d: Truncated) -> Any:
    """A point inside ``[low, high]``, where the base's log density is finite (for masked values)."""
    return plain(d.base.icdf(plain(d._lower_cdf) + 0.5 * plain(d._mass)))

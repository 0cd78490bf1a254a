"""Use frozen ``scipy.stats`` distributions wherever plait expects a Distribution.

:func:`as_distribution` is the single entry point: plait distributions pass
through, frozen univariate scipy distributions are wrapped in
:class:`ScipyDistribution`, and frozen ``multivariate_normal`` / ``dirichlet``
become the native :class:`MultivariateNormal` / :class:`Dirichlet`.
``scipy.stats`` is imported lazily, only when something that is not already a
plait distribution is passed.

>>> import scipy.stats
>>> from plait.effects.distributions import as_distribution
>>> as_distribution(scipy.stats.poisson(3)).support
Naturals {0, 1, 2, ...} [discrete]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import EffectTypeError
from .base import ArrayLike, Distribution, norm_shape, out, show
from .multivariate import Dirichlet, MultivariateNormal
from .supports import IntRange, Interval, Support, real

__all__ = ["ScipyDistribution", "as_distribution"]

_WHAT = (
    "a plait Distribution (e.g. plait.effects.distributions.Normal(0, 1)) or a frozen "
    "scipy.stats distribution (e.g. scipy.stats.norm(0, 1))"
)


def _stats() -> Any:
    import scipy.stats  # deferred: importing scipy.stats costs a few hundred ms

    return scipy.stats


def _is_frozen_univariate(obj: Any) -> bool:
    from scipy.stats._distn_infrastructure import rv_frozen

    return isinstance(obj, rv_frozen)


class ScipyDistribution(Distribution):
    """A frozen univariate ``scipy.stats`` distribution behind the plait interface.

    The support is scipy's nominal support (``frozen.support()``), not shrunk
    for degenerate parameters; discrete distributions get an ``IntRange``.

    >>> import numpy as np, scipy.stats
    >>> from plait.effects.distributions import ScipyDistribution
    >>> d = ScipyDistribution(scipy.stats.norm(0, 1))
    >>> round(d.log_prob(0.0), 6), d.is_discrete, d.sample(np.random.default_rng(0), (2,)).shape
    (-0.918939, False, (2,))
    >>> d
    ScipyDistribution(scipy.stats.norm(0, 1))
    """

    __slots__ = ("frozen", "_discrete")

    def __init__(self, frozen: Any) -> None:
        if not _is_frozen_univariate(frozen):
            raise EffectTypeError(
                f"ScipyDistribution needs a frozen univariate scipy.stats distribution "
                f"(e.g. scipy.stats.norm(0, 1)), got {type(frozen).__name__}: {frozen!r}"
            )
        self.frozen = frozen
        self._discrete = isinstance(frozen.dist, _stats().rv_discrete)
        params = list(frozen.args) + list(frozen.kwds.values())
        self.batch_shape = tuple(np.broadcast_shapes(*(np.shape(p) for p in params)))

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        """Whether scipy's distribution is an ``rv_discrete``."""
        return self._discrete

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        """True for discrete distributions with a finite support."""
        if not self._discrete:
            return False
        lo, hi = self.frozen.support()
        return bool(np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)))

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """``frozen.rvs`` driven by ``rng``; a Python number for a scalar draw."""
        size = norm_shape(shape) + self.batch_shape
        x = self.frozen.rvs(size=size, random_state=rng)
        if size == ():
            x = np.asarray(x).item()
            return int(x) if self._discrete else float(x)
        return np.asarray(x)

    def log_prob(self, x: ArrayLike) -> Any:
        """``logpmf`` or ``logpdf`` of the frozen distribution."""
        f = self.frozen
        return out(f.logpmf(x) if self._discrete else f.logpdf(x))

    @property
    def support(self) -> Support:
        """``IntRange`` (discrete), ``Real`` or ``Interval`` from ``frozen.support()``."""
        lo, hi = self.frozen.support()
        if self._discrete:
            return IntRange(lo, hi)
        if np.all(np.asarray(lo) == -np.inf) and np.all(np.asarray(hi) == np.inf):
            return real
        return Interval(lo, hi)

    @property
    def mean(self) -> Any:
        """``frozen.mean()``."""
        return out(self.frozen.mean())

    @property
    def variance(self) -> Any:
        """``frozen.var()``."""
        return out(self.frozen.var())

    def __repr__(self) -> str:
        f = self.frozen
        args = [show(a) for a in f.args] + [f"{k}={show(v)}" for k, v in f.kwds.items()]
        return f"ScipyDistribution(scipy.stats.{f.dist.name}({', '.join(args)}))"


def as_distribution(obj: Any) -> Distribution:
    """Return ``obj`` as a plait :class:`Distribution`, or raise ``EffectTypeError``.

    >>> import scipy.stats
    >>> from plait.effects.distributions import Normal, as_distribution
    >>> d = Normal(0, 1)
    >>> as_distribution(d) is d
    True
    >>> as_distribution(scipy.stats.norm(0, 1))
    ScipyDistribution(scipy.stats.norm(0, 1))
    >>> as_distribution(3)
    Traceback (most recent call last):
    ...
    plait.errors.EffectTypeError: expected a plait Distribution (e.g. plait.effects.distributions.Normal(0, 1)) or a frozen scipy.stats distribution (e.g. scipy.stats.norm(0, 1)), got int: 3
    """
    if isinstance(obj, Distribution):
        return obj
    module = type(obj).__module__ or ""
    if module.startswith("scipy.stats"):
        stats = _stats()
        if _is_frozen_univariate(obj):
            return ScipyDistribution(obj)
        mv = stats._multivariate
        if isinstance(obj, mv.multivariate_normal_frozen):
            return MultivariateNormal(obj.mean, obj.cov)
        if isinstance(obj, mv.dirichlet_frozen):
            return Dirichlet(obj.alpha)
        if isinstance(obj, (stats.rv_continuous, stats.rv_discrete)):
            raise EffectTypeError(
                f"expected {_WHAT}, got the unfrozen scipy.stats.{obj.name}; "
                f"call it with its parameters to freeze it"
            )
        raise EffectTypeError(
            f"expected {_WHAT}, got {type(obj).__name__}, which plait does not support"
        )
    raise EffectTypeError(f"expected {_WHAT}, got {type(obj).__name__}: {obj!r}")

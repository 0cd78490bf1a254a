"""Use frozen ``scipy.stats`` distributions wherever plait expects a Distribution.

:func:`as_distribution` is the single entry point: plait distributions pass
through, frozen univariate scipy distributions are wrapped in
:class:`ScipyDistribution`, and frozen ``multivariate_normal`` /
``dirichlet`` / ``multinomial`` become the native :class:`MultivariateNormal`
/ :class:`Dirichlet` / :class:`Multinomial`.  A frozen univariate
distribution with a native plait family (``norm``, ``gamma``, ``beta``,
``expon``, ``lognorm``, ``t``, ``uniform``, ``cauchy``, ``laplace``,
``logistic``, ``halfnorm``, ``halfcauchy``, ``invgamma``, ``weibull_min``,
``bernoulli``, ``binom``, ``poisson``, ``geom`` with ``loc=-1``, ``nbinom``,
``betabinom``, ``randint``) is computed by that family, so its parameters
and values carry derivatives (``scipy.stats.norm(mu, 1.0)`` with a latent
``mu`` works under :class:`plait.LogDensity`); the others are computed by
scipy and refuse derivatives with a
:class:`~plait.errors.NoDerivativeRuleError` naming the site.
``scipy.stats`` is imported lazily, only when something that is not already
a plait distribution is passed.

>>> import scipy.stats
>>> from plait.effects.distributions import as_distribution
>>> as_distribution(scipy.stats.poisson(3)).support
Naturals {0, 1, 2, ...} [discrete]
>>> as_distribution(scipy.stats.norm(1.0, 2.0)).native
Normal(loc=1.0, scale=2.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import EffectTypeError, NoDerivativeRuleError
from ...gradients.dual import Dual
from .base import ArrayLike, Distribution, norm_shape, out, show
from .continuous import Beta, Exponential, Gamma, LogNormal, Normal, StudentT, Uniform
from .counts import BetaBinomial, Multinomial, NegativeBinomial
from .discrete import Bernoulli, Binomial, DiscreteUniform, Geometric, Poisson
from .location_scale import Cauchy, HalfCauchy, HalfNormal, Laplace, Logistic
from .multivariate import Dirichlet, MultivariateNormal
from .positive import InverseGamma, Weibull
from .supports import IntRange, Interval, Support, real

__all__ = ["ScipyDistribution", "as_distribution", "native_family"]

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


def _zero(v: Any) -> bool:
    return not isinstance(v, Dual) and bool(np.all(np.asarray(v) == 0))


def _location_scale(family: Any) -> Any:
    return lambda s, loc, scale: family(loc, scale)


def _scale_only(family: Any) -> Any:
    return lambda s, loc, scale: family(*s, scale) if _zero(loc) else None


# scipy name -> maker(shapes, loc, scale): the native family, or None when loc/scale do not fit it.
_NATIVE: dict[str, Any] = {
    "norm": _location_scale(Normal),
    "cauchy": _location_scale(Cauchy),
    "laplace": _location_scale(Laplace),
    "logistic": _location_scale(Logistic),
    "t": lambda s, loc, scale: StudentT(s[0], loc, scale),
    "uniform": lambda s, loc, scale: Uniform(loc, loc + scale),
    "expon": lambda s, loc, scale: Exponential(1.0 / scale) if _zero(loc) else None,
    "gamma": lambda s, loc, scale: Gamma(s[0], 1.0 / scale) if _zero(loc) else None,
    "beta": lambda s, loc, scale: Beta(*s) if _zero(loc) and _zero(scale - 1) else None,
    "lognorm": lambda s, loc, scale: LogNormal(np.log(scale), s[0]) if _zero(loc) else None,
    "halfnorm": _scale_only(HalfNormal),
    "halfcauchy": _scale_only(HalfCauchy),
    "invgamma": _scale_only(InverseGamma),
    "weibull_min": _scale_only(Weibull),
    "bernoulli": lambda s, loc, scale: Bernoulli(*s) if _zero(loc) else None,
    "binom": lambda s, loc, scale: Binomial(*s) if _zero(loc) else None,
    "poisson": lambda s, loc, scale: Poisson(*s) if _zero(loc) else None,
    "geom": lambda s, loc, scale: Geometric(*s) if _zero(loc + 1) else None,
    "nbinom": lambda s, loc, scale: NegativeBinomial(*s) if _zero(loc) else None,
    "betabinom": lambda s, loc, scale: BetaBinomial(*s) if _zero(loc) else None,
    "randint": lambda s, loc, scale: DiscreteUniform(s[0], s[1] - 1) if _zero(loc) else None,
}


def native_family(frozen: Any) -> Distribution | None:
    """The plait family that computes a frozen univariate scipy distribution, or None.

    >>> import scipy.stats
    >>> from plait.effects.distributions.scipy_adapter import native_family
    >>> native_family(scipy.stats.gamma(2.0, scale=0.5)), native_family(scipy.stats.gumbel_r())
    (Gamma(shape=2.0, rate=2.0), None)
    """
    maker = _NATIVE.get(frozen.dist.name)
    if maker is None:
        return None
    shapes, loc, scale = _parsed(frozen)
    native: Distribution | None = maker(shapes, loc, scale)
    return native


def _parsed(frozen: Any) -> tuple[Any, Any, Any]:
    """``(shapes, loc, scale)`` of a frozen distribution (discrete ones have scale 1)."""
    parsed = frozen.dist._parse_args(*frozen.args, **frozen.kwds)
    return (parsed[0], parsed[1], parsed[2]) if len(parsed) == 3 else (parsed[0], parsed[1], 1)


class ScipyDistribution(Distribution):
    """A frozen univariate ``scipy.stats`` distribution behind the plait interface.

    When plait has the family (:func:`native_family`), ``native`` is it and
    computes everything (with derivatives); otherwise scipy does, on plain
    values, and a parameter or value carrying a derivative raises
    :class:`~plait.errors.NoDerivativeRuleError` naming ``site`` (the
    address it was given at, if any).  Without a native family the support is
    scipy's nominal support (``frozen.support()``), not shrunk for degenerate
    parameters; discrete distributions get an ``IntRange``.

    >>> import numpy as np, scipy.stats
    >>> from plait.effects.distributions import ScipyDistribution
    >>> d = ScipyDistribution(scipy.stats.norm(0, 1))
    >>> round(d.log_prob(0.0), 6), d.is_discrete, d.sample(np.random.default_rng(0), (2,)).shape
    (-0.918939, False, (2,))
    >>> d
    ScipyDistribution(scipy.stats.norm(0, 1))
    >>> g = ScipyDistribution(scipy.stats.gumbel_r(0, 1), site="a")
    >>> g.native is None, round(g.log_prob(0.0), 6)
    (True, -1.0)
    """

    __slots__ = ("frozen", "native", "site", "_discrete")

    def __init__(self, frozen: Any, site: Any = None) -> None:
        if not _is_frozen_univariate(frozen):
            raise EffectTypeError(
                f"ScipyDistribution needs a frozen univariate scipy.stats distribution "
                f"(e.g. scipy.stats.norm(0, 1)), got {type(frozen).__name__}: {frozen!r}"
            )
        self.frozen = frozen
        self.site = site
        self._discrete = isinstance(frozen.dist, _stats().rv_discrete)
        self.native = native_family(frozen)
        if self.native is not None:
            self.batch_shape = self.native.batch_shape
            return
        params = list(frozen.args) + list(frozen.kwds.values())
        self._no_gradient(*params)
        self.batch_shape = tuple(np.broadcast_shapes(*(np.shape(p) for p in params)))

    def _no_gradient(self, *values: Any) -> None:
        """Refuse values carrying derivatives: scipy computes on plain numbers."""
        if any(isinstance(v, Dual) for v in values):
            where = f" at site {self.site!r}" if self.site is not None else ""
            raise NoDerivativeRuleError(
                f"no gradient for scipy.stats.{self.frozen.dist.name}{where}: plait has no native "
                "family for it and scipy computes on plain numbers; use a plait distribution "
                "(plait.Normal, plait.Gamma, ...) or a scipy one plait has (norm, gamma, beta, ...)"
            )

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        """Whether scipy's distribution is an ``rv_discrete``."""
        return self._discrete

    @property
    def has_enumerate_support(self) -> bool:  # type: ignore[override]
        """True for discrete distributions with a finite support."""
        if self.native is not None:
            return self.native.has_enumerate_support
        if not self._discrete:
            return False
        lo, hi = self.frozen.support()
        return bool(np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)))

    def enumerate_support(self) -> list[Any]:
        """The support's values (from the native family when there is one)."""
        return self.native.enumerate_support() if self.native is not None else super().enumerate_support()

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """The native family's draws, or ``frozen.rvs`` driven by ``rng``; a Python number for a scalar draw."""
        if self.native is not None:
            return self.native.sample(rng, shape)
        size = norm_shape(shape) + self.batch_shape
        x = self.frozen.rvs(size=size, random_state=rng)
        if size == ():
            x = np.asarray(x).item()
            return int(x) if self._discrete else float(x)
        return np.asarray(x)

    def log_prob(self, x: ArrayLike) -> Any:
        """The native family's ``log_prob``, or ``logpmf``/``logpdf`` of the frozen distribution."""
        if self.native is not None:
            return self.native.log_prob(x)
        self._no_gradient(x)
        f = self.frozen
        return out(f.logpmf(x) if self._discrete else f.logpdf(x))

    @property
    def support(self) -> Support:
        """The native family's support, else ``IntRange`` (discrete), ``Real`` or ``Interval`` from ``frozen.support()``."""
        if self.native is not None:
            return self.native.support
        lo, hi = self.frozen.support()
        if self._discrete:
            return IntRange(lo, hi)
        if np.all(np.asarray(lo) == -np.inf) and np.all(np.asarray(hi) == np.inf):
            return real
        return Interval(lo, hi)

    @property
    def mean(self) -> Any:
        """The native family's mean, else ``frozen.mean()``."""
        return self.native.mean if self.native is not None else out(self.frozen.mean())

    @property
    def variance(self) -> Any:
        """The native family's variance, else ``frozen.var()``."""
        return self.native.variance if self.native is not None else out(self.frozen.var())

    def __repr__(self) -> str:
        f = self.frozen
        args = [show(a) for a in f.args] + [f"{k}={show(v)}" for k, v in f.kwds.items()]
        return f"ScipyDistribution(scipy.stats.{f.dist.name}({', '.join(args)}))"


def as_distribution(obj: Any, site: Any = None) -> Distribution:
    """Return ``obj`` as a plait :class:`Distribution`, or raise ``EffectTypeError``.

    ``site`` is the address the distribution is used at (named in errors).

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
            return ScipyDistribution(obj, site)
        mv = stats._multivariate
        if isinstance(obj, mv.multivariate_normal_frozen):
            return MultivariateNormal(obj.mean, obj.cov)
        if isinstance(obj, mv.dirichlet_frozen):
            return Dirichlet(obj.alpha)
        if isinstance(obj, mv.multinomial_frozen):
            return Multinomial(obj.n, obj.p)
        if isinstance(obj, (stats.rv_continuous, stats.rv_discrete)):
            raise EffectTypeError(
                f"expected {_WHAT}, got the unfrozen scipy.stats.{obj.name}; "
                f"call it with its parameters to freeze it"
            )
        raise EffectTypeError(
            f"expected {_WHAT}, got {type(obj).__name__}, which plait does not support"
        )
    raise EffectTypeError(f"expected {_WHAT}, got {type(obj).__name__}: {obj!r}")

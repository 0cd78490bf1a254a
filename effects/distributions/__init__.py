"""Probability distributions and their supports.

Every distribution implements the :class:`Distribution` interface
(``sample(rng, shape)``, ``log_prob(x)``, ``support``, ``mean``,
``variance``, ``batch_shape``, ``event_shape``, ``is_discrete``,
``has_enumerate_support``, ``enumerate_support()``).  Frozen ``scipy.stats``
distributions are accepted through :func:`as_distribution`.

>>> import numpy as np
>>> from plait.effects.distributions import Normal, Bernoulli
>>> rng = np.random.default_rng(0)
>>> type(Normal(0, 1).sample(rng)), Bernoulli(1.0).support
(<class 'float'>, IntRange(1, 1) [discrete])
"""

from .base import Distribution, MaskedDistribution, ScaledDistribution
from .coupled import Coupled
from .combinators import Delta, ImproperUniform, Mixture, Truncated
from .continuous import Beta, Exponential, Gamma, LogNormal, Normal, StudentT, Uniform
from .correlation import LKJCholesky
from .counts import BetaBinomial, Multinomial, NegativeBinomial
from .discrete import Bernoulli, Binomial, Categorical, DiscreteUniform, Geometric, Poisson
from .location_scale import Cauchy, HalfCauchy, HalfNormal, Laplace, Logistic
from .multivariate import Dirichlet, MultivariateNormal
from .positive import InverseGamma, Weibull
from .scipy_adapter import ScipyDistribution, as_distribution
from ...ext import _interpreter as _compiled_draws
from .supports import (
    CorrCholeskyFactor,
    CountVector,
    FiniteSet,
    OrderedVector,
    ZeroSumVector,
    corr_cholesky,
    ordered_vector,
    sum_to_zero,
    Interval,
    IntRange,
    Real,
    RealVector,
    Simplex,
    Support,
    boolean,
    nonnegative_integer,
    positive,
    real,
    real_vector,
    simplex,
    unit_interval,
)

# The base interpreter draws scalar Normal and Bernoulli sites in C (same stream).
_compiled_draws.register_scalar_families(Normal, Bernoulli)

__all__ = [
    # interface and wrappers
    "Distribution",
    "ScaledDistribution",
    "Coupled",
    "MaskedDistribution",
    # discrete
    "Bernoulli",
    "Categorical",
    "Binomial",
    "Poisson",
    "Geometric",
    "DiscreteUniform",
    "NegativeBinomial",
    "BetaBinomial",
    # continuous
    "Normal",
    "LogNormal",
    "Uniform",
    "Beta",
    "Gamma",
    "Exponential",
    "StudentT",
    "Cauchy",
    "HalfCauchy",
    "HalfNormal",
    "Laplace",
    "Logistic",
    "InverseGamma",
    "Weibull",
    # multivariate
    "Dirichlet",
    "MultivariateNormal",
    "Multinomial",
    "LKJCholesky",
    # built from others or from a support
    "Delta",
    "ImproperUniform",
    "Mixture",
    "Truncated",
    # scipy
    "ScipyDistribution",
    "as_distribution",
    # supports
    "Support",
    "Real",
    "Interval",
    "IntRange",
    "FiniteSet",
    "Simplex",
    "RealVector",
    "OrderedVector",
    "ZeroSumVector",
    "CorrCholeskyFactor",
    "CountVector",
    "real",
    "positive",
    "unit_interval",
    "boolean",
    "nonnegative_integer",
    "simplex",
    "real_vector",
    "ordered_vector",
    "sum_to_zero",
    "corr_cholesky",
]

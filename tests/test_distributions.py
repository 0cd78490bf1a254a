"""Distributions: log densities against scipy.stats, supports, sampling, errors, wrappers.

Log densities must match scipy to 1e-12 relative.  Where the formula is a sum of
large terms that cancel (e.g. a Poisson mass at a large count), two correct
implementations can differ by rounding in those terms, so the absolute
tolerance is 1e-12 times the magnitude of the terms (``mag`` below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from scipy.special import betaln, gammaln, logsumexp

from plait.effects.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Dirichlet,
    DiscreteUniform,
    Distribution,
    Exponential,
    FiniteSet,
    Gamma,
    Geometric,
    Interval,
    IntRange,
    LogNormal,
    MaskedDistribution,
    MultivariateNormal,
    Normal,
    Poisson,
    RealVector,
    ScaledDistribution,
    ScipyDistribution,
    Simplex,
    StudentT,
    Uniform,
    as_distribution,
    boolean,
    nonnegative_integer,
    positive,
    real,
    unit_interval,
)
from plait.errors import EffectTypeError, InvalidParameterError

# Our code must not emit numpy RuntimeWarnings (overflow, divide by zero) on any input.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

HYP = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
INF = math.inf


def close(actual: Any, expected: Any, mag: Any = 0.0) -> bool:
    """Elementwise: equal NaN/infinities, else rel 1e-12 with abs 1e-12 * mag."""
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return False
    m = np.broadcast_to(np.asarray(mag, dtype=float), e.shape)
    for ai, ei, mi in zip(a.ravel(), e.ravel(), m.ravel()):
        if math.isnan(ei) or math.isinf(ei):
            if not (ai == ei or (math.isnan(ai) and math.isnan(ei))):
                return False
        elif not math.isclose(ai, ei, rel_tol=1e-12, abs_tol=max(1e-300, 1e-12 * mi)):
            return False
    return True


def fin(v: Any) -> float:
    """abs(v) for finite v, else 0 (infinite terms are compared exactly)."""
    v = float(v)
    return abs(v) if math.isfinite(v) else 0.0


def xl(a: float, b: float) -> float:
    return 0.0 if a == 0 or b <= 0 else fin(a * math.log(b))


# --------------------------------------------------------------------------
# family table
# --------------------------------------------------------------------------

def floats(lo: float, hi: float) -> hs.SearchStrategy:
    # No subnormals: scipy's lognorm loses all accuracy there (see test_accuracy_beyond_scipy).
    return hs.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


REAL_VALUES = hs.one_of(floats(-1e3, 1e3), hs.sampled_from([0.0, -INF, INF, 1e300]))
POS_VALUES = hs.one_of(floats(-5, 50), hs.sampled_from([0.0, -0.0, -1.0, INF, -INF, 1e-300]))
UNIT_VALUES = hs.one_of(floats(-0.5, 1.5), hs.sampled_from([0.0, 1.0, 0.5, -1e-300, 1 + 1e-15]))
COUNT_VALUES = hs.one_of(
    hs.integers(-3, 60),
    hs.sampled_from([1.5, -1.0, 2.0, 0.0, -0.5, INF, -INF, 1e20]),
)
PROB = hs.one_of(floats(0, 1), hs.sampled_from([0.0, 1.0]))


@dataclass
class Family:
    name: str
    make: Callable[..., Distribution]
    params: hs.SearchStrategy  # tuples of scalar parameters
    values: hs.SearchStrategy
    ref: Callable[..., Any]  # (x, *params) -> scipy log density
    mag: Callable[..., float]  # (x, *params) -> magnitude of the terms
    discrete: bool


def _normal_mag(x, loc, scale):
    z = (x - loc) / scale
    return fin(z * z / 2) + abs(math.log(scale)) + 1


def _lognormal_mag(x, loc, scale):
    if not x > 0 or x == INF:
        return 1.0
    z = (math.log(x) - loc) / scale
    return fin(z * z / 2) + abs(math.log(scale)) + abs(math.log(x)) + 1


def _beta_mag(x, a, b):
    if not 0 <= x <= 1:
        return 1.0
    return xl(a - 1, x) + xl(b - 1, 1 - x) + abs(betaln(a, b)) + 1


def _gamma_mag(x, shape, rate):
    if not 0 <= x < INF:
        return 1.0
    return xl(shape - 1, x * rate) + x * rate + abs(gammaln(shape)) + abs(math.log(rate)) + 1


def _t_mag(x, df, loc, scale):
    z = (x - loc) / scale
    return (abs(betaln(df / 2, 0.5)) + abs(math.log(df)) + fin((df + 1) / 2 * math.log1p(z * z / df))
            + abs(math.log(scale)) + abs(gammaln(df / 2)) + 1)


def _count(x):
    return isinstance(x, int) or (math.isfinite(x) and float(x).is_integer())


def _binom_mag(x, n, p):
    if not (_count(x) and 0 <= x <= n):
        return 1.0
    return gammaln(n + 1) * 3 + xl(x, p) + xl(n - x, 1 - p) + 1


def _poisson_mag(x, rate):
    if not (_count(x) and x >= 0):
        return 1.0
    return xl(x, rate) + gammaln(x + 1) + rate + 1


FAMILIES = [
    Family("Normal", Normal, hs.tuples(floats(-100, 100), floats(1e-3, 1e3)), REAL_VALUES,
           lambda x, loc, scale: st.norm.logpdf(x, loc, scale), _normal_mag, False),
    Family("LogNormal", LogNormal, hs.tuples(floats(-5, 5), floats(1e-2, 10)), POS_VALUES,
           lambda x, loc, scale: st.lognorm.logpdf(x, scale, scale=math.exp(loc)), _lognormal_mag, False),
    Family("Uniform", lambda lo, width: Uniform(lo, lo + width), hs.tuples(floats(-10, 10), floats(0.1, 10)),
           floats(-25, 25), lambda x, lo, width: st.uniform.logpdf(x, lo, (lo + width) - lo),
           lambda x, lo, w: abs(math.log(w)) + 1, False),
    Family("Beta", Beta, hs.tuples(floats(0.05, 50), floats(0.05, 50)), UNIT_VALUES,
           lambda x, a, b: st.beta.logpdf(x, a, b), _beta_mag, False),
    Family("Gamma", Gamma, hs.tuples(floats(0.05, 50), floats(0.01, 100)), POS_VALUES,
           lambda x, shape, rate: st.gamma.logpdf(x, shape, scale=1 / rate), _gamma_mag, False),
    Family("Exponential", Exponential, hs.tuples(floats(0.01, 100)), POS_VALUES,
           lambda x, rate: st.expon.logpdf(x, scale=1 / rate),
           lambda x, rate: fin(x * rate) + abs(math.log(rate)) + 1, False),
    Family("StudentT", StudentT, hs.tuples(floats(0.1, 1e4), floats(-100, 100), floats(1e-2, 1e2)),
           REAL_VALUES, lambda x, df, loc, scale: st.t.logpdf(x, df, loc, scale), _t_mag, False),
    Family("Bernoulli", Bernoulli, hs.tuples(PROB),
           hs.one_of(hs.sampled_from([0, 1, True, False, 0.5, 2, -1, 1.0, 0.0])),
           lambda x, p: st.bernoulli.logpmf(x, p),
           lambda x, p: xl(1, p) + xl(1, 1 - p) + 1, True),
    Family("Binomial", Binomial, hs.tuples(hs.integers(0, 50), PROB), COUNT_VALUES,
           lambda x, n, p: st.binom.logpmf(x, n, p), _binom_mag, True),
    Family("Poisson", Poisson, hs.tuples(hs.one_of(floats(0, 100), hs.just(0.0))), COUNT_VALUES,
           lambda x, rate: st.poisson.logpmf(x, rate), _poisson_mag, True),
    Family("Geometric", Geometric, hs.tuples(hs.one_of(floats(1e-3, 1), hs.just(1.0))), COUNT_VALUES,
           lambda x, p: st.geom.logpmf(x, p, loc=-1),
           lambda x, p: (fin(x * math.log1p(-p)) if p < 1 and math.isfinite(x) else 0) + abs(math.log(p)) + 1,
           True),
    Family("DiscreteUniform", DiscreteUniform, hs.tuples(hs.integers(-10, 10), hs.integers(0, 20)).map(
        lambda t: (t[0], t[0] + t[1])), COUNT_VALUES,
           lambda x, lo, hi: st.randint.logpmf(x, lo, hi + 1), lambda x, lo, hi: 1.0, True),
]
IDS = [f.name for f in FAMILIES]


@pytest.mark.parametrize("fam", FAMILIES, ids=IDS)
def test_log_prob_matches_scipy(fam):
    @HYP
    @given(fam.params, fam.values)
    def check(params, x):
        d = fam.make(*params)
        lp = d.log_prob(x)
        assert type(lp) is float
        with np.errstate(all="ignore"):
            ref = float(fam.ref(x, *params))
        if math.isinf(x) and math.isnan(ref):
            ref = -INF  # scipy gives nan at +-inf for some families; the density's limit is 0
        assert close(lp, ref, fam.mag(float(x), *params)), (params, x, lp, ref)

    check()


@pytest.mark.parametrize("fam", FAMILIES, ids=IDS)
def test_minus_inf_exactly_off_support(fam):
    @HYP
    @given(fam.params, fam.values)
    def check(params, x):
        d = fam.make(*params)
        lp = d.log_prob(x)
        inside = d.support.contains(x)
        assert isinstance(inside, bool)
        if not inside:
            assert lp == -INF
        if fam.discrete:
            # Degenerate parameters shrink the support, so membership is exact.
            assert (lp > -INF) == inside, (params, x, lp, d.support)

    check()


@pytest.mark.parametrize("fam", FAMILIES, ids=IDS)
def test_nan_value_gives_nan(fam):
    @HYP
    @given(fam.params)
    def check(params):
        d = fam.make(*params)
        assert math.isnan(d.log_prob(math.nan))
        assert np.isnan(d.log_prob(np.array([math.nan, math.nan]))).all()

    check()


@pytest.mark.parametrize("fam", FAMILIES, ids=IDS)
def test_vectorized_log_prob_broadcasts_against_batch(fam):
    @HYP
    @given(hs.lists(fam.params, min_size=3, max_size=3), hs.lists(fam.values, min_size=4, max_size=4))
    def check(param_rows, xs):
        columns = [np.array(c) for c in zip(*param_rows)]
        batched = fam.make(*columns)
        assert batched.batch_shape == (3,)
        x = np.array([float(v) for v in xs])[:, None]
        lp = batched.log_prob(x)
        assert isinstance(lp, np.ndarray) and lp.shape == (4, 3) and lp.dtype == np.float64
        for i in range(4):
            for j in range(3):
                scalar = fam.make(*param_rows[j]).log_prob(float(x[i, 0]))
                assert close(lp[i, j], scalar, fam.mag(float(x[i, 0]), *param_rows[j])), (i, j)
        # scalar x against batch params: one value per batch member
        assert batched.log_prob(float(x[0, 0])).shape == (3,)

    check()


@pytest.mark.parametrize("fam", FAMILIES, ids=IDS)
def test_batched_support_agrees_with_elementwise(fam):
    @HYP
    @given(hs.lists(fam.params, min_size=2, max_size=2), fam.values)
    def check(param_rows, x):
        columns = [np.array(c) for c in zip(*param_rows)]
        s = fam.make(*columns).support
        inside = s.contains(np.full(2, float(x)))
        for j in range(2):
            assert bool(np.asarray(inside)[j]) == fam.make(*param_rows[j]).support.contains(x)
        if all(fam.make(*r).support == fam.make(*param_rows[0]).support for r in param_rows):
            assert s == fam.make(*param_rows[0]).support

    check()


@pytest.mark.parametrize(
    "d, x, exact",
    [
        # lgamma((df+1)/2) - lgamma(df/2) cancels for large df; values from mpmath at 40 digits.
        (StudentT(4827.0), 0.0, -0.91899032520761695676),
        (StudentT(4213.0), 0.0, -0.91899787334178465701),
        (StudentT(1e15), 0.0, -0.91893853320467299178),
        (StudentT(0.1), 0.0, -1.90992074136828207036),
        # scipy rounds x * s * sqrt(2 pi) in the subnormal range.
        (LogNormal(0.0, 1.0), 5e-324, -276351.98920776747667),
    ],
    ids=repr,
)
def test_accuracy_beyond_scipy(d, x, exact):
    assert math.isclose(d.log_prob(x), exact, rel_tol=2e-15)
    assert math.isclose(d.log_prob(np.array([x]))[0], exact, rel_tol=2e-15)


# --------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------

SCALAR_EXAMPLES = [
    Normal(1.0, 2.0), LogNormal(0.1, 0.5), Uniform(-1, 3), Beta(2.0, 5.0), Gamma(3.0, 2.0),
    Exponential(1.5), StudentT(5.0, 1.0, 2.0), Bernoulli(0.3), Categorical([0.2, 0.0, 0.5, 0.3]),
    Binomial(10, 0.4), Poisson(3.5), Geometric(0.3), DiscreteUniform(-2, 5),
]
BATCH_EXAMPLES = [
    Normal([0.0, 1.0, 2.0], 2.0), LogNormal(0.0, [0.3, 0.5, 0.7]), Uniform([0, 1, 2], 3),
    Beta([1.0, 2.0, 3.0], 2.0), Gamma([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), Exponential([1.0, 2.0, 3.0]),
    StudentT([3.0, 4.0, 5.0]), Bernoulli([0.1, 0.5, 0.9]),
    Categorical([[0.2, 0.8, 0.0], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]]), Binomial([1, 5, 10], 0.4),
    Poisson([0.5, 1.0, 8.0]), Geometric([0.2, 0.5, 1.0]), DiscreteUniform([0, 1, 2], 6),
]


@pytest.mark.parametrize("d", SCALAR_EXAMPLES, ids=repr)
def test_scalar_sample_types_and_shapes(d):
    rng = np.random.default_rng(1)
    x = d.sample(rng)
    assert type(x) is (int if d.is_discrete else float)
    assert d.log_prob(x) > -INF
    assert d.support.contains(x)
    for shape, expected in [((3,), (3,)), ((2, 4), (2, 4)), (5, (5,)), ((0,), (0,))]:
        xs = d.sample(rng, shape)
        assert isinstance(xs, np.ndarray) and xs.shape == expected
        assert np.all(d.support.contains(xs))
        if d.is_discrete:
            assert xs.dtype == np.int64


@pytest.mark.parametrize("d", BATCH_EXAMPLES, ids=repr)
def test_batched_sample_shapes(d):
    rng = np.random.default_rng(2)
    assert d.batch_shape == (3,)
    x = d.sample(rng)
    assert x.shape == (3,)
    xs = d.sample(rng, (4, 2))
    assert xs.shape == (4, 2, 3)
    assert np.all(d.support.contains(xs))
    assert np.all(d.log_prob(xs) > -INF)


@pytest.mark.parametrize("d", SCALAR_EXAMPLES + BATCH_EXAMPLES, ids=repr)
def test_sample_mean_matches_mean(d):
    n = 20000
    xs = d.sample(np.random.default_rng(3), (n,))
    se = np.sqrt(np.asarray(d.variance, dtype=float) / n)
    assert np.all(np.abs(xs.mean(axis=0) - d.mean) <= 4 * se + 1e-12), (xs.mean(axis=0), d.mean)


def test_categorical_never_samples_zero_probability_categories():
    d = Categorical([0.0, 0.5, 0.0, 0.5, 0.0])
    xs = d.sample(np.random.default_rng(4), (5000,))
    assert set(np.unique(xs)) == {1, 3}
    rng = np.random.default_rng(5)
    assert {d.sample(rng) for _ in range(200)} == {1, 3}


# --------------------------------------------------------------------------
# moments
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "d, frozen",
    [
        (Normal(1.0, 2.0), st.norm(1, 2)),
        (LogNormal(0.1, 0.5), st.lognorm(0.5, scale=math.exp(0.1))),
        (Uniform(-1, 3), st.uniform(-1, 4)),
        (Beta(2.0, 5.0), st.beta(2, 5)),
        (Gamma(3.0, 2.0), st.gamma(3, scale=0.5)),
        (Exponential(1.5), st.expon(scale=1 / 1.5)),
        (StudentT(5.0, 1.0, 2.0), st.t(5, 1, 2)),
        (Bernoulli(0.3), st.bernoulli(0.3)),
        (Binomial(10, 0.4), st.binom(10, 0.4)),
        (Poisson(3.5), st.poisson(3.5)),
        (Geometric(0.3), st.geom(0.3, loc=-1)),
        (DiscreteUniform(-2, 5), st.randint(-2, 6)),
    ],
    ids=repr,
)
def test_moments_match_scipy(d, frozen):
    assert math.isclose(d.mean, frozen.mean(), rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(d.variance, frozen.var(), rel_tol=1e-12)


def test_undefined_moments():
    assert math.isnan(StudentT(1.0).mean)
    assert math.isnan(StudentT(0.5).mean)
    assert StudentT(2.0).variance == INF
    assert StudentT(1.5).variance == INF
    assert StudentT(3.0, 0.0, 2.0).variance == pytest.approx(12.0)
    np.testing.assert_array_equal(StudentT([0.5, 3.0]).mean, [np.nan, 0.0])


def test_categorical_moments():
    d = Categorical([0.2, 0.3, 0.5])
    assert d.mean == pytest.approx(1.3)
    assert d.variance == pytest.approx(0.3 + 2.0 - 1.69)


# --------------------------------------------------------------------------
# Categorical (no scipy counterpart)
# --------------------------------------------------------------------------

@HYP
@given(hs.lists(hs.one_of(floats(0, 10), hs.just(0.0)), min_size=1, max_size=6).filter(lambda w: sum(w) > 0),
       hs.one_of(hs.integers(-2, 8), hs.sampled_from([0.5, 1.0, INF, True])))
def test_categorical_log_prob(weights, x):
    p = np.array(weights) / sum(weights)
    p = p / p.sum()
    d = Categorical(p)
    expected = math.log(p[int(x)]) if _count(x) and 0 <= x < len(p) and p[int(x)] > 0 else -INF
    assert close(d.log_prob(x), expected, 1.0)
    assert (d.log_prob(x) > -INF) == d.support.contains(x)
    assert close(logsumexp([d.log_prob(v) for v in d.enumerate_support()]), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        e = Categorical(logits=np.log(p))
    assert close(e.log_prob(x), expected, 10.0)
    assert e.support == d.support


def test_categorical_logits_and_batches():
    d = Categorical(logits=[0.0, math.log(3.0), -INF])
    np.testing.assert_allclose(d.probs, [0.25, 0.75, 0.0])
    assert d.support == IntRange(0, 1)
    b = Categorical([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert b.batch_shape == (2,)
    np.testing.assert_allclose(b.log_prob([[2], [1]]), [[-INF, math.log(0.5)], [math.log(0.5), math.log(0.3)]])
    assert Categorical([[0.5, 0.0, 0.5], [0.4, 0.0, 0.6]]).support == FiniteSet({0, 2})


def test_categorical_probs_tolerance_and_renormalisation():
    d = Categorical([0.5, 0.5 + 5e-9])
    assert math.isclose(sum(d.probs), 1.0, rel_tol=1e-15)
    with pytest.raises(InvalidParameterError, match=r"Categorical: parameter 'probs' must sum to 1.*sum 0\.9"):
        Categorical([0.5, 0.4])


# --------------------------------------------------------------------------
# enumerate_support
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "d, values",
    [
        (Bernoulli(0.3), [0, 1]),
        (Bernoulli(0.0), [0]),
        (Bernoulli(1.0), [1]),
        (Categorical([0.5, 0.5, 0.0]), [0, 1]),
        (Categorical([0.5, 0.0, 0.5]), [0, 2]),
        (Binomial(4, 0.3), [0, 1, 2, 3, 4]),
        (Binomial(4, 0.0), [0]),
        (Binomial(4, 1.0), [4]),
        (Binomial(0, 0.5), [0]),
        (DiscreteUniform(-2, 1), [-2, -1, 0, 1]),
        (DiscreteUniform(3, 3), [3]),
    ],
    ids=repr,
)
def test_enumerate_support(d, values):
    assert d.has_enumerate_support
    got = d.enumerate_support()
    assert type(got) is list and got == values and all(type(v) is int for v in got)
    assert close(logsumexp([d.log_prob(v) for v in got]), 0.0, 1.0)
    assert all(d.support.contains(v) for v in got)


@HYP
@given(hs.integers(0, 60), PROB)
def test_binomial_enumeration_sums_to_one(n, p):
    d = Binomial(n, p)
    assert close(logsumexp([d.log_prob(v) for v in d.enumerate_support()]), 0.0, 10.0)


def test_enumerate_support_errors():
    with pytest.raises(ValueError, match="Bernoulli.enumerate_support needs scalar parameters"):
        Bernoulli([0.2, 0.3]).enumerate_support()
    for d in [Poisson(2.0), Geometric(0.5), Normal(0, 1), Dirichlet([1.0, 1.0])]:
        assert not d.has_enumerate_support
        with pytest.raises(NotImplementedError, match=type(d).__name__):
            d.enumerate_support()


# --------------------------------------------------------------------------
# invalid parameters
# --------------------------------------------------------------------------

NAN = math.nan
INVALID = [
    (lambda: Normal(0, -1), r"^Normal: parameter 'scale' must be > 0, got -1\.0$"),
    (lambda: Normal(0, 0), r"Normal: parameter 'scale' must be > 0, got 0\.0"),
    (lambda: Normal(0, INF), r"Normal: parameter 'scale' must be finite, got inf"),
    (lambda: Normal(INF, 1), r"Normal: parameter 'loc' must be finite, got inf"),
    (lambda: Normal([0, 1], [1.0, -2.0]), r"Normal: parameter 'scale' must be > 0, got \[1\.0, -2\.0\] .*-2\.0"),
    (lambda: Normal([0, 1], [1, 2, 3]), r"Normal: parameters have incompatible shapes"),
    (lambda: Normal("a", 1), r"Normal: parameter 'loc' must be a real number"),
    (lambda: LogNormal(0, -0.5), r"LogNormal: parameter 'scale' must be > 0, got -0\.5"),
    (lambda: Uniform(1, 0), r"Uniform: parameter 'high' must be > low \(1\.0\), got 0\.0"),
    (lambda: Uniform(1, 1), r"Uniform: parameter 'high' must be > low \(1\.0\), got 1\.0"),
    (lambda: Uniform(-INF, 0), r"Uniform: parameter 'low' must be finite, got -inf"),
    (lambda: Beta(0, 1), r"Beta: parameter 'a' must be > 0, got 0\.0"),
    (lambda: Beta(1, -2), r"Beta: parameter 'b' must be > 0, got -2\.0"),
    (lambda: Gamma(-1, 1), r"Gamma: parameter 'shape' must be > 0, got -1\.0"),
    (lambda: Gamma(1, 0), r"Gamma: parameter 'rate' must be > 0, got 0\.0"),
    (lambda: Exponential(-3), r"Exponential: parameter 'rate' must be > 0, got -3\.0"),
    (lambda: StudentT(0), r"StudentT: parameter 'df' must be > 0, got 0\.0"),
    (lambda: StudentT(3, 0, -1), r"StudentT: parameter 'scale' must be > 0, got -1\.0"),
    (lambda: Bernoulli(1.5), r"Bernoulli: parameter 'p' must be in \[0, 1\], got 1\.5"),
    (lambda: Bernoulli(-0.1), r"Bernoulli: parameter 'p' must be in \[0, 1\], got -0\.1"),
    (lambda: Binomial(2.5, 0.5), r"Binomial: parameter 'n' must be a nonnegative integer, got 2\.5"),
    (lambda: Binomial(-1, 0.5), r"Binomial: parameter 'n' must be a nonnegative integer, got -1"),
    (lambda: Binomial(3, 2), r"Binomial: parameter 'p' must be in \[0, 1\], got 2"),
    (lambda: Poisson(-1), r"Poisson: parameter 'rate' must be >= 0, got -1\.0"),
    (lambda: Poisson(INF), r"Poisson: parameter 'rate' must be finite, got inf"),
    (lambda: Geometric(0), r"Geometric: parameter 'p' must be in \(0, 1\], got 0\.0"),
    (lambda: Geometric(1.2), r"Geometric: parameter 'p' must be in \(0, 1\], got 1\.2"),
    (lambda: DiscreteUniform(3, 1), r"DiscreteUniform: parameter 'high' must be >= low \(3\), got 1"),
    (lambda: DiscreteUniform(0.5, 1), r"DiscreteUniform: parameter 'low' must be a finite integer, got 0\.5"),
    (lambda: Categorical([0.5, -0.1, 0.6]), r"Categorical: parameter 'probs' must be >= 0, got .*-0\.1"),
    (lambda: Categorical([0.5, 0.4]), r"Categorical: parameter 'probs' must sum to 1 .*\(sum 0\.9\)"),
    (lambda: Categorical([]), r"Categorical: parameter 'probs' must be a non-empty vector"),
    (lambda: Categorical(0.5), r"Categorical: parameter 'probs' must be a non-empty vector"),
    (lambda: Categorical(), r"Categorical: give exactly one of 'probs' and 'logits'"),
    (lambda: Categorical([1.0], logits=[0.0]), r"Categorical: give exactly one"),
    (lambda: Categorical(logits=[INF, 0.0]), r"Categorical: parameter 'logits' must be < inf, got \[inf, 0\.0\]"),
    (lambda: Categorical(logits=[-INF, -INF]), r"Categorical: parameter 'logits' must be finite in at least"),
    (lambda: Dirichlet([1.0, 0.0]), r"Dirichlet: parameter 'alpha' must be > 0, got \[1\.0, 0\.0\]"),
    (lambda: Dirichlet(2.0), r"Dirichlet: parameter 'alpha' must be a vector"),
    (lambda: MultivariateNormal([0, 0], [[1, 2], [2, 1]]),
     r"MultivariateNormal: parameter 'cov' must be symmetric positive definite, got .*not positive definite"),
    (lambda: MultivariateNormal([0, 0], [[1, 0.5], [0, 1]]),
     r"MultivariateNormal: parameter 'cov' must be symmetric positive definite, .*not symmetric"),
    (lambda: MultivariateNormal([0, 0, 0], np.eye(2)), r"MultivariateNormal: parameter 'cov' must be a 3x3 matrix"),
    (lambda: ScaledDistribution(Normal(0, 1), 0.0), r"ScaledDistribution: parameter 'scale' must be > 0, got 0\.0"),
    (lambda: MaskedDistribution(Normal(0, 1), 1), r"MaskedDistribution: parameter 'mask' must be a bool"),
]


@pytest.mark.parametrize("build, message", INVALID, ids=[m[:40] for _, m in INVALID])
def test_invalid_parameters(build, message):
    with pytest.raises(InvalidParameterError, match=message):
        build()


@pytest.mark.parametrize(
    "build, family, name",
    [
        (lambda v: Normal(v, 1), "Normal", "loc"),
        (lambda v: Normal(0, v), "Normal", "scale"),
        (lambda v: LogNormal(v, 1), "LogNormal", "loc"),
        (lambda v: Uniform(v, 1), "Uniform", "low"),
        (lambda v: Uniform(0, v), "Uniform", "high"),
        (lambda v: Beta(v, 1), "Beta", "a"),
        (lambda v: Gamma(1, v), "Gamma", "rate"),
        (lambda v: Exponential(v), "Exponential", "rate"),
        (lambda v: StudentT(v), "StudentT", "df"),
        (lambda v: StudentT(3, v), "StudentT", "loc"),
        (lambda v: Bernoulli(v), "Bernoulli", "p"),
        (lambda v: Binomial(v, 0.5), "Binomial", "n"),
        (lambda v: Binomial(3, v), "Binomial", "p"),
        (lambda v: Poisson(v), "Poisson", "rate"),
        (lambda v: Geometric(v), "Geometric", "p"),
        (lambda v: DiscreteUniform(v, 3), "DiscreteUniform", "low"),
        (lambda v: Categorical([0.5, v]), "Categorical", "probs"),
        (lambda v: Categorical(logits=[0.0, v]), "Categorical", "logits"),
        (lambda v: Dirichlet([1.0, v]), "Dirichlet", "alpha"),
        (lambda v: MultivariateNormal([0.0, v], np.eye(2)), "MultivariateNormal", "loc"),
        (lambda v: MultivariateNormal([0.0, 0.0], [[1.0, v], [v, 1.0]]), "MultivariateNormal", "cov"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_nan_parameters_are_rejected(build, family, name):
    with pytest.raises(InvalidParameterError, match=rf"^{family}: parameter '{name}' must be .*nan"):
        build(NAN)
    with pytest.raises(InvalidParameterError, match=rf"^{family}: parameter '{name}'"):
        build(np.float64(NAN))


def test_integer_and_numpy_parameters_are_accepted():
    assert Normal(0, 1).loc == 0.0 and type(Normal(0, 1).scale) is float
    assert type(Normal(np.float64(0.5), np.int64(2)).loc) is float
    assert Binomial(np.int64(3), 0.5).n == 3 and type(Binomial(3.0, 0.5).n) is int
    assert DiscreteUniform(np.int32(1), 3.0).high == 3
    assert Bernoulli(True).p == 1.0


def test_parameters_are_read_only():
    d = Normal(np.zeros(3), 1.0)
    with pytest.raises(ValueError):
        d.loc[0] = 1.0


def test_repr():
    assert repr(Normal(0, 1)) == "Normal(loc=0.0, scale=1.0)"
    assert repr(Binomial(3, 0.5)) == "Binomial(n=3, p=0.5)"
    assert repr(Bernoulli([0.0, 0.5])) == "Bernoulli(p=[0.0, 0.5])"
    assert repr(Categorical([0.25, 0.75])) == "Categorical(probs=[0.25, 0.75])"
    long = repr(Normal(np.arange(1000.0), 1.0))
    assert len(long) < 200 and "shape (1000,)" in long
    assert repr(MultivariateNormal([0.0, 0.0], np.eye(2))) == (
        "MultivariateNormal(loc=[0.0, 0.0], cov=[[1.0, 0.0], [0.0, 1.0]])"
    )
    assert repr(ScaledDistribution(Normal(0, 1), 2)) == "ScaledDistribution(Normal(loc=0.0, scale=1.0), scale=2.0)"


def test_identity_equality():
    a, b = Normal(0, 1), Normal(0, 1)
    assert a != b and a == a and len({a, b}) == 2


# --------------------------------------------------------------------------
# supports of the families
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "d, support",
    [
        (Normal(0, 1), real),
        (StudentT(3.0), real),
        (LogNormal(0, 1), positive),
        (Gamma(2, 1), positive),
        (Exponential(1), positive),
        (Beta(2, 2), unit_interval),
        (Uniform(-1, 2), Interval(-1, 2)),
        (Bernoulli(0.4), boolean),
        (Bernoulli(1.0), IntRange(1, 1)),
        (Bernoulli(0), IntRange(0, 0)),
        (Categorical([0.5, 0.5, 0.0]), IntRange(0, 1)),
        (Categorical([0.5, 0.0, 0.5]), FiniteSet({0, 2})),
        (Categorical([0.0, 1.0, 0.0]), IntRange(1, 1)),
        (Binomial(5, 0.5), IntRange(0, 5)),
        (Binomial(5, 0.0), IntRange(0, 0)),
        (Binomial(5, 1.0), IntRange(5, 5)),
        (Poisson(2.0), nonnegative_integer),
        (Poisson(0), IntRange(0, 0)),
        (Geometric(0.5), nonnegative_integer),
        (Geometric(1.0), IntRange(0, 0)),
        (DiscreteUniform(2, 7), IntRange(2, 7)),
        (Dirichlet([1.0, 2.0, 3.0]), Simplex(3)),
        (MultivariateNormal([0.0, 0.0], np.eye(2)), RealVector(2)),
        (Normal([0.0, 1.0], 1.0), real),
        (Bernoulli([0.2, 0.7]), boolean),
        (Uniform([0.0, 0.0], 1.0), unit_interval),
    ],
    ids=repr,
)
def test_family_supports(d, support):
    assert d.support == support
    assert d.support.is_discrete == d.is_discrete


def test_batched_supports_with_disagreeing_members():
    s = Bernoulli([0.0, 0.5, 1.0]).support
    assert s == IntRange([0, 0, 1], [0, 1, 1])
    np.testing.assert_array_equal(s.contains([1, 1, 1]), [False, True, True])
    assert Poisson([0.0, 2.0]).support == IntRange(0, [0, INF])
    assert Uniform([0.0, 1.0], 2.0).support == Interval([0, 1], 2)
    assert hash(Uniform([0.0, 1.0], 2.0).support) == hash(Interval([0.0, 1.0], 2.0))
    # Rows with different zero patterns: the documented per-row IntRange hull.
    assert Categorical([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]).support == IntRange([0, 1], [1, 2])


# --------------------------------------------------------------------------
# multivariate
# --------------------------------------------------------------------------

ALPHA = hs.lists(floats(0.1, 20), min_size=2, max_size=5)


@HYP
@given(ALPHA, hs.integers(0, 2**32 - 1))
def test_dirichlet_matches_scipy(alpha, seed):
    d = Dirichlet(alpha)
    x = np.random.default_rng(seed).dirichlet(alpha)
    x = np.clip(x, 1e-300, None)
    x = x / x.sum()
    ref = st.dirichlet(alpha).logpdf(x)
    a = np.array(alpha)
    mag = abs(gammaln(a.sum())) + np.abs(gammaln(a)).sum() + np.abs((a - 1) * np.log(x)).sum() + 1
    assert close(d.log_prob(x), ref, mag)
    assert d.support.contains(x)
    k = len(alpha)
    bad = np.full(k, 1.0 / k)
    bad[0] += 0.1
    assert d.log_prob(bad) == -INF
    neg = np.full(k, 1.0 / (k - 1))
    neg[0] = -0.0 - 1e-3
    neg[1:] = (1 + 1e-3) / (k - 1)
    assert d.log_prob(neg) == -INF


def test_dirichlet_batches():
    d = Dirichlet([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    x = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    lp = d.log_prob(x)
    assert lp.shape == (2,)
    assert close(lp[0], st.dirichlet([1, 2, 3]).logpdf(x[0]), 10)
    assert close(lp[1], st.dirichlet([0.5, 0.5, 0.5]).logpdf(x[1]), 10)
    xs = d.sample(np.random.default_rng(0), (4,))
    assert xs.shape == (4, 2, 3) and np.all(d.support.contains(xs))
    np.testing.assert_allclose(d.sample(np.random.default_rng(0), (20000,)).mean(0), d.mean, atol=0.01)
    assert math.isnan(d.log_prob([np.nan, 0.5, 0.5])[0])


@HYP
@given(hs.integers(1, 4), hs.integers(0, 2**32 - 1))
def test_multivariate_normal_matches_scipy(dim, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim))
    cov = a @ a.T + 0.5 * np.eye(dim)
    loc = rng.normal(size=dim) * 3
    d = MultivariateNormal(loc, cov)
    x = rng.normal(size=(5, dim)) * 4
    ref = st.multivariate_normal(loc, cov).logpdf(x)
    lp = d.log_prob(x)
    y = np.linalg.solve(np.linalg.cholesky(cov), (x - loc).T)
    mag = 0.5 * (y * y).sum(0) + abs(np.linalg.slogdet(cov)[1]) + dim * 2
    assert close(lp, ref, mag)
    assert close(d.log_prob(x[0]), float(np.atleast_1d(ref)[0]), mag[0])
    assert d.log_prob(np.full(dim, np.inf)) == -INF
    assert math.isnan(d.log_prob(np.full(dim, np.nan)))


def test_multivariate_normal_shapes_and_moments():
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    d = MultivariateNormal([1.0, -1.0], cov)
    rng = np.random.default_rng(6)
    assert d.sample(rng).shape == (2,)
    xs = d.sample(rng, (20000,))
    assert xs.shape == (20000, 2)
    np.testing.assert_allclose(xs.mean(0), d.mean, atol=4 * math.sqrt(2.0 / 20000))
    np.testing.assert_allclose(np.cov(xs.T), cov, atol=0.06)
    np.testing.assert_array_equal(d.variance, [2.0, 1.0])
    b = MultivariateNormal(np.zeros((3, 2)), cov)
    assert b.batch_shape == (3,) and b.sample(rng, (4,)).shape == (4, 3, 2)
    lp = b.log_prob(np.ones((5, 1, 2)))
    assert lp.shape == (5, 3)
    assert close(lp[0, 0], st.multivariate_normal(np.zeros(2), cov).logpdf([1.0, 1.0]), 10)
    with pytest.raises(ValueError, match="last axis 2"):
        d.log_prob([1.0, 2.0, 3.0])


# --------------------------------------------------------------------------
# Scaled and Masked
# --------------------------------------------------------------------------

def test_scaled_distribution():
    base = Poisson(3.0)
    d = ScaledDistribution(base, 2.5)
    assert d.base is base
    assert d.log_prob(2) == pytest.approx(2.5 * base.log_prob(2))
    assert d.log_prob(-1) == -INF and d.log_prob(1.5) == -INF
    assert d.support == base.support and d.is_discrete and d.mean == 3.0 and d.variance == 3.0
    assert d.batch_shape == () and d.event_shape == ()
    assert type(d.sample(np.random.default_rng(0))) is int
    arr = ScaledDistribution(Normal(0, 1), np.array([1.0, 2.0]))
    np.testing.assert_allclose(arr.log_prob(0.0), [Normal(0, 1).log_prob(0.0) * k for k in (1, 2)])
    assert ScaledDistribution(Bernoulli(0.5), 3).enumerate_support() == [0, 1]
    mv = ScaledDistribution(Dirichlet([1.0, 1.0]), 2.0)
    assert mv.event_shape == (2,) and mv.support == Simplex(2)


def test_masked_distribution():
    base = Normal(0, 1)
    assert MaskedDistribution(base, True).log_prob(0.5) == base.log_prob(0.5)
    assert MaskedDistribution(base, False).log_prob(0.5) == 0.0
    assert MaskedDistribution(Poisson(1.0), False).log_prob(-1) == 0.0
    m = MaskedDistribution(Poisson([1.0, 2.0]), np.array([True, False]))
    lp = m.log_prob(np.array([-1, -1]))
    assert lp[0] == -INF and lp[1] == 0.0 and not np.isnan(lp).any()
    lp = MaskedDistribution(Poisson(1.0), np.array([True, False])).log_prob(3)
    np.testing.assert_allclose(lp, [Poisson(1.0).log_prob(3), 0.0])
    assert m.base.batch_shape == m.batch_shape == (2,)
    assert MaskedDistribution(base, np.bool_(False)).log_prob(1.0) == 0.0
    with pytest.raises(EffectTypeError):
        MaskedDistribution("x", True)


def test_wrappers_nest():
    d = MaskedDistribution(ScaledDistribution(Normal(0, 1), 2.0), True)
    assert d.log_prob(0.0) == pytest.approx(2 * Normal(0, 1).log_prob(0.0))
    assert d.base.base.loc == 0.0


# --------------------------------------------------------------------------
# scipy adapter
# --------------------------------------------------------------------------

def test_scipy_continuous_adapter():
    d = as_distribution(st.norm(1.0, 2.0))
    assert isinstance(d, ScipyDistribution) and not d.is_discrete
    assert close(d.log_prob(0.3), st.norm(1, 2).logpdf(0.3), 1)
    assert type(d.log_prob(0.3)) is float
    assert d.support == real
    rng = np.random.default_rng(0)
    assert type(d.sample(rng)) is float and d.sample(rng, (3, 2)).shape == (3, 2)
    assert d.mean == 1.0 and d.variance == 4.0
    assert as_distribution(st.expon()).support == positive
    assert as_distribution(st.beta(2, 3)).support == unit_interval
    assert as_distribution(st.uniform(1, 2)).support == Interval(1, 3)
    assert not d.has_enumerate_support


def test_scipy_discrete_adapter():
    d = as_distribution(st.poisson(3))
    assert d.is_discrete and d.support == nonnegative_integer
    assert d.log_prob(-1) == -INF and d.log_prob(1.5) == -INF
    assert close(d.log_prob(2), st.poisson(3).logpmf(2), 10)
    x = d.sample(np.random.default_rng(0))
    assert type(x) is int
    b = as_distribution(st.binom(4, 0.5))
    assert b.has_enumerate_support and b.enumerate_support() == [0, 1, 2, 3, 4]
    assert b.support == IntRange(0, 4)


def test_scipy_batched_adapter():
    d = as_distribution(st.norm([0.0, 1.0, 2.0], 1.0))
    assert d.batch_shape == (3,)
    assert d.sample(np.random.default_rng(0), (4,)).shape == (4, 3)
    assert d.log_prob(0.0).shape == (3,)


def test_scipy_multivariate_adapter():
    d = as_distribution(st.multivariate_normal([0.0, 1.0], [[1.0, 0.2], [0.2, 1.0]]))
    assert isinstance(d, MultivariateNormal) and d.support == RealVector(2)
    e = as_distribution(st.dirichlet([1.0, 2.0]))
    assert isinstance(e, Dirichlet) and e.support == Simplex(2)


def test_as_distribution_passes_distributions_through():
    d = Normal(0, 1)
    assert as_distribution(d) is d


@pytest.mark.parametrize("junk", [3, "normal", None, [0.0, 1.0], Normal, st.norm, st.multivariate_t([0.0])],
                         ids=repr)
def test_as_distribution_rejects_junk(junk):
    with pytest.raises(EffectTypeError, match="plait Distribution.*frozen scipy.stats distribution"):
        as_distribution(junk)
    with pytest.raises(TypeError):
        as_distribution(junk)


def test_as_distribution_hints_at_freezing():
    with pytest.raises(EffectTypeError, match="unfrozen scipy.stats.norm"):
        as_distribution(st.norm)


def test_scipy_distribution_rejects_non_frozen():
    with pytest.raises(EffectTypeError, match="frozen univariate"):
        ScipyDistribution(Normal(0, 1))

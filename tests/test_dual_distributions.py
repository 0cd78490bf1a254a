"""Derivatives through plait's distributions and exact inference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammainc, gammaincinv
from scipy.stats import poisson

import plait
from plait.errors import InvalidParameterError
from plait.gradients import diff, grad, is_dual, jacobian, stop_gradient, value_and_diff

from test_exact import queue_forward, queue_model


@pytest.mark.parametrize("theta,x", [(0.0, 1.0), (1.5, -2.0), (-3.0, 0.25)])
def test_normal_log_prob_derivative_is_x_minus_theta(theta, x):
    assert diff(lambda t: plait.Normal(t, 1.0).log_prob(x), theta) == pytest.approx(x - theta, abs=1e-15)


def test_reparameterised_estimate_of_d_dmu_e_x_squared():
    mu, n = 0.7, 20_000

    def estimate(m):
        xs = plait.Normal(m, 1.0).sample(np.random.default_rng(12345), (n,))
        return xs * xs

    per_draw = diff(estimate, mu)  # pathwise derivative of every draw: 2 x
    est, se = per_draw.mean(), per_draw.std(ddof=1) / math.sqrt(n)
    assert abs(est - 2 * mu) < 4 * se


CASES = [
    (plait.Normal, (0.3, 1.2), 0.5),
    (plait.LogNormal, (0.3, 1.2), 0.5),
    (plait.Uniform, (0.3, 1.2), 0.5),
    (plait.Beta, (2.0, 3.0), 0.4),
    (plait.Gamma, (2.0, 3.0), 0.4),
    (plait.Exponential, (2.0,), 0.4),
    (plait.StudentT, (3.0, 0.1, 2.0), 0.4),
    (plait.StudentT, (80.0, 0.1, 2.0), 0.4),
    (plait.Bernoulli, (0.3,), 1),
    (plait.Poisson, (2.5,), 3),
    (plait.Geometric, (0.3,), 2),
]


@pytest.mark.parametrize("family,args,x", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_log_prob_gradients_match_finite_differences(family, args, x):
    f = lambda v: family(*v).log_prob(x)  # noqa: E731
    v = np.array(args)
    g = grad(f, v)
    h = 1e-6
    fd = [(f(v + h * e) - f(v - h * e)) / (2 * h) for e in np.eye(len(v))]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    assert g.shape == v.shape
    # The derivative in the value itself (a reparameterised draw is a dual).
    if not family(*args).is_discrete:
        gx = diff(lambda y: family(*args).log_prob(y), float(x))
        fx = (family(*args).log_prob(x + h) - family(*args).log_prob(x - h)) / (2 * h)
        assert gx == pytest.approx(fx, rel=1e-6)


def test_binomial_categorical_dirichlet_mvn_gradients():
    h = 1e-6

    def check(f, v):
        g = grad(f, v)
        units = [e.reshape(v.shape) for e in np.eye(v.size)]
        fd = np.array([(f(v + h * e) - f(v - h * e)) / (2 * h) for e in units]).reshape(v.shape)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)

    check(lambda p: plait.Binomial(5, p[0]).log_prob(2), np.array([0.3]))
    check(lambda lg: plait.Categorical(logits=lg).log_prob(1), np.array([0.1, -0.4, 0.7]))
    check(lambda p: plait.Categorical(p / np.sum(p)).log_prob(2), np.array([0.2, 0.3, 0.5]))
    check(lambda a: plait.Dirichlet(a).log_prob(np.array([0.2, 0.3, 0.5])), np.array([1.0, 2.0, 3.0]))
    check(lambda m: plait.MultivariateNormal(m, [[2.0, 0.3], [0.3, 1.0]]).log_prob([1.0, 0.0]),
          np.array([0.1, -0.2]))
    check(lambda c: plait.MultivariateNormal([0.0, 0.0], (c + c.T) / 2).log_prob([1.0, 0.5]),
          np.array([[2.0, 0.3], [0.3, 1.0]]))
    # Scalar and array scores of a dual Categorical agree.
    g1 = grad(lambda lg: plait.Categorical(logits=lg).log_prob(1), np.zeros(3))
    g2 = grad(lambda lg: plait.Categorical(logits=lg).log_prob(np.array([1]))[0], np.zeros(3))
    np.testing.assert_array_equal(g1, g2)


def test_gamma_and_beta_draws_are_implicitly_reparameterised():
    # With u = F(x) held fixed, the pathwise derivative is d/da F^-1(u; a).
    for a in (0.3, 2.0, 40.0):
        xs = plait.Gamma(a, 1.0).sample(np.random.default_rng(1), (5,))
        d = diff(lambda s: plait.Gamma(s, 1.0).sample(np.random.default_rng(1), (5,)), a)
        u = gammainc(a, xs)
        h = 1e-6 * a
        fd = (gammaincinv(a + h, u) - gammaincinv(a - h, u)) / (2 * h)
        np.testing.assert_allclose(d, fd, rtol=1e-6)
    # Beta draws are g_a / (g_a + g_b): unbiased pathwise gradient of E[X] = a / (a + b).
    n, a, b = 20_000, 2.0, 3.0
    per_draw = diff(lambda s: plait.Beta(s, b).sample(np.random.default_rng(7), (n,)), a)
    se = per_draw.std(ddof=1) / math.sqrt(n)
    assert abs(per_draw.mean() - b / (a + b) ** 2) < 4 * se


def test_dirichlet_and_student_t_draws_carry_tangents():
    J = jacobian(lambda al: plait.Dirichlet(al).sample(np.random.default_rng(0)), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(J.sum(axis=0), 0.0, atol=1e-12)  # draws stay on the simplex
    n, df = 20_000, 5.0
    per_draw = diff(lambda s: plait.StudentT(df, s, 2.0).sample(np.random.default_rng(3), (n,)), 0.5)
    np.testing.assert_allclose(per_draw, 1.0)


def test_discrete_draws_are_plain_and_validation_uses_the_primal():
    s = plait.Bernoulli(0.3).sample(np.random.default_rng(0))
    ds = []
    diff(lambda p: ds.append(plait.Bernoulli(p).sample(np.random.default_rng(0))) or p, 0.3)
    assert ds == [s] and type(ds[0]) is int
    diff(lambda r: ds.append(plait.Poisson(r).sample(np.random.default_rng(0), (3,))) or r, 2.0)
    assert ds[1].dtype == np.int64
    with pytest.raises(InvalidParameterError, match=r"Normal: parameter 'scale' must be > 0, got -1.0"):
        diff(lambda s: plait.Normal(0.0, s).log_prob(0.0), -1.0)
    with pytest.raises(InvalidParameterError, match="Bernoulli"):
        diff(lambda p: plait.Bernoulli(p), 1.5)
    with pytest.raises(InvalidParameterError, match="cannot carry a derivative"):
        diff(lambda n: plait.Binomial(n, 0.5), 3.0)


def test_plain_floats_keep_the_fast_paths():
    d = plait.Normal(0, 1)
    assert type(d.loc) is float and type(d.sample(np.random.default_rng(0))) is float
    assert type(d.log_prob(0.5)) is float


# -- exact derivatives of expectations ---------------------------------------------------------

def test_queue_model_derivative_of_expected_length():
    value, d = value_and_diff(lambda th: plait.exact(queue_model, th, 50).mean, 15.0)
    assert value == pytest.approx(13.5659305821, rel=1e-9)
    assert d == pytest.approx(0.654704807917, rel=1e-9)
    # Independently: central differences of the plain forward recursion.
    mean = lambda th: sum(x * p for x, p in queue_forward(th, 50).items())  # noqa: E731
    h = 1e-4
    assert d == pytest.approx((mean(15 + h) - mean(15 - h)) / (2 * h), rel=1e-6)


def test_measure_expectation_returns_a_dual():
    def coin(theta):
        a = yield plait.sample("a", plait.Bernoulli(theta))
        b = yield plait.sample("b", plait.Bernoulli(theta * theta if a else 1 - theta))
        return a + 2 * b

    def check(th):
        m = plait.exact(coin, th)
        e = m.expectation(lambda v: v)
        assert is_dual(e)
        return e

    d = diff(check, 0.4)
    # E = t + 2 (t * t^2 + (1 - t)(1 - t)) -> dE/dt = 1 + 2 (3 t^2 - 2 (1 - t))
    assert d == pytest.approx(1 + 2 * (3 * 0.4 ** 2 - 2 * 0.6), rel=1e-12)
    assert stop_gradient(plait.exact(coin, 0.4).mean) == pytest.approx(0.4 + 2 * (0.064 + 0.36))


def test_exact_tail_mass_is_differentiable():
    def model(theta):
        return (yield plait.sample("k", plait.Poisson(theta)))

    for limit in (5, 12):
        d = diff(lambda th: plait.exact(model, th, support_limit=limit).truncated_mass, 3.0)
        assert d == pytest.approx(poisson.pmf(limit, 3.0), rel=1e-10)
    assert diff(lambda th: plait.exact(model, th, support_limit=80).mean, 3.0) == pytest.approx(1.0, rel=1e-12)

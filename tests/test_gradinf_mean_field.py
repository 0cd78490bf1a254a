"""MeanField: GradInf's biased, deterministic baseline (every choice replaced by its mean)."""

import math

import numpy as np
import pytest

import plait


def flips_squared(theta):
    total = 0.0
    for i in range(10):
        total += yield plait.sample(("b", i), plait.Bernoulli(theta))
    return total * total


def test_linear_programs_are_exact():
    def flips(theta):
        total = 0.0
        for i in range(10):
            total += yield plait.sample(("b", i), plait.Bernoulli(theta))
        return total

    assert plait.gradinf(flips, 0.3, inference=plait.MeanField()) == pytest.approx(10.0, rel=1e-12)


def test_nonlinear_programs_get_the_derivative_at_the_means_which_is_biased():
    # F(E[S]) = (10θ)², derivative 200θ = 60; the true d/dθ E[S²] = 10(1 - 2θ) + 200θ = 64.
    g = plait.gradinf(flips_squared, 0.3, inference=plait.MeanField())
    assert g == pytest.approx(60.0, rel=1e-12)
    exact = plait.diff(lambda t: plait.exact(flips_squared, t).expectation(), 0.3)
    assert float(exact) == pytest.approx(64.0, rel=1e-9)


def test_loops_run_on_mean_states():
    def queue(theta):
        def kernel(x):
            c = 25 if x > 25 else x
            b = yield plait.sample("b", plait.Bernoulli(theta / (theta + c)))
            return x + 2 * b - 1

        return (yield plait.iterate(kernel, 0, 30, name="q"))

    def recursion(theta):
        x = 0.0
        for _ in range(30):
            c = 25 if x > 25 else x
            x = x + 2 * theta / (theta + c) - 1
        return x

    h = 1e-6
    expected = (recursion(15.0 + h) - recursion(15.0 - h)) / (2 * h)
    assert plait.gradinf(queue, 15.0, inference=plait.MeanField()) == pytest.approx(expected, rel=1e-6)


def test_vector_theta_continuous_means_and_observations():
    def model(theta):
        x = yield plait.sample("x", plait.Normal(theta[0], theta[1]))
        yield plait.observe("y", plait.Normal(x, 1.0), 0.5)
        return x * x

    def at_means(t):
        return t[0] ** 2 * math.exp(-0.5 * (0.5 - t[0]) ** 2 - 0.5 * math.log(2 * math.pi))

    theta = np.array([1.0, 2.0])
    g = plait.gradinf(model, theta, inference=plait.MeanField())
    h = 1e-6
    expected = [(at_means(theta + h * e) - at_means(theta - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(g, expected, rtol=1e-6)


def test_finite_difference_mode():
    d = plait.coupled_difference(flips_squared, 0.3, 0.4, inference=plait.MeanField())
    assert d == pytest.approx(16.0 - 9.0, rel=1e-12)


def test_a_choice_without_a_finite_mean_is_refused():
    def model(theta):
        return (yield plait.sample("x", plait.StudentT(1.0, theta, 1.0)))

    with pytest.raises(plait.GradInfError, match="'x'.*no finite mean"):
        plait.gradinf(model, 0.5, inference=plait.MeanField())


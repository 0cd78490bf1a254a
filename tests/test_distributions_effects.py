"""Values carrying derivatives through ``plait.factor``/``observe``, and frozen scipy.stats distributions with gradients."""

from __future__ import annotations

import numpy as np
import plait
import pytest
import scipy.stats as st


def _fd(ld, x, h=1e-6):
    return np.array([(ld.log_density(x + h * e) - ld.log_density(x - h * e)) / (2 * h) for e in np.eye(ld.dim)])


def test_factor_and_observe_values_carry_gradients_under_log_density():
    def model():
        mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
        s = yield plait.sample("s", plait.Exponential(1.0))
        yield plait.factor("penalty", -0.5 * (mu - 1.0) ** 2)
        yield plait.factor("vector", np.array([-0.5, -0.2]) * s)
        yield plait.observe("y", plait.Normal(0.0, 1.0), np.stack([2.0 * mu, s]))

    ld = plait.LogDensity(model)
    x = np.array([0.2, 0.1])
    np.testing.assert_allclose(ld.log_density_and_grad(x)[1], _fd(ld, x), rtol=1e-6, atol=1e-8)
    one = plait.LogDensity(model, observations={"s": 1.0})  # dim 1: forward mode
    np.testing.assert_allclose(one.log_density_and_grad(np.array([0.2]))[1], _fd(one, np.array([0.2])), rtol=1e-6)


def test_factor_value_carries_gradients_under_svi():
    # p(mu) N(mu; 0, 1) exp(-(mu - 1)^2 / 2) N(0; mu, 1): Gaussian posterior, mean 1/3.
    def model():
        mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
        yield plait.factor("f", -0.5 * (mu - 1.0) ** 2)
        yield plait.observe("y", plait.Normal(mu, 1.0), 0.0)

    def guide():
        m = yield plait.param("m", 0.0)
        yield plait.sample("mu", plait.Normal(m, 3.0 ** -0.5))

    result = plait.svi(model, guide, num_steps=1500, optimizer=plait.Adam(0.05), seed=0, average_last=500)
    assert abs(result.params["m"] - 1.0 / 3.0) < 0.05


def test_scipy_families_with_a_native_twin_get_gradients():
    def model():
        mu = yield plait.sample("mu", st.norm(0.0, 2.0))
        s = yield plait.sample("s", st.halfcauchy(scale=2.0))
        yield plait.observe("y", st.norm(mu, s), 0.3)
        yield plait.observe("k", st.poisson(s), 2)

    ld = plait.LogDensity(model)
    x = np.array([0.1, 0.2])
    np.testing.assert_allclose(ld.log_density_and_grad(x)[1], _fd(ld, x), rtol=1e-6, atol=1e-8)
    mu, s = 0.1, np.exp(0.2)
    expected = (st.norm(0, 2).logpdf(mu) + st.halfcauchy(scale=2).logpdf(s) + np.log(s)
                + st.norm(mu, s).logpdf(0.3) + st.poisson(s).logpmf(2))
    assert ld.log_density(x) == pytest.approx(expected, abs=1e-12)
    assert plait.as_distribution(st.gamma(2.0, scale=0.5)).native.rate == 2.0
    assert plait.as_distribution(st.geom(0.3, loc=-1)).native.p == 0.3
    assert plait.as_distribution(st.geom(0.3)).native is None


def test_scipy_families_without_a_twin_refuse_gradients_naming_the_site():
    def latent():
        yield plait.sample("a", st.gumbel_r(0.0, 1.0))

    ld = plait.LogDensity(latent)
    assert ld.log_density(np.array([0.1])) == pytest.approx(st.gumbel_r().logpdf(0.1))
    with pytest.raises(plait.NoDerivativeRuleError, match=r"no gradient for scipy.stats.gumbel_r at site 'a'"):
        ld.log_density_and_grad(np.array([0.1]))

    def parameter():
        mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
        yield plait.observe("y", st.gumbel_r(mu, 1.0), 0.3)

    with pytest.raises(plait.NoDerivativeRuleError, match=r"no gradient for scipy.stats.gumbel_r at site 'y'"):
        plait.LogDensity(parameter).log_density_and_grad(np.array([0.1]))

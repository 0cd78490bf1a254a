"""The families of issue 20 against scipy.stats: log densities, moments of draws, derivatives in both AD modes.

One table row per family: how to build it from a parameter vector ``theta``,
the matching frozen scipy distribution, random parameters and values.  Each
row is checked for

* ``log_prob`` equal to scipy's ``logpdf``/``logpmf`` within 1e-10 (values
  inside and outside the support);
* ``mean``/``variance`` equal to scipy's, and the mean and variance of 4000
  draws within 4 standard errors of them (for the Cauchy family, whose moments
  do not exist, ``E[F(X)] = 1/2`` instead);
* the gradient of the summed ``log_prob`` in ``theta`` (and in the value, for
  continuous families) by reverse mode (``plait.grad``) and by forward mode
  (``grad_forward``), both equal to a central finite difference.
"""

from __future__ import annotations

import math

import numpy as np
import plait
import pytest
import scipy.stats as st
from plait.gradients import grad, grad_forward
from scipy.special import expit

N_DRAWS = 4000


def _log(v):
    return np.log(v)


# name -> (build(theta), scipy(theta), theta sampler(rng), values(rng, theta), continuous)
FAMILIES = {
    "HalfNormal": (lambda t: plait.HalfNormal(t[0]), lambda t: st.halfnorm(scale=t[0]),
                   lambda r: r.uniform(0.5, 3.0, 1), lambda r, t: r.uniform(0.1, 4.0, 5), True),
    "HalfCauchy": (lambda t: plait.HalfCauchy(t[0]), lambda t: st.halfcauchy(scale=t[0]),
                   lambda r: r.uniform(0.5, 3.0, 1), lambda r, t: r.uniform(0.1, 4.0, 5), True),
    "Cauchy": (lambda t: plait.Cauchy(t[0], t[1]), lambda t: st.cauchy(t[0], t[1]),
               lambda r: np.array([r.normal(), r.uniform(0.5, 3.0)]), lambda r, t: r.normal(0, 3, 5), True),
    "Laplace": (lambda t: plait.Laplace(t[0], t[1]), lambda t: st.laplace(t[0], t[1]),
                lambda r: np.array([r.normal(), r.uniform(0.5, 3.0)]), lambda r, t: r.normal(0, 3, 5), True),
    "Logistic": (lambda t: plait.Logistic(t[0], t[1]), lambda t: st.logistic(t[0], t[1]),
                 lambda r: np.array([r.normal(), r.uniform(0.5, 3.0)]), lambda r, t: r.normal(0, 3, 5), True),
    "InverseGamma": (lambda t: plait.InverseGamma(t[0], t[1]), lambda t: st.invgamma(t[0], scale=t[1]),
                     lambda r: np.array([r.uniform(4.5, 8.0), r.uniform(0.5, 3.0)]),
                     lambda r, t: r.uniform(0.1, 2.0, 5), True),
    "Weibull": (lambda t: plait.Weibull(t[0], t[1]), lambda t: st.weibull_min(t[0], scale=t[1]),
                lambda r: np.array([r.uniform(0.7, 3.0), r.uniform(0.5, 3.0)]),
                lambda r, t: r.uniform(0.1, 4.0, 5), True),
    "TruncatedNormal": (
        lambda t: plait.Truncated(plait.Normal(t[0], t[1]), t[2], t[2] + 2.0),
        lambda t: st.truncnorm((t[2] - t[0]) / t[1], (t[2] + 2.0 - t[0]) / t[1], t[0], t[1]),
        lambda r: np.array([r.normal(), r.uniform(0.5, 2.0), r.uniform(-1.5, 0.0)]),
        lambda r, t: t[2] + r.uniform(0.05, 1.95, 5), True),
    "TruncatedExponential": (
        lambda t: plait.Truncated(plait.Exponential(t[0]), low=t[1]),
        lambda t: st.expon(t[1], 1.0 / t[0]),
        lambda r: np.array([r.uniform(0.5, 2.0), r.uniform(0.1, 1.0)]),
        lambda r, t: t[1] + r.uniform(0.05, 3.0, 5), True),
    "NegativeBinomial": (lambda t: plait.NegativeBinomial(t[0], t[1]), lambda t: st.nbinom(t[0], t[1]),
                         lambda r: np.array([r.uniform(0.5, 5.0), r.uniform(0.2, 0.8)]),
                         lambda r, t: r.integers(0, 12, 5).astype(float), False),
    "NegativeBinomial2": (
        lambda t: plait.NegativeBinomial(mean=t[0], concentration=t[1]),
        lambda t: st.nbinom(t[1], t[1] / (t[0] + t[1])),
        lambda r: np.array([r.uniform(0.5, 6.0), r.uniform(0.5, 5.0)]),
        lambda r, t: r.integers(0, 12, 5).astype(float), False),
    "BetaBinomial": (lambda t: plait.BetaBinomial(7, t[0], t[1]), lambda t: st.betabinom(7, t[0], t[1]),
                     lambda r: r.uniform(0.5, 4.0, 2), lambda r, t: r.integers(0, 8, 5).astype(float), False),
    "BernoulliLogits": (lambda t: plait.Bernoulli(logits=t[0]), lambda t: st.bernoulli(expit(t[0])),
                        lambda r: r.normal(0, 2, 1), lambda r, t: r.integers(0, 2, 5).astype(float), False),
    "BinomialLogits": (lambda t: plait.Binomial(9, logits=t[0]), lambda t: st.binom(9, expit(t[0])),
                       lambda r: r.normal(0, 2, 1), lambda r, t: r.integers(0, 10, 5).astype(float), False),
    "PoissonLogRate": (lambda t: plait.Poisson(log_rate=t[0]), lambda t: st.poisson(np.exp(t[0])),
                       lambda r: r.normal(0.5, 1.0, 1), lambda r, t: r.integers(0, 8, 5).astype(float), False),
    "Mixture": (
        lambda t: plait.Mixture(plait.Categorical(logits=np.stack([t[0] * 0.0, t[0]])),
                                [plait.Normal(t[1], t[2]), plait.Normal(t[3], 1.0)]),
        None,
        lambda r: np.array([r.normal(), r.normal(-1.0), r.uniform(0.5, 2.0), r.normal(2.0)]),
        lambda r, t: r.normal(0, 3, 5), True),
}


def _mixture_log_pdf(t, x):
    w = expit(t[0])
    return np.logaddexp(np.log1p(-w) + st.norm(t[1], t[2]).logpdf(x), np.log(w) + st.norm(t[3], 1.0).logpdf(x))


def _reference_log_prob(name, t, x):
    if name == "Mixture":
        return _mixture_log_pdf(t, x)
    ref = FAMILIES[name][1](t)
    return ref.logpdf(x) if hasattr(ref, "logpdf") else ref.logpmf(x)


def _reference_moments(name, t):
    if name == "Mixture":
        w = expit(t[0])
        mean = (1 - w) * t[1] + w * t[3]
        return mean, (1 - w) * (t[2] ** 2 + t[1] ** 2) + w * (1.0 + t[3] ** 2) - mean ** 2
    ref = FAMILIES[name][1](t)
    return ref.mean(), ref.var()


def _outside(continuous):
    return np.array([-1.0, -0.5]) if continuous else np.array([-1.0, 2.5])


@pytest.mark.parametrize("name", list(FAMILIES))
def test_log_prob_equals_scipy(name):
    build, _, params, values, continuous = FAMILIES[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for _ in range(5):
        t = params(rng)
        x = np.concatenate([values(rng, t), _outside(continuous)])
        d = build(t)
        lp, ref = np.asarray(d.log_prob(x)), _reference_log_prob(name, t, x)
        assert np.array_equal(np.isfinite(lp), np.isfinite(ref)), (name, t, x, lp, ref)
        np.testing.assert_allclose(lp[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=0, atol=1e-10)
        assert d.log_prob(float(x[0])) == pytest.approx(float(ref[0]), abs=1e-10)
        assert type(d.log_prob(float(x[0]))) is float


@pytest.mark.parametrize("name", list(FAMILIES))
def test_moments_and_draws(name):
    build, _, params, _, continuous = FAMILIES[name]
    rng = np.random.default_rng(7)
    t = params(rng)
    d = build(t)
    mean, var = _reference_moments(name, t)
    assert d.mean == pytest.approx(mean, rel=1e-7, nan_ok=True)
    assert d.variance == pytest.approx(var, rel=1e-7, nan_ok=True)
    draws = np.asarray(d.sample(rng, (N_DRAWS,)), dtype=float)
    assert draws.shape == (N_DRAWS,)
    assert np.all(np.isfinite(np.asarray(d.log_prob(draws))))
    single = d.sample(rng)
    assert type(single) is (float if continuous else int)
    if not math.isfinite(mean):
        # No moments: the draws' cdf values are uniform, mean 1/2, sd sqrt(1/12).
        u = FAMILIES[name][1](t).cdf(draws)
        assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / N_DRAWS)
        return
    assert abs(draws.mean() - mean) < 4 * math.sqrt(var / N_DRAWS)
    centred = (draws - draws.mean()) ** 2
    assert abs(centred.mean() - var) < 4 * centred.std() / math.sqrt(N_DRAWS)


def _central(f, v, h=1e-5):
    """Central differences of ``f`` (a scalar or an array) in each coordinate of ``v``."""
    g = []
    for i in range(v.size):
        e = np.zeros_like(v)
        e[i] = h
        g.append((np.asarray(f(v + e)) - np.asarray(f(v - e))) / (2 * h))
    return np.array(g)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_gradients_in_both_modes_equal_finite_differences(name):
    build, _, params, values, continuous = FAMILIES[name]
    rng = np.random.default_rng(3)
    t = params(rng)
    x = values(rng, t)

    def in_theta(theta):
        return np.sum(build(theta).log_prob(x))

    expected = _central(in_theta, t)
    np.testing.assert_allclose(grad(in_theta, t), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_forward(in_theta, t), expected, rtol=1e-6, atol=1e-7)
    if continuous:
        def in_value(v):
            return np.sum(build(t).log_prob(v))

        expected = _central(in_value, x)
        np.testing.assert_allclose(grad(in_value, x), expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(grad_forward(in_value, x), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", [n for n, row in FAMILIES.items() if row[4] and n != "Mixture"])
def test_reparameterised_draws_follow_the_parameters(name):
    """A draw's derivative is the implicit one, ``dx/dtheta = -(dF(x; theta)/dtheta) / p(x; theta)``.

    (With the uniform ``F(x)`` held fixed: for location-scale maps of a fixed
    standard draw that is the plain pathwise derivative; for Gamma-based draws
    it is the implicit reparameterisation, not a finite difference of numpy's
    rejection sampler.)
    """
    build, reference, params, _, _ = FAMILIES[name]
    t = params(np.random.default_rng(5))

    def draws(theta):
        return build(theta).sample(np.random.default_rng(11), (3,))

    x = np.asarray(draws(t))
    expected = -_central(lambda theta: reference(theta).cdf(x), t, h=1e-6) / reference(t).pdf(x)
    np.testing.assert_allclose(grad(lambda theta: np.sum(draws(theta)), t), expected.sum(-1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_forward(lambda theta: np.sum(draws(theta)), t), expected.sum(-1),
                               rtol=1e-5, atol=1e-7)


def test_multinomial():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4))
    d = plait.Multinomial(6, p)
    xs = rng.multinomial(6, p, size=5)
    np.testing.assert_allclose(d.log_prob(xs), st.multinomial(6, p).logpmf(xs), rtol=0, atol=1e-10)
    assert d.log_prob([1, 1, 1, 1]) == -np.inf and d.log_prob([7, -1, 0, 0]) == -np.inf
    np.testing.assert_allclose(plait.Multinomial(6, logits=np.log(p) + 3.0).log_prob(xs), d.log_prob(xs), atol=1e-12)
    draws = d.sample(rng, (N_DRAWS,))
    assert draws.shape == (N_DRAWS, 4) and np.all(draws.sum(-1) == 6)
    assert np.all(np.abs(draws.mean(0) - d.mean) < 4 * np.sqrt(d.variance / N_DRAWS))
    lg = np.log(p)

    def f(logits):
        return np.sum(plait.Multinomial(6, logits=logits).log_prob(xs))

    expected = _central(f, lg)
    np.testing.assert_allclose(grad(f, lg), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_forward(f, lg), expected, rtol=1e-6, atol=1e-7)


def test_batched_families_broadcast():
    d = plait.Laplace(np.zeros(3), np.array([1.0, 2.0, 3.0]))
    assert d.batch_shape == (3,) and d.sample(np.random.default_rng(0), (2,)).shape == (2, 3)
    np.testing.assert_allclose(d.log_prob(np.ones((2, 3))), st.laplace(0, [1.0, 2.0, 3.0]).logpdf(np.ones((2, 3))))
    m = plait.Mixture([0.2, 0.8], plait.Normal(np.array([-1.0, 1.0]), 1.0))
    x = np.array([-0.5, 0.0, 2.0])
    np.testing.assert_allclose(m.log_prob(x), np.logaddexp(np.log(0.2) + st.norm(-1).logpdf(x),
                                                           np.log(0.8) + st.norm(1).logpdf(x)), atol=1e-12)
    assert plait.NegativeBinomial(np.array([1.0, 2.0]), 0.5).sample(np.random.default_rng(0), (4,)).shape == (4, 2)


def test_lkj_cholesky():
    rng = np.random.default_rng(1)
    # d = 2: the correlation r = L[1, 0] is 2 Beta(eta, eta) - 1, and dL = dr.
    for eta in (0.7, 1.0, 3.5):
        r = rng.uniform(-0.95, 0.95, 4)
        L = np.zeros((4, 2, 2))
        L[:, 0, 0], L[:, 1, 0], L[:, 1, 1] = 1.0, r, np.sqrt(1 - r * r)
        ref = st.beta(eta, eta).logpdf((r + 1) / 2) - np.log(2.0)
        np.testing.assert_allclose(plait.LKJCholesky(2, eta).log_prob(L), ref, rtol=0, atol=1e-10)
    # d = 4: each correlation is marginally 2 Beta(b, b) - 1 with b = eta - 1 + d / 2.
    d, eta = 4, 1.5
    draws = plait.LKJCholesky(d, eta).sample(rng, (N_DRAWS,))
    assert np.all(plait.supports.corr_cholesky(d).contains(draws))
    corr = np.einsum("nij,nkj->nik", draws, draws)[:, 2, 0]
    b = eta - 1 + d / 2
    ref = st.beta(b, b)
    assert abs(corr.mean()) < 4 * math.sqrt(4 * ref.var() / N_DRAWS)
    assert abs((corr ** 2).mean() - 4 * ref.var()) < 4 * (corr ** 2).std() / math.sqrt(N_DRAWS)
    # The normaliser: E over LKJ(1) draws of p_eta / p_1 is 1.
    base = plait.LKJCholesky(d, 1.0)
    uniform = base.sample(rng, (N_DRAWS,))
    ratio = np.exp(plait.LKJCholesky(d, eta).log_prob(uniform) - base.log_prob(uniform))
    assert abs(ratio.mean() - 1.0) < 4 * ratio.std() / math.sqrt(N_DRAWS)
    # Gradients in the concentration and the factor's entries (through the CorrCholesky transform).
    t = plait.transforms.CorrCholesky(d)
    x = rng.standard_normal(6)

    def f(v):
        return plait.LKJCholesky(d, v[0]).log_prob(t.forward(v[1:])) + t.log_abs_det_jacobian(v[1:])

    v = np.concatenate([[eta], x])
    expected = _central(f, v)
    np.testing.assert_allclose(grad(f, v), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_forward(f, v), expected, rtol=1e-6, atol=1e-7)


def test_delta_and_improper_uniform():
    d = plait.Delta(np.array([1.0, 2.0]), event_dim=1)
    assert d.log_prob(np.array([1.0, 2.0])) == 0.0 and d.log_prob(np.array([1.0, 2.5])) == -np.inf
    assert d.event_shape == (2,) and d.sample(None, (3,)).shape == (3, 2)
    assert grad(lambda v: np.sum(plait.Delta(2.0 * v).sample(None)), 1.5) == 2.0
    u = plait.ImproperUniform(plait.supports.positive, batch_shape=(2,))
    np.testing.assert_array_equal(u.log_prob(np.array([1.0, -1.0])), [0.0, -np.inf])
    with pytest.raises(plait.ImproperSampleError, match="cannot be sampled"):
        u.sample(np.random.default_rng(0))

    def model():
        yield plait.sample("x", plait.ImproperUniform(plait.supports.real))

    with pytest.raises(plait.ImproperSampleError):
        plait.simulate(model, seed=0)


def test_mixture_of_discrete_components_enumerates():
    d = plait.Mixture([0.25, 0.75], [plait.Bernoulli(0.5), plait.BetaBinomial(2, 1.0, 1.0)])
    assert d.enumerate_support() == [0, 1, 2]
    probs = np.exp([d.log_prob(v) for v in d.enumerate_support()])
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)

    def model():
        k = yield plait.sample("k", d)
        yield plait.observe("y", plait.Normal(float(k), 1.0), 1.0)
        return k

    exact = plait.exact(model)
    assert exact.log_evidence == pytest.approx(
        np.log(sum(p * st.norm(v, 1).pdf(1.0) for v, p in zip(d.enumerate_support(), probs))), abs=1e-12)


def test_parameter_errors_name_family_parameter_and_value():
    with pytest.raises(plait.InvalidParameterError, match=r"HalfCauchy: parameter 'scale' must be > 0, got -1.0"):
        plait.HalfCauchy(-1.0)
    with pytest.raises(plait.InvalidParameterError, match=r"NegativeBinomial: give \(n, p\) or \(mean, concentration\)"):
        plait.NegativeBinomial(2.0, 0.5, mean=1.0)
    with pytest.raises(plait.InvalidParameterError, match=r"Poisson: give exactly one of 'rate' and 'log_rate'"):
        plait.Poisson(1.0, log_rate=0.0)
    with pytest.raises(plait.InvalidParameterError, match=r"Bernoulli: parameter 'logits' must be finite, got inf"):
        plait.Bernoulli(logits=np.inf)
    with pytest.raises(plait.InvalidParameterError, match=r"Truncated: parameter 'low, high' must bound an interval"):
        plait.Truncated(plait.Normal(0.0, 1.0), 50.0, 60.0)
    with pytest.raises(plait.InvalidParameterError, match=r"Mixture: components must be a list of 2"):
        plait.Mixture([0.5, 0.5], [plait.Normal(0.0, 1.0)])
    with pytest.raises(plait.EffectTypeError, match=r"Truncated: base must be a scalar continuous"):
        plait.Truncated(plait.Poisson(2.0), 1.0)

"""plait.predictive: prior and posterior predictive draws, checked against closed forms."""

import math

import numpy as np
import plait
import pytest
from plait.inference.predictive import simulate_draws
from plait.inference.results.population import self_normalised_standard_error

SIGMAS = [0.5, 1.0, 2.0]


def schools(sigmas):
    """mu ~ N(0, 1), tau ~ Exponential(1), theta_j ~ N(mu, tau), y_j ~ N(theta_j, sigma_j)."""
    mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
    tau = yield plait.sample("tau", plait.Exponential(1.0))
    for j, sigma in enumerate(sigmas):
        theta = yield plait.sample(("theta", j), plait.Normal(mu, tau))
        yield plait.observe(("y", j), plait.Normal(theta, sigma), 0.0)


def within(estimate, exact, se, sds=4.0):
    assert abs(estimate - exact) < sds * se, f"{estimate} vs exact {exact} (4 SE = {sds * se})"


def test_prior_predictive_moments_of_a_hierarchical_model():
    # y_j = mu + tau z + sigma_j e:  E = 0, Var = 1 + E[tau^2] + sigma^2 = 3 + sigma^2,
    # E[y^4] = 3 + 3 E[tau^4] + 3 sigma^4 + 6 (E[tau^2] + sigma^2 + 2 sigma^2) with E tau^2 = 2, E tau^4 = 24.
    n = 4000
    pred = plait.predictive(schools, SIGMAS, num_samples=n, seed=1)
    assert pred.num_samples == n and pred.source == "prior"
    for j, sigma in enumerate(SIGMAS):
        y = pred[("y", j)]
        variance = 3.0 + sigma**2
        fourth = 3.0 + 72.0 + 3.0 * sigma**4 + 6.0 * (2.0 + 3.0 * sigma**2)
        within(y.mean(), 0.0, math.sqrt(variance / n))
        within(np.mean(y**2), variance, math.sqrt((fourth - variance**2) / n))
    # Schools share mu: Cov(y_0, y_1) = Var(mu) = 1; Var(y_0 y_1) = E[y_0^2 y_1^2] - 1, bounded by sampling.
    product = pred[("y", 0)] * pred[("y", 1)]
    within(product.mean(), 1.0, product.std(ddof=1) / math.sqrt(n))
    within(pred["tau"].mean(), 1.0, 1.0 / math.sqrt(n))


A, B, FLIPS = 2.0, 3.0, [1, 1, 0, 1, 1, 1, 0, 1, 0, 1]


def beta_bernoulli(flips):
    p = yield plait.sample("p", plait.Beta(A, B))
    for i, flip in enumerate(flips):
        yield plait.observe(("flip", i), plait.Bernoulli(p), flip)
    return p


EXACT = (A + sum(FLIPS)) / (A + B + len(FLIPS))  # P(y_new = 1 | data) = (a + k) / (a + b + n)


def exact_posterior_chain(num_chains, num_samples, seed):
    rng = np.random.default_rng(seed)
    p = rng.beta(A + sum(FLIPS), B + len(FLIPS) - sum(FLIPS), size=(num_chains, num_samples))
    draws = [[{"p": float(v)} for v in row] for row in p]
    return plait.Chain(draws, [[None] * num_samples] * num_chains, np.zeros((num_chains, num_samples)), {})


def test_posterior_predictive_of_beta_bernoulli_from_exact_draws():
    chain = exact_posterior_chain(2, 2000, seed=0)
    pred = plait.predictive(beta_bernoulli, FLIPS, samples=chain, seed=2)
    n = 4000
    for i in (0, 5, 9):
        flips = pred[("flip", i)]
        assert flips.shape == (n,) and set(np.unique(flips)) <= {0, 1}
        within(flips.mean(), EXACT, math.sqrt(EXACT * (1 - EXACT) / n))
    # The latent sites are the chain's draws, unchanged.
    np.testing.assert_array_equal(pred.draws("p"), chain.draws("p"))


def test_posterior_predictive_of_beta_bernoulli_from_importance():
    population = plait.importance(beta_bernoulli, FLIPS, num_particles=4000, seed=3, keep_traces=True)
    m = 4000
    pred = plait.predictive(beta_bernoulli, FLIPS, samples=population, num_samples=m, seed=4)
    # Given the population, each draw is Bernoulli(p_hat), p_hat the weighted mean of p (multinomial
    # resampling): the variance is that of p_hat (self-normalised IS) plus p(1 - p) / m.
    p_hat = population.expectation()
    se = math.sqrt(self_normalised_standard_error(population, lambda p: p) ** 2 + p_hat * (1 - p_hat) / m)
    within(pred[("flip", 3)].mean(), EXACT, se)
    assert pred.num_chains == 1 and pred.num_samples == m


def test_posterior_predictive_from_mh_keeps_chains():
    chain = plait.mh(beta_bernoulli, FLIPS, num_samples=300, num_chains=3, seed=5)
    pred = plait.predictive(beta_bernoulli, FLIPS, samples=chain, num_samples=100, return_sites="observed", seed=0)
    assert pred.num_chains == 3 and pred.num_samples == 100
    assert list(pred) == [("flip", i) for i in range(len(FLIPS))]
    assert pred.draws(("flip", 0)).shape == (3, 100) and pred[("flip", 0)].shape == (300,)
    # Evenly spaced draws through each chain, first and last included.
    all_p = plait.predictive(beta_bernoulli, FLIPS, samples=chain, num_samples=100, return_sites=["p"], seed=0)
    assert all_p.draws("p")[:, 0].tolist() == chain.draws("p")[:, 0].tolist()
    assert all_p.draws("p")[:, -1].tolist() == chain.draws("p")[:, -1].tolist()


def test_to_arviz_groups_and_dims():
    pytest.importorskip("arviz")
    chain = exact_posterior_chain(2, 50, seed=0)
    idata = plait.predictive(beta_bernoulli, FLIPS, samples=chain, seed=0).to_arviz()
    assert idata.posterior_predictive["flip/0"].dims == ("chain", "draw")
    assert idata.posterior_predictive["flip/0"].shape == (2, 50)
    assert idata.posterior["p"].shape == (2, 50)
    assert idata.observed_data["flip/3"].values.item() == FLIPS[3]
    assert "prior_predictive" not in idata.groups()

    prior = plait.predictive(schools, SIGMAS, num_samples=20, seed=0).to_arviz()
    assert prior.prior_predictive["y/2"].dims == ("chain", "draw") and prior.prior_predictive["y/2"].shape == (1, 20)
    assert prior.prior["mu"].shape == (1, 20)
    assert "posterior_predictive" not in prior.groups()


def test_vector_observation_deterministic_and_downstream_sites():
    def model(ys):
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        # A scalar distribution observing a vector: simulated at the vector's shape.
        y = yield plait.observe("y", plait.Normal(x, 1e-6), ys)
        yield plait.deterministic("total", float(np.sum(y)))

    pred = plait.predictive(model, np.zeros(4), num_samples=5, seed=0)
    assert pred["y"].shape == (5, 4) and pred.kinds["total"] == "deterministic"
    # The model continues with the simulated value, not the observed zeros.
    np.testing.assert_allclose(pred["total"], pred["y"].sum(axis=1))
    np.testing.assert_allclose(pred["y"], np.repeat(pred["x"][:, None], 4, axis=1), atol=1e-4)
    assert pred.observed_sites == ["y"] and pred.observed_data["y"].tolist() == [0.0] * 4


def test_sites_that_vary_between_draws():
    def model():
        k = yield plait.sample("k", plait.Bernoulli(0.5))
        if k:
            yield plait.sample("only_if_k", plait.Normal(0.0, 1.0))
        yield plait.deterministic("ragged", np.zeros(k + 1))

    pred = plait.predictive(model, num_samples=40, seed=0)
    k = pred["k"].astype(bool)
    assert np.isnan(pred["only_if_k"][~k]).all() and not np.isnan(pred["only_if_k"][k]).any()
    ragged = pred["ragged"]
    assert ragged.dtype == object and [len(v) for v in ragged] == (pred["k"] + 1).tolist()
    pytest.importorskip("arviz")
    with pytest.raises(ValueError, match="'ragged'"):
        pred.to_arviz()
    assert pred.to_arviz(addresses=["k"]).prior["k"].shape == (1, 40)


def test_same_seed_same_draws():
    first = plait.predictive(schools, SIGMAS, num_samples=10, seed=7)
    second = plait.predictive(schools, SIGMAS, num_samples=10, seed=7)
    assert all(np.array_equal(first[a], second[a]) for a in first)


def test_simulate_draws_is_the_per_draw_seam():
    draws = simulate_draws(beta_bernoulli, (FLIPS,), [{"p": 1.0}, {"p": 0.0}], np.random.default_rng(0), strict=True)
    assert draws.values[("flip", 4)] == [1, 0] and draws.kinds["p"] == "latent"


# -- errors ---------------------------------------------------------------------------------


def test_chain_missing_a_latent_address_names_it():
    chain = plait.mh(schools, SIGMAS, num_samples=5, seed=0)
    def fewer_theta(sigmas):  # the chain has theta/0..2 but this model also has theta/3
        yield from schools(list(sigmas) + [1.0])
    with pytest.raises(plait.MissingAddressError, match=r"\('theta', 3\)"):
        plait.predictive(fewer_theta, SIGMAS, samples=chain, seed=0)


def test_chain_with_an_extra_address_names_it():
    chain = plait.mh(schools, SIGMAS, num_samples=5, seed=0)
    with pytest.raises(plait.ExtraAddressError, match=r"\('theta', 2\)"):
        plait.predictive(schools, SIGMAS[:2], samples=chain, seed=0)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_num_samples_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="num_samples must be an int >= 1"):
        plait.predictive(schools, SIGMAS, num_samples=bad, seed=0)


def test_prior_needs_num_samples():
    with pytest.raises(ValueError, match="num_samples is required"):
        plait.predictive(schools, SIGMAS, seed=0)


def test_num_samples_beyond_the_chain():
    chain = exact_posterior_chain(1, 10, seed=0)
    with pytest.raises(ValueError, match="exceeds the chain's 10 draws"):
        plait.predictive(beta_bernoulli, FLIPS, samples=chain, num_samples=11, seed=0)


def test_population_without_traces():
    population = plait.importance(beta_bernoulli, FLIPS, num_particles=10, seed=0)
    with pytest.raises(ValueError, match="keep_traces=True"):
        plait.predictive(beta_bernoulli, FLIPS, samples=population, seed=0)


def test_samples_of_another_type():
    with pytest.raises(TypeError, match="samples must be None"):
        plait.predictive(beta_bernoulli, FLIPS, samples={"p": [0.5]}, seed=0)


def test_return_sites_errors():
    with pytest.raises(KeyError, match="'nope'"):
        plait.predictive(beta_bernoulli, FLIPS, num_samples=2, return_sites=["nope"], seed=0)
    with pytest.raises(ValueError, match="return_sites must be"):
        plait.predictive(beta_bernoulli, FLIPS, num_samples=2, return_sites="latent", seed=0)

"""plait.mh: posterior accuracy against exact answers, structure changes, kernels, errors."""

import math

import numpy as np
import pytest
from scipy import stats

import plait


def within(chain, what, exact, k=4.0):
    """|chain mean - exact| < k Monte Carlo standard errors, from the chain's own ESS."""
    mean, mcse = chain.mean(what), chain.mcse(what)
    assert mcse > 0
    assert abs(mean - exact) < k * mcse, f"mean {mean} vs exact {exact}: {abs(mean - exact) / mcse:.1f} MCSE"


def test_beta_bernoulli():
    flips = [1, 1, 0, 1, 1, 1, 0, 1, 0, 1]

    def model(flips):
        p = yield plait.sample("p", plait.Beta(2.0, 3.0))
        for i, f in enumerate(flips):
            yield plait.observe(("flip", i), plait.Bernoulli(p), f)
        return p

    chain = plait.mh(model, flips, num_samples=6000, burn_in=500, seed=1)
    within(chain, "p", (2 + 7) / (5 + 10))
    assert chain.rhat("p") < 1.05 and chain.ess("p") > 500


def test_gaussian_conjugate_mean_and_variance():
    ys = [1.2, 0.4, 2.2, 1.7, 0.9]

    def model(ys):
        mu = yield plait.sample("mu", plait.Normal(0.0, 2.0))
        for i, y in enumerate(ys):
            yield plait.observe(("y", i), plait.Normal(mu, 1.0), y)
        return mu

    precision = 1 / 4 + len(ys)
    mean, var = sum(ys) / precision, 1 / precision
    chain = plait.mh(model, ys, num_samples=6000, burn_in=500, num_chains=2, seed=2)
    within(chain, "mu", mean)
    within(chain, lambda mu: (mu - mean) ** 2, var)


def branching():
    b = yield plait.sample("b", plait.Bernoulli(0.4))
    if b:
        k = yield plait.sample("k", plait.Categorical([0.2, 0.5, 0.3]))
        yield plait.observe("o", plait.Poisson(k + 1.0), 2)
        return k
    m = yield plait.sample("m", plait.Binomial(3, 0.5))
    yield plait.observe("o", plait.Poisson(m + 0.5), 2)
    return 10 + m


def test_branches_that_sample_different_addresses():
    exact = plait.exact(branching)
    chain = plait.mh(branching, num_samples=8000, burn_in=500, num_chains=2, seed=3)
    within(chain, lambda v: float(v < 10), exact.prob(lambda v: v < 10))
    within(chain, lambda v: float(v), exact.expectation(float))
    draws_k = chain["k"]  # NaN where the other branch ran
    assert np.isnan(draws_k).any() and not np.isnan(draws_k).all()


def test_two_component_mixture_with_known_weights():
    ys = [2.9, 3.2, -0.4, 0.3, 3.5, 0.1, 2.7, -0.2]

    def model(ys):
        mu = yield plait.sample("mu", plait.Normal(0.0, 3.0))
        for i, y in enumerate(ys):
            z = yield plait.sample(("z", i), plait.Bernoulli(0.3))
            yield plait.observe(("y", i), plait.Normal(mu * z, 1.0), y)
        return mu

    grid = np.linspace(-15, 15, 300001)
    log_post = stats.norm(0, 3).logpdf(grid)
    for y in ys:
        log_post += np.log(0.3 * stats.norm(grid, 1).pdf(y) + 0.7 * stats.norm(0, 1).pdf(y))
    post = np.exp(log_post - log_post.max())
    exact_mean = np.trapezoid(grid * post, grid) / np.trapezoid(post, grid)
    chain = plait.mh(model, ys, num_samples=6000, burn_in=1000, num_chains=2, seed=4)
    within(chain, "mu", exact_mean)


def geometric(i=0):
    stop = yield plait.sample(("stop", i), plait.Bernoulli(0.4))
    if stop:
        return i
    return (yield from geometric(i + 1))


def count_model():
    n = yield from geometric()
    yield plait.observe("y", plait.Poisson(n + 1.0), 4)
    return n


def test_random_number_of_sites():
    ks = np.arange(400)
    log_post = ks * math.log(0.6) + math.log(0.4) + stats.poisson(ks + 1.0).logpmf(4)
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    chain = plait.mh(count_model, num_samples=15000, burn_in=1000, num_chains=2, seed=5)
    within(chain, float, float(np.dot(ks, post)))
    within(chain, lambda n: float(n == 0), post[0])
    within(chain, lambda n: float(n >= 3), post[3:].sum())


def weigh():
    w = yield plait.sample("w", plait.Gamma(2.0, 1.0))
    yield plait.observe("m", plait.Normal(w, 1.0), 1.0)
    return w


def exact_weigh_mean():
    grid = np.linspace(1e-12, 40, 400001)
    dens = stats.gamma(2).pdf(grid) * stats.norm(grid, 1).pdf(1.0)
    return np.trapezoid(grid * dens, grid) / np.trapezoid(dens, grid)


def widen(trace):
    # The step width depends on the state: forward and backward densities differ.
    w = trace["w"]
    yield plait.sample("w", plait.Normal(w, 0.1 + w))


def test_custom_proposal_with_state_dependent_width():
    exact = exact_weigh_mean()
    chain = plait.mh(weigh, num_samples=20000, burn_in=1000, kernel=plait.proposal_kernel(widen), seed=0)
    within(chain, "w", exact)
    assert set(chain.acceptance) == {"widen"}

    # The same moves without the proposal densities in the ratio: the test above must
    # be able to tell (this naive kernel lands more than 4 MCSE away).
    rng, w = np.random.default_rng(0), 1.0
    lp = plait.log_density(weigh, (), {"w": w})
    draws = []
    for _ in range(21000):
        proposal = w + (0.1 + w) * rng.standard_normal()
        if proposal > 0:
            lp_new = plait.log_density(weigh, (), {"w": proposal})
            if math.log(rng.random()) < lp_new - lp:
                w, lp = proposal, lp_new
        draws.append(w)
    draws = np.array(draws[1000:])
    naive_mcse = draws.std() / math.sqrt(plait.inference.results.diagnostics.effective_sample_size(draws))
    assert abs(draws.mean() - exact) > 4 * naive_mcse


def test_kernel_combinators_preserve_the_target():
    exact = exact_weigh_mean()
    site = plait.SingleSite()
    custom = plait.proposal_kernel(widen, label="widen")
    for kernel in (
        plait.sequence(site, custom),
        plait.mixture([site, custom], [0.3, 0.7]),
        plait.repeat(custom, 2),
        plait.cycle(custom, site),
    ):
        chain = plait.mh(weigh, num_samples=6000, burn_in=500, kernel=kernel, seed=6)
        within(chain, "w", exact)
        assert set(chain.acceptance) <= {"single_site", "widen"} and chain.acceptance


def test_same_seed_same_chain():
    a = plait.mh(branching, num_samples=300, num_chains=2, seed=9)
    b = plait.mh(branching, num_samples=300, num_chains=2, seed=9)
    c = plait.mh(branching, num_samples=300, num_chains=2, seed=10)
    assert a.returns == b.returns and np.array_equal(a.log_joint, b.log_joint)
    assert a.returns != c.returns


def test_chain_records_log_joint_returns_and_thinning():
    chain = plait.mh(weigh, num_samples=50, burn_in=10, thin=3, seed=0)
    assert chain.log_joint.shape == (1, 50) and len(chain.returns[0]) == 50
    lj = plait.log_density(weigh, (), {"w": chain.returns[0][7]})
    assert chain.log_joint[0, 7] == pytest.approx(lj)
    assert "w" in chain.summary()


def test_zero_probability_start_raises_instead_of_rejecting_forever():
    def impossible():
        x = yield plait.sample("x", plait.Uniform(0.0, 1.0))
        yield plait.observe("y", plait.Uniform(2.0, 3.0), x)

    with pytest.raises(plait.errors.InitializationError, match="'y'"):
        plait.mh(impossible, num_samples=10, seed=0)
    with pytest.raises(plait.errors.InitializationError, match="init"):
        plait.mh(weigh, num_samples=10, init={"w": -1.0}, seed=0)
    chain = plait.mh(weigh, num_samples=1, init={"w": 0.75}, seed=0, kernel=plait.repeat(plait.SingleSite(), 1))
    assert chain.num_samples == 1


def test_proposal_writing_an_address_the_model_lacks_raises():
    def stray(trace):
        yield plait.sample("v", plait.Normal(0.0, 1.0))

    with pytest.raises(plait.errors.ExtraAddressError, match="'v'"):
        plait.mh(weigh, num_samples=5, kernel=plait.proposal_kernel(stray), seed=0)


def test_argument_errors():
    with pytest.raises(ValueError, match="num_samples"):
        plait.mh(weigh, num_samples=0)
    with pytest.raises(TypeError, match="kernel"):
        plait.mh(weigh, num_samples=5, kernel=lambda s: s)
    with pytest.raises(ValueError, match="probs"):
        plait.mixture([plait.SingleSite()], [0.5])

"""Resample-move SMC and particle marginal MH."""

import math

import numpy as np
import pytest

import plait

from lgssm import PHI, SX, SY, kalman_log_likelihood, lgssm_data




def lgssm_phi(ys):
    phi = yield plait.sample("phi", plait.Uniform(-0.99, 0.99))
    x = yield plait.sample("x0", plait.Normal(0.0, math.sqrt(1.0 / (1.0 - phi**2))))

    def kernel(x, y):
        x = yield plait.sample("x", plait.Normal(phi * x, SX))
        yield plait.observe("y", plait.Normal(x, SY), y)
        return x

    return (yield plait.fold(kernel, x, ys, name="t"))


def test_pmmh_recovers_the_autoregression_coefficient():
    ys = lgssm_data(100)
    chain = plait.pmmh(lgssm_phi, ys, params=["phi"], num_particles=200, num_samples=500, burn_in=200,
                       num_chains=4, seed=0, smc_options={"vectorized": True})
    mean, sd = chain.mean("phi"), chain.sd("phi")
    assert abs(mean - PHI) < 2 * sd
    assert chain.rhat("phi") < 1.05
    # Stronger: the exact posterior of phi (Kalman likelihood on a grid, uniform prior).
    grid = np.linspace(-0.989, 0.989, 4001)
    log_post = np.array([kalman_log_likelihood(ys, phi) for phi in grid])
    post = np.exp(log_post - log_post.max())
    exact_mean = float(np.sum(grid * post) / np.sum(post))
    assert abs(mean - exact_mean) < 4 * chain.mcse("phi")
    assert 0.05 < chain.acceptance["pmmh"] < 0.8


def test_pmmh_same_seed_same_chain_and_errors():
    ys = lgssm_data(10)
    run = lambda seed: plait.pmmh(lgssm_phi, ys, params=["phi"], num_particles=20, num_samples=20, seed=seed,
                                  smc_options={"vectorized": True})
    a, b = run(1), run(1)
    assert np.array_equal(a["phi"], b["phi"]) and np.array_equal(a.log_joint, b.log_joint)
    with pytest.raises(KeyError, match="'rho'"):
        plait.pmmh(lgssm_phi, ys, params=["rho"], num_particles=10, num_samples=5, seed=0)
    with pytest.raises(ValueError, match="params"):
        plait.pmmh(lgssm_phi, ys, params=[], num_particles=10, num_samples=5, seed=0)


def hmm(ys):
    z = yield plait.sample("z0", plait.Bernoulli(0.5))
    for t, y in enumerate(ys):
        z = yield plait.sample(("z", t), plait.Bernoulli(0.8 if z else 0.3))
        yield plait.observe(("y", t), plait.Normal(2.0 * z, 1.0), y)
    return z


HMM_DATA = [0.1, 2.2, 1.9, -0.3, 2.5, 0.4]


def test_rmsmc_evidence_is_unbiased_and_posterior_exact():
    exact = plait.exact(hmm, HMM_DATA)
    pops = [plait.rmsmc(hmm, HMM_DATA, num_particles=16, seed=s) for s in range(200)]
    estimates = np.array([math.exp(p.log_evidence) for p in pops])
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - math.exp(exact.log_evidence)) < 4 * se
    assert sum(p.resample_count for p in pops) > 200  # the moves really ran
    means = np.array([plait.rmsmc(hmm, HMM_DATA, num_particles=100, seed=500 + s).expectation(float)
                      for s in range(20)])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - exact.expectation(float)) < 4 * se + 1e-3


def test_rmsmc_moves_spread_duplicated_particles():
    flips = [1, 1, 0, 1] * 4

    def coin(flips):
        p = yield plait.sample("p", plait.Beta(1.0, 1.0))
        for i, f in enumerate(flips):
            yield plait.observe(("flip", i), plait.Bernoulli(p), f)
        return p

    plain = plait.smc(coin, flips, num_particles=300, seed=0)
    moved = plait.rmsmc(coin, flips, num_particles=300, moves=2, seed=0)
    assert plain.resample_count > 0
    assert len(set(moved.values)) > 1.5 * len(set(plain.values))
    means = np.array([plait.rmsmc(coin, flips, num_particles=200, seed=s).expectation() for s in range(20)])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - 13 / 18) < 4 * se + 1e-3

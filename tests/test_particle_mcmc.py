"""Resample-move SMC and particle marginal MH."""

import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import plait
from plait.inference.mcmc.kernels import Kernel
from plait.inference.mcmc.target import Context
from plait.inference.mcmc.particle import MarginalState, MarginalTarget, ParticleMarginal

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


def test_pmmh_chains_are_identical_on_a_process_pool():
    # lgssm_phi is defined at module level, so it reaches the workers by pickling.
    options = dict(params=["phi"], num_particles=20, num_samples=30, burn_in=10, num_chains=4, seed=3,
                   smc_options={"vectorized": True})
    ys = lgssm_data(10)
    here = plait.pmmh(lgssm_phi, ys, **options)
    with ProcessPoolExecutor(2) as pool:
        there = plait.pmmh(lgssm_phi, ys, executor=pool, **options)
    assert here.num_chains == there.num_chains == 4 and here.num_samples == 30
    assert not np.array_equal(here.draws("phi")[0], here.draws("phi")[1])  # the chains differ from each other
    assert here.draws("phi").tobytes() == there.draws("phi").tobytes()
    assert here.log_joint.tobytes() == there.log_joint.tobytes()
    assert np.asarray(here.returns).tobytes() == np.asarray(there.returns).tobytes()
    assert here.acceptance == there.acceptance
    assert here.observations.keys() == there.observations.keys() and len(here.observations) == len(ys)


def test_pmmh_keeps_each_state_s_estimate_and_estimates_each_proposal_once(monkeypatch):
    estimates = []
    original = MarginalTarget.estimate

    def counted(self, *args):
        state = original(self, *args)
        estimates.append(state.log_joint)
        return state

    monkeypatch.setattr(MarginalTarget, "estimate", counted)
    chain = plait.pmmh(lgssm_phi, lgssm_data(10), params=["phi"], num_particles=10, num_samples=40, burn_in=5,
                       thin=2, seed=4, smc_options={"vectorized": True})
    assert len(estimates) == 1 + 5 + 40 * 2  # the start, then one per proposal: none for the current state
    phi, log_joint = chain.draws("phi")[0], chain.log_joint[0]
    stayed = phi[1:] == phi[:-1]
    assert stayed.any() and not stayed.all()
    assert np.array_equal(stayed, log_joint[1:] == log_joint[:-1])  # a kept state keeps its estimate
    assert set(log_joint) <= set(estimates)


def test_a_lucky_overestimate_is_kept_not_recomputed():
    # The pseudo-marginal signature: a state whose estimate is far too high is hard to leave.
    target = MarginalTarget(noisy_mean, (NOISY_DATA,), params=("mu",), num_particles=10)
    ctx = Context(target, np.random.default_rng(0))
    start = target.initial_state(ctx.rng)
    lucky = MarginalState(start.latents, start.log_joint + 50.0, start.value, start.start)
    kernel = ParticleMarginal()
    state = lucky
    for _ in range(20):
        state = kernel.step(state, ctx)
    assert state is lucky and ctx.accepted["pmmh"] == [0, 20]
    assert isinstance(kernel, Kernel)


NOISY_DATA = [0.8, 1.9, 1.1, 0.3, 1.6]


def noisy_mean(ys):
    mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
    for t, y in enumerate(ys):
        x = yield plait.sample(("x", t), plait.Normal(mu, 1.0))
        yield plait.observe(("y", t), plait.Normal(x, 0.5), y)
    return mu


@pytest.fixture(scope="module")
def noisy_chain():
    # Generic SMC tier (Python loop); y_t | mu ~ N(mu, 1.25), so mu's posterior is normal.
    return plait.pmmh(noisy_mean, NOISY_DATA, params=["mu"], num_particles=20, num_samples=400, burn_in=100,
                      num_chains=4, seed=0)


def test_pmmh_chain_matches_the_exact_posterior_with_mh_diagnostics(noisy_chain):
    chain = noisy_chain
    precision = 1.0 + len(NOISY_DATA) / 1.25
    exact_mean, exact_sd = sum(NOISY_DATA) / 1.25 / precision, precision**-0.5
    assert abs(chain.mean("mu") - exact_mean) < 4 * chain.mcse("mu")
    assert chain.sd("mu") == pytest.approx(exact_sd, rel=0.2)
    assert chain.rhat("mu") < 1.05 and chain.ess("mu") > 100
    assert chain.mcse("mu") == pytest.approx(chain.sd("mu") / math.sqrt(chain.ess("mu")))
    assert chain.mean(float) == pytest.approx(chain.mean("mu"), abs=0.1)  # a returned particle's mu is the state's
    header, row, accepted = chain.summary().splitlines()
    assert header.split() == ["address", "mean", "sd", "mcse", "ess", "r_hat"]
    assert row.split()[0] == "mu" and float(row.split()[1]) == pytest.approx(chain.mean("mu"), abs=1e-3)
    assert float(row.split()[5]) == pytest.approx(chain.rhat("mu"), abs=1e-3)
    assert accepted.startswith("acceptance: pmmh")
    assert chain.observations == {("y", t): y for t, y in enumerate(NOISY_DATA)}


def test_pmmh_chain_to_arviz(noisy_chain):
    az = pytest.importorskip("arviz")
    chain = noisy_chain
    idata = chain.to_arviz()
    assert idata.posterior["mu"].dims == ("chain", "draw") and idata.posterior["mu"].shape == (4, 400)
    np.testing.assert_array_equal(idata.posterior["mu"].values, chain.draws("mu"))
    np.testing.assert_array_equal(idata.sample_stats["lp"].values, chain.log_joint)
    assert idata.sample_stats.attrs["acceptance_rate"] == pytest.approx(chain.acceptance["pmmh"])
    assert [idata.observed_data[f"y/{t}"].values.item() for t in range(len(NOISY_DATA))] == NOISY_DATA
    assert float(az.rhat(idata, var_names=["mu"], method="split")["mu"]) == pytest.approx(chain.rhat("mu"), rel=1e-10)
    # Not to 1e-8 as for mh's chain in test_arviz: at this chain's truncation lag ArviZ (like Stan) adds one
    # positive even-lag autocorrelation that plait's effective_sample_size leaves out (0.1 % here).
    assert float(az.ess(idata, var_names=["mu"], method="identity")["mu"]) == pytest.approx(chain.ess("mu"), rel=0.01)


def test_pmmh_bad_input_is_named():
    ys = lgssm_data(5)
    run = lambda **kw: plait.pmmh(lgssm_phi, ys, **{"params": ["phi"], "num_particles": 10, "num_samples": 5,
                                                    "seed": 0, **kw})
    with pytest.raises(ValueError, match="pmmh: num_chains must be an int >= 1, got 0"):
        run(num_chains=0)
    with pytest.raises(ValueError, match="pmmh: num_particles must be an int >= 1, got 0"):
        run(num_particles=0)
    with pytest.raises(ValueError, match="pmmh: thin must be an int >= 1, got 1.5"):
        run(thin=1.5)
    with pytest.raises(TypeError, match="pmmh: params must be a list of site addresses, got 'phi'"):
        run(params="phi")
    with pytest.raises(ValueError, match="pmmh: smc_options may set .*vectorized.*; got 'seed'"):
        run(smc_options={"seed": 1})
    with pytest.raises(plait.ReplicaError, match="pmmh: chain 0 of 2 failed") as info:
        run(params=["rho"], num_chains=2)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(TypeError, match="ParticleMarginal moves the states of a MarginalTarget"):
        plait.mh(lgssm_phi, ys, num_samples=5, kernel=ParticleMarginal(), seed=0)


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

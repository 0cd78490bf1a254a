"""SMC for general programs (tier (a)): closed forms, plait.exact and a Kalman filter."""

import math

import numpy as np
import pytest

import plait

from lgssm import PHI, SX, SY, kalman_log_likelihood, lgssm_data


def hmm(ys):
    z = yield plait.sample("z0", plait.Bernoulli(0.5))
    for t, y in enumerate(ys):
        z = yield plait.sample(("z", t), plait.Bernoulli(0.8 if z else 0.3))
        yield plait.observe(("y", t), plait.Normal(2.0 * z, 1.0), y)
    return z


HMM_DATA = [0.1, 2.2, 1.9, -0.3, 2.5, 0.4]


@pytest.mark.parametrize("resampler", ["systematic", "stratified", "multinomial", "residual"])
def test_evidence_is_unbiased_against_exact(resampler):
    exact_evidence = math.exp(plait.exact(hmm, HMM_DATA).log_evidence)
    estimates = np.array(
        [
            math.exp(plait.smc(hmm, HMM_DATA, num_particles=16, resampler=resampler, seed=s).log_evidence)
            for s in range(150)
        ]
    )
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - exact_evidence) < 4 * se
    assert se < 0.1 * exact_evidence


def test_posterior_mean_of_beta_bernoulli_within_4_se():
    flips = [1, 1, 0, 1, 1, 1, 0, 1]

    def model(flips):
        p = yield plait.sample("p", plait.Beta(2.0, 2.0))
        for i, f in enumerate(flips):
            yield plait.observe(("flip", i), plait.Bernoulli(p), f)
        return p

    exact_mean = (2 + 6) / (4 + 8)
    means = np.array([plait.smc(model, flips, num_particles=200, seed=s).expectation() for s in range(20)])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - exact_mean) < 4 * se
    assert se < 0.01



def lgssm(ys):
    x = yield plait.sample("x0", plait.Normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))))
    for t, y in enumerate(ys):
        x = yield plait.sample(("x", t), plait.Normal(PHI * x, SX))
        yield plait.observe(("y", t), plait.Normal(x, SY), y)
    return x



def test_lgssm_log_evidence_matches_kalman_within_3_se():
    ys = lgssm_data(25)
    estimates = np.array([plait.smc(lgssm, ys, num_particles=200, seed=s).log_evidence for s in range(12)])
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - kalman_log_likelihood(ys)) < 3 * se + 0.05  # log Z is biased by ~var/2


def test_same_seed_same_population():
    ys = lgssm_data(10)
    a = plait.smc(lgssm, ys, num_particles=50, seed=3, batched=False)
    b = plait.smc(lgssm, ys, num_particles=50, seed=3, batched=False)
    c = plait.smc(lgssm, ys, num_particles=50, seed=4, batched=False)
    assert a.values == b.values and np.array_equal(a.log_weights, b.log_weights)
    assert a.log_evidence == b.log_evidence and a.resample_count == b.resample_count
    assert a.replayed == b.replayed and a.replayed > 0  # rebuilt particles reproduce too
    assert a.values != c.values


def test_structure_may_depend_on_random_values():
    def model():
        k = yield plait.sample("k", plait.DiscreteUniform(1, 3))
        total = 0
        for i in range(k):
            b = yield plait.sample(("b", i), plait.Bernoulli(0.5))
            yield plait.observe(("o", i), plait.Bernoulli(0.9 if b else 0.2), 1)
            total += b
        return k

    exact = plait.exact(model)
    values = np.array(
        [plait.smc(model, num_particles=300, seed=s).expectation(lambda k: float(k == 3)) for s in range(15)]
    )
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - exact.prob(lambda k: k == 3)) < 4 * se + 1e-3


def test_population_reports_ess_history_and_steps():
    seen = []
    pop = plait.smc(hmm, HMM_DATA, num_particles=30, seed=0, on_step=lambda step, p: seen.append(step))
    assert seen == list(range(1, len(HMM_DATA) + 1))
    assert len(pop.ess_history) == len(HMM_DATA)
    assert all(0 < e <= 30 for e in pop.ess_history)


def test_argument_errors():
    with pytest.raises(ValueError, match="num_particles"):
        plait.smc(hmm, HMM_DATA, num_particles=0)
    with pytest.raises(ValueError, match="resampler"):
        plait.smc(hmm, HMM_DATA, num_particles=5, resampler="bogus")
    with pytest.raises(ValueError, match="ess_threshold"):
        plait.smc(hmm, HMM_DATA, num_particles=5, ess_threshold=2.0)

"""Importance sampling and Population, against closed forms and plait.exact."""

import math

import numpy as np
import pytest
from scipy.special import betaln

import plait
from plait.inference.results.population import self_normalised_standard_error

FLIPS = [1, 1, 0, 1, 1, 1, 0, 1]
A, B = 2.0, 2.0
HEADS = sum(FLIPS)
POST_A, POST_B = A + HEADS, B + len(FLIPS) - HEADS
POSTERIOR_MEAN = POST_A / (POST_A + POST_B)
LOG_EVIDENCE = betaln(POST_A, POST_B) - betaln(A, B)


def beta_bernoulli(flips):
    p = yield plait.sample("p", plait.Beta(A, B))
    for i, f in enumerate(flips):
        yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    return p


def beta_guide(flips):
    yield plait.sample("p", plait.Beta(5.0, 3.0))


@pytest.mark.parametrize("guide", [None, beta_guide])
def test_posterior_mean_within_4_standard_errors(guide):
    pop = plait.importance(beta_bernoulli, FLIPS, num_particles=4000, guide=guide, seed=11)
    estimate = pop.expectation()
    se = self_normalised_standard_error(pop, lambda p: p)
    assert abs(estimate - POSTERIOR_MEAN) < 4 * se
    assert se < 0.01  # the check above is not vacuous


def test_evidence_estimate_is_unbiased_against_exact():
    def model():
        rain = yield plait.sample("rain", plait.Bernoulli(0.3))
        sprinkler = yield plait.sample("sprinkler", plait.Bernoulli(0.2 if rain else 0.5))
        yield plait.observe("wet", plait.Bernoulli(0.95 if rain or sprinkler else 0.05), 1)
        yield plait.observe("grass", plait.Bernoulli(0.8 if rain else 0.3), 1)
        return rain

    exact_evidence = math.exp(plait.exact(model).log_evidence)
    estimates = np.array(
        [math.exp(plait.importance(model, num_particles=10, seed=s).log_evidence) for s in range(400)]
    )
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - exact_evidence) < 4 * se
    assert se < 0.05 * exact_evidence


def test_log_evidence_with_the_exact_posterior_as_guide_is_exact():
    def posterior_guide(flips):
        yield plait.sample("p", plait.Beta(POST_A, POST_B))

    pop = plait.importance(beta_bernoulli, FLIPS, num_particles=50, guide=posterior_guide, seed=0)
    # Every weight equals the evidence: zero variance.
    assert np.allclose(pop.log_weights, LOG_EVIDENCE, rtol=1e-10)
    assert pop.log_evidence == pytest.approx(LOG_EVIDENCE, rel=1e-10)


def test_guide_address_errors_name_the_address():
    def extra_guide(flips):
        yield plait.sample("p", plait.Beta(2.0, 2.0))
        yield plait.sample("tau", plait.Gamma(1.0, 1.0))

    with pytest.raises(plait.ExtraAddressError, match="'tau'"):
        plait.importance(beta_bernoulli, FLIPS, num_particles=2, guide=extra_guide, seed=0)

    def empty_guide(flips):
        return
        yield

    with pytest.raises(plait.MissingAddressError, match="'p' ~ Beta"):
        plait.importance(beta_bernoulli, FLIPS, num_particles=2, guide=empty_guide, seed=0)

    def conditioning_guide(flips):
        yield plait.sample("p", plait.Beta(2.0, 2.0))
        yield plait.factor("bonus", 1.0)

    with pytest.raises(plait.EffectTypeError, match="guide conditions at 'bonus'"):
        plait.importance(beta_bernoulli, FLIPS, num_particles=2, guide=conditioning_guide, seed=0)


def test_same_seed_same_population_different_seed_different():
    a = plait.importance(beta_bernoulli, FLIPS, num_particles=20, seed=5)
    b = plait.importance(beta_bernoulli, FLIPS, num_particles=20, seed=5)
    c = plait.importance(beta_bernoulli, FLIPS, num_particles=20, seed=6)
    assert a.values == b.values and np.array_equal(a.log_weights, b.log_weights)
    assert a.values != c.values


def test_population_api():
    pop = plait.importance(beta_bernoulli, FLIPS, num_particles=200, seed=1, keep_traces=True)
    assert len(pop) == pop.num_particles == 200
    assert pop.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert 1.0 <= pop.ess <= 200.0
    assert pop.traces is not None and pop.traces[0]["p"] == pop.values[0]
    resampled = pop.resample(100, seed=2)
    assert len(resampled) == 100 and resampled.resample_count == 1
    assert resampled.log_evidence == pytest.approx(pop.log_evidence, rel=1e-12)
    assert np.all(resampled.log_weights == 0.0)
    assert set(resampled.values) <= set(pop.values)
    assert "200 particles" in pop.summary() and "mean" in pop.summary()
    with pytest.raises(ValueError, match="num_particles"):
        plait.importance(beta_bernoulli, FLIPS, num_particles=0)

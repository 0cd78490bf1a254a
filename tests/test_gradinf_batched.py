"""Batched GradInf (issue 21): many estimates as lanes keep the per-estimate engine's contract.

Exact derivatives come from ``plait.exact`` differentiated by dual numbers
(or gradinf.md §9's value for the queue at n = 50); the batched estimates'
mean must be within 4 SE of it, and their variance within 4 SE of the
per-estimate engine's (both estimated here, the SE of a variance from the
sample's fourth moment; the issue's tighter 2 SE figure is measured on
larger samples by ``bench/gradinf.py --batched``, whose figures the note
records).
"""

import math

import numpy as np
import pytest

import plait
from gradinf_models import gene, option, queue


def exact_derivative(model, theta):
    """d/dθ of the unnormalised expectation E[f · exp(log weights)], GradInf's estimand."""
    def unnormalised(th):
        measure = plait.exact(model, th)
        return measure.mean * np.exp(measure.log_evidence)

    return plait.diff(unnormalised, theta)


def variance_and_se(x):
    c = x - x.mean()
    s2 = x.var(ddof=1)
    return s2, math.sqrt(max((c**4).mean() - s2**2, 0.0) / len(x))


def check(model, theta, exact, inference, batched_n=2000, plain_n=300):
    result = plait.gradinf(model, theta, inference=inference, num_samples=batched_n, seed=11)
    assert result.engine == "batched", result.reason
    assert abs(result.mean - exact) < 4 * result.standard_error, (result.mean, result.standard_error, exact)
    plain = plait.gradinf(model, theta, inference=inference, num_samples=plain_n, seed=12, batched=False)
    assert plain.engine == "per-estimate" and plain.reason == "batched=False"
    (vb, sb), (vp, sp) = variance_and_se(result.estimates), variance_and_se(plain.estimates)
    assert abs(vb - vp) < 4 * math.hypot(sb, sp), (vb, sb, vp, sp)
    return result


@pytest.mark.parametrize("inference", [plait.VariableElimination(), plait.SIR(1), plait.SIR(4),
                                       plait.ExactPopulation()], ids=["VE", "SIR1", "SIR4", "exact"])
def test_queue_n10(inference):
    model = queue(10)
    check(model, 15.0, exact_derivative(model, 15.0), inference)


@pytest.mark.parametrize("inference", [plait.VariableElimination(), plait.SIR(1), plait.SIR(4)],
                         ids=["VE", "SIR1", "SIR4"])
def test_queue_n50(inference):
    check(queue(50), 15.0, 0.654704807917, inference, plain_n=400)


@pytest.mark.parametrize("inference", [plait.VariableElimination(), plait.SIR(1),
                                       plait.TwistedSMC(lambda b, a: b - a, k=1)], ids=["VE", "SIR1", "twisted"])
def test_option_pricing(inference):
    model = option(10)
    check(model, 0.15, exact_derivative(model, 0.15), inference)


@pytest.mark.parametrize("inference", [plait.SIR(1), plait.SIR(2)], ids=["SIR1", "SIR2"])
def test_gene_transcription_against_the_per_estimate_engine(inference):
    # No exact derivative here: the batched estimates' mean and variance are compared with
    # the per-estimate engine's, along d/d log(delta) (the largest coordinate).
    theta, direction = np.log([18.0, 8.0, 1.5, 4.0]), np.array([0.0, 0.0, 0.0, 1.0])
    result = plait.gradinf(gene(), theta, inference=inference, num_samples=600, seed=3, direction=direction)
    assert result.engine == "batched", result.reason
    plain = plait.gradinf(gene(), theta, inference=inference, num_samples=60, seed=4, direction=direction,
                          batched=False)
    assert abs(result.mean - plain.mean) < 4 * math.hypot(result.standard_error, plain.standard_error)
    (vb, sb), (vp, sp) = variance_and_se(result.estimates), variance_and_se(plain.estimates)
    assert abs(vb - vp) < 4 * math.hypot(sb, sp), (vb, sb, vp, sp)


def test_twisted_smc_on_the_queue():
    check(queue(10), 15.0, exact_derivative(queue(10), 15.0), plait.TwistedSMC(lambda b, a: abs(b - a) + 0.5, k=1))


def test_score_estimator_batched():
    result = plait.gradinf(queue(10, "score"), 15.0, inference=plait.Score(baseline=5.0), num_samples=3000, seed=3)
    assert result.engine == "batched"
    exact = exact_derivative(queue(10), 15.0)
    assert abs(result.mean - exact) < 4 * result.standard_error


def test_prelude_observations_and_a_value_after_the_loop():
    # A coin before the loop decides the walk's step; an observation weighs the end; the return
    # value reads the coin again: paths that differ before the loop must not be merged.
    def model(theta):
        up = yield plait.sample("up", plait.Bernoulli(theta))
        step = 2 if up else 1

        def kernel(x):
            b = yield plait.sample("b", plait.Bernoulli(theta / (1.0 + theta)))
            return x + step if b else x

        x = yield plait.iterate(kernel, 0, 4, name="walk")
        yield plait.observe("y", plait.Normal(x * theta, 1.0), 2.0)
        return x + 10 * up

    exact = exact_derivative(model, 0.4)
    for inference in (plait.VariableElimination(), plait.SIR(2)):
        result = plait.gradinf(model, 0.4, inference=inference, num_samples=4000, seed=5)
        assert result.engine == "batched", result.reason
        assert abs(result.mean - exact) < 4 * result.standard_error, (result.mean, result.standard_error, exact)


def test_vector_theta_one_pass_per_coordinate():
    def model(theta):
        a = yield plait.sample("a", plait.Bernoulli(theta[0]))
        b = yield plait.sample("b", plait.Bernoulli(theta[1]))
        return a + 2 * b

    result = plait.gradinf(model, np.array([0.3, 0.6]), num_samples=3000, seed=2)
    assert result.engine == "batched" and result.estimates.shape == (3000, 2)
    assert np.all(np.abs(result.mean - np.array([1.0, 2.0])) < 4 * result.standard_error)


def test_resampling_points_with_paths_of_different_lengths():
    # A geometric number of coins, a resampling point after each: each estimate's A stops at
    # its own number of points, and B paths that outlive A pass theirs.
    def model(theta):
        n = 0
        while True:
            stop = yield plait.sample(("stop", n), plait.Bernoulli(theta))
            yield plait.resample_point(("p", n))
            if stop or n == 6:
                return n
            n += 1

    exact = exact_derivative(model, 0.35)
    for inference in (plait.SIR(1), plait.VariableElimination(), plait.ExactPopulation()):
        result = plait.gradinf(model, 0.35, inference=inference, num_samples=4000, seed=4)
        assert result.engine == "batched", result.reason
        assert abs(result.mean - exact) < 4 * result.standard_error, (result.mean, result.standard_error, exact)


def test_what_is_not_batched_falls_back_and_says_why():
    def model(theta):
        x = yield plait.sample("x", plait.Normal(theta, 1.0), coupling="reflection")
        return 1.0 if x > 0 else 0.0

    result = plait.gradinf(model, 0.5, num_samples=400, seed=0)
    assert result.engine == "per-estimate" and "reflection" in result.reason
    assert abs(result.mean - 0.352065) < 4 * result.standard_error  # φ(0.5), gradinf.md §3.4
    forced = plait.gradinf(queue(5), 15.0, num_samples=50, seed=0, batched=False)
    assert forced.engine == "per-estimate" and forced.reason == "batched=False"
    mean, se = forced  # still the (mean, standard error) pair
    assert mean == forced.mean and se == forced.standard_error


def test_errors_keep_their_message():
    def model(theta):
        return (yield plait.sample("b", plait.Bernoulli(theta), coupling="indep"))

    with pytest.raises(plait.EffectTypeError, match="coupled_difference"):
        plait.gradinf(model, 0.3, num_samples=10, seed=0)


def test_seeded_runs_repeat():
    a = plait.gradinf(queue(20), 15.0, num_samples=100, seed=9).estimates
    b = plait.gradinf(queue(20), 15.0, num_samples=100, seed=9).estimates
    assert np.array_equal(a, b)


def test_a_split_starts_the_coupled_runs_again_with_their_log(monkeypatch):
    monkeypatch.setattr(plait.handlers.batched, "SPLITTING_MODELS", set())
    # The option model's runs keep no log until a branch on a lane value splits them,
    # after both streams have been drawn from; the estimates must be those of runs that
    # logged from the start.
    from plait.inference.gradient_estimation import batched as engine

    def estimates():
        result = plait.gradinf(option(10), 0.15, inference=plait.SIR(1), num_samples=200, seed=8)
        assert result.engine == "batched", result.reason
        return result.estimates

    on_demand = estimates()
    monkeypatch.setattr(engine, "logging_on_split", lambda attempt, *rewinds, model=None: attempt(True))
    assert np.array_equal(on_demand, estimates())
    monkeypatch.setattr(engine, "logging_on_split", lambda attempt, *rewinds, model=None: attempt(False))
    with pytest.raises(plait.handlers.batched.SplitNeedsLog):
        estimates()  # (the model does split)


def test_a_categorical_written_as_a_list_of_differentiable_probabilities():
    # d/dθ E[k] for k ~ Categorical([θ, 1 - θ, θ, 1 - θ] / 2) is (-1 + 2 - 3) / 2 = -1.
    def model(theta):
        k = yield plait.sample("k", plait.Categorical([theta / 2, (1 - theta) / 2, theta / 2, (1 - theta) / 2]))
        return float(k)

    for batched in (True, False):
        result = plait.gradinf(model, 0.35, num_samples=2000 if batched else 400, seed=1, batched=batched)
        assert result.engine == ("batched" if batched else "per-estimate"), result.reason
        assert abs(result.mean + 1.0) < 4 * result.standard_error, (result.mean, result.standard_error)

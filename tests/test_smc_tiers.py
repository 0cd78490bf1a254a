"""SMC tiers (b) (loops on explicit state) and (c) (vectorized): acceptance and agreement.

The full-size tier (a) LG-SSM check takes a quarter of an hour per
resampler; it is ``python bench/lgssm_acceptance.py --tiers a``.
"""

import io
import math

import numpy as np
import pytest

import plait

from lgssm import PHI, SX, SY, kalman_log_likelihood, lgssm_data
RESAMPLERS = ["systematic", "stratified", "multinomial", "residual"]




def kernel(x, y):
    x = yield plait.sample("x", plait.Normal(PHI * x, SX))
    yield plait.observe("y", plait.Normal(x, SY), y)
    return x


def lgssm_fold(ys):
    x = yield plait.sample("x0", plait.Normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))))
    return (yield plait.fold(kernel, x, ys, name="t"))


YS = lgssm_data(100)
KALMAN = kalman_log_likelihood(YS)


@pytest.mark.parametrize("resampler", RESAMPLERS)
@pytest.mark.parametrize("vectorized", [False, True], ids=["tier-b", "tier-c"])
def test_lgssm_log_evidence_within_3_se_of_kalman(vectorized, resampler):
    pops = [
        plait.smc(lgssm_fold, YS, num_particles=1000, resampler=resampler, seed=s, vectorized=vectorized,
                  batched=None if vectorized else False)
        for s in range(20)
    ]
    assert {p.tier for p in pops} == {"batched" if vectorized else "b"}
    estimates = np.array([p.log_evidence for p in pops])
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - KALMAN) < 3 * se
    assert se < 0.5  # the estimator is not degenerate


def test_every_tier_gives_the_same_population_for_the_same_seed():
    # All tiers draw from one stream, particle by particle and step by step,
    # so on this model they agree exactly, not only statistically.
    ys = YS[:15]
    runs = {
        "a": plait.smc(lgssm_fold, ys, num_particles=60, seed=7, loops=False, batched=False),
        "b": plait.smc(lgssm_fold, ys, num_particles=60, seed=7, batched=False),
        "c": plait.smc(lgssm_fold, ys, num_particles=60, seed=7, vectorized=True),
        "batched": plait.smc(lgssm_fold, ys, num_particles=60, seed=7),
    }
    assert {k: p.tier for k, p in runs.items()} == {"a": "a", "b": "b", "c": "batched", "batched": "batched"}
    assert runs["a"].replayed > 0 and runs["a"].resample_count > 0
    for pop in runs.values():
        assert pop.values == runs["a"].values
        assert np.array_equal(pop.log_weights, runs["a"].log_weights)
        assert pop.log_evidence == runs["a"].log_evidence
        assert pop.ess_history == runs["a"].ess_history


@pytest.mark.parametrize("options", [{"batched": False}, {"loops": False, "batched": False}, {"vectorized": True}],
                         ids=["b", "a", "c"])
def test_same_seed_same_population_within_a_tier(options):
    a = plait.smc(lgssm_fold, YS[:20], num_particles=100, seed=3, **options)
    b = plait.smc(lgssm_fold, YS[:20], num_particles=100, seed=3, **options)
    c = plait.smc(lgssm_fold, YS[:20], num_particles=100, seed=4, **options)
    assert a.values == b.values and np.array_equal(a.log_weights, b.log_weights)
    assert a.log_evidence == b.log_evidence and a.resample_count == b.resample_count > 0
    assert a.values != c.values


def hmm_kernel(z, y):
    # Written with arithmetic instead of `if`, so the same kernel vectorizes.
    z = yield plait.sample("z", plait.Bernoulli(0.3 + 0.5 * z))
    yield plait.observe("y", plait.Normal(2.0 * z, 1.0), y)
    return z


def hmm(ys):
    z = yield plait.sample("z0", plait.Bernoulli(0.5))
    return (yield plait.fold(hmm_kernel, z, ys, name="t"))


HMM_DATA = [0.1, 2.2, 1.9, -0.3, 2.5, 0.4]


@pytest.mark.parametrize("resampler", RESAMPLERS)
@pytest.mark.parametrize("vectorized", [False, True], ids=["tier-b", "tier-c"])
def test_evidence_is_unbiased_against_exact(vectorized, resampler):
    exact = plait.exact(hmm, HMM_DATA)
    estimates = np.array([
        math.exp(plait.smc(hmm, HMM_DATA, num_particles=16, resampler=resampler, seed=s,
                           vectorized=vectorized, batched=None if vectorized else False).log_evidence)
        for s in range(300)
    ])
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - math.exp(exact.log_evidence)) < 4 * se
    assert se < 0.1 * math.exp(exact.log_evidence)
    # The final state's posterior too (self-normalised, so compared over many runs).
    means = np.array([
        plait.smc(hmm, HMM_DATA, num_particles=200, resampler=resampler, seed=1000 + s,
                  vectorized=vectorized, batched=None if vectorized else False).expectation(float)
        for s in range(20)
    ])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - exact.expectation(float)) < 4 * se + 1e-3


def test_vectorized_prologue_values_follow_their_particles():
    # mu is drawn before the loop and the kernel closes over it: after every
    # resampling it must still belong to the same particle as the weights.
    data = [1.3, 0.7, 2.1, 1.8, 0.9, 1.5, 2.4, 1.1, 1.7, 2.0]

    def model(data):
        mu = yield plait.sample("mu", plait.Normal(0.0, 2.0))
        scaled = 1.0 * mu  # derived before the loop: followed too

        def step(count, y):
            yield plait.observe("y", plait.Normal(scaled, 1.0), y)
            return count + 1

        n = yield plait.fold(step, 0, data, name="obs")
        return mu, n

    # Conjugate normal: posterior precision 1/4 + n, mean sum(y) / (1/4 + n).
    precision = 0.25 + len(data)
    exact_mean = sum(data) / precision
    log_z = (
        -0.5 * len(data) * math.log(2 * math.pi) - 0.5 * math.log(4 * precision)
        - 0.5 * (sum(y * y for y in data) - sum(data) ** 2 / precision)
    )
    pops = [plait.smc(model, data, num_particles=2000, seed=s, vectorized=True) for s in range(20)]
    assert all(p.resample_count > 0 for p in pops)
    assert all(v[1] == len(data) for v in pops[0].values)
    means = np.array([p.expectation(lambda v: v[0]) for p in pops])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - exact_mean) < 4 * se + 1e-3
    evidences = np.array([math.exp(p.log_evidence - log_z) for p in pops])
    se = evidences.std(ddof=1) / math.sqrt(len(evidences))
    assert abs(evidences.mean() - 1.0) < 4 * se + 1e-3


def test_control_flow_on_a_particle_value_splits_the_batch_and_matches_exact():
    # vectorized=True used to refuse `if x > 0:`; the batched engine splits the
    # lanes at the branch instead, and the answer is the exact one.
    def branching(z, y):
        z = yield plait.sample("z", plait.Bernoulli(0.3 + 0.5 * z))
        if z == 1:  # depends on the particle
            yield plait.observe("y", plait.Normal(2.0, 1.0), y)
        else:
            yield plait.observe("y", plait.Normal(0.0, 1.0), y)
        return z

    def model(ys):
        z = yield plait.sample("z0", plait.Bernoulli(0.5))
        return (yield plait.fold(branching, z, ys, name="t"))

    exact = plait.exact(model, HMM_DATA)
    pops = [plait.smc(model, HMM_DATA, num_particles=200, seed=s, vectorized=True) for s in range(40)]
    assert {p.tier for p in pops} == {"batched"} and all(p.replayed > 0 for p in pops)
    estimates = np.array([math.exp(p.log_evidence) for p in pops])
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - math.exp(exact.log_evidence)) < 4 * se
    means = np.array([p.expectation(float) for p in pops])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - exact.expectation(float)) < 4 * se + 1e-3


def test_loop_under_a_condition_runs_in_tier_b_and_matches_tier_a():
    ys = YS[:12]
    conditioned = plait.handlers.condition(lgssm_fold, {("t", 5, "x"): 0.5})
    b = plait.smc(conditioned, ys, num_particles=80, seed=2, batched=False)
    a = plait.smc(conditioned, ys, num_particles=80, seed=2, loops=False, batched=False)
    assert (b.tier, a.tier) == ("b", "a")
    assert b.log_evidence == a.log_evidence and b.values == a.values


def test_particles_at_different_loops_run_inline():
    def model(ys):
        branch = yield plait.sample("branch", plait.Bernoulli(0.5))
        name = "left" if branch else "right"
        return (yield plait.fold(hmm_kernel, branch, ys, name=name))

    exact = plait.exact(model, HMM_DATA[:4])
    estimates = np.array([
        math.exp(plait.smc(model, HMM_DATA[:4], num_particles=20, seed=s).log_evidence) for s in range(200)
    ])
    assert plait.smc(model, HMM_DATA[:4], num_particles=20, seed=0, batched=False).tier == "a"
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - math.exp(exact.log_evidence)) < 4 * se


def test_code_after_the_loop_continues_each_particle():
    def model(ys):
        z = yield plait.fold(hmm_kernel, 0, ys, name="t")
        w = yield plait.sample("w", plait.Bernoulli(0.9))
        yield plait.observe("last", plait.Normal(z + w, 1.0), 1.0)
        return z + w

    exact = plait.exact(model, HMM_DATA)
    pops = [plait.smc(model, HMM_DATA, num_particles=300, seed=s, batched=False) for s in range(20)]
    assert {p.tier for p in pops} == {"a+b"}
    means = np.array([p.expectation(float) for p in pops])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - exact.expectation(float)) < 4 * se + 1e-3


@pytest.mark.parametrize("vectorized", [False, True])
def test_progress_reports_each_loop_step(vectorized):
    seen = []
    plait.smc(lgssm_fold, YS[:7], num_particles=20, seed=0, vectorized=vectorized,
              on_step=lambda step, pop: seen.append((step, len(pop))))
    assert seen == [(s, 20) for s in range(1, 8)]
    out = io.StringIO()
    show = plait.inference.particles.resampling.progress_printer(total=7, stream=out)
    plait.smc(lgssm_fold, YS[:7], num_particles=20, seed=0, vectorized=vectorized, on_step=show)
    assert "smc step 7/7" in out.getvalue()


def test_vectorized_values_are_split_per_particle():
    def model(ys):
        x = yield plait.fold(kernel, 0.0, ys, name="t")
        return {"x": x, "pair": (x, 1.0)}

    pop = plait.smc(model, YS[:3], num_particles=5, seed=0, vectorized=True)
    assert len(pop.values) == 5
    assert all(isinstance(v["x"], float) and v["pair"][1] == 1.0 for v in pop.values)
    assert pop.values[0]["x"] == pop.values[0]["pair"][0]


def test_duplicate_address_in_a_kernel_step_raises():
    def twice(x, y):
        x = yield plait.sample("x", plait.Normal(x, 1.0))
        yield plait.observe("x", plait.Normal(x, 1.0), y)
        return x

    def model(ys):
        return (yield plait.fold(twice, 0.0, ys, name="t"))

    for options in ({}, {"vectorized": True}):
        with pytest.raises(plait.errors.DuplicateAddressError, match="'x'"):
            plait.smc(model, [0.1], num_particles=3, seed=0, **options)


def test_a_kernel_that_is_not_a_generator_function_is_named():
    def not_a_kernel(x, y):
        return x

    def model(ys):
        return (yield plait.fold(not_a_kernel, 0.0, ys, name="t"))

    with pytest.raises(plait.errors.ModelTypeError, match="not_a_kernel"):
        plait.smc(model, [0.1], num_particles=3, seed=0)

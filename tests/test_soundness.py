"""Model/guide soundness: the per-run checks, the branch protocol, and sound guides against exact answers.

The examples are those of the trace-types paper (Fig. 1, the weight model)
and the guide-types paper (Fig. 1, the branching model); see docs/soundness.md.
"""

import math
import traceback

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import betaln

import plait
from plait.inference.results.population import self_normalised_standard_error

# -- the trace-types weight model (its Fig. 1) ------------------------------------------


def weight_model():
    w = yield plait.sample("weight", plait.Gamma(2.0, 1.0))
    yield plait.observe("measurement", plait.Normal(w, 0.2), 0.5)
    return w


def uniform_proposal():
    yield plait.sample("weight", plait.Uniform(0.0, 1.0))


def normal_guide():
    yield plait.sample("weight", plait.Normal(0.5, 0.5))


def gamma_proposal():
    yield plait.sample("weight", plait.Gamma(2.0, 4.0))  # gamma 2 0.25 (scale) = rate 4


def _weight_posterior():
    prior = stats.gamma(2.0)
    joint = lambda w: prior.pdf(w) * stats.norm(w, 0.2).pdf(0.5)
    evidence = integrate.quad(joint, 0, np.inf)[0]
    mean = integrate.quad(lambda w: w * joint(w), 0, np.inf)[0] / evidence
    return mean, evidence


def _assert_names(err, *parts):
    message = str(err.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# -- rejections ---------------------------------------------------------------------------


def test_uniform_proposal_for_the_gamma_weight_is_rejected():
    with pytest.raises(plait.SupportMismatchError) as err:
        plait.importance(weight_model, num_particles=10, guide=uniform_proposal, seed=0)
    _assert_names(err, "'weight'", "Gamma", "Uniform", "PositiveReal (0, inf)", "UnitInterval (0, 1)")
    assert err.value.address == "weight"


def test_normal_guide_for_a_positive_variable_is_rejected():
    with pytest.raises(plait.SupportMismatchError) as err:
        plait.importance(weight_model, num_particles=10, guide=normal_guide, seed=0)
    _assert_names(err, "'weight'", "PositiveReal (0, inf)", "Real (-inf, inf)", "model's density is zero")


def test_error_is_raised_at_the_models_yield_line():
    with pytest.raises(plait.SupportMismatchError) as err:
        plait.importance(weight_model, num_particles=1, guide=uniform_proposal, seed=0)
    frames = [f.name for f in traceback.extract_tb(err.value.__traceback__)]
    assert "weight_model" in frames


def test_discrete_guide_for_a_continuous_variable_is_rejected():
    def poisson_guide():  # the guide-types paper's Guide1': x ~ Poisson(4)
        yield plait.sample("weight", plait.Poisson(4.0))

    with pytest.raises(plait.SupportMismatchError) as err:
        plait.importance(weight_model, num_particles=10, guide=poisson_guide, seed=0)
    _assert_names(err, "'weight'", "kinds differ", "Naturals {0, 1, 2, ...} [discrete]",
                  "PositiveReal (0, inf) [continuous]")


def test_extra_and_missing_addresses_are_rejected():
    def extra():
        yield plait.sample("weight", plait.Gamma(2.0, 4.0))
        yield plait.sample("tau", plait.Gamma(1.0, 1.0))

    with pytest.raises(plait.ExtraAddressError) as err:
        plait.importance(weight_model, num_particles=2, guide=extra, seed=0)
    _assert_names(err, "'tau'", "PositiveReal (0, inf)", "['weight']")

    def empty():
        return
        yield

    with pytest.raises(plait.MissingAddressError) as err:
        plait.importance(weight_model, num_particles=2, guide=empty, seed=0)
    _assert_names(err, "'weight'", "Gamma", "PositiveReal (0, inf)", "did not propose")


def test_proposing_an_observed_address_is_rejected():
    def proposes_observation():
        yield plait.sample("weight", plait.Gamma(2.0, 4.0))
        yield plait.sample("measurement", plait.Normal(0.5, 1.0))

    with pytest.raises(plait.ObservedAddressError) as err:
        plait.importance(weight_model, num_particles=2, guide=proposes_observation, seed=0)
    _assert_names(err, "'measurement'", "Real (-inf, inf)", "observes")


def test_conditioning_guides_are_rejected():
    for effect in (plait.factor("bonus", 1.0), plait.observe("bonus", plait.Normal(0, 1), 0.0)):
        def conditioning(effect=effect):
            yield plait.sample("weight", plait.Gamma(2.0, 4.0))
            yield effect

        with pytest.raises(plait.GuideConditioningError) as err:
            plait.importance(weight_model, num_particles=2, guide=conditioning, seed=0)
        _assert_names(err, "'bonus'", "must only sample")


def test_duplicate_addresses_are_rejected_in_guide_and_model():
    def twice():
        yield plait.sample("weight", plait.Gamma(2.0, 4.0))
        yield plait.sample("weight", plait.Gamma(2.0, 4.0))

    with pytest.raises(plait.DuplicateAddressError, match="'weight'"):
        plait.importance(weight_model, num_particles=2, guide=twice, seed=0)

    def model_twice():
        yield plait.sample("a", plait.Normal(0, 1))
        yield plait.sample("a", plait.Normal(0, 1))

    def guide_once():
        yield plait.sample("a", plait.Normal(0, 1))

    with pytest.raises(plait.DuplicateAddressError, match="'a'"):
        plait.importance(model_twice, num_particles=2, guide=guide_once, seed=0)


def test_observation_outside_its_support_is_rejected():
    def model():
        p = yield plait.sample("p", plait.Beta(1.0, 1.0))
        yield plait.observe("flip", plait.Bernoulli(p), 2)

    def guide():
        yield plait.sample("p", plait.Beta(2.0, 2.0))

    with pytest.raises(plait.ObservationSupportError) as err:
        plait.importance(model, num_particles=2, guide=guide, seed=0)
    _assert_names(err, "'flip'", "2", "Boolean {0, 1}", "Bernoulli")


def test_smc_with_a_guide_runs_the_same_checks():
    with pytest.raises(plait.SupportMismatchError) as err:
        plait.smc(weight_model, num_particles=10, guide=uniform_proposal, seed=0)
    _assert_names(err, "'weight'", "PositiveReal (0, inf)", "UnitInterval (0, 1)")


def test_mh_proposal_with_a_smaller_support_is_rejected_and_a_random_walk_accepted():
    def independent_uniform(trace):
        yield plait.sample("weight", plait.Uniform(0.0, 1.0))

    kernel = plait.proposal_kernel(independent_uniform)
    with pytest.raises(plait.SupportMismatchError) as err:
        plait.mh(weight_model, num_samples=10, kernel=kernel, seed=0)
    _assert_names(err, "'weight'", "proposal 'independent_uniform'", "PositiveReal (0, inf)",
                  "UnitInterval (0, 1)")

    def counts(trace):  # discrete proposal for a continuous site
        yield plait.sample("weight", plait.Poisson(2.0))

    with pytest.raises(plait.SupportMismatchError, match="kinds differ"):
        plait.mh(weight_model, num_samples=10, kernel=plait.proposal_kernel(counts), seed=0)

    def walk(trace):  # support Real contains (0, inf): out-of-support moves are rejected
        yield plait.sample("weight", plait.Normal(trace["weight"], 0.3))

    mean, _ = _weight_posterior()
    chain = plait.mh(weight_model, num_samples=4000, burn_in=500, kernel=plait.proposal_kernel(walk), seed=3)
    assert abs(chain.mean("weight") - mean) < 4 * chain.mcse("weight")


# -- sound guides against exact answers ---------------------------------------------------


def test_sound_gamma_proposal_matches_the_weight_posterior():
    mean, evidence = _weight_posterior()
    pop = plait.importance(weight_model, num_particles=4000, guide=gamma_proposal, seed=1)
    se = self_normalised_standard_error(pop, lambda w: w)
    assert abs(pop.expectation() - mean) < 4 * se and se < 0.01
    w = np.exp(pop.log_weights)
    assert abs(w.mean() - evidence) < 4 * w.std(ddof=1) / math.sqrt(len(w))


FLIPS = [1, 1, 0, 1, 1, 1, 0, 1]


def beta_bernoulli(flips):
    p = yield plait.sample("p", plait.Beta(2.0, 2.0))
    for i, f in enumerate(flips):
        yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    return p


def test_beta_bernoulli_with_a_sound_guide_matches_the_exact_posterior():
    def guide(flips):
        yield plait.sample("p", plait.Beta(4.0, 2.0))

    heads = sum(FLIPS)
    a, b = 2.0 + heads, 2.0 + len(FLIPS) - heads
    pop = plait.importance(beta_bernoulli, FLIPS, num_particles=4000, guide=guide, seed=2)
    se = self_normalised_standard_error(pop, lambda p: p)
    assert abs(pop.expectation() - a / (a + b)) < 4 * se and se < 0.01
    w = np.exp(pop.log_weights)
    exact = math.exp(betaln(a, b) - betaln(2.0, 2.0))
    assert abs(w.mean() - exact) < 4 * w.std(ddof=1) / math.sqrt(len(w))


def test_gaussian_conjugate_with_a_sound_guide_matches_the_exact_posterior():
    ys = [0.8, 1.4, 0.3, 1.1]

    def model(ys):
        mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
        for i, y in enumerate(ys):
            yield plait.observe(("y", i), plait.Normal(mu, 1.0), y)
        return mu

    def guide(ys):
        yield plait.sample("mu", plait.Normal(0.5, 0.8))

    precision = 1.0 + len(ys)
    post_mean, post_sd = sum(ys) / precision, 1 / math.sqrt(precision)
    pop = plait.importance(model, ys, num_particles=4000, guide=guide, seed=3)
    for f, exact in ((lambda m: m, post_mean), (lambda m: m * m, post_sd**2 + post_mean**2)):
        se = self_normalised_standard_error(pop, f)
        assert abs(pop.expectation(f) - exact) < 4 * se and se < 0.02


# -- the guide-types branching example (its Fig. 1) ---------------------------------------


def branching_model(z):
    x = yield plait.sample("x", plait.Gamma(2.0, 1.0))
    if (yield plait.branch("small", x < 2)):
        yield plait.observe("z", plait.Normal(-1.0, 1.0), z)
    else:
        y = yield plait.sample("y", plait.Beta(3.0, 1.0))
        yield plait.observe("z", plait.Normal(y, 1.0), z)
    return x


def branching_guide(z):  # the paper's Guide1, receiving the model's decision
    yield plait.sample("x", plait.Gamma(1.0, 1.0))
    if not (yield plait.branch("small")):
        yield plait.sample("y", plait.Uniform(0.0, 1.0))


def opposite_guide(z):
    yield plait.sample("x", plait.Gamma(1.0, 1.0))
    if (yield plait.branch("small")):
        yield plait.sample("y", plait.Uniform(0.0, 1.0))


def _branching_exact(z):
    g = stats.gamma(2.0)
    small = stats.norm(-1.0, 1.0).pdf(z)
    big = integrate.quad(lambda y: stats.beta(3.0, 1.0).pdf(y) * stats.norm(y, 1.0).pdf(z), 0, 1)[0]
    evidence = g.cdf(2.0) * small + g.sf(2.0) * big
    ex = (small * integrate.quad(lambda x: x * g.pdf(x), 0, 2)[0]
          + big * integrate.quad(lambda x: x * g.pdf(x), 2, np.inf)[0]) / evidence
    p_small = g.cdf(2.0) * small / evidence
    return evidence, ex, p_small


def test_branching_model_with_a_receiving_guide_matches_numerical_integration():
    evidence, mean_x, p_small = _branching_exact(0.8)
    pop = plait.importance(branching_model, 0.8, num_particles=6000, guide=branching_guide, seed=4)
    for f, exact in ((lambda x: x, mean_x), (lambda x: float(x < 2), p_small)):
        se = self_normalised_standard_error(pop, f)
        assert abs(pop.expectation(f) - exact) < 4 * se and se < 0.1  # Guide1 is wide: ESS ~ 650
    w = np.exp(pop.log_weights)
    assert abs(w.mean() - evidence) < 4 * w.std(ddof=1) / math.sqrt(len(w))


def test_branching_guide_following_the_opposite_branch_is_rejected_at_run_time():
    # Whichever branch the first particle takes, one program samples 'y' and the other does not.
    with pytest.raises((plait.MissingAddressError, plait.ExtraAddressError)) as err:
        plait.importance(branching_model, 0.8, num_particles=50, guide=opposite_guide, seed=0)
    _assert_names(err, "'y'", "UnitInterval (0, 1)", "path: branch 'small'=")
    assert err.value.address == "y"


def test_guide_computing_its_own_threshold_must_agree_with_the_model():
    def threshold_guide(z):  # Guide1's branch condition, written independently and wrong
        x = yield plait.sample("x", plait.Gamma(1.0, 1.0))
        if not (yield plait.branch("small", x < 10)):
            yield plait.sample("y", plait.Uniform(0.0, 1.0))

    with pytest.raises(plait.BranchMismatchError) as err:
        plait.importance(branching_model, 0.8, num_particles=200, guide=threshold_guide, seed=0)
    _assert_names(err, "'small'", "decided False", "computed True")


def test_lockstep_order_error_when_the_guide_waits_for_a_later_decision():
    def model():
        x = yield plait.sample("x", plait.Normal(0, 1))
        yield plait.branch("b", x > 0)

    def guide():
        yield plait.branch("b")
        yield plait.sample("x", plait.Normal(0, 1))

    with pytest.raises(plait.LockstepOrderError) as err:
        plait.importance(model, num_particles=2, guide=guide, seed=0)
    _assert_names(err, "'x'", "'b'")


# -- recursion ---------------------------------------------------------------------------


def polar(k=0):
    """Marsaglia's polar method: a standard normal by recursive rejection."""
    u = yield plait.sample(("u", k), plait.Uniform(-1.0, 1.0))
    v = yield plait.sample(("v", k), plait.Uniform(-1.0, 1.0))
    s = u * u + v * v
    if (yield plait.branch(("accept", k), 0 < s < 1)):
        return u * math.sqrt(-2.0 * math.log(s) / s)
    return (yield from polar(k + 1))


def polar_model(y):
    x = yield from polar()
    yield plait.observe("y", plait.Normal(x, 1.0), y)
    return x


def polar_guide(y, k=0):
    yield plait.sample(("u", k), plait.Uniform(-1.0, 1.0))
    yield plait.sample(("v", k), plait.Uniform(-1.0, 1.0))
    if not (yield plait.branch(("accept", k))):
        yield from polar_guide(y, k + 1)


def test_marsaglia_polar_under_is_with_its_guide_matches_the_exact_posterior():
    pop = plait.importance(polar_model, 1.0, num_particles=4000, guide=polar_guide, seed=5)
    se = self_normalised_standard_error(pop, lambda x: x)
    assert abs(pop.expectation() - 0.5) < 4 * se and se < 0.03  # posterior N(0.5, 0.5)
    w = np.exp(pop.log_weights)  # evidence: N(1; 0, sqrt 2)
    assert abs(w.mean() - stats.norm(0, math.sqrt(2)).pdf(1.0)) < 4 * w.std(ddof=1) / math.sqrt(len(w))


def geometric(p, n=0):
    if (yield plait.sample(("stop", n), plait.Bernoulli(p))):
        return n
    return (yield from geometric(p, n + 1))


def geometric_model(y):
    n = yield from geometric(0.5)
    yield plait.observe("y", plait.Poisson(n + 1.0), y)
    return n


def geometric_guide(y):
    yield from geometric(0.3)


def test_geometric_recursion_under_is_with_its_guide_matches_the_exact_answer():
    ks = np.arange(400)
    post = 0.5 ** (ks + 1) * stats.poisson(ks + 1.0).pmf(3)
    exact_mean = (ks * post).sum() / post.sum()
    pop = plait.importance(geometric_model, 3, num_particles=4000, guide=geometric_guide, seed=6)
    se = self_normalised_standard_error(pop, lambda n: n)
    assert abs(pop.expectation() - exact_mean) < 4 * se and se < 0.05
    w = np.exp(pop.log_weights)
    assert abs(w.mean() - post.sum()) < 4 * w.std(ddof=1) / math.sqrt(len(w))


# -- SMC with a guide, and exact enumeration of a guided program ----------------------------


def chain_model(ys):
    state = 0
    for t, y in enumerate(ys):
        state = yield plait.sample(("s", t), plait.Bernoulli(0.8 if state else 0.3))
        yield plait.observe(("y", t), plait.Normal(2.0 * state, 1.0), y)
    return state


def chain_guide(ys):
    for t, y in enumerate(ys):
        yield plait.sample(("s", t), plait.Bernoulli(0.7 if y > 1 else 0.2))


YS = [0.3, 2.1, 1.7, -0.4]


def test_smc_with_a_guide_matches_exact_evidence_and_posterior():
    exact = plait.exact(chain_model, YS)
    estimates = np.array([
        math.exp(plait.smc(chain_model, YS, num_particles=20, guide=chain_guide, seed=s).log_evidence)
        for s in range(60)
    ])
    target = math.exp(exact.log_evidence)
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - target) < 4 * se and se < 0.05 * target
    pop = plait.smc(chain_model, YS, num_particles=3000, guide=chain_guide, seed=7)
    assert abs(pop.expectation() - exact.mean) < 0.04


def test_exact_enumeration_of_a_guided_program_is_the_posterior():
    exact = plait.exact(chain_model, YS)
    guided = plait.exact(plait.guided(chain_model, chain_guide), YS)
    assert guided.log_evidence == pytest.approx(exact.log_evidence, rel=1e-12)
    assert guided.mean == pytest.approx(exact.mean, rel=1e-12)


def test_guided_flattens_loops_and_scopes_with_the_run_loops_addresses():
    def kernel(state, y):
        s = yield plait.sample("s", plait.Bernoulli(0.5))
        yield plait.observe("y", plait.Normal(float(s), 1.0), y)
        return state + s

    def sub():
        return (yield plait.sample("z", plait.Normal(0.0, 1.0)))

    def model():
        yield plait.scope("a", sub())
        return (yield plait.fold(kernel, 0, [0.1, 0.9], name="L"))

    def guide():
        yield plait.scope("a", sub())
        for t in range(2):
            yield plait.sample(("L", t, "s"), plait.Bernoulli(0.6))

    plain = plait.simulate(model, seed=0)
    t = plait.simulate(plait.guided(model, guide), seed=0)
    assert list(t.latents) == [a for a, s in plain.choices.items() if not s.observed]


# -- the branch effect in every interpreter ---------------------------------------------------


def test_branch_answers_its_condition_everywhere():
    def model():
        c = yield plait.sample("c", plait.Bernoulli(0.4))
        if (yield plait.branch("b", c == 1)):
            yield plait.observe("y", plait.Normal(1.0, 1.0), 0.5)
        else:
            yield plait.observe("y", plait.Normal(-1.0, 1.0), 0.5)
        return c

    exact = plait.exact(model)
    like = [0.4 * stats.norm(1, 1).pdf(0.5), 0.6 * stats.norm(-1, 1).pdf(0.5)]
    assert exact.prob(lambda c: c == 1) == pytest.approx(like[0] / sum(like), rel=1e-12)
    assert plait.simulate(model, seed=0).branches["b"] in (True, False)
    pop = plait.smc(model, num_particles=2000, seed=0)
    assert abs(pop.expectation() - like[0] / sum(like)) < 0.05
    chain = plait.mh(model, num_samples=2000, burn_in=200, seed=0)
    assert abs(chain.mean("c") - like[0] / sum(like)) < 0.06

    def kernel(state, y):
        s = yield plait.sample("s", plait.Bernoulli(0.5))
        if (yield plait.branch("on", s == 1)):
            yield plait.observe("y", plait.Normal(1.0, 1.0), y)
        else:
            yield plait.observe("y", plait.Normal(0.0, 1.0), y)
        return state + s

    def looped():
        return (yield plait.fold(kernel, 0, [0.2, 1.3, 0.8], name="L"))

    tiered = plait.smc(looped, num_particles=500, seed=0)  # tier (b): the compiled kernel driver
    assert abs(tiered.log_evidence - plait.exact(looped).log_evidence) < 0.2

    def receive():
        yield plait.branch("b")

    with pytest.raises(plait.UnhandledEffectError, match="plait.guided"):
        plait.simulate(receive, seed=0)


# -- the pre-flight checker --------------------------------------------------------------


def test_check_verifies_the_sound_branching_guide():
    result = plait.check(branching_model, branching_guide, 0.8)
    assert result.verified, result.reason
    assert result.up_to_depth is None


def test_check_refutes_the_opposite_branch_guide_with_a_counterexample():
    result = plait.check(branching_model, opposite_guide, 0.8)
    assert result.refuted
    found = result.counterexample
    assert found.address == "y"
    assert (("branch", "small"), False) in found.choices or (("branch", "small"), True) in found.choices
    assert isinstance(found.error, (plait.MissingAddressError, plait.ExtraAddressError))


def test_check_refutes_unsound_supports_and_wrong_thresholds():
    result = plait.check(weight_model, uniform_proposal)
    assert result.refuted and isinstance(result.counterexample.error, plait.SupportMismatchError)

    def threshold_guide(z):
        x = yield plait.sample("x", plait.Gamma(1.0, 1.0))
        if not (yield plait.branch("small", x < 10)):
            yield plait.sample("y", plait.Uniform(0.0, 1.0))

    result = plait.check(branching_model, threshold_guide, 0.8)
    assert result.refuted and isinstance(result.counterexample.error, plait.BranchMismatchError)


def test_check_is_inconclusive_when_structure_depends_on_a_continuous_threshold():
    def model(z):
        x = yield plait.sample("x", plait.Gamma(2.0, 1.0))
        if x < 2:  # a plain if: the address set depends on x
            yield plait.observe("z", plait.Normal(-1.0, 1.0), z)
        else:
            y = yield plait.sample("y", plait.Beta(3.0, 1.0))
            yield plait.observe("z", plait.Normal(y, 1.0), z)

    def guide(z):
        x = yield plait.sample("x", plait.Gamma(1.0, 1.0))
        if x >= 2:
            yield plait.sample("y", plait.Uniform(0.0, 1.0))

    result = plait.check(model, guide, 0.8)
    assert result.inconclusive and not result.verified
    assert "'x'" in result.reason and "plait.branch" in result.reason


def test_check_enumerates_discrete_choices_and_bounds_recursion():
    result = plait.check(geometric_model, geometric_guide, 3, max_depth=12)
    assert result.verified and result.up_to_depth == 12

    def wrong_tail(y, n=0):  # proposes the wrong family only from depth 3 on
        dist = plait.Bernoulli(0.3) if n < 3 else plait.Normal(0.0, 1.0)
        stop = yield plait.sample(("stop", n), dist)
        if stop != 1:
            yield from wrong_tail(y, n + 1)

    result = plait.check(geometric_model, wrong_tail, 3, max_depth=12)
    assert result.refuted and result.counterexample.address == ("stop", 3)
    assert [v for _, v in result.counterexample.choices[:3]] == [0, 0, 0]

    result = plait.check(polar_model, polar_guide, 1.0, max_depth=9)
    assert result.verified and result.up_to_depth == 9


def test_a_refutation_says_when_its_path_took_a_branch_against_the_condition():
    # "pos" is always true for a Gamma draw; the guide only covers that arm.
    def model():
        w = yield plait.sample("w", plait.Gamma(2.0, 1.0))
        if (yield plait.branch("pos", w > 0.0)):
            yield plait.sample("z", plait.Normal(0.0, 1.0))
        else:
            yield plait.sample("z", plait.Beta(2.0, 2.0))

    def guide():
        yield plait.sample("w", plait.Gamma(2.0, 1.0))
        yield plait.sample("z", plait.Normal(0.0, 1.0))

    result = plait.check(model, guide)
    assert result.status == "refuted"
    assert result.counterexample.forced == ("pos",)
    assert "taken against its condition" in result.reason
    sound = plait.check(model, lambda: (yield from _branch_following_guide()))
    assert sound.status == "verified" and sound.counterexample is None


def _branch_following_guide():
    yield plait.sample("w", plait.Gamma(2.0, 1.0))
    if (yield plait.branch("pos")):
        yield plait.sample("z", plait.Normal(0.0, 1.0))
    else:
        yield plait.sample("z", plait.Beta(2.0, 2.0))

"""GradInf under handlers: scope, sub-models, condition, substitute, block, scale and mask.

GradInf's primal path and every alternative path run on the run loop, so
handlers inside the model bind as they do anywhere else.  Each expectation
here is exact given the seed: a handler that only renames sites, or that
touches sites outside the estimated quantity, must leave the random draws
and the arithmetic of the plain estimate alone; a condition on a site that
does not depend on θ multiplies the (unnormalised) estimate by its likelihood.
"""

import math

import numpy as np
import plait
import pytest
from plait.handlers import block, condition, mask, scale, substitute
from test_gradinf_independent import walks
from test_gradinf_pins import THETA, gene, queue

SEEDS = (0, 1, 7)
INFERENCES = [plait.VariableElimination(), plait.SIR(1)]
IDS = ["VE", "SIR1"]


def estimates(model, inference, theta=15.0):
    return [np.asarray(plait.gradinf(model, theta, inference=inference, seed=s)).tolist() for s in SEEDS]


def as_sub_model(model):
    """``model`` under a scope, called from another model."""
    scoped = plait.scope("q", model)

    def outer(theta):
        return (yield from scoped(theta))

    return outer


def as_scoped_program(model):
    """``model``'s generator under a scope inside another model (``plait.scope(prefix, generator)``)."""
    def outer(theta):
        return (yield from plait.scope("q", model(theta)))

    return outer


def with_flag(model, p):
    """``model``, then a coin of probability ``p`` that nothing depends on (drawn after the queue)."""
    def outer(theta):
        x = yield from plait.scope("q", model)(theta)
        yield plait.sample("flag", plait.Bernoulli(p))
        return x

    return outer


@pytest.mark.parametrize("inference", INFERENCES, ids=IDS)
@pytest.mark.parametrize("wrap", [lambda m: plait.scope("q", m), as_sub_model, as_scoped_program],
                         ids=["scoped model", "scoped sub-model", "scoped generator"])
def test_a_scoped_queue_gives_the_plain_estimate(wrap, inference):
    assert estimates(wrap(queue()), inference) == estimates(queue(), inference)


def test_resampling_points_and_independent_runs_under_a_scope_give_the_plain_estimate():
    assert estimates(plait.scope("g", gene()), plait.SIR(1), THETA) == estimates(gene(), plait.SIR(1), THETA)
    assert estimates(as_sub_model(walks), plait.VariableElimination(), 2.0) == \
        estimates(walks, plait.VariableElimination(), 2.0)


@pytest.mark.parametrize("inference", INFERENCES, ids=IDS)
def test_condition_on_an_unrelated_site_multiplies_the_estimate_by_its_likelihood(inference):
    plain = estimates(queue(), inference)
    # GradInf's estimand is unnormalised: d/dθ E[x · L], and L = 0.3 does not depend on θ.
    conditioned = estimates(condition(with_flag(queue(), 0.3), {"flag": 1}), inference)
    assert conditioned == [pytest.approx(0.3 * g, rel=1e-12, abs=1e-15) for g in plain]
    # A likelihood of exactly 1 leaves the estimate exactly as it was.
    assert estimates(condition(with_flag(queue(), 1.0), {"flag": 1}), inference) == plain


def queue_from(start, n):
    """The pins' queue from state ``start`` for ``n`` steps."""
    def model(theta):
        def step(x):
            c = 25 if x > 25 else x
            grow = yield plait.sample("grow", plait.Bernoulli(theta / (theta + c)), coupling="crn")
            return x + 1 if grow else x - 1
        return (yield plait.iterate(step, start, n, name="queue"))
    return model


@pytest.mark.parametrize("inference", INFERENCES, ids=IDS)
def test_substituting_the_first_steps_gives_the_estimate_of_the_queue_after_them(inference):
    # Loop sites under handlers have the run loop's addresses: (scope, (loop, step, site)).
    first_ten_grow = {("q", ("queue", s, "grow")): 1 for s in range(10)}
    fixed = substitute(plait.scope("q", queue()), first_ten_grow)
    assert plait.simulate(fixed, 15.0, seed=0).latents[("q", ("queue", 9, "grow"))] == 1
    assert estimates(fixed, inference) == estimates(queue_from(10, 40), inference)


@pytest.mark.parametrize("inference", INFERENCES, ids=IDS)
def test_a_blocked_site_is_out_of_reach_of_the_condition_outside(inference):
    plain = estimates(queue(), inference)
    # The flag stays a coin (drawn after the queue, moving nothing), so nothing is weighed.
    assert estimates(condition(block(with_flag(queue(), 0.3), hide=["flag"]), {"flag": 1}), inference) == plain
    # Blocking every site sends the loop's sites to the base past the scope: the plain estimate again.
    assert estimates(block(plait.scope("q", queue())), inference) == plain


@pytest.mark.parametrize("inference", INFERENCES, ids=IDS)
def test_scale_and_mask_reweigh_observations_and_leave_samples_alone(inference):
    plain = estimates(queue(), inference)
    conditioned = condition(with_flag(queue(), 0.3), {"flag": 1})
    # scale also wraps the queue's sample sites: their coupling must see through it.
    assert estimates(scale(conditioned, 2.0), inference) == [
        pytest.approx(0.3 ** 2 * g, rel=1e-12, abs=1e-15) for g in plain]
    assert estimates(mask(conditioned, False), inference) == plain


def test_mean_field_runs_under_handlers():
    def coins(theta):
        total = 0.0
        for i in range(4):
            total += yield plait.sample(("b", i), plait.Bernoulli(theta))
        return total * total

    mean_field = plait.MeanField()
    plain = plait.gradinf(coins, 0.3, inference=mean_field)
    assert plait.gradinf(as_sub_model(coins), 0.3, inference=mean_field) == plain
    conditioned = condition(with_flag(coins, 0.3), {"flag": 1})
    assert plait.gradinf(conditioned, 0.3, inference=mean_field) == pytest.approx(0.3 * plain, rel=1e-12)
    assert not math.isnan(plain)

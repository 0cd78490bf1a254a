"""The bad-input catalogue (issue 20): every kind of bad input, in every engine, fails loudly and precisely.

Each case runs one engine on one bad input and asserts the exact error class
and that the message names the site's address (or the argument) and the
offending value.  None may pass silently: a case that raises nothing fails.
"""

from __future__ import annotations

import math
import traceback
from typing import Any, Callable

import numpy as np
import pytest

import plait
from plait import errors

NAN, INF = float("nan"), float("inf")


# -- what is bad: (name, site code, error class, what the message must name) -----------------------

def bad_scale():
    yield plait.sample("w", plait.Normal(0.0, -1.0))


def bad_probability():
    yield plait.observe("flip", plait.Bernoulli(1.5), 1)


def bad_rate():
    yield plait.observe(("count", 2), plait.Poisson(-3.0), 1)


def nan_observation():
    yield plait.observe("y", plait.Normal(0.0, 1.0), NAN)


def inf_observation():
    yield plait.observe("y", plait.Normal(0.0, 1.0), INF)


def misshapen_observation():
    yield plait.observe("ys", plait.Normal(np.zeros(3), 1.0), np.zeros(4))


def negative_count():
    yield plait.observe("n", plait.Poisson(2.0), -1)


def bernoulli_two():
    yield plait.observe("coin", plait.Bernoulli(0.5), 2)


def negative_gamma():
    yield plait.observe("g", plait.Gamma(2.0, 1.0), -1.5)


def numpy_nan_observation():  # an element of a data array: a numpy scalar
    yield plait.observe("y", plait.Normal(0.0, 1.0), np.array([NAN])[0])


def numpy_negative_count():
    yield plait.observe("n", plait.Poisson(2.0), np.array([-1])[0])


def numpy_fractional_count():
    yield plait.observe("n", plait.Poisson(2.0), np.array([1.5])[0])


BAD_SITES = [
    (bad_scale, errors.InvalidParameterError, ["'w'", "scale", "-1.0"]),
    (bad_probability, errors.InvalidParameterError, ["'flip'", "'p'", "1.5"]),
    (bad_rate, errors.InvalidParameterError, ["('count', 2)", "rate", "-3.0"]),
    (nan_observation, errors.InvalidObservationError, ["'y'", "nan"]),
    (inf_observation, errors.InvalidObservationError, ["'y'", "inf"]),
    (misshapen_observation, errors.InvalidObservationError, ["'ys'", "(4,)"]),
    (negative_count, errors.ObservationSupportError, ["'n'", "-1"]),
    (bernoulli_two, errors.ObservationSupportError, ["'coin'", "2"]),
    (negative_gamma, errors.ObservationSupportError, ["'g'", "-1.5"]),
    (numpy_nan_observation, errors.InvalidObservationError, ["'y'", "nan"]),
    (numpy_negative_count, errors.ObservationSupportError, ["'n'", "-1"]),
    (numpy_fractional_count, errors.ObservationSupportError, ["'n'", "1.5"]),
]


# -- the models around a bad site, one per kind of engine --------------------------------------------

def continuous(bad: Callable[[], Any]) -> Callable[..., Any]:
    """A model with a continuous latent, then the bad site."""
    def model():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield from bad()
        return x
    return model


def discrete(bad: Callable[[], Any]) -> Callable[..., Any]:
    """A model of ``theta`` with a Bernoulli latent, then the bad site (for exact and gradinf)."""
    def model(theta=0.3):
        z = yield plait.sample("z", plait.Bernoulli(theta))
        yield from bad()
        return float(z)
    return model


def guide():
    loc = yield plait.param("loc", 0.0)
    yield plait.sample("x", plait.Normal(loc, 1.0))


ENGINES: dict[str, Callable[[Callable[[], Any]], Any]] = {
    "simulate": lambda bad: plait.simulate(continuous(bad), seed=0),
    "importance": lambda bad: plait.importance(continuous(bad), num_particles=3, seed=0),
    "smc": lambda bad: plait.smc(continuous(bad), num_particles=3, seed=0),
    "mh": lambda bad: plait.mh(continuous(bad), num_samples=3, seed=0),
    "exact": lambda bad: plait.exact(discrete(bad)),
    "gradinf": lambda bad: plait.gradinf(discrete(bad), 0.3, seed=0),
    "LogDensity": lambda bad: plait.LogDensity(continuous(bad)).log_density(np.zeros(1)),
    "svi": lambda bad: plait.svi(continuous(bad), guide, num_steps=2, seed=0),
}


# -- bad sites inside loop kernels: SMC tiers (b) and (c) -----------------------------------------------

def kernel_bad_scale(x, y):
    x = yield plait.sample("x", plait.Normal(x, -2.0))
    return x


def kernel_nan(x, y):
    yield plait.observe("y", plait.Normal(x, 1.0), NAN)
    return x


def kernel_out_of_support(x, y):
    yield plait.observe("k", plait.Poisson(1.0), -2)
    return x


def kernel_misshapen(x, y):
    yield plait.observe("v", plait.Normal(0.0, np.ones(2)), np.zeros(5))
    return x


KERNELS = [
    (kernel_bad_scale, errors.InvalidParameterError, ["'x'", "scale", "-2.0"]),
    (kernel_nan, errors.InvalidObservationError, ["'y'", "nan"]),
    (kernel_out_of_support, errors.ObservationSupportError, ["'k'", "-2"]),
    (kernel_misshapen, errors.InvalidObservationError, ["'v'", "(5,)"]),
]


def looped(kernel):
    def model():
        return (yield plait.fold(kernel, 0.0, [0.5, 1.0], name="t"))
    return model


LOOP_ENGINES = {
    "smc tier (a)": lambda kernel: plait.smc(looped(kernel), num_particles=3, seed=0, loops=False),
    "smc tier (b)": lambda kernel: plait.smc(looped(kernel), num_particles=3, seed=0),
    "smc tier (c)": lambda kernel: plait.smc(looped(kernel), num_particles=3, seed=0, vectorized=True),
}


# -- bad arguments -----------------------------------------------------------------------------------

def fine():
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    yield plait.observe("y", plait.Normal(x, 1.0), 0.5)
    return x


ARGUMENTS = [
    ("simulate seed=-1", lambda: plait.simulate(fine, seed=-1), ["seed", "-1"]),
    ("simulate seed='abc'", lambda: plait.simulate(fine, seed="abc"), ["seed", "'abc'"]),
    ("importance seed=1.5", lambda: plait.importance(fine, num_particles=2, seed=1.5), ["seed", "1.5"]),
    ("smc seed=-7", lambda: plait.smc(fine, num_particles=2, seed=-7), ["seed", "-7"]),
    ("mh seed='x'", lambda: plait.mh(fine, num_samples=2, seed="x"), ["seed", "'x'"]),
    ("svi seed=[-1]", lambda: plait.svi(fine, guide, num_steps=2, seed=[-1]), ["seed", "[-1]"]),
    ("mh num_samples=0", lambda: plait.mh(fine, num_samples=0, seed=0), ["num_samples", "0"]),
    ("mh num_samples='10'", lambda: plait.mh(fine, num_samples="10", seed=0), ["num_samples", "'10'"]),
    ("mh num_chains=0", lambda: plait.mh(fine, num_samples=2, num_chains=0, seed=0), ["num_chains", "0"]),
    ("importance num_particles=0", lambda: plait.importance(fine, num_particles=0, seed=0),
     ["num_particles", "0"]),
    ("importance num_particles=2.5", lambda: plait.importance(fine, num_particles=2.5, seed=0),
     ["num_particles", "2.5"]),
    ("smc num_particles=-3", lambda: plait.smc(fine, num_particles=-3, seed=0), ["num_particles", "-3"]),
    ("smc num_runs=0", lambda: plait.smc(fine, num_particles=2, num_runs=0, seed=0), ["num_runs", "0"]),
    ("smc resampler='best'", lambda: plait.smc(fine, num_particles=2, resampler="best", seed=0),
     ["resampler", "'best'"]),
    ("smc ess_threshold=2", lambda: plait.smc(fine, num_particles=2, ess_threshold=2.0, seed=0),
     ["ess_threshold", "2.0"]),
    ("svi num_steps=0", lambda: plait.svi(fine, guide, num_steps=0, seed=0), ["num_steps", "0"]),
    ("gradinf num_samples=1", lambda: plait.gradinf(discrete(fine_site), 0.3, num_samples=1, seed=0),
     ["num_samples", "1"]),
]


def fine_site():
    yield plait.observe("y", plait.Normal(0.0, 1.0), 0.5)


# -- populations every particle of which is impossible ----------------------------------------------

def doomed():
    z = yield plait.sample("z", plait.Bernoulli(0.0))
    yield plait.observe("evidence", plait.Bernoulli(np.asarray(z, dtype=float)), 1)
    return z


def doomed_kernel(x, y):
    z = yield plait.sample("z", plait.Bernoulli(0.0))
    yield plait.observe("evidence", plait.Bernoulli(np.asarray(z, dtype=float)), 1)
    return x


DEGENERATE = [
    ("importance", lambda: plait.importance(doomed, num_particles=4, seed=0), "'evidence'"),
    ("smc tier (a)", lambda: plait.smc(doomed, num_particles=4, seed=0), "'evidence'"),
    ("smc tier (b)", lambda: plait.smc(looped(doomed_kernel), num_particles=4, seed=0), "('t', 0)"),
    ("smc tier (c)", lambda: plait.smc(looped(doomed_kernel), num_particles=4, seed=0, vectorized=True),
     "('t', 0)"),
]


# -- the catalogue --------------------------------------------------------------------------------

CASES: list[Any] = (
    [pytest.param(ENGINES[e], bad, cls, needles, id=f"{e}-{bad.__name__}")
     for e in ENGINES for bad, cls, needles in BAD_SITES]
    + [pytest.param(LOOP_ENGINES[e], kernel, cls, needles, id=f"{e}-{kernel.__name__}")
       for e in LOOP_ENGINES for kernel, cls, needles in KERNELS]
)


def test_the_catalogue_holds_at_least_fifty_cases():
    assert len(CASES) + len(ARGUMENTS) + len(DEGENERATE) >= 50


@pytest.mark.parametrize("engine, bad, cls, needles", CASES)
def test_bad_site(engine, bad, cls, needles):
    with pytest.raises(cls) as caught:
        engine(bad)
    assert type(caught.value) is cls, f"{type(caught.value).__name__}: {caught.value}"
    for needle in needles:
        assert needle in str(caught.value), f"{needle!r} not in: {caught.value}"


@pytest.mark.parametrize("what, call, needles", [pytest.param(*a, id=a[0]) for a in ARGUMENTS])
def test_bad_argument(what, call, needles):
    with pytest.raises(errors.InvalidArgumentError) as caught:
        call()
    assert type(caught.value) is errors.InvalidArgumentError
    for needle in needles:
        assert needle in str(caught.value), f"{needle!r} not in: {caught.value}"


@pytest.mark.parametrize("what, call, needle", [pytest.param(*d, id=d[0]) for d in DEGENERATE])
def test_degenerate_weights_name_the_observation(what, call, needle):
    population = call()
    assert population.log_evidence == -math.inf
    with pytest.raises(errors.DegenerateWeightsError) as caught:
        _ = population.weights
    assert needle in str(caught.value) and "4 particles" in str(caught.value), str(caught.value)
    with pytest.raises(errors.DegenerateWeightsError):
        population.expectation()


def test_errors_are_raised_at_the_users_yield_line():
    """The traceback of a bad parameter and of a bad observation ends in the model's own code."""
    for bad in (bad_scale, nan_observation):
        with pytest.raises(plait.errors.PlaitError) as caught:
            plait.smc(continuous(bad), num_particles=2, seed=0)
        frames = [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
        assert bad.__name__ in frames


def test_old_except_clauses_keep_working():
    """The new classes subclass the builtins the old errors were."""
    with pytest.raises(ValueError):
        plait.importance(fine, num_particles=0)
    with pytest.raises(TypeError):
        plait.simulate(fine, seed="abc")
    with pytest.raises(ValueError):
        plait.simulate(continuous(nan_observation), seed=0)


def test_outside_support_can_ask_for_minus_infinity():
    def model():
        yield plait.observe("n", plait.Poisson(2.0), -1, outside_support="-inf")
    assert plait.simulate(model, seed=0).log_likelihood == -math.inf


def test_addresses_the_model_computes_are_named():
    def model(scales):
        for i, s in enumerate(scales):
            yield plait.sample(("w", i), plait.Normal(0.0, s))
    with pytest.raises(errors.InvalidParameterError) as caught:
        plait.simulate(model, [1.0, 2.0, -4.0], seed=0)
    assert caught.value.address == ("w", 2) and "-4.0" in str(caught.value)
    assert (caught.value.family, caught.value.parameter, caught.value.value) == ("Normal", "scale", -4.0)

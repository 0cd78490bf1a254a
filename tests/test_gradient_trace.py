"""Traced gradient programs (plait.gradients.trace) and LogDensity's replayed sampler gradient.

The replayed value and gradient must be those of a real (untraced) run at
every point, including points where a guard changes (branches on
parameters, parameters leaving their domain, NaN site densities).
"""

import math

import numpy as np
import plait
import pytest
from nuts_models import (
    SCHOOLS_SIGMA,
    SCHOOLS_Y,
    eight_schools,
    regression,
    regression_data,
)
from plait.gradients import perturbation, stop_gradient
from plait.gradients.reverse import Tape
from plait.gradients.trace import record
from plait.inference.embedding import log_density as log_density_module


def _trace(f, *values):
    return record(f, *values)


def _untraced_value_and_grad(f, *values):
    with perturbation() as tag:
        tape = Tape(tag)
        leaves = [tape.variable(v) for v in values]
        y = f(*leaves)
        return float(stop_gradient(y)), tape.backward(y, leaves)


# -- the trace on its own ------------------------------------------------------------------------

def test_replay_equals_a_real_run_and_refuses_a_changed_branch():
    def f(x, s):
        if s > 1.0:  # a guard
            return np.sum(np.exp(x) * s)
        return np.sum(x * x) - s

    recording, program = _trace(f, np.array([0.1, 0.2]), 2.0)
    assert recording.invalid is None and program is not None
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, s = rng.normal(size=2), np.float64(rng.uniform(1.5, 3.0))
        value, grads = program.replay([x, s])
        ref_value, ref_grads = _untraced_value_and_grad(f, x, s)
        assert value == ref_value
        for a, b in zip(grads, ref_grads):
            np.testing.assert_array_equal(a, b)
    assert program.replay([np.array([0.1, 0.2]), np.float64(0.5)]) is None


def test_a_plain_array_mutated_after_use_replays_the_value_it_had():
    def f(x):
        c = np.array([1.0, 2.0])
        y = x * c
        c[0] = 100.0  # mutated after the multiplication used it
        return np.sum(y * c)

    _, program = _trace(f, np.array([1.0, 1.0]))
    value, (g,) = program.replay([np.array([2.0, 3.0])])
    assert value == 2.0 * 100.0 + 3.0 * 4.0
    np.testing.assert_array_equal(g, [100.0, 4.0])  # d/dx sum(x * [1, 2] * [100, 2])


def test_reading_a_traced_number_outside_the_rules_refuses_the_recording():
    def f(x):
        scale = float(stop_gradient(x))  # a plain number the trace could not recompute
        return x * scale

    recording, program = _trace(f, 2.0)
    assert program is None and "read outside" in recording.invalid


def test_traced_values_inside_an_object_array_replay_their_own_operations():
    _, program = _trace(lambda x: np.sum(np.array([x, x], dtype=object) * np.array([1.0, 2.0])), 2.0)
    value, (g,) = program.replay([np.float64(3.0)])
    assert (value, g) == (9.0, 3.0)


def test_an_object_array_as_a_constant_refuses_the_recording():
    recording, program = _trace(lambda x: np.multiply(x, np.array([x], dtype=object)), 2.0)
    assert program is None and "object array" in recording.invalid


def test_formatting_a_traced_value_refuses_the_recording():
    _, program = _trace(lambda x: x * len(f"{x}"), 2.0)
    assert program is None


# -- LogDensity: the sampler's replayed gradient against untraced runs ----------------------------

def _branching(y):
    mu = yield plait.sample("mu", plait.Normal(0.0, 3.0))
    if mu > 0.5:  # control flow on a parameter: the guard's outcome changes across points
        scale = yield plait.sample("s", plait.Gamma(2.0, 1.0))
    else:
        scale = yield plait.sample("s", plait.Exponential(2.0))
    yield plait.observe("y", plait.Normal(mu, scale), y)


def _constrained(y):
    p = yield plait.sample("p", plait.Beta(2.0, 3.0))
    s = yield plait.sample("s", plait.HalfCauchy(2.0))
    w = yield plait.sample("w", plait.Normal(np.zeros(3), 1.0))
    yield plait.factor("soft", -np.sum(w * w) * p)
    yield plait.observe("y", plait.Normal(w * s, 1.0 + p), y)


def _overflowing(y):
    log_s = yield plait.sample("log_s", plait.Normal(0.0, 50.0))
    s = np.exp(log_s)  # inf far out: Normal's scale check fails, the point gets -inf
    yield plait.observe("y", plait.Normal(0.0, s), y)
    m = yield plait.sample("m", plait.Normal(0.0, 1.0))
    yield plait.observe("z", plait.Normal(m, 1.0 / s), 0.3)


def _logistic(X, y):
    beta = yield plait.sample("beta", plait.Normal(np.zeros(X.shape[1]), 1.0))
    yield plait.observe("y", plait.Bernoulli(1.0 / (1.0 + np.exp(-(X @ beta)))), y)


def _logistic_data():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    return X, (rng.random(40) < 0.5).astype(float)


MODELS = {
    "eight schools": (eight_schools, (SCHOOLS_Y, SCHOOLS_SIGMA), 1.5),
    "regression": (regression, regression_data(), 2.0),
    "branching": (_branching, (np.array([0.4, 1.3, 0.9]),), 1.5),
    "constrained": (_constrained, (np.array([0.3, -1.2, 2.0]),), 2.0),
    "overflowing": (_overflowing, (np.array([1.0, 2.0]),), 300.0),
    "logistic": (_logistic, _logistic_data(), 1.5),
}


def _same_result(a, b):
    if math.isinf(b[0]) or math.isinf(a[0]):
        return a[0] == b[0] and np.array_equal(a[1], b[1])
    return (abs(a[0] - b[0]) <= 1e-12 * abs(b[0])
            and np.allclose(a[1], b[1], rtol=1e-12, atol=1e-300))


@pytest.mark.parametrize("name", list(MODELS))
def test_replayed_sampler_gradient_equals_the_untraced_one(name, monkeypatch):
    model, args, spread = MODELS[name]
    traced = plait.LogDensity(model, *args)
    monkeypatch.setattr(log_density_module, "TRACE_ATTEMPTS", 0)
    plain = plait.LogDensity(model, *args)
    rng = np.random.default_rng(7)
    outcomes = set()
    for _ in range(150):
        x = rng.normal(size=traced.dim) * spread
        a, b = traced.sampler_log_density_and_grad(x), plain.sampler_log_density_and_grad(x)
        assert _same_result(a, b), (name, x, a, b)
        outcomes.add(math.isinf(a[0]))
    assert traced._program is not None  # the model was traced (and replayed)
    assert plain._program is None
    if name == "overflowing":
        assert outcomes == {True, False}  # both finite points and out-of-domain points were met


def test_branch_changes_retrace_and_stay_exact(monkeypatch):
    ld = plait.LogDensity(_branching, np.array([0.4, 1.3]))
    first = ld.sampler_log_density_and_grad(np.array([1.0, 0.0]))  # traced on the mu > 0.5 branch
    program = ld._program
    second = ld.sampler_log_density_and_grad(np.array([-1.0, 0.0]))  # guard fails: a real, traced run
    assert ld._program is not program
    monkeypatch.setattr(log_density_module, "TRACE_ATTEMPTS", 0)
    plain = plait.LogDensity(_branching, np.array([0.4, 1.3]))
    assert _same_result(first, plain.sampler_log_density_and_grad(np.array([1.0, 0.0])))
    assert _same_result(second, plain.sampler_log_density_and_grad(np.array([-1.0, 0.0])))


def test_a_structural_error_still_raises_with_its_address():
    def broken():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield plait.observe("y", plait.Normal(x, 1.0), np.nan)

    with pytest.raises(Exception, match="'y'"):
        plait.LogDensity(broken).log_density_and_grad(np.array([0.0]))


def _stopped(y):
    mu = yield plait.sample("mu", plait.Normal(0.0, 2.0))
    s = yield plait.sample("s", plait.Gamma(2.0, 2.0))
    yield plait.factor("damped", -mu * float(stop_gradient(mu)))  # a number a replay could not recompute
    yield plait.observe("y", plait.Normal(mu, s), y)


def test_an_untraceable_model_is_run_every_time_and_stays_exact(monkeypatch):
    traced = plait.LogDensity(_stopped, 0.7)
    monkeypatch.setattr(log_density_module, "TRACE_ATTEMPTS", 0)
    plain = plait.LogDensity(_stopped, 0.7)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.normal(size=2)
        assert _same_result(traced.sampler_log_density_and_grad(x), plain.sampler_log_density_and_grad(x))
    assert traced._program is None and traced._trace_attempts == 0  # refused three times, then just run


# -- the compiled (straight-line) form of a program -----------------------------------------------

# Models whose programs use only the compiled step kinds ("branching" compares a traced value: a
# plain ufunc, compiled as a guard); "constrained" calls rules (``where``), which stay interpreted.
COMPILED = ["eight schools", "regression", "branching", "overflowing", "logistic"]


@pytest.mark.parametrize("name", COMPILED)
def test_the_compiled_program_gives_the_interpreted_numbers_bit_for_bit(name):
    model, args, spread = MODELS[name]
    density = plait.LogDensity(model, *args)
    rng = np.random.default_rng(11)
    compared = 0
    for _ in range(60):
        x = rng.normal(size=density.dim) * spread
        density.sampler_log_density_and_grad(x)
        program = density._program
        if program is None or program.compiled is None:
            continue
        parts = density._parts(x)
        with np.errstate(all="ignore"):
            interpreted = program._run(list(parts), Tape(0))
            try:
                compiled = program.compiled(*parts)
            except Exception:  # a guard: the interpreted replay gives up too
                assert interpreted is None
                continue
        assert interpreted is not None
        assert compiled[0] == interpreted[0] or (math.isnan(compiled[0]) and math.isnan(interpreted[0]))
        for a, b in zip(compiled[1], interpreted[1]):
            np.testing.assert_array_equal(a, b)
        compared += 1
    assert compared > 10, name


def test_a_program_with_a_rule_call_stays_interpreted():
    model, args, _ = MODELS["constrained"]
    density = plait.LogDensity(model, *args)
    for x in np.random.default_rng(2).normal(size=(3, density.dim)):
        density.sampler_log_density_and_grad(x)
    assert density._program is not None and density._program.compiled is None


def test_a_zero_cotangent_times_an_infinite_partial_is_zero_as_in_the_interpreted_replay():
    # At x[0] = 0 the sqrt's partial is inf and its cotangent is exactly 0: the compiled product
    # is NaN, the interpreted rules' zero-absorbing product is 0; the replay must give 0.
    def f(x):
        return np.sum(np.sqrt(x) * np.array([0.0, 1.0]))

    _, program = _trace(f, np.array([1.0, 4.0]))
    assert program.replay([np.array([1.0, 4.0])]) is not None
    assert program.compiled is not None
    with np.errstate(all="ignore"):
        value, (g,) = program.replay([np.array([0.0, 4.0])])
        ref_value, (ref_g,) = _untraced_value_and_grad(f, np.array([0.0, 4.0]))
    assert value == ref_value
    np.testing.assert_array_equal(g, ref_g)
    np.testing.assert_array_equal(g, [0.0, 0.25])


def test_a_compiled_program_refuses_where_a_guard_changes():
    def f(x):
        total = np.sum(x)
        return np.sum(x * x) if total > 0 else total

    _, program = _trace(f, np.array([1.0, 2.0]))
    assert program.replay([np.array([2.0, 3.0])]) is not None
    assert program.compiled is not None
    assert program.replay([np.array([-5.0, 3.0])]) is None
    value, (g,) = program.replay([np.array([3.0, 1.0])])
    assert value == 10.0
    np.testing.assert_array_equal(g, [6.0, 2.0])

"""plait.independent: sub-simulations that GradInf factorises (its foldrP), without pruning."""

import math

import numpy as np
import pytest

import plait


def unbiased(model, theta, exact, n=2000, seed=1, **options):
    mean, se = plait.gradinf(model, theta, num_samples=n, seed=seed, **options)
    assert abs(mean - exact) < 4 * se, f"{mean} ± {se} vs {exact}"
    return mean, se


def walk(theta):
    """A short random walk whose steps go up with probability theta / (theta + position)."""
    def kernel(x):
        up = yield plait.sample("up", plait.Bernoulli(theta / (theta + 1.0 + abs(x))))
        return x + 1 if up else x - 1

    return lambda x0: (yield plait.iterate(kernel, x0, 3, name="walk"))


def walks(theta):
    ends = yield plait.independent(walk(theta), [0, 1, 2], name="walks")
    return float(np.prod([e + 4 for e in ends]))  # a product: not additive across runs


def walks_in_turn(theta):
    ends = []
    for i, x0 in enumerate([0, 1, 2]):
        ends.append((yield from plait.effects.records.IndependentRuns(walk(theta))((), x0))[0])
    return float(np.prod([e + 4 for e in ends]))


def exact_derivative(model, theta):
    """d/dθ of the unnormalised expectation E[W f], GradInf's estimand."""
    def unnormalised(t):
        measure = plait.exact(model, t)
        return measure.expectation() * np.exp(measure.log_evidence)
    return float(plait.diff(unnormalised, theta))


def test_every_interpreter_sees_a_fold():
    assert plait.exact(walks, 2.0).expectation() == pytest.approx(plait.exact(walks_in_turn, 2.0).expectation())
    t = plait.simulate(walks, 2.0, seed=3)
    assert sorted({a[:2] for a in t.latents}) == [("walks", 0), ("walks", 1), ("walks", 2)]


@pytest.mark.parametrize("inference", [plait.ExactPopulation(), plait.VariableElimination(), plait.SIR(1),
                                       plait.SIR(3)], ids=["population", "VE", "SIR1", "SIR3"])
def test_factorised_runs_with_loops_inside_are_unbiased(inference):
    exact = exact_derivative(walks, 2.0)
    unbiased(walks, 2.0, exact, inference=inference, n=1500)


def test_given_the_primal_path_population_is_exact_and_factorisation_changes_nothing():
    # The same A (same seed) gives the same conditional expectation, factorised or not.
    for seed in range(5):
        f = plait.gradinf(walks, 2.0, inference=plait.ExactPopulation(), seed=seed)
        g = plait.gradinf(walks_in_turn, 2.0, inference=plait.ExactPopulation(), seed=seed)
        assert f == pytest.approx(g, rel=1e-10, abs=1e-12)


def test_observations_inside_runs_weigh_the_unnormalised_expectation():
    def run(theta):
        def obs(x):
            b = yield plait.sample("b", plait.Bernoulli(theta * x))
            yield plait.observe("y", plait.Bernoulli(0.2 + 0.6 * b), 1)
            return b
        return obs

    def model(theta):
        bs = yield plait.independent(run(theta), [0.5, 1.0], name="runs")
        return 1.0 + sum(bs)

    exact = exact_derivative(model, 0.4)
    unbiased(model, 0.4, exact, inference=plait.VariableElimination(), n=2000)


def test_cost_grows_with_the_sum_of_runs_not_their_product():
    calls = {"n": 0}

    def coin(theta):
        def program(i):
            calls["n"] += 1
            return (yield plait.sample("b", plait.Bernoulli(theta)))
        return program

    def model(theta):
        bs = yield plait.independent(coin(theta), range(12), name="coins")
        return float(sum(bs)) ** 2

    plait.gradinf(model, 0.3, inference=plait.ExactPopulation(), seed=0)
    # A: 12 runs; B: each run once plus at most one fork.  In turn, every
    # derivative path would re-run all the later coins.
    assert calls["n"] <= 12 + 2 * 12
    mean, se = plait.gradinf(model, 0.3, inference=plait.ExactPopulation(), num_samples=2000, seed=2)
    exact = 12 * (1 - 2 * 0.3) + 2 * 144 * 0.3  # d/dθ [12θ(1-θ) + 144θ²]
    assert abs(mean - exact) < 4 * se


def test_runs_must_line_up_with_the_primal_path():
    def model(theta):
        b = yield plait.sample("b", plait.Bernoulli(theta), coupling="always_flip")
        if b:
            out = yield plait.independent(lambda x: (yield plait.sample("c", plait.Bernoulli(0.5))), [0], name="r")
        else:
            out = yield plait.fold(lambda s, x: (yield plait.sample("c", plait.Bernoulli(0.5))), 0, [0], name="r")
        return float(b)

    with pytest.raises(plait.errors.EffectTypeError, match="line up"):
        for seed in range(20):
            plait.gradinf(model, 0.5, inference=plait.ExactPopulation(), seed=seed)

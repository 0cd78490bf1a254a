"""GradInf: unbiased derivatives by coupled paths, against gradinf.md §9's exact values."""

import math

import numpy as np
import pytest
import scipy.special

import plait
from plait.gradients import Dual, primal

from gradinf_models import queue


def unbiased(model, theta, exact, n=2000, seed=1, **options):
    mean, se = plait.gradinf(model, theta, num_samples=n, seed=seed, **options)
    if se == 0:
        assert mean == pytest.approx(exact, abs=1e-12)
    else:
        assert abs(mean - exact) < 4 * se, f"{mean} ± {se} vs {exact}"
    return mean, se * math.sqrt(n)  # the estimator's standard deviation


def flip(theta):
    return (yield plait.sample("b", plait.Bernoulli(theta)))


def flip_with(coupling):
    def model(theta):
        return (yield plait.sample("b", plait.Bernoulli(theta), coupling=coupling))
    return model


def ten_flips(coupling):
    def model(theta):
        total = 0
        for i in range(10):
            total += yield plait.sample(("b", i), plait.Bernoulli(theta), coupling=coupling)
        return total
    return model


@pytest.mark.parametrize("coupling, variance", [("crn", 0.42857143), ("always_flip", 0.0), ("score", 2.3333333)])
def test_one_flip(coupling, variance):
    options = {"inference": plait.Score()} if coupling == "score" else {}
    _, sd = unbiased(flip_with(coupling), 0.3, 1.0, **options)
    assert sd**2 == pytest.approx(variance, rel=0.15, abs=1e-12)


@pytest.mark.parametrize("coupling, variance", [("crn", 4.2857143), ("always_flip", 0.0)])
def test_sum_of_ten_flips(coupling, variance):
    _, sd = unbiased(ten_flips(coupling), 0.3, 10.0)
    assert sd**2 == pytest.approx(variance, rel=0.15, abs=1e-12)


def branch_with(coupling, pathwise=False):
    def model(theta):
        b1 = yield plait.sample("b1", plait.Bernoulli(theta), coupling=coupling)
        b2 = yield plait.sample("b2", plait.Bernoulli(theta**2 if b1 else 1 - theta), coupling=coupling)
        f = b1 + 2 * b2
        return f * theta if pathwise else f
    return model


@pytest.mark.parametrize("coupling", ["crn", "always_flip"])
@pytest.mark.parametrize("inference", [plait.ExactPopulation(), plait.SIR(1)], ids=["population", "sir1"])
def test_branching_program(coupling, inference):
    unbiased(branch_with(coupling), 0.4, -0.44, inference=inference)
    unbiased(branch_with(coupling, pathwise=True), 0.4, 1.072, inference=inference)


def test_binomial_and_categorical():
    def binomial(theta):
        k = yield plait.sample("k", plait.Binomial(10, theta))
        return k * k

    unbiased(binomial, 0.3, 64.0)

    values = [1, -2, 3, 0]

    def categorical(theta):
        probs = plait.gradients.softmax(np.stack([theta, 2 * theta, -theta, 0.5 + 0 * theta]))
        i = yield plait.sample("i", plait.Categorical(probs))
        return values[i] ** 2 + values[i]

    def categorical_maxindep(theta):
        probs = plait.gradients.softmax(np.stack([theta, 2 * theta, -theta, 0.5 + 0 * theta]))
        i = yield plait.sample("i", plait.Categorical(probs), coupling="maxindep")
        return values[i] ** 2 + values[i]

    unbiased(categorical, 0.2, -2.1973063097)
    unbiased(categorical_maxindep, 0.2, -2.1973063097)


def test_geometric_loop_with_a_random_number_of_flips():
    def geometric(theta):
        failures = 0
        while not (yield plait.sample(("b", failures), plait.Bernoulli(theta))):
            failures += 1
        return failures

    unbiased(geometric, 0.3, -11.111111, n=4000)


def test_unnormalised_expectation_with_a_factor():
    def weighted(theta):
        b = yield plait.sample("b", plait.Bernoulli(theta))
        yield plait.factor("w", math.log(2.0 if b else 0.5))
        return b

    unbiased(weighted, 0.3, 2.0)


def test_normal_sites():
    def square(theta):
        x = yield plait.sample("x", plait.Normal(theta, 1.0))
        return x * x

    def step(theta):
        x = yield plait.sample("x", plait.Normal(theta, 1.0), coupling="reflection")
        return float(primal(x) > 0)

    def gated(theta):
        z = yield plait.sample("z", plait.Normal(theta, 1.0))
        b = yield plait.sample("b", plait.Bernoulli(scipy.special.expit(z)))
        return b * z

    mean, sd = unbiased(square, 0.7, 1.4)
    assert sd == pytest.approx(2.0, rel=0.1)  # pathwise: 2x with x ~ N(0.7, 1)
    _, sd = unbiased(step, 0.5, 0.35206533)
    assert sd**2 == pytest.approx(0.36062021, rel=0.15)  # reflection keeps the jump term in AD mode
    unbiased(gated, 0.5, 0.67163198)


@pytest.mark.parametrize("inference, variance", [
    (plait.VariableElimination(), 0.0071727906), (plait.SIR(1), 0.01332), (plait.ExactPopulation(), 0.0071727906),
], ids=["ve", "sir1", "population"])
def test_queue_n10(inference, variance):
    _, sd = unbiased(queue(10), 15.0, 0.139685472595, inference=inference)
    assert sd**2 == pytest.approx(variance, rel=0.2)


def test_score_with_a_baseline_on_the_queue():
    _, sd = unbiased(queue(10, "score"), 15.0, 0.139685472595, inference=plait.Score(baseline=6.5176240971))
    assert sd**2 == pytest.approx(0.0334279085, rel=0.2)


@pytest.mark.parametrize("inference, variance", [(plait.VariableElimination(), 0.0202), (plait.SIR(1), 0.53)],
                         ids=["ve", "sir1"])
def test_queue_n50(inference, variance):
    _, sd = unbiased(queue(50), 15.0, 0.654704807917, inference=inference)
    assert sd**2 == pytest.approx(variance, rel=0.2)
    assert sd**2 <= (0.03 if isinstance(inference, plait.VariableElimination) else 0.6)


def test_exact_given_the_primal_path():
    # With the exact population, the estimate is a function of A alone; averaging it
    # over A's outcomes with their probabilities gives the derivative to rounding.
    theta = 0.4
    model = branch_with("crn")
    by_path = {}
    for s in range(300):
        seed = np.random.SeedSequence(s)
        a_stream = seed.spawn(2)[0]
        trace = plait.simulate(model, theta, seed=np.random.default_rng(a_stream))
        path = (trace["b1"], trace["b2"])
        g = plait.gradinf(model, theta, inference=plait.ExactPopulation(), seed=np.random.SeedSequence(s))
        by_path.setdefault(path, set()).add(round(g, 12))
    assert len(by_path) == 4 and all(len(v) == 1 for v in by_path.values())
    prob = {
        (b1, b2): (theta if b1 else 1 - theta) * ((theta**2 if b1 else 1 - theta) if b2 else
                                                   (1 - theta**2 if b1 else theta))
        for b1 in (0, 1) for b2 in (0, 1)
    }
    total = sum(prob[p] * next(iter(v)) for p, v in by_path.items())
    assert total == pytest.approx(-0.44, rel=1e-9)


def test_vector_theta_one_pass_per_coordinate_and_a_direction():
    def two(theta):
        b1 = yield plait.sample("b1", plait.Bernoulli(theta[0]))
        b2 = yield plait.sample("b2", plait.Bernoulli(theta[1]))
        return b1 + 3 * b2

    mean, se = plait.gradinf(two, np.array([0.3, 0.6]), num_samples=2000, seed=0)
    assert np.all(np.abs(mean - [1.0, 3.0]) < 4 * se)
    d_mean, d_se = plait.gradinf(two, np.array([0.3, 0.6]), direction=[1.0, 1.0], num_samples=2000, seed=0)
    assert abs(d_mean - 4.0) < 4 * d_se


def test_coupled_difference_including_independent_couplings():
    for coupling in ("crn", "indep", "always_flip"):
        model = flip_with(coupling)
        d = np.array([plait.coupled_difference(model, 0.3, 0.5, seed=s) for s in range(3000)])
        assert abs(d.mean() - 0.2) <= max(4 * d.std(ddof=1) / math.sqrt(len(d)), 1e-12)


def test_failure_modes_are_named():
    with pytest.raises(plait.errors.EffectTypeError, match="coupled_difference"):
        plait.gradinf(flip_with("indep"), 0.3, seed=0)
    with pytest.raises(plait.errors.GradInfError, match=r"loop 'q' from state -?\d+.*always_flip"):
        for s in range(50):
            plait.gradinf(queue(50, "always_flip"), 15.0, inference=plait.VariableElimination(), seed=s)


def test_same_seed_same_estimate():
    a = plait.gradinf(queue(10), 15.0, seed=3)
    b = plait.gradinf(queue(10), 15.0, seed=3)
    assert a == b


def test_resampling_points_in_a_while_loop():
    def geometric(theta):
        failures = 0
        while not (yield plait.sample(("b", failures), plait.Bernoulli(theta))):
            yield plait.resample_point(("r", failures))
            failures += 1
        return failures

    unbiased(geometric, 0.3, -11.111111, n=4000, inference=plait.SIR(1))

    def pointy():
        yield plait.resample_point("p")
        return (yield plait.sample("x", plait.Bernoulli(1.0)))

    # Everywhere else a resampling point is an inert deterministic site.
    trace = plait.simulate(pointy, seed=0)
    assert trace.deterministics == {"p": plait.RESAMPLE_POINT} and trace.value == 1
    assert plait.exact(pointy).prob(lambda v: v == 1) == 1.0


def test_exponential_reparameterisation():
    def waiting(theta):
        return (yield plait.sample("t", plait.Exponential(theta)))

    unbiased(waiting, 2.0, -0.25)


def test_twisted_smc_is_unbiased_on_the_queue():
    twisted = plait.TwistedSMC(lambda b, a: b - a, k=1)
    _, sd = unbiased(queue(10), 15.0, 0.139685472595, inference=twisted)
    assert sd**2 < 0.02


LAYER_C = np.array([0.2, 0.5, 0.9])
LAYER_W = np.array([1.0, -2.0, 0.5])


def two_layers(coupling):
    # The second layer's probabilities depend on the first layer's coins, so a path
    # that flips a coin of layer 1 meets O(1) differences in layer 2.
    def model(theta):
        b1 = yield plait.sample("b1", plait.Bernoulli(theta * LAYER_C), coupling=coupling)
        b2 = yield plait.sample("b2", plait.Bernoulli(theta * (0.3 + 0.5 * b1)), coupling=coupling)
        return float(np.dot(LAYER_W, b2) + np.sum(b1) * np.sum(b2))
    return model


def expected_two_layers(theta):
    import itertools

    total = 0.0
    for b1 in itertools.product([0, 1], repeat=3):
        b1 = np.array(b1)
        p1, p2 = theta * LAYER_C, theta * (0.3 + 0.5 * b1)
        for b2 in itertools.product([0, 1], repeat=3):
            b2 = np.array(b2)
            prob = np.prod(np.where(b1, p1, 1 - p1)) * np.prod(np.where(b2, p2, 1 - p2))
            total += prob * (np.dot(LAYER_W, b2) + b1.sum() * b2.sum())
    return total


@pytest.mark.parametrize("coupling", ["crn", "always_flip"])
def test_layers_of_coins(coupling):
    h = 1e-5  # the expectation is a polynomial in theta: central differences are exact to ~1e-10
    exact = (expected_two_layers(0.5 + h) - expected_two_layers(0.5 - h)) / (2 * h)
    unbiased(two_layers(coupling), 0.5, exact, n=3000, inference=plait.SIR(1))


# The "same-or" layer couplings (gradinf.md §3.5), checked against exact derivatives: plait.exact
# of a twin program that draws the same coins one scalar site at a time, at a dual theta.

SAME_OR = ["same_or_antithetic", "same_or_indep"]
SLOPE1, SHIFT1 = np.array([1.0, -0.5, 2.0, 0.3, -1.2]), np.array([0.1, 0.2, -0.3, 0.0, 0.5])
SLOPE2 = np.array([0.8, -1.5, 0.4, 1.1])
MIX = np.array([[1.5, -1.0, 0.5, 0.0, 2.0], [-2.0, 0.5, 1.0, 1.5, 0.0],
                [0.5, 2.0, -1.5, 0.0, 1.0], [0.0, 0.0, 2.5, -2.0, 1.0]])


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def coins(name, p, coupling, scalar_sites):
    # One layer site, or (for the exact twin) one scalar site per coin.
    if not scalar_sites:
        return (yield plait.sample(name, plait.Bernoulli(p), coupling=coupling))
    out = []
    for i in range(len(SLOPE1) if name == "b1" else len(SLOPE2)):
        out.append((yield plait.sample((name, i), plait.Bernoulli(p[i]))))
    return np.array(out)


def one_layer(coupling, scalar_sites=False):
    def model(theta):
        b = yield from coins("b1", sigmoid(theta * SLOPE1 + SHIFT1), coupling, scalar_sites)
        s = np.sum(b)
        return (s - 2.0) ** 2 + 3.0 * b[0] * b[2] - b[4]
    return model


def dependent_layers(coupling, scalar_sites=False):
    # Layer 2 depends on layer 1, so a path that moves layer 1 meets O(1) differences in layer 2.
    def model(theta):
        b1 = yield from coins("b1", sigmoid(theta * SLOPE1 + SHIFT1), coupling, scalar_sites)
        b2 = yield from coins("b2", sigmoid(theta * SLOPE2 + MIX @ b1 - 1.0), coupling, scalar_sites)
        return (np.sum(b2) - 1.5) ** 2 + np.sum(b1) * b2[0] - 2.0 * b1[2] * b2[3]
    return model


def exact_derivative(program, theta):
    return plait.diff(lambda th: plait.exact(program, th).mean, theta)


@pytest.mark.parametrize("coupling", SAME_OR)
def test_same_or_layer_is_unbiased_on_one_layer(coupling):
    unbiased(one_layer(coupling), 0.4, exact_derivative(one_layer(None, True), 0.4), n=2000)


@pytest.mark.parametrize("coupling", SAME_OR)
def test_same_or_layers_are_unbiased_on_two_dependent_layers(coupling):
    unbiased(dependent_layers(coupling), 0.4, exact_derivative(dependent_layers(None, True), 0.4), n=2000)


def layer_chain(coupling, scalar_sites=False):
    # A layer per loop step, its probabilities set by the previous step's coins: derivative
    # paths are resampled between the layers.
    slope, mix = np.array([1.0, -2.0, 0.5]), np.array([[0.0, 1.5, -1.0], [2.0, 0.0, 1.0], [-1.5, 1.0, 0.0]])

    def model(theta):
        def step(state):
            p = sigmoid(theta * slope + mix @ np.array(state) - 0.5)
            if scalar_sites:
                b = []
                for i in range(3):
                    b.append((yield plait.sample(("b", i), plait.Bernoulli(p[i]))))
            else:
                b = yield plait.sample("b", plait.Bernoulli(p), coupling=coupling)
            return tuple(int(x) for x in b)

        final = yield plait.iterate(step, (0, 0, 0), 3, name="chain")
        return float((sum(final) - 1.0) ** 2 + final[0])
    return model


@pytest.mark.parametrize("coupling, inference", [("same_or_antithetic", plait.SIR(1)),
                                                  ("same_or_indep", plait.VariableElimination())],
                         ids=["antithetic-sir1", "indep-ve"])
def test_same_or_layers_in_a_loop(coupling, inference):
    exact = exact_derivative(layer_chain(None, True), 0.3)
    unbiased(layer_chain(coupling), 0.3, exact, n=2000, inference=inference)


@pytest.mark.parametrize("coupling", SAME_OR)
def test_same_or_layers_refuse_finite_differences(coupling):
    with pytest.raises(plait.errors.EffectTypeError, match="first-order.*coupled_difference"):
        plait.coupled_difference(one_layer(coupling), 0.3, 0.5, seed=0)


def test_same_or_needs_a_layer():
    with pytest.raises(plait.errors.EffectTypeError, match="layer of coins"):
        plait.gradinf(flip_with("same_or_antithetic"), 0.3, seed=0)


def test_same_or_layer_moves_a_coin_that_a_never_flips():
    # Coin 1 has probability 0 on A's path but moves with theta: neither layer copy reaches it.
    def model(theta):
        b = yield plait.sample("b", plait.Bernoulli(np.stack([0.5 + 0 * theta, theta - 0.2])),
                               coupling="same_or_antithetic")
        return float(b[0] + 2 * b[1] + b[0] * b[1])

    assert plait.gradinf(model, 0.2, seed=0) in (2.0, 3.0)  # 2 + b0, with A's first coin b0
    unbiased(model, 0.2, 2.5)

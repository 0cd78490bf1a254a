"""Acceptance tests for plait.exact: exact enumeration with loop variable elimination.

Every expected number comes from a closed form or an independent computation
written out in this file (a dict forward recursion, a numpy forward algorithm,
explicit sums over a Bayes net), never from plait itself.
"""

import math
import re
import time

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import plait
from plait import handlers as h


def as_dict(measure):
    """{value: normalised probability}, checking values are distinct."""
    values = list(measure.values)
    probs = list(measure.probs)
    assert len(values) == len(probs)
    out = dict(zip(values, probs))
    assert len(out) == len(values), f"duplicate atoms in {values!r}"
    return out


def assert_close(actual, expected, rel=0.0, abs_=0.0):
    assert actual == pytest.approx(expected, rel=rel, abs=abs_), (actual, expected)


# ---------------------------------------------------------------------------
# 1. Queue model (GradInf's), iterate + variable elimination
# ---------------------------------------------------------------------------

def queue_model(theta, n):
    def kernel(x):
        c = min(x, 25)
        p = theta / (theta + c)  # 1.0 at x == 0
        b = yield plait.sample("b", plait.Bernoulli(p))
        return x + 1 if b else x - 1

    return (yield plait.iterate(kernel, 0, n, name="queue"))


def queue_forward(theta, n):
    """Plain-Python forward recursion over the queue length: {x_n: prob}."""
    dist = {0: 1.0}
    for _ in range(n):
        nxt = {}
        for x, w in dist.items():
            c = min(x, 25)
            p = theta / (theta + c)
            nxt[x + 1] = nxt.get(x + 1, 0.0) + w * p
            if p < 1.0:
                nxt[x - 1] = nxt.get(x - 1, 0.0) + w * (1.0 - p)
        dist = nxt
    return dist


def test_queue_model_expected_length_and_speed():
    # The acceptance criterion: exact E[x_50] at theta = 15, in under a second.
    # Retried at most twice so one hiccup of a shared machine does not fail it.
    times = []
    for _ in range(3):
        start = time.perf_counter()
        m = plait.exact(queue_model, 15.0, 50)
        times.append(time.perf_counter() - start)
        if times[-1] < 1.0:
            break
    assert min(times) < 1.0, f"plait.exact(queue_model, 15.0, 50) took {min(times):.3f} s"
    assert_close(m.mean, 13.5659305821, rel=1e-9)
    assert_close(m.expectation(lambda x: x), 13.5659305821, rel=1e-9)
    assert m.truncated_mass == 0.0
    assert_close(m.log_evidence, 0.0, abs_=1e-12)


@pytest.mark.parametrize("theta", [15.0, 4.0, 40.0])
def test_queue_model_matches_forward_recursion(theta):
    n = 50
    expected = queue_forward(theta, n)
    m = plait.exact(queue_model, theta, n)
    got = as_dict(m)
    assert set(got) == set(expected)
    for x, p in expected.items():
        assert_close(got[x], p, rel=1e-10, abs_=1e-15)
    assert_close(m.mean, sum(x * p for x, p in expected.items()), rel=1e-10)
    # Reachable states have the parity of n and lie in [0, n].
    assert all(0 <= x <= n and x % 2 == n % 2 for x in m.values)


def test_iterate_merges_states_so_paths_stay_linear():
    # 2**300 paths unmerged; with merging on the (parity) loop state the
    # enumeration handles a few paths per step, far below max_paths.
    def kernel(parity):
        b = yield plait.sample("b", plait.Bernoulli(0.3))
        return parity ^ b

    def model():
        return (yield plait.iterate(kernel, 0, 300, name="walk"))

    m = plait.exact(model, max_paths=10_000)
    # P(odd number of successes in n trials) = (1 - (1 - 2p)^n) / 2.
    p_odd = (1.0 - (1.0 - 2 * 0.3) ** 300) / 2.0
    got = as_dict(m)
    assert set(got) == {0, 1}
    assert_close(got[1], p_odd, abs_=1e-12)


def test_iterate_with_zero_steps_returns_init():
    def kernel(x):
        b = yield plait.sample("b", plait.Bernoulli(0.5))
        return x + b

    def model():
        return (yield plait.iterate(kernel, 7, 0, name="none"))

    assert as_dict(plait.exact(model)) == {7: 1.0}


# ---------------------------------------------------------------------------
# 2. Sum of independent Bernoullis in a plain Python loop
# ---------------------------------------------------------------------------

def bernoulli_sum(n, p):
    total = 0
    for i in range(n):
        total += yield plait.sample(("x", i), plait.Bernoulli(p))
    return total


def test_sum_of_bernoullis_is_binomial():
    m = plait.exact(bernoulli_sum, 10, 0.3)
    got = as_dict(m)
    assert len(m.values) == 11
    assert set(got) == set(range(11))
    assert_close(m.mean, 3.0, abs_=1e-12)
    pmf = stats.binom(10, 0.3).pmf
    for k, p in got.items():
        assert_close(p, pmf(k), abs_=1e-12)
    assert_close(sum(m.probs), 1.0, abs_=1e-12)
    assert_close(m.log_evidence, 0.0, abs_=1e-12)


# ---------------------------------------------------------------------------
# 3. HMM with fold: evidence and final filter vs. a numpy forward algorithm
# ---------------------------------------------------------------------------

HMM_PI = np.array([0.6, 0.4])
HMM_A = np.array([[0.9, 0.1], [0.25, 0.75]])
HMM_MU = [-1.0, 1.5]  # Python floats: the model builds Normal(mu, sigma) per step
HMM_SIGMA = 1.0
HMM_ROWS = [plait.Categorical(row) for row in HMM_A]  # transition rows, built once


def hmm_data(T, seed=20240611):
    rng = np.random.default_rng(seed)
    z = rng.choice(2, p=HMM_PI)
    ys = []
    for _ in range(T):
        z = rng.choice(2, p=HMM_A[z])
        ys.append(float(rng.normal(HMM_MU[z], HMM_SIGMA)))
    return ys


def hmm_model(ys):
    def step(z, y):
        z_next = yield plait.sample("z", HMM_ROWS[z])
        yield plait.observe("y", plait.Normal(HMM_MU[z_next], HMM_SIGMA), y)
        return z_next

    z0 = yield plait.sample("z0", plait.Categorical(HMM_PI))
    return (yield plait.fold(step, z0, ys, name="t"))


def hmm_forward(ys):
    """Log-space forward algorithm: (log evidence, filtered P(z_T | y_1..T))."""
    log_a = np.log(HMM_A)
    log_alpha = np.log(HMM_PI)
    for y in ys:
        log_lik = stats.norm(np.asarray(HMM_MU), HMM_SIGMA).logpdf(y)
        log_alpha = logsumexp(log_alpha[:, None] + log_a, axis=0) + log_lik
    log_z = logsumexp(log_alpha)
    return log_z, np.exp(log_alpha - log_z)


def test_hmm_log_evidence_and_filter_match_forward_algorithm():
    ys = hmm_data(100)
    log_z, filt = hmm_forward(ys)
    m = plait.exact(hmm_model, ys)
    assert_close(m.log_evidence, log_z, rel=1e-10)
    got = as_dict(m)
    assert set(got) == {0, 1}
    for z in (0, 1):
        assert_close(got[z], filt[z], abs_=1e-10)
    # Unnormalised log weights add up to the evidence.
    assert_close(logsumexp(np.asarray(m.log_weights, dtype=float)), log_z, rel=1e-10)


# ---------------------------------------------------------------------------
# 4. Branching programs that sample different addresses
# ---------------------------------------------------------------------------

def branching_model():
    flip = yield plait.sample("flip", plait.Bernoulli(0.35))
    if flip:
        a = yield plait.sample("a", plait.Categorical([0.2, 0.3, 0.5]))
        return ("a", a)
    b = yield plait.sample("b", plait.Binomial(3, 0.4))
    return ("b", b)


def test_branches_with_different_addresses():
    m = plait.exact(branching_model)
    expected = {("a", i): 0.35 * p for i, p in enumerate([0.2, 0.3, 0.5])}
    for k in range(4):
        expected[("b", k)] = 0.65 * math.comb(3, k) * 0.4**k * 0.6 ** (3 - k)
    got = as_dict(m)
    assert set(got) == set(expected)
    for v, p in expected.items():
        assert_close(got[v], p, abs_=1e-12)
    assert_close(m.prob(lambda v: v[0] == "a"), 0.35, abs_=1e-12)


def test_factor_weights_paths_and_equal_returns_merge():
    # Two paths return 1 and merge; the factor doubles the weight of x = 2.
    def model():
        x = yield plait.sample("x", plait.DiscreteUniform(0, 3))
        if x == 2:
            yield plait.factor("boost", math.log(2.0))
        return min(x, 1)

    m = plait.exact(model)
    # unnormalised masses: x=0 -> .25 (returns 0); x=1,3 -> .25 each, x=2 -> .5 (return 1)
    assert_close(m.log_evidence, math.log(1.25), abs_=1e-12)
    got = as_dict(m)
    assert set(got) == {0, 1}
    assert_close(got[0], 0.25 / 1.25, abs_=1e-12)
    assert_close(got[1], 1.0 / 1.25, abs_=1e-12)
    assert len(m.log_weights) == 2


def test_unhashable_return_values_merge_by_equality():
    def model():
        a = yield plait.sample("a", plait.Bernoulli(0.5))
        b = yield plait.sample("b", plait.Bernoulli(0.5))
        return [a + b]  # a list: not hashable, merged by equality

    m = plait.exact(model)
    assert sorted(v[0] for v in m.values) == [0, 1, 2]
    probs = {v[0]: p for v, p in zip(m.values, m.probs)}
    assert probs == pytest.approx({0: 0.25, 1: 0.5, 2: 0.25}, abs=1e-12)
    assert_close(m.prob(lambda v: v[0] == 1), 0.5, abs_=1e-12)
    assert_close(m.expectation(lambda v: v[0]), 1.0, abs_=1e-12)


# ---------------------------------------------------------------------------
# 5. Burglary / earthquake / alarm
# ---------------------------------------------------------------------------

P_B, P_E = 0.001, 0.002
P_ALARM = {(1, 1): 0.95, (1, 0): 0.94, (0, 1): 0.29, (0, 0): 0.001}
P_JOHN = {1: 0.90, 0: 0.05}
P_MARY = {1: 0.70, 0: 0.01}


def burglary_model(john, mary):
    b = yield plait.sample("burglary", plait.Bernoulli(P_B))
    e = yield plait.sample("earthquake", plait.Bernoulli(P_E))
    a = yield plait.sample("alarm", plait.Bernoulli(P_ALARM[(b, e)]))
    yield plait.observe("john", plait.Bernoulli(P_JOHN[a]), john)
    yield plait.observe("mary", plait.Bernoulli(P_MARY[a]), mary)
    return b


def test_burglary_posterior_and_evidence():
    joint = {0: 0.0, 1: 0.0}  # P(b, j=1, m=1) by explicit sums
    for b in (0, 1):
        for e in (0, 1):
            for a in (0, 1):
                pb = P_B if b else 1 - P_B
                pe = P_E if e else 1 - P_E
                pa = P_ALARM[(b, e)] if a else 1 - P_ALARM[(b, e)]
                joint[b] += pb * pe * pa * P_JOHN[a] * P_MARY[a]
    evidence = joint[0] + joint[1]
    posterior = joint[1] / evidence
    assert posterior == pytest.approx(0.284171835, abs=1e-9)  # the textbook number

    m = plait.exact(burglary_model, 1, 1)
    got = as_dict(m)
    assert_close(got[1], posterior, abs_=1e-12)
    assert_close(m.prob(lambda b: b == 1), posterior, abs_=1e-12)
    assert_close(m.mean, posterior, abs_=1e-12)
    assert_close(m.log_evidence, math.log(evidence), rel=1e-12)


# ---------------------------------------------------------------------------
# 6. Errors
# ---------------------------------------------------------------------------

def test_continuous_sample_is_rejected_naming_site_and_distribution():
    def model():
        z = yield plait.sample("z", plait.Bernoulli(0.5))
        mu = yield plait.sample("mu_site", plait.Normal(0.0, 1.0))
        return z + mu

    with pytest.raises(plait.ExactEnumerationError) as info:
        plait.exact(model)
    msg = str(info.value)
    assert "mu_site" in msg
    assert "Normal" in msg
    assert re.search(r"finite.{0,3}discrete", msg, re.IGNORECASE), msg


def test_unhashable_loop_state_suggests_tuple_or_int():
    def kernel(history):
        b = yield plait.sample("b", plait.Bernoulli(0.5))
        return history + [b]

    def model():
        return (yield plait.iterate(kernel, [], 3, name="hist"))

    with pytest.raises(plait.ExactEnumerationError) as info:
        plait.exact(model)
    msg = str(info.value)
    assert "tuple" in msg and re.search(r"\bint\b", msg), msg


def test_max_paths_budget():
    with pytest.raises(plait.BudgetExceededError, match="max_paths"):
        plait.exact(bernoulli_sum, 12, 0.5, max_paths=100)
    # The same program fits in a large enough budget.
    assert len(plait.exact(bernoulli_sum, 12, 0.5, max_paths=100_000).values) == 13


def geo(n):
    b = yield plait.sample(("flip", n), plait.Bernoulli(0.5))
    return n if b else (yield from geo(n + 1))


def test_max_depth_budget():
    with pytest.raises(plait.BudgetExceededError, match="max_depth"):
        plait.exact(geo, 0, max_depth=20)


def test_zero_mass():
    def model():
        z = yield plait.sample("z", plait.Bernoulli(0.5))
        yield plait.observe("y", plait.Categorical([0.5, 0.5]), 2 + z, outside_support="-inf")  # outside the support (asked to score -inf; by default an error)
        return z

    m = plait.exact(model)
    assert m.log_evidence == -math.inf
    for attempt in (
        lambda: m.probs,
        lambda: m.expectation(lambda v: v),
        lambda: m.prob(lambda v: v == 1),
        lambda: m.mean,
        lambda: m.sample(np.random.default_rng(0)),
    ):
        with pytest.raises(plait.ZeroMassError, match="impossible"):
            attempt()


def test_zero_mass_from_factor_minus_inf():
    def model():
        z = yield plait.sample("z", plait.Bernoulli(0.5))
        yield plait.factor("never", -math.inf)
        return z

    m = plait.exact(model)
    assert m.log_evidence == -math.inf
    with pytest.raises(plait.ZeroMassError, match="impossible"):
        m.probs


def test_infinite_support_without_limit_names_address():
    def model():
        k = yield plait.sample("count_site", plait.Poisson(2.0))
        return k

    with pytest.raises(plait.ExactEnumerationError, match="count_site"):
        plait.exact(model)


# ---------------------------------------------------------------------------
# 7. Truncation of infinite supports
# ---------------------------------------------------------------------------

def poisson_model():
    return (yield plait.sample("k", plait.Poisson(2.0)))


def test_poisson_truncation_int_limit():
    m = plait.exact(poisson_model, support_limit=30)
    got = as_dict(m)
    assert set(got) == set(range(31))
    assert_close(m.mean, 2.0, abs_=1e-9)
    assert_close(m.truncated_mass, stats.poisson(2.0).sf(30), rel=1e-6)
    assert m.truncated_mass > 0.0
    # Renormalised probabilities are the truncated Poisson pmf.
    cdf = stats.poisson(2.0).cdf(30)
    for k in (0, 2, 7, 30):
        assert_close(got[k], stats.poisson(2.0).pmf(k) / cdf, rel=1e-9)


def test_truncation_per_site_dict():
    def model():
        k = yield plait.sample("k", plait.Poisson(2.0))
        g = yield plait.sample("g", plait.Geometric(0.5))
        return (k, g)

    m = plait.exact(model, support_limit={"k": 30, "g": 10})
    assert len(m.values) == 31 * 11
    assert_close(m.expectation(lambda v: v[0]), 2.0, abs_=1e-9)
    # Geometric(0.5) truncated to 0..10: P(g = 0) = 0.5 / (1 - 0.5**11).
    assert_close(m.prob(lambda v: v[1] == 0), 0.5 / (1 - 0.5**11), rel=1e-12)
    # Mass not enumerated: k > 30, or k <= 30 and g > 10.
    poisson = stats.poisson(2.0)
    assert_close(m.truncated_mass, poisson.sf(30) + poisson.cdf(30) * 0.5**11, rel=1e-6)

    # A site missing from the dict has no limit, so it is an error naming it.
    with pytest.raises(plait.ExactEnumerationError, match="'g'"):
        plait.exact(model, support_limit={"k": 30})


def test_truncated_mass_in_one_branch_and_zero_without_truncation():
    def model():
        flip = yield plait.sample("flip", plait.Bernoulli(0.25))
        if flip:
            return (yield plait.sample("k", plait.Poisson(2.0)))
        return -1

    m = plait.exact(model, support_limit=30)
    assert_close(m.truncated_mass, 0.25 * stats.poisson(2.0).sf(30), rel=1e-6)
    assert plait.exact(branching_model, support_limit=30).truncated_mass == 0.0
    assert plait.exact(branching_model).truncated_mass == 0.0


# ---------------------------------------------------------------------------
# 8. A Measure is a distribution
# ---------------------------------------------------------------------------

def two_dice():
    a = yield plait.sample("a", plait.DiscreteUniform(1, 6))
    b = yield plait.sample("b", plait.DiscreteUniform(1, 6))
    return a + b


DICE = {s: (6 - abs(s - 7)) / 36 for s in range(2, 13)}


def test_measure_sampled_inside_exact():
    inner = plait.exact(two_dice)
    assert isinstance(inner, plait.Distribution)

    def outer():
        s = yield plait.sample("s", inner)
        yield plait.observe("even", plait.Bernoulli(0.9 if s % 2 == 0 else 0.2), 1)
        return s >= 10

    m = plait.exact(outer)
    weights = {s: p * (0.9 if s % 2 == 0 else 0.2) for s, p in DICE.items()}
    evidence = sum(weights.values())
    expected_high = sum(w for s, w in weights.items() if s >= 10) / evidence
    got = as_dict(m)
    assert_close(got[True], expected_high, abs_=1e-12)
    assert_close(m.log_evidence, math.log(evidence), rel=1e-12)


def test_conditioned_measure_is_normalised_as_a_distribution():
    def inner_model():
        x = yield plait.sample("x", plait.DiscreteUniform(0, 3))
        yield plait.factor("w", math.log(x + 1.0))
        return x

    inner = plait.exact(inner_model)  # P(x) = (x + 1) / 10, evidence 10/4
    assert_close(inner.log_evidence, math.log(2.5), abs_=1e-12)
    assert_close(inner.log_prob(3), math.log(0.4), abs_=1e-12)

    def outer():
        return (yield plait.sample("x", inner))

    m = plait.exact(outer)
    assert_close(m.log_evidence, 0.0, abs_=1e-12)
    got = as_dict(m)
    for x in range(4):
        assert_close(got[x], (x + 1) / 10, abs_=1e-12)


def test_simulate_samples_from_measure():
    inner = plait.exact(two_dice)

    def outer():
        return (yield plait.sample("s", inner))

    t1 = plait.simulate(outer, seed=3)
    t2 = plait.simulate(outer, seed=3)
    assert t1.value in inner.values
    assert t1.value == t2.value
    assert_close(t1.log_joint, math.log(DICE[t1.value]), abs_=1e-12)


def test_measure_sample_frequencies():
    inner = plait.exact(two_dice)
    n = 2000
    draws = np.asarray(inner.sample(np.random.default_rng(0), (n,)))
    assert draws.shape == (n,)
    assert set(draws.tolist()) <= set(inner.values)
    for v, p in as_dict(inner).items():
        freq = np.count_nonzero(draws == v) / n
        se = math.sqrt(p * (1 - p) / n)
        assert abs(freq - p) < 4 * se, (v, freq, p)
    single = inner.sample(np.random.default_rng(1))
    assert single in inner.values


# ---------------------------------------------------------------------------
# 9. observe of a continuous distribution only weights the path
# ---------------------------------------------------------------------------

def test_continuous_observe_weights_paths():
    def model():
        z = yield plait.sample("z", plait.Bernoulli(0.5))
        yield plait.observe("y", plait.Normal(float(z), 1.0), 0.3)
        return z

    m = plait.exact(model)
    l0 = stats.norm(0.0, 1.0).pdf(0.3)
    l1 = stats.norm(1.0, 1.0).pdf(0.3)
    got = as_dict(m)
    assert_close(got[1], l1 / (l0 + l1), abs_=1e-12)
    assert_close(m.log_evidence, math.log(0.5 * (l0 + l1)), rel=1e-12)


# ---------------------------------------------------------------------------
# 10. The Measure API
# ---------------------------------------------------------------------------

def test_measure_api_basics():
    m = plait.exact(bernoulli_sum, 2, 0.5)  # {0: .25, 1: .5, 2: .25}
    assert sorted(m.values) == [0, 1, 2]
    got = as_dict(m)
    assert got == pytest.approx({0: 0.25, 1: 0.5, 2: 0.25}, abs=1e-12)
    for v, lw in zip(m.values, m.log_weights):
        assert_close(lw, math.log(got[v]), abs_=1e-12)  # evidence 1, so weights = probs
    assert_close(m.mean, 1.0, abs_=1e-12)
    assert_close(m.expectation(lambda v: v * v), 1.5, abs_=1e-12)
    assert_close(m.prob(lambda v: v >= 1), 0.75, abs_=1e-12)
    assert_close(m.log_prob(1), math.log(0.5), abs_=1e-12)
    assert m.log_prob(5) == -math.inf
    assert list(m.enumerate_support()) == list(m.values)
    assert m.truncated_mass == 0.0

    r = repr(m)
    assert isinstance(r, str) and "Measure" in r
    s = m.summary()
    assert isinstance(s, str)
    for v in ("0", "1", "2"):
        assert v in s
    assert "0.5" in s and "0.25" in s


def test_measure_log_weights_are_unnormalised():
    def model():
        x = yield plait.sample("x", plait.Bernoulli(0.5))
        yield plait.observe("y", plait.Bernoulli(0.8 if x else 0.4), 1)
        return x

    m = plait.exact(model)
    lw = dict(zip(m.values, m.log_weights))
    assert_close(lw[1], math.log(0.5 * 0.8), abs_=1e-12)
    assert_close(lw[0], math.log(0.5 * 0.4), abs_=1e-12)
    assert_close(m.log_evidence, math.log(0.6), abs_=1e-12)
    assert_close(as_dict(m)[1], 2 / 3, abs_=1e-12)


# ---------------------------------------------------------------------------
# 11. Composition: handlers, addresses inside loops, edge supports
# ---------------------------------------------------------------------------

def coin_loop():
    def kernel(x):
        b = yield plait.sample("b", plait.Bernoulli(0.5))
        return x + b

    return (yield plait.iterate(kernel, 0, 3, name="L"))


def test_condition_handler_reaches_sites_inside_loops():
    # Sites inside step t are addressed (name, t, address) (README); conditioning
    # them must work under exact as it does under simulate.
    conditioned = h.condition(coin_loop, {("L", 0, "b"): 1, ("L", 2, "b"): 1})
    assert plait.simulate(conditioned, seed=0).value >= 2
    m = plait.exact(conditioned)
    assert as_dict(m) == pytest.approx({2: 0.5, 3: 0.5}, abs=1e-12)
    assert_close(m.log_evidence, math.log(0.25), abs_=1e-12)


def test_scale_handler_reaches_observes_inside_loops():
    # The same program written with fold and as a plain loop must agree under a handler.
    def step(x, y):
        z = yield plait.sample("z", plait.Bernoulli(0.5))
        yield plait.observe("y", plait.Bernoulli(0.9 if z else 0.2), y)
        return x + z

    def folded(ys):
        return (yield plait.fold(step, 0, ys, name="t"))

    def unrolled(ys):
        x = 0
        for i, y in enumerate(ys):
            x = yield from plait.scope(i, step(x, y))
        return x

    ys = [1, 0, 1]
    for wrap in (lambda m: m, lambda m: h.scale(m, 2.0)):
        a = plait.exact(wrap(folded), ys)
        b = plait.exact(wrap(unrolled), ys)
        assert_close(a.log_evidence, b.log_evidence, rel=1e-12)
        got_a, got_b = as_dict(a), as_dict(b)
        assert set(got_a) == set(got_b)
        for v in got_a:
            assert_close(got_a[v], got_b[v], abs_=1e-12)


def test_sites_inside_loops_use_full_addresses():
    def kernel(x):
        k = yield plait.sample("k", plait.Poisson(1.0))
        return min(x + k, 3)

    def model():
        return (yield plait.iterate(kernel, 0, 2, name="P"))

    assert list(plait.simulate(model, seed=0)) == [("P", 0, "k"), ("P", 1, "k")]
    with pytest.raises(plait.ExactEnumerationError) as info:
        plait.exact(model)
    assert "('P', 0, 'k')" in str(info.value)
    m = plait.exact(model, support_limit={("P", 0, "k"): 20, ("P", 1, "k"): 20})
    sf = stats.poisson(1.0).sf(20)
    assert_close(m.truncated_mass, sf + (1 - sf) * sf, rel=1e-6)


def test_degenerate_infinite_families_have_finite_support():
    # Poisson(0) and Geometric(1) are point masses at 0: nothing to truncate.
    def model():
        k = yield plait.sample("k", plait.Poisson(0.0))
        g = yield plait.sample("g", plait.Geometric(1.0))
        return k + g

    m = plait.exact(model)
    assert as_dict(m) == {0: 1.0}
    assert m.truncated_mass == 0.0


def test_measure_with_equal_unhashable_atoms_as_a_distribution():
    def inner_model():
        a = yield plait.sample("a", plait.Categorical([0.1, 0.4, 0.5]))
        return [min(a, 1)]  # two paths give the equal, unhashable value [1]

    inner = plait.exact(inner_model)
    assert len(inner.values) == 2
    assert_close(inner.log_prob([1]), math.log(0.9), abs_=1e-12)

    def outer():
        v = yield plait.sample("v", inner)
        return v[0]

    m = plait.exact(outer)
    assert_close(m.log_evidence, 0.0, abs_=1e-12)
    assert as_dict(m) == pytest.approx({0: 0.1, 1: 0.9}, abs=1e-12)

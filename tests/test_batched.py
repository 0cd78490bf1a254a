"""Batched execution: lane values, splitting at control flow, and the engines on top.

Statistical checks use exact answers (enumeration, closed forms) with
tolerances of about 4 standard errors over fixed seeds.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as st

import plait
from plait.effects.lanes import FixedLanes, Lanes, per_lane
from plait.handlers import batched as batched_module
from plait.ext._ancestry import prune_log
from plait.handlers.batched import BatchedRun


def lanes(values):
    array = np.asarray(values)
    return Lanes(array, FixedLanes(array.shape[0]))


# -- lane values ------------------------------------------------------------------------
def test_arithmetic_broadcasts_each_lane_against_plain_values():
    x = lanes([1.0, 2.0, 3.0])
    y = x * np.array([1.0, 10.0]) + 1.0
    assert y.shape == (2,)
    assert y.data.tolist() == [[2.0, 11.0], [3.0, 21.0], [4.0, 31.0]]
    assert np.sum(y).data.tolist() == [13.0, 24.0, 35.0]
    assert y.sum(axis=0).data.tolist() == [13.0, 24.0, 35.0]
    assert np.exp(lanes([0.0, 1.0])).data.tolist() == [1.0, math.e]
    assert (x > 1.5).data.tolist() == [False, True, True]
    assert np.where(x > 1.5, x, 0.0).data.tolist() == [0.0, 2.0, 3.0]


def test_indexing_is_per_lane_and_a_lane_index_gathers():
    v = lanes([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert v[0].data.tolist() == [1.0, 4.0]
    assert v[1:].shape == (2,)
    assert v[lanes([2, 0])].data.tolist() == [3.0, 4.0]
    assert [item.data.tolist() for item in v] == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert len(v) == 3


def test_an_unknown_numpy_function_runs_lane_by_lane():
    v = lanes([[3.0, 1.0, 2.0], [0.0, -1.0, 5.0]])
    assert np.sort(v).data.tolist() == [[1.0, 2.0, 3.0], [-1.0, 0.0, 5.0]]
    assert np.linalg.norm(v).data.round(6).tolist() == [round(math.sqrt(14), 6), round(math.sqrt(26), 6)]


def test_conversions_on_which_lanes_agree_are_plain_values():
    x = lanes([2, 2, 2])
    assert int(x) == 2 and float(x) == 2.0 and bool(x > 1) and list(range(x)) == [0, 1]
    assert {2: "two"}[x] == "two"
    with pytest.raises(ValueError, match="disagree"):
        bool(lanes([1.0, -1.0]) > 0)  # a fixed lane space cannot split


def test_per_lane_values_follow_containers():
    x = lanes([1.0, 2.0])
    assert per_lane({"a": x, "b": (x, "s")}, 2) == [{"a": 1.0, "b": (1.0, "s")}, {"a": 2.0, "b": (2.0, "s")}]


# -- the batched run loop ---------------------------------------------------------------
def branchy():
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    if x > 0:
        yield plait.observe("y", plait.Normal(1.0, 1.0), 2.0)
    else:
        k = yield plait.sample("k", plait.Poisson(3.0))
        for i in range(k):
            yield plait.observe(("z", i), plait.Normal(x, 1.0), 0.0)
    return x


def test_each_lane_computes_what_it_would_compute_alone():
    # Re-run every lane alone with its latents fixed: same weight, same value.
    run = BatchedRun(branchy, (), 300, np.random.default_rng(0), pause=())
    run.advance(None)
    assert run.forks > 5 and run.size == 300
    for group in run.groups:
        assert group.process is not None
        values = per_lane(group.process.value, group.size)
        for lane in range(group.size):
            x = values[lane]
            fixed = {"x": x}
            if x <= 0:
                fixed["k"] = _lane_draw(group, "k", lane)
            trace = plait.simulate(plait.handlers.substitute(branchy, fixed), seed=0)
            assert trace.value == x
            assert math.isclose(trace.log_likelihood, group.log_weights[lane], rel_tol=1e-12, abs_tol=1e-12)


def _lane_draw(group, address, lane):
    # k is the second sample a lane of the else branch drew; the log seen by the current lanes
    log = group.restricted_log(np.arange(group.size))
    samples = [e for e in log if isinstance(e, batched_module.LaneAnswer)]
    assert address == "k"
    return int(samples[1].data[lane])


def test_the_same_seed_gives_the_same_run_whatever_the_splits():
    a = plait.importance(branchy, num_particles=500, seed=4)
    b = plait.importance(branchy, num_particles=500, seed=4)
    assert a.values == b.values and np.array_equal(a.log_weights, b.log_weights)
    assert a.tier == "batched" and a.replayed > 0


def late(ys):
    # A late branch: replays of long histories after many resamplings.
    x = yield plait.sample("x0", plait.Normal(0.0, 1.0))
    for t, y in enumerate(ys):
        x = yield plait.sample(("x", t), plait.Normal(0.9 * x, 1.0))
        yield plait.observe(("y", t), plait.Normal(x, 0.5), y)
    if x > 0:
        yield plait.observe("last", plait.Normal(x, 1.0), 1.0)
    return x


def test_pruning_the_answer_log_changes_nothing(monkeypatch):
    ys = list(np.sin(np.arange(60) / 5.0))
    pruned = plait.smc(late, ys, num_particles=64, seed=1, ess_threshold=1.0)
    monkeypatch.setattr(batched_module.Group, "prune", lambda self: None)
    kept = plait.smc(late, ys, num_particles=64, seed=1, ess_threshold=1.0)
    assert pruned.replayed > 0
    assert pruned.values == kept.values and np.array_equal(pruned.log_weights, kept.log_weights)


def test_a_run_that_never_splits_keeps_no_log():
    run = BatchedRun(late, ([0.5, -0.5, 1.0],), 50, np.random.default_rng(0), log=False)
    for step in (1, 2, 3):
        run.advance(step)
        run.resample(np.random.default_rng(step).integers(0, 50, 50))
    group, = run.groups
    assert group.answers == [] and group.gathers == []
    with pytest.raises(batched_module.SplitNeedsLog):
        run.advance(None)  # `if x > 0`: the lanes disagree


def _logged_from_the_start(monkeypatch, module):
    monkeypatch.setattr(module, "logging_on_split", lambda attempt, *rewinds, model=None: attempt(True))


@pytest.fixture
def unseen_models(monkeypatch):
    """No model has split yet in this process: each run starts without a log."""
    monkeypatch.setattr(batched_module, "SPLITTING_MODELS", set())


def test_a_split_starts_the_smc_run_again_with_its_log_and_changes_nothing(monkeypatch, unseen_models):
    # The first attempt keeps no log and meets `if x > 0` after 40 steps; the
    # second must be the run that logged from the start, reported once per step.
    from plait.inference.particles import batched as engines
    ys = list(np.sin(np.arange(40) / 5.0))

    def run():
        reports = []
        pop = plait.smc(late, ys, num_particles=64, seed=4, ess_threshold=0.7,
                        on_step=lambda step, p: reports.append((step, p.ess)))
        return pop, reports

    pop, reports = run()
    _logged_from_the_start(monkeypatch, engines)
    logged, logged_reports = run()
    assert pop.replayed > 0 and reports == logged_reports
    assert [step for step, _ in reports] == list(range(1, len(reports) + 1))
    assert pop.values == logged.values and np.array_equal(pop.log_weights, logged.log_weights)
    assert pop.log_evidence == logged.log_evidence and pop.ess_history == logged.ess_history


def test_a_split_starts_importance_and_predictive_runs_again_with_their_log(monkeypatch, unseen_models):
    import importlib
    from plait.inference.particles import batched as engines
    predictive_module = importlib.import_module("plait.inference.predictive")  # (plait.inference.predictive is the function)

    def run():
        pop = plait.importance(branchy, num_particles=300, seed=5)
        draws = plait.predictive(branchy, num_samples=300, seed=6)
        return pop, draws

    pop, draws = run()
    _logged_from_the_start(monkeypatch, engines)
    _logged_from_the_start(monkeypatch, predictive_module)
    logged, logged_draws = run()
    assert pop.replayed > 0
    assert pop.values == logged.values and np.array_equal(pop.log_weights, logged.log_weights)
    assert draws.keys() == logged_draws.keys()
    for address in draws:
        assert np.array_equal(np.asarray(draws[address], dtype=float), np.asarray(logged_draws[address], dtype=float),
                              equal_nan=True)


def test_a_model_seen_to_split_logs_from_the_start_in_later_runs(monkeypatch, unseen_models):
    attempts = []
    real = BatchedRun.__init__

    def counting(self, *args, log=True, **kwargs):
        attempts.append(log)
        real(self, *args, log=log, **kwargs)

    monkeypatch.setattr(BatchedRun, "__init__", counting)
    first = plait.importance(branchy, num_particles=200, seed=1)
    assert attempts == [False, True]  # no log, a split, the restart
    second = plait.importance(branchy, num_particles=200, seed=1)
    assert attempts == [False, True, True]  # logged from the start
    assert first.values == second.values and np.array_equal(first.log_weights, second.log_weights)


def test_a_split_into_few_groups_is_not_warned_about():
    with warnings.catch_warnings():
        warnings.simplefilter("error", plait.LaneSplitWarning)
        pop = plait.importance(branchy, num_particles=2000, seed=2)  # `if x > 0`, then range(k): a few groups
    assert 1 < pop.replayed < 32


def test_the_restart_goes_through_the_models_except_clauses(unseen_models):
    def model():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        try:
            positive = bool(x > 0)  # the first split: the run starts again, logging
        except Exception:
            return "swallowed"
        return positive

    pop = plait.importance(model, num_particles=200, seed=0)
    assert pop.replayed == 1 and set(pop.values) == {True, False}


def test_a_model_that_swallows_the_restart_still_restarts(unseen_models):
    def model():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        try:
            positive = bool(x > 0)
        except:  # noqa: E722 - the point of the test: a bare except catches BaseException too
            positive = "swallowed"
        yield plait.observe("y", plait.Normal(0.0, 1.0), 0.0)
        return positive

    for engine in (plait.importance, plait.smc):
        pop = engine(model, num_particles=200, seed=0)
        assert pop.replayed == 1 and set(pop.values) == {True, False}


@pytest.mark.parametrize("levels", [-1, 1, 3])
def test_a_pruned_log_replays_every_lane_as_before(levels):
    # A random history: lane answers (some 2-d), recomputed entries, resamplings and narrowings.
    rng = np.random.default_rng(levels + 7)
    answers, gathers, size = [], [], 50
    for step in range(12):
        answers.append(batched_module.LaneAnswer(rng.normal(size=size)))
        if step % 4 == 1:
            answers.append(batched_module.LaneAnswer(rng.integers(0, 9, size=(size, 2))))
        answers.append("recomputed")
        index = np.sort(rng.integers(0, size, size=size)) if step % 5 else rng.permutation(size)[:size - 3]
        gathers.append((len(answers), index))
        size = len(index)
    log = batched_module.Group.__new__(batched_module.Group)
    log.answers, log.gathers = answers, gathers
    lanes = np.arange(size)
    before = [e.data.copy() if type(e) is batched_module.LaneAnswer else e for e in log.restricted_log(lanes)]
    for _ in range(2):  # a second walk over an already pruned log
        log.gathers, _dropped = prune_log(log.answers, log.gathers, batched_module.LaneAnswer, levels)
    after = log.restricted_log(lanes)
    assert len(after) == len(before)
    for b, a in zip(before, after):
        assert np.array_equal(a.data, b) if type(a) is batched_module.LaneAnswer else a == b


def test_an_error_is_raised_at_the_users_yield():
    def bad():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield plait.sample("s", plait.Normal(x, -1.0))  # the bad line

    with pytest.raises(plait.errors.InvalidParameterError, match="scale") as info:
        plait.importance(bad, num_particles=10, seed=0)
    assert any(entry.name == "bad" for entry in info.traceback)


def test_a_reused_address_still_raises():
    def twice():
        yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield plait.sample("x", plait.Normal(0.0, 1.0))

    with pytest.raises(plait.errors.DuplicateAddressError):
        plait.importance(twice, num_particles=4, seed=0)


def test_lane_values_in_addresses_and_dict_keys_split_the_batch():
    def model():
        k = yield plait.sample("k", plait.Categorical([0.25, 0.75]))
        names = {0: "left", 1: "right"}
        x = yield plait.sample(("x", names[k]), plait.Normal(float(k), 1.0))
        yield plait.observe("y", plait.Normal(x, 1.0), 1.0)
        return k

    pop = plait.importance(model, num_particles=20000, seed=3)
    assert pop.replayed >= 1
    mean, se = pop.expectation(float), _se(pop, float)
    # P(k = 1 | y): the marginal of y given k is N(k, 2)
    like = [st.norm(0.0, math.sqrt(2)).pdf(1.0), st.norm(1.0, math.sqrt(2)).pdf(1.0)]
    want = 0.75 * like[1] / (0.25 * like[0] + 0.75 * like[1])
    assert abs(mean - want) < 4 * se


def test_a_c_function_that_needs_a_scalar_falls_back_to_lanes_one_by_one():
    def model():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield plait.factor("f", st.norm(x, 1.0).logpdf(0.5))  # scipy converts x to a plain array
        return math.exp(x)  # math converts x to a float

    with pytest.warns(plait.LaneSplitWarning, match="200 lanes into 200 groups") as said:
        pop = plait.importance(model, num_particles=200, seed=0)
    assert said[0].filename == __file__ and said[0].lineno == model.__code__.co_firstlineno + 2  # the scipy line
    assert pop.replayed == 199  # every lane on its own
    direct = plait.importance(model, num_particles=200, seed=0, batched=False)
    assert direct.tier == "" and len(direct) == 200
    # x | y ~ N(0.25, 1/2): E[exp(x)] = exp(0.25 + 0.25)
    with pytest.warns(plait.LaneSplitWarning):
        many = plait.importance(model, num_particles=2000, seed=1)
    assert abs(many.expectation(float) - math.exp(0.5)) < 4 * _se(many, float) + 0.02


def _se(pop, f):
    w = pop.weights
    v = np.array([f(x) for x in pop.values])
    m = float(w @ v)
    return float(math.sqrt(np.sum(w**2 * (v - m) ** 2)))


# -- engines against exact answers ------------------------------------------------------
TRANSITION = np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
HMM_YS = [0.3, -1.8, 0.1, 2.2, 1.7, -0.4, 0.2]


def hmm_plain(ys):
    z = yield plait.sample("z0", plait.Categorical(np.ones(3) / 3))
    for t, y in enumerate(ys):
        z = yield plait.sample(("z", t), plait.Categorical(TRANSITION[z]))
        if z == 0:
            mean = -2.0
        elif z == 1:
            mean = 0.0
        else:
            mean = 2.0
        yield plait.observe(("y", t), plait.Normal(mean, 1.0), y)
    return z


def hmm_step(z, y):
    z = yield plait.sample("z", plait.Categorical(TRANSITION[z]))
    if z == 0:
        mean = -2.0
    elif z == 1:
        mean = 0.0
    else:
        mean = 2.0
    yield plait.observe("y", plait.Normal(mean, 1.0), y)
    return z


def hmm_fold(ys):
    z = yield plait.sample("z0", plait.Categorical(np.ones(3) / 3))
    return (yield plait.fold(hmm_step, z, ys, name="t"))


@pytest.mark.parametrize("model", [hmm_plain, hmm_fold], ids=["plain-loop", "fold"])
def test_hmm_with_branches_matches_the_exact_evidence_and_posterior(model):
    exact = plait.exact(model, HMM_YS)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", plait.LaneSplitWarning)
        pops = [plait.smc(model, HMM_YS, num_particles=200, seed=s) for s in range(20)]
    assert {p.tier for p in pops} == {"batched"} and all(p.replayed > 0 for p in pops)
    # The plain loop branches on a fresh z at every step: it heads for a group per lane,
    # and is warned about; the fold merges its groups after every step.
    assert any(w.category is plait.LaneSplitWarning for w in said) == (model is hmm_plain)
    evidence = np.array([math.exp(p.log_evidence) for p in pops])
    se = evidence.std(ddof=1) / math.sqrt(len(pops))
    assert abs(evidence.mean() - math.exp(exact.log_evidence)) < 4 * se
    means = np.array([p.expectation(float) for p in pops])
    se = means.std(ddof=1) / math.sqrt(len(pops))
    assert abs(means.mean() - exact.expectation(float)) < 4 * se + 3e-3  # self-normalised bias at N = 200


def geometric(y):
    depth = 0
    while (yield plait.sample(("stop", depth), plait.Bernoulli(0.4))) == 0:
        depth += 1
        if depth > 12:
            break
    yield plait.observe("y", plait.Normal(float(depth), 1.0), y)
    return depth


def test_a_random_number_of_sites_matches_exact_enumeration():
    exact = plait.exact(geometric, 3.0)
    pop = plait.importance(geometric, 3.0, num_particles=40000, seed=2)
    assert pop.tier == "batched" and pop.replayed > 5
    assert abs(pop.expectation(float) - exact.expectation(float)) < 4 * _se(pop, float)
    assert abs(pop.log_evidence - exact.log_evidence) < 0.05


def test_loop_kernels_close_over_lane_values_of_the_model():
    # mu is drawn before the loop and the kernel closes over it; the kernel also branches.
    data = [1.3, 0.7, 2.1, 1.8, 0.9]

    def model(data):
        mu = yield plait.sample("mu", plait.Normal(0.0, 2.0))

        def step(count, y):
            if mu > 1.0:
                yield plait.observe("y", plait.Normal(mu, 1.0), y)
            else:
                yield plait.observe("y", plait.Normal(mu, 1.0), y)
            return count + 1

        n = yield plait.fold(step, 0, data, name="obs")
        return mu, n

    precision = 0.25 + len(data)
    exact_mean = sum(data) / precision
    pops = [plait.smc(model, data, num_particles=1000, seed=s) for s in range(20)]
    assert all(v[1] == len(data) for v in pops[0].values)
    means = np.array([p.expectation(lambda v: v[0]) for p in pops])
    se = means.std(ddof=1) / math.sqrt(len(means))
    assert abs(means.mean() - exact_mean) < 4 * se + 1e-3


def test_batched_false_runs_the_per_particle_engines():
    assert plait.importance(geometric, 3.0, num_particles=50, seed=0, batched=False).tier == ""
    assert plait.smc(hmm_plain, HMM_YS, num_particles=20, seed=0, batched=False).tier == "a"
    with pytest.raises(ValueError, match="batched=False"):
        plait.smc(hmm_plain, HMM_YS, num_particles=20, seed=0, vectorized=True, batched=False)


# -- every engine on the same models --------------------------------------------------------
ENGINES = {
    "tier-a": {"batched": False, "loops": False},
    "tier-b": {"batched": False},
    "batched": {},
}


@pytest.mark.filterwarnings("ignore::plait.errors.LaneSplitWarning")  # (the plain loop's groups; see above)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("model", [hmm_plain, hmm_fold], ids=["plain-loop", "fold"])
def test_every_engine_estimates_the_same_evidence(model, engine):
    # The evidence estimate is unbiased in every engine: its mean over seeds
    # agrees with exact enumeration within 4 standard errors.
    exact = math.exp(plait.exact(model, HMM_YS).log_evidence)
    estimates = np.array([
        math.exp(plait.smc(model, HMM_YS, num_particles=25, seed=100 + s, **ENGINES[engine]).log_evidence)
        for s in range(40)
    ])
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - exact) < 4 * se


def test_predictive_runs_batched_and_matches_the_per_draw_engine_in_distribution():
    def model():
        mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
        k = yield plait.sample("k", plait.Bernoulli(0.5))
        if k:
            yield plait.observe("y", plait.Normal(mu, 1.0), 0.0)
        else:
            yield plait.observe("y", plait.Normal(-mu, 2.0), 0.0)

    batched = plait.predictive(model, num_samples=4000, seed=0)
    per_draw = plait.predictive(model, num_samples=4000, seed=0, batched=False)
    for pred in (batched, per_draw):
        y = pred["y"]
        # y ~ 0.5 N(0, 2) + 0.5 N(0, 5): mean 0, variance 3.5
        assert abs(y.mean()) < 4 * math.sqrt(3.5 / len(y))
        assert abs(y.var() - 3.5) < 4 * math.sqrt(2 * 3.5**2 / len(y)) * 1.5
    assert not np.array_equal(batched["y"], per_draw["y"])  # two engines, two streams


def test_families_that_cannot_be_lowered_split_by_parameter_value():
    # A Mixture, a Truncated and a Delta built from lane values: the lanes decide
    # their parameter values (a split), then each group draws from a plain one.
    def model():
        k = yield plait.sample("k", plait.Categorical([0.5, 0.5]))
        loc = 2.0 * k
        x = yield plait.sample("x", plait.Truncated(plait.Normal(loc, 1.0), low=loc))
        m = yield plait.sample("m", plait.Mixture([0.5, 0.5], [plait.Normal(loc, 1.0), plait.Normal(-loc, 1.0)]))
        d = yield plait.sample("d", plait.Delta(loc))
        return float(x - loc >= 0), m, d - loc

    pop = plait.importance(model, num_particles=400, seed=0)
    assert pop.replayed >= 1
    assert all(v[0] == 1.0 and v[2] == 0.0 for v in pop.values)
    m = np.array([v[1] for v in pop.values])
    assert abs(m.mean()) < 4 * m.std() / math.sqrt(len(m))


def test_a_split_after_a_loop_replays_the_loops_answer():
    # The lanes disagree on `x > 2` only after the loop: the part that splits off is
    # rebuilt by replay, which must give it the loop's final state again (not run on
    # from the loop with no answer).  Exact: x ~ Binomial(4, 1/2).
    def model():
        def kernel(x):
            return x + (yield plait.sample("b", plait.Bernoulli(0.5)))

        x = yield plait.iterate(kernel, 0, 4, name="q")
        if x > 2:
            yield plait.observe("y", plait.Normal(x, 1.0), 3.0)
        else:
            yield plait.observe("y", plait.Normal(0.0, 1.0), 3.0)
        return x

    def normal(y, mu):
        return math.exp(-0.5 * (y - mu) ** 2) / math.sqrt(2 * math.pi)

    evidence = 4 / 16 * normal(3, 3) + 1 / 16 * normal(3, 4) + 11 / 16 * normal(3, 0)
    pop = plait.importance(model, num_particles=4000, seed=1)
    assert pop.tier == "batched" and pop.replayed >= 1
    w = np.exp(np.asarray(pop.log_weights) - np.max(pop.log_weights))
    rel_se = math.sqrt(np.var(w) / len(w)) / np.mean(w)  # the estimate's relative SE, from the weights
    assert abs(math.exp(pop.log_evidence) / evidence - 1) < 4 * rel_se
    z = np.array([math.exp(plait.smc(model, num_particles=1000, seed=s).log_evidence) for s in range(8)])
    assert abs(z.mean() - evidence) < 4 * z.std(ddof=1) / math.sqrt(len(z))

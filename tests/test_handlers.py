"""Handlers and the run loop on a 3-site model, against hand-computed log joints."""

import math

import numpy as np
import pytest
import scipy.stats

import plait
from plait import handlers as h

OBS = 0.7


def three(obs):
    a = yield plait.sample("a", plait.Normal(0.0, 1.0))
    b = yield plait.sample("b", plait.Bernoulli(0.3))
    yield plait.observe("y", plait.Normal(a + b, 0.5), obs)
    return a + b


def normal_lp(x, mu, sigma):
    return -0.5 * math.log(2 * math.pi) - math.log(sigma) - (x - mu) ** 2 / (2 * sigma**2)


def bern_lp(b, p):
    return math.log(p) if b == 1 else math.log(1 - p)


def hand_joint(a, b, obs=OBS):
    return normal_lp(a, 0.0, 1.0) + bern_lp(b, 0.3) + normal_lp(obs, a + b, 0.5)


def test_simulate_matches_hand_joint():
    for seed in range(5):
        t = plait.simulate(three, OBS, seed=seed)
        a, b = t["a"], t["b"]
        assert t.value == a + b
        assert list(t) == ["a", "b", "y"]
        assert t.log_joint == pytest.approx(hand_joint(a, b), rel=1e-12)
        assert t.log_prior == pytest.approx(normal_lp(a, 0, 1) + bern_lp(b, 0.3), rel=1e-12)
        assert t.log_likelihood == pytest.approx(normal_lp(OBS, a + b, 0.5), rel=1e-12)
        assert t.choices["y"].observed and not t.choices["a"].observed


def test_log_density_matches_hand_joint():
    for a, b in [(0.2, 1), (-1.3, 0), (2.5, 1)]:
        got = plait.log_density(three, (OBS,), {"a": a, "b": b})
        assert got == pytest.approx(hand_joint(a, b), rel=1e-12)


def test_condition_turns_sample_into_observation():
    t = plait.simulate(h.condition(three, {"b": 1}), OBS, seed=3)
    assert t["b"] == 1 and t.choices["b"].observed
    a = t["a"]
    assert t.log_prior == pytest.approx(normal_lp(a, 0, 1), rel=1e-12)
    assert t.log_likelihood == pytest.approx(math.log(0.3) + normal_lp(OBS, a + 1, 0.5), rel=1e-12)
    assert t.log_joint == pytest.approx(hand_joint(a, 1), rel=1e-12)


def test_replay_reproduces_values():
    t = plait.simulate(three, OBS, seed=11)
    again = plait.simulate(h.replay(three, t), OBS, seed=12345)
    assert again.latents == t.latents
    assert again.log_joint == pytest.approx(t.log_joint, rel=1e-15)
    # Replayed sites stay latent.
    assert not again.choices["a"].observed


def test_replay_draws_sites_missing_from_the_trace():
    def one():
        yield plait.sample("a", plait.Normal(0.0, 1.0))

    t = plait.simulate(one, seed=0)
    again = plait.simulate(h.replay(three, t), OBS, seed=1)
    assert again["a"] == t["a"]
    assert "b" in again


def test_trace_handler_agrees_with_simulate():
    r = plait.run(h.trace(three), OBS, seed=5)
    t = plait.simulate(three, OBS, seed=5)
    assert r.trace.latents == t.latents
    assert r.trace.value == t.value
    assert r.trace.log_joint == pytest.approx(hand_joint(t["a"], t["b"]), rel=1e-12)


def test_block_hides_sites_from_outer_trace():
    t = plait.simulate(h.block(three, hide=["b"]), OBS, seed=2)
    assert list(t) == ["a", "y"]
    a = t["a"]
    b = t.value - a
    assert b in (0, 1)
    assert t.log_joint == pytest.approx(normal_lp(a, 0, 1) + normal_lp(OBS, a + b, 0.5), rel=1e-12)


def test_block_expose_and_predicate():
    t = plait.simulate(h.block(three, expose=["y"]), OBS, seed=2)
    assert list(t) == ["y"]
    t = plait.simulate(h.block(three, hide_fn=lambda e: isinstance(e, plait.Observe)), OBS, seed=2)
    assert list(t) == ["a", "b"]
    with pytest.raises(plait.HandlerError):
        h.Block(hide=["a"], expose=["b"])


def test_block_hidden_sites_still_checked_for_duplicates():
    def model():
        yield plait.sample("x", plait.Normal(0, 1))
        yield plait.sample("x", plait.Normal(0, 1))

    with pytest.raises(plait.DuplicateAddressError, match="'x'"):
        plait.simulate(h.block(model, hide=["x"]), seed=0)


def test_substitute_and_params():
    def model():
        w = yield plait.param("w", 1.0)
        x = yield plait.sample("x", plait.Normal(w, 1.0))
        return w, x

    r = plait.run(h.trace(h.substitute(model, {"w": 2.0, "x": 0.5})))
    assert r.value == (2.0, 0.5)
    assert r.trace.params == {"w": 2.0}
    assert r.trace.log_joint == pytest.approx(normal_lp(0.5, 2.0, 1.0))


def test_order_rule_inner_handler_sees_effect_first():
    # condition (inner) turns x into an observation before substitute (outer)
    # sees it, so substitute has nothing to fix.
    def model():
        return (yield plait.sample("x", plait.Normal(0, 1)))

    inner_condition = plait.Stack(h.Condition({"x": 1.0}), h.Substitute({"x": 2.0}), h.TraceHandler())
    r = inner_condition.run(model)
    assert r.value == 1.0 and r.trace.choices["x"].observed
    inner_substitute = plait.Stack(h.Substitute({"x": 2.0}), h.Condition({"x": 1.0}), h.TraceHandler())
    r = inner_substitute.run(model)
    # substitute fixed the value first; condition then observes its own value.
    assert r.value == 1.0 and r.trace.choices["x"].observed


def test_scale_and_mask():
    t = plait.simulate(h.scale(three, 2.0), OBS, seed=4)
    assert t.log_joint == pytest.approx(2 * hand_joint(t["a"], t["b"]), rel=1e-12)
    t = plait.simulate(h.mask(three, False), OBS, seed=4)
    assert t.log_joint == 0.0
    with pytest.raises(plait.InvalidParameterError, match="scale"):
        h.Scale(-1.0)
    with pytest.raises(plait.InvalidParameterError, match="mask"):
        h.Mask(0.5)


def test_seed_handler_gives_sub_model_its_own_stream():
    seeded = h.seed(three, 9)
    a1 = plait.simulate(seeded, OBS, seed=1)
    a2 = plait.simulate(seeded, OBS, seed=2)
    assert a1.latents == a2.latents  # the inner seed decides, not the run's
    assert plait.simulate(three, OBS, seed=1).latents != plait.simulate(three, OBS, seed=2).latents


def test_handler_instances_are_not_mutated_by_runs():
    tracer = h.TraceHandler()
    stack = plait.Stack(tracer)
    t1 = stack.run(three, OBS, seed=1).trace
    t2 = stack.run(three, OBS, seed=2).trace
    assert t1 is not t2 and t1.latents != t2.latents
    assert "choices" not in tracer.__dict__


def test_handlers_applied_to_a_sub_model():
    def sub(mu):
        return (yield plait.sample("z", plait.Normal(mu, 1.0)))

    def model():
        a = yield from h.condition(sub, {"z": 0.25})(0.0)
        b = yield from plait.scope("other", sub(0.0))
        return a, b

    t = plait.simulate(model, seed=0)
    assert t.value[0] == 0.25
    assert t.choices["z"].observed
    assert ("other", "z") in t and not t.choices[("other", "z")].observed


def test_nested_scopes():
    def leaf():
        yield plait.sample("x", plait.Normal(0, 1))

    def mid():
        yield from plait.scope("b", leaf())

    def top():
        yield from plait.scope("a", mid())

    assert list(plait.simulate(top, seed=0)) == [("a", ("b", "x"))]
    assert list(plait.simulate(plait.scope("m", top), seed=0)) == [("m", ("a", ("b", "x")))]


def test_scipy_frozen_distributions_are_accepted():
    def model():
        x = yield plait.sample("x", scipy.stats.norm(1.0, 2.0))
        yield plait.observe("y", scipy.stats.poisson(3.0), 2)
        return x

    t = plait.simulate(model, seed=0)
    expected = scipy.stats.norm(1.0, 2.0).logpdf(t["x"]) + scipy.stats.poisson(3.0).logpmf(2)
    assert t.log_joint == pytest.approx(expected, rel=1e-12)


def test_threads_and_shared_stacks_give_sequential_results():
    from concurrent.futures import ThreadPoolExecutor

    stack = plait.Stack(h.TraceHandler())
    expected = [stack.run(three, OBS, seed=s).trace.latents for s in range(40)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda s: stack.run(three, OBS, seed=s).trace.latents, range(40)))
    assert got == expected


def test_runs_nest_inside_handlers():
    class InnerRun(h.Handler):
        def handle(self, effect):
            answer = self.fwd(effect)
            if isinstance(effect, plait.Observe):
                inner = plait.simulate(three, OBS, seed=0)
                self.inner_value = inner.value
            return answer

        def end(self, result):
            result.outputs.append((self, self.inner_value))

    r = plait.run(three, OBS, handlers=[InnerRun(), h.TraceHandler()], seed=1)
    assert r.outputs[0][1] == plait.simulate(three, OBS, seed=0).value
    assert list(r.trace) == ["a", "b", "y"]


def test_same_seed_same_trace_different_seed_different_trace():
    t1 = plait.simulate(three, OBS, seed=123)
    t2 = plait.simulate(three, OBS, seed=123)
    t3 = plait.simulate(three, OBS, seed=124)
    assert t1.latents == t2.latents and t1.log_joint == t2.log_joint
    assert t1.latents != t3.latents
    gen_seed = np.random.SeedSequence(5)
    assert plait.simulate(three, OBS, seed=gen_seed).latents == plait.simulate(
        three, OBS, seed=np.random.SeedSequence(5)
    ).latents


def test_handlers_with_slots_bind_per_run():
    class Counting(h.Handler):
        __slots__ = ("fwd", "run", "count")

        def begin(self):
            self.count = 0

        def handle(self, effect):
            self.count += 1
            return self.fwd(effect)

        def end(self, result):
            result.outputs.append((self, self.count))

    counting = Counting()
    assert plait.run(three, OBS, handlers=[counting], seed=0).outputs[-1][1] == 3
    assert plait.run(three, OBS, handlers=[counting], seed=1).outputs[-1][1] == 3

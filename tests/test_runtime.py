"""The run loop: errors, tracebacks, generator closing, loops and multi-shot replay."""

import traceback

import attrs
import numpy as np
import pytest

import plait
from plait import handlers as h


def normal_model():
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    return x


# -- calling convention ----------------------------------------------------------------
def test_plain_function_is_rejected_with_explanation():
    def not_a_model(x):
        return x

    with pytest.raises(TypeError, match="plain function, not a model.*generator function"):
        plait.simulate(not_a_model, 1, seed=0)
    with pytest.raises(plait.ModelTypeError, match="not callable"):
        plait.simulate(3.0, seed=0)

    class ReturnsList:
        def __call__(self):
            return [1, 2]

    with pytest.raises(plait.ModelTypeError, match=r"returned \[1, 2\], not a generator"):
        plait.run(ReturnsList())


def test_callable_objects_returning_generators_are_models():
    class Model:
        def __call__(self, mu):
            return (yield plait.sample("x", plait.Normal(mu, 1.0)))

    assert isinstance(plait.simulate(Model(), 0.0, seed=0).value, float)


# -- errors name the address ----------------------------------------------------------------
def test_unhandled_sample_without_random_source_names_address():
    with pytest.raises(plait.UnhandledEffectError, match=r"sample 'x' ~ Normal.*seed"):
        plait.run(normal_model)


def test_unhandled_custom_effect_names_effect_and_address():
    @attrs.frozen
    class Ask:
        name: str
        question: str

    def model():
        yield Ask("q1", "why?")

    with pytest.raises(plait.UnhandledEffectError, match=r"Ask\(name='q1'.*address 'q1'"):
        plait.run(model, seed=0)


def test_custom_effect_handled_by_custom_handler():
    @attrs.frozen
    class Ask:
        name: str

    class Answer(h.Handler):
        def handle(self, effect):
            if isinstance(effect, Ask):
                return 42
            return self.fwd(effect)

    def model():
        return (yield Ask("q"))

    assert plait.run(model, handlers=[Answer()]).value == 42


def test_duplicate_address_names_address():
    def model():
        for _ in range(2):
            yield plait.sample(("x", 0), plait.Normal(0, 1))

    with pytest.raises(plait.DuplicateAddressError, match=r"\('x', 0\)"):
        plait.simulate(model, seed=0)


def test_unhashable_address_is_explained():
    def model():
        yield plait.sample(["x"], plait.Normal(0, 1))

    with pytest.raises(plait.EffectTypeError, match=r"\['x'\] is not hashable"):
        plait.simulate(model, seed=0)


def test_yielding_a_generator_suggests_yield_from():
    def sub():
        yield plait.sample("z", plait.Normal(0, 1))

    def model():
        yield sub()

    with pytest.raises(plait.EffectTypeError, match="yield from"):
        plait.simulate(model, seed=0)


def test_bad_site_arguments_name_the_address():
    with pytest.raises(plait.EffectTypeError, match="site 'x'.*not a distribution"):
        plait.sample("x", 3.0)
    with pytest.raises(plait.InvalidParameterError, match="factor 'f'.*nan"):
        plait.factor("f", float("nan"))
    with pytest.raises(plait.InvalidParameterError, match="factor 'f'"):
        plait.factor("f", [0.0, float("inf")])
    with pytest.raises(plait.EffectTypeError, match="observe 'y'.*None"):
        plait.observe("y", plait.Normal(0, 1), None)
    with pytest.raises(plait.InvalidParameterError, match="iterate 'L'.*steps"):
        plait.iterate(lambda s: s, 0, -1, name="L")
    with pytest.raises(plait.EffectTypeError, match="loop 'L'.*not callable"):
        plait.fold(3, 0, [1], name="L")


def test_missing_latent_in_log_density_names_it():
    def model():
        a = yield plait.sample("a", plait.Normal(0, 1))
        yield plait.sample("b", plait.Gamma(2.0, 1.0))
        return a

    with pytest.raises(plait.MissingAddressError, match=r"'b' ~ Gamma"):
        plait.log_density(model, (), {"a": 0.0})
    with pytest.raises(plait.ExtraAddressError, match="'c'"):
        plait.log_density(model, (), {"a": 0.0, "b": 1.0, "c": 2.0})


# -- tracebacks and closing ------------------------------------------------------------------
def test_handler_error_is_raised_at_the_users_yield_line():
    def model():
        yield plait.sample("x", plait.Normal(0, 1))
        yield plait.sample("x", plait.Normal(0, 1))  # MARK: duplicate

    with pytest.raises(plait.DuplicateAddressError) as info:
        plait.simulate(model, seed=0)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(f.name == "model" and "MARK: duplicate" in (f.line or "") for f in frames)


def test_model_can_catch_a_handler_error():
    def model():
        try:
            yield plait.sample("x", plait.Normal(0, 1))
        except plait.UnhandledEffectError:
            return "caught"
        return "not caught"

    assert plait.run(model).value == "caught"


def test_generators_are_always_closed():
    closed = []

    def model():
        try:
            yield plait.sample("x", plait.Normal(0, 1))
            yield plait.sample("x", plait.Normal(0, 1))
        finally:
            closed.append(True)

    with pytest.raises(plait.DuplicateAddressError):
        plait.simulate(model, seed=0)
    assert closed == [True]


def test_errors_in_loop_kernels_point_at_the_kernel():
    def kernel(state):
        yield plait.sample("x", plait.Normal(0, 1))
        yield plait.sample("x", plait.Normal(0, 1))  # MARK: kernel duplicate
        return state

    def model():
        return (yield plait.iterate(kernel, 0, 2, name="L"))

    with pytest.raises(plait.DuplicateAddressError, match=r"\('L', 0, 'x'\)") as info:
        plait.simulate(model, seed=0)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any("MARK: kernel duplicate" in (f.line or "") for f in frames)


# -- loops ------------------------------------------------------------------------------------
def walk(x):
    up = yield plait.sample("up", plait.Bernoulli(0.5))
    return x + (1 if up else -1)


def test_iterate_runs_kernel_and_addresses_steps():
    def model():
        return (yield plait.iterate(walk, 10, 4, name="w"))

    t = plait.simulate(model, seed=3)
    assert list(t) == [("w", s, "up") for s in range(4)]
    ups = sum(t[("w", s, "up")] for s in range(4))
    assert t.value == 10 + ups - (4 - ups)


def test_yield_from_iterate_also_works():
    def model():
        return (yield from plait.iterate(walk, 0, 2, name="w"))

    t = plait.simulate(model, seed=0)
    assert len(t) == 2


def test_fold_passes_items_and_nested_loops_compose():
    def inner(total, y):
        yield plait.observe("y", plait.Normal(0, 1), y)
        return total + y

    def outer(total, row):
        return (yield plait.fold(inner, total, row, name="col"))

    def model(rows):
        return (yield plait.fold(outer, 0.0, rows, name="row"))

    t = plait.simulate(model, [[1.0, 2.0], [3.0]], seed=0)
    assert t.value == 6.0
    assert list(t) == [("row", 0, ("col", 0, "y")), ("row", 0, ("col", 1, "y")), ("row", 1, ("col", 0, "y"))]


def test_zero_step_loop_returns_init():
    def model():
        return (yield plait.iterate(walk, 5, 0, name="w"))

    assert plait.simulate(model, seed=0).value == 5


def test_handlers_can_interpret_loops():
    class Collapse(h.Handler):
        interprets_loops = True

        def handle(self, effect):
            if isinstance(effect, plait.Loop):
                return ("collapsed", effect.name, effect.steps)
            return self.fwd(effect)

    def model():
        return (yield plait.iterate(walk, 0, 7, name="w"))

    assert plait.run(model, handlers=[Collapse()]).value == ("collapsed", "w", 7)


# -- multi-shot replay ------------------------------------------------------------------------
def branching(n):
    k = yield plait.sample("k", plait.DiscreteUniform(0, 2))
    total = 0.0
    for i in range(k + n):
        total += yield plait.sample(("x", i), plait.Normal(0, 1))
    return total


def test_recorded_prefix_replays_positionally():
    first = plait.run(branching, 2, seed=0, record=True, handlers=[h.TraceHandler()])
    log = first.answers
    assert [e.name for e, _ in log][0] == "k"
    again = plait.run(branching, 2, seed=99, prefix=log[:2], handlers=[h.TraceHandler()])
    # The two replayed answers bypassed the handlers; the rest ran live.
    assert ("x", 0) not in again.trace and "k" not in again.trace
    assert len(again.trace) == len(log) - 2
    full = plait.run(branching, 2, prefix=log, record=True)
    assert full.value == first.value
    assert [a for _, a in full.answers] == [a for _, a in log]


def test_replay_divergence_names_position_and_both_addresses():
    log = plait.run(branching, 1, seed=0, record=True).answers
    bad = list(log)
    bad[1] = (plait.sample(("y", 0), plait.Normal(0, 1)), 0.0)
    with pytest.raises(plait.ReplayDivergenceError, match=r"position 1.*\('y', 0\).*\('x', 0\)"):
        plait.run(branching, 1, prefix=bad, seed=0)


def test_replay_prefix_through_loops():
    def model():
        return (yield plait.iterate(walk, 0, 5, name="w"))

    first = plait.run(model, seed=4, record=True)
    again = plait.run(model, seed=5, prefix=first.answers)
    assert again.value == first.value


# -- seeds: a SeedSequence is an input, not a counter ------------------------------------------

def _walk(ys):
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    for t, y in enumerate(ys):
        x = yield plait.sample(("x", t), plait.Normal(0.8 * x, 0.6))
        yield plait.observe(("y", t), plait.Normal(x, 0.5), y)
    return x


def _coins(theta):
    a = yield plait.sample("a", plait.Bernoulli(theta))
    b = yield plait.sample("b", plait.Bernoulli(theta))
    return a + 2 * b


def _loc_guide(ys):
    loc = yield plait.param("loc", 0.0)
    yield plait.sample("x", plait.Normal(loc, 1.0))
    for t in range(len(ys)):
        yield plait.sample(("x", t), plait.Normal(loc, 1.0))


_YS = [0.4, -0.3, 1.1]
_SPAWNING_CALLS = {
    "importance batches": lambda seed: plait.importance(_walk, _YS, num_particles=20, num_batches=3,
                                                         seed=seed).log_evidence,
    "smc runs": lambda seed: [r.log_evidence for r in plait.smc(_walk, _YS, num_particles=20, num_runs=3,
                                                                 seed=seed)],
    "mh chains": lambda seed: plait.mh(_walk, _YS, num_samples=30, num_chains=2, seed=seed)["x"],
    "pmmh chains": lambda seed: plait.pmmh(_walk, _YS, params=["x"], num_particles=10, num_samples=10,
                                           num_chains=2, seed=seed)["x"],
    "gradinf": lambda seed: [plait.gradinf(_coins, 0.3, seed=seed)],
    "gradinf samples": lambda seed: plait.gradinf(_coins, 0.3, num_samples=20, seed=seed),
    "svi": lambda seed: plait.svi(_walk, _loc_guide, _YS, num_steps=5, estimator="score",
                                  seed=seed).params["loc"],
}


def test_spawn_seeds_does_not_advance_a_seed_sequence_nor_reuse_its_children():
    from plait.inference.replicas import spawn_seeds

    root = np.random.SeedSequence(3)
    mine = root.spawn(2)  # children the caller has taken already
    first, again = spawn_seeds(root, 3), spawn_seeds(root, 3)
    assert [s.spawn_key for s in first] == [s.spawn_key for s in again] == [(2,), (3,), (4,)]
    assert root.n_children_spawned == 2
    assert [s.spawn_key for s in root.spawn(3)] == [(2,), (3,), (4,)]  # exactly what spawn gives
    assert not {s.spawn_key for s in mine} & {s.spawn_key for s in first}


@pytest.mark.parametrize("name", sorted(_SPAWNING_CALLS))
def test_the_same_seed_sequence_gives_the_same_result_twice(name):
    call = _SPAWNING_CALLS[name]
    root = np.random.SeedSequence(2026)
    np.testing.assert_array_equal(call(root), call(root))
    assert root.n_children_spawned == 0
    np.testing.assert_array_equal(call(root), call(np.random.SeedSequence(2026)))


@pytest.mark.parametrize("name", sorted(_SPAWNING_CALLS))
def test_a_generator_seed_is_a_stream(name):
    call = _SPAWNING_CALLS[name]
    np.testing.assert_array_equal(call(np.random.default_rng(4)), call(np.random.default_rng(4)))

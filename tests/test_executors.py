"""Replicas on executors: identical results in-process, on a process pool and on Dask; failures named."""

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import plait
from plait.inference.replicas import spawn_seeds

distributed = pytest.importorskip("dask.distributed")

DATA = [0.3, -0.5, 1.2, 0.8]


def walk(ys):
    x = yield plait.sample("x0", plait.Normal(0.0, 1.0))
    for t, y in enumerate(ys):
        x = yield plait.sample(("x", t), plait.Normal(0.9 * x, 0.7))
        yield plait.observe(("y", t), plait.Normal(x, 0.5), y)
    return x


def flips(theta):
    total = 0
    for i in range(6):
        total += yield plait.sample(("b", i), plait.Bernoulli(theta))
    return total


def fragile(ys):
    """Fails, as a user's model might, on rare draws: some SMC runs hit one, some do not."""
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    if x > 2.6:
        raise FloatingPointError(f"x = {x} overflowed the user's code")
    yield plait.observe("y", plait.Normal(x, 1.0), ys[0])
    return x


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2) as executor:
        yield executor


@pytest.fixture(scope="module")
def dask_executor():
    # One cluster per module: starting one costs a few seconds.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client.get_executor()


def assert_same_chain(a, b):
    assert a.addresses == b.addresses
    for address in a.addresses:
        assert a.draws(address).tobytes() == b.draws(address).tobytes()
    assert a.log_joint.tobytes() == b.log_joint.tobytes()
    assert a.returns == b.returns
    assert a.acceptance == b.acceptance


def test_mh_chains_are_identical_on_every_executor(pool, dask_executor):
    options = dict(num_samples=300, burn_in=100, num_chains=4, seed=21)
    here = plait.mh(walk, DATA, **options)
    assert here.num_chains == 4
    assert not np.array_equal(here.draws("x0")[0], here.draws("x0")[1])  # the chains differ from each other
    assert_same_chain(here, plait.mh(walk, DATA, executor=pool, **options))
    assert_same_chain(here, plait.mh(walk, DATA, executor=dask_executor, **options))
    assert not np.array_equal(plait.mh(walk, DATA, **{**options, "seed": 22})["x0"], here["x0"])


def assert_same_runs(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert np.asarray(p.values).tobytes() == np.asarray(q.values).tobytes()
        assert p.log_weights.tobytes() == q.log_weights.tobytes()
        assert p.log_evidence == q.log_evidence
    assert a.log_evidence == b.log_evidence


def test_smc_runs_are_identical_on_every_executor(pool, dask_executor):
    here = plait.smc(walk, DATA, num_particles=200, num_runs=4, seed=8)
    assert isinstance(here, plait.PopulationRuns) and len(here) == 4
    # Run i is exactly an SMC on the i-th spawned seed.
    single = plait.smc(walk, DATA, num_particles=200, seed=spawn_seeds(8, 4)[2])
    assert here[2].log_weights.tobytes() == single.log_weights.tobytes()
    assert_same_runs(here, plait.smc(walk, DATA, num_particles=200, num_runs=4, seed=8, executor=pool))
    assert_same_runs(here, plait.smc(walk, DATA, num_particles=200, num_runs=4, seed=8, executor=dask_executor))


def test_pooled_runs_estimate_the_evidence():
    # Conjugate check: one observation y ~ N(x, 1), x ~ N(0, 1): evidence N(y; 0, 2).
    runs = plait.smc(fragile_free, [0.4], num_particles=400, num_runs=6, seed=3)
    exact = -0.5 * np.log(2 * np.pi * 2.0) - 0.4**2 / 4.0
    assert runs.log_evidence == pytest.approx(exact, abs=0.05)
    assert runs.log_evidence == pytest.approx(float(np.log(np.mean(np.exp(runs.log_evidences)))))
    assert runs.expectation() == pytest.approx(0.2, abs=0.05)  # posterior mean y / 2
    assert len(runs.pooled()) == 2400


def fragile_free(ys):
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    yield plait.observe("y", plait.Normal(x, 1.0), ys[0])
    return x


def test_gradinf_estimates_are_identical_in_a_process_pool(pool):
    here = plait.gradinf(flips, 0.3, num_samples=200, seed=4)
    there = plait.gradinf(flips, 0.3, num_samples=200, seed=4, executor=pool)
    assert here == there
    assert abs(here[0] - 6.0) < 4 * here[1]


def test_importance_batches_are_the_union_of_spawned_batches(pool):
    batched = plait.importance(walk, DATA, num_particles=300, num_batches=3, seed=6)
    assert len(batched) == 900
    parts = [plait.importance(walk, DATA, num_particles=300, seed=s) for s in spawn_seeds(6, 3)]
    assert batched.log_weights.tobytes() == np.concatenate([p.log_weights for p in parts]).tobytes()
    there = plait.importance(walk, DATA, num_particles=300, num_batches=3, seed=6, executor=pool)
    assert there.log_weights.tobytes() == batched.log_weights.tobytes()
    assert there.values == batched.values


def expected_failures(seeds):
    failed = {}
    for i, seed in enumerate(seeds):
        try:
            plait.smc(fragile, [0.1], num_particles=150, seed=seed)
        except FloatingPointError as exc:
            failed[i] = exc
    return failed


@pytest.mark.parametrize("where", ["here", "pool"])
def test_a_failing_run_is_named_and_the_others_are_kept(where, pool):
    seeds = spawn_seeds(12, 6)
    failed = expected_failures(seeds)
    assert 0 < len(failed) < 6  # the seed makes some runs fail and others succeed
    executor = pool if where == "pool" else None
    with pytest.raises(plait.ReplicaError) as info:
        plait.smc(fragile, [0.1], num_particles=150, num_runs=6, seed=12, executor=executor)
    error = info.value
    first = min(failed)
    assert error.index == first
    assert error.seed.spawn_key == seeds[first].spawn_key and error.seed.entropy == seeds[first].entropy
    assert f"run {first} of 6" in str(error) and f"spawn_key=({first},)" in str(error)
    assert isinstance(error.__cause__, FloatingPointError)
    assert set(error.errors) == set(failed)
    for i, result in enumerate(error.results):
        if i in failed:
            assert result is None
        else:
            alone = plait.smc(fragile, [0.1], num_particles=150, seed=seeds[i])
            assert result.log_weights.tobytes() == alone.log_weights.tobytes()


def test_a_failing_chain_is_named_in_process():
    def never_starts():  # zero density everywhere: every chain fails to initialise
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield plait.factor("impossible", float("-inf"))
        return x

    with pytest.raises(plait.ReplicaError, match="chain 0 of 2 failed") as info:
        plait.mh(never_starts, num_samples=10, num_chains=2, seed=0)
    assert isinstance(info.value.__cause__, plait.InitializationError)
    assert info.value.results == [None, None]
    # One chain in this process raises the model's error itself, as before.
    with pytest.raises(plait.InitializationError):
        plait.mh(never_starts, num_samples=10, seed=0)


def test_unpicklable_models_are_explained(pool):
    def local_model(ys):
        yield from walk(ys)

    with pytest.raises(plait.UnpicklableError, match=r"model=.*local_model.*defined inside another function.*module level"):
        plait.mh(local_model, DATA, num_samples=10, num_chains=2, executor=pool)
    with pytest.raises(plait.UnpicklableError, match=r"model=.*a lambda.*module level"):
        plait.smc(lambda ys: walk(ys), DATA, num_particles=10, num_runs=2, executor=pool)


def test_executor_without_replicas_is_refused(pool):
    with pytest.raises(ValueError, match="num_runs"):
        plait.smc(walk, DATA, num_particles=10, executor=pool)
    with pytest.raises(ValueError, match="num_batches"):
        plait.importance(walk, DATA, num_particles=10, executor=pool)

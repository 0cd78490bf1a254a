"""Results that survive (issue 20): Ctrl-C keeps the draws, chains save, load and continue, dead workers are named."""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import signal

import numpy as np
import pytest

import plait
from plait.errors import ReplicaError, WorkerDiedError
from plait.inference.replicas import spawn_seeds
from plait.inference.results.chain import Chain

NUM_SAMPLES = 400


def model(y=0.5):
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    yield plait.observe("y", plait.Normal(x, 1.0), y)
    return x


class _InterruptAfter:
    """A model that sends this process SIGINT (Ctrl-C) when it has run ``after`` times."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.runs = 0

    def __call__(self):
        self.runs += 1
        if self.runs == self.after:
            os.kill(os.getpid(), signal.SIGINT)
        return (yield from model())


def test_sigint_after_half_the_draws_returns_them():
    interrupted = _InterruptAfter(NUM_SAMPLES // 2 + 1)  # one run for the start, one per step after it
    chain = plait.mh(interrupted, num_samples=NUM_SAMPLES, seed=0)
    assert chain.partial and "partial" in repr(chain)
    assert NUM_SAMPLES // 2 - 2 <= chain.num_samples < NUM_SAMPLES
    full = plait.mh(model, num_samples=NUM_SAMPLES, seed=0)
    assert np.array_equal(chain["x"], full["x"][: chain.num_samples])  # the draws kept are the run's own


def test_sigint_in_a_later_chain_keeps_the_finished_ones():
    interrupted = _InterruptAfter(NUM_SAMPLES + 1 + NUM_SAMPLES // 2)
    chain = plait.mh(interrupted, num_samples=NUM_SAMPLES, num_chains=3, seed=0)
    assert chain.partial and chain.num_chains == 2  # chain 0 whole, chain 1 cut; chain 2 never ran
    full = plait.mh(model, num_samples=NUM_SAMPLES, num_chains=3, seed=0)
    assert np.array_equal(chain.draws("x")[0], full.draws("x")[0, : chain.num_samples])


def _same_chain(a: Chain, b: Chain) -> bool:
    """Bit for bit: draws, return values, log joints, acceptance, observations (pickles compare bytes and types)."""
    def everything(c: Chain) -> bytes:
        return pickle.dumps((c.chains_data(), c.log_joint.tobytes(), c.acceptance, c.observations, c.partial))
    return everything(a) == everything(b)


def test_chain_save_load_round_trips_bit_identically(tmp_path):
    def rich(n):
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        v = yield plait.sample(("v", 0), plait.Normal(np.zeros(2), 1.0))
        k = yield plait.sample("k", plait.Poisson(3.0))
        yield plait.observe("y", plait.Normal(x, 1.0), 0.25)
        return {"x": x, "k": k, "n": n, "v": v}

    chain = plait.mh(rich, 3, num_samples=50, num_chains=2, burn_in=5, seed=4)
    path = tmp_path / "chain.npz"
    chain.save(path)
    loaded = Chain.load(path)
    assert _same_chain(loaded, chain)
    for c in range(2):
        for a, b in zip(chain.chains_data()[c][0], loaded.chains_data()[c][0]):
            assert a.keys() == b.keys()
            assert all(type(a[k]) is type(b[k]) for k in a)
            assert np.asarray(a["x"]).tobytes() == np.asarray(b["x"]).tobytes()
    assert np.load(path)["log_joint"].tobytes() == chain.log_joint.tobytes()


def test_continuing_a_saved_chain_equals_the_uninterrupted_run(tmp_path):
    kernel = plait.inference.mcmc.kernels.cycle(plait.inference.mcmc.kernels.SingleSite(),
                                                plait.inference.mcmc.kernels.SingleSite())
    first = plait.mh(model, num_samples=150, burn_in=50, num_chains=2, kernel=kernel, seed=7)
    first.save(tmp_path / "first.npz")
    continued = plait.mh(model, num_samples=250, kernel=kernel, resume=Chain.load(tmp_path / "first.npz"))
    whole = plait.mh(model, num_samples=400, burn_in=50, num_chains=2, kernel=kernel, seed=7)
    # Equal values of equal types (the objects are shared differently, so their pickles differ).
    assert continued.chains_data() == whole.chains_data()
    assert continued.log_joint.tobytes() == whole.log_joint.tobytes()
    assert (continued.acceptance, continued.tallies) == (whole.acceptance, whole.tallies)
    assert [type(d["x"]) for c in continued.chains_data() for d in c[0]] == [float] * 800


def test_resume_must_be_a_chain():
    with pytest.raises(plait.errors.InvalidArgumentError, match="resume"):
        plait.mh(model, num_samples=5, resume="chain.npz")


def fragile(kill_at):
    """Kills its own process (as an out-of-memory killer would) when its first draw is ``kill_at``."""
    x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    if x == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    yield plait.observe("y", plait.Normal(x, 1.0), 0.5)
    return x


def test_a_killed_worker_names_its_chain_and_the_others_are_kept():
    # Chain 1's first draw (its initial state) is the standard normal of its own stream.
    kill_at = float(np.random.default_rng(spawn_seeds(0, 3)[1]).standard_normal())
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool, pytest.raises(ReplicaError) as caught:
        plait.mh(fragile, kill_at, num_samples=30, num_chains=3, seed=0, executor=pool)
    error = caught.value
    assert error.index == 1 and "chain 1 of 3" in str(error) and isinstance(error.errors[1], WorkerDiedError)
    assert error.results[0] is not None and error.results[2] is not None and error.results[1] is None
    survivors = error.chain
    alone = [plait.mh(model, num_samples=30, num_chains=3, seed=0).draws("x")[i] for i in (0, 2)]
    assert survivors.partial and survivors.num_chains == 2
    assert np.array_equal(survivors.draws("x")[0], alone[0]) and np.array_equal(survivors.draws("x")[1], alone[1])


def test_sigint_during_smc_raises_with_the_population_so_far():
    interrupted = _InterruptAfter(25)  # during the first step's particles
    with pytest.raises(plait.errors.Interrupted) as caught:
        plait.smc(interrupted, num_particles=40, seed=0, batched=False)  # one run per particle
    population = caught.value.partial
    assert isinstance(caught.value, KeyboardInterrupt) and population.partial and len(population) == 40


def test_sigint_during_batched_smc_raises_with_the_population_so_far():
    def series():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        for t in range(10):
            if t == 4:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the series
            yield plait.observe(("y", t), plait.Normal(x, 1.0), 0.5)
        return x

    with pytest.raises(plait.errors.Interrupted) as caught:
        plait.smc(series, num_particles=40, seed=0)
    population = caught.value.partial
    assert population.partial and len(population) == 40 and population.tier == "batched"
    assert len(population.ess_history) == 4  # the steps weighed before the interruption


def test_sigint_during_svi_returns_the_fit_so_far():
    def guide():
        loc = yield plait.param("loc", 0.0)
        yield plait.sample("x", plait.Normal(loc, 1.0))

    fit = plait.svi(_InterruptAfter(30), guide, num_steps=200, seed=0)
    assert fit.partial and 0 < len(fit.elbo) < 200 and np.isfinite(fit.params["loc"])


def test_population_and_svi_results_save_and_load(tmp_path):
    population = plait.importance(model, num_particles=50, keep_traces=True, seed=0)
    population.save(tmp_path / "population.npz")
    loaded = plait.Population.load(tmp_path / "population.npz")
    assert loaded.values == population.values and loaded.log_weights.tobytes() == population.log_weights.tobytes()
    assert [t.latents for t in loaded.traces] == [t.latents for t in population.traces]

    def guide():
        loc = yield plait.param("loc", 0.0)
        yield plait.sample("x", plait.Normal(loc, 1.0))

    fit = plait.svi(model, guide, num_steps=20, seed=0)
    fit.save(tmp_path / "fit.npz")
    again = type(fit).load(tmp_path / "fit.npz")
    assert again.params == fit.params and again.elbo.tobytes() == fit.elbo.tobytes()
    with pytest.raises(ValueError, match="does not hold a plait Population"):
        plait.Population.load(tmp_path / "fit.npz")


@pytest.mark.parametrize("run", [
    lambda: plait.mh(model, num_samples=30, progress=True, seed=0),
    lambda: plait.smc(model, num_particles=10, progress=True, seed=0),
    lambda: plait.importance(model, num_particles=10, progress=True, seed=0),
])
def test_progress_true_draws_a_bar(run, capsys):
    run()
    err = capsys.readouterr().err
    assert "it/s" in err or "/s" in err


def test_progress_is_off_by_default_when_not_interactive(capsys):
    plait.mh(model, num_samples=30, seed=0)
    plait.smc(model, num_particles=10, seed=0)
    assert capsys.readouterr().err == ""

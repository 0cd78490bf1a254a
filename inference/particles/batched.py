"""Population engines on the batched run loop: SMC and importance sampling over lanes.

The population is one :class:`~plait.handlers.batched.BatchedRun`: every
particle is a lane, the model runs once per group of lanes (one group until
its control flow depends on a lane value).  SMC advances every group to its
next ``observe``/``factor`` (as the per-particle tier (a) advances each
particle), weighs the lanes and maybe resamples them, which is a gather
within each group.  Importance sampling runs every group to its end.

Statistical contract: the same as the per-particle engines, lane by lane
(a lane computes exactly what a particle alone would): for SMC
``exp(log_evidence)`` is unbiased and expectations are self-normalised; for
importance sampling the weights are the likelihoods.  Draws come from one
stream in group order, so a seed gives one result whatever the splits; it
is not the per-particle engines' stream.  A run keeps the log that splits
replay only once it needs it: it starts without, and at its first split
starts again with it from the same streams (``logging_on_split``).

>>> import plait
>>> def coin(flips):
...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
...     for i, f in enumerate(flips):
...         yield plait.observe(("flip", i), plait.Bernoulli(p), f)
...     return p
>>> pop = plait.smc(coin, [1, 1, 0], num_particles=4000, seed=0)
>>> pop.tier, round(pop.expectation(), 1)  # exact posterior mean 0.6
('batched', 0.6)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...ext import all_impossible
from ...handlers.batched import BatchedRun, logging_on_split, rewinder
from ..results.population import Population
from .programs import interrupted
from .resampling import AdaptiveResampling

__all__ = ["smc_batched", "importance_batched"]


def smc_batched(model: Callable[..., Any], args: tuple[Any, ...], num_particles: int,
                books: AdaptiveResampling, rng: np.random.Generator) -> Population:
    """SMC over ``num_particles`` lanes of ``model(*args)`` (see the module docstring).

    >>> import plait, numpy as np
    >>> from plait.inference.particles.resampling import AdaptiveResampling
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1.0), 1.0)
    ...     return x
    >>> books = AdaptiveResampling("systematic", 0.5, np.random.default_rng(1))
    >>> len(smc_batched(model, (), 100, books, np.random.default_rng(2)))
    100
    """
    return logging_on_split(lambda log: _smc(BatchedRun(model, args, num_particles, rng, log=log), books),
                            rewinder(rng), books.rewinder(), model=model)


def _smc(run: BatchedRun, books: AdaptiveResampling) -> Population:
    def weigh(log_weights: np.ndarray) -> None:
        ancestors = books.after_weighting(log_weights, True, lambda: _population(run, books))
        if ancestors is not None:
            run.resample(ancestors)

    def loop_step(loop: Any, step: int) -> None:
        log_weights = run.log_weights()
        books.extinct(log_weights, (loop.name, step))
        weigh(log_weights)

    try:
        step = 0
        while True:
            step += 1
            run.advance(step)
            if run.waiting_at_loops():
                run.run_loops(loop_step)  # one SMC step per loop step
                step = max((g.steps for g in run.groups), default=step)
                continue
            if run.done:
                break  # the last weighing happened at the last pause
            log_weights = run.log_weights()
            if all_impossible(log_weights):
                books.extinct(log_weights, lambda: run.groups[0].last_site)
                break  # every particle is impossible: the evidence estimate is 0
            weigh(log_weights)
        _finish(run)
        return _population(run, books)
    except KeyboardInterrupt:
        raise interrupted(_population(run, books)) from None
    finally:
        run.close()


def _finish(run: BatchedRun) -> None:
    run.advance(None)
    while run.waiting_at_loops():
        run.run_loops(lambda loop, step: None)
        run.advance(None)


def importance_batched(model: Callable[..., Any], args: tuple[Any, ...], num_particles: int,
                       rng: np.random.Generator) -> Population:
    """Likelihood weighting over ``num_particles`` lanes of ``model(*args)``.

    >>> import plait, numpy as np
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1.0), 1.0)
    ...     return x
    >>> importance_batched(model, (), 10, np.random.default_rng(0)).tier
    'batched'
    """
    return logging_on_split(lambda log: _importance(BatchedRun(model, args, num_particles, rng, pause=(), log=log)),
                            rewinder(rng), model=model)


def _importance(run: BatchedRun) -> Population:
    try:
        _finish(run)
        dead_at = next((g.dead_at for g in run.groups if g.dead_at is not None), None)
        population = Population(values=run.values(), log_weights=run.log_weights(), tier="batched",
                                dead_at=dead_at)
        population.replayed = run.forks
        return population
    finally:
        run.close()


def _population(run: BatchedRun, books: AdaptiveResampling) -> Population:
    population = Population(
        values=run.values() if run.done else [None] * run.size,
        log_weights=run.log_weights(),
        log_evidence_offset=books.log_evidence,
        ess_history=list(books.ess_history),
        resample_count=books.resample_count,
        tier="batched",
        dead_at=books.dead_at,
    )
    population.replayed = run.forks
    return population

"""Importance sampling: likelihood weighting, or a user guide as the proposal."""

from __future__ import annotations

import concurrent.futures
import math
from functools import partial
from typing import Any, Callable, Optional

import numpy as np

from ...handlers.trace import TraceHandler
from ..vi.guided import guided
from ..results.population import Population
from ..replicas import run_replicas, spawn_seeds
from ...handlers.runloop import run
from ...handlers.seed import SeedLike, make_rng
from ..arguments import check_count
from ..progress import progress_bar
from .batched import importance_batched

__all__ = ["importance", "ruled_out_by"]


def importance(
    model: Callable[..., Any],
    *args: Any,
    num_particles: int,
    guide: Optional[Callable[..., Any]] = None,
    seed: SeedLike = None,
    keep_traces: bool = False,
    num_batches: Optional[int] = None,
    executor: Optional[concurrent.futures.Executor] = None,
    progress: Optional[bool] = None,
    batched: Optional[bool] = None,
) -> Population:
    """Importance sampling of ``model(*args)`` with ``num_particles`` independent particles.

    Without a guide, every latent is drawn from the prior and a particle's
    log weight is its log likelihood (likelihood weighting).  With a guide (a
    generator function taking the same arguments), each particle runs
    :func:`plait.guided(model, guide) <plait.guided>`: the guide proposes
    every latent site and the weight is ``log p(x, y) - log q(x)``.  Every
    run is checked (``docs/soundness.md``): the guide must propose exactly
    the model's latent addresses (else
    :class:`~plait.errors.MissingAddressError` /
    :class:`~plait.errors.ExtraAddressError`), with the model's support and
    kind at each (:class:`~plait.errors.SupportMismatchError`), must not
    condition or propose an observed address, and observations must lie in
    their supports.  A guide may receive the model's branch decisions with
    ``yield plait.branch(name)``.  With ``keep_traces``, a guided particle's
    trace is that of the guided program (the guide's proposals, the model's
    observations, and one ``GuideWeight(address)`` factor per latent).

    Engines: without a guide and without ``keep_traces``, the particles run
    batched, as lanes of one program (:mod:`plait.inference.particles.batched`;
    ``population.tier == "batched"``); ``batched=False`` forces one run per
    particle (the engine guides and traces use).

    Contract: ``exp(population.log_evidence)`` is an unbiased estimate of the
    evidence; ``population.expectation(f)`` is self-normalised (consistent,
    biased at finite N).  The same seed gives the same population.

    >>> import plait
    >>> def coin():
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     yield plait.observe("flip", plait.Bernoulli(p), 1)
    ...     return p
    >>> pop = plait.importance(coin, num_particles=4000, seed=0)
    >>> round(pop.expectation(), 1)  # exact posterior mean 2/3
    0.7

    Batches.  ``num_batches=b`` draws ``b`` independent batches of
    ``num_particles`` particles each, on seeds spawned from ``seed``, and
    returns their union: one population of ``b × num_particles`` particles
    with their log weights unchanged.  Every particle is an independent
    draw from the same proposal with its own importance weight, so the
    union *is* an importance sample of that size (its evidence estimate is
    the mean of the batches'), not an approximation of one.  ``executor``
    (any ``concurrent.futures.Executor``) runs the batches in parallel with
    the same result as in this process; the model, guide and arguments
    must then pickle.  A failing batch raises
    :class:`~plait.errors.ReplicaError` (index, seed, and the other
    batches' populations in ``.results``).  A batched population differs
    from an unbatched one of the same seed (the streams are spawned).
    ``progress=True`` shows a tqdm bar over the particles (by default only
    when stderr is a terminal).

    >>> batched = plait.importance(coin, num_particles=1000, num_batches=4, seed=0)
    >>> len(batched), round(batched.expectation(), 1)
    (4000, 0.7)
    """
    if num_batches is not None:
        num_batches = check_count("importance", "num_batches", num_batches, 1)
        check_count("importance", "num_particles", num_particles, 1)
        task = partial(importance, model, *args, num_particles=num_particles, guide=guide, keep_traces=keep_traces,
                       batched=batched)
        batches = run_replicas(task, spawn_seeds(seed, num_batches), executor, caller="importance", label="batch")
        return Population(
            values=[v for b in batches for v in b.values],
            log_weights=np.concatenate([b.log_weights for b in batches]),
            traces=[t for b in batches for t in b.traces] if keep_traces else None,
            dead_at=next((b.dead_at for b in batches if b.dead_at is not None), None),
        )
    if executor is not None:
        raise ValueError("importance: executor= runs batches in parallel; pass num_batches= as well")
    num_particles = check_count("importance", "num_particles", num_particles, 1)
    rng = make_rng(seed)
    if batched and (guide is not None or keep_traces):
        raise ValueError("importance: guide= and keep_traces=True run per particle; they are not supported with batched=True")
    if batched is not False and guide is None and not keep_traces:
        bar = progress_bar(progress, num_particles, "importance", "particles")
        population = importance_batched(model, tuple(args), num_particles, rng)
        if bar is not None:
            bar.tick(num_particles)  # one batched run: the bar completes at once
            bar.close()
        return population
    program = model if guide is None else guided(model, guide)
    values = []
    log_weights = np.empty(num_particles)
    traces: Optional[list[Any]] = [] if keep_traces else None
    dead_at: Any = None
    bar = progress_bar(progress, num_particles, "importance", "particles")
    for i in range(num_particles):
        trace = run(program, *args, handlers=(TraceHandler(),), seed=rng).trace
        if bar is not None:
            bar.tick()
        log_weights[i] = trace.log_likelihood
        if dead_at is None and log_weights[i] == -math.inf:
            dead_at = ruled_out_by(trace)
        values.append(trace.value)
        if traces is not None:
            traces.append(trace)
    if bar is not None:
        bar.close()
    return Population(values=values, log_weights=log_weights, traces=traces, dead_at=dead_at)


def ruled_out_by(trace: Any) -> Any:
    """The first observation or factor of ``trace`` whose log density is ``-inf`` (None if none is).

    >>> import plait
    >>> def model():
    ...     yield plait.observe("a", plait.Normal(0, 1), 0.0)
    ...     yield plait.factor("never", float("-inf"))
    >>> ruled_out_by(plait.simulate(model, seed=0))
    'never'
    """
    for address, site in trace.choices.items():
        if site.observed and not np.all(np.asarray(site.log_prob) > -math.inf):
            return address
    for address, log_weight in trace.factors.items():
        if not np.all(np.asarray(log_weight) > -math.inf):
            return address
    return None


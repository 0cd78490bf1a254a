"""Sequential Monte Carlo: ``plait.smc``, and how it picks an execution tier.

Statistical contract: ``exp(population.log_evidence)`` is an unbiased
estimate of the evidence; ``population.expectation(f)`` is consistent
(self-normalised).  Resampling is adaptive: it happens when the effective
sample size drops below ``ess_threshold × N`` (see
:class:`~plait.inference.particles.resampling.AdaptiveResampling`).

Three tiers run the same statistical algorithm at different costs:

* (a) any program: particles are suspended generators, clones are rebuilt by
  replaying an answer log (:mod:`plait.inference.particles.programs`);
* (b) ``iterate``/``fold`` loops: chosen automatically when every particle
  reaches the same loop; the particle state is the loop state, copied on
  resampling (same module);
* batched (the default; ``vectorized=True`` is the same): the whole
  population runs as lanes of one program, split at control flow that
  depends on a particle's value (:mod:`plait.inference.particles.batched`).
  ``batched=False`` selects tiers (a)/(b).
"""

from __future__ import annotations

import concurrent.futures
from functools import partial
from typing import Any, Callable, Optional, Union

import numpy as np

from ..vi.guided import guided
from ..results.population import Population
from ..replicas import run_replicas, spawn_seeds
from .resampling import RESAMPLERS, AdaptiveResampling
from ..progress import Progress, progress_bar
from ...handlers.seed import SeedLike, seed_sequence
from ..arguments import check_count
from ...errors import InvalidArgumentError
from ..results.runs import PopulationRuns
from .programs import run_general
from .batched import smc_batched

__all__ = ["smc", "prepare", "RESAMPLERS"]

_RESAMPLING_STREAM = 0  # spawn keys of the seed's two streams
_LOOP_STREAM = 1


def smc(
    model: Callable[..., Any],
    *args: Any,
    num_particles: int,
    resampler: str = "systematic",
    ess_threshold: float = 0.5,
    seed: SeedLike = None,
    vectorized: bool = False,
    loops: bool = True,
    batched: Optional[bool] = None,
    on_step: Optional[Callable[[int, Population], None]] = None,
    progress: Optional[bool] = None,
    guide: Optional[Callable[..., Any]] = None,
    num_runs: Optional[int] = None,
    executor: Optional[concurrent.futures.Executor] = None,
) -> Union[Population, PopulationRuns]:
    """Sequential Monte Carlo over ``model(*args)`` with ``num_particles`` particles.

    Particles advance to their next ``observe`` or ``factor`` (or through
    one step of an ``iterate``/``fold`` loop); the population is resampled
    (``resampler``: systematic, stratified, multinomial or residual) when its
    ESS falls below ``ess_threshold × N``.  ``exp(log_evidence)`` is an
    unbiased estimate of the evidence; expectations are self-normalised.

    Engines (module docstring): by default the population runs batched, as
    lanes of one program (:mod:`plait.inference.particles.batched`), any
    model, control flow included; ``vectorized=True`` is another spelling of
    it.  ``batched=False`` forces the per-particle engine (tiers (a)/(b): loops
    reached by every particle run on explicit state, unless ``loops=False``);
    it is also what runs with ``guide=``.  ``on_step(step, population)`` is
    called after every weighing; ``progress=True`` shows a tqdm bar (steps/s,
    ESS, log evidence; by default only when stderr is a terminal).  Ctrl-C
    raises :class:`~plait.errors.Interrupted` whose ``partial`` is the
    population as it stood (``partial`` True; unfinished particles have value
    None).  The same ``seed`` gives the same population.  ``population.tier``
    says which engine ran.

    ``guide=`` proposes the latents from a guide program instead of the
    prior: the particles run :func:`plait.guided(model, guide)
    <plait.guided>`, so each latent is drawn from the guide when the model
    reaches it, weighted by ``p / q`` at that step, and checked like
    importance sampling (``docs/soundness.md``).  Loops are then expanded
    inline (tier (a)); ``vectorized=True`` does not take a guide.

    ``num_runs=n`` runs n independent SMCs on seeds spawned from ``seed``
    and returns a :class:`~plait.inference.results.runs.PopulationRuns`: the list
    of populations, the mean of their evidence estimates and an
    evidence-weighted pooled population.  ``executor`` (any
    ``concurrent.futures.Executor``: ``ProcessPoolExecutor``, Dask's
    ``Client.get_executor()``) runs them in parallel, with the same result
    as in this process; the model, its arguments, a guide and ``on_step``
    must then pickle (define them at module level), and ``on_step`` and
    ``progress`` run in the workers.  A run that fails raises
    :class:`~plait.errors.ReplicaError` naming its index and seed, with the
    other runs' populations in ``.results``.

    >>> import plait
    >>> def coin(flips):
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     for i, f in enumerate(flips):
    ...         yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    ...     return p
    >>> pop = plait.smc(coin, [1, 1, 0], num_particles=2000, seed=0)
    >>> round(pop.expectation(), 1)  # exact posterior mean 0.6
    0.6
    """
    if num_runs is not None:
        num_runs = check_count("smc", "num_runs", num_runs, 1)
        prepare("smc", num_particles, resampler, ess_threshold, 0, None, False)  # fail fast, before any run
        seeds = spawn_seeds(seed, num_runs)
        task = partial(smc, model, *args, num_particles=num_particles, resampler=resampler,
                       ess_threshold=ess_threshold, vectorized=vectorized, loops=loops, batched=batched,
                       on_step=on_step,
                       progress=progress, guide=guide)
        return PopulationRuns(run_replicas(task, seeds, executor, caller="smc", label="run"), seeds)
    if executor is not None:
        raise ValueError("smc: executor= runs independent runs in parallel; pass num_runs= as well")
    num_particles, books, live = prepare(
        "smc", num_particles, resampler, ess_threshold, seed, on_step, progress
    )
    if vectorized and batched is False:
        raise ValueError("smc: vectorized=True is the batched engine; it cannot be combined with batched=False")
    if guide is not None:
        if vectorized or batched:
            raise ValueError("smc: guide= runs per particle; it is not supported with vectorized=True or batched=True")
        model = guided(model, guide)
    try:
        if guide is None and batched is not False:
            return smc_batched(model, tuple(args), num_particles, books, live)
        return run_general(model, tuple(args), num_particles, books, live, loops)
    finally:
        books.close()


def _ticker(bar: Progress) -> Callable[[int, Population], None]:
    def tick(step: int, population: Population) -> None:
        bar.tick(ess=population.ess, log_evidence=population.log_evidence)
    return tick


def prepare(
    caller: str, num_particles: Any, resampler: str, ess_threshold: float, seed: SeedLike,
    on_step: Optional[Callable[[int, Population], None]], progress: Optional[bool],
) -> tuple[Any, ...]:
    """Check SMC options; return ``(N, resampling books, stream for live draws)``.

    >>> n, books, live = prepare("smc", 10, "systematic", 0.5, 0, None, False)
    >>> n, books.resample_count
    (10, 0)
    """
    num_particles = check_count(caller, "num_particles", num_particles, 1)
    if resampler not in RESAMPLERS:
        raise InvalidArgumentError(f"{caller}: resampler must be one of {tuple(RESAMPLERS)}, got {resampler!r}", "resampler")
    if not isinstance(ess_threshold, (int, float, np.number)) or not 0.0 <= ess_threshold <= 1.0:
        raise InvalidArgumentError(f"{caller}: ess_threshold must be a number in [0, 1], got {ess_threshold!r}",
                                   "ess_threshold")
    root = seed_sequence(seed.integers(2 ** 63) if isinstance(seed, np.random.Generator) else seed)

    def stream(key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, key)))

    bar = progress_bar(progress, None, caller, "steps")
    callbacks = [c for c in (on_step, _ticker(bar) if bar is not None else None) if c is not None]

    def report(step: int, population: Population) -> None:
        for callback in callbacks:
            callback(step, population)

    books = AdaptiveResampling(
        resampler, ess_threshold, stream(_RESAMPLING_STREAM), report if callbacks else None
    )
    books.bar = bar
    return int(num_particles), books, stream(_LOOP_STREAM)

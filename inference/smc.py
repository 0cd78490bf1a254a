"""Sequential Monte Carlo for general programs (tier (a)): live generators plus replay.

Statistical contract: ``exp(population.log_evidence)`` is an unbiased
estimate of the evidence; ``population.expectation(f)`` is consistent
(self-normalised).  Resampling is adaptive: it happens when the effective
sample size drops below ``ess_threshold × N``.

How it runs.  Every particle owns a suspended execution of the model.  One
SMC step advances each live particle to just after its next ``observe`` or
``factor`` (a particle that returns is finished).  When the population is
resampled, the first child of each ancestor takes over the ancestor's live
generator ("move, don't copy"); every other child only remembers the
ancestor's answer log and its length, which costs O(1).  Before such a child
runs again it is rebuilt by re-executing the model with that log as a
positional prefix (answered by the compiled answer log, no handler work),
which stops exactly where the ancestor was suspended.

Randomness: after every resampling each particle continues with its own
stream, derived from the seed, the resampling count and the particle's
index, so the result does not depend on which children were rebuilt and
which moved, and the same seed gives the same population.
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Optional

import numpy as np

from ..effects.records import Factor, Handled, Loop, Observe
from ..handlers.base import Handler
from ..handlers.scope import LoopStep
from .population import Population
from .. import ext as _ext
from ..ext import ess as _ess
from ..ext import logsumexp as _logsumexp
from .runtime import Execution, SeedLike, answer_log, start

__all__ = ["smc"]

_STEP_KINDS = (Observe, Factor)


class _Weigh(Handler):
    """Add every observation's and factor's log density to the particle's weight."""

    def __init__(self, particle: "_Particle") -> None:
        self.particle = particle

    def handle(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Observe:
            self.particle.log_weight += _total(effect.dist.log_prob(effect.value))
        elif kind is Factor:
            self.particle.log_weight += _total(effect.log_weight)
        return self.fwd(effect)


def _total(log_weight: Any) -> float:
    return float(np.sum(log_weight)) if np.ndim(log_weight) else float(log_weight)


class _Particle:
    """One particle: a suspended execution, or the log to rebuild one from."""

    __slots__ = (
        "model", "args", "log_weight", "execution", "stepper", "done", "value",
        "source_log", "source_length", "rng",
    )

    def __init__(self, model: Callable[..., Any], args: tuple, rng: np.random.Generator) -> None:
        self.model = model
        self.args = args
        self.log_weight = 0.0
        self.execution: Optional[Execution] = None
        self.stepper: Any = None
        self.done = False
        self.value: Any = None
        self.source_log: Optional[list] = None
        self.source_length = 0
        self.rng = rng

    def clone(self, rng: np.random.Generator) -> "_Particle":
        """A child that will be rebuilt by replay when it next runs (O(1) now)."""
        child = _Particle(self.model, self.args, rng)
        child.done, child.value = self.done, self.value
        if not self.done:
            child.source_log = self.execution.answers  # type: ignore[union-attr]
            child.source_length = len(child.source_log)  # type: ignore[arg-type]
        return child

    def advance(self) -> bool:
        """Run to just after the next observe/factor; False once the program has returned.

        Returns whether this particle had to be rebuilt by replay first.
        """
        replayed = self._start() if self.stepper is None else False
        try:
            next(self.stepper)
        except StopIteration as stop:
            self.done, self.value = True, stop.value
            self.stepper = None
        return replayed

    def _start(self) -> bool:
        prefix = [] if self.source_log is None else self.source_log[: self.source_length]
        execution = Execution(self.rng, record_answers=True)
        dispatch, expand, _ = execution.bind((_Weigh(self),), execution.base, True)
        log = answer_log(prefix, dispatch, execution.answers)
        self.execution = execution
        self.stepper = _step(execution, start(self.model, self.args), log, expand)
        # Replay the prefix: the ancestor was suspended just after its last entry.
        while len(execution.answers) < len(prefix):  # type: ignore[arg-type]
            next(self.stepper)
        return bool(prefix)


def _step(execution: Execution, gen: Any, dispatch: Callable[[Any], Any], expand: bool) -> Any:
    """Drive ``gen`` like the run loop, suspending (``yield``) after each observe or factor."""
    try:
        effect = gen.send(None)
        while True:
            try:
                kind = type(effect)
                if kind is Loop and expand:
                    answer = yield from _step_loop(execution, effect, dispatch)
                elif kind is Handled:
                    inner, inner_expand, bound = execution.bind(effect.handlers, dispatch, expand)
                    answer = yield from _step(execution, effect.program, inner, inner_expand)
                    execution.result.value = answer
                    for handler in bound:
                        handler.end(execution.result)
                else:
                    answer = dispatch(effect)
                    if kind in _STEP_KINDS:
                        yield
            except Exception as error:
                effect = gen.throw(error)
                continue
            effect = gen.send(answer)
    except StopIteration as stop:
        return stop.value
    finally:
        gen.close()


def _step_loop(execution: Execution, loop: Loop, dispatch: Callable[[Any], Any]) -> Any:
    state = loop.init
    for step in range(loop.steps):
        args = (state,) if loop.xs is None else (state, loop.xs[step])
        step_dispatch = LoopStep(loop.name, step).bind(dispatch, execution).handle
        state = yield from _step(execution, start(loop.kernel, args), step_dispatch, True)
    return state


def _resample(scheme: str, log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ancestor indices from the compiled resampling kernel ``scheme``."""
    return RESAMPLERS[scheme](log_weights, rng=rng)


RESAMPLERS = {
    "systematic": _ext.systematic,
    "stratified": _ext.stratified,
    "multinomial": _ext.multinomial,
    "residual": _ext.residual,
}


def smc(
    model: Callable[..., Any],
    *args: Any,
    num_particles: int,
    resampler: str = "systematic",
    ess_threshold: float = 0.5,
    seed: SeedLike = None,
    on_step: Optional[Callable[[int, Population], None]] = None,
) -> Population:
    """Sequential Monte Carlo over ``model(*args)`` with ``num_particles`` particles.

    Particles advance to their next ``observe`` or ``factor``; the
    population is resampled (``resampler``: systematic, stratified,
    multinomial or residual) when its ESS falls below ``ess_threshold × N``.
    Works for any program, including ones whose structure depends on random
    values.  ``exp(log_evidence)`` is unbiased.  ``on_step(step,
    population)`` is called after every step, for progress reports.

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
    if isinstance(num_particles, bool) or not isinstance(num_particles, (int, np.integer)) or num_particles < 1:
        raise ValueError(f"smc: num_particles must be a positive int, got {num_particles!r}")
    if resampler not in RESAMPLERS:
        raise ValueError(f"smc: resampler must be one of {tuple(RESAMPLERS)}, got {resampler!r}")
    if not 0.0 <= ess_threshold <= 1.0:
        raise ValueError(f"smc: ess_threshold must be in [0, 1], got {ess_threshold!r}")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)

    def streams(generation: int) -> List[np.random.Generator]:
        # One stream per (resampling generation, particle index): independent of
        # which children moved and which were rebuilt.
        return [
            np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, generation, i)))
            for i in range(num_particles)
        ]

    particles = [_Particle(model, tuple(args), rng) for rng in streams(0)]
    resampling_rng = np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 2**31)))
    log_evidence = 0.0
    ess_history: List[float] = []
    resample_count = 0
    replayed = 0
    step = 0
    while not all(p.done for p in particles):
        suspended = False
        for particle in particles:
            if not particle.done:
                replayed += particle.advance()
                suspended = suspended or not particle.done
        if not suspended:
            break  # every particle returned without observing again: weights unchanged
        log_weights = np.array([p.log_weight for p in particles])
        if np.all(log_weights == -math.inf):
            break  # every particle is impossible: the evidence estimate is 0
        ess = float(_ess(log_weights))
        ess_history.append(ess)
        step += 1
        if on_step is not None:
            on_step(step, _population(particles, log_evidence, ess_history, resample_count))
        if ess < ess_threshold * num_particles and not all(p.done for p in particles):
            log_evidence += float(_logsumexp(log_weights)) - math.log(num_particles)
            ancestors = _resample(resampler, log_weights, resampling_rng)
            resample_count += 1
            fresh = streams(resample_count)
            children: List[_Particle] = []
            moved = set()
            for index, ancestor in enumerate(ancestors.tolist()):
                parent = particles[ancestor]
                if ancestor in moved:
                    child = parent.clone(fresh[index])  # rebuilt by replay when it runs
                else:
                    moved.add(ancestor)
                    child = parent  # the first child keeps the live generator
                children.append(child)
            for index, child in enumerate(children):
                child.log_weight = 0.0
                if child.rng is not fresh[index]:
                    child.rng = fresh[index]
                    if child.execution is not None:
                        child.execution.base.rng = child.rng
            particles = children
    population = _population(particles, log_evidence, ess_history, resample_count)
    population.replayed = replayed
    return population


def _population(
    particles: List[_Particle], log_evidence: float, ess_history: List[float], resample_count: int
) -> Population:
    return Population(
        values=[p.value for p in particles],
        log_weights=np.array([p.log_weight for p in particles]),
        log_evidence_offset=log_evidence,
        ess_history=list(ess_history),
        resample_count=resample_count,
    )

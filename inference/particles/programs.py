"""SMC tiers (a) and (b): particles as paused programs, loops on explicit state.

Tier (a), any program.  Every particle owns a :class:`~plait.ext._interpreter.Process`
of the model (the run loop, paused): its effects are answered by the base
interpreter through a handler that adds observations and factors to the
particle's weight, and recorded by the answer log.  The process pauses after
every ``observe`` or ``factor`` and before every loop record, so one SMC step
is one ``resume()``.  When the population is resampled, the first child of
each ancestor takes over the ancestor's process ("move, don't copy"); every
other child only remembers the ancestor's answer log and its length, which
costs O(1).  Before such a child runs again it is rebuilt: a new process of
the model whose answer log replays that log as a positional prefix (no
handler work), resumed until it has replayed it, which is exactly where the
ancestor paused.  Rebuilding is O(length of the program so far), so a long
program costs O(N·T²) in the worst case.

Tier (b), loops.  A particle whose process pauses at an ``iterate``/``fold``
record, with only stateless rewriting handlers (scope, condition, scale,
mask) between the loop and the particle's own, and a live answer log, waits
there.  Once every live particle waits at a loop of the same name and
length, the loop runs step by step over the whole population: each
particle's kernel runs on its own explicit state, the population is weighed
and maybe resampled after every step, and a child copies its ancestor's
state (a reference: kernels return new states, they must not mutate the old
one).  Nothing inside the loop is logged or replayed, so the loop costs
O(N·T).  After the last step each particle's process is resumed with its
final state, which the answer log records as one entry (a rebuilt particle
answers the loop from that entry).  A loop whose particles disagree
(different loops, or handlers around it that keep per-run state) is expanded
inline by the process (``expand()``) and runs in tier (a).

Randomness.  Every live draw comes from one stream of the run, and particles
always advance in index order; a rebuilt particle draws nothing while it
replays.  So the same seed gives the same population, however many
particles were rebuilt.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Iterable, List, Optional

import numpy as np

from ...effects.records import Factor, Loop, Observe
from ...handlers import REWRITING_HANDLERS
from ...handlers.base import Handler
from ...handlers.scope import LoopStep
from ..results.population import Population
from .resampling import AdaptiveResampling
from ...ext._interpreter import KernelSites
from ...handlers.runloop import Execution, answer_log
from ...handlers.base import start
from ...errors import Interrupted

__all__ = ["run_general", "new_kernel_sites", "interrupted"]

_STEP_KINDS = (Observe, Factor)  # a particle pauses after each of these
_LOOP_KINDS = (Loop,)  # ... and before each loop
#: Handlers that keep no per-run state: a loop under them can run in tier (b),
#: each kernel step under fresh copies of them.
_STATELESS = REWRITING_HANDLERS
_WAIT = object()  # a particle at a loop whose outcome is not known yet
_EXPAND = object()  # the answer that tells a suspended loop to run inline (tier (a))


def _total(log_weight: Any) -> float:
    return float(np.sum(log_weight)) if np.ndim(log_weight) else float(log_weight)


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


def new_kernel_sites(rng: np.random.Generator) -> KernelSites:
    """The compiled base of tier-(b) kernel steps (see :class:`~plait.ext._interpreter.KernelSites`).

    >>> import plait, numpy as np
    >>> sites = new_kernel_sites(np.random.default_rng(0))
    >>> type(sites(plait.sample("x", plait.Normal(0, 1)))).__name__
    'float'
    """
    return KernelSites(rng, _total, _not_a_generator)


def _not_a_generator(kernel: Any, result: Any) -> Any:
    def again(*_: Any) -> Any:
        return result
    again.__name__ = getattr(kernel, "__name__", repr(kernel))
    return start(again, ())  # raises the run loop's "not a model" error


class _Particle:
    """One particle: a paused :class:`~plait.ext._interpreter.Process` of the model, or the log to rebuild one from."""

    __slots__ = (
        "model", "args", "rng", "log_weight", "execution", "process", "log", "done", "value",
        "source_log", "source_length", "at_loop", "loop_answer", "around",
    )

    def __init__(self, model: Callable[..., Any], args: tuple[Any, ...], rng: np.random.Generator) -> None:
        self.model = model
        self.args = args
        self.rng = rng
        self.log_weight = 0.0
        self.execution: Optional[Execution] = None
        self.process: Any = None
        self.log: Any = None  # the process's answer log (replays the prefix, then records)
        self.done = False
        self.value: Any = None
        self.source_log: Optional[list[Any]] = None
        self.source_length = 0
        #: The loop record this particle is paused at, if any; ``loop_answer``
        #: is its final state once known, ``_EXPAND`` to run it inline, else ``_WAIT``.
        #: ``around``: the sub-program handlers between that loop and the particle's own.
        self.at_loop: Optional[Loop] = None
        self.loop_answer: Any = _WAIT
        self.around: tuple[Any, ...] = ()

    def answers(self) -> list[Any]:
        """The answer log up to this particle's pause."""
        if self.execution is not None:
            return list(self.execution.answers)  # type: ignore[arg-type]
        return [] if self.source_log is None else self.source_log[: self.source_length]

    def moved_to(self, answers: list[Any]) -> "_Particle":
        """A particle paused where this one is, but with the answers of another trace."""
        child = _Particle(self.model, self.args, self.rng)
        child.log_weight = self.log_weight
        child.source_log, child.source_length = answers, len(answers)
        return child

    def clone(self) -> "_Particle":
        """A child that is rebuilt by replay when it next runs, so making it costs O(1)."""
        child = _Particle(self.model, self.args, self.rng)
        child.done, child.value = self.done, self.value
        child.at_loop, child.loop_answer, child.around = self.at_loop, self.loop_answer, self.around
        if not self.done:
            if self.execution is None:  # itself a clone that has not run again yet
                child.source_log, child.source_length = self.source_log, self.source_length
            else:
                child.source_log = self.execution.answers
                child.source_length = len(child.source_log)  # type: ignore[arg-type]
        return child

    @property
    def waiting(self) -> bool:
        """Paused at a loop whose outcome is not decided yet."""
        return self.at_loop is not None and self.loop_answer is _WAIT

    def advance(self) -> bool:
        """Run to just after the next observe/factor, to the next loop, or to the end.

        Returns whether this particle had to be rebuilt by replay first.
        """
        replayed = False
        if self.process is None:
            replayed = self._start()
        if self.at_loop is None:
            paused = self.process.resume()
        else:
            paused = self._leave_loop()
        if type(paused) is Loop:
            paused = self._past_loops(paused)
        if paused is None:
            self.done, self.value = True, self.process.value
            self.process = self.execution = self.log = None
        elif type(paused) is Loop:
            self.at_loop, self.around = paused, self.execution.inner_handlers()  # type: ignore[union-attr]
        return replayed

    def _leave_loop(self) -> Any:
        """Run the loop this particle is paused at as the population decided; return the next pause."""
        loop, answer = self.at_loop, self.loop_answer
        self.at_loop, self.loop_answer = None, _WAIT
        if answer is _EXPAND:  # tier (a): its kernel steps run inline
            return self.process.expand()
        # Tier (b) ran it: the log records the whole loop as one entry.
        return self.process.resume(self.log.record(loop, answer))

    def _past_loops(self, paused: Loop) -> Any:
        """Run on past the loops the population does not decide, from the loop ``paused``.

        Returns the next pause: after an observe or factor, at a loop for
        the population, or None at the end.
        """
        process = self.process
        while type(paused) is Loop:
            around = self.execution.inner_handlers()  # type: ignore[union-attr]
            if all(type(h) in _STATELESS for h in around):
                entry = self.log.peek()
                if entry is None:  # live: the population decides how this loop runs
                    return paused
                if type(entry[0]) is Loop and entry[0].name == paused.name:
                    # Replaying a loop that ran in tier (b): its final state is logged.
                    paused = process.resume(self.log.record(paused, None))
                    continue
            if any(h.interprets_loops for h in around):
                paused = process.resume()  # a handler around it answers it
            else:
                paused = process.expand()  # tier (a): its kernel steps run inline
        return paused

    def _start(self) -> bool:
        """Make this particle's process, and replay its prefix up to where its ancestor paused."""
        prefix = [] if self.source_log is None else self.source_log[: self.source_length]
        execution = Execution(self.rng, record_answers=True)
        dispatch, expand, _ = execution.bind((_Weigh(self),), execution.base, True)
        self.log = answer_log(prefix, dispatch, execution.answers)
        self.execution = execution
        self.process = process = execution.process(
            start(self.model, self.args), self.log, expand, before=_LOOP_KINDS, after=_STEP_KINDS
        )
        # The ancestor paused just after its last entry, or at a loop whose
        # record it had not logged yet.
        answers, length, paused = execution.answers, len(prefix), None
        while len(answers) < length:  # type: ignore[arg-type]
            paused = process.resume()
            if type(paused) is Loop:
                paused = self._past_loops(paused)
        if self.at_loop is not None and type(paused) is not Loop:
            paused = process.resume()
            if type(paused) is Loop:
                paused = self._past_loops(paused)
            if type(paused) is not Loop or paused.name != self.at_loop.name:
                raise AssertionError("a rebuilt particle did not stop at its ancestor's loop")
        return bool(prefix)


def _children(particles: List[_Particle], ancestors: Iterable[int]) -> List[_Particle]:
    """The population after resampling: the first child of each ancestor moves, the rest clone."""
    moved: set[int] = set()
    children = []
    for ancestor in ancestors:
        parent = particles[ancestor]
        if id(parent) in moved:
            child = parent.clone()
        else:
            moved.add(id(parent))
            child = parent
        child.log_weight = 0.0
        children.append(child)
    return children


def _first_loop(particles: List[_Particle]) -> Loop:
    """The loop the first particle that waits at one waits at."""
    for particle in particles:
        if particle.at_loop is not None:
            return particle.at_loop
    raise AssertionError("no particle is at a loop")


def _compatible(waiting: List[_Particle]) -> bool:
    first = waiting[0].at_loop
    return all(p.at_loop.name == first.name and p.at_loop.steps == first.steps for p in waiting)  # type: ignore[union-attr]


def _run_loop(particles: List[_Particle], books: AdaptiveResampling, rng: np.random.Generator) -> List[_Particle]:
    """Run the loop every waiting particle is at, on explicit state (tier (b)).

    Inside the loop a particle is its state, its weight and a reference to
    the suspended program it resumes afterwards; resampling gathers the three
    lists.  Children that share a program are separated (moved or cloned)
    once, after the last step.
    """
    n = len(particles)
    sites = new_kernel_sites(rng)
    scratch = Execution(rng, record_answers=False)
    scratch.base = sites
    log_weights = np.array([p.log_weight for p in particles])
    states: List[Any] = [p.at_loop.init if p.at_loop is not None else None for p in particles]
    steps = _first_loop(particles).steps
    layout = _Layout(particles)
    for step in range(steps):
        xs = layout.xs(step)
        sites.run_steps(layout.kernels, states, xs, log_weights, layout.plain, scratch)
        for i in layout.wrapped:  # loops under scopes or conditions: the kernel meets copies of them
            particle, loop = particles[i], particles[i].at_loop
            sites.reset()
            dispatch, _, _ = scratch.bind((LoopStep(loop.name, step), *particle.around), sites, True)  # type: ignore[union-attr]
            args = (states[i],) if xs is None else (states[i], xs[i])
            states[i] = scratch.drive(start(loop.kernel, args), dispatch, True)  # type: ignore[union-attr]
            log_weights[i] += sites.log_weight
        books.extinct(log_weights, (_first_loop(particles).name, step))
        ancestors = books.after_weighting(
            log_weights, True, lambda: _described(particles, log_weights, books)
        )
        if ancestors is not None:
            order = ancestors.tolist()
            particles = [particles[a] for a in order]
            states = [states[a] for a in order]
            log_weights = np.zeros(n)
            layout = _Layout(particles)
    particles = _children(particles, range(n))
    for particle, state, log_weight in zip(particles, states, log_weights.tolist()):
        particle.log_weight = log_weight
        if particle.at_loop is not None:
            particle.loop_answer = state
    return particles


class _Layout:
    """Per-particle kernel lists for one arrangement of the population inside a loop."""

    __slots__ = ("loops", "kernels", "plain", "wrapped", "shared_xs", "n")

    def __init__(self, particles: List[_Particle]) -> None:
        self.n = len(particles)
        self.loops = [p.at_loop for p in particles]
        self.kernels = [None if loop is None else loop.kernel for loop in self.loops]
        self.plain = [i for i, p in enumerate(particles) if p.at_loop is not None and not p.around]
        self.wrapped = [i for i, p in enumerate(particles) if p.at_loop is not None and p.around]
        first = _first_loop(particles)
        shared = all(loop is None or loop.xs is first.xs for loop in self.loops)
        #: every particle's inputs when all loops share them, else _WAIT (None: iterate loops)
        self.shared_xs: Any = first.xs if shared else _WAIT

    def xs(self, step: int) -> Optional[list[Any]]:
        """This step's input for every particle (None for ``iterate`` loops)."""
        if self.shared_xs is None:
            return None
        if self.shared_xs is not _WAIT:
            return [self.shared_xs[step]] * self.n
        return [None if loop is None or loop.xs is None else loop.xs[step] for loop in self.loops]


def _described(particles: List[_Particle], log_weights: np.ndarray, books: AdaptiveResampling) -> Population:
    population = snapshot(particles, books)
    population.log_weights = np.array(log_weights, dtype=float)
    return population


def run_general(
    model: Callable[..., Any], args: tuple[Any, ...], num_particles: int, books: AdaptiveResampling,
    rng: np.random.Generator, loops: bool = True,
    rejuvenate: Optional[Callable[[List["_Particle"]], List["_Particle"]]] = None,
) -> Population:
    """Tiers (a) and (b): see the module docstring.  ``loops=False`` forces tier (a).

    ``rejuvenate(particles)``, if given, runs after every resampling of a
    tier-(a) step and returns the moved particles (resample-move SMC).

    ``plait.smc`` calls it; ``population.tier`` says which tiers ran.

    >>> import plait
    >>> def kernel(n, y):
    ...     n = n + (yield plait.sample("b", plait.Bernoulli(0.5)))
    ...     yield plait.observe("y", plait.Poisson(n + 1.0), y)
    ...     return n
    >>> def model(ys):
    ...     return (yield plait.fold(kernel, 0, ys, name="t"))
    >>> plait.smc(model, [1, 2, 2], num_particles=100, seed=0, batched=False).tier
    'b'
    """
    particles = [_Particle(model, args, rng) for _ in range(num_particles)]
    replayed = 0
    tiers = set()
    try:
        while True:
            stepped = False
            for particle in particles:
                if not particle.done and not particle.waiting:
                    replayed += particle.advance()
                    stepped = stepped or not (particle.done or particle.waiting)
            if stepped:
                tiers.add("a")
                log_weights = np.array([p.log_weight for p in particles])
                if not np.any(log_weights > -math.inf):
                    books.extinct(log_weights, partial(_last_site, particles))
                    break  # every particle is impossible: the evidence estimate is 0
                ancestors = books.after_weighting(
                    log_weights, not all(p.done for p in particles), lambda: snapshot(particles, books)
                )
                if ancestors is not None:
                    particles = _children(particles, ancestors.tolist())
                    if rejuvenate is not None:
                        particles = rejuvenate(particles)
                continue
            waiting = [p for p in particles if p.waiting]
            if not waiting:
                break
            if loops and _compatible(waiting):
                tiers.add("b")
                particles = _run_loop(particles, books, rng)
            else:
                for particle in waiting:
                    particle.loop_answer = _EXPAND
    except KeyboardInterrupt:
        raise interrupted(snapshot(particles, books)) from None
    population = snapshot(particles, books)
    population.replayed = replayed
    population.tier = "+".join(sorted(tiers)) or "a"
    return population


def interrupted(population: Population) -> Interrupted:
    """The error of an SMC run stopped by Ctrl-C, holding the population as it stood (marked partial).

    >>> interrupted(Population([None], [0.0])).partial.partial
    True
    """
    population.partial = True
    return Interrupted(
        f"smc: interrupted after {len(population.ess_history)} weighings; the population as it stood is "
        "in this exception's .partial (unfinished particles have value None)", population)


def _last_site(particles: List[_Particle]) -> Any:
    """The address of the observation or factor the particles paused after (None if none did)."""
    for particle in particles:
        pending = None if particle.process is None else particle.process.pending
        if pending is not None:
            return getattr(pending, "name", None)
    return None


def snapshot(particles: Iterable[_Particle], books: AdaptiveResampling) -> Population:
    """The population as it stands (values are None for unfinished particles)."""
    particles = list(particles)
    return Population(
        values=[p.value for p in particles],
        log_weights=np.array([p.log_weight for p in particles]),
        log_evidence_offset=books.log_evidence,
        ess_history=list(books.ess_history),
        resample_count=books.resample_count,
        dead_at=books.dead_at,
    )

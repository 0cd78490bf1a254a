"""SMC tiers (a) and (b): particles as suspended programs, loops on explicit state.

Tier (a), any program.  Every particle owns a suspended execution of the
model.  One SMC step advances each particle to just after its next
``observe`` or ``factor``.  When the population is resampled, the first child
of each ancestor takes over the ancestor's live generator ("move, don't
copy"); every other child only remembers the ancestor's answer log and its
length, which costs O(1).  Before such a child runs again it is rebuilt by
re-executing the model with that log as a positional prefix (answered by the
compiled answer log, no handler work), which stops exactly where the ancestor
was suspended.  Rebuilding is O(length of the program so far), so a long
program costs O(N·T²) in the worst case.

Tier (b), loops.  A particle that reaches an ``iterate``/``fold`` record
suspends there.  Once every live particle waits at a loop of the same name
and length, the loop runs step by step over the whole population: each
particle's kernel runs on its own explicit state, the population is weighed
and maybe resampled after every step, and a child copies its ancestor's
state (a reference: kernels return new states, they must not mutate the old
one).  Nothing inside the loop is logged or replayed, so the loop costs
O(N·T).  After the last step each particle resumes its program with its final
state; the answer log records the whole loop as one entry.  A loop whose
particles disagree (different loops, or handlers around it that keep per-run
state) is expanded inline and runs in tier (a).

Randomness.  Tier (a) steps draw from one stream per (resampling generation,
particle index), so the result does not depend on which children moved and
which were rebuilt; tier (b) loop steps draw from one loop stream, visiting
particles in index order.  The same seed gives the same population.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, List, Optional

import numpy as np

from ..effects.records import UNSET, Deterministic, Factor, Handled, Loop, Observe, Param, Sample
from ..handlers.base import Handler
from ..handlers.condition import Condition
from ..handlers.scope import LoopStep, Scope
from ..handlers.weighting import Mask, Scale
from .population import Population
from .resampling import AdaptiveResampling
from .runtime import Execution, _fail, answer_log, start

__all__ = ["run_general"]

_STEP_KINDS = (Observe, Factor)
#: Handlers that keep no per-run state: a loop under them can run in tier (b),
#: each kernel step under fresh copies of them.
_STATELESS = (Scope, LoopStep, Condition, Scale, Mask)
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


class _KernelSites:
    """The base of one tier-(b) kernel step: draw samples, weigh observations.

    Nothing is recorded; addresses are only checked for reuse within the step.
    """

    __slots__ = ("rng", "log_weight", "names")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.log_weight = 0.0
        self.names: set = set()

    def __call__(self, effect: Any) -> Any:
        kind = type(effect)
        names = self.names
        count = len(names)
        try:
            names.add(effect.name)
        except TypeError:
            _fail("unhashable", effect)
        except AttributeError:
            _fail("unknown", effect)
        if len(names) == count:
            _fail("duplicate", effect)
        if kind is Sample:
            value = effect.value
            if value is UNSET:
                value = effect.dist.sample(self.rng)
            return value
        if kind is Observe:
            log_weight = effect.dist.log_prob(effect.value)
            self.log_weight += log_weight if type(log_weight) is float else _total(log_weight)
            return effect.value
        if kind is Factor:
            self.log_weight += _total(effect.log_weight)
            return None
        if kind is Deterministic:
            return effect.value
        if kind is Param:
            return effect.init
        _fail("unknown", effect)


class _Particle:
    """One particle: a suspended execution, or the log to rebuild one from."""

    __slots__ = (
        "model", "args", "log_weight", "execution", "stepper", "done", "value",
        "source_log", "source_length", "rng", "stream", "at_loop", "loop_answer", "around",
    )

    def __init__(self, model: Callable[..., Any], args: tuple, stream: Callable[[], np.random.Generator]) -> None:
        self.model = model
        self.args = args
        self.log_weight = 0.0
        self.execution: Optional[Execution] = None
        self.stepper: Any = None
        self.done = False
        self.value: Any = None
        self.source_log: Optional[list] = None
        self.source_length = 0
        #: The random stream, made on first use from ``stream``.
        self.rng: Optional[np.random.Generator] = None
        self.stream = stream
        #: The loop record this particle is suspended at, if any; ``loop_answer``
        #: is its final state once known, ``_EXPAND`` to run it inline, else ``_WAIT``.
        self.at_loop: Optional[Loop] = None
        self.loop_answer: Any = _WAIT
        self.around: tuple = ()

    def child(self, stream: Callable[[], np.random.Generator], moved: bool) -> "_Particle":
        """The particle's child after resampling: the particle itself, or a lazy clone.

        The first child (``moved``) continues the live generator; any other
        child is rebuilt by replay when it next runs, so making it costs O(1).
        """
        if moved:
            child = self
        else:
            child = _Particle(self.model, self.args, stream)
            child.done, child.value = self.done, self.value
            child.at_loop, child.loop_answer, child.around = self.at_loop, self.loop_answer, self.around
            if not self.done:
                if self.execution is None:  # itself a clone that has not run again yet
                    child.source_log, child.source_length = self.source_log, self.source_length
                else:
                    child.source_log = self.execution.answers
                    child.source_length = len(child.source_log)  # type: ignore[arg-type]
        child.log_weight = 0.0
        if moved:
            child.stream, child.rng = stream, None
        return child

    @property
    def waiting(self) -> bool:
        """Suspended at a loop whose outcome is not decided yet."""
        return self.at_loop is not None and self.loop_answer is _WAIT

    def advance(self) -> bool:
        """Run to just after the next observe/factor, to the next loop, or to the end.

        Returns whether this particle had to be rebuilt by replay first.
        """
        replayed = False
        if self.stepper is None:
            replayed = self._start()
        if self.rng is None:
            self.rng = self.execution.rng = self.stream()  # type: ignore[union-attr]
            self.execution.base.rng = self.rng  # type: ignore[union-attr]
        try:
            if self.at_loop is not None:
                answer, self.at_loop, self.loop_answer = self.loop_answer, None, _WAIT
                suspension = self.stepper.send(answer)
            else:
                suspension = next(self.stepper)
        except StopIteration as stop:
            self.done, self.value = True, stop.value
            self.stepper = self.execution = None
            return replayed
        if suspension is not None:  # a loop: (record, handlers around it)
            self.at_loop, self.around = suspension
        return replayed

    def _start(self) -> bool:
        prefix = [] if self.source_log is None else self.source_log[: self.source_length]
        execution = Execution(None, record_answers=True)
        dispatch, expand, _ = execution.bind((_Weigh(self),), execution.base, True)
        log = answer_log(prefix, dispatch, execution.answers)
        self.execution = execution
        self.stepper = _step(execution, start(self.model, self.args), log, expand, (), log)
        # Replay the prefix: the ancestor was suspended just after its last entry,
        # or at a loop whose record it had not logged yet.
        suspension = None
        while len(execution.answers) < len(prefix):  # type: ignore[arg-type]
            suspension = next(self.stepper)
        if self.at_loop is not None and suspension is None:
            suspension = next(self.stepper)
            if suspension is None or suspension[0].name != self.at_loop.name:
                raise AssertionError("a rebuilt particle did not stop at its ancestor's loop")
        return bool(prefix)


def _step(
    execution: Execution, gen: Any, dispatch: Callable[[Any], Any], expand: bool, around: tuple,
    log: Any,
) -> Any:
    """Drive ``gen`` like the run loop, suspending after each observe or factor.

    Yields None after an observe or factor, and ``(loop, around)`` at a loop
    that tier (b) may run (``around``: the sub-program handlers between the
    loop and the particle's own); the answer sent back is the loop's final
    state, or ``_EXPAND`` to run it inline.
    """
    try:
        effect = gen.send(None)
        while True:
            try:
                kind = type(effect)
                if kind is Loop and expand:
                    answer = yield from _step_loop(execution, effect, dispatch, around, log)
                elif kind is Handled:
                    inner, inner_expand, bound = execution.bind(effect.handlers, dispatch, expand)
                    answer = yield from _step(
                        execution, effect.program, inner, inner_expand, (*effect.handlers, *around), log
                    )
                    execution.result.value = answer
                    for handler in bound:
                        handler.end(execution.result)
                else:
                    answer = dispatch(effect)
                    if kind in _STEP_KINDS:
                        yield None
            except Exception as error:
                effect = gen.throw(error)
                continue
            effect = gen.send(answer)
    except StopIteration as stop:
        return stop.value
    finally:
        gen.close()


def _step_loop(
    execution: Execution, loop: Loop, dispatch: Callable[[Any], Any], around: tuple, log: Any
) -> Any:
    if all(type(h) in _STATELESS for h in around):
        entry = log.peek()
        if entry is None:  # live: the population decides how this loop runs
            answer = yield (loop, around)
            if answer is not _EXPAND:
                return log.record(loop, answer)
        elif type(entry[0]) is Loop and entry[0].name == loop.name:
            return log.record(loop, None)  # replaying a loop that ran in tier (b)
    state = loop.init
    for step in range(loop.steps):
        args = (state,) if loop.xs is None else (state, loop.xs[step])
        step_dispatch = LoopStep(loop.name, step).bind(dispatch, execution).handle
        state = yield from _step(execution, start(loop.kernel, args), step_dispatch, True, around, log)
    return state


def _compatible(waiting: List[_Particle]) -> bool:
    first = waiting[0].at_loop
    return all(p.at_loop.name == first.name and p.at_loop.steps == first.steps for p in waiting)  # type: ignore[union-attr]


def _run_loop(
    particles: List[_Particle], books: AdaptiveResampling, loop_rng: np.random.Generator,
    resample: Callable[[List[_Particle], np.ndarray], List[_Particle]],
) -> List[_Particle]:
    """Run the loop every waiting particle is at, on explicit state (tier (b))."""
    members = [i for i, p in enumerate(particles) if p.at_loop is not None]
    states: List[Any] = [None] * len(particles)
    for i in members:
        states[i] = particles[i].at_loop.init  # type: ignore[union-attr]
    sites = _KernelSites(loop_rng)
    scratch = Execution(loop_rng, record_answers=False)
    scratch.base = sites
    first = particles[members[0]].at_loop
    for step in range(first.steps):  # type: ignore[union-attr]
        for i in members:
            particle = particles[i]
            loop = particle.at_loop
            args = (states[i],) if loop.xs is None else (states[i], loop.xs[step])  # type: ignore[union-attr]
            sites.log_weight = 0.0
            sites.names.clear()
            if particle.around:
                dispatch, _, _ = scratch.bind((LoopStep(loop.name, step), *particle.around), sites, True)  # type: ignore[union-attr]
            else:
                dispatch = sites
            states[i] = scratch.drive(start(loop.kernel, args), dispatch, True)  # type: ignore[union-attr]
            particle.log_weight += sites.log_weight
        log_weights = np.array([p.log_weight for p in particles])
        ancestors = books.after_weighting(log_weights, True, lambda: snapshot(particles, books))
        if ancestors is not None:
            particles = resample(particles, ancestors)
            states = [states[a] for a in ancestors.tolist()]
            members = [i for i, p in enumerate(particles) if p.at_loop is not None]
    for i in members:
        particles[i].loop_answer = states[i]
    return particles


def run_general(
    model: Callable[..., Any], args: tuple, num_particles: int, books: AdaptiveResampling,
    stream: Callable[[int, int], np.random.Generator], loop_rng: np.random.Generator,
    loops: bool = True,
) -> Population:
    """Tiers (a) and (b): see the module docstring.  ``loops=False`` forces tier (a).

    ``plait.smc`` calls it; ``population.tier`` says which tiers ran.

    >>> import plait
    >>> def kernel(n, y):
    ...     n = n + (yield plait.sample("b", plait.Bernoulli(0.5)))
    ...     yield plait.observe("y", plait.Poisson(n + 1.0), y)
    ...     return n
    >>> def model(ys):
    ...     return (yield plait.fold(kernel, 0, ys, name="t"))
    >>> plait.smc(model, [1, 2, 2], num_particles=100, seed=0).tier
    'b'
    """
    generation = [0]

    def lazy_stream(index: int) -> Callable[[], np.random.Generator]:
        key = generation[0]
        return lambda: stream(key, index)

    def resample(particles: List[_Particle], ancestors: np.ndarray) -> List[_Particle]:
        generation[0] += 1
        moved: set = set()
        children = []
        for index, ancestor in enumerate(ancestors.tolist()):
            first = ancestor not in moved
            moved.add(ancestor)
            children.append(particles[ancestor].child(lazy_stream(index), first))
        return children

    particles = [_Particle(model, args, lazy_stream(i)) for i in range(num_particles)]
    replayed = 0
    tiers = set()
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
                break  # every particle is impossible: the evidence estimate is 0
            ancestors = books.after_weighting(
                log_weights, not all(p.done for p in particles), lambda: snapshot(particles, books)
            )
            if ancestors is not None:
                particles = resample(particles, ancestors)
            continue
        waiting = [p for p in particles if p.waiting]
        if not waiting:
            break
        if loops and _compatible(waiting):
            tiers.add("b")
            particles = _run_loop(particles, books, loop_rng, resample)
        else:
            for particle in waiting:
                particle.loop_answer = _EXPAND
    population = snapshot(particles, books)
    population.replayed = replayed
    population.tier = "+".join(sorted(tiers)) or "a"
    return population


def snapshot(particles: Iterable[_Particle], books: AdaptiveResampling) -> Population:
    """The population as it stands (values are None for unfinished particles)."""
    particles = list(particles)
    return Population(
        values=[p.value for p in particles],
        log_weights=np.array([p.log_weight for p in particles]),
        log_evidence_offset=books.log_evidence,
        ess_history=list(books.ess_history),
        resample_count=books.resample_count,
    )

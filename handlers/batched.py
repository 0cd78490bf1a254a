"""The batched run loop: one program, B lanes, split at control flow, merged by nothing.

A :class:`BatchedRun` executes ``model(*args)`` for B lanes at once.  The
lanes are partitioned into :class:`Group` s; each group is one ordinary
:class:`~plait.ext._interpreter.Process` of the model (the one run loop),
whose base interpreter is the group itself:

* a ``sample`` answers a :class:`~plait.effects.lanes.Lanes` value holding
  one draw per lane of the group (a distribution whose parameters hold lane
  values is lowered to one plain batched distribution and drawn once);
* an ``observe`` or ``factor`` adds one log-weight per lane;
* every other effect gets :func:`~plait.ext._interpreter.plain_answer`.

**Splitting.**  When the program turns a lane value into a Python value on
which the group's lanes disagree (``if x > 0:``, ``int(k)``, an address
``("x", k)``...), the group *decides* (:meth:`Group.decide`): its lanes are
partitioned by the value they produce; the running generator continues with
the largest part (every lane value it holds is gathered to those lanes),
and each other part becomes a new group whose generator is rebuilt by
replay: the model restarts and its effects are answered from the group's
answer log restricted to that part's lanes, until it has caught up; it then
reaches the same conversion, on which its lanes now agree, and runs on.
One replay per part, never one per lane; a lane behaves exactly as if it
ran alone.  Nothing else is logged: a conversion on which lanes agree is
recomputed by the replay and agrees again.

**Resampling** (:meth:`BatchedRun.resample`) is a gather within each group:
every lane takes an ancestor from its own group, so no generator is copied
and nothing replays; a group left with no lanes is closed.

**Cost model.**  A step costs one Python execution per group plus numpy
work proportional to the lanes.  Groups are created only by disagreeing
conversions and are bounded by the number of lanes; a program whose
branches depend on a fresh lane value at every step of a plain Python loop
therefore drifts towards one group per lane (the per-particle cost).  Write
such loops with ``plait.fold``/``plait.iterate``: each kernel step is then a
program of its own, run by :func:`run_steps`, and its groups merge again
when the step returns.  A fork replays the group's log: O(length so far) per
fork.  The log holds each sample's lane array (and the gathers since), so
it is pruned to the ancestry of live lanes (path degeneracy keeps that
small): every :data:`RECENT_LEVELS` resamplings over the newest levels, and
over all of it when it has doubled; the walk is compiled and costs the lanes
it walks over (see :meth:`Group.prune`).  Pruning every few steps lets new
arrays reuse the memory it frees instead of fresh pages (which fault).  Only
splits read the log, so an engine's run starts without one and, at its first
split, starts again with it (:func:`logging_on_split`): a program that never
splits keeps none; one that does pays the steps before its first split twice.

Seeds: draws come from one stream of the run, groups advance in creation
order, replays draw nothing; so a seed gives the same run, whatever the
splits.  The stream differs from the per-particle engines' (one array draw
per group instead of one draw per particle).

>>> import plait, numpy as np
>>> def model():
...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
...     if x > 0:
...         yield plait.observe("y", plait.Normal(1.0, 1.0), 2.0)
...     return x
>>> run = BatchedRun(model, (), 1000, np.random.default_rng(0))
>>> run.advance(None)
>>> len(run.groups), run.size
(2, 1000)
"""

from __future__ import annotations

import inspect
import math
import sys
import warnings
import weakref
from types import FrameType
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence, TypeVar

import numpy as np

from ..effects.distributions.batching import draw, score
from ..effects.lanes import RUNNING, Lanes, in_space, per_lane
from ..effects.records import RESAMPLE_POINT, UNSET, Deterministic, Factor, Loop, Observe, Sample, new_sample
from ..errors import LaneSplitWarning
from ..ext._ancestry import prune_log
from ..ext._interpreter import Process, plain_answer
from ..gradients.dual import Dual, new, stop_gradient
from .base import Handler, start
from .runloop import Execution, _fail
from .scope import LoopStep

__all__ = ["BatchedRun", "Group", "LaneAnswer", "LaneSites", "SplitNeedsLog", "logging_on_split",
           "observed_shape", "rewinder"]

T = TypeVar("T")


class LaneSites(Protocol):
    """An engine's answers to the sites of a batched run, in place of drawing and weighing.

    ``sample(group, effect)`` returns one value per lane (axis 0 the lane) for
    a sample site with no fixed value; it may change the group's lanes first
    (:meth:`Group.narrow`: GradInf forks a lane into one lane per outcome).
    ``answer(group, effect)`` sees every other live effect before the group
    answers it, and returns True when it has weighed it itself (an
    observation or factor); it may raise to refuse an effect.  ``forked(run)``
    hears of every split (it may raise to give up).

    >>> import plait
    >>> class Halves:  # every sample answers 0.5; observations weigh as usual
    ...     def sample(self, group, effect): return np.full(group.size, 0.5)
    ...     def answer(self, group, effect): return False
    ...     def forked(self, run): pass
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0.0, 1.0)))
    >>> run = BatchedRun(model, (), 3, np.random.default_rng(0), sites=Halves())
    >>> run.advance(None); run.values()
    [0.5, 0.5, 0.5]
    """

    def sample(self, group: "Group", effect: Any) -> Any:
        """One value per lane of ``group`` for ``effect``."""

    def answer(self, group: "Group", effect: Any) -> bool:
        """True when ``effect`` (an observe or factor) was weighed by the engine."""

    def forked(self, run: "BatchedRun") -> None:
        """A group of ``run`` has just split (the engine may give up: raise)."""


class SplitNeedsLog(BaseException):
    """A group of a run that keeps no answer log has to split: the run must start again, logging.

    A ``BaseException`` (as ``GeneratorExit``), so that it goes through the
    model's ``except Exception:`` clauses to the engine; a model that catches
    it all the same (a bare ``except:``) gets it again when its group pauses,
    since its run is void.  See :func:`logging_on_split`.

    >>> issubclass(SplitNeedsLog, Exception)
    False
    """


#: The code of the models whose runs have had to split in this process: their later runs
#: log from the start (the same run either way; this only spares a restart).
SPLITTING_MODELS: set[Any] = set()


def logging_on_split(attempt: Callable[[bool], T], *rewinds: Callable[[], None], model: Any = None) -> T:
    """``attempt(False)``, whose runs keep no answer log; if one had to split, ``attempt(True)`` from the start.

    ``attempt(log)`` runs an engine on :class:`BatchedRun` s made with ``log=log``.
    Before the second attempt each ``rewinds`` function puts back what the first
    one changed (the random streams: :func:`rewinder`), so that the second
    attempt is the run that would have logged from the start: until the split
    both drew the same numbers.  A program that never splits thus keeps no log;
    one that does pays its steps before the first split twice, once per
    process: ``model``'s code is then remembered (:data:`SPLITTING_MODELS`)
    and its later runs log from the start (PMMH runs one SMC per iteration).

    >>> import plait, numpy as np
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     return 1.0 if x > 0 else -1.0  # the lanes split
    >>> rng = np.random.default_rng(0)
    >>> def attempt(log):
    ...     run = BatchedRun(model, (), 1000, rng, pause=(), log=log)
    ...     run.advance(None)
    ...     return log, len(run.groups)
    >>> logging_on_split(attempt, rewinder(rng))
    (True, 2)
    """
    key = getattr(model, "__code__", None)
    if key is not None and key in SPLITTING_MODELS:
        return attempt(True)
    try:
        return attempt(False)
    except SplitNeedsLog:
        if key is not None:
            SPLITTING_MODELS.add(key)
        for rewind in rewinds:
            rewind()
        return attempt(True)


def rewinder(rng: np.random.Generator) -> Callable[[], None]:
    """A function that puts ``rng`` back in the state it has now.

    >>> rng = np.random.default_rng(0)
    >>> rewind = rewinder(rng); first = rng.random(); rewind()
    >>> rng.random() == first
    True
    """
    state = rng.bit_generator.state

    def rewind() -> None:
        rng.bit_generator.state = state
    return rewind


class LaneAnswer:
    """A logged answer that holds one value per lane (in the group's lane order at the time).

    >>> LaneAnswer(np.zeros(3)).data.shape
    (3,)
    """

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = data


#: Every this many resamplings a group compacts the log's newest levels (that many):
#: they hold the most lanes no live lane descends from, and freeing them at once keeps
#: the log small and its memory reused (fresh memory costs a page fault per 4 KiB).
RECENT_LEVELS = 8
_RECOMPUTE = object()  # a logged answer that plain_answer gives again on replay


class _LoopAnswer:
    """A logged loop answer (the final state the engine ran the loop to).

    Its lane values stay registered with the group, so they always hold the
    group's current lanes; a replay of some lanes gets them restricted.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _restricted(value: Any, lanes: np.ndarray) -> Any:
    """``value`` with each lane value cut to ``lanes`` (as logged lane data)."""
    return _lane_leaves(value, lambda x: LaneAnswer(x.data[lanes]))


def _rebuilt(value: Any, group: "Group") -> Any:
    """Logged lane data in ``value`` as lane values of ``group``."""
    return _lane_leaves(value, lambda x: Lanes(x.data, group))


def _lane_leaves(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` with ``leaf`` applied to each lane value or logged lane data in it (tuples, lists, dicts)."""
    if type(value) is Lanes or type(value) is LaneAnswer:
        return leaf(value)
    if isinstance(value, tuple):
        items = [_lane_leaves(v, leaf) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [_lane_leaves(v, leaf) for v in value]
    if isinstance(value, dict):
        return {k: _lane_leaves(v, leaf) for k, v in value.items()}
    return value


class Group:
    """Lanes that run one generator: the lane space of its values and its base interpreter.

    It answers the effects that reach the bottom of its process (see the
    module docstring), keeps one log-weight per lane, and logs every answer
    for replays.

    >>> import plait
    >>> def model():
    ...     k = yield plait.sample("k", plait.Categorical([0.5, 0.5]))
    ...     return [0.0, 1.0][k]  # a list index: the lanes split by k
    >>> run = BatchedRun(model, (), 8, np.random.default_rng(1), pause=())
    >>> run.advance(None)
    >>> sorted(set(g.process.value for g in run.groups)), [g.size for g in run.groups]
    ([0.0, 1.0], [4, 4])
    """

    __slots__ = ("run", "size", "live", "log_weights", "answers", "gathers", "replay",
                 "position", "steps", "names", "process", "sweep_at", "parent", "origin", "depth",
                 "stored", "prune_at", "resamplings", "loop_answer", "lane_ids", "sites", "adopted", "fresh",
                 "last_site", "dead_at", "carried", "__weakref__")

    def __init__(self, run: "BatchedRun", size: int, log_weights: np.ndarray,
                 replay: Sequence[Any] = (), parent: Optional["Group"] = None,
                 origin: Optional[np.ndarray] = None) -> None:
        self.run = run
        self.size = size
        #: A loop step's lanes are lanes of the group that runs the loop:
        #: lane j here is lane ``origin[j]`` of ``parent``.
        self.parent = parent
        self.origin = origin
        self.depth: int = 0 if parent is None else parent.depth + 1
        #: Elements held by the log (lane answers and gathers); it is pruned when
        #: this has doubled since the last pruning.
        self.stored = 0
        self.prune_at = 64 * size + 4096
        self.resamplings = 0
        #: The final state of the loop the group waits at, once the engine ran it.
        self.loop_answer: Any = UNSET
        #: Which lane of the run's first population each lane descends from; kept
        #: only by runs that record their sites (the one reader), else None after a
        #: resampling (a gather per step saved).
        self.lane_ids: np.ndarray | None = np.arange(size)
        #: Per-lane arrays an engine keeps with the lanes (one entry per lane, gathered,
        #: split and inherited by loop steps like the log-weights).
        self.carried: dict[str, np.ndarray] = (
            {} if parent is None or origin is None else {k: v[origin] for k, v in parent.carried.items()})
        #: address -> (kind, value) of the sites met, when the run records them.
        self.sites: dict[Any, tuple[str, Any]] = {}
        #: Values of enclosing groups as this group's lane values (see adopt).
        self.adopted: dict[int, tuple[Any, Lanes]] = {}
        #: True while every log-weight is 0 (after resampling): the next weight is taken as is.
        self.fresh = not log_weights.any()
        #: The last observe/factor weighed, and the first one after which every lane had weight 0.
        self.last_site: Any = None
        self.dead_at: Any = None
        #: Weak references to the lane values made for this group (dead ones are
        #: dropped when the list has doubled since the last sweep).
        self.live: list[Any] = []
        self.sweep_at = 64
        self.log_weights = log_weights
        #: Every answer given, in order (``LaneAnswer``, ``_RECOMPUTE`` or a plain value).
        self.answers: list[Any] = []
        #: ``(position in answers, index)``: from that position on, lane j was lane index[j].
        self.gathers: list[tuple[int, np.ndarray]] = []
        self.replay = replay
        self.position = 0
        #: observes and factors answered (replayed ones included): the run's step count.
        self.steps = 0
        self.names: set[Any] = set()
        self.process: Optional[Process] = None

    # -- the lane space ---------------------------------------------------------------
    def register(self, value: Lanes) -> None:
        """Keep ``value`` aligned with this group's lanes."""
        live = self.live
        live.append(weakref.ref(value))
        if len(live) >= self.sweep_at:
            self._sweep()

    def _sweep(self) -> None:
        self._keep([r for r in self.live if r() is not None])

    def _keep(self, live: list[Any]) -> None:
        """``live`` (swept of dead values) becomes the list; the next sweep when it has doubled."""
        self.live = live
        self.sweep_at = max(64, 2 * len(live))

    def decide(self, parts: list[tuple[Any, Any]], what: str) -> Any:
        """The value the program gets; lanes that produce another one become new groups."""
        if len(parts) == 1:
            return parts[0][0]
        largest = max(range(len(parts)), key=lambda i: (len(parts[i][1]), -i))
        run = self.run
        for i, (_, lanes) in enumerate(parts):
            if i != largest:
                run.fork(self, lanes)
        if run.forks >= run.fragmented_at:
            run.fragmented_at = math.inf  # (once per run)
            if run.sites is None:  # (GradInf gives up on a fragmented run itself, and says why)
                _warn_fragmented(len(run.groups), run.lanes, what)
        value, keep = parts[largest]
        self.narrow(keep)
        return value

    def adopt(self, value: Lanes) -> Lanes:
        """``value`` (of an enclosing group) as a lane value of this group, made once per value."""
        if value.space is self:
            return value
        key = id(value)
        cached = self.adopted.get(key)
        if cached is not None and cached[0]() is value:
            return cached[1]
        mine = Lanes(self.view(value), self)  # registered: it follows this group's lanes
        self.adopted[key] = (weakref.ref(value), mine)
        return mine

    def view(self, value: Lanes) -> Any:
        """``value``'s data for this group's lanes (``value`` may belong to an enclosing group)."""
        space = value.space
        if space is self:
            return value.data
        index: Any = None
        group: Optional[Group] = self
        while group is not None and group is not space:
            index = group.origin if index is None else group.origin[index]  # type: ignore[index]
            group = group.parent
        if group is None:
            raise ValueError("lane values of two unrelated batched programs meet")
        return value.data[index]

    # -- lanes move -------------------------------------------------------------------
    def narrow(self, index: np.ndarray) -> None:
        """Keep lanes ``index`` (in this order), with their weights."""
        self._gather(index)
        self.log_weights = self.log_weights[index]
        if self.lane_ids is not None:
            self.lane_ids = self.lane_ids[index]
        if self.origin is not None:
            self.origin = self.origin[index]

    def resampled(self, index: np.ndarray) -> None:
        """Lane j becomes a copy of lane ``index[j]``; weights restart at 1."""
        self._gather(index)
        self.log_weights = np.zeros(len(index))
        self.fresh = True
        ids = self.lane_ids
        self.lane_ids = ids[index] if ids is not None and self.run.record_sites else None
        self.resamplings += 1
        if self.run.log and (self.stored > self.prune_at or self.resamplings % RECENT_LEVELS == 0):
            self.prune()

    def _gather(self, index: np.ndarray) -> None:
        live = []  # swept on the way (dead values dropped)
        for ref in self.live:
            value = ref()
            if value is not None:
                value.data = value.data[index]
                live.append(ref)
        self._keep(live)
        carried = self.carried
        for key in carried:
            carried[key] = carried[key][index]
        if self.run.log:
            self.gathers.append((len(self.answers), index))
            self.stored += len(index)
        self.size = len(index)

    def prune(self) -> None:
        """Drop from the log what no live lane descends from.

        Walking back from the current lanes, each gather keeps only the
        ancestors still needed, and the answers logged before it only those
        lanes.  After resampling, most lanes share their older ancestors (path
        degeneracy), so the log holds the ancestry tree of the live lanes, not
        one history per lane: O(T + N log N) elements rather than O(N T).

        The walk is compiled (:func:`~plait.ext._ancestry.prune_log`) and
        costs the lanes it walks over.  Every :data:`RECENT_LEVELS`
        resamplings it walks back that many gathers only (the new levels,
        which hold most of the lanes nobody descends from); when the log has
        doubled since the last whole walk, it walks all the way.
        """
        whole = self.stored > self.prune_at
        levels = -1 if whole else RECENT_LEVELS
        self.gathers, dropped = prune_log(self.answers, self.gathers, LaneAnswer, levels)
        self.stored = max(0, self.stored - dropped)  # (answers of fixed values are not counted in)
        if whole:
            self.prune_at = 2 * self.stored + 64 * self.size + 4096

    def restricted_log(self, lanes: np.ndarray) -> list[Any]:
        """The answer log as lanes ``lanes`` (current order) saw it: what a replay of them answers."""
        out: list[Any] = [None] * len(self.answers)
        current = lanes
        pending = len(self.gathers) - 1
        for i in range(len(self.answers) - 1, -1, -1):
            while pending >= 0 and self.gathers[pending][0] > i:
                current = self.gathers[pending][1][current]
                pending -= 1
            entry = self.answers[i]
            if type(entry) is LaneAnswer:
                entry = LaneAnswer(entry.data[current])
            elif type(entry) is _LoopAnswer:
                entry = _LoopAnswer(_restricted(entry.value, lanes))  # its lanes are the current ones
            out[i] = entry
        return out

    # -- the base interpreter ---------------------------------------------------------
    def __call__(self, effect: Any) -> Any:
        kind = type(effect)
        self._check_name(effect)
        if self.run.record_sites:
            return self._recorded(kind, effect)
        if self.position < len(self.replay):
            return self._replayed(kind, effect)
        if kind is Sample:
            return self._sampled(effect)
        sites = self.run.sites
        if sites is not None and sites.answer(self, effect):
            self.steps += 1  # an observation or factor the engine weighed itself
        elif kind is Observe:
            self._weigh(score(effect.dist, effect.value, self.size, self), effect.name)
            self.steps += 1
        elif kind is Factor:
            self._weigh(_per_lane_weight(in_space(effect.log_weight, self), self.size), effect.name)
            self.steps += 1
        if self.run.log:
            self.answers.append(_RECOMPUTE)
        return plain_answer(effect)

    def _recorded(self, kind: Any, effect: Any) -> Any:
        """Predictive runs: observations are simulated, fixed latents come per lane, sites are kept."""
        run = self.run
        if kind is Observe and run.simulate_observations:
            run.observed_data.setdefault(effect.name, effect.value)
            extra = observed_shape(effect)
            if extra and not self.replaying:  # drawn here at the observed value's shape
                data = draw(effect.dist, run.rng, self.size, self, extra)
                effect = new_sample(effect.name, effect.dist, Lanes(data, self))
            else:
                effect = new_sample(effect.name, effect.dist, UNSET)
            answer = self._live_or_replayed(Sample, effect)
            self.sites[effect.name] = ("observed", answer)
            return answer
        if kind is Sample and effect.value is UNSET and effect.name in run.fixed:
            column = run.fixed[effect.name]
            effect = new_sample(effect.name, effect.dist, Lanes(column[self.lane_ids], self))
        answer = self._live_or_replayed(kind, effect)
        if kind is Sample:
            self.sites[effect.name] = ("latent", answer)
        elif kind is Deterministic:
            self.sites[effect.name] = ("deterministic", answer)
        return answer

    def _weigh(self, log_weight: Any, site: Any) -> None:
        """Add one log-weight per lane (or one for all) for the observe or factor at ``site``."""
        if self.fresh and type(log_weight) is np.ndarray and log_weight.base is None \
                and log_weight.shape == (self.size,) and log_weight.dtype == np.float64:
            self.log_weights = log_weight  # weights were all 1: the new array is the sum
        else:
            self.log_weights = self.log_weights + log_weight
        self.fresh = False
        self.last_site = site
        if self.dead_at is None and self.size and self.log_weights.max() == -math.inf:  # one pass, no temporary
            self.dead_at = site  # the observation that ruled out every lane of the group

    def _live_or_replayed(self, kind: Any, effect: Any) -> Any:
        if self.position < len(self.replay):
            return self._replayed(kind, effect)
        if kind is Sample:
            return self._sampled(effect)
        if self.run.log:
            self.answers.append(_RECOMPUTE)
        return plain_answer(effect)

    def _sampled(self, effect: Any) -> Any:
        """A sample's answer (a draw per lane, or its fixed value), logged."""
        if effect.value is UNSET:
            sites = self.run.sites
            data = draw(effect.dist, self.run.rng, self.size, self) if sites is None else sites.sample(self, effect)
            if self.run.log:
                self.answers.append(LaneAnswer(data))
                self.stored += data.size
            return Lanes(data, self)
        value = in_space(effect.value, self)
        if self.run.log:
            self.answers.append(LaneAnswer(value.data) if type(value) is Lanes else value)
        return value

    def _replayed(self, kind: Any, effect: Any) -> Any:
        entry = self.replay[self.position]
        self.position += 1
        if self.position == len(self.replay):
            self.replay = ()  # caught up: live from here on
            self.position = 0
        if kind is Observe or kind is Factor:
            self.steps += 1
        if type(entry) is LaneAnswer:
            self.answers.append(entry)
            return Lanes(entry.data, self)
        if type(entry) is _LoopAnswer:
            value = _rebuilt(entry.value, self)  # registered here: it follows this group's lanes from now on
            self.answers.append(_LoopAnswer(value))
            return value
        self.answers.append(entry)
        return plain_answer(effect) if entry is _RECOMPUTE else entry

    def _check_name(self, effect: Any) -> None:
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

    # -- running ----------------------------------------------------------------------
    @property
    def replaying(self) -> bool:
        """True while the group's generator is being rebuilt from its log."""
        return len(self.replay) > 0

    def run_until(self, steps: Optional[int]) -> None:
        """Resume the generator until it has answered ``steps`` observes/factors, or returns."""
        process = self.process
        if process is None:
            process = self.process = self.run.new_process(self)
        loop_answer = self.loop_answer
        if loop_answer is UNSET and self.at_stop is not None:
            return  # waits until every group is at a loop (or a resampling point, for an engine that stops there)
        outer = RUNNING.space
        RUNNING.space = self
        try:
            if loop_answer is not UNSET:
                self.loop_answer = UNSET
                if self.run.log:
                    self.answers.append(_LoopAnswer(loop_answer))  # a replay of these lanes answers it again
                if _is_stop(process.resume(loop_answer)):
                    return
            while not process.done and (steps is None or self.steps < steps or self.replaying):
                if _is_stop(process.resume()) and not self.replaying:
                    return  # the engine runs loops (see BatchedRun.run_loops)
        finally:
            RUNNING.space = outer
            if self.run.split_refused:
                raise SplitNeedsLog()  # again: the model caught it (a bare except), its run is void

    @property
    def at_stop(self) -> Any:
        """The loop or resampling point the group is paused before (the engine answers it), if any."""
        process = self.process
        if process is None or process.done:
            return None
        pending = process.pending
        return pending if _is_stop(pending) else None

    @property
    def at_loop(self) -> Optional[Loop]:
        """The loop the group is paused before, if any."""
        process = self.process
        if process is None or process.done:
            return None
        pending = process.pending
        return pending if type(pending) is Loop else None

    def run_step(self, loop: Loop, step: int, state: Any) -> Any:
        """Step ``step`` of ``loop`` for every lane: the kernel as a batched program of its own.

        Its lanes are this group's; its groups (a step may split) merge when it
        returns: the new state is one lane value again, and the step's weights
        are added to this group's.
        """
        args = (state,) if loop.xs is None else (state, loop.xs[step])
        assert self.process is not None
        around = self.process_handlers()
        kernel = BatchedRun(loop.kernel, args, self.size, self.run.rng, pause=(), parent=self,
                            handlers=(LoopStep(loop.name, step), *around), sites=self.run.sites)
        try:
            kernel.advance(None)
            while kernel.waiting_at_loops():  # a loop inside the kernel runs whole
                kernel.run_loops(lambda loop, step: None)
                kernel.advance(None)
            weights = np.zeros(self.size)
            parts = []
            for g in kernel.groups:
                assert g.origin is not None and g.process is not None
                weights[g.origin] = g.log_weights
                parts.append((read_lanes(g.process.value, g), g.origin))
            self.log_weights = self.log_weights + weights
            self.steps += 1
            self.run.forks += kernel.forks
            return joined(parts, self)
        finally:
            kernel.close()

    def expand_loop(self) -> None:
        """Run the loop the group waits at inline, as plain Python steps."""
        assert self.process is not None
        outer = RUNNING.space
        RUNNING.space = self
        try:
            self.process.expand()
        finally:
            RUNNING.space = outer

    def process_handlers(self) -> tuple[Handler, ...]:
        """The sub-program handlers between the paused generator and this group."""
        assert self.process is not None
        return self.execution_of().inner_handlers()

    def execution_of(self) -> Execution:
        """The execution (hooks) of this group's process."""
        return self.run.executions[id(self)]

    @property
    def done(self) -> bool:
        """True once the group's program has returned."""
        return self.process is not None and self.process.done

    def close(self) -> None:
        """Close the generator (a group whose lanes all died)."""
        if self.process is not None:
            self.process.close()


#: A run that has forked more often than this, and than a quarter of its lanes, is warned
#: about (:class:`~plait.errors.LaneSplitWarning`): it is heading for a group per lane.
FRAGMENTING = 32


def _warn_fragmented(groups: int, size: int, what: str) -> None:
    """Warn, at the model's line, that the run of ``size`` lanes is now ``groups`` groups (the last split: ``what``)."""
    frame = sys._getframe(2)
    model: Optional[FrameType] = frame
    while model is not None and (not model.f_code.co_flags & inspect.CO_GENERATOR
                                 or model.f_globals.get("__name__", "").partition(".")[0] == _PACKAGE):
        model = model.f_back  # up to the model's frame: the first generator outside plait
    if model is not None:
        frame = model
    message = (f"{what} of a lane value here has split a batch of {size} lanes into {groups} groups: each "
               "group runs the model in Python, as one particle would. Python numbers made of sampled values "
               "do this (math.exp(x), float(x), np.array([...]) or np.mean([...]) of lane values: np.exp, "
               "np.stack keep the lanes together), and so does a branch on a fresh value at every step of a "
               "plain loop (plait.fold merges its groups after every step)")
    warnings.warn_explicit(message, LaneSplitWarning, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"), registry=frame.f_globals.setdefault(
                               "__warningregistry__", {}))


_PACKAGE = __name__.partition(".")[0]


def _is_stop(effect: Any) -> bool:
    """A loop, or a resampling point (a group pauses before one only when its run asks to)."""
    kind = type(effect)
    return kind is Loop or (kind is Deterministic and effect.value is RESAMPLE_POINT)


def observed_shape(effect: Any) -> tuple[int, ...]:
    """The leading axes by which an observed value exceeds its distribution's shape.

    An observation simulated by a predictive run is drawn at that extra shape.

    >>> import plait
    >>> observed_shape(plait.observe("y", plait.Normal(0.0, 1.0), np.zeros(3)))
    (3,)
    """
    value_shape = np.shape(effect.value)
    dist_shape = tuple(effect.dist.batch_shape) + tuple(effect.dist.event_shape)
    extra = len(value_shape) - len(dist_shape)
    if extra <= 0 or value_shape[extra:] != dist_shape:
        return ()
    return tuple(value_shape[:extra])


def read_lanes(value: Any, group: Group) -> Any:
    """``value`` (a group's) with its lane values read as their data now, before the lanes move.

    >>> space = BatchedRun(lambda: (yield from ()), (), 2, np.random.default_rng(0)).groups[0]
    >>> read_lanes((Lanes(np.arange(2.0), space), 3), space)[0].data.tolist()
    [0.0, 1.0]
    """
    return _lane_leaves(value, lambda x: LaneAnswer(group.view(x)))


def joined(parts: list[tuple[Any, np.ndarray]], space: Group) -> Any:
    """One value of ``space`` from its lanes' parts: ``(read value, positions of its lanes in space)``.

    The values were read by :func:`read_lanes` (containers are joined item by
    item); a plain value equal in every part stays plain; dual numbers keep
    their tangents.

    >>> space = BatchedRun(lambda: (yield from ()), (), 3, np.random.default_rng(0)).groups[0]
    >>> joined([(LaneAnswer(np.array([5.0, 6.0])), np.array([0, 2])), (1.0, np.array([1]))], space).data.tolist()
    [5.0, 1.0, 6.0]
    """
    values = [v for v, _ in parts]
    first = values[0]
    if isinstance(first, tuple) and all(isinstance(v, tuple) and len(v) == len(first) for v in values):
        items = [joined([(v[i], p) for v, p in parts], space) for i in range(len(first))]
        return type(first)(*items) if hasattr(first, "_fields") else tuple(items)
    if isinstance(first, list) and all(isinstance(v, list) and len(v) == len(first) for v in values):
        return [joined([(v[i], p) for v, p in parts], space) for i in range(len(first))]
    if isinstance(first, dict) and all(isinstance(v, dict) and v.keys() == first.keys() for v in values):
        return {k: joined([(v[k], p) for v, p in parts], space) for k in first}
    if all(type(v) is not LaneAnswer for v in values) and all(_same(v, first) for v in values):
        return first  # every lane returned the same plain value
    datas: list[Any] = [v.data if type(v) is LaneAnswer else v if type(v) is Dual else np.asarray(v) for v in values]
    shape = tuple(np.broadcast_shapes(*(np.shape(d)[1:] if type(v) is LaneAnswer else np.shape(d)
                                        for d, v in zip(datas, values))))
    datas = [d if type(v) is LaneAnswer else np.broadcast_to(d, (len(p),) + shape)
             for d, (v, p) in zip(datas, parts)]
    return Lanes(_scattered(datas, [p for _, p in parts], space.size, shape), space)


def _scattered(datas: list[Any], positions: list[np.ndarray], size: int, shape: tuple[int, ...]) -> Any:
    """An array of ``size`` lanes whose lanes ``positions[i]`` hold ``datas[i]`` (a dual if any is one)."""
    duals = [d for d in datas if type(d) is Dual]
    primals = [np.asarray(stop_gradient(d)) for d in datas]
    out = np.empty((size,) + shape, dtype=np.result_type(*primals))
    for d, p in zip(primals, positions):
        out[p] = d
    if not duals:
        return out
    tangent = np.zeros((duals[0].tangent.shape[0], size) + shape)
    for d, p in zip(datas, positions):
        if type(d) is Dual and d.tangent is not None:
            tangent[:, p] = d.tangent
    return new(out, tangent, max(d.tag for d in duals))


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(np.array_equal(a, b))
    except Exception:
        return False


def _per_lane_weight(log_weight: Any, n: int) -> Any:
    if type(log_weight) is Lanes:
        data = np.asarray(log_weight.data, dtype=float)
        return data.reshape(n, -1).sum(axis=1) if data.ndim > 1 else data
    return float(np.sum(log_weight))


class BatchedRun:
    """B lanes of ``model(*args)``, advanced together; see the module docstring.

    ``pause`` are the effect kinds after which a group stops for the engine
    (observes and factors for SMC; none for importance sampling).

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1.0), 0.0)
    ...     return x
    >>> run = BatchedRun(model, (), 5, np.random.default_rng(0))
    >>> run.advance(1); run.log_weights().shape, run.done
    ((5,), False)
    """

    def __init__(self, model: Callable[..., Any], args: tuple[Any, ...], size: int,
                 rng: np.random.Generator, pause: tuple[type, ...] = (Observe, Factor),
                 parent: Optional[Group] = None, handlers: Sequence[Handler] = (),
                 fixed: Optional[dict[Any, np.ndarray]] = None, simulate_observations: bool = False,
                 sites: Optional["LaneSites"] = None, points: bool = False, log: bool = True) -> None:
        self.model = model
        #: Whether groups keep the answer log a split replays; a run without one
        #: raises :class:`SplitNeedsLog` at its first split (see :func:`logging_on_split`).
        self.log = log
        #: Groups also pause before resampling points (``plait.resample_point``), for the engine to answer.
        self.points = points
        #: An engine's own answers to samples and observations (GradInf's coupled lanes), or None.
        self.sites = sites
        #: Predictive runs: latent values per first-population lane, and whether
        #: observations are drawn instead of scored; sites are then recorded.
        self.fixed = fixed or {}
        self.simulate_observations = simulate_observations
        self.record_sites = fixed is not None or simulate_observations
        self.observed_data: dict[Any, Any] = {}
        self.args = args
        self.rng = rng
        self.pause = pause
        self.handlers = tuple(handlers)
        origin = None if parent is None else np.arange(size)
        self.groups: list[Group] = [Group(self, size, np.zeros(size), parent=parent, origin=origin)]
        self.forks = 0
        #: True once a split was refused for want of a log (the run must start again, logging).
        self.split_refused = False
        #: The lanes the run started with, and the number of forks at which it warns of fragmenting.
        self.lanes = size
        self.fragmented_at: float = max(FRAGMENTING, size // 4) if log else math.inf
        self.executions: dict[int, Execution] = {}

    @property
    def size(self) -> int:
        """The number of lanes."""
        return sum(g.size for g in self.groups)

    def new_process(self, group: Group) -> Process:
        """A process of the model whose base is ``group``."""
        execution = Execution(self.rng, False, base=group)
        self.executions[id(group)] = execution
        dispatch, expand, _ = execution.bind(self.handlers, group, True)
        # A run that records its sites runs loops inline: every site then lands in one group.
        before: tuple[type, ...] = () if self.record_sites else (Loop, Deterministic) if self.points else (Loop,)
        return execution.process(start(self.model, self.args), dispatch, expand, before, self.pause)

    def fork(self, parent: Group, lanes: np.ndarray) -> None:
        """A new group for ``lanes`` of ``parent``, rebuilt by replaying its log; it runs after the others."""
        if not self.log:
            self.split_refused = True
            raise SplitNeedsLog()
        origin = None if parent.origin is None else parent.origin[lanes]
        group = Group(self, len(lanes), parent.log_weights[lanes], parent.restricted_log(lanes),
                      parent.parent, origin)
        group.lane_ids = None if parent.lane_ids is None else parent.lane_ids[lanes]
        group.carried = {k: v[lanes] for k, v in parent.carried.items()}
        self.groups.append(group)
        self.forks += 1
        if self.sites is not None:
            self.sites.forked(self)

    def advance(self, steps: Optional[int]) -> None:
        """Run every group until it has answered ``steps`` observes/factors (None: to the end)."""
        i = 0
        while i < len(self.groups):  # forks made on the way are appended, and run too
            self.groups[i].run_until(steps)
            i += 1

    @property
    def done(self) -> bool:
        """True once every group's program has returned."""
        return all(g.done for g in self.groups)

    def log_weights(self) -> np.ndarray:
        """One log-weight per lane, groups in order (the group's own array when there is one group)."""
        groups = self.groups
        if len(groups) == 1:
            return groups[0].log_weights
        return np.concatenate([g.log_weights for g in groups])

    def resample(self, ancestors: np.ndarray) -> None:
        """Lane j of the new population copies lane ``ancestors[j]`` (indices over all groups).

        Each group keeps its own children, gathered; a group with none is closed.
        """
        if len(self.groups) == 1:
            self.groups[0].resampled(ancestors)
            return
        ends = np.cumsum([g.size for g in self.groups])
        owner = np.searchsorted(ends, ancestors, side="right")
        order = np.argsort(owner, kind="stable")
        owner, ancestors = owner[order], ancestors[order]
        bounds = np.searchsorted(owner, np.arange(len(self.groups) + 1))
        kept = []
        for i, group in enumerate(self.groups):
            start_, stop = bounds[i], bounds[i + 1]
            if start_ == stop:
                group.close()
                continue
            group.resampled(ancestors[start_:stop] - (ends[i] - group.size))
            kept.append(group)
        self.groups = kept

    # -- loops ------------------------------------------------------------------------
    def waiting_at_loops(self) -> bool:
        """True when every group that has not returned waits before a loop (and one does)."""
        live = [g for g in self.groups if not g.done]
        return bool(live) and all(g.at_loop is not None for g in live)

    def run_loops(self, between_steps: Callable[[Any, int], None]) -> None:
        """Run the loops every live group waits at, step by step, all groups in lockstep.

        Each group runs each kernel step as a batched program of its own over its lanes
        (:meth:`run_step`), so the groups a step splits into merge when it returns;
        ``between_steps(loop, step)`` runs after every step (SMC weighs and resamples there).  Loops
        that differ between groups (name or length) are expanded inline instead.
        """
        live = [g for g in self.groups if not g.done]
        loops = [g.at_loop for g in live]
        first = loops[0]
        assert first is not None
        if any(loop is None or loop.name != first.name or loop.steps != first.steps for loop in loops):
            for g in live:
                g.expand_loop()
            return
        states = {id(g): loop.init for g, loop in zip(live, loops)}  # type: ignore[union-attr]
        for step in range(first.steps):
            for g, loop in zip(live, loops):
                if id(g) in states:
                    states[id(g)] = g.run_step(loop, step, states[id(g)])  # type: ignore[arg-type]
            between_steps(first, step)
            kept = {id(g) for g in self.groups}
            states = {k: v for k, v in states.items() if k in kept}
        for g in self.groups:
            if id(g) in states:
                g.loop_answer = states[id(g)]

    def values(self) -> list[Any]:
        """The program's return value per lane, groups in order."""
        out: list[Any] = []
        for g in self.groups:
            assert g.process is not None
            out.extend(per_lane(g.process.value, g.size))
        return out

    def close(self) -> None:
        """Close every generator and let go of the groups.

        Groups, processes and executions refer to each other; dropping the
        references here frees a finished kernel step at once, instead of at the
        next garbage collection, so its lane values stop being gathered.
        """
        for g in self.groups:
            g.close()
            g.process = None
            g.live = []
            g.adopted.clear()
        self.groups = []
        self.executions.clear()

    def __iter__(self) -> Iterator[Group]:
        return iter(self.groups)

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
it is pruned to the ancestry of live lanes when it grows (path degeneracy
keeps that small): see :meth:`Group.prune`.

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

import weakref
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..effects.distributions.batching import draw, score
from ..effects.lanes import Lanes, per_lane
from ..effects.records import UNSET, Factor, Observe, Sample
from ..ext._interpreter import Process, plain_answer
from .base import start
from .runloop import Execution, _fail

__all__ = ["BatchedRun", "Group", "LaneAnswer"]


class LaneAnswer:
    """A logged answer that holds one value per lane (in the group's lane order at the time)."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = data


_RECOMPUTE = object()  # a logged answer that plain_answer gives again on replay


class Group:
    """Lanes that run one generator: the lane space of its values and its base interpreter.

    It answers the effects that reach the bottom of its process (see the
    module docstring), keeps one log-weight per lane, and logs every answer
    for replays.
    """

    __slots__ = ("run", "size", "live", "log_weights", "answers", "gathers", "replay",
                 "position", "steps", "names", "process", "sweep_at", "__weakref__")

    def __init__(self, run: "BatchedRun", size: int, log_weights: np.ndarray,
                 replay: Sequence[Any] = ()) -> None:
        self.run = run
        self.size = size
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
        self.live = [r for r in self.live if r() is not None]
        self.sweep_at = max(64, 2 * len(self.live))

    def decide(self, keys: Sequence[Any], values: Sequence[Any], what: str) -> Any:
        """The value the program gets; lanes that produce another one become new groups."""
        parts = _partition(keys)
        if len(parts) == 1:
            return values[0]
        largest = max(range(len(parts)), key=lambda i: (len(parts[i]), -i))
        for i, lanes in enumerate(parts):
            if i != largest:
                self.run.fork(self, lanes)
        keep = parts[largest]
        value = values[int(keep[0])]
        self.narrow(keep)
        return value

    # -- lanes move -------------------------------------------------------------------
    def narrow(self, index: np.ndarray) -> None:
        """Keep lanes ``index`` (in this order), with their weights."""
        self._gather(index)
        self.log_weights = self.log_weights[index]

    def resampled(self, index: np.ndarray) -> None:
        """Lane j becomes a copy of lane ``index[j]``; weights restart at 1."""
        self._gather(index)
        self.log_weights = np.zeros(len(index))

    def _gather(self, index: np.ndarray) -> None:
        self._sweep()
        for ref in self.live:
            value = ref()
            if value is not None:
                value.data = value.data[index]
        self.gathers.append((len(self.answers), index))
        self.size = len(index)

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
            out[i] = LaneAnswer(entry.data[current]) if type(entry) is LaneAnswer else entry
        return out

    # -- the base interpreter ---------------------------------------------------------
    def __call__(self, effect: Any) -> Any:
        kind = type(effect)
        self._check_name(effect)
        if self.position < len(self.replay):
            return self._replayed(kind, effect)
        if kind is Sample:
            if effect.value is UNSET:
                data = draw(effect.dist, self.run.rng, self.size)
                self.answers.append(LaneAnswer(data))
                return Lanes(data, self)
            value = effect.value
            self.answers.append(LaneAnswer(value.data) if type(value) is Lanes else value)
            return value
        if kind is Observe:
            self.log_weights = self.log_weights + score(effect.dist, effect.value, self.size)
            self.steps += 1
        elif kind is Factor:
            self.log_weights = self.log_weights + _per_lane_weight(effect.log_weight, self.size)
            self.steps += 1
        self.answers.append(_RECOMPUTE)
        return plain_answer(effect)

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
        while not process.done and (steps is None or self.steps < steps or self.replaying):
            process.resume()

    @property
    def done(self) -> bool:
        """True once the group's program has returned."""
        return self.process is not None and self.process.done

    def close(self) -> None:
        """Close the generator (a group whose lanes all died)."""
        if self.process is not None:
            self.process.close()


def _partition(keys: Sequence[Any]) -> list[np.ndarray]:
    """Lane indices grouped by key, groups in order of first appearance."""
    if type(keys) is not list:  # every lane agrees
        return [np.arange(len(keys))]
    index: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        if key != key:  # NaN: equal to itself only by identity, so give it one group
            key = _NAN
        index.setdefault(key, []).append(i)
    return [np.asarray(v, dtype=np.intp) for v in index.values()]


_NAN = object()


def _per_lane_weight(log_weight: Any, n: int) -> Any:
    if type(log_weight) is Lanes:
        data = np.asarray(log_weight.data, dtype=float)
        return data.reshape(n, -1).sum(axis=1) if data.ndim > 1 else data
    return float(np.sum(log_weight))


class BatchedRun:
    """B lanes of ``model(*args)``, advanced together; see the module docstring.

    ``pause`` are the effect kinds after which a group stops for the engine
    (observes and factors for SMC; none for importance sampling).
    """

    def __init__(self, model: Callable[..., Any], args: tuple[Any, ...], size: int,
                 rng: np.random.Generator, pause: tuple[type, ...] = (Observe, Factor)) -> None:
        self.model = model
        self.args = args
        self.rng = rng
        self.pause = pause
        self.groups: list[Group] = [Group(self, size, np.zeros(size))]
        self.forks = 0

    @property
    def size(self) -> int:
        """The number of lanes."""
        return sum(g.size for g in self.groups)

    def new_process(self, group: Group) -> Process:
        """A process of the model whose base is ``group``."""
        execution = Execution(self.rng, False, base=group)
        return execution.process(start(self.model, self.args), group, True, (), self.pause)

    def fork(self, parent: Group, lanes: np.ndarray) -> None:
        """A new group for ``lanes`` of ``parent``, rebuilt by replaying its log; it runs after the others."""
        group = Group(self, len(lanes), parent.log_weights[lanes], parent.restricted_log(lanes))
        group.steps = 0
        self.groups.append(group)
        self.forks += 1

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
        """One log-weight per lane, groups in order."""
        return np.concatenate([g.log_weights for g in self.groups])

    def resample(self, ancestors: np.ndarray) -> None:
        """Lane j of the new population copies lane ``ancestors[j]`` (indices over all groups).

        Each group keeps its own children, gathered; a group with none is closed.
        """
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

    def values(self) -> list[Any]:
        """The program's return value per lane, groups in order."""
        out: list[Any] = []
        for g in self.groups:
            assert g.process is not None
            out.extend(per_lane(g.process.value, g.size))
        return out

    def close(self) -> None:
        """Close every generator."""
        for g in self.groups:
            g.close()

    def __iter__(self) -> Iterator[Group]:
        return iter(self.groups)

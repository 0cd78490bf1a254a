"""GradInf: unbiased gradients of programs with discrete randomness, by coupled paths.

One estimate (gradinf.md §1, §7.2): run the program once at θ (the primal
path A), and represent the law of the program at θ+ε *given A* as a weighted
population of alternative paths B, built site by site from the couplings of
:mod:`plait.inference.gradient_estimation.couplings` with first-order weights ``v + t·ε``.  The
estimate is the ε-coefficient of ``Σ_i w_i (F(B_i) - F(A))``; in FD mode
(:func:`coupled_difference`) the B side runs at a second plain parameter and
the estimate is the value itself.

How a program runs.  A's sites are drawn live, segment by segment; a
segment ends at a loop (``iterate``/``fold``) step or at the end of the
program.  Each B path runs its *own* generator on its own values (no
coupled booleans, no reading of A's values), re-executed from its recorded
answers whenever a coupling forks it.  B sites are matched to A's sites of
the same segment by address, injectively and in order; a B site with no
partner follows its own law (enumerated if finite), which costs variance,
never bias.  After every loop step the population goes through the
inference's resampler; at the end every B path contributes.

Statistical contract: for every coupling (each has the right B-marginal) and
every inference here (each resampler is properly weighted, merging is exact),
the estimate is unbiased for d/dθ E[F] (AD mode) or for E[F(θ_b)] − E[F(θ_a)]
(FD mode), where F is the return value times the exponential of the
program's observe/factor log weights: the *unnormalised* expectation.
"""

from __future__ import annotations

import bisect
import itertools
import math
from functools import partial
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

import numpy as np

from ...effects.distributions import Bernoulli, Coupled
from ...effects.records import (
    RESAMPLE_POINT,
    UNSET,
    Deterministic,
    Factor,
    IndependentRuns,
    Loop,
    Observe,
    Sample,
)
from ...errors import EffectTypeError, GradInfError
from ...ext import _resample as _resample_kernels
from .couplings import FirstOrder, as_w, couple, own_law
from ...gradients.dual import Dual, perturbation, primal
from .answers import answer_plain as _answer_plain
from .answers import log_weight_of as _log_weight_of
from .mean_field import MeanField
from ..replicas import run_replicas, spawn_seeds
from ...handlers.seed import SeedLike
from ...handlers.base import start
from ..arguments import check_count

__all__ = ["gradinf", "coupled_difference", "ExactPopulation", "VariableElimination", "SIR", "TwistedSMC", "Score",
           "MeanField"]


# ---------------------------------------------------------------------------
# inference over the population of B paths
# ---------------------------------------------------------------------------

class _Path:
    """One B path: its answers so far, first-order weight, and log weight of observations."""

    __slots__ = ("answers", "weight", "log_weight", "state", "loop", "gen", "pending")

    def __init__(self, answers: list, weight: FirstOrder, log_weight: Any, state: Any = None, loop: Any = None,
                 gen: Any = None, pending: Any = None) -> None:
        self.answers = answers
        self.weight = weight
        self.log_weight = log_weight
        self.state = state
        self.loop = loop
        #: The path's program, suspended at a loop or resampling point (or None:
        #: rebuilt from ``answers`` when it runs), and what it is waiting for.
        self.gen = gen
        self.pending = pending

    def weighted(self, weight: FirstOrder) -> "_Path":
        """The same path with another weight."""
        return _Path(self.answers, weight, self.log_weight, self.state, self.loop, self.gen, self.pending)


class ExactPopulation:
    """Keep every alternative path: exact given A, exponential in the worst case.

    >>> import plait
    >>> def coin(theta):
    ...     return (yield plait.sample("b", plait.Bernoulli(theta)))
    >>> g = plait.gradinf(coin, 0.3, inference=ExactPopulation(), seed=0)
    >>> any(abs(g - v) < 1e-12 for v in (0.0, 1 / 0.7))  # given A: 1/(1-θ) if A drew 0, else 0
    True
    """

    def resample(self, paths: List[_Path], rng: np.random.Generator) -> List[_Path]:
        """The identity."""
        return paths


class VariableElimination:
    """Merge paths whose state (and earlier answers) are equal: exact given A, bounded by the states.

    The loop state must be hashable (ints, tuples); dual numbers are keyed
    by value and tangent.

    >>> VariableElimination().resample([], None)
    []
    """

    def resample(self, paths: List[_Path], rng: np.random.Generator) -> List[_Path]:
        """Sum the weights of equal paths; drop exact zeros."""
        merged: Dict[Any, _Path] = {}
        answer_keys: Dict[int, Any] = {}  # paths of one parent share their answer list
        for path in paths:
            answers = path.answers
            history = answer_keys.get(id(answers))
            if history is None:
                history = answer_keys[id(answers)] = _key(answers)
            key = (_key(path.state), history, _key(path.log_weight))
            old = merged.get(key)
            if old is None:
                merged[key] = path.weighted(path.weight)
            else:
                old.weight = old.weight + path.weight
        return [p for p in merged.values() if not p.weight.is_zero()]


class SIR:
    """Stratified importance resampling: keep the primal path, resample the rest down to ``k``.

    The paths whose weight has a primal part above half the total are kept
    exactly; the others (derivative paths, primal weight 0) are resampled by
    the generalised multinomial of gradinf.md §4.2: ``k`` draws with
    probability ``π_j ∝ |w_j|`` (lexicographic), each child weighted
    ``w_j / (k π_j)``, which is properly weighted.

    >>> SIR(4).k
    4
    """

    def __init__(self, k: int = 1) -> None:
        self.k = check_count("SIR", "k", k, 1)

    def resample(self, paths: List[_Path], rng: np.random.Generator) -> List[_Path]:
        """Keep the large stratum, resample the small one."""
        if len(paths) <= self.k:
            return paths  # every stratum is small enough already
        keep, rest = _strata(paths)
        if len(rest) <= self.k:
            return keep + rest
        for j, f in _multinomial([p.weight for p in rest], self.k, rng):
            keep.append(rest[j].weighted(rest[j].weight * f))
        return keep


def _strata(paths: List[_Path]) -> Tuple[List[_Path], List[_Path]]:
    """KeepLarge's split (gradinf.md §4.2): paths whose primal weight exceeds half the total, and the rest."""
    half = 0.0
    for p in paths:
        half += abs(p.weight.v)
    half *= 0.5
    keep: List[_Path] = []
    rest: List[_Path] = []
    for p in paths:
        (keep if abs(p.weight.v) > half else rest).append(p)
    return keep, rest


def _multinomial(weights: List[FirstOrder], k: int, rng: np.random.Generator) -> List[Tuple[int, float]]:
    """The generalised multinomial of gradinf.md §4.2: ``k`` draws ``(j, 1/(k π_j))``.

    ``π_j ∝ |primal of w_j|``, or ∝ |tangent| when every primal is 0; a child
    of ``j`` carries ``w_j / (k π_j)``, which makes the draw properly weighted.
    The selection sizes are plain floats: from ``_COMPILED_FROM`` paths up the
    draw is the compiled multinomial kernel of :mod:`plait.ext` (the generic
    "resample on the primal, correct the weights" path of the population
    core); below that, where a call's checks cost more than the draw (the
    usual SIR population is a handful of paths), the same law is drawn by
    bisection in Python.
    """
    sizes = [abs(w.v) for w in weights]
    total = math.fsum(sizes)
    if not total > 0:
        sizes = [abs(w.t) for w in weights]
        total = math.fsum(sizes)
        if not total > 0:
            return []
    if len(sizes) >= _COMPILED_FROM:
        with np.errstate(divide="ignore"):
            picks = _resample_kernels.multinomial(np.log(sizes), rng=rng, size=k).tolist()
    else:
        cumulative = list(itertools.accumulate(sizes))
        last = len(sizes) - 1
        picks = []
        for _ in range(k):
            j = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
            j = j if j < last else last
            while sizes[j] == 0.0:  # a zero-size path is never picked, even at a boundary
                j -= 1
            picks.append(j)
    return [(j, total / (k * sizes[j])) for j in picks]


_COMPILED_FROM = 64


class TwistedSMC:
    """Two-sided twisted resampling: keep the primal path, resample the rest guided by ``twist``.

    ``twist(state_b, state_a)`` should approximate the size of a path's
    future contribution ``|F(B) − F(A)|`` (it may be signed; only paths it
    maps to exactly 0 are dropped, so it must be non-zero wherever a path can
    still contribute).  Each derivative path's weight is multiplied by its
    twist, the positive and the negative ones are resampled separately down
    to ``k`` each by the generalised multinomial, and every child's weight is
    divided by its own twist: properly weighted, so unbiased (gradinf.md §4.2).

    >>> TwistedSMC(lambda b, a: b - a, k=2).k
    2
    """

    reads_primal_state = True

    def __init__(self, twist: Callable[[Any, Any], Any], k: int = 1) -> None:
        if not callable(twist):
            raise TypeError(f"TwistedSMC: twist must be callable, got {twist!r}")
        self.twist = twist
        self.k = SIR(k).k

    def resample(self, paths: List[_Path], rng: np.random.Generator, state_a: Any = None) -> List[_Path]:
        """Keep the large stratum; twist, split by sign, resample, untwist the rest."""
        keep, rest = _strata(paths)
        if len(rest) <= self.k:
            return keep + rest
        twisted = []
        for p in rest:
            g = float(np.asarray(primal(self.twist(p.state, state_a))))
            if g != 0.0:
                twisted.append((p, g, p.weight * g))
        out = list(keep)
        for sign in (1, -1):
            group = [(p, g, w) for p, g, w in twisted if w.sign() == sign]
            if not group:
                continue
            for j, f in _multinomial([w for _, _, w in group], self.k, rng):
                p, g, w = group[j]
                out.append(p.weighted(w * (f / g)))
        return out


class Score:
    """The score-function (likelihood-ratio) estimator, for ``coupling="score"`` sites.

    Score couplings never fork: B keeps A's values and its weight becomes
    the likelihood ratio ``1 + ε·score``.  The estimate is the ε-coefficient
    of ``(F(B) − baseline)(w − 1) + (F(B) − F(A))``: score × (f − baseline)
    plus the pathwise term.  Unbiased for any constant ``baseline``; a
    baseline near E[f] reduces the variance.

    >>> Score(baseline=2.0).baseline
    2.0
    """

    def __init__(self, baseline: float = 0.0) -> None:
        self.baseline = float(baseline)

    def resample(self, paths: List[_Path], rng: np.random.Generator) -> List[_Path]:
        """The identity."""
        return paths

    def estimate(self, leaves: List[Tuple[FirstOrder, FirstOrder]], f_a: float) -> FirstOrder:
        """``Σ (F_B − b)(w − 1) + w·(F_B − F_A)`` over the final paths."""
        total = FirstOrder(0.0)
        for weight, f_b in leaves:
            total = total + (f_b - self.baseline) * (weight - 1.0) + (f_b - f_a)
        return total


_ATOMS = (int, float, str, bool, type(None))


def _key(x: Any) -> Any:
    if type(x) in _ATOMS:
        return x
    if type(x) is Dual:
        w = as_w(x)
        return ("dual", w.v, w.t)
    if isinstance(x, (list, tuple)):
        return tuple(_key(v) for v in x)
    if isinstance(x, np.ndarray):
        return ("array", x.shape, x.tobytes())
    if isinstance(x, FirstOrder):
        return ("w", x.v, x.t)
    return x


# ---------------------------------------------------------------------------
# running A and B
# ---------------------------------------------------------------------------

class _Segment:
    """The A sites of one segment, in order: (address, distribution, value)."""

    def __init__(self) -> None:
        self.sites: List[Tuple[Hashable, Any, Any]] = []
        self.index: Dict[Hashable, List[int]] = {}
        #: A's uniforms at "same_or_antithetic" layers, by site: B's antithetic copy reuses them.
        self.uniforms: Dict[int, np.ndarray] = {}

    def add(self, address: Hashable, dist: Any, value: Any) -> None:
        self.index.setdefault(address, []).append(len(self.sites))
        self.sites.append((address, dist, value))

    def partner(self, address: Hashable, cursor: int) -> int:
        """The first A site with this address after ``cursor``, or -1."""
        for i in self.index.get(address, ()):
            if i > cursor:
                return i
        return -1


class _PrimalPath:
    """The primal path: one live execution, advanced segment by segment."""

    def __init__(self, gen: Any, rng: np.random.Generator) -> None:
        self.rng = rng
        self.log_weight = 0.0
        self.driver = self._drive(gen)

    def _drive(self, gen: Any) -> Any:
        answer = None
        try:
            while True:
                effect = gen.send(answer)
                answer = yield from self._answer(effect)
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()

    def _answer(self, effect: Any) -> Any:
        if type(effect) is Loop or _is_point(effect):
            return (yield effect)
        return self._plain(effect)

    def _plain(self, effect: Any) -> Any:
        if type(effect) is Sample:
            dist = effect.dist
            if effect.value is not UNSET:
                value = effect.value
            elif (type(dist) is Coupled and dist.coupling == "same_or_antithetic" and type(dist.base) is Bernoulli
                  and dist.batch_shape):
                # The draw Bernoulli.sample makes (same stream, same int64 coins), keeping the uniforms.
                u = self.rng.random(dist.batch_shape)
                value = (u < dist.base.p).astype(np.int64)
                self.segment.uniforms[len(self.segment.sites)] = u
            else:
                value = dist.sample(self.rng)
            self.segment.add(effect.name, _base(dist), value)
            return value
        if type(effect) in (Observe, Factor):
            self.log_weight = self.log_weight + _log_weight_of(effect)
        return _answer_plain(effect)

    def run_kernel(self, loop: Loop, state: Any, step: int) -> Any:
        args = (state,) if loop.xs is None else (state, loop.xs[step])
        gen = _call(loop.kernel, args)
        answer = None
        try:
            while True:
                effect = gen.send(answer)
                if type(effect) is Loop or _is_point(effect):
                    raise EffectTypeError("gradinf: loops and resampling points inside loop kernels are "
                                          "not supported (a loop step already ends with one)")
                answer = self._plain(effect)
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()


_GENERATOR = type((lambda: (yield))())


def _call(kernel: Callable[..., Any], args: tuple) -> Any:
    """``kernel(*args)``, checked the slow way only when it is not a generator."""
    gen = kernel(*args)
    return gen if type(gen) is _GENERATOR else start(kernel, args)


def _is_point(effect: Any) -> bool:
    return type(effect) is Deterministic and effect.value is RESAMPLE_POINT


def _base(dist: Any) -> Any:
    return dist.base if isinstance(dist, Coupled) else dist


def _coupling(dist: Any) -> str:
    if isinstance(dist, Coupled):
        return dist.coupling
    return "crn" if _base(dist).is_discrete else "reparam"


class _AlternativePaths:
    """Run B paths through a segment, forking at coupled sites (depth first, by re-execution)."""

    def __init__(self, ad_mode: bool, rng: np.random.Generator) -> None:
        self.ad_mode = ad_mode
        self.rng = rng

    def run(self, make: Callable[[], Any], path: _Path, segment: _Segment, replay: list,
            stop_at_loop: Any, where: Any = None) -> List[Tuple[_Path, Any]]:
        """All leaves of ``path`` through this segment: ``(path, ("loop"|"point", record) | ("return", value))``.

        ``stop_at_loop``: True stops at loops and resampling points, "loops"
        only at loops (A has ended, so points have no partner), False at none.

        ``replay`` answers the first effects (answers recorded earlier);
        ``path.answers`` grows with this segment's answers.
        """
        leaves = []
        live = None if path.gen is None else (path.gen, path.pending)
        stack = [(list(replay), path.weight, path.log_weight, -1, live)]
        base = len(replay)
        while stack:
            forced, weight, log_weight, cursor, live = stack.pop()
            leaf = self._one(make, forced, weight, log_weight, cursor, segment, stack, stop_at_loop, base, where,
                             live)
            if leaf is not None:
                leaves.append(leaf)
        return leaves

    def _one(self, make: Callable[[], Any], forced: list, weight: FirstOrder, log_weight: Any, cursor: int,
             segment: _Segment, stack: list, stop_at_loop: Any, base: int, where: Any, live: Any) -> Any:
        # Replayed answers carry no new weight: the weights passed in already
        # include them.  Answers of earlier segments do not move the cursor.
        # A live path resumes its suspended generator; a fork is rebuilt by replay.
        if live is not None:
            gen, answer = live
            answers: list = list(forced)
            position = len(forced)
        else:
            gen = make()
            answers = []
            position = 0
            answer = None
        keep = False
        try:
            while True:
                try:
                    effect = gen.send(answer)
                except StopIteration as stop:
                    return _Path(answers, weight, log_weight), ("return", stop.value)
                kind = type(effect)
                if position < len(forced):
                    recorded = forced[position]
                    answer = recorded[1]
                    if position >= base and recorded[2] is not None:
                        cursor = recorded[2]
                    position += 1
                    answers.append(recorded)
                    continue
                if _is_point(effect) and stop_at_loop == "loops":
                    # A has ended: this path's extra resampling points have no partner.
                    answer = RESAMPLE_POINT
                    answers.append((effect.name, answer, None))
                    position += 1
                    continue
                if kind is Loop or _is_point(effect):
                    if stop_at_loop:
                        keep = True  # suspended here: the engine resumes it after the boundary
                        leaf = _Path(answers, weight, log_weight, gen=gen)
                        return leaf, ("loop" if kind is Loop else "point", effect)
                    raise EffectTypeError("gradinf: loops and resampling points inside loop kernels are not supported")
                if kind is Sample:
                    options, cursor = self._options(effect, segment, cursor, weight)
                    weighted = _forks(options, weight)
                    for value, w in weighted[1:]:
                        stack.append((answers + [(effect.name, value, cursor)], w, log_weight, cursor, None))
                    value, weight = weighted[0]
                    answers.append((effect.name, value, cursor))
                    position += 1
                    answer = value
                    continue
                if kind in (Observe, Factor):
                    log_weight = log_weight + _log_weight_of(effect)
                answer = _answer_plain(effect)
                answers.append((getattr(effect, "name", None), answer, None))
                position += 1
        except (EffectTypeError, GradInfError):
            raise
        except Exception as error:
            raise _path_failed(where, answers, error) from error
        finally:
            if not keep:
                gen.close()

    def step(self, kernel: Callable[..., Any], args: tuple, weight: FirstOrder, log_weight: Any, segment: _Segment,
             where: Any) -> List[Tuple[FirstOrder, Any, Any]]:
        """Every leaf ``(weight, log_weight, new_state)`` of one loop-kernel step from one B path.

        :meth:`run` specialised to a kernel: no earlier answers, no loops
        inside, and a leaf is only its weights and the kernel's return value.
        This is GradInf's innermost loop, so it is kept free of everything else.
        """
        leaves = []
        stack = [((), weight, log_weight, -1)]
        while stack:
            forced, weight, log_weight, cursor = stack.pop()
            gen = _call(kernel, args)
            answers = list(forced)
            position, replayed = 0, len(forced)
            answer = None
            try:
                while True:
                    try:
                        effect = gen.send(answer)
                    except StopIteration as stop:
                        leaves.append((weight, log_weight, stop.value))
                        break
                    if position < replayed:
                        recorded = forced[position]
                        answer = recorded[1]
                        if recorded[2] is not None:
                            cursor = recorded[2]
                        position += 1
                        continue
                    kind = type(effect)
                    if kind is Sample:
                        options, cursor = self._options(effect, segment, cursor, weight)
                        value, q = options[0]
                        if len(options) > 1:
                            weighted = _forks(options, weight)
                            for v, w in weighted[1:]:
                                stack.append((answers + [(effect.name, v, cursor)], w, log_weight, cursor))
                            value, weight = weighted[0]
                        else:
                            weight = weight * q
                        answers.append((effect.name, value, cursor))
                        position += 1
                        answer = value
                        continue
                    if kind is Loop or _is_point(effect):
                        raise EffectTypeError("gradinf: loops and resampling points inside loop kernels are not "
                                              "supported")
                    if kind is Observe or kind is Factor:
                        log_weight = log_weight + _log_weight_of(effect)
                    answer = _answer_plain(effect)
                    answers.append((getattr(effect, "name", None), answer, None))
                    position += 1
            except (EffectTypeError, GradInfError):
                raise
            except Exception as error:
                raise _path_failed(where, answers, error) from error
            finally:
                gen.close()
        return leaves

    def _options(self, effect: Any, segment: _Segment, cursor: int, weight: FirstOrder) -> Tuple[list, int]:
        dist_b = effect.dist
        if effect.value is not UNSET:
            return [(effect.value, FirstOrder(1.0))], cursor
        i = segment.partner(effect.name, cursor)
        if i < 0:
            return own_law(_base(dist_b), self.rng), cursor
        _, dist_a, value_a = segment.sites[i]
        options = couple(_coupling(dist_b), dist_a, value_a, _base(dist_b), self.ad_mode, self.rng,
                         main=weight.v != 0.0, uniforms=segment.uniforms.get(i))
        if not options:
            raise GradInfError(f"the coupling at {effect.name!r} left no outcome")
        return options, i


def _forks(options: list, weight: FirstOrder) -> list:
    """A path's weighted outcomes at a site: ``[(value, weight * q)]``, exact zeros dropped (one kept).

    A branch of weight exactly 0 (an O(ε) branch of an O(ε) path) contributes
    nothing; the first outcome survives even then, so the path can finish.
    """
    weighted = [(value, weight * q) for value, q in options]
    return [(value, w) for value, w in weighted if not w.is_zero()] or weighted[:1]


def _path_failed(where: Any, answers: list, error: Exception) -> GradInfError:
    return GradInfError(
        f"an alternative path failed{_where(where)} at {_describe(answers)}: {type(error).__name__}: {error}. "
        "Its coupling moved it to a state the program does not accept; couplings such as "
        "'always_flip' can reach states of zero probability: use 'crn' there"
    )


def _where(where: Any) -> str:
    """Where a path failed: ``(step, loop name, state)`` inside a loop (formatted only on failure)."""
    if where is None:
        return ""
    step, name, state = where
    return f" in step {step} of loop {name!r} from state {_short(state)}"


def _describe(answers: list) -> str:
    if not answers:
        return "its first site"
    tail = ", ".join(f"{a!r}={_short(v)}" for a, v, _ in answers[-4:])
    return f"the site after [{tail}]"


def _short(v: Any) -> str:
    if type(v) is Dual:
        return f"{as_w(v).v:.6g}+ε"
    return repr(v)


# ---------------------------------------------------------------------------
# one estimate
# ---------------------------------------------------------------------------

class _Phase:
    """What A did up to its next synchronisation point: the segment's sites, then one event.

    ``kind`` is "return" (``event`` is A's value), "point" (a resampling
    point), "loop" (``steps``: each step's sites; ``states``: A's state after
    each step) or "independent" (``runs``: each sub-simulation's phases).
    """

    __slots__ = ("segment", "kind", "event", "steps", "states", "runs")

    def __init__(self, segment: _Segment, kind: str, event: Any, steps: Any = None, states: Any = None,
                 runs: Any = None) -> None:
        self.segment, self.kind, self.event = segment, kind, event
        self.steps, self.states, self.runs = steps, states, runs


def _record_a(gen: Any, rng: np.random.Generator) -> Tuple[List[_Phase], Any]:
    """Run the primal path A to the end, recording its sites phase by phase; and its log weight.

    A never reads B, so it can run first; its record is then replayed to
    every B path (and, inside :func:`plait.independent`, to every B path
    that reaches the same sub-simulations).
    """
    a = _PrimalPath(gen, rng)
    phases: List[_Phase] = []
    send: Any = None
    first = True
    while True:
        segment = a.segment = _Segment()
        try:
            event = next(a.driver) if first else a.driver.send(send)
        except StopIteration as stop:
            phases.append(_Phase(segment, "return", stop.value))
            return phases, a.log_weight
        first = False
        if _is_point(event):
            phases.append(_Phase(segment, "point", event))
            send = RESAMPLE_POINT
        elif type(event.kernel) is IndependentRuns:
            runs = []
            for x in event.xs:
                run, log_weight = _record_a(_call(event.kernel.program, (x,)), rng)
                a.log_weight = a.log_weight + log_weight
                runs.append(run)
            phases.append(_Phase(segment, "independent", event, runs=runs))
            send = event.init + tuple(run[-1].event for run in runs)
        else:
            steps, states = [], []
            state = event.init
            for step in range(event.steps):
                a.segment = _Segment()
                state = a.run_kernel(event, state, step)
                steps.append(a.segment)
                states.append(state)
            phases.append(_Phase(segment, "loop", event, steps, states))
            send = state


def _run_b(phases: List[_Phase], make: Callable[[], Any], paths: List[_Path], runner: "_AlternativePaths", inference: Any,
           rng: np.random.Generator) -> List[Tuple[_Path, Any]]:
    """Every B path through A's record: the finished leaves ``(path, ("return", value))``."""
    finished: List[Tuple[_Path, Any]] = []
    for phase in phases:
        a_done = phase.kind == "return"
        leaves = []
        for path in paths:
            leaves.extend(runner.run(make, path, phase.segment, path.answers,
                                     stop_at_loop="loops" if a_done else True))
        if a_done:
            finished.extend(leaves)
            break
        event = phase.event
        waiting = []
        for leaf, outcome in leaves:
            if outcome[0] == "return":
                finished.append((leaf, outcome))  # this B path ended where A goes on
                continue
            _require_same(outcome, phase)
            waiting.append((leaf, outcome[1]))
        if phase.kind == "point":
            population = _unshared(_resample(inference, [leaf for leaf, _ in waiting], rng, None))
            paths = [_Path(p.answers + [(event.name, RESAMPLE_POINT, None)], p.weight, p.log_weight,
                           gen=p.gen, pending=RESAMPLE_POINT) for p in population]
        elif phase.kind == "independent":
            children = []
            for leaf, loop_b in waiting:
                for weight, log_weight, values in _independent_runs(phase, loop_b, runner, inference, rng):
                    state = loop_b.init + values
                    children.append(_Path(leaf.answers + [(loop_b.name, state, None)], leaf.weight * weight,
                                          leaf.log_weight + log_weight, state, loop_b, leaf.gen))
            values_a = phase.event.init + tuple(run[-1].event for run in phase.runs)
            population = _unshared(_resample(inference, children, rng, values_a))
            paths = [_Path(p.answers, p.weight, p.log_weight, gen=p.gen, pending=p.state) for p in population]
        else:
            population = []
            for leaf, loop_b in waiting:
                leaf.state, leaf.loop = loop_b.init, loop_b
                population.append(leaf)
            population = _unshared(population)
            for step, (segment, state_a) in enumerate(zip(phase.steps, phase.states)):
                stepped = []
                for leaf in population:
                    loop_b = leaf.loop
                    args = (leaf.state,) if loop_b.xs is None else (leaf.state, loop_b.xs[step])
                    for weight, log_weight, new_state in runner.step(loop_b.kernel, args, leaf.weight,
                                                                     leaf.log_weight, segment,
                                                                     (step, loop_b.name, leaf.state)):
                        stepped.append(_Path(leaf.answers, weight, log_weight, new_state, loop_b, leaf.gen))
                population = _unshared(_resample(inference, stepped, rng, state_a))
            # Each B path resumes its program with its final state: one recorded answer.
            paths = [_Path(p.answers + [(p.loop.name, p.state, None)], p.weight, p.log_weight,
                           gen=p.gen, pending=p.state) for p in population]
    return finished


def _require_same(outcome: Tuple[str, Any], phase: _Phase) -> None:
    """A B path must stop at the synchronisation point A stopped at."""
    kind, event = outcome
    if phase.kind == "point":
        if kind != "point" or event.name != phase.event.name:
            raise EffectTypeError(f"gradinf: a B path reached {event.name!r} where A is at the resampling "
                                  f"point {phase.event.name!r}; they must line up")
        return
    loop_a = phase.event
    same = (kind == "loop" and event.name == loop_a.name and event.steps == loop_a.steps
            and (type(event.kernel) is IndependentRuns) == (phase.kind == "independent"))
    if not same:
        raise EffectTypeError(f"gradinf: a B path reached {event.name!r} where A runs {phase.kind} "
                              f"{loop_a.name!r} ({loop_a.steps} steps); loops must line up")


def _independent_runs(phase: _Phase, loop_b: Loop, runner: "_AlternativePaths", inference: Any,
                      rng: np.random.Generator) -> List[Tuple[FirstOrder, Any, tuple]]:
    """The product of the sub-simulations' B populations: ``(weight, log_weight, values)``.

    Each run's alternatives are computed on their own, against A's record of
    the same run.  A combination of two derivative paths has weight O(ε²),
    exactly zero, so it is dropped: about Σ (paths per run) combinations
    survive, not their product, and none is pruned for being small.
    """
    combos: List[Tuple[FirstOrder, Any, tuple]] = [(FirstOrder(1.0), 0.0, ())]
    for run, x in zip(phase.runs, loop_b.xs):
        program = loop_b.kernel.program
        leaves = _run_b(run, lambda program=program, x=x: _call(program, (x,)), [_Path([], FirstOrder(1.0), 0.0)],
                        runner, inference, rng)
        combos = [(weight * leaf.weight, log_weight + leaf.log_weight, values + (outcome[1],))
                  for weight, log_weight, values in combos for leaf, outcome in leaves
                  if not (weight * leaf.weight).is_zero()]
    return combos


def _estimate(model: Callable[..., Any], theta_a: Any, theta_b: Any, ad_mode: bool, inference: Any,
              rng_a: np.random.Generator, rng_b: np.random.Generator) -> FirstOrder:
    """``Σ_i w_i (F(B_i) - F(A))`` as a first-order number."""
    phases, log_weight_a = _record_a(start(model, (theta_a,)), rng_a)
    runner = _AlternativePaths(ad_mode, rng_b)
    finished = _run_b(phases, lambda: start(model, (theta_b,)), [_Path([], FirstOrder(1.0), 0.0)], runner, inference, rng_b)
    f_a = _as_float(phases[-1].event) * math.exp(float(np.asarray(log_weight_a)))
    weighted = []
    for leaf, outcome in finished:
        if outcome[0] != "return":
            raise EffectTypeError("gradinf: a B path stopped at a loop that A never reached")
        f_b = as_w(outcome[1])
        if not _is_zero_log(leaf.log_weight):
            f_b = f_b * as_w(leaf.log_weight).exp()
        weighted.append((leaf.weight, f_b))
    estimate = getattr(inference, "estimate", None)
    if estimate is not None:
        return estimate(weighted, f_a)
    total = FirstOrder(0.0)
    for weight, f_b in weighted:
        total = total + weight * (f_b - f_a)
    return total


def _unshared(paths: List[_Path]) -> List[_Path]:
    """Give each suspended generator to one path only; the others will rebuild theirs by replay."""
    owners: set = set()
    for p in paths:
        if p.gen is not None:
            if id(p.gen) in owners:
                p.gen = None
            else:
                owners.add(id(p.gen))
    return paths


def _resample(inference: Any, paths: List[_Path], rng: np.random.Generator, state_a: Any) -> List[_Path]:
    if getattr(inference, "reads_primal_state", False):
        return inference.resample(paths, rng, state_a)
    return inference.resample(paths, rng)


def _is_zero_log(lw: Any) -> bool:
    return type(lw) is not Dual and float(np.asarray(lw)) == 0.0


def _as_float(value: Any) -> float:
    try:
        return float(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise EffectTypeError(f"gradinf: the model must return a number, got {value!r}") from None


# ---------------------------------------------------------------------------
# the API
# ---------------------------------------------------------------------------

def _streams(seed: SeedLike) -> Tuple[np.random.SeedSequence, np.random.SeedSequence]:
    a, b = spawn_seeds(seed, 2)
    return a, b


def gradinf(
    model: Callable[[Any], Any],
    theta: Any,
    *,
    inference: Any = None,
    seed: SeedLike = None,
    direction: Any = None,
    num_samples: Optional[int] = None,
    executor: Any = None,
) -> Any:
    """An unbiased estimate of d/dθ E[model(θ)] by coupled paths (GradInf).

    ``model(theta)`` is a generator program; its sample sites choose a
    coupling with ``plait.sample(name, dist, coupling=...)`` (default
    ``"crn"`` for discrete, ``"reparam"`` for continuous families).
    ``inference`` is :class:`SIR` (default ``SIR(1)``),
    :class:`VariableElimination`, :class:`ExactPopulation`, :class:`TwistedSMC`,
    :class:`Score`, or the biased :class:`~plait.inference.gradient_estimation.mean_field.MeanField`
    baseline; it runs after every ``iterate``/``fold`` step and at every
    ``plait.resample_point``.  A vector ``theta`` takes one pass per
    coordinate with common random numbers for the primal path, or one pass
    along ``direction``.  ``num_samples=n`` averages n independent estimates
    and returns ``(mean, standard error)``; the estimates use seeds spawned
    from ``seed`` and run on ``executor`` (any ``concurrent.futures.Executor``;
    default: in this process) with identical results, a failing one raising
    :class:`~plait.errors.ReplicaError`.  With observations or factors
    the estimand is the unnormalised expectation E[FirstOrder · f].

    >>> import plait
    >>> def flips(theta):
    ...     total = 0
    ...     for i in range(10):
    ...         total += yield plait.sample(("b", i), plait.Bernoulli(theta))
    ...     return total
    >>> mean, se = plait.gradinf(flips, 0.3, num_samples=2000, seed=0)
    >>> abs(mean - 10.0) < 4 * se   # d/dθ E[sum] = 10
    True
    """
    inference = SIR(1) if inference is None else inference
    if num_samples is not None:
        num_samples = check_count("gradinf", "num_samples", num_samples, 2)
        task = partial(gradinf, model, theta, inference=inference, direction=direction)
        estimates = np.array(run_replicas(task, spawn_seeds(seed, num_samples), executor,
                                          caller="gradinf", label="estimate"))
        mean = estimates.mean(axis=0)
        se = estimates.std(axis=0, ddof=1) / math.sqrt(len(estimates))
        return (float(mean), float(se)) if np.ndim(mean) == 0 else (mean, se)
    seed_a, seed_b = _streams(seed)
    theta_plain = np.asarray(theta, dtype=float)
    scalar = theta_plain.ndim == 0
    directions: List[np.ndarray]
    if direction is not None:
        directions = [np.asarray(direction, dtype=float).reshape(theta_plain.shape)]
    elif scalar:
        directions = [np.array(1.0)]
    else:
        directions = [np.eye(theta_plain.size)[i].reshape(theta_plain.shape) for i in range(theta_plain.size)]
    theta_a: Any = float(theta_plain) if scalar else theta_plain
    out = []
    for d in directions:
        # The same seeds in every pass: common random numbers across coordinates.
        rng_a, rng_b = np.random.default_rng(seed_a), np.random.default_rng(seed_b)
        with perturbation() as tag:
            theta_b = Dual(theta_a, d[None, ...] if not scalar else [float(d)], tag=tag)
            if isinstance(inference, MeanField):
                out.append(as_w(inference.run(model, theta_b)).t)
            else:
                out.append(_estimate(model, theta_a, theta_b, True, inference, rng_a, rng_b).t)
    if direction is not None or scalar:
        return out[0]
    return np.array(out).reshape(theta_plain.shape)


def coupled_difference(
    model: Callable[[Any], Any], theta_a: Any, theta_b: Any, *, inference: Any = None, seed: SeedLike = None,
) -> float:
    """An unbiased estimate of E[model(θ_b)] − E[model(θ_a)] by coupled paths (FD mode).

    The same couplings as :func:`gradinf`, at two plain parameters; the
    ``"indep"`` coupling is valid here (and only here).

    >>> import plait
    >>> def coin(theta):
    ...     return (yield plait.sample("b", plait.Bernoulli(theta)))
    >>> d = [plait.coupled_difference(coin, 0.3, 0.5, seed=s) for s in range(4000)]
    >>> abs(sum(d) / len(d) - 0.2) < 0.05
    True
    """
    inference = SIR(1) if inference is None else inference
    if isinstance(inference, MeanField):
        return _as_float(inference.run(model, theta_b)) - _as_float(inference.run(model, theta_a))
    seed_a, seed_b = _streams(seed)
    est = _estimate(model, theta_a, theta_b, False, inference,
                    np.random.default_rng(seed_a), np.random.default_rng(seed_b))
    return float(est.v)

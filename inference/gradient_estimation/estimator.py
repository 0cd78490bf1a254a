"""GradInf: unbiased gradients of programs with discrete randomness, by coupled paths.

One estimate (gradinf.md §1, §7.2): run the program once at θ (the primal
path A), and represent the law of the program at θ+ε *given A* as a weighted
population of alternative paths B, built site by site from the couplings of
:mod:`plait.inference.gradient_estimation.couplings` with first-order weights ``v + t·ε``.  The
estimate is the ε-coefficient of ``Σ_i w_i (F(B_i) - F(A))``; in FD mode
(:func:`coupled_difference`) the B side runs at a second plain parameter and
the estimate is the value itself.

How a program runs.  A and every B path are processes of the run loop
(:class:`~plait.ext._interpreter.Process`), each bound to an execution whose
base is GradInf's own, so handlers inside the model (scopes, conditions,
substitutions, blocks, scale and mask, sub-models) work as they do
anywhere.  A's sites are drawn live, segment by segment; a segment ends at
a loop (``iterate``/``fold``) step, a resampling point, or the end of the
program.  Each B path runs its *own* program on its own values (no coupled
booleans, no reading of A's values); when a coupling forks it, the fork is
re-executed with the run loop's answer log replaying the path's answers.
B sites are matched to A's sites of the same segment by the address the
base sees (after scopes), injectively and in order; a B site with no
partner follows its own law, which costs variance, never bias.  After every
loop step and resampling point the population goes through the
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
from ...effects.distributions.base import Wrapped
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
from ...errors import EffectTypeError, GradInfError, ReplicaError
from ...effects.lanes import FixedLanes, Lanes
from ...ext import _resample as _resample_kernels
from ...ext._interpreter import plain_answer, run_to_end
from ...gradients.dual import Dual, perturbation, primal
from ...handlers.base import start
from ...handlers.runloop import Execution, answer_log
from ...handlers.scope import LoopStep
from ...handlers.seed import SeedLike
from ..arguments import check_count
from ..replicas import run_replicas, spawn_seeds
from ..progress import Ticking, progress_bar
from .couplings import FirstOrder, as_w, couple, own_law
from .batched import Unbatchable, batched_estimates
from .lane_weights import (LanePaths, Resampled, keep_all, lane_values, merge_equal, mul, stratified_multinomial,
                           twisted_multinomial)
from .mean_field import MeanField
from .sites import coupled_law, log_weight_of

__all__ = ["gradinf", "coupled_difference", "GradientEstimates", "ExactPopulation", "VariableElimination", "SIR", "TwistedSMC", "Score",
           "MeanField"]


# ---------------------------------------------------------------------------
# inference over the population of B paths
# ---------------------------------------------------------------------------

class _Path:
    """One B path: its program's answers, first-order weight, observations' log weight, and where it stands.

    ``answers`` are its program's ``(effect, answer)`` so far, as its answer
    log recorded them.  ``stop`` is the loop or resampling point the program
    is suspended at (None once it returned ``value``); ``state`` is the
    loop's state while the path goes through the steps, then the answer the
    program resumes with; ``around`` are the handlers between the suspended
    program and the base, which the loop's kernel sites meet too.  ``live``
    is the suspended program, ``(process, execution)``, or None: the path
    then rebuilds it by replaying ``answers``.
    """

    __slots__ = ("answers", "weight", "log_weight", "state", "stop", "around", "live", "value")

    def __init__(self, answers: list[Any], weight: FirstOrder, log_weight: Any, state: Any = None, stop: Any = None,
                 around: tuple[Any, ...] = (), live: Any = None, value: Any = None) -> None:
        self.answers = answers
        self.weight = weight
        self.log_weight = log_weight
        self.state = state
        self.stop = stop
        self.around = around
        self.live = live
        self.value = value

    def weighted(self, weight: FirstOrder) -> "_Path":
        """The same path with another weight."""
        return _Path(self.answers, weight, self.log_weight, self.state, self.stop, self.around, self.live,
                     self.value)

    def child(self, weight: FirstOrder, log_weight: Any, state: Any) -> "_Path":
        """The path gone on inside its loop: new weights and state, the same program."""
        return _Path(self.answers, weight, log_weight, state, self.stop, self.around, self.live)


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

    def resample_lanes(self, paths: LanePaths, rng: np.random.Generator) -> Resampled:
        """The identity, for the paths of many estimates (batched GradInf)."""
        return keep_all(paths)


class VariableElimination:
    """Merge paths whose state (and earlier answers) are equal: exact given A, bounded by the states.

    The loop state must be hashable (ints, tuples); dual numbers are keyed
    by value and tangent.

    >>> VariableElimination().resample([], None)
    []
    """

    def resample(self, paths: List[_Path], rng: np.random.Generator) -> List[_Path]:
        """Sum the weights of equal paths; drop exact zeros."""
        first: Dict[Any, _Path] = {}
        sums: Dict[Any, FirstOrder] = {}  # the summed weight of every key met more than once
        answer_keys: Dict[int, Any] = {}  # paths of one parent share their answer list
        for path in paths:
            answers = path.answers
            history = answer_keys.get(id(answers))
            if history is None:
                history = answer_keys[id(answers)] = _history_key(answers)
            key = (_key(path.state), history, _key(path.log_weight))
            old = first.get(key)
            if old is None:
                first[key] = path
            else:
                sums[key] = sums.get(key, old.weight) + path.weight
        merged = []
        for key, path in first.items():
            total = sums.get(key)
            if total is not None:
                path = path.weighted(total)
            if not path.weight.is_zero():
                merged.append(path)
        return merged

    def resample_lanes(self, paths: LanePaths, rng: np.random.Generator) -> Resampled:
        """The same merge for the paths of many estimates (batched GradInf)."""
        return merge_equal(paths)


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

    def resample_lanes(self, paths: LanePaths, rng: np.random.Generator) -> Resampled:
        """The same stratified resampling for the paths of many estimates (batched GradInf)."""
        return stratified_multinomial(paths, self.k, rng)


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

    def resample_lanes(self, paths: LanePaths, rng: np.random.Generator) -> Resampled:
        """The same resampling for the paths of many estimates (batched GradInf), the twist taken per path.

        The twist sees each path's state and its A's as lane values (one per
        path, acting lane by lane); it runs inside loops only.
        """
        if paths.state_a is None:
            raise Unbatchable("TwistedSMC at resampling points outside loops (its twist reads loop states)")
        space = FixedLanes(paths.size)
        g = self.twist(lane_values(paths.state, space), lane_values(paths.state_a, space))
        values = g.data if isinstance(g, Lanes) else np.broadcast_to(np.asarray(primal(g), dtype=float), (paths.size,))
        return twisted_multinomial(paths, self.k, rng, np.asarray(primal(values), dtype=float).reshape(paths.size))

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

    def resample_lanes(self, paths: LanePaths, rng: np.random.Generator) -> Resampled:
        """The identity, for the paths of many estimates (batched GradInf)."""
        return keep_all(paths)

    def estimate_lanes(self, v: np.ndarray, t: np.ndarray, f_v: np.ndarray, f_t: np.ndarray,
                       f_a: np.ndarray) -> np.ndarray:
        """Each final path's share of :meth:`estimate`'s ε-coefficient (weights and F(B) as arrays)."""
        share: np.ndarray = mul(f_v - self.baseline, f_t, v - 1.0, t)[1] + f_t
        return share

    def estimate(self, leaves: List[Tuple[FirstOrder, FirstOrder]], f_a: float) -> FirstOrder:
        """``Σ (F_B − b)(w − 1) + w·(F_B − F_A)`` over the final paths."""
        total = FirstOrder(0.0)
        for weight, f_b in leaves:
            total = total + (f_b - self.baseline) * (weight - 1.0) + (f_b - f_a)
        return total


_ATOMS = (int, float, str, bool, type(None))


def _history_key(answers: list[Any]) -> tuple[Any, ...]:
    """A path's answers as a key: each ``(address, answer)``, keyed like states."""
    return tuple((_key(effect.name), _key(answer)) for effect, answer in answers)


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
# running A and B on the run loop
# ---------------------------------------------------------------------------
# Every program GradInf runs is a Process of the run loop (plait.handlers.runloop),
# bound to an Execution whose base is one of GradInf's base interpreters:
# _PrimalSites for A, an answer log over the _Coupler for B.  Handlers inside
# the model (scope, condition, substitute, block, scale, mask, sub-models)
# bind to that Execution like anywhere else, so the bases see every site
# under the address and in the form the handlers give it.  A whole program
# pauses before loops and deterministics (a resampling point is one); a loop
# step runs its kernel to completion as a Process of its own.

#: Where a whole program pauses: at loops, and at deterministics (a resampling point is one).
_STOPS = (Loop, Deterministic)

_NESTED = ("gradinf: loops and resampling points inside loop kernels are not supported "
           "(a loop step already ends with one)")


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


class _Program:
    """A program GradInf runs whole: the model at one θ, or one sub-simulation of ``plait.independent``.

    ``handlers`` (innermost first) stand between the program and the base:
    none for the model; for a sub-simulation inside handlers, the scope of
    its run and the handlers its block met.
    """

    __slots__ = ("function", "args", "handlers")

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...], handlers: tuple[Any, ...] = ()) -> None:
        self.function, self.args, self.handlers = function, args, handlers

    def start(self) -> Any:
        """A fresh generator of the program."""
        return start(self.function, self.args)


def _step_handlers(loop: Loop, step: int, around: tuple[Any, ...]) -> tuple[Any, ...]:
    """The handlers the sites of step ``step`` of ``loop`` meet, given the handlers ``around`` the loop.

    Inside handlers the sites get the addresses the run loop gives them,
    ``(loop name, step, address)``, so that a condition or a substitution
    written for any other engine means the same here.  With no handler
    around, nothing looks at a step's addresses but GradInf, which matches
    B's sites with A's within one step, so they keep their own (for free).
    """
    return (LoopStep(loop.name, step), *around) if around else ()


def _next_stop(process: Any, answer: Any) -> Any:
    """Send ``answer`` and run ``process`` to its next loop or resampling point (None: it returned)."""
    stop = process.resume(answer)
    while type(stop) is Deterministic and stop.value is not RESAMPLE_POINT:
        stop = process.resume()  # an ordinary deterministic: its handlers and the base answer it
    return stop


class _PrimalSites:
    """The primal path's base interpreter: A's draws from the A stream, its record and its weight.

    A sample answers its fixed value or a draw from ``rng``, and joins the
    current segment with its law (tag and wrappers removed) and value;
    observations and factors add to ``log_weight``; every other effect is
    answered by the run loop's table (:func:`plait.ext._interpreter.plain_answer`).

    >>> import numpy as np, plait
    >>> sites = _PrimalSites(np.random.default_rng(0))
    >>> sites.answer(plait.sample("b", plait.Bernoulli(1.0))), sites.segment.sites
    (1, [('b', Bernoulli(p=1.0), 1)])
    """

    __slots__ = ("rng", "log_weight", "segment")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.log_weight: Any = 0.0
        self.segment = _Segment()

    def answer(self, effect: Any) -> Any:
        """Answer ``effect`` on the primal path (the base of A's execution)."""
        kind = type(effect)
        if kind is Sample:
            dist = effect.dist
            if type(dist) is Coupled and not isinstance(dist.base, Wrapped):
                coupling, law = dist.coupling, dist.base  # the common case, without the call
            else:
                coupling, law = coupled_law(dist)
            segment = self.segment
            if effect.value is not UNSET:
                value = effect.value
            elif coupling == "same_or_antithetic" and type(law) is Bernoulli and law.batch_shape:
                # The draw Bernoulli.sample makes (same stream, same int64 coins), keeping the uniforms.
                u = self.rng.random(law.batch_shape)
                value = (u < law.p).astype(np.int64)
                segment.uniforms[len(segment.sites)] = u
            else:
                value = dist.sample(self.rng)
            segment.add(effect.name, law, value)
            return value
        if kind is Observe or kind is Factor:
            self.log_weight = self.log_weight + log_weight_of(effect)
        elif kind is Loop or _is_point(effect):  # a whole program pauses before these: this is a kernel
            raise EffectTypeError(_NESTED)
        return plain_answer(effect)


_GENERATOR = type((lambda: (yield))())


def _start_kernel(kernel: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``kernel(*args)``, checked the slow way only when it is not a generator."""
    gen = kernel(*args)
    return gen if type(gen) is _GENERATOR else start(kernel, args)


def _is_point(effect: Any) -> bool:
    return type(effect) is Deterministic and effect.value is RESAMPLE_POINT


class _Coupler:
    """The alternative paths' base interpreter: each sample is coupled with A's site of the same address.

    It serves one path at a time: the driver sets the segment of A's sites,
    the path's ``weight``, ``log_weight``, ``cursor`` (the last A site
    matched) and ``answers`` (the list its answer log fills), and reads the
    weights back when the path stops.  A B site is matched with the first A
    site of its address after the cursor (injectively and in order); one
    with no partner follows its own law.  A coupling with several outcomes
    forks the path: the first outcome answers the sample, and every other
    one is pushed on ``forks`` as ``(answers up to here with that outcome
    last, weight, log_weight, cursor)``, to be re-executed from those
    answers.  Observations and factors add to ``log_weight``; every other
    effect is answered by the run loop's table.

    >>> import numpy as np, plait
    >>> coupler = _Coupler(True, np.random.default_rng(0))  # an empty segment: no A partner
    >>> coupler.answer(plait.sample("b", plait.Bernoulli(1.0)))  # so it follows its own law
    1
    """

    __slots__ = ("ad_mode", "rng", "segment", "forks", "answers", "weight", "log_weight", "cursor")

    def __init__(self, ad_mode: bool, rng: np.random.Generator) -> None:
        self.ad_mode = ad_mode
        self.rng = rng
        self.segment = _Segment()
        self.forks: list[Any] = []
        self.answers: list[Any] = []
        self.weight = FirstOrder(1.0)
        self.log_weight: Any = 0.0
        self.cursor = -1

    def answer(self, effect: Any) -> Any:
        """Answer ``effect`` for the path being run (the answer log's ``then``)."""
        kind = type(effect)
        if kind is not Sample:
            if kind is Observe or kind is Factor:
                self.log_weight = self.log_weight + log_weight_of(effect)
            elif kind is Loop or _is_point(effect):  # a whole program pauses before these: this is a kernel
                raise EffectTypeError(_NESTED)
            return plain_answer(effect)
        # The coupling's outcomes [(value, q)] at this site; inline, as this is GradInf's innermost step.
        if effect.value is not UNSET:
            options = [(effect.value, _ONE)]
        else:
            dist_b = effect.dist
            if type(dist_b) is Coupled and not isinstance(dist_b.base, Wrapped):
                coupling, dist_b = dist_b.coupling, dist_b.base  # the common case, without the call
            else:
                coupling, dist_b = coupled_law(dist_b)
            segment = self.segment
            i = segment.partner(effect.name, self.cursor)
            if i < 0:
                options = own_law(dist_b, self.rng)
            else:
                _, dist_a, value_a = segment.sites[i]
                options = couple(coupling, dist_a, value_a, dist_b, self.ad_mode, self.rng,
                                 main=self.weight.v != 0.0, uniforms=segment.uniforms.get(i))
                if not options:
                    raise GradInfError(f"the coupling at {effect.name!r} left no outcome")
                self.cursor = i
        if len(options) == 1:
            value, q = options[0]
            self.weight = self.weight * q
            return value
        return self._fork(options)

    def _fork(self, options: list[Any]) -> Any:
        """Continue with the first outcome; push the others, to be re-executed from the answers so far."""
        weighted = _weighted_outcomes(options, self.weight)
        answers = self.answers
        for value, w in weighted[1:]:
            fork = answers[:]
            fork[-1] = (fork[-1][0], value)  # the log holds (effect, None) while the effect is answered
            self.forks.append((fork, w, self.log_weight, self.cursor))
        value, self.weight = weighted[0]
        return value


_ONE = FirstOrder(1.0)
_NO_ANSWERS: list[Any] = []  # a kernel step's first run replays nothing (an answer log never changes its prefix)


class _AlternativePaths:
    """Run B paths through a segment or a loop step, forking at coupled sites (depth first, by re-execution).

    Every run of a path is a :class:`~plait.ext._interpreter.Process` whose
    base is an answer log (:func:`plait.handlers.runloop.answer_log`) over
    the :class:`_Coupler`: the log records the path's answers, and a fork
    re-executes the program with the log replaying the answers up to the
    fork positionally, then answering live.
    """

    def __init__(self, ad_mode: bool, rng: np.random.Generator) -> None:
        self.coupler = _Coupler(ad_mode, rng)
        #: The answer log of every loop-kernel step run (each runs to its end
        #: before the next starts, so one log serves them all, restarted).
        self.step_log = answer_log((), self.coupler.answer, [])
        #: Hosts those runs; its base is their log, which block's bypass reaches too.
        self.steps = Execution(None, False, base=self.step_log)

    def run_segment(self, program: _Program, path: _Path, segment: _Segment, a_returned: bool) -> List[_Path]:
        """Every leaf of ``path`` through this segment: stopped at a loop or resampling point, or returned.

        ``a_returned``: A has ended, so a resampling point of B has no
        partner; B passes it.  A path with a live program resumes it;
        otherwise it rebuilds it by replaying its answers.
        """
        coupler = self.coupler
        forks: list[Any] = []
        coupler.segment, coupler.forks = segment, forks
        leaves = [self._run_path(program, path.answers, path.weight, path.log_weight, -1, path, a_returned)]
        while forks:
            replay, weight, log_weight, cursor = forks.pop()
            leaves.append(self._run_path(program, replay, weight, log_weight, cursor, None, a_returned))
        return leaves

    def _run_path(self, program: _Program, replay: list[Any], weight: FirstOrder, log_weight: Any, cursor: int,
                  path: Optional[_Path], a_returned: bool) -> _Path:
        if path is not None and path.live is not None:
            process, execution = path.live
            log = execution.base
            answers = replay
            answer = log.record(path.stop, path.state)
        else:
            answers = []
            log = answer_log(replay, self.coupler.answer, answers)
            execution = Execution(None, False, base=log)
            dispatch = execution.bind(program.handlers, log, False)[0]
            process = execution.process(program.start(), dispatch, False, _STOPS)
            answer = None
        coupler = self.coupler
        coupler.answers, coupler.weight, coupler.log_weight, coupler.cursor = answers, weight, log_weight, cursor
        suspended = False
        try:
            stop = _next_stop(process, answer)
            while stop is not None:
                if log.peek() is not None:  # passed before this path forked: the recorded answer
                    stop = _next_stop(process, log.record(stop, None))
                elif a_returned and type(stop) is Deterministic:
                    stop = _next_stop(process, log.record(stop, RESAMPLE_POINT))
                else:
                    suspended = True  # the engine resumes it after the synchronisation point
                    around = execution.inner_handlers() + program.handlers
                    return _Path(answers, coupler.weight, coupler.log_weight, stop=stop, around=around,
                                 live=(process, execution))
            return _Path(answers, coupler.weight, coupler.log_weight, value=process.value)
        except (EffectTypeError, GradInfError):
            raise
        except Exception as error:
            raise _path_failed(None, answers, error) from error
        finally:
            if not suspended:
                process.close()

    def run_step(self, path: _Path, step: int, segment: _Segment, leaves: List[_Path]) -> None:
        """Append to ``leaves`` every path ``path`` becomes in step ``step`` of the loop it is in.

        :meth:`run_segment` specialised to a kernel: no earlier answers, no loops
        inside, and a leaf is ``path`` with new weights and the kernel's return
        value as its state.
        This is GradInf's innermost loop, so it is kept free of everything else.
        """
        loop, state = path.stop, path.state
        args = (state,) if loop.xs is None else (state, loop.xs[step])
        around = path.around
        handlers = _step_handlers(loop, step, around) if around else ()
        coupler, execution, log = self.coupler, self.steps, self.step_log
        kernel = loop.kernel
        forks: list[Any] = [(_NO_ANSWERS, path.weight, path.log_weight, -1)]
        coupler.segment, coupler.forks = segment, forks
        answers_before, around, live = path.answers, path.around, path.live
        while forks:
            replay, weight, log_weight, cursor = forks.pop()
            answers: list[Any] = []
            log.restart(replay, answers)
            # Handlers keep per-run state: every run (a fork re-executes the step) gets fresh copies.
            dispatch = execution.bind(handlers, log, False)[0] if handlers else log
            coupler.answers, coupler.weight, coupler.log_weight, coupler.cursor = answers, weight, log_weight, cursor
            gen = kernel(*args)
            if type(gen) is not _GENERATOR:
                gen = start(kernel, args)  # checked the slow way only when it is not a generator
            try:
                new_state = run_to_end(gen, dispatch, False, execution)
            except (EffectTypeError, GradInfError):
                raise
            except Exception as error:
                raise _path_failed((step, loop.name, state), answers, error) from error
            leaves.append(_Path(answers_before, coupler.weight, coupler.log_weight, new_state, loop, around, live))


def _weighted_outcomes(options: list[Any], weight: FirstOrder) -> list[Any]:
    """A path's weighted outcomes at a site: ``[(value, weight * q)]``, exact zeros dropped (one kept).

    A branch of weight exactly 0 (an O(ε) branch of an O(ε) path) contributes
    nothing; the first outcome survives even then, so the path can finish.
    """
    weighted = [(value, weight * q) for value, q in options]
    return [(value, w) for value, w in weighted if not w.is_zero()] or weighted[:1]


def _path_failed(where: Any, answers: list[Any], error: Exception) -> GradInfError:
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


def _describe(answers: list[Any]) -> str:
    if not answers:
        return "its first site"
    tail = ", ".join(f"{getattr(effect, 'name', effect)!r}={_short(v)}" for effect, v in answers[-4:])
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


def _record_primal(program: _Program, sites: _PrimalSites) -> Tuple[List[_Phase], Any]:
    """Run the primal path A to the end, recording its sites phase by phase; and its log weight.

    A never reads B, so it can run first; its record is then replayed to
    every B path (and, inside :func:`plait.independent`, to every B path
    that reaches the same sub-simulations).  Each sub-simulation is weighed
    on its own and its log weight added to the program's.
    """
    sites.log_weight = 0.0
    base = sites.answer
    execution = Execution(None, False, base=base)
    dispatch = execution.bind(program.handlers, base, False)[0]
    process = execution.process(program.start(), dispatch, False, _STOPS)
    phases: List[_Phase] = []
    answer: Any = None
    try:
        while True:
            segment = sites.segment = _Segment()
            stop = _next_stop(process, answer)
            if stop is None:
                phases.append(_Phase(segment, "return", process.value))
                return phases, sites.log_weight
            around = execution.inner_handlers() + program.handlers
            if type(stop) is Deterministic:
                phases.append(_Phase(segment, "point", stop))
                answer = RESAMPLE_POINT
            elif type(stop.kernel) is IndependentRuns:
                runs = _record_primal_runs(stop, around, sites)
                phases.append(_Phase(segment, "independent", stop, runs=runs))
                answer = stop.init + tuple(run[-1].event for run in runs)
            else:
                steps, states = _record_primal_loop(execution, stop, around, sites)
                phases.append(_Phase(segment, "loop", stop, steps, states))
                answer = states[-1] if states else stop.init
    finally:
        process.close()


def _record_primal_runs(loop: Loop, around: tuple[Any, ...], sites: _PrimalSites) -> List[List[_Phase]]:
    """Each sub-simulation of a ``plait.independent`` block run by A: its phases; their weights added to A's."""
    runs = []
    block: Any = loop.kernel  # an IndependentRuns: its program runs once per input
    for i, x in enumerate(loop.xs or ()):
        log_weight = sites.log_weight
        run, run_log_weight = _record_primal(_Program(block.program, (x,), _step_handlers(loop, i, around)),
                                             sites)
        sites.log_weight = log_weight + run_log_weight
        runs.append(run)
    return runs


def _record_primal_loop(execution: Execution, loop: Loop, around: tuple[Any, ...],
                        sites: _PrimalSites) -> Tuple[List[_Segment], List[Any]]:
    """A through every step of ``loop``: each step's sites, and A's state after each step."""
    steps, states = [], []
    state = loop.init
    for step in range(loop.steps):
        steps.append(_Segment())
        sites.segment = steps[-1]
        state = _primal_step(execution, loop, step, state, around)
        states.append(state)
    return steps, states


def _primal_step(execution: Execution, loop: Loop, step: int, state: Any, around: tuple[Any, ...]) -> Any:
    """A's state after step ``step`` of ``loop`` from ``state``: the kernel run to its end as a Process of A's execution."""
    args = (state,) if loop.xs is None else (state, loop.xs[step])
    if around:
        dispatch = execution.bind(_step_handlers(loop, step, around), execution.base, False)[0]
    else:
        dispatch = execution.base
    return run_to_end(_start_kernel(loop.kernel, args), dispatch, False, execution)


def _run_alternatives(phases: List[_Phase], program: _Program, paths: List[_Path], runner: _AlternativePaths,
                      inference: Any, rng: np.random.Generator) -> List[_Path]:
    """Every B path through A's record: the finished leaves (returned, or stopped where A had ended)."""
    finished: List[_Path] = []
    for phase in phases:
        a_returned = phase.kind == "return"
        leaves = []
        for path in paths:
            leaves.extend(runner.run_segment(program, path, phase.segment, a_returned))
        if a_returned:
            finished.extend(leaves)
            break
        waiting = []
        for leaf in leaves:
            if leaf.stop is None:
                finished.append(leaf)  # this B path ended where A goes on
                continue
            _require_same(leaf.stop, phase)
            waiting.append(leaf)
        if phase.kind == "point":
            paths = _resumed(_unshared(_resample(inference, waiting, rng, None)), RESAMPLE_POINT)
        elif phase.kind == "independent":
            paths = _resumed(_through_runs(phase, waiting, runner, inference, rng))
        else:
            paths = _resumed(_through_loop(phase, waiting, runner, inference, rng))
    return finished


def _through_loop(phase: _Phase, waiting: List[_Path], runner: _AlternativePaths, inference: Any,
                  rng: np.random.Generator) -> List[_Path]:
    """The B population through every step of A's loop, resampled after each step."""
    population = []
    for leaf in waiting:
        leaf.state = leaf.stop.init
        population.append(leaf)
    population = _unshared(population)
    for step, (segment, state_a) in enumerate(zip(phase.steps, phase.states)):
        stepped: List[_Path] = []
        for leaf in population:
            runner.run_step(leaf, step, segment, stepped)
        population = _unshared(_resample(inference, stepped, rng, state_a))
    return population


def _through_runs(phase: _Phase, waiting: List[_Path], runner: _AlternativePaths, inference: Any,
                  rng: np.random.Generator) -> List[_Path]:
    """The B population through A's ``plait.independent`` block (the sub-simulations factorised), resampled."""
    children = []
    for leaf in waiting:
        for weight, log_weight, values in _independent_runs(phase, leaf, runner, inference, rng):
            children.append(leaf.child(leaf.weight * weight, leaf.log_weight + log_weight, leaf.stop.init + values))
    values_a = phase.event.init + tuple(run[-1].event for run in phase.runs)
    return _unshared(_resample(inference, children, rng, values_a))


def _resumed(paths: List[_Path], answer: Any = None) -> List[_Path]:
    """The paths ready to go on past their stop, each answering it with its state (or ``answer``).

    A path that owns a live program resumes it (its log records the answer
    then); the others will replay their answers followed by that one.
    """
    out = []
    for p in paths:
        state = p.state if answer is None else answer
        if p.live is None:
            out.append(_Path(p.answers + [(p.stop, state)], p.weight, p.log_weight))
        else:
            out.append(_Path(p.answers, p.weight, p.log_weight, state, p.stop, p.around, p.live))
    return out


def _require_same(stop: Any, phase: _Phase) -> None:
    """A B path must stop at the synchronisation point A stopped at."""
    if phase.kind == "point":
        if not _is_point(stop) or stop.name != phase.event.name:
            raise EffectTypeError(f"gradinf: a B path reached {stop.name!r} where A is at the resampling "
                                  f"point {phase.event.name!r}; they must line up")
        return
    loop_a = phase.event
    same = (type(stop) is Loop and stop.name == loop_a.name and stop.steps == loop_a.steps
            and (type(stop.kernel) is IndependentRuns) == (phase.kind == "independent"))
    if not same:
        raise EffectTypeError(f"gradinf: a B path reached {stop.name!r} where A runs {phase.kind} "
                              f"{loop_a.name!r} ({loop_a.steps} steps); loops must line up")


def _independent_runs(phase: _Phase, leaf: _Path, runner: _AlternativePaths, inference: Any,
                      rng: np.random.Generator) -> List[Tuple[FirstOrder, Any, tuple[Any, ...]]]:
    """The product of the sub-simulations' B populations: ``(weight, log_weight, values)``.

    Each run's alternatives are computed on their own, against A's record of
    the same run.  A combination of two derivative paths has weight O(ε²),
    exactly zero, so it is dropped: about Σ (paths per run) combinations
    survive, not their product, and none is pruned for being small.
    """
    loop_b = leaf.stop
    combos: List[Tuple[FirstOrder, Any, tuple[Any, ...]]] = [(FirstOrder(1.0), 0.0, ())]
    for i, (run, x) in enumerate(zip(phase.runs, loop_b.xs)):
        program = _Program(loop_b.kernel.program, (x,), _step_handlers(loop_b, i, leaf.around))
        leaves = _returned(_run_alternatives(run, program, [_Path([], FirstOrder(1.0), 0.0)], runner, inference, rng))
        combos = [(weight * end.weight, log_weight + end.log_weight, values + (end.value,))
                  for weight, log_weight, values in combos for end in leaves
                  if not (weight * end.weight).is_zero()]
    return combos


def _returned(leaves: List[_Path]) -> List[_Path]:
    for leaf in leaves:
        if leaf.stop is not None:
            raise EffectTypeError("gradinf: a B path stopped at a loop that A never reached")
    return leaves


def _estimate(model: Callable[..., Any], theta_a: Any, theta_b: Any, ad_mode: bool, inference: Any,
              rng_a: np.random.Generator, rng_b: np.random.Generator) -> FirstOrder:
    """``Σ_i w_i (F(B_i) - F(A))`` as a first-order number."""
    phases, log_weight_a = _record_primal(_Program(model, (theta_a,)), _PrimalSites(rng_a))
    runner = _AlternativePaths(ad_mode, rng_b)
    finished = _returned(_run_alternatives(phases, _Program(model, (theta_b,)), [_Path([], FirstOrder(1.0), 0.0)],
                                           runner, inference, rng_b))
    f_a = _as_float(phases[-1].event) * math.exp(float(np.asarray(log_weight_a)))
    weighted = []
    for leaf in finished:
        f_b = as_w(leaf.value)
        if not _is_zero_log(leaf.log_weight):
            f_b = f_b * as_w(leaf.log_weight).exp()
        weighted.append((leaf.weight, f_b))
    estimate = getattr(inference, "estimate", None)
    if estimate is not None:
        result: FirstOrder = estimate(weighted, f_a)
        return result
    total = FirstOrder(0.0)
    for weight, f_b in weighted:
        total = total + weight * (f_b - f_a)
    return total


def _unshared(paths: List[_Path]) -> List[_Path]:
    """Give each suspended program to one path only; the others will rebuild theirs by replay."""
    owners: set[Any] = set()
    for p in paths:
        if p.live is not None:
            if id(p.live) in owners:
                p.live = None
            else:
                owners.add(id(p.live))
    return paths


def _resample(inference: Any, paths: List[_Path], rng: np.random.Generator, state_a: Any) -> List[_Path]:
    resampled: List[_Path]
    if getattr(inference, "reads_primal_state", False):
        resampled = inference.resample(paths, rng, state_a)
    else:
        resampled = inference.resample(paths, rng)
    return resampled


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
    progress: Optional[bool] = None,
    batched: bool = True,
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
    along ``direction``.  ``num_samples=n`` computes n independent estimates
    and returns a :class:`GradientEstimates`: ``(mean, standard error)``
    that also holds every estimate and says which engine ran.  By default
    the n estimates run as lanes of batched programs of up to
    ``LANES_PER_BATCH`` lanes (:mod:`plait.inference.gradient_estimation.batched`);
    a model or an inference that it does not run, or ``batched=False``,
    selects the per-estimate engine, and the result says why.  Either engine
    uses seeds spawned from ``seed`` and runs on ``executor`` (any
    ``concurrent.futures.Executor``: batches, or estimates; default: in this
    process) with identical results, a failing one raising
    :class:`~plait.errors.ReplicaError`; in this process the per-estimate
    engine's ``progress=True`` shows a tqdm bar over the estimates (by
    default only when stderr is a terminal).  With observations or factors
    the estimand is the derivative of the *unnormalised* expectation
    E[f · exp(Σ log weights)], not of a posterior mean: a condition on a
    site that does not depend on θ multiplies the estimate by its
    likelihood.  Handlers inside the model (``plait.scope``, ``condition``,
    ``substitute``, ``block``, ``scale``, ``mask``, sub-models) work on both
    the primal and the alternative paths.

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
        if not batched:
            reason = "batched=False"
        else:
            try:
                return GradientEstimates(_batched(model, theta, inference, direction, seed, num_samples, executor),
                                         "batched")
            except (EffectTypeError, GradInfError):
                raise
            except Exception as why:  # what the batch cannot run, the per-estimate engine runs (or explains)
                reason = f"{type(why).__name__}: {why}" if type(why) is not Unbatchable else str(why)
        task: Callable[..., Any] = partial(gradinf, model, theta, inference=inference, direction=direction)
        bar = progress_bar(progress if executor is None else False, num_samples, "gradinf", "estimates")
        try:
            estimates = np.array(run_replicas(task if bar is None else Ticking(task, bar), spawn_seeds(seed, num_samples),
                                              executor, caller="gradinf", label="estimate"))
        finally:
            if bar is not None:
                bar.close()
        return GradientEstimates(estimates, "per-estimate", reason)
    seed_a, seed_b = _streams(seed)
    theta_a, directions, scalar = _directions(theta, direction)
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
    return np.array(out).reshape(np.shape(theta))


def _directions(theta: Any, direction: Any) -> Tuple[Any, List[np.ndarray], bool]:
    """θ as A's parameter, the tangent directions of the passes, and whether θ is a scalar."""
    theta_plain = np.asarray(theta, dtype=float)
    scalar = theta_plain.ndim == 0
    directions: List[np.ndarray]
    if direction is not None:
        directions = [np.asarray(direction, dtype=float).reshape(theta_plain.shape)]
    elif scalar:
        directions = [np.array(1.0)]
    else:
        directions = [np.eye(theta_plain.size)[i].reshape(theta_plain.shape) for i in range(theta_plain.size)]
    return (float(theta_plain) if scalar else theta_plain), directions, scalar


#: Estimates per batched program: more run as several programs of equal size (on the executor, if one is given).
LANES_PER_BATCH = 4096


def _batched(model: Callable[[Any], Any], theta: Any, inference: Any, direction: Any, seed: SeedLike,
             num_samples: int, executor: Any) -> np.ndarray:
    """``num_samples`` estimates as lanes of batched programs, each on seeds spawned from ``seed``.

    The batches depend on ``num_samples`` only, so the estimates are the
    same in this process and on any executor.
    """
    if isinstance(inference, MeanField):
        raise Unbatchable("MeanField is a baseline of its own, not a population of paths")
    batches = -(-num_samples // LANES_PER_BATCH)
    size = -(-num_samples // batches)
    task = partial(_batch_of_estimates, model, theta, inference, direction, size)
    try:
        parts = run_replicas(task, spawn_seeds(seed, batches), executor, caller="gradinf", label="batch of estimates")
    except ReplicaError as error:
        raise error.__cause__ or error from None  # the batch's own reason (Unbatchable, a model error...)
    return np.concatenate(parts)[:num_samples]


def _batch_of_estimates(model: Callable[[Any], Any], theta: Any, inference: Any, direction: Any, size: int,
                        seed: SeedLike) -> np.ndarray:
    """``size`` estimates as lanes (one batched pass per direction, the same seeds in each)."""
    seed_a, seed_b = _streams(seed)
    theta_a, directions, scalar = _directions(theta, direction)
    out = []
    for d in directions:
        with perturbation() as tag:
            theta_b = Dual(theta_a, d[None, ...] if not scalar else [float(d)], tag=tag)
            out.append(batched_estimates(model, theta_a, theta_b, inference, size,
                                         np.random.default_rng(seed_a), np.random.default_rng(seed_b)))
    if direction is not None or scalar:
        return out[0]
    return np.stack(out, axis=1).reshape((size,) + np.shape(theta))


class GradientEstimates(tuple):  # type: ignore[type-arg]
    """``(mean, standard error)`` of independent GradInf estimates, with the estimates and what ran.

    ``estimates`` holds every estimate (axis 0), ``engine`` is "batched" or
    "per-estimate", and ``reason`` says why the batch did not run (None when
    it did).  It unpacks as the pair.

    >>> r = GradientEstimates(np.array([1.0, 2.0, 3.0]), "per-estimate", "batched=False")
    >>> mean, se = r
    >>> mean, round(se, 4), r.engine, r.reason, r.estimates.shape
    (2.0, 0.5774, 'per-estimate', 'batched=False', (3,))
    """

    estimates: np.ndarray
    engine: str
    reason: Optional[str]

    def __new__(cls, estimates: np.ndarray, engine: str, reason: Optional[str] = None) -> "GradientEstimates":
        mean = estimates.mean(axis=0)
        se = estimates.std(axis=0, ddof=1) / math.sqrt(len(estimates))
        pair = (float(mean), float(se)) if np.ndim(mean) == 0 else (mean, se)
        result = super().__new__(cls, pair)
        result.estimates, result.engine, result.reason = estimates, engine, reason
        return result

    @property
    def mean(self) -> Any:
        """The mean of the estimates."""
        return self[0]

    @property
    def standard_error(self) -> Any:
        """The standard error of that mean."""
        return self[1]


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

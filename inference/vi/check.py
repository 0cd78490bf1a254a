"""``plait.check``: the pre-flight model/guide checker, by re-execution.

:func:`check` runs ``plait.guided(model, guide)`` — so every per-site check
of :mod:`plait.inference.vi.guide_checks` applies — over every path it can
enumerate, depth first, with answer-log prefixes (the multi-shot-by-replay
mechanism of the core):

* a finite discrete proposal is enumerated over its support (an infinite one
  over its first ``discrete_limit`` values, and the result says so);
* every ``plait.branch`` of the model is forced both ways;
* a continuous proposal continues with a representative value (the median of
  seeded draws), and the checker *probes* it: for a few quantiles it re-runs
  the rest of the program, letting branches decide by their own conditions,
  and compares the address structure (addresses, kinds, supports, branch
  names) with a run at the median that takes the same branch decisions.  A
  difference means the structure depends on the continuous value through a
  plain ``if``: the result is **inconclusive**, naming the address, since
  the paths that value opens were not enumerated.  A probe run also runs
  every per-run check, so a guide whose own branch threshold disagrees with
  the model's is refuted there;
* recursion is bounded by ``max_depth`` choice points per path; cut paths
  make a verified result "verified up to depth ``max_depth``"
  (``result.up_to_depth``).

The first failing check refutes, with the path that led there.  The checker
assumes what replay assumes: Python code between effects is deterministic
given the answers.
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Tuple, cast

import attrs
import numpy as np

from ...effects.records import UNSET, Branch, Effect, Sample
from ...errors import (
    DuplicateAddressError,
    ExtraAddressError,
    MissingAddressError,
    SoundnessError,
)
from ...handlers.base import Handler
from .guide_checks import EQUAL, support_of
from .guided import ForcedBranchConflict, guided
from ...handlers.runloop import run

__all__ = ["check", "CheckResult", "Counterexample"]

VERIFIED = "verified"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"

_MISMATCHES = (SoundnessError, MissingAddressError, ExtraAddressError, DuplicateAddressError)
_QUANTILES = (0.005, 0.25, 0.75, 0.995)
_DRAWS = 200


@attrs.frozen
class Counterexample:
    """The path on which model and guide disagree.

    ``choices`` lists the answers along the path, in order: ``(address,
    value)`` for the guide's proposals and ``(("branch", name), decision)``
    for the model's branches.  ``address`` is where the check failed and
    ``error`` the exception the run raised there.

    >>> import plait
    >>> def model():
    ...     yield plait.sample("n", plait.Poisson(3.0))
    >>> def guide():
    ...     yield plait.sample("n", plait.Gamma(3.0, 1.0))
    >>> found = plait.check(model, guide).counterexample
    >>> found.address, type(found.error).__name__
    ('n', 'SupportMismatchError')
    """

    choices: Tuple[Tuple[Any, Any], ...]
    address: Any
    error: BaseException
    #: Branches the path took against their own condition on this path.  The
    #: guide-types protocol asks a guide to follow *every* declared branch
    #: both ways, so such a path still refutes, even though a run at these
    #: very values would not take it.
    forced: Tuple[Any, ...] = ()

    def __str__(self) -> str:
        steps = " -> ".join(f"{a!r}={v!r}" for a, v in self.choices) or "(root)"
        text = f"path {steps}: at {self.address!r}: {type(self.error).__name__}: {self.error}"
        if self.forced:
            names = ", ".join(repr(n) for n in self.forced)
            text += (f" (branch {names} was taken against its condition at these values: a guide must "
                     "follow every plait.branch both ways, whether or not these values reach it)")
        return text


@attrs.frozen
class CheckResult:
    """What :func:`check` found: ``status`` is ``"verified"``, ``"refuted"`` or ``"inconclusive"``.

    ``reason`` explains it in a sentence; ``counterexample`` is set when
    refuted; ``paths`` counts the executions run; ``up_to_depth`` is set when
    a verified result cut recursion at that many choice points (paths deeper
    than that were not explored); ``truncated`` is true when an infinite
    discrete proposal was enumerated only in part.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     if x > 0:  # a plain if: the structure depends on x
    ...         yield plait.sample("y", plait.Normal(0.0, 1.0))
    >>> def guide():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     if x > 0:
    ...         yield plait.sample("y", plait.Normal(0.0, 1.0))
    >>> result = plait.check(model, guide)
    >>> result.inconclusive, "'x'" in result.reason
    (True, True)
    """

    status: str
    reason: str
    paths: int
    counterexample: Optional[Counterexample] = None
    up_to_depth: Optional[int] = None
    truncated: bool = False

    @property
    def verified(self) -> bool:
        """True when every explored path passed and no structure was left unexplored."""
        return self.status == VERIFIED

    @property
    def refuted(self) -> bool:
        """True when a path fails a model/guide check (see ``counterexample``)."""
        return self.status == REFUTED

    @property
    def inconclusive(self) -> bool:
        """True when the checker could not decide (see ``reason``)."""
        return self.status == INCONCLUSIVE


class _Cut(BaseException):
    """A path reached ``max_depth`` choice points."""


class _Refuted(Exception):
    def __init__(self, counterexample: Counterexample) -> None:
        self.counterexample = counterexample


class _Inconclusive(Exception):
    pass


class _Explore(Handler):
    """Answer the guided program's choice points for one path (see the module docstring).

    ``forced`` is None while enumerating (branches go both ways, other
    options are queued); otherwise the run is canonical — first discrete
    value, median continuous value, and each branch taken as ``forced``
    says, or by its own condition when ``forced`` does not name it.
    """

    def __init__(self, explorer: "_Explorer", forced: Optional[dict[Any, Any]], start_depth: int) -> None:
        self.explorer = explorer
        self.forced = forced
        self.start_depth = start_depth

    def begin(self) -> None:
        self.depth = self.start_depth
        # The explorer's runs record their answers (run(..., record=True)).
        self.answers = cast(List[Any], self.run.answers)
        self.explorer.log = self.answers

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.value is UNSET:
            return self.fwd(effect.with_value(self._choose(effect)))
        if type(effect) is Branch:
            return self.fwd(Branch(effect.name, self._decide(effect)))
        return self.fwd(effect)

    def _count(self) -> None:
        self.depth += 1
        if self.depth > self.explorer.max_depth:
            raise _Cut()

    def _decide(self, effect: Branch) -> Optional[bool]:
        self._count()
        if self.forced is not None:
            return self.forced.get(effect.name, effect.condition)
        self.explorer.queue(self.answers, Branch(effect.name, effect.condition), False, self.depth)
        return True

    def _choose(self, effect: Sample) -> Any:
        self._count()
        dist = effect.dist
        support = support_of(dist)
        if support is not None and support.is_discrete:
            values = self.explorer.discrete_values(dist, support)
            if self.forced is None:
                for value in values[1:]:
                    self.explorer.queue(self.answers, effect, value, self.depth)
            return values[0]
        probes, median = self.explorer.continuous_values(dist, len(self.answers))
        if self.forced is None:
            self.explorer.probe(self.answers, effect, probes, median, self.depth)
        return median


class _Explorer:
    """The depth-first search over paths, and the probes of continuous values."""

    def __init__(self, program: Callable[..., Any], args: tuple[Any, ...], max_depth: int, max_paths: int,
                 discrete_limit: int, seed: int) -> None:
        self.program = program
        self.args = args
        self.max_depth = max_depth
        self.max_paths = max_paths
        self.discrete_limit = discrete_limit
        self.seed = seed
        self.paths = 0
        self.cut = False
        self.truncated = False
        self.log: list[Any] = []
        self.pending: List[tuple[Any, ...]] = []
        self.probes: List[tuple[Any, ...]] = []

    # -- choice values ----------------------------------------------------------------
    def discrete_values(self, dist: Any, support: Any) -> list[Any]:
        if getattr(dist, "has_enumerate_support", False) and not getattr(dist, "batch_shape", ()):
            values = list(dist.enumerate_support())
        else:
            low: Any = getattr(support, "low", None)
            high: Any = getattr(support, "high", None)
            if low is None or np.ndim(low) or np.ndim(high):
                values = [dist.sample(np.random.default_rng(self.seed))]
            elif high == math.inf:
                self.truncated = True
                values = list(range(int(low), int(low) + self.discrete_limit))
            else:
                values = list(range(int(low), int(high) + 1))
        kept = [v for v in values if np.all(np.asarray(dist.log_prob(v)) > -math.inf)]
        return kept or values[:1]

    def continuous_values(self, dist: Any, position: int) -> Tuple[list[Any], Any]:
        rng = np.random.default_rng([self.seed, position])
        draws = np.asarray(dist.sample(rng, (_DRAWS,)), dtype=float)
        if draws.ndim == 1:
            median = float(np.median(draws))
            return [float(q) for q in np.quantile(draws, _QUANTILES)], median
        return [draws[i] for i in range(1, 1 + len(_QUANTILES))], draws[0]

    # -- the search -----------------------------------------------------------------
    def queue(self, log: list[Any], effect: Any, value: Any, depth: int) -> None:
        self.pending.append((log[:-1] + [(effect, value)], depth))

    def probe(self, log: list[Any], effect: Any, probes: list[Any], median: Any, depth: int) -> None:
        self.probes.append((log[:-1], effect, probes, median, depth))

    def execute(self, prefix: list[Any], forced: Optional[dict[Any, Any]], depth: int) -> Optional[list[Any]]:
        """Run one path; its answer log, or None when cut or infeasible."""
        self.paths += 1
        if self.paths > self.max_paths:
            raise _Inconclusive(
                f"the path budget max_paths={self.max_paths} ran out before every path was explored"
            )
        self.log = []
        try:
            result = run(self.program, *self.args, handlers=(_Explore(self, forced, depth),),
                         record=True, prefix=prefix)
        except _Cut:
            self.cut = True
            return None
        except ForcedBranchConflict:
            return None  # the guide computed this branch itself: the path does not exist for it
        except _MISMATCHES as err:
            raise _Refuted(Counterexample(_choices(self.log), getattr(err, "address", None), err,
                                          _against_condition(self.log))) from None
        except Exception as err:
            raise _Inconclusive(
                f"the program raised {type(err).__name__} on path {_choices(self.log)!r}: {err}"
            ) from None
        return result.answers

    def search(self) -> None:
        self.pending.append(([], 0))
        while self.pending or self.probes:
            if self.pending:
                prefix, depth = self.pending.pop()
                self.execute(prefix, None, depth)
            else:
                self._run_probe(*self.probes.pop())

    def _run_probe(self, before: list[Any], effect: Sample, probes: list[Any], median: Any, depth: int) -> None:
        for value in probes:
            probed = self.execute(before + [(effect, value)], {}, depth)
            if probed is None:
                continue
            decisions = {e.name: a for e, a in probed if type(e) is Branch}
            reference = self.execute(before + [(effect, median)], decisions, depth)
            if reference is None:
                continue
            if _signature(probed) != _signature(reference):
                raise _Inconclusive(
                    f"undeclared data-dependent structure at {effect.name!r}: with the value {value!r} "
                    f"the program visits {_structure(probed, len(before))}, with {median!r} it visits "
                    f"{_structure(reference, len(before))}; the paths this continuous value opens were "
                    "not enumerated (declare the decision with plait.branch(name, condition))"
                )


def _choices(log: list[Any]) -> tuple[Any, ...]:
    out = []
    for effect, answer in log:
        if type(effect) is Sample:
            out.append((effect.name, answer))
        elif type(effect) is Branch:
            out.append((("branch", effect.name), answer))
    return tuple(out)


def _against_condition(log: list[Any]) -> tuple[Any, ...]:
    return tuple(effect.name for effect, answer in log
                 if type(effect) is Branch and effect.condition is not None and bool(effect.condition) != answer)


def _signature(log: list[Any]) -> tuple[Any, ...]:
    sig = []
    for effect, _ in log:
        dist = getattr(effect, "dist", None)
        sig.append((type(effect).__name__, effect.name, None if dist is None else support_of(dist)))
    return tuple(sig)


def _structure(log: list[Any], start: int) -> str:
    return "[" + ", ".join(f"{type(e).__name__.lower()} {e.name!r}" for e, _ in log[start:]) + "]"


def check(
    model: Callable[..., Any],
    guide: Callable[..., Any],
    *args: Any,
    max_depth: int = 20,
    max_paths: int = 10_000,
    discrete_limit: int = 20,
    seed: int = 0,
    relation: str = EQUAL,
) -> CheckResult:
    """Check before running inference that ``guide`` matches ``model`` on every path it can enumerate.

    Explores ``plait.guided(model, guide)`` over every finite discrete
    proposal and both outcomes of every ``plait.branch``, up to ``max_depth``
    choice points per path and ``max_paths`` executions, and probes
    continuous proposals for structure that depends on their values (module
    docstring).  Returns a :class:`CheckResult`: ``verified`` (every path
    passed every check; ``up_to_depth`` says if recursion was cut),
    ``refuted`` (with a :class:`Counterexample`) or ``inconclusive`` (with
    ``reason``).  It never reports verified when the address structure
    depends on a continuous value through a plain ``if``.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Gamma(2.0, 1.0))
    ...     if (yield plait.branch("big", x > 2)):
    ...         yield plait.sample("y", plait.Beta(3.0, 1.0))
    >>> def guide():
    ...     yield plait.sample("x", plait.Gamma(1.0, 1.0))
    ...     if (yield plait.branch("big")):
    ...         yield plait.sample("y", plait.Uniform(0.0, 1.0))
    >>> plait.check(model, guide).status
    'verified'
    >>> def opposite():
    ...     yield plait.sample("x", plait.Gamma(1.0, 1.0))
    ...     if not (yield plait.branch("big")):
    ...         yield plait.sample("y", plait.Uniform(0.0, 1.0))
    >>> result = plait.check(model, opposite)
    >>> result.status, result.counterexample.address
    ('refuted', 'y')
    """
    explorer = _Explorer(guided(model, guide, relation=relation), args, max_depth, max_paths,
                         discrete_limit, seed)
    try:
        explorer.search()
    except _Refuted as refuted:
        found = refuted.counterexample
        return CheckResult(REFUTED, f"{found}", explorer.paths, counterexample=found)
    except _Inconclusive as why:
        return CheckResult(INCONCLUSIVE, str(why), explorer.paths, truncated=explorer.truncated)
    notes = []
    if explorer.cut:
        notes.append(f"paths deeper than {max_depth} choice points were not explored")
    if explorer.truncated:
        notes.append(f"infinite discrete proposals were enumerated over their first {discrete_limit} values")
    reason = f"every one of {explorer.paths} explored paths passed the model/guide checks"
    if notes:
        reason += " (" + "; ".join(notes) + ")"
    return CheckResult(
        VERIFIED, reason, explorer.paths,
        up_to_depth=max_depth if explorer.cut else None, truncated=explorer.truncated,
    )

"""Exact inference: enumerate every discrete choice; merge loop states by variable elimination.

Statistical contract: :func:`exact` returns the exact (unnormalised) measure
over the program's return values, up to the mass that an explicit
``support_limit`` leaves out, which the result reports as ``truncated_mass``.

How it runs.  The program is executed depth first.  At a finite discrete
``sample`` the run continues live with the first support value, and every
other value becomes a pending branch: the answer log up to that site plus
the alternative answer, with the path's log weight at that point.  A pending
branch re-runs the program with that log as a positional prefix (see
:mod:`plait.handlers.runloop`): the prefix is answered without any handler
work, so a sibling pays only for re-executing Python code up to the branch,
not for weighting it again.  ``observe`` and ``factor`` multiply the path
weight; a path whose weight reaches zero is abandoned at once.

Loops (:func:`plait.iterate`, :func:`plait.fold`) are not unrolled into
paths.  The enumerator interprets them: it keeps a table state → log weight,
and for each step enumerates the kernel once per distinct state, under the
same handlers the loop record passed through (a condition or scope around
the model applies inside the loop too), summing the weights of paths that
reach the same next state.  That is the forward algorithm / variable
elimination: an HMM costs O(steps × states) kernel runs instead of
O(states^steps) paths.  The loop then answers with each final state as a
branch.

Weights are unnormalised log weights combined with ``+`` and
``numpy.logaddexp``, never cast to float, so parameters that are dual numbers
give exact derivatives.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Hashable, List, Mapping, Optional, Tuple, Union

import numpy as np

from ...effects.records import UNSET, Effect, Factor, Loop, Observe, Sample
from ...errors import BudgetExceededError, ExactEnumerationError
from ...gradients.dual import stop_gradient
from ...handlers.base import Handler
from ...handlers.scope import LoopStep
from .measure import Measure, log_add, log_sum
from ...handlers.runloop import run

__all__ = ["exact"]

SupportLimit = Union[None, int, Mapping[Hashable, int]]


class _Abandon(BaseException):
    """Stop a path whose weight is zero.  A BaseException, so models cannot catch it."""


class _Budget:
    """Limits shared by one :func:`exact` call and every loop kernel it enumerates."""

    __slots__ = ("max_paths", "max_depth", "paths", "support_limit")

    def __init__(self, max_paths: int, max_depth: int, support_limit: SupportLimit) -> None:
        self.max_paths = max_paths
        self.max_depth = max_depth
        self.paths = 0
        self.support_limit = support_limit

    def count_path(self) -> None:
        self.paths += 1
        if self.paths > self.max_paths:
            raise BudgetExceededError(
                f"exact enumeration exceeded max_paths={self.max_paths}; the program has more "
                "paths than that (raise max_paths, or merge states with plait.iterate/fold)"
            )

    def limit_for(self, address: Hashable) -> Optional[int]:
        limit = self.support_limit
        if isinstance(limit, Mapping):
            return limit.get(address)
        return limit


class _Path:
    """One path being enumerated: its log weight, depth, and where its branches go."""

    __slots__ = ("log_weight", "depth", "pending", "truncated")

    def __init__(self, log_weight: Any, depth: int, pending: list[Any]) -> None:
        self.log_weight = log_weight
        self.depth = depth
        self.pending = pending
        self.truncated: Any = -math.inf


class _Enumerate(Handler):
    """Weight one path, and turn every discrete choice into branches (see the module docstring)."""

    interprets_loops = True

    def __init__(self, budget: _Budget, path: _Path, inner: tuple[Any, ...]) -> None:
        self.budget = budget
        self.path = path
        #: The run's handlers inside this one (a loop step's scope and the
        #: handlers around the loop it belongs to), as configurations.
        self.inner = inner

    def handle(self, effect: Effect) -> Any:
        path = self.path
        if type(effect) is Sample:
            if effect.value is not UNSET:
                self._weigh(effect.dist.log_prob(effect.value))
                return self.fwd(effect)
            options = self._sample_options(effect)
            value = self._branch(effect, options)
            return self.fwd(effect.with_value(value))
        if type(effect) is Observe:
            self._weigh(effect.dist.log_prob(effect.value))
        elif type(effect) is Factor:
            self._weigh(effect.log_weight)
        elif type(effect) is Loop:
            # The kernel's sites must meet every handler the loop record met on
            # its way here (a condition or scale around the model, a scope).
            around = self.run.inner_handlers() + self.inner
            finals, truncated = _eliminate(effect, self.budget, around)
            path.truncated = log_add(path.truncated, path.log_weight + truncated)
            return self._branch(effect, finals)
        return self.fwd(effect)

    def _weigh(self, log_weight: Any) -> None:
        if getattr(log_weight, "ndim", 0):  # a batched observation: one weight for the site
            log_weight = log_weight.sum()
        weight = self.path.log_weight + log_weight
        if weight == -math.inf:
            raise _Abandon()
        self.path.log_weight = weight

    def _branch(self, effect: Any, options: List[Tuple[Any, Any]]) -> Any:
        """Continue with the first option; queue the others as replayable prefixes."""
        path = self.path
        if path.depth >= self.budget.max_depth:
            raise BudgetExceededError(
                f"exact enumeration exceeded max_depth={self.budget.max_depth} choices on one "
                f"path, at {effect.name!r}; the program may recurse without bound "
                "(raise max_depth if it is just deep)"
            )
        if not options:
            raise _Abandon()
        log = self.run.answers
        assert log is not None  # exact() always records
        # The last entry is the effect being answered, as the answer log sees it
        # (before any scope renamed it): the form a replayed prefix must match.
        before, recorded = log[:-1], log[-1][0]
        for value, log_weight in reversed(options[1:]):
            path.pending.append(
                (before + [(recorded, value)], path.log_weight + log_weight, path.depth + 1)
            )
        value, log_weight = options[0]
        path.depth += 1
        path.log_weight = path.log_weight + log_weight
        return value

    def _sample_options(self, effect: Sample) -> List[Tuple[Any, Any]]:
        dist = effect.dist
        name = effect.name
        if getattr(dist, "batch_shape", ()):
            raise ExactEnumerationError(
                f"site {name!r} ~ {dist!r} has batch shape {dist.batch_shape}; exact enumeration "
                "needs one scalar discrete choice per site (use a loop over addresses)"
            )
        if getattr(dist, "has_enumerate_support", False):
            values = dist.enumerate_support()
        elif getattr(dist, "is_discrete", False):
            support: Any = dist.support  # an IntRange when it has a finite high end
            high = getattr(support, "high", math.inf)
            if high != math.inf:  # degenerate parameters (Poisson(0)) give a finite support
                values = list(range(int(support.low), int(high) + 1))
            else:
                values = self._truncated_support(effect)
        else:
            raise ExactEnumerationError(
                f"site {name!r} ~ {dist!r} is continuous (support {dist.support!r}); exact "
                "enumeration needs finite discrete choices (Bernoulli, Categorical, Binomial, "
                "DiscreteUniform, a Measure), or a support_limit for infinite discrete ones"
            )
        options = []
        for value in values:
            log_weight = dist.log_prob(value)
            if log_weight != -math.inf:
                options.append((value, log_weight))
        return options

    def _truncated_support(self, effect: Sample) -> list[Any]:
        dist = effect.dist
        limit = self.budget.limit_for(effect.name)
        if limit is None:
            raise ExactEnumerationError(
                f"site {effect.name!r} ~ {dist!r} has infinite support {dist.support!r}; pass "
                "support_limit= (an int, or a dict by address) to enumerate values up to a bound"
            )
        low = getattr(dist.support, "low", 0)
        values = list(range(int(low), int(limit) + 1))
        kept = log_sum(dist.log_prob(v) for v in values)
        path = self.path
        path.truncated = log_add(path.truncated, path.log_weight + _tail_log_mass(dist, limit, kept))
        return values


def _tail_log_mass(dist: Any, limit: int, kept: Any) -> Any:
    """Log of the probability beyond ``limit``, accurate even when it is far below 1e-16.

    Generic in the weights, so dual-number parameters give the tail's derivative too.
    """
    plain_kept = float(stop_gradient(kept))
    if plain_kept < math.log(0.5):  # most mass is cut off: 1 - kept is accurate
        return _log1m_exp(kept) if plain_kept < 0.0 else -math.inf
    # The tail is small: 1 - kept would be rounding noise, so sum it term by term
    # until the terms decrease and fall below e^-40 of the running total.
    total: Any = -math.inf
    previous, value = math.inf, int(limit) + 1
    for _ in range(100_000):
        term = dist.log_prob(value)
        total = log_add(total, term)
        plain_term = float(stop_gradient(term))
        if plain_term < previous and plain_term < float(stop_gradient(total)) - 40.0:
            return total
        previous, value = plain_term, value + 1
    return _log1m_exp(kept) if plain_kept < 0.0 else total


def _log1m_exp(x: Any) -> Any:
    """``log(1 - exp(x))`` for ``x < 0``."""
    if type(x) is float:
        return math.log1p(-math.exp(x))
    return np.log1p(-np.exp(x))


def _enumerate(
    model: Callable[..., Any], args: tuple[Any, ...], budget: _Budget, inner: tuple[Any, ...] = ()
) -> Tuple[List[Tuple[Any, Any]], Any]:
    """All ``(return value, log weight)`` pairs of ``model(*args)``, and the truncated log mass.

    ``inner`` handlers (innermost first) sit between the program and the
    enumerator, which therefore sees the final addresses.
    """
    results: List[Tuple[Any, Any]] = []
    truncated: Any = -math.inf
    pending: list[Any] = [([], 0.0, 0)]
    while pending:
        prefix, log_weight, depth = pending.pop()
        budget.count_path()
        path = _Path(log_weight, depth, pending)
        try:
            value = run(
                model,
                *args,
                handlers=(*inner, _Enumerate(budget, path, inner)),
                record=True,
                prefix=prefix,
            ).value
        except _Abandon:
            value = _Abandon
        except RecursionError:
            raise BudgetExceededError(
                f"exact enumeration hit Python's recursion limit {path.depth} choices deep "
                "(before max_depth): the program seems to recurse without bound; lower "
                "max_depth to stop it earlier with this error"
            ) from None
        truncated = log_add(truncated, path.truncated)
        if value is not _Abandon:
            results.append((value, path.log_weight))
    return results, truncated


def _eliminate(loop: Loop, budget: _Budget, around: tuple[Any, ...]) -> Tuple[List[Tuple[Any, Any]], Any]:
    """Forward algorithm over a loop: the final states with their log weights.

    Each step enumerates the kernel once per distinct state, under a
    ``LoopStep`` scope and the ``around`` handlers; there is no memo across
    steps, because handlers may treat the sites of each step differently.
    """
    _require_hashable(loop, loop.init, "its initial state")
    table: dict[Any, Any] = {loop.init: 0.0}
    truncated: Any = -math.inf
    for step in range(loop.steps):
        inner = (LoopStep(loop.name, step), *around)
        args_tail = () if loop.xs is None else (loop.xs[step],)
        following: dict[Any, Any] = {}
        for state, log_weight in table.items():
            pairs, kernel_truncated = _enumerate(loop.kernel, (state, *args_tail), budget, inner)
            truncated = log_add(truncated, log_weight + kernel_truncated)
            for next_state, kernel_weight in pairs:
                _require_hashable(loop, next_state, f"the state after step {step}")
                total = log_weight + kernel_weight
                previous = following.get(next_state)
                following[next_state] = total if previous is None else log_add(previous, total)
        table = following
    return list(table.items()), truncated


def _require_hashable(loop: Loop, state: Any, what: str) -> None:
    try:
        hash(state)
    except TypeError:
        raise ExactEnumerationError(
            f"loop {loop.name!r}: {what}, {state!r}, is not hashable; exact inference merges "
            "paths with equal loop states, so the state must be hashable: use a tuple or an int"
        ) from None


def exact(
    model: Callable[..., Any],
    *args: Any,
    support_limit: SupportLimit = None,
    max_paths: int = 10_000_000,
    max_depth: int = 100_000,
) -> Measure:
    """The exact measure over the return values of ``model(*args)``.

    Every random choice must be finite discrete (Bernoulli, Categorical,
    Binomial, DiscreteUniform, a Measure); infinite discrete ones (Poisson,
    Geometric) are enumerated up to ``support_limit`` (an int, or a dict by
    address), and the prior mass left out is reported as
    ``truncated_mass``.  ``observe`` and ``factor`` weight paths (observing a
    continuous distribution is fine).  ``iterate``/``fold`` loops merge equal
    states after every step.  ``max_paths`` bounds the number of executions
    and ``max_depth`` the choices on one path, so unbounded recursion fails
    with :class:`~plait.errors.BudgetExceededError` instead of hanging.

    >>> import plait
    >>> def model():
    ...     rain = yield plait.sample("rain", plait.Bernoulli(0.2))
    ...     sprinkler = yield plait.sample("sprinkler", plait.Bernoulli(0.1 if rain else 0.4))
    ...     wet = 0.99 if rain and sprinkler else 0.9 if rain or sprinkler else 0.01
    ...     yield plait.observe("wet", plait.Bernoulli(wet), 1)
    ...     return rain
    >>> m = plait.exact(model)
    >>> round(m.prob(lambda rain: rain == 1), 4)
    0.3831
    """
    if max_paths < 1 or max_depth < 1:
        raise ValueError(f"max_paths and max_depth must be >= 1, got {max_paths}, {max_depth}")
    budget = _Budget(max_paths, max_depth, support_limit)
    pairs, truncated = _enumerate(model, args, budget)
    truncated_mass = math.exp(truncated) if type(truncated) is float else np.exp(truncated)
    return Measure.from_pairs(pairs, truncated_mass=truncated_mass)

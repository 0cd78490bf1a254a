"""Measure: a finite weighted set of values, the result of exact inference.

A Measure is also a plait distribution, so an exactly computed sub-model can
be used as a primitive: ``x = yield plait.sample("x", measure)``.

Weights are kept as unnormalised log weights and combined with numpy
ufuncs (``np.logaddexp``, ``np.exp``), never cast to float, so that weights
carrying dual numbers (exact derivatives) flow through unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Hashable, Iterable, List, Sequence, Tuple

import numpy as np

from ...effects.distributions import Distribution
from ...effects.distributions.supports import FiniteSet, Support
from ...errors import ZeroMassError
from ...gradients.dual import stop_gradient

__all__ = ["Measure", "Atoms", "log_add", "log_sum"]


def log_add(a: Any, b: Any) -> Any:
    """``log(exp(a) + exp(b))`` for floats or any type numpy's ``logaddexp`` accepts.

    >>> round(log_add(0.0, 0.0), 6)
    0.693147
    >>> log_add(float("-inf"), -1.0)
    -1.0
    """
    if type(a) is float and type(b) is float:
        if a < b:
            a, b = b, a
        if b == -math.inf:
            return a
        return a + math.log1p(math.exp(b - a))
    return np.logaddexp(a, b)


def log_sum(log_weights: Iterable[Any]) -> Any:
    """``log(sum(exp(w)))`` over an iterable; ``-inf`` when empty.

    >>> round(log_sum([0.0, 0.0, 0.0]), 6)
    1.098612
    """
    total: Any = -math.inf
    for w in log_weights:
        total = log_add(total, w)
    return total


class Atoms(Support):
    """The support of a measure over arbitrary hashable values (counting measure).

    >>> Atoms([("a", 1), ("b", 2)]).contains(("a", 1))
    True
    """

    __slots__ = ("values",)
    is_discrete = True
    values: frozenset[Any]

    def __init__(self, values: Iterable[Hashable]) -> None:
        object.__setattr__(self, "values", frozenset(values))

    def _key(self) -> tuple[Any, ...]:
        return (self.values,)

    def contains(self, x: Any) -> bool:
        try:
            return x in self.values
        except TypeError:
            return False

    def _describe(self) -> str:
        return f"Atoms({len(self.values)} values) [discrete]"

    def __repr__(self) -> str:
        return self._describe()


class Measure(Distribution):
    """A finite measure: distinct values with unnormalised log weights.

    ``log_evidence`` is the log of the total mass (``-inf`` when every path
    was conditioned away); ``probs`` are the normalised probabilities;
    ``truncated_mass`` is the prior mass that a support truncation left out.
    Normalising a zero-mass measure raises :class:`~plait.errors.ZeroMassError`.

    >>> import plait
    >>> def two_coins():
    ...     a = yield plait.sample("a", plait.Bernoulli(0.5))
    ...     b = yield plait.sample("b", plait.Bernoulli(0.5))
    ...     return a + b
    >>> m = plait.exact(two_coins)
    >>> m.values, [round(p, 12) for p in m.probs], round(m.mean, 12)
    ([0, 1, 2], [0.25, 0.5, 0.25], 1.0)
    """

    __slots__ = ("values", "log_weights", "truncated_mass", "_index", "_log_evidence")
    is_discrete = True
    has_enumerate_support = True

    def __init__(
        self,
        values: Sequence[Any],
        log_weights: Sequence[Any],
        truncated_mass: float = 0.0,
    ) -> None:
        self.batch_shape = ()
        self.values: List[Any] = list(values)
        self.log_weights: List[Any] = list(log_weights)
        self.truncated_mass = truncated_mass
        self._log_evidence = log_sum(self.log_weights)
        index = {}
        for position, value in enumerate(self.values):
            try:
                index[value] = position
            except TypeError:  # unhashable atoms are found by equality instead
                pass
        self._index = index

    @classmethod
    def from_pairs(cls, pairs: Iterable[Tuple[Any, Any]], truncated_mass: float = 0.0) -> "Measure":
        """Build a measure from ``(value, log_weight)`` pairs, merging equal values.

        >>> [round(p, 6) for p in Measure.from_pairs([(1, 0.0), (1, 0.0), (2, 0.0)]).probs]
        [0.666667, 0.333333]
        """
        merged: dict[Any, Any] = {}
        atoms: list[Any] = []  # unhashable values, merged by equality (rare, so a linear scan)
        for value, log_weight in pairs:
            try:
                previous = merged.get(value)
            except TypeError:
                for position, (atom, atom_weight) in enumerate(atoms):
                    if _equal(atom, value):
                        atoms[position] = (atom, log_add(atom_weight, log_weight))
                        break
                else:
                    atoms.append((value, log_weight))
                continue
            merged[value] = log_weight if previous is None else log_add(previous, log_weight)
        items = list(merged.items()) + atoms
        return cls([v for v, _ in items], [w for _, w in items], truncated_mass)

    # -- the measure -------------------------------------------------------------------
    @property
    def log_evidence(self) -> Any:
        """Log of the total mass; ``-inf`` when all mass is conditioned away."""
        return self._log_evidence

    def _normalised_log_weights(self) -> List[Any]:
        log_z = self._log_evidence
        if log_z == -math.inf:
            raise ZeroMassError(
                "the measure has zero total mass: the observations are impossible under the "
                "model (every path was conditioned away), so it cannot be normalised"
            )
        return [w - log_z for w in self.log_weights]

    @property
    def probs(self) -> List[Any]:
        """Normalised probabilities, in the order of ``values``."""
        return [_exp(w) for w in self._normalised_log_weights()]

    def expectation(self, f: Callable[[Any], Any] = lambda x: x) -> Any:
        """``E[f(X)]`` under the normalised measure.

        >>> round(Measure([1, 3], [0.0, 0.0]).expectation(lambda x: x * x), 12)
        5.0
        """
        total: Any = 0.0
        for value, p in zip(self.values, self.probs):
            total = total + p * f(value)
        return total

    def prob(self, predicate: Callable[[Any], bool]) -> Any:
        """``P(predicate(X))`` under the normalised measure.

        >>> round(Measure([1, 2, 3], [0.0, 0.0, 0.0]).prob(lambda x: x > 1), 6)
        0.666667
        """
        total: Any = 0.0
        for value, p in zip(self.values, self.probs):
            if predicate(value):
                total = total + p
        return total

    # -- the distribution interface -----------------------------------------------------
    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draw values with the normalised probabilities (scalars for ``shape=()``).

        >>> import numpy as np
        >>> Measure(["a"], [0.0]).sample(np.random.default_rng(0))
        'a'
        """
        probs = np.array([float(_primal(p)) for p in self.probs])
        probs = probs / probs.sum()
        if shape == ():
            return self.values[int(rng.choice(len(self.values), p=probs))]
        picks = rng.choice(len(self.values), size=shape, p=probs)
        if all(isinstance(v, (bool, int, float)) for v in self.values):
            return np.asarray(self.values)[picks]  # int64, float64 or bool, like other families
        out = np.empty(picks.shape, dtype=object)
        for position, pick in np.ndenumerate(picks):
            out[position] = self.values[pick]
        return out

    def log_prob(self, x: Any) -> Any:
        """Normalised log probability of ``x`` (``-inf`` off the support).

        >>> round(Measure([0, 1], [0.0, 0.0]).log_prob(1), 6)
        -0.693147
        """
        position = self._position(x)
        if position is None:
            return -math.inf
        return self.log_weights[position] - self._log_evidence

    def _position(self, x: Any) -> Any:
        try:
            position = self._index.get(x)
        except TypeError:
            position = None
        if position is not None:
            return position
        for position, value in enumerate(self.values):
            if position not in self._index.values() and _equal(value, x):
                return position
        return None

    def enumerate_support(self) -> list[Any]:
        """The values with positive mass.

        >>> Measure([2, 5], [0.0, float("-inf")]).enumerate_support()
        [2]
        """
        return [v for v, w in zip(self.values, self.log_weights) if w != -math.inf]

    @property
    def support(self) -> Support:
        """The set of values with positive mass (``FiniteSet`` for numbers, else ``Atoms``)."""
        values = self.enumerate_support()
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            numbers: Support = FiniteSet(values)  # (FiniteSet() may return an IntRange)
            return numbers
        return Atoms(values)

    @property
    def mean(self) -> Any:
        """``E[X]`` (numeric values only)."""
        return self.expectation()

    @property
    def variance(self) -> Any:
        """``E[(X - E[X])^2]`` (numeric values only)."""
        mean = self.mean
        return self.expectation(lambda x: (x - mean) * (x - mean))

    # -- presentation ---------------------------------------------------------------------
    def __repr__(self) -> str:
        if self._log_evidence == -math.inf:
            return f"Measure(zero mass, {len(self.values)} values)"
        shown = ", ".join(
            f"{v!r}: {float(_primal(p)):.4g}" for v, p in list(zip(self.values, self.probs))[:6]
        )
        more = ", ..." if len(self.values) > 6 else ""
        return (
            f"Measure({{{shown}{more}}}, log_evidence={float(_primal(self._log_evidence)):.6g})"
        )

    def summary(self, limit: int = 20) -> str:
        """A table of the most probable values, the evidence and the truncated mass.

        >>> print(Measure([0, 1], [0.0, 0.0]).summary())
        value  probability
        0      0.5
        1      0.5
        log_evidence 0.693147, truncated mass 0
        """
        lines = ["value  probability"]
        if self._log_evidence != -math.inf:
            rows = sorted(
                zip(self.values, self.probs), key=lambda vp: -float(_primal(vp[1]))
            )
            for value, p in rows[:limit]:
                lines.append(f"{value!r:<6} {float(_primal(p)):.6g}")
            if len(rows) > limit:
                lines.append(f"... {len(rows) - limit} more values")
        lines.append(
            f"log_evidence {float(_primal(self._log_evidence)):.6g}, "
            f"truncated mass {float(_primal(self.truncated_mass)):.6g}"
        )
        return "\n".join(lines)


def _equal(a: Any, b: Any) -> bool:
    """Equality for atoms that may be lists or arrays."""
    try:
        return type(a) is type(b) and bool(np.all(np.asarray(a == b)))
    except (TypeError, ValueError):
        return False


def _exp(w: Any) -> Any:
    return math.exp(w) if type(w) is float else np.exp(w)


def _primal(x: Any) -> Any:
    """The plain number inside ``x``, unwrapping nested dual numbers."""
    return stop_gradient(x)

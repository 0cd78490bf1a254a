"""Support objects: the set of values a distribution gives positive density.

Supports are canonical, hashable and immutable, and compare structurally, so
``Interval(0, inf) == positive`` and they can be dictionary keys in trace types.
Each one knows whether its base measure is counting (``is_discrete``) or
Lebesgue, and its ``event_dim`` (0 for scalars, 1 for vectors and simplices).

Canonical forms:

* a contiguous set of integers is always an :class:`IntRange` (a single point
  ``v`` is ``IntRange(v, v)``); :class:`FiniteSet` only ever holds a
  non-contiguous set, because ``FiniteSet`` itself returns an ``IntRange`` when
  given a contiguous one;
* interval endpoints are floats, and their closedness is ignored (a null set);
  ``contains`` treats both endpoints as included and excludes infinities;
* a batched support (one per element of a batch of parameters) stores its
  bounds as nested tuples; bounds that agree across the batch collapse to a
  scalar, so a batch whose elements all share one support *is* that support.

>>> from plait.effects.distributions.supports import Interval, positive
>>> Interval(0, float("inf")) == positive
True
>>> positive
PositiveReal (0, inf) [continuous]
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ...gradients.dual import Dual, stop_gradient

__all__ = [
    "Support",
    "Real",
    "Interval",
    "IntRange",
    "FiniteSet",
    "Simplex",
    "RealVector",
    "OrderedVector",
    "ZeroSumVector",
    "CorrCholeskyFactor",
    "CountVector",
    "real",
    "positive",
    "unit_interval",
    "boolean",
    "nonnegative_integer",
    "simplex",
    "real_vector",
    "ordered_vector",
    "sum_to_zero",
    "corr_cholesky",
]

_INF = math.inf
# Per-coordinate tolerance on a simplex's sum: a k-vector may miss 1 by k * this.
SIMPLEX_ATOL = 1e-8


def _fmt(v: Any) -> str:
    """Format a bound briefly: integral floats without '.0', tuples as lists."""
    if isinstance(v, tuple):
        return "[" + ", ".join(_fmt(e) for e in v) + "]"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def float_array(x: Any) -> np.ndarray:
    """``x`` as a float array; ints beyond the float range become +-inf."""
    try:
        return np.asarray(x, dtype=float)
    except OverflowError:
        return np.asarray(_to_float(np.asarray(x, dtype=object)), dtype=float)


def _big_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return _INF if v > 0 else -_INF


_to_float = np.frompyfunc(_big_float, 1, 1)


def _as_values(x: Any) -> np.ndarray | None:
    """``x`` as a float array, or None if it is not numeric at all.

    A dual number is judged by its plain value: membership has no derivative,
    and a reparameterised draw (a Dual) lies where its primal lies.
    """
    if isinstance(x, Dual):
        x = stop_gradient(x)
    try:
        return float_array(x)
    except (TypeError, ValueError):
        return None


def _result(mask: Any) -> Any:
    """Python bool for a 0-d mask, the array otherwise."""
    mask = np.asarray(mask)
    return bool(mask) if mask.ndim == 0 else mask


def _bound(v: Any, integer: bool) -> Any:
    """Canonicalise a bound: a float/int scalar, or nested tuples for arrays.

    Arrays whose elements are all equal collapse to that scalar, which is what
    makes a batch of identical supports equal to the scalar support.
    """
    a = np.asarray(v, dtype=float)
    if a.ndim == 0 or (a.size > 0 and np.all(a == a.flat[0])):
        x = float(a.flat[0]) if a.size else float(a)
        if math.isnan(x):
            raise ValueError(f"support bound must not be NaN, got {v!r}")
        if integer and math.isfinite(x):
            if not x.is_integer():
                raise ValueError(f"integer support bound must be integral, got {v!r}")
            return int(x)
        return x
    if np.isnan(a).any():
        raise ValueError(f"support bound must not be NaN, got {v!r}")
    if integer and not np.all((a == np.floor(a)) | np.isinf(a)):
        raise ValueError(f"integer support bound must be integral, got {v!r}")

    def conv(e: Any) -> Any:
        if isinstance(e, list):
            return tuple(conv(i) for i in e)
        return int(e) if integer and math.isfinite(e) else float(e)

    return conv(a.tolist())


class Support:
    """Base class of supports: structural equality, hashing and immutability.

    Subclasses define ``_key()`` (the structural identity), ``contains`` and
    ``_describe()``.

    >>> from plait.effects.distributions.supports import Support, real
    >>> isinstance(real, Support)
    True
    """

    __slots__ = ()
    is_discrete: bool = False
    event_dim: int = 0

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def contains(self, x: Any) -> Any:  # pragma: no cover - abstract
        """Vectorized membership test (a Python bool for scalar ``x``)."""
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """Short name, e.g. ``'PositiveReal'`` or ``'IntRange(0, 5)'``."""
        return self._describe().split(" ")[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Support):
            return NotImplemented
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._key())

    def __repr__(self) -> str:
        kind = "discrete" if self.is_discrete else "continuous"
        return f"{self._describe()} [{kind}]"


class Real(Support):
    """The whole real line (Lebesgue measure); contains every finite float.

    >>> from plait.effects.distributions.supports import Real
    >>> Real() == Real(), Real().contains(3.5), Real().contains(float("inf"))
    (True, True, False)
    """

    __slots__ = ()

    def _key(self) -> tuple[Any, ...]:
        return ()

    def contains(self, x: Any) -> Any:
        """True where ``x`` is a finite real."""
        a = _as_values(x)
        if a is None:
            return False
        return _result(np.isfinite(a))

    def _describe(self) -> str:
        return "Real (-inf, inf)"


class Interval(Support):
    """A real interval ``(low, high)``; endpoints may be infinite or arrays.

    Closedness of the endpoints is ignored for comparison; ``contains``
    includes finite endpoints.

    >>> from plait.effects.distributions.supports import Interval, unit_interval
    >>> Interval(0, 1) == unit_interval
    True
    >>> Interval(2, 3).contains([1.0, 2.5, 3.0])
    array([False,  True,  True])
    >>> Interval(2, 3)
    Interval(2, 3) [continuous]
    """

    __slots__ = ("low", "high")
    low: Any
    high: Any

    def __init__(self, low: Any, high: Any) -> None:
        lo, hi = _bound(low, False), _bound(high, False)
        if np.any(np.asarray(lo) >= np.asarray(hi)):
            raise ValueError(f"Interval needs low < high, got ({_fmt(lo)}, {_fmt(hi)})")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    def _key(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def contains(self, x: Any) -> Any:
        """True where ``low <= x <= high`` and ``x`` is finite."""
        a = _as_values(x)
        if a is None:
            return False
        with np.errstate(invalid="ignore"):
            return _result((a >= np.asarray(self.low)) & (a <= np.asarray(self.high)) & np.isfinite(a))

    def _describe(self) -> str:
        if self.low == 0.0 and self.high == _INF:
            return "PositiveReal (0, inf)"
        if self.low == 0.0 and self.high == 1.0:
            return "UnitInterval (0, 1)"
        return f"Interval({_fmt(self.low)}, {_fmt(self.high)})"


class IntRange(Support):
    """The integers ``low, low + 1, ..., high`` (inclusive; ``high`` may be inf).

    ``IntRange(0, 1)`` is the boolean support and ``IntRange(0, inf)`` the
    naturals.  Bounds may be arrays (batched supports).

    >>> from plait.effects.distributions.supports import IntRange
    >>> s = IntRange(0, 5)
    >>> s.contains(3), s.contains(2.5), s.contains(6)
    (True, False, False)
    >>> s, IntRange(0, 1)
    (IntRange(0, 5) [discrete], Boolean {0, 1} [discrete])
    """

    __slots__ = ("low", "high")
    low: Any
    high: Any
    is_discrete = True

    def __init__(self, low: Any, high: Any) -> None:
        lo, hi = _bound(low, True), _bound(high, True)
        if np.any(np.asarray(lo, dtype=float) > np.asarray(hi, dtype=float)):
            raise ValueError(f"IntRange needs low <= high, got ({_fmt(lo)}, {_fmt(hi)})")
        if np.any(np.asarray(lo, dtype=float) == _INF) or np.any(np.asarray(hi, dtype=float) == -_INF):
            raise ValueError(f"IntRange is empty, got ({_fmt(lo)}, {_fmt(hi)})")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    def _key(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def contains(self, x: Any) -> Any:
        """True where ``x`` is an integer (any dtype) in ``[low, high]``."""
        a = _as_values(x)
        if a is None:
            return False
        with np.errstate(invalid="ignore"):
            ok = (a == np.floor(a)) & np.isfinite(a)
            ok = ok & (a >= np.asarray(self.low, dtype=float)) & (a <= np.asarray(self.high, dtype=float))
        return _result(ok)

    def _describe(self) -> str:
        if self.low == 0 and self.high == 1:
            return "Boolean {0, 1}"
        if self.low == 0 and self.high == _INF:
            return "Naturals {0, 1, 2, ...}"
        return f"IntRange({_fmt(self.low)}, {_fmt(self.high)})"


class FiniteSet(Support):
    """A finite, non-contiguous set of numbers (counting measure).

    Constructing a ``FiniteSet`` of contiguous integers returns the canonical
    :class:`IntRange` instead, so each set has exactly one representation.

    >>> from plait.effects.distributions.supports import FiniteSet, IntRange
    >>> FiniteSet({0, 2})
    FiniteSet{0, 2} [discrete]
    >>> FiniteSet([1, 0]) == IntRange(0, 1)
    True
    >>> FiniteSet({0, 2}).contains([0, 1, 2])
    array([ True, False,  True])
    """

    __slots__ = ("values",)
    values: tuple[Any, ...]
    is_discrete = True

    def __new__(cls, values: Iterable[Any]) -> Any:
        vals = sorted({float(v) for v in values})
        if not vals:
            raise ValueError("FiniteSet needs at least one value")
        if any(not math.isfinite(v) for v in vals):
            raise ValueError(f"FiniteSet values must be finite, got {vals!r}")
        if all(v.is_integer() for v in vals):
            ints = tuple(int(v) for v in vals)
            if ints[-1] - ints[0] == len(ints) - 1:
                return IntRange(ints[0], ints[-1])
            canon: tuple[Any, ...] = ints
        else:
            canon = tuple(int(v) if v.is_integer() else v for v in vals)
        self = object.__new__(cls)
        object.__setattr__(self, "values", canon)
        return self

    def _key(self) -> tuple[Any, ...]:
        return self.values

    def __reduce__(self) -> tuple[Any, ...]:
        return (FiniteSet, (self.values,))

    def contains(self, x: Any) -> Any:
        """True where ``x`` equals one of the values."""
        a = _as_values(x)
        if a is None:
            return False
        return _result(np.isin(a, np.asarray(self.values, dtype=float)))

    def _describe(self) -> str:
        return "FiniteSet{" + ", ".join(_fmt(v) for v in self.values) + "}"


class Simplex(Support):
    """Nonnegative ``k``-vectors summing to 1 (``event_dim`` 1).

    >>> from plait.effects.distributions.supports import Simplex
    >>> Simplex(3).contains([0.2, 0.3, 0.5]), Simplex(3).contains([0.5, 0.5])
    (True, False)
    """

    __slots__ = ("k",)
    k: int
    event_dim = 1

    def __init__(self, k: int) -> None:
        if int(k) != k or k < 1:
            raise ValueError(f"Simplex needs a positive integer dimension, got {k!r}")
        object.__setattr__(self, "k", int(k))

    def _key(self) -> tuple[Any, ...]:
        return (self.k,)

    def contains(self, x: Any) -> Any:
        """True for each vector (last axis) that lies on the simplex."""
        a = _as_values(x)
        if a is None or a.ndim == 0:
            return False
        if a.shape[-1] != self.k:
            return _result(np.zeros(a.shape[:-1], dtype=bool))
        with np.errstate(invalid="ignore"):
            ok = np.all((a >= 0) & np.isfinite(a), axis=-1)
            ok &= np.abs(a.sum(axis=-1) - 1.0) <= SIMPLEX_ATOL * self.k
        return _result(ok)

    def _describe(self) -> str:
        return f"Simplex({self.k})"


class _Vectors(Support):
    """Base of the supports of ``d``-vectors (``event_dim`` 1): structure and the shape check.

    Subclasses give ``_label`` and ``_inside(a)``, the per-vector test on a
    float array whose last axis has length ``d``.
    """

    __slots__ = ("d",)
    d: int
    event_dim = 1
    _label = ""

    def __init__(self, d: int) -> None:
        if int(d) != d or d < 1:
            raise ValueError(f"{type(self).__name__} needs a positive integer dimension, got {d!r}")
        object.__setattr__(self, "d", int(d))

    def _key(self) -> tuple[Any, ...]:
        return (self.d,)

    def _inside(self, a: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def contains(self, x: Any) -> Any:
        """True for each vector (last axis) of length ``d`` that lies in the set."""
        a = _as_values(x)
        if a is None or a.ndim == 0:
            return False
        if a.shape[-1] != self.d:
            return _result(np.zeros(a.shape[:-1], dtype=bool))
        with np.errstate(invalid="ignore"):
            return _result(self._inside(a))

    def _describe(self) -> str:
        return f"{type(self).__name__}({self.d})"


class RealVector(_Vectors):
    """Finite real ``d``-vectors (``event_dim`` 1), e.g. a MultivariateNormal.

    >>> from plait.effects.distributions.supports import RealVector
    >>> RealVector(2).contains([[0.0, 1.0], [1.0, float("nan")]])
    array([ True, False])
    """

    __slots__ = ()

    def _inside(self, a: np.ndarray) -> np.ndarray:
        inside: np.ndarray = np.all(np.isfinite(a), axis=-1)
        return inside


class OrderedVector(_Vectors):
    """Finite real ``d``-vectors in strictly increasing order (e.g. the means of a mixture).

    >>> from plait.effects.distributions.supports import OrderedVector
    >>> OrderedVector(3).contains([[0.0, 1.0, 2.5], [1.0, 0.5, 2.0]])
    array([ True, False])
    """

    __slots__ = ()

    def _inside(self, a: np.ndarray) -> np.ndarray:
        inside: np.ndarray = np.all(np.isfinite(a), axis=-1) & np.all(np.diff(a, axis=-1) > 0, axis=-1)
        return inside


class ZeroSumVector(_Vectors):
    """Finite real ``d``-vectors whose entries sum to 0 (within ``1e-8 * d`` times their size).

    >>> from plait.effects.distributions.supports import ZeroSumVector
    >>> ZeroSumVector(3).contains([[1.0, -0.5, -0.5], [1.0, 0.0, 0.0]])
    array([ True, False])
    """

    __slots__ = ()

    def _inside(self, a: np.ndarray) -> np.ndarray:
        size = np.maximum(np.max(np.abs(a), axis=-1), 1.0)
        inside: np.ndarray = np.all(np.isfinite(a), axis=-1) & (
            np.abs(np.sum(a, axis=-1)) <= SIMPLEX_ATOL * self.d * size
        )
        return inside


class CorrCholeskyFactor(Support):
    """Cholesky factors of ``d x d`` correlation matrices (``event_dim`` 2).

    Lower-triangular matrices with a positive diagonal whose rows have unit
    Euclidean norm (within ``1e-8 * d``), so that ``L @ L.T`` has a unit
    diagonal: the support of :class:`~plait.effects.distributions.LKJCholesky`.

    >>> import numpy as np
    >>> from plait.effects.distributions.supports import CorrCholeskyFactor
    >>> s = CorrCholeskyFactor(2)
    >>> s.contains(np.array([[1.0, 0.0], [0.6, 0.8]])), s.contains(np.eye(2) * 2)
    (True, False)
    """

    __slots__ = ("d",)
    d: int
    event_dim = 2

    def __init__(self, d: int) -> None:
        if int(d) != d or d < 1:
            raise ValueError(f"CorrCholeskyFactor needs a positive integer dimension, got {d!r}")
        object.__setattr__(self, "d", int(d))

    def _key(self) -> tuple[Any, ...]:
        return (self.d,)

    def contains(self, x: Any) -> Any:
        """True for each matrix (last two axes) that is such a factor."""
        a = _as_values(x)
        if a is None or a.ndim < 2:
            return False
        if a.shape[-2:] != (self.d, self.d):
            return _result(np.zeros(a.shape[:-2], dtype=bool))
        with np.errstate(invalid="ignore"):
            finite = np.all(np.isfinite(a), axis=(-2, -1))
            lower = np.all(np.triu(a, 1) == 0, axis=(-2, -1))
            diagonal = np.all(np.diagonal(a, axis1=-2, axis2=-1) > 0, axis=-1)
            unit = np.all(np.abs(np.sum(a * a, axis=-1) - 1.0) <= SIMPLEX_ATOL * self.d, axis=-1)
        return _result(finite & lower & diagonal & unit)

    def _describe(self) -> str:
        return f"CorrCholeskyFactor({self.d})"


class CountVector(Support):
    """Nonnegative integer ``k``-vectors summing to ``total`` (the support of a Multinomial).

    ``total`` may be an array (one per batch member).

    >>> from plait.effects.distributions.supports import CountVector
    >>> CountVector(3, 4).contains([[1, 1, 2], [1, 1, 1]])
    array([ True, False])
    """

    __slots__ = ("k", "total")
    k: int
    total: Any
    is_discrete = True
    event_dim = 1

    def __init__(self, k: int, total: Any) -> None:
        if int(k) != k or k < 1:
            raise ValueError(f"CountVector needs a positive integer length, got {k!r}")
        object.__setattr__(self, "k", int(k))
        object.__setattr__(self, "total", _bound(total, True))

    def _key(self) -> tuple[Any, ...]:
        return (self.k, self.total)

    def contains(self, x: Any) -> Any:
        """True for each vector (last axis) of ``k`` nonnegative integers summing to ``total``."""
        a = _as_values(x)
        if a is None or a.ndim == 0:
            return False
        if a.shape[-1] != self.k:
            return _result(np.zeros(a.shape[:-1], dtype=bool))
        with np.errstate(invalid="ignore"):
            counts = np.all((a == np.floor(a)) & np.isfinite(a) & (a >= 0), axis=-1)
            return _result(counts & (np.sum(a, axis=-1) == np.asarray(self.total, dtype=float)))

    def _describe(self) -> str:
        return f"CountVector({self.k}, total={_fmt(self.total)})"


real = Real()
positive = Interval(0.0, _INF)
unit_interval = Interval(0.0, 1.0)
boolean = IntRange(0, 1)
nonnegative_integer = IntRange(0, _INF)


def simplex(k: int) -> Simplex:
    """The probability simplex of dimension ``k``.

    >>> from plait.effects.distributions.supports import simplex, Simplex
    >>> simplex(3) == Simplex(3)
    True
    """
    return Simplex(k)


def real_vector(d: int) -> RealVector:
    """The real vectors of dimension ``d``.

    >>> from plait.effects.distributions.supports import real_vector
    >>> real_vector(2)
    RealVector(2) [continuous]
    """
    return RealVector(d)


def ordered_vector(d: int) -> OrderedVector:
    """The strictly increasing real vectors of dimension ``d``.

    >>> from plait.effects.distributions.supports import ordered_vector
    >>> ordered_vector(2)
    OrderedVector(2) [continuous]
    """
    return OrderedVector(d)


def sum_to_zero(d: int) -> ZeroSumVector:
    """The real vectors of dimension ``d`` whose entries sum to 0.

    >>> from plait.effects.distributions.supports import sum_to_zero
    >>> sum_to_zero(3)
    ZeroSumVector(3) [continuous]
    """
    return ZeroSumVector(d)


def corr_cholesky(d: int) -> CorrCholeskyFactor:
    """The Cholesky factors of ``d x d`` correlation matrices.

    >>> from plait.effects.distributions.supports import corr_cholesky
    >>> corr_cholesky(3)
    CorrCholeskyFactor(3) [continuous]
    """
    return CorrCholeskyFactor(d)

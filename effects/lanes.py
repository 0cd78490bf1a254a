"""Lane values: one quantity of a batched run, one value per lane (the array seam).

A batched run executes one program for B lanes at once.  Every value that
differs between lanes is a :class:`Lanes`: an array whose axis 0 is the lane
and whose remaining axes are the shape each lane sees (``x.shape`` is that
per-lane shape).  Arithmetic, comparisons and numpy calls act lane by lane:
a per-lane scalar times a plain vector gives a per-lane vector, ``np.sum``
sums within each lane, ``x[i]`` indexes within each lane, ``P[:, z]``-style
lookups with a lane index gather per lane.  So an unmodified model computes,
for each lane, exactly what it would compute alone.

When the program turns a lane value into a Python value (``if x > 0:``,
``int(k)``, ``range(k)``, ``float(x)``, ``math.exp(x)``, a dict key, an
address such as ``("x", k)``) the lanes may disagree.  The value then asks
its :class:`LaneSpace` (the lanes of the running program, kept by the
batched run loop in :mod:`plait.handlers.batched`) to *decide*: the space
groups its lanes by the Python value they produce, keeps running the program
with one group, and has each other group rebuilt by replay.  A conversion
on which all lanes agree costs one comparison and never splits.

Everything array-specific that the batch needs (the lane axis, alignment,
gathers, the per-lane fallback) is in this module, so another array backend
can be added here without touching the engines.

>>> import numpy as np
>>> space = FixedLanes(3)
>>> x = Lanes(np.array([0.5, -1.0, 2.0]), space)
>>> y = 2 * x + np.ones(2)          # per-lane scalar + plain vector: per-lane vector
>>> y.shape, y.data.tolist()
((2,), [[2.0, 2.0], [-1.0, -1.0], [5.0, 5.0]])
>>> np.sum(y).data.tolist()         # within each lane
[4.0, -2.0, 10.0]
>>> bool(np.abs(x) < 10)            # every lane agrees: a plain Python value
True
"""

from __future__ import annotations

import operator
import threading
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence

import numpy as np

from ..gradients.dual import Dual

__all__ = ["Lanes", "LaneSpace", "FixedLanes", "lane_data", "is_lanes", "per_lane",
           "lane_value", "align", "gather", "in_space"]


class LaneSpace(Protocol):
    """The lanes a value belongs to: how many there are, and who decides conversions.

    :class:`FixedLanes` is the simplest; the batched run loop's groups are the real ones.

    >>> isinstance(FixedLanes(2).size, int)
    True
    """

    size: int

    def register(self, value: "Lanes") -> None:
        """Keep ``value`` aligned with the lanes when they are gathered (resampling, splits)."""

    def decide(self, parts: list[tuple[Any, Any]], what: str) -> Any:
        """The Python value the running program gets.

        ``parts`` pairs each value the lanes produce with the lanes that produce it
        (None: all of them).
        """

    def adopt(self, value: "Lanes") -> "Lanes":
        """``value`` (of an enclosing space) as a value of this space."""

    @property
    def depth(self) -> int:
        """How deeply this space is nested (a loop step's lanes are one deeper than the run's)."""


class _Running(threading.local):
    #: The lane space whose program is executing now (set by the batched run loop).
    space: Any = None


RUNNING = _Running()


class FixedLanes:
    """A lane space that never changes and refuses to split (examples and tests).

    >>> s = FixedLanes(2)
    >>> s.decide([(True, None)], "bool()")
    True
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def register(self, value: "Lanes") -> None:
        pass

    depth = 0

    def adopt(self, value: "Lanes") -> "Lanes":
        if value.space is not self:
            raise ValueError("lane values of two unrelated batched programs meet")
        return value

    def decide(self, parts: list[tuple[Any, Any]], what: str) -> Any:
        if len(parts) > 1:
            raise ValueError(f"the lanes disagree on {what}, and this lane space cannot split")
        return parts[0][0]


class Lanes:
    """One value per lane: ``data[i]`` is lane ``i``'s value; ``shape`` is the per-lane shape.

    >>> import numpy as np
    >>> space = FixedLanes(3)
    >>> k = Lanes(np.array([0, 2, 1]), space)
    >>> rows = Lanes(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]), space)
    >>> rows[k].data.tolist()  # a lane index gathers within each lane
    [1.0, 6.0, 8.0]
    """

    __slots__ = ("data", "space", "__weakref__")
    __array_priority__ = 1000.0
    #: Lane data may be dual numbers: a dual meeting a lane value lets the lanes apply the operation.
    holds_duals = True

    def __init__(self, data: Any, space: Any) -> None:
        self.data = data
        self.space = space
        space.register(self)

    # -- what a lane sees -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of each lane's value."""
        return self.data.shape[1:]  # type: ignore[no-any-return]

    @property
    def ndim(self) -> int:
        """The number of axes of each lane's value."""
        return self.data.ndim - 1  # type: ignore[no-any-return]

    @property
    def size(self) -> int:
        """The number of elements of each lane's value."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self) -> Any:
        """The element type."""
        return self.data.dtype

    @property
    def T(self) -> "Lanes":
        """Each lane's value transposed."""
        return self.transpose()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Lanes({self.data!r})"

    # -- conversions to Python values: the lanes decide --------------------------------
    def _decide(self, convert: Callable[[Any], Any], what: str) -> Any:
        running = RUNNING.space
        if running is not None and running is not self.space and running.depth > self.space.depth:
            # A value of an enclosing program (a loop kernel closes over it):
            # the lanes of the program running now decide.
            return running.adopt(self)._decide(convert, what)
        data = self.data
        n = data.shape[0]
        if data.ndim == 1 and data.dtype.kind in "biuf":
            first = data[0]
            if n == 1 or (bool((data == first).all()) and first == first):
                return self.space.decide([(convert(first), None)], what)  # every lane agrees
            return self.space.decide(_scalar_parts(data, convert), what)
        values = [convert(v) for v in _lane_items(data)]
        return self.space.decide(_parts(values), what)

    def __bool__(self) -> bool:
        if self.shape and self.size != 1:
            raise ValueError(
                "The truth value of an array with more than one element is ambiguous. "
                "Use a.any() or a.all()"
            )
        return self._decide(bool, "bool()")  # type: ignore[no-any-return]

    def __float__(self) -> float:
        return self._decide(float, "float()")  # type: ignore[no-any-return]

    def __int__(self) -> int:
        return self._decide(int, "int()")  # type: ignore[no-any-return]

    def __index__(self) -> int:
        if self.data.dtype.kind not in "biu":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return self._decide(operator.index, "use as an index")  # type: ignore[no-any-return]

    def __complex__(self) -> complex:
        return self._decide(complex, "complex()")  # type: ignore[no-any-return]

    def __hash__(self) -> int:
        value = self._decide(_hashable, "hash() (a dict key or an address)")
        return hash(value)

    def __format__(self, spec: str) -> str:
        return self._decide(lambda v: format(v, spec), "format()")  # type: ignore[no-any-return]

    def item(self) -> Any:
        """Each lane's single element, as a Python value (the lanes decide)."""
        return self._decide(lambda v: np.asarray(v).item(), "item()")

    def tolist(self) -> Any:
        """Each lane's value as nested lists (the lanes decide)."""
        return self._decide(lambda v: np.asarray(v).tolist(), "tolist()")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # A plain array of what this lane holds: a conversion like float().
        value = self._decide(lambda v: _Frozen(np.asarray(v)), "conversion to a plain array")
        array: np.ndarray = value.array
        return array if dtype is None else array.astype(dtype)

    # -- indexing ---------------------------------------------------------------------
    def __getitem__(self, key: Any) -> "Lanes":
        if type(key) is Lanes or (type(key) is tuple and any(type(k) is Lanes for k in key)):
            return _lane_index(self, key)
        if type(key) is not tuple:
            key = (key,)
        return Lanes(self.data[(slice(None),) + key], self.space)

    def __setitem__(self, key: Any, value: Any) -> None:
        if type(key) is Lanes or (type(key) is tuple and any(type(k) is Lanes for k in key)):
            raise TypeError("assigning through a lane-valued index is not supported; use np.where")
        if type(key) is not tuple:
            key = (key,)
        target = self.data[(slice(None),) + key]
        self.data[(slice(None),) + key] = _aligned_to(value, target.ndim - 1)

    def __iter__(self) -> Iterator["Lanes"]:
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        for i in range(self.shape[0]):
            yield Lanes(self.data[:, i], self.space)

    # -- numpy protocol ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if kwargs.get("out") is not None:
            return _per_lane(getattr(ufunc, method), inputs, kwargs)
        if method == "__call__":
            return _ufunc_call(ufunc, inputs, kwargs)
        if method == "reduce" and len(inputs) == 1 and type(inputs[0]) is Lanes:
            x = inputs[0]
            axis = _lane_axes(kwargs.pop("axis", 0), x.ndim)
            return _wrap(ufunc.reduce(x.data, axis=axis, **kwargs), x.space)
        return _per_lane(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        rule = _FUNCTIONS.get(func)
        if rule is not None:
            return rule(*args, **kwargs)
        return _per_lane(func, args, kwargs)

    # -- arithmetic: the hot path, written out ----------------------------------------
    def __add__(self, other: Any) -> Any:
        return _binary(np.add, self, other)

    def __radd__(self, other: Any) -> Any:
        return _binary(np.add, other, self)

    def __sub__(self, other: Any) -> Any:
        return _binary(np.subtract, self, other)

    def __rsub__(self, other: Any) -> Any:
        return _binary(np.subtract, other, self)

    def __mul__(self, other: Any) -> Any:
        return _binary(np.multiply, self, other)

    def __rmul__(self, other: Any) -> Any:
        return _binary(np.multiply, other, self)

    def __truediv__(self, other: Any) -> Any:
        return _binary(np.true_divide, self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return _binary(np.true_divide, other, self)

    def __floordiv__(self, other: Any) -> Any:
        return _binary(np.floor_divide, self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return _binary(np.floor_divide, other, self)

    def __mod__(self, other: Any) -> Any:
        return _binary(np.remainder, self, other)

    def __rmod__(self, other: Any) -> Any:
        return _binary(np.remainder, other, self)

    def __pow__(self, other: Any) -> Any:
        return _binary(np.power, self, other)

    def __rpow__(self, other: Any) -> Any:
        return _binary(np.power, other, self)

    def __matmul__(self, other: Any) -> Any:
        return _ufunc_call(np.matmul, (self, other), {})

    def __rmatmul__(self, other: Any) -> Any:
        return _ufunc_call(np.matmul, (other, self), {})

    def __and__(self, other: Any) -> Any:
        return _binary(np.bitwise_and, self, other)

    def __rand__(self, other: Any) -> Any:
        return _binary(np.bitwise_and, other, self)

    def __or__(self, other: Any) -> Any:
        return _binary(np.bitwise_or, self, other)

    def __ror__(self, other: Any) -> Any:
        return _binary(np.bitwise_or, other, self)

    def __xor__(self, other: Any) -> Any:
        return _binary(np.bitwise_xor, self, other)

    def __rxor__(self, other: Any) -> Any:
        return _binary(np.bitwise_xor, other, self)

    def __lt__(self, other: Any) -> Any:
        return _binary(np.less, self, other)

    def __le__(self, other: Any) -> Any:
        return _binary(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Any:
        return _binary(np.greater, self, other)

    def __ge__(self, other: Any) -> Any:
        return _binary(np.greater_equal, self, other)

    def __eq__(self, other: Any) -> Any:
        return _binary(np.equal, self, other)

    def __ne__(self, other: Any) -> Any:
        return _binary(np.not_equal, self, other)

    def __neg__(self) -> "Lanes":
        return Lanes(-self.data, self.space)

    def __pos__(self) -> "Lanes":
        return self

    def __abs__(self) -> "Lanes":
        return Lanes(np.abs(self.data), self.space)

    def __invert__(self) -> "Lanes":
        return Lanes(~self.data, self.space)

    def __round__(self, ndigits: Optional[int] = None) -> Any:
        if ndigits is None:
            return self._decide(round, "round()")
        return Lanes(np.round(self.data, ndigits), self.space)

    # -- methods of ndarray, lane by lane -----------------------------------------------
    def sum(self, axis: Any = None, **kw: Any) -> "Lanes":
        """Sum within each lane."""
        return _reduce(np.sum, self, axis, kw)

    def mean(self, axis: Any = None, **kw: Any) -> "Lanes":
        """Mean within each lane."""
        return _reduce(np.mean, self, axis, kw)

    def prod(self, axis: Any = None, **kw: Any) -> "Lanes":
        """Product within each lane."""
        return _reduce(np.prod, self, axis, kw)

    def max(self, axis: Any = None, **kw: Any) -> "Lanes":
        """Maximum within each lane."""
        return _reduce(np.max, self, axis, kw)

    def min(self, axis: Any = None, **kw: Any) -> "Lanes":
        """Minimum within each lane."""
        return _reduce(np.min, self, axis, kw)

    def any(self, axis: Any = None, **kw: Any) -> "Lanes":
        """``any`` within each lane."""
        return _reduce(np.any, self, axis, kw)

    def all(self, axis: Any = None, **kw: Any) -> "Lanes":
        """``all`` within each lane."""
        return _reduce(np.all, self, axis, kw)

    def std(self, axis: Any = None, **kw: Any) -> "Lanes":
        """Standard deviation within each lane."""
        return _reduce(np.std, self, axis, kw)

    def var(self, axis: Any = None, **kw: Any) -> "Lanes":
        """Variance within each lane."""
        return _reduce(np.var, self, axis, kw)

    def argmax(self, axis: Any = None) -> "Lanes":
        """Index of the maximum within each lane."""
        return _arg(np.argmax, self, axis)

    def argmin(self, axis: Any = None) -> "Lanes":
        """Index of the minimum within each lane."""
        return _arg(np.argmin, self, axis)

    def cumsum(self, axis: Any = None) -> "Lanes":
        """Cumulative sum within each lane."""
        if axis is None:
            return Lanes(np.cumsum(self.data.reshape(self.data.shape[0], -1), axis=1), self.space)
        return Lanes(np.cumsum(self.data, axis=_lane_axes(axis, self.ndim)), self.space)

    def reshape(self, *shape: Any) -> "Lanes":
        """Each lane's value reshaped."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return Lanes(self.data.reshape((self.data.shape[0],) + tuple(shape)), self.space)

    def ravel(self) -> "Lanes":
        """Each lane's value flattened."""
        return self.reshape(-1)

    flatten = ravel

    def transpose(self, *axes: Any) -> "Lanes":
        """Each lane's value with its axes permuted (reversed by default)."""
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        return Lanes(self.data.transpose((0,) + tuple(a % self.ndim + 1 for a in axes)), self.space)

    def astype(self, dtype: Any, **kw: Any) -> "Lanes":
        """The same values as another element type."""
        return Lanes(self.data.astype(dtype, **kw), self.space)

    def copy(self) -> "Lanes":
        """A copy."""
        return Lanes(self.data.copy(), self.space)

    def clip(self, low: Any = None, high: Any = None) -> Any:
        """Values clipped to ``[low, high]``."""
        return _ufunc_call(np.minimum, (_ufunc_call(np.maximum, (self, low), {}), high), {}) \
            if low is not None and high is not None else np.clip(self, low, high)

    def dot(self, other: Any) -> Any:
        """``np.dot`` within each lane."""
        return _dot(self, other)

    def __reduce__(self) -> Any:
        raise TypeError("a lane value belongs to a running batched program and cannot be pickled")


# ------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------

_SCALAR_CONVERTERS = (bool, float, int, operator.index, complex)


class _Frozen:
    """A plain array as a conversion result: compared by content, so lanes holding equal arrays agree."""

    __slots__ = ("array", "key")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.key = (array.dtype.str, array.shape, array.tobytes())

    def __eq__(self, other: Any) -> bool:
        return type(other) is _Frozen and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def _scalar_parts(data: np.ndarray, convert: Callable[[Any], Any]) -> list[tuple[Any, np.ndarray]]:
    """Lanes grouped by the Python value ``convert`` gives their scalar, without a loop over lanes."""
    if data.dtype.kind == "b":
        true = np.flatnonzero(data)
        false = np.flatnonzero(~data)
        parts = [(convert(data[true[0]]), true), (convert(data[false[0]]), false)]
        return parts if true[0] < false[0] else parts[::-1]
    by_value: dict[Any, list[np.ndarray]] = {}
    for u, lanes in _lanes_by_value(data):
        key = convert(u)
        by_value.setdefault(_NAN_KEY if key != key else key, []).append(lanes)
    parts = []
    for key, chunks in by_value.items():
        lanes = chunks[0] if len(chunks) == 1 else np.sort(np.concatenate(chunks))
        parts.append((convert(data[lanes[0]]) if key is _NAN_KEY else key, lanes))
    parts.sort(key=lambda part: int(part[1][0]))
    return parts


_NAN_KEY = object()


def _lanes_by_value(data: np.ndarray) -> Iterator[tuple[Any, np.ndarray]]:
    """Each distinct value of a 1-d array with the (sorted) lanes that hold it."""
    if data.dtype.kind in "iu":
        low = int(data.min())
        span = int(data.max()) - low
        if span < 64:  # a few categories: one comparison per category beats a sort
            counts = np.bincount(data - low if low else data, minlength=span + 1)
            for offset in np.flatnonzero(counts):
                value = data.dtype.type(low + offset)
                yield value, np.flatnonzero(data == value)
            return
    unique, inverse = np.unique(data, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse.ravel(), minlength=len(unique)))))
    for j, u in enumerate(unique):
        yield u, order[bounds[j]:bounds[j + 1]]


def _parts(values: list[Any]) -> list[tuple[Any, np.ndarray]]:
    """Lanes grouped by their (hashable) Python values, in order of first appearance."""
    index: dict[Any, list[int]] = {}
    first: dict[Any, Any] = {}
    for i, value in enumerate(values):
        key = _key(value)
        if key != key:
            key = _NAN_KEY
        index.setdefault(key, []).append(i)
        first.setdefault(key, value)
    return [(first[k], np.asarray(v, dtype=np.intp)) for k, v in index.items()]


def _hashable(v: Any) -> Any:
    v = np.asarray(v)
    return v.item() if v.ndim == 0 else _Frozen(v)


def _lane_items(data: np.ndarray) -> Any:
    return data if data.ndim == 1 else (data[i] for i in range(data.shape[0]))


def is_lanes(value: Any) -> bool:
    """True for a lane value.

    >>> is_lanes(Lanes(np.zeros(2), FixedLanes(2))), is_lanes(np.zeros(2))
    (True, False)
    """
    return type(value) is Lanes


def lane_data(value: Any, ndim: int) -> Any:
    """``value`` as an array whose axis 0 is the lane, with ``ndim`` per-lane axes.

    A lane value gets unit axes after the lane axis (so it broadcasts right-aligned against
    plain arrays of ``ndim`` axes); a plain value is returned as it is.

    >>> lane_data(Lanes(np.zeros(4), FixedLanes(4)), 2).shape
    (4, 1, 1)
    """
    if type(value) is not Lanes:
        return value
    data = value.data
    missing = ndim - (data.ndim - 1)
    if missing > 0:
        data = data.reshape(data.shape[:1] + (1,) * missing + data.shape[1:])
    return data


def _aligned_to(value: Any, ndim: int) -> Any:
    return lane_data(value, ndim)


def align(values: Sequence[Any]) -> tuple[list[Any], Any, int]:
    """Arrays for ``values`` that broadcast lane by lane: ``(arrays, space, per-lane ndim)``.

    ``space`` is the lane space of the lane values among them (None when none is).

    >>> s = FixedLanes(3)
    >>> arrays, space, ndim = align([Lanes(np.zeros(3), s), np.ones(2)])
    >>> [a.shape for a in arrays], ndim
    ([(3, 1), (2,)], 1)
    """
    space = None
    ndim = 0
    mixed = False
    for v in values:
        if type(v) is Lanes:
            if space is not None and v.space is not space:
                mixed = True
                if v.space.depth > space.depth:
                    space = v.space
            elif space is None:
                space = v.space
            d = v.data.ndim - 1
        else:
            d = np.ndim(v)
        if d > ndim:
            ndim = d
    if mixed and space is not None:
        values = [space.adopt(v) if type(v) is Lanes and v.space is not space else v for v in values]
    return [lane_data(v, ndim) for v in values], space, ndim


def in_space(value: Any, space: Any) -> Any:
    """``value`` as a lane value of ``space`` (values of an enclosing space are gathered).

    >>> s = FixedLanes(2)
    >>> x = Lanes(np.zeros(2), s)
    >>> in_space(x, s) is x, in_space(1.0, s)
    (True, 1.0)
    """
    if type(value) is not Lanes or value.space is space:
        return value
    return space.adopt(value)


def _wrap(result: Any, space: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(r, space) for r in result)
    return Lanes(result, space)


def _binary(ufunc: Any, a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is Lanes and (tb is float or tb is int or tb is bool):
        return Lanes(ufunc(a.data, b), a.space)
    if tb is Lanes and (ta is float or ta is int or ta is bool):
        return Lanes(ufunc(a, b.data), b.space)
    if ta is Lanes and tb is Lanes and a.data.ndim == b.data.ndim and a.space is b.space:
        return Lanes(ufunc(a.data, b.data), a.space)
    return _ufunc_call(ufunc, (a, b), {})


def _ufunc_call(ufunc: Any, inputs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    for v in inputs:
        if type(v) is not Lanes and type(v) is not Dual and hasattr(v, "__array_ufunc__") \
                and not isinstance(v, (np.ndarray, np.generic, float, int, bool)):
            return NotImplemented  # another array type handles the lanes
    # A dual number is an operand like a plain array: lane values hold duals then (Dual defers to Lanes).
    arrays, space, ndim = align(inputs)
    if ufunc is np.matmul:
        return _matmul(inputs)
    return _wrap(ufunc(*arrays, **kwargs), space)


def _matmul(inputs: Sequence[Any]) -> Any:
    a, b = inputs
    space = a.space if type(a) is Lanes else b.space
    if type(a) is Lanes and type(b) is Lanes:
        return Lanes(np.matmul(_as_stack(a), _as_stack(b)), space)
    if type(a) is Lanes:
        data = a.data
        if a.ndim == 1:
            return Lanes(data @ b, space)
        return Lanes(np.matmul(data, b), space)
    data = b.data
    if b.ndim == 1:
        return Lanes(data @ np.asarray(a).T, space)
    return Lanes(np.matmul(a, data), space)


def _as_stack(x: "Lanes") -> np.ndarray:
    return x.data if x.ndim >= 2 else x.data[:, None, :]  # type: ignore[no-any-return]


def _dot(a: Any, b: Any) -> Any:
    return _per_lane(np.dot, (a, b), {}) if (np.ndim(a) if type(a) is not Lanes else a.ndim) > 2 \
        else _matmul((a, b)) if _vector_or_matrix(a) and _vector_or_matrix(b) else _per_lane(np.dot, (a, b), {})


def _vector_or_matrix(x: Any) -> bool:
    return 1 <= (x.ndim if type(x) is Lanes else np.ndim(x)) <= 2


def _lane_axes(axis: Any, ndim: int) -> Any:
    """Per-lane ``axis`` as axes of the lane-first array (None: every per-lane axis)."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, tuple):
        return tuple(_lane_axis(a, ndim) for a in axis)
    return _lane_axis(axis, ndim)


def _lane_axis(axis: Any, ndim: int) -> int:
    index = operator.index(axis)
    if not -ndim <= index < ndim:
        raise np.exceptions.AxisError(index, ndim)
    return index % ndim + 1


def _reduce(func: Any, x: "Lanes", axis: Any, kw: dict[str, Any]) -> "Lanes":
    return Lanes(func(x.data, axis=_lane_axes(axis, x.ndim), **kw), x.space)


def _arg(func: Any, x: "Lanes", axis: Any) -> "Lanes":
    if axis is None:
        return Lanes(func(x.data.reshape(x.data.shape[0], -1), axis=1), x.space)
    return Lanes(func(x.data, axis=_lane_axis(axis, x.ndim)), x.space)


def _lane_index(x: Any, key: Any) -> "Lanes":
    """``x[key]`` where the key holds lane values: a gather per lane."""
    keys = key if type(key) is tuple else (key,)
    space = next(k.space for k in keys if type(k) is Lanes)
    n = space.size
    parts: list[Any] = [np.arange(n)]
    lane_ndim = max(k.ndim for k in keys if type(k) is Lanes)
    for k in keys:
        if type(k) is Lanes:
            if k.data.dtype.kind not in "biu":
                raise IndexError("only integers, slices, ellipsis and integer arrays are valid indices")
            parts.append(lane_data(k, lane_ndim))
        elif isinstance(k, (int, np.integer)):
            parts.append(k)
        else:
            result: Lanes = _per_lane(operator.getitem, (x, key), {})
            return result
    if lane_ndim:
        parts[0] = parts[0].reshape((n,) + (1,) * lane_ndim)
    data = x.data if type(x) is Lanes else np.broadcast_to(np.asarray(x), (n,) + np.shape(x))
    return Lanes(data[tuple(parts)], space)


def _take(a: Any, indices: Any, axis: Any = None, **kw: Any) -> Any:
    if kw or (axis is not None and axis != 0) or type(a) is Lanes:
        return _per_lane(np.take, (a, indices), {"axis": axis, **kw})
    a = np.asarray(a)
    if axis is None:
        a = a.reshape(-1)
    return Lanes(a[indices.data], indices.space) if type(indices) is Lanes else np.take(a, indices, axis)


def _per_lane(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``func`` applied lane by lane (any pure numpy function), results stacked.

    When the lanes' results differ in shape or type, the lanes decide which
    plain result the program gets (a split, as for any conversion).
    """
    space = _space_of(args, kwargs)
    n = space.size
    results = [func(*_at(args, i), **_at_kw(kwargs, i)) for i in range(n)]
    stacked = _stack(results)
    if stacked is not None:
        return Lanes(stacked, space) if not isinstance(stacked, tuple) else tuple(Lanes(s, space) for s in stacked)
    return space.decide(_parts(results), f"{getattr(func, '__name__', func)}() with per-lane results of different shapes")


def _space_of(args: Any, kwargs: dict[str, Any]) -> Any:
    for v in _leaves(args):
        if type(v) is Lanes:
            return v.space
    for v in _leaves(tuple(kwargs.values())):
        if type(v) is Lanes:
            return v.space
    raise TypeError("no lane value among the arguments")


def _leaves(args: Any) -> Iterator[Any]:
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from _leaves(a)
        else:
            yield a


def _at(args: Any, i: int) -> Any:
    out = []
    for a in args:
        if type(a) is Lanes:
            out.append(a.data[i])
        elif isinstance(a, (list, tuple)) and any(type(x) is Lanes for x in _leaves(a)):
            out.append(type(a)(_at(a, i)) if type(a) in (list, tuple) else a)
        else:
            out.append(a)
    return out


def _at_kw(kwargs: dict[str, Any], i: int) -> dict[str, Any]:
    return {k: (v.data[i] if type(v) is Lanes else v) for k, v in kwargs.items()}


def _stack(results: list[Any]) -> Any:
    first = results[0]
    if isinstance(first, tuple):
        columns = [_stack([r[j] for r in results]) for j in range(len(first))]
        return None if any(c is None for c in columns) else tuple(columns)
    arrays = [np.asarray(r) for r in results]
    shape, dtype = arrays[0].shape, arrays[0].dtype
    if arrays[0].dtype == object or any(a.shape != shape or a.dtype != dtype for a in arrays):
        return None
    return np.stack(arrays)


def _key(r: Any) -> Any:
    try:
        hash(r)
        return r
    except TypeError:
        return _Frozen(np.asarray(r)) if not isinstance(r, tuple) else tuple(_key(x) for x in r)


def per_lane(value: Any, n: int) -> list[Any]:
    """One Python value per lane, from a value of a batched program (containers followed).

    >>> per_lane((Lanes(np.array([1.0, 2.0]), FixedLanes(2)), "a"), 2)
    [(1.0, 'a'), (2.0, 'a')]
    """
    if type(value) is Lanes:
        data = value.data
        return data.tolist() if data.ndim == 1 else [data[i].copy() for i in range(n)]
    if isinstance(value, tuple):
        columns = [per_lane(v, n) for v in value]
        make: Callable[[Any], Any] = (lambda row: type(value)(*row)) if hasattr(value, "_fields") else tuple
        return [make(row) for row in zip(*columns)] if columns else [value] * n
    if isinstance(value, list):
        columns = [per_lane(v, n) for v in value]
        return [list(row) for row in zip(*columns)] if columns else [[] for _ in range(n)]
    if isinstance(value, dict):
        by_key = {k: per_lane(v, n) for k, v in value.items()}
        return [{k: by_key[k][i] for k in value} for i in range(n)]
    return [value] * n


def lane_value(value: Any, i: int) -> Any:
    """Lane ``i``'s value of ``value`` (containers followed).

    >>> lane_value([Lanes(np.array([1, 2]), FixedLanes(2)), 3], 1)
    [2, 3]
    """
    if type(value) is Lanes:
        v = value.data[i]
        return v.item() if np.ndim(v) == 0 else v.copy()
    if isinstance(value, tuple):
        items = [lane_value(v, i) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [lane_value(v, i) for v in value]
    if isinstance(value, dict):
        return {k: lane_value(v, i) for k, v in value.items()}
    return value


def gather(values: Any, index: np.ndarray) -> None:
    """Gather lane values in place: lane ``j`` takes the old lane ``index[j]``.

    >>> x = Lanes(np.array([1.0, 2.0, 3.0]), FixedLanes(3))
    >>> gather([x], np.array([2, 2, 0])); x.data.tolist()
    [3.0, 3.0, 1.0]
    """
    for v in values:
        v.data = v.data[index]


def _register_functions() -> dict[Any, Callable[..., Any]]:
    def reduction(func: Any) -> Callable[..., Any]:
        def rule(a: Any, axis: Any = None, **kw: Any) -> Any:
            if type(a) is not Lanes:
                return _per_lane(func, (a,), {"axis": axis, **kw})
            return _reduce(func, a, axis, kw)
        return rule

    def where(cond: Any, x: Any = None, y: Any = None) -> Any:
        if x is None and y is None:
            return _per_lane(np.where, (cond,), {})
        arrays, space, _ = align([cond, x, y])
        return Lanes(np.where(*arrays), space)

    def shape(a: Any) -> Any:
        return a.shape if type(a) is Lanes else np.shape(a)

    def ndim(a: Any) -> Any:
        return a.ndim if type(a) is Lanes else np.ndim(a)

    def size(a: Any, axis: Any = None) -> Any:
        if type(a) is not Lanes:
            return np.size(a, axis)
        return a.size if axis is None else a.shape[axis]

    def like(func: Any) -> Callable[..., Any]:
        def rule(a: Any, *args: Any, **kw: Any) -> Any:
            return Lanes(func(a.data, *args, **kw), a.space) if type(a) is Lanes else func(a, *args, **kw)
        return rule

    def joined(func: Any) -> Callable[..., Any]:
        def rule(arrays: Any, axis: int = 0, **kw: Any) -> Any:
            arrays = list(arrays)
            space = next(a.space for a in arrays if type(a) is Lanes)
            per = max((a.ndim if type(a) is Lanes else np.ndim(a)) for a in arrays)
            n = space.size
            datas = []
            for a in arrays:
                if type(a) is Lanes:
                    datas.append(lane_data(a, a.ndim))
                else:
                    b: Any = a if type(a) is Dual else np.asarray(a)  # a dual stays one (its tangent broadcast too)
                    datas.append(np.broadcast_to(b, (n,) + b.shape))
            out_ndim = per + (1 if func is np.stack else 0)
            return Lanes(func(datas, axis=axis % max(out_ndim, 1) + 1, **kw), space)
        return rule

    def clip(a: Any, low: Any = None, high: Any = None, **kw: Any) -> Any:
        arrays, space, _ = align([a, -np.inf if low is None else low, np.inf if high is None else high])
        return Lanes(np.clip(*arrays, **kw), space)

    def logsumexp(a: Any, axis: Any = None, **kw: Any) -> Any:
        return _per_lane(np.log, (np.sum(np.exp(a), axis=axis),), {})

    functions: dict[Any, Callable[..., Any]] = {
        np.sum: reduction(np.sum), np.mean: reduction(np.mean), np.prod: reduction(np.prod),
        np.max: reduction(np.max), np.min: reduction(np.min), np.amax: reduction(np.max),
        np.amin: reduction(np.min), np.any: reduction(np.any), np.all: reduction(np.all),
        np.std: reduction(np.std), np.var: reduction(np.var),
        np.where: where, np.shape: shape, np.ndim: ndim, np.size: size,
        np.zeros_like: like(np.zeros_like), np.ones_like: like(np.ones_like),
        np.full_like: like(np.full_like), np.copy: like(np.copy),
        np.round: like(np.round), np.around: like(np.round),
        np.concatenate: joined(np.concatenate), np.stack: joined(np.stack),
        np.clip: clip, np.take: _take,
        np.dot: _dot, np.matmul: lambda a, b: _matmul((a, b)),
        np.argmax: lambda a, axis=None: _arg(np.argmax, a, axis),
        np.argmin: lambda a, axis=None: _arg(np.argmin, a, axis),
        np.cumsum: lambda a, axis=None: a.cumsum(axis),
        np.reshape: lambda a, shape: a.reshape(shape),
        np.transpose: lambda a, axes=None: a.transpose() if axes is None else a.transpose(axes),
    }
    return functions


_FUNCTIONS = _register_functions()

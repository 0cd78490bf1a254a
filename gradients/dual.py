"""The :class:`Dual` number: a primal value, a stack of tangents, and a nesting tag.

A ``Dual`` holds

* ``primal`` — a float numpy array or numpy scalar, or a ``Dual`` of a lower
  tag when derivatives are nested;
* ``tangent`` — an array of shape ``(k, *primal.shape)``: ``k`` directional
  derivatives carried in one pass, or ``None`` meaning exactly zero;
* ``tag`` — the integer of the derivative call (:func:`perturbation`) that
  owns this perturbation.

numpy routes every ufunc and most array functions on a ``Dual`` through
:meth:`Dual.__array_ufunc__` and :meth:`Dual.__array_function__`, which look
the function up in the rule tables (:mod:`.ufunc_rules`,
:mod:`.function_rules`, :mod:`.linalg_rules`).  A function without a rule
raises :class:`~plait.errors.NoDerivativeRuleError`; nothing is silently
treated as constant.

>>> import numpy as np
>>> from plait.gradients import Dual, perturbation
>>> with perturbation() as tag:
...     x = Dual(2.0, [1.0], tag=tag)
...     y = x * np.sin(x)
...     print(round(float(y.primal), 6), y.tangent.round(6))
1.818595 [0.077004]
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Dict, NoReturn

import numpy as np

from ..errors import NoDerivativeRuleError, PerturbationEscapeError

__all__ = ["Dual", "perturbation", "primal", "tangent", "stop_gradient"]

_counter = itertools.count(1)
# Tags of derivative calls that are still running.  Sets are safe to mutate
# from several threads under the GIL, and tags are never reused.
_LIVE: set[int] = set()
#: numpy itself, typed loosely: numpy dispatches a Dual operand to Dual.__array_ufunc__ /
#: __array_function__, which numpy's stubs cannot express, so calls on a Dual go through this name.
_numpy: Any = np


class perturbation:
    """A context manager that opens a fresh, live nesting tag for dual numbers.

    Every derivative combinator (``diff``, ``grad``...) uses one per call.  A
    ``Dual`` whose tag is no longer live raises
    :class:`~plait.errors.PerturbationEscapeError` when used.

    >>> from plait.gradients import Dual, perturbation
    >>> with perturbation() as tag:
    ...     d = Dual(1.0, [2.0], tag=tag)
    ...     print((3 * d).tangent)
    [6.]
    """

    __slots__ = ("tag",)

    def __enter__(self) -> int:
        tag = next(_counter)
        _LIVE.add(tag)
        self.tag = tag
        return tag

    def __exit__(self, *exc: Any) -> None:
        _LIVE.discard(self.tag)


def _float_primal(value: Any, what: str) -> Any:
    """A float numpy value for ``value``: ints become float64, bools are refused."""
    if type(value) is Dual:
        return value
    if type(value) is float:
        return np.float64(value)
    a = np.asarray(value)
    kind = a.dtype.kind
    if kind == "f":
        return a if a.ndim else a[()]
    if kind == "b":
        raise TypeError(f"{what}: boolean inputs cannot be differentiated, got {value!r}")
    if kind in "iu":
        a = a.astype(np.float64)
        return a if a.ndim else a[()]
    raise TypeError(f"{what}: expected real numbers (float or int), got dtype {a.dtype}: {value!r}")


class Dual:
    """A dual number over numpy: ``primal`` plus ``k`` tangents, owned by ``tag``.

    Build one inside :func:`perturbation` (the combinators in
    :mod:`plait.gradients.api` do it for you).  ``tangent`` must have shape
    ``(k, *shape(primal))``; ``None`` means exactly zero.  Duals are
    immutable.  Comparisons and ``bool()`` look at the primal only, so
    programs may branch; ``float()`` refuses (it would drop the derivative):
    use :func:`primal` or :func:`stop_gradient`.

    >>> import numpy as np
    >>> from plait.gradients import Dual, perturbation
    >>> with perturbation() as tag:
    ...     x = Dual(np.array([1.0, 2.0]), np.eye(2), tag=tag)
    ...     print(_numpy.sum(x * x).tangent, bool(x[0] < 1.5))
    [2. 4.] True
    """

    __slots__ = ("primal", "_tangent", "tag")
    primal: Any
    _tangent: Any
    tag: int
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, primal: Any, tangent: Any = None, *, tag: int) -> None:
        p = _float_primal(primal, "Dual")
        if type(p) is Dual and p.tag >= tag:
            raise ValueError(
                f"Dual: a nested primal must have a lower tag than {tag}, got tag {p.tag}"
            )
        t = tangent
        if t is not None:
            if type(t) is Dual:
                if t.tag >= tag:
                    raise ValueError(
                        f"Dual: a nested tangent must have a lower tag than {tag}, got tag {t.tag}"
                    )
            else:
                t = np.asarray(t, dtype=np.result_type(_dtype(p), np.float32))
            shape = _shape(p)
            if _shape(t)[1:] != shape or len(_shape(t)) != len(shape) + 1:
                raise ValueError(
                    f"Dual: tangent must have shape (k, *{shape}) (one row per direction), "
                    f"got shape {_shape(t)}"
                )
        _set_primal(self, p)
        _set_tangent(self, t)
        _set_tag(self, int(tag))

    # -- immutability -----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Dual is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Dual is immutable: cannot delete {name!r}")

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "Dual does not support item assignment (values are immutable); build a new "
            "array instead, e.g. with np.where or np.concatenate"
        )

    def __reduce__(self) -> Any:
        return (_rebuild, (self.primal, self.tangent, self.tag))

    @property
    def tangent(self) -> Any:
        """The tangent array, shape ``(k, *shape)``, or None for exactly zero."""
        t = self._tangent
        if type(t) is Factored:
            t = t.materialise()
            _set_tangent(self, t)  # the same value, expanded once
        return t

    # -- array-like attributes ----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The primal's shape."""
        return _shape(self.primal)

    @property
    def ndim(self) -> int:
        """The primal's number of dimensions."""
        return len(_shape(self.primal))

    @property
    def size(self) -> int:
        """The primal's number of elements."""
        return math.prod(_shape(self.primal))

    @property
    def dtype(self) -> Any:
        """The primal's dtype."""
        return _dtype(self.primal)

    @property
    def directions(self) -> int:
        """``k``, the number of tangent directions (0 for a zero tangent)."""
        t = self._tangent
        return 0 if t is None else _shape(t)[0]

    @property
    def T(self) -> Any:
        """The transpose."""
        return _numpy.transpose(self)

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d Dual")
        return shape[0]

    def __iter__(self) -> Any:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: Any) -> Any:
        return PROTOCOL_RULES["getitem"](self, index)

    # -- conversions: refused, because they would drop the derivative ------------------
    def _refuse(self, kind: str) -> NoReturn:
        raise TypeError(
            f"cannot convert a Dual to {kind}: that would drop its derivative; for math functions "
            "(math.exp, math.log...) use numpy's (np.exp, np.log...), which carry it; for the value "
            "alone use plait.gradients.primal(x) or plait.gradients.stop_gradient(x)"
        )

    def __float__(self) -> float:
        return self._refuse("float")

    def __int__(self) -> int:
        return self._refuse("int")

    def __complex__(self) -> complex:
        return self._refuse("complex")

    def __index__(self) -> int:
        return self._refuse("an index")

    def __bool__(self) -> bool:
        return bool(stop_gradient(self))

    def __repr__(self) -> str:
        return f"Dual({self.primal!r}, tangent={self.tangent!r}, tag={self.tag})"

    # -- arithmetic: every operator is the matching ufunc -------------------------------
    # Scalar fast paths: a 0-d dual and a Python number (or another 0-d dual of
    # the same tag) skip the ufunc dispatch.  They compute exactly what the
    # rules compute (same primal operation, same tangent formula) and fall
    # back to the ufunc wherever a partial could be non-finite.
    def __add__(self, o: Any) -> Any:
        r = _fast(self, o, 0)
        return _numpy.add(self, o) if r is None else r

    def __radd__(self, o: Any) -> Any:
        r = _fast(self, o, 0)
        return _numpy.add(o, self) if r is None else r

    def __sub__(self, o: Any) -> Any:
        r = _fast(self, o, 1)
        return _numpy.subtract(self, o) if r is None else r

    def __rsub__(self, o: Any) -> Any:
        r = _fast(self, o, 2)
        return _numpy.subtract(o, self) if r is None else r

    def __mul__(self, o: Any) -> Any:
        r = _fast(self, o, 3)
        return _numpy.multiply(self, o) if r is None else r

    def __rmul__(self, o: Any) -> Any:
        r = _fast(self, o, 3)
        return _numpy.multiply(o, self) if r is None else r

    def __truediv__(self, o: Any) -> Any:
        r = _fast(self, o, 4)
        return _numpy.true_divide(self, o) if r is None else r

    def __rtruediv__(self, o: Any) -> Any:
        r = _fast(self, o, 5)
        return _numpy.true_divide(o, self) if r is None else r

    def __floordiv__(self, o: Any) -> Any:
        return _numpy.floor_divide(self, o)

    def __rfloordiv__(self, o: Any) -> Any:
        return _numpy.floor_divide(o, self)

    def __mod__(self, o: Any) -> Any:
        return _numpy.remainder(self, o)

    def __rmod__(self, o: Any) -> Any:
        return _numpy.remainder(o, self)

    def __pow__(self, o: Any) -> Any:
        return _numpy.power(self, o)

    def __rpow__(self, o: Any) -> Any:
        return _numpy.power(o, self)

    def __matmul__(self, o: Any) -> Any:
        return _numpy.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Any:
        return _numpy.matmul(o, self)

    def __neg__(self) -> Any:
        return _numpy.negative(self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return _numpy.absolute(self)

    def __lt__(self, o: Any) -> Any:
        return _numpy.less(self, o)

    def __le__(self, o: Any) -> Any:
        return _numpy.less_equal(self, o)

    def __gt__(self, o: Any) -> Any:
        return _numpy.greater(self, o)

    def __ge__(self, o: Any) -> Any:
        return _numpy.greater_equal(self, o)

    def __eq__(self, o: Any) -> Any:
        return _numpy.equal(self, o)

    def __ne__(self, o: Any) -> Any:
        return _numpy.not_equal(self, o)

    # -- ndarray-style methods ------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        """``np.sum(self, axis, keepdims=keepdims)``."""
        return _numpy.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        """``np.mean(self, axis, keepdims=keepdims)``."""
        return _numpy.mean(self, axis=axis, keepdims=keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Any:
        """``np.prod(self, axis, keepdims=keepdims)``."""
        return _numpy.prod(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Any:
        """``np.max(self, axis, keepdims=keepdims)``."""
        return _numpy.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Any:
        """``np.min(self, axis, keepdims=keepdims)``."""
        return _numpy.min(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis: Any = None) -> Any:
        """``np.cumsum(self, axis)``."""
        return _numpy.cumsum(self, axis=axis)

    def reshape(self, *shape: Any) -> Any:
        """``np.reshape(self, shape)``."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        return _numpy.reshape(self, shape)

    def transpose(self, *axes: Any) -> Any:
        """``np.transpose(self, axes)``."""
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0])
        return _numpy.transpose(self, axes or None)

    def ravel(self) -> Any:
        """``np.ravel(self)``."""
        return _numpy.ravel(self)

    flatten = ravel

    def squeeze(self, axis: Any = None) -> Any:
        """``np.squeeze(self, axis)``."""
        return _numpy.squeeze(self, axis=axis)

    def dot(self, other: Any) -> Any:
        """``np.dot(self, other)``."""
        return _numpy.dot(self, other)

    def clip(self, lo: Any = None, hi: Any = None) -> Any:
        """``np.clip(self, lo, hi)``."""
        return _numpy.clip(self, lo, hi)

    def copy(self) -> "Dual":
        """The Dual itself (Duals are immutable)."""
        return self

    def astype(self, dtype: Any) -> Any:
        """Floating dtypes only: an integer or boolean cast would drop the derivative."""
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"Dual.astype({np.dtype(dtype)}): only floating dtypes keep a derivative")
        return self

    # -- numpy protocols ------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if _foreign(inputs):
            return NotImplemented  # NEP 13: a container of duals (a batch's lane values) applies the ufunc itself
        if method != "__call__" or kwargs:
            return PROTOCOL_RULES["ufunc_method"](ufunc, method, inputs, kwargs)
        rule = UFUNC_RULES.get(ufunc)
        if rule is None:
            if ufunc in PLAIN_UFUNCS:
                return ufunc(*[stop_gradient(x) for x in inputs])
            raise NoDerivativeRuleError(
                f"plait.gradients has no derivative rule for the ufunc {_ufunc_name(ufunc)}; "
                "it was called on a dual number (refusing rather than returning a zero derivative)"
            )
        tag = 0
        for x in inputs:
            if type(x) is Dual and x.tag > tag:
                tag = x.tag
        if tag not in _LIVE:
            escaped(tag)
        primals = []
        tangents = []
        factored = False
        for x in inputs:
            if type(x) is Dual and x.tag == tag:
                primals.append(x.primal)
                t = x._tangent
                if type(t) is Factored:
                    factored = True
                tangents.append(t)
            else:
                primals.append(x)
                tangents.append(None)
        if factored and rule not in FACTORED_RULES:
            tangents = [t.materialise() if type(t) is Factored else t for t in tangents]
        y = ufunc(*primals)
        t = rule(y, primals, tangents)
        if t is None:
            return y
        return new(y, t, tag)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        for kind in types:
            if getattr(kind, "holds_duals", False):
                return NotImplemented  # NEP 18: a container of duals (a batch's lane values) goes first
        rule = FUNCTION_RULES.get(func)
        if rule is None:
            name = getattr(func, "__name__", repr(func))
            module = getattr(func, "__module__", "numpy") or "numpy"
            raise NoDerivativeRuleError(
                f"plait.gradients has no derivative rule for {module}.{name}; it was called "
                "on a dual number (refusing rather than returning a zero derivative)"
            )
        return rule(*args, **kwargs)


def _foreign(inputs: Any) -> bool:
    """True when an operand is a container that holds duals (it says so with ``holds_duals``).

    Such a type (the lane values of a batched run) knows how to apply a ufunc
    to its contents; as NEP 13 asks, the dual defers to it, so
    ``dual + lanes`` becomes one lane value of duals.  Other array types
    (reverse-mode values) are operands of the dual, as before.
    """
    for x in inputs:
        if getattr(type(x), "holds_duals", False):
            return True
    return False
_set_primal = Dual.primal.__set__  # type: ignore[misc]
_set_tangent = Dual._tangent.__set__  # type: ignore[misc]
_set_tag = Dual.tag.__set__  # type: ignore[misc, attr-defined]
_object_new = object.__new__

#: ufunc -> rule(y, primals, tangents) -> tangent or None; filled by .ufunc_rules
UFUNC_RULES: Dict[Any, Callable[..., Any]] = {}
#: rules that accept (and may return) factored tangents; the rest get expanded ones
FACTORED_RULES: set[Any] = set()
#: ufuncs whose result is boolean or piecewise constant: computed on the plain value
PLAIN_UFUNCS: set[Any] = set()
#: numpy function -> replacement accepting Duals; filled by .function_rules and .linalg_rules
FUNCTION_RULES: Dict[Any, Callable[..., Any]] = {}
#: Indexing (``"getitem"``) and ufunc methods other than ``__call__`` (``"ufunc_method"``):
#: rules that need the function rules, registered by them (function_rules imports this module).
PROTOCOL_RULES: Dict[str, Callable[..., Any]] = {}


def new(p: Any, t: Any, tag: int) -> Dual:
    """A Dual without checks (the rules' constructor)."""
    d = _object_new(Dual)
    _set_primal(d, p)
    _set_tangent(d, t)
    _set_tag(d, tag)
    return d


_NUMBERS = (float, int, np.float64)


def _fast(d: Dual, o: Any, op: int) -> Any:
    """``d op o`` for a 0-d ``d`` with a plain tangent, or None to take the ufunc path.

    ``op``: 0 ``d + o``, 1 ``d - o``, 2 ``o - d``, 3 ``d * o``, 4 ``d / o``, 5 ``o / d``.
    """
    r = _compiled_binary(d, o, op)  # one direction: ext/_dual_scalar.pyx, the formulas of _fast_one
    if r is not None:
        return r
    p = d.primal
    t = d._tangent
    if type(p) is not np.float64 or type(t) is not np.ndarray or not math.isfinite(p):
        return None
    to = type(o)
    if to in _NUMBERS:
        if not math.isfinite(o):
            return None
        q, u = o, None
    elif to is Dual and o.tag == d.tag and type(o.primal) is np.float64 and type(o._tangent) is np.ndarray:
        q, u = o.primal, o._tangent
        if not math.isfinite(q):
            return None
    else:
        return None
    tag = d.tag
    if tag not in _LIVE:
        escaped(tag)
    if t.shape == _ONE and (u is None or u.shape == _ONE):
        return _fast_one(float(p), t.item(), float(q), None if u is None else u.item(), op, tag)
    if op == 0:
        return new(p + q, t if u is None else t + u, tag)
    if op == 1:
        return new(p - q, t if u is None else t - u, tag)
    if op == 2:
        return new(q - p, -t if u is None else u - t, tag)
    if op == 3:
        return new(p * q, t * q if u is None else t * q + u * p, tag)
    if op == 4:
        if q == 0:
            return None
        y = p / q
        return new(y, t / q if u is None else (t - u * y) / q, tag)
    if p == 0:
        return None
    y = q / p
    return new(y, -t * (y / p) if u is None else (u - t * y) / p, tag)


_ONE = (1,)


def _fast_one(p: float, t: float, q: float, u: Any, op: int, tag: int) -> Any:
    """:func:`_fast` for one direction, in Python floats (GradInf's scalar θ lives here).

    The same formulas as the array branch; a result tangent of 0 is kept
    (not dropped to None) so the type of every result is the same.  The
    compiled ``plait.ext._dual_scalar.binary`` runs these formulas first;
    this is its reference (tested equal), and the path of tangents that are
    not float64.
    """
    if op == 0:
        y, s = p + q, t if u is None else t + u
    elif op == 1:
        y, s = p - q, t if u is None else t - u
    elif op == 2:
        y, s = q - p, -t if u is None else u - t
    elif op == 3:
        y, s = p * q, t * q if u is None else t * q + u * p
    elif op == 4:
        if q == 0:
            return None
        y = p / q
        s = t / q if u is None else (t - u * y) / q
    else:
        if p == 0:
            return None
        y = q / p
        s = -t * (y / p) if u is None else (u - t * y) / p
    return new(np.float64(y), np.array((s,)), tag)


def _rebuild(p: Any, t: Any, tag: int) -> Dual:
    return new(p, t, tag)


def escaped(tag: int) -> None:
    raise PerturbationEscapeError(
        f"a dual number with tag {tag} was used after the derivative call that created it "
        "returned: a perturbation escaped (stored in outer state, or a derivative operator "
        "returned a function over dual numbers); derivative calls must return values"
    )


def _ufunc_name(ufunc: Any) -> str:
    name = getattr(ufunc, "__name__", repr(ufunc))
    module = "numpy" if getattr(np, name, None) is ufunc else "scipy.special"
    return f"{module}.{name}"


def _shape(x: Any) -> tuple[int, ...]:
    s = getattr(x, "shape", None)
    return s if s is not None else np.shape(x)


def _dtype(x: Any) -> Any:
    while type(x) is Dual:
        x = x.primal
    return getattr(x, "dtype", np.dtype(np.float64))


def ndim(x: Any) -> int:
    """Number of dimensions of an array, scalar or Dual."""
    s = getattr(x, "shape", None)
    return len(s) if s is not None else np.ndim(x)


shape = _shape


def top_tag(values: Any) -> int:
    """The highest tag among the Duals in ``values`` (0 if none); checks it is live."""
    tag = 0
    for x in values:
        if type(x) is Dual and x.tag > tag:
            tag = x.tag
    if tag and tag not in _LIVE:
        escaped(tag)
    return tag


def split(x: Any, tag: int) -> tuple[Any, Any]:
    """``(primal, tangent)`` of ``x`` at level ``tag``; other values are constants there."""
    if type(x) is Dual and x.tag == tag:
        return x.primal, x.tangent
    return x, None


def primal(x: Any) -> Any:
    """The value of ``x`` without its outermost perturbation (``x`` itself if not a Dual).

    >>> from plait.gradients import Dual, perturbation, primal
    >>> with perturbation() as tag:
    ...     print(primal(Dual(3.0, [1.0], tag=tag)), primal(2.0))
    3.0 2.0
    """
    return x.primal if isinstance(x, Dual) else x  # isinstance: reverse-mode values too


def tangent(x: Any) -> Any:
    """The tangent array of ``x``, shape ``(k, *shape)``; ``None`` for a constant.

    >>> from plait.gradients import Dual, perturbation, tangent
    >>> with perturbation() as tag:
    ...     print(tangent(Dual(3.0, [1.0, 0.5], tag=tag)), tangent(2.0))
    [1.  0.5] None
    """
    return x.tangent if type(x) is Dual else None


def stop_gradient(x: Any) -> Any:
    """The plain value of ``x``: every perturbation, at every nesting level, removed.

    Containers (tuples, lists, dicts) are mapped.

    >>> import numpy as np
    >>> from plait.gradients import diff, stop_gradient
    >>> float(diff(lambda x: x * stop_gradient(x), 3.0))
    3.0
    """
    while isinstance(x, Dual):  # isinstance: reverse-mode values (.reverse) too
        x = x.primal
    if isinstance(x, (tuple, list)):
        return type(x)(stop_gradient(v) for v in x)
    if isinstance(x, dict):
        return {k: stop_gradient(v) for k, v in x.items()}
    return x


def is_dual(x: Any) -> bool:
    """True for a Dual.

    >>> from plait.gradients import is_dual
    >>> is_dual(1.0)
    False
    """
    return type(x) is Dual


# -- helpers the rules share ------------------------------------------------------------

def all_finite(d: Any) -> bool:
    """True if every entry of ``d`` (its plain value) is finite."""
    while isinstance(d, Dual):  # isinstance: reverse-mode values (.reverse) too
        d = d.primal
    if isinstance(d, float):
        return math.isfinite(d)
    a = np.asarray(d)
    if a.dtype.kind not in "fc":
        return True
    return bool(np.isfinite(a).all())


def zmul(t: Any, d: Any) -> Any:
    """``t * d`` where an exactly-zero entry of ``t`` contributes exactly zero, even times inf/NaN."""
    if all_finite(d):
        return t * d
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(t == 0, 0.0, t * d)


def lift(t: Any, nd: int, nd_out: int) -> Any:
    """Insert axes after the direction axis so ``t`` broadcasts like its primal against ``nd_out`` dims."""
    if nd == nd_out:
        return t
    s = _shape(t)
    return t.reshape(s[:1] + (1,) * (nd_out - nd) + s[1:])


def fit(t: Any, shape: tuple[int, ...]) -> Any:
    """Broadcast a tangent to ``(k, *shape)``."""
    s = _shape(t)
    if s[1:] == shape:
        return t
    return np.broadcast_to(t, s[:1] + tuple(shape))


from .factored import Factored  # noqa: E402  (uses the helpers above)
from ..ext._dual_scalar import binary as _compiled_binary  # noqa: E402
from ..ext._dual_scalar import register as _register_compiled  # noqa: E402

_register_compiled(Dual, _LIVE, escaped)

"""The :class:`Distribution` interface, the scale/mask wrappers, and shared helpers.

Every plait distribution provides ``sample(rng, shape=())``, ``log_prob(x)``,
``support``, ``mean``, ``variance``, ``batch_shape``, ``event_shape``,
``is_discrete``, ``has_enumerate_support`` and ``enumerate_support()``.
Scalar parameters are stored as Python numbers and scalar draws are Python
``float``/``int``, because a scalar distribution is built and sampled once per
effect on the interpreter's hot path.

>>> import numpy as np
>>> from plait.effects.distributions import Normal, ScaledDistribution
>>> d = ScaledDistribution(Normal(0, 1), 2.0)
>>> round(d.log_prob(0.0), 6)
-1.837877
"""

from __future__ import annotations

import inspect
import math
import threading
from functools import partial
from typing import Any, Callable, NoReturn, Optional

import numpy as np

from ...errors import EffectTypeError, InvalidParameterError
from ...ext._ranges import all_in_range
from ...gradients.dual import Dual, new, stop_gradient
from ...gradients.trace import guarded
from ..lanes import Lanes
from .supports import FiniteSet, IntRange, Support, float_array

__all__ = ["Distribution", "Wrapped", "ScaledDistribution", "MaskedDistribution"]

_INF = math.inf
# Types that take the scalar fast paths; bool and numpy scalars go the array way.
SCALARS = (float, int)
ArrayLike = Any


# --------------------------------------------------------------------------
# helpers shared by the families
# --------------------------------------------------------------------------

def show(value: Any) -> str:
    """A compact representation of a parameter value for reprs and messages."""
    if isinstance(value, Dual):
        return show(stop_gradient(value)) + " (dual)"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return show(value.item())
        if value.size <= 12:
            return repr(value.tolist())
        return np.array2string(
            value, separator=", ", threshold=8, edgeitems=2, precision=6
        ).replace("\n", "") + f" (shape {value.shape})"
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return repr(value)


def _is_int(a: np.ndarray) -> np.ndarray:
    integral: np.ndarray = np.isfinite(a) & (a == np.floor(a))
    return integral


# kind -> (ok-mask predicate on a NaN-free float array, requirement text)
_KINDS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "real": (np.isfinite, "finite"),
    "positive": (lambda a: a > 0, "> 0"),
    "nonnegative": (lambda a: a >= 0, ">= 0"),
    "probability": (lambda a: (a >= 0) & (a <= 1), "in [0, 1]"),
    "success": (lambda a: (a > 0) & (a <= 1), "in (0, 1]"),
    "count": (lambda a: _is_int(a) & (a >= 0), "a nonnegative integer"),
    "integer": (_is_int, "a finite integer"),
}


def fail(family: str, name: str, requirement: str, value: Any, detail: str = "",
         verb: str = "be") -> NoReturn:
    """Raise the standard ``InvalidParameterError`` for one parameter.

    The message reads ``"<family>: parameter '<name>' must <verb> <requirement>,
    got <value><detail>"``.
    """
    raise InvalidParameterError(
        f"{family}: parameter {name!r} must {verb} {requirement}, got {show(value)}{detail}",
        family=family, parameter=name, value=value,
    )


# kind -> (low, high, low allowed, high allowed): an interval that holds
# exactly the valid values (NaN is in none); None: not an interval.
_RANGES: dict[str, Any] = {
    "real": (-_INF, _INF, False, False),
    "positive": (0.0, _INF, False, False),
    "nonnegative": (0.0, _INF, True, False),
    "probability": (0.0, 1.0, True, True),
    "success": (0.0, 1.0, False, True),
    "count": None,
    "integer": None,
}


def _in_interval(v: float, low: float, high: float, low_closed: bool, high_closed: bool) -> bool:
    return (v >= low if low_closed else v > low) and (v <= high if high_closed else v < high)


class _Trust(threading.local):
    depth = 0


_TRUSTED = _Trust()


class trusted:
    """Within this context, parameters are converted but not checked again.

    A batched run lowers a distribution whose lane parameters were checked
    when the model built it (:mod:`plait.effects.distributions.batching`);
    checking the same values twice would double the cost of every site.

    >>> with trusted():
    ...     validate("Normal", "scale", -1.0, "positive").item()
    -1.0
    """

    def __enter__(self) -> None:
        _TRUSTED.depth += 1

    def __exit__(self, *exc: Any) -> None:
        _TRUSTED.depth -= 1


def validate(family: str, name: str, value: Any, kind: str) -> Any:
    """Convert ``value`` to a float array and check it is of ``kind``.

    NaN and infinities are rejected for every kind; for "real", "count" and
    "integer" the predicate itself already excludes infinities.  Arrays whose
    elements all lie in the kind's interval pass after one compiled scan
    (particle-sized parameters of vectorized SMC take this path at every
    step); the others get the element-wise diagnosis that names the first
    offending element.  A dual number is checked on its plain value and
    returned as it is, and so is a list of them, stacked (:func:`stacked_duals`).  A lane value of a batched run becomes the plain value
    its lanes decide (:func:`lane_params` checks, and keeps, the lane values
    of the families a batched run lowers).
    """
    t = type(value)
    if t is float:
        interval = _RANGES[kind]
        if interval is not None and _in_interval(value, *interval):  # (also what trusted() gives)
            return np.asarray(value)
    elif t is not int and (t is not np.ndarray or value.dtype == object):
        if t is Lanes:
            # Not a family that keeps lane values (lane_params checks those): the lanes decide one plain value.
            return validate(family, name, np.asarray(value), kind)
        if isinstance(value, Dual):
            # A guard when traced: a replay at a point where this check fails runs the model instead.
            guarded(value, partial(_passes, family, name, kind))
            return value
        if is_tensor(value):
            validate(family, name, detached(value), kind)
            return value
        stacked = stacked_duals(value)
        if stacked is not None:
            return validate(family, name, stacked, kind)
    if _TRUSTED.depth:
        return np.asarray(value, dtype=float)
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        fail(family, name, "a real number or array of real numbers", value)
    interval = _RANGES[kind]
    if interval is not None:
        if a.ndim == 0:
            if _in_interval(a.item(), *interval):
                return a
        elif all_in_range(a, *interval):
            return a
    nan = np.isnan(a)
    if nan.any():
        fail(family, name, "a number, not NaN", value, _where(a, nan))
    pred, req = _KINDS[kind]
    ok = pred(a)
    if not ok.all():
        fail(family, name, req, value, _where(a, ~ok))
    if kind not in ("real", "count", "integer"):
        inf = np.isinf(a)
        if inf.any():
            fail(family, name, "finite", value, _where(a, inf))
    return a


def _passes(family: str, name: str, kind: str, plain: Any) -> bool:
    return validate(family, name, plain, kind) is not None


def _checked_shape(family: str, name: str, kind: str, plain: Any) -> tuple[int, ...]:
    return tuple(validate(family, name, plain, kind).shape)


def _scalar_in(interval: Any, plain: Any) -> bool:
    return type(plain) is np.float64 and _in_interval(float(plain), *interval)


def _where(a: np.ndarray, bad: np.ndarray) -> str:
    """For arrays, point at the first offending element."""
    if a.ndim == 0:
        return ""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return f" (element {idx} is {show(a[idx])})"


def broadcast(family: str, **params: np.ndarray) -> tuple[list[np.ndarray], tuple[Any, ...]]:
    """Broadcast parameter arrays together; read-only copies plus the batch shape."""
    shape: tuple[Any, ...] = ()
    for p in params.values():
        if p.shape and p.shape != shape:
            if shape:
                shape = _broadcast_shape(family, params)
                break
            shape = p.shape
    out = []
    for p in params.values():
        if p.shape == shape:
            b = p.copy()
        else:
            b = np.empty(shape)
            b[...] = p
        b.setflags(write=False)
        out.append(b)
    return out, tuple(shape)


def _broadcast_shape(family: str, params: dict[Any, Any]) -> tuple[Any, ...]:
    try:
        return np.broadcast_shapes(*(p.shape for p in params.values()))
    except ValueError:
        described = ", ".join(f"{k} {v.shape}" for k, v in params.items())
        raise InvalidParameterError(
            f"{family}: parameters have incompatible shapes: {described}", family=family
        ) from None


def is_tensor(value: Any) -> bool:
    """True for a torch tensor, recognised by its type so that torch is never imported here.

    The Pyro bridge (:mod:`plait.bridges.pyro`) runs models on tensors so
    that NUTS can differentiate them; a distribution built from tensor
    parameters checks their values and keeps the tensors as they are, for
    the bridge to hand to torch.  Such a distribution is a description for
    the bridge: plait's own samplers and densities need numbers or Duals.

    >>> is_tensor(1.0), is_tensor(np.zeros(2))
    (False, False)
    """
    t = type(value)
    return t is not np.ndarray and t.__module__.startswith("torch") and hasattr(value, "detach")


def detached(value: Any) -> Any:
    """A tensor's values as a numpy array (no derivatives); anything else unchanged."""
    return value.detach().cpu().numpy() if is_tensor(value) else value


def tensor_params(family: str, spec: dict[Any, Any]) -> tuple[list[Any], tuple[Any, ...]]:
    """``params`` when some parameter is a torch tensor: check the values, keep the tensors."""
    plain = {name: validate(family, name, detached(v), kind) for name, (v, kind) in spec.items()}
    arrays, shape = broadcast(family, **plain)
    return [v if is_tensor(v) else a for (v, _), a in zip(spec.values(), arrays)], shape


def params(family: str, **spec: tuple[Any, str]) -> tuple[list[np.ndarray], tuple[Any, ...]]:
    """Validate each ``name=(value, kind)`` and broadcast them together."""
    for name, (v, kind) in spec.items():
        t = type(v)
        if t is float or t is int or (t is np.ndarray and v.dtype != object):
            continue
        if t is Lanes:
            return lane_params(family, spec)
        if isinstance(v, Dual):
            return dual_params(family, spec)
        if is_tensor(v):
            return tensor_params(family, spec)
        stacked = stacked_duals(v)
        if stacked is not None:  # [p, 1 - p] with p differentiable: one dual array
            return params(family, **{**spec, name: (stacked, kind)})
    arrays = {name: validate(family, name, v, kind) for name, (v, kind) in spec.items()}
    if _TRUSTED.depth:  # a batched run's lowering: its own arrays, not copied
        return list(arrays.values()), _shape_of(family, arrays)
    return broadcast(family, **arrays)


def stacked_duals(value: Any) -> Any:
    """A list, tuple or object array that holds dual numbers, as one dual array; None for any other value.

    ``[p, 1 - p]`` with ``p`` differentiable (forward or reverse mode) is an
    array of probabilities whose derivatives are those of its items: it is
    stacked item by item with the differentiable ``np.stack``.

    >>> from plait.gradients import grad_forward
    >>> float(grad_forward(lambda p: stacked_duals([p, 1.0 - p])[1] * 3.0, 0.25))
    -3.0
    >>> stacked_duals([0.5, 0.5]) is None
    True
    """
    t = type(value)
    if t is np.ndarray:
        if value.dtype != object:
            return None
        value = value.tolist()
    elif t is not list and t is not tuple:
        return None
    return _stacked(value) if _holds_dual(value) else None


def _holds_dual(items: Any) -> bool:
    for item in items:  # (a loop, not any(): plain lists of numbers are the common case, and short)
        if isinstance(item, Dual) or ((type(item) is list or type(item) is tuple) and _holds_dual(item)):
            return True
    return False


def _stacked(items: Any) -> Any:
    if isinstance(items, (list, tuple)):
        return np.stack([_stacked(item) for item in items])
    return items


def _shape_of(family: str, arrays: dict[Any, Any]) -> tuple[Any, ...]:
    """The broadcast shape of parameter arrays (one lookup when they agree, the common case)."""
    shape: Optional[tuple[Any, ...]] = None
    for a in arrays.values():
        if a.ndim:
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                return _broadcast_shape(family, arrays)
    return () if shape is None else shape


_INTEGRAL = ("count", "integer")


# Constructor arguments that only respell a parameter the family stores (None when unused).
_RESPELLINGS = frozenset({"logits", "log_rate", "mean", "concentration"})
_WRAPPERS = ("ScaledDistribution", "MaskedDistribution")  # (base, one parameter)


_LOWERABLE: dict[type, bool] = {}


def lowerable(cls: type) -> bool:
    """True when ``cls`` is rebuilt exactly from the parameters it names (``_param_names``).

    A family whose constructor takes more (an event dimension, components, a
    base distribution) is not lowered generically: its lanes are split by
    parameter value instead (:func:`plain_by_value`).

    >>> from plait.effects.distributions import Normal, Mixture
    >>> lowerable(Normal), lowerable(Mixture)
    (True, False)
    """
    known = _LOWERABLE.get(cls)
    if known is None:
        known = _LOWERABLE[cls] = _rebuilt_from_names(cls)
    return known


def _rebuilt_from_names(cls: type) -> bool:
    names = getattr(cls, "_param_names", ())
    if cls.__name__ in _WRAPPERS:
        return True
    if not names or "base" in names:
        return False
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    for name, parameter in signature.parameters.items():
        if name in names:
            continue
        if name in _RESPELLINGS and parameter.default is None:
            continue
        return False
    return True


def lowerable_family(family: str) -> bool:
    """True when the family named ``family`` keeps lane values (a batched run lowers it).

    >>> lowerable_family("Normal"), lowerable_family("NoSuchFamily")
    (True, False)
    """
    known = _LOWERABLE_FAMILY.get(family)
    if known is not None:
        return known
    cls = _family_classes().get(family)
    if cls is None:
        return False  # not cached: a family defined later is looked up again
    known = _LOWERABLE_FAMILY[family] = lowerable(cls)
    return known


_LOWERABLE_FAMILY: dict[str, bool] = {}


def _family_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    pending = [Distribution]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


def lane_params(family: str, spec: dict[Any, Any]) -> tuple[list[Any], tuple[Any, ...]]:
    """``params`` when some parameter holds one value per lane of a batched run.

    Every lane's value is checked; lane values stay lane values (a batched
    run lowers the distribution to a plain batched one when it samples or
    scores it), plain ones are validated as usual.  The batch shape is what
    one lane sees.
    """
    if not lowerable_family(family):
        plain = {name: (np.asarray(v) if type(v) is Lanes else v, kind) for name, (v, kind) in spec.items()}
        return params(family, **plain)  # the lanes decided one value each
    out: list[Any] = []
    shape: tuple[Any, ...] = ()
    agree = True
    for name, (v, kind) in spec.items():
        if type(v) is Lanes:  # every lane checked; the lane value kept
            data = validate(family, name, v.data, kind)
            checked: Any = v if data is v.data else Lanes(data, v.space)
        else:
            checked = validate(family, name, v, kind)
        out.append(checked)
        own = checked.shape
        if own and own != shape:
            agree = agree and not shape
            shape = own
    if agree:  # the common case (one shape, or scalars), without numpy's broadcasting machinery
        return out, shape
    shapes = [c.shape for c in out]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        described = ", ".join(f"{k} {s}" for k, s in zip(spec, shapes))
        raise InvalidParameterError(
            f"{family}: parameters have incompatible shapes: {described}"
        ) from None
    return out, tuple(shape)


def dual_params(family: str, spec: dict[Any, Any]) -> tuple[list[Any], tuple[Any, ...]]:
    """``params`` when some parameter is a dual number.

    Validation runs on the plain values, so messages name the value.  The
    real-valued parameters all become Duals of the highest tag (plain ones
    with a zero tangent): no parameter is then a Python float, so the float
    fast paths of the families, which cannot carry derivatives, are skipped
    as a whole.  Integer-valued parameters cannot carry derivatives.
    """
    for name, (v, kind) in spec.items():
        if isinstance(v, Dual) and kind in _INTEGRAL:
            fail(family, name, f"{kind} (plain, it cannot carry a derivative)", v)
    scalars = _dual_scalars(spec)
    if scalars is not None:
        return scalars, ()
    # A dual parameter's plain value only gives its shape here: checked by a guard when traced.
    plain = {name: validate(family, name, v, kind) if not isinstance(v, Dual)
             else np.zeros(guarded(v, partial(_checked_shape, family, name, kind)))
             for name, (v, kind) in spec.items()}
    arrays, shape = broadcast(family, **plain)
    # isinstance: a reverse-mode value (a Dual subclass) sets the level too
    tag = max((v.tag for v, _ in spec.values() if isinstance(v, Dual)), default=0)
    out: list[Any] = []
    for (name, (v, kind)), a in zip(spec.items(), arrays):
        if kind in _INTEGRAL:
            out.append(a)
        elif isinstance(v, Dual):
            out.append(v if v.shape == shape else np.broadcast_to(v, shape))  # type: ignore[call-overload]  # (Dual: __array_function__)
        else:
            out.append(new(a if a.ndim else a[()], None, tag))
    return out, shape


def _dual_scalars(spec: dict[Any, Any]) -> Any:
    """``dual_params`` for 0-d parameters that are all in range, without arrays (a hot path of GradInf)."""
    values = []
    tag = 0
    for v, kind in spec.values():
        interval = _RANGES[kind]
        if interval is None:
            return None
        if isinstance(v, Dual):
            # A guard when traced (the plain value decides the path taken).
            if not guarded(v, partial(_scalar_in, interval)):
                return None
            tag = max(tag, v.tag)
        elif type(v) is float or type(v) is int:
            if not _in_interval(float(v), *interval):
                return None  # the general path names the offending value
        else:
            return None
        values.append(v)
    return [v if isinstance(v, Dual) else new(np.float64(v), None, tag) for v in values]


def plain(value: Any) -> Any:
    """The value without derivatives; a Python float for a scalar (for supports and sampling)."""
    v = stop_gradient(value)
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    if isinstance(v, np.floating):
        return float(v)
    return v


def scalar_or_array(a: Any, integer: bool = False) -> Any:
    """Python number for 0-d arrays (the fast paths rely on it), else the array; Duals pass."""
    if type(a) is Lanes or isinstance(a, Dual) or (type(a) is not np.ndarray and is_tensor(a)):
        return a
    if a.ndim == 0:
        return int(a) if integer else float(a)
    if integer:
        a = a.astype(np.int64)
        a.flags.writeable = False
    return a


def as_values(x: Any) -> Any:
    """Values to score as a float array (bools become 0/1, ints beyond float range +-inf).

    A dual number (a reparameterised draw) passes through, so the score is
    differentiable in the value too.
    """
    if isinstance(x, Dual) or type(x) is Lanes:
        return x
    return float_array(x)


def out(lp: Any) -> Any:
    """Python float for 0-d results, else a float64 array; dual numbers pass through."""
    if isinstance(lp, Dual) or type(lp) is Lanes:
        return lp
    lp = np.asarray(lp, dtype=np.float64)
    return float(lp) if lp.ndim == 0 else lp


def restrict(lp: Any, x: np.ndarray, inside: Any) -> np.ndarray:
    """``lp`` inside the support, ``-inf`` outside, ``nan`` where ``x`` is NaN."""
    return np.where(inside, lp, np.where(np.isnan(x), np.nan, -np.inf))


def norm_shape(shape: Any) -> tuple[Any, ...]:
    """Accept an int or any sequence of ints as a sample shape."""
    if type(shape) is tuple:
        return shape
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def xlogy(x: float, y: float) -> float:
    """Scalar ``x * log(y)`` with ``0 * log(0) = 0`` (no exceptions)."""
    if x == 0:
        return 0.0
    if y == 0:
        return -_INF if x > 0 else _INF
    return x * math.log(y)


def xlog1py(x: float, y: float) -> float:
    """Scalar ``x * log1p(y)`` with ``0 * log1p(-1) = 0`` (no exceptions)."""
    if x == 0:
        return 0.0
    if y == -1:
        return -_INF if x > 0 else _INF
    return x * math.log1p(y)


# --------------------------------------------------------------------------
# the interface
# --------------------------------------------------------------------------

class Distribution:
    """Base class of plait distributions.

    Subclasses set ``batch_shape`` in ``__init__`` and implement ``sample``,
    ``log_prob``, ``support``, ``mean`` and ``variance``.  Equality and hashing
    are by identity.  ``log_prob`` returns ``-inf`` outside the support and
    ``nan`` only for a NaN value.

    >>> from plait.effects.distributions import Distribution, Normal
    >>> isinstance(Normal(0, 1), Distribution)
    True
    """

    __slots__ = ("batch_shape",)
    batch_shape: tuple[int, ...]
    is_discrete: bool = False
    has_enumerate_support: bool = False
    event_shape: tuple[Any, ...] = ()
    _param_names: tuple[Any, ...] = ()
    #: True when ``__init__`` only validates the parameters and stores each one
    #: (a 0-d array as a Python number) in the slot of its name, plus
    #: ``batch_shape``: a batched run then lowers the family without calling it.
    _stores_params: bool = False

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:  # pragma: no cover
        """A draw of shape ``shape + batch_shape + event_shape``."""
        raise NotImplementedError

    def log_prob(self, x: ArrayLike) -> Any:  # pragma: no cover
        """Log density or mass at ``x``, broadcast against the batch."""
        raise NotImplementedError

    @property
    def support(self) -> Support:  # pragma: no cover
        """The support computed from the actual parameter values."""
        raise NotImplementedError

    @property
    def mean(self) -> Any:  # pragma: no cover
        """The mean (``nan`` or ``inf`` where undefined)."""
        raise NotImplementedError

    @property
    def variance(self) -> Any:  # pragma: no cover
        """The variance (``inf`` or ``nan`` where undefined)."""
        raise NotImplementedError

    def enumerate_support(self) -> list[Any]:
        """The support's values as a list of Python ints (finite discrete families).

        >>> from plait.effects.distributions import Binomial
        >>> Binomial(3, 0.5).enumerate_support()
        [0, 1, 2, 3]
        """
        name = type(self).__name__
        if not self.has_enumerate_support:
            raise NotImplementedError(
                f"{name} has no finite support to enumerate (support {self.support!r})"
            )
        if self.batch_shape:
            raise ValueError(
                f"{name}.enumerate_support needs scalar parameters, got batch_shape {self.batch_shape}"
            )
        s = self.support
        if isinstance(s, IntRange):
            return list(range(s.low, s.high + 1))
        if isinstance(s, FiniteSet):
            return [int(v) for v in s.values]
        raise NotImplementedError(f"{name}: cannot enumerate support {s!r}")  # pragma: no cover

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={show(getattr(self, n))}" for n in self._param_names)
        return f"{type(self).__name__}({args})"


class Wrapped(Distribution):
    """A distribution that is ``base`` in everything but what a subclass overrides.

    Sampling, support, shapes, moments and enumeration are ``base``'s; the
    scale and mask wrappers change the density, :class:`Coupled` only adds
    a tag.

    >>> from plait.effects.distributions import Bernoulli, ScaledDistribution
    >>> ScaledDistribution(Bernoulli(0.5), 2.0).enumerate_support()
    [0, 1]
    """

    __slots__ = ("base",)
    base: Distribution

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Sample from ``base``."""
        return self.base.sample(rng, shape)

    def log_prob(self, x: ArrayLike) -> Any:
        """``base.log_prob(x)``."""
        return self.base.log_prob(x)

    support = property(lambda self: self.base.support, doc="The support of ``base``.")
    mean = property(lambda self: self.base.mean, doc="The mean of ``base``.")
    variance = property(lambda self: self.base.variance, doc="The variance of ``base``.")
    event_shape = property(lambda self: self.base.event_shape, doc="``base.event_shape``.")
    is_discrete = property(lambda self: self.base.is_discrete, doc="``base.is_discrete``.")
    has_enumerate_support = property(
        lambda self: self.base.has_enumerate_support, doc="``base.has_enumerate_support``."
    )

    def enumerate_support(self) -> list[Any]:
        """Enumerate ``base``'s support."""
        return self.base.enumerate_support()


class ScaledDistribution(Wrapped):
    """``base`` with its log density multiplied by ``scale > 0``.

    Sampling, support, shapes and moments are those of ``base``; ``scale``
    broadcasts against the log-prob result.

    >>> from plait.effects.distributions import Bernoulli, ScaledDistribution
    >>> d = ScaledDistribution(Bernoulli(0.5), 3.0)
    >>> round(d.log_prob(1), 6), d.log_prob(2), d.support
    (-2.079442, -inf, Boolean {0, 1} [discrete])
    """

    __slots__ = ("scale",)
    scale: Any
    _param_names = ("scale",)

    def __init__(self, base: Distribution, scale: ArrayLike) -> None:
        _need_distribution("ScaledDistribution", base)
        if type(scale) in SCALARS and 0 < scale < _INF:
            scale = scale + 0.0
        else:
            scale = scalar_or_array(validate("ScaledDistribution", "scale", scale, "positive"))
        self.base = base
        self.scale = scale
        self.batch_shape = base.batch_shape

    def log_prob(self, x: ArrayLike) -> Any:
        """``scale * base.log_prob(x)``; ``-inf`` stays ``-inf``."""
        lp = self.base.log_prob(x)
        if type(lp) is float and type(self.scale) is float:
            return self.scale * lp
        return out(self.scale * (lp if isinstance(lp, Dual) else np.asarray(lp)))


    def __repr__(self) -> str:
        return f"ScaledDistribution({self.base!r}, scale={show(self.scale)})"


class MaskedDistribution(Wrapped):
    """``base`` whose log density is replaced by 0 where ``mask`` is False.

    ``mask`` is a bool or a bool array broadcasting against the log-prob
    result; masked entries are exactly 0.0, even where ``base`` gives ``-inf``.

    >>> from plait.effects.distributions import MaskedDistribution, Poisson
    >>> MaskedDistribution(Poisson(3.0), False).log_prob(-1)
    0.0
    >>> MaskedDistribution(Poisson(3.0), [True, False]).log_prob(-1)
    array([-inf,   0.])
    """

    __slots__ = ("mask",)
    mask: Any
    _param_names = ("mask",)

    def __init__(self, base: Distribution, mask: Any) -> None:
        _need_distribution("MaskedDistribution", base)
        if type(mask) is not bool:
            m = np.asarray(mask)
            if m.dtype != np.bool_:
                fail("MaskedDistribution", "mask", "a bool or an array of bools", mask)
            mask = bool(m) if m.ndim == 0 else m
            if type(mask) is not bool:
                mask = mask.copy()
                mask.flags.writeable = False
        self.base = base
        self.mask = mask
        self.batch_shape = base.batch_shape

    def log_prob(self, x: ArrayLike) -> Any:
        """``where(mask, base.log_prob(x), 0.0)``."""
        lp = self.base.log_prob(x)
        if type(self.mask) is bool and type(lp) is float:
            return lp if self.mask else 0.0
        return out(np.where(self.mask, lp, 0.0))


    def __repr__(self) -> str:
        return f"MaskedDistribution({self.base!r}, mask={show(self.mask)})"


def _need_distribution(family: str, base: Any) -> None:
    if not isinstance(base, Distribution):
        raise EffectTypeError(
            f"{family}: base must be a plait Distribution, got {type(base).__name__}: {base!r}"
        )

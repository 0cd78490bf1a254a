"""Bijections from unconstrained space onto supports, for optimisation and unconstrained densities.

``biject_to(support)`` returns a :class:`Transform` ``T`` from unconstrained
``R^n`` onto ``support``: ``T.forward(x)`` is the constrained value,
``T.inverse(y)`` the unconstrained one, and ``T.log_abs_det_jacobian(x)`` is
``log |dy/dx|`` at ``x``.  The optimisers of :func:`plait.svi` take their
steps on ``x``, and an unconstrained log density is
``log p(T.forward(x)) + T.log_abs_det_jacobian(x)``.

Every transform is built from numpy ufuncs and ``scipy.special`` functions
that have derivative rules (``exp``, ``expit``, ``log_expit``, ``logit``,
``cumsum``...), so ``x`` may be a float, a numpy array or a
:class:`~plait.gradients.Dual`, and the result carries derivatives.

Conventions:

* elementwise transforms (``event_dim == 0``) return the log-Jacobian
  elementwise, with the shape of ``x``; vector transforms (``event_dim ==
  1``) sum it over the last axis;
* the simplex of dimension ``k`` has ``k - 1`` free coordinates
  (stick-breaking), so its unconstrained shape differs from its constrained
  one: see :meth:`Transform.unconstrained_shape`.  Its log-Jacobian is that
  of the map onto the first ``k - 1`` coordinates, the coordinates in which
  simplex densities (the Dirichlet's) are written.

>>> import numpy as np
>>> import plait
>>> from plait.effects.transforms import biject_to
>>> positive, unit_interval = plait.supports.positive, plait.supports.unit_interval
>>> t = biject_to(positive)
>>> float(t.forward(0.0)), float(t.inverse(np.e))
(1.0, 1.0)
>>> biject_to(unit_interval).forward(np.array([-1.0, 0.0, 1.0])).round(4)
array([0.2689, 0.5   , 0.7311])
"""

from __future__ import annotations

import functools
import math
from typing import Any, Optional, Tuple

import numpy as np
import scipy.special as sc

from ..errors import InvalidParameterError
from ..gradients.dual import Dual
from .distributions.supports import (
    CorrCholeskyFactor,
    Interval,
    OrderedVector,
    Real,
    RealVector,
    Simplex,
    Support,
    ZeroSumVector,
)

__all__ = [
    "Transform",
    "Identity",
    "Exp",
    "Softplus",
    "LowerBound",
    "UpperBound",
    "ScaledSigmoid",
    "StickBreaking",
    "Ordered",
    "SumToZero",
    "CorrCholesky",
    "biject_to",
]


class Transform:
    """A bijection ``forward: R^n -> support`` with its inverse and log-Jacobian.

    Subclasses define ``forward``, ``inverse``, ``log_abs_det_jacobian``, and
    the ``support`` they map onto.  Transforms are immutable configuration.

    >>> import plait
    >>> from plait.effects.transforms import biject_to
    >>> real = plait.supports.real
    >>> t = biject_to(real)
    >>> t.forward(2.5), float(t.log_abs_det_jacobian(2.5))
    (2.5, 0.0)
    """

    __slots__ = ()
    #: 0 for elementwise transforms, 1 when the last axis is one event.
    event_dim: int = 0

    @property
    def support(self) -> Support:  # pragma: no cover - abstract
        """The support ``forward`` maps onto."""
        raise NotImplementedError

    def forward(self, x: Any) -> Any:  # pragma: no cover - abstract
        """The constrained value of the unconstrained ``x``."""
        raise NotImplementedError

    def inverse(self, y: Any) -> Any:  # pragma: no cover - abstract
        """The unconstrained value of the constrained ``y``."""
        raise NotImplementedError

    def log_abs_det_jacobian(self, x: Any) -> Any:  # pragma: no cover - abstract
        """``log |d forward(x) / dx|`` (elementwise, or summed over an event)."""
        raise NotImplementedError

    def unconstrained_shape(self, shape: Tuple[int, ...]) -> Tuple[int, ...]:
        """The shape of ``inverse(y)`` for ``y`` of shape ``shape`` (the same, except for the simplex)."""
        return tuple(shape)

    def constrained_shape(self, shape: Tuple[int, ...]) -> Tuple[int, ...]:
        """The shape of ``forward(x)`` for ``x`` of shape ``shape``."""
        return tuple(shape)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def _key(self) -> tuple[Any, ...]:
        return ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}() -> {self.support!r}"


def _zeros_like(x: Any, shape: Tuple[int, ...]) -> Any:
    """Zeros of ``shape``; a Python/numpy scalar 0.0 for scalar shapes."""
    return np.zeros(shape) if shape else np.float64(0.0)


def _shape(x: Any) -> Tuple[int, ...]:
    return tuple(np.shape(x)) if not hasattr(x, "shape") else tuple(x.shape)


class Identity(Transform):
    """The identity onto the real line (``event_dim`` 0) or real ``d``-vectors (``event_dim`` 1).

    >>> from plait.effects.transforms import Identity
    >>> Identity().forward(-3.0), Identity().inverse(-3.0)
    (-3.0, -3.0)
    """

    __slots__ = ("dim",)
    dim: Optional[int]

    def __init__(self, dim: Any = None) -> None:
        object.__setattr__(self, "dim", None if dim is None else int(dim))

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return 0 if self.dim is None else 1

    @property
    def support(self) -> Support:
        return Real() if self.dim is None else RealVector(self.dim)

    def _key(self) -> tuple[Any, ...]:
        return (self.dim,)

    def forward(self, x: Any) -> Any:
        return x

    def inverse(self, y: Any) -> Any:
        return y

    def log_abs_det_jacobian(self, x: Any) -> Any:
        shape = _shape(x)
        return _zeros_like(x, shape if self.dim is None else shape[:-1])


class Exp(Transform):
    """``x -> exp(x)`` onto the positive reals; ``log |dy/dx| = x``.

    The default for positive values (see :func:`biject_to` for why).

    >>> import numpy as np
    >>> from plait.effects.transforms import Exp
    >>> float(Exp().forward(np.log(4.0))), float(Exp().log_abs_det_jacobian(1.5))
    (4.0, 1.5)
    """

    __slots__ = ()

    @property
    def support(self) -> Support:
        return Interval(0.0, math.inf)

    def forward(self, x: Any) -> Any:
        return np.exp(x)

    def inverse(self, y: Any) -> Any:
        with np.errstate(divide="ignore"):
            return np.log(y)

    def log_abs_det_jacobian(self, x: Any) -> Any:
        # x itself, but always a fresh value of x's kind (never aliasing the input).
        return x + 0.0


class Softplus(Transform):
    """``x -> log(1 + exp(x))`` onto the positive reals; ``log |dy/dx| = log expit(x)``.

    Linear for large ``x``, so gradient steps change large values additively
    rather than multiplicatively; offered as an alternative to :class:`Exp`
    (``biject_to(positive, positive="softplus")``).

    >>> import numpy as np
    >>> from plait.effects.transforms import Softplus
    >>> t = Softplus()
    >>> bool(t.forward(0.0) == np.log(2.0)), round(float(t.inverse(t.forward(0.3))), 12)
    (True, 0.3)
    """

    __slots__ = ()

    @property
    def support(self) -> Support:
        return Interval(0.0, math.inf)

    def forward(self, x: Any) -> Any:
        return np.logaddexp(0.0, x)

    def inverse(self, y: Any) -> Any:
        # log(exp(y) - 1) = y + log(1 - exp(-y)), stable for large and small y.
        with np.errstate(divide="ignore"):
            return y + np.log(-np.expm1(-y))

    def log_abs_det_jacobian(self, x: Any) -> Any:
        return sc.log_expit(x)


class LowerBound(Transform):
    """``x -> low + exp(x)`` onto ``Interval(low, inf)``; ``log |dy/dx| = x``.

    >>> from plait.effects.transforms import LowerBound
    >>> float(LowerBound(2.0).forward(0.0))
    3.0
    """

    __slots__ = ("low",)
    low: Any

    def __init__(self, low: Any) -> None:
        object.__setattr__(self, "low", low)

    @property
    def support(self) -> Support:
        return Interval(self.low, math.inf)

    def _key(self) -> tuple[Any, ...]:
        return (self.support,)

    def forward(self, x: Any) -> Any:
        return np.exp(x) + np.asarray(self.low)

    def inverse(self, y: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(y - np.asarray(self.low))

    def log_abs_det_jacobian(self, x: Any) -> Any:
        return x + 0.0

    def __repr__(self) -> str:
        return f"LowerBound({self.low!r}) -> {self.support!r}"


class UpperBound(Transform):
    """``x -> high - exp(x)`` onto ``Interval(-inf, high)``; ``log |dy/dx| = x``.

    >>> from plait.effects.transforms import UpperBound
    >>> float(UpperBound(2.0).forward(0.0))
    1.0
    """

    __slots__ = ("high",)
    high: Any

    def __init__(self, high: Any) -> None:
        object.__setattr__(self, "high", high)

    @property
    def support(self) -> Support:
        return Interval(-math.inf, self.high)

    def _key(self) -> tuple[Any, ...]:
        return (self.support,)

    def forward(self, x: Any) -> Any:
        return np.asarray(self.high) - np.exp(x)

    def inverse(self, y: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.asarray(self.high) - y)

    def log_abs_det_jacobian(self, x: Any) -> Any:
        return x + 0.0

    def __repr__(self) -> str:
        return f"UpperBound({self.high!r}) -> {self.support!r}"


class ScaledSigmoid(Transform):
    """``x -> low + (high - low) expit(x)`` onto a bounded ``Interval(low, high)``.

    ``log |dy/dx| = log(high - low) + log expit(x) + log expit(-x)``, computed
    in log space so it stays finite for large ``|x|``.  With ``low = 0``,
    ``high = 1`` it is the logit / expit pair of the unit interval.  The
    bounds may themselves be Duals (a Uniform whose bounds are other
    latents), and then the map and its Jacobian carry their derivatives.

    >>> from plait.effects.transforms import ScaledSigmoid
    >>> t = ScaledSigmoid(-1.0, 3.0)
    >>> float(t.forward(0.0)), round(float(t.inverse(2.0)), 12)
    (1.0, 1.098612288668)
    """

    __slots__ = ("low", "high")
    low: Any
    high: Any

    def __init__(self, low: Any, high: Any) -> None:
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def support(self) -> Support:
        return Interval(self.low, self.high)

    def _key(self) -> tuple[Any, ...]:
        return (self.support,)

    def _low(self) -> Any:
        return _bound(self.low)

    def _width(self) -> Any:
        return _bound(self.high) - _bound(self.low)

    def _unit(self) -> bool:
        # Compared only when plain: a Dual bound equal to 0 may still move.
        return not isinstance(self.low, Dual) and not isinstance(self.high, Dual) and self.low == 0.0 and self.high == 1.0

    def forward(self, x: Any) -> Any:
        if self._unit():
            return sc.expit(x)
        return self._low() + self._width() * sc.expit(x)

    def inverse(self, y: Any) -> Any:
        if self._unit():
            return sc.logit(y)
        return sc.logit((y - self._low()) / self._width())

    def log_abs_det_jacobian(self, x: Any) -> Any:
        return np.log(self._width()) + sc.log_expit(x) + sc.log_expit(-x)

    def __repr__(self) -> str:
        return f"ScaledSigmoid({self.low!r}, {self.high!r}) -> {self.support!r}"


def _bound(v: Any) -> Any:
    """A bound as a float array, or as itself when it is a Dual (so its derivative flows)."""
    return v if isinstance(v, Dual) else np.asarray(v, dtype=float)


class StickBreaking(Transform):
    """Stick-breaking from ``R^(k-1)`` onto the simplex of dimension ``k`` (``event_dim`` 1).

    Coordinate ``i`` (0-based) of ``x`` breaks off the fraction
    ``z_i = expit(x_i - log(k - 1 - i))`` of the stick left,
    ``y_i = z_i (1 - y_0 - ... - y_{i-1})``; the last coordinate takes the
    rest.  The offsets make ``x = 0`` the simplex's centre ``(1/k, ..., 1/k)``.
    Everything is computed in log space (``log_expit`` and cumulative sums of
    logs), so tiny coordinates do not underflow the stick.  The
    log-Jacobian, ``sum_i log z_i + log(1 - z_i) + log(stick left before i)``,
    is that of the map onto ``(y_0, ..., y_{k-2})``.

    >>> import numpy as np
    >>> from plait.effects.transforms import StickBreaking
    >>> t = StickBreaking(3)
    >>> t.forward(np.zeros(2)).round(6)
    array([0.333333, 0.333333, 0.333333])
    >>> t.inverse(np.array([0.2, 0.3, 0.5])).round(6)
    array([-0.693147, -0.510826])
    >>> t.unconstrained_shape((3,)), t.constrained_shape((2,))
    ((2,), (3,))
    """

    __slots__ = ("k",)
    k: int
    event_dim = 1

    def __init__(self, k: int) -> None:
        object.__setattr__(self, "k", int(k))

    @property
    def support(self) -> Support:
        return Simplex(self.k)

    def _key(self) -> tuple[Any, ...]:
        return (self.k,)

    def _offsets(self) -> np.ndarray:
        offsets: np.ndarray = np.log(np.arange(self.k - 1, 0, -1, dtype=float))
        return offsets

    def _check(self, shape: Tuple[int, ...], size: int, what: str) -> None:
        _check_last_axis(f"StickBreaking({self.k}).{what}", shape, size)

    def _logs(self, x: Any) -> Tuple[Any, Any]:
        """``(log z, log stick-left-before)`` for each of the ``k - 1`` breaks."""
        u = x - self._offsets()
        log_z = sc.log_expit(u)
        log_rest = sc.log_expit(-u)
        batch = _shape(x)[:-1]
        start = np.zeros(batch + (1,))
        log_left = np.concatenate([start, np.cumsum(log_rest, axis=-1)], axis=-1)
        return log_z, log_left

    def forward(self, x: Any) -> Any:
        self._check(_shape(x), self.k - 1, "forward")
        if self.k == 1:
            return np.ones(_shape(x)[:-1] + (1,))
        log_z, log_left = self._logs(x)
        log_y = np.concatenate([log_left[..., :-1] + log_z, log_left[..., -1:]], axis=-1)
        return np.exp(log_y)

    def inverse(self, y: Any) -> Any:
        self._check(_shape(y), self.k, "inverse")
        if self.k == 1:
            return np.zeros(_shape(y)[:-1] + (0,))
        # logit(z_i) = log y_i - log(y_{i+1} + ... + y_{k-1}); the tail sums
        # are accumulated from the small end, so tiny coordinates keep their digits.
        tails = np.cumsum(y[..., :0:-1], axis=-1)[..., ::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(y[..., :-1]) - np.log(tails) + self._offsets()

    def log_abs_det_jacobian(self, x: Any) -> Any:
        self._check(_shape(x), self.k - 1, "log_abs_det_jacobian")
        if self.k == 1:
            return _zeros_like(x, _shape(x)[:-1])
        log_z, log_left = self._logs(x)
        u = x - self._offsets()
        return np.sum(log_z + sc.log_expit(-u) + log_left[..., :-1], axis=-1)

    def unconstrained_shape(self, shape: Tuple[int, ...]) -> Tuple[int, ...]:
        self._check(tuple(shape), self.k, "unconstrained_shape")
        return tuple(shape[:-1]) + (self.k - 1,)

    def constrained_shape(self, shape: Tuple[int, ...]) -> Tuple[int, ...]:
        self._check(tuple(shape), self.k - 1, "constrained_shape")
        return tuple(shape[:-1]) + (self.k,)

    def __repr__(self) -> str:
        return f"StickBreaking({self.k}) -> {self.support!r}"


def _check_last_axis(what: str, shape: tuple[int, ...], size: int) -> None:
    if len(shape) == 0 or shape[-1] != size:
        raise ValueError(f"{what}: the last axis must have length {size}, got shape {shape}")


class _Sized(Transform):
    """A transform onto a support of one dimension ``d`` (``_support_type(d)``), an event of rank 1 by default."""

    __slots__ = ("d",)
    d: int
    event_dim = 1
    _support_type: Any = None

    def __init__(self, d: int) -> None:
        object.__setattr__(self, "d", int(d))

    @property
    def support(self) -> Support:
        support: Support = self._support_type(self.d)
        return support

    def _key(self) -> tuple[Any, ...]:
        return (self.d,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.d}) -> {self.support!r}"


class Ordered(_Sized):
    """From ``R^d`` onto strictly increasing ``d``-vectors (``event_dim`` 1).

    ``y_0 = x_0`` and ``y_i = y_{i-1} + exp(x_i)``: the first coordinate is
    free, the others are log gaps.  ``log |dy/dx| = x_1 + ... + x_{d-1}``.

    >>> import numpy as np
    >>> from plait.effects.transforms import Ordered
    >>> t = Ordered(3)
    >>> t.forward(np.array([1.0, 0.0, 0.0]))
    array([1., 2., 3.])
    >>> t.inverse(np.array([1.0, 2.0, 3.0])), float(t.log_abs_det_jacobian(np.array([1.0, 0.5, 0.2])))
    (array([1., 0., 0.]), 0.7)
    """

    __slots__ = ()
    _support_type = OrderedVector

    def forward(self, x: Any) -> Any:
        _check_last_axis(f"Ordered({self.d}).forward", _shape(x), self.d)
        return np.cumsum(np.concatenate([x[..., :1], np.exp(x[..., 1:])], axis=-1), axis=-1)

    def inverse(self, y: Any) -> Any:
        _check_last_axis(f"Ordered({self.d}).inverse", _shape(y), self.d)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.concatenate([y[..., :1], np.log(np.diff(y, axis=-1))], axis=-1)

    def log_abs_det_jacobian(self, x: Any) -> Any:
        return np.sum(x[..., 1:], axis=-1)



class SumToZero(_Sized):
    """From ``R^(d-1)`` onto the ``d``-vectors summing to 0 (``event_dim`` 1), an isometry.

    ``y = M x`` with the orthonormal Helmert basis of the hyperplane ``sum y = 0``
    (column ``i`` is ``(1, ..., 1, -i, 0, ..., 0) / sqrt(i (i + 1))``, the
    transform of Stan's ``sum_to_zero_vector``), so ``inverse(y) = M^T y``
    and the log-Jacobian, taken with respect to the surface measure of the
    hyperplane, is 0: independent Normal priors on ``x`` stay independent.

    >>> import numpy as np
    >>> from plait.effects.transforms import SumToZero
    >>> t = SumToZero(3)
    >>> y = t.forward(np.array([0.3, -1.2]))
    >>> round(float(y.sum()), 12), np.allclose(t.inverse(y), [0.3, -1.2])
    (0.0, True)
    >>> t.unconstrained_shape((3,)), t.constrained_shape((2,))
    ((2,), (3,))
    """

    __slots__ = ()
    _support_type = ZeroSumVector

    def forward(self, x: Any) -> Any:
        _check_last_axis(f"SumToZero({self.d}).forward", _shape(x), self.d - 1)
        return np.matmul(x, _helmert(self.d).T)

    def inverse(self, y: Any) -> Any:
        _check_last_axis(f"SumToZero({self.d}).inverse", _shape(y), self.d)
        return np.matmul(y, _helmert(self.d))

    def log_abs_det_jacobian(self, x: Any) -> Any:
        return np.zeros(_shape(x)[:-1]) if len(_shape(x)) > 1 else np.float64(0.0)

    def unconstrained_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_last_axis(f"SumToZero({self.d}).unconstrained_shape", tuple(shape), self.d)
        return tuple(shape[:-1]) + (self.d - 1,)

    def constrained_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_last_axis(f"SumToZero({self.d}).constrained_shape", tuple(shape), self.d - 1)
        return tuple(shape[:-1]) + (self.d,)



@functools.lru_cache(maxsize=64)
def _helmert(d: int) -> np.ndarray:
    """The ``d x (d - 1)`` orthonormal basis of the zero-sum hyperplane (read-only)."""
    m = np.zeros((d, d - 1))
    for i in range(1, d):
        m[:i, i - 1] = 1.0
        m[i, i - 1] = -float(i)
        m[:, i - 1] /= math.sqrt(i * (i + 1))
    m.flags.writeable = False
    return m


class CorrCholesky(_Sized):
    """From ``R^(d(d-1)/2)`` onto Cholesky factors of correlation matrices (``event_dim`` 2).

    Stan's construction: ``z = tanh(x)`` fills the strictly lower triangle
    row by row (``np.tril_indices(d, -1)`` order) as canonical partial
    correlations, and each row is a stick of unit length,
    ``L_ij = z_ij sqrt(1 - L_i0^2 - ... - L_i(j-1)^2)``, ``L_ii`` the rest.
    The log-Jacobian is that of the map onto the strictly lower entries of
    ``L`` (the coordinates of :class:`~plait.effects.distributions.LKJCholesky`'s
    density).  ``log(1 - tanh(x)^2)`` is computed as ``2 (log 2 - |x| -
    log1p(exp(-2|x|)))`` so large ``|x|`` stay finite.

    >>> import numpy as np
    >>> from plait.effects.transforms import CorrCholesky
    >>> t = CorrCholesky(2)
    >>> L = t.forward(np.array([0.5]))
    >>> L.round(6), np.allclose(t.inverse(L), [0.5])
    (array([[1.      , 0.      ],
           [0.462117, 0.886819]]), True)
    >>> CorrCholesky(3).unconstrained_shape((3, 3)), CorrCholesky(3).constrained_shape((3,))
    ((3,), (3, 3))
    """

    __slots__ = ()
    event_dim = 2
    _support_type = CorrCholeskyFactor

    def _size(self) -> int:
        return self.d * (self.d - 1) // 2

    def _parts(self, x: Any) -> tuple[Any, Any, Any]:
        """``(Z, log(1 - Z^2), S)``: partial correlations, their log complements, half their exclusive row sums."""
        _check_last_axis(f"CorrCholesky({self.d})", _shape(x), self._size())
        scatter = _scatter_lower(self.d)
        z = np.einsum("...m,mij->...ij", np.tanh(x), scatter)
        ax = np.abs(x)
        log1m = np.einsum("...m,mij->...ij", 2.0 * (math.log(2.0) - ax - np.logaddexp(0.0, -2.0 * ax)), scatter)
        half_before = 0.5 * (np.cumsum(log1m, axis=-1) - log1m)
        return z, log1m, half_before

    def forward(self, x: Any) -> Any:
        z, _, half_before = self._parts(x)
        return (z + np.eye(self.d)) * np.exp(half_before)

    def inverse(self, y: Any) -> Any:
        y = np.asarray(y, dtype=float)
        if y.shape[-2:] != (self.d, self.d):
            raise ValueError(f"CorrCholesky({self.d}).inverse: needs {self.d}x{self.d} matrices, got shape {y.shape}")
        square = y * y
        left = 1.0 - (np.cumsum(square, axis=-1) - square)
        rows, cols = np.tril_indices(self.d, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.arctanh((y / np.sqrt(left))[..., rows, cols])

    def log_abs_det_jacobian(self, x: Any) -> Any:
        _, log1m, half_before = self._parts(x)
        strict = np.tril(np.ones((self.d, self.d)), -1)
        return np.sum(log1m + half_before * strict, axis=(-2, -1))

    def unconstrained_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(shape[-2:]) != (self.d, self.d):
            raise ValueError(f"CorrCholesky({self.d}).unconstrained_shape: needs ({self.d}, {self.d}) last, got {shape}")
        return tuple(shape[:-2]) + (self._size(),)

    def constrained_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_last_axis(f"CorrCholesky({self.d}).constrained_shape", tuple(shape), self._size())
        return tuple(shape[:-1]) + (self.d, self.d)



@functools.lru_cache(maxsize=64)
def _scatter_lower(d: int) -> np.ndarray:
    """``E[m, i, j] = 1`` where ``(i, j)`` is the ``m``-th strictly lower entry (read-only)."""
    rows, cols = np.tril_indices(d, -1)
    e = np.zeros((len(rows), d, d))
    e[np.arange(len(rows)), rows, cols] = 1.0
    e.flags.writeable = False
    return e


def _category(low: Any, high: Any) -> str:
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    finite_lo, finite_hi = np.isfinite(lo), np.isfinite(hi)
    kinds = {
        "real": ~finite_lo & ~finite_hi,
        "lower": finite_lo & ~finite_hi,
        "upper": ~finite_lo & finite_hi,
        "bounded": finite_lo & finite_hi,
    }
    found = [k for k, mask in kinds.items() if np.all(mask)]
    return found[0] if found else "mixed"


def biject_to(support: Any, *, positive: str = "exp") -> Transform:
    """The bijection from unconstrained space onto ``support``.

    * ``real`` (and ``Interval(-inf, inf)``), ``real_vector(d)``: identity;
    * ``positive``: ``exp`` (default) or ``softplus`` (``positive="softplus"``);
    * ``Interval(low, inf)`` / ``Interval(-inf, high)``: ``low + exp(x)`` /
      ``high - exp(x)``;
    * ``Interval(low, high)`` (``unit_interval`` included): scaled ``expit``;
    * ``simplex(k)``: stick-breaking from ``k - 1`` coordinates;
    * ``ordered_vector(d)``: :class:`Ordered` (a free first value, then log gaps);
    * ``sum_to_zero(d)``: :class:`SumToZero` from ``d - 1`` coordinates;
    * ``corr_cholesky(d)``: :class:`CorrCholesky` from ``d (d - 1) / 2`` coordinates.

    ``exp`` is the default for positive values because scales and rates are
    naturally optimised on a log scale: a gradient step changes them by a
    factor, whatever their magnitude (softplus is linear above ~5, so a
    scale far from 1 moves slowly), ``log |dy/dx| = x`` is exact and cheap,
    and an ``exp``-transformed Normal is exactly the LogNormal.  ``softplus``
    avoids overflow for ``x`` beyond ~700 and is offered for that.

    Interval bounds may be arrays (batched supports) as long as every
    element is of the same kind (all bounded, all lower-bounded...).
    Discrete supports have no bijection and raise
    :class:`~plait.errors.InvalidParameterError`.

    >>> import numpy as np
    >>> import plait
    >>> from plait.effects.transforms import biject_to
    >>> Interval, simplex = plait.Interval, plait.supports.simplex
    >>> t = biject_to(Interval(2.0, 6.0))
    >>> float(t.forward(0.0)), float(t.inverse(5.0)).__round__(6)
    (4.0, 1.098612)
    >>> biject_to(simplex(4)).forward(np.array([0.0, 0.0, 0.0])).round(3)
    array([0.25, 0.25, 0.25, 0.25])
    """
    if positive not in ("exp", "softplus"):
        raise ValueError(f"biject_to: positive must be 'exp' or 'softplus', got {positive!r}")
    try:
        return _cached_biject_to(support, positive)
    except TypeError:  # an unhashable argument: not a support
        return _biject_to(support, positive)


@functools.lru_cache(maxsize=512)
def _cached_biject_to(support: Any, positive: str) -> Transform:
    # Supports and transforms are immutable, and params ask on every run.
    return _biject_to(support, positive)


def _biject_to(support: Any, positive: str) -> Transform:
    if positive not in ("exp", "softplus"):
        raise ValueError(f"biject_to: positive must be 'exp' or 'softplus', got {positive!r}")
    if not isinstance(support, Support):
        raise InvalidParameterError(
            f"biject_to: {support!r} is not a support; use plait.supports.real, positive, "
            "unit_interval, Interval(low, high), simplex(k) or real_vector(d)"
        )
    if support.is_discrete:
        raise InvalidParameterError(
            f"biject_to: {support!r} is discrete and has no bijection from unconstrained space"
        )
    if isinstance(support, Real):
        return Identity()
    if isinstance(support, RealVector):
        return Identity(support.d)
    if isinstance(support, Simplex):
        return StickBreaking(support.k)
    if isinstance(support, OrderedVector):
        return Ordered(support.d)
    if isinstance(support, ZeroSumVector):
        return SumToZero(support.d)
    if isinstance(support, CorrCholeskyFactor):
        return CorrCholesky(support.d)
    if isinstance(support, Interval):
        kind = _category(support.low, support.high)
        if kind == "real":
            return Identity()
        if kind == "lower":
            if support.low == 0.0:
                return Softplus() if positive == "softplus" else Exp()
            return LowerBound(support.low)
        if kind == "upper":
            return UpperBound(support.high)
        if kind == "bounded":
            return ScaledSigmoid(support.low, support.high)
        raise InvalidParameterError(
            f"biject_to: {support!r} mixes bounded and unbounded elements; "
            "split the parameter into parts of one kind"
        )
    raise InvalidParameterError(f"biject_to: no bijection onto {support!r}")

"""Factored tangents: ``k`` coefficients times one array, kept unexpanded.

A scalar parameter with ``k`` directions that meets an array of ``n``
elements (``theta * x``) has the tangent ``c[j] * x[i]``: ``k`` rows that
are all multiples of one array.  Expanding it costs ``k * n`` per later
elementwise operation; keeping it as ``(c, value)`` costs ``n``.  Elementwise
rules multiply ``value`` by their partial, ``sum``/``mean`` reduce ``value``
and scale ``c``, indexing indexes ``value``; anything else reads
``Dual.tangent``, which expands the factored tangent into the usual
``(k, *shape)`` array.  Users never see this type.

The only semantic subtlety is "an exactly-zero tangent entry contributes
exactly zero even where the partial is infinite" (:func:`~.dual.zmul`).
Instead of checking each partial for non-finite entries, a factored tangent
remembers the partials applied since its value was last known finite.  If
the product of finite factors is finite, every factor was finite (an inf or
NaN factor makes the product inf or NaN), so one check at the end vouches for
the whole chain; a sum over ``value`` is such a check for free.  If the check
fails, the chain is replayed row by row with :func:`~.dual.zmul`, exactly as
the unfactored rules would have computed it.

Partials are kept until the value is needed; a partial that is one of the
caller's own writeable arrays (``x`` in ``theta * x``) is copied first
(``ufunc_rules._owned``), so mutating ``x`` afterwards cannot change a
derivative computed from it.

Results match the unfactored computation up to rounding order
(``c * (a * b)`` instead of ``(c * a) * b``, and a ``sum``/``mean`` of a
chain reduces its product before scaling by ``c``); ``k`` stacked
directions still equal ``k`` single passes bit for bit, since every row is
``c[j] * value``.

>>> import numpy as np
>>> from plait.gradients import Dual, perturbation
>>> with perturbation() as tag:
...     theta = Dual(0.5, [1.0, 2.0], tag=tag)
...     y = np.exp(theta * np.array([0.0, 1.0]))
...     print(y.tangent.round(4))
[[0.     1.6487]
 [0.     3.2974]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import buffers
from .dual import all_finite, fit, zmul

__all__: list[str] = []  # internal: users only ever see expanded tangents


#: partials kept for a replay before the value is checked and the chain dropped
CHAIN_LIMIT = 8


class Factored:
    """The tangent ``coef[j] * value`` (rows ``j < k``) of a primal of shape ``shape[1:]``.

    ``value`` is ``seed * partials[0] * partials[1] * ...`` (a ``seed`` of
    ``None`` stands for 1), computed when first needed: a chain of
    elementwise operations that ends in a reduction then multiplies into one
    fresh buffer instead of allocating an array per step.  Empty
    ``partials`` mean ``seed`` is the value and is known to be finite.
    """

    __slots__ = ("coef", "seed", "partials", "primal_shape", "_value")

    def __init__(self, coef: np.ndarray, seed: Any, partials: tuple[Any, ...], primal_shape: tuple[Any, ...]) -> None:
        self.coef = coef
        self.seed = seed
        self.partials = partials
        self.primal_shape = primal_shape
        self._value = seed if not partials else None

    def __repr__(self) -> str:
        return (f"Factored(coef={self.coef!r}, shape {self.primal_shape}, "
                f"{len(self.partials)} pending)")

    @property
    def shape(self) -> tuple[int, ...]:
        """``(k, *primal shape)``, as for an expanded tangent."""
        return self.coef.shape + self.primal_shape

    @property
    def value(self) -> np.ndarray:
        """The array the coefficients scale, shape ``primal_shape``."""
        v = self._value
        if v is None:
            # 0 * inf here is the replay's business (the zero absorbs), not the user's.
            with np.errstate(invalid="ignore"):
                v = _product(self.seed, self.partials)
            if v.shape != self.primal_shape:
                v = np.broadcast_to(v, self.primal_shape)
            self._value = v
        return v

    # -- building ------------------------------------------------------------------------
    def times(self, d: Any, primal_shape: tuple[Any, ...]) -> "Factored | np.ndarray":
        """The tangent times the partial ``d`` (a plain array or number), zero entries absorbing."""
        partials = self.partials + (d,)
        if len(partials) < CHAIN_LIMIT:
            return Factored(self.coef, self.seed, partials, primal_shape)
        with np.errstate(invalid="ignore"):
            value = _product(self.seed, partials)
        if all_finite(value):
            return known_finite(self.coef, _fit(value, primal_shape))
        return _replay(self.coef, self.seed, partials, primal_shape)

    def negated(self) -> "Factored":
        # -(c * v) == (-c) * v exactly, and the zero pattern is the same.
        f = Factored(-self.coef, self.seed, self.partials, self.primal_shape)
        f._value = self._value
        return f

    def broadcast(self, primal_shape: tuple[Any, ...]) -> "Factored":
        """The same tangent for a primal broadcast to ``primal_shape``."""
        if self.primal_shape == primal_shape:
            return self
        if not self.partials:
            return known_finite(self.coef, np.broadcast_to(self.seed, primal_shape))
        return Factored(self.coef, self.seed, self.partials, primal_shape)

    def checked(self) -> "Factored | None":
        """This tangent with its chain vouched for, or None if its value is not finite."""
        if not self.partials:
            return self
        value = self.value
        if all_finite(value):
            return known_finite(self.coef, value)
        return None

    # -- expanding -----------------------------------------------------------------------
    def materialise(self) -> np.ndarray:
        """The ``(k, *shape)`` array this tangent stands for."""
        value = self.value
        shape = self.primal_shape
        if not self.partials or all_finite(value):
            expanded: np.ndarray = self.coef.reshape(self.coef.shape + (1,) * len(shape)) * value
            return expanded
        return _replay(self.coef, self.seed, self.partials, shape)


def _product(seed: Any, partials: tuple[Any, ...]) -> np.ndarray:
    """``seed * partials[0] * ...``, left to right, into one fresh buffer where shapes allow."""
    if seed is None:
        v, rest = partials[0], partials[1:]
        fresh = False
    else:
        v, rest, fresh = seed, partials, False
    for d in rest:
        if fresh and v.dtype == np.float64 and (
                type(d) is float or type(d) is np.float64
                or (type(d) is np.ndarray and d.shape == v.shape and d.dtype == np.float64)):
            np.multiply(v, d, out=v)  # our own buffer: nothing else has seen it yet
        else:
            v = v * d
            fresh = type(v) is np.ndarray
    return np.asarray(v)


def _fit(v: np.ndarray, shape: tuple[Any, ...]) -> np.ndarray:
    return v if v.shape == shape else np.broadcast_to(v, shape)


def _replay(coef: np.ndarray, seed: Any, partials: tuple[Any, ...], shape: tuple[Any, ...]) -> np.ndarray:
    """The unfactored computation: rows multiplied partial by partial, zeros absorbing."""
    t = coef.reshape(coef.shape + (1,) * len(shape))
    if seed is not None:
        t = t * seed
    for d in partials:
        t = zmul(t, d)
    product: np.ndarray = fit(t, shape)
    return product


def start(coef: np.ndarray, d: np.ndarray, primal_shape: tuple[Any, ...]) -> Factored:
    """The tangent ``coef`` of a 0-d primal times the array partial ``d``."""
    return Factored(coef, None, (d,), primal_shape)


def known_finite(coef: np.ndarray, value: np.ndarray) -> Factored:
    """The tangent ``coef[j] * value`` for a ``value`` already known to be finite."""
    return Factored(coef, value, (), value.shape)


def plus(a: Factored, b: Factored, shape: tuple[Any, ...]) -> "Factored | None":
    """``a + b`` when both scale the same coefficients, else None.

    A finite sum vouches for both chains (inf or NaN in either term would
    make it inf or NaN).
    """
    if a.coef is not b.coef:
        return None
    value = a.value + b.value
    if not all_finite(value):
        return None
    return known_finite(a.coef, _fit(value, shape))


def reduced(t: Factored, func: Any, axis: Any, keepdims: bool) -> Any:
    """``func`` (``np.add.reduce`` or ``np.mean``) over user axes of the factored tangent ``t``.

    Returns the reduced tangent (factored, or a plain ``(k,)`` array for a
    full reduction), or None when the value is not finite and the caller
    must reduce the expanded tangent instead.
    """
    factors = _plain_factors(t) if t._value is None else None
    # 0 * inf and inf - inf here are the replay's business (the zero absorbs),
    # not the user's: a result that is not finite is dropped, and the caller
    # reduces the expanded tangent, which warns where the user should hear.
    with np.errstate(invalid="ignore", over="ignore"):
        value = t.value if factors is None else _product_in_buffer(factors, t.primal_shape)
        s = func(value, axis=axis, keepdims=keepdims)
    # A finite sum (or mean) has only finite terms: this vouches for the chain.
    if type(s) is np.ndarray and s.ndim:
        return known_finite(t.coef, s) if all_finite(s) else None
    return t.coef * s if all_finite(s) else None


def _plain_factors(t: Factored) -> "tuple[Any, ...] | None":
    """The factors of ``t``'s pending value if there are two or more, all float64 arrays of its shape."""
    factors = t.partials if t.seed is None else (t.seed,) + t.partials
    if len(factors) < 2:
        return None
    shape = t.primal_shape
    for a in factors:
        if type(a) is not np.ndarray or a.shape != shape or a.dtype != np.float64:
            return None
    return factors


def _product_in_buffer(factors: tuple[Any, ...], shape: tuple[Any, ...]) -> np.ndarray:
    """The product of ``factors``, multiplied in place in one lent buffer (see .buffers).

    A value that only feeds a reduction is not kept, so its buffer goes
    back to the pool as soon as the reduction is done; a fresh large array
    would cost page faults that can outweigh the arithmetic.
    """
    out = buffers.empty(shape)
    np.multiply(factors[0], factors[1], out=out)
    for d in factors[2:]:
        np.multiply(out, d, out=out)
    return out

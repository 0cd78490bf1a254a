"""Stable ``logsumexp``, ``log_softmax``, ``softmax`` and ``polygamma`` that accept dual numbers.

scipy's versions are not ufuncs and reject custom array types, so plait
ships its own.  They work on plain arrays too, and they are written with
dispatching numpy calls, so they differentiate to any order.  The shift by
the maximum is a constant: ``logsumexp`` is exactly invariant to it, so its
derivative is the softmax whatever the shift.

>>> import numpy as np
>>> from plait.gradients import grad, logsumexp
>>> round(float(logsumexp(np.array([1000.0, 1000.0]))), 6)
1000.693147
>>> grad(logsumexp, np.zeros(2))
array([0.5, 0.5])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.special as sc

from .dual import Dual, stop_gradient

__all__ = ["logsumexp", "log_softmax", "softmax", "polygamma"]


def logsumexp(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``log(sum(exp(a), axis))`` without overflow; ``-inf`` for an all ``-inf`` slice.

    >>> import numpy as np
    >>> from plait.gradients import logsumexp
    >>> round(float(logsumexp(np.log([1.0, 2.0, 3.0]))), 12)
    1.791759469228
    """
    plain = np.asarray(stop_gradient(a))
    if not isinstance(a, Dual):  # Dual or Reverse (a subclass) keep their derivatives
        a = plain
    m = np.max(plain, axis=axis, keepdims=True) if plain.size else np.zeros((1,) * plain.ndim)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    if axis is None:
        return np.reshape(out, ())[()]
    return np.squeeze(out, axis=axis)


def log_softmax(a: Any, axis: int = -1) -> Any:
    """``a - logsumexp(a, axis, keepdims=True)``.

    >>> import numpy as np
    >>> from plait.gradients import log_softmax
    >>> np.round(np.exp(log_softmax(np.log([1.0, 3.0]))), 6)
    array([0.25, 0.75])
    """
    return a - logsumexp(a, axis=axis, keepdims=True)


def softmax(a: Any, axis: int = -1) -> Any:
    """``exp(log_softmax(a, axis))``: normalised weights along ``axis``.

    >>> import numpy as np
    >>> from plait.gradients import softmax
    >>> softmax(np.zeros(4))
    array([0.25, 0.25, 0.25, 0.25])
    """
    return np.exp(log_softmax(a, axis=axis))


def polygamma(n: int, x: Any) -> Any:
    """The ``n``-th derivative of the digamma function, differentiable in ``x``.

    Computed as ``(-1)^(n+1) n! zeta(n+1, x)`` for ``n >= 1`` (the Hurwitz
    zeta ufunc has a derivative rule in ``x``), ``digamma(x)`` for ``n == 0``.

    >>> from plait.gradients import diff, polygamma
    >>> round(float(diff(lambda x: polygamma(1, x), 2.0)), 10) == round(float(polygamma(2, 2.0)), 10)
    True
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"polygamma: order n must be >= 0, got {n}")
    if n == 0:
        return sc.digamma(x)
    return (-1.0) ** (n + 1) * math.factorial(n) * sc.zeta(n + 1.0, x)

"""Pure-numpy reference implementations of the log-weight kernels.

This module is the specification that the compiled kernels in
:mod:`plait.ext._logweights` must match: the same results (to rounding, about
1e-12 relative) and the same errors, with the same messages.  It is written for
clarity, not speed, and is also the numpy baseline in ``bench/logweights.py``.

Conventions, for a 1-D array of float64 log-weights ``lw`` (any array-like is
converted first):

* ``logsumexp``: empty or all ``-inf`` gives ``-inf``; any ``+inf`` gives
  ``+inf``.
* ``normalize``, ``log_normalize`` and ``ess`` need a proper distribution, so
  an empty array, any ``+inf`` (an infinite weight cannot be normalised) and all
  ``-inf`` (every weight is zero) raise ``ValueError``.
* NaN anywhere raises ``ValueError`` naming the index of the first NaN; it takes
  precedence over the other errors, and a ``+inf`` error names the first ``+inf``.
* ``-inf`` log-weights contribute exactly zero weight, and log-weights as large
  as ``±1e300`` work: everything is shifted by the maximum ``m`` before ``exp``,
  so the exponentials lie in [0, 1] and the largest is exactly 1.

Formulas, with ``e = exp(lw - m)`` and ``s = sum(e)`` (so ``s >= 1``):
``logsumexp = m + log(s)``, ``normalize = e / s``,
``log_normalize = (lw - m) - log(s)`` and ``ess = s**2 / sum(e**2)``.  These
forms keep the weights summing to 1 and keep ``log(s)`` from being rounded away
when ``|m|`` is large.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["logsumexp", "normalize", "log_normalize", "ess"]

_EMPTY = "cannot normalise an empty array of log-weights"
_ALL_ZERO = "all weights are zero (every log-weight is -inf): nothing to normalise"


def _as_log_weights(log_weights: ArrayLike) -> np.ndarray:
    lw = np.ascontiguousarray(log_weights, dtype=np.float64)
    if lw.ndim != 1:
        raise ValueError(f"log-weights must be a 1-D array, got shape {lw.shape}")
    return lw


def _argmax(lw: np.ndarray) -> tuple[int, float]:
    """Index and value of the maximum; argmax returns the first NaN if there is one."""
    i = int(np.argmax(lw))
    m = float(lw[i])
    if np.isnan(m):
        raise ValueError(f"log-weights contain NaN at index {i}")
    return i, m


def _normalisable(log_weights: ArrayLike) -> tuple[np.ndarray, float]:
    lw = _as_log_weights(log_weights)
    if lw.size == 0:
        raise ValueError(_EMPTY)
    i, m = _argmax(lw)
    if m == np.inf:
        raise ValueError(
            f"log-weight at index {i} is +inf: an infinite weight cannot be normalised"
        )
    if m == -np.inf:
        raise ValueError(_ALL_ZERO)
    return lw, m


def logsumexp(log_weights: ArrayLike) -> float:
    """Return log(sum(exp(log_weights))), computed without overflow.

    >>> from plait.ext.reference import logsumexp
    >>> round(logsumexp([0.0, 0.0]), 6)
    0.693147
    >>> logsumexp([])
    -inf
    """
    lw = _as_log_weights(log_weights)
    if lw.size == 0:
        return -np.inf
    _, m = _argmax(lw)
    if np.isinf(m):
        return m
    return m + float(np.log(np.sum(np.exp(lw - m))))


def normalize(log_weights: ArrayLike) -> np.ndarray:
    """Return the weights exp(log_weights) scaled to sum to 1.

    >>> from plait.ext.reference import normalize
    >>> normalize([0.0, 0.0]).tolist()
    [0.5, 0.5]
    """
    lw, m = _normalisable(log_weights)
    e = np.exp(lw - m)
    weights: np.ndarray = e / np.sum(e)
    return weights


def log_normalize(log_weights: ArrayLike) -> np.ndarray:
    """Return log_weights - logsumexp(log_weights).

    >>> from plait.ext.reference import log_normalize
    >>> log_normalize([-1e300, 0.0]).tolist()
    [-1e+300, 0.0]
    """
    lw, m = _normalisable(log_weights)
    shifted = lw - m
    normalised: np.ndarray = shifted - np.log(np.sum(np.exp(shifted)))
    return normalised


def ess(log_weights: ArrayLike) -> float:
    """Return the effective sample size 1 / sum(w**2) of the normalised weights.

    >>> from plait.ext.reference import ess
    >>> ess([0.0, 0.0, 0.0, 0.0])
    4.0
    """
    lw, m = _normalisable(log_weights)
    e = np.exp(lw - m)
    return float(np.sum(e) ** 2 / np.sum(e * e))

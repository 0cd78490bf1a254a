"""Pure-numpy reference implementations of the resampling kernels.

This module is the specification that the compiled kernels in
:mod:`plait.ext._resample` must match: for the same log-weights and the same
uniforms they return *identical* ancestor indices (not merely close ones), and
they raise the same errors with the same messages.  It is written for clarity,
not speed, and is the numpy baseline of ``bench/resample.py``.

Every resampler maps a 1-D array of float64 log-weights ``lw`` (length N, any
array-like is converted first) to M ancestor indices (``size=M``, default N),
an int64 array **sorted ascending**, each in ``[0, N)``.

Cumulative weights
    With ``m = max(lw)``, ``e = exp(lw - m)`` (numpy's ``exp``, so the
    largest is exactly 1) and ``c = cumsum(e)`` summed strictly left to right
    (``np.cumsum``; the compiled kernels add in the same order, so ``c`` is
    bit-for-bit the same), the total is ``S = c[N-1] >= 1``.  Nothing is
    divided by ``S``: the points are scaled to ``[0, S)`` instead.

Ancestor of a point ``p`` (multinomial and residual)
    The smallest ``j`` with ``c[j] > p``, clamped to ``jlast``, the last index
    of positive weight (the smallest ``j`` with ``c[j] == S``).  The clamp
    only matters for a point that rounding pushed to ``S`` or beyond.  A
    particle of zero weight (log-weight ``-inf``) is therefore never chosen.
    Systematic and stratified use the same rule on a rescaled axis, below.

Points, and the uniforms each scheme consumes (``u``: float64 in ``[0, 1)``)
    * ``stratified``: M uniforms; point i is ``i + u[i]`` on the scale of
      ``t = c * (M / S)`` (one multiplication by the rounded ``M / S``).  Its
      ancestor is the smallest ``j`` with ``t[j] > i + u[i]``, compared
      *exactly* (the sum ``i + u[i]`` is never rounded), clamped to
      ``jlast``.  This is computed per particle: with ``f = floor(t[j])``, the
      number of points below ``t[j]`` is ``f + (u[f] < t[j] - f)`` (capped at
      M), since every earlier point lies below ``f`` and every later one at
      or above ``f + 1``; ``t[j] - f`` is exact.  The compiled kernel relies
      on this to walk without data-dependent branches.
    * ``systematic``: 1 uniform; as ``stratified`` with ``u[i] = u[0]`` for all
      i, i.e. the points ``(i + u) / M`` of the normalised weights.
    * ``multinomial``: M + 1 uniforms, turned into sorted uniforms by
      exponential spacings: ``g = cumsum(-log(1.0 - u))`` (left to right),
      ``T = g[M]``, ``p_i = g[i] * (S / T)`` for ``i < M`` (``p_i = 0`` in the
      degenerate case ``T == 0``, all uniforms zero).  ``g[:M] / T`` are the
      order statistics of M independent uniforms, so no sort or binary search
      is needed.
    * ``residual``: with ``q = M / S``, ``x_j = e_j * q`` (the expected
      offspring counts), particle j first gets ``floor(x_j)`` copies (in index
      order, cut off at M should rounding ever push the total past M).  The
      ``R = M - sum(floor(x))`` remaining ancestors are drawn by the
      multinomial scheme above on the residual weights ``x_j - floor(x_j)``
      (their cumulative sum replacing ``c``; if every residual is zero, which
      rounding alone can cause, the original ``c`` is used), consuming
      ``R + 1`` uniforms, or none when ``R == 0``.
      :func:`residual_uniform_count` returns that number.

Randomness
    Give exactly one of ``rng=`` (a :class:`numpy.random.Generator`) or
    ``uniforms=`` (any array-like; one float for ``systematic`` is accepted
    too).  With ``rng`` the kernel makes one call ``rng.random(K)``,
    K being the count above, after the log-weights have been validated (so a
    failing call consumes nothing); passing ``uniforms=rng2.random(K)`` from an
    identically seeded ``rng2`` therefore gives the same ancestors.

Errors (``ValueError``, same messages as :mod:`plait.ext.reference`)
    empty log-weights; NaN (naming the first index); ``+inf`` (naming the
    first index); all ``-inf`` ("all weights are zero"); a wrong number of
    uniforms; a uniform outside ``[0, 1)``; both or neither of
    ``rng``/``uniforms``; ``size`` not a positive integer.
"""

from __future__ import annotations

import operator
from typing import Optional, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike

from . import reference

__all__ = [
    "multinomial",
    "systematic",
    "stratified",
    "residual",
    "residual_uniform_count",
    "log_evidence_increment",
    "resample_generic",
]

_EMPTY = "cannot normalise an empty array of log-weights"
_ONE_SOURCE = "give exactly one of rng= and uniforms="


# --- argument checking (mirrored in _resample.pyx) ---------------------------


def _check_source(rng: Optional[np.random.Generator], uniforms: Optional[ArrayLike]) -> None:
    if (rng is None) == (uniforms is None):
        raise ValueError(_ONE_SOURCE)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def _size(size: Optional[SupportsIndex], n: int) -> int:
    if size is None:
        return n
    try:
        m = operator.index(size)
    except TypeError:
        raise TypeError(f"size must be a positive integer, got {size!r}") from None
    if m < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return m


def _uniforms(
    scheme: str, rng: Optional[np.random.Generator], uniforms: Optional[ArrayLike], k: int, n: int, m: int
) -> np.ndarray:
    if rng is not None:
        return rng.random(k)
    u = np.ascontiguousarray(uniforms, dtype=np.float64)
    if u.ndim == 0:
        u = u.reshape(1)
    if u.ndim != 1 or u.size != k:
        raise ValueError(
            f"{scheme} resampling of {n} particles into {m} needs {k} uniforms, "
            f"got an array of shape {u.shape}"
        )
    bad = ~((u >= 0.0) & (u < 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"uniforms must lie in [0, 1): uniforms[{i}] = {float(u[i])!r}")
    return u


# --- the kernels ---------------------------------------------------------------


def _cumulative(log_weights: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    lw, m = reference._normalisable(log_weights)  # the errors of normalize()
    e = np.exp(lw - m)
    return e, np.cumsum(e)


def _ancestors(c: np.ndarray, points: np.ndarray) -> np.ndarray:
    jlast = int(np.searchsorted(c, c[-1], side="left"))
    return np.minimum(np.searchsorted(c, points, side="right"), jlast).astype(np.int64)


def _sorted_points(u: np.ndarray, total: float) -> np.ndarray:
    g = np.cumsum(-np.log(1.0 - u))
    t = g[-1]
    r = total / t if t > 0.0 else 0.0
    return g[:-1] * r


def _grid(c: np.ndarray, u: np.ndarray, m: int) -> np.ndarray:
    """Ancestors of the points i + u[i] (or i + u[0]) on the scale t = c * (M / S)."""
    jlast = int(np.searchsorted(c, c[-1], side="left"))
    t = c[:jlast] * (m / c[-1])
    f = np.floor(t)
    uf = u[np.minimum(f, m - 1).astype(np.int64)] if u.size > 1 else u[0]
    k = np.minimum(f + (uf < t - f), m).astype(np.int64)  # points below t_j
    return np.searchsorted(k, np.arange(m), side="right").astype(np.int64)


def systematic(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> np.ndarray:
    """Systematic resampling: 1 uniform u, points (i + u) / M.

    >>> from plait.ext.resample_reference import systematic
    >>> systematic([0.0, 0.0, float("-inf"), 0.0], uniforms=[0.5]).tolist()
    [0, 1, 1, 3]
    >>> systematic([0.0, 0.0, float("-inf"), 0.0], uniforms=[0.5], size=6).tolist()
    [0, 0, 1, 1, 3, 3]
    """
    _check_source(rng, uniforms)
    e, c = _cumulative(log_weights)
    n = c.size
    m = _size(size, n)
    u = _uniforms("systematic", rng, uniforms, 1, n, m)
    return _grid(c, u, m)


def stratified(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> np.ndarray:
    """Stratified resampling: M uniforms u_i, points (i + u_i) / M.

    >>> from plait.ext.resample_reference import stratified
    >>> stratified([0.0, 0.0, 0.0], uniforms=[0.9, 0.1, 0.9]).tolist()
    [0, 1, 2]
    """
    _check_source(rng, uniforms)
    e, c = _cumulative(log_weights)
    n = c.size
    m = _size(size, n)
    u = _uniforms("stratified", rng, uniforms, m, n, m)
    return _grid(c, u, m)


def multinomial(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> np.ndarray:
    """Multinomial resampling from M + 1 uniforms, by exponential spacings.

    >>> from plait.ext.resample_reference import multinomial
    >>> multinomial([0.0, float("-inf"), 0.0], uniforms=[0.5, 0.5, 0.5, 0.5]).tolist()
    [0, 2, 2]
    """
    _check_source(rng, uniforms)
    e, c = _cumulative(log_weights)
    n = c.size
    m = _size(size, n)
    u = _uniforms("multinomial", rng, uniforms, m + 1, n, m)
    return _ancestors(c, _sorted_points(u, c[-1]))


def _residual_parts(
    log_weights: ArrayLike, size: Optional[SupportsIndex]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    e, c = _cumulative(log_weights)
    n = c.size
    m = _size(size, n)
    x = e * (m / c[-1])
    whole = np.floor(x)
    det = np.repeat(np.arange(n, dtype=np.int64), whole.astype(np.int64))[:m]
    return c, x - whole, det, n, m, m - det.size


def residual_uniform_count(log_weights: ArrayLike, size: Optional[SupportsIndex] = None) -> int:
    """Number of uniforms :func:`residual` consumes: R + 1, or 0 when R = 0.

    R = M - sum(floor(M * w)) is the number of ancestors left to chance.

    >>> from plait.ext.resample_reference import residual_uniform_count
    >>> residual_uniform_count([0.0, 0.0])
    0
    >>> residual_uniform_count([0.0, 0.0], size=3)
    2
    """
    r = _residual_parts(log_weights, size)[-1]
    return r + 1 if r else 0


def residual(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> np.ndarray:
    """Residual resampling: floor(M w_j) copies, the rest multinomial.

    >>> from plait.ext.resample_reference import residual
    >>> residual([0.0, 0.0], uniforms=[]).tolist()
    [0, 1]
    >>> residual([0.0, 0.0], uniforms=[0.1, 0.5], size=3).tolist()
    [0, 0, 1]
    """
    _check_source(rng, uniforms)
    c, resid, det, n, m, r = _residual_parts(log_weights, size)
    u = _uniforms("residual", rng, uniforms, r + 1 if r else 0, n, m)
    if r == 0:
        return det
    cr = np.cumsum(resid)
    if cr[-1] == 0.0:
        cr = c
    extra = _ancestors(cr, _sorted_points(u, cr[-1]))
    return np.sort(np.concatenate([det, extra]))


_SCHEMES = {
    "multinomial": multinomial,
    "systematic": systematic,
    "stratified": stratified,
    "residual": residual,
}


def log_evidence_increment(log_weights: ArrayLike) -> float:
    """Return logsumexp(lw) - log(N), the log of the average weight.

    This is the factor by which a step of sequential Monte Carlo multiplies
    the evidence estimate.  All ``-inf`` gives ``-inf``, any ``+inf`` gives
    ``+inf``; NaN and an empty array raise ``ValueError``.

    >>> from plait.ext.resample_reference import log_evidence_increment
    >>> round(log_evidence_increment([1.5, 1.5, 1.5]), 12)
    1.5
    """
    lw = reference._as_log_weights(log_weights)
    if lw.size == 0:
        raise ValueError(_EMPTY)
    return reference.logsumexp(lw) - float(np.log(lw.size))


def resample_generic(
    weights: ArrayLike,
    primal: ArrayLike,
    scheme: str = "systematic",
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample log-weights of any number type on their float64 primal.

    ``weights`` holds N log-weights of any type supporting ``-`` with float64
    (dual numbers, signed numbers, object arrays); ``primal`` holds their
    float64 values.  Ancestors ``a`` are drawn by ``scheme`` (one of
    ``"multinomial"``, ``"systematic"``, ``"stratified"``, ``"residual"``)
    from ``primal`` exactly as the scheme itself would, and each child gets the
    corrected log-weight ``weights[a] - log(M * P[a])``, with ``P`` the
    normalised primal weights (its resampling probability per draw).  A child
    thus carries parent weight / (M x resampling probability), which keeps
    weighted averages unbiased.  The arithmetic is one numpy subtraction, so
    the type of ``weights`` is kept.  Returns ``(ancestors, new_weights)``.

    >>> import numpy as np
    >>> from plait.ext.resample_reference import resample_generic
    >>> a, w = resample_generic(np.log([1.0, 3.0]), np.log([1.0, 3.0]), uniforms=[0.5])
    >>> a.tolist(), np.round(w, 12).tolist()
    ([1, 1], [0.69314718056, 0.69314718056])
    """
    try:
        resampler = _SCHEMES[scheme]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown resampling scheme {scheme!r}; expected one of {sorted(_SCHEMES)}"
        ) from None
    w = np.asarray(weights)
    lw = reference._as_log_weights(primal)
    if w.shape != lw.shape:
        raise ValueError(
            f"weights and primal differ in shape: {w.shape} and {lw.shape}"
        )
    ancestors = resampler(lw, rng=rng, uniforms=uniforms, size=size)
    m = ancestors.size
    log_p = reference.log_normalize(lw)
    return ancestors, w[ancestors] - (log_p[ancestors] + np.log(m))

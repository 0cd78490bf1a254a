# cython: embedsignature=True, language_level=3
# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# (The last line repeats setup.py, so that a bare `cythonize -i` build matches.)
"""Compiled kernels on float64 log-weight arrays.

The specification is :mod:`plait.ext.reference`; every function here returns
what its reference twin returns and raises the same errors with the same
messages.  Only the speed differs.

How the work is split: Cython does the passes that are plain loads, compares
and adds (maximum, subtraction, sums, scaling), while ``exp`` is left to numpy,
which picks a SIMD implementation at run time.  The C ``exp`` of a portable
build (no ``-march=native``) costs several times more per element.  Where only
sums of ``exp`` are needed, numpy is called on a reused buffer a chunk at a
time, so that nothing of size N is allocated and the chunk stays in cache
across the three passes over it (subtract, exp, sum).

Because ``exp`` is numpy's, numpy's floating-point error state applies: under
``np.seterr(under="raise")`` a weight that underflows raises
``FloatingPointError``, exactly as in the reference.
"""

import numpy as np
from numpy.typing import ArrayLike

from _log_weight_checks cimport first_nan as _first_nan
from _log_weight_checks cimport first_posinf as _first_posinf
from _log_weight_checks cimport max_log_weight as _max
from _log_weight_checks cimport nan_error as _nan_error
from _log_weight_checks cimport normalisable_max as _normalisable_max
from _log_weight_checks cimport sum_and_squares as _sum_and_squares
from libc.math cimport INFINITY, log

# Large enough that the cost of one numpy call (about 1 us) is spread thin,
# small enough that the buffer (128 KiB) stays in L2.  Measured: 16384 beat 1024-8192 by 5-20 % and tied with 32768.
cdef enum:
    _CHUNK = 16384

CHUNK_SIZE = _CHUNK

_np_exp = np.exp



cdef void _subtract(const double* x, double m, double* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = x[i] - m


cdef double _sum_exp(const double[::1] x, double m, double* sum_sq) except? -1.0:
    """Return sum(exp(x - m)) and store sum(exp(x - m)**2) in sum_sq.

    NaN anywhere in x makes both NaN; -inf contributes exactly 0.
    """
    cdef Py_ssize_t k, start = 0, n = x.shape[0]
    cdef double s = 0.0
    buf = np.empty(min(n, <Py_ssize_t>_CHUNK))
    cdef double[::1] b = buf
    sum_sq[0] = 0.0
    while start < n:
        k = min(<Py_ssize_t>_CHUNK, n - start)
        if k < b.shape[0]:
            buf = buf[:k]
        _subtract(&x[start], m, &b[0], k)
        _np_exp(buf, buf)
        _sum_and_squares(&b[0], k, &s, sum_sq)
        start += k
    return s


cdef object _as_log_weights(object log_weights):
    lw = np.ascontiguousarray(log_weights, dtype=np.float64)
    if lw.ndim != 1:
        raise ValueError(f"log-weights must be a 1-D array, got shape {lw.shape}")
    return lw


def logsumexp(log_weights: ArrayLike) -> float:
    """Return log(sum(exp(log_weights))), computed without overflow.

    Empty input or all -inf gives -inf; any +inf gives +inf.  NaN raises
    ValueError naming the index of the first NaN.

    >>> from plait.ext import logsumexp
    >>> round(logsumexp([0.0, 0.0]), 6)
    0.693147
    >>> logsumexp([1e300, 0.0])
    1e+300
    """
    cdef const double[::1] x = _as_log_weights(log_weights)
    cdef double sum_sq, s, m
    if x.shape[0] == 0:
        return -INFINITY
    m = _max(x)
    if m == INFINITY or m == -INFINITY:
        if _first_nan(x) >= 0:
            raise _nan_error(x)
        return m
    s = _sum_exp(x, m, &sum_sq)
    if s != s:
        raise _nan_error(x)
    return m + log(s)


def normalize(log_weights: ArrayLike) -> np.ndarray:
    """Return the weights exp(log_weights) scaled to sum to 1, as float64.

    Raises ValueError for an empty array, NaN or +inf (naming the index),
    and when every log-weight is -inf.

    >>> from plait.ext import normalize
    >>> normalize([0.0, 0.0]).tolist()
    [0.5, 0.5]
    >>> normalize([1e300, 0.0, float("-inf")]).tolist()
    [1.0, 0.0, 0.0]
    """
    cdef const double[::1] x = _as_log_weights(log_weights)
    cdef double m = _normalisable_max(x), s = 0.0, sum_sq = 0.0
    cdef Py_ssize_t i, n = x.shape[0]
    # The output is needed in full anyway, so exp runs on it in one numpy call.
    w = np.empty(n)
    cdef double[::1] out = w
    _subtract(&x[0], m, &out[0], n)
    _np_exp(w, w)
    _sum_and_squares(&out[0], n, &s, &sum_sq)
    if s != s:
        raise _nan_error(x)
    # exp(x - m) / s rather than exp(x - logsumexp): the weights then sum to 1
    # to rounding, however large |m| is.  s >= 1 because the maximum gives 1.
    s = 1.0 / s
    with nogil:
        for i in range(n):
            out[i] *= s
    return w


def log_normalize(log_weights: ArrayLike) -> np.ndarray:
    """Return log_weights - logsumexp(log_weights), the normalised log-weights.

    Same errors as :func:`normalize`.

    >>> from plait.ext import log_normalize
    >>> [round(v, 6) for v in log_normalize([0.0, 0.0]).tolist()]
    [-0.693147, -0.693147]
    >>> log_normalize([-1e300, 0.0]).tolist()
    [-1e+300, 0.0]
    """
    cdef const double[::1] x = _as_log_weights(log_weights)
    cdef double m = _normalisable_max(x), sum_sq
    cdef Py_ssize_t i, n = x.shape[0]
    cdef double s = _sum_exp(x, m, &sum_sq)
    if s != s:
        raise _nan_error(x)
    # (x - m) - log(s), not x - (m + log(s)): with |m| large, m + log(s) would
    # round away log(s), which is at most log(N).
    cdef double c = log(s)
    result = np.empty(n)
    cdef double[::1] out = result
    with nogil:
        for i in range(n):
            out[i] = (x[i] - m) - c
    return result


def ess_and_log_mean(log_weights: ArrayLike) -> tuple:
    """Return ``(ess(log_weights), log of the mean weight)`` from one pass over the weights.

    An SMC step needs both when it resamples; they share ``sum(exp(x - max))``,
    so computing them together halves the passes.  Each equals what
    :func:`ess` and ``log_evidence_increment`` return (the same arithmetic),
    with :func:`ess`'s errors.

    >>> from plait.ext import ess_and_log_mean
    >>> ess_and_log_mean([0.0, 0.0, 0.0, 0.0])
    (4.0, 0.0)
    """
    cdef const double[::1] x = _as_log_weights(log_weights)
    cdef double m = _normalisable_max(x), sum_sq
    cdef double s = _sum_exp(x, m, &sum_sq)
    if s != s:
        raise _nan_error(x)
    return s * s / sum_sq, (m + log(s)) - log(<double>x.shape[0])


def ess(log_weights: ArrayLike) -> float:
    """Return the effective sample size 1 / sum(w**2) of the normalised weights.

    Lies between 1 (one particle carries all the weight) and N (equal weights).
    Same errors as :func:`normalize`.

    >>> from plait.ext import ess
    >>> ess([0.0, 0.0, 0.0, 0.0])
    4.0
    >>> ess([0.0, float("-inf")])
    1.0
    """
    cdef const double[::1] x = _as_log_weights(log_weights)
    cdef double m = _normalisable_max(x), sum_sq
    cdef double s = _sum_exp(x, m, &sum_sq)
    if s != s:
        raise _nan_error(x)
    # With e = exp(x - m) and w = e / s, 1 / sum(w**2) = s**2 / sum(e**2);
    # both sums are >= 1 (the maximum contributes 1), so neither overflows.
    return s * s / sum_sq


def all_impossible(log_weights: ArrayLike) -> bool:
    """True when no log-weight exceeds -inf (each is -inf or NaN; an empty array too).

    ``not (log_weights > -inf).any()`` in one pass without a temporary: an SMC
    step asks it of the whole population to find that every particle is ruled out.

    >>> from plait.ext import all_impossible
    >>> all_impossible([float("-inf"), float("nan")]), all_impossible([float("-inf"), 0.0])
    (True, False)
    """
    cdef const double[::1] x = _as_log_weights(log_weights)
    return x.shape[0] == 0 or _max(x) == -INFINITY

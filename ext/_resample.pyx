# cython: embedsignature=True, language_level=3
# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# (The last line repeats setup.py, so that a bare `cythonize -i` build matches.)
"""Compiled resampling kernels: float64 log-weights to int64 ancestor indices.

The specification is :mod:`plait.ext.resample_reference`, whose module
docstring defines the cumulative weights, the points of each scheme, the
uniforms each scheme consumes and the order of draws.  Every function here
returns *identical* ancestors for the same uniforms and raises the same errors
with the same messages; only the speed differs.  Ancestors are returned sorted
ascending.

How the work is split:

* Cython subtracts the maximum, numpy computes ``exp`` over the whole array
  (and ``log`` for the multinomial spacings), since it dispatches to SIMD at
  run time while the C ``exp`` of a portable build costs several ns; Cython
  then forms the cumulative sum left to right, in ``np.cumsum``'s order, so
  the floats are bit-for-bit those of the reference.
* Systematic and stratified points lie on a grid, one point per unit cell
  on the scale ``t = c * (M / S)``.  So the number ``k_j`` of points below
  ``t_j`` needs no search: it is ``f + (u[f] < t_j - f)`` with
  ``f = floor(t_j)``, which is exact (see the reference).  The ancestors
  follow by scattering ``j + 1`` to ``out[k_j]`` and taking a running
  maximum; nothing in the loop is a data-dependent branch.  The textbook walk
  (``while t_j <= i + u: j += 1``) mispredicts its branch for most particles
  when weights are uneven and is several times slower; it is kept as
  :func:`_systematic_textbook` for the benchmark and the tests.  Stratified
  resampling works a chunk of 16384 weights at a time, in two passes (sum,
  then cumulative sum and walk, with ``exp`` recomputed), so nothing of size N
  but the output is written and the chunk stays in L2.
* Systematic resampling, the scheme every SMC tier uses by default, takes a
  faster road (:func:`_systematic_fused`), since on this project's machines
  ``exp`` costs more than memory: ``exp`` is computed once, into a scratch
  buffer kept per thread (so no fresh pages per call), by numpy's own SIMD
  loop called from C a chunk at a time (no Python call per chunk: at
  N = 1e3 those cost as much as the arithmetic), and the cumulative sum
  is fused with the walk, so the serial chain of additions, which cannot be
  vectorised, is paid once and hides the walk's other work.  The walk needs
  ``M / S`` before ``S`` (the last cumulative sum) is known, so it runs on
  ``S'``, the same weights summed in eight interleaved sums (no chain of
  dependent additions), chunk by chunk as ``exp`` leaves them, and notes (with its
  cumulative weight) every particle whose count lies within ``eta`` of a
  step; afterwards those few (about ``2 eta N``) are recounted with the exact
  ``M / S``, when an error bound says that suffices; otherwise the whole walk
  is redone exactly.  Either way the ancestors are bit-for-bit the
  reference's.  ``out=`` writes them into a given array: the anchors'
  kernels do, and at N = 1e7 fresh pages cost more than the walk.
  :func:`ess_log_mean_systematic` gives an SMC step its ESS, its log mean
  weight and, when it resamples, the ancestors, from the same ``exp`` pass.
  (numpy's floating-point error state does not reach the loop called from
  C: an underflowing weight is 0, as under numpy's default state.)
* Multinomial points are not on a grid; they are merged with ``c``: each
  particle compares the next four points unconditionally and adds up the
  comparisons, and only a particle with four children or more loops.
"""

import operator
import threading

import numpy as np
from numpy.typing import ArrayLike

from _log_weight_checks cimport first_nan as _first_nan
from _log_weight_checks cimport first_posinf as _first_posinf
from _log_weight_checks cimport max_log_weight as _max
from _log_weight_checks cimport nan_error as _nan_error
from _log_weight_checks cimport normalisable_max as _normalisable_max
from _log_weight_checks cimport sum_and_squares as _sum_and_squares
from libc.math cimport INFINITY, ceil, fabs, floor, ldexp, log, log2
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t

cimport numpy as cnp

from ._logweights import log_normalize as _log_normalize
from ._logweights import logsumexp as _logsumexp

_np_exp = np.exp
_np_log = np.log

_EMPTY = "cannot normalise an empty array of log-weights"
_ONE_SOURCE = "give exactly one of rng= and uniforms="

_Generator = np.random.Generator


# --- numpy's exp, called from C ----------------------------------------------------
#
# numpy's float64 exp loop is chosen at import for the CPU (SIMD) and is the
# one ``np.exp`` runs on a contiguous array.  Called directly on a chunk it
# gives the same bits, without a Python call, a view and a dispatch per chunk
# (at N = 1e3 those cost as much as the kernel's arithmetic).

ctypedef void (*_UnaryLoop)(char**, cnp.npy_intp*, cnp.npy_intp*, void*) noexcept nogil

cdef _UnaryLoop _exp_loop = NULL
cdef void* _exp_loop_data = NULL


cdef void _find_exp_loop():
    global _exp_loop, _exp_loop_data
    cdef cnp.ufunc exp = np.exp
    cdef int i
    for i in range(exp.ntypes):
        if exp.nargs == 2 and exp.types[2 * i] == cnp.NPY_DOUBLE \
                and exp.types[2 * i + 1] == cnp.NPY_DOUBLE:
            _exp_loop = <_UnaryLoop><void*>exp.functions[i]  # (numpy runs it without the GIL too)
            _exp_loop_data = exp.data[i]
            return


_find_exp_loop()


cdef inline void _exp_in_place(double* p, Py_ssize_t k) noexcept nogil:
    # (Only when _exp_loop was found; see _exp_chunk.)
    cdef char* args[2]
    cdef cnp.npy_intp dims[1]
    cdef cnp.npy_intp steps[2]
    args[0] = <char*>p
    args[1] = <char*>p
    dims[0] = k
    steps[0] = sizeof(double)
    steps[1] = sizeof(double)
    _exp_loop(args, dims, steps, _exp_loop_data)


cdef double _sum8(const double* p, Py_ssize_t k) noexcept nogil:
    # Eight running sums: no chain of dependent additions (the order does not
    # matter where this is used).
    cdef double a[8]
    cdef Py_ssize_t i, j, k8 = k - k % 8
    for j in range(8):
        a[j] = 0.0
    for i in range(0, k8, 8):
        for j in range(8):
            a[j] += p[i + j]
    for i in range(k8, k):
        a[0] += p[i]
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))


# --- checks on log-weights (as in _logweights.pyx) ----------------------------


cdef object _as_log_weights(object log_weights):
    lw = np.ascontiguousarray(log_weights, dtype=np.float64)
    if lw.ndim != 1:
        raise ValueError(f"log-weights must be a 1-D array, got shape {lw.shape}")
    return lw


# --- checks on the other arguments (as in resample_reference) ---------------


cdef inline _check_source(object rng, object uniforms):
    if (rng is None) == (uniforms is None):
        raise ValueError(_ONE_SOURCE)
    if rng is not None and not isinstance(rng, _Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


cdef Py_ssize_t _size(object size, Py_ssize_t n) except -1:
    if size is None:
        return n
    try:
        m = operator.index(size)
    except TypeError:
        raise TypeError(f"size must be a positive integer, got {size!r}") from None
    if m < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return m


cdef Py_ssize_t _first_outside_unit(const double[::1] u) noexcept nogil:
    cdef Py_ssize_t i
    cdef int bad = 0
    for i in range(u.shape[0]):
        bad |= not (u[i] >= 0.0 and u[i] < 1.0)
    if not bad:
        return -1
    for i in range(u.shape[0]):
        if not (u[i] >= 0.0 and u[i] < 1.0):
            return i
    return -1


cdef object _uniforms(str scheme, object rng, object uniforms, Py_ssize_t k,
                      Py_ssize_t n, Py_ssize_t m):
    if rng is not None:
        return rng.random(k)
    u = np.ascontiguousarray(uniforms, dtype=np.float64)
    if u.ndim == 0:
        u = u.reshape(1)
    if u.ndim != 1 or u.shape[0] != k:
        raise ValueError(
            f"{scheme} resampling of {n} particles into {m} needs {k} uniforms, "
            f"got an array of shape {u.shape}"
        )
    cdef Py_ssize_t i = _first_outside_unit(u)
    if i >= 0:
        raise ValueError(f"uniforms must lie in [0, 1): uniforms[{i}] = {float(u[i])!r}")
    return u


# --- cumulative weights ---------------------------------------------------------


cdef tuple _shifted_exp(object log_weights):
    """Return (lw, e): the checked float64 log-weights and e = exp(lw - max(lw)) by numpy."""
    lw = _as_log_weights(log_weights)
    cdef const double[::1] x = lw
    cdef double m = _normalisable_max(x)
    cdef Py_ssize_t i, n = x.shape[0]
    e = np.empty(n)
    cdef double[::1] ev = e
    with nogil:
        for i in range(n):
            ev[i] = x[i] - m
    _np_exp(e, e)
    return lw, e


cdef object _exp_sum(object log_weights):
    """Return (e, s): e = exp(lw - max(lw)) by numpy, s its sum left to right
    (the last element of cumsum(e))."""
    lw, e = _shifted_exp(log_weights)
    cdef const double[::1] ev = e
    cdef Py_ssize_t i
    cdef double s = 0.0
    with nogil:
        for i in range(ev.shape[0]):
            s = s + ev[i]
    if s != s:
        raise _nan_error(lw)
    return e, s


cdef Py_ssize_t _last_positive(const double[::1] c) noexcept nogil:
    """Smallest j with c[j] == c[n-1], for a cumulative sum c."""
    cdef Py_ssize_t j = c.shape[0] - 1
    cdef double s = c[j]
    while j > 0 and c[j - 1] == s:
        j -= 1
    return j


cdef object _exp_cumsum(object log_weights):
    """Return c = cumsum(exp(lw - max(lw))), summed left to right like np.cumsum."""
    lw, c = _shifted_exp(log_weights)
    cdef double[::1] cv = c
    cdef Py_ssize_t i
    cdef double s = 0.0
    with nogil:
        for i in range(cv.shape[0]):
            s = s + cv[i]
            cv[i] = s
    if s != s:
        raise _nan_error(lw)
    return c


cdef inline void _running_max(int64_t* out, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t r = 0, v
    for i in range(m):
        v = out[i]
        r = v if v > r else r
        out[i] = r


cdef enum:
    # As in _logweights: a chunk of log-weights stays in L2 between the
    # subtraction, numpy's exp and the walk over it.
    _CHUNK = 16384
    # Room for the noted particles of the systematic walk, on the stack.
    _FEW = 256


cdef void _subtract(const double* x, double m, double* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = x[i] - m


cdef object _grid(str scheme, object log_weights, object rng, object uniforms,
                  object size, bint per_point):
    """Systematic (per_point false) or stratified resampling, chunk by chunk.

    Pass 1 sums e = exp(lw - max) a chunk at a time, without storing it.
    Pass 2 recomputes e chunk by chunk (numpy's exp gives the same value for
    an element wherever it sits), continues the cumulative sum c in the same
    order, so c is bit-for-bit cumsum(e), and walks it.  For the points
    i + u[i] on the scale t = c * q, q = M / S, particle j has k_j points below
    t_j, exactly f + (u[f] < t_j - f) with f = floor(t_j): every earlier
    point lies below f and every later one at or above f + 1.  j + 1 is
    scattered to out[k_j] and a running maximum gives the ancestors, so no
    branch depends on the data.  The walk stops at jlast, the first j with
    c_j == S.
    """
    _check_source(rng, uniforms)
    lw = _as_log_weights(log_weights)
    cdef const double[::1] x = lw
    cdef double mx = _normalisable_max(x)
    cdef Py_ssize_t n = x.shape[0], start, i, k, f, fi, kk, j, m, us
    cdef double s = 0.0, c = 0.0, q, t
    buf = np.empty(min(n, <Py_ssize_t>_CHUNK))
    cdef double[::1] b = buf
    cdef double* bp = &b[0]
    view = buf
    start = 0
    while start < n:
        k = min(<Py_ssize_t>_CHUNK, n - start)
        if k < b.shape[0]:
            view = buf[:k]
        with nogil:
            _subtract(&x[start], mx, bp, k)
        _np_exp(view, view)
        with nogil:
            for i in range(k):
                s = s + bp[i]
        start += k
    if s != s:
        raise _nan_error(x)
    m = _size(size, n)
    u = _uniforms(scheme, rng, uniforms, m if per_point else 1, n, m)
    cdef const double[::1] uv = u
    cdef const double* up = &uv[0]
    us = 1 if per_point else 0
    q = <double>m / s
    out = np.zeros(m, dtype=np.int64)
    cdef int64_t[::1] ov = out
    cdef int64_t* op = &ov[0]
    view = buf
    start = 0
    while start < n:
        k = min(<Py_ssize_t>_CHUNK, n - start)
        if k < b.shape[0]:
            view = buf[:k]
        with nogil:
            _subtract(&x[start], mx, bp, k)
        _np_exp(view, view)
        with nogil:
            for i in range(k):
                c = c + bp[i]
                if c == s:  # j = start + i is jlast: the rest go to it
                    break
                t = c * q
                f = <Py_ssize_t>t
                fi = f if f < m - 1 else m - 1
                kk = f + (up[fi * us] < t - <double>f)
                if kk < m:
                    op[kk] = start + i + 1
        if c == s:
            break
        start += k
    with nogil:
        _running_max(op, m)
    return out


# --- systematic: one exp, the cumulative sum fused with the walk ---------------


_scratch = threading.local()  # per thread: the weights' buffer, reused across calls


cdef object _scratch_buffer(Py_ssize_t n):
    """A float64 array of n elements in this thread's own buffer, reused across
    calls: fresh pages of a large array cost more than the walk."""
    view = getattr(_scratch, "view", None)
    if view is not None and view.shape[0] == n:
        return view
    buf = getattr(_scratch, "buffer", None)
    if buf is None or buf.shape[0] < n:
        buf = _scratch.buffer = np.empty(n)
    view = _scratch.view = buf[:n]
    return view


ctypedef struct _Noted:
    Py_ssize_t j  # a particle whose fast count was within eta of a step
    double c      # its cumulative weight


cdef inline int64_t _scaled(double c, double q, double shift) noexcept nogil:
    # floor((t - u + 1) 2^B) for t = c * q, rounded twice (the product, then
    # + shift = 1 - u), with q and shift given times 2^B (a power of two
    # changes no rounding).  Its top bits are the number of points i + u below
    # t, unless the low B bits say it lies within 2^-B of an integer.  The walk
    # and the recount share this one expression, so they round alike.
    return <int64_t>(c * q + shift)


cdef inline Py_ssize_t _fast_count(double c, double q, double shift, int bits,
                                   Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k = _scaled(c, q, shift) >> bits
    return k if k < m else m


cdef inline Py_ssize_t _exact_count(double c, double q, double u, Py_ssize_t m) noexcept nogil:
    # The reference's count: f + (u < t - f) with f = floor(t), t - f exact.
    cdef double t = c * q
    cdef Py_ssize_t f = <Py_ssize_t>t
    cdef Py_ssize_t k = f + (u < t - <double>f)
    return k if k < m else m


cdef inline void _fill(int64_t* out, Py_ssize_t lo, Py_ssize_t hi, int64_t j) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(lo, hi):
        out[i] = j


cdef Py_ssize_t _walk_fused(const double* e, Py_ssize_t n, double q, double shift, int bits,
                            Py_ssize_t m, int64_t* out, _Noted* noted, Py_ssize_t capacity,
                            Py_ssize_t* noted_count, double* total) noexcept nogil:
    """Walk the cumulative sums of the weights e with the fast counts (scale q).

    Point i goes to the first j whose count k_j exceeds i.  Each particle
    writes its index to the four slots from the previous count on,
    unconditionally (the next particle overwrites the excess), so only a
    particle with more than four children loops.  Every j whose rounded count
    lies within eta = 2^-bits of an integer is noted with its cumulative
    weight (their
    number in ``noted_count[0]`` may exceed capacity).  Stores the total S in
    ``total[0]``; returns the last count (the points from there on are left
    for the caller: they go to jlast).
    """
    cdef Py_ssize_t j, k, prev = 0, nf = 0, m4 = m - 4
    cdef int64_t z, low = (<int64_t>1 << bits) - 1
    cdef double s = 0.0
    for j in range(n):
        s = s + e[j]
        z = _scaled(s, q, shift)
        k = z >> bits
        if ((z + 1) & low) <= 1:  # within eta of an integer: rare
            if nf < capacity:
                noted[nf].j = j
                noted[nf].c = s
            nf += 1
        if k - prev <= 4 and prev <= m4:
            out[prev] = j
            out[prev + 1] = j
            out[prev + 2] = j
            out[prev + 3] = j
        else:
            k = k if k < m else m
            _fill(out, prev, k, j)
        prev = k
    noted_count[0] = nf
    total[0] = s
    return prev


cdef Py_ssize_t _jlast(const double* e, Py_ssize_t n) noexcept nogil:
    # The first j whose cumulative sum is the total: the last one where it grew.
    cdef Py_ssize_t j, jlast = 0
    cdef double s = 0.0, before = 0.0
    for j in range(n):
        s = s + e[j]
        jlast = j if s != before else jlast
        before = s
    return jlast


ctypedef struct _Recount:
    # What the recount needs (a struct: no object to build per call).
    const double* e
    Py_ssize_t n, m, count, jlast
    int bits
    double q_walk, shift_walk, q, u
    _Noted* noted
    int64_t* out


cdef Py_ssize_t _first_not_noted(const _Recount* r, Py_ssize_t a) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = r.count, mid
    while lo < hi:  # the first noted entry at or after a
        mid = lo + (hi - lo) // 2
        if r.noted[mid].j < a:
            lo = mid + 1
        else:
            hi = mid
    while lo < r.count and r.noted[lo].j == a:
        a += 1
        lo += 1
    return a


cdef Py_ssize_t _first_noted_above(const _Recount* r, Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = r.count, mid
    while lo < hi:  # exact counts grow along the noted list
        mid = lo + (hi - lo) // 2
        if _exact_count(r.noted[mid].c, r.q, r.u, r.m) > i:
            hi = mid
        else:
            lo = mid + 1
    return r.noted[lo].j if lo < r.count else r.n


cdef Py_ssize_t _exact_ancestor(_Recount* r, Py_ssize_t i) noexcept nogil:
    # a_f = r.out[i], as the walk left it; see _recount.
    cdef Py_ssize_t a = _first_not_noted(r, r.out[i])
    cdef Py_ssize_t b = _first_noted_above(r, i)
    a = b if b < a else a
    if a >= r.n:
        if r.jlast < 0:
            r.jlast = _jlast(r.e, r.n)
        a = r.jlast
    return a


cdef void _recount(_Recount* r) noexcept nogil:
    """Correct the walk at the noted particles, with the exact scale q.

    Only noted particles can have a fast count different from the exact one.
    Where they differ, the points between the two get their exact ancestor:
    the first j (clamped to jlast) whose exact count exceeds the point.  The
    walk gave a_f, the first j whose fast count does; every particle from a_f
    on that was not noted has the same count either way, so the answer is the
    smaller of the first particle from a_f on that was not noted and the first
    noted one whose exact count exceeds the point.
    """
    cdef Py_ssize_t f, i, fast, exact
    for f in range(r.count):
        fast = _fast_count(r.noted[f].c, r.q_walk, r.shift_walk, r.bits, r.m)
        exact = _exact_count(r.noted[f].c, r.q, r.u, r.m)
        for i in range(min(fast, exact), max(fast, exact)):
            r.out[i] = _exact_ancestor(r, i)


cdef void _walk_exact(double* c, Py_ssize_t n, double q, double u, Py_ssize_t m,
                      int64_t* out) noexcept nogil:
    # The whole walk again with exact counts, c turned into cumulative sums in
    # place (when the noted few may not suffice).
    cdef Py_ssize_t j, k, prev = 0, jlast = _jlast(c, n)
    cdef double s = 0.0
    for j in range(n):
        s = s + c[j]
        c[j] = s
    for j in range(jlast + 1):
        k = _exact_count(c[j], q, u, m)
        _fill(out, prev, k, j)
        prev = k if k > prev else prev
    _fill(out, prev, m, jlast)


cdef object _systematic_fused(object log_weights, object rng, object uniforms, object size,
                              object out):
    """Systematic resampling with one ``exp`` per weight (see the module docstring).

    Exactness: for a particle not noted, the fast count's x = fl(fl(c q') + 1 - u)
    and the exact count's t - u + 1 (t = fl(c q)) differ by at most
    ``delta = S |q - q'| + (M + 2) 2^-50`` (c <= S, t <= M (1 + 2^-52), and
    three roundings of numbers below 2M + 2); when delta < eta / 2, a fast
    count at distance >= eta from every integer is the exact one.
    """
    _check_source(rng, uniforms)
    lw = _as_log_weights(log_weights)
    cdef const double[::1] x = lw
    if x.shape[0] == 0:
        raise ValueError(_EMPTY)
    cdef double mx = _max(x)  # NaN is skipped, and found by the sums
    if not (-INFINITY < mx < INFINITY):
        mx = _normalisable_max(x)  # raises, unless the NaN is beside finite weights
        raise _nan_error(x)
    cdef Py_ssize_t n = x.shape[0], start, k
    buf = _scratch_buffer(n)
    cdef double[::1] b = buf
    cdef double* bp = &b[0]
    cdef double interleaved = 0.0  # S', summed in another order than S
    if _exp_loop != NULL:
        with nogil:  # chunk by chunk, so that the sum reads what exp left in L2
            start = 0
            while start < n:
                k = min(<Py_ssize_t>_CHUNK, n - start)
                _subtract(&x[start], mx, bp + start, k)
                _exp_in_place(bp + start, k)
                interleaved += _sum8(bp + start, k)
                start += k
    else:
        with nogil:
            _subtract(&x[0], mx, bp, n)
        _np_exp(buf, buf)
        interleaved = buf.sum()
    if interleaved != interleaved:
        raise _nan_error(x)
    cdef Py_ssize_t m = _size(size, n)
    cdef double u0 = rng.random() if rng is not None else _uniforms(
        "systematic", rng, uniforms, 1, n, m)[0]
    if out is None:
        out = np.empty(m, dtype=np.int64)
    elif not (isinstance(out, np.ndarray) and out.dtype == np.int64 and out.shape == (m,)
              and out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"out must be a writeable contiguous int64 array of shape ({m},)")
    return _systematic_walk(bp, n, interleaved, m, u0, out)


cdef object _systematic_walk(double* bp, Py_ssize_t n, double interleaved, Py_ssize_t m,
                             double u0, object out):
    """The ancestors into ``out`` from the weights ``bp[:n]`` (scratch: the walk
    may overwrite them), which sum to about ``interleaved``."""
    cdef int64_t[::1] ov = out
    cdef Py_ssize_t capacity = _FEW if n <= _FEW * 64 else _FEW + n // 64, last
    cdef _Noted few[_FEW]  # enough below 64 * _FEW particles: a heap block above
    cdef _Recount recount
    if capacity == _FEW:
        recount.noted = &few[0]
    else:
        recount.noted = <_Noted*>PyMem_Malloc(capacity * sizeof(_Noted))
    if recount.noted == NULL:
        raise MemoryError()
    recount.e, recount.n, recount.m, recount.u, recount.out = bp, n, m, u0, &ov[0]
    recount.jlast = -1
    # eta = 2^-bits, about 2^-36 M: the sequential and the interleaved sums agree
    # far closer than that, so the recount is nearly always enough; and
    # (M + 2) 2^bits < 2^37 fits the int64 of _scaled.
    cdef int bits = 36 - <int>ceil(log2(<double>m + 2.0))
    recount.bits = bits if bits > 0 else 0
    recount.q_walk = ldexp(<double>m / interleaved, recount.bits)
    recount.shift_walk = ldexp(1.0 - u0, recount.bits)
    cdef double s, delta, eta = ldexp(1.0, -recount.bits)
    try:
        with nogil:
            last = _walk_fused(bp, n, recount.q_walk, recount.shift_walk, recount.bits, m,
                               &ov[0], recount.noted, capacity, &recount.count, &s)
            recount.q = <double>m / s
            delta = (s * fabs(recount.q - ldexp(recount.q_walk, -recount.bits))
                     * (1.0 + ldexp(1.0, -40)) + ldexp(<double>(m + 2), -50))
            if delta < 0.5 * eta and recount.count <= capacity:
                if last < m:
                    recount.jlast = _jlast(bp, n)
                    _fill(&ov[0], last, m, recount.jlast)
                _recount(&recount)
            else:
                _walk_exact(bp, n, recount.q, u0, m, &ov[0])
    finally:
        if recount.noted != &few[0]:
            PyMem_Free(recount.noted)
    return out


cdef void _merge_walk(const double* c, Py_ssize_t jlast, double* g, double r,
                      Py_ssize_t m, int64_t* out) noexcept nogil:
    """Ancestors of the sorted points p_i = g[i] * r (i < m) into out (zeroed).

    g must have room for m + 4 values.  It is scaled in place and padded with
    four +inf sentinels.  Then for each particle j the number k_j of points
    below c[j] grows from k_{j-1} by four comparisons summed as integers
    (the points are sorted, so those below c[j] come first); only a particle
    with four or more children takes a loop.  As in the grid walk,
    j + 1 is scattered to out[k_j] and a running maximum gives the ancestors.
    """
    cdef Py_ssize_t i, j, k = 0, d
    cdef double cj
    for i in range(m):
        g[i] = g[i] * r
    for i in range(m, m + 4):
        g[i] = INFINITY
    for j in range(jlast):
        cj = c[j]
        d = (<Py_ssize_t>(g[k] < cj) + <Py_ssize_t>(g[k + 1] < cj)
             + <Py_ssize_t>(g[k + 2] < cj) + <Py_ssize_t>(g[k + 3] < cj))
        k += d
        if d == 4:
            while g[k] < cj:
                k += 1
        if k < m:
            out[k] = j + 1
    _running_max(out, m)


cdef double _spacings(object u, object g_arr) except? -1.0:
    """g = cumsum(-log(1 - u)) left to right, into g_arr[:len(u)]; return its last element."""
    cdef const double[::1] uv = u
    cdef double[::1] g = g_arr
    cdef Py_ssize_t i, n = uv.shape[0]
    cdef double s = 0.0
    with nogil:
        for i in range(n):
            g[i] = 1.0 - uv[i]
    head = g_arr[:n]
    _np_log(head, head)
    with nogil:
        for i in range(n):
            s = s + (-g[i])
            g[i] = s
    return s


# --- public kernels -------------------------------------------------------------


def systematic(log_weights: ArrayLike, rng=None, uniforms=None, size=None,
               out=None) -> np.ndarray:
    """Systematic resampling: one uniform u, points (i + u) / M, i < M.

    Returns M (``size``, default N) int64 ancestor indices sorted ascending.
    Give exactly one of ``rng`` (a numpy Generator; one call ``rng.random(1)``
    after the log-weights are checked) or ``uniforms`` (1 float64 in [0, 1)).
    The exact rule is in :mod:`plait.ext.resample_reference`.

    >>> from plait.ext import systematic
    >>> systematic([0.0, 0.0, float("-inf"), 0.0], uniforms=[0.5]).tolist()
    [0, 1, 1, 3]
    >>> systematic([0.0, 0.0, float("-inf"), 0.0], uniforms=[0.5], size=6).tolist()
    [0, 0, 1, 1, 3, 3]

    ``out`` (a contiguous int64 array of M elements) receives the ancestors
    instead of a new array, and is returned.
    """
    return _systematic_fused(log_weights, rng, uniforms, size, out)


def ess_log_mean_systematic(log_weights: ArrayLike, double limit, rng):
    """An SMC step's books and draw from one ``exp`` pass: ``(ess, log_mean, ancestors)``.

    ``ess`` and ``log_mean`` are bit-for-bit :func:`plait.ext.ess_and_log_mean`'s
    (same errors); ``ancestors`` is ``systematic(log_weights, rng=rng)`` when
    ``ess < limit`` (the same ancestors from the same draw), else None and
    ``rng`` is not used.  The weights ``exp(lw - max)`` the ESS sums are the
    ones the walk reads, so the step pays for ``exp`` once.

    >>> import numpy as np
    >>> from plait.ext import ess_log_mean_systematic
    >>> ess, log_mean, a = ess_log_mean_systematic(np.log([0.97, 0.01, 0.01, 0.01]), 2.0,
    ...                                           np.random.default_rng(0))
    >>> round(ess, 4), round(log_mean, 4), a.tolist()
    (1.0625, -1.3863, [0, 0, 0, 0])
    >>> ess_log_mean_systematic([0.0, 0.0], 2.0, np.random.default_rng(0))[2] is None
    True
    """
    lw = _as_log_weights(log_weights)
    cdef const double[::1] x = lw
    cdef double mx = _normalisable_max(x)
    cdef Py_ssize_t n = x.shape[0], start = 0, k
    buf = _scratch_buffer(n)
    cdef double[::1] b = buf
    cdef double* bp = &b[0]
    cdef double s = 0.0, sum_sq = 0.0
    while start < n:  # the chunks of ess_and_log_mean, so the same sums
        k = min(<Py_ssize_t>_CHUNK, n - start)
        with nogil:
            _subtract(&x[start], mx, bp + start, k)
        if _exp_loop != NULL:
            with nogil:
                _exp_in_place(bp + start, k)
        else:
            view = buf[start:start + k]
            _np_exp(view, view)
        with nogil:
            _sum_and_squares(bp + start, k, &s, &sum_sq)
        start += k
    if s != s:
        raise _nan_error(x)
    ess = s * s / sum_sq
    log_mean = (mx + log(s)) - log(<double>n)
    if not ess < limit:
        return ess, log_mean, None
    cdef double u0 = rng.random()
    return ess, log_mean, _systematic_walk(bp, n, s, n, u0, np.empty(n, dtype=np.int64))


def stratified(log_weights: ArrayLike, rng=None, uniforms=None, size=None) -> np.ndarray:
    """Stratified resampling: M uniforms u_i, points (i + u_i) / M, i < M.

    Returns M (``size``, default N) int64 ancestor indices sorted ascending.
    Give exactly one of ``rng`` (one call ``rng.random(M)``) or ``uniforms``
    (M float64 in [0, 1)).

    >>> from plait.ext import stratified
    >>> stratified([0.0, 0.0, 0.0], uniforms=[0.9, 0.1, 0.9]).tolist()
    [0, 1, 2]
    """
    return _grid("stratified", log_weights, rng, uniforms, size, True)


def multinomial(log_weights: ArrayLike, rng=None, uniforms=None, size=None) -> np.ndarray:
    """Multinomial resampling in O(N + M), from M + 1 uniforms.

    The uniforms become M sorted uniforms by exponential spacings
    (cumulative sums of -log(1 - u), divided by the last), which are merged
    with the cumulative weights: no sort and no binary search.  Returns M
    (``size``, default N) int64 ancestor indices sorted ascending.  Give
    exactly one of ``rng`` (one call ``rng.random(M + 1)``) or ``uniforms``
    (M + 1 float64 in [0, 1)).

    >>> from plait.ext import multinomial
    >>> multinomial([0.0, float("-inf"), 0.0], uniforms=[0.5, 0.5, 0.5, 0.5]).tolist()
    [0, 2, 2]
    """
    _check_source(rng, uniforms)
    c = _exp_cumsum(log_weights)
    cdef const double[::1] cv = c
    cdef Py_ssize_t n = cv.shape[0], jlast = _last_positive(cv)
    cdef Py_ssize_t m = _size(size, n)
    u = _uniforms("multinomial", rng, uniforms, m + 1, n, m)
    g = np.empty(m + 4)
    cdef double t = _spacings(u, g)
    cdef double r = cv[n - 1] / t if t > 0.0 else 0.0
    cdef double[::1] gv = g
    out = np.zeros(m, dtype=np.int64)
    cdef int64_t[::1] ov = out
    with nogil:
        _merge_walk(&cv[0], jlast, &gv[0], r, m, &ov[0])
    return out


cdef object _residual_parts(object log_weights, object size):
    """Return (e, cr, counts, n, m, R): counts holds floor(M w_j), cr the
    cumulative residual weights, R the number of ancestors left to chance."""
    e, s_ = _exp_sum(log_weights)
    cdef const double[::1] ev = e
    cdef Py_ssize_t n = ev.shape[0]
    cdef Py_ssize_t m = _size(size, n)
    cdef double q = <double>m / <double>s_
    cr = np.empty(n)
    counts = np.empty(n, dtype=np.int64)
    cdef double[::1] crv = cr
    cdef int64_t[::1] kv = counts
    cdef double x, w, s = 0.0
    cdef int64_t total = 0
    cdef Py_ssize_t j
    with nogil:
        for j in range(n):
            x = ev[j] * q
            w = floor(x)
            kv[j] = <int64_t>w
            total += <int64_t>w
            s = s + (x - w)
            crv[j] = s
    return e, cr, counts, n, m, (m - total if total < m else 0)


def residual_uniform_count(log_weights: ArrayLike, size=None) -> int:
    """Number of uniforms :func:`residual` consumes: R + 1, or 0 when R = 0.

    R = M - sum(floor(M * w)) is the number of ancestors left to chance.

    >>> from plait.ext import residual_uniform_count
    >>> residual_uniform_count([0.0, 0.0])
    0
    >>> residual_uniform_count([0.0, 0.0], size=3)
    2
    """
    # (No [-1] here: wraparound is off.)
    e, cr, counts, n, m, r = _residual_parts(log_weights, size)
    return r + 1 if r else 0


def residual(log_weights: ArrayLike, rng=None, uniforms=None, size=None) -> np.ndarray:
    """Residual resampling: floor(M w_j) copies of particle j, the rest multinomial.

    The R = M - sum(floor(M w)) remaining ancestors are drawn as in
    :func:`multinomial` from the residual weights M w_j - floor(M w_j),
    consuming R + 1 uniforms, or none if R = 0 (see
    :func:`residual_uniform_count`).  Give exactly one of ``rng`` (one call
    ``rng.random(R + 1)``, or ``rng.random(0)``) or ``uniforms``.  Returns M
    (``size``, default N) int64 ancestor indices sorted ascending.

    >>> from plait.ext import residual
    >>> residual([0.0, 0.0], uniforms=[]).tolist()
    [0, 1]
    >>> residual([0.0, 0.0], uniforms=[0.1, 0.5], size=3).tolist()
    [0, 0, 1]
    """
    _check_source(rng, uniforms)
    e, cr, counts, n_, m_, r_ = _residual_parts(log_weights, size)
    cdef Py_ssize_t n = n_, m = m_, r = r_, i, j
    u = _uniforms("residual", rng, uniforms, r + 1 if r else 0, n, m)
    cdef int64_t[::1] kv = counts
    cdef const double[::1] crv = cr
    cdef double t, scale
    cdef double[::1] gv
    cdef int64_t[::1] xv
    if r > 0:
        if crv[n - 1] == 0.0:
            crv = np.cumsum(e)
        g = np.empty(r + 4)
        t = _spacings(u, g)
        scale = crv[n - 1] / t if t > 0.0 else 0.0
        gv = g
        extra = np.zeros(r, dtype=np.int64)
        xv = extra
        with nogil:
            _merge_walk(&crv[0], _last_positive(crv), &gv[0], scale, r, &xv[0])
            for i in range(r):
                kv[xv[i]] += 1
    out = np.zeros(m, dtype=np.int64)
    cdef int64_t[::1] ov = out
    cdef int64_t pos = 0
    with nogil:
        for j in range(n):
            pos += kv[j]
            if pos < m:
                ov[pos] = j + 1
        _running_max(&ov[0], m)
    return out


def _systematic_textbook(log_weights, double u, size=None):
    """Systematic resampling by the textbook while-loop walk, for comparison.

    Same ancestors as :func:`systematic` with ``uniforms=[u]``; kept for the
    benchmark, which shows why the grid walk is used instead.

    >>> from plait.ext._resample import _systematic_textbook
    >>> _systematic_textbook([0.0, 0.0, float("-inf"), 0.0], 0.5).tolist()
    [0, 1, 1, 3]
    """
    c = _exp_cumsum(log_weights)
    cdef const double[::1] cv = c
    cdef Py_ssize_t n = cv.shape[0]
    cdef Py_ssize_t m = _size(size, n), i, j = 0
    cdef Py_ssize_t jlast = _last_positive(cv)
    cdef double q = <double>m / cv[n - 1], t, f
    out = np.empty(m, dtype=np.int64)
    cdef int64_t[::1] ov = out
    with nogil:
        for i in range(m):
            # Advance while t_j <= i + u (compared exactly, as in the grid walk).
            while j < jlast:
                t = cv[j] * q
                f = floor(t)
                if f > i or (f == i and t - f > u):
                    break
                j += 1
            ov[i] = j
    return out


# --- helpers --------------------------------------------------------------------


def log_evidence_increment(log_weights: ArrayLike) -> float:
    """Return logsumexp(lw) - log(N), the log of the average weight.

    This is the factor by which a step of sequential Monte Carlo multiplies
    the evidence estimate.  All ``-inf`` gives ``-inf``, any ``+inf`` gives
    ``+inf``; NaN and an empty array raise ``ValueError``.

    >>> from plait.ext import log_evidence_increment
    >>> round(log_evidence_increment([1.5, 1.5, 1.5]), 12)
    1.5
    """
    lw = _as_log_weights(log_weights)
    if lw.shape[0] == 0:
        raise ValueError(_EMPTY)
    return _logsumexp(lw) - log(<double>lw.shape[0])


_SCHEMES = {
    "multinomial": multinomial,
    "systematic": systematic,
    "stratified": stratified,
    "residual": residual,
}


def resample_generic(weights, primal: ArrayLike, scheme: str = "systematic",
                     rng=None, uniforms=None, size=None):
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
    >>> from plait.ext import resample_generic
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
    lw = _as_log_weights(primal)
    if w.shape != lw.shape:
        raise ValueError(
            f"weights and primal differ in shape: {w.shape} and {lw.shape}"
        )
    ancestors = resampler(lw, rng=rng, uniforms=uniforms, size=size)
    m = ancestors.size
    log_p = _log_normalize(lw)
    return ancestors, w[ancestors] - (log_p[ancestors] + np.log(m))

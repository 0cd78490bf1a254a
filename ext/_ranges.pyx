# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True
"""One-pass range checks of float64 arrays, for validating distribution parameters.

A vectorized SMC run builds its distributions from particle-sized arrays at
every step; checking each parameter with numpy costs two reductions and their
Python layers.  Here it is one C loop that stops at the first failure.
"""

import numpy as np

from libc.math cimport INFINITY


def all_in_range(a, double low, double high, bint low_closed, bint high_closed) -> bool:
    """Whether every element x of the float64 array ``a`` lies between ``low`` and ``high``.

    ``low_closed``/``high_closed`` say whether the bounds are allowed.  NaN is
    never in range; an empty array is.

    >>> import numpy as np
    >>> from plait.ext import all_in_range
    >>> inf = float("inf")
    >>> all_in_range(np.array([0.5, 2.0]), 0.0, inf, False, False)
    True
    >>> all_in_range(np.array([0.0, np.nan]), 0.0, inf, True, False)
    False
    """
    cdef const double[::1] v = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    cdef bint ok
    with nogil:
        ok = _all_in(&v[0] if v.shape[0] else NULL, v.shape[0], low, high, low_closed, high_closed)
    return ok


cdef enum:
    # Elements scanned between two looks at the bounds: a failure still stops
    # the scan within a block.
    _BLOCK = 1024


cdef bint _all_in(const double* v, Py_ssize_t n, double low, double high,
                  bint low_closed, bint high_closed) noexcept nogil:
    # A block's minimum and maximum, in eight running ones (selects, which gcc
    # packs into SIMD registers: a comparison that ends a loop or sets a flag
    # stays scalar), and the sum of x * 0, which is NaN when some x is NaN or
    # infinite: no interval of _RANGES admits an infinity (its infinite
    # bounds are open).
    cdef Py_ssize_t start = 0, stop, i, j, stop8
    cdef double lo[8]
    cdef double hi[8]
    cdef double z[8]
    cdef double x, mn, mx, nz
    cdef bint real_line = low == -INFINITY and high == INFINITY  # (both open: see above)
    while start < n:
        stop = min(start + <Py_ssize_t>_BLOCK, n)
        stop8 = stop - (stop - start) % 8
        for j in range(8):
            lo[j] = v[start]
            hi[j] = v[start]
            z[j] = 0.0
        if not real_line:  # (on the real line, finiteness is the whole test)
            for i in range(start, stop8, 8):  # (separate loops: gcc packs the last one)
                for j in range(8):
                    lo[j] = v[i + j] if v[i + j] < lo[j] else lo[j]
            for i in range(start, stop8, 8):
                for j in range(8):
                    hi[j] = v[i + j] if v[i + j] > hi[j] else hi[j]
        for i in range(start, stop8, 8):
            for j in range(8):
                z[j] += v[i + j] * 0.0
        for i in range(stop8, stop):
            x = v[i]
            lo[0] = x if x < lo[0] else lo[0]
            hi[0] = x if x > hi[0] else hi[0]
            z[0] += x * 0.0
        mn, mx, nz = lo[0], hi[0], z[0]
        for j in range(1, 8):
            mn = lo[j] if lo[j] < mn else mn
            mx = hi[j] if hi[j] > mx else mx
            nz += z[j]
        if not (nz == 0.0 and (mn >= low if low_closed else mn > low)
                and (mx <= high if high_closed else mx < high)):
            return False
        start = stop
    return True

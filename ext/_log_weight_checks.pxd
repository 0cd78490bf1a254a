# Scans over float64 log-weights shared by the compiled kernels.  Inline, so
# each extension module gets its own copy and no runtime module is needed.

from libc.math cimport INFINITY


cdef inline double max_log_weight(const double[::1] x) noexcept nogil:
    # Eight running maxima break the compare-select dependency chain, and gcc
    # packs them into SSE2 registers: several times faster than one.  NaN
    # never wins a comparison, so it is skipped here and detected later.
    cdef Py_ssize_t i, j, n = x.shape[0], n8 = n - n % 8
    cdef double m[8]
    cdef double r = -INFINITY
    for j in range(8):
        m[j] = -INFINITY
    for i in range(0, n8, 8):
        for j in range(8):
            m[j] = x[i + j] if x[i + j] > m[j] else m[j]
    for i in range(n8, n):
        r = x[i] if x[i] > r else r
    for j in range(8):
        r = m[j] if m[j] > r else r
    return r


cdef inline Py_ssize_t first_nan(const double[::1] x) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        if x[i] != x[i]:
            return i
    return -1


cdef inline Py_ssize_t first_posinf(const double[::1] x) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        if x[i] == INFINITY:
            return i
    return -1

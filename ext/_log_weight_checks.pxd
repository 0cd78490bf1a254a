# Scans and checks over float64 log-weights shared by the compiled kernels
# (the messages are the ones plait.ext.reference raises).  Inline, so
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


cdef inline object nan_error(const double[::1] x):
    return ValueError(f"log-weights contain NaN at index {first_nan(x)}")


cdef inline double normalisable_max(const double[::1] x) except? -1.0:
    # The maximum of x, after checking that x can be normalised at all.  The
    # rare paths look for NaN here, since no sum of exp will reveal it.
    if x.shape[0] == 0:
        raise ValueError("cannot normalise an empty array of log-weights")
    cdef double m = max_log_weight(x)
    if m == INFINITY or m == -INFINITY:
        if first_nan(x) >= 0:
            raise nan_error(x)
        if m == INFINITY:
            raise ValueError(
                f"log-weight at index {first_posinf(x)} is +inf: "
                "an infinite weight cannot be normalised"
            )
        raise ValueError("all weights are zero (every log-weight is -inf): nothing to normalise")
    return m


cdef inline void sum_and_squares(const double* e, Py_ssize_t n, double* s, double* q) noexcept nogil:
    # Eight partial sums, as in max_log_weight.  The squares cost almost nothing extra,
    # so one routine serves logsumexp and ess alike.
    cdef Py_ssize_t i, j, n8 = n - n % 8
    cdef double ps[8]
    cdef double pq[8]
    for j in range(8):
        ps[j] = 0.0
        pq[j] = 0.0
    for i in range(0, n8, 8):
        for j in range(8):
            ps[j] += e[i + j]
            pq[j] += e[i + j] * e[i + j]
    for i in range(n8, n):
        s[0] += e[i]
        q[0] += e[i] * e[i]
    for j in range(8):
        s[0] += ps[j]
        q[0] += pq[j]

# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True
"""Log densities on float64 arrays in one compiled pass.

A batched run scores one observation per lane at every step: numpy spends a
pass and an allocation on each operation of the formula.  Here the formula
is one loop over the lanes, with the operations of the numpy path in the
same order on each element, so the results are the same bits
(tests/test_ext.py checks them against ``Normal.log_prob``'s numpy path).
The kernel only takes the shapes it serves (scalars and equal-length
vectors); everything else returns None and the caller's numpy path runs.
"""

import numpy as np

cimport numpy as cnp

cnp.import_array()

_np_log = np.log

cdef double _LOG_SQRT_2PI = 0.9189385332046727  # 0.5 * math.log(2 * math.pi), as the numpy path's


cdef inline bint _vector(object a):
    # A 1-d contiguous float64 array (0-d ones are read as scalars).
    return type(a) is np.ndarray and (<cnp.ndarray>a).ndim == 1 \
        and cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_DOUBLE and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a)


cdef inline bint _scalar(object a):
    return type(a) is float or (type(a) is np.ndarray and (<cnp.ndarray>a).ndim == 0
                                and cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_DOUBLE)


def normal_log_density(x, loc, scale):
    """``-z^2/2 - log(sqrt(2 pi)) - log(scale)``, ``z = (x - loc) / scale``, for each element; or None.

    ``x`` and ``loc`` are each a float (or a 0-d float64 array) or a 1-d
    contiguous float64 array, at least one of them an array, both arrays of
    one length; ``scale`` is a float.  Other arguments return None (the
    caller's numpy path handles them).  ``log(scale)`` is numpy's, as on the
    numpy path.  Nothing is checked: an infinite or NaN element gives what
    the formula gives.

    >>> import numpy as np
    >>> from plait.ext import normal_log_density
    >>> normal_log_density(np.array([0.0, 1.0]), 0.0, 1.0).round(4).tolist()
    [-0.9189, -1.4189]
    >>> normal_log_density(0.0, 0.0, 1.0) is None  # no array: the scalar path's business
    True
    """
    if type(scale) is not float:
        return None
    cdef bint x_vector = _vector(x), loc_vector = _vector(loc)
    if not (x_vector or loc_vector) or not (x_vector or _scalar(x)) or not (loc_vector or _scalar(loc)):
        return None
    cdef Py_ssize_t n = (<cnp.ndarray>(x if x_vector else loc)).shape[0]
    if x_vector and loc_vector and (<cnp.ndarray>loc).shape[0] != n:
        return None
    cdef double s = scale
    cdef double log_scale = _np_log(s)
    result = np.empty(n)
    cdef double* out = <double*>cnp.PyArray_DATA(<cnp.ndarray>result)
    cdef const double* xs
    cdef const double* locs
    cdef double xv, lv
    if x_vector and loc_vector:
        xs = <const double*>cnp.PyArray_DATA(<cnp.ndarray>x)
        locs = <const double*>cnp.PyArray_DATA(<cnp.ndarray>loc)
        with nogil:
            _both(xs, locs, s, log_scale, out, n)
    elif x_vector:
        xs = <const double*>cnp.PyArray_DATA(<cnp.ndarray>x)
        lv = float(loc)
        with nogil:
            _values(xs, lv, s, log_scale, out, n)
    else:
        xv = float(x)
        locs = <const double*>cnp.PyArray_DATA(<cnp.ndarray>loc)
        with nogil:
            _locs(xv, locs, s, log_scale, out, n)
    return result


# One loop per shape, so that gcc vectorises each (the operations and their
# order are the numpy path's: subtract, divide, square, times -0.5, minus the
# constant, minus log(scale)).

cdef inline double _density(double d, double s, double log_scale) noexcept nogil:
    cdef double z = d / s
    z = z * z
    z = z * -0.5
    z = z - _LOG_SQRT_2PI
    return z - log_scale


cdef void _both(const double* x, const double* loc, double s, double log_scale, double* out,
                Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = _density(x[i] - loc[i], s, log_scale)


cdef void _values(const double* x, double loc, double s, double log_scale, double* out,
                  Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = _density(x[i] - loc, s, log_scale)


cdef void _locs(double x, const double* loc, double s, double log_scale, double* out,
                Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = _density(x - loc[i], s, log_scale)

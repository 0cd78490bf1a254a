# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True
"""One-pass range checks of float64 arrays, for validating distribution parameters.

A vectorized SMC run builds its distributions from particle-sized arrays at
every step; checking each parameter with numpy costs two reductions and their
Python layers.  Here it is one C loop that stops at the first failure.
"""

import numpy as np


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
    cdef Py_ssize_t i, n = v.shape[0]
    cdef double x
    cdef bint ok = True
    with nogil:
        for i in range(n):
            x = v[i]
            if not ((x >= low if low_closed else x > low) and (x <= high if high_closed else x < high)):
                ok = False
                break
    return ok

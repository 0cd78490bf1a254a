# cython: embedsignature=True, language_level=3
# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# (The last line repeats setup.py, so that a bare `cythonize -i` build matches.)
"""Ancestry of resampled lanes: which parents a set of children still needs.

A batched run prunes its answer log by walking back through the resampling
gathers (``handlers/batched.py``, ``Group.prune``); at each gather it needs
the distinct parents of the lanes kept so far and each lane's position among
them.  numpy spells that as a mask, a cumulative sum, ``flatnonzero`` and a
gather: five calls and passes per gather.  Here it is three C passes.
"""

import numpy as np
cimport numpy as cnp


def distinct_parents(parents):
    """``(distinct, position)``: the distinct ``parents`` sorted, and where each parent sits in them.

    ``parents`` holds non-negative integers; both results are ``np.intp``
    arrays, with ``distinct[position] == parents``.  Sorted parents take one
    pass; others a table as long as the largest parent.

    >>> from plait.ext._ancestry import distinct_parents
    >>> d, p = distinct_parents([5, 2, 5, 7])
    >>> d.tolist(), p.tolist()
    ([2, 5, 7], [1, 0, 1, 2])
    """
    p = np.ascontiguousarray(parents, dtype=np.intp)
    if p.ndim != 1:
        raise ValueError(f"parents must be a 1-D array, got shape {p.shape}")
    cdef const cnp.intp_t[::1] pv = p
    cdef Py_ssize_t n = pv.shape[0], i, r = 0
    cdef cnp.intp_t v, low = 0, high = -1, prev = -1
    cdef int unsorted = 0
    with nogil:
        for i in range(n):
            v = pv[i]
            low = v if v < low else low
            high = v if v > high else high
            unsorted |= v < prev
            prev = v
    if low < 0:
        raise ValueError(f"parents must be non-negative, got {low}")
    if not unsorted:
        return _sorted_distinct(pv)
    rank = np.zeros(high + 1, dtype=np.intp)
    distinct = np.empty(high + 1, dtype=np.intp)
    position = np.empty(n, dtype=np.intp)
    cdef cnp.intp_t[::1] rv = rank
    cdef cnp.intp_t[::1] dv = distinct
    cdef cnp.intp_t[::1] qv = position
    with nogil:
        for i in range(n):
            rv[pv[i]] = 1
        for i in range(high + 1):
            # Written whether used or not (the next one overwrites an unused
            # slot): no branch on the data.
            v = rv[i]
            rv[i] = r
            dv[r] = i
            r += v
        for i in range(n):
            qv[i] = rv[pv[i]]
    return distinct[:r], position


cdef tuple _sorted_distinct(const cnp.intp_t[::1] pv):
    # Sorted parents (resampling ancestors are, and so are the lanes a pruning
    # keeps): one pass, no table as long as the largest parent.
    cdef Py_ssize_t n = pv.shape[0], i, r = -1
    cdef cnp.intp_t v, prev = -1
    distinct = np.empty(n, dtype=np.intp)
    position = np.empty(n, dtype=np.intp)
    cdef cnp.intp_t[::1] dv = distinct
    cdef cnp.intp_t[::1] qv = position
    with nogil:
        for i in range(n):
            v = pv[i]
            if v != prev:
                r += 1
                dv[r] = v
                prev = v
            qv[i] = r
    return distinct[:r + 1], position

# cython: embedsignature=True, language_level=3
# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# (The last line repeats setup.py, so that a bare `cythonize -i` build matches.)
"""Ancestry of resampled lanes: which parents a set of children still needs.

A batched run prunes its answer log by walking back through the resampling
gathers (``handlers/batched.py``, ``Group.prune``); at each gather it needs
the distinct parents of the lanes kept so far and each lane's position among
them (numpy: a mask, a cumulative sum, ``flatnonzero`` and a gather; here one
C pass over sorted parents), and cuts the lane answers of the older level to
those parents.  :func:`prune_log` is the whole walk, so a prune costs one
Python call and the lanes it walks over, not Python work per level.
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
    return _distinct(p, np.empty(p.shape[0], dtype=np.intp))


ctypedef fused position_t:
    cnp.int32_t
    cnp.intp_t


cdef tuple _distinct(const cnp.intp_t[::1] pv, position):
    # distinct_parents, positions written into ``position`` (np.intp or np.int32).
    cdef Py_ssize_t n = pv.shape[0], r
    distinct = np.empty(n, dtype=np.intp)
    if n and pv[0] >= 0:
        # Sorted parents (resampling ancestors are, and so are the lanes a pruning
        # keeps): one pass, no table as long as the largest parent.
        if position.dtype == np.int32:
            r = _sorted_ranks[cnp.int32_t](pv, distinct, position)
        else:
            r = _sorted_ranks[cnp.intp_t](pv, distinct, position)
        if r >= 0:
            return distinct[:r], position
    elif n == 0:
        return distinct, position
    return _table_distinct(pv, position)


cdef Py_ssize_t _sorted_ranks(const cnp.intp_t[::1] pv, cnp.intp_t[::1] dv, position_t[::1] qv) noexcept nogil:
    # Distinct parents into dv, each parent's rank into qv; returns how many distinct,
    # or -1 once a parent is below the one before (not sorted).
    cdef Py_ssize_t n = pv.shape[0], i, r = -1
    cdef cnp.intp_t v, prev = -1
    for i in range(n):
        v = pv[i]
        if v < prev:
            return -1
        r += v != prev  # no branch on the data (a new parent about every other lane)
        dv[r] = v
        prev = v
        qv[i] = <position_t>r
    return r + 1


cdef tuple _table_distinct(const cnp.intp_t[::1] pv, position):
    # Unsorted parents: a table as long as the largest parent.
    cdef Py_ssize_t n = pv.shape[0], i, r = 0
    cdef cnp.intp_t v, low = 0, high = -1
    with nogil:
        for i in range(n):
            v = pv[i]
            low = v if v < low else low
            high = v if v > high else high
    if low < 0:
        raise ValueError(f"parents must be non-negative, got {low}")
    rank = np.zeros(high + 1, dtype=np.intp)
    distinct = np.empty(high + 1, dtype=np.intp)
    cdef cnp.intp_t[::1] rv = rank
    cdef cnp.intp_t[::1] dv = distinct
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
    if position.dtype == np.int32:
        _ranks_of[cnp.int32_t](pv, rv, position)
    else:
        _ranks_of[cnp.intp_t](pv, rv, position)
    return distinct[:r], position


cdef void _ranks_of(const cnp.intp_t[::1] pv, const cnp.intp_t[::1] rv, position_t[::1] qv) noexcept nogil:
    # qv[i] = rv[pv[i]].
    cdef Py_ssize_t i
    for i in range(pv.shape[0]):
        qv[i] = <position_t>rv[pv[i]]


def prune_log(list answers, list gathers, type lane_answer, Py_ssize_t levels=-1):
    """Cut a batched run's answer log to the ancestry of its current lanes, in place.

    ``answers`` is the log (entries of type ``lane_answer`` hold one value per
    lane in ``.data``, axis 0); ``gathers`` holds ``(position, index)``: from
    that position on, lane j was lane ``index[j]``.  Walking back from the
    current lanes, each gather keeps only the parents still needed (renumbered
    as int32 positions among them when they fit) and the lane answers before
    it only those lanes.  ``levels`` >= 0 limits the walk to that many
    gathers (the last one walked then keeps the older level's numbering) and
    stops it at the first older level whose lanes are all needed; -1 walks
    back to the first answer.  Returns the new gathers and the number of
    elements dropped.  The walk is this loop in C: one Python call per
    prune, not per level.

    >>> import numpy as np
    >>> from plait.ext._ancestry import prune_log
    >>> class A:
    ...     def __init__(self, data): self.data = data
    >>> answers = [A(np.array([10., 11., 12.])), A(np.array([20., 21.]))]
    >>> gathers, dropped = prune_log(answers, [(1, np.array([2, 2]))], A)
    >>> answers[0].data.tolist(), gathers[0][1].tolist(), dropped
    ([12.0], [0, 0], 2)
    """
    cdef Py_ssize_t k = len(gathers) - 1, level_end = len(answers), pos, dropped = 0
    cdef object index, needed = None, parents, older, remapped
    cdef list compacted = []
    while k >= 0:
        pos, index = gathers[k]
        if needed is not None:
            dropped += _compact(answers, pos, level_end, needed, lane_answer)
            parents = _parents(index, needed)
        else:
            parents = np.ascontiguousarray(index, dtype=np.intp)
        k -= 1
        if levels == 0:
            # Walked far enough: the older levels stay as they are, and the
            # gather keeps the parents' own numbers.
            dropped += len(index) - len(parents)
            compacted.append((pos, parents))
            break
        levels -= 1
        older, remapped = _distinct(parents, np.empty(len(parents), dtype=_position_type(len(index))))
        dropped += len(index) - len(remapped)
        compacted.append((pos, remapped))
        if levels >= 0 and k >= 0 and len(older) == len(gathers[k][1]):
            # Every lane of the older level is needed: a short walk stops here.  (A
            # whole walk goes on: a short walk that stopped further back left
            # lanes there that nobody needs.)
            break
        needed, level_end = older, pos
    else:
        if needed is not None:
            dropped += _compact(answers, 0, level_end, needed, lane_answer)
    compacted.reverse()
    return gathers[:k + 1] + compacted, dropped


cdef Py_ssize_t _compact(list answers, Py_ssize_t start, Py_ssize_t stop, needed, type lane_answer) except -1:
    # The lane answers of answers[start:stop] cut to lanes ``needed``; returns the elements dropped.
    cdef Py_ssize_t i, n = len(needed), dropped = 0
    for i in range(start, stop):
        entry = answers[i]
        if type(entry) is lane_answer:
            data = entry.data
            if len(data) != n:  # (as long as ``needed``: already compact, needed is every lane)
                cut = _taken(data, needed)
                dropped += data.size - cut.size
                answers[i] = lane_answer(cut)
    return dropped


cdef object _taken(data, needed):
    # data[needed] (axis 0); 1-D float64 and integer arrays by a C loop, others by numpy.
    cdef const cnp.intp_t[::1] nv = needed
    cdef Py_ssize_t n = nv.shape[0]
    if type(data) is not np.ndarray or data.ndim != 1 or not data.flags.c_contiguous \
            or (n and nv[n - 1] >= data.shape[0]):  # (needed is sorted: numpy raises the IndexError)
        return data[needed]
    if data.dtype == np.float64:
        out = np.empty(n, dtype=np.float64)
        _take_f8(data, nv, out)
        return out
    if data.dtype == np.intp:
        out = np.empty(n, dtype=np.intp)
        _take_ip(data, nv, out)
        return out
    if data.dtype == np.int32:
        out = np.empty(n, dtype=np.int32)
        _take_i4(data, nv, out)
        return out
    return data[needed]


cdef object _parents(index, needed):
    # index[needed] as np.intp (a gather the log keeps may be int32).
    cdef const cnp.intp_t[::1] nv = needed
    cdef const cnp.int32_t[::1] iv
    cdef cnp.intp_t[::1] ov
    cdef Py_ssize_t i, n = nv.shape[0]
    if type(index) is np.ndarray and index.dtype == np.int32 and index.ndim == 1 \
            and index.flags.c_contiguous and (n == 0 or nv[n - 1] < index.shape[0]):
        out = np.empty(n, dtype=np.intp)
        iv, ov = index, out
        with nogil:
            for i in range(n):
                ov[i] = iv[nv[i]]
        return out
    return np.ascontiguousarray(_taken(index, needed), dtype=np.intp)


cdef void _take_f8(const double[::1] d, const cnp.intp_t[::1] nv, double[::1] o) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(nv.shape[0]):
        o[i] = d[nv[i]]


cdef void _take_ip(const cnp.intp_t[::1] d, const cnp.intp_t[::1] nv, cnp.intp_t[::1] o) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(nv.shape[0]):
        o[i] = d[nv[i]]


cdef void _take_i4(const cnp.int32_t[::1] d, const cnp.intp_t[::1] nv, cnp.int32_t[::1] o) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(nv.shape[0]):
        o[i] = d[nv[i]]


cdef object _position_type(Py_ssize_t lanes):
    # Positions among at most ``lanes`` parents: int32 when they fit (half the
    # bytes the log keeps per gathered lane).
    return np.int32 if lanes < 2**31 else np.intp

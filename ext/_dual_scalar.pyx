# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Scalar dual arithmetic with one tangent direction, compiled.

GradInf runs every alternative path at a dual θ with one direction, so its
programs' scalar arithmetic (``theta / (theta + c)``) is made of 0-d duals
with a tangent of shape (1,).  :func:`binary` is the fast path of
``Dual.__add__`` and friends for exactly that case: the same formulas as
:func:`plait.gradients.dual._fast_one` (the reference, tested equal), with
the type checks, the float arithmetic, the 1-element tangent and the record
built in C.  Anything else returns None, and the Python paths take over.

>>> from plait.gradients import Dual, perturbation
>>> with perturbation() as tag:
...     y = binary(Dual(2.0, [1.0], tag=tag), 4.0, 4)   # d / 4
...     float(y.primal), y.tangent.tolist()
(0.5, [0.25])
"""

cimport numpy as cnp
from cpython.object cimport PyObject_GenericSetAttr
from libc.math cimport isfinite

import numpy as np

cnp.import_array()

cdef object _DUAL = None
cdef object _LIVE = None
cdef object _ESCAPED = None
cdef object _FLOAT64 = np.float64
cdef object _NDARRAY = np.ndarray
cdef str _PRIMAL = "primal"
cdef str _TANGENT = "_tangent"
cdef str _TAG = "tag"


def register(dual, live, escaped):
    """Name the Dual class, the set of live tags and the escape error (called once by plait.gradients.dual).

    >>> from plait.gradients import dual
    >>> register(dual.Dual, dual._LIVE, dual.escaped)
    """
    global _DUAL, _LIVE, _ESCAPED
    _DUAL = dual
    _LIVE = live
    _ESCAPED = escaped


cdef inline bint _one_direction(object t):
    """A float64 ndarray of shape (1,)."""
    if type(t) is not _NDARRAY:
        return False
    cdef cnp.ndarray a = <cnp.ndarray>t
    return (cnp.PyArray_NDIM(a) == 1 and cnp.PyArray_DIM(a, 0) == 1
            and cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE)


cdef inline double _first(object t):
    cdef cnp.ndarray a = <cnp.ndarray>t
    return (<double*>cnp.PyArray_DATA(a))[0] if cnp.PyArray_ISCARRAY_RO(a) else float(a[0])


cdef inline object _make(double y, double s, object tag):
    cdef cnp.npy_intp one = 1
    cdef cnp.ndarray tangent = cnp.PyArray_SimpleNew(1, &one, cnp.NPY_DOUBLE)
    (<double*>cnp.PyArray_DATA(tangent))[0] = s
    d = _DUAL.__new__(_DUAL)
    PyObject_GenericSetAttr(d, _PRIMAL, _FLOAT64(y))
    PyObject_GenericSetAttr(d, _TANGENT, tangent)
    PyObject_GenericSetAttr(d, _TAG, tag)
    return d


def binary(d, o, int op):
    """``d op o`` for a 0-d dual ``d`` with one direction, or None (op as in ``dual._fast``).

    ``op``: 0 ``d + o``, 1 ``d - o``, 2 ``o - d``, 3 ``d * o``, 4 ``d / o``,
    5 ``o / d``.  ``o`` is a Python or numpy float, an int, or a dual of the
    same tag and kind; a non-finite operand or a zero divisor returns None.

    >>> from plait.gradients import Dual, perturbation
    >>> with perturbation() as tag:
    ...     binary(Dual(1.0, [1.0, 0.0], tag=tag), 1.0, 0) is None   # two directions: not here
    True
    """
    p_obj = d.primal
    t = d._tangent
    if type(p_obj) is not _FLOAT64 or not _one_direction(t):
        return None
    cdef double p = p_obj, q, u = 0.0, y, s
    cdef double tt = _first(t)
    cdef bint has_u = False
    to = type(o)
    if to is float or to is _FLOAT64:
        q = o
    elif to is int:
        try:
            q = o
        except OverflowError:
            return None
    elif to is _DUAL:
        if o.tag != d.tag:
            return None
        po = o.primal
        uo = o._tangent
        if type(po) is not _FLOAT64 or not _one_direction(uo):
            return None
        q = po
        u = _first(uo)
        has_u = True
    else:
        return None
    if not isfinite(p) or not isfinite(q):
        return None
    tag = d.tag
    if tag not in _LIVE:
        _ESCAPED(tag)
    if op == 0:
        y = p + q
        s = tt + u if has_u else tt
    elif op == 1:
        y = p - q
        s = tt - u if has_u else tt
    elif op == 2:
        y = q - p
        s = u - tt if has_u else -tt
    elif op == 3:
        y = p * q
        s = tt * q + u * p if has_u else tt * q
    elif op == 4:
        if q == 0.0:
            return None
        y = p / q
        s = (tt - u * y) / q if has_u else tt / q
    else:
        if p == 0.0:
            return None
        y = q / p
        s = (u - tt * y) / p if has_u else -tt * (y / p)
    return _make(y, s, tag)

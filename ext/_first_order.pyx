# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""First-order numbers ``v + t·ε`` (ε² = 0): GradInf's path weights, compiled.

GradInf multiplies, adds and compares these for every fork of every
alternative path, so they are a C struct of two doubles rather than a Python
object with a ``__dict__``; the arithmetic is the same as the formulas of
gradinf.md §2.2.  :mod:`plait.gradients.couplings` re-exports the class as
``W``.

>>> from plait.ext._first_order import W
>>> w = W(0.0, 2.0) * W(0.0, 3.0)   # both primal 0: exactly zero (safe_mul)
>>> (w.v, w.t), W(0.0, 1.0).sign(), (W(0.0, 2.0) / W(0.0, 4.0)).v
((0.0, 0.0), 1, 0.5)
"""

from libc.math cimport exp as c_exp
from libc.math cimport isfinite

#: A tangent of magnitude at most this, on a zero primal, counts as zero.
TOL = 1e-15
cdef double _TOL = 1e-15


cdef inline W _w(double v, double t):
    cdef W w = W.__new__(W)
    w.v = v
    w.t = t
    return w


cdef inline W _as(object o):
    if type(o) is W:
        return <W>o
    return _w(float(o), 0.0)


cdef class W:
    """A first-order number ``v + t·ε`` with GradInf's safe operations.

    * ``a * b`` with both primals 0 is exactly 0 (the O(ε²) term vanishes);
    * ``a / b`` with both primals 0 is the ratio of tangents (L'Hôpital), the
      ratio of two O(ε) masses;
    * :meth:`sign` is lexicographic: the primal's sign, else the tangent's.

    >>> W(1.0, 0.5) + 2.0
    W(3.0, 0.5)
    """

    cdef public double v
    cdef public double t

    def __init__(self, double v, double t=0.0):
        self.v = v
        self.t = t

    def __add__(self, o):
        cdef W b = _as(o)
        return _w(self.v + b.v, self.t + b.t)

    def __radd__(self, o):
        cdef W b = _as(o)
        return _w(b.v + self.v, b.t + self.t)

    def __sub__(self, o):
        cdef W b = _as(o)
        return _w(self.v - b.v, self.t - b.t)

    def __rsub__(self, o):
        cdef W b = _as(o)
        return _w(b.v - self.v, b.t - self.t)

    def __neg__(self):
        return _w(-self.v, -self.t)

    def __mul__(self, o):
        return _mul(self, _as(o))

    def __rmul__(self, o):
        return _mul(_as(o), self)

    def __truediv__(self, o):
        return _div(self, _as(o))

    def __rtruediv__(self, o):
        return _div(_as(o), self)

    cpdef int sign(self):
        """Lexicographic sign: of the primal, else of the tangent beyond 1e-15."""
        if self.v > 0.0:
            return 1
        if self.v < 0.0:
            return -1
        if self.t > _TOL:
            return 1
        if self.t < -_TOL:
            return -1
        return 0

    cpdef bint is_zero(self):
        """Primal 0 and tangent negligible."""
        return self.v == 0.0 and -_TOL <= self.t <= _TOL

    def exp(self):
        """``exp`` to first order."""
        cdef double e = c_exp(self.v)
        return _w(e, e * self.t)

    def __reduce__(self):
        return (W, (self.v, self.t))

    def __repr__(self):
        return f"W({self.v!r}, {self.t!r})"


cdef inline W _mul(W a, W b):
    if a.v == 0.0 and b.v == 0.0:
        return _w(0.0, 0.0)
    return _w(a.v * b.v, a.v * b.t + a.t * b.v)


cdef inline W _div(W a, W b):
    if b.v == 0.0:
        if a.v == 0.0 and b.t != 0.0:
            return _w(a.t / b.t, 0.0)
        raise ZeroDivisionError("division of a first-order weight by zero")
    cdef double y = a.v / b.v
    if isfinite(y):
        return _w(y, (a.t - y * b.t) / b.v)  # not / b.v², which underflows
    # A subnormal divisor: y overflows, but the tangent's numerator may cancel.
    return _w(y, ((a.t * b.v - a.v * b.t) / b.v) / b.v)


cpdef bint lex_gt(W a, W b):
    """``a > b`` lexicographically.

    >>> lex_gt(W(0.5, 1.0), W(0.5, 0.0))
    True
    """
    return _w(a.v - b.v, a.t - b.t).sign() > 0


cpdef W lex_max(W a, W b):
    """The lexicographic maximum (a tie keeps ``a``).

    >>> lex_max(W(0.5, -1.0), W(0.5, 0.0))
    W(0.5, 0.0)
    """
    return a if _w(a.v - b.v, a.t - b.t).sign() >= 0 else b


cpdef W lex_min(W a, W b):
    """The lexicographic minimum (a tie keeps ``a``).

    >>> lex_min(W(0.5, -1.0), W(0.5, 0.0))
    W(0.5, -1.0)
    """
    return a if _w(a.v - b.v, a.t - b.t).sign() <= 0 else b

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""First-order numbers ``v + t·ε`` (ε² = 0): GradInf's path weights, compiled.

GradInf multiplies, adds and compares these for every fork of every
alternative path, so they are a C struct of two doubles rather than a Python
object with a ``__dict__``; the arithmetic is the same as the formulas of
gradinf.md §2.2.  :mod:`plait.inference.gradient_estimation.couplings` re-exports the class as
``FirstOrder``.

>>> from plait.ext._first_order import FirstOrder
>>> w = FirstOrder(0.0, 2.0) * FirstOrder(0.0, 3.0)   # both primal 0: exactly zero (safe_mul)
>>> (w.v, w.t), FirstOrder(0.0, 1.0).sign(), (FirstOrder(0.0, 2.0) / FirstOrder(0.0, 4.0)).v
((0.0, 0.0), 1, 0.5)
"""

from libc.math cimport exp as c_exp
from libc.math cimport fabs, isfinite
from libc.float cimport DBL_MIN

#: A tangent of magnitude at most this, on a zero primal, counts as zero.
TOL = 1e-15
cdef double _TOL = 1e-15


cdef inline FirstOrder _w(double v, double t):
    cdef FirstOrder w = FirstOrder.__new__(FirstOrder)
    w.v = v
    w.t = t
    return w


cdef inline FirstOrder _as(object o):
    if type(o) is FirstOrder:
        return <FirstOrder>o
    return _w(float(o), 0.0)


cdef class FirstOrder:
    """A first-order number ``v + t·ε`` with GradInf's safe operations.

    * ``a * b`` with both primals 0 is exactly 0 (the O(ε²) term vanishes);
    * ``a / b`` with both primals 0 is the ratio of tangents (L'Hôpital), the
      ratio of two O(ε) masses;
    * :meth:`sign` is lexicographic: the primal's sign, else the tangent's.

    >>> FirstOrder(1.0, 0.5) + 2.0
    FirstOrder(3.0, 0.5)
    """

    cdef public double v
    cdef public double t

    def __init__(self, double v, double t=0.0):
        self.v = v
        self.t = t

    def __add__(self, o):
        cdef FirstOrder b = _as(o)
        return _w(self.v + b.v, self.t + b.t)

    def __radd__(self, o):
        cdef FirstOrder b = _as(o)
        return _w(b.v + self.v, b.t + self.t)

    def __sub__(self, o):
        cdef FirstOrder b = _as(o)
        return _w(self.v - b.v, self.t - b.t)

    def __rsub__(self, o):
        cdef FirstOrder b = _as(o)
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
        return (FirstOrder, (self.v, self.t))

    def __repr__(self):
        return f"FirstOrder({self.v!r}, {self.t!r})"


cdef inline FirstOrder _mul(FirstOrder a, FirstOrder b):
    if a.v == 0.0 and b.v == 0.0:
        return _w(0.0, 0.0)
    return _w(a.v * b.v, a.v * b.t + a.t * b.v)


cdef inline FirstOrder _div(FirstOrder a, FirstOrder b):
    if b.v == 0.0:
        if a.v == 0.0 and b.t != 0.0:
            return _w(a.t / b.t, 0.0)
        raise ZeroDivisionError("division of a first-order weight by zero")
    cdef double y = a.v / b.v
    cdef double shift
    if isfinite(y):
        shift = y * b.t
        if shift != 0.0 and fabs(shift) < DBL_MIN:
            # y * b.t is subnormal and has lost its precision: divide by b.v first.
            return _w(y, a.t / b.v - y * (b.t / b.v))
        return _w(y, (a.t - shift) / b.v)  # not / b.v², which underflows
    # A subnormal divisor: y overflows, but the tangent's numerator may cancel.
    return _w(y, ((a.t * b.v - a.v * b.t) / b.v) / b.v)


cpdef bint lex_gt(FirstOrder a, FirstOrder b):
    """``a > b`` lexicographically.

    >>> lex_gt(FirstOrder(0.5, 1.0), FirstOrder(0.5, 0.0))
    True
    """
    return _w(a.v - b.v, a.t - b.t).sign() > 0


cpdef FirstOrder lex_max(FirstOrder a, FirstOrder b):
    """The lexicographic maximum (a tie keeps ``a``).

    >>> lex_max(FirstOrder(0.5, -1.0), FirstOrder(0.5, 0.0))
    FirstOrder(0.5, 0.0)
    """
    return a if _w(a.v - b.v, a.t - b.t).sign() >= 0 else b


cpdef FirstOrder lex_min(FirstOrder a, FirstOrder b):
    """The lexicographic minimum (a tie keeps ``a``).

    >>> lex_min(FirstOrder(0.5, -1.0), FirstOrder(0.5, 0.0))
    FirstOrder(0.5, -1.0)
    """
    return a if _w(a.v - b.v, a.t - b.t).sign() <= 0 else b

# cython: language_level=3, embedsignature=True
"""The trajectories of :mod:`plait.inference.mcmc.trajectory`, compiled.

A NUTS leaf is one leapfrog plus a handful of vector operations on a
short float64 vector (the energy, the velocity, the merge of two subtrees,
the U-turn checks).  In numpy each of them costs a microsecond or more of
call overhead, several times the arithmetic; here they are C loops over
buffers preallocated once per transition.  The only Python call per leaf is
``potential(x)``.

The algorithm, the random numbers drawn and the statistics are those of the
pure-Python specification :mod:`plait.ext.trajectory_reference` (same
signatures, same tuple answers; tests/test_trajectory_compiled.py runs both
from the same seeds).  Results agree to rounding: the dot products and the
dense metric's matrix-vector product add in a different order than numpy's.

Random numbers: ``metric.momentum(rng)`` once per transition, and uniforms
drawn by the C routine ``Generator.random()`` calls (the bit generator's
``next_double``), on the Generator's own bit generator: the same stream.

The tree builder recurses over subtrees as the specification does, but into
preallocated trees: building a subtree of depth ``d`` into ``out`` builds
its first half into ``out`` itself and its second half into the scratch
tree of level ``d - 1``, which nothing else uses meanwhile; merging copies
the second half's end and draw into ``out``.
"""

cimport cython
cimport numpy as cnp
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport INFINITY, exp, fabs, fma, log, log1p
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from numpy.random cimport bitgen_t

import numpy as np

cnp.import_array()

cdef object _GENERATOR = np.random.Generator

# The fields of a tree, as offsets (in vectors of length n) into its block.
cdef enum:
    LEFT_X, LEFT_P, LEFT_G, LEFT_V, RIGHT_X, RIGHT_P, RIGHT_G, RIGHT_V, DRAW_X, DRAW_P, DRAW_G, RHO, VECTORS


cdef struct Tree:
    # A subtree: its two ends (position, momentum, gradient, velocity, log
    # density), its draw, the sum of its momenta and its summaries.
    double* left_x
    double* left_p
    double* left_g
    double* left_v
    double left_ld
    double* right_x
    double* right_p
    double* right_g
    double* right_v
    double right_ld
    double* draw_x
    double* draw_p
    double* draw_g
    double draw_ld
    double* rho
    double log_weight
    double accept_sum
    long num_steps
    bint diverging
    bint turning
    bint draw_is_start  # the draw is the transition's starting point (the caller's object)


cdef inline void _point_tree(Tree* t, double* block, Py_ssize_t n) noexcept:
    t.left_x = block + LEFT_X * n
    t.left_p = block + LEFT_P * n
    t.left_g = block + LEFT_G * n
    t.left_v = block + LEFT_V * n
    t.right_x = block + RIGHT_X * n
    t.right_p = block + RIGHT_P * n
    t.right_g = block + RIGHT_G * n
    t.right_v = block + RIGHT_V * n
    t.draw_x = block + DRAW_X * n
    t.draw_p = block + DRAW_P * n
    t.draw_g = block + DRAW_G * n
    t.rho = block + RHO * n


cdef inline void _copy(double* dst, const double* src, Py_ssize_t n) noexcept:
    memcpy(dst, src, n * sizeof(double))


cdef inline void _one_state(Tree* t, Py_ssize_t n) noexcept:
    """A tree of one state, the left end: it is also the right end, the draw and the sum of momenta."""
    _copy(t.right_x, t.left_x, n)
    _copy(t.right_p, t.left_p, n)
    _copy(t.right_g, t.left_g, n)
    _copy(t.right_v, t.left_v, n)
    _copy(t.draw_x, t.left_x, n)
    _copy(t.draw_p, t.left_p, n)
    _copy(t.draw_g, t.left_g, n)
    _copy(t.rho, t.left_p, n)
    t.right_ld = t.draw_ld = t.left_ld


# Dot products add left to right with fused multiply-adds: exactly what numpy's
# ``p @ v`` computes for float64 vectors of fewer than 16 elements (OpenBLAS's
# ddot below its vector kernel's block), so on such vectors energies, hence
# every decision and the whole chain, are the reference's to the last bit.
cdef inline double _dot(const double* a, const double* b, Py_ssize_t n) noexcept:
    cdef double s = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        s = fma(a[i], b[i], s)
    return s


cdef inline double _sum_dot(const double* a, const double* b, const double* v, Py_ssize_t n) noexcept:
    """``(a + b) . v``."""
    cdef double s = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        s = fma(a[i] + b[i], v[i], s)
    return s


cdef inline double _accept_probability(double log_ratio) noexcept:
    """``min(1, exp(log_ratio))``, 0 for ``-inf`` and NaN."""
    if log_ratio >= 0.0:
        return 1.0
    if log_ratio == log_ratio:
        return exp(log_ratio)
    return 0.0


cdef inline double _logaddexp(double a, double b) noexcept:
    cdef double high = a if a > b else b
    if high == -INFINITY:
        return high
    return high + log1p(exp(-fabs(a - b)))


cdef inline bint _no_u_turn(const double* a, const double* b, const double* v_begin, const double* v_end,
                            Py_ssize_t n) noexcept:
    """The generalised criterion holds for ``rho = a + b``: it points along both ends' velocities."""
    return _sum_dot(a, b, v_begin, n) > 0.0 and _sum_dot(a, b, v_end, n) > 0.0


cdef class _Dynamics:
    """One transition's Hamiltonian: potential, metric, step size, uniforms and work buffers."""

    cdef object potential
    cdef object rng
    cdef bitgen_t* bitgen
    cdef object inverse_mass  # keeps the buffer ``metric`` points into alive
    cdef const double* metric
    cdef bint dense
    cdef Py_ssize_t n
    cdef cnp.npy_intp dims[1]
    cdef double step_size
    cdef double h0
    cdef double threshold
    cdef double* work  # a half-step momentum, then a half-step velocity
    cdef double* blocks  # the trees' vectors: the trajectory's, then one scratch tree per depth
    cdef Tree* trees
    cdef int num_trees

    def __cinit__(self, potential, metric, double step_size, rng, double threshold, int num_trees):
        inverse_mass = np.ascontiguousarray(metric.inverse_mass, dtype=np.float64)
        self.dense = inverse_mass.ndim == 2
        self.n = inverse_mass.shape[0]
        if self.dense and inverse_mass.shape[1] != self.n:
            raise ValueError(f"the inverse mass matrix must be square, got shape {inverse_mass.shape}")
        self.inverse_mass = inverse_mass
        self.metric = <const double*>cnp.PyArray_DATA(inverse_mass)
        self.dims[0] = self.n
        self.potential, self.rng, self.step_size, self.threshold = potential, rng, step_size, threshold
        self.bitgen = NULL
        if type(rng) is _GENERATOR:
            self.bitgen = <bitgen_t*>PyCapsule_GetPointer(rng.bit_generator.capsule, "BitGenerator")
        self.num_trees = num_trees
        self.work = <double*>malloc(2 * max(self.n, 1) * sizeof(double))
        self.blocks = <double*>malloc(num_trees * VECTORS * max(self.n, 1) * sizeof(double))
        self.trees = <Tree*>malloc(num_trees * sizeof(Tree))
        if self.work == NULL or self.blocks == NULL or self.trees == NULL:
            raise MemoryError()
        cdef int i
        for i in range(num_trees):
            _point_tree(&self.trees[i], self.blocks + i * VECTORS * self.n, self.n)

    def __dealloc__(self):
        free(self.work)
        free(self.blocks)
        free(self.trees)

    cdef double uniform(self) except? -1.0:
        """``rng.random()``: the same C routine on the same bit generator when ``rng`` is a Generator."""
        if self.bitgen != NULL:
            return self.bitgen.next_double(self.bitgen.state)
        return self.rng.random()

    cdef void velocity(self, double* out, const double* p) noexcept:
        """``M^-1 p``."""
        cdef Py_ssize_t i, j, n = self.n
        cdef const double* row
        cdef double s
        if self.dense:
            # numpy's BLAS matrix-vector product adds in blocks no plain loop
            # reproduces, so nothing is gained by fused multiply-adds here.
            for i in range(n):
                row = self.metric + i * n
                s = 0.0
                for j in range(n):
                    s += row[j] * p[j]
                out[i] = s
        else:
            for i in range(n):
                out[i] = self.metric[i] * p[i]

    cdef double energy(self, double log_density, const double* p) noexcept:
        """``-log p(x) + p.M^-1.p / 2``; NaN (inf - inf) is ``inf``: as far away as it gets."""
        self.velocity(self.work, p)
        cdef double h = 0.5 * _dot(p, self.work, self.n) - log_density
        return INFINITY if h != h else h

    cdef double leapfrog(self, double* x, double* p, double* g, const double* x0, const double* p0,
                         const double* g0, double eps) except? -1.0:
        """One leapfrog of ``eps`` from ``(x0, p0, g0)`` into ``(x, p, g)``; returns the new log density."""
        cdef Py_ssize_t i, n = self.n
        cdef double half = 0.5 * eps
        cdef double* p_half = self.work
        cdef double* v_half = self.work + n
        for i in range(n):
            p_half[i] = p0[i] + half * g0[i]
        self.velocity(v_half, p_half)
        position = cnp.PyArray_SimpleNew(1, self.dims, cnp.NPY_DOUBLE)  # the potential may keep it
        cdef double* fresh = <double*>cnp.PyArray_DATA(position)
        for i in range(n):
            fresh[i] = x0[i] + eps * v_half[i]
        _copy(x, fresh, n)
        log_density, grad = self.potential(position)
        _read_gradient(g, grad, n)
        for i in range(n):
            p[i] = p_half[i] + half * g[i]
        return log_density

    cdef object point(self, const double* x, double log_density, const double* g):
        return (_vector(x, self.n), log_density, _vector(g, self.n))


cdef int _read_gradient(double* out, object grad, Py_ssize_t n) except -1:
    """Copy the potential's gradient into ``out`` (any array-like of ``n`` numbers)."""
    cdef cnp.ndarray array
    if (cnp.PyArray_CheckExact(grad) and cnp.PyArray_TYPE(<cnp.ndarray>grad) == cnp.NPY_DOUBLE
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>grad)):
        array = <cnp.ndarray>grad
    else:
        array = np.ascontiguousarray(grad, dtype=np.float64)
    if cnp.PyArray_SIZE(array) != n:
        raise ValueError(f"the potential's gradient has {cnp.PyArray_SIZE(array)} elements, expected {n}")
    _copy(out, <double*>cnp.PyArray_DATA(array), n)
    return 0


cdef object _vector(const double* values, Py_ssize_t n):
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    out = cnp.PyArray_SimpleNew(1, dims, cnp.NPY_DOUBLE)
    _copy(<double*>cnp.PyArray_DATA(out), values, n)
    return out


cdef int _read_vector(double* out, object values, Py_ssize_t n, str what) except -1:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.size != n:
        raise ValueError(f"{what} has {array.size} elements, expected {n}")
    _copy(out, <double*>cnp.PyArray_DATA(array), n)
    return 0


cdef int _read_start(double* x, double* p, double* g, object point, object momentum, Py_ssize_t n) except -1:
    _read_vector(x, point.x, n, "the point's position")
    _read_vector(g, point.grad, n, "the point's gradient")
    _read_vector(p, momentum, n, "the momentum")
    return 0


# ---------------------------------------------------------------------------
# NUTS
# ---------------------------------------------------------------------------

cdef class _NUTS(_Dynamics):
    """The trajectory builder: the specification's ``_NUTS`` on preallocated trees."""

    cdef int leaf(self, Tree* out, const double* x0, const double* p0, const double* g0, int direction) except -1:
        cdef Py_ssize_t n = self.n
        cdef double log_density = self.leapfrog(out.left_x, out.left_p, out.left_g, x0, p0, g0,
                                                direction * self.step_size)
        cdef double h = self.energy(log_density, out.left_p)
        self.velocity(out.left_v, out.left_p)
        out.left_ld = log_density
        _one_state(out, n)
        out.log_weight = self.h0 - h
        out.num_steps = 1
        out.accept_sum = _accept_probability(self.h0 - h)
        out.diverging = h - self.h0 > self.threshold
        out.turning = False
        out.draw_is_start = False
        return 0

    cdef int build(self, Tree* out, const double* x0, const double* p0, const double* g0, int direction,
                   int depth) except -1:
        """A subtree of ``2 ** depth`` leapfrogs from ``(x0, p0, g0)`` into ``out``; uses the scratch trees below ``depth``."""
        if depth == 0:
            return self.leaf(out, x0, p0, g0, direction)
        self.build(out, x0, p0, g0, direction, depth - 1)
        if out.diverging or out.turning:
            return 0
        cdef Tree* second = &self.trees[depth]  # trees[0] is the trajectory; trees[d + 1] is level d's scratch
        if direction > 0:
            self.build(second, out.right_x, out.right_p, out.right_g, direction, depth - 1)
        else:
            self.build(second, out.left_x, out.left_p, out.left_g, direction, depth - 1)
        return self.merge(out, second, direction, False)

    cdef int merge(self, Tree* old, Tree* new, int direction, bint biased) except -1:
        """Join ``new`` (built beyond ``old`` in ``direction``) to ``old``: draw, summaries, criterion."""
        cdef Py_ssize_t i, n = self.n
        old.num_steps += new.num_steps
        old.accept_sum += new.accept_sum
        if new.diverging or new.turning:
            old.diverging = old.diverging or new.diverging
            old.turning = True
            return 0
        cdef double log_total = _logaddexp(old.log_weight, new.log_weight)
        # Inside a subtree: multinomial draw; at the top: biased towards the new subtree.
        cdef double log_accept = new.log_weight - (old.log_weight if biased else log_total)
        if log_accept >= 0.0 or self.uniform() < exp(log_accept):
            _copy(old.draw_x, new.draw_x, n)
            _copy(old.draw_p, new.draw_p, n)
            _copy(old.draw_g, new.draw_g, n)
            old.draw_ld = new.draw_ld
            old.draw_is_start = False
        old.log_weight = log_total
        cdef Tree* first = old if direction > 0 else new
        cdef Tree* second = new if direction > 0 else old
        cdef bint turning = not _no_u_turn(old.rho, new.rho, first.left_v, second.right_v, n)
        if not turning:
            # Stan's extra checks across the join: each half extended by the other's first state.
            turning = (not _no_u_turn(first.rho, second.left_p, first.left_v, second.left_v, n)
                       or not _no_u_turn(first.right_p, second.rho, first.right_v, second.right_v, n))
        for i in range(n):
            old.rho[i] += new.rho[i]
        if direction > 0:  # old's right end becomes new's
            _copy(old.right_x, new.right_x, n)
            _copy(old.right_p, new.right_p, n)
            _copy(old.right_g, new.right_g, n)
            _copy(old.right_v, new.right_v, n)
            old.right_ld = new.right_ld
        else:
            _copy(old.left_x, new.left_x, n)
            _copy(old.left_p, new.left_p, n)
            _copy(old.left_g, new.left_g, n)
            _copy(old.left_v, new.left_v, n)
            old.left_ld = new.left_ld
        old.turning = turning
        return 0

    cdef int start(self, object point, object momentum) except -1:
        """The one-point trajectory at ``point`` with momentum ``momentum``; sets ``h0``."""
        cdef Tree* t = &self.trees[0]
        cdef Py_ssize_t n = self.n
        _read_start(t.left_x, t.left_p, t.left_g, point, momentum, n)
        t.left_ld = point.log_density
        self.velocity(t.left_v, t.left_p)
        _one_state(t, n)
        self.h0 = self.energy(t.left_ld, t.left_p)
        t.log_weight = 0.0
        t.accept_sum = 0.0
        t.num_steps = 0
        t.diverging = t.turning = False
        t.draw_is_start = True
        return 0

    cdef object run(self, object point, int max_tree_depth):
        cdef Tree* tree = &self.trees[0]
        cdef Tree* subtree
        cdef int depth = 0, direction
        while depth < max_tree_depth:
            direction = 1 if self.uniform() < 0.5 else -1
            subtree = &self.trees[depth + 1]
            if direction > 0:
                self.build(subtree, tree.right_x, tree.right_p, tree.right_g, direction, depth)
            else:
                self.build(subtree, tree.left_x, tree.left_p, tree.left_g, direction, depth)
            depth += 1
            self.merge(tree, subtree, direction, True)
            if tree.diverging or tree.turning:
                break
        energy = self.energy(tree.draw_ld, tree.draw_p)
        chosen = None if tree.draw_is_start else self.point(tree.draw_x, tree.draw_ld, tree.draw_g)
        return (chosen, tree.accept_sum / tree.num_steps, bool(tree.diverging), energy, depth, tree.num_steps)


def nuts(potential, metric, point, double step_size, rng, int max_tree_depth, double threshold):
    """One multinomial NUTS transition (:func:`plait.ext.trajectory_reference.nuts`, compiled).

    >>> import numpy as np
    >>> from plait.inference.mcmc.trajectory import Metric, Point
    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> chosen, accept, diverging, energy, depth, steps = nuts(
    ...     potential, Metric(np.ones(2)), Point(np.zeros(2), 0.0, np.zeros(2)), 0.5, np.random.default_rng(0), 10,
    ...     1000.0)
    >>> steps >= 1, diverging
    (True, False)
    """
    if max_tree_depth < 1:
        raise ValueError(f"max_tree_depth must be >= 1, got {max_tree_depth}")
    momentum = metric.momentum(rng)
    cdef _NUTS builder = _NUTS(potential, metric, step_size, rng, threshold, max_tree_depth + 1)
    builder.start(point, momentum)
    return builder.run(point, max_tree_depth)


# ---------------------------------------------------------------------------
# static HMC and the step-size heuristic
# ---------------------------------------------------------------------------

cdef class _Path(_Dynamics):
    """Two states (position, momentum, gradient) the leapfrogs alternate between."""

    cdef double* x
    cdef double* p
    cdef double* g
    cdef double* x_next
    cdef double* p_next
    cdef double* g_next

    cdef double start(self, object point, object momentum) except? -1.0:
        """Read the starting state into the first state; returns its energy."""
        cdef Py_ssize_t n = self.n
        self.x, self.p, self.g = self.blocks, self.blocks + n, self.blocks + 2 * n
        self.x_next, self.p_next, self.g_next = self.blocks + 3 * n, self.blocks + 4 * n, self.blocks + 5 * n
        _read_start(self.x, self.p, self.g, point, momentum, n)
        return self.energy(point.log_density, self.p)

    cdef object hmc(self, object point, object momentum, int num_steps):
        cdef double h0 = self.start(point, momentum)
        cdef double* x = self.x
        cdef double* p = self.p
        cdef double* g = self.g
        cdef double* x_next = self.x_next
        cdef double* p_next = self.p_next
        cdef double* g_next = self.g_next
        cdef double log_density = point.log_density
        cdef bint diverging = False, moved = False
        cdef int step
        for step in range(num_steps):
            log_density = self.leapfrog(x_next, p_next, g_next, x, p, g, self.step_size)
            x, x_next = x_next, x
            p, p_next = p_next, p
            g, g_next = g_next, g
            moved = True
            if self.energy(log_density, p) - h0 > self.threshold:
                diverging = True
                break
        cdef double h = self.energy(log_density, p)
        cdef double accept = 0.0 if diverging else _accept_probability(h0 - h)
        if self.uniform() < accept:
            chosen = self.point(x, log_density, g) if moved else None
            return (chosen, accept, bool(diverging), h, 0, num_steps)
        return (None, accept, bool(diverging), h0, 0, num_steps)

    cdef double step_size_search(self, object point, object momentum, double target) except? -1.0:
        cdef double h0 = self.start(point, momentum)
        cdef double* x = self.x_next
        cdef double* p = self.p_next
        cdef double* g = self.g_next
        cdef double log_target = log(target)
        cdef double step_size = self.step_size, delta, log_density
        cdef int direction = 0, attempt
        cdef bint accept_high
        for attempt in range(100):
            log_density = self.leapfrog(x, p, g, self.x, self.p, self.g, step_size)
            delta = h0 - self.energy(log_density, p)
            accept_high = delta > log_target
            if direction == 0:
                direction = 1 if accept_high else -1
            if (direction == 1 and not accept_high) or (direction == -1 and accept_high):
                break
            step_size = step_size * 2.0 if direction == 1 else step_size * 0.5
            if not 1e-10 < step_size < 1e7:
                break
        return step_size


def hmc(potential, metric, point, double step_size, rng, int num_steps, double threshold):
    """Static HMC (:func:`plait.ext.trajectory_reference.hmc`, compiled).

    >>> import numpy as np
    >>> from plait.inference.mcmc.trajectory import Metric, Point
    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> out = hmc(potential, Metric(np.ones(2)), Point(np.ones(2), -1.0, -np.ones(2)), 0.3,
    ...           np.random.default_rng(0), 5, 1000.0)
    >>> out[2], out[5]
    (False, 5)
    """
    momentum = metric.momentum(rng)
    cdef _Path path = _Path(potential, metric, step_size, rng, threshold, 1)
    return path.hmc(point, momentum, num_steps)


def find_reasonable_step_size(potential, metric, point, double step_size, rng, double target):
    """Stan's step-size heuristic (:func:`plait.ext.trajectory_reference.find_reasonable_step_size`, compiled).

    >>> import numpy as np
    >>> from plait.inference.mcmc.trajectory import Metric, Point
    >>> potential = lambda x: (-50.0 * float(x @ x), -100.0 * x)
    >>> eps = find_reasonable_step_size(potential, Metric(np.ones(1)), Point(np.zeros(1), 0.0, np.zeros(1)), 1.0,
    ...                                 np.random.default_rng(0), 0.8)
    >>> 0.01 < eps < 0.5
    True
    """
    momentum = metric.momentum(rng)
    cdef _Path path = _Path(potential, metric, step_size, rng, INFINITY, 1)
    return path.step_size_search(point, momentum, target)

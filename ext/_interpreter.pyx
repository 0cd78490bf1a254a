# cython: language_level=3, embedsignature=True
"""The per-effect hot path of the run loop, compiled.

Every site of every run goes through three steps: the model builds a sample
record, the run loop sends it through the handler stack, and the base
interpreter answers and records it.  In pure Python each step pays for
attribute lookups, bound-method calls and ``StopIteration`` exceptions; here
they are C calls.  The logic is the one documented in
:mod:`plait.handlers.runloop`, which owns the Python-facing API, the error
messages and the rare paths (loops, sub-programs); this module only makes the
common path cheap.
"""

from cpython.object cimport PyObject, PyObject_GenericSetAttr
from cpython.dict cimport PyDict_SetDefault
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.ref cimport Py_XDECREF
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport random_standard_normal, random_standard_uniform

import numpy as np

cdef extern from "Python.h":
    # PYGEN_ERROR (-1): an exception is set; PYGEN_RETURN (0): *result is the
    # return value; PYGEN_NEXT (1): *result is the yielded value.
    int PyIter_Send(object iterator, object argument, PyObject** result) except -1

cdef object _allocate = object.__new__
cdef str _NAME = "name"
cdef str _DIST = "dist"
cdef str _VALUE = "value"


# ---------------------------------------------------------------------------
# scalar draws straight from the bit generator
# ---------------------------------------------------------------------------
# A scalar draw through numpy's Generator costs a few hundred ns of Python
# call layers around a ~20 ns C draw.  For the commonest scalar families the
# base interpreter calls the same C routine the Generator method calls, on the
# run's own bit generator, so the stream and the values are identical to
# ``dist.sample(rng)`` (tested) at a fraction of the cost.  Families register
# themselves once (``register_scalar_families``); anything else, and every
# batched or dual parameter, goes through ``dist.sample``.

cdef object _GENERATOR = np.random.Generator
cdef object _NORMAL = None
cdef object _BERNOULLI = None


def register_scalar_families(normal, bernoulli):
    """Name the classes whose scalar draws are compiled (called once, by plait.effects.distributions).

    >>> import plait
    >>> from plait.ext import _interpreter
    >>> _interpreter.register_scalar_families(plait.Normal, plait.Bernoulli)
    """
    global _NORMAL, _BERNOULLI
    _NORMAL = normal
    _BERNOULLI = bernoulli


cdef bitgen_t* _bitgen_of(object rng) except? NULL:
    """The C state of a numpy Generator's bit generator, or NULL for anything else."""
    if rng is None or type(rng) is not _GENERATOR:
        return NULL
    return <bitgen_t*>PyCapsule_GetPointer(rng.bit_generator.capsule, "BitGenerator")


cdef inline object _draw(object dist, object rng, bitgen_t* bitgen):
    """``dist.sample(rng)``, compiled for scalar Normal and Bernoulli with float parameters."""
    cdef object kind = type(dist)
    cdef object a, b
    if bitgen != NULL:
        if kind is _NORMAL:
            a = dist.loc
            b = dist.scale
            if type(a) is float and type(b) is float and not dist.batch_shape:
                return <double>a + <double>b * random_standard_normal(bitgen)
        elif kind is _BERNOULLI:
            a = dist.p
            if type(a) is float and not dist.batch_shape:
                return 1 if random_standard_uniform(bitgen) < <double>a else 0
    return dist.sample(rng)


def draw(dist, rng):
    """One scalar draw as the base interpreter makes it (a test hook for the compiled path).

    >>> import numpy as np, plait
    >>> from plait.ext._interpreter import draw
    >>> draw(plait.Normal(1.0, 2.0), np.random.default_rng(5)) == plait.Normal(1.0, 2.0).sample(np.random.default_rng(5))
    True
    """
    return _draw(dist, rng, _bitgen_of(rng))


cdef class RunRandom:
    """The random generator a compiled interpreter draws from, with its C state.

    Swappable (a resampled particle continues with a fresh stream): setting
    ``rng`` also fetches the bit generator's C state, which the generator
    owns and this object keeps alive by holding the generator.

    >>> import numpy as np
    >>> r = RunRandom()
    >>> r.rng = np.random.default_rng(0)
    >>> type(r.rng).__name__
    'Generator'
    """

    cdef object _rng
    cdef bitgen_t* _bitgen

    @property
    def rng(self):
        """The generator (None: samples must be fixed by handlers)."""
        return self._rng

    @rng.setter
    def rng(self, value):
        self._bitgen = _bitgen_of(value)
        self._rng = value


cdef class SampleConstructor:
    """Build records of one frozen sample class without running ``__init__``.

    attrs' frozen ``__init__`` assigns each field through
    ``object.__setattr__``; storing the slots through the C API does the
    same work without the Python call layers.  No validation happens here.

    >>> import plait
    >>> from plait.ext._interpreter import SampleConstructor
    >>> new_sample = SampleConstructor(plait.Sample)
    >>> new_sample("x", plait.Normal(0, 1), 1.5).value
    1.5
    """

    cdef object record_class

    def __init__(self, record_class):
        self.record_class = record_class

    def __call__(self, name, dist, value):
        cdef object record = _allocate(self.record_class)
        PyObject_GenericSetAttr(record, _NAME, name)
        PyObject_GenericSetAttr(record, _DIST, dist)
        PyObject_GenericSetAttr(record, _VALUE, value)
        return record


cdef class SampleRequest:
    """A callable ``(name, dist) -> sample record``: ``plait.sample``'s compiled body.

    A distribution that is not an instance of ``distribution_class`` goes
    through ``adapt(name, dist)`` (which wraps scipy distributions or raises).
    A Python subclass supplies the documentation; calls stay in C.

    >>> import plait
    >>> from plait.ext._interpreter import SampleRequest
    >>> request = SampleRequest(plait.Sample, plait.Distribution, None, plait.UNSET)
    >>> request("x", plait.Normal(0, 1)).value
    UNSET
    """

    cdef object record_class, distribution_class, adapt, unset
    cdef public object couple  # (dist, coupling) -> the dist tagged for GradInf

    def __init__(self, record_class, distribution_class, adapt, unset):
        self.record_class = record_class
        self.distribution_class = distribution_class
        self.adapt = adapt
        self.unset = unset
        self.couple = None

    def __call__(self, name, dist, coupling=None):
        if not isinstance(dist, self.distribution_class):
            dist = self.adapt(name, dist)
        if coupling is not None:
            dist = self.couple(dist, coupling)
        cdef object record = _allocate(self.record_class)
        PyObject_GenericSetAttr(record, _NAME, name)
        PyObject_GenericSetAttr(record, _DIST, dist)
        PyObject_GenericSetAttr(record, _VALUE, self.unset)
        return record


cdef class BaseInterpreter(RunRandom):
    """Answer effects that left the outermost handler, and record them.

    ``kinds`` is ``(Sample, Observe, Factor, Param, Deterministic, UNSET,
    Branch)``; a branch answers its condition.  ``fail(reason, effect)``
    raises the error for ``reason`` ("no-rng", "unknown", "unhashable",
    "duplicate", "receive": a branch with no condition).  ``record`` receives
    ``address -> (answer, effect)`` in visit order.

    >>> import plait, numpy as np
    >>> from plait.handlers.runloop import Execution
    >>> ex = Execution(np.random.default_rng(0), record_answers=False)
    >>> ex.base(plait.observe("y", plait.Normal(0, 1), 0.5)), list(ex.record)
    (0.5, ['y'])
    """

    cdef dict record
    cdef object fail
    cdef object sample_kind, observe_kind, factor_kind, param_kind, deterministic_kind, unset
    cdef object branch_kind

    def __init__(self, rng, dict record, tuple kinds, fail):
        self.rng = rng
        self.record = record
        self.fail = fail
        (self.sample_kind, self.observe_kind, self.factor_kind, self.param_kind,
         self.deterministic_kind, self.unset, self.branch_kind) = kinds

    def __call__(self, effect):
        cdef object kind = type(effect)
        cdef object answer
        cdef tuple entry
        cdef PyObject* existing
        if kind is self.sample_kind:
            answer = effect.value
            if answer is self.unset:
                if self._rng is None:
                    self.fail("no-rng", effect)
                answer = _draw(effect.dist, self._rng, self._bitgen)
        elif kind is self.observe_kind or kind is self.deterministic_kind:
            answer = effect.value
        elif kind is self.factor_kind:
            answer = None
        elif kind is self.param_kind:
            answer = effect.init
        elif kind is self.branch_kind:
            answer = effect.condition
            if answer is None:
                self.fail("receive", effect)
        else:
            self.fail("unknown", effect)
            return None
        entry = (answer, effect)
        try:
            # One hash of the address; an existing site is never overwritten.
            existing = PyDict_SetDefault(self.record, effect.name, entry)
        except TypeError:
            self.fail("unhashable", effect)
            return None
        if existing != <PyObject*>entry:  # a borrowed reference: compare pointers
            self.fail("duplicate", effect)
        return answer


cdef class Driver:
    """Run generators to completion, answering their effects with a dispatch function.

    ``expand(effect, dispatch)`` and ``run_handled(effect, dispatch,
    expand_loops)`` are called for loop records (when ``expand_loops``) and
    sub-program records.  An exception raised while answering is thrown into
    the generator, so the traceback ends at the user's ``yield``; the
    generator is always closed.

    >>> import plait, numpy as np
    >>> from plait.handlers.runloop import Execution
    >>> def model():
    ...     return (yield plait.sample("x", plait.Bernoulli(1.0)))
    >>> ex = Execution(np.random.default_rng(0), record_answers=False)
    >>> ex.drive(model(), ex.base, True)
    1
    """

    cdef object loop_kind, handled_kind

    def __init__(self, loop_kind, handled_kind):
        self.loop_kind = loop_kind
        self.handled_kind = handled_kind

    def drive(self, gen, dispatch, bint expand_loops, expand, run_handled):
        cdef PyObject* out = NULL
        cdef int status
        cdef object effect, answer, kind
        try:
            status = PyIter_Send(gen, None, &out)
            effect = <object>out
            Py_XDECREF(out)
            while status == 1:
                try:
                    kind = type(effect)
                    if kind is self.loop_kind and expand_loops:
                        answer = expand(effect, dispatch)
                    elif kind is self.handled_kind:
                        answer = run_handled(effect, dispatch, expand_loops)
                    else:
                        answer = dispatch(effect)
                except Exception as error:
                    try:
                        effect = gen.throw(error)
                    except StopIteration as stop:
                        return stop.value
                    continue
                status = PyIter_Send(gen, answer, &out)
                effect = <object>out
                Py_XDECREF(out)
            return effect
        finally:
            gen.close()


cdef class AnswerLog:
    """Record answers, and answer a run's first effects from a recorded prefix.

    Sits just inside the run's handler stack.  While ``prefix`` lasts, each
    effect is checked against the recorded one (same type, same address;
    ``diverged(position, recorded, effect)`` raises otherwise) and answered
    from the log without calling ``then``; afterwards every effect goes to
    ``then``.  When ``answers`` is a list, every ``(effect, answer)`` is
    appended to it; while ``then`` runs, the last entry is ``(effect, None)``,
    so handlers can see the effect as the log records it.

    >>> import plait
    >>> log = []
    >>> replay = AnswerLog([(plait.sample("x", plait.Normal(0, 1)), 2.5)], None, log, None)
    >>> replay(plait.sample("x", plait.Normal(0, 1))), len(log)
    (2.5, 1)
    """

    cdef list prefix
    cdef Py_ssize_t position, length
    cdef object then, answers, diverged

    def __init__(self, prefix, then, answers, diverged):
        self.prefix = list(prefix)
        self.length = len(self.prefix)
        self.position = 0
        self.then = then
        self.answers = answers
        self.diverged = diverged

    def __call__(self, effect):
        cdef Py_ssize_t position = self.position
        cdef tuple entry
        cdef object answer
        cdef list answers
        if position < self.length:
            entry = <tuple>self.prefix[position]
            recorded = entry[0]
            if type(recorded) is not type(effect) or recorded.name != effect.name:
                self.diverged(position, recorded, effect)
            answer = entry[1]
            if self.answers is not None:
                (<list>self.answers).append(entry)
        elif self.answers is None:
            answer = self.then(effect)
        else:
            # The entry goes in before the effect is answered, so that a handler
            # can read the effect being answered as the log records it (log[-1]).
            answers = <list>self.answers
            answers.append((effect, None))
            try:
                answer = self.then(effect)
            except BaseException:
                answers.pop()  # unanswered: a model that catches the error goes on without it
                raise
            answers[len(answers) - 1] = (effect, answer)
        self.position = position + 1
        return answer

    def peek(self):
        """The recorded ``(effect, answer)`` the next effect will be answered from, or None live."""
        if self.position < self.length:
            return self.prefix[self.position]
        return None

    def record(self, effect, answer):
        """Log ``effect`` as answered by ``answer`` without asking ``then`` (a loop run elsewhere).

        While the prefix lasts, the recorded answer wins and is returned.
        """
        cdef Py_ssize_t position = self.position
        cdef tuple entry
        if position < self.length:
            entry = <tuple>self.prefix[position]
            recorded = entry[0]
            if type(recorded) is not type(effect) or recorded.name != effect.name:
                self.diverged(position, recorded, effect)
            answer = entry[1]
        else:
            entry = (effect, answer)
        if self.answers is not None:
            (<list>self.answers).append(entry)
        self.position = position + 1
        return answer



cdef extern from "Python.h":
    bint PyGen_Check(object o)


cdef class KernelSites(RunRandom):
    """Answer the sites of loop kernels run on explicit state (SMC tier (b)).

    Samples are drawn from ``rng``, observations and factors add to
    ``log_weight``; nothing is recorded, and an address reused within one
    kernel step raises.  ``kinds`` and ``fail`` are as for
    :class:`BaseInterpreter`; ``total(log_weight)`` sums a batched log
    density.  :meth:`run_steps` runs one step of every particle's kernel.

    >>> import plait, numpy as np
    >>> from plait.inference.particles.programs import new_kernel_sites
    >>> sites = new_kernel_sites(np.random.default_rng(0))
    >>> sites(plait.observe("y", plait.Normal(0, 1), 0.0)), round(sites.log_weight, 6)
    (0.0, -0.918939)
    """

    cdef public double log_weight
    cdef set names
    cdef object fail, total, check
    cdef object sample_kind, observe_kind, factor_kind, param_kind, deterministic_kind, unset
    cdef object branch_kind, loop_kind, handled_kind

    def __init__(self, rng, tuple kinds, fail, total, check, loop_kind, handled_kind):
        self.rng = rng
        self.log_weight = 0.0
        self.names = set()
        self.fail = fail
        self.total = total
        self.check = check
        (self.sample_kind, self.observe_kind, self.factor_kind, self.param_kind,
         self.deterministic_kind, self.unset, self.branch_kind) = kinds
        self.loop_kind = loop_kind
        self.handled_kind = handled_kind

    cpdef reset(self):
        """Start a new kernel step: weight zero, no addresses used."""
        self.log_weight = 0.0
        self.names.clear()

    def __call__(self, effect):
        return self.answer(effect)

    cdef object answer(self, object effect):
        cdef object kind = type(effect)
        cdef Py_ssize_t used = len(self.names)
        cdef object log_weight
        try:
            name = effect.name
        except AttributeError:
            self.fail("unknown", effect)
            return None
        try:
            self.names.add(name)
        except TypeError:
            self.fail("unhashable", effect)
            return None
        if len(self.names) == used:
            self.fail("duplicate", effect)
        if kind is self.sample_kind:
            value = effect.value
            if value is self.unset:
                value = _draw(effect.dist, self._rng, self._bitgen)
            return value
        if kind is self.observe_kind:
            log_weight = effect.dist.log_prob(effect.value)
            if type(log_weight) is float:
                self.log_weight += <double>log_weight
            else:
                self.log_weight += <double>self.total(log_weight)
            return effect.value
        if kind is self.factor_kind:
            self.log_weight += <double>self.total(effect.log_weight)
            return None
        if kind is self.deterministic_kind:
            return effect.value
        if kind is self.param_kind:
            return effect.init
        if kind is self.branch_kind:
            if effect.condition is None:
                self.fail("receive", effect)
            return effect.condition
        self.fail("unknown", effect)
        return None

    def run_steps(self, list kernels, list states, list xs, double[::1] log_weights,
                  list members, expand, run_handled):
        """For each index ``i`` in ``members``: ``states[i] = kernels[i](states[i][, xs[i]])``.

        ``xs`` is None for ``iterate`` loops.  Each kernel's log weight is
        added to ``log_weights[i]``; loops and sub-programs inside a kernel go
        to ``expand(loop, dispatch)`` and ``run_handled(effect, dispatch,
        True)`` with this object as the dispatch.
        """
        cdef Py_ssize_t i
        cdef object gen
        for i in members:
            self.log_weight = 0.0
            self.names.clear()
            if xs is None:
                gen = kernels[i](states[i])
            else:
                gen = kernels[i](states[i], xs[i])
            if not PyGen_Check(gen):
                gen = self.check(kernels[i], gen)
            states[i] = self.drive(gen, expand, run_handled)
            log_weights[i] += self.log_weight

    cdef object drive(self, object gen, object expand, object run_handled):
        cdef PyObject* out = NULL
        cdef int status
        cdef object effect, answer, kind
        try:
            status = PyIter_Send(gen, None, &out)
            effect = <object>out
            Py_XDECREF(out)
            while status == 1:
                try:
                    kind = type(effect)
                    if kind is self.loop_kind:
                        answer = expand(effect, self)
                    elif kind is self.handled_kind:
                        answer = run_handled(effect, self, True)
                    else:
                        answer = self.answer(effect)
                except Exception as error:
                    try:
                        effect = gen.throw(error)
                    except StopIteration as stop:
                        return stop.value
                    continue
                status = PyIter_Send(gen, answer, &out)
                effect = <object>out
                Py_XDECREF(out)
            return effect
        finally:
            gen.close()

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

cimport cython
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


# ---------------------------------------------------------------------------
# what each effect answers
# ---------------------------------------------------------------------------
# The record classes and the run loop's error function, registered once by
# plait.handlers.runloop (the records are defined above this module).

cdef object _SAMPLE = None
cdef object _OBSERVE = None
cdef object _FACTOR = None
cdef object _PARAM = None
cdef object _DETERMINISTIC = None
cdef object _BRANCH = None
cdef object _LOOP = None
cdef object _HANDLED = None
cdef object _UNSET = None
cdef object _FAIL = None
cdef object _SITE_ERROR = None   # (error, effect): name the effect's site in an error raised answering it
cdef object _NAME_SITE = None    # (error, code): name the site of an error raised in the model's code


def register_error_hooks(site_error, name_site):
    """Name the functions that add the site to errors (called once, by plait.handlers.runloop).

    ``site_error(error, effect)`` for an error raised while ``effect`` was
    answered, ``name_site(error, code)`` for one that left the generator of
    ``code``.  Both run on the error path only.

    >>> import plait.handlers.runloop  # registers them
    """
    global _SITE_ERROR, _NAME_SITE
    _SITE_ERROR, _NAME_SITE = site_error, name_site


def register_effect_kinds(sample, observe, factor, param, deterministic, branch, loop, handled, unset, fail):
    """Name the effect record classes and the error function (called once, by plait.handlers.runloop).

    ``fail(reason, effect)`` raises the run loop's error for ``reason``
    ("no-rng", "unknown", "unhashable", "duplicate", "receive": a branch with
    no condition).

    >>> import plait.handlers.runloop  # registers them
    """
    global _SAMPLE, _OBSERVE, _FACTOR, _PARAM, _DETERMINISTIC, _BRANCH, _LOOP, _HANDLED, _UNSET, _FAIL
    _SAMPLE, _OBSERVE, _FACTOR, _PARAM, _DETERMINISTIC = sample, observe, factor, param, deterministic
    _BRANCH, _LOOP, _HANDLED, _UNSET, _FAIL = branch, loop, handled, unset, fail


cdef inline object _plain_answer(object kind, object effect):
    """The answer to an effect that is not a sample (the one table every base uses)."""
    cdef object answer
    if kind is _OBSERVE or kind is _DETERMINISTIC:
        return effect.value
    if kind is _FACTOR:
        return None
    if kind is _PARAM:
        return effect.init
    if kind is _BRANCH:
        answer = effect.condition
        if answer is None:
            _FAIL("receive", effect)
        return answer
    _FAIL("unknown", effect)
    return None


def plain_answer(effect):
    """What the run loop answers to ``effect``, an observe, factor, param, deterministic or branch.

    An observation answers its value, a factor None, a param its initial
    value, a deterministic its value, a branch its condition; anything else
    raises the run loop's error.

    >>> import plait
    >>> plain_answer(plait.param("w", 0.5)), plain_answer(plait.branch("b", True))
    (0.5, True)
    """
    return _plain_answer(type(effect), effect)


cdef class BaseInterpreter(RunRandom):
    """Answer effects that left the outermost handler, and record them.

    A sample answers its fixed value or a draw from ``rng``; every other
    effect is answered by :func:`plain_answer`.  ``record`` receives
    ``address -> (answer, effect)`` in visit order; a reused or unhashable
    address raises.

    >>> import plait, numpy as np
    >>> from plait.handlers.runloop import Execution
    >>> ex = Execution(np.random.default_rng(0), record_answers=False)
    >>> ex.base(plait.observe("y", plait.Normal(0, 1), 0.5)), list(ex.record)
    (0.5, ['y'])
    """

    cdef dict record

    def __init__(self, rng, dict record):
        self.rng = rng
        self.record = record

    def __call__(self, effect):
        cdef object kind = type(effect)
        cdef object answer
        cdef tuple entry
        cdef PyObject* existing
        if kind is _SAMPLE:
            answer = effect.value
            if answer is _UNSET:
                if self._rng is None:
                    _FAIL("no-rng", effect)
                answer = _draw(effect.dist, self._rng, self._bitgen)
        else:
            answer = _plain_answer(kind, effect)
        entry = (answer, effect)
        try:
            # One hash of the address; an existing site is never overwritten.
            existing = PyDict_SetDefault(self.record, effect.name, entry)
        except TypeError:
            _FAIL("unhashable", effect)
            return None
        if existing != <PyObject*>entry:  # a borrowed reference: compare pointers
            _FAIL("duplicate", effect)
        return answer


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
        return self.answer(effect)

    cdef inline tuple _recorded(self, Py_ssize_t position, object effect):
        """The prefix's entry at ``position``; another effect there means the re-run diverged."""
        cdef tuple entry = <tuple>self.prefix[position]
        recorded = entry[0]
        if type(recorded) is not type(effect) or recorded.name != effect.name:
            self.diverged(position, recorded, effect)
        return entry

    cdef object answer(self, object effect):
        # The body of __call__; Process calls it directly, without the Python call.
        cdef Py_ssize_t position = self.position
        cdef tuple entry
        cdef object answer
        cdef list answers
        if position < self.length:
            entry = self._recorded(position, effect)
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

    def restart(self, prefix, answers):
        """Serve a new run: answer its first effects from ``prefix``, then go on live into ``answers``.

        One log can so serve runs that follow one another (GradInf runs
        every fork of a loop step this way) without a new object per run.
        A list ``prefix`` is read, never copied or changed.

        >>> import plait
        >>> log = AnswerLog([], lambda effect: 1.5, [], None)
        >>> log(plait.sample("x", plait.Normal(0, 1)))
        1.5
        >>> log.restart([(plait.sample("x", plait.Normal(0, 1)), 2.5)], [])
        >>> log(plait.sample("x", plait.Normal(0, 1)))
        2.5
        """
        self.prefix = prefix if type(prefix) is list else list(prefix)
        self.length = len(self.prefix)
        self.position = 0
        self.answers = answers

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
            entry = self._recorded(position, effect)
            answer = entry[1]
        else:
            entry = (effect, answer)
        if self.answers is not None:
            (<list>self.answers).append(entry)
        self.position = position + 1
        return answer


# ---------------------------------------------------------------------------
# the suspendable run loop
# ---------------------------------------------------------------------------
# A program is a stack of generators: the model at the bottom, above it the
# kernel step of a loop being expanded or a sub-program run under extra
# handlers (``Handled``).  :class:`Process` drives that stack effect by effect
# and can stop at chosen kinds of effect, before or after they are answered,
# to be resumed later: plait's equivalent of monad-bayes' ``Sequential``.  Every
# engine drives programs through it; nothing else sends to a generator.

cdef object _ANSWER = object()  # resume(): answer the pending effect with its frame's dispatch


cdef inline bint _one_of(object kind, tuple kinds):
    """``kind in kinds`` for effect classes, by identity (a class equals only itself).

    ``in`` would ask each class's rich comparison first, several C calls per
    entry; this runs for every effect of every paused program.
    """
    cdef object candidate
    for candidate in kinds:
        if candidate is kind:
            return True
    return False


@cython.freelist(8)  # frames come and go with every loop step and sub-program
cdef class _Frame:
    """One generator of a program's stack, with what answers its effects."""

    cdef object gen
    cdef object dispatch
    cdef bint expand_loops
    cdef object loop      # a kernel step of this loop record, or None
    cdef Py_ssize_t step
    cdef object outer     # a loop step: the dispatch the loop met; a sub-program: the hooks' token
    cdef bint handled


cdef class KernelSites(RunRandom)  # defined below; a process answers through it with a C call


@cython.freelist(8)  # engines run short programs many times (GradInf's loop steps)
cdef class Process:
    """A program being run, resumable at chosen effects.

    ``dispatch`` answers the program's effects; ``hooks`` (an
    :class:`~plait.handlers.runloop.Execution`) supplies the rare paths:
    ``loop_step(loop, step, state, dispatch) -> (generator, dispatch)`` for
    each step of an expanded loop, ``enter(handled, dispatch, expand_loops)
    -> (dispatch, expand_loops, token)`` and ``leave(token, value)`` /
    ``abandon(token)`` around a sub-program.  Loops are expanded when
    ``expand_loops`` (else they go to ``dispatch``, a handler that interprets
    them).

    The process pauses *before* answering an effect whose type is in
    ``before`` and *after* answering one whose type is in ``after``;
    :meth:`resume` returns that effect, or None once the program has
    returned (``value`` holds its value).  An exception raised while an
    effect is answered is thrown into the generator that asked, so the
    traceback ends at the user's ``yield`` and the model may catch it; one
    that leaves a kernel step or a sub-program is thrown into the generator
    below.  Every generator is closed however the run ends.

    >>> import plait, numpy as np
    >>> from plait.handlers.runloop import Execution
    >>> def model():
    ...     x = yield plait.sample("x", plait.Bernoulli(1.0))
    ...     yield plait.observe("y", plait.Normal(0.0, 1.0), 0.5)
    ...     return x + 1
    >>> ex = Execution(np.random.default_rng(0), record_answers=False)
    >>> p = Process(model(), ex.base, True, ex, after=(plait.Observe,))
    >>> p.resume().name, p.done
    ('y', False)
    >>> p.resume(), p.done, p.value
    (None, True, 2)
    """

    cdef list frames
    cdef _Frame bottom          # the program's own frame (kept for _run_again)
    cdef object hooks
    cdef tuple before, after
    cdef object held            # the answer of an effect paused after being answered
    cdef bint has_held
    cdef public object pending  # the effect the process is paused at, or None
    cdef public bint done
    cdef public object value

    def __init__(self, gen, dispatch, bint expand_loops, hooks, tuple before=(), tuple after=()):
        self._start(gen, dispatch, expand_loops, hooks, before, after)

    cdef void _start(self, object gen, object dispatch, bint expand_loops, object hooks,
                     tuple before, tuple after):
        """Set a new process up: one frame for ``gen``, nothing pending (shared with ``_new_process``)."""
        cdef _Frame frame = _Frame.__new__(_Frame)
        frame.gen = gen
        frame.dispatch = dispatch
        frame.expand_loops = expand_loops
        self.frames = [frame]
        self.bottom = frame
        self.hooks = hooks
        self.before = before
        self.after = after
        self.pending = None
        self.done = False
        self.value = None
        self.has_held = False

    @property
    def dispatch(self):
        """What answers the innermost generator's effects (its handlers, then the run's)."""
        return (<_Frame>self.frames[len(self.frames) - 1]).dispatch

    def resume(self, answer=_ANSWER):
        """Send ``answer`` to the pending effect (default: answer it with its dispatch) and run on.

        Returns the next effect the process pauses at, or None when the
        program has returned.  The first call starts the program.
        """
        cdef object effect = self.pending
        if self.done:
            raise RuntimeError("the program has already returned")
        if self.has_held:
            self.has_held = False
            answer, self.held = self.held, None
            return self._run(answer, None)
        if effect is None:
            return self._run(None, None)
        self.pending = None
        if answer is _ANSWER:
            try:
                answer = self._answer(effect)
            except Exception as error:
                _SITE_ERROR(error, effect)
                return self._run(None, error)
            if self.has_held:  # paused after it: nothing more to do now
                return self.pending
        return self._run(answer, None)

    def throw(self, error):
        """Raise ``error`` at the pending effect's ``yield`` and run on."""
        if self.done:
            raise RuntimeError("the program has already returned")
        self.pending = None
        self.has_held = False
        self.held = None
        return self._run(None, error)

    def expand(self):
        """Run the pending loop record inline (its kernel steps under scopes), then run on."""
        cdef _Frame frame = <_Frame>self.frames[len(self.frames) - 1]
        loop, self.pending = self.pending, None
        try:
            self._enter_loop(loop, frame.dispatch)
        except Exception as error:
            return self._run(None, error)
        return self._run(loop.init if loop.steps == 0 else None, None)

    def close(self):
        """Close every generator of the program (a paused process that will not be resumed)."""
        cdef _Frame frame
        frames, self.frames = self.frames, []
        for frame in reversed(frames):
            if frame.handled:
                self.hooks.abandon(frame.outer)
            frame.gen.close()

    cdef object _answer(self, object effect):
        cdef object dispatch = (<_Frame>self.frames[len(self.frames) - 1]).dispatch
        cdef object answer
        if type(dispatch) is AnswerLog:
            answer = (<AnswerLog>dispatch).answer(effect)
        elif type(dispatch) is KernelSites:
            answer = (<KernelSites>dispatch).answer(effect)
        else:
            answer = dispatch(effect)
        if self.after and _one_of(type(effect), self.after):
            self.pending = effect
            self.held = answer
            self.has_held = True
        return answer

    cdef void _enter_loop(self, object loop, object dispatch) except *:
        cdef _Frame frame
        if loop.steps == 0:
            return
        frame = _Frame()
        frame.loop = loop
        frame.step = 0
        frame.outer = dispatch
        frame.expand_loops = True
        frame.gen, frame.dispatch = self.hooks.loop_step(loop, 0, loop.init, dispatch)
        self.frames.append(frame)

    cdef object _run_again(self, object gen):
        """Run ``gen`` to its end as this process's program, in place of the finished one, and return its value.

        For a process without pauses: same dispatch and hooks as the program
        before, on the same bottom frame: a population runs one short program per particle and
        kernel step (tier (b)), and building a process, a frame and a frame
        list for each costs more than the step's own dispatch.
        """
        cdef _Frame frame = self.bottom
        frame.gen = gen
        if not self.frames:  # else: a process that has not run yet, its frame still in place
            self.frames.append(frame)
        self.done = False
        self._run(None, None)
        frame.gen = None  # the finished generator is not kept alive
        return self.value

    @cython.wraparound(False)  # frames are indexed from the front
    cdef object _run(self, object answer, object error):
        """Run from the top frame, sending ``answer`` (or throwing ``error``), to the next pause."""
        cdef PyObject* out = NULL
        cdef int status
        cdef _Frame frame
        cdef object effect, kind, gen, dispatch
        cdef list frames = self.frames
        cdef bint pausing = len(self.before) > 0
        while True:
            frame = <_Frame>frames[len(frames) - 1]
            gen = frame.gen
            try:
                if error is None:
                    status = PyIter_Send(gen, answer, &out)
                    effect = <object>out
                    Py_XDECREF(out)
                else:
                    error, answer = None, error
                    try:
                        effect = gen.throw(answer)
                        status = 1
                    except StopIteration as stop:
                        effect = stop.value
                        status = 0
            except BaseException as escaped:
                # The generator raised: it is finished.  Below it, the effect
                # that started it (a loop, a sub-program) failed with this error.
                frames.pop()
                gen.close()
                if frame.handled:
                    self.hooks.abandon(frame.outer)
                if isinstance(escaped, Exception):
                    _NAME_SITE(escaped, getattr(gen, "gi_code", None))
                if not frames or not isinstance(escaped, Exception):
                    self.close()
                    self.done = True
                    raise
                error, answer = escaped, None
                continue
            if status == 0:  # returned: its value answers the effect below
                answer = effect
                if frame.loop is not None and frame.step + 1 < frame.loop.steps:
                    frame.step += 1
                    try:
                        frame.gen, frame.dispatch = self.hooks.loop_step(
                            frame.loop, frame.step, answer, frame.outer)
                    except Exception as failure:
                        frames.pop()
                        error = failure
                    answer = None
                    continue
                frames.pop()
                if frame.handled:
                    frame.handled = False
                    try:
                        self.hooks.leave(frame.outer, answer)
                    except Exception as failure:
                        error, answer = failure, None
                if not frames:
                    self.done = True
                    self.value = answer
                    return None
                continue
            kind = type(effect)
            answer = None
            try:
                if kind is _LOOP and frame.expand_loops and not (pausing and _one_of(kind, self.before)):
                    self._enter_loop(effect, frame.dispatch)
                    if effect.steps == 0:
                        answer = effect.init
                    continue
                if kind is _HANDLED:
                    self._enter_handled(effect, frame)
                    continue
                if pausing and _one_of(kind, self.before):
                    self.pending = effect
                    return effect
                dispatch = frame.dispatch
                if type(dispatch) is AnswerLog:  # a replayed or recorded run: no Python call
                    answer = (<AnswerLog>dispatch).answer(effect)
                elif type(dispatch) is KernelSites:  # a tier-(b) kernel step: no Python call
                    answer = (<KernelSites>dispatch).answer(effect)
                else:
                    answer = dispatch(effect)
                if self.after and _one_of(kind, self.after):
                    self.pending = effect
                    self.held = answer
                    self.has_held = True
                    return effect
            except Exception as failure:
                _SITE_ERROR(failure, effect)
                error, answer = failure, None

    cdef void _enter_handled(self, object effect, _Frame below) except *:
        cdef _Frame frame = _Frame()
        frame.dispatch, frame.expand_loops, frame.outer = self.hooks.enter(
            effect, below.dispatch, below.expand_loops)
        frame.handled = True
        frame.gen = effect.program
        self.frames.append(frame)




def run_to_end(gen, dispatch, bint expand_loops, hooks):
    """Run ``gen`` to its end as a :class:`Process` and return its value (:meth:`Execution.drive`'s body).

    The same as ``p = Process(gen, dispatch, expand_loops, hooks); p.resume();
    p.value``, without the Python-level calls around it: engines that run a
    short program many times (GradInf's loop steps) pay for it per run.

    >>> import plait, numpy as np
    >>> from plait.handlers.runloop import Execution
    >>> def model():
    ...     return (yield plait.sample("x", plait.Bernoulli(1.0))) + 1
    >>> ex = Execution(np.random.default_rng(0), record_answers=False)
    >>> run_to_end(model(), ex.base, True, ex)
    2
    """
    cdef Process process = _new_process(gen, dispatch, expand_loops, hooks)
    process._run(None, None)
    return process.value


cdef Process _new_process(object gen, object dispatch, bint expand_loops, object hooks):
    """``Process(gen, dispatch, expand_loops, hooks)`` without the Python call (no pauses)."""
    cdef Process process = Process.__new__(Process)
    process._start(gen, dispatch, expand_loops, hooks, (), ())
    return process


cdef extern from "Python.h":
    bint PyGen_Check(object o)


cdef class KernelSites(RunRandom):
    """Answer the sites of loop kernels run on explicit state (SMC tier (b)).

    Samples are drawn from ``rng``, observations and factors add to
    ``log_weight``; nothing is recorded, and an address reused within one
    kernel step raises; other effects are answered by :func:`plain_answer`.
    ``total(log_weight)`` sums a batched log density.  :meth:`run_steps` runs one step of every particle's kernel.

    >>> import plait, numpy as np
    >>> from plait.inference.particles.programs import new_kernel_sites
    >>> sites = new_kernel_sites(np.random.default_rng(0))
    >>> sites(plait.observe("y", plait.Normal(0, 1), 0.0)), round(sites.log_weight, 6)
    (0.0, -0.918939)
    """

    cdef public double log_weight
    cdef set names
    cdef object total, check

    def __init__(self, rng, total, check):
        self.rng = rng
        self.log_weight = 0.0
        self.names = set()
        self.total = total
        self.check = check

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
            _FAIL("unknown", effect)
            return None
        try:
            self.names.add(name)
        except TypeError:
            _FAIL("unhashable", effect)
            return None
        if len(self.names) == used:
            _FAIL("duplicate", effect)
        if kind is _SAMPLE:
            value = effect.value
            if value is _UNSET:
                value = _draw(effect.dist, self._rng, self._bitgen)
            return value
        if kind is _OBSERVE:
            log_weight = effect.dist.log_prob(effect.value)
            if type(log_weight) is float:
                self.log_weight += <double>log_weight
            else:
                self.log_weight += <double>self.total(log_weight)
        elif kind is _FACTOR:
            self.log_weight += <double>self.total(effect.log_weight)
        return _plain_answer(kind, effect)

    def run_steps(self, list kernels, list states, list xs, double[::1] log_weights,
                  list members, hooks):
        """For each index ``i`` in ``members``: ``states[i] = kernels[i](states[i][, xs[i]])``.

        ``xs`` is None for ``iterate`` loops.  Each kernel's log weight is
        added to ``log_weights[i]``; each kernel runs as a :class:`Process`
        answered by this object, with ``hooks`` for loops and sub-programs
        inside it.
        """
        cdef Py_ssize_t i
        cdef object gen
        cdef Process process = _new_process(None, self, True, hooks)  # one for all the steps
        for i in members:
            self.log_weight = 0.0
            self.names.clear()
            if xs is None:
                gen = kernels[i](states[i])
            else:
                gen = kernels[i](states[i], xs[i])
            if not PyGen_Check(gen):
                gen = self.check(kernels[i], gen)
            states[i] = process._run_again(gen)
            log_weights[i] += self.log_weight

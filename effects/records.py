"""Effect records: the immutable requests a model yields, and their constructors.

A model is a generator function.  Each ``yield`` hands the run loop one of
these records and receives the answer::

    x = yield plait.sample("x", plait.Normal(0.0, 1.0))     # answer: the value
    yield plait.observe("y", plait.Normal(x, 1.0), 0.3)      # answer: 0.3
    yield plait.factor("penalty", -0.5)                      # answer: None

Records are frozen attrs classes with slots.  Handlers never mutate a record:
one that changes a request (``condition`` turns a sample into an
observation, ``seed`` fixes a sample's value) forwards a new record.  Equality
is identity, because fields may hold numpy arrays.

The public constructors (:func:`sample`, :func:`observe`, ...) validate their
arguments, so a bad request fails at the user's own ``yield`` line, and they
build the record without going through attrs' generated ``__init__``: a
sample site is created once per effect, on the hot path of every sampler.

:data:`Effect` is the union of the record types, the type of what
:meth:`Handler.handle <plait.handlers.Handler.handle>` receives and forwards;
a type checker narrows it on ``isinstance(effect, Sample)`` or
``type(effect) is Sample``, and at run time ``isinstance(x, Effect)`` asks
whether ``x`` is an effect record:

>>> import plait
>>> from plait.effects import Effect
>>> isinstance(plait.observe("y", plait.Normal(0, 1), 0.5), Effect), isinstance(0.5, Effect)
(True, False)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Hashable, Iterable, Optional, Union

import attrs
import numpy as np

from ..errors import EffectTypeError, InvalidParameterError, NoDerivativeRuleError
from ..ext._interpreter import SampleConstructor, SampleRequest
from .distributions import Coupled, Distribution, Support, as_distribution
from .observations import CONSTANT_BOUNDS, check_observation
from .lanes import Lanes
from ..gradients.trace import guarded
from ..gradients.dual import stop_gradient
from .transforms import biject_to

__all__ = [
    "UNSET",
    "Sample",
    "Observe",
    "Factor",
    "Param",
    "Deterministic",
    "Loop",
    "Handled",
    "Branch",
    "Effect",
    "sample",
    "observe",
    "factor",
    "param",
    "deterministic",
    "branch",
    "LEAF_EFFECTS",
    "renamed",
]

Address = Hashable


class _Unset:
    """Marker for a sample whose value no handler has chosen yet."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@attrs.frozen(slots=True, eq=False)
class Sample:
    """Request a value drawn from ``dist`` at address ``name``.

    ``value`` is :data:`UNSET` when the model yields the request; a handler
    that chooses the value (``seed``, ``replay``, ``substitute``) forwards a
    copy with the value filled in, so outer handlers see a latent site whose
    value is already fixed.

    >>> import plait
    >>> s = plait.sample("x", plait.Normal(0.0, 1.0))
    >>> s.name, s.value
    ('x', UNSET)
    """

    name: Address
    dist: Distribution
    value: Any = UNSET

    def with_value(self, value: Any) -> "Sample":
        """Return this request with its value fixed.

        >>> import plait
        >>> plait.sample("x", plait.Bernoulli(0.5)).with_value(1).value
        1
        """
        return new_sample(self.name, self.dist, value)


@attrs.frozen(slots=True, eq=False)
class Observe:
    """Condition on ``value`` having been drawn from ``dist`` at ``name``.

    >>> import plait
    >>> plait.observe("y", plait.Normal(0.0, 1.0), 0.5).value
    0.5
    """

    name: Address
    dist: Distribution
    value: Any


@attrs.frozen(slots=True, eq=False)
class Factor:
    """Add ``log_weight`` to the log density of the run.

    >>> import plait
    >>> plait.factor("f", -1.5).log_weight
    -1.5
    """

    name: Address
    log_weight: Any


@attrs.frozen(slots=True, eq=False)
class Param:
    """Request the value of a parameter, initialised to ``init``.

    ``constraint`` is ``None`` or a continuous support object (for example
    ``plait.supports.positive``); optimisers keep the parameter inside it by
    stepping in unconstrained space (``plait.transforms``).

    >>> import plait
    >>> plait.param("w", 0.1).init
    0.1
    """

    name: Address
    init: Any
    constraint: Any = None


@attrs.frozen(slots=True, eq=False)
class Deterministic:
    """Record a value computed from other sites, so traces show it.

    >>> import plait
    >>> plait.deterministic("z", 3.0).value
    3.0
    """

    name: Address
    value: Any


@attrs.frozen(slots=True, eq=False)
class Branch:
    """A decision that changes which addresses the program samples next.

    ``condition`` is the decision (a bool).  Every interpretation answers
    with it, except those that explore both outcomes (``plait.check``) or
    pass it on: under :func:`plait.guided`, a guide may yield a branch with
    ``condition=None`` and *receive* the model's decision of the same name.
    Build it with :func:`plait.branch`.

    >>> import plait
    >>> plait.branch("big", 3 > 2).condition, plait.branch("big").condition
    (True, None)
    """

    name: Address
    condition: Optional[bool] = None


@attrs.frozen(slots=True, eq=False)
class Loop:
    """A structured loop: ``iterate`` (``xs is None``) or ``fold`` over ``xs``.

    The default interpretation, done by the run loop, runs
    ``state = yield from kernel(state)`` (``kernel(state, x)`` for a fold)
    once per step, with every site inside step ``t`` addressed
    ``(name, t, inner_address)``, and answers with the final state.  Handlers
    that set ``interprets_loops`` (variable elimination, explicit-state SMC)
    receive the record itself instead.  Build loops with
    :func:`plait.iterate` and :func:`plait.fold`.

    >>> import plait
    >>> def kernel(n):
    ...     return n + 1
    ...     yield
    >>> loop = plait.iterate(kernel, 0, 3, name="count")
    >>> type(loop).__name__, loop.steps
    ('Loop', 3)
    """

    name: Address
    kernel: Callable[..., Any]
    init: Any
    steps: int
    xs: Optional[Any] = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Make ``state = yield from plait.iterate(...)`` work like ``yield``."""
        return (yield self)


@attrs.frozen(slots=True, eq=False)
class Handled:
    """Drive ``program`` (a generator) with ``handlers`` wrapped around it.

    ``handlers`` are listed innermost first.  The run loop binds fresh
    per-run copies of them around the current handler stack for as long as
    ``program`` runs, so a handler can be applied to one sub-model:
    ``yield from plait.handlers.condition(sub, {"x": 1.0})(args)``.

    >>> import plait
    >>> def sub():
    ...     return (yield plait.sample("z", plait.Normal(0, 1)))
    >>> effect = plait.scope("left", sub())
    >>> type(effect).__name__, effect.handlers
    ('Handled', (Scope(prefix='left'),))
    """

    handlers: tuple[Any, ...]
    program: Any

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Make ``value = yield from Handled(...)`` evaluate to the program's value."""
        return (yield self)


LEAF_EFFECTS = (Sample, Observe, Factor, Param, Deterministic, Branch)

#: Every effect record a model may yield: what handlers receive and forward
#: (see the module docstring).
Effect = Union[Sample, Observe, Factor, Param, Deterministic, Loop, Handled, Branch]

# A sample record is built for every site of every run; the compiled
# constructor in plait.ext._interpreter stores its slots through the C API,
# several times faster than attrs' frozen __init__.
new_sample = SampleConstructor(Sample)
new_observe = SampleConstructor(Observe)  # same three fields: name, dist, value


def _check_dist(name: Address, dist: Any) -> Distribution:
    if isinstance(dist, Distribution):
        return dist
    try:
        return as_distribution(dist, site=name)
    except NoDerivativeRuleError:
        raise  # a scipy distribution whose parameters carry derivatives: the message names the site
    except TypeError:
        raise EffectTypeError(
            f"site {name!r}: {dist!r} is not a distribution; pass a plait "
            "distribution (plait.Normal(0, 1)) or a frozen scipy.stats "
            "distribution (scipy.stats.norm(0, 1))"
        ) from None


class _SampleFunction(SampleRequest):
    """``plait.sample(name, dist)``: request a random value from ``dist`` at address ``name``.

    ``yield plait.sample(...)`` evaluates to the value.  ``dist`` is a plait
    distribution or a frozen ``scipy.stats`` distribution.  Addresses are any
    hashable value; tuples such as ``("x", i)`` are cheap.  ``coupling=``
    names the coupling :func:`plait.gradinf` uses at this site ("crn",
    "reparam", "maxindep", "reflection", "always_flip", "score", "indep",
    and for a layer of coins "same_or_antithetic", "same_or_indep");
    every other interpretation ignores it.  (A compiled
    callable rather than a function: it runs once per site of every run.)

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     return x
    >>> isinstance(plait.simulate(model, seed=0).value, float)
    True
    """

    def __repr__(self) -> str:
        return "<plait.sample>"


#: ``plait.sample(name, dist) -> Sample`` (see :class:`_SampleFunction`).
_sample_function = _SampleFunction(Sample, Distribution, _check_dist, UNSET)
_sample_function.couple = Coupled
sample: Callable[..., Sample] = _sample_function


def observe(name: Address, dist: Any, value: Any, outside_support: str = "raise") -> Observe:
    """Condition the run on ``value`` having been drawn from ``dist``.

    The run's log likelihood gains ``dist.log_prob(value)``.  ``yield``
    evaluates to ``value``.  The value is checked here, at the model's
    ``yield`` line (:mod:`plait.effects.observations`): NaN, infinite or
    misshapen values raise :class:`~plait.errors.InvalidObservationError`, and a
    value outside the support raises
    :class:`~plait.errors.ObservationSupportError` unless
    ``outside_support="-inf"`` asks for it to be scored as impossible.

    >>> import plait
    >>> def model():
    ...     yield plait.observe("y", plait.Normal(0.0, 1.0), 0.0)
    >>> round(plait.simulate(model, seed=0).log_likelihood, 6)
    -0.918939
    >>> def impossible():
    ...     yield plait.observe("y", plait.Poisson(2.0), -1, outside_support="-inf")
    >>> plait.simulate(impossible, seed=0).log_likelihood
    -inf
    """
    if value is None:
        raise EffectTypeError(f"observe {name!r}: the observed value is None")
    if not isinstance(dist, Distribution):
        dist = _check_dist(name, dist)
    kind = type(value)
    if (kind is float or kind is int or kind is np.float64 or kind is np.int64) and not dist.batch_shape:
        # (numpy scalars too: an element of a data array, as ``for y in ys`` gives)
        # The common case, a scalar under a module-level support, is checked inline.
        known = CONSTANT_BOUNDS.get(id(dist.support))
        finite = value - value == 0
        if known is not None and finite and known[0] <= value <= known[1] and (not known[2] or value == int(value)):
            return new_observe(name, dist, value)
    check_observation(name, dist, value, outside_support)
    return new_observe(name, dist, value)


def _bad_weight(plain: Any) -> bool:
    if type(plain) is np.float64:
        return bool(plain != plain or plain == math.inf)
    array = np.asarray(plain, dtype=float)
    return bool(np.isnan(array).any() or np.isposinf(array).any())


def factor(name: Address, log_weight: Any) -> Factor:
    """Multiply the run's weight by ``exp(log_weight)``.

    ``log_weight`` may be ``-inf`` (the run is impossible) but not NaN or
    ``+inf``.  It may carry derivatives (a value computed from latents under
    :class:`plait.LogDensity`, :func:`plait.svi` or :func:`plait.gradinf`):
    they flow into the run's log density.

    >>> import plait
    >>> def model():
    ...     yield plait.factor("soft", -2.0)
    >>> plait.simulate(model, seed=0).log_joint
    -2.0
    """
    if isinstance(log_weight, (int, float)):
        if log_weight != log_weight or log_weight == math.inf:
            raise InvalidParameterError(
                f"factor {name!r}: log_weight must be a number below +inf, got {log_weight!r}", address=name
            )
        return Factor(name, float(log_weight))
    # The check reads the plain value: a dual or reverse-mode weight keeps its derivatives,
    # and a batched run's lane values are checked for every lane (without a split).
    if type(log_weight) is Lanes:
        bad = _bad_weight(log_weight.data)
    else:
        bad = guarded(log_weight, _bad_weight)  # a guard when a gradient program is traced
    if bad:
        raise InvalidParameterError(
            f"factor {name!r}: log_weight must be below +inf and not NaN, got {log_weight!r}", address=name
        )
    return Factor(name, log_weight)


def param(name: Address, init: Any, constraint: Any = None) -> Param:
    """Request a parameter's value; ``init`` is used unless a handler supplies one.

    ``constraint`` is ``None`` (any real value) or a continuous support
    object: ``plait.supports.positive``, ``unit_interval``, ``simplex(k)``,
    ``real``, ``Interval(low, high)``...  Optimisers (:func:`plait.svi`) step
    in unconstrained space through ``plait.transforms.biject_to(constraint)``,
    so the parameter always stays inside it.  A constraint that is not a
    continuous support, or an ``init`` outside it, raises here, at the
    model's ``yield`` line.

    >>> import plait
    >>> def model():
    ...     w = yield plait.param("w", 0.5, constraint=plait.supports.positive)
    ...     return w
    >>> plait.simulate(model, seed=0).value
    0.5
    >>> plait.param("w", -1.0, constraint=plait.supports.positive)
    Traceback (most recent call last):
    ...
    plait.errors.InvalidParameterError: param 'w': init -1.0 lies outside its constraint PositiveReal (0, inf) [continuous]
    """
    if constraint is not None:
        _check_constraint(name, init, constraint)
    return Param(name, init, constraint)


def _check_constraint(name: Address, init: Any, constraint: Any) -> None:
    if not isinstance(constraint, Support) or constraint.is_discrete:
        raise InvalidParameterError(
            f"param {name!r}: constraint must be a continuous support such as plait.supports.positive, "
            f"unit_interval, simplex(k) or real; got {constraint!r}", address=name
        )
    biject_to(constraint)  # raises for supports with no bijection (mixed batched bounds)
    inside = constraint.contains(stop_gradient(init))
    if not np.all(inside):
        raise InvalidParameterError(
            f"param {name!r}: init {init!r} lies outside its constraint {constraint!r}", address=name
        )


def deterministic(name: Address, value: Any) -> Deterministic:
    """Record a derived value at ``name``; ``yield`` evaluates to ``value``.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.deterministic("x2", x * x)
    >>> t = plait.simulate(model, seed=0)
    >>> t.deterministics["x2"] == t["x"] ** 2
    True
    """
    return Deterministic(name, value)


def branch(name: Address, condition: Any = None) -> Branch:
    """Mark a decision that changes which addresses are sampled; ``yield`` evaluates to the bool.

    ``yield plait.branch("big", x > 2)`` returns ``x > 2`` as a bool, and
    makes the decision visible: :func:`plait.check` explores both outcomes,
    and a guide run with :func:`plait.guided` can write
    ``take = yield plait.branch("big")`` (no condition) to receive the
    model's decision instead of recomputing it, so the two programs cannot
    disagree on thresholds.  Outside ``plait.guided`` a branch without a
    condition raises :class:`~plait.errors.UnhandledEffectError`.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Gamma(2.0, 1.0))
    ...     if (yield plait.branch("big", x > 2)):
    ...         yield plait.sample("y", plait.Beta(3.0, 1.0))
    ...     return x
    >>> t = plait.simulate(model, seed=0)
    >>> ("y" in t) == (t["x"] > 2)
    True
    """
    if condition is not None:
        try:
            condition = bool(condition)
        except ValueError:
            raise EffectTypeError(
                f"branch {name!r}: the condition {condition!r} is not a single truth value"
            ) from None
    return Branch(name, condition)


class _ResamplePointMarker:
    """The value of a resampling point's deterministic site."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RESAMPLE_POINT"


#: What ``yield plait.resample_point(name)`` evaluates to.
RESAMPLE_POINT = _ResamplePointMarker()


def resample_point(name: Address) -> Deterministic:
    """Mark a place where population methods may resample (GradInf's explicit resampling point).

    Every other interpretation treats it as a deterministic site whose value
    is the marker ``RESAMPLE_POINT``, so it changes nothing there.  Loops
    (``iterate``/``fold``) have one after every step already; use this in
    ``while`` loops and other Python control flow.

    >>> import plait
    >>> def model():
    ...     yield plait.resample_point("here")
    ...     return 1
    >>> plait.simulate(model, seed=0).value
    1
    """
    return Deterministic(name, RESAMPLE_POINT)


def renamed(effect: Any, name: Address) -> Any:
    """Return a copy of ``effect`` at address ``name`` (used by scope and loops).

    >>> import plait
    >>> renamed(plait.sample("x", plait.Normal(0, 1)), ("m", "x")).name
    ('m', 'x')
    """
    if type(effect) is Sample:
        return new_sample(name, effect.dist, effect.value)
    try:
        return attrs.evolve(effect, name=name)
    except (TypeError, attrs.exceptions.NotAnAttrsClassError):
        raise EffectTypeError(
            f"{effect!r} is not a plait effect; models yield plait.sample(...), "
            "plait.observe(...) and friends, and run sub-models with `yield from`"
        ) from None


def _check_loop_args(name: Address, kernel: Any) -> None:
    if not callable(kernel):
        raise EffectTypeError(f"loop {name!r}: kernel {kernel!r} is not callable")


def iterate(kernel: Callable[[Any], Any], init: Any, steps: int, *, name: Address) -> Loop:
    """Run ``state = yield from kernel(state)`` ``steps`` times; answer the final state.

    Sites inside step ``t`` are addressed ``(name, t, inner_address)``.
    Handlers that understand loops (variable elimination, for instance) see
    the whole loop and may merge paths whose states are equal.

    >>> import plait
    >>> def walk(x):
    ...     step = yield plait.sample("step", plait.Bernoulli(0.5))
    ...     return x + 2 * step - 1
    >>> def model():
    ...     return (yield plait.iterate(walk, 0, 3, name="walk"))
    >>> t = plait.simulate(model, seed=1)
    >>> ("walk", 2, "step") in t
    True
    """
    _check_loop_args(name, kernel)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise InvalidParameterError(
            f"iterate {name!r}: steps must be a non-negative int, got {steps!r}", address=name
        )
    return Loop(name, kernel, init, int(steps), None)


def fold(kernel: Callable[[Any, Any], Any], init: Any, xs: Iterable[Any], *, name: Address) -> Loop:
    """Run ``state = yield from kernel(state, x)`` for each ``x``; answer the final state.

    Sites inside step ``t`` are addressed ``(name, t, inner_address)``.

    >>> import plait
    >>> def count(total, y):
    ...     yield plait.observe("y", plait.Bernoulli(0.5), y)
    ...     return total + y
    >>> def model():
    ...     return (yield plait.fold(count, 0, [1, 0, 1], name="data"))
    >>> plait.simulate(model, seed=0).value
    2
    """
    _check_loop_args(name, kernel)
    items = xs if isinstance(xs, (tuple, list, np.ndarray)) else tuple(xs)
    return Loop(name, kernel, init, len(items), items)


class IndependentRuns:
    """The kernel of :func:`independent`: run ``program(x)`` and append its value to the tuple state.

    Every interpreter sees an ordinary fold; GradInf recognises this type
    and runs the sub-programs separately (factorisation).

    >>> import plait
    >>> def double(x):
    ...     return 2 * x
    ...     yield
    >>> kernel = IndependentRuns(double)
    >>> plait.simulate(lambda: (yield from kernel((), 3))).value
    (6,)
    """

    __slots__ = ("program",)

    def __init__(self, program: Callable[[Any], Any]) -> None:
        self.program = program

    def __call__(self, state: tuple[Any, ...], x: Any) -> Any:
        value = yield from self.program(x)
        return state + (value,)

    def __repr__(self) -> str:
        return f"IndependentRuns({getattr(self.program, '__name__', self.program)!r})"


def independent(program: Callable[[Any], Any], xs: Iterable[Any], *, name: Address) -> Loop:
    """Run ``program(x)`` for each ``x`` as independent sub-simulations; answer the tuple of their values.

    The runs must not share randomness or state: each depends only on its
    ``x`` (and on values computed before).  Every interpreter runs them in
    turn, like :func:`fold` (sites of run ``i`` are addressed
    ``(name, i, inner_address)``); GradInf factorises them (GradInf's
    ``foldrP``): each run's alternative paths are computed on their own and
    combined by a product whose O(ε²) terms vanish, so the cost grows with
    the sum of the runs' populations rather than their product.  Unlike
    GradInf's ``foldrP``, nothing small is pruned, so nothing is biased.

    >>> import plait
    >>> def trace(rate):
    ...     return (yield plait.sample("t", plait.Exponential(rate)))
    >>> def model():
    ...     times = yield plait.independent(trace, [1.0, 2.0, 4.0], name="traces")
    ...     return len(times)
    >>> plait.simulate(model, seed=0).value
    3
    """
    _check_loop_args(name, program)
    items = xs if isinstance(xs, (tuple, list, np.ndarray)) else tuple(xs)
    return Loop(name, IndependentRuns(program), (), len(items), items)

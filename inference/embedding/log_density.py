"""``LogDensity``: a model's log density on unconstrained space, BridgeStan style.

``plait.LogDensity(model, *args, observations=None)`` fixes the layout of the
model's continuous latent sites in one flat float64 vector ``x``: each site
``address`` occupies a slice, holding ``biject_to(support).inverse(value)``.
``log_density(x)`` runs the model once with every latent fixed to
``T.forward(x[slice])`` and returns ``log p(T(x)) + sum log |J_T(x)|``;
``log_density_and_grad(x)`` adds the gradient (plait's :mod:`~plait.gradients`:
forward mode with ``dim`` directions below ``REVERSE_FROM_DIM``, reverse mode
from there on), so outside samplers and
optimisers (emcee, ``scipy.optimize``, BridgeStan-style tools) can use plait
models directly.

The layout is discovered from two seeded runs.  Models whose latent
addresses change with their values, and models with discrete latents, are
refused with an error naming the addresses: sum discrete sites out
(``plait.exact`` on the discrete part), or fix them with ``observations=``.

Transforms (:func:`plait.transforms.biject_to`): reals and real vectors as
they are, positive values by ``exp``, the unit interval by ``logit``,
bounded intervals by a scaled logit, half-bounded ones by ``low + exp`` /
``high - exp``, the simplex by stick-breaking (``k - 1`` coordinates).
ordered vectors by a free first value and log gaps, zero-sum vectors by an
isometry from ``d - 1`` coordinates, and Cholesky factors of correlation
matrices (``LKJCholesky``) by Stan's partial-correlation construction
(``d (d - 1) / 2`` coordinates).  An ``ImproperUniform`` latent (a flat
prior on its support) is started at a point of its support, since it has
no draws.  A ``Uniform(low, high)`` whose bounds
depend on other latents gets its scaled logit from those bounds as they are
computed (derivatives included), so the Jacobian follows them.

>>> import numpy as np
>>> import plait
>>> def model(y):
...     s = yield plait.sample("s", plait.Gamma(2.0, 1.0))
...     yield plait.observe("y", plait.Normal(0.0, s), y)
>>> ld = plait.LogDensity(model, 1.5)
>>> ld.dim, ld.constrain(np.array([0.0]))
(1, {'s': 1.0})
>>> value, gradient = ld.log_density_and_grad(np.array([0.0]))
>>> bool(np.isclose(value, ld.log_density(np.array([0.0]))))
True
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Tuple, Type

import attrs
import numpy as np

from ...effects.distributions.base import Wrapped
from ...effects.distributions.combinators import ImproperUniform
from ...effects.distributions.continuous import Uniform
from ...effects.records import UNSET, Effect, Factor, Observe, Sample
from ...effects.transforms import ScaledSigmoid, Transform, biject_to
from ...errors import ExtraAddressError, InvalidParameterError, LogDensityError
from ...gradients.api import value_and_grad, value_and_grad_forward
from ...gradients.dual import Dual, perturbation, stop_gradient
from ...gradients.reverse import Reverse, Tape
from ...gradients.trace import Program, float_status, guarded, tracing
from ...handlers.base import Handler
from ...handlers.condition import Condition
from ...handlers.replay import Substitute
from ...handlers.trace import TraceHandler
from ...handlers.base import start
from ...handlers.runloop import Execution, run

__all__ = ["LogDensity", "OUT_OF_DOMAIN"]

#: From this dimension on, log_density_and_grad uses reverse mode (bench/reverse.py, crossover).
REVERSE_FROM_DIM = 2

#: Exceptions that mean a sampler's point lies outside the model's domain (sampler_log_density_and_grad).
OUT_OF_DOMAIN: Tuple[Type[BaseException], ...] = (InvalidParameterError, ArithmeticError)

#: Recordings of the sampler's gradient that may be refused before the LogDensity stops trying.
TRACE_ATTEMPTS = 3

#: The seeds of the two discovery runs (fixed, so a LogDensity is reproducible).
_DISCOVERY_SEEDS = (20240601, 20240602)


@attrs.frozen
class _Site:
    """Where one latent site lives in the flat vector."""

    address: Hashable
    shape: Tuple[int, ...]  # the constrained value's shape
    free_shape: Tuple[int, ...]  # its unconstrained shape
    offset: int
    size: int


def _base(dist: Any) -> Any:
    while isinstance(dist, Wrapped):
        dist = dist.base
    return dist


def _transform(address: Hashable, dist: Any) -> Transform:
    """The bijection onto ``dist``'s support, following latent-dependent Uniform bounds."""
    base = _base(dist)
    if isinstance(base, Uniform) and (isinstance(base.low, Dual) or isinstance(base.high, Dual)):
        return ScaledSigmoid(base.low, base.high)  # its derivative follows the bounds
    try:
        return biject_to(dist.support)
    except InvalidParameterError as error:
        raise LogDensityError(
            f"LogDensity: latent site {address!r} ~ {dist!r} has support {dist.support!r}, "
            f"which has no bijection from unconstrained space ({error})",
            address,
        ) from None


def _cached_transform(cache: Dict[Hashable, Tuple[Any, Transform]], address: Hashable, dist: Any) -> Transform:
    """:func:`_transform`, reused while ``dist.support`` is the very object seen last time at ``address``.

    Supports are immutable and mostly module-level singletons (``real``,
    ``positive``...), so the sampler's hot path skips ``biject_to`` for them.
    Uniform sites are never cached: their bounds may follow other latents.
    """
    support = dist.support
    cached = cache.get(address)
    if cached is not None and cached[0] is support:
        return cached[1]
    t = _transform(address, dist)
    if not isinstance(_base(dist), Uniform):
        cache[address] = (support, t)
    return t


class _Discover(Handler):
    """Record ``(address, dist, value)`` of every latent sample no inner handler fixed.

    An :class:`ImproperUniform` site has no draws: it gets a point of its
    support, the image of a uniform draw on ``(-2, 2)`` in unconstrained space.
    """

    def begin(self) -> None:
        self.found: List[Tuple[Hashable, Any, Any]] = []
        self.rng = np.random.default_rng(_DISCOVERY_SEEDS[0])

    def handle(self, effect: Effect) -> Any:
        if type(effect) is not Sample or effect.value is not UNSET:
            return self.fwd(effect)
        dist = effect.dist
        if isinstance(_base(dist), ImproperUniform):
            t = biject_to(dist.support)
            free = t.unconstrained_shape(dist.batch_shape + dist.event_shape)
            effect = effect.with_value(t.forward(self.rng.uniform(-2.0, 2.0, free)))
        answer = self.fwd(effect)
        self.found.append((effect.name, dist, answer))
        return answer

    def end(self, result: Any) -> None:
        result.outputs.append((self, self.found))


class _Unconstrain(Handler):
    """Answer each latent sample with ``T.forward(x[slice])`` and sum the log-Jacobians."""

    def __init__(self, parts: Mapping[Hashable, Any], sites: Mapping[Hashable, _Site],
                 transforms: Optional[Dict[Hashable, Tuple[Any, Transform]]] = None) -> None:
        self.parts = parts  # address -> its unconstrained value (see LogDensity._parts)
        self.sites = sites
        self.transforms: Dict[Hashable, Tuple[Any, Transform]] = {} if transforms is None else transforms

    def begin(self) -> None:
        self.log_jacobian: Any = 0.0
        self.seen: set[Any] = set()

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.value is UNSET:
            name = effect.name
            site = self.sites.get(name)
            if site is None:
                raise LogDensityError(
                    f"LogDensity: the model sampled latent site {name!r} ~ {effect.dist!r}, which "
                    f"was not among the latent sites found when the LogDensity was built "
                    f"({list(self.sites)}); the model's address set changes with its values",
                    name,
                )
            u = self.parts[name]
            t = _cached_transform(self.transforms, name, effect.dist)
            lj = t.log_abs_det_jacobian(u)
            self.log_jacobian = self.log_jacobian + (np.sum(lj) if _ndim(lj) else lj)
            self.seen.add(name)
            value = t.forward(u)
            if type(value) is np.float64:
                value = float(value)  # plait's scalar fast paths take Python floats
            effect = effect.with_value(value)
        return self.fwd(effect)

    def end(self, result: Any) -> None:
        missing = [a for a in self.sites if a not in self.seen]
        if missing:
            raise LogDensityError(
                f"LogDensity: the model did not sample the latent sites {missing!r} found when the "
                "LogDensity was built; the model's address set changes with its values",
                missing[0],
            )
        result.outputs.append((self, self.log_jacobian))


class _Collect(Handler):
    """Record the distribution of every latent sample (for ``unconstrain``).

    It sits inside the substitution, so it can refuse a value outside its
    support before the model computes with it.
    """

    def __init__(self, choices: Mapping[Hashable, Any]) -> None:
        self.choices = choices

    def begin(self) -> None:
        self.dists: Dict[Hashable, Any] = {}

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.value is UNSET:
            name, dist = effect.name, effect.dist
            self.dists[name] = dist
            if name in self.choices and not np.all(dist.support.contains(self.choices[name])):
                raise LogDensityError(
                    f"LogDensity.unconstrain: the value {self.choices[name]!r} of {name!r} ~ {dist!r} "
                    f"is outside its support {dist.support!r}",
                    name,
                )
        return self.fwd(effect)

    def end(self, result: Any) -> None:
        result.outputs.append((self, self.dists))


def _output(result: Any, kind: type) -> Any:
    return next(value for handler, value in result.outputs if type(handler) is kind)


def _plain(value: Any) -> Any:
    v = stop_gradient(value)
    return float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float)


def _describe(address: Hashable, answer: Any, effect: Any) -> str:
    if type(effect) is Factor:
        return f"factor {address!r}"
    kind = "observed" if type(effect) is Observe else "latent"
    return f"{kind} site {address!r} ~ {effect.dist!r} at value {_plain(answer)!r}"


def _ndim(value: Any) -> int:
    # np.ndim would dispatch through __array_function__ on a derivative value.
    return len(getattr(value, "shape", ()))


def _status(value: Any) -> int:
    """:func:`~plait.gradients.trace.float_status` of ``value``'s primal sum: a guard when traced."""
    if type(value) is float:
        return float_status(value)
    return guarded(value, _sum_status)  # type: ignore[no-any-return]


def _sum_status(primal: Any) -> int:
    t = type(primal)
    return float_status(primal if t is float or t is np.float64 else float(np.sum(primal)))


class LogDensity:
    """The log density of ``model(*args)`` on unconstrained space, with its gradient.

    ``observations`` (address → value) conditions the model
    (:func:`plait.handlers.condition`).  The latent sites must be continuous
    and the same in every run; they are found by two seeded runs.  The flat
    vector holds them in the order the first run visited them
    (``addresses``), each unconstrained by :func:`plait.transforms.biject_to`
    of its support and flattened in C order.

    * ``dim``: the length of ``x``;
    * ``log_density(x)``: ``log p(T(x), data) + log |J_T(x)|``; ``-inf`` where
      the model's density is zero, and a :class:`~plait.errors.LogDensityError`
      naming the address when a site's log density is NaN;
    * ``log_density_and_grad(x)``: the value and the gradient (zeros where the
      value is ``-inf``), by forward mode below ``REVERSE_FROM_DIM`` and reverse mode above;
    * ``constrain(x)`` → ``{address: value}``, ``unconstrain(choices)`` → ``x``.

    >>> import numpy as np
    >>> import plait
    >>> def model():
    ...     p = yield plait.sample("p", plait.Beta(2.0, 2.0))
    ...     yield plait.observe("flip", plait.Bernoulli(p), 1)
    >>> ld = plait.LogDensity(model)
    >>> x = ld.unconstrain({"p": 0.75})
    >>> x.round(6), ld.constrain(x)
    (array([1.098612]), {'p': 0.75})
    >>> lp = np.log(6 * 0.75 * 0.25) + np.log(0.75) + np.log(0.75 * 0.25)  # Beta, flip, Jacobian
    >>> bool(np.isclose(ld.log_density(x), lp))
    True
    """

    def __init__(
        self,
        model: Callable[..., Any],
        *args: Any,
        observations: Optional[Mapping[Hashable, Any]] = None,
    ) -> None:
        self.model = model
        self.args = args
        self.observations = dict(observations or {})
        self._inner: Tuple[Handler, ...] = (
            (Condition(self.observations),) if self.observations else ()
        )
        self._sites = self._discover()
        self._transforms: Dict[Hashable, Tuple[Any, Transform]] = {}
        self.dim: int = sum(s.size for s in self._sites.values())
        # Where each site's part lies in x: (start, stop, the part's shape, or None for a 0-d part, or
        # () for a 1-d part, which a slice already has).
        self._cuts = [(s.offset, s.offset + s.size,
                       None if s.free_shape == () else () if len(s.free_shape) == 1 else s.free_shape)
                      for s in self._sites.values()]
        self._program: Optional[Program] = None  # the sampler's traced gradient (_reverse_pass)
        self._trace_attempts = TRACE_ATTEMPTS

    @property
    def addresses(self) -> List[Hashable]:
        """The latent addresses, in the order of their slices in ``x``.

        >>> import plait
        >>> def model():
        ...     yield plait.sample("a", plait.Normal(0.0, 1.0))
        ...     yield plait.sample("b", plait.Dirichlet([1.0, 1.0, 1.0]))
        >>> ld = plait.LogDensity(model)
        >>> ld.addresses, ld.dim
        (['a', 'b'], 3)
        """
        return list(self._sites)

    def _discover(self) -> Dict[Hashable, _Site]:
        runs = []
        for seed in _DISCOVERY_SEEDS:
            result = run(
                self.model, *self.args,
                handlers=(*self._inner, _Discover(), TraceHandler()), seed=seed,
            )
            runs.append((_output(result, _Discover), result.trace))
        (first, trace), (second, _) = runs
        a, b = [s[0] for s in first], [s[0] for s in second]
        if set(a) != set(b):
            raise LogDensityError(
                "LogDensity needs a fixed set of latent addresses, but two runs of the model "
                f"sampled different ones: only in the first run {[x for x in a if x not in b]!r}, "
                f"only in the second {[x for x in b if x not in a]!r}",
                next(iter(set(a) ^ set(b))),
            )
        unused = [k for k in self.observations if k not in trace.observations]
        if unused:
            raise ExtraAddressError(
                f"LogDensity: observations give values for {unused!r}, which the model never samples"
            )
        sites: Dict[Hashable, _Site] = {}
        offset = 0
        for address, dist, value in first:
            if dist.is_discrete:
                raise LogDensityError(
                    f"LogDensity: latent site {address!r} ~ {dist!r} is discrete (value {value!r}); "
                    "an unconstrained density needs continuous latents: sum it out (e.g. compute "
                    "the marginal with plait.exact and factor it in) or fix it with observations=",
                    address,
                )
            shape = tuple(np.shape(value))
            free = _transform(address, dist).unconstrained_shape(shape)
            size = math.prod(free)
            sites[address] = _Site(address, shape, free, offset, size)
            offset += size
        return sites

    def _check(self, x: Any) -> np.ndarray:
        array = np.asarray(x, dtype=np.float64)
        if array.shape != (self.dim,):
            raise ValueError(f"LogDensity: x must have shape ({self.dim},), got {array.shape}")
        return array

    def _parts(self, x: np.ndarray) -> Tuple[Any, ...]:
        """``x`` cut into the sites' unconstrained values: a 0-d site gets a scalar.

        The gradient is taken with respect to these parts (one leaf per
        site), so reverse mode records no slicing of ``x``.
        """
        return tuple(
            x[start] if shape is None else x[start:stop].reshape(shape) if shape else x[start:stop]
            for start, stop, shape in self._cuts
        )

    def _run(self, parts: Tuple[Any, ...]) -> Tuple[Dict[Hashable, Any], Any]:
        """One run at ``parts``: the sites it recorded ``{address: (answer, effect)}`` and the log-Jacobian.

        The run loop's own record is enough (no trace handler, no result
        object): this is the hot path of a gradient-based sampler.
        """
        execution = Execution(None, record_answers=False)
        unconstrain = _Unconstrain(dict(zip(self._sites, parts)), self._sites, self._transforms)
        dispatch, expand, bound = execution.bind((*self._inner, unconstrain), execution.base, True)
        execution.drive(start(self.model, self.args), dispatch, expand)
        used = bound[-1]  # this run's copy of ``unconstrain``
        assert isinstance(used, _Unconstrain)
        used.end(execution.result)
        return execution.record, used.log_jacobian

    def _evaluate(self, parts: Tuple[Any, ...], strict: bool = True) -> Any:
        """The log density at ``parts``; NaN raises naming the site, or gives ``-inf`` unless ``strict``."""
        record, log_jacobian = self._run(parts)
        total: Any = log_jacobian
        zero = False
        for address, (answer, effect) in record.items():
            kind = type(effect)
            if kind is Sample or kind is Observe:
                lp = effect.dist.log_prob(answer)
            elif kind is Factor:
                lp = effect.log_weight
            else:
                continue
            if _ndim(lp):
                lp = np.sum(lp)  # one sum, whose primal serves the checks below too
            status = _status(lp)
            if status == 2:  # NaN
                if not strict:
                    return -math.inf
                raise LogDensityError(f"LogDensity: the log density of {_describe(address, answer, effect)} is NaN", address)
            if status == 1:  # -inf
                zero = True  # keep going: a later NaN must still be reported
            total = total + lp
        if zero:
            return -math.inf
        if _status(total) == 2:
            if not strict:
                return -math.inf
            raise LogDensityError(
                "LogDensity: the log density is inf - inf at this x: a transformed value reached "
                "the boundary of its support (|x| too large for float64)"
            )
        return total

    def log_density(self, x: Any) -> float:
        """``log p(T(x)) + log |J_T(x)|`` at the unconstrained point ``x`` (``-inf`` where p is 0).

        >>> import numpy as np
        >>> import plait
        >>> def model():
        ...     yield plait.sample("rate", plait.Exponential(1.0))
        >>> ld = plait.LogDensity(model)
        >>> bool(ld.log_density(np.array([0.5])) == -np.exp(0.5) + 0.5)
        True
        """
        return float(self._evaluate(self._parts(self._check(x))))

    def log_density_and_grad(self, x: Any) -> Tuple[float, np.ndarray]:
        """``(log_density(x), its gradient)``: forward mode (one pass, ``dim`` directions) below ``REVERSE_FROM_DIM``, else reverse mode (one recorded pass, one backward pass).

        >>> import numpy as np
        >>> import plait
        >>> def model():
        ...     yield plait.sample("z", plait.Normal(1.0, 2.0))
        >>> value, g = plait.LogDensity(model).log_density_and_grad(np.array([3.0]))
        >>> g   # -(z - 1) / 4
        array([-0.5])
        """
        parts = self._parts(self._check(x))
        if self.dim == 0:
            return float(self._evaluate(parts)), np.zeros(0)
        # Forward mode below the crossover measured by bench/reverse.py, reverse above.
        mode = value_and_grad if self.dim >= REVERSE_FROM_DIM else value_and_grad_forward
        value, gradient = mode(self._evaluate, parts)
        value = float(value)
        if value == -math.inf:
            return value, np.zeros(self.dim)
        return self._flat(value, list(gradient))

    def sampler_log_density_and_grad(self, x: np.ndarray) -> Tuple[float, np.ndarray]:
        """:meth:`log_density_and_grad` for a sampler's proposed point: ``-inf`` where the point leaves the model's domain.

        A sampler steps wherever its dynamics take it, and far out in
        unconstrained space a transformed value can overflow (a scale of
        ``exp(800) = inf``) or round onto its support's boundary (a
        probability of exactly 1).  Such a point has log density ``-inf``
        here (gradient zeros), so the sampler rejects it and reports a
        divergence, instead of an exception ending the chain.  Precisely,
        ``-inf`` is returned when evaluating the model at ``x`` raises one of
        :data:`OUT_OF_DOMAIN` (:class:`~plait.errors.InvalidParameterError`:
        a distribution's parameter outside its domain; ``ArithmeticError``:
        overflow or division by zero in model code), when a site's log
        density or the total is NaN, or when the value is finite but the
        gradient is not.  Every other exception is a structural error of the
        model (an unknown or missing address, a missing derivative rule, a
        type error) and propagates, naming its address.  A model that is
        wrong everywhere, such as one with a NaN observation, is caught where
        the sampler starts: initialisation uses the strict
        :meth:`log_density_and_grad`.  ``x`` must be a float64 vector of
        length ``dim`` (not checked: the sampler's hot path).

        >>> import numpy as np
        >>> import plait
        >>> def model():
        ...     s = yield plait.sample("s", plait.Exponential(1.0))
        ...     yield plait.observe("y", plait.Normal(0.0, s), 1.0)
        >>> ld = plait.LogDensity(model)
        >>> ld.sampler_log_density_and_grad(np.array([800.0]))  # s = exp(800) = inf
        (-inf, array([0.]))
        """
        try:
            with np.errstate(all="ignore"):
                value, flat = self._reverse_pass(self._parts(x))
        except OUT_OF_DOMAIN:
            return -math.inf, np.zeros(self.dim)
        if not (value > -math.inf and math.isfinite(value) and np.isfinite(flat).all()):
            return -math.inf, np.zeros(self.dim)
        return value, flat

    def _reverse_pass(self, parts: Tuple[Any, ...]) -> Tuple[float, np.ndarray]:
        """The value and flat gradient at ``parts``: the traced program's replay, else one recorded run.

        The sampler's hot path.  The first run is traced
        (:mod:`plait.gradients.trace`); later points replay its straight-line
        program, without the model, handlers or distributions.  A replay
        that meets a different branch, a parameter check that would fail, or
        a non-finite site density (its guards) returns None, and the point
        gets a real run, which is traced in turn (up to ``TRACE_ATTEMPTS``
        refused recordings: a model that cannot be traced is then just run;
        a point of density zero is not a refusal).
        """
        program = self._program
        if program is not None:
            replayed = program.replay(parts)
            if replayed is not None:
                return self._flat(float(replayed[0]), replayed[1])
        gradient = np.zeros(self.dim)
        with perturbation() as tag:
            tape = Tape(tag)
            leaves = [tape.variable(p) for p in parts]
            if self._trace_attempts > 0:
                with tracing(tape) as recording:
                    y = self._evaluate(tuple(leaves), strict=False)
                traced = recording.program(y)
                if traced is not None:
                    self._program = traced
                elif recording.invalid is not None:
                    self._trace_attempts -= 1  # refused (not just a point of density zero)
            else:
                y = self._evaluate(tuple(leaves), strict=False)
            if type(y) is not Reverse:  # -inf, or a density that does not depend on x
                return float(stop_gradient(y)), gradient
            cotangents = tape.backward(y, leaves)
            value = float(stop_gradient(y.primal))
        return self._flat(value, cotangents)

    def _flat(self, value: float, cotangents: List[Any]) -> Tuple[float, np.ndarray]:
        """``(value, the cotangents of the sites' parts laid out as x)``; None stands for zeros."""
        gradient = np.empty(self.dim)
        for (start, stop, shape), c in zip(self._cuts, cotangents):
            if c is None:
                gradient[start:stop] = 0.0
            elif shape is None:
                gradient[start] = c
            else:
                gradient[start:stop] = c if not shape else np.ravel(c)
        return value, gradient

    def site_value(self, address: Hashable, u: Any, dist: Any) -> Any:
        """The value of latent site ``address`` ~ ``dist`` at its unconstrained part ``u`` (a slice of ``x``, shaped).

        What :meth:`constrain` gives the site when the model samples it from
        ``dist``: for a sampler that re-runs the model once per draw and
        answers each site as the run reaches it.

        >>> import numpy as np
        >>> import plait
        >>> def model():
        ...     yield plait.sample("rate", plait.Exponential(1.0))
        >>> plait.LogDensity(model).site_value("rate", 0.0, plait.Exponential(1.0))
        1.0
        """
        return _plain(_cached_transform(self._transforms, address, dist).forward(u))

    def parts(self, x: Any) -> Dict[Hashable, Any]:
        """``x`` cut into the sites' unconstrained parts, by address (a 0-d site's part is a scalar).

        >>> import numpy as np
        >>> import plait
        >>> def model():
        ...     yield plait.sample("a", plait.Normal(0.0, 1.0))
        ...     yield plait.sample("b", plait.Normal(np.zeros(2), 1.0))
        >>> plait.LogDensity(model).parts(np.array([1.0, 2.0, 3.0]))
        {'a': np.float64(1.0), 'b': array([2., 3.])}
        """
        return dict(zip(self._sites, self._parts(self._check(x))))

    def constrain(self, x: Any) -> Dict[Hashable, Any]:
        """The latent values ``{address: T(x[slice])}`` at the unconstrained point ``x``.

        >>> import numpy as np
        >>> import plait
        >>> def model():
        ...     yield plait.sample("w", plait.Dirichlet([1.0, 1.0]))
        >>> plait.LogDensity(model).constrain(np.array([0.0]))
        {'w': array([0.5, 0.5])}
        """
        record, _ = self._run(self._parts(self._check(x)))
        return {a: _plain(record[a][0]) for a in self._sites}

    def unconstrain(self, choices: Mapping[Hashable, Any]) -> np.ndarray:
        """The unconstrained point of the latent values ``choices`` (every latent address).

        A value outside its site's support raises
        :class:`~plait.errors.LogDensityError` naming the address.

        >>> import plait
        >>> def model():
        ...     yield plait.sample("u", plait.Uniform(0.0, 4.0))
        >>> plait.LogDensity(model).unconstrain({"u": 2.0})
        array([0.])
        """
        handlers = (*self._inner, _Collect(choices), Substitute(choices, strict=True))
        dists = _output(run(self.model, *self.args, handlers=handlers), _Collect)
        x = np.empty(self.dim)
        for address, site in self._sites.items():
            if address not in dists:
                raise LogDensityError(
                    f"LogDensity.unconstrain: the model did not sample {address!r} at these choices",
                    address,
                )
            value = choices[address]
            if tuple(np.shape(value)) != site.shape:
                raise ValueError(
                    f"LogDensity.unconstrain: the value of {address!r} must have shape {site.shape}, "
                    f"got {np.shape(value)}"
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.asarray(_transform(address, dists[address]).inverse(value), dtype=float)
            if not np.all(np.isfinite(u)):
                raise LogDensityError(
                    f"LogDensity.unconstrain: the value {value!r} of {address!r} ~ {dists[address]!r} "
                    f"is not in the interior of its support {dists[address].support!r}",
                    address,
                )
            x[site.offset:site.offset + site.size] = u.ravel()
        return x

    def __repr__(self) -> str:
        name = getattr(self.model, "__name__", repr(self.model))
        return f"LogDensity({name}, dim={self.dim}, addresses={self.addresses!r})"

"""SMC tier (c): the whole population runs as one program over arrays of particles.

With ``plait.smc(..., vectorized=True)`` the model runs once.  Every
``sample`` answers a :class:`ParticleArray` of N draws (leading axis: the
particle), every ``observe`` and ``factor`` adds its log density to a vector
of N log-weights, and an ``iterate``/``fold`` kernel runs once per step for
all particles.  After each step of a loop at the top of the program the
population is weighed and maybe resampled, and resampling is an index gather:

* the loop state (an array, or a tuple/list/dict of arrays) is gathered along
  its leading axis; leaves without a particle axis are shared and kept;
* every particle array made outside loop kernels that is still alive (the
  values of earlier sites, and arrays computed from them, e.g. a parameter a
  kernel closes over) is gathered in place, so it stays aligned with the
  particles it belongs to.

A distribution whose batch shape starts with N is read as one distribution
per particle (its parameters came from particle arrays) and is sampled once;
any other is sampled N times.  Python control flow on a particle value
(``if x > 0:``, ``float(x)``) cannot be vectorized: it raises
:class:`~plait.errors.VectorizationError`, which says to run with
``vectorized=False``.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, List, NoReturn, Optional, cast

import numpy as np

from ...effects.records import UNSET, Effect, Factor, Loop, Observe, Sample
from ...errors import VectorizationError
from ...handlers.base import Handler
from ...handlers.scope import LoopStep
from ..results.population import Population
from .resampling import AdaptiveResampling
from .programs import interrupted
from ...ext._interpreter import plain_answer
from ...handlers.runloop import Execution, _fail
from ...handlers.base import start

__all__ = ["ParticleArray", "run_vectorized"]

_GENERATOR = type((lambda: (yield))())


class ParticleArray(np.ndarray):
    """The values of one quantity across all particles (axis 0 is the particle).

    It behaves as an ndarray, except that it refuses to become a single
    Python truth value or number: that would be control flow on one
    particle's value, which a vectorized run cannot follow.

    >>> import numpy as np
    >>> x = np.arange(3.0).view(ParticleArray)
    >>> (2 * x).tolist()
    [0.0, 2.0, 4.0]
    >>> bool(x > 0)
    Traceback (most recent call last):
    ...
    plait.errors.VectorizationError: the model branches on, or converts to a number, a value that differs between particles (bool() of an array of shape (3,)); with vectorized=True every kernel runs once for all particles, so write it with numpy (np.where, np.maximum...) or run plait.smc with vectorized=False
    """

    def __array_finalize__(self, obj: Any) -> None:
        registry = getattr(obj, "_registry", None)
        self._registry = registry
        if registry is not None and registry.active:
            registry.add(self)

    def _refuse(self, what: str) -> NoReturn:
        raise VectorizationError(
            "the model branches on, or converts to a number, a value that differs between "
            f"particles ({what} of an array of shape {self.shape}); with vectorized=True every "
            "kernel runs once for all particles, so write it with numpy (np.where, "
            "np.maximum...) or run plait.smc with vectorized=False"
        )

    def __bool__(self) -> bool:
        return self._refuse("bool()")

    def __float__(self) -> float:
        return self._refuse("float()")

    def __int__(self) -> int:
        return self._refuse("int()")

    def __index__(self) -> int:
        return self._refuse("use as an index")


class _Registry:
    """The particle arrays of one run that were made outside loop kernels and are alive."""

    __slots__ = ("arrays", "active")

    def __init__(self) -> None:
        self.arrays: weakref.WeakValueDictionary[Any, Any] = weakref.WeakValueDictionary()
        #: False while a loop kernel runs: its temporaries die with the step, and
        #: the state it returns is gathered explicitly.
        self.active = True

    def add(self, array: ParticleArray) -> None:
        self.arrays[id(array)] = array

    def gather(self, ancestors: np.ndarray, n: int) -> set[Any]:
        """Gather every owning particle array in place; return the ids gathered."""
        done = set()
        for key, array in list(self.arrays.items()):
            if array.shape[:1] == (n,) and not isinstance(array.base, ParticleArray) and array.flags.writeable:
                plain = array.view(np.ndarray)
                plain[...] = plain[ancestors]
                done.add(key)
        return done


class _Vectorize(Handler):
    """The run-level handler of a vectorized run: draw N values, weigh N particles, run loops."""

    interprets_loops = True

    def __init__(self, n: int, books: AdaptiveResampling, registry: _Registry) -> None:
        self.n = n
        self.books = books
        self.registry = registry
        self.depth = 0

    def begin(self) -> None:
        self.log_weights = np.zeros(self.n)

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample:
            if effect.value is UNSET:
                effect = effect.with_value(self._draw(effect.dist))
            return self.fwd(effect)
        if type(effect) is Observe:
            self._weigh(effect.dist.log_prob(effect.value), effect.name)
        elif type(effect) is Factor:
            self._weigh(effect.log_weight, effect.name)
        elif type(effect) is Loop:
            return self._loop(effect)
        return self.fwd(effect)

    def _draw(self, dist: Any) -> ParticleArray:
        return _draw(dist, self.run.rng, self.n, self.registry)

    def _weigh(self, log_weight: Any, name: Any) -> None:
        self.log_weights += _per_particle(log_weight, self.n)
        self.books.extinct(self.log_weights, name)

    def _loop(self, loop: Loop) -> Any:
        # The kernel's sites meet every handler the loop met on its way here.
        around = self.run.inner_handlers()
        top = self.depth == 0
        self.depth += 1
        registry_was = self.registry.active
        self.registry.active = False
        try:
            state = loop.init
            sites = _VectorSites(self)
            scope: Optional[LoopStep] = None
            if around:
                # Bound once per loop; only the step number of the scope changes.
                dispatch, expand, bound = self.run.bind((LoopStep(loop.name, 0), *around), sites, True)
                scope = cast(LoopStep, bound[0])
            else:
                dispatch, expand = sites, True
            for step in range(loop.steps):
                args = (state,) if loop.xs is None else (state, loop.xs[step])
                sites.names.clear()
                if scope is not None:
                    scope.step = step
                gen = loop.kernel(*args)
                state = self.run.drive(gen if type(gen) is _GENERATOR else start(loop.kernel, args), dispatch, expand)
                if top:
                    self.books.extinct(self.log_weights, (loop.name, step))
                    state = self._maybe_resample(state)
        finally:
            self.depth -= 1
            self.registry.active = registry_was
        return state

    def _maybe_resample(self, state: Any) -> Any:
        log_weights = self.log_weights
        ancestors = self.books.after_weighting(
            log_weights.copy(), True, lambda: _population([None] * self.n, log_weights, self.books)
        )
        if ancestors is None:
            return state
        gathered = self.registry.gather(ancestors, self.n)
        self.log_weights = np.zeros(self.n)
        return _gather_state(state, ancestors, self.n, gathered)


class _VectorSites:
    """The sites of a kernel step that meets no handler: answered without a record.

    Addresses are only checked for reuse within the step.
    """

    __slots__ = ("owner", "names")

    def __init__(self, owner: _Vectorize) -> None:
        self.owner = owner
        self.names: set[Any] = set()

    def __call__(self, effect: Any) -> Any:
        kind = type(effect)
        names = self.names
        count = len(names)
        try:
            names.add(effect.name)
        except TypeError:
            _fail("unhashable", effect)
        except AttributeError:
            _fail("unknown", effect)
        if len(names) == count:
            _fail("duplicate", effect)
        owner = self.owner
        if kind is Sample:
            if effect.value is UNSET:
                return _draw(effect.dist, owner.run.rng, owner.n, owner.registry)
            return effect.value
        if kind is Observe:
            owner.log_weights += _per_particle(effect.dist.log_prob(effect.value), owner.n)
        elif kind is Factor:
            owner.log_weights += _per_particle(effect.log_weight, owner.n)
        return plain_answer(effect)


def _draw(dist: Any, rng: Optional[np.random.Generator], n: int, registry: _Registry) -> ParticleArray:
    """N draws, or one draw of a distribution that already holds one per particle."""
    draws = dist.sample(rng) if dist.batch_shape[:1] == (n,) else dist.sample(rng, (n,))
    values = np.asarray(draws).view(ParticleArray)
    values._registry = registry
    if registry.active:
        registry.add(values)
    return values


def _per_particle(log_weight: Any, n: int) -> Any:
    """One log weight per particle (summing a site's own batch axes), or one for all."""
    lw = np.asarray(log_weight, dtype=float)
    if lw.ndim and lw.shape[0] == n:
        if lw.ndim > 1:
            lw = lw.reshape(n, -1).sum(axis=1)
    elif lw.ndim:
        lw = lw.sum()  # a batched observation shared by every particle
    return lw


def _gather_state(state: Any, ancestors: np.ndarray, n: int, gathered: set[Any]) -> Any:
    if isinstance(state, np.ndarray):
        if state.ndim == 0 or state.shape[0] != n or id(state) in gathered:
            return state
        if isinstance(state, ParticleArray) and isinstance(state.base, ParticleArray) and id(state.base) in gathered:
            return state  # a view of an array gathered in place
        taken = state.view(np.ndarray)[ancestors]
        if isinstance(state, ParticleArray):
            taken = taken.view(ParticleArray)
            taken._registry = state._registry
        return taken
    if isinstance(state, tuple):
        items = [_gather_state(s, ancestors, n, gathered) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [_gather_state(s, ancestors, n, gathered) for s in state]
    if isinstance(state, dict):
        return {k: _gather_state(v, ancestors, n, gathered) for k, v in state.items()}
    return state  # shared by every particle


def _unbatch(value: Any, n: int) -> List[Any]:
    """Per-particle values from a vectorized return value."""
    if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n:
        plain = np.asarray(value).view(np.ndarray)
        return plain.tolist() if plain.ndim == 1 else [plain[i].copy() for i in range(n)]
    if isinstance(value, tuple):
        columns = [_unbatch(v, n) for v in value]
        make = (lambda items: type(value)(*items)) if hasattr(value, "_fields") else tuple
        return [make(row) for row in zip(*columns)] if columns else [value] * n
    if isinstance(value, dict):
        by_key = {k: _unbatch(v, n) for k, v in value.items()}
        return [{k: by_key[k][i] for k in value} for i in range(n)]
    if isinstance(value, list):
        columns = [_unbatch(v, n) for v in value]
        return [list(row) for row in zip(*columns)] if columns else [[] for _ in range(n)]
    return [value] * n


def _population(values: List[Any], log_weights: np.ndarray, books: AdaptiveResampling) -> Population:
    return Population(
        values=values,
        log_weights=np.array(log_weights, dtype=float),
        log_evidence_offset=books.log_evidence,
        ess_history=list(books.ess_history),
        resample_count=books.resample_count,
        tier="c",
        dead_at=books.dead_at,
    )


def run_vectorized(
    model: Callable[..., Any], args: tuple[Any, ...], num_particles: int, books: AdaptiveResampling,
    rng: np.random.Generator,
) -> Population:
    """Tier (c): see the module docstring.  ``plait.smc(..., vectorized=True)`` calls it.

    >>> import plait
    >>> def kernel(x, y):
    ...     x = yield plait.sample("x", plait.Normal(0.9 * x, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 0.5), y)
    ...     return x
    >>> def model(ys):
    ...     return (yield plait.fold(kernel, 0.0, ys, name="t"))
    >>> pop = plait.smc(model, [0.3, 1.2], num_particles=500, seed=0, vectorized=True)
    >>> pop.tier, len(pop.values), type(pop.values[0]).__name__
    ('c', 500, 'float')
    """
    execution = Execution(rng, record_answers=False)
    vectorize = _Vectorize(num_particles, books, _Registry())
    dispatch, expand, bound = execution.bind((vectorize,), execution.base, True)
    try:
        value = execution.drive(start(model, args), dispatch, expand)
    except KeyboardInterrupt:
        raise interrupted(_population([None] * num_particles, bound[0].log_weights, books)) from None
    handler = bound[0]
    return _population(_unbatch(value, num_particles), handler.log_weights, books)

"""Stochastic variational inference: fit a guide's params by maximising the ELBO.

``plait.svi(model, guide, *args, optimizer=plait.Adam(0.05), num_steps=...)``
maximises ``ELBO(θ) = E_q[log p(x, z) - log q_θ(z)]`` over every
``plait.param`` of the guide (and of the model).  Each parameter lives in
unconstrained space, ``u = biject_to(constraint).inverse(value)``; all of
them are concatenated into one float vector ``θ`` that the optimiser steps
on, and the programs see ``biject_to(constraint).forward(u)``
(:class:`~plait.handlers.params.Params`).

One gradient estimate per step, averaged over ``num_particles`` draws:

* ``"reparam"``: ``θ`` becomes a :class:`~plait.gradients.Dual` with one
  direction per coordinate; the guide's continuous draws carry pathwise
  tangents (location-scale arithmetic, implicit reparameterisation), the
  model scores them, and the tangent of ``log p - log q`` is the gradient.
  Every guide site must be continuous.
* ``"score"``: the guide draws with plain parameters; the gradient is
  ``(f - b) ∇ log q_θ(z) + ∇_θ log p_θ(x, z)`` with ``f = log p - log q``
  (the ``E[∇ log q] = 0`` term is left out).  ``b`` is a running mean of
  earlier steps' ELBO estimates, ``b <- d b + (1 - d) ELBO_t`` with decay
  ``d = baseline_decay`` (0.9: it remembers about ten steps), started from
  an independent estimate at the initial params; it never uses the current
  step's draws, so the estimate stays unbiased.
* ``"gradinf"``: :func:`plait.gradinf` on the program ``θ -> log p - log q``
  that runs the guide as a sub-program, its params answered from ``θ`` and
  its sample sites sent on to GradInf, so discrete sites are coupled and
  continuous ones reparameterised.

Every particle compares the guide's trace with the model's in one function,
:func:`_check_guide_against_model` (addresses, kinds, supports): a guide
that is not a valid variational family fails at once with an error that
names the address, both distributions and both supports.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, TextIO, Tuple, Union

import attrs
import numpy as np

from ...effects.records import Factor, Handled, Observe, Param, Sample
from ...errors import EffectTypeError, HandlerError, ZeroMassError
from ...effects.transforms import Transform
from ...gradients.api import value_and_grad
from ...gradients.dual import Dual, perturbation, stop_gradient
from ...gradients.optimizers import Adam
from ...handlers.base import Handler, start
from ...handlers.params import Params, ParamsSeen, transform_of
from ...handlers.replay import Substitute
from ...handlers.trace import Trace, TraceHandler
from ..gradient_estimation.estimator import gradinf
from .guide_checks import check_traces
from ..replicas import spawn_seeds
from ...handlers.runloop import run
from ...handlers.seed import SeedLike
from ..arguments import check_count
from ..progress import Progress, progress_bar
from ..results.storage import load_fields, save_fields

__all__ = ["svi", "SVIResult"]

ESTIMATORS = ("reparam", "score", "gradinf")


#: From this many unconstrained parameters on, the reparameterised ELBO gradient is taken in
#: reverse mode (one backward pass) rather than forward mode (one direction per parameter).
REVERSE_FROM_DIM = 8


@attrs.frozen(slots=True, eq=False)
class SVIResult:
    """The outcome of :func:`svi`.

    ``params``: address → fitted value (constrained: inside its constraint),
    the average of the iterates over the last ``average_last`` steps when
    that was asked for (the average is taken in unconstrained space), else
    the last iterate; ``unconstrained``: the same in unconstrained space;
    ``elbo``: one ELBO estimate per step (at the params before the step);
    ``estimator``, ``num_particles``; ``optimizer_state``: the optimiser's
    final state.

    >>> import plait
    >>> def model():
    ...     yield plait.sample("z", plait.Normal(1.0, 1.0))
    >>> def guide():
    ...     loc = yield plait.param("loc", 0.0)
    ...     yield plait.sample("z", plait.Normal(loc, 1.0))
    >>> fit = plait.svi(model, guide, optimizer=plait.Adam(0.1), num_steps=200, seed=0)
    >>> len(fit.elbo), round(fit.params["loc"], 0)
    (200, 1.0)
    """

    params: Dict[Hashable, Any]
    unconstrained: Dict[Hashable, Any]
    elbo: np.ndarray
    estimator: str
    num_particles: int
    optimizer_state: Any = attrs.field(repr=False)
    #: True when the run was interrupted (Ctrl-C): ``elbo`` is shorter than ``num_steps``.
    partial: bool = False

    def save(self, path: Any) -> None:
        """Write the fit to ``path`` (an ``.npz`` file), losslessly (see :mod:`~plait.inference.results.storage`).

        >>> import tempfile, os, numpy as np
        >>> path = os.path.join(tempfile.mkdtemp(), "fit.npz")
        >>> SVIResult({"loc": 1.0}, {"loc": np.array(1.0)}, np.arange(3.0), "reparam", 1, None).save(path)
        >>> SVIResult.load(path).params, SVIResult.load(path).elbo.tolist()
        ({'loc': 1.0}, [0.0, 1.0, 2.0])
        """
        save_fields(path, "SVIResult", attrs.asdict(self, recurse=False), "elbo", self.elbo)

    @classmethod
    def load(cls, path: Any) -> "SVIResult":
        """Read a fit written by :meth:`save`."""
        fields, _ = load_fields(path, "SVIResult", "elbo")
        return cls(**fields)

    @property
    def final_elbo(self) -> float:
        """The mean ELBO estimate over the last tenth of the steps (at least one).

        >>> import numpy as np
        >>> r = SVIResult({}, {}, np.arange(20.0), "reparam", 1, None)
        >>> r.final_elbo
        18.5
        """
        n = len(self.elbo)
        return float(np.mean(self.elbo[n - max(1, n // 10):])) if n else math.nan


# ---------------------------------------------------------------------------
# the model / guide comparison (the one place where their traces meet)
# ---------------------------------------------------------------------------

def _check_guide_against_model(model_trace: Trace, guide_trace: Trace) -> None:
    """Raise unless the guide is a valid variational family for the model on this run.

    The one place SVI compares model and guide: the shared trace-level check
    of :func:`plait.inference.vi.guide_checks.check_traces` (the guide only
    samples, proposes exactly the model's latent addresses, none observed,
    with the same kind and support at each).  Errors name the address, both
    distributions and both supports.

    >>> import plait
    >>> from plait.inference.vi.svi import _check_guide_against_model
    >>> def model():
    ...     yield plait.sample("w", plait.Gamma(2.0, 1.0))
    >>> def guide():
    ...     yield plait.sample("w", plait.Normal(1.0, 1.0))
    >>> _check_guide_against_model(plait.simulate(model, seed=0), plait.simulate(guide, seed=0))
    Traceback (most recent call last):
    ...
    plait.errors.SupportMismatchError: address 'w': model samples Gamma...PositiveReal...guide samples Normal...Real...
    """
    check_traces(model_trace, guide_trace)


# ---------------------------------------------------------------------------
# parameters as one flat vector
# ---------------------------------------------------------------------------

@attrs.frozen(slots=True)
class _Entry:
    address: Hashable
    transform: Transform
    shape: Tuple[int, ...]
    offset: int
    size: int


class _Layout:
    """Where each parameter's unconstrained coordinates sit in the flat vector θ."""

    def __init__(self, effects: Mapping[Hashable, Param]) -> None:
        self.entries: List[_Entry] = []
        offset = 0
        pieces = []
        for address, effect in effects.items():
            transform = transform_of(effect)
            init = np.asarray(stop_gradient(effect.init), dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.asarray(transform.inverse(init), dtype=float)
            if not np.all(np.isfinite(u)):
                raise HandlerError(
                    f"svi: param {address!r} starts at {effect.init!r}, on the boundary of its "
                    f"constraint {transform.support!r}; start it strictly inside"
                )
            self.entries.append(_Entry(address, transform, u.shape, offset, u.size))
            pieces.append(u.ravel())
            offset += u.size
        self.size = offset
        self.initial = np.concatenate(pieces) if pieces else np.zeros(0)

    def unflatten(self, theta: Any) -> Dict[Hashable, Any]:
        """Address → unconstrained value, sliced from ``theta`` (a Dual slices to Duals)."""
        out = {}
        for e in self.entries:
            if e.shape == ():
                out[e.address] = theta[e.offset]
            else:
                out[e.address] = theta[e.offset:e.offset + e.size].reshape(e.shape)
        return out

    def constrained(self, theta: np.ndarray) -> Dict[Hashable, Any]:
        out = {}
        for e in self.entries:
            value = e.transform.forward(theta[e.offset:e.offset + e.size].reshape(e.shape))
            out[e.address] = float(value) if np.ndim(value) == 0 else np.asarray(value)
        return out


# ---------------------------------------------------------------------------
# one particle: a guide run and a model run scored at the guide's draws
# ---------------------------------------------------------------------------

def _total(values: Any) -> Any:
    """The sum of log densities, generic over Duals (never cast to float)."""
    total: Any = 0.0
    for v in values:
        total = total + (np.sum(v) if np.ndim(v) else v)
    return total


def _log_prior(trace: Trace) -> Any:
    return _total(s.dist.log_prob(s.value) for s in trace.choices.values() if not s.observed)


def _log_joint(trace: Trace) -> Any:
    return _total([s.dist.log_prob(s.value) for s in trace.choices.values()] + list(trace.factors.values()))


def _refuse_new_params(outputs: list[Any], who: str) -> None:
    for handler, output in outputs:
        if isinstance(output, ParamsSeen) and output.new:
            names = list(output.new)
            raise HandlerError(
                f"svi: the {who} asked for param(s) {names!r} that its first run did not; every param "
                "must be requested on the first run (declare it before any branch)"
            )


def _run_guide(guide: Callable[..., Any], args: tuple[Any, ...], unconstrained: Mapping[Hashable, Any],
               rng: Any, fixed: Optional[Mapping[Hashable, Any]] = None) -> Trace:
    handlers: tuple[Any, ...] = (Params(unconstrained),)
    if fixed is not None:
        handlers += (Substitute(fixed, strict=True),)
    result = run(guide, *args, handlers=handlers + (TraceHandler(),), seed=rng)
    _refuse_new_params(result.outputs, "guide")
    trace: Trace = result.trace
    return trace


def _run_model(model: Callable[..., Any], args: tuple[Any, ...], unconstrained: Mapping[Hashable, Any],
               latents: Mapping[Hashable, Any], rng: Any) -> Trace:
    # Not strict: a latent the guide missed is drawn (from rng) and the checker then names it.
    handlers = (Params(unconstrained), Substitute(latents), TraceHandler())
    result = run(model, *args, handlers=handlers, seed=rng)
    _refuse_new_params(result.outputs, "model")
    trace: Trace = result.trace
    return trace


def _require_finite(value: Any, trace: Trace, who: str) -> None:
    if math.isfinite(float(stop_gradient(value))):
        return
    for address, site in trace.choices.items():
        lp = np.sum(stop_gradient(site.dist.log_prob(stop_gradient(site.value))))
        if not math.isfinite(float(lp)):
            kind = "observes" if site.observed else "samples"
            raise ZeroMassError(
                f"svi: the ELBO is not finite: the {who} {kind} {address!r} ~ {site.dist!r} at "
                f"{stop_gradient(site.value)!r}, which has log density {float(lp)!r}"
            )
    raise ZeroMassError(f"svi: the ELBO is not finite: the {who}'s log density is {stop_gradient(value)!r}")


def _elbo_particle(model: Callable[..., Any], guide: Callable[..., Any], args: tuple[Any, ...],
                   unconstrained: Mapping[Hashable, Any], rng: Any, reparam: bool,
                   stl: bool = False) -> Any:
    """``log p(x, z) - log q(z)`` at one draw ``z ~ q`` (a Dual when the params are).

    With ``stl`` the guide's density is evaluated at the draws with plain
    params: only the pathwise part of ``∇ log q`` is kept.
    """
    guide_trace = _run_guide(guide, args, unconstrained, rng)
    if reparam:
        _require_reparameterised(guide_trace)
    model_trace = _run_model(model, args, unconstrained, guide_trace.latents, rng)
    _check_guide_against_model(model_trace, guide_trace)
    log_p = _log_joint(model_trace)
    if stl:
        plain = {a: stop_gradient(u) for a, u in unconstrained.items()}
        log_q = _log_prior(_run_guide(guide, args, plain, rng, fixed=guide_trace.latents))
    else:
        log_q = _log_prior(guide_trace)
    _require_finite(log_q, guide_trace, "guide")
    _require_finite(log_p, model_trace, "model")
    return log_p - log_q


def _require_reparameterised(guide_trace: Trace) -> None:
    for address, site in guide_trace.choices.items():
        if site.observed:
            continue
        if site.dist.is_discrete:
            raise EffectTypeError(
                f"svi: the guide samples the discrete site {address!r} ~ {site.dist!r}; "
                "estimator='reparam' differentiates through the draws and needs continuous sites: "
                "use estimator='score' or estimator='gradinf'"
            )
        if not isinstance(site.value, Dual) and _has_dual_params(site.dist, site.value):
            raise EffectTypeError(
                f"svi: the guide's site {address!r} ~ {site.dist!r} depends on params but its draw "
                "carries no pathwise derivative (the family is not reparameterised); use "
                "estimator='score'"
            )


def _has_dual_params(dist: Any, value: Any) -> bool:
    return isinstance(dist.log_prob(value), Dual)  # a Dual, or a reverse-mode value (a subclass)


# ---------------------------------------------------------------------------
# gradient estimators: each returns (ELBO estimate, gradient of the ELBO) at plain θ
# ---------------------------------------------------------------------------

def _one_hot(theta: np.ndarray, tag: int) -> Dual:
    return Dual(theta, np.eye(theta.size), tag=tag)


def _read(value: Any, tag: int, n: int) -> Tuple[float, np.ndarray]:
    if type(value) is Dual and value.tag == tag:
        t = value.tangent
        return float(stop_gradient(value)), (np.zeros(n) if t is None else np.asarray(stop_gradient(t), float))
    return float(stop_gradient(value)), np.zeros(n)


class _Estimator:
    """Per-run state of a gradient estimator (the score baseline lives here)."""

    def __init__(self, kind: str, model: Callable[..., Any], guide: Callable[..., Any], args: tuple[Any, ...],
                 layout: _Layout, num_particles: int, baseline_decay: float, stl: bool) -> None:
        self.kind = kind
        self.stl = stl
        self.model, self.guide, self.args = model, guide, args
        self.layout = layout
        self.num_particles = num_particles
        self.decay = baseline_decay
        self.baseline: Optional[float] = None

    def plain_elbo(self, theta: np.ndarray, rng: np.random.Generator) -> float:
        u = self.layout.unflatten(theta)
        return float(np.mean([
            _elbo_particle(self.model, self.guide, self.args, u, rng, reparam=False)
            for _ in range(self.num_particles)
        ]))

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> Tuple[float, np.ndarray]:
        if self.kind == "reparam":
            return self._reparam(theta, rng)
        if self.kind == "score":
            return self._score(theta, rng)
        return self._gradinf(theta, rng)

    def _reparam(self, theta: np.ndarray, rng: np.random.Generator) -> Tuple[float, np.ndarray]:
        n = theta.size
        if n >= REVERSE_FROM_DIM:
            return self._reparam_reverse(theta, rng)
        with perturbation() as tag:
            u = self.layout.unflatten(_one_hot(theta, tag))
            total: Any = 0.0
            for _ in range(self.num_particles):
                total = total + _elbo_particle(self.model, self.guide, self.args, u, rng, reparam=True,
                                               stl=self.stl)
            value, grad = _read(total, tag, n)
        return value / self.num_particles, grad / self.num_particles

    def _reparam_reverse(self, theta: np.ndarray, rng: np.random.Generator) -> Tuple[float, np.ndarray]:
        """The reparameterised gradient by reverse mode: one recorded run per particle, one backward pass."""
        addresses = [e.address for e in self.layout.entries]
        parts = tuple(self.layout.unflatten(theta).values())

        def elbo(ps: Tuple[Any, ...]) -> Any:
            u = dict(zip(addresses, ps))
            total: Any = 0.0
            for _ in range(self.num_particles):
                total = total + _elbo_particle(self.model, self.guide, self.args, u, rng, reparam=True,
                                               stl=self.stl)
            return total

        value, grads = value_and_grad(elbo, parts)
        flat = np.concatenate([np.ravel(np.asarray(g, dtype=float)) for g in grads])
        return float(value) / self.num_particles, flat / self.num_particles

    def _score(self, theta: np.ndarray, rng: np.random.Generator) -> Tuple[float, np.ndarray]:
        n = theta.size
        if self.baseline is None:  # an independent estimate: the baseline never sees this step's draws
            self.baseline = self.plain_elbo(theta, rng)
        plain = self.layout.unflatten(theta)
        values, grads = [], []
        with perturbation() as tag:
            u = self.layout.unflatten(_one_hot(theta, tag))
            for _ in range(self.num_particles):
                draw = _run_guide(self.guide, self.args, plain, rng)
                guide_trace = _run_guide(self.guide, self.args, u, rng, fixed=draw.latents)
                model_trace = _run_model(self.model, self.args, u, guide_trace.latents, rng)
                _check_guide_against_model(model_trace, guide_trace)
                log_q, log_p = _log_prior(guide_trace), _log_joint(model_trace)
                _require_finite(log_q, guide_trace, "guide")
                _require_finite(log_p, model_trace, "model")
                f = float(stop_gradient(log_p - log_q))
                surrogate = (f - self.baseline) * log_q + log_p
                values.append(f)
                grads.append(_read(surrogate, tag, n)[1])
        value = float(np.mean(values))
        self.baseline = self.decay * self.baseline + (1.0 - self.decay) * value
        return value, np.mean(grads, axis=0)

    def _gradinf(self, theta: np.ndarray, rng: np.random.Generator) -> Tuple[float, np.ndarray]:
        program = _gradinf_program(self.model, self.guide, self.args, self.layout)
        seed = int(rng.integers(2 ** 63))
        if self.num_particles == 1:
            grad = gradinf(program, theta, seed=seed)
        else:  # the particles' estimates as lanes of one batched program (or, failing that, one by one)
            grad = gradinf(program, theta, seed=seed, num_samples=self.num_particles).mean
        return self.plain_elbo(theta, rng), np.atleast_1d(np.asarray(grad, dtype=float))


def _gradinf_program(model: Callable[..., Any], guide: Callable[..., Any], args: tuple[Any, ...],
                     layout: _Layout) -> Callable[[Any], Any]:
    """The program ``θ -> log p(x, z) - log q_θ(z)``, ``z`` drawn by the guide's own sample sites.

    The guide runs as a sub-program under :class:`_GuideAtTheta`, which
    answers its params from ``θ`` and sends its samples on to GradInf (which
    couples them), scoring each; the model is then scored at the draws by a
    separate run.
    """

    def program(theta: Any) -> Any:
        unconstrained = layout.unflatten(theta)
        draws = _GuideDraws()
        yield Handled((_GuideAtTheta(unconstrained, draws),), start(guide, args))
        model_trace = _run_model(model, args, unconstrained, draws.latents, None)
        return _log_joint(model_trace) - draws.log_q

    return program


class _GuideDraws:
    """What one run of the guide drew: its latents by address, and ``log q_θ`` of them."""

    __slots__ = ("latents", "log_q")

    def __init__(self) -> None:
        self.latents: Dict[Hashable, Any] = {}
        self.log_q: Any = 0.0


class _GuideAtTheta(Handler):
    """The guide's handler in svi's GradInf program: params from θ, samples sent on and scored.

    A param is answered by its constrained value at ``unconstrained``; a
    sample goes on to the handlers outside (GradInf, which draws it) and its
    answer is added to ``draws`` with its log density; an observation or a
    factor is refused (a guide only samples).  Made afresh for every run of
    the program, it writes into that run's ``draws``, which the program
    reads once the guide has returned.

    >>> import plait
    >>> def guide():
    ...     p = yield plait.param("p", 0.5, constraint=plait.supports.unit_interval)
    ...     return (yield plait.sample("b", plait.Bernoulli(p)))
    >>> draws = _GuideDraws()
    >>> plait.run(_GuideAtTheta({"p": 0.0}, draws)(guide), seed=0).value == draws.latents["b"]
    True
    """

    def __init__(self, unconstrained: Mapping[Hashable, Any], draws: _GuideDraws) -> None:
        self.unconstrained = unconstrained
        self.draws = draws

    def handle(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Sample:
            answer = self.fwd(effect)
            draws = self.draws
            draws.latents[effect.name] = answer
            lp = effect.dist.log_prob(answer)
            draws.log_q = draws.log_q + (np.sum(lp) if np.ndim(lp) else lp)
            return answer
        if kind is Param:
            if effect.name not in self.unconstrained:
                raise HandlerError(f"svi: the guide asked for param {effect.name!r} that its first run did not")
            return transform_of(effect).forward(self.unconstrained[effect.name])
        if kind is Observe or kind is Factor:
            raise EffectTypeError(
                f"the guide conditions at {effect.name!r} ({kind.__name__.lower()}); a guide must only sample"
            )
        return self.fwd(effect)


# ---------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------

def _discover(model: Callable[..., Any], guide: Callable[..., Any], args: tuple[Any, ...],
              rng: np.random.Generator) -> Dict[Hashable, Param]:
    """Every param the guide and the model request, in order, from one plain run of each."""
    found: Dict[Hashable, Param] = {}
    guide_result = run(guide, *args, handlers=(Params({}), TraceHandler()), seed=rng)
    for _, output in guide_result.outputs:
        if isinstance(output, ParamsSeen):
            found.update(output.new)
    model_result = run(model, *args, handlers=(Params({}), Substitute(guide_result.trace.latents), TraceHandler()),
                       seed=rng)
    _check_guide_against_model(model_result.trace, guide_result.trace)
    for _, output in model_result.outputs:
        if isinstance(output, ParamsSeen):
            for address, effect in output.new.items():
                found.setdefault(address, effect)
    return found


def _printer(num_steps: int, stream: Optional[TextIO]) -> Callable[[int, float], None]:
    every = max(1, num_steps // 20)
    out = sys.stderr if stream is None else stream
    recent: List[float] = []

    def show(step: int, elbo: float) -> None:
        recent.append(elbo)
        if (step + 1) % every == 0 or step + 1 == num_steps:
            print(f"svi step {step + 1}/{num_steps}: elbo {np.mean(recent):.6g} "
                  f"(mean of the last {len(recent)})", file=out)
            recent.clear()

    return show


def svi(
    model: Callable[..., Any],
    guide: Callable[..., Any],
    *args: Any,
    optimizer: Any = None,
    num_steps: int,
    estimator: str = "reparam",
    num_particles: int = 1,
    seed: SeedLike = None,
    progress: Union[bool, str, None] = None,
    on_step: Optional[Callable[[int, float], None]] = None,
    average_last: int = 0,
    baseline_decay: float = 0.9,
    stl: bool = False,
) -> SVIResult:
    """Fit the guide's params by stochastic gradient ascent on the ELBO.

    ``model(*args)`` and ``guide(*args)`` are programs; the guide declares
    its parameters with ``plait.param(name, init, constraint=...)`` and
    samples every latent site of the model (same addresses, same supports:
    otherwise the first step raises, naming the address).  ``optimizer``
    (default ``plait.Adam(0.05)``) steps in unconstrained space.
    ``estimator`` is ``"reparam"`` (pathwise, continuous guides),
    ``"score"`` (score function with a running-mean baseline of decay
    ``baseline_decay``) or ``"gradinf"`` (coupled paths, for discrete
    sites).  ``num_particles`` draws are averaged per step.
    ``average_last=k`` returns the average of the last ``k`` iterates
    (Polyak averaging, in unconstrained space), which removes most of the
    noise a constant step size leaves.  ``stl=True`` (reparam only) is
    "sticking the landing" (Roeder, Wu & Duvenaud 2017): the guide's
    density is differentiated only through the draws, not its params, which
    drops a term of mean zero; the gradient noise then vanishes where the
    guide equals the posterior.  ``on_step(step, elbo)`` is called
    after every step; ``progress=True`` prints the ELBO to stderr twenty
    times (lines that suit logs), ``progress="bar"`` shows a tqdm bar
    (steps/s, ELBO), and the default shows the bar only when stderr is a
    terminal.  Ctrl-C ends the run early and returns the fit so far, with
    ``partial`` True.  The same seed gives the same result.

    >>> import plait
    >>> def model(ys):
    ...     mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
    ...     for i, y in enumerate(ys):
    ...         yield plait.observe(("y", i), plait.Normal(mu, 1.0), y)
    >>> def guide(ys):
    ...     loc = yield plait.param("loc", 0.0)
    ...     scale = yield plait.param("scale", 1.0, constraint=plait.supports.positive)
    ...     yield plait.sample("mu", plait.Normal(loc, scale))
    >>> fit = plait.svi(model, guide, [1.0, 2.0, 3.0], optimizer=plait.Adam(0.05),
    ...                 num_steps=1500, average_last=500, seed=0)
    >>> round(fit.params["loc"], 1), round(fit.params["scale"], 1)   # exact: 1.5, 0.5
    (1.5, 0.5)
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"svi: estimator must be one of {ESTIMATORS}, got {estimator!r}")
    num_steps = check_count("svi", "num_steps", num_steps, 1)
    num_particles = check_count("svi", "num_particles", num_particles, 1)
    average_last = check_count("svi", "average_last", average_last, 0)
    if average_last > num_steps:
        raise ValueError(f"svi: average_last ({average_last}) exceeds num_steps ({num_steps})")
    if stl and estimator != "reparam":
        raise ValueError(f"svi: stl=True applies to estimator='reparam' only, got estimator={estimator!r}")
    if not (isinstance(baseline_decay, (int, float)) and 0.0 <= baseline_decay < 1.0):
        raise ValueError(f"svi: baseline_decay must be in [0, 1), got {baseline_decay!r}")
    optimizer = Adam(0.05) if optimizer is None else optimizer
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"svi: optimizer must have init(params) and update(params, grads, state), got {optimizer!r}")

    discover_seed, steps_seed = spawn_seeds(seed, 2)
    layout = _Layout(_discover(model, guide, args, np.random.default_rng(discover_seed)))
    if layout.size == 0:
        raise HandlerError("svi: neither the guide nor the model declares a plait.param; there is nothing to fit")
    rng = np.random.default_rng(steps_seed)
    estimate = _Estimator(estimator, model, guide, args, layout, num_particles, baseline_decay, stl)
    bar = progress_bar(None if progress is None else progress == "bar", num_steps, "svi", "steps")
    callbacks = [c for c in (on_step, _printer(num_steps, None) if progress is True else None,
                             _ticker(bar) if bar is not None else None) if c is not None]

    theta = layout.initial.copy()
    state = optimizer.init(theta)
    history = np.empty(num_steps)
    running = np.zeros_like(theta)
    done = 0
    try:
        for step in range(num_steps):
            elbo, grad = estimate(theta, rng)
            history[step] = elbo
            theta, state = optimizer.update(theta, -grad, state)
            if step >= num_steps - average_last:
                running += theta
            done = step + 1
            for callback in callbacks:
                callback(step, elbo)
    except KeyboardInterrupt:
        pass  # Ctrl-C: the fit so far, marked partial
    finally:
        if bar is not None:
            bar.close()
    averaged = max(0, done - (num_steps - average_last))
    fitted = running / averaged if average_last and averaged else theta
    return SVIResult(
        params=layout.constrained(fitted),
        unconstrained={e.address: fitted[e.offset:e.offset + e.size].reshape(e.shape).copy() for e in layout.entries},
        elbo=history[:done],
        estimator=estimator,
        num_particles=num_particles,
        optimizer_state=state,
        partial=done < num_steps,
    )


def _ticker(bar: Progress) -> Callable[[int, float], None]:
    def tick(step: int, elbo: float) -> None:
        bar.tick(elbo=elbo)
    return tick

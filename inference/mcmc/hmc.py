"""Gradient-based MCMC: HMC and NUTS kernels on a model's own gradients, and ``plait.nuts``/``plait.hmc``.

A gradient kernel moves a *block* of continuous latent sites (all of them by
default) jointly, holding every other latent site at its current value:

1. the block's log density on unconstrained space is a
   :class:`~plait.LogDensity` of the model with the other latents fixed as
   observations (so ``log p(others | block)`` is part of it, as a Gibbs
   step over the block needs), differentiated by plait's reverse mode;
2. one HMC or NUTS transition (:mod:`.trajectory`) moves the unconstrained
   point; points outside the model's domain have log density ``-inf``
   (:meth:`~plait.LogDensity.sampler_log_density_and_grad`) and end the
   trajectory as a divergence;
3. the program is re-run at the new values (:meth:`Target.regenerate`), so
   the kernel returns an :class:`~plait.inference.mcmc.target.MHState` like
   the MH kernels and composes with them (``plait.sequence``, ``cycle``...).

Each kernel is invariant for the block's conditional, hence for the
posterior.  During burn-in (``ctx.adapting``) a kernel adapts its step size
and mass matrix (:mod:`.adaptation`, Stan's windows planned on the chain's
burn-in length); adaptation freezes when burn-in ends, so the kept draws
come from a fixed kernel.  Per-run state (metric, step size, cached
gradient) lives in the run's :class:`Context`, never in the kernel object,
so one kernel object serves many chains and pickles to workers.

``plait.nuts`` and ``plait.hmc`` are this kernel over every continuous latent
under the MH chain driver (:func:`~plait.inference.mcmc.mh.run_chains`):
chains, seeds, executors and the :class:`~plait.Chain` they return are the
MH ones, with per-draw ``sample_stats`` (``diverging``, ``energy``,
``tree_depth``, ``step_size``, ``acceptance_rate``, ``n_steps``).
"""

from __future__ import annotations

import concurrent.futures
import math
from functools import partial
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence

import numpy as np

from ...errors import InitializationError
from ...handlers.seed import SeedLike
from ..embedding.log_density import OUT_OF_DOMAIN, LogDensity
from ..results.chain import Chain
from .adaptation import DualAveraging, WindowedAdaptation
from .kernels import Kernel
from .mh import run_chains
from .target import AtSite, Context, MHState, Target
from .trajectory import Metric, Point, Transition, find_reasonable_step_size, hmc_transition, nuts_transition

__all__ = ["nuts_kernel", "hmc_kernel", "nuts", "hmc", "GradientTarget"]

#: Attempts at a finite starting point, uniform in [-INIT_RADIUS, INIT_RADIUS] on the unconstrained scale.
INIT_ATTEMPTS = 100
INIT_RADIUS = 2.0


class _BlockRun:
    """One chain's state of one gradient kernel: its density, point, metric and step-size adaptation."""

    def __init__(self) -> None:
        self.density: Optional[LogDensity] = None
        self.fixed: Dict[Hashable, Any] = {}
        self.point: Optional[Point] = None
        self.state: Optional[MHState] = None
        self.metric: Optional[Metric] = None
        self.step_size = math.nan
        self.averaging: Optional[DualAveraging] = None
        self.windows: Optional[WindowedAdaptation] = None
        self.adapted = False


class _GradientKernel(Kernel):
    """A gradient kernel over a block (module docstring): NUTS or static HMC, by ``move``.

    ``move(potential, metric, point, step_size, rng, length)`` is
    :func:`~.trajectory.nuts_transition` (``length``: the maximum tree depth)
    or :func:`~.trajectory.hmc_transition` (``length``: leapfrog steps).
    """

    def __init__(self, label: str, move: Callable[..., Transition], length: int, length_name: str,
                 addresses: Optional[Sequence[Hashable]], step_size: Optional[float], target_accept: float,
                 dense_mass: bool, adapt_mass: bool) -> None:
        self.label = label
        if not 0.0 < target_accept < 1.0:
            raise ValueError(f"{label}: target_accept must be in (0, 1), got {target_accept!r}")
        if step_size is not None and not (isinstance(step_size, (int, float)) and 0.0 < step_size < math.inf):
            raise ValueError(f"{label}: step_size must be a positive number, got {step_size!r}")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"{label}: {length_name} must be an int >= 1, got {length!r}")
        self.move, self.length = move, length
        self.addresses = None if addresses is None else list(addresses)
        self.fixed_step_size = None if step_size is None else float(step_size)
        self.target_accept = float(target_accept)
        self.dense_mass = bool(dense_mass)
        self.adapt_mass = bool(adapt_mass)

    def transition(self, density: LogDensity, metric: Metric, point: Point, step_size: float,
                   rng: np.random.Generator) -> Transition:
        """One trajectory on the block's unconstrained density."""
        return self.move(density.sampler_log_density_and_grad, metric, point, step_size, rng, self.length)

    def step(self, state: MHState, ctx: Context) -> MHState:
        run = ctx.kernel_state.get(id(self))
        if run is None:
            run = ctx.kernel_state[id(self)] = _BlockRun()
        density, point = self._point(run, state, ctx)
        if density.dim == 0:
            return state
        if run.metric is None:
            self._start_adaptation(run, density, point, ctx)
        assert run.metric is not None
        if not ctx.adapting and not run.adapted:
            self._finish_adaptation(run)
        transition = self.transition(density, run.metric, point, run.step_size, ctx.rng)
        used_step = run.step_size
        if ctx.adapting:
            self._adapt(run, density, transition, ctx)
        ctx.count(self.label, transition.point is not point)
        self._record(ctx, transition, used_step)
        run.point = transition.point
        if transition.point is point:
            return state
        # One run maps the block to its values (each site's transform, where the run samples
        # it) and records the new trace.
        values: Dict[Hashable, Any] = dict(state.latents)
        for address, u in density.parts(transition.point.x).items():
            values[address] = AtSite(partial(density.site_value, address, u))
        run.state = ctx.target.regenerate(values, ctx.rng)
        return run.state

    # -- the block's density and current point ---------------------------------------------
    def _block(self, state: MHState, ctx: Context) -> List[Hashable]:
        latents = state.trace.latents
        if self.addresses is None:
            return [a for a in latents if not state.trace.choices[a].dist.is_discrete]
        missing = [a for a in self.addresses if a not in latents]
        if missing:
            raise KeyError(f"{self.label}: addresses {missing!r} are not latent sites of the current trace; "
                           f"its latent sites are {list(latents)!r}")
        return list(self.addresses)

    def _point(self, run: _BlockRun, state: MHState, ctx: Context) -> tuple[LogDensity, Point]:
        if run.state is state and run.point is not None and run.density is not None:
            return run.density, run.point  # nothing moved since this kernel's last step
        if getattr(ctx.target, "stop_after", None) is not None:
            raise TypeError(f"{self.label}: gradient kernels need the whole program; they do not run "
                            "on truncated targets (resample-move SMC)")
        block = self._block(state, ctx)
        fixed = {a: v for a, v in state.latents.items() if a not in block}
        if run.density is None or not _same_values(fixed, run.fixed):
            run.density = LogDensity(ctx.target.model, *ctx.target.args, observations=fixed)
            run.fixed = fixed
        density = run.density
        x = density.unconstrain({a: state.latents[a] for a in density.addresses})
        value, grad = density.log_density_and_grad(x)  # strict: a model error raises here, with its address
        if not (value > -math.inf and np.isfinite(grad).all()):
            raise InitializationError(
                f"{self.label}: the current state has log density {value} (gradient {grad}) on the "
                f"block {density.addresses!r}; start the chain at a point of positive density (init=...)"
            )
        run.point = Point(x, float(value), grad)
        run.state = state
        return density, run.point

    # -- warmup --------------------------------------------------------------------------------
    def _start_adaptation(self, run: _BlockRun, density: LogDensity, point: Point, ctx: Context) -> None:
        dim = density.dim
        run.metric = Metric(np.eye(dim) if self.dense_mass else np.ones(dim))
        if self.fixed_step_size is not None:
            run.step_size = self.fixed_step_size
            run.adapted = True
            return
        run.step_size = find_reasonable_step_size(density.sampler_log_density_and_grad, run.metric, point, 1.0,
                                                  ctx.rng)
        run.averaging = DualAveraging(run.step_size, self.target_accept)
        if self.adapt_mass and ctx.adapting:
            run.windows = WindowedAdaptation(ctx.burn_in, dim, self.dense_mass)

    def _adapt(self, run: _BlockRun, density: LogDensity, transition: Transition, ctx: Context) -> None:
        if run.averaging is None or run.adapted:
            return
        run.step_size = run.averaging.update(transition.accept_stat)
        if run.windows is not None and run.windows.observe(transition.point.x):
            run.metric = Metric(run.windows.inverse_mass)
            run.step_size = find_reasonable_step_size(density.sampler_log_density_and_grad, run.metric,
                                                      transition.point, run.step_size, ctx.rng)
            run.averaging.restart(run.step_size)

    def _finish_adaptation(self, run: _BlockRun) -> None:
        if run.averaging is not None and run.averaging.count:
            run.step_size = run.averaging.final_step_size
        run.adapted = True

    # -- checkpoints: a resumed chain continues with the adapted kernel ---------------------------
    def adapted_state(self, ctx: Context) -> Optional[Dict[str, Any]]:
        """The step size and inverse mass matrix this kernel uses in ``ctx``'s run, once adapted (else None)."""
        run = ctx.kernel_state.get(id(self))
        if run is None or run.metric is None or not run.adapted:
            return None
        return {"step_size": run.step_size, "inverse_mass": run.metric.inverse_mass.copy()}

    def restore_adapted(self, ctx: Context, saved: Mapping[str, Any]) -> None:
        """Continue in ``ctx`` with a checkpoint's adapted step size and mass matrix (no new warmup)."""
        run = ctx.kernel_state.setdefault(id(self), _BlockRun())
        run.metric = Metric(saved["inverse_mass"])
        run.step_size = float(saved["step_size"])
        run.adapted = True

    def _record(self, ctx: Context, transition: Transition, step_size: float) -> None:
        stats = ctx.stats
        stats["diverging"] = transition.diverging
        stats["energy"] = transition.energy
        stats["step_size"] = step_size
        stats["acceptance_rate"] = transition.accept_stat
        stats["n_steps"] = transition.num_steps
        if self.move is nuts_transition:
            stats["tree_depth"] = transition.tree_depth


def _same_values(a: Mapping[Hashable, Any], b: Mapping[Hashable, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    return all(v is b[k] or np.array_equal(v, b[k]) for k, v in a.items())


def nuts_kernel(addresses: Optional[Sequence[Hashable]] = None, *, target_accept: float = 0.8,
                max_tree_depth: int = 10, dense_mass: bool = False, step_size: Optional[float] = None,
                adapt_mass: bool = True) -> Kernel:
    """A NUTS kernel over the continuous latent sites ``addresses`` (default: every continuous latent).

    Other latent sites keep their values (a Gibbs step over the block), so
    it composes with MH kernels: ``plait.sequence(plait.SingleSite(addresses=zs),
    plait.nuts_kernel(["mu"]))`` alternates single-site Gibbs over discrete
    sites with NUTS over a continuous block.  ``step_size=None`` finds the
    step size by dual averaging towards ``target_accept`` during burn-in;
    a number fixes it.  The mass matrix (diagonal, or dense with
    ``dense_mass=True``) adapts in Stan's windows during burn-in unless
    ``adapt_mass=False``.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1.0), 1.0)
    >>> chain = plait.mh(model, num_samples=200, burn_in=100, kernel=nuts_kernel(), seed=0)
    >>> abs(chain.mean("x") - 0.5) < 0.2, sorted(chain.sample_stats)[:2]
    (True, ['acceptance_rate', 'diverging'])
    """
    return _GradientKernel("nuts", nuts_transition, max_tree_depth, "max_tree_depth", addresses, step_size,
                           target_accept, dense_mass, adapt_mass)


def hmc_kernel(addresses: Optional[Sequence[Hashable]] = None, *, step_size: Optional[float] = None,
               num_steps: int = 10, target_accept: float = 0.8, dense_mass: bool = False,
               adapt_mass: bool = True) -> Kernel:
    """A static HMC kernel (``num_steps`` leapfrogs, then accept or reject) over a block of continuous sites.

    Blocks, step size and mass matrix as in :func:`nuts_kernel`.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1.0), 1.0)
    >>> chain = plait.mh(model, num_samples=200, burn_in=100, kernel=hmc_kernel(num_steps=3), seed=0)
    >>> abs(chain.mean("x") - 0.5) < 0.2
    True
    """
    return _GradientKernel("hmc", hmc_transition, num_steps, "num_steps", addresses, step_size, target_accept,
                           dense_mass, adapt_mass)


class GradientTarget(Target):
    """The posterior of a program whose chains start where a gradient sampler can: ``plait.nuts``'s target.

    :meth:`initial_state` draws the continuous latents uniformly in
    ``[-2, 2]`` on the unconstrained scale (discrete ones from the prior)
    until the log density and its gradient are finite, up to
    ``INIT_ATTEMPTS`` times; ``init`` (address → value) fixes the sites it
    names.  When no attempt succeeds,
    :class:`~plait.errors.InitializationError` names the sites whose log
    density was not finite.

    >>> import plait, numpy as np
    >>> def model():
    ...     yield plait.sample("s", plait.Gamma(2.0, 1.0))
    >>> s = GradientTarget(model, ()).initial_state(np.random.default_rng(0)).latents["s"]
    >>> bool(np.exp(-2) <= s <= np.exp(2))
    True
    """

    def initial_state(self, rng: np.random.Generator, init: Optional[Mapping[Hashable, Any]] = None,
                      attempts: int = INIT_ATTEMPTS) -> MHState:
        given = dict(init or {})
        density: Optional[LogDensity] = None
        fixed: Dict[Hashable, Any] = {}
        x: Any = None
        error: Optional[BaseException] = None
        for _ in range(attempts):
            state = self.regenerate(given, rng)  # discrete sites from the prior, ``init`` as given
            continuous = [a for a in state.latents
                          if not state.trace.choices[a].dist.is_discrete and a not in given]
            if not continuous:
                if state.log_joint > -math.inf:
                    return state
                continue
            values = {a: v for a, v in state.latents.items() if a not in continuous}
            if density is None or not _same_values(values, fixed):
                fixed, density = values, LogDensity(self.model, *self.args, observations=values)
            x = rng.uniform(-INIT_RADIUS, INIT_RADIUS, size=density.dim)
            finite, error = _finite_start(density, x)
            if finite:
                values.update(density.constrain(x))
                return self.regenerate(values, rng)
        if density is None:
            return super().initial_state(rng, given, attempts=1)  # no continuous site: MH's message
        raise InitializationError(_no_start_message(self, density, fixed, x, attempts, error))


def _finite_start(density: LogDensity, x: np.ndarray) -> tuple[bool, Optional[BaseException]]:
    """Finite log density and gradient at ``x``, and the out-of-domain error raised there if any.

    Strict otherwise: a NaN site raises, naming it.
    """
    try:
        value, grad = density.log_density_and_grad(x)
    except OUT_OF_DOMAIN as error:
        return False, error
    return value > -math.inf and bool(np.isfinite(grad).all()), None


def _no_start_message(target: Target, density: LogDensity, fixed: Dict[Hashable, Any], x: Any,
                      attempts: int, derivative_error: Optional[BaseException] = None) -> str:
    values = dict(fixed)
    said = ""  # the error the derivative run raised, unless the plain run raised (and says) it too
    if derivative_error is not None:
        said = f", and evaluating the model with derivatives raised {type(derivative_error).__name__}: {derivative_error}"
    try:
        values.update(density.constrain(x))
        trace = target.regenerate(values, np.random.default_rng(0)).trace
        bad = [f"{a!r} ~ {s.dist!r} at {s.value!r}" for a, s in trace.choices.items()
               if not np.isfinite(np.sum(s.dist.log_prob(s.value)))]
    except Exception as error:  # noqa: BLE001 - the message reports what went wrong instead
        bad = [f"(evaluating the model raised {type(error).__name__}: {error})"]
        said = ""
    return (f"gradient MCMC cannot start: {attempts} points drawn uniformly in [-{INIT_RADIUS}, {INIT_RADIUS}] "
            f"on the unconstrained scale of {density.addresses!r} all had log density -inf or a non-finite "
            f"gradient; at the last one the sites with non-finite log density were: {', '.join(bad) or 'none (a factor?)'}"
            + said + ". Pass init={address: value} with a point of positive density, or check the model.")


def nuts(model: Callable[..., Any], *args: Any, num_samples: int, num_warmup: int = 1000, num_chains: int = 1,
         seed: SeedLike = None, executor: Optional[concurrent.futures.Executor] = None,
         init: Optional[Mapping[Hashable, Any]] = None, target_accept: float = 0.8, max_tree_depth: int = 10,
         dense_mass: bool = False, progress: Optional[bool] = None, resume: Optional[Chain] = None) -> Chain:
    """The No-U-Turn Sampler on ``model(*args)``'s continuous latents; returns a :class:`~plait.Chain`.

    Multinomial NUTS with the generalised no-U-turn criterion on the
    model's unconstrained log density (:class:`~plait.LogDensity`,
    reverse-mode gradients), Stan's windowed warmup of ``num_warmup``
    iterations (dual-averaging step size towards ``target_accept``;
    diagonal mass matrix, or dense with ``dense_mass=True``), then
    ``num_samples`` draws per chain on the constrained scale.  Chains start
    uniformly in ``[-2, 2]`` on the unconstrained scale (or at ``init``) and
    run as ``plait.mh``'s do: independent streams spawned from ``seed``, on
    ``executor`` if given, identical to an in-process run.  A model with
    discrete latents needs a composed kernel: ``plait.mh(...,
    kernel=plait.sequence(plait.SingleSite(addresses=...), plait.nuts_kernel()))``.
    ``progress=True`` shows a tqdm bar per chain (draws/s, acceptance,
    divergences so far; by default only when stderr is a terminal).
    ``resume=chain`` (a chain this function returned, or ``Chain.load``)
    continues each chain for ``num_samples`` more draws with its adapted
    step size and mass matrix: no second warmup.

    ``chain.sample_stats`` holds, per draw, ``diverging``, ``energy``,
    ``tree_depth``, ``step_size``, ``acceptance_rate`` and ``n_steps``;
    ``summary()`` adds the number of divergences and the E-BFMI.

    >>> import plait, numpy as np
    >>> def model(y):
    ...     mu = yield plait.sample("mu", plait.Normal(0.0, 10.0))
    ...     sigma = yield plait.sample("sigma", plait.Exponential(1.0))
    ...     yield plait.observe("y", plait.Normal(mu, sigma), y)
    >>> chain = plait.nuts(model, np.array([0.9, 1.1, 1.3, 0.7]), num_samples=200, num_warmup=100, seed=0)
    >>> round(chain.mean("mu"), 1), int(chain.sample_stats["diverging"].sum()) < 5
    (1.0, True)
    """
    kernel = nuts_kernel(target_accept=target_accept, max_tree_depth=max_tree_depth, dense_mass=dense_mass)
    return _run_gradient_chains("nuts", model, args, kernel, num_samples, num_warmup, num_chains, seed,
                                executor, init, progress, resume)


def hmc(model: Callable[..., Any], *args: Any, num_samples: int, num_warmup: int = 1000,
        step_size: Optional[float] = None, num_steps: int = 10, num_chains: int = 1, seed: SeedLike = None,
        executor: Optional[concurrent.futures.Executor] = None, init: Optional[Mapping[Hashable, Any]] = None,
        target_accept: float = 0.8, dense_mass: bool = False, progress: Optional[bool] = None,
        resume: Optional[Chain] = None) -> Chain:
    """Static HMC (``num_steps`` leapfrogs per draw) on ``model(*args)``; as :func:`nuts` otherwise.

    ``step_size=None`` adapts the step size during warmup; a number fixes it.

    >>> import plait
    >>> def model():
    ...     yield plait.sample("x", plait.Normal(3.0, 2.0))
    >>> chain = plait.hmc(model, num_samples=200, num_warmup=100, num_steps=5, seed=1)
    >>> abs(chain.mean("x") - 3.0) < 0.5
    True
    """
    kernel = hmc_kernel(step_size=step_size, num_steps=num_steps, target_accept=target_accept,
                        dense_mass=dense_mass)
    return _run_gradient_chains("hmc", model, args, kernel, num_samples, num_warmup, num_chains, seed,
                                executor, init, progress, resume)


def _run_gradient_chains(caller: str, model: Callable[..., Any], args: tuple[Any, ...], kernel: Kernel,
                         num_samples: int, num_warmup: int, num_chains: int, seed: SeedLike,
                         executor: Optional[concurrent.futures.Executor], init: Optional[Mapping[Hashable, Any]],
                         progress: Optional[bool], resume: Optional[Chain] = None) -> Chain:
    # The chain driver's progress bar shows draws/s, acceptance and the divergences so far.
    return run_chains(caller, model, args, kernel=kernel, num_samples=num_samples, burn_in=num_warmup,
                      init=init, num_chains=num_chains, seed=seed, executor=executor, target=GradientTarget,
                      progress=progress, resume=resume)

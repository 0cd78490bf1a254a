"""Particle methods built from SMC and MH: resample-move SMC and particle marginal MH.

Both are compositions of named pieces (monad-bayes builds them the same
way): ``rmsmc`` = tier-(a) SMC + after each resampling, MH moves on every
particle's partial trace; ``pmmh`` = ``plait.mh``'s chain loop running the
:class:`ParticleMarginal` kernel on a :class:`MarginalTarget`, the marginal
posterior of some parameters whose density is an SMC evidence estimate.

Statistical contract of ``pmmh`` (exact-approximate MCMC, Andrieu, Doucet
and Holenstein, 2010): ``exp`` of SMC's log evidence is an unbiased
estimate of ``p(data, params)``, and a state keeps the estimate made when
it was proposed until the chain leaves it (:class:`MarginalState`), so the
chain is an exact MH chain on an extended space whose marginal over the
parameters is their exact posterior: means converge to the exact posterior
means as the chain grows, whatever ``num_particles`` (more particles only
make the estimate less noisy, so the chain mixes better).  Burn-in draws are
discarded and are the only ones during which the walk's width adapts.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import math
from collections.abc import Iterable
from functools import partial
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence, cast

import attrs
import numpy as np

from ...effects.records import Factor, Observe, Sample
from ...errors import InitializationError
from ...handlers.base import HandledModel
from ...handlers.condition import Condition
from ...handlers.seed import SeedLike
from ...handlers.trace import Trace
from ..arguments import check_count
from ..particles.programs import _Particle, run_general
from ..particles.tiers import prepare, smc
from ..results.chain import Chain
from ..results.population import Population
from .kernels import Kernel, SingleSite, _decide, _initial_width, _tune
from .mh import run_chains
from .target import Context, Target

__all__ = ["rmsmc", "pmmh", "MarginalTarget", "MarginalState", "ParticleMarginal"]


def _weights_passed(answers: list[Any]) -> int:
    return sum(1 for effect, _ in answers if type(effect) in (Observe, Factor))


def rmsmc(
    model: Callable[..., Any],
    *args: Any,
    num_particles: int,
    kernel: Optional[Kernel] = None,
    moves: int = 1,
    resampler: str = "systematic",
    ess_threshold: float = 0.5,
    seed: SeedLike = None,
    on_step: Optional[Callable[[int, Population], None]] = None,
    progress: bool = False,
) -> Population:
    """Resample-move SMC: SMC whose particles take ``moves`` MH steps after each resampling.

    The MH ``kernel`` (default single-site) targets the program truncated
    after the observations seen so far, which is exactly the distribution
    the resampled particles represent, so the moves keep it invariant: the
    evidence estimate stays unbiased and the posterior consistent, while
    duplicated particles spread out again.  Runs in tier (a) (loops are
    expanded).  Particles whose program has already returned are not moved.

    >>> import plait
    >>> def coin(flips):
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     for i, f in enumerate(flips):
    ...         yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    ...     return p
    >>> pop = plait.rmsmc(coin, [1, 1, 0, 1], num_particles=300, seed=0)
    >>> round(pop.expectation(), 1), len(set(pop.values)) > 150  # exact mean 2/3
    (0.7, True)
    """
    moves = check_count("rmsmc", "moves", moves, 1)
    kernel = SingleSite() if kernel is None else kernel
    if not isinstance(kernel, Kernel):
        raise TypeError(f"rmsmc: kernel must be a plait kernel, got {kernel!r}")
    num_particles, books, live = prepare("rmsmc", num_particles, resampler, ess_threshold, seed, on_step, progress)
    args = tuple(args)
    targets: Dict[int, Target] = {}

    def rejuvenate(particles: List[_Particle]) -> List[_Particle]:
        moved = []
        for particle in particles:
            if particle.done:
                moved.append(particle)
                continue
            answers = particle.answers()
            count = _weights_passed(answers)
            target = targets.setdefault(count, Target(model, args, stop_after=count))
            ctx = Context(target, live)
            state = target.regenerate(_latents(answers), live)
            for _ in range(moves):
                state = kernel.step(state, ctx)
            moved.append(particle.moved_to(state.answers))
        return moved

    population = run_general(model, args, num_particles, books, live, loops=False, rejuvenate=rejuvenate)
    population.tier = "a (resample-move)"
    return population


def _latents(answers: list[Any]) -> Dict[Hashable, Any]:
    return {effect.name: answer for effect, answer in answers if type(effect) is Sample}


def pmmh(
    model: Callable[..., Any],
    *args: Any,
    params: Sequence[Hashable],
    num_particles: int,
    num_samples: int,
    burn_in: int = 0,
    thin: int = 1,
    init: Optional[Mapping[Hashable, Any]] = None,
    num_chains: int = 1,
    seed: SeedLike = None,
    smc_options: Optional[Mapping[str, Any]] = None,
    executor: Optional[concurrent.futures.Executor] = None,
) -> Chain:
    """Particle marginal MH: MH over the sites ``params``, with the rest integrated out by SMC.

    Each proposal moves every parameter by a Gaussian random walk (width
    from the priors, tuned during burn-in only) and estimates
    ``p(data, params)`` with ``plait.smc(condition(model, params),
    num_particles=...)`` (plus ``smc_options``, e.g. ``{"vectorized":
    True}``).  Because the estimate is unbiased and a state keeps its
    estimate until the next acceptance, the chain targets the exact
    posterior of the parameters (Andrieu, Doucet and Holenstein, 2010).
    The chain's return values are those of one particle drawn from the
    accepted population; ``chain.log_joint`` holds the estimates.

    It is ``plait.mh``'s chain loop with the :class:`ParticleMarginal`
    kernel on a :class:`MarginalTarget`, so ``burn_in``, ``thin``, ``init``,
    ``num_chains``, ``seed`` and ``executor`` mean what they mean for
    :func:`~plait.inference.mcmc.mh.mh` (the chains are identical on every
    executor; define the model at module level to send it to one), and the
    :class:`Chain` has the same diagnostics (``ess``, ``rhat``, ``mcse``,
    ``summary()``) and ``to_arviz()``.

    >>> import plait
    >>> def walk(ys):
    ...     s = yield plait.sample("s", plait.Uniform(0.2, 3.0))
    ...     x = 0.0
    ...     for t, y in enumerate(ys):
    ...         x = yield plait.sample(("x", t), plait.Normal(x, s))
    ...         yield plait.observe(("y", t), plait.Normal(x, 0.5), y)
    >>> chain = plait.pmmh(walk, [0.1, 1.5, 0.8], params=["s"], num_particles=20, num_samples=30, seed=0)
    >>> chain["s"].shape, 0.2 < chain.mean("s") < 3.0
    ((30,), True)
    """
    target = partial(MarginalTarget, params=_check_params(params),
                     num_particles=check_count("pmmh", "num_particles", num_particles, 1),
                     smc_options=_check_smc_options(smc_options))
    return run_chains("pmmh", model, args, kernel=ParticleMarginal(), target=target, init=init,
                      num_samples=num_samples, burn_in=burn_in, thin=thin, num_chains=num_chains, seed=seed,
                      executor=executor)


def _check_params(params: Any) -> tuple[Any, ...]:
    # A lone address would otherwise be read as a sequence of its characters.
    if isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise TypeError(f"pmmh: params must be a list of site addresses, got {params!r}")
    addresses = tuple(params)
    if not addresses:
        raise ValueError("pmmh: params must name at least one site")
    return addresses


#: smc's own arguments that pmmh sets itself, or that would make the estimate something else.
_OWNED_BY_PMMH = ("num_particles", "seed", "num_runs", "executor")


def _check_smc_options(options: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    options = dict(options or {})
    allowed = [name for name, p in inspect.signature(smc).parameters.items()
               if p.kind is p.KEYWORD_ONLY and name not in _OWNED_BY_PMMH]
    for name in options:
        if name not in allowed:
            raise ValueError(f"pmmh: smc_options may set {', '.join(allowed)}; got {name!r}")
    return options


@attrs.frozen(eq=False)
class MarginalState:
    """A point of a PMMH chain: parameter values and the SMC estimate made when they were proposed.

    ``log_joint`` is ``log p̂(data, params)``, estimated once, when the
    chain proposed ``latents``, and carried unchanged while the chain stays:
    estimating it afresh at the current state would be another algorithm
    (Monte Carlo within Metropolis), which does not target the exact
    posterior.  ``value`` is the return value of one particle drawn from
    that estimate's population.  ``start`` is the prior trace the chain
    started from: it gives the walk's widths and the observations, the
    same for every state of the chain.

    >>> import plait
    >>> def model():
    ...     yield plait.sample("mu", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(0.0, 1.0), 0.5)
    >>> start = plait.simulate(model, seed=0)
    >>> state = MarginalState({"mu": 0.1}, -2.3, None, start)
    >>> state.latents, state.log_joint, state.observations
    ({'mu': 0.1}, -2.3, {'y': 0.5})
    """

    latents: Dict[Hashable, Any]
    log_joint: float
    value: Any
    start: Trace

    @property
    def observations(self) -> Dict[Hashable, Any]:
        """Address → observed value of the model's observed sites."""
        return self.start.observations


@attrs.frozen(eq=False)
class MarginalTarget:
    """The posterior of the sites ``params`` of ``model(*args)``, with its density estimated by SMC.

    The other latent sites are integrated out: :meth:`estimate` runs
    ``plait.smc`` on the model conditioned on the parameters, whose log
    evidence estimates ``log p(data, params)`` (the parameters' prior
    density is in it: conditioned sites are observations).

    >>> import plait, math
    >>> def model(y):
    ...     mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
    ...     x = yield plait.sample("x", plait.Normal(mu, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1.0), y)
    >>> target = MarginalTarget(model, (0.5,), params=("mu",), num_particles=200)
    >>> state = target.initial_state(np.random.default_rng(0), init={"mu": 0.0})
    >>> exact = -0.5 * math.log(2 * math.pi) - 0.5 * math.log(4 * math.pi) - 0.5**2 / 4  # N(0; 0, 1) N(0.5; 0, 2)
    >>> state.latents, abs(state.log_joint - exact) < 0.1
    ({'mu': 0.0}, True)
    """

    model: Callable[..., Any]
    args: tuple[Any, ...]
    params: tuple[Any, ...]
    num_particles: int
    #: Further keyword arguments of ``plait.smc`` (``vectorized``, ``resampler``...).
    smc_options: Mapping[str, Any] = attrs.field(factory=dict)

    def initial_state(self, rng: np.random.Generator, init: Optional[Mapping[Hashable, Any]] = None) -> MarginalState:
        """The parameters of ``init`` (completed from the prior) or of a prior draw, with their estimate.

        A parameter that is not a latent site raises ``KeyError``; a zero
        estimate at the start raises :class:`~plait.errors.InitializationError`.
        """
        draw = Target(self.model, self.args).initial_state(rng, init)
        for name in self.params:
            if name not in draw.latents:
                raise KeyError(f"pmmh: {name!r} is not a latent site of the model; its latent sites are {list(draw.latents)!r}")
        state = self.estimate({name: draw.latents[name] for name in self.params}, rng, draw.trace)
        if not state.log_joint > -math.inf:
            raise _initial_error(state.latents)
        return state

    def estimate(self, params: Dict[Hashable, Any], rng: np.random.Generator, start: Trace) -> MarginalState:
        """The state at ``params`` with a fresh SMC estimate drawn from ``rng`` (``-inf`` outside the support)."""
        # Values outside a parameter's support end here: the model may not take them.
        if Target(self.model, self.args).regenerate(params, rng, tuple(params), stop_when_checked=True).log_joint == -math.inf:
            return MarginalState(params, -math.inf, None, start)
        conditioned = HandledModel(self.model, Condition(params))
        population = cast(Population, smc(  # one run (no num_runs): a Population
            conditioned, *self.args, num_particles=self.num_particles,
            seed=int(rng.integers(2**63)), **self.smc_options))
        log_z = population.log_evidence
        if not log_z > -math.inf:
            return MarginalState(params, -math.inf, None, start)
        pick = int(rng.choice(len(population), p=population.weights))
        return MarginalState(params, log_z, population.values[pick], start)


class ParticleMarginal(Kernel):
    """The particle marginal MH kernel: a Gaussian walk on every parameter, judged by SMC estimates.

    Moves the :class:`MarginalState` of a :class:`MarginalTarget`.  Each
    parameter's step is half its prior's standard deviation at the chain's
    start, times one scale tuned during burn-in towards 30 % acceptance
    (lower than a walk's usual optimum, because a noisy estimate rejects
    more).  The walk is symmetric and the prior is inside the estimates, so
    the acceptance ratio is the ratio of the proposal's fresh estimate to the
    current state's kept one.

    >>> import plait
    >>> def model(y):
    ...     mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(mu, 1.0), y)
    >>> target = MarginalTarget(model, (0.5,), params=("mu",), num_particles=10)
    >>> ctx = Context(target, np.random.default_rng(0))
    >>> state = target.initial_state(ctx.rng)
    >>> for _ in range(20):
    ...     state = ParticleMarginal().step(state, ctx)
    >>> ctx.acceptance()["pmmh"] > 0
    True
    """

    label = "pmmh"

    def step(self, state: MarginalState, ctx: Context) -> MarginalState:  # type: ignore[override]
        if not isinstance(ctx.target, MarginalTarget):
            raise TypeError(f"ParticleMarginal moves the states of a MarginalTarget (plait.pmmh), not of {ctx.target!r}")
        new = ctx.target.estimate(self._walk(state, ctx), ctx.rng, state.start)
        moved = _decide(ctx, self.label, state, new, new.log_joint - state.log_joint)
        if ctx.adapting:
            _tune(ctx, self.label, moved is new, rate=0.3)
        return moved

    def _walk(self, state: MarginalState, ctx: Context) -> Dict[Hashable, Any]:
        scale = ctx.scales.setdefault(self.label, 1.0)
        proposal = {}
        for name, value in state.latents.items():
            width = _initial_width(state.start.choices[name].dist)  # the start's, so the walk stays symmetric
            step = scale * width * ctx.rng.standard_normal(np.shape(value))
            proposal[name] = float(value + step) if np.ndim(value) == 0 else value + step
        return proposal


def _initial_error(params: Dict[Hashable, Any]) -> Exception:
    return InitializationError(
        f"pmmh cannot start: the SMC evidence at {params!r} is zero; pass init= with parameter "
        "values under which the data are possible"
    )

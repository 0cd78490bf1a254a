"""Particle methods built from SMC and MH: resample-move SMC and particle marginal MH.

Both are compositions of named pieces (monad-bayes builds them the same
way): ``rmsmc`` = tier-(a) SMC + after each resampling, MH moves on every
particle's partial trace; ``pmmh`` = an MH chain over parameters whose
likelihood is an SMC evidence estimate.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence

import numpy as np

from ...effects.records import Factor, Observe
from ...handlers.condition import Condition
from ...handlers.base import HandledModel
from ..results.chain import Chain
from .kernels import Kernel, SingleSite
from .target import Context, MHState, Target
from ..results.population import Population
from ..replicas import spawn_seeds
from ...handlers.seed import SeedLike
from ..arguments import check_count
from ..particles.tiers import prepare, smc
from ..particles.programs import _Particle, run_general

__all__ = ["rmsmc", "pmmh"]


def _weights_passed(answers: list) -> int:
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


def _latents(answers: list) -> Dict[Hashable, Any]:
    from ...effects.records import Sample

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
    accepted population.

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
    params = list(params)
    if not params:
        raise ValueError("pmmh: params must name at least one site")
    num_samples = check_count("pmmh", "num_samples", num_samples, 1)
    burn_in = check_count("pmmh", "burn_in", burn_in, 0)
    thin = check_count("pmmh", "thin", thin, 1)
    num_chains = check_count("pmmh", "num_chains", num_chains, 1)
    options = dict(smc_options or {})
    args = tuple(args)
    prior = Target(model, args)
    all_draws, all_values, all_log_joints = [], [], []
    accepted = [0, 0]
    for stream in spawn_seeds(seed, num_chains):
        rng = np.random.default_rng(stream)
        chain = _PMMHChain(model, args, params, num_particles, options, prior, rng)
        state = chain.start(init)
        draws, values, log_joints = [], [], []
        for i in range(burn_in + num_samples * thin):
            state = chain.step(state, adapting=i < burn_in)
            if i >= burn_in and (i - burn_in + 1) % thin == 0:
                draws.append(dict(state[0]))
                values.append(state[2])
                log_joints.append(state[1])
        all_draws.append(draws)
        all_values.append(values)
        all_log_joints.append(log_joints)
        accepted[0] += chain.accepted
        accepted[1] += chain.proposed
    return Chain(all_draws, all_values, np.array(all_log_joints), {"pmmh": accepted[0] / max(1, accepted[1])})


class _PMMHChain:
    """One PMMH chain's pieces: the proposal widths and the SMC likelihood estimate."""

    def __init__(self, model: Callable[..., Any], args: tuple, params: List[Hashable], num_particles: int,
                 options: Dict[str, Any], prior: Target, rng: np.random.Generator) -> None:
        self.model, self.args, self.params = model, args, params
        self.num_particles, self.options, self.prior, self.rng = num_particles, options, prior, rng
        self.scale = 1.0
        self.adapted = 0
        self.accepted = self.proposed = 0
        self.widths: Dict[Hashable, float] = {}

    def start(self, init: Optional[Mapping[Hashable, Any]]) -> tuple:
        draw = self.prior.initial_state(self.rng, init)
        choices = draw.trace.choices
        for name in self.params:
            if name not in draw.latents:
                raise KeyError(f"pmmh: {name!r} is not a latent site of the model; its latent sites are {list(draw.latents)!r}")
            sd = float(np.sqrt(np.mean(choices[name].dist.variance)))
            self.widths[name] = 0.5 * sd if math.isfinite(sd) and sd > 0 else 1.0
        theta = {name: draw.latents[name] for name in self.params}
        estimate, value = self.estimate(theta)
        if not estimate > -math.inf:
            raise _initial_error(theta)
        return theta, estimate, value

    def estimate(self, theta: Dict[Hashable, Any]) -> tuple:
        """log p̂(data, theta) and a return value drawn from the population (or -inf, None)."""
        # Values outside a parameter's support end here: the model may not take them.
        if self.prior.regenerate(theta, self.rng, tuple(theta), stop_when_checked=True).log_joint == -math.inf:
            return -math.inf, None
        conditioned = HandledModel(self.model, Condition(theta))
        population = smc(conditioned, *self.args, num_particles=self.num_particles,
                         seed=int(self.rng.integers(2**63)), **self.options)
        log_z = population.log_evidence
        if not log_z > -math.inf:
            return -math.inf, None
        pick = int(self.rng.choice(len(population), p=population.weights))
        return log_z, population.values[pick]

    def step(self, state: tuple, adapting: bool) -> tuple:
        theta, estimate, value = state
        proposal = {name: theta[name] + self.scale * self.widths[name] * self.rng.standard_normal(np.shape(theta[name]))
                    for name in self.params}
        proposal = {k: (float(v) if np.ndim(v) == 0 else v) for k, v in proposal.items()}
        new_estimate, new_value = self.estimate(proposal)
        log_ratio = new_estimate - estimate  # symmetric walk
        accept = new_estimate > -math.inf and (log_ratio >= 0 or self.rng.random() < math.exp(log_ratio))
        self.proposed += not adapting
        self.accepted += bool(accept) and not adapting
        if adapting:
            # Robbins-Monro towards the acceptance rate that suits noisy likelihoods.
            self.adapted += 1
            self.scale *= math.exp((float(accept) - 0.3) / math.sqrt(self.adapted))
        return (proposal, new_estimate, new_value) if accept else state


def _initial_error(theta: Dict[Hashable, Any]) -> Exception:
    from ...errors import InitializationError

    return InitializationError(
        f"pmmh cannot start: the SMC evidence at {theta!r} is zero; pass init= with parameter "
        "values under which the data are possible"
    )

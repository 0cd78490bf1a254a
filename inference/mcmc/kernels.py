"""MH kernels on program traces, and combinators that preserve their target.

Every kernel maps an :class:`~plait.inference.mcmc.target.MHState` to another and
leaves the target (the program's posterior) invariant; combinators of
invariant kernels are invariant:

* :class:`SingleSite` — lightweight single-site MH (the default);
* :func:`proposal_kernel` — MH with a user's proposal program;
* :func:`sequence`, :func:`mixture`, :func:`repeat`, :func:`cycle`.

There is deliberately no "apply this kernel if the state satisfies a
predicate" combinator: a kernel that can change what its own predicate
reads is not invariant (trace types, Fig. 1).  To adapt a move to the
state, put the state-dependence inside one proposal (a step width read
from the current trace, say): the MH ratio then accounts for it.

The acceptance ratio of a move from trace x to x' with proposal q is
``p(x') q(x | x') / (p(x) q(x' | x))``.  Sites the new trace samples that the
old one lacked ("fresh") are drawn from their prior, which the forward
proposal density includes; sites that vanish ("stale") would be drawn from
their prior by the reverse move, so their prior density enters the reverse
term.  This keeps moves that change the program's structure correct.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Hashable, List, Optional, Sequence

import numpy as np

from ...effects.records import Effect, Sample
from ...errors import ExtraAddressError, ObservedAddressError
from ...handlers.base import Handler
from ...handlers.trace import Trace, TraceHandler
from ..vi.guide_checks import COVERS, check_guide_effect, check_site, describe, error
from .target import Context, MHState
from ...handlers.runloop import Execution
from ...handlers.base import start

__all__ = ["Kernel", "SingleSite", "proposal_kernel", "sequence", "mixture", "repeat", "cycle"]


class Kernel:
    """A Markov kernel on traces that leaves the target invariant.

    Subclasses implement :meth:`step`; ``label`` names the kernel in
    acceptance reports.  States are :class:`~plait.inference.mcmc.MHState`
    traces, except for kernels of a target with states of its own (the
    pseudo-marginal states of ``plait.pmmh``).

    >>> isinstance(SingleSite(), Kernel)
    True
    """

    label = "kernel"

    def step(self, state: MHState, ctx: Context) -> MHState:  # pragma: no cover - interface
        """One application of the kernel."""
        raise NotImplementedError

    def primitives(self) -> List["Kernel"]:
        """The proposal-making kernels inside this one (itself, for a primitive)."""
        return [self]


def _total(log_prob: Any) -> float:
    return float(np.sum(log_prob))


def _log_prior_of(trace: Trace, addresses: Sequence[Hashable]) -> float:
    choices = trace.choices
    return sum(_total(choices[a].dist.log_prob(choices[a].value)) for a in addresses)


def _structure_terms(old: Trace, new: Trace, skip: Any = ()) -> float:
    """log q(stale from prior, reverse) - log q(fresh from prior, forward)."""
    old_latents, new_latents = old.latents, new.latents
    fresh = [a for a in new_latents if a not in old_latents and a not in skip]
    stale = [a for a in old_latents if a not in new_latents and a not in skip]
    return _log_prior_of(old, stale) - _log_prior_of(new, fresh)


def _decide(ctx: Context, label: str, old: MHState, new: MHState, log_ratio: float) -> MHState:
    """Accept ``new`` with probability ``min(1, exp(log_ratio))``."""
    if new.log_joint == -math.inf or math.isnan(log_ratio):
        ctx.count(label, False)
        return old
    accepted = log_ratio >= 0 or ctx.rng.random() < math.exp(log_ratio)
    ctx.count(label, accepted)
    return new if accepted else old


class SingleSite(Kernel):
    """Lightweight single-site MH: change one latent site, re-run, accept or reject.

    The site is chosen uniformly among the current trace's latents.  Its new
    value comes from:

    * a finite discrete site: its conditional given everything else
      (Gibbs: every value is tried by re-execution), when no value changes
      which sites exist; otherwise a draw from its prior;
    * another discrete site: its prior, or a ±1 step, with equal probability;
    * a continuous site: a Gaussian random walk (probability
      ``1 - prior_probability``) or its prior.  The walk's width starts at
      half the prior's standard deviation and is tuned per site towards 44 %
      acceptance during burn-in only, then frozen.

    The ratio counts the choice of site (1/|latents| each way) and the fresh
    and stale sites of a structure change.  ``addresses`` restricts the
    choice to those latent sites (the discrete assignments of a mixture,
    say, next to a gradient kernel over the continuous block); the ratio
    then counts the candidates present in each trace.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0, 1))
    ...     yield plait.observe("y", plait.Normal(x, 1), 1.0)
    ...     return x
    >>> chain = plait.mh(model, num_samples=2000, burn_in=500, kernel=SingleSite(), seed=0)
    >>> abs(chain.mean("x") - 0.5) < 0.15
    True
    """

    label = "single_site"

    def __init__(self, prior_probability: float = 0.25, addresses: Optional[Sequence[Hashable]] = None) -> None:
        if not 0.0 <= prior_probability <= 1.0:
            raise ValueError(f"SingleSite: prior_probability must be in [0, 1], got {prior_probability!r}")
        self.prior_probability = prior_probability
        self.addresses = None if addresses is None else frozenset(addresses)

    def _candidates(self, state: MHState) -> List[Hashable]:
        if self.addresses is None:
            return list(state.latents)
        return [a for a in state.latents if a in self.addresses]

    def step(self, state: MHState, ctx: Context) -> MHState:
        latents = self._candidates(state)
        if not latents:
            return state
        address = latents[int(ctx.rng.integers(len(latents)))]
        site = state.trace.choices[address]
        dist = site.dist
        if dist.has_enumerate_support and not dist.batch_shape and not dist.event_shape:
            moved = self._gibbs(state, address, site, ctx)
            if moved is not None:
                return moved
            return self._prior_move(state, address, site, ctx)
        if dist.is_discrete:
            if ctx.rng.random() < 0.5:
                return self._prior_move(state, address, site, ctx)
            return self._walk(state, address, site, ctx, integer=True)
        if ctx.rng.random() < self.prior_probability:
            return self._prior_move(state, address, site, ctx)
        return self._walk(state, address, site, ctx, integer=False)

    def _move(self, state: MHState, address: Hashable, value: Any, ctx: Context) -> MHState:
        values = dict(state.latents)
        values[address] = value
        return ctx.target.regenerate(values, ctx.rng, (address,))

    def _ratio(self, state: MHState, new: MHState) -> float:
        if new.log_joint == -math.inf:
            return -math.inf
        ratio = new.log_joint - state.log_joint
        back = len(self._candidates(new))
        if not back:
            return -math.inf  # no reverse move: the new trace has none of the addresses
        ratio += math.log(len(self._candidates(state))) - math.log(back)
        return ratio + _structure_terms(state.trace, new.trace)

    def _prior_move(self, state: MHState, address: Hashable, site: Any, ctx: Context) -> MHState:
        value = site.dist.sample(ctx.rng)
        new = self._move(state, address, value, ctx)
        ratio = self._ratio(state, new)
        if ratio > -math.inf:
            back = new.trace.choices[address].dist
            ratio += _total(back.log_prob(site.value)) - _total(site.dist.log_prob(value))
        return _decide(ctx, self.label, state, new, ratio)

    def _walk(self, state: MHState, address: Hashable, site: Any, ctx: Context, integer: bool) -> MHState:
        value = site.value
        if integer:
            step = np.where(ctx.rng.random(np.shape(value)) < 0.5, -1, 1)
            new_value = value + (int(step) if np.ndim(value) == 0 else step)
            scale_key = None
        else:
            scale_key = (self.label, address)
            scale = ctx.scales.get(scale_key)
            if scale is None:
                scale = ctx.scales[scale_key] = _initial_width(site.dist)
            noise = ctx.rng.standard_normal(np.shape(value))
            new_value = value + scale * (float(noise) if np.ndim(value) == 0 else noise)
        # A value outside the support ends the re-run at that site (Target.regenerate).
        new = self._move(state, address, new_value, ctx)
        result = _decide(ctx, self.label, state, new, self._ratio(state, new))  # symmetric proposal
        if scale_key is not None and ctx.adapting:
            _tune(ctx, scale_key, result is new)
        return result

    def _gibbs(self, state: MHState, address: Hashable, site: Any, ctx: Context) -> Optional[MHState]:
        """Draw the site from its full conditional, or None if a value changes the structure."""
        shape = set(state.latents)
        candidates, log_weights = [], []
        for value in site.dist.enumerate_support():
            new = state if value == site.value else self._move(state, address, value, ctx)
            if new.log_joint > -math.inf and set(new.latents) != shape:
                return None
            candidates.append(new)
            log_weights.append(new.log_joint)
        weights = np.exp(np.array(log_weights) - max(log_weights))
        pick = candidates[int(ctx.rng.choice(len(candidates), p=weights / weights.sum()))]
        ctx.count(self.label, True)
        return pick


def _initial_width(dist: Any) -> float:
    try:
        sd = float(np.sqrt(np.mean(dist.variance)))
    except Exception:  # noqa: BLE001 - any family without a usable variance
        sd = math.nan
    return 0.5 * sd if math.isfinite(sd) and sd > 0 else 1.0


def _tune(ctx: Context, key: Any, accepted: bool, rate: float = 0.44) -> None:
    # Robbins-Monro on log width towards acceptance ``rate`` (44%: the one-dimensional optimum).
    count = ctx.scales.get((key, "n"), 0) + 1
    ctx.scales[(key, "n")] = count
    ctx.scales[key] *= math.exp((float(accepted) - rate) / math.sqrt(count))


class _ScoreAt(Handler):
    """Fix every proposal sample to ``values``; note any address ``values`` lacks."""

    def __init__(self, values: dict[Any, Any]) -> None:
        self.values = values

    def begin(self) -> None:
        self.missing: List[Hashable] = []

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample:
            if effect.name in self.values:
                effect = effect.with_value(self.values[effect.name])
            else:
                self.missing.append(effect.name)
        return self.fwd(effect)


class _CheckProposal(Handler):
    """Check each proposal site against the model's site in the current trace (guide_checks).

    A proposal may only sample; it may not propose an observed address; its
    distribution must have the model's kind and a support containing the
    model's (values outside the model's support are rejected by the ratio,
    but a smaller support would leave part of the posterior unreachable).
    Raised here, the error reaches the proposal's own ``yield`` line.
    """

    def __init__(self, trace: Trace, label: str) -> None:
        self.trace = trace
        self.role = f"proposal {label!r}"

    def handle(self, effect: Effect) -> Any:
        name = getattr(effect, "name", None)
        check_guide_effect(name, effect, self.role)
        if type(effect) is Sample:
            _check_proposed(self.trace, name, effect.dist, self.role)
        return self.fwd(effect)


def _check_proposed(trace: Trace, name: Hashable, dist: Any, role: str) -> None:
    site = trace.choices.get(name)
    if site is None:
        return
    if site.observed:
        raise error(
            ObservedAddressError, name,
            f"{role} samples {name!r} ~ {describe(dist)}, which the model observes "
            f"({describe(site.dist)}); observed addresses are never proposed",
        )
    check_site(name, site.dist, dist, relation=COVERS, guide_role=role)


def _run_proposal(proposal: Callable[..., Any], trace: Trace, args: tuple[Any, ...], rng: np.random.Generator,
                  score_at: Optional[dict[Any, Any]] = None, label: str = "proposal") -> tuple[Any, ...]:
    """Run ``proposal(trace, *args)``: its trace, and the addresses it could not score."""
    execution = Execution(rng, record_answers=False)
    checked = _CheckProposal(trace, label)
    handlers: tuple[Any, ...] = (checked, TraceHandler()) if score_at is None else (_ScoreAt(score_at), checked, TraceHandler())
    dispatch, expand, bound = execution.bind(handlers, execution.base, True)
    value = execution.drive(start(proposal, (trace, *args)), dispatch, expand)
    result = execution.result
    result.value = value
    for handler in bound:
        handler.end(result)
    missing = bound[0].missing if score_at is not None else []
    return result.trace, missing


class _ProposalKernel(Kernel):
    def __init__(self, proposal: Callable[..., Any], label: Optional[str]) -> None:
        if not callable(proposal):
            raise TypeError(f"proposal_kernel: {proposal!r} is not callable")
        self.proposal = proposal
        name: str = getattr(proposal, "__name__", "proposal")
        self.label = label or name

    def step(self, state: MHState, ctx: Context) -> MHState:
        args = ctx.target.args
        forward, _ = _run_proposal(self.proposal, state.trace, args, ctx.rng, label=self.label)
        proposed = forward.latents
        values = dict(state.latents)
        values.update(proposed)
        new = ctx.target.regenerate(values, ctx.rng, proposed)
        for address in proposed:
            if address not in state.trace.choices:  # a site of the new structure only
                _check_proposed(new.trace, address, forward.choices[address].dist, f"proposal {self.label!r}")
        if new.log_joint == -math.inf:
            return _decide(ctx, self.label, state, new, -math.inf)
        new_latents = new.latents
        for address in proposed:
            if address not in new_latents:
                raise ExtraAddressError(
                    f"proposal {self.label!r} wrote {address!r}, which the model does not sample "
                    f"as a latent site; its latent sites are {list(new_latents)!r}"
                )
        backward, missing = _run_proposal(self.proposal, new.trace, args, ctx.rng, state.latents, self.label)
        if missing or set(backward.latents) != set(proposed):
            # The reverse proposal cannot reach the current trace: the ratio is 0.
            return _decide(ctx, self.label, state, new, -math.inf)
        ratio = new.log_joint - state.log_joint + backward.log_prior - forward.log_prior
        ratio += _structure_terms(state.trace, new.trace, skip=proposed)
        return _decide(ctx, self.label, state, new, ratio)


def proposal_kernel(proposal: Callable[..., Any], label: Optional[str] = None) -> Kernel:
    """MH with a custom proposal: ``proposal(trace, *args)`` samples new values at addresses it picks.

    The proposal is a generator function like a model; each
    ``yield plait.sample(address, dist)`` proposes a value for that model
    address, and may depend on the current ``trace`` (so a step width may
    depend on the state: the ratio uses the forward and backward proposal
    densities).  An address the model does not sample raises
    :class:`~plait.errors.ExtraAddressError`.  Each proposed site is checked
    against the model's (:mod:`plait.inference.vi.guide_checks`): the same kind
    (discrete or continuous), a support containing the model's
    (:class:`~plait.errors.SupportMismatchError`: a ``Uniform(0, 1)``
    proposal for a Gamma variable could never reach values above 1), no
    observed address, no ``observe``/``factor`` in the proposal.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0, 1))
    ...     yield plait.observe("y", plait.Normal(x, 1), 1.0)
    >>> def nudge(trace):
    ...     yield plait.sample("x", plait.Normal(trace["x"], 0.5))
    >>> chain = plait.mh(model, num_samples=3000, burn_in=300, kernel=proposal_kernel(nudge), seed=1)
    >>> abs(chain.mean("x") - 0.5) < 0.15, 0 < chain.acceptance["nudge"] < 1
    (True, True)
    """
    return _ProposalKernel(proposal, label)


class _Sequence(Kernel):
    def __init__(self, kernels: Sequence[Kernel]) -> None:
        self.kernels = _check_kernels("sequence", kernels)

    def step(self, state: MHState, ctx: Context) -> MHState:
        for kernel in self.kernels:
            state = kernel.step(state, ctx)
        return state

    def primitives(self) -> List[Kernel]:
        return [p for k in self.kernels for p in k.primitives()]


class _Mixture(Kernel):
    def __init__(self, kernels: Sequence[Kernel], probs: Sequence[float]) -> None:
        self.kernels = _check_kernels("mixture", kernels)
        p = np.asarray(probs, dtype=float)
        if p.shape != (len(self.kernels),) or np.any(~(p >= 0)) or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"mixture: probs must be {len(self.kernels)} non-negative numbers summing to 1, got {probs!r}")
        self.probs = p / p.sum()

    def step(self, state: MHState, ctx: Context) -> MHState:
        # The choice ignores the state, so each component's invariance carries over.
        return self.kernels[int(ctx.rng.choice(len(self.kernels), p=self.probs))].step(state, ctx)

    def primitives(self) -> List[Kernel]:
        return [p for k in self.kernels for p in k.primitives()]


class _Repeat(Kernel):
    def __init__(self, kernel: Kernel, times: int) -> None:
        self.kernel = _check_kernels("repeat", [kernel])[0]
        if isinstance(times, bool) or not isinstance(times, (int, np.integer)) or times < 1:
            raise ValueError(f"repeat: times must be a positive int, got {times!r}")
        self.times = int(times)

    def step(self, state: MHState, ctx: Context) -> MHState:
        for _ in range(self.times):
            state = self.kernel.step(state, ctx)
        return state

    def primitives(self) -> List[Kernel]:
        return self.kernel.primitives()


class _Cycle(Kernel):
    def __init__(self, kernels: Sequence[Kernel]) -> None:
        self.kernels = _check_kernels("cycle", kernels)

    def step(self, state: MHState, ctx: Context) -> MHState:
        # The position is per run (in the context), not in the kernel object.
        position = ctx.positions.get(id(self), 0)
        ctx.positions[id(self)] = position + 1
        return self.kernels[position % len(self.kernels)].step(state, ctx)

    def primitives(self) -> List[Kernel]:
        return [p for k in self.kernels for p in k.primitives()]


def _check_kernels(name: str, kernels: Sequence[Any]) -> List[Kernel]:
    kernels = list(kernels)
    if not kernels:
        raise ValueError(f"{name}: needs at least one kernel")
    for k in kernels:
        if not isinstance(k, Kernel):
            raise TypeError(f"{name}: {k!r} is not a plait kernel (SingleSite(), proposal_kernel(...), ...)")
    return kernels


def sequence(*kernels: Kernel) -> Kernel:
    """Apply ``kernels`` one after another (each step applies all of them).

    >>> k = sequence(SingleSite(), SingleSite())
    >>> len(k.primitives())
    2
    """
    return _Sequence(kernels)


def mixture(kernels: Sequence[Kernel], probs: Sequence[float]) -> Kernel:
    """Apply one of ``kernels``, chosen with probabilities ``probs`` independently of the state.

    >>> k = mixture([SingleSite(), SingleSite(prior_probability=1.0)], [0.5, 0.5])
    >>> len(k.primitives())
    2
    """
    return _Mixture(kernels, probs)


def repeat(kernel: Kernel, times: int) -> Kernel:
    """Apply ``kernel`` ``times`` times per step.

    >>> repeat(SingleSite(), 3).times
    3
    """
    return _Repeat(kernel, times)


def cycle(*kernels: Kernel) -> Kernel:
    """Apply one of ``kernels`` per step, in turn (a systematic scan).

    >>> len(cycle(SingleSite(), SingleSite()).kernels)
    2
    """
    return _Cycle(kernels)

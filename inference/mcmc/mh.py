"""``plait.mh``: run MH kernels over a program's traces and collect a Chain.

Statistical contract: every kernel leaves the posterior of ``model(*args)``
invariant, so the draws after burn-in are (correlated) samples from it;
means converge as the chain's effective sample size grows.  Burn-in draws
are discarded and are the only ones during which step widths adapt.
"""

from __future__ import annotations

import concurrent.futures
from functools import partial
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional

import numpy as np

from ..results.chain import Chain
from .kernels import Kernel, SingleSite
from .target import Context, MHState, Target
from ..replicas import run_replicas, spawn_seeds
from ...handlers.seed import SeedLike
from ..arguments import check_count

__all__ = ["mh", "run_chain", "run_chains"]


def run_chain(
    target: Target, kernel: Kernel, ctx: Context, state: MHState, num_samples: int, burn_in: int, thin: int,
) -> tuple[Any, ...]:
    """Apply ``kernel`` ``burn_in + num_samples * thin`` times; keep every ``thin``-th state after burn-in.

    Returns ``(latents per draw, return values, log joints, final state)``;
    the statistics kernels leave in ``ctx.stats`` after each kept draw are
    appended to ``ctx.kept_stats``.
    A state is anything with ``latents``, ``value`` and ``log_joint``: an
    :class:`MHState`, or the pseudo-marginal state of ``plait.pmmh``.

    >>> import plait, numpy as np
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> target = Target(model, ())
    >>> ctx = Context(target, np.random.default_rng(0))
    >>> draws, values, lj, _ = run_chain(target, SingleSite(), ctx, target.initial_state(ctx.rng), 5, 0, 1)
    >>> len(draws), values == [d["x"] for d in draws]
    (5, True)
    """
    ctx.adapting = burn_in > 0
    ctx.burn_in = burn_in
    ctx.kept_stats = []
    for _ in range(burn_in):
        state = kernel.step(state, ctx)
    ctx.adapting = False
    ctx.accepted.clear()  # report acceptance after burn-in
    draws: List[Dict[Hashable, Any]] = []
    values: List[Any] = []
    log_joints: List[float] = []
    for _ in range(num_samples):
        for _ in range(thin):
            state = kernel.step(state, ctx)
        draws.append(state.latents)
        values.append(state.value)
        log_joints.append(state.log_joint)
        if ctx.stats:
            ctx.kept_stats.append(dict(ctx.stats))
    return draws, values, log_joints, state


def mh(
    model: Callable[..., Any],
    *args: Any,
    num_samples: int,
    burn_in: int = 0,
    thin: int = 1,
    kernel: Optional[Kernel] = None,
    init: Optional[Mapping[Hashable, Any]] = None,
    num_chains: int = 1,
    seed: SeedLike = None,
    executor: Optional[concurrent.futures.Executor] = None,
) -> Chain:
    """Metropolis–Hastings over the traces of ``model(*args)``; returns a :class:`Chain`.

    ``kernel`` defaults to single-site lightweight MH
    (:class:`~plait.inference.mcmc.kernels.SingleSite`); combine kernels with
    ``sequence``, ``mixture``, ``repeat`` and ``cycle``, or write one with
    ``proposal_kernel``.  Each chain starts at ``init`` (latent values,
    completed from the prior) or at a prior draw of positive density; a
    start of zero density raises
    :class:`~plait.errors.InitializationError` instead of rejecting forever.
    Chains use independent streams spawned from ``seed``
    (``SeedSequence.spawn``); the same seed gives the same chains.

    ``executor`` (any ``concurrent.futures.Executor``: a
    ``ProcessPoolExecutor``, a Dask ``Client.get_executor()``...) runs the
    chains in parallel; the chains are identical to those run in this
    process (the default).  The model, its arguments and the kernel then
    travel by pickling, so define them at module level.  A chain that fails
    raises :class:`~plait.errors.ReplicaError` naming its index and seed,
    with the other chains' results in ``.results``.

    >>> import plait
    >>> def coin(flips):
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     for i, f in enumerate(flips):
    ...         yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    ...     return p
    >>> chain = plait.mh(coin, [1, 1, 0], num_samples=4000, burn_in=500, seed=0)
    >>> round(chain.mean("p"), 1)  # exact posterior mean 0.6
    0.6
    """
    return run_chains("mh", model, args, kernel=SingleSite() if kernel is None else kernel, init=init,
                      num_samples=num_samples, burn_in=burn_in, thin=thin, num_chains=num_chains, seed=seed,
                      executor=executor)


def run_chains(
    caller: str,
    model: Callable[..., Any],
    args: tuple[Any, ...],
    *,
    kernel: Kernel,
    num_samples: int,
    burn_in: int = 0,
    thin: int = 1,
    init: Optional[Mapping[Hashable, Any]] = None,
    num_chains: int = 1,
    seed: SeedLike = None,
    executor: Optional[concurrent.futures.Executor] = None,
    target: Callable[[Callable[..., Any], tuple[Any, ...]], Any] = Target,
) -> Chain:
    """Run ``num_chains`` chains of ``kernel`` on ``target(model, args)`` and collect them in a :class:`Chain`.

    The one chain driver behind ``plait.mh`` and ``plait.pmmh``: each chain
    has its own stream spawned from ``seed``, starts at
    ``target.initial_state(rng, init)`` and runs :func:`run_chain`; chains run
    on ``executor`` (see :func:`mh`) and acceptance is pooled over chains.
    ``target`` builds the chain's target where the chain runs (so only the
    model, its arguments and ``target`` itself travel to a worker): the
    program's posterior (:class:`Target`, the default) or any object with
    ``initial_state(rng, init)`` whose states have ``latents``, ``value``,
    ``log_joint`` and ``observations``.  Errors name ``caller``.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> chain = run_chains("demo", model, (), kernel=SingleSite(), num_samples=50, num_chains=2, seed=0)
    >>> chain.num_chains, chain.num_samples, list(chain.acceptance)
    (2, 50, ['single_site'])
    >>> run_chains("demo", model, (), kernel=SingleSite(), num_samples=0)
    Traceback (most recent call last):
    ...
    ValueError: demo: num_samples must be an int >= 1, got 0
    """
    num_samples = check_count(caller, "num_samples", num_samples, 1)
    burn_in = check_count(caller, "burn_in", burn_in, 0)
    thin = check_count(caller, "thin", thin, 1)
    num_chains = check_count(caller, "num_chains", num_chains, 1)
    if not isinstance(kernel, Kernel):
        raise TypeError(f"{caller}: kernel must be a plait kernel (SingleSite(), proposal_kernel(...)...), got {kernel!r}")
    # model and args travel as their own arguments, so an unpicklable one is named as such.
    task = partial(_one_chain, model=model, args=tuple(args), target=target, kernel=kernel, init=init,
                   num_samples=num_samples, burn_in=burn_in, thin=thin)
    chains = run_replicas(task, spawn_seeds(seed, num_chains), executor, caller=caller, label="chain")
    return Chain([c[0] for c in chains], [c[1] for c in chains], np.array([c[2] for c in chains]),
                 _pooled_acceptance([c[3] for c in chains]), observations=chains[0][4],
                 sample_stats=_stacked_stats([c[5] for c in chains]))


def _stacked_stats(per_chain: List[List[Dict[str, Any]]]) -> Dict[str, np.ndarray]:
    """Statistic name → array ``(num_chains, num_samples)``, for the names every kept draw has."""
    if not all(per_chain) or not all(len(c) == len(per_chain[0]) for c in per_chain):
        return {}
    names = [n for n in per_chain[0][0] if all(n in d for c in per_chain for d in c)]
    return {n: np.array([[d[n] for d in c] for c in per_chain]) for n in names}


def _pooled_acceptance(tallies: List[Dict[str, List[int]]]) -> Dict[str, float]:
    """Kernel label → accepted / proposed over every chain's ``[accepted, proposed]`` tallies."""
    pooled: Dict[str, List[int]] = {}
    for chain_tallies in tallies:
        for label, (a, n) in chain_tallies.items():
            tally = pooled.setdefault(label, [0, 0])
            tally[0] += a
            tally[1] += n
    return {label: a / n for label, (a, n) in pooled.items() if n}


def _one_chain(*, seed: np.random.SeedSequence, model: Callable[..., Any], args: tuple[Any, ...],
               target: Callable[[Callable[..., Any], tuple[Any, ...]], Any], kernel: Kernel,
               init: Optional[Mapping[Hashable, Any]], num_samples: int, burn_in: int, thin: int) -> tuple[Any, ...]:
    """One chain from its own seed: (draws, return values, log joints, acceptance tallies, observations, stats)."""
    chain_target = target(model, args)
    ctx = Context(chain_target, np.random.default_rng(seed))
    state = chain_target.initial_state(ctx.rng, init)
    draws, values, log_joints, state = run_chain(chain_target, kernel, ctx, state, num_samples, burn_in, thin)
    return draws, values, log_joints, ctx.accepted, dict(state.observations), ctx.kept_stats

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

from ..results.chain import Chain, ChainCheckpoint
from ..progress import Progress, progress_bar
from ...errors import InvalidArgumentError, Interrupted, ReplicaError
from .kernels import Kernel, SingleSite
from .target import Context, MHState, Target
from ..replicas import run_replicas, spawn_seeds
from ...handlers.seed import SeedLike
from ..arguments import check_count

__all__ = ["mh", "run_chain", "run_chains"]


def run_chain(
    target: Target, kernel: Kernel, ctx: Context, state: MHState, num_samples: int, burn_in: int, thin: int,
    progress: Optional[Progress] = None,
) -> tuple[Any, ...]:
    """Apply ``kernel`` ``burn_in + num_samples * thin`` times; keep every ``thin``-th state after burn-in.

    Returns ``(latents per draw, return values, log joints, final state,
    interrupted)``; the statistics kernels leave in ``ctx.stats`` after each
    kept draw are appended to ``ctx.kept_stats``.  A state is anything with
    ``latents``, ``value`` and ``log_joint``: an :class:`MHState`, or the
    pseudo-marginal state of ``plait.pmmh``.  Ctrl-C (``KeyboardInterrupt``)
    after burn-in ends the chain early: the draws so far are returned, with
    ``interrupted`` True.

    >>> import plait, numpy as np
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> target = Target(model, ())
    >>> ctx = Context(target, np.random.default_rng(0))
    >>> draws, values, lj, _, stopped = run_chain(target, SingleSite(), ctx, target.initial_state(ctx.rng), 5, 0, 1)
    >>> len(draws), values == [d["x"] for d in draws], stopped
    (5, True, False)
    """
    ctx.adapting = burn_in > 0
    ctx.burn_in = burn_in
    ctx.kept_stats = []
    for _ in range(burn_in):
        state = kernel.step(state, ctx)
        if progress is not None:
            progress.tick(accepted=ctx.accepted, **_divergences(ctx))
    ctx.adapting = False
    ctx.accepted.clear()  # report acceptance after burn-in
    return sample_chain(kernel, ctx, state, num_samples, thin, progress)


def sample_chain(kernel: Kernel, ctx: Context, state: Any, num_samples: int, thin: int,
                 progress: Optional[Progress] = None) -> tuple[Any, ...]:
    """Keep ``num_samples`` states, ``thin`` kernel steps apart: :func:`run_chain` after burn-in.

    >>> import plait, numpy as np
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> ctx = Context(Target(model, ()), np.random.default_rng(0))
    >>> len(sample_chain(SingleSite(), ctx, ctx.target.initial_state(ctx.rng), 3, 2)[0])
    3
    """
    draws: List[Dict[Hashable, Any]] = []
    values: List[Any] = []
    log_joints: List[float] = []
    try:
        for _ in range(num_samples):
            kept = state
            for _ in range(thin):
                kept = kernel.step(kept, ctx)
                if progress is not None:
                    progress.tick(accepted=ctx.accepted, **_divergences(ctx))
            state = kept
            draws.append(state.latents)
            values.append(state.value)
            log_joints.append(state.log_joint)
            if ctx.stats:
                ctx.kept_stats.append(dict(ctx.stats))
    except KeyboardInterrupt:
        return draws, values, log_joints, state, True
    return draws, values, log_joints, state, False


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
    progress: Optional[bool] = None,
    resume: Optional[Chain] = None,
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
    with the other chains' results in ``.results`` and, as a :class:`Chain`,
    in ``.chain``; a chain whose worker process dies is run again alone,
    and reported with :class:`~plait.errors.WorkerDiedError` if it dies again.

    ``progress=True`` shows a bar per chain (steps/s and acceptance rate);
    the default shows one only when stderr is a terminal.  Ctrl-C returns
    the draws so far as a chain marked ``partial`` (the chains cut to the
    shortest).  ``resume=chain`` continues a chain (or one loaded with
    :meth:`Chain.load`) by ``num_samples`` more draws, from its checkpoint:
    the result equals the chain an uninterrupted run of the same seed would
    have given (``burn_in``, ``init`` and ``seed`` are then ignored; pass
    the same model, kernel and ``thin``).

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
                      executor=executor, progress=progress, resume=resume)


def _divergences(ctx: Context) -> Dict[str, int]:
    """The divergences so far, for the progress bar of a chain whose kernel reports them (NUTS/HMC)."""
    if not ctx.stats or "diverging" not in ctx.stats:
        return {}
    ctx.divergences += bool(ctx.stats["diverging"])
    return {"divergences": ctx.divergences}


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
    progress: Optional[bool] = None,
    resume: Optional[Chain] = None,
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
    plait.errors.InvalidArgumentError: demo: num_samples must be an int >= 1, got 0
    """
    num_samples = check_count(caller, "num_samples", num_samples, 1)
    burn_in = check_count(caller, "burn_in", burn_in, 0)
    thin = check_count(caller, "thin", thin, 1)
    num_chains = check_count(caller, "num_chains", num_chains, 1)
    if not isinstance(kernel, Kernel):
        raise TypeError(f"{caller}: kernel must be a plait kernel (SingleSite(), proposal_kernel(...)...), got {kernel!r}")
    starts: List[Any] = spawn_seeds(seed, num_chains) if resume is None else _checkpoints(caller, resume)
    # model and args travel as their own arguments, so an unpicklable one is named as such.
    if executor is not None and progress is None:
        progress = False  # bars from worker processes would interleave: only when asked for
    task = partial(_one_chain, model=model, args=tuple(args), target=target, kernel=kernel, init=init,
                   num_samples=num_samples, burn_in=burn_in, thin=thin, progress=progress)
    try:
        chains = run_replicas(task, starts, executor, caller=caller, label="chain")
    except Interrupted as stop:
        kept = [c for c in stop.partial if c is not None and c[0]]
        if not kept:
            raise  # stopped before any draw (in burn-in): nothing to return
        return _collected(resume, kept, partial=True)
    except ReplicaError as error:
        finished = [c for c in error.results if c is not None]
        error.chain = _collected(resume, finished, partial=True) if finished else None  # type: ignore[attr-defined]
        raise
    return _collected(resume, chains, partial=False)


def _checkpoints(caller: str, resume: Any) -> List[Any]:
    if not isinstance(resume, Chain) or resume.checkpoints is None:
        raise InvalidArgumentError(f"{caller}: resume must be a Chain returned by {caller} (or Chain.load), "
                                   f"got {resume!r}", "resume")
    return list(resume.checkpoints)


def _collected(resume: Optional[Chain], chains: List[Any], partial: bool) -> Chain:
    """The chains' draws (after ``resume``'s own, when continuing it) as one :class:`Chain`."""
    length = min(len(c[0]) for c in chains) if chains else 0
    before = resume.chains_data() if resume is not None else None
    draws, returns, log_joint = [], [], []
    for i, c in enumerate(chains):
        old = before[i] if before is not None else ([], [], [])
        draws.append(old[0] + c[0][:length])
        returns.append(old[1] + c[1][:length])
        log_joint.append(list(old[2]) + c[2][:length])
    stats = _stacked_stats([c[7][:length] for c in chains]) if resume is None else {}
    return Chain(draws, returns, np.array(log_joint, dtype=float), _pooled_acceptance([c[3] for c in chains]),
                 observations=chains[0][4] if chains else {}, checkpoints=[c[5] for c in chains],
                 tallies=[c[3] for c in chains], partial=partial or any(c[6] for c in chains),
                 sample_stats=stats)


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


def _one_chain(*, seed: Any, model: Callable[..., Any], args: tuple[Any, ...],
               target: Callable[[Callable[..., Any], tuple[Any, ...]], Any], kernel: Kernel,
               init: Optional[Mapping[Hashable, Any]], num_samples: int, burn_in: int, thin: int,
               progress: Optional[bool] = None) -> tuple[Any, ...]:
    """One chain from its own seed, or continued from a :class:`ChainCheckpoint`.

    Returns (draws, return values, log joints, acceptance tallies,
    observations, checkpoint, interrupted, per-draw kernel statistics).  Interrupted (Ctrl-C), it
    raises :class:`~plait.errors.Interrupted` with that tuple as ``partial``.
    """
    chain_target = target(model, args)
    bar = progress_bar(progress, burn_in + num_samples * thin, "mh", "draws")
    try:
        if isinstance(seed, ChainCheckpoint):
            ctx = Context(chain_target, np.random.default_rng(0))
            state = seed.restore(ctx, kernel)
            draws, values, log_joints, state, stopped = sample_chain(kernel, ctx, state, num_samples, thin, bar)
        else:
            ctx = Context(chain_target, np.random.default_rng(seed))
            state = chain_target.initial_state(ctx.rng, init)
            draws, values, log_joints, state, stopped = run_chain(
                chain_target, kernel, ctx, state, num_samples, burn_in, thin, bar)
    finally:
        if bar is not None:
            bar.close(accepted=ctx.accepted)
    result = (draws, values, log_joints, ctx.accepted, dict(state.observations),
              ChainCheckpoint.of(state, ctx, kernel), stopped, ctx.kept_stats)
    if stopped:
        raise Interrupted(f"chain interrupted after {len(draws)} draws", partial=result)
    return result

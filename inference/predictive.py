"""Prior and posterior predictive simulation: :func:`predictive`.

A predictive draw runs the model once with every observation *simulated*:
the observed value is replaced by a fresh draw from the observation's
distribution (and ``yield`` evaluates to that draw, so code after the site
sees it).  The latent sites are drawn from the prior (prior predictive) or
fixed at one posterior draw (posterior predictive).

The per-draw execution sits behind one function, :func:`simulate_draws`:
the model, its arguments, one conditioning mapping per draw, a random
source; out come the values of every site per address.  It runs one
execution per draw on the run loop; a batched engine can replace it
without changing :func:`predictive` or its result.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..effects.records import Deterministic, Effect, Observe, Sample
from ..errors import ExtraAddressError, MissingAddressError, UnhandledEffectError
from ..effects.lanes import per_lane
from ..handlers.base import Handler
from ..handlers.batched import BatchedRun, logging_on_split, observed_shape, rewinder
from ..handlers.replay import Substitute
from ..handlers.runloop import run
from ..handlers.seed import SeedLike, make_rng
from ..handlers.trace import TraceHandler
from .arguments import check_count
from .results.chain import Chain
from .results.population import Population
from .results.predictive import ABSENT, Predictive, stack_draws

__all__ = ["SimulateObservations", "SiteDraws", "predictive", "simulate_draws", "simulate_draws_batched"]

#: What ``return_sites`` accepts: ``"all"``, ``"observed"`` or a collection of addresses.
ReturnSites = str | Collection[Hashable]


class SimulateObservations(Handler):
    """Answer every observation with a fresh draw from its distribution.

    The observation is forwarded as a sample fixed at the draw, so the run
    records it with its distribution; the addresses simulated and their
    original observed values are published as ``result.outputs`` entry
    ``(handler, {address: observed value})``.  An observed value with more
    dimensions than its distribution (``Normal(mu, 1)`` observing a vector)
    is simulated at the value's shape.

    >>> import plait
    >>> def model():
    ...     return (yield plait.observe("y", plait.Normal(0.0, 1.0), 100.0))
    >>> result = plait.run(model, handlers=[SimulateObservations()], seed=0)
    >>> abs(result.value) < 10, result.outputs[-1][1]
    (True, {'y': 100.0})
    """

    def begin(self) -> None:
        self.observed: dict[Hashable, Any] = {}

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Observe:
            self.observed[effect.name] = effect.value
            rng = self.run.rng
            if rng is None:
                raise UnhandledEffectError(
                    f"observe {effect.name!r} ~ {effect.dist!r} cannot be simulated without a random source: "
                    "pass seed=..."
                )
            draw = effect.dist.sample(rng, observed_shape(effect))
            effect = Sample(effect.name, effect.dist, draw)
        return self.fwd(effect)

    def end(self, result: Any) -> None:
        result.outputs.append((self, self.observed))


@attrs.frozen(eq=False)
class SiteDraws:
    """What :func:`simulate_draws` returns: the values of every site, per address.

    ``values[address]`` lists one value per draw (:data:`ABSENT
    <plait.inference.results.predictive.ABSENT>` where that draw did not
    visit the site); ``kinds[address]`` is ``"latent"``, ``"observed"`` or
    ``"deterministic"``; ``observed_data`` holds each observed site's value
    as the model wrote it.

    >>> d = SiteDraws({"y": [0.5, 1.5]}, {"y": "observed"}, {"y": 1.0})
    >>> d.num_draws
    2
    """

    values: dict[Hashable, list[Any]]
    kinds: dict[Hashable, str]
    observed_data: dict[Hashable, Any]

    @property
    def num_draws(self) -> int:
        """How many draws the values hold."""
        return len(next(iter(self.values.values()))) if self.values else 0


def simulate_draws(
    model: Callable[..., Any],
    args: Sequence[Any],
    conditions: Sequence[Mapping[Hashable, Any]],
    rng: np.random.Generator,
    strict: bool = False,
) -> SiteDraws:
    """Run ``model(*args)`` once per entry of ``conditions``, simulating every observation.

    In run ``i`` the latent sites whose address is in ``conditions[i]``
    take that value; the others are drawn from the prior.  With
    ``strict=True`` each mapping must give exactly the latent sites its run
    visits: otherwise :class:`~plait.errors.MissingAddressError` or
    :class:`~plait.errors.ExtraAddressError` names the draw and every
    missing or extra address.  Runs draw from ``rng`` one after another.

    >>> import plait, numpy as np
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1e-9), 0.0)
    >>> d = simulate_draws(model, (), [{"x": 1.0}, {"x": 2.0}], np.random.default_rng(0), strict=True)
    >>> d.values["x"], [round(v, 3) for v in d.values["y"]], d.kinds["y"]
    ([1.0, 2.0], [1.0, 2.0], 'observed')
    """
    values: dict[Hashable, list[Any]] = {}
    kinds: dict[Hashable, str] = {}
    observed_data: dict[Hashable, Any] = {}
    for i, condition in enumerate(conditions):
        handlers = (Substitute(condition), SimulateObservations(), TraceHandler())
        result = run(model, *args, handlers=handlers, seed=rng)
        simulated = _simulated(result.outputs)
        sites = _sites(result.trace.record, result.trace.hidden, simulated)
        if strict:
            _check_condition(i, condition, sites)
        for address, (kind, value) in sites.items():
            if address not in values:
                values[address] = [ABSENT] * i
                kinds[address] = kind
            values[address].append(value)
        for column in values.values():
            if len(column) == i:
                column.append(ABSENT)
        for address, value in simulated.items():
            observed_data.setdefault(address, value)
    return SiteDraws(values, kinds, observed_data)


def simulate_draws_batched(
    model: Callable[..., Any],
    args: Sequence[Any],
    conditions: Sequence[Mapping[Hashable, Any]],
    rng: np.random.Generator,
    strict: bool = False,
) -> SiteDraws | None:
    """:func:`simulate_draws` as one batched run (one lane per draw), or None when it cannot be.

    The draws must all fix the same addresses with values of one shape (as the
    draws of one chain do); otherwise the per-draw engine runs.

    >>> import plait, numpy as np
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1e-9), 0.0)
    >>> d = simulate_draws_batched(model, (), [{"x": 1.0}, {"x": 2.0}], np.random.default_rng(0), strict=True)
    >>> d.values["x"], [round(v, 3) for v in d.values["y"]], d.kinds["y"]
    ([1.0, 2.0], [1.0, 2.0], 'observed')
    """
    fixed = _columns(conditions)
    if fixed is None:
        return None
    n = len(conditions)

    def attempt(log: bool) -> SiteDraws:
        run = BatchedRun(model, tuple(args), n, rng, pause=(), fixed=fixed, simulate_observations=True, log=log)
        return _site_draws(run, conditions, strict)
    return logging_on_split(attempt, rewinder(rng), model=model)


def _site_draws(run: BatchedRun, conditions: Sequence[Mapping[Hashable, Any]], strict: bool) -> SiteDraws:
    """The sites of every lane of ``run``, run to its end."""
    n = len(conditions)
    try:
        run.advance(None)
        values: dict[Hashable, list[Any]] = {}
        kinds: dict[Hashable, str] = {}
        for group in run.groups:
            assert group.lane_ids is not None  # (a run that records its sites keeps them)
            if strict:
                lane = int(group.lane_ids[0])
                _check_condition(lane, conditions[lane], group.sites)
            for address, (kind, value) in group.sites.items():
                column = values.setdefault(address, [ABSENT] * n)
                kinds.setdefault(address, kind)
                for lane, v in zip(group.lane_ids.tolist(), per_lane(value, group.size)):
                    column[lane] = v
        return SiteDraws(values, kinds, dict(run.observed_data))
    finally:
        run.close()


def _columns(conditions: Sequence[Mapping[Hashable, Any]]) -> dict[Hashable, np.ndarray] | None:
    """Address -> the values of every draw as one array; None if the draws disagree on addresses or shapes."""
    keys = set(conditions[0]) if conditions else set()
    if any(set(c) != keys for c in conditions):
        return None
    columns = {}
    for address in keys:
        try:
            column = np.asarray([c[address] for c in conditions])
        except ValueError:
            return None
        if column.dtype == object:
            return None
        columns[address] = column
    return columns


def _simulated(outputs: Sequence[tuple[Handler, Any]]) -> dict[Hashable, Any]:
    """The observations :class:`SimulateObservations` simulated in one run (address → observed value)."""
    found: dict[Hashable, Any] = next(out for h, out in outputs if isinstance(h, SimulateObservations))
    return found


def _sites(record: Mapping[Hashable, tuple[Any, ...]], hidden: Collection[Hashable],
           simulated: Mapping[Hashable, Any]) -> dict[Hashable, tuple[str, Any]]:
    """Address → (kind, value) for the sample, simulated and deterministic sites of one run."""
    sites: dict[Hashable, tuple[str, Any]] = {}
    for address, (value, effect) in record.items():
        if address in hidden:
            continue
        if type(effect) is Sample:
            sites[address] = ("observed" if address in simulated else "latent", value)
        elif type(effect) is Deterministic:
            sites[address] = ("deterministic", value)
    return sites


def _check_condition(index: int, condition: Mapping[Hashable, Any],
                     sites: Mapping[Hashable, tuple[str, Any]]) -> None:
    latent = [a for a, (kind, _) in sites.items() if kind == "latent"]
    missing = [a for a in latent if a not in condition]
    extra = [a for a in condition if sites.get(a, ("", None))[0] != "latent"]
    if missing:
        raise MissingAddressError(
            f"predictive: posterior draw {index} has no value for the latent sites {missing!r}; "
            f"the model's latent sites in that run were {latent!r}"
        )
    if extra:
        raise ExtraAddressError(
            f"predictive: posterior draw {index} gives values for {extra!r}, which are not latent "
            f"sites of the model; its latent sites in that run were {latent!r}"
        )


def predictive(
    model: Callable[..., Any],
    *args: Any,
    samples: None | Chain | Population = None,
    num_samples: int | None = None,
    return_sites: ReturnSites = "all",
    seed: SeedLike = None,
    batched: bool | None = None,
) -> Predictive:
    """Prior (``samples=None``) or posterior predictive draws of ``model(*args)``.

    Every draw runs the model with each observation replaced by a fresh
    draw from its distribution (module docstring).  The latent sites are

    * ``samples=None``: drawn from the prior; ``num_samples`` (required)
      draws in one chain;
    * ``samples=chain`` (a :class:`~plait.Chain`): fixed at each posterior
      draw, chains kept; ``num_samples`` (default: all) draws per chain,
      evenly spaced through it;
    * ``samples=population`` (a :class:`~plait.Population` that kept its
      traces, ``importance(..., keep_traces=True)``): fixed at particles
      resampled multinomially by their normalised weights, so the
      ``num_samples`` (default: the number of particles) draws are i.i.d.
      from the weighted population; one chain.

    Each posterior draw must give exactly the latent sites of its run
    (:class:`~plait.errors.MissingAddressError` /
    :class:`~plait.errors.ExtraAddressError` name the addresses).
    ``return_sites`` picks the sites kept: ``"all"`` (latent, observed and
    deterministic sites), ``"observed"`` (the simulated observations only) or
    a collection of addresses.  Factors weigh nothing here: a prior
    predictive draw ignores them.  The same ``seed`` gives the same draws.

    The draws run batched, one lane each (:mod:`plait.handlers.batched`),
    when they all fix the same addresses; ``batched=False`` runs one
    execution per draw (the streams differ, the distribution does not).

    >>> import plait
    >>> def coin(n):
    ...     p = yield plait.sample("p", plait.Beta(2.0, 2.0))
    ...     for i in range(n):
    ...         yield plait.observe(("flip", i), plait.Bernoulli(p), 1)
    >>> prior = plait.predictive(coin, 3, num_samples=1000, seed=0)
    >>> prior[("flip", 0)].shape, prior.kinds[("flip", 0)], bool(0.4 < prior[("flip", 0)].mean() < 0.6)
    ((1000,), 'observed', True)
    >>> chain = plait.mh(coin, 3, num_samples=200, num_chains=2, seed=0)
    >>> post = plait.predictive(coin, 3, samples=chain, return_sites="observed", seed=0)
    >>> post.draws(("flip", 2)).shape, list(post)[:1]
    ((2, 200), [('flip', 0)])
    """
    rng = make_rng(seed)
    conditions, num_chains = _conditions(samples, num_samples, rng)
    draws = None
    if batched is not False:
        draws = simulate_draws_batched(model, args, conditions, rng, strict=samples is not None)
        if draws is None and batched:
            raise ValueError("predictive: batched=True needs draws that fix the same addresses with values of one shape")
    if draws is None:
        draws = simulate_draws(model, args, conditions, rng, strict=samples is not None)
    chosen = _chosen_sites(draws, return_sites)
    values = {a: stack_draws(draws.values[a], num_chains) for a in chosen}
    return Predictive(values, {a: draws.kinds[a] for a in chosen}, len(conditions) // num_chains,
                      observed_data=draws.observed_data,
                      source="prior" if samples is None else "posterior")


def _conditions(samples: None | Chain | Population, num_samples: int | None,
                rng: np.random.Generator) -> tuple[list[Mapping[Hashable, Any]], int]:
    """One conditioning mapping per draw (chains concatenated), and the number of chains."""
    if samples is None:
        if num_samples is None:
            raise ValueError("predictive: num_samples is required for prior predictive draws (samples=None)")
        return [{}] * check_count("predictive", "num_samples", num_samples, 1), 1
    if isinstance(samples, Chain):
        return _chain_conditions(samples, num_samples)
    if isinstance(samples, Population):
        return _population_conditions(samples, num_samples, rng), 1
    raise TypeError(
        f"predictive: samples must be None (prior), a plait.Chain or a plait.Population, got {samples!r}"
    )


def _chain_conditions(chain: Chain, num_samples: int | None) -> tuple[list[Mapping[Hashable, Any]], int]:
    per_chain = chain.latent_draws()
    length = chain.num_samples
    n = length if num_samples is None else check_count("predictive", "num_samples", num_samples, 1)
    if n > length:
        raise ValueError(
            f"predictive: num_samples={n} exceeds the chain's {length} draws per chain; "
            "a Chain gives at most one predictive draw per posterior draw"
        )
    picks = np.linspace(0, length - 1, n).round().astype(int) if n < length else np.arange(length)
    return [draws[i] for draws in per_chain for i in picks.tolist()], chain.num_chains


def _population_conditions(population: Population, num_samples: int | None,
                           rng: np.random.Generator) -> list[Mapping[Hashable, Any]]:
    if population.traces is None:
        raise ValueError(
            "predictive: the Population kept no traces, so its latent values are unknown; "
            "run importance(..., keep_traces=True)"
        )
    n = len(population) if num_samples is None else check_count("predictive", "num_samples", num_samples, 1)
    traces = population.resample(n, seed=rng).traces
    assert traces is not None  # (resample keeps the traces)
    return [trace.latents for trace in traces]


def _chosen_sites(draws: SiteDraws, return_sites: ReturnSites) -> list[Hashable]:
    if isinstance(return_sites, str):
        return _sites_of_kind(draws, return_sites)
    unknown = [a for a in return_sites if a not in draws.values]
    if unknown:
        raise KeyError(
            f"predictive: return_sites {unknown!r} are not sites of the model; its sites are {list(draws.values)!r}"
        )
    return list(return_sites)


def _sites_of_kind(draws: SiteDraws, which: str) -> list[Hashable]:
    """The sites ``return_sites="all"`` or ``"observed"`` names."""
    if which not in ("all", "observed"):
        raise ValueError(
            f"predictive: return_sites must be 'all', 'observed' or a collection of addresses, got {which!r}"
        )
    return [a for a, kind in draws.kinds.items() if which == "all" or kind == "observed"]

"""Conversion of plait's results to ``arviz.InferenceData`` (``Chain.to_arviz``, ``Population.to_arviz``).

ArviZ is optional (``pip install plait[arviz]``) and imported only here,
when a conversion is asked for.

Names.  ArviZ variables are strings: a string address keeps its name, a
tuple address is rendered with its parts joined by ``/`` (``("flip", 0)``
becomes ``"flip/0"``; a loop site ``("walk", 3, "x")`` becomes
``"walk/3/x"``).

Weighted particles.  ArviZ has no weighted posterior, so a population is
converted to an equally weighted draw set: ``num_draws`` draws (default:
the number of particles) by systematic resampling with ``seed`` (default
0, so the conversion is reproducible).  The weights stay available in
``sample_stats``: per draw, the index of the particle it copies
(``ancestor``), that particle's normalised weight (``weight``) and log
weight (``log_weight``); and the whole normalised weight vector over a
separate ``particle`` dimension (``particle_weight``).  The attributes of
``sample_stats`` hold the ESS of the weights, the log evidence, the number
of particles and how the draws were made.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Dict, Hashable, Iterable, List, Mapping, Optional, cast

import numpy as np

from ...ext import systematic
from ..replicas import spawn_seeds
from ...handlers.seed import SeedLike, make_rng

if TYPE_CHECKING:  # pragma: no cover - typing only
    import arviz

    from .chain import Chain
    from .population import Population
    from .predictive import Predictive

__all__ = ["chain_to_arviz", "population_to_arviz", "populations_to_arviz", "predictive_to_arviz",
           "variable_name"]


def require_arviz() -> Any:
    """Import arviz, or explain how to install it."""
    try:
        with warnings.catch_warnings():
            # arviz 0.2x announces its 1.0 refactor on import; plait uses only the stable API.
            warnings.simplefilter("ignore", FutureWarning)
            import arviz
    except ImportError as exc:
        raise ImportError(
            "to_arviz() needs the optional package arviz: pip install plait[arviz] (or pip install arviz)"
        ) from exc
    return arviz


def variable_name(address: Hashable) -> str:
    """The ArviZ variable name of an address: tuples joined with ``/``.

    >>> variable_name("p"), variable_name(("flip", 0)), variable_name(("walk", 3, "x"))
    ('p', 'flip/0', 'walk/3/x')
    """
    if isinstance(address, str):
        return address
    if isinstance(address, tuple):
        return "/".join(variable_name(part) for part in address)
    return str(address)


def _named(values: Mapping[Hashable, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for address, value in values.items():
        name = variable_name(address)
        if name in out:
            raise ValueError(f"to_arviz: two addresses share the ArviZ name {name!r}; rename one of them")
        out[name] = value
    return out


def chain_to_arviz(chain: "Chain", addresses: Optional[Iterable[Hashable]] = None,
                   observed_data: Optional[Mapping[Hashable, Any]] = None) -> "arviz.InferenceData":
    """An MH :class:`~plait.inference.results.chain.Chain` as ``arviz.InferenceData``.

    ``posterior``: one variable per latent address (or per address in
    ``addresses``), dims ``(chain, draw, *site shape)``; a site absent from
    some draws is NaN there.  ``sample_stats``: ``lp``, the log joint
    density per draw, and the per-draw statistics of gradient kernels
    (``diverging``, ``energy``, ``tree_depth``, ``step_size``,
    ``acceptance_rate``, ``n_steps``); its attributes hold the acceptance rate of each kernel
    (``acceptance_rate`` for a single one, ``acceptance_rate/<label>`` for
    several).  ``observed_data``: the chain's observations, or
    ``observed_data`` when given.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0, 1))
    ...     yield plait.observe("y", plait.Normal(x, 1), 0.5)
    >>> chain = plait.mh(model, num_samples=100, num_chains=2, seed=0)
    >>> chain.to_arviz().posterior["x"].shape  # doctest: +SKIP
    (2, 100)
    """
    az = require_arviz()
    chosen = list(chain.addresses if addresses is None else addresses)
    posterior = _named({a: chain.draws(a) for a in chosen})
    observed = _named(chain.observations if observed_data is None else observed_data)
    idata = az.from_dict(
        posterior=posterior,
        sample_stats={"lp": chain.log_joint, **chain.sample_stats},
        observed_data={k: np.asarray(v) for k, v in observed.items()} or None,
        attrs={"inference_library": "plait", "inference": "nuts" if chain.sample_stats else "mh"},
    )
    rates = chain.acceptance
    for label, rate in rates.items():
        key = "acceptance_rate" if len(rates) == 1 and "acceptance_rate" not in chain.sample_stats \
            else f"acceptance_rate/{label}"
        idata.sample_stats.attrs[key] = float(rate)
    return cast("arviz.InferenceData", idata)  # (ArviZ's groups are dynamic attributes)


def _particle_variables(population: "Population") -> List[Dict[str, Any]]:
    """Per particle, ``{name: value}``: latents from traces when kept, else the return value."""
    if population.traces is not None:
        return [_named(t.latents) for t in population.traces]
    rows = []
    for value in population.values:
        if isinstance(value, Mapping):
            rows.append(_named(value))
        else:
            try:
                rows.append({"value": np.asarray(value, dtype=float)})
            except (TypeError, ValueError):
                raise TypeError(
                    f"to_arviz: a particle's return value {value!r} is not numeric; return a number, an array "
                    "or a dict of them, or keep the traces (importance(..., keep_traces=True))"
                ) from None
    return rows


def _draw_set(population: "Population", num_draws: Optional[int], seed: SeedLike) -> tuple[Any, ...]:
    n = len(population) if num_draws is None else int(num_draws)
    picks = np.asarray(systematic(population.log_weights, make_rng(seed), size=n), dtype=np.int64)
    rows = _particle_variables(population)
    names: Dict[str, None] = {}
    for row in rows:
        for name in row:
            names.setdefault(name, None)
    posterior = {}
    for name in names:
        present = [rows[i][name] for i in picks if name in rows[i]]
        fill = np.full(np.shape(present[0]), np.nan) if present else np.nan
        posterior[name] = np.array([np.asarray(rows[i].get(name, fill), dtype=float) for i in picks])
    weights = population.weights
    stats = {"ancestor": picks, "weight": weights[picks], "log_weight": population.log_weights[picks]}
    if population.traces is not None:
        stats["lp"] = np.array([population.traces[i].log_joint for i in picks], dtype=float)
    return posterior, stats, weights


def _observed(population: "Population", observed_data: Optional[Mapping[Hashable, Any]]) -> Dict[str, Any]:
    if observed_data is None:
        observed_data = population.traces[0].observations if population.traces else {}
    return {k: np.asarray(v) for k, v in _named(observed_data).items()}


def population_to_arviz(population: "Population", num_draws: Optional[int] = None, seed: SeedLike = 0,
                        observed_data: Optional[Mapping[Hashable, Any]] = None) -> "arviz.InferenceData":
    """A weighted :class:`~plait.inference.results.population.Population` as ``arviz.InferenceData``.

    ``posterior`` holds ``num_draws`` (default: the number of particles)
    equally weighted draws made by systematic resampling with ``seed``,
    dims ``(chain=1, draw)``: one variable per latent address when the
    population kept its traces, else the return values (a dict's keys, or
    one variable ``value``).  ``sample_stats`` and its attributes hold the
    weights, ESS and log evidence (module docstring); ``observed_data`` the
    traces' observations, or ``observed_data`` when given.

    >>> import plait
    >>> def coin():
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     yield plait.observe("flip", plait.Bernoulli(p), 1)
    ...     return p
    >>> pop = plait.importance(coin, num_particles=500, seed=0, keep_traces=True)
    >>> pop.to_arviz().posterior["p"].shape  # doctest: +SKIP
    (1, 500)
    """
    return populations_to_arviz([population], num_draws, seed, observed_data)


def populations_to_arviz(populations: List["Population"], num_draws: Optional[int] = None, seed: SeedLike = 0,
                         observed_data: Optional[Mapping[Hashable, Any]] = None) -> "arviz.InferenceData":
    """Independent populations (SMC runs) as one ``InferenceData``, one ArviZ chain per population.

    Each population is converted as in :func:`population_to_arviz`, with
    draw seeds spawned from ``seed``; between-run diagnostics such as
    ``arviz.rhat`` then compare the runs.  Every population must have the
    same number of particles when ``num_draws`` is not given.

    >>> import plait
    >>> def coin():
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     yield plait.observe("flip", plait.Bernoulli(p), 1)
    ...     return {"p": p}
    >>> runs = plait.smc(coin, num_particles=200, num_runs=3, seed=0)
    >>> runs.to_arviz().posterior["p"].shape  # doctest: +SKIP
    (3, 200)
    """
    az = require_arviz()
    populations = list(populations)
    if num_draws is None and len({len(p) for p in populations}) > 1:
        raise ValueError("to_arviz: the populations differ in size; pass num_draws= to draw as many from each")
    seeds = [seed] if len(populations) == 1 else spawn_seeds(seed, len(populations))
    parts = [_draw_set(p, num_draws, s) for p, s in zip(populations, seeds)]
    names = {name for posterior, _, _ in parts for name in posterior}
    missing = [name for name in names if any(name not in posterior for posterior, _, _ in parts)]
    if missing:
        raise ValueError(f"to_arviz: variables {sorted(missing)} are missing from some populations")
    posterior = {name: np.stack([p[name] for p, _, _ in parts]) for name in sorted(names, key=list(parts[0][0]).index)}
    stats = {key: np.stack([s[key] for _, s, _ in parts]) for key in parts[0][1]}
    idata = az.from_dict(
        posterior=posterior,
        sample_stats=stats,
        observed_data=_observed(populations[0], observed_data) or None,
        attrs={"inference_library": "plait", "inference": "population"},
    )
    if len({len(p) for p in populations}) == 1:
        # All particle weights, not only those of the resampled ones.
        idata.sample_stats["particle_weight"] = (("chain", "particle"), np.stack([w for _, _, w in parts]))
    attrs = idata.sample_stats.attrs
    attrs["ess"] = [float(p.ess) for p in populations] if len(populations) > 1 else float(populations[0].ess)
    attrs["log_evidence"] = ([float(p.log_evidence) for p in populations] if len(populations) > 1
                             else float(populations[0].log_evidence))
    attrs["num_particles"] = [len(p) for p in populations] if len(populations) > 1 else len(populations[0])
    attrs["draws"] = f"systematic resampling of the weighted particles, seed {seed!r}"
    return cast("arviz.InferenceData", idata)  # (ArviZ's groups are dynamic attributes)


def predictive_to_arviz(predictive: Predictive,
                        addresses: Iterable[Hashable] | None = None) -> arviz.InferenceData:
    """:func:`plait.predictive`'s draws as ``arviz.InferenceData``.

    Following ArviZ's conventions, prior predictive draws fill ``prior``
    (latent and deterministic sites) and ``prior_predictive`` (the
    simulated observations); posterior predictive draws fill ``posterior``
    (the posterior draws conditioned on, and deterministic sites) and
    ``posterior_predictive``.  Dims are ``(chain, draw, *site shape)``: the
    chains of the posterior :class:`~plait.Chain`, else one.
    ``observed_data`` holds the observed values of the observed sites
    converted.  ``addresses`` picks the sites (default: all); a site whose
    shape varies between draws cannot be converted (ValueError naming it).

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0, 1))
    ...     yield plait.observe("y", plait.Normal(x, 1), 0.5)
    >>> idata = plait.predictive(model, num_samples=10, seed=0).to_arviz()  # doctest: +SKIP
    >>> idata.prior_predictive["y"].dims, idata.prior["x"].shape  # doctest: +SKIP
    (('chain', 'draw'), (1, 10))
    """
    az = require_arviz()
    chosen = list(predictive if addresses is None else addresses)
    ragged = [a for a in chosen if predictive.draws(a).dtype == object]
    if ragged:
        raise ValueError(
            f"to_arviz: the draws of {ragged!r} vary in shape between draws (object arrays) and ArviZ needs "
            "one shape per variable; leave them out with addresses=[...]"
        )
    observed = [a for a in chosen if predictive.kinds[a] == "observed"]
    latent = [a for a in chosen if predictive.kinds[a] != "observed"]
    prefix = "prior" if predictive.source == "prior" else "posterior"
    groups = {
        prefix: _named({a: predictive.draws(a) for a in latent}) or None,
        f"{prefix}_predictive": _named({a: predictive.draws(a) for a in observed}) or None,
    }
    data = {a: np.asarray(predictive.observed_data[a]) for a in observed if a in predictive.observed_data}
    idata = az.from_dict(
        **groups,
        observed_data=_named(data) or None,
        attrs={"inference_library": "plait", "inference": f"{prefix} predictive"},
    )
    return cast("arviz.InferenceData", idata)  # (ArviZ's groups are dynamic attributes)

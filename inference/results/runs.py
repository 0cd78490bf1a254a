"""PopulationRuns: the populations of independent SMC runs, and their pooled estimates.

Each run is a complete SMC with its own seed, so its ``exp(log_evidence)``
is an unbiased evidence estimate; their mean is one too, with variance
divided by the number of runs.  Pooling weighs run ``i``'s normalised
particle weights by its evidence estimate ``Z_i`` (the "island" or
independent-runs combination): ``E[f] ≈ Σ_i Z_i Σ_k w̄_ik f(x_ik) / Σ_i Z_i``,
consistent as particles grow, like one population's self-normalised
estimate.  A run whose evidence estimate is 0 contributes nothing.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, List, Optional

import attrs
import numpy as np

from ...ext import logsumexp as _logsumexp
from .arviz_output import populations_to_arviz
from .population import Population
from ...handlers.seed import SeedLike

__all__ = ["PopulationRuns"]


@attrs.define(eq=False)
class PopulationRuns:
    """The result of ``plait.smc(..., num_runs=n)``: one :class:`Population` per run.

    ``populations[i]`` ran from ``seeds[i]`` (spawned from the call's seed).
    ``log_evidence`` is the log of the mean of the runs' unbiased evidence
    estimates (itself unbiased on the natural scale); ``log_evidences`` the
    per-run values, whose spread shows the estimate's variability.
    ``pooled()`` merges the runs into one Population weighted by evidence
    (module docstring), and ``expectation(f)`` uses it.

    >>> import plait
    >>> def coin(flips):
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     for i, f in enumerate(flips):
    ...         yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    ...     return p
    >>> runs = plait.smc(coin, [1, 1, 0], num_particles=500, num_runs=4, seed=0)
    >>> len(runs), runs.log_evidences.shape
    (4, (4,))
    >>> round(runs.expectation(), 1), round(math.exp(runs.log_evidence), 2)  # exact: 0.6 and 1/12
    (0.6, 0.08)
    """

    populations: List[Population]
    seeds: List[np.random.SeedSequence] = attrs.Factory(list)

    def __len__(self) -> int:
        return len(self.populations)

    def __getitem__(self, index: int) -> Population:
        return self.populations[index]

    def __iter__(self) -> Iterator[Population]:
        return iter(self.populations)

    @property
    def log_evidences(self) -> np.ndarray:
        """Each run's log evidence estimate."""
        return np.array([p.log_evidence for p in self.populations], dtype=float)

    @property
    def log_evidence(self) -> float:
        """Log of the mean of the runs' evidence estimates (``exp`` of it is unbiased)."""
        values = self.log_evidences
        return float(_logsumexp(values) - math.log(len(values)))

    def pooled(self) -> Population:
        """All runs' particles in one Population, each run weighted by its evidence estimate.

        Its ``log_evidence`` equals :attr:`log_evidence`.

        >>> import plait
        >>> def model():
        ...     x = yield plait.sample("x", plait.Normal(0, 1))
        ...     yield plait.observe("y", plait.Normal(x, 1), 1.0)
        ...     return x
        >>> runs = plait.smc(model, num_particles=100, num_runs=3, seed=1)
        >>> pooled = runs.pooled()
        >>> len(pooled), abs(pooled.log_evidence - runs.log_evidence) < 1e-12
        (300, True)
        """
        total = sum(len(p) for p in self.populations)
        values: List[Any] = []
        log_weights = []
        for population in self.populations:
            lw = population.log_weights
            norm = _logsumexp(lw)
            if norm == -math.inf:
                log_weights.append(np.full(len(lw), -math.inf))
            else:
                # w̄_ik Z_i, scaled so that the pooled mean weight is the mean of the Z_i.
                log_weights.append(lw - norm + population.log_evidence + math.log(total / len(self.populations)))
            values.extend(population.values)
        traces = None
        if all(p.traces is not None for p in self.populations):
            traces = [t for p in self.populations for t in p.traces or ()]
        return Population(
            values=values,
            log_weights=np.concatenate(log_weights) if log_weights else np.zeros(0),
            traces=traces,
            resample_count=sum(p.resample_count for p in self.populations),
            replayed=sum(p.replayed for p in self.populations),
            tier="+".join(sorted({p.tier for p in self.populations if p.tier})),
        )

    def expectation(self, f: Callable[[Any], Any] = lambda x: x) -> Any:
        """The evidence-weighted pooled estimate of ``E[f(X)]`` (see :meth:`pooled`).

        >>> runs = PopulationRuns([Population([1.0], [0.0]), Population([3.0], [math.log(3.0)])])
        >>> runs.expectation()  # run 2 has three times the evidence
        2.5
        """
        return self.pooled().expectation(f)

    def to_arviz(self, num_draws: Optional[int] = None, seed: SeedLike = 0) -> Any:
        """One ArviZ chain per run (draws by systematic resampling, see :meth:`Population.to_arviz`).

        >>> runs = PopulationRuns([Population([{"x": 1.0}], [0.0]), Population([{"x": 2.0}], [0.0])])
        >>> runs.to_arviz(num_draws=2).posterior["x"].values.tolist()  # doctest: +SKIP
        [[1.0, 1.0], [2.0, 2.0]]
        """
        return populations_to_arviz(self.populations, num_draws, seed)

    def summary(self) -> str:
        """One line per run, and the pooled evidence.

        >>> print(PopulationRuns([Population([1.0], [0.0]), Population([2.0], [0.0])]).summary())
        2 runs, log evidence 0 (per run: 0, 0)
        """
        per_run = ", ".join(f"{v:.6g}" for v in self.log_evidences)
        return f"{len(self)} runs, log evidence {self.log_evidence:.6g} (per run: {per_run})"

    def __repr__(self) -> str:
        return f"PopulationRuns({len(self)} runs, log_evidence {self.log_evidence:.6g})"

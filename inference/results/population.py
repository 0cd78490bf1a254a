"""Population: weighted particles, the result of importance sampling and SMC."""

from __future__ import annotations

import math
from typing import Any, Callable, List, Optional

import attrs
import numpy as np

from ...ext import ess as _ess
from ...ext import logsumexp as _logsumexp
from ...ext import normalize as _normalize
from ...handlers.seed import SeedLike, make_rng
from .arviz_output import population_to_arviz
from .storage import load_fields, save_fields
from ...errors import DegenerateWeightsError

__all__ = ["Population", "self_normalised_standard_error"]


def _float_array(weights: Any) -> np.ndarray:
    return np.asarray(weights, dtype=float)


@attrs.define(eq=False)
class Population:
    """Weighted particles: return values, log weights, and the evidence estimate.

    ``log_evidence`` is the log of an unbiased estimate of the model's
    evidence (the mean importance weight, times the evidence carried over
    from earlier resampling steps); ``exp(log_evidence)`` is unbiased, the log
    itself is not.  ``expectation`` is self-normalised: consistent, biased at
    finite N.

    >>> import plait
    >>> p = Population(values=[0.0, 1.0], log_weights=np.log([0.25, 0.75]))
    >>> round(p.expectation(lambda x: x), 12), round(p.ess, 3)
    (0.75, 1.6)
    """

    values: List[Any]
    log_weights: np.ndarray = attrs.field(converter=_float_array)
    #: Log of the evidence carried over from earlier resampling (0 for plain IS).
    log_evidence_offset: float = 0.0
    traces: Optional[List[Any]] = None
    ess_history: List[float] = attrs.Factory(list)
    resample_count: int = 0
    #: How many particles (per-particle tiers) or groups of lanes (batched runs:
    #: one per split of the lanes at control flow) were rebuilt by replaying an
    #: answer log; a batched run with ``replayed == N - 1`` ran every lane alone.
    replayed: int = 0
    #: What produced it: "batched" (lanes of one program), the per-particle SMC
    #: tiers "a", "b" or "a+b", or "" (per-particle importance sampling).
    tier: str = ""
    #: When every weight is zero: the observation or factor (or loop step) that made them so.
    dead_at: Any = None
    #: True when the run was interrupted (Ctrl-C): particles may not have reached the end.
    partial: bool = False

    def __attrs_post_init__(self) -> None:
        if len(self.values) != len(self.log_weights):
            raise ValueError(
                f"Population: {len(self.values)} values but {len(self.log_weights)} log weights"
            )

    def __len__(self) -> int:
        return len(self.values)

    @property
    def num_particles(self) -> int:
        """The number of particles."""
        return len(self.values)

    @property
    def log_evidence(self) -> float:
        """Log of the unbiased evidence estimate (``-inf`` if every weight is zero)."""
        if len(self.values) == 0:
            return -math.inf
        return float(self.log_evidence_offset + _logsumexp(self.log_weights) - math.log(len(self)))

    @property
    def weights(self) -> np.ndarray:
        """Normalised weights.

        When every weight is zero, :class:`~plait.errors.DegenerateWeightsError`
        names the site that ruled the particles out (``dead_at``).

        >>> Population([1.0, 2.0], [-np.inf, -np.inf], dead_at="y").weights
        Traceback (most recent call last):
        ...
        plait.errors.DegenerateWeightsError: all weights are zero: observation 'y' ruled out all 2 particles
        """
        if len(self.log_weights) and not np.any(self.log_weights > -math.inf):
            raise self._degenerate()
        return _normalize(self.log_weights)

    def _degenerate(self) -> DegenerateWeightsError:
        n = len(self.log_weights)
        if self.dead_at is None:
            return DegenerateWeightsError(f"all weights are zero: every one of the {n} particles is impossible")
        return DegenerateWeightsError(
            f"all weights are zero: observation {self.dead_at!r} ruled out all {n} particles", self.dead_at
        )

    @property
    def ess(self) -> float:
        """Effective sample size ``1 / sum(w_i^2)`` of the normalised weights."""
        return float(_ess(self.log_weights))

    def expectation(self, f: Callable[[Any], Any] = lambda x: x) -> Any:
        """Self-normalised estimate of ``E[f(X)]`` under the target.

        >>> Population([1.0, 3.0], [0.0, 0.0]).expectation(lambda x: x * x)
        5.0
        """
        total: Any = 0.0
        for value, weight in zip(self.values, self.weights.tolist()):
            if weight:
                total = total + weight * f(value)
        return total

    def resample(self, n: Optional[int] = None, seed: SeedLike = None) -> "Population":
        """Draw ``n`` particles with probability proportional to weight (multinomial).

        The result has equal weights and the same evidence estimate.

        >>> p = Population(["a", "b"], [0.0, float("-inf")])
        >>> p.resample(3, seed=0).values
        ['a', 'a', 'a']
        """
        n = len(self) if n is None else n
        rng = make_rng(seed)
        picks = rng.choice(len(self), size=n, p=self.weights)
        traces = None if self.traces is None else [self.traces[i] for i in picks]
        return Population(
            values=[self.values[i] for i in picks],
            log_weights=np.zeros(n),
            log_evidence_offset=self.log_evidence,
            traces=traces,
            ess_history=list(self.ess_history),
            resample_count=self.resample_count + 1,
        )

    def save(self, path: Any) -> None:
        """Write the population to ``path`` (an ``.npz`` file), losslessly (see :mod:`~plait.inference.results.storage`).

        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "population.npz")
        >>> Population([1.0, (2, "b")], [0.0, -1.5]).save(path)
        >>> Population.load(path).values
        [1.0, (2, 'b')]
        """
        fields = attrs.asdict(self, recurse=False)
        save_fields(path, "Population", fields, "log_weights", self.log_weights)

    @classmethod
    def load(cls, path: Any) -> "Population":
        """Read a population written by :meth:`save`."""
        fields, _ = load_fields(path, "Population", "log_weights")
        return cls(**fields)

    def summary(self) -> str:
        """Particles, ESS, log evidence and, for numeric values, the weighted mean and sd.

        >>> print(Population([1.0, 2.0], [0.0, 0.0]).summary())
        Population: 2 particles, ESS 2, log evidence 0
          mean 1.5, sd 0.5
        """
        lines = [
            f"Population: {len(self)} particles, ESS {self.ess:.4g}, "
            f"log evidence {self.log_evidence:.6g}"
            + (f", {self.resample_count} resampling events" if self.resample_count else "")
        ]
        if self.values and all(isinstance(v, (int, float)) for v in self.values):
            mean = self.expectation()
            sd = math.sqrt(max(self.expectation(lambda x: (x - mean) ** 2), 0.0))
            lines.append(f"  mean {mean:.6g}, sd {sd:.6g}")
        return "\n".join(lines)

    def to_arviz(self, num_draws: Optional[int] = None, seed: SeedLike = 0,
                 observed_data: Optional[dict[Any, Any]] = None) -> Any:
        """The population as ``arviz.InferenceData`` (needs ``pip install plait[arviz]``).

        ArviZ has no weighted samples: ``posterior`` holds ``num_draws``
        (default: the number of particles) draws by systematic resampling
        with ``seed`` (default 0: reproducible), dims ``(chain=1, draw)``;
        ``sample_stats`` keeps the normalised weights, ESS and log evidence.
        Latent addresses become variables when the traces were kept, else
        the return values do.  See
        :func:`~plait.inference.results.arviz_output.population_to_arviz`.

        >>> p = Population([{"x": 1.0}, {"x": 3.0}], np.log([0.25, 0.75]))
        >>> p.to_arviz(num_draws=4).posterior["x"].values.tolist()  # doctest: +SKIP
        [[1.0, 3.0, 3.0, 3.0]]
        """
        return population_to_arviz(self, num_draws, seed, observed_data)

    def __repr__(self) -> str:
        return (
            f"Population({len(self)} particles, ESS {self.ess:.4g}, "
            f"log_evidence {self.log_evidence:.6g})"
        )


def self_normalised_standard_error(population: Population, f: Callable[[Any], float]) -> float:
    """Delta-method standard error of ``population.expectation(f)``.

    >>> p = Population([0.0, 1.0], [0.0, 0.0])
    >>> round(self_normalised_standard_error(p, lambda x: x), 4)
    0.3536
    """
    w = population.weights
    values = np.array([f(v) for v in population.values], dtype=float)
    mean = float(np.dot(w, values))
    return float(math.sqrt(np.sum(w**2 * (values - mean) ** 2)))

"""Adaptive resampling and the evidence books, shared by every SMC tier.

An SMC run, whatever its tier, repeats: weigh the particles, then maybe
resample.  :class:`AdaptiveResampling` owns the second half: it computes the
ESS, decides (ESS < threshold × N), draws ancestor indices with a compiled
kernel, and folds the mean weight into the running log-evidence, so the tiers
only move particles around.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, List, Optional, TextIO

import numpy as np

from ... import ext as _ext
from ...handlers.batched import rewinder

__all__ = ["AdaptiveResampling", "RESAMPLERS", "progress_printer"]

RESAMPLERS = {
    "systematic": _ext.systematic,
    "stratified": _ext.stratified,
    "multinomial": _ext.multinomial,
    "residual": _ext.residual,
}


class AdaptiveResampling:
    """Resample when the effective sample size falls below ``threshold × N``.

    Statistical contract: the ancestors are drawn by an unbiased scheme
    (each particle's expected number of children is ``N × its normalised
    weight``), and at each resampling ``log(mean weight)`` is added to
    ``log_evidence``; the children restart at weight 1.  Together with the
    final mean weight this makes ``exp(log evidence)`` an unbiased estimate.

    ``report(step, population)``, if given, is called after every weighing,
    with the population built by the ``describe`` thunk the tier passes.

    >>> import numpy as np
    >>> books = AdaptiveResampling("systematic", 0.5, np.random.default_rng(0))
    >>> books.after_weighting(np.log([0.97, 0.01, 0.01, 0.01])).tolist()
    [0, 0, 0, 0]
    >>> round(books.log_evidence, 6) == round(float(np.log(0.25)), 6), books.resample_count
    (True, 1)
    """

    __slots__ = ("kernel", "threshold", "rng", "report", "log_evidence", "ess_history",
                 "resample_count", "steps", "dead_at", "bar", "reported")

    def __init__(
        self,
        scheme: str,
        threshold: float,
        rng: np.random.Generator,
        report: Optional[Callable[[int, Any], None]] = None,
    ) -> None:
        self.kernel = RESAMPLERS[scheme]
        self.threshold = threshold
        self.rng = rng
        self.report = report
        self.log_evidence = 0.0
        self.ess_history: List[float] = []
        self.resample_count = 0
        self.steps = 0
        #: The site (an observation, a factor, a loop step) after which every
        #: particle had weight zero, or None (see :meth:`extinct`).
        self.dead_at: Any = None
        #: The progress bar of the run (closed by :meth:`close`), or None.
        self.bar: Any = None
        #: Steps already reported, by an attempt that was rewound (see :meth:`rewinder`).
        self.reported = 0

    def rewinder(self) -> Callable[[], None]:
        """A function that puts the books and their stream back as they are now.

        The steps reported since are not reported again: a rewound run repeats
        them exactly (see :func:`~plait.handlers.batched.logging_on_split`).

        >>> books = AdaptiveResampling("systematic", 0.5, np.random.default_rng(0))
        >>> rewind = books.rewinder()
        >>> first = books.after_weighting(np.log([0.97, 0.01, 0.01, 0.01])); rewind()
        >>> books.resample_count, books.reported, books.after_weighting(np.log([0.97, 0.01, 0.01, 0.01])).tolist()
        (0, 1, [0, 0, 0, 0])
        """
        kept = (self.log_evidence, len(self.ess_history), self.resample_count, self.steps, self.dead_at)
        rewind_stream = rewinder(self.rng)

        def rewind() -> None:
            self.reported = max(self.reported, self.steps)
            self.log_evidence, history, self.resample_count, self.steps, self.dead_at = kept
            del self.ess_history[history:]
            rewind_stream()
        return rewind

    def close(self) -> None:
        """End the run's progress bar, if it has one."""
        if self.bar is not None:
            self.bar.close()

    def extinct(self, log_weights: np.ndarray, site: Any) -> None:
        """Remember ``site`` (an address, or a function that finds it) as what ruled the population out.

        Only when every weight is zero now and was not before.

        >>> books = AdaptiveResampling("systematic", 0.5, np.random.default_rng(0))
        >>> books.extinct(np.array([-np.inf, -np.inf]), "y"); books.dead_at
        'y'
        """
        if self.dead_at is None and len(log_weights) and _ext.all_impossible(log_weights):
            self.dead_at = site() if callable(site) else site

    def after_weighting(
        self, log_weights: np.ndarray, may_resample: bool = True,
        describe: Optional[Callable[[], Any]] = None,
    ) -> Optional[np.ndarray]:
        """Record the ESS; return ancestor indices if the population must be resampled.

        The caller moves the particles to ``ancestors`` and resets every
        weight to zero (log 1).  Returns None when no resampling is needed
        (or allowed: ``may_resample=False``), and when every weight is zero.
        """
        self.steps += 1
        limit = self.threshold * len(log_weights) if may_resample else 0.0
        ancestors = None
        try:
            if self.kernel is _ext.systematic and self.report is None:
                # One exp pass for the books and the draw (no report can come between them).
                ess, log_mean, ancestors = _ext.ess_log_mean_systematic(log_weights, limit, self.rng)
            else:
                ess, log_mean = _ext.ess_and_log_mean(log_weights)  # one pass for both
        except ValueError:
            if np.any(log_weights > -math.inf):
                raise  # NaN or +inf: the message says which particle
            ess, log_mean = 0.0, -math.inf  # every particle is impossible: the evidence estimate is 0
        self.ess_history.append(ess)
        if self.report is not None and describe is not None and self.steps > self.reported:
            self.report(self.steps, describe())
        if ess == 0.0 or not ess < limit:
            return None
        self.log_evidence += log_mean
        self.resample_count += 1
        return ancestors if ancestors is not None else self.kernel(log_weights, rng=self.rng)


def progress_printer(total: Optional[int] = None, stream: Optional[TextIO] = None,
                     every: int = 1) -> Callable[[int, Any], None]:
    """An ``on_step`` callback that prints the step, the ESS and the log evidence so far.

    >>> import io, plait
    >>> out = io.StringIO()
    >>> show = progress_printer(stream=out)
    >>> show(3, plait.Population([1.0, 2.0], [0.0, 0.0]))
    >>> out.getvalue().strip()
    'smc step 3: ESS 2 / 2, log evidence 0'
    """
    def show(step: int, population: Any) -> None:
        if step % every:
            return
        target = sys.stderr if stream is None else stream
        of = f"/{total}" if total else ""
        target.write(
            f"\rsmc step {step}{of}: ESS {population.ess:.4g} / {len(population)}, "
            f"log evidence {population.log_evidence:.6g}"
        )
        target.flush()

    return show

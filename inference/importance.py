"""Importance sampling: likelihood weighting, or a user guide as the proposal."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..handlers.trace import TraceHandler
from .guided import guided
from .population import Population
from .runtime import SeedLike, make_rng, run

__all__ = ["importance"]


def importance(
    model: Callable[..., Any],
    *args: Any,
    num_particles: int,
    guide: Optional[Callable[..., Any]] = None,
    seed: SeedLike = None,
    keep_traces: bool = False,
) -> Population:
    """Importance sampling of ``model(*args)`` with ``num_particles`` independent particles.

    Without a guide, every latent is drawn from the prior and a particle's
    log weight is its log likelihood (likelihood weighting).  With a guide (a
    generator function taking the same arguments), each particle runs
    :func:`plait.guided(model, guide) <plait.guided>`: the guide proposes
    every latent site and the weight is ``log p(x, y) - log q(x)``.  Every
    run is checked (``docs/soundness.md``): the guide must propose exactly
    the model's latent addresses (else
    :class:`~plait.errors.MissingAddressError` /
    :class:`~plait.errors.ExtraAddressError`), with the model's support and
    kind at each (:class:`~plait.errors.SupportMismatchError`), must not
    condition or propose an observed address, and observations must lie in
    their supports.  A guide may receive the model's branch decisions with
    ``yield plait.branch(name)``.  With ``keep_traces``, a guided particle's
    trace is that of the guided program (the guide's proposals, the model's
    observations, and one ``GuideWeight(address)`` factor per latent).

    Contract: ``exp(population.log_evidence)`` is an unbiased estimate of the
    evidence; ``population.expectation(f)`` is self-normalised (consistent,
    biased at finite N).  The same seed gives the same population.

    >>> import plait
    >>> def coin():
    ...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    ...     yield plait.observe("flip", plait.Bernoulli(p), 1)
    ...     return p
    >>> pop = plait.importance(coin, num_particles=4000, seed=0)
    >>> round(pop.expectation(), 1)  # exact posterior mean 2/3
    0.7
    """
    if isinstance(num_particles, bool) or not isinstance(num_particles, (int, np.integer)) or num_particles < 1:
        raise ValueError(f"importance: num_particles must be a positive int, got {num_particles!r}")
    rng = make_rng(seed)
    program = model if guide is None else guided(model, guide)
    values = []
    log_weights = np.empty(num_particles)
    traces: Optional[list] = [] if keep_traces else None
    for i in range(num_particles):
        trace = run(program, *args, handlers=(TraceHandler(),), seed=rng).trace
        log_weights[i] = trace.log_likelihood
        values.append(trace.value)
        if traces is not None:
            traces.append(trace)
    return Population(values=values, log_weights=log_weights, traces=traces)


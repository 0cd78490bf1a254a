"""Forward simulation and log-density evaluation."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from ..handlers.replay import Substitute
from ..handlers.trace import Trace, TraceHandler
from ..handlers.runloop import run
from ..handlers.seed import SeedLike

__all__ = ["simulate", "log_density"]


def simulate(model: Callable[..., Any], *args: Any, seed: SeedLike = None) -> Trace:
    """Run ``model(*args)`` forward once and return its :class:`~plait.handlers.trace.Trace`.

    Every latent site is drawn from its prior; observations and factors only
    weight the run.  The same ``seed`` gives the same trace; ``seed=None``
    draws fresh entropy from the operating system.

    >>> import plait
    >>> def coin():
    ...     p = yield plait.sample("p", plait.Beta(2.0, 2.0))
    ...     yield plait.observe("flip", plait.Bernoulli(p), 1)
    ...     return p
    >>> t = plait.simulate(coin, seed=42)
    >>> t.value == t["p"], t.log_joint == t.log_prior + t.log_likelihood
    (True, True)
    """
    rng = np.random.default_rng() if seed is None else seed
    trace: Trace = run(model, *args, handlers=(TraceHandler(),), seed=rng).trace
    return trace


def log_density(
    model: Callable[..., Any], args: Sequence[Any], choices: Mapping[Hashable, Any]
) -> float:
    """Return the log joint density of ``model(*args)`` at the latent values ``choices``.

    ``choices`` maps every latent address to its value (a
    :attr:`Trace.latents` works).  A latent site without a value raises
    :class:`~plait.errors.MissingAddressError`; a value for an address the
    program never samples raises :class:`~plait.errors.ExtraAddressError`.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(x, 1.0), 1.0)
    >>> round(plait.log_density(model, (), {"x": 1.0}), 6)
    -2.337877
    """
    handlers = (Substitute(choices, strict=True), TraceHandler())
    log_joint: float = run(model, *tuple(args), handlers=handlers).trace.log_joint
    return log_joint

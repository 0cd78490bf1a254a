"""The state MH kernels act on: a target program, its traces, and one run's context.

A Metropolis–Hastings kernel moves from one trace of the model to another.
It never edits a trace: it proposes new latent values and *regenerates* the
program with them (:meth:`Target.regenerate`), so every change downstream of
the edited sites (different distributions, sites that appear or vanish) is
seen by re-execution, as in lightweight MH (Wingate et al.).

A target can be truncated after its first ``k`` observations and factors:
resample-move SMC rejuvenates partial traces with the same kernels.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional

import attrs
import numpy as np

from ...effects.records import UNSET, Effect, Factor, Observe, Sample
from ...errors import InitializationError
from ...handlers.base import Handler
from ...handlers.trace import Trace
from ...handlers.runloop import Execution, answer_log
from ...handlers.base import start

__all__ = ["Target", "MHState", "Context", "AtSite"]


class AtSite:
    """A latent value that depends on the distribution its site samples: ``resolve(dist)``.

    A gradient kernel moves a block on unconstrained space, and a site's
    value is its transform onto the support of the distribution the run
    meets there; :meth:`Target.regenerate` calls ``resolve`` at the site, so
    one run both maps the block to its values and records the new trace.

    >>> import plait, numpy as np
    >>> def model():
    ...     return (yield plait.sample("s", plait.Exponential(1.0)))
    >>> double_mean = AtSite(lambda dist: 2.0 * dist.mean)
    >>> Target(model, ()).regenerate({"s": double_mean}, np.random.default_rng(0)).value
    2.0
    """

    __slots__ = ("resolve",)

    def __init__(self, resolve: Callable[[Any], Any]) -> None:
        self.resolve = resolve


class _Stopped(BaseException):
    """Ends a truncated run.  A BaseException, so models cannot catch it."""


class _ZeroDensity(BaseException):
    """Ends a run at a proposed value outside its site's support."""


class _Fix(Handler):
    """Give samples the values in ``values``; a ``changed`` one outside its support ends the run.

    Checking proposed values where they are sampled keeps a zero-density
    proposal from reaching model code that cannot take it (a ``Bernoulli(p)``
    with p > 1 raises).  Unchanged values were valid already.
    """

    def __init__(self, values: Mapping[Hashable, Any], changed: Any, stop_when_checked: bool) -> None:
        self.values = values
        self.changed = changed
        self.stop_when_checked = stop_when_checked

    def begin(self) -> None:
        self.checked = 0

    def handle(self, effect: Effect) -> Any:
        if type(effect) is Sample and effect.value is UNSET:
            name = effect.name
            if name in self.values:
                value = self.values[name]
                if type(value) is AtSite:
                    value = value.resolve(effect.dist)
                if name in self.changed:
                    if not np.sum(effect.dist.log_prob(value)) > -math.inf:
                        raise _ZeroDensity()
                    self.checked += 1
                    if self.stop_when_checked and self.checked == len(self.changed):
                        raise _Stopped()
                effect = effect.with_value(value)
        return self.fwd(effect)


class _StopAfter(Handler):
    """Stop the run at the first effect after the ``count``-th observation or factor."""

    def __init__(self, count: int) -> None:
        self.count = count

    def begin(self) -> None:
        self.seen = 0

    def handle(self, effect: Effect) -> Any:
        if self.seen >= self.count:
            raise _Stopped()
        if type(effect) in (Observe, Factor):
            self.seen += 1
        return self.fwd(effect)


@attrs.frozen(eq=False)
class MHState:
    """A point of the chain: a trace of the target and its answer log.

    >>> import plait, numpy as np
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> s = Target(model, ()).regenerate({"x": 0.5}, np.random.default_rng(0))
    >>> s.latents, s.value, round(s.log_joint, 4)
    ({'x': 0.5}, 0.5, -1.0439)
    """

    trace: Trace
    #: ``(effect, answer)`` in visit order, as a positional replay prefix.
    answers: list[Any]
    log_joint: float

    @property
    def latents(self) -> Dict[Hashable, Any]:
        """Address → value of the latent sites."""
        return self.trace.latents

    @property
    def value(self) -> Any:
        """The program's return value in this trace."""
        return self.trace.value

    @property
    def observations(self) -> Dict[Hashable, Any]:
        """Address → observed value of the observed sites."""
        return self.trace.observations


@attrs.frozen(eq=False)
class Target:
    """The program a chain explores: ``model(*args)``, truncated after ``stop_after`` weights.

    >>> import plait, numpy as np
    >>> def model():
    ...     x = yield plait.sample("x", plait.Normal(0, 1))
    ...     yield plait.observe("y", plait.Normal(x, 1), 0.0)
    ...     yield plait.sample("z", plait.Normal(0, 1))
    >>> partial = Target(model, (), stop_after=1).regenerate({}, np.random.default_rng(0))
    >>> list(partial.trace)
    ['x', 'y']
    """

    model: Callable[..., Any]
    args: tuple[Any, ...]
    stop_after: Optional[int] = None

    def regenerate(self, values: Mapping[Hashable, Any], rng: np.random.Generator, changed: Any = (),
                   stop_when_checked: bool = False) -> MHState:
        """Run the target with latent ``values`` where it samples those addresses (an :class:`AtSite` resolved there).

        Sites without a value are drawn from their prior with ``rng``; values
        for addresses the run does not reach are ignored.  A value at an
        address in ``changed`` (a proposal) outside its site's support gives
        a state of log joint ``-inf`` at once; ``stop_when_checked`` ends
        the run once every changed value has been checked (a support test).
        """
        execution = Execution(rng, record_answers=True)
        handlers: tuple[Any, ...] = (_Fix(values, changed, stop_when_checked),)
        if self.stop_after is not None:
            handlers += (_StopAfter(self.stop_after),)
        dispatch, expand, _ = execution.bind(handlers, execution.base, True)
        dispatch = answer_log((), dispatch, execution.answers)
        try:
            value = execution.drive(start(self.model, self.args), dispatch, expand)
        except _Stopped:
            value = None
        except _ZeroDensity:
            return MHState(Trace(None, execution.record, frozenset(execution.hidden)), execution.answers, -math.inf)  # type: ignore[arg-type]
        trace = Trace(value, execution.record, frozenset(execution.hidden))
        return MHState(trace, execution.answers, trace.log_joint)  # type: ignore[arg-type]

    def initial_state(self, rng: np.random.Generator, init: Optional[Mapping[Hashable, Any]] = None,
                      attempts: int = 100) -> MHState:
        """A state of positive density: ``init`` (completed from the prior), or a prior draw.

        Raises :class:`~plait.errors.InitializationError` naming the site
        that makes the density zero, rather than letting a chain reject
        forever.
        """
        tries = 1 if init is not None else attempts
        state = None
        for _ in range(tries):
            state = self.regenerate(init or {}, rng)
            if state.log_joint > -math.inf:
                return state
            if math.isnan(state.log_joint):
                break
        raise InitializationError(_zero_density_message(state, init is not None, tries))  # type: ignore[arg-type]


def _zero_density_message(state: MHState, given: bool, tries: int) -> str:
    culprit = "a factor" if not state.trace.choices else None
    for address, site in state.trace.choices.items():
        lp = np.sum(site.dist.log_prob(site.value))
        if not lp > -math.inf:
            kind = "observed" if site.observed else "latent"
            culprit = f"{kind} site {address!r} ~ {site.dist!r} at value {site.value!r} (log density {lp})"
            break
    else:
        for address, lw in state.trace.factors.items():
            if not np.sum(lw) > -math.inf:
                culprit = f"factor {address!r} (log weight {lw})"
                break
    where = "the given init" if given else f"{tries} draws from the prior"
    return (
        f"MH cannot start: {where} gave a trace of zero density; {culprit} is impossible. "
        "Pass init={address: value} with a value of positive density, or check the observations."
    )


class Context:
    """One run's random source and bookkeeping: acceptance counts, cycle positions, step sizes.

    >>> ctx = Context(Target(lambda: iter(()), ()), np.random.default_rng(0))
    >>> ctx.count("k", True); ctx.count("k", False); ctx.acceptance()
    {'k': 0.5}
    """

    def __init__(self, target: Target, rng: np.random.Generator, adapting: bool = False) -> None:
        self.target = target
        self.rng = rng
        #: While true (burn-in), kernels may tune their step sizes.
        self.adapting = adapting
        self.accepted: Dict[str, List[int]] = {}
        self.positions: Dict[int, int] = {}
        self.scales: Dict[Any, float] = {}
        #: How many burn-in steps the chain driver runs (kernels plan their warmup windows on it).
        self.burn_in = 0
        #: Per-run state of kernels that need more than a step width (gradient kernels), by kernel id.
        self.kernel_state: Dict[int, Any] = {}
        #: Statistics of the latest transition, by name (``diverging``, ``energy``...); the
        #: chain driver keeps them per draw as the chain's ``sample_stats``.
        self.stats: Dict[str, Any] = {}
        self.kept_stats: List[Dict[str, Any]] = []
        #: Divergent transitions so far (counted for the progress bar).
        self.divergences = 0

    def count(self, label: str, accepted: bool) -> None:
        """Record one proposal of the kernel ``label``."""
        tally = self.accepted.setdefault(label, [0, 0])
        tally[0] += bool(accepted)
        tally[1] += 1

    def acceptance(self) -> Dict[str, float]:
        """Kernel label → fraction of proposals accepted."""
        return {label: a / n for label, (a, n) in self.accepted.items() if n}

"""The trace handler and the Trace record it produces."""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable, Dict, Hashable, Iterator, Mapping, NamedTuple

import attrs

from ..effects.records import Branch, Deterministic, Effect, Factor, Observe, Param, Sample
from .base import Handler, HandledModel

__all__ = ["Site", "Trace", "TraceHandler", "trace"]


class Site(NamedTuple):
    """One recorded choice: its value, its distribution, and whether it was observed.

    A named tuple rather than an attrs record: it is cheap to build and
    unpacks like the ``(value, dist, observed)`` tuple the issue describes.

    >>> import plait
    >>> s = Site(0.5, plait.Normal(0, 1), False)
    >>> round(s.log_prob, 4)
    -1.0439
    """

    value: Any
    dist: Any
    observed: bool

    @property
    def log_prob(self) -> Any:
        """``dist.log_prob(value)``."""
        return self.dist.log_prob(self.value)




def _total(values: Any) -> float:
    total = 0.0
    for value in values:
        total += float(value) if not hasattr(value, "sum") else float(value.sum())
    return total


_CHOICE_KINDS = (Sample, Observe)


@attrs.frozen(slots=False, eq=False)
class Trace:
    """The record of one run: return value, ordered choices, factors and log densities.

    ``record`` maps each address, in visit order, to ``(answer, effect)`` as
    a handler saw it; everything else is derived from it on first use.
    ``choices`` maps sample and observe addresses to a :class:`Site`
    ``(value, dist, observed)``; ``log_prior`` sums the latent sites,
    ``log_likelihood`` the observed sites and factors, and ``log_joint``
    both.  ``trace[address]`` is the value of a choice, deterministic or
    param.  Addresses in ``hidden`` (sites a block hid from this trace) are
    left out of every view.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Bernoulli(0.25))
    ...     yield plait.observe("y", plait.Bernoulli(0.5), 1)
    ...     return x
    >>> t = plait.simulate(model, seed=0)
    >>> round(t.log_likelihood, 6), t["y"], list(t)
    (-0.693147, 1, ['x', 'y'])
    """

    value: Any
    record: Mapping[Hashable, tuple[Any, ...]] = attrs.field(repr=False)
    hidden: frozenset[Any] = attrs.field(default=frozenset(), repr=False)

    def _entries(self, kinds: Any) -> Iterator[tuple[Any, ...]]:
        hidden = self.hidden
        for address, (answer, effect) in self.record.items():
            if isinstance(effect, kinds) and address not in hidden:
                yield address, answer, effect

    @functools.cached_property
    def choices(self) -> Mapping[Hashable, Site]:
        """Address → :class:`Site` for every sample and observation, in visit order."""
        return {
            address: Site(answer, effect.dist, type(effect) is Observe)
            for address, answer, effect in self._entries(_CHOICE_KINDS)
        }

    @functools.cached_property
    def factors(self) -> Mapping[Hashable, Any]:
        """Address → log weight of every factor."""
        return {a: e.log_weight for a, _, e in self._entries(Factor)}

    @functools.cached_property
    def deterministics(self) -> Mapping[Hashable, Any]:
        """Address → value of every deterministic site."""
        return {a: v for a, v, _ in self._entries(Deterministic)}

    @functools.cached_property
    def branches(self) -> Mapping[Hashable, bool]:
        """Address → decision of every :func:`plait.branch`, in visit order.

        >>> import plait
        >>> def model():
        ...     yield plait.branch("b", 1 > 0)
        >>> plait.simulate(model, seed=0).branches
        {'b': True}
        """
        return {a: v for a, v, _ in self._entries(Branch)}

    @functools.cached_property
    def params(self) -> Mapping[Hashable, Any]:
        """Address → value of every param."""
        return {a: v for a, v, _ in self._entries(Param)}

    def __getitem__(self, address: Hashable) -> Any:
        entry = self.record.get(address)
        if (
            entry is None
            or address in self.hidden
            or not isinstance(entry[1], (Sample, Observe, Deterministic, Param))
        ):
            raise KeyError(f"address {address!r} is not a choice, deterministic or param of this trace")
        return entry[0]

    def __contains__(self, address: object) -> bool:
        return address in self.choices

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.choices)

    def __len__(self) -> int:
        return len(self.choices)

    @property
    def latents(self) -> Dict[Hashable, Any]:
        """Address → value of the unobserved sample sites, in visit order."""
        return {a: s.value for a, s in self.choices.items() if not s.observed}

    @property
    def observations(self) -> Dict[Hashable, Any]:
        """Address → value of the observed sites, in visit order."""
        return {a: s.value for a, s in self.choices.items() if s.observed}

    @functools.cached_property
    def log_prior(self) -> float:
        """Sum of the log densities of the latent sites."""
        return _total(s.dist.log_prob(s.value) for s in self.choices.values() if not s.observed)

    @functools.cached_property
    def log_likelihood(self) -> float:
        """Sum of the log densities of the observed sites plus all factors."""
        observed = _total(s.dist.log_prob(s.value) for s in self.choices.values() if s.observed)
        return observed + _total(self.factors.values())

    @property
    def log_joint(self) -> float:
        """``log_prior + log_likelihood`` (``-inf`` if either is)."""
        prior, likelihood = self.log_prior, self.log_likelihood
        if prior == -math.inf or likelihood == -math.inf:
            return -math.inf
        return prior + likelihood

    def __repr__(self) -> str:
        sites = ", ".join(
            f"{a!r}{'=' if s.observed else ':'}{_short(s.value)}" for a, s in self.choices.items()
        )
        return f"Trace(value={_short(self.value)}, choices={{{sites}}})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class TraceHandler(Handler):
    """Record every effect that passes through, and publish a :class:`Trace`.

    The trace is published as ``result.trace`` (the outermost trace handler
    wins when several are stacked).  The outermost handler of a run sees
    exactly what the base interpreter records, minus what a block hid, so it
    reads that record instead of keeping a second one: tracing a run costs
    nothing per effect.

    >>> import plait
    >>> def model():
    ...     yield plait.sample("x", plait.Normal(0, 1))
    >>> list(plait.run(model, handlers=[TraceHandler()], seed=0).trace)
    ['x']
    """

    def begin(self) -> None:
        run = self.run
        if self.fwd is run.base:
            self.start = len(run.record)
            self.handle = self.fwd  # type: ignore[method-assign]
        else:
            self.record: Dict[Hashable, tuple[Any, Effect]] = {}

    def handle(self, effect: Effect) -> Any:
        answer = self.fwd(effect)
        self.record[effect.name] = (answer, effect)  # type: ignore[union-attr]  # (a Handled never reaches a handler)
        return answer

    def end(self, result: Any) -> None:
        if "record" in self.__dict__:
            trace = Trace(result.value, self.record)
        else:
            run = self.run
            if self.start == 0:
                record = dict(run.record)
            else:
                record = dict(itertools.islice(run.record.items(), self.start, None))
            hidden = frozenset(a for a in run.hidden if a in record)
            trace = Trace(result.value, record, hidden)
        result.outputs.append((self, trace))


def trace(model: Callable[..., Any]) -> HandledModel:
    """Apply :class:`TraceHandler` to ``model``; run it and read ``result.trace``.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Bernoulli(1.0)))
    >>> plait.run(plait.handlers.trace(model), seed=0).trace["x"]
    1
    """
    return HandledModel(model, TraceHandler())

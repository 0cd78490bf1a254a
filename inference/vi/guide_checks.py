"""Model/guide checks: does a guide (or proposal) cover its model, site by site?

Importance sampling, SMC with proposals, custom-proposal MH and VI are only
correct when the proposal and the model put positive density on the same
traces, with densities taken against the same base measure
(``docs/soundness.md``).  This module holds the checks every such inference
runs, and nothing else, so each algorithm calls the same code and reports the
same messages:

* :func:`check_site` — one latent address: the model's and the guide's
  distributions must have the same kind (discrete or continuous), the same
  value shape and, by default, the **same support** (compared structurally:
  ``Interval(0, inf) == positive``).  ``relation="covers"`` relaxes this to
  "the proposal's support contains the model's" (MH, where out-of-support
  proposals are simply rejected).
* :func:`check_observation` — an observed value must lie in its support.
* :func:`check_guide_effect` — a guide may only sample: ``observe`` and
  ``factor`` raise :class:`~plait.errors.GuideConditioningError`.
* :func:`check_traces` — the trace-level check after a model and a guide
  have both run (address sets equal, every shared site checked, observed
  addresses never proposed).

Every error is a :class:`~plait.errors.SoundnessError` (or the existing
:class:`~plait.errors.MissingAddressError` / ``ExtraAddressError`` /
``DuplicateAddressError``) whose message names the address, both
distributions and both supports; ``error.address`` holds the address.
Distributions whose support is unknown (``support`` raises
``NotImplementedError``) are not compared.

>>> import plait
>>> from plait.inference.vi.guide_checks import check_site
>>> check_site("w", plait.Gamma(2.0, 1.0), plait.Gamma(2.0, 0.25))  # same support: fine
>>> check_site("w", plait.Gamma(2.0, 1.0), plait.Uniform(0.0, 1.0))
Traceback (most recent call last):
...
plait.errors.SupportMismatchError: address 'w': model samples Gamma(shape=2.0, rate=1.0) with support PositiveReal (0, inf) [continuous], guide samples Uniform(low=0.0, high=1.0) with support UnitInterval (0, 1) [continuous]: the supports differ, so the guide never proposes part of the model's support (the estimate would be silently biased); use a guide family with the model's support
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping, Optional

import numpy as np

from ...effects.distributions.supports import FiniteSet, Interval, IntRange, Real, Support
from ...effects.records import Factor, Observe
from ...errors import (
    ExtraAddressError,
    GuideConditioningError,
    MissingAddressError,
    ObservationSupportError,
    ObservedAddressError,
    SupportMismatchError,
)

__all__ = [
    "support_of",
    "covers",
    "describe",
    "check_site",
    "check_observation",
    "check_guide_effect",
    "check_traces",
    "error",
]

EQUAL = "equal"
COVERS = "covers"


def error(kind: type, address: Hashable, message: str) -> Exception:
    """An instance of ``kind`` with ``message`` and ``.address`` set (for any plait error class).

    >>> import plait
    >>> error(plait.MissingAddressError, "x", "no x").address
    'x'
    """
    err: Exception = kind(message)
    err.address = address  # type: ignore[attr-defined]  # (any exception class takes the attribute)
    return err


def support_of(dist: Any) -> Optional[Support]:
    """``dist.support``, or None when the distribution does not know it.

    >>> import plait
    >>> support_of(plait.Beta(2.0, 2.0))
    UnitInterval (0, 1) [continuous]
    """
    try:
        support = dist.support
    except NotImplementedError:
        return None
    return support if isinstance(support, Support) else None


def describe(dist: Any) -> str:
    """``dist`` with its support, as the error messages print it.

    >>> import plait
    >>> describe(plait.Bernoulli(0.5))
    'Bernoulli(p=0.5) with support Boolean {0, 1} [discrete]'
    """
    support = support_of(dist)
    return f"{dist!r} with support {support!r}" if support is not None else f"{dist!r} (support unknown)"


def _le(a: Any, b: Any) -> bool:
    return bool(np.all(np.asarray(a, dtype=float) <= np.asarray(b, dtype=float)))


def covers(outer: Support, inner: Support) -> bool:
    """True when the set ``outer`` contains the set ``inner`` and both have the same base measure.

    >>> from plait.effects.distributions.supports import real, positive, unit_interval, boolean, IntRange
    >>> covers(real, positive), covers(unit_interval, positive), covers(IntRange(0, 5), boolean)
    (True, False, True)
    >>> covers(real, boolean)  # Lebesgue against counting measure: never
    False
    """
    if outer.is_discrete != inner.is_discrete or outer.event_dim != inner.event_dim:
        return False
    if outer == inner:
        return True
    if isinstance(outer, Real):
        return isinstance(inner, (Real, Interval))
    if isinstance(outer, Interval) and isinstance(inner, Interval):
        return _le(outer.low, inner.low) and _le(inner.high, outer.high)
    if isinstance(outer, IntRange):
        if isinstance(inner, IntRange):
            return _le(outer.low, inner.low) and _le(inner.high, outer.high)
        if isinstance(inner, FiniteSet):
            return _le(outer.low, min(inner.values)) and _le(max(inner.values), outer.high)
    if isinstance(outer, FiniteSet):
        if isinstance(inner, FiniteSet):
            return set(inner.values) <= set(outer.values)
        if isinstance(inner, IntRange) and np.ndim(inner.low) == 0 and np.isfinite(float(inner.high)):
            return set(range(int(inner.low), int(inner.high) + 1)) <= set(outer.values)
    return False


def _shape(dist: Any) -> Optional[tuple[Any, ...]]:
    try:
        return tuple(dist.batch_shape) + tuple(dist.event_shape)
    except (AttributeError, TypeError, NotImplementedError):
        return None


def check_site(
    address: Hashable,
    model_dist: Any,
    guide_dist: Any,
    *,
    relation: str = EQUAL,
    guide_role: str = "guide",
) -> None:
    """Raise :class:`~plait.errors.SupportMismatchError` unless ``guide_dist`` may propose for ``model_dist``.

    Checks, in order: the base-measure kind (discrete against continuous is
    never allowed), the value shape, then the supports — equal by default
    (IS, SMC, VI), or the guide's containing the model's with
    ``relation="covers"`` (MH).  ``guide_role`` names the proposing program
    in the message ("guide", "proposal 'nudge'").

    >>> import plait
    >>> check_site("x", plait.Gamma(2.0, 1.0), plait.Normal(0.0, 1.0), relation="covers")
    >>> check_site("n", plait.Poisson(3.0), plait.Gamma(3.0, 1.0))
    Traceback (most recent call last):
    ...
    plait.errors.SupportMismatchError: address 'n': model samples Poisson(rate=3.0) with support Naturals {0, 1, 2, ...} [discrete], guide samples Gamma(shape=3.0, rate=1.0) with support PositiveReal (0, inf) [continuous]: the kinds differ (discrete against continuous), so the density ratio compares a counting measure with a Lebesgue measure
    """
    if relation not in (EQUAL, COVERS):
        raise ValueError(f"check_site: relation must be 'equal' or 'covers', got {relation!r}")
    model_support = support_of(model_dist)
    guide_support = support_of(guide_dist)
    if model_support is None or guide_support is None:
        return
    head = (
        f"address {address!r}: model samples {describe(model_dist)}, "
        f"{guide_role} samples {describe(guide_dist)}"
    )
    if model_support.is_discrete != guide_support.is_discrete:
        raise error(
            SupportMismatchError, address,
            f"{head}: the kinds differ (discrete against continuous), so the density ratio "
            "compares a counting measure with a Lebesgue measure",
        )
    model_shape, guide_shape = _shape(model_dist), _shape(guide_dist)
    if model_shape is not None and guide_shape is not None and model_shape != guide_shape:
        raise error(
            SupportMismatchError, address,
            f"{head}: the value shapes differ ({model_shape} against {guide_shape})",
        )
    if model_support == guide_support:
        return
    if relation == COVERS:
        if covers(guide_support, model_support):
            return
        raise error(
            SupportMismatchError, address,
            f"{head}: the support of the {guide_role} does not contain the model's, so the chain "
            "never reaches part of the posterior; propose from a family whose support contains "
            "the model's",
        )
    raise _mismatch(head, address, model_support, guide_support, guide_role)


def _mismatch(head: str, address: Hashable, model_support: Support, guide_support: Support,
              guide_role: str) -> Exception:
    if covers(guide_support, model_support):
        why = (
            f"the supports differ: the {guide_role} proposes values where the model's density is "
            "zero (strict check: the supports must be equal)"
        )
    else:
        why = (
            f"the supports differ, so the {guide_role} never proposes part of the model's support "
            f"(the estimate would be silently biased); use a {guide_role} family with the model's support"
        )
    return error(SupportMismatchError, address, f"{head}: {why}")


def check_observation(address: Hashable, dist: Any, value: Any) -> None:
    """Raise :class:`~plait.errors.ObservationSupportError` if ``value`` is outside ``dist``'s support.

    >>> import plait
    >>> check_observation("y", plait.Bernoulli(0.3), 1)
    >>> check_observation("y", plait.Bernoulli(0.3), 1.5)
    Traceback (most recent call last):
    ...
    plait.errors.ObservationSupportError: observed value 1.5 at 'y' is outside the support Boolean {0, 1} [discrete] of Bernoulli(p=0.3)
    """
    support = support_of(dist)
    if support is None:
        return
    inside = support.contains(value)
    if not bool(np.all(inside)):
        raise error(
            ObservationSupportError, address,
            f"observed value {value!r} at {address!r} is outside the support {support!r} of {dist!r}",
        )


def check_guide_effect(address: Hashable, effect: Any, guide_role: str = "guide") -> None:
    """Raise :class:`~plait.errors.GuideConditioningError` if a guide's ``effect`` conditions.

    >>> import plait
    >>> check_guide_effect("bonus", plait.factor("bonus", 1.0))
    Traceback (most recent call last):
    ...
    plait.errors.GuideConditioningError: the guide conditions at 'bonus' (factor); a guide must only sample, since importance weights assume a normalised proposal
    """
    if isinstance(effect, (Observe, Factor)):
        raise error(
            GuideConditioningError, address,
            f"the {guide_role} conditions at {address!r} ({type(effect).__name__.lower()}); a "
            f"{guide_role} must only sample, since importance weights assume a normalised proposal",
        )


def check_traces(model_trace: Any, guide_trace: Any, *, relation: str = EQUAL) -> None:
    """The trace-level check: ``guide_trace`` proposes exactly the latent sites of ``model_trace``.

    Both are :class:`~plait.handlers.Trace` objects of one run each.  Raises
    on a guide that conditions, proposes an observed address, proposes an
    address the model does not sample, misses a model latent, or whose
    distribution fails :func:`check_site`; observations must lie in their
    supports.

    >>> import plait
    >>> def model():
    ...     w = yield plait.sample("w", plait.Gamma(2.0, 1.0))
    ...     yield plait.observe("m", plait.Normal(w, 0.2), 0.5)
    >>> def guide():
    ...     yield plait.sample("w", plait.Gamma(2.0, 4.0))
    >>> g = plait.simulate(guide, seed=0)
    >>> m = plait.run(plait.handlers.substitute(model, g.latents), handlers=[plait.handlers.TraceHandler()]).trace
    >>> check_traces(m, g)
    """
    for address, (_, effect) in guide_trace.record.items():
        check_guide_effect(address, effect)
    model_sites: Mapping[Hashable, Any] = model_trace.choices
    guide_sites: Mapping[Hashable, Any] = guide_trace.choices
    for address, site in model_sites.items():
        if site.observed:
            if address in guide_sites:
                raise error(
                    ObservedAddressError, address,
                    f"the guide samples {address!r} ~ {describe(guide_sites[address].dist)}, which "
                    f"the model observes ({describe(site.dist)}); observed addresses are never proposed",
                )
            check_observation(address, site.dist, site.value)
        elif address not in guide_sites:
            raise error(
                MissingAddressError, address,
                f"model sampled latent {address!r} ~ {describe(site.dist)} but the guide did not propose it",
            )
        else:
            check_site(address, site.dist, guide_sites[address].dist, relation=relation)
    for address, site in guide_sites.items():
        if address not in model_sites:
            latents = [a for a, s in model_sites.items() if not s.observed]
            raise error(
                ExtraAddressError, address,
                f"guide proposed {address!r} ~ {describe(site.dist)} which the model never samples "
                f"on this run; model latent addresses on this run: {latents!r}",
            )

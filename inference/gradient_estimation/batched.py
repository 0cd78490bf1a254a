"""Batched GradInf: many independent estimates as the lanes of one batched program.

``plait.gradinf(model, θ, num_samples=K)`` asks for K independent estimates;
they are lanes (issue "Batched execution").  Two batched runs of the model
(:class:`~plait.handlers.batched.BatchedRun`) carry them:

* the **primal run**, K lanes at θ, one per estimate: each lane is A, drawn
  live; its sites, with their laws and values, are recorded per segment
  (the stretch up to the next loop, and each loop step);
* the **coupled run**, at θ + ε (a :class:`~plait.gradients.dual.Dual`, so
  lane values hold duals), whose lanes are the B paths of every estimate.
  Each lane carries its estimate, its first-order weight and its
  observations' log-weight.  At a sample site every lane is coupled with
  its estimate's A site of the same address (the first one after the last
  it matched, as the per-estimate engine matches them), by the lane form of
  the site's coupling; a lane with several outcomes becomes one lane per
  outcome (:meth:`~plait.handlers.batched.Group.narrow` with repeats), each
  answered its outcome.

The two runs stop at every ``iterate``/``fold`` loop; its steps run in
lockstep, each one a batched program per group (the step's own splits
merge when it returns), and after every step the B lanes go through the
inference's lane resampler (:mod:`.lane_weights`), which only ever combines
the paths of one estimate.  At the end, every estimate is
``Σ_i w_i (F(B_i) − F(A))`` over its lanes (or ``Score``'s formula).

Statistical contract: each estimate is the per-estimate engine's estimator
(the same couplings, the same matching of sites, properly weighted
resamplers, exact merges), so it is unbiased for the same derivative; the
estimates are independent.  They are not bit-identical to the per-estimate
engine's, whose random streams differ (one stream per run here, drawn by
arrays).

What is not batched raises :class:`Unbatchable` before any result is
returned, and the caller runs the per-estimate engine instead: loops whose
primal paths differ between estimates, ``plait.resample_point``,
``plait.independent``, nested loops, a B site with no A partner on a
continuous family, and couplings without a lane form (reflection, layers of
coins, finite families other than Bernoulli/Categorical).

>>> import plait
>>> def flips(theta):
...     total = 0
...     for i in range(10):
...         total += yield plait.sample(("b", i), plait.Bernoulli(theta))
...     return total
>>> result = plait.gradinf(flips, 0.3, num_samples=2000, seed=0)
>>> result.engine, abs(result.mean - 10.0) < 4 * result.standard_error
('batched', True)
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

import numpy as np

from ...effects.distributions import Bernoulli, Categorical, Exponential, Normal
from ...effects.distributions.batching import draw, has_lanes, lowered
from ...effects.lanes import Lanes, lane_data
from ...effects.records import RESAMPLE_POINT, UNSET, Deterministic, Factor, IndependentRuns, Loop, Observe
from ...errors import EffectTypeError, GradInfError
from ...gradients.dual import Dual, new, stop_gradient
from ...handlers.batched import BatchedRun, Group, joined, logging_on_split, read_lanes, rewinder
from ...handlers.scope import LoopStep
from .lane_weights import LanePaths, div, is_zero, mul, sign
from .sites import coupled_law

__all__ = ["Unbatchable", "batched_estimates"]


class Unbatchable(Exception):
    """The model (or the inference) has a part batched GradInf does not run; the per-estimate engine will.

    >>> str(Unbatchable("a resampling point"))
    'a resampling point'
    """


_NESTED = ("gradinf: loops and resampling points inside loop kernels are not supported "
           "(a loop step already ends with one)")

Pair = Tuple[np.ndarray, np.ndarray]


# ---------------------------------------------------------------------------
# lane values as (primal, tangent) arrays
# ---------------------------------------------------------------------------

def _data(x: Any, n: int, group: Group) -> Any:
    """``x`` as lane data of ``group``'s ``n`` lanes (axis 0 the lane): an array or a Dual of arrays."""
    if type(x) is Lanes:
        return group.view(x)
    if type(x) is Dual:
        p = np.asarray(x.primal)
        t = x.tangent
        shape = (n,) + p.shape
        tangent = None if t is None else np.broadcast_to(np.asarray(t)[:, None], (t.shape[0],) + shape)
        return new(np.broadcast_to(p, shape), tangent, x.tag)
    a = np.asarray(x)
    return np.broadcast_to(a, (n,) + a.shape)


def _pair(data: Any) -> Pair:
    """Primal and (one-direction) tangent arrays of lane data."""
    if type(data) is Dual:
        p = np.asarray(stop_gradient(data.primal), dtype=float)
        t = data.tangent
        if t is None:
            return p, np.zeros_like(p)
        t = np.asarray(stop_gradient(t), dtype=float)
        if t.shape[0] != 1:
            raise EffectTypeError("GradInf runs one tangent direction per pass; got a dual with "
                                  f"{t.shape[0]} directions")
        return p, t[0]
    p = np.asarray(data, dtype=float)
    return p, np.zeros_like(p)


def _per_lane_total(data: Any, n: int) -> Pair:
    """One (primal, tangent) per lane: ``data`` summed over each lane's own axes."""
    v, t = _pair(data)
    v = np.broadcast_to(v, (n,) + v.shape[1:]) if v.ndim else np.full(n, float(v))
    t = np.broadcast_to(t, v.shape)
    if v.ndim > 1:
        return v.reshape(n, -1).sum(axis=1), t.reshape(n, -1).sum(axis=1)
    return np.array(v, dtype=float), np.array(t, dtype=float)


def _concatenated(parts: List[Any]) -> Any:
    """Lane data of several groups, one after the other (duals keep their tangents)."""
    if not any(type(p) is Dual for p in parts):
        return np.concatenate([np.asarray(p) for p in parts])
    tag = max(p.tag for p in parts if type(p) is Dual)
    primals = [np.asarray(stop_gradient(p.primal) if type(p) is Dual else p, dtype=float) for p in parts]
    tangents = []
    for p, primal in zip(parts, primals):
        t = p.tangent if type(p) is Dual else None
        tangents.append(np.zeros((1,) + primal.shape) if t is None else np.asarray(t))
    return new(np.concatenate(primals), np.concatenate(tangents, axis=1), tag)


# ---------------------------------------------------------------------------
# the primal run's sites
# ---------------------------------------------------------------------------

class _PrimalSite:
    """One address of A's segment, over the estimates that reached it (dense, by estimate)."""

    __slots__ = ("position", "value", "law", "params")

    def __init__(self, estimates: int) -> None:
        self.position = np.full(estimates, -1, dtype=np.int64)
        self.value: Any = None
        self.law: Any = None
        self.params: Dict[str, np.ndarray] = {}


class _PrimalSites:
    """The primal run's base: draws A's sites and records them, by address, for the coupled run.

    Positions count the sites of the current segment in the order they were
    answered; each estimate runs in one group at a time, so its own sites
    get increasing positions, which is all the matching of B sites needs.
    """

    def __init__(self, estimates: int) -> None:
        self.estimates = estimates
        self.segment: Dict[Hashable, _PrimalSite] = {}
        self.count = 0

    def new_segment(self) -> None:
        """Start recording the next segment."""
        self.segment = {}
        self.count = 0

    def sample(self, group: Group, effect: Any) -> Any:
        coupling, law = coupled_law(effect.dist)
        data = draw(law, group.run.rng, group.size, group)
        site = self.segment.get(effect.name)
        if site is None:
            site = self.segment[effect.name] = _PrimalSite(self.estimates)
            site.law = law
        elif type(site.law) is not type(law):
            raise Unbatchable(f"the primal paths meet different families at {effect.name!r}")
        est = group.carried["estimate"]
        site.position[est] = np.arange(self.count, self.count + group.size)
        self.count += group.size
        plain = np.asarray(stop_gradient(data))
        if site.value is None:
            site.value = np.zeros((self.estimates,) + plain.shape[1:], dtype=plain.dtype)
        site.value[est] = plain
        for name in type(law)._param_names:
            values = np.asarray(stop_gradient(_data(getattr(law, name), group.size, group)), dtype=float)
            stored = site.params.get(name)
            if stored is None:
                stored = site.params[name] = np.zeros((self.estimates,) + values.shape[1:])
            stored[est] = values
        return data

    def answer(self, group: Group, effect: Any) -> bool:
        return False  # A's observations weigh its lanes as in any batched run

    def forked(self, run: BatchedRun) -> None:
        _check_not_per_path(run)


# ---------------------------------------------------------------------------
# the coupled run's sites: the lane forms of the couplings
# ---------------------------------------------------------------------------

Outcomes = Tuple[List[Any], List[Pair]]  # values (each: lane data), weights (each: v, t), per outcome


class _CoupledSites:
    """The coupled run's base: couples every B lane with its estimate's A site, forking lanes by outcome."""

    def __init__(self, primal: _PrimalSites, rng: np.random.Generator) -> None:
        self.primal = primal
        self.rng = rng

    def sample(self, group: Group, effect: Any) -> Any:
        coupling, law_b = coupled_law(effect.dist)
        site = self.primal.segment.get(effect.name)
        carried = group.carried
        n = group.size
        if site is None:
            return self._own_law(group, law_b, effect.name)
        position = site.position[carried["estimate"]]
        partnered = position > carried["cursor"]
        if not partnered.all():
            if not partnered.any():
                return self._own_law(group, law_b, effect.name)
            # The lanes without a partner become a group of their own (rebuilt by replay up to here).
            group.run.fork(group, np.flatnonzero(~partnered))
            group.narrow(np.flatnonzero(partnered))
            position = position[partnered]
            n = group.size
        if type(law_b) is not type(site.law):
            raise Unbatchable(f"B's family differs from A's at {effect.name!r}")
        carried["cursor"] = position
        values, weights = _couple(coupling, site, carried["estimate"], law_b, n, group, self.rng, effect.name)
        return _fork(group, values, weights, effect.name)

    def _own_law(self, group: Group, law: Any, name: Any) -> Any:
        """A draw per lane from B's own law (no A partner): plain for discrete laws, pathwise for continuous."""
        if law.is_discrete:  # drawn from the primal law: a discrete value carries no tangent
            plain = _primal_law(law, group)  # lane parameters lowered: its batch is the lanes already
            return np.asarray(plain.sample(self.rng) if has_lanes(law) else plain.sample(self.rng, (group.size,)))
        if has_lanes(law):
            return lowered(law, group).sample(self.rng)
        return law.sample(self.rng, (group.size,))

    def forked(self, run: BatchedRun) -> None:
        _check_not_per_path(run)

    def answer(self, group: Group, effect: Any) -> bool:
        kind = type(effect)
        if kind is Observe:
            lp = _log_prob(effect.dist, effect.value, group)
        elif kind is Factor:
            lp = _data(effect.log_weight, group.size, group)
        else:
            return False
        v, t = _per_lane_total(lp, group.size)
        carried = group.carried
        carried["log_v"] = carried["log_v"] + v
        carried["log_t"] = carried["log_t"] + t
        return True


def _primal_law(law: Any, group: Group) -> Any:
    """``law`` over plain lane arrays, its duals' tangents dropped (a draw of B's own law)."""
    low = lowered(law, group) if has_lanes(law) else law
    return type(low)(**{n: stop_gradient(getattr(low, n)) for n in type(low)._param_names})


def _log_prob(dist: Any, value: Any, group: Group) -> Any:
    """Each lane's log density of ``value`` under ``dist`` (duals kept), lane axis first."""
    ndim = len(dist.batch_shape) + len(dist.event_shape)
    if has_lanes(dist):
        return lowered(dist, group).log_prob(lane_data(value if type(value) is not Lanes else
                                                       Lanes(group.view(value), group), ndim))
    lp = dist.log_prob(group.view(value) if type(value) is Lanes else value)
    return lp if type(value) is Lanes else _data(lp, group.size, group)


def _fork(group: Group, values: List[Any], weights: List[Pair], name: Any) -> Any:
    """Each lane becomes one lane per outcome, its weight times the outcome's.

    As the per-estimate engine: outcomes of weight 0 are not outcomes (a lane
    with none is an error); outcomes whose product with the lane's weight is
    exactly 0 are dropped too, except the first when that leaves none, so the
    path can finish.
    """
    carried = group.carried
    v, t = carried["v"], carried["t"]
    possible = [~is_zero(qv, qt) for qv, qt in weights]
    products = [mul(v, t, qv, qt) for qv, qt in weights]
    alive = [p & ~is_zero(*w) for p, w in zip(possible, products)]
    any_possible = np.logical_or.reduce(possible)
    if not any_possible.all():
        raise GradInfError(f"the coupling at {name!r} left no outcome")
    none_alive = ~np.logical_or.reduce(alive)
    if none_alive.any():
        first = np.argmax(np.stack(possible, axis=1), axis=1)
        for j in range(len(alive)):
            alive[j] = alive[j] | (none_alive & (first == j))
    if len(values) == 1:
        carried["v"], carried["t"] = products[0]
        return values[0]
    # Lane-major order: each lane's outcomes together, in outcome order.
    lanes, outcome = np.nonzero(np.stack(alive, axis=1))
    new_v = np.stack([w[0] for w in products], axis=1)[lanes, outcome]
    new_t = np.stack([w[1] for w in products], axis=1)[lanes, outcome]
    answer = _pick(values, lanes, outcome)
    if len(lanes) != group.size or np.any(lanes != np.arange(group.size)):
        group.narrow(lanes)
    carried["v"], carried["t"] = new_v, new_t
    return answer


def _pick(values: List[Any], lanes: np.ndarray, outcome: np.ndarray) -> Any:
    """``values[outcome[i]][lanes[i]]`` for every i (each value lane data)."""
    if any(type(v) is Dual for v in values):
        v = np.stack([_pair(x)[0] for x in values], axis=1)[lanes, outcome]
        t = np.stack([_pair(x)[1] for x in values], axis=1)[lanes, outcome]
        tag = max(x.tag for x in values if type(x) is Dual)
        return new(v, t[None], tag)
    return np.stack([np.asarray(x) for x in values], axis=1)[lanes, outcome]


def _b_param(law: Any, name: str, n: int, group: Group) -> Pair:
    return _pair(_data(getattr(law, name), n, group))


def _couple(coupling: str, site: _PrimalSite, est: np.ndarray, law_b: Any, n: int, group: Group,
            rng: np.random.Generator, name: Any) -> Outcomes:
    """The outcomes of every lane's coupling with its A site: values and weights per outcome."""
    x_a = site.value[est]
    if law_b.batch_shape and not isinstance(law_b, Categorical):
        raise Unbatchable(f"a site with a batch shape at {name!r} (a layer of coins)")
    if coupling == "score":  # B keeps A's value; its weight is the likelihood ratio
        lbv, lbt = _per_lane_total(_log_prob(law_b, Lanes(x_a, group), group), n)
        try:
            law_a = type(site.law)(**{k: v[est] for k, v in site.params.items()})
        except TypeError:
            raise Unbatchable(f"{type(site.law).__name__} is not rebuilt from its parameters") from None
        lav, _ = _per_lane_total(law_a.log_prob(x_a), n)
        qv, qt = lbv - lav, lbt
        if not np.isfinite(qv).all():
            raise EffectTypeError(f"score coupling: B's and A's laws at {name!r} disagree on the support "
                                  f"at one of A's values")
        e = np.exp(qv)
        return [x_a], [(e, e * qt)]
    if coupling == "indep":
        raise EffectTypeError(
            "the 'indep' coupling draws B independently, which only makes sense for a finite "
            "difference: use plait.coupled_difference(model, theta_a, theta_b, ...) for it")
    if isinstance(law_b, Bernoulli):
        pa = site.params["p"][est]
        return _bernoulli(coupling, pa, x_a.astype(np.int64), _b_param(law_b, "p", n, group), name)
    if isinstance(law_b, Categorical):
        if site.params["probs"].ndim != 2:
            raise Unbatchable(f"a batched Categorical at {name!r}")
        pa = site.params["probs"][est]
        return _categorical(coupling, pa, x_a.astype(np.int64), _b_param(law_b, "probs", n, group), name)
    if isinstance(law_b, Exponential) and coupling in ("crn", "reparam"):
        e = x_a * site.params["rate"][est]  # the shared standard exponential
        return [e / _data(law_b.rate, n, group)], [(np.ones(n), np.zeros(n))]
    if isinstance(law_b, Normal) and coupling in ("crn", "reparam"):
        omega = (x_a - site.params["loc"][est]) / site.params["scale"][est]
        return [_data(law_b.loc, n, group) + _data(law_b.scale, n, group) * omega], [(np.ones(n), np.zeros(n))]
    if coupling in ("crn", "maxindep", "reparam", "always_flip", "reflection") and not _depends_on_theta(
            law_b, site, est, n, group):
        return [x_a], [(np.ones(n), np.zeros(n))]
    raise Unbatchable(f"no lane form of the {coupling!r} coupling for {type(law_b).__name__} at {name!r}")


def _depends_on_theta(law_b: Any, site: _PrimalSite, est: np.ndarray, n: int, group: Group) -> bool:
    """False when B's law equals A's on every lane (then B keeps A's value, as the uncoupled rule says)."""
    if type(law_b) is not type(site.law):
        return True
    for name, a in site.params.items():
        v, t = _b_param(law_b, name, n, group)
        if np.any(t != 0.0) or not np.array_equal(v, a[est]):
            return True
    return False


def _bernoulli(coupling: str, pa: np.ndarray, xa: np.ndarray, pb: Pair, name: Any) -> Outcomes:
    pbv, pbt = pb
    if coupling in ("crn", "maxindep"):  # for a coin the maximal coupling is the monotone one
        one_a = xa == 1
        up = sign(pbv - pa, pbt) > 0  # B's coin more likely than A's (lexicographically)
        # A drew 1: B stays with pb/pa (or surely if up); A drew 0: B flips with (pb-pa)/(1-pa) if up.
        ratio_v, ratio_t = div(pbv, pbt, np.where(one_a, pa, 1.0), 0.0)
        gain_v, gain_t = div(pbv - pa, pbt, np.where(one_a, 1.0, 1.0 - pa), 0.0)
        stay_v = np.where(one_a, np.where(up, 1.0, ratio_v), np.where(up, 1.0 - gain_v, 1.0))
        stay_t = np.where(one_a, np.where(up, 0.0, ratio_t), np.where(up, -gain_t, 0.0))
        flip_v = np.where(one_a, 1.0 - stay_v, np.where(up, gain_v, 0.0))
        flip_t = np.where(one_a, -stay_t, np.where(up, gain_t, 0.0))
        return [xa, 1 - xa], [(stay_v, stay_t), (flip_v, flip_t)]
    if coupling == "always_flip":
        wv = np.where(xa == 1, pa - pbv, pbv - pa)
        wt = np.where(xa == 1, -pbt, pbt)
        return [xa, 1 - xa], [(1.0 - wv, -wt), (wv, wt)]
    raise EffectTypeError(f"Bernoulli has no {coupling!r} coupling (crn, always_flip, score, indep)")


def _categorical(coupling: str, pa: np.ndarray, ia: np.ndarray, pb: Pair, name: Any) -> Outcomes:
    n, m = pa.shape
    pbv, pbt = (np.broadcast_to(x, (n, m)) for x in pb)
    rows = np.arange(n)
    values = [np.full(n, j, dtype=np.int64) for j in range(m)]
    if coupling == "crn":
        cdf = np.concatenate([np.zeros((n, 1)), np.cumsum(pa, axis=1)], axis=1)
        low_a, high_a = cdf[rows, ia], cdf[rows, ia + 1]
        width = high_a - low_a
        high_bv, high_bt = np.cumsum(pbv, axis=1), np.cumsum(pbt, axis=1)
        low_bv = np.concatenate([np.zeros((n, 1)), high_bv[:, :-1]], axis=1)
        low_bt = np.concatenate([np.zeros((n, 1)), high_bt[:, :-1]], axis=1)
        weights = []
        for j in range(m):
            # lexicographic min(high_b, high_a) - max(low_b, low_a); a tie keeps the first argument
            top_b = sign(high_bv[:, j] - high_a, high_bt[:, j]) <= 0
            top_v = np.where(top_b, high_bv[:, j], high_a)
            top_t = np.where(top_b, high_bt[:, j], 0.0)
            bottom_b = sign(low_bv[:, j] - low_a, low_bt[:, j]) >= 0
            bottom_v = np.where(bottom_b, low_bv[:, j], low_a)
            bottom_t = np.where(bottom_b, low_bt[:, j], 0.0)
            ov, ot = top_v - bottom_v, top_t - bottom_t
            positive = sign(ov, ot) > 0
            qv, qt = div(ov, ot, width, 0.0)
            weights.append((np.where(positive, qv, 0.0), np.where(positive, qt, 0.0)))
        return values, weights
    if coupling == "maxindep":
        a_own = pa[rows, ia]
        alpha_v, alpha_t = div(pbv[rows, ia], pbt[rows, ia], a_own, 0.0)
        stays = (sign(alpha_v, alpha_t) >= 0) & (sign(alpha_v - 1.0, alpha_t) >= 0)
        gain_v, gain_t = pbv - pa, pbt.copy()
        negative = sign(gain_v, gain_t) < 0  # lexicographic max(gain, 0); a tie keeps the gain
        gain_v, gain_t = np.where(negative, 0.0, gain_v), np.where(negative, 0.0, gain_t)
        total_v, total_t = np.cumsum(gain_v, axis=1)[:, -1], np.cumsum(gain_t, axis=1)[:, -1]
        weights = []
        leave_v, leave_t = 1.0 - alpha_v, -alpha_t
        safe_total_v = np.where(stays, 1.0, total_v)  # lanes that stay never divide
        safe_total_t = np.where(stays, 0.0, total_t)
        for j in range(m):
            share_v, share_t = div(gain_v[:, j], gain_t[:, j], safe_total_v, safe_total_t)
            wv, wt = mul(leave_v, leave_t, share_v, share_t)
            gains = sign(gain_v[:, j], gain_t[:, j]) > 0
            wv, wt = np.where(gains & ~stays, wv, 0.0), np.where(gains & ~stays, wt, 0.0)
            weights.append((wv, wt))
        # A's own category: alpha (1 when B stays); listed first, as the scalar rule lists it.
        own = (np.where(stays, 1.0, alpha_v), np.where(stays, 0.0, alpha_t))
        return [ia] + values, [own] + weights
    raise EffectTypeError(f"Categorical has no {coupling!r} coupling (crn, maxindep, score, indep)")


# ---------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------

def batched_estimates(model: Any, theta_a: Any, theta_b: Any, inference: Any, estimates: int,
                      rng_a: np.random.Generator, rng_b: np.random.Generator) -> np.ndarray:
    """``estimates`` independent GradInf estimates (the ε-coefficients) as one batched program.

    ``theta_b`` is ``theta_a`` plus a one-direction perturbation; ``inference``
    must have a lane resampler (``resample_lanes``).  Raises
    :class:`Unbatchable` for what it does not run.

    >>> import plait
    >>> from plait.gradients import Dual, perturbation
    >>> def coin(theta):
    ...     return (yield plait.sample("b", plait.Bernoulli(theta)))
    >>> with perturbation() as tag:
    ...     g = batched_estimates(coin, 0.3, Dual(0.3, [1.0], tag=tag), plait.SIR(1), 4000,
    ...                           np.random.default_rng(0), np.random.default_rng(1))
    >>> bool(abs(g.mean() - 1.0) < 4 * g.std() / np.sqrt(len(g)))  # d/dθ E[b] = 1
    True
    """
    resample = getattr(inference, "resample_lanes", None)
    if resample is None:
        raise Unbatchable(f"{type(inference).__name__} has no lane form")

    def attempt(log: bool) -> np.ndarray:
        primal = _PrimalSites(estimates)
        run_a = BatchedRun(model, (theta_a,), estimates, rng_a, pause=(), sites=primal, points=True, log=log)
        run_b = BatchedRun(model, (theta_b,), estimates, rng_b, pause=(), sites=_CoupledSites(primal, rng_b),
                           points=True, log=log)
        return _coupled_estimates(run_a, run_b, primal, inference, resample, rng_b, estimates)
    return logging_on_split(attempt, rewinder(rng_a), rewinder(rng_b), model=model)


def _coupled_estimates(run_a: BatchedRun, run_b: BatchedRun, primal: "_PrimalSites", inference: Any,
                       resample: Callable[..., Any], rng_b: np.random.Generator, estimates: int) -> np.ndarray:
    """The estimates of :func:`batched_estimates` from its two runs, at their start."""
    lanes = np.arange(estimates)
    run_a.groups[0].carried["estimate"] = lanes
    run_b.groups[0].carried.update(estimate=lanes, v=np.ones(estimates), t=np.zeros(estimates),
                                   log_v=np.zeros(estimates), log_t=np.zeros(estimates),
                                   cursor=np.full(estimates, -1, dtype=np.int64), history=lanes)
    finished: List[Tuple[Dict[str, np.ndarray], Pair]] = []
    try:
        while True:
            _segment(run_a, run_b, primal)
            live_a = [g for g in run_a.groups if not g.done]
            if any(g.at_loop is not None for g in live_a):
                loop = _common_loop(live_a)
                run_b.groups = _waiting(run_b, finished, lambda g: _require_same(g.at_stop, loop))
                _run_loop(run_a, run_b, loop, primal, resample, rng_b)
                continue
            points = _Points(live_a, estimates)
            _pass_points(run_b, points.returned)
            run_b.groups = _waiting(run_b, finished, points.require_same)
            if not live_a:
                break
            _resample(run_b, [_distinct(g) for g in run_b.groups], resample, rng_b, estimates)
            for g in live_a + run_b.groups:
                g.loop_answer = RESAMPLE_POINT  # every path goes on past the point
        return _estimates(run_a, finished, inference, estimates)
    finally:
        run_a.close()
        run_b.close()


#: A run that has split into more groups than this, and into a group per four lanes or fewer, gives up.
FRAGMENTED = 32


def _check_not_per_path(run: BatchedRun) -> None:
    """Give up (Unbatchable) when the lanes have split into about a group per path.

    Groups of the model's own body never merge again (loop steps' do), and
    each split replays its group's history: a plain Python loop whose
    branches depend on every path's values (a Gillespie simulation, say)
    ends with one generator per path and costs more than the per-estimate
    engine, which is then the better one.
    """
    groups = len(run.groups)
    if groups > FRAGMENTED and 4 * groups > run.size:
        raise Unbatchable(f"the lanes split into {groups} groups for {run.size} paths (branches on every "
                          "path's values in the model's own body; iterate/fold loops merge them again)")


def _waiting(run_b: BatchedRun, finished: List[Tuple[Dict[str, np.ndarray], Pair]],
             require: Any) -> List[Group]:
    """B's groups that wait at a stop (each checked by ``require``); the finished ones go to ``finished``."""
    waiting = []
    for g in run_b.groups:
        if g.done:
            finished.append(_leaf(g))  # this B path ended (where A goes on, or with A)
        else:
            require(g)
            waiting.append(g)
    return waiting


class _Points:
    """Where each estimate's A waits: the name of its resampling point, or nothing (A returned)."""

    def __init__(self, live_a: List[Group], estimates: int) -> None:
        self.names: Dict[Any, int] = {}
        self.point = np.full(estimates, -1, dtype=np.int64)
        for g in live_a:
            name = g.at_stop.name
            self.point[g.carried["estimate"]] = self.names.setdefault(name, len(self.names))
        self.returned = self.point < 0

    def require_same(self, g: Group) -> None:
        """A B group waits at the point its lanes' primal paths wait at."""
        stop = g.at_stop
        est = g.carried["estimate"]
        if self.returned[est].any():
            raise EffectTypeError("gradinf: a B path stopped at a loop that A never reached")
        same = type(stop) is Deterministic and self.names.get(stop.name, -2) == self.point[est]
        if not np.all(same):
            where = [n for n, i in self.names.items() if i == self.point[est[0]]]
            raise EffectTypeError(f"gradinf: a B path reached {getattr(stop, 'name', None)!r} where A is at "
                                  f"the resampling point {where[0]!r}; they must line up")


def _pass_points(run_b: BatchedRun, returned: np.ndarray) -> None:
    """B lanes whose A has returned go past their resampling points (they have no partner), to the end.

    A group whose lanes disagree is split first: the lanes that stop stay
    behind, rebuilt by replay up to the same point.
    """
    while True:
        moved = False
        for g in list(run_b.groups):
            stop = g.at_stop
            if type(stop) is not Deterministic:
                continue
            passing = returned[g.carried["estimate"]]
            if not passing.any():
                continue
            if not passing.all():
                run_b.fork(g, np.flatnonzero(~passing))
                g.narrow(np.flatnonzero(passing))
            g.loop_answer = RESAMPLE_POINT
            moved = True
        if not moved:
            return
        run_b.advance(None)


def _distinct(g: Group) -> np.ndarray:
    """Merge keys at a resampling point: none (paths there differ in their whole history)."""
    return np.column_stack([g.carried["history"].astype(float), np.arange(g.size, dtype=float)])


def _segment(run_a: BatchedRun, run_b: BatchedRun, primal: _PrimalSites) -> None:
    """A, then B, up to the next loop (or the end); B matches A's sites of this segment."""
    primal.new_segment()
    run_a.advance(None)
    for g in run_b.groups:
        g.carried["cursor"] = np.full(g.size, -1, dtype=np.int64)
    run_b.advance(None)


def _common_loop(groups: List[Group]) -> Loop:
    """The loop every live primal group waits at (the same for every estimate), or Unbatchable."""
    loops = [g.at_loop for g in groups]
    first = loops[0]
    if first is None or any(loop is None or loop.name != first.name or loop.steps != first.steps
                            for loop in loops):
        raise Unbatchable("the primal paths of different estimates reach different loops")
    if type(first.kernel) is IndependentRuns:
        raise Unbatchable("plait.independent blocks")
    return first


def _require_same(stop: Optional[Loop], loop: Loop) -> None:
    if stop is None or stop.name != loop.name or stop.steps != loop.steps \
            or type(stop.kernel) is IndependentRuns:
        name = getattr(stop, "name", None)
        raise EffectTypeError(f"gradinf: a B path reached {name!r} where A runs loop "
                              f"{loop.name!r} ({loop.steps} steps); loops must line up")


def _run_loop(run_a: BatchedRun, run_b: BatchedRun, loop: Loop, primal: _PrimalSites, resample: Any,
              rng: np.random.Generator) -> None:
    """Every step of ``loop`` for A's and B's groups in lockstep, B resampled after each step."""
    states: Dict[int, Any] = {}
    loops: Dict[int, Loop] = {}  # each group's own loop: B's kernel closes over θ + ε, A's over θ
    for g in list(run_a.groups) + list(run_b.groups):
        own = g.at_loop
        if own is not None:
            states[id(g)], loops[id(g)] = own.init, own
    history = 0
    for g in run_b.groups:  # paths that differ before the loop are never merged
        g.carried["history"] = np.arange(history, history + g.size)
        history += g.size
    for step in range(loop.steps):
        primal.new_segment()
        for g in run_a.groups:
            if id(g) in states:
                states[id(g)] = _step(g, loops[id(g)], step, states[id(g)])
        for g in run_b.groups:
            g.carried["cursor"] = np.full(g.size, -1, dtype=np.int64)
            states[id(g)] = _step(g, loops[id(g)], step, states[id(g)])
        states_of = None
        if getattr(getattr(resample, "__self__", None), "reads_primal_state", False):
            states_of = (_stacked([states[id(g)] for g in run_b.groups], run_b.groups),
                         _by_estimate([states[id(g)] for g in run_a.groups], run_a.groups, primal.estimates))
        _resample(run_b, [_key_columns(g, states[id(g)]) for g in run_b.groups], resample, rng, primal.estimates,
                  states_of)
        alive = {id(g) for g in run_b.groups} | {id(g) for g in run_a.groups}
        for key in [k for k in states if k not in alive]:
            del states[key]
    for g in list(run_a.groups) + list(run_b.groups):
        if id(g) in states:
            g.loop_answer = states[id(g)]


def _step(group: Group, loop: Loop, step: int, state: Any) -> Any:
    """Step ``step`` of ``loop`` for every lane of ``group``; a lane that forked is now several.

    The kernel runs as a batched program over the group's lanes; its groups
    (splits) and their lanes (forks) come back in order: the group takes
    those lanes (a gather with repeats) and the step's state per lane.
    """
    args = (state,) if loop.xs is None else (state, loop.xs[step])
    around = group.process_handlers()
    kernel = BatchedRun(loop.kernel, args, group.size, group.run.rng, pause=(), parent=group,
                        handlers=(LoopStep(loop.name, step), *around), sites=group.run.sites, points=True)
    try:
        kernel.advance(None)
        if not kernel.done:
            raise EffectTypeError(_NESTED)
        parts = [k for k in kernel.groups if k.size]
        values = [read_lanes(k.process.value if k.process else None, k) for k in parts]  # before the lanes move
        origin = np.concatenate([k.origin for k in parts if k.origin is not None])
        carried = {key: np.concatenate([k.carried[key] for k in parts]) for key in group.carried}
        weights = np.concatenate([k.log_weights for k in parts])
    finally:
        kernel.close()
    group.narrow(origin)
    group.carried.update(carried)
    group.log_weights = group.log_weights + weights
    group.steps += 1
    ends = np.cumsum([k.size for k in parts])
    return joined([(v, np.arange(end - k.size, end)) for v, k, end in zip(values, parts, ends)], group)


def _resample(run_b: BatchedRun, columns: List[np.ndarray], resample: Any, rng: np.random.Generator,
              estimates: int, states_of: Any = None) -> None:
    """B's lanes through the inference's lane resampler; each group keeps its surviving lanes.

    ``columns`` are each group's merge keys (one row per lane).
    """
    groups = run_b.groups
    if not groups:
        return
    if len({c.shape[1] for c in columns}) > 1:
        raise Unbatchable("loop states of different shapes")
    carried = {key: np.concatenate([g.carried[key] for g in groups]) for key in ("estimate", "v", "t")}
    paths = LanePaths(carried["estimate"], carried["v"], carried["t"], estimates, key=np.concatenate(columns))
    if states_of is not None:  # the B states, and A's state of each path's estimate (TwistedSMC's twist)
        paths.state = states_of[0]
        paths.state_a = _taken(states_of[1], carried["estimate"])
    index, v, t = resample(paths, rng)
    run_b.resample(index)
    start = 0
    for g in run_b.groups:
        g.carried["v"], g.carried["t"] = v[start:start + g.size], t[start:start + g.size]
        start += g.size


def _stacked(values: List[Any], groups: List[Group]) -> Any:
    """The groups' values (their lanes one after the other) as lane data: arrays, duals, tuples of them."""
    first = values[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_stacked([v[i] for v in values], groups) for i in range(len(first)))
    return _concatenated([_data(v, g.size, g) for v, g in zip(values, groups)])


def _by_estimate(values: List[Any], groups: List[Group], estimates: int) -> Any:
    """A's values per estimate (row e for estimate e), from its groups' values."""
    order = np.argsort(np.concatenate([g.carried["estimate"] for g in groups]), kind="stable")
    return _taken(_stacked(values, groups), order)


def _taken(data: Any, index: np.ndarray) -> Any:
    if isinstance(data, (tuple, list)):
        return type(data)(_taken(d, index) for d in data)
    return data[index]


def _key_columns(group: Group, state: Any) -> np.ndarray:
    """What variable elimination compares: history, log-weight and state, one float row per lane."""
    c = group.carried
    columns = [c["history"].astype(float), c["log_v"], c["log_t"]]
    _state_columns(state, group, columns)
    return np.column_stack(columns)


def _state_columns(state: Any, group: Group, out: List[np.ndarray]) -> None:
    if isinstance(state, (tuple, list)):
        for item in state:
            _state_columns(item, group, out)
        return
    v, t = _pair(_data(state, group.size, group))
    n = group.size
    out.extend([v.reshape(n, -1).astype(float), t.reshape(n, -1).astype(float)])


def _leaf(g: Group) -> Tuple[Dict[str, np.ndarray], Pair]:
    """A finished B group: its lanes' carried arrays, and F(B) = value × exp(log-weight) per lane."""
    assert g.process is not None
    fv, ft = _scalar_pair(g.process.value, g)
    c = g.carried
    e = np.exp(c["log_v"])
    return dict(c), mul(fv, ft, e, e * c["log_t"])


def _scalar_pair(value: Any, group: Group) -> Pair:
    """One number per lane (primal, tangent) from the program's return value."""
    try:
        v, t = _pair(_data(value, group.size, group))
    except (TypeError, ValueError):
        raise EffectTypeError(f"gradinf: the model must return a number, got {value!r}") from None
    n = group.size
    if v.size != n:
        raise EffectTypeError(f"gradinf: the model must return a number, got {value!r}")
    return v.reshape(n), t.reshape(n)


def _estimates(run_a: BatchedRun, finished: List[Tuple[Dict[str, np.ndarray], Pair]], inference: Any,
               estimates: int) -> np.ndarray:
    """Each estimate's ε-coefficient of Σ_i w_i (F(B_i) − F(A)) (or the inference's own formula)."""
    f_a = np.zeros(estimates)
    for g in run_a.groups:
        fv, _ = _scalar_pair(g.process.value if g.process is not None else None, g)
        f_a[g.carried["estimate"]] = fv * np.exp(g.log_weights)
    if not finished:
        return np.zeros(estimates)
    est = np.concatenate([c["estimate"] for c, _ in finished])
    v = np.concatenate([c["v"] for c, _ in finished])
    t = np.concatenate([c["t"] for c, _ in finished])
    fv = np.concatenate([f[0] for _, f in finished])
    ft = np.concatenate([f[1] for _, f in finished])
    own = getattr(inference, "estimate_lanes", None)
    if own is not None:
        contribution = own(v, t, fv, ft, f_a[est])
    else:
        contribution = mul(v, t, fv - f_a[est], ft)[1]
    return np.bincount(est, weights=contribution, minlength=estimates)

"""First-order weights and the primitive couplings of GradInf (gradinf.md §2.2, §3).

A coupling gives, for one sample site, the conditional law of the B-path
value given the A-path value: a list of ``(value_B, weight)`` whose weights
sum to 1 (signed for ``always_flip``).  Weights are :class:`FirstOrder` numbers
``v + t·ε`` with ε² = 0, compared lexicographically (primal, then tangent),
because A's and B's parameters are equal in value and differ only in ε.
"""

from __future__ import annotations

import math
from typing import Any, List, Tuple

import numpy as np

from ...errors import EffectTypeError
from ...ext._first_order import TOL, FirstOrder, lex_gt, lex_max, lex_min  # compiled: every fork multiplies these
from ...gradients.dual import Dual, primal, tangent

__all__ = ["FirstOrder", "TOL", "as_w", "couple", "own_law", "lex_gt", "lex_max", "lex_min"]

#: The two signed first-order couplings of a layer of coins (gradinf.md §3.5).
SAME_OR = ("same_or_antithetic", "same_or_indep")


def as_w(x: Any) -> FirstOrder:
    """A scalar (plain or a one-direction :class:`Dual`) as a :class:`FirstOrder`.

    >>> as_w(2.5).v
    2.5
    """
    if type(x) is Dual:
        t = x._tangent
        if type(x.primal) is np.float64 and type(t) is np.ndarray and t.shape == (1,):
            return FirstOrder(float(x.primal), float(t[0]))  # the common case, without the generic unwrapping
        t = tangent(x)
        p = float(np.asarray(primal(x)))
        if t is None:
            return FirstOrder(p, 0.0)
        t = np.asarray(primal(t), dtype=float)
        if t.shape[0] != 1:
            raise EffectTypeError("GradInf runs one tangent direction per pass; got a dual with "
                                  f"{t.shape[0]} directions")
        return FirstOrder(p, float(t.reshape(-1)[0]))
    return FirstOrder(float(np.asarray(x)), 0.0)


def _as_ws(x: Any) -> List[FirstOrder]:
    if type(x) is Dual:
        p = np.asarray(primal(x), dtype=float)
        t = tangent(x)
        rows = np.zeros_like(p) if t is None else np.asarray(primal(t), dtype=float)[0]
        return [FirstOrder(float(a), float(b)) for a, b in zip(p.ravel(), np.ravel(rows))]
    return [FirstOrder(float(a)) for a in np.ravel(np.asarray(x, dtype=float))]


def _has_tangent(ws: Any) -> bool:
    return any(w.t != 0.0 for w in (ws if isinstance(ws, list) else [ws]))


def _family(dist: Any) -> str:
    return type(dist).__name__


def couple(coupling: str, dist_a: Any, x_a: Any, dist_b: Any, ad_mode: bool,
           rng: np.random.Generator, main: bool = True, uniforms: Any = None) -> List[Tuple[Any, FirstOrder]]:
    """The conditional law of the B value given A's value ``x_a`` at one site.

    ``coupling`` is "crn"/"reparam", "maxindep", "reflection",
    "always_flip", "score", "indep" (FD mode only), or for a layer of coins
    "same_or_antithetic" / "same_or_indep" (AD mode only).  Returns
    ``[(value_B, weight)]``.  ``main`` says whether the path's weight has a
    primal part (a layer of coins is expanded to first order on such a
    path, and sampled coordinate by coordinate on a derivative path).
    ``uniforms``: the uniforms A drew its layer from (``x_a = u < p_A``),
    which "same_or_antithetic" reuses; without them it draws them given
    ``x_a`` from ``rng``, which has the same joint law.

    >>> from plait.effects.distributions import Bernoulli
    >>> [(x, (w.v, w.t)) for x, w in couple("crn", Bernoulli(0.3), 0, Bernoulli(0.3), True, None)]
    [(0, (1.0, 0.0))]
    """
    family = _family(dist_a)
    if family == "Bernoulli" and coupling == "crn" and type(dist_b) is type(dist_a) and not dist_a.batch_shape:
        # GradInf's commonest site, first: a single coin coupled by common random numbers.
        pa = dist_a.p
        return _bernoulli_crn(pa if type(pa) is float else float(np.asarray(primal(pa))), int(x_a),
                              as_w(dist_b.p))
    if family != _family(dist_b):
        return own_law(dist_b, rng)
    if coupling == "indep":
        if ad_mode:
            raise EffectTypeError(
                "the 'indep' coupling draws B independently, which only makes sense for a finite "
                "difference: use plait.coupled_difference(model, theta_a, theta_b, ...) for it"
            )
        return [(dist_b.sample(rng), FirstOrder(1.0))]
    if coupling in SAME_OR and not ad_mode:
        raise EffectTypeError(
            f"the {coupling!r} coupling of a Bernoulli layer is a first-order signed coupling: its weights "
            "add across coordinates instead of multiplying, so B's law is right only to first order in "
            "theta_b - theta_a. That gives unbiased derivatives (plait.gradinf) but biased finite "
            "differences: use 'crn' or 'always_flip' with plait.coupled_difference"
        )
    if coupling == "score":
        q = (as_w(np.sum(dist_b.log_prob(x_a))) - as_w(np.sum(dist_a.log_prob(x_a))))
        if not math.isfinite(q.v):
            raise EffectTypeError(f"score coupling: {dist_b!r} and {dist_a!r} disagree on the support at {x_a!r}")
        return [(x_a, q.exp())]
    if family == "Bernoulli" and dist_a.batch_shape and coupling in SAME_OR:
        return _same_or_layer(coupling, np.asarray(primal(dist_a.p), dtype=float), np.asarray(x_a),
                              _as_ws(dist_b.p), main, rng, uniforms)
    if family == "Bernoulli" and dist_a.batch_shape:
        return _bernoulli_layer(coupling, np.asarray(primal(dist_a.p), dtype=float), np.asarray(x_a),
                                _as_ws(dist_b.p), main, rng)
    if family == "Bernoulli":
        pa = dist_a.p
        return _bernoulli(coupling, pa if type(pa) is float else float(np.asarray(primal(pa))), int(x_a),
                          as_w(dist_b.p))
    if family == "Categorical":
        pa = [w.v for w in _as_ws(dist_a.probs)]
        return _categorical(coupling, pa, int(x_a), _as_ws(dist_b.probs))
    if coupling in ("crn", "maxindep") and dist_a.has_enumerate_support and not dist_a.batch_shape:
        # Any finite discrete family: the inverse-CDF (or maximal) coupling of
        # the two pmfs over the union of supports (Binomial: gradinf.md §3.3).
        values = sorted(set(dist_a.enumerate_support()) | set(dist_b.enumerate_support()))
        pa = [float(np.exp(np.asarray(primal(dist_a.log_prob(v))))) for v in values]
        pb = [as_w(dist_b.log_prob(v)).exp() for v in values]
        picked = _categorical(coupling, pa, values.index(x_a), pb)
        return [(values[j], w) for j, w in picked]
    if family == "Exponential" and coupling in ("crn", "reparam"):
        # x = e / rate with a shared standard exponential e.
        e = float(np.asarray(primal(x_a))) * float(np.asarray(primal(dist_a.rate)))
        return [(e / dist_b.rate, FirstOrder(1.0))]
    if family == "Normal":
        if coupling in ("crn", "reparam"):
            omega = (float(np.asarray(primal(x_a))) - float(np.asarray(primal(dist_a.loc)))) / float(
                np.asarray(primal(dist_a.scale)))
            return [(dist_b.loc + dist_b.scale * omega, FirstOrder(1.0))]
        if coupling == "reflection":
            return _reflection(dist_a, x_a, dist_b)
    return _uncoupled(dist_a, x_a, dist_b, coupling)


def _uncoupled(dist_a: Any, x_a: Any, dist_b: Any, coupling: str) -> List[Tuple[Any, FirstOrder]]:
    names = getattr(dist_a, "_param_names", ())
    same = all(
        not _has_tangent(_as_ws(getattr(dist_b, n))) and np.array_equal(
            np.asarray(primal(getattr(dist_a, n))), np.asarray(primal(getattr(dist_b, n))))
        for n in names
    )
    if same:
        return [(x_a, FirstOrder(1.0))]
    raise EffectTypeError(
        f"no {coupling!r} coupling for {_family(dist_a)} with parameters that depend on theta; "
        "use coupling='score' (any family), or crn/reparam where the family has it"
    )


def _outcomes(pairs: List[Tuple[Any, FirstOrder]]) -> List[Tuple[Any, FirstOrder]]:
    return [(x, w) for x, w in pairs if not w.is_zero()]


_ONE = FirstOrder(1.0)
_ZERO = FirstOrder(0.0)


def _bernoulli_crn(pa: float, xa: int, pb: FirstOrder) -> List[Tuple[Any, FirstOrder]]:
    """B's coin given A's coin ``xa`` under common random numbers: ``[(xa, stay), (1 - xa, flip)]``, zeros dropped."""
    wa = FirstOrder(pa)
    if xa:
        stay = _ONE if lex_gt(pb, wa) else pb / wa
        flip = 1.0 - stay
    else:
        flip = (pb - pa) / FirstOrder(1.0 - pa) if lex_gt(pb, wa) else _ZERO
        stay = 1.0 - flip
    outcomes = [] if stay.is_zero() else [(xa, stay)]
    if not flip.is_zero():
        outcomes.append((1 - xa, flip))
    return outcomes


def _bernoulli(coupling: str, pa: float, xa: int, pb: FirstOrder) -> List[Tuple[Any, FirstOrder]]:
    if coupling == "crn":
        return _bernoulli_crn(pa, xa, pb)
    if coupling == "always_flip":
        w = (FirstOrder(pa) - pb) if xa else (pb - pa)
        return _outcomes([(xa, 1.0 - w), (1 - xa, w)])
    if coupling == "maxindep":  # for a coin, the maximal coupling is the monotone one
        return _bernoulli("crn", pa, xa, pb)
    if coupling in SAME_OR:
        raise EffectTypeError(f"the {coupling!r} coupling is for a layer of coins (a Bernoulli site whose p is "
                              "a 1-d array); a single coin has crn, always_flip, score, indep")
    raise EffectTypeError(f"Bernoulli has no {coupling!r} coupling (crn, always_flip, score, indep)")


def _bernoulli_layer(coupling: str, pa: np.ndarray, xa: np.ndarray, pb: List[FirstOrder], main: bool,
                     rng: np.random.Generator) -> List[Tuple[Any, FirstOrder]]:
    """A layer of independent coins, each coupled by ``coupling`` (gradinf.md §3.5).

    The joint law is the product of the coordinates' laws.  On a path with
    a primal weight only single-coordinate changes survive to first order:
    "all kept" and one outcome per coordinate that may change.  On a
    derivative path (primal weight 0) only the primal parts of the
    coordinates' laws matter, and each coordinate is drawn from them
    (weight ±their total), which is unbiased without enumerating 2^d outcomes.
    """
    if pa.ndim != 1:
        raise EffectTypeError(f"a Bernoulli layer must be one-dimensional, got batch shape {pa.shape}")
    laws = [_bernoulli(coupling, float(pa[i]), int(xa[i]), pb[i]) for i in range(len(pa))]
    if not main:
        value = xa.copy()
        factor = FirstOrder(1.0)
        for i, law in enumerate(laws):
            sizes = np.array([abs(q.v) for _, q in law])
            if not sizes.sum() > 0:
                return []
            j = int(rng.choice(len(law), p=sizes / sizes.sum())) if len(law) > 1 else 0
            value[i] = law[j][0]
            factor = factor * FirstOrder(math.copysign(sizes.sum(), law[j][1].v))
        return [(value, factor)]
    kept = FirstOrder(1.0)
    stay = []
    for i, law in enumerate(laws):
        q = _weight_of(law, int(xa[i]))
        stay.append(q)
        kept = kept * q
    out = [(xa.copy(), kept)]
    for i, law in enumerate(laws):
        for v, q in law:
            if v != int(xa[i]):
                others = FirstOrder(1.0)
                for j, s in enumerate(stay):
                    if j != i:
                        others = others * s
                changed = xa.copy()
                changed[i] = v
                out.append((changed, q * others))
    return _outcomes(out)


def _weight_of(law: List[Tuple[Any, FirstOrder]], value: Any) -> FirstOrder:
    """The weight ``law`` gives ``value`` (0 when it has no such outcome)."""
    for v, q in law:
        if v == value:
            return q
    return FirstOrder(0.0)


def _same_or_layer(coupling: str, pa: np.ndarray, xa: np.ndarray, pb: List[FirstOrder], main: bool,
                   rng: np.random.Generator, uniforms: Any) -> List[Tuple[Any, FirstOrder]]:
    """A layer of coins either kept whole or moved whole: the "same-or" couplings (gradinf.md §3.5).

    With Δ_i the change in the probability of A's coin i, B keeps A's layer
    with weight ``1 + Σ w1_i``, ``w1_i = Δ_i / (2 P_A(a_i))``, or takes a
    second layer b with weight ``Σ w2_i``: the antithetic copy
    ``b_i = 1{u_i > 1 − pA_i}`` of A's uniforms, ``w2_i = −Δ_i / (2
    min(pA_i, 1 − pA_i))`` where ``b_i ≠ a_i``; or an independent draw
    from A's probabilities, ``w2_i = Δ^b_i / (2 P_A(b_i)) − w1_i``.  Each
    outcome carries half of every coordinate's derivative, and the weights
    add over coordinates, so B's law is right to first order: exact on a
    path whose parameters equal A's in value (ε² = 0), wrong by O(Δ²) where
    they differ by O(1).  A derivative path (``main`` false) can differ so;
    it couples each coin by CRN instead, exact for any parameters and with
    weights that stay 1 in size, where the one-coin same-or laws (also
    exact) would multiply |weight| by up to ``1 + |Δ_i| / min(pA_i, 1 −
    pA_i)`` per coin.  A coin with pA_i ∈ {0, 1} that moves with θ is
    never reached by either layer; it gets its own flip outcome, as in CRN.
    """
    if pa.ndim != 1:
        raise EffectTypeError(f"a Bernoulli layer must be one-dimensional, got batch shape {pa.shape}")
    if not main:
        return _bernoulli_layer("crn", pa, xa, pb, False, rng)
    d = len(pa)
    if coupling == "same_or_antithetic":
        if uniforms is None:
            # A's uniforms given its coins (u < pA exactly when the coin is 1): the joint law of A's own draw.
            v = rng.random(d)
            uniforms = np.where(xa == 1, v * pa, pa + v * (1.0 - pa))
        other = (np.asarray(uniforms) > 1.0 - pa).astype(np.int64)
    else:
        other = (rng.random(d) < pa).astype(np.int64)
    edge = (pa == 0.0) | (pa == 1.0)
    other = np.where(edge, xa, other)
    same, moved, flips = FirstOrder(1.0), FirstOrder(0.0), []
    for i in range(d):
        p, a = float(pa[i]), int(xa[i])
        delta = (pb[i] - p) if a else (p - pb[i])
        if delta.is_zero():
            continue
        if edge[i]:
            flipped = xa.copy()
            flipped[i] = 1 - a
            same = same + delta
            flips.append((flipped, delta * -1.0))
            continue
        w1 = delta * (0.5 / (p if a else 1.0 - p))
        same = same + w1
        b = int(other[i])
        if b == a:
            continue
        if coupling == "same_or_antithetic":
            moved = moved + delta * (-0.5 / min(p, 1.0 - p))
        else:
            delta_b = (pb[i] - p) if b else (p - pb[i])
            moved = moved + (delta_b * (0.5 / (p if b else 1.0 - p)) - w1)
    return _outcomes([(xa.copy(), same), (other, moved)] + flips)


def _categorical(coupling: str, pa: List[float], ia: int, pb: List[FirstOrder]) -> List[Tuple[Any, FirstOrder]]:
    if coupling == "crn":
        cdf_a = np.concatenate([[0.0], np.cumsum(pa)])
        low_a, high_a = FirstOrder(float(cdf_a[ia])), FirstOrder(float(cdf_a[ia + 1]))
        width = high_a - low_a
        out = []
        low_b = FirstOrder(0.0)
        for j, p in enumerate(pb):
            high_b = low_b + p
            overlap = lex_min(high_b, high_a) - lex_max(low_b, low_a)
            if overlap.sign() > 0:
                out.append((j, overlap / width))
            low_b = high_b
        return _outcomes(out)
    if coupling == "maxindep":
        ratio = pb[ia] / FirstOrder(pa[ia])
        if ratio.sign() >= 0 and (ratio - 1.0).sign() >= 0:
            return [(ia, FirstOrder(1.0))]
        alpha = ratio
        gains = [lex_max(p - pa[j], FirstOrder(0.0)) for j, p in enumerate(pb)]
        total = FirstOrder(0.0)
        for g in gains:
            total = total + g
        out = [(ia, alpha)]
        for j, g in enumerate(gains):
            if g.sign() > 0:
                out.append((j, (1.0 - alpha) * (g / total)))
        return _outcomes(out)
    raise EffectTypeError(f"Categorical has no {coupling!r} coupling (crn, maxindep, score, indep)")


def _reflection(dist_a: Any, x_a: Any, dist_b: Any) -> List[Tuple[Any, FirstOrder]]:
    mu_a, sigma = float(np.asarray(primal(dist_a.loc))), float(np.asarray(primal(dist_a.scale)))
    if as_w(dist_b.scale).t != 0.0 or float(np.asarray(primal(dist_b.scale))) != sigma:
        raise EffectTypeError("the reflection coupling needs the same scale on both paths")
    mu_b = as_w(dist_b.loc)
    xa = float(np.asarray(primal(x_a)))
    # Stay with probability min(1, phi_B(x)/phi_A(x)); otherwise reflect to mu_A + mu_B - x.
    log_ratio = (-(((FirstOrder(xa) - mu_b) * (FirstOrder(xa) - mu_b)) - FirstOrder((xa - mu_a) ** 2))) / FirstOrder(2 * sigma * sigma)
    stay = lex_min(log_ratio.exp(), FirstOrder(1.0))
    reflected = dist_b.loc + (mu_a - xa)
    return _outcomes([(x_a, stay), (reflected, 1.0 - stay)])


def own_law(dist_b: Any, rng: np.random.Generator) -> List[Tuple[Any, FirstOrder]]:
    """A B site with no A partner: one draw from its own law (weight 1).

    Sampled rather than enumerated: a path that has left A's structure (a
    longer geometric loop, say) could otherwise branch without end.

    >>> import numpy as np
    >>> from plait.effects.distributions import Bernoulli
    >>> [(x, w.v) for x, w in own_law(Bernoulli(1.0), np.random.default_rng(0))]
    [(1, 1.0)]
    """
    value = dist_b.sample(rng)
    if type(value) is Dual and dist_b.is_discrete:
        value = primal(value)
    return [(value, FirstOrder(1.0))]

"""First-order weights of many paths at once, and GradInf's resamplers over them (batched GradInf).

A batched GradInf run holds the alternative paths of many estimates as
lanes; their weights ``v + t·ε`` are two arrays.  The arithmetic here is
:class:`~plait.ext._first_order.FirstOrder`'s, element by element, with the
same rules (ε² = 0; a product of two primal zeros is exactly zero; a ratio
of two primal zeros is the ratio of tangents), and the resamplers are the
lane forms of :mod:`plait.inference.gradient_estimation.estimator`'s, applied
to every estimate's paths at once (a path only meets the paths of its own
estimate).  Each keeps its scalar twin's contract: merging is exact, and
every resampling is properly weighted.

>>> import numpy as np
>>> v, t = mul(np.array([0.0, 2.0]), np.array([1.0, 1.0]), np.array([0.0, 3.0]), np.array([5.0, 0.0]))
>>> v.tolist(), t.tolist()
([0.0, 6.0], [0.0, 3.0])
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from ...effects.lanes import Lanes
from ...ext._first_order import TOL

__all__ = ["mul", "div", "sign", "is_zero", "LanePaths", "keep_all", "merge_equal", "stratified_multinomial",
           "twisted_multinomial", "lane_values"]

Pair = Tuple[np.ndarray, np.ndarray]


def mul(av: Any, at: Any, bv: Any, bt: Any) -> Pair:
    """``a * b`` to first order; exactly 0 where both primals are 0.

    >>> mul(0.0, 1.0, 0.0, 1.0)[1].item()
    0.0
    """
    av, at, bv, bt = (np.asarray(x, dtype=float) for x in (av, at, bv, bt))
    v = av * bv
    t = av * bt + at * bv
    both = (av == 0.0) & (bv == 0.0)
    if both.any():
        t = np.where(both, 0.0, t)
    return v, t


def div(av: Any, at: Any, bv: Any, bt: Any) -> Pair:
    """``a / b`` to first order; where both primals are 0, the ratio of tangents (L'Hôpital) as a constant.

    >>> v, t = div(0.0, 2.0, 0.0, 4.0)
    >>> v.item(), t.item()
    (0.5, 0.0)
    """
    av, at, bv, bt = (np.asarray(x, dtype=float) for x in (av, at, bv, bt))
    with np.errstate(divide="ignore", invalid="ignore"):
        y = av / bv
        t = (at - y * bt) / bv
        lhopital = (bv == 0.0) & (av == 0.0) & (bt != 0.0)
        if lhopital.any():
            y = np.where(lhopital, at / np.where(lhopital, bt, 1.0), y)
            t = np.where(lhopital, 0.0, t)
    if ((bv == 0.0) & ~lhopital).any():
        raise ZeroDivisionError("division of a first-order weight by zero")
    return y, t


def sign(v: np.ndarray, t: np.ndarray) -> np.ndarray:
    """-1, 0 or 1: the sign of the primal, or else of the tangent beyond ``TOL``.

    >>> sign(np.array([0.0, -1.0, 0.0]), np.array([2.0, 5.0, 1e-20])).tolist()
    [1, -1, 0]
    """
    by_tangent = np.where(t > TOL, 1, np.where(t < -TOL, -1, 0))
    return np.where(v > 0.0, 1, np.where(v < 0.0, -1, by_tangent))


def is_zero(v: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Primal exactly 0 and tangent at most ``TOL`` in size.

    >>> is_zero(np.array([0.0, 0.0]), np.array([0.0, 1.0])).tolist()
    [True, False]
    """
    zero: np.ndarray = (v == 0.0) & (np.abs(t) <= TOL)
    return zero


class LanePaths:
    """The alternative paths of every estimate at a synchronisation point, one entry per lane.

    ``estimate`` says whose path each lane is; ``v``, ``t`` its weight;
    ``key`` a 2-d float array whose equal rows mark paths that
    :func:`merge_equal` may merge (state, history, log-weight), or None.

    >>> LanePaths(np.array([0, 0]), np.ones(2), np.zeros(2), 1).size
    2
    """

    __slots__ = ("estimate", "v", "t", "key", "estimates", "state", "state_a")

    def __init__(self, estimate: np.ndarray, v: np.ndarray, t: np.ndarray, estimates: int,
                 key: Any = None, state: Any = None, state_a: Any = None) -> None:
        self.estimate, self.v, self.t, self.estimates, self.key = estimate, v, t, estimates, key
        #: Each path's loop state and its estimate's A state (lane data), for resamplers that read them.
        self.state, self.state_a = state, state_a

    @property
    def size(self) -> int:
        """The number of paths."""
        return len(self.estimate)


Resampled = Tuple[np.ndarray, np.ndarray, np.ndarray]


def keep_all(paths: LanePaths) -> Resampled:
    """Every path, as it is (``ExactPopulation``, ``Score``).

    >>> keep_all(LanePaths(np.array([0]), np.ones(1), np.zeros(1), 1))[0].tolist()
    [0]
    """
    return np.arange(paths.size), paths.v, paths.t


def merge_equal(paths: LanePaths) -> Resampled:
    """Variable elimination: paths of one estimate with equal keys become one, weights summed; zeros go.

    The survivor of each class is its first path, and survivors keep their order.

    >>> p = LanePaths(np.array([0, 0, 1]), np.array([1.0, 0.0, 1.0]), np.array([0.0, 2.0, 0.0]), 2,
    ...               key=np.array([[3.0], [3.0], [3.0]]))
    >>> index, v, t = merge_equal(p)
    >>> index.tolist(), v.tolist(), t.tolist()
    ([0, 2], [1.0, 1.0], [2.0, 0.0])
    """
    if paths.size == 0:
        return keep_all(paths)
    rows = np.column_stack([paths.estimate.astype(float), paths.key]) + 0.0  # (+ 0.0: -0.0 keys as 0.0)
    first, inverse = _classes(rows)
    v = np.bincount(inverse, weights=paths.v, minlength=len(first))
    t = np.bincount(inverse, weights=paths.t, minlength=len(first))
    order = np.argsort(first, kind="stable")
    index, v, t = first[order], v[order], t[order]
    alive = ~is_zero(v, t)
    return index[alive], v[alive], t[alive]


def _mixed(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit moves every output bit (so float bit patterns spread)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> np.uint64(31))
    return out


def _classes(rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Equal rows as classes: each class's first row, and each row's class (``np.unique(axis=0)``'s).

    The rows' bits are hashed to one integer each and those are sorted, which
    is several times faster than sorting rows; every row is then compared
    with its class's first row, and a collision (or a NaN) falls back to the
    exact row sort.
    """
    bits = np.ascontiguousarray(rows).view(np.uint64)
    h = _mixed(bits[:, 0])
    for j in range(1, bits.shape[1]):  # an order-dependent combination (xor alone cancels equal columns)
        h = _mixed(h * np.uint64(0x9E3779B97F4A7C15) + _mixed(bits[:, j]))
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not np.array_equal(rows[first[inverse]], rows):
        _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    return first, inverse


def stratified_multinomial(paths: LanePaths, k: int, rng: np.random.Generator) -> Resampled:
    """SIR(k) for every estimate: keep its primal stratum, resample the rest down to ``k``.

    Per estimate, as :class:`~plait.inference.gradient_estimation.estimator.SIR`:
    nothing happens when it has at most ``k`` paths; the paths whose primal
    weight exceeds half the estimate's total are kept; if more than ``k``
    others remain, ``k`` are drawn with probability ``∝ |v|`` (``∝ |t|`` when
    every primal is 0) and each child of path ``j`` carries ``w_j / (k π_j)``.

    >>> p = LanePaths(np.zeros(4, int), np.array([1.0, 0, 0, 0]), np.array([0, 1.0, -2.0, 1.0]), 1)
    >>> index, v, t = stratified_multinomial(p, 1, np.random.default_rng(0))
    >>> len(index), float(v[0]), float(abs(t[1]))
    (2, 1.0, 4.0)
    """
    n, est = paths.size, paths.estimate
    counts = np.bincount(est, minlength=paths.estimates)
    crowded = counts[est] > k
    half = 0.5 * np.bincount(est, weights=np.abs(paths.v), minlength=paths.estimates)
    rest = crowded & ~(np.abs(paths.v) > half[est])
    rest_counts = np.bincount(est[rest], minlength=paths.estimates)
    drawn = rest & (rest_counts[est] > k)
    keep = ~drawn
    kept_index = np.flatnonzero(keep)
    if not drawn.any():
        return kept_index, paths.v[keep], paths.t[keep]
    children, factor = _multinomial(np.flatnonzero(drawn), est, paths.v, paths.t, k, rng, paths.estimates)
    v, t = mul(paths.v[children], paths.t[children], factor, 0.0)
    return _in_order(kept_index, paths.v[keep], paths.t[keep], children, v, t)


def _in_order(*parts: np.ndarray) -> Resampled:
    """Kept lanes and drawn children ``(index, v, t)`` pairs joined, in the order of their ancestors."""
    index = np.concatenate(parts[0::3])
    order = np.argsort(index, kind="stable")
    return index[order], np.concatenate(parts[1::3])[order], np.concatenate(parts[2::3])[order]


def _multinomial(lanes: np.ndarray, est: np.ndarray, v: np.ndarray, t: np.ndarray, k: int,
                 rng: np.random.Generator, estimates: int) -> Tuple[np.ndarray, np.ndarray]:
    """The generalised multinomial of gradinf.md §4.2 within each estimate's ``lanes``: ``k`` draws each.

    Returns the drawn lanes and each draw's factor ``1/(k π_j)`` (times the
    estimate's total), where ``π_j ∝ |v_j|``, or ``∝ |t_j|`` when every primal
    of that estimate's candidates is 0; an estimate whose candidates all
    weigh 0 draws nothing.
    """
    lanes = lanes[np.argsort(est[lanes], kind="stable")]  # each estimate's candidates together, in order
    owner = est[lanes]
    size = np.abs(v[lanes])
    primal_total = np.bincount(owner, weights=size, minlength=estimates)
    size = np.where(primal_total[owner] == 0.0, np.abs(t[lanes]), size)
    total = np.bincount(owner, weights=size, minlength=estimates)
    chosen = np.unique(owner)
    chosen = chosen[total[chosen] > 0]
    starts = np.searchsorted(owner, chosen)
    ends = np.searchsorted(owner, chosen, side="right")
    cumulative = np.cumsum(size)
    base = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    # k uniforms per estimate, scaled into its stretch of the cumulative sizes.
    u = rng.random((len(chosen), k)) * total[chosen][:, None] + base[:, None]
    picks = np.searchsorted(cumulative, u.ravel(), side="right")
    picks = np.clip(picks, np.repeat(starts, k), np.repeat(ends - 1, k))
    while True:  # a zero-size path is never picked, even at a boundary
        empty = size[picks] == 0.0
        if not empty.any():
            break
        picks = np.where(empty, picks - 1, picks)
    return lanes[picks], total[owner[picks]] / (k * size[picks])


def twisted_multinomial(paths: LanePaths, k: int, rng: np.random.Generator, twist: np.ndarray) -> Resampled:
    """Two-sided twisted resampling for every estimate (``TwistedSMC``), ``twist`` one value per path.

    Per estimate, as :class:`~plait.inference.gradient_estimation.estimator.TwistedSMC`:
    the primal stratum is kept; if more than ``k`` others remain, those
    with twist 0 are dropped, the rest weighted ``w·g``, and the positive
    and the negative ones resampled to ``k`` each by the generalised
    multinomial, every child divided by its own twist.

    >>> p = LanePaths(np.zeros(4, int), np.array([1.0, 0, 0, 0]), np.array([0, 1.0, -2.0, 1.0]), 1)
    >>> index, v, t = twisted_multinomial(p, 1, np.random.default_rng(0), np.array([0.0, 1.0, 2.0, 0.0]))
    >>> index.tolist(), t.tolist()
    ([0, 1, 2], [0.0, 1.0, -2.0])
    """
    est = paths.estimate
    half = 0.5 * np.bincount(est, weights=np.abs(paths.v), minlength=paths.estimates)
    rest = ~(np.abs(paths.v) > half[est])
    crowded = np.bincount(est[rest], minlength=paths.estimates)[est] > k
    drawn = rest & crowded
    keep = ~drawn
    g = np.asarray(twist, dtype=float)
    tv, tt = mul(paths.v, paths.t, g, 0.0)
    signs = sign(tv, tt)
    parts = [np.flatnonzero(keep), paths.v[keep], paths.t[keep]]
    for wanted in (1, -1):
        lanes = np.flatnonzero(drawn & (g != 0.0) & (signs == wanted))
        if not len(lanes):
            continue
        children, factor = _multinomial(lanes, est, tv, tt, k, rng, paths.estimates)
        v, t = mul(tv[children], tt[children], factor / g[children], 0.0)
        parts += [children, v, t]
    return _in_order(*parts)


def lane_values(data: Any, space: Any) -> Any:
    """Lane data (arrays or duals with the lane on axis 0, or tuples of them) as lane values of ``space``.

    >>> from plait.effects.lanes import FixedLanes
    >>> x = lane_values((np.array([1.0, 2.0]), np.array([3.0, 4.0])), FixedLanes(2))
    >>> (x[0] + x[1]).data.tolist()
    [4.0, 6.0]
    """
    if isinstance(data, (tuple, list)):
        return type(data)(lane_values(d, space) for d in data)
    return Lanes(data, space)

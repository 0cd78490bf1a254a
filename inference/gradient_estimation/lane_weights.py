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

from ...ext._first_order import TOL

__all__ = ["mul", "div", "sign", "is_zero", "LanePaths", "keep_all", "merge_equal", "stratified_multinomial"]

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
    return (v == 0.0) & (np.abs(t) <= TOL)


class LanePaths:
    """The alternative paths of every estimate at a synchronisation point, one entry per lane.

    ``estimate`` says whose path each lane is; ``v``, ``t`` its weight;
    ``key`` a 2-d float array whose equal rows mark paths that
    :func:`merge_equal` may merge (state, history, log-weight), or None.

    >>> LanePaths(np.array([0, 0]), np.ones(2), np.zeros(2), 1).size
    2
    """

    __slots__ = ("estimate", "v", "t", "key", "estimates")

    def __init__(self, estimate: np.ndarray, v: np.ndarray, t: np.ndarray, estimates: int,
                 key: Any = None) -> None:
        self.estimate, self.v, self.t, self.estimates, self.key = estimate, v, t, estimates, key

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
    rows = np.column_stack([paths.estimate.astype(float), paths.key])
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    v = np.bincount(inverse, weights=paths.v, minlength=len(first))
    t = np.bincount(inverse, weights=paths.t, minlength=len(first))
    order = np.argsort(first, kind="stable")
    index, v, t = first[order], v[order], t[order]
    alive = ~is_zero(v, t)
    return index[alive], v[alive], t[alive]


def stratified_multinomial(paths: LanePaths, k: int, rng: np.random.Generator) -> Resampled:
    """SIR(k) for every estimate: keep its primal stratum, resample the rest down to ``k``.

    Per estimate, as :class:`~plait.inference.gradient_estimation.estimator.SIR`:
    nothing happens when it has at most ``k`` paths; the paths whose primal
    weight exceeds half the estimate's total are kept; if more than ``k``
    others remain, ``k`` are drawn with probability ``∝ |v|`` (``∝ |t|`` when
    every primal is 0) and each child of path ``j`` carries ``w_j / (k π_j)``.

    >>> p = LanePaths(np.zeros(4, int), np.array([1.0, 0, 0, 0]), np.array([0, 1.0, -2.0, 1.0]), 1)
    >>> index, v, t = stratified_multinomial(p, 1, np.random.default_rng(0))
    >>> len(index), v[0], abs(t[1])
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
    lanes = np.flatnonzero(drawn)
    lanes = lanes[np.argsort(est[lanes], kind="stable")]  # each estimate's candidates together, in order
    owner = est[lanes]
    size = np.abs(paths.v[lanes])
    primal_total = np.bincount(owner, weights=size, minlength=paths.estimates)
    by_tangent = primal_total[owner] == 0.0
    size = np.where(by_tangent, np.abs(paths.t[lanes]), size)
    total = np.bincount(owner, weights=size, minlength=paths.estimates)
    estimates = np.unique(owner)
    estimates = estimates[total[estimates] > 0]
    starts = np.searchsorted(owner, estimates)
    ends = np.searchsorted(owner, estimates, side="right")
    cumulative = np.cumsum(size)
    base = np.where(starts > 0, cumulative[starts - 1], 0.0)
    # k uniforms per estimate, scaled into its stretch of the cumulative sizes.
    u = rng.random((len(estimates), k)) * total[estimates][:, None] + base[:, None]
    picks = np.searchsorted(cumulative, u.ravel(), side="right")
    first, last = np.repeat(starts, k), np.repeat(ends - 1, k)
    picks = np.clip(picks, first, last)
    while True:  # a zero-size path is never picked, even at a boundary
        empty = size[picks] == 0.0
        if not empty.any():
            break
        picks = np.where(empty, picks - 1, picks)
    factor = total[owner[picks]] / (k * size[picks])
    children = lanes[picks]
    v, t = mul(paths.v[children], paths.t[children], factor, 0.0)
    index = np.concatenate([kept_index, children])
    order = np.argsort(index, kind="stable")
    return index[order], np.concatenate([paths.v[keep], v])[order], np.concatenate([paths.t[keep], t])[order]

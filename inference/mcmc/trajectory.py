"""Hamiltonian trajectories on flat float64 vectors: the metric, the leapfrog, NUTS and static HMC.

Nothing here knows about programs: a transition takes ``potential(x) ->
(log density, gradient)`` on unconstrained space (a :class:`plait.LogDensity`
that never raises at a sampler) and a :class:`Point` (position, log density,
gradient).  Energies are ``H = -log p(x) + p.M^-1.p / 2``.

NUTS is the multinomial variant with the generalised no-U-turn criterion
(Betancourt 2017, "A conceptual introduction to Hamiltonian Monte Carlo",
§A.4): the trajectory doubles in a random direction until the sum of
momenta ``rho`` of the whole tree, or of any subtree, stops having a
positive projection on the velocity ``M^-1 p`` at both of its ends; as in
Stan, merged subtrees are also checked with the first state of the second
one appended to the first, and vice versa.  Within a subtree the new state
is drawn with weights ``exp(-H)`` (multinomial); when a new subtree joins
the trajectory its draw replaces the current one with probability
``min(1, w_new / w_old)``, biased towards the new subtree, which keeps the
transition reversible.  A leaf whose energy exceeds the initial energy by
more than ``DIVERGENCE_THRESHOLD`` (including a log density of ``-inf``)
ends the doubling and is reported as a divergence.
"""

from __future__ import annotations

import math
from typing import Callable, Tuple

import numpy as np

__all__ = ["Point", "Metric", "Transition", "nuts_transition", "hmc_transition", "find_reasonable_step_size",
           "DIVERGENCE_THRESHOLD"]

#: An energy error above this (Stan's and NumPyro's value) is a divergence.
DIVERGENCE_THRESHOLD = 1000.0

Potential = Callable[[np.ndarray], Tuple[float, np.ndarray]]


class Point:
    """A position with its log density and gradient (never re-evaluated once known).

    >>> Point(np.zeros(2), -1.8, np.zeros(2)).log_density
    -1.8
    """

    __slots__ = ("x", "log_density", "grad")

    def __init__(self, x: np.ndarray, log_density: float, grad: np.ndarray) -> None:
        self.x, self.log_density, self.grad = x, log_density, grad


class Metric:
    """The inverse mass matrix: a vector (diagonal) or a symmetric positive definite matrix.

    >>> m = Metric(np.array([4.0, 1.0]))
    >>> m.kinetic(np.array([1.0, 1.0])), m.velocity(np.array([1.0, 1.0])).tolist()
    (2.5, [4.0, 1.0])
    """

    def __init__(self, inverse_mass: np.ndarray) -> None:
        self.inverse_mass = np.asarray(inverse_mass, dtype=np.float64)
        self.dense = self.inverse_mass.ndim == 2
        if self.dense:
            # p ~ N(0, M) with M = inverse_mass^-1: p = L^-T z where inverse_mass = L L^T.
            self._chol = np.linalg.cholesky(self.inverse_mass)
        else:
            self._scale = 1.0 / np.sqrt(self.inverse_mass)

    def velocity(self, p: np.ndarray) -> np.ndarray:
        """``M^-1 p``."""
        v: np.ndarray = self.inverse_mass @ p if self.dense else self.inverse_mass * p
        return v

    def kinetic(self, p: np.ndarray) -> float:
        """``p.M^-1.p / 2``."""
        return 0.5 * float(p @ self.velocity(p))

    def momentum(self, rng: np.random.Generator) -> np.ndarray:
        """A draw from ``N(0, M)``."""
        z = rng.standard_normal(len(self.inverse_mass))
        if self.dense:
            out: np.ndarray = np.linalg.solve(self._chol.T, z)
            return out
        return z * self._scale


class Transition:
    """What one transition did: the new point and its statistics (ArviZ's ``sample_stats`` names).

    >>> t = Transition(Point(np.zeros(1), 0.0, np.zeros(1)), 0.9, False, 1.2, 3, 7)
    >>> t.tree_depth, t.num_steps
    (3, 7)
    """

    __slots__ = ("point", "accept_stat", "diverging", "energy", "tree_depth", "num_steps")

    def __init__(self, point: Point, accept_stat: float, diverging: bool, energy: float, tree_depth: int,
                 num_steps: int) -> None:
        self.point, self.accept_stat, self.diverging = point, accept_stat, diverging
        self.energy, self.tree_depth, self.num_steps = energy, tree_depth, num_steps


def _leapfrog(potential: Potential, metric: Metric, point: Point, p: np.ndarray, eps: float
              ) -> Tuple[Point, np.ndarray]:
    p_half = p + (0.5 * eps) * point.grad
    x = point.x + eps * metric.velocity(p_half)
    log_density, grad = potential(x)
    return Point(x, log_density, grad), p_half + (0.5 * eps) * grad


def _energy(metric: Metric, point: Point, p: np.ndarray) -> float:
    h = metric.kinetic(p) - point.log_density
    return math.inf if h != h else h  # NaN (inf - inf): as far away as it gets


def _accept_probability(log_ratio: float) -> float:
    """``min(1, exp(log_ratio))``, 0 for ``-inf`` and NaN."""
    return 1.0 if log_ratio >= 0.0 else math.exp(log_ratio) if log_ratio == log_ratio else 0.0


def _logaddexp(a: float, b: float) -> float:
    high = a if a > b else b
    if high == -math.inf:
        return high
    return high + math.log1p(math.exp(-abs(a - b)))


class _Tree:
    """A subtree of a NUTS trajectory: its two ends, its draw and its summaries."""

    __slots__ = ("left", "p_left", "v_left", "right", "p_right", "v_right", "draw", "p_draw", "log_weight",
                 "rho", "accept_sum", "num_steps", "diverging", "turning")

    def __init__(self, point: Point, p: np.ndarray, v: np.ndarray, log_weight: float) -> None:
        self.left = self.right = self.draw = point
        self.p_left = self.p_right = self.p_draw = p
        self.v_left = self.v_right = v
        self.log_weight = log_weight
        self.rho = p
        self.accept_sum = 0.0
        self.num_steps = 0
        self.diverging = False
        self.turning = False


def _no_u_turn(rho: np.ndarray, v_begin: np.ndarray, v_end: np.ndarray) -> bool:
    """The generalised criterion holds (no U-turn yet): ``rho`` points along both ends' velocities."""
    return float(rho @ v_begin) > 0.0 and float(rho @ v_end) > 0.0


class _NUTS:
    """One NUTS transition's trajectory builder (state shared by the recursion)."""

    def __init__(self, potential: Potential, metric: Metric, step_size: float, rng: np.random.Generator,
                 h0: float) -> None:
        self.potential, self.metric, self.step_size, self.rng, self.h0 = potential, metric, step_size, rng, h0

    def leaf(self, start: Point, p: np.ndarray, direction: int) -> _Tree:
        point, p_new = _leapfrog(self.potential, self.metric, start, p, direction * self.step_size)
        h = _energy(self.metric, point, p_new)
        tree = _Tree(point, p_new, self.metric.velocity(p_new), self.h0 - h)
        tree.num_steps = 1
        tree.accept_sum = _accept_probability(self.h0 - h)
        tree.diverging = h - self.h0 > DIVERGENCE_THRESHOLD
        return tree

    def build(self, start: Point, p: np.ndarray, direction: int, depth: int) -> _Tree:
        """A subtree of ``2 ** depth`` leapfrogs from ``start`` in ``direction`` (+1 forward, -1 back)."""
        if depth == 0:
            return self.leaf(start, p, direction)
        first = self.build(start, p, direction, depth - 1)
        if first.diverging or first.turning:
            return first
        end, p_end = (first.right, first.p_right) if direction > 0 else (first.left, first.p_left)
        second = self.build(end, p_end, direction, depth - 1)
        merged = self.merge(first, second, direction, biased=False)
        return merged

    def merge(self, old: _Tree, new: _Tree, direction: int, biased: bool) -> _Tree:
        """Join ``new`` (built beyond ``old`` in ``direction``) to ``old``: draw, summaries, criterion."""
        old.num_steps += new.num_steps
        old.accept_sum += new.accept_sum
        if new.diverging or new.turning:
            old.diverging |= new.diverging
            old.turning = True
            return old
        log_total = _logaddexp(old.log_weight, new.log_weight)
        # Inside a subtree: multinomial draw; at the top: biased towards the new subtree.
        log_accept = new.log_weight - (old.log_weight if biased else log_total)
        if log_accept >= 0.0 or self.rng.random() < math.exp(log_accept):
            old.draw, old.p_draw = new.draw, new.p_draw
        old.log_weight = log_total
        if direction > 0:
            first, second = old, new
        else:
            first, second = new, old
        rho = old.rho + new.rho
        turning = not _no_u_turn(rho, first.v_left, second.v_right)
        if not turning:
            # Stan's extra checks across the join: each half extended by the other's first state.
            turning = (not _no_u_turn(first.rho + second.p_left, first.v_left, second.v_left)
                       or not _no_u_turn(first.p_right + second.rho, first.v_right, second.v_right))
        old.left, old.p_left, old.v_left = first.left, first.p_left, first.v_left
        old.right, old.p_right, old.v_right = second.right, second.p_right, second.v_right
        old.rho = rho
        old.turning = turning
        return old


def nuts_transition(potential: Potential, metric: Metric, point: Point, step_size: float,
                    rng: np.random.Generator, max_tree_depth: int = 10) -> Transition:
    """One multinomial NUTS transition from ``point`` (module docstring).

    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> start = Point(np.zeros(2), 0.0, np.zeros(2))
    >>> t = nuts_transition(potential, Metric(np.ones(2)), start, 0.5, np.random.default_rng(0))
    >>> t.num_steps >= 1, t.diverging, 0.0 <= t.accept_stat <= 1.0
    (True, False, True)
    """
    p0 = metric.momentum(rng)
    h0 = _energy(metric, point, p0)
    builder = _NUTS(potential, metric, step_size, rng, h0)
    tree = _Tree(point, p0, metric.velocity(p0), 0.0)
    depth = 0
    while depth < max_tree_depth:
        direction = 1 if rng.random() < 0.5 else -1
        start, p = (tree.right, tree.p_right) if direction > 0 else (tree.left, tree.p_left)
        subtree = builder.build(start, p, direction, depth)
        depth += 1
        tree = builder.merge(tree, subtree, direction, biased=True)
        if tree.diverging or tree.turning:
            break
    chosen = tree.draw
    energy = _energy(metric, chosen, tree.p_draw)
    return Transition(chosen, tree.accept_sum / tree.num_steps, tree.diverging, energy, depth, tree.num_steps)


def hmc_transition(potential: Potential, metric: Metric, point: Point, step_size: float,
                   rng: np.random.Generator, num_steps: int = 10) -> Transition:
    """Static HMC: ``num_steps`` leapfrogs, then a Metropolis accept of the end point.

    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> start = Point(np.ones(2), -1.0, -np.ones(2))
    >>> t = hmc_transition(potential, Metric(np.ones(2)), start, 0.3, np.random.default_rng(0), 5)
    >>> t.num_steps, t.diverging
    (5, False)
    """
    p = metric.momentum(rng)
    h0 = _energy(metric, point, p)
    current, diverging = point, False
    for _ in range(num_steps):
        current, p = _leapfrog(potential, metric, current, p, step_size)
        if _energy(metric, current, p) - h0 > DIVERGENCE_THRESHOLD:
            diverging = True
            break
    h = _energy(metric, current, p)
    accept = 0.0 if diverging else _accept_probability(h0 - h)
    if rng.random() < accept:
        return Transition(current, accept, diverging, h, 0, num_steps)
    return Transition(point, accept, diverging, h0, 0, num_steps)


def find_reasonable_step_size(potential: Potential, metric: Metric, point: Point, step_size: float,
                              rng: np.random.Generator, target: float = 0.8) -> float:
    """Double or halve ``step_size`` until one leapfrog's acceptance crosses ``target`` (Stan's heuristic).

    >>> potential = lambda x: (-0.5 * float(x @ x) * 100.0, -100.0 * x)
    >>> eps = find_reasonable_step_size(potential, Metric(np.ones(1)), Point(np.zeros(1), 0.0, np.zeros(1)), 1.0,
    ...                                 np.random.default_rng(0))
    >>> 0.01 < eps < 0.5
    True
    """
    p = metric.momentum(rng)
    h0 = _energy(metric, point, p)
    direction = 0
    for _ in range(100):
        new, p_new = _leapfrog(potential, metric, point, p, step_size)
        delta = h0 - _energy(metric, new, p_new)
        accept_high = delta > math.log(target)
        if direction == 0:
            direction = 1 if accept_high else -1
        if (direction == 1 and not accept_high) or (direction == -1 and accept_high):
            break
        step_size = step_size * 2.0 if direction == 1 else step_size * 0.5
        if not 1e-10 < step_size < 1e7:
            break
    return step_size

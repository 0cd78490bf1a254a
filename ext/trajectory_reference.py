"""Pure-Python specification of the compiled trajectories in :mod:`plait.ext._trajectory`.

The algorithms are those documented in :mod:`plait.inference.mcmc.trajectory`
(multinomial NUTS with the generalised no-U-turn criterion and Stan's extra
checks across joins, static HMC, Stan's step-size heuristic), written with
numpy for clarity, not speed; the compiled module must agree with them
from the same seed (tests/test_trajectory_compiled.py) and
``bench/trajectory.py`` times the two.

Both modules share one interface, duck-typed so that this module needs
nothing from the rest of plait:

* ``potential(x) -> (log density, gradient)`` on float64 vectors;
* ``metric``: ``inverse_mass`` (a vector, or a matrix when ``dense``),
  ``velocity(p)``, ``kinetic(p)`` and ``momentum(rng)`` (called once per
  transition, before any uniform) as :class:`plait.inference.mcmc.trajectory.Metric`;
* ``point``: ``x``, ``log_density``, ``grad``;
* ``rng``: a :class:`numpy.random.Generator`; uniforms are ``rng.random()``.

A transition returns ``(chosen, accept_stat, diverging, energy, tree_depth,
num_steps)`` where ``chosen`` is ``(x, log_density, grad)`` of the new
point, or None when the transition stays at ``point``.  Energies are
``H = -log p(x) + p.M^-1.p / 2``, NaN counting as ``inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["find_reasonable_step_size", "hmc", "nuts"]

Potential = Callable[[np.ndarray], tuple[float, np.ndarray]]
State = tuple[np.ndarray, float, np.ndarray]
Outcome = tuple[State | None, float, bool, float, int, int]


class _Point:
    __slots__ = ("grad", "log_density", "x")

    def __init__(self, x: np.ndarray, log_density: float, grad: np.ndarray) -> None:
        self.x, self.log_density, self.grad = x, log_density, grad


def _leapfrog(potential: Potential, metric: Any, point: Any, p: np.ndarray, eps: float) -> tuple[_Point, np.ndarray]:
    p_half = p + (0.5 * eps) * point.grad
    x = point.x + eps * metric.velocity(p_half)
    log_density, grad = potential(x)
    return _Point(x, log_density, grad), p_half + (0.5 * eps) * grad


def _energy(metric: Any, point: Any, p: np.ndarray) -> float:
    h = metric.kinetic(p) - point.log_density
    return math.inf if math.isnan(h) else float(h)  # NaN (inf - inf): as far away as it gets


def _accept_probability(log_ratio: float) -> float:
    """``min(1, exp(log_ratio))``, 0 for ``-inf`` and NaN."""
    return 1.0 if log_ratio >= 0.0 else math.exp(log_ratio) if not math.isnan(log_ratio) else 0.0


def _logaddexp(a: float, b: float) -> float:
    high = max(b, a)
    if high == -math.inf:
        return high
    return high + math.log1p(math.exp(-abs(a - b)))


def _chosen(point: Any, start: Any) -> State | None:
    return None if point is start else (point.x, float(point.log_density), point.grad)


class _Tree:
    """A subtree of a NUTS trajectory: its two ends, its draw and its summaries."""

    __slots__ = (
        "accept_sum",
        "diverging",
        "draw",
        "left",
        "log_weight",
        "num_steps",
        "p_draw",
        "p_left",
        "p_right",
        "rho",
        "right",
        "turning",
        "v_left",
        "v_right",
    )

    def __init__(self, point: Any, p: np.ndarray, v: np.ndarray, log_weight: float) -> None:
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

    def __init__(self, potential: Potential, metric: Any, step_size: float, rng: np.random.Generator,
                 h0: float, threshold: float) -> None:
        self.potential, self.metric, self.step_size, self.rng, self.h0 = potential, metric, step_size, rng, h0
        self.threshold = threshold

    def leaf(self, start: Any, p: np.ndarray, direction: int) -> _Tree:
        point, p_new = _leapfrog(self.potential, self.metric, start, p, direction * self.step_size)
        h = _energy(self.metric, point, p_new)
        tree = _Tree(point, p_new, self.metric.velocity(p_new), self.h0 - h)
        tree.num_steps = 1
        tree.accept_sum = _accept_probability(self.h0 - h)
        tree.diverging = h - self.h0 > self.threshold
        return tree

    def build(self, start: Any, p: np.ndarray, direction: int, depth: int) -> _Tree:
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


def nuts(potential: Potential, metric: Any, point: Any, step_size: float, rng: np.random.Generator,
         max_tree_depth: int, threshold: float) -> Outcome:
    """One multinomial NUTS transition from ``point``; a divergence is an energy error above ``threshold``.

    >>> from plait.inference.mcmc.trajectory import Metric, Point
    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> chosen, accept, diverging, energy, depth, steps = nuts(
    ...     potential, Metric(np.ones(2)), Point(np.zeros(2), 0.0, np.zeros(2)), 0.5, np.random.default_rng(0), 10,
    ...     1000.0)
    >>> steps >= 1, diverging
    (True, False)
    """
    if max_tree_depth < 1:
        raise ValueError(f"max_tree_depth must be >= 1, got {max_tree_depth}")
    p0 = metric.momentum(rng)
    h0 = _energy(metric, point, p0)
    builder = _NUTS(potential, metric, step_size, rng, h0, threshold)
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
    energy = _energy(metric, tree.draw, tree.p_draw)
    return (_chosen(tree.draw, point), tree.accept_sum / tree.num_steps, tree.diverging, energy, depth,
            tree.num_steps)


def hmc(potential: Potential, metric: Any, point: Any, step_size: float, rng: np.random.Generator,
        num_steps: int, threshold: float) -> Outcome:
    """Static HMC: ``num_steps`` leapfrogs, then a Metropolis accept of the end point.

    >>> from plait.inference.mcmc.trajectory import Metric, Point
    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> out = hmc(potential, Metric(np.ones(2)), Point(np.ones(2), -1.0, -np.ones(2)), 0.3,
    ...           np.random.default_rng(0), 5, 1000.0)
    >>> out[2], out[5]
    (False, 5)
    """
    p = metric.momentum(rng)
    h0 = _energy(metric, point, p)
    current, diverging = point, False
    for _ in range(num_steps):
        current, p = _leapfrog(potential, metric, current, p, step_size)
        if _energy(metric, current, p) - h0 > threshold:
            diverging = True
            break
    h = _energy(metric, current, p)
    accept = 0.0 if diverging else _accept_probability(h0 - h)
    if rng.random() < accept:
        return (_chosen(current, point), accept, diverging, h, 0, num_steps)
    return (None, accept, diverging, h0, 0, num_steps)


def find_reasonable_step_size(potential: Potential, metric: Any, point: Any, step_size: float,
                              rng: np.random.Generator, target: float) -> float:
    """Double or halve ``step_size`` until one leapfrog's acceptance crosses ``target`` (Stan's heuristic).

    >>> from plait.inference.mcmc.trajectory import Metric, Point
    >>> potential = lambda x: (-50.0 * float(x @ x), -100.0 * x)
    >>> eps = find_reasonable_step_size(potential, Metric(np.ones(1)), Point(np.zeros(1), 0.0, np.zeros(1)), 1.0,
    ...                                 np.random.default_rng(0), 0.8)
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

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

The transitions run compiled (:mod:`plait.ext._trajectory`: C loops over
buffers preallocated per transition, one Python call per leapfrog, the
potential); :mod:`plait.ext.trajectory_reference` is their pure-Python
specification, which they match from the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...ext import _trajectory

__all__ = [
    "DIVERGENCE_THRESHOLD",
    "Metric",
    "Point",
    "Transition",
    "find_reasonable_step_size",
    "hmc_transition",
    "nuts_transition",
]

#: An energy error above this (Stan's and NumPyro's value) is a divergence.
DIVERGENCE_THRESHOLD = 1000.0

Potential = Callable[[np.ndarray], tuple[float, np.ndarray]]


class Point:
    """A position with its log density and gradient (never re-evaluated once known).

    >>> Point(np.zeros(2), -1.8, np.zeros(2)).log_density
    -1.8
    """

    __slots__ = ("grad", "log_density", "x")

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

    __slots__ = ("accept_stat", "diverging", "energy", "num_steps", "point", "tree_depth")

    def __init__(self, point: Point, accept_stat: float, diverging: bool, energy: float, tree_depth: int,
                 num_steps: int) -> None:
        self.point, self.accept_stat, self.diverging = point, accept_stat, diverging
        self.energy, self.tree_depth, self.num_steps = energy, tree_depth, num_steps


def _transition(point: Point, outcome: tuple[Any, float, bool, float, int, int]) -> Transition:
    """The compiled core's answer as a :class:`Transition` (``chosen`` None: the chain stays at ``point``)."""
    chosen, accept_stat, diverging, energy, tree_depth, num_steps = outcome
    new = point if chosen is None else Point(*chosen)
    return Transition(new, accept_stat, diverging, energy, tree_depth, num_steps)


def nuts_transition(potential: Potential, metric: Metric, point: Point, step_size: float,
                    rng: np.random.Generator, max_tree_depth: int = 10) -> Transition:
    """One multinomial NUTS transition from ``point`` (module docstring).

    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> start = Point(np.zeros(2), 0.0, np.zeros(2))
    >>> t = nuts_transition(potential, Metric(np.ones(2)), start, 0.5, np.random.default_rng(0))
    >>> t.num_steps >= 1, t.diverging, 0.0 <= t.accept_stat <= 1.0
    (True, False, True)
    """
    return _transition(point, _trajectory.nuts(potential, metric, point, step_size, rng, max_tree_depth,
                                               DIVERGENCE_THRESHOLD))


def hmc_transition(potential: Potential, metric: Metric, point: Point, step_size: float,
                   rng: np.random.Generator, num_steps: int = 10) -> Transition:
    """Static HMC: ``num_steps`` leapfrogs, then a Metropolis accept of the end point.

    >>> potential = lambda x: (-0.5 * float(x @ x), -x)
    >>> start = Point(np.ones(2), -1.0, -np.ones(2))
    >>> t = hmc_transition(potential, Metric(np.ones(2)), start, 0.3, np.random.default_rng(0), 5)
    >>> t.num_steps, t.diverging
    (5, False)
    """
    return _transition(point, _trajectory.hmc(potential, metric, point, step_size, rng, num_steps,
                                              DIVERGENCE_THRESHOLD))


def find_reasonable_step_size(potential: Potential, metric: Metric, point: Point, step_size: float,
                              rng: np.random.Generator, target: float = 0.8) -> float:
    """Double or halve ``step_size`` until one leapfrog's acceptance crosses ``target`` (Stan's heuristic).

    >>> potential = lambda x: (-0.5 * float(x @ x) * 100.0, -100.0 * x)
    >>> eps = find_reasonable_step_size(potential, Metric(np.ones(1)), Point(np.zeros(1), 0.0, np.zeros(1)), 1.0,
    ...                                 np.random.default_rng(0))
    >>> 0.01 < eps < 0.5
    True
    """
    return float(_trajectory.find_reasonable_step_size(potential, metric, point, step_size, rng, target))

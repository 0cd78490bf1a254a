"""Per-leapfrog cost of the NUTS trajectory machinery: compiled core vs the pure-Python specification.

Run:  python bench/trajectory.py [--dim 10] [--transitions 2000]

Both implementations (:mod:`plait.ext._trajectory` and
:mod:`plait.ext.trajectory_reference`) run NUTS transitions on a cheap
analytic potential (a badly scaled Gaussian whose log density and gradient
cost about a microsecond), diagonal and dense metrics, in this process,
turn about, each from the same seeds.  The potential's own cost, timed
alone on the same points, is subtracted: what remains is the trajectory's
overhead per leaf (one leaf = one leapfrog = one potential call).  The
best of ``--repeats`` interleaved repetitions is printed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from plait.ext import _trajectory, trajectory_reference
from plait.inference.mcmc.trajectory import DIVERGENCE_THRESHOLD, Metric, Point


def gaussian(dim: int) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    precision = 1.0 / np.linspace(0.5, 2.0, dim) ** 2

    def potential(x: np.ndarray) -> tuple[float, np.ndarray]:
        g = -precision * x
        return 0.5 * float(x @ g), g

    return potential


def run(core: Any, potential: Callable[..., Any], metric: Metric, transitions: int) -> tuple[float, int]:
    """Seconds and leaves of ``transitions`` NUTS transitions of a chain started at 0.5."""
    x = np.full(metric.inverse_mass.shape[0], 0.5)
    point = Point(x, *potential(x))
    rng = np.random.default_rng(0)
    leaves = 0
    start = time.perf_counter()
    for _ in range(transitions):
        chosen, _, _, _, _, steps = core.nuts(potential, metric, point, 0.3, rng, 10, DIVERGENCE_THRESHOLD)
        leaves += steps
        if chosen is not None:
            point = Point(*chosen)
    return time.perf_counter() - start, leaves


def potential_alone(potential: Callable[..., Any], dim: int, calls: int) -> float:
    """Seconds per call of the potential alone."""
    x = np.full(dim, 0.5)
    start = time.perf_counter()
    for _ in range(calls):
        potential(x)
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--transitions", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args()
    potential = gaussian(opts.dim)
    cores = {"compiled": _trajectory, "reference": trajectory_reference}
    for name, metric in (("diagonal", Metric(np.linspace(0.5, 2.0, opts.dim) ** 2)),
                         ("dense", Metric(np.diag(np.linspace(0.5, 2.0, opts.dim) ** 2)))):
        best: dict[str, float] = {k: float("inf") for k in cores}
        leaves: dict[str, int] = {}
        alone = float("inf")
        for _ in range(opts.repeats):
            for label, core in cores.items():
                seconds, leaves[label] = run(core, potential, metric, opts.transitions)
                best[label] = min(best[label], seconds / leaves[label])
            alone = min(alone, potential_alone(potential, opts.dim, 20000))
        over = {k: (v - alone) * 1e6 for k, v in best.items()}
        print(f"{name} metric, dim {opts.dim}: {leaves['compiled']} leaves (reference {leaves['reference']}); "
              f"per leaf: compiled {best['compiled'] * 1e6:.2f} us, reference {best['reference'] * 1e6:.2f} us, "
              f"potential alone {alone * 1e6:.2f} us; trajectory overhead per leaf: compiled "
              f"{over['compiled']:.2f} us, reference {over['reference']:.2f} us "
              f"(reference / compiled {over['reference'] / over['compiled']:.1f}x)")


if __name__ == "__main__":
    main()

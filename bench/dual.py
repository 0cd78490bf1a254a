"""Forward-mode overhead: d/dtheta of sum(exp(theta * x) * sin(x)) against plain numpy.

Run:  python bench/dual.py

For x of 1e4 and 1e5 elements, times the plain numpy evaluation, the same
code on a dual theta with one tangent direction, and with k = 8 directions
(eight parameters theta_j, one per direction, all equal in value).  Every
variant is timed interleaved with the baseline in this process; the figure
is the minimum over repetitions, and ratios compare minima from the same
process, because absolute timings drift on shared machines.  Targets
(issue 5): <= 1.5x with one direction, <= (1 + 0.5 k)x = 5x with k = 8.
Also reports the dispatch cost per scalar operation (a 10-op chain on
0-d values, dual against float).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from plait.gradients import Dual, perturbation

REPEATS = 41
K = 8


def f(theta, x):
    return np.sum(np.exp(theta * x) * np.sin(x))


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def chain(v):
    # Ten scalar operations.
    for _ in range(2):
        v = np.sin(v) * 0.5 + v * v - 0.1
    return v + np.exp(-v)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"min of {REPEATS} interleaved runs (python {sys.version.split()[0]}, numpy {np.__version__})")
    print(f"{'n':>7} {'plain us':>10} {'k=1 us':>10} {'ratio':>6} {'k=8 us':>10} {'ratio':>6} {'target':>7}")
    for n in (10_000, 100_000):
        x = rng.uniform(-1.0, 1.0, n)
        with perturbation() as tag:
            one = Dual(0.3, np.ones(1), tag=tag)
            eight = Dual(0.3, np.ones(K), tag=tag)  # the k directions ride on one parameter
            # Check the derivative before timing it.
            expected = np.sum(x * np.exp(0.3 * x) * np.sin(x))
            assert math.isclose(f(one, x).tangent[0], expected, rel_tol=1e-12)
            assert np.allclose(f(eight, x).tangent, expected, rtol=1e-12)
            plain, d1, d8 = [], [], []
            for _ in range(REPEATS):
                plain.append(best(lambda: f(0.3, x), 1))
                d1.append(best(lambda: f(one, x), 1))
                d8.append(best(lambda: f(eight, x), 1))
        p, a, b = min(plain), min(d1), min(d8)
        print(f"{n:>7} {p * 1e6:>10.1f} {a * 1e6:>10.1f} {a / p:>6.2f} {b * 1e6:>10.1f} {b / p:>6.2f} "
              f"{'1.5/5':>7}")
    # Per scalar operation: the chain above, 10 ops.
    with perturbation() as tag:
        d = Dual(0.7, np.ones(1), tag=tag)
        t_dual = min(best(lambda: chain(d), 1) for _ in range(200))
    t_float = min(best(lambda: chain(np.float64(0.7)), 1) for _ in range(200))
    print(f"scalar ops: {t_dual / 10 * 1e6:.2f} us per dual op (k=1), "
          f"{t_float / 10 * 1e6:.2f} us per numpy float64 op")


if __name__ == "__main__":
    main()

"""Benchmark the compiled log-weight kernels against numpy (and scipy).

Run as ``python bench/logweights.py`` with plait importable (installed, or
``PYTHONPATH`` pointing at a directory that contains the package as ``plait``).

For each N and each shape of log-weights (all equal, N(0, 1), N(0, 3)) every
implementation is timed in turn within each repetition, so drifts in machine
speed hit all of them alike, and the minimum over the repetitions is kept.
Times are nanoseconds per element; the last column is compiled / numpy, where
numpy is ``plait.ext.reference``.  Compare ratios from one run only: absolute
times drift between runs.
"""

from __future__ import annotations

import timeit

import numpy as np
import scipy
import scipy.special

import plait.ext
from plait.ext import reference

SIZES = [10**3, 10**4, 10**5, 10**6]
REPEATS = 15
SHAPES = {
    "equal": lambda rng, n: np.zeros(n),
    "N(0,1)": lambda rng, n: rng.normal(0.0, 1.0, n),
    "N(0,3)": lambda rng, n: rng.normal(0.0, 3.0, n),
}
FUNCTIONS = ["logsumexp", "normalize", "log_normalize", "ess"]


def rivals(name: str) -> dict:
    impls = {"compiled": getattr(plait.ext, name), "numpy": getattr(reference, name)}
    if name == "logsumexp":
        impls["scipy"] = scipy.special.logsumexp
    return impls


def time_interleaved(impls: dict, lw: np.ndarray) -> dict[str, float]:
    """Minimum ns per element of each implementation, timed turn about."""
    n = lw.size
    number = max(1, 2 * 10**6 // n)  # a few milliseconds per measurement
    timers = {name: timeit.Timer(lambda f=f: f(lw)) for name, f in impls.items()}
    best = dict.fromkeys(impls, float("inf"))
    for _ in range(REPEATS):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(number) / number)
    return {name: t / n * 1e9 for name, t in best.items()}


def main() -> None:
    print(f"compiled module: {plait.ext.compiled_module().__file__}")
    print(f"numpy {np.__version__}, scipy {scipy.__version__}; "
          f"min of {REPEATS} interleaved repeats; ns per element")
    header = f"{'function':<14}{'shape':<8}{'N':>9}{'compiled':>10}{'numpy':>9}{'scipy':>9}{'c/numpy':>9}"
    rng = np.random.default_rng(2026)
    for name in FUNCTIONS:
        print()
        print(header)
        impls = rivals(name)
        for shape, make in SHAPES.items():
            for n in SIZES:
                lw = make(rng, n)
                np.testing.assert_allclose(impls["compiled"](lw), impls["numpy"](lw), rtol=1e-12)
                t = time_interleaved(impls, lw)
                scipy_col = f"{t['scipy']:9.2f}" if "scipy" in t else f"{'-':>9}"
                print(f"{name:<14}{shape:<8}{n:>9.0e}{t['compiled']:10.2f}{t['numpy']:9.2f}"
                      f"{scipy_col}{t['compiled'] / t['numpy']:9.2f}")


if __name__ == "__main__":
    main()

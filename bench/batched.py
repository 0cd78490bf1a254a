"""Batched execution: plait models as ordinary Python, timed against hand-written numpy filters.

Every row times plait and its baseline interleaved in this process and prints
the ratio (plait / baseline; below 1: plait is faster), min over repeats:

1. the LG-SSM of bench/lgssm_model.py as a plain Python ``for`` loop (``lgssm``:
   no fold, no flag), bootstrap SMC, systematic resampling every step, against
   the numpy filter of bench/filters.py with numpy resampling and against the
   same filter with plait's compiled systematic kernel;
2. T = 1000 against T = 100 (N = 1000): the cost per step must not grow;
3. the 3-state HMM of bench/hmm_model.py, whose kernel branches on the hidden
   state (``if z == 0:`` ... ``elif``), T = 200, N = 1e4, written with
   ``plait.fold``, against the numpy filter of bench/filters.py (numpy
   resampling, as the LG-SSM's baseline); and the mean log evidence over 20 seeds against ``plait.exact``
   (the forward algorithm);
4. a model with a random number of sites (a geometric recursion with an
   observation per level): importance sampling with N = 1e5, batched
   against ``batched=False``, and the posterior mean against exact
   enumeration;
5. peak memory of the plain-loop LG-SSM with N = 1e5 lanes and T = 1000
   (a child process, ru_maxrss).

    python bench/batched.py [--quick]
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plait  # noqa: E402
from filters import (  # noqa: E402
    hmm_data,
    hmm_filter,
    hmm_log_evidence,
    lgssm_filter,
    systematic_compiled,
    systematic_numpy,
)
from hmm_model import hmm_fold  # noqa: E402
from lgssm_model import kalman, lgssm, simulate_data  # noqa: E402

QUICK = "--quick" in sys.argv


def best_of(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Min time of each function, the functions interleaved."""
    times = {k: math.inf for k in fns}
    for _ in range(repeat):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k] = min(times[k], time.perf_counter() - t)
    return times


# -- 1, 2: LG-SSM -------------------------------------------------------------------------
def plait_lgssm(ys: list, n: int, seed: int) -> float:
    return plait.smc(lgssm, ys, num_particles=n, seed=seed, ess_threshold=1.0).log_evidence


def lgssm_rows() -> None:
    ys = simulate_data(100)
    n = 10_000
    t = best_of({
        "numpy": lambda: lgssm_filter(np.array(ys), n, 0, systematic_numpy),
        "numpy+compiled resampler": lambda: lgssm_filter(np.array(ys), n, 0, systematic_compiled),
        "plait": lambda: plait_lgssm(ys, n, 0),
    }, 3 if QUICK else 7)
    print(f"LG-SSM plain loop, T = 100, N = {n}: plait {1e3 * t['plait']:.1f} ms, "
          f"numpy {1e3 * t['numpy']:.1f} ms, numpy+compiled {1e3 * t['numpy+compiled resampler']:.1f} ms")
    print(f"RATIO lgssm plain loop / numpy filter = {t['plait'] / t['numpy']:.2f} (target <= 2)")
    print(f"RATIO lgssm plain loop / numpy filter with compiled resampler = "
          f"{t['plait'] / t['numpy+compiled resampler']:.2f} (target <= 1.3)")
    print(f"  log Z: plait {plait_lgssm(ys, n, 1):.3f}, Kalman {kalman(ys):.3f}")
    long_ys = simulate_data(1000)
    t = best_of({"T=100": lambda: plait_lgssm(ys, 1000, 0), "T=1000": lambda: plait_lgssm(long_ys, 1000, 0)},
                2 if QUICK else 3)
    ratio = (t["T=1000"] / 1000) / (t["T=100"] / 100)
    print(f"RATIO cost per step T=1000 / T=100 (N = 1000) = {ratio:.2f} (target <= 1.5)")


# -- 3: HMM with branches -----------------------------------------------------------------
def hmm_rows() -> None:
    _, ys = hmm_data(200)
    ys = ys.tolist()
    n = 10_000
    run = lambda: plait.smc(hmm_fold, ys, num_particles=n, seed=0, ess_threshold=1.0)  # noqa: E731
    t = best_of({"numpy": lambda: hmm_filter(np.array(ys), n, 0, systematic_numpy), "plait": run},
                2 if QUICK else 3)
    print(f"HMM with branches (fold), T = 200, N = {n}: plait {1e3 * t['plait']:.0f} ms, "
          f"numpy {1e3 * t['numpy']:.0f} ms; forks per run {run().replayed}")
    print(f"RATIO hmm branches / numpy filter = {t['plait'] / t['numpy']:.2f} (target <= 5)")
    seeds = 5 if QUICK else 20
    estimates = np.array([plait.smc(hmm_fold, ys, num_particles=n, seed=s).log_evidence for s in range(seeds)])
    se = estimates.std(ddof=1) / math.sqrt(seeds)
    exact = plait.exact(hmm_fold, ys).log_evidence  # the forward algorithm, by plait's exact engine
    assert abs(exact - hmm_log_evidence(np.array(ys))) < 1e-8
    print(f"  mean log Z over {seeds} seeds {estimates.mean():.3f} +- {se:.3f} (SE); plait.exact "
          f"{exact:.3f}; |difference| / SE = {abs(estimates.mean() - exact) / se:.2f} (target <= 3)")


# -- 4: random number of sites ------------------------------------------------------------
def geometric(y):
    depth = 0
    while (yield plait.sample(("stop", depth), plait.Bernoulli(0.4))) == 0:
        depth += 1
        if depth > 30:
            break
    yield plait.observe("y", plait.Normal(float(depth), 1.0), y)
    return depth


def geometric_exact(y: float) -> float:
    ks = np.arange(31)
    prior = 0.4 * 0.6 ** ks
    post = prior * np.exp(-0.5 * (y - ks) ** 2)
    return float((ks * post).sum() / post.sum())


def geometric_rows() -> None:
    n = 100_000
    y = 3.0
    t = best_of({
        "per-particle": lambda: plait.importance(geometric, y, num_particles=n // 10, seed=0, batched=False),
        "batched": lambda: plait.importance(geometric, y, num_particles=n, seed=0),
    }, 1 if QUICK else 2)
    speedup = (t["per-particle"] * 10) / t["batched"]
    pop = plait.importance(geometric, y, num_particles=n, seed=1)
    mean = pop.expectation(float)
    w, v = pop.weights, np.array(pop.values, dtype=float)
    se = float(math.sqrt(np.sum(w**2 * (v - mean) ** 2)))  # self-normalised estimator's standard error
    print(f"geometric recursion, importance N = {n}: batched {1e3 * t['batched']:.0f} ms, per-particle "
          f"{1e3 * t['per-particle'] * 10:.0f} ms (timed at N/10, scaled); forks {pop.replayed}")
    print(f"RATIO geometric per-particle / batched (speed-up) = {speedup:.1f} (target >= 20)")
    print(f"  posterior mean {mean:.4f} (SE {se:.4f}), exact {geometric_exact(y):.4f}, "
          f"|difference| / SE = {abs(mean - geometric_exact(y)) / se:.2f} (target <= 4)")


# -- 5: memory ----------------------------------------------------------------------------
def memory_child() -> None:
    ys = simulate_data(1000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pop = plait.smc(lgssm, ys, num_particles=100_000, seed=0, ess_threshold=1.0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{peak / 2**20:.3f} {before / 2**20:.3f} {pop.log_evidence:.2f}")


def memory_rows() -> None:
    out = subprocess.run([sys.executable, __file__, "--memory-child"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=True)
    peak, before, log_z = out.stdout.split()
    print(f"LG-SSM plain loop, N = 1e5, T = 1000: peak memory {float(peak):.2f} GiB "
          f"(process before the run {float(before):.2f} GiB; target < 2); log Z {log_z}")


if __name__ == "__main__":
    if "--memory-child" in sys.argv:
        memory_child()
    else:
        lgssm_rows()
        hmm_rows()
        geometric_rows()
        if not QUICK:
            memory_rows()

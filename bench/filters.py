"""Hand-written numpy particle filters: the baselines of the batched-execution benches.

Issue 17's acceptance benches state their targets as ratios to these filters,
timed in the same process:

* ``lgssm_filter``: the bootstrap filter of the LG-SSM of ``lgssm_model.py``
  (the model of ``plait.smc``'s ``lgssm``: x0 from the stationary law, then
  move and observe at every step), systematic resampling at every step.  With
  ``resample=systematic_numpy`` it is "the hand-written numpy filter"; with
  ``resample=systematic_compiled`` (plait's compiled kernel) "the numpy
  filter with the fast Cython resampler".
* ``hmm_filter``: the bootstrap filter of the 3-state HMM of
  ``hmm_model.py``, the same way; ``hmm_log_evidence`` is that model's exact
  log evidence by the forward algorithm.
* ``lgssm_data`` and ``hmm_data`` simulate the observations.

Each filter returns its log-evidence estimate (unbiased for the evidence).
Run as a script it times both resamplers, interleaved, and checks the
estimates against the Kalman filter and the forward algorithm::

    PYTHONPATH=/work/wt/NAME python plait/bench/filters.py [--repeats 7]

To compare with the anchors' own numpy filters (``np_pf``, ``np_pf_cyres``),
set up ``../shared/bench-anchors`` (its README) and run ``bench_smc.py`` with
``--impl numpy=bench.adapters:numpy_filter_logz --impl
numpy_fast=bench.adapters:numpy_filter_fast_logz`` (see ``adapters.py``).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable

import numpy as np
import plait
from hmm_model import INITIAL, MEANS, SD, TRANSITION  # bench/ is on sys.path
from lgssm_model import PHI, SX, SY, kalman, simulate_data

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
Resampler = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# --- resamplers: log-weights and a Generator to ancestors ----------------------


def systematic_numpy(log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling in numpy: cumulative weights, points, searchsorted."""
    n = log_weights.shape[0]
    cumulative = np.cumsum(np.exp(log_weights - log_weights.max()))
    points = (rng.random() + np.arange(n)) * (cumulative[-1] / n)
    ancestors = np.searchsorted(cumulative, points, side="right")
    if ancestors[-1] == n:  # rounding pushed the last points past the total
        np.minimum(ancestors, n - 1, out=ancestors)
    return ancestors


def systematic_compiled(log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """plait's compiled systematic kernel (``plait.ext.systematic``)."""
    return plait.ext.systematic(log_weights, rng=rng)


def log_mean_exp(log_weights: np.ndarray) -> float:
    m = log_weights.max()
    return float(m + math.log(np.exp(log_weights - m).mean()))


# --- data -------------------------------------------------------------------------


def lgssm_data(steps: int, seed: int = 42) -> np.ndarray:
    """Observations of the LG-SSM (those of ``lgssm_model.simulate_data``)."""
    return np.array(simulate_data(steps, seed))


def hmm_data(steps: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states and observations of the HMM, simulated from the model."""
    rng = np.random.default_rng(seed)
    z = rng.choice(3, p=INITIAL)
    states, ys = np.empty(steps, dtype=np.int64), np.empty(steps)
    for t in range(steps):
        z = rng.choice(3, p=TRANSITION[z])
        states[t], ys[t] = z, rng.normal(MEANS[z], SD)
    return states, ys


# --- the filters --------------------------------------------------------------------


def lgssm_filter(ys: np.ndarray, n: int, seed: int, resample: Resampler = systematic_numpy) -> float:
    """Bootstrap filter of the LG-SSM with ``n`` particles, resampling at every step."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, SX / math.sqrt(1.0 - PHI**2), n)
    offset, scale = -math.log(SY) - LOG_SQRT_2PI, 0.5 / (SY * SY)
    log_z, log_w = 0.0, np.zeros(n)
    for t, y in enumerate(ys):
        if t:
            x = x[resample(log_w, rng)]
        x *= PHI
        x += SX * rng.standard_normal(n)
        d = y - x
        log_w = offset - scale * (d * d)
        log_z += log_mean_exp(log_w)
    return log_z


def hmm_filter(ys: np.ndarray, n: int, seed: int, resample: Resampler = systematic_numpy) -> float:
    """Bootstrap filter of the HMM with ``n`` particles, resampling at every step.

    A move draws one uniform per particle and counts the cumulative transition
    probabilities of its state below it (one gather per state but the last).
    """
    rng = np.random.default_rng(seed)
    thresholds = np.cumsum(TRANSITION, axis=1)[:, :-1].T.copy()  # [k] = P(next <= k | z)
    means = np.array(MEANS)
    z = np.searchsorted(np.cumsum(INITIAL), rng.random(n), side="right")
    offset = -math.log(SD) - LOG_SQRT_2PI
    log_z, log_w = 0.0, np.zeros(n)
    for t, y in enumerate(ys):
        if t:
            z = z[resample(log_w, rng)]
        u = rng.random(n)
        moved = (u >= thresholds[0][z]).astype(np.intp)
        for column in thresholds[1:]:
            moved += u >= column[z]
        z = moved
        d = (y - means[z]) / SD
        log_w = offset - 0.5 * (d * d)
        log_z += log_mean_exp(log_w)
    return log_z


def hmm_log_evidence(ys: np.ndarray) -> float:
    """The HMM's exact log evidence, by the forward algorithm."""
    alpha = np.array(INITIAL)
    transition, means = np.array(TRANSITION), np.array(MEANS)
    log_z = 0.0
    for y in ys:
        alpha = alpha @ transition
        alpha *= np.exp(-0.5 * ((y - means) / SD) ** 2 - math.log(SD) - LOG_SQRT_2PI)
        total = alpha.sum()
        log_z += math.log(total)
        alpha /= total
    return log_z


# --- as a script: time the two resamplers, check the estimates ------------------------


def interleaved(runners: dict, repeats: int) -> dict:
    """Minimum seconds of each runner over shuffled, interleaved repetitions."""
    times: dict = {name: [] for name in runners}
    order = [name for name in runners for _ in range(repeats)]
    random.Random(0).shuffle(order)
    for count, name in enumerate(order):
        start = time.perf_counter()
        runners[name](count)
        times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def check(name: str, estimates: list, exact: float) -> None:
    mean = float(np.mean(estimates))
    se = float(np.std(estimates, ddof=1) / math.sqrt(len(estimates)))
    print(f"  {name}: mean log Z {mean:.4f} +- {se:.4f} over {len(estimates)} seeds, "
          f"exact {exact:.4f}, {abs(mean - exact) / se:.1f} SE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=20)
    options = parser.parse_args()
    cases = [("LG-SSM", lgssm_filter, lgssm_data(100), 1000), ("LG-SSM", lgssm_filter, lgssm_data(100), 10000),
             ("HMM", hmm_filter, hmm_data(200)[1], 10000)]
    for model, run, ys, n in cases:
        timed = interleaved({
            "numpy": lambda r, run=run, ys=ys, n=n: run(ys, n, r),
            "numpy + compiled": lambda r, run=run, ys=ys, n=n: run(ys, n, r, systematic_compiled),
        }, options.repeats)
        print(f"{model}, T = {len(ys)}, N = {n}: numpy filter {timed['numpy'] * 1e3:.2f} ms, "
              f"with plait's compiled systematic {timed['numpy + compiled'] * 1e3:.2f} ms; "
              f"ratio {timed['numpy + compiled'] / timed['numpy']:.3f}")
        exact = kalman(list(ys)) if model == "LG-SSM" else hmm_log_evidence(ys)
        for name, resample in (("numpy", systematic_numpy), ("compiled", systematic_compiled)):
            check(name, [run(ys, min(n, 1000), seed, resample) for seed in range(options.seeds)], exact)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

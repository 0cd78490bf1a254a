"""The LG-SSM acceptance check of plait.smc, for every tier and resampler.

Run:  python bench/lgssm_acceptance.py [--tiers a b c] [--particles 1000] [--steps 100] [--seeds 20]

For each tier and resampler it runs plait.smc on the linear-Gaussian
state-space model (x0 from the stationary law, x_t = 0.9 x_{t-1} + N(0, 1),
y_t = x_t + N(0, 0.5^2), data from a fixed seed) with seeds 0..seeds-1, and
prints the mean log-evidence, its standard error, the Kalman filter's log
likelihood and the distance in standard errors (the criterion: within 3).
Tier (a) runs the model written as a Python loop; tiers (b) and (c) the
same model written with plait.fold (tier (c) with vectorized=True).  The test
suite runs tiers (b) and (c) at full size; tier (a) at full size takes about
a quarter of an hour per resampler, so it lives here.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import plait

from lgssm_model import kalman, lgssm, lgssm_fold, simulate_data  # bench/ is on sys.path

TIERS = {
    "a": (lgssm, {}),
    "b": (lgssm_fold, {}),
    "c": (lgssm_fold, {"vectorized": True}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiers", nargs="*", default=["a", "b", "c"])
    parser.add_argument("--resamplers", nargs="*", default=list(plait.inference.particles.resampling.RESAMPLERS))
    parser.add_argument("--particles", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=20)
    options = parser.parse_args()
    ys = simulate_data(options.steps)
    exact = kalman(ys)
    print(f"LG-SSM T = {options.steps}, N = {options.particles}, {options.seeds} seeds; Kalman {exact:.4f}")
    worst = 0.0
    for tier in options.tiers:
        model, extra = TIERS[tier]
        for resampler in options.resamplers:
            start = time.perf_counter()
            pops = [plait.smc(model, ys, num_particles=options.particles, resampler=resampler, seed=s, **extra)
                    for s in range(options.seeds)]
            seconds = time.perf_counter() - start
            estimates = np.array([p.log_evidence for p in pops])
            se = estimates.std(ddof=1) / math.sqrt(len(estimates))
            z = (estimates.mean() - exact) / se
            worst = max(worst, abs(z))
            ran = {p.tier for p in pops}
            print(f"tier {tier} ({'/'.join(sorted(ran))}) {resampler:12s} mean {estimates.mean():.4f} "
                  f"se {se:.4f} z {z:+.2f}  ({seconds:.1f} s)", flush=True)
    print(f"largest |z| = {worst:.2f} (criterion: < 3)")
    return 0 if worst < 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""SMC on the linear-Gaussian state-space model: plait tiers against baselines.

Run:  python bench/smc.py [--particles 1000] [--steps 100]

Model: x0 ~ N(0, 1/(1 - 0.9^2)), x_t = 0.9 x_{t-1} + N(0, 1),
y_t = x_t + N(0, 0.5^2), data simulated from a fixed seed.  For each N the
script times, in the same process: plait.smc on the model written as a plain
Python loop (tier (a): live generators + replay of resampled copies), the
model written with ``plait.fold`` (tier (b), explicit loop state) and the same
model with ``vectorized=True`` (tier (c)), a hand-written vectorized numpy
bootstrap filter, and the ``particles`` package's bootstrap filter when it is
installed (a benchmark-only dependency: ``pip install --no-deps particles
numba``).  Runs are interleaved in shuffled order and the minimum is kept.
It prints seconds per run, microseconds per particle-step, the fraction of
resampled particles that tier (a) had to rebuild by replay, each
log-evidence next to the Kalman filter's, and the ratios the targets are
stated in: tier (c) / numpy (target <= 1.5), tier (c) / particles (target
< 1), tier (b) us per particle-step (target <= 5).
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np

import plait

from lgssm_model import PHI, SX, SY, kalman, lgssm, lgssm_fold, simulate_data  # noqa: F401  (bench/ is on sys.path)


def numpy_bootstrap(ys: list, n: int, seed: int) -> float:
    """A hand-written vectorized bootstrap filter with ESS-triggered systematic resampling."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2)), n)
    log_w = np.zeros(n)
    log_z = 0.0
    for y in ys:
        x = PHI * x + rng.normal(0.0, SX, n)
        log_w += -0.5 * ((y - x) / SY) ** 2 - math.log(SY * math.sqrt(2 * math.pi))
        m = log_w.max()
        w = np.exp(log_w - m)
        if w.sum() ** 2 / (w * w).sum() < 0.5 * n:
            log_z += m + math.log(w.mean())
            cumulative = np.cumsum(w / w.sum())
            cumulative[-1] = 1.0
            x = x[np.searchsorted(cumulative, (np.arange(n) + rng.random()) / n, side="right")]
            log_w = np.zeros(n)
    m = log_w.max()
    return log_z + m + math.log(np.exp(log_w - m).mean())


def particles_filter(ys: list, n: int, seed: int) -> float:
    import particles  # noqa: F401  (benchmark-only dependency)
    from particles import distributions as dists
    from particles import state_space_models as ssm

    class LGSSM(ssm.StateSpaceModel):
        def PX0(self):
            return dists.Normal(loc=0.0, scale=math.sqrt(1.0 / (1.0 - PHI**2)))

        def PX(self, t, xp):
            return dists.Normal(loc=PHI * xp, scale=SX)

        def PY(self, t, xp, x):
            return dists.Normal(loc=x, scale=SY)

    np.random.seed(seed)  # particles draws from numpy's global state
    # particles' model observes y_0 at x_0; prepend x0's prior step by shifting.
    fk = ssm.Bootstrap(ssm=LGSSM(), data=np.array(ys))
    alg = particles.SMC(fk=fk, N=n, resampling="systematic", ESSrmin=0.5)
    alg.run()
    return float(alg.logLt)


def interleaved(runners: dict, repeats: int) -> dict:
    """Minimum seconds and last result of each runner, over shuffled interleaved repeats."""
    times = {name: [] for name in runners}
    results = {}
    order = [name for name in runners for _ in range(repeats)]
    random.Random(0).shuffle(order)
    for count, name in enumerate(order):
        start = time.perf_counter()
        results[name] = runners[name](count)
        times[name].append(time.perf_counter() - start)
    return {name: (min(times[name]), results[name]) for name in runners}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--particles", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tier-a-max", type=int, default=1000, help="skip tier (a) above this N")
    options = parser.parse_args()
    ys = simulate_data(options.steps)
    print(f"LG-SSM, T = {options.steps}; Kalman log-likelihood {kalman(ys):.4f}")
    print(f"{'N':>6} {'implementation':34s} {'s/run':>8s} {'us/particle-step':>17s} {'log Z':>10s}  notes")
    try:
        import particles  # noqa: F401
        have_particles = True
    except ImportError:
        have_particles = False
    for n in options.particles:
        steps = n * options.steps
        runners = {
            "plait.smc tier (b), fold": lambda r: plait.smc(lgssm_fold, ys, num_particles=n, seed=r),
            "plait.smc tier (c), vectorized": lambda r: plait.smc(
                lgssm_fold, ys, num_particles=n, seed=r, vectorized=True),
            "hand-written numpy bootstrap": lambda r: numpy_bootstrap(ys, n, r),
        }
        if have_particles:
            runners["particles bootstrap"] = lambda r: particles_filter(ys, n, r)
        timed = interleaved(runners, options.repeats)
        if n <= options.tier_a_max:
            timed["plait.smc tier (a), Python loop"] = interleaved(
                {"a": lambda r: plait.smc(lgssm, ys, num_particles=n, seed=r)}, 1)["a"]
        for name, (seconds, result) in timed.items():
            note = ""
            log_z = result if isinstance(result, float) else result.log_evidence
            if name.startswith("plait"):
                note = f"tier {result.tier}, {result.resample_count} resamplings"
                if "(a)" in name:
                    rebuilt = result.replayed / max(1, result.resample_count * n)
                    note += f", {rebuilt:.0%} of particles rebuilt per resampling"
            if name.startswith("particles"):
                note = "observes y_0 at x_0 (model differs by one step)"
            print(f"{n:>6} {name:34s} {seconds:8.4f} {seconds / steps * 1e6:17.3f} {log_z:10.3f}  {note}")
        vec = timed["plait.smc tier (c), vectorized"][0]
        ratios = f"  N={n}: tier (c) / numpy = {vec / timed['hand-written numpy bootstrap'][0]:.2f}"
        if have_particles:
            ratios += f", tier (c) / particles = {vec / timed['particles bootstrap'][0]:.3f}"
        ratios += f", tier (b) = {timed['plait.smc tier (b), fold'][0] / steps * 1e6:.2f} us/particle-step"
        print(ratios)
    if not have_particles:
        print("particles: not installed (pip install --no-deps particles numba)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

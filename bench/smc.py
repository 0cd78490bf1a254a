"""SMC on the linear-Gaussian state-space model: plait tiers against baselines.

Run:  python bench/smc.py [--particles 1000] [--steps 100]

Model: x0 ~ N(0, 1/(1 - 0.9^2)), x_t = 0.9 x_{t-1} + N(0, 1),
y_t = x_t + N(0, 0.5^2), data simulated from a fixed seed.  For each N the
script times, in the same process: plait.smc on the model written as a plain
Python loop (tier (a): live generators + replay of resampled copies), a
hand-written vectorised numpy bootstrap filter, and the ``particles``
package's bootstrap filter when it is installed (a benchmark-only
dependency: ``pip install --no-deps particles numba``).  It prints seconds
per run, microseconds per particle-step, the fraction of resampled
particles that tier (a) had to rebuild by replay, and each log-evidence next
to the Kalman filter's.  Tiers (b) and (c) (explicit-state and vectorised
loops) are not implemented yet.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import plait

PHI, SX, SY = 0.9, 1.0, 0.5


def simulate_data(steps: int, seed: int = 42) -> list:
    rng = np.random.default_rng(seed)
    x, ys = rng.normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))), []
    for _ in range(steps):
        x = PHI * x + rng.normal(0.0, SX)
        ys.append(float(x + rng.normal(0.0, SY)))
    return ys


def kalman(ys: list) -> float:
    m, p, ll = 0.0, 1.0 / (1.0 - PHI**2), 0.0
    for y in ys:
        m, p = PHI * m, PHI * PHI * p + SX * SX
        s = p + SY * SY
        ll += -0.5 * (math.log(2 * math.pi * s) + (y - m) ** 2 / s)
        gain = p / s
        m, p = m + gain * (y - m), (1 - gain) * p
    return ll


def lgssm(ys):
    x = yield plait.sample("x0", plait.Normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))))
    for t, y in enumerate(ys):
        x = yield plait.sample(("x", t), plait.Normal(PHI * x, SX))
        yield plait.observe(("y", t), plait.Normal(x, SY), y)
    return x


def numpy_bootstrap(ys: list, n: int, seed: int) -> float:
    """A hand-written vectorised bootstrap filter with ESS-triggered systematic resampling."""
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


def best(fn, repeats: int) -> tuple:
    times, result = [], None
    for r in range(repeats):
        start = time.perf_counter()
        result = fn(r)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--particles", type=int, nargs="*", default=[1000])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    ys = simulate_data(options.steps)
    print(f"LG-SSM, T = {options.steps}; Kalman log-likelihood {kalman(ys):.4f}")
    print(f"{'N':>6} {'implementation':34s} {'s/run':>8s} {'us/particle-step':>17s} {'log Z':>10s}  notes")
    for n in options.particles:
        steps = n * options.steps
        rows = []
        seconds, pop = best(lambda r: plait.smc(lgssm, ys, num_particles=n, seed=r), options.repeats)
        rebuilt = pop.replayed / max(1, pop.resample_count * n)
        rows.append(("plait.smc tier (a)", seconds, pop.log_evidence, f"{rebuilt:.0%} of particles rebuilt per resampling, {pop.resample_count} resamplings"))
        seconds, log_z = best(lambda r: numpy_bootstrap(ys, n, r), options.repeats * 3)
        rows.append(("hand-written numpy bootstrap", seconds, log_z, ""))
        try:
            seconds, log_z = best(lambda r: particles_filter(ys, n, r), options.repeats)
            rows.append(("particles bootstrap", seconds, log_z, "observes y_0 at x_0 (model differs by one step)"))
        except ImportError:
            rows.append(("particles bootstrap", float("nan"), float("nan"), "particles: not installed"))
        for name, seconds, log_z, note in rows:
            print(f"{n:>6} {name:34s} {seconds:8.3f} {seconds / steps * 1e6:17.2f} {log_z:10.3f}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

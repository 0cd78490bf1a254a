"""Single-site MH throughput on a 100-site model, against plain re-execution.

Run:  python bench/mh.py [--sites 100] [--steps 3000]

The model has ``sites`` latent Normal sites, each observed once
(x_i ~ N(0, 1), y_i ~ N(x_i, 1)).  The script prints single-site MH steps
per second (``plait.mh`` with the default kernel, no burn-in) and, as the
in-process baseline, how many plain forward runs of the same model
(``plait.simulate``) fit in the same time: an MH step re-executes the
program once and scores it, so the ratio shows the overhead on top of one
re-execution.
"""

from __future__ import annotations

import argparse
import time

import plait


def model(n):
    total = 0.0
    for i in range(n):
        x = yield plait.sample(("x", i), plait.Normal(0.0, 1.0))
        yield plait.observe(("y", i), plait.Normal(x, 1.0), 0.5)
        total += x
    return total


def best(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--steps", type=int, default=3000)
    options = parser.parse_args()
    n, steps = options.sites, options.steps
    mh_seconds = best(lambda: plait.mh(model, n, num_samples=steps, seed=0))
    sim_seconds = best(lambda: [plait.simulate(model, n, seed=s).log_joint for s in range(steps)])
    print(f"model: {n} latent + {n} observed sites")
    print(f"single-site MH: {steps / mh_seconds:9.0f} steps/s  ({mh_seconds / steps * 1e6:.0f} us/step)")
    print(f"simulate + log_joint: {steps / sim_seconds:9.0f} runs/s   ({sim_seconds / steps * 1e6:.0f} us/run)")
    print(f"MH step / forward run = {mh_seconds / sim_seconds:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

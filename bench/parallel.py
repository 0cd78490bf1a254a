"""Independent SMC runs on a process pool: the speed-up of 2 worker processes over 1.

Run:  python bench/parallel.py [--runs 8] [--particles 400] [--steps 30]

Workload: ``plait.smc(lgssm, ys, num_particles=N, num_runs=8)`` on the
linear-Gaussian state-space model (bench/lgssm_model.py) written as a plain
Python loop (tier (a)), sized so one run takes about a second and the
start-up of the worker processes is amortised.  In the same process it times
the 8 runs in this process (no executor), on ``ProcessPoolExecutor(1)`` and
on ``ProcessPoolExecutor(2)``, pool start-up included, interleaved over
``--repeats`` rounds, keeping each one's minimum.  It checks that the three
give byte-identical populations (seeds are spawned, so executors only decide
where runs happen) and prints seconds, the speed-up of 2 processes over 1
(target >= 1.7 on a 2-core machine) and the load average, since other
processes on the machine take cores away from the pool.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import plait

from lgssm_model import lgssm, simulate_data  # noqa: E402  (bench/ is on sys.path)


def timed(ys: list, args: argparse.Namespace, workers: int) -> tuple:
    start = time.perf_counter()
    if workers == 0:
        runs = plait.smc(lgssm, ys, num_particles=args.particles, num_runs=args.runs, seed=1)
    else:
        with ProcessPoolExecutor(workers) as pool:
            runs = plait.smc(lgssm, ys, num_particles=args.particles, num_runs=args.runs, seed=1, executor=pool)
    return time.perf_counter() - start, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--particles", type=int, default=400)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    ys = simulate_data(args.steps)
    best = {0: float("inf"), 1: float("inf"), 2: float("inf")}
    reference = None
    for _ in range(args.repeats):
        for workers in (1, 2, 0):
            seconds, runs = timed(ys, args, workers)
            best[workers] = min(best[workers], seconds)
            weights = [p.log_weights.tobytes() for p in runs]
            reference = reference or weights
            assert weights == reference, "executors gave different populations"
    print(f"{args.runs} SMC runs x {args.particles} particles x {args.steps} steps (tier (a)), "
          f"{os.cpu_count()} cores")
    print(f"  in this process          {best[0]:7.2f} s  ({best[0] / args.runs:.2f} s per run)")
    print(f"  ProcessPoolExecutor(1)   {best[1]:7.2f} s")
    print(f"  ProcessPoolExecutor(2)   {best[2]:7.2f} s")
    print(f"speed-up 2 processes / 1 process: {best[1] / best[2]:.2f}x (target >= 1.7); "
          f"over in-process: {best[0] / best[2]:.2f}x")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()

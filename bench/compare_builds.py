"""Two builds of plait, the same workloads, interleaved: is the new one slower?

Each build is a folder that contains a built ``plait`` package (a git
worktree's parent, as ``/work/wt/old`` for ``/work/wt/old/plait``).  For each
engine the script alternates processes of the two builds (``--rounds`` each);
every process runs the workload once to warm up, then 7 times, and reports
its fastest run.  The ratio printed is new / old of the fastest runs (below 1:
the new build is faster).

    python bench/compare_builds.py OLD_ROOT NEW_ROOT [--rounds 3] [--engines sim,mh,a,b,ve,sir1]

Engines: ``sim`` (20 runs of a 50-site model), ``mh`` (200 draws of it),
``a``/``b`` (per-particle SMC tiers on the LG-SSM, T = 30, N = 200: a plain
loop, and ``fold``; ``batched=False`` where the build has it), ``ve``/``sir1``
(5 GradInf estimates of the queue, n = 50, theta = 15).
"""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
import time
from typing import Any, Callable


def workloads(plait: Any) -> dict[str, Callable[[], Any]]:
    """The engines' workloads, built on the given plait module."""
    from lgssm_model import lgssm, lgssm_fold, simulate_data

    ys = simulate_data(30)
    per_particle = {"batched": False} if "batched" in inspect.signature(plait.smc).parameters else {}

    def model(n):
        total = 0.0
        for i in range(n):
            x = yield plait.sample(("x", i), plait.Normal(0.0, 1.0))
            yield plait.observe(("y", i), plait.Normal(x, 1.0), 0.5)
            total += x
        return total

    def queue(theta):
        def kernel(x):
            c = 25 if x > 25 else x
            b = yield plait.sample("b", plait.Bernoulli(theta / (theta + c)), coupling="crn")
            return x + 1 if b else x - 1
        return (yield plait.iterate(kernel, 0, 50, name="q"))

    return {
        "sim": lambda: [plait.simulate(model, 50, seed=0) for _ in range(20)],
        "mh": lambda: plait.mh(model, 50, num_samples=200, seed=0),
        "a": lambda: plait.smc(lgssm, ys, num_particles=200, seed=0, loops=False, **per_particle),
        "b": lambda: plait.smc(lgssm_fold, ys, num_particles=200, seed=0, **per_particle),
        "ve": lambda: [plait.gradinf(queue, 15.0, inference=plait.VariableElimination(), seed=s) for s in range(5)],
        "sir1": lambda: [plait.gradinf(queue, 15.0, inference=plait.SIR(1), seed=s) for s in range(5)],
    }


def child(root: str, engine: str) -> None:
    """In a fresh process: the fastest of 7 runs of ``engine`` with the build at ``root``."""
    sys.path[:0] = [root, root + "/plait/bench"]
    import plait

    run = workloads(plait)[engine]
    run()
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    print(best)


def timed(root: str, engine: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", root, engine], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"})
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="sim,mh,a,b,ve,sir1")
    options = parser.parse_args()
    for engine in options.engines.split(","):
        old, new = [], []
        for _ in range(options.rounds):
            old.append(timed(options.old, engine))
            new.append(timed(options.new, engine))
        print(f"{engine}: old {1e3 * min(old):.2f} ms, new {1e3 * min(new):.2f} ms")
        print(f"RATIO {engine} new / old = {min(new) / min(old):.3f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()

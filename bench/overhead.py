"""Interpreter overhead per effect: plait.simulate against a bare generator loop.

Run:  python bench/overhead.py

The model has 1000 sites, each ``sample(("x", i), Normal(0, 1))``.  The
baseline drives a generator that yields 1000 tuples with plain ``gen.send``
and answers each with the same standard-normal draw plait makes (both
start from ``default_rng(seed)``, and the script checks they produce the
same numbers).  Every variant is timed interleaved with the baseline in this
process; the figure is the minimum over repetitions, and the ratio compares
minima from the same process, because absolute timings drift on shared machines.
Targets (issue 2): at most 1.5 us per site and at most 3x the bare loop.
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np

import plait

N_SITES = 1000
REPEATS = 61


def plait_model(n):
    total = 0.0
    for i in range(n):
        total += yield plait.sample(("x", i), plait.Normal(0, 1))
    return total


def bare_model(n):
    total = 0.0
    for i in range(n):
        total += yield ("x", i)
    return total


def bare_loop(seed):
    rng = np.random.default_rng(seed)
    draw = rng.standard_normal
    gen = bare_model(N_SITES)
    send = gen.send
    values = []
    try:
        send(None)
        while True:
            value = draw()
            values.append(value)
            send(value)
    except StopIteration as stop:
        return stop.value, values


def plait_simulate(seed):
    return plait.simulate(plait_model, N_SITES, seed=seed)


def plait_run_base_only(seed):
    return plait.run(plait_model, N_SITES, seed=seed)


# A pass-through handler outside the trace handler: the trace then records
# every effect itself instead of reading the base interpreter's record, and
# each effect crosses two Python handler layers.
TRACE_INSIDE_ANOTHER = (plait.handlers.TraceHandler(), plait.handlers.Handler())


def plait_trace_two_layers(seed):
    return plait.run(plait_model, N_SITES, handlers=TRACE_INSIDE_ANOTHER, seed=seed).trace


def best_of(fn, rounds):
    times = []
    for seed in range(rounds):
        start = time.perf_counter()
        fn(seed)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    total, values = bare_loop(0)
    trace = plait_simulate(0)
    assert list(trace.latents.values()) == values, "baseline and plait must draw the same normals"

    variants = {
        "bare gen.send loop + draw": bare_loop,
        "plait.simulate (trace handler)": plait_simulate,
        "plait.run (base interpreter only)": plait_run_base_only,
        "trace inside a pass-through handler": plait_trace_two_layers,
    }
    samples = {name: [] for name in variants}
    order = list(variants.items())
    shuffler = random.Random(0)
    for _ in range(REPEATS):
        # Interleave, in a fresh order each round, so that drift and the
        # garbage one variant leaves behind hit every variant alike.
        shuffler.shuffle(order)
        for name, fn in order:
            samples[name].extend(best_of(fn, 1))
    base = min(samples["bare gen.send loop + draw"])
    print(f"{N_SITES}-site model, min of {REPEATS} interleaved runs (python {sys.version.split()[0]})")
    print(f"{'variant':38s} {'us/site':>8s} {'ratio vs bare':>14s}")
    # The first two rows are the acceptance figures.
    for name, times in samples.items():
        best = min(times)
        print(f"{name:38s} {best / N_SITES * 1e6:8.3f} {best / base:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

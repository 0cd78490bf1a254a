"""Exact enumeration throughput: plait.exact on three programs.

Run:  python bench/exact.py

1. Flips: ``FLIPS`` independent ``sample(("f", i), Bernoulli(0.5))`` sites in a
   Python loop, returning their sum: 2**FLIPS paths, every one replayed, no
   merging possible before the end.  Timed once (it takes seconds); reported
   as paths per second.  A 16-flip run is timed first, and if the 20-flip run
   is predicted to take over 60 s the figure stays at 16 flips (the table
   says so).
2. HMM: the 2-state Gaussian HMM of tests/test_exact.py with T = 1000
   observations written with ``plait.fold``, so paths with equal state merge
   after every step (O(T x states) work).  Reported as steps per second next
   to a numpy log-space forward algorithm on the same data, timed
   interleaved in this process; the ratio compares minima over the repeats.
3. The queue model (GradInf's), n = 50, theta = 15: time of one call (the
   acceptance asks for under 1 s), min over repeats.

Absolute times drift on shared machines; compare ratios from one run.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy import stats
from scipy.special import logsumexp

import plait

FLIPS = 20
FALLBACK_FLIPS = 16
FLIP_BUDGET_S = 60.0
HMM_T = 1000
HMM_REPEATS = 5
QUEUE_REPEATS = 7

PI = np.array([0.6, 0.4])
A = np.array([[0.9, 0.1], [0.25, 0.75]])
MU = [-1.0, 1.5]
SIGMA = 1.0
ROWS = [plait.Categorical(row) for row in A]


# -- programs ---------------------------------------------------------------------------
def flips(n):
    total = 0
    for i in range(n):
        total += yield plait.sample(("f", i), plait.Bernoulli(0.5))
    return total


def hmm(ys):
    def step(z, y):
        z_next = yield plait.sample("z", ROWS[z])
        yield plait.observe("y", plait.Normal(MU[z_next], SIGMA), y)
        return z_next

    z0 = yield plait.sample("z0", plait.Categorical(PI))
    return (yield plait.fold(step, z0, ys, name="t"))


def hmm_data(T, seed=20240611):
    rng = np.random.default_rng(seed)
    z = rng.choice(2, p=PI)
    ys = []
    for _ in range(T):
        z = rng.choice(2, p=A[z])
        ys.append(float(rng.normal(MU[z], SIGMA)))
    return ys


def numpy_forward(ys):
    """Log-space forward algorithm; returns the log evidence."""
    log_lik = stats.norm(np.asarray(MU), SIGMA).logpdf(np.asarray(ys)[:, None])  # (T, 2)
    log_a = np.log(A)
    log_alpha = np.log(PI)
    for t in range(len(ys)):
        m = log_alpha[:, None] + log_a
        top = m.max(axis=0)
        log_alpha = top + np.log(np.exp(m - top).sum(axis=0)) + log_lik[t]
    return float(logsumexp(log_alpha))


def queue(theta, n):
    def kernel(x):
        c = min(x, 25)
        p = theta / (theta + c)
        b = yield plait.sample("b", plait.Bernoulli(p))
        return x + 1 if b else x - 1

    return (yield plait.iterate(kernel, 0, n, name="queue"))


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


# -- benchmarks --------------------------------------------------------------------------
def bench_flips():
    t16, m16 = timed(plait.exact, flips, FALLBACK_FLIPS)
    assert len(m16.values) == FALLBACK_FLIPS + 1 and abs(m16.mean - FALLBACK_FLIPS / 2) < 1e-9
    predicted = t16 * 2 ** (FLIPS - FALLBACK_FLIPS)
    if predicted > FLIP_BUDGET_S:
        note = (f"{FLIPS} flips predicted {predicted:.0f} s > {FLIP_BUDGET_S:.0f} s; "
                f"reporting {FALLBACK_FLIPS} flips")
        return FALLBACK_FLIPS, t16, note
    t, m = timed(plait.exact, flips, FLIPS)
    assert len(m.values) == FLIPS + 1 and abs(m.mean - FLIPS / 2) < 1e-9
    if t > FLIP_BUDGET_S:
        return FLIPS, t, f"took over {FLIP_BUDGET_S:.0f} s"
    return FLIPS, t, f"({FALLBACK_FLIPS} flips: {2 ** FALLBACK_FLIPS / t16:,.0f} paths/s)"


def bench_hmm():
    ys = hmm_data(HMM_T)
    exact_times, numpy_times = [], []
    for _ in range(HMM_REPEATS):  # interleaved
        t, m = timed(plait.exact, hmm, ys)
        exact_times.append(t)
        t, log_z = timed(numpy_forward, ys)
        numpy_times.append(t)
    rel = abs(m.log_evidence - log_z) / abs(log_z)
    assert rel < 1e-10, (m.log_evidence, log_z)
    return min(exact_times), min(numpy_times), rel


def bench_queue():
    times = []
    for _ in range(QUEUE_REPEATS):
        t, m = timed(plait.exact, queue, 15.0, 50)
        times.append(t)
    assert abs(m.mean - 13.5659305821) < 1e-8
    return times[0], min(times)


def main() -> int:
    print(f"plait.exact benchmark (python {sys.version.split()[0]}, numpy {np.__version__})")
    n_flips, t_flips, note = bench_flips()
    hmm_exact, hmm_numpy, rel = bench_hmm()
    q_first, q_best = bench_queue()

    rows = [
        (f"{n_flips} flips, {2 ** n_flips:,} paths", t_flips, f"{2 ** n_flips / t_flips:,.0f} paths/s", note),
        (f"HMM T={HMM_T}, plait.exact (fold)", hmm_exact, f"{HMM_T / hmm_exact:,.0f} steps/s",
         f"min of {HMM_REPEATS}; log Z rel. diff {rel:.1e}"),
        (f"HMM T={HMM_T}, numpy forward", hmm_numpy, f"{HMM_T / hmm_numpy:,.0f} steps/s",
         f"exact / numpy = {hmm_exact / hmm_numpy:.1f}x"),
        ("queue n=50, theta=15", q_best, "", f"min of {QUEUE_REPEATS}; first call {q_first:.3f} s"),
    ]
    print(f"{'program':34s} {'seconds':>9s} {'rate':>20s}  notes")
    for name, seconds, rate, notes in rows:
        print(f"{name:34s} {seconds:9.4f} {rate:>20s}  {notes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

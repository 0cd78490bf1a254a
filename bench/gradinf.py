"""GradInf cost and variance: ms per estimate, variance, variance × time, against the score function.

Run:  python bench/gradinf.py [--estimates 300] [--gene-estimates 20] [--batched-only]

Batched estimates (issue 21), printed first: ``plait.gradinf(..., num_samples=K)``
runs K = 1000 estimates as lanes of one batched program; each row compares
it with the per-estimate engine (``batched=False``, fewer estimates) in
this process: ms per estimate amortised and the speed-up, the variance of
the estimates on both engines with its standard error (from the fourth
moment) and their difference in SEs, and which engine ran.  Then the
queue's work-normalised variance, Score (baseline E[x_n]) against VE, both
batched (target >= 5).

Models (gradinf.md §9): the queue model (n = 50, θ = 15; exact derivative
0.654704807917) with variable elimination, SIR(1), SIR(4), SIR(16) and the score
estimator with baseline E[x_n]; option pricing on a trinomial tree
(ρ = dE/dr of a European call, n = 50, r = 0.15, σ = 0.05, S0 = 40, K = 41,
category order [up, down, middle]) with VE, SIR(1) and the score estimator;
and gene transcription (§9.4, the model of examples/gradinf_gene.py: a
Gillespie simulation of four reactions to T = 0.1, one trace, gradient of
the loss in θ = log rates, 4 coordinates) with SIR(1), SIR(2) and the score
estimator without and with a baseline (the mean loss of a pilot run).  An
estimate of the gene gradient costs about a second, so that model gets
fewer estimates (``--gene-estimates``); its variance is the sum over the
four coordinates, listed one by one under the row.  Everything runs in
this process; variance × time is the work-normalised variance the issue's
targets are stated in (VE at least 5× better than the score function with
a baseline).  After the table, for the queue with VE and SIR(1): how many
times an estimate executes the model's loop kernel, and what executing it
that often costs on the run loop with nothing else around it (the floor
under any engine that re-executes Python kernels; see ``kernel_floor``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

import plait
from plait.ext._interpreter import run_to_end
from plait.gradients import Dual, perturbation
from plait.handlers.runloop import Execution

# The gene model is the tutorial's own (examples/ sits next to bench/ in the source tree).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from gradinf_gene import THETA as GENE_THETA  # noqa: E402
from gradinf_gene import gene  # noqa: E402


def queue(n: int, coupling: str, runs: list | None = None):
    """The queue model; with ``runs``, every kernel execution appends its state there."""

    def model(theta):
        def kernel(x):
            c = 25 if x > 25 else x
            b = yield plait.sample("b", plait.Bernoulli(theta / (theta + c)), coupling=coupling)
            return x + 1 if b else x - 1

        body = kernel
        if runs is not None:
            def body(x):
                runs.append(x)
                return kernel(x)

        return (yield plait.iterate(body, 0, n, name="q"))

    return model


def kernel_floor(inference, estimates: int, seed: int = 7) -> tuple:
    """Kernel executions per queue estimate, and ms per estimate to run them on the run loop with nothing around.

    GradInf re-runs the Python kernel for every path at every step, and once
    more for every fork (a generator cannot be resumed twice).  Driving the
    same kernel on the same states through the run loop, answering each site directly, is what
    any engine built on re-execution must at least spend.
    """
    runs: list = []
    model = queue(50, "crn", runs)
    for s in np.random.SeedSequence(seed).spawn(estimates):
        plait.gradinf(model, 15.0, inference=inference, seed=s)
    states = runs[:]
    with perturbation() as tag:
        theta = Dual(15.0, np.ones(1), tag=tag)
        # Kernel runs go through the run loop (as every engine's do), each site answered at once.
        execution = Execution(None, record_answers=False)
        loop = execution.process(queue(50, "crn")(theta), execution.base, before=(plait.Loop,)).resume()
        grow = lambda effect: 1  # noqa: E731
        start = time.perf_counter()
        for x in states:
            run_to_end(loop.kernel(x), grow, True, execution)
        seconds = time.perf_counter() - start
    return len(states) / estimates, seconds / estimates


def option(n: int, coupling: str, sigma: float = 0.05, maturity: float = 0.5, s0: float = 40.0, strike: float = 41.0):
    dt = maturity / n
    u = math.exp(sigma * math.sqrt(2 * dt))

    def model(r):
        a, b = math.exp(sigma * math.sqrt(dt / 2)), math.exp(-sigma * math.sqrt(dt / 2))
        growth = np.exp(r * dt / 2)
        p_up = ((growth - b) / (a - b)) ** 2
        p_down = ((a - growth) / (a - b)) ** 2
        probs = np.stack([p_up, p_down, 1.0 - p_up - p_down])

        def kernel(k):
            move = yield plait.sample("move", plait.Categorical(probs), coupling=coupling)
            return k + (1, -1, 0)[move]

        k = yield plait.iterate(kernel, 0, n, name="tree")
        price = s0 * u**k
        return np.exp(-r * maturity) * max(price - strike, 0.0)

    return model


def pilot_mean(model, theta, runs: int = 400, seed: int = 11) -> float:
    """E[f] from plain simulations on their own seeds: a baseline independent of the estimates."""
    return float(np.mean([plait.simulate(model, theta, seed=s).value
                          for s in np.random.SeedSequence(seed).spawn(runs)]))


def measure(model, theta, inference, estimates: int, seed: int = 7) -> tuple:
    """Mean and variance (summed over coordinates for a vector θ) of the estimates, seconds per estimate."""
    start = time.perf_counter()
    values = np.array([plait.gradinf(model, theta, inference=inference, seed=s)
                       for s in np.random.SeedSequence(seed).spawn(estimates)])
    seconds = (time.perf_counter() - start) / estimates
    return values.mean(axis=0), values.var(axis=0, ddof=1), seconds


def variance_and_se(x: np.ndarray) -> tuple:
    """The sample variance (summed over coordinates) and its standard error, from the fourth moment."""
    x = x.reshape(len(x), -1)
    c = x - x.mean(axis=0)
    s2 = x.var(axis=0, ddof=1)
    se2 = np.maximum((c**4).mean(axis=0) - s2**2, 0.0) / len(x)
    return float(s2.sum()), float(np.sqrt(se2.sum()))


def run_engine(model, theta, inference, estimates: int, batched: bool, seed: int) -> tuple:
    start = time.perf_counter()
    result = plait.gradinf(model, theta, inference=inference, num_samples=estimates, seed=seed, batched=batched)
    return result, (time.perf_counter() - start) / estimates


def batched_table(estimates: int = 1000, plain: int = 300) -> dict:
    """Batched against per-estimate, row by row; returns variance x ms of the batched rows."""
    rows = [
        ("queue n=50", "VE", queue(50, "crn"), 15.0, plait.VariableElimination()),
        ("queue n=50", "SIR(1)", queue(50, "crn"), 15.0, plait.SIR(1)),
        ("queue n=50", "SIR(4)", queue(50, "crn"), 15.0, plait.SIR(4)),
        ("queue n=50", "score, baseline E[x_n]", queue(50, "score"), 15.0, plait.Score(13.5659305821)),
        ("option n=50", "VE", option(50, "crn"), 0.15, plait.VariableElimination()),
        ("option n=50", "SIR(1)", option(50, "crn"), 0.15, plait.SIR(1)),
        ("option n=50", "twisted SMC", option(50, "crn"), 0.15, plait.TwistedSMC(lambda b, a: b - a, k=1)),
        ("gene T=0.1", "SIR(1)", gene("reparam", "maxindep"), GENE_THETA, plait.SIR(1)),
    ]
    print(f"batched: K = {estimates} estimates as lanes; per-estimate engine: {plain} estimates "
          "(gene: 400 and 20); variance +- its SE")
    print(f"{'model':12s} {'estimator':24s} {'ms/est':>8s} {'plain':>8s} {'speed-up':>9s} "
          f"{'var batched':>17s} {'var plain':>17s} {'diff/SE':>8s}  engine")
    work = {}
    for model_name, name, model, theta, inference in rows:
        k_b, k_p = (400, 20) if model_name.startswith("gene") else (estimates, plain)
        result, seconds = run_engine(model, theta, inference, k_b, True, 21)
        plain_result, plain_seconds = run_engine(model, theta, inference, k_p, False, 22)
        (vb, sb), (vp, sp) = variance_and_se(result.estimates), variance_and_se(plain_result.estimates)
        work[(model_name, name)] = vb * seconds * 1e3
        engine = result.engine if result.reason is None else f"{result.engine} ({result.reason[:60]})"
        print(f"{model_name:12s} {name:24s} {seconds * 1e3:8.3f} {plain_seconds * 1e3:8.2f} "
              f"{plain_seconds / seconds:8.1f}x {vb:9.4f}+-{sb:7.4f} {vp:9.4f}+-{sp:7.4f} "
              f"{abs(vb - vp) / math.hypot(sb, sp):8.2f}  {engine}", flush=True)
    ratio = work[("queue n=50", "score, baseline E[x_n]")] / work[("queue n=50", "VE")]
    print(f"queue, batched: score-with-baseline variance x time / VE variance x time = {ratio:.1f} (target >= 5)")
    return work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--estimates", type=int, default=300)
    parser.add_argument("--gene-estimates", type=int, default=20,
                        help="estimates for the gene-transcription model (about 1 s each)")
    parser.add_argument("--batched-only", action="store_true", help="only the batched table")
    options = parser.parse_args()
    batched_table()
    if options.batched_only:
        return 0
    print()
    n, n_gene = options.estimates, options.gene_estimates
    gene_baseline = pilot_mean(gene("reparam", "maxindep"), GENE_THETA)
    rows = [
        ("queue n=50", "VE", queue(50, "crn"), 15.0, plait.VariableElimination(), n),
        ("queue n=50", "SIR(1)", queue(50, "crn"), 15.0, plait.SIR(1), n),
        ("queue n=50", "SIR(4)", queue(50, "crn"), 15.0, plait.SIR(4), n),
        ("queue n=50", "SIR(16)", queue(50, "crn"), 15.0, plait.SIR(16), n),
        ("queue n=50", "score, baseline E[x_n]", queue(50, "score"), 15.0, plait.Score(13.5659305821), n),
        ("option n=50", "VE", option(50, "crn"), 0.15, plait.VariableElimination(), n),
        ("option n=50", "SIR(1)", option(50, "crn"), 0.15, plait.SIR(1), n),
        ("option n=50", "score, baseline 0", option(50, "score"), 0.15, plait.Score(0.0), n),
        ("gene T=0.1", "SIR(1)", gene("reparam", "maxindep"), GENE_THETA, plait.SIR(1), n_gene),
        ("gene T=0.1", "SIR(2)", gene("reparam", "maxindep"), GENE_THETA, plait.SIR(2), n_gene),
        ("gene T=0.1", "score, baseline 0", gene("score", "score"), GENE_THETA, plait.Score(0.0), n_gene),
        ("gene T=0.1", "score, baseline E[loss]", gene("score", "score"), GENE_THETA, plait.Score(gene_baseline),
         n_gene),
    ]
    print(f"{n} estimates each ({n_gene} for the gene model); exact queue derivative 0.654704807917; "
          f"gene: variance summed over d/dlog(alpha, beta, gamma, delta), baseline E[loss] ~ {gene_baseline:.4f} "
          "from a pilot run")
    print(f"{'model':12s} {'estimator':24s} {'mean':>9s} {'variance':>10s} {'ms/est':>8s} {'var x ms':>10s}")
    work = {}
    for model_name, name, model, theta, inference, estimates in rows:
        mean, var, seconds = measure(model, theta, inference, estimates)
        total = float(np.sum(var))
        work[(model_name, name)] = total * seconds * 1e3
        shown = f"{float(mean):9.4f}" if np.ndim(mean) == 0 else f"{'(below)':>9s}"
        print(f"{model_name:12s} {name:24s} {shown} {total:10.4f} {seconds * 1e3:8.2f} {total * seconds * 1e3:10.4f}",
              flush=True)
        if np.ndim(mean):
            print(f"{'':12s}   mean     " + " ".join(f"{m:+9.4f}" for m in mean), flush=True)
            print(f"{'':12s}   variance " + " ".join(f"{v:9.4f}" for v in var), flush=True)
    for name, inference in (("VE", plait.VariableElimination()), ("SIR(1)", plait.SIR(1))):
        per_estimate, seconds = kernel_floor(inference, min(n, 100))
        print(f"queue {name}: {per_estimate:.0f} kernel runs per estimate; running them alone on the run loop, "
              f"with a dual theta, takes {seconds * 1e3:.2f} ms")
    ratio = work[("queue n=50", "score, baseline E[x_n]")] / work[("queue n=50", "VE")]
    print(f"queue: score-with-baseline variance x time / VE variance x time = {ratio:.1f} (target >= 5)")
    best = min(work[("gene T=0.1", "SIR(1)")], work[("gene T=0.1", "SIR(2)")])
    print(f"gene: score-with-baseline variance x time / best GradInf variance x time = "
          f"{work[('gene T=0.1', 'score, baseline E[loss]')] / best:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

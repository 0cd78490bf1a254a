"""GradInf tutorial: the derivative of a queue's expected length, three ways.

Run:  python examples/gradinf_queue.py [--estimates 400] [--plot queue.png]

The queue (gradinf.md §9.2): x_0 = 0, and at each of n = 50 steps the queue
grows by one with probability θ/(θ + min(x, 25)) and shrinks by one
otherwise.  We estimate dE[x_50]/dθ at θ = 15 (exact 0.654704807917) with
GradInf using variable elimination and SIR(1), and with the score-function
estimator, and print mean ± standard error, the variance of one estimate
and the cost of one estimate.  The estimates run as lanes of one batched
program (``num_samples=``), and each line says which engine ran.  With ``--plot PATH`` it also draws the
distribution of each estimator's estimates (needs matplotlib:
``pip install "plait[plot]"``; without it the script says so and goes on).
"""

import argparse
import time

import numpy as np

import plait
from gradinf_plots import estimator_histograms, pyplot

EXACT = 0.654704807917


def queue(coupling="crn", n=50):
    def model(theta):
        def step(x):
            c = 25 if x > 25 else x
            grow = yield plait.sample("grow", plait.Bernoulli(theta / (theta + c)), coupling=coupling)
            return x + 1 if grow else x - 1

        return (yield plait.iterate(step, 0, n, name="queue"))

    return model


def report(name, model, inference, estimates=400):
    start = time.perf_counter()
    result = plait.gradinf(model, 15.0, inference=inference, num_samples=estimates, seed=2026)
    ms = (time.perf_counter() - start) / estimates * 1e3
    values = result.estimates
    print(f"{name:28s} {result.mean:.4f} ± {result.standard_error:.4f}   variance {values.var(ddof=1):7.4f}   "
          f"{ms:5.2f} ms/estimate   ({result.engine} engine)")
    return values


def plot(path, estimates, exact, xlabel):
    """One histogram per estimator on a common axis, the exact value as a vertical line."""
    plt = pyplot(path)
    if plt is not None:
        estimator_histograms(plt, path, estimates, exact, xlabel)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="GradInf on a queue against the score-function estimator")
    parser.add_argument("--estimates", type=int, default=400, help="estimates per estimator (default 400)")
    parser.add_argument("--plot", metavar="PATH", help="write the estimator distributions to this PNG")
    options = parser.parse_args()
    print(f"dE[x_50]/dθ at θ = 15; exact {EXACT}")
    estimates = {
        "GradInf, variable elim.": report("GradInf, variable elim.", queue(), plait.VariableElimination(),
                                          options.estimates),
        "GradInf, SIR(1)": report("GradInf, SIR(1)", queue(), plait.SIR(1), options.estimates),
        "score function, baseline": report("score function, baseline", queue("score"),
                                           plait.Score(baseline=13.5659305821), options.estimates),
    }
    if options.plot:
        plot(options.plot, estimates, EXACT, "estimate of dE[x_50]/dθ")

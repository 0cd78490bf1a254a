"""GradInf tutorial: rho (dE/dr) of a European call priced on a trinomial tree.

Run:  python examples/gradinf_option.py [--estimates 200] [--plot option.png]

The stock moves up, down or stays at each of n = 50 steps, with
probabilities that depend on the interest rate r (gradinf.md §9.3:
σ = 0.05, T = 0.5, S0 = 40, K = 41, r = 0.15).  The categorical sites use
the inverse-CDF coupling in the order [up, down, middle], so a perturbed
path moves to a neighbouring outcome.  We compare variable elimination on
the number of net up-moves, SIR(1), twisted SMC with the twist
x_B − x_A of the tutorial, and the score-function estimator.  With
``--plot PATH`` it also draws the distribution of each estimator's
estimates against the exact ρ, which ``plait.exact`` computes by variable
elimination at a dual r (needs matplotlib: ``pip install "plait[plot]"``;
without it the script says so and goes on).
"""

import argparse
import math
import time

import numpy as np

import plait
from gradinf_plots import estimator_histograms, pyplot

SIGMA, MATURITY, S0, STRIKE, N = 0.05, 0.5, 40.0, 41.0, 50


def call_option(coupling="crn"):
    dt = MATURITY / N
    u = math.exp(SIGMA * math.sqrt(2 * dt))
    a, b = math.exp(SIGMA * math.sqrt(dt / 2)), math.exp(-SIGMA * math.sqrt(dt / 2))

    def model(r):
        growth = np.exp(r * dt / 2)
        p_up = ((growth - b) / (a - b)) ** 2
        p_down = ((a - growth) / (a - b)) ** 2
        probs = np.stack([p_up, p_down, 1.0 - p_up - p_down])

        def step(ups):
            move = yield plait.sample("move", plait.Categorical(probs), coupling=coupling)
            return ups + (1, -1, 0)[move]

        ups = yield plait.iterate(step, 0, N, name="tree")
        return np.exp(-r * MATURITY) * max(S0 * u**ups - STRIKE, 0.0)

    return model


def report(name, model, inference, estimates=200):
    start = time.perf_counter()
    result = plait.gradinf(model, 0.15, inference=inference, num_samples=estimates, seed=2026)
    ms = (time.perf_counter() - start) / estimates * 1e3
    values = result.estimates
    print(f"{name:26s} {result.mean:8.3f} ± {result.standard_error:6.3f}   variance {values.var(ddof=1):9.1f}   "
          f"{ms:5.2f} ms/estimate   ({result.engine} engine)")
    return values


def exact_rho():
    """dE/dr by exact enumeration (variable elimination over the tree) at a dual r."""
    return plait.diff(lambda r: plait.exact(call_option(), r).mean, 0.15)


def plot(path, estimates, exact, xlabel):
    """One histogram per estimator on a common axis, the exact value (``exact()``) as a vertical line."""
    plt = pyplot(path)
    if plt is None:
        return
    exact = exact()
    print(f"exact rho (plait.exact at a dual r): {exact:.4f}")
    estimator_histograms(plt, path, estimates, exact, xlabel)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="GradInf for an option's rho against the score-function estimator")
    parser.add_argument("--estimates", type=int, default=200, help="estimates per estimator (default 200)")
    parser.add_argument("--plot", metavar="PATH", help="write the estimator distributions to this PNG")
    options = parser.parse_args()
    n = options.estimates
    print("rho = dE[discounted payoff]/dr at r = 0.15")
    estimates = {
        "variable elimination": report("variable elimination", call_option(), plait.VariableElimination(), n),
        "SIR(1)": report("SIR(1)", call_option(), plait.SIR(1), n),
        "twisted SMC(1), x_B - x_A": report("twisted SMC(1), x_B - x_A", call_option(),
                                            plait.TwistedSMC(lambda b, a: b - a, k=1), n),
        "score function": report("score function", call_option("score"), plait.Score(), n),
    }
    if options.plot:
        plot(options.plot, estimates, exact_rho, "estimate of rho = dE/dr")

"""GradInf tutorial: rho (dE/dr) of a European call priced on a trinomial tree.

Run:  python examples/gradinf_option.py

The stock moves up, down or stays at each of n = 50 steps, with
probabilities that depend on the interest rate r (gradinf.md §9.3:
σ = 0.05, T = 0.5, S0 = 40, K = 41, r = 0.15).  The categorical sites use
the inverse-CDF coupling in the order [up, down, middle], so a perturbed
path moves to a neighbouring outcome.  We compare variable elimination on
the number of net up-moves, SIR(1), twisted SMC with the twist
x_B − x_A of the tutorial, and the score-function estimator.
"""

import math
import time

import numpy as np

import plait

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
    values = np.array([plait.gradinf(model, 0.15, inference=inference, seed=s)
                       for s in np.random.SeedSequence(2026).spawn(estimates)])
    ms = (time.perf_counter() - start) / estimates * 1e3
    se = values.std(ddof=1) / math.sqrt(estimates)
    print(f"{name:26s} {values.mean():8.3f} ± {se:6.3f}   variance {values.var(ddof=1):9.1f}   {ms:5.1f} ms/estimate")


if __name__ == "__main__":
    print("rho = dE[discounted payoff]/dr at r = 0.15")
    report("variable elimination", call_option(), plait.VariableElimination())
    report("SIR(1)", call_option(), plait.SIR(1))
    report("twisted SMC(1), x_B - x_A", call_option(), plait.TwistedSMC(lambda b, a: b - a, k=1))
    report("score function", call_option("score"), plait.Score())

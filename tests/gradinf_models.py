"""GradInf test models (gradinf.md §9): the queue and option pricing on a trinomial tree.

Shared by the GradInf test files; the pinned-figure tests keep their own
copies, whose site names the pins depend on.
"""

import math

import numpy as np

import plait


def queue(n, coupling="crn"):
    def model(theta):
        def kernel(x):
            c = 25 if x > 25 else x
            b = yield plait.sample("b", plait.Bernoulli(theta / (theta + c)), coupling=coupling)
            return x + 1 if b else x - 1

        return (yield plait.iterate(kernel, 0, n, name="q"))

    return model


def option(n, coupling="crn", sigma=0.05, maturity=0.5, s0=40.0, strike=41.0):
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
        return np.exp(-r * maturity) * max(s0 * u**k - strike, 0.0)

    return model

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


def gene(horizon=0.05, max_events=60, coupling_time="reparam", coupling_choice="maxindep"):
    """The gene-transcription tutorial's Gillespie model (gradinf.md §9.4), one event per loop step."""
    def model(theta):
        alpha, beta, gamma, delta = np.exp(theta[0]), np.exp(theta[1]), np.exp(theta[2]), np.exp(theta[3])

        def event(state):
            m, p, t, i_m, i_p, done = state
            if done:
                return state
            rates = [alpha + 0.0 * beta, beta * m, gamma * m, delta * p]
            total = rates[0] + rates[1] + rates[2] + rates[3]
            wait = yield plait.sample("wait", plait.Exponential(total), coupling=coupling_time)
            if t + wait > horizon:
                return m, p, t, i_m + m * (horizon - t), i_p + p * (horizon - t), True
            probs = np.stack(rates) / total
            reaction = yield plait.sample("reaction", plait.Categorical(probs), coupling=coupling_choice)
            return (m + (1, 0, -1, 0)[reaction], p + (0, 1, 0, -1)[reaction], t + wait,
                    i_m + m * wait, i_p + p * wait, False)

        m, p, t, i_m, i_p, done = yield plait.iterate(event, (5, 40, 0.0, 0.0, 0.0, False), max_events, name="events")
        if not done:
            raise ValueError(f"more than {max_events} events before the horizon")
        return (i_m / horizon - 10.4) ** 2 / 10.4**2 + (i_p / horizon - 22.3) ** 2 / 22.3**2

    return model

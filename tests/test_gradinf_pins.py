"""GradInf estimates pinned bit for bit: a change to the run loop must not move a single estimate.

The values were computed by the engine as it stood before the run loop was
unified (commit 9b1bc7c) with the seeds below; every later engine must draw
the same numbers in the same order and combine them the same way.  The
models are the three tutorials' (queue, option pricing, gene transcription).
"""

import math

import numpy as np
import pytest

import plait



def queue(coupling="crn", n=50):
    def model(theta):
        def step(x):
            c = 25 if x > 25 else x
            grow = yield plait.sample("grow", plait.Bernoulli(theta / (theta + c)), coupling=coupling)
            return x + 1 if grow else x - 1
        return (yield plait.iterate(step, 0, n, name="queue"))
    return model

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

T = 0.1
THETA = np.log([18.0, 8.0, 1.5, 4.0])
def gene(coupling_time="reparam", coupling_choice="maxindep"):
    def model(theta):
        alpha, beta, gamma, delta = np.exp(theta[0]), np.exp(theta[1]), np.exp(theta[2]), np.exp(theta[3])
        m, p, t, i_m, i_p, event = 5, 40, 0.0, 0.0, 0.0, 0
        while True:
            rates = [alpha + 0.0 * beta, beta * m, gamma * m, delta * p]
            total = rates[0] + rates[1] + rates[2] + rates[3]
            wait = yield plait.sample(("wait", event), plait.Exponential(total), coupling=coupling_time)
            if t + wait > T:
                i_m, i_p = i_m + m * (T - t), i_p + p * (T - t)
                break
            i_m, i_p, t = i_m + m * wait, i_p + p * wait, t + wait
            probs = np.stack(rates) / total
            reaction = yield plait.sample(("reaction", event), plait.Categorical(probs), coupling=coupling_choice)
            m, p = m + (1, 0, -1, 0)[reaction], p + (0, 1, 0, -1)[reaction]
            yield plait.resample_point(("event", event))
            event += 1
        return (i_m / T - 10.4) ** 2 / 10.4**2 + (i_p / T - 22.3) ** 2 / 22.3**2
    return model

CASES = [
    ("queue-VE", lambda: (queue("crn", 50), 15.0, plait.VariableElimination())),
    ("queue-SIR1", lambda: (queue("crn", 50), 15.0, plait.SIR(1))),
    ("queue-SIR4", lambda: (queue("crn", 10), 15.0, plait.SIR(4))),
    ("queue-exact", lambda: (queue("crn", 10), 15.0, plait.ExactPopulation())),
    ("queue-score", lambda: (queue("crn", 20), 15.0, plait.Score())),
    ("option-VE", lambda: (call_option("crn"), 0.15, plait.VariableElimination())),
    ("option-SIR1", lambda: (call_option("maxindep"), 0.15, plait.SIR(1))),
    ("gene-SIR1", lambda: (gene(), THETA, plait.SIR(1))),
    ("gene-SIR2-crn", lambda: (gene("reparam", "crn"), THETA, plait.SIR(2))),
]

PINNED = {
    "queue-VE": [
        "0.733920120504037",
        "1.3630978999312802",
        "0.6049256723420627"
    ],
    "queue-SIR1": [
        "1.4606791298545416",
        "2.127660229422243",
        "1.4031047113805728"
    ],
    "queue-SIR4": [
        "0.07608695652173914",
        "0.1",
        "0.11111111111111113"
    ],
    "queue-exact": [
        "0.07608695652173914",
        "0.15666872809729954",
        "0.06159420289855072"
    ],
    "queue-score": [
        "0.2809552675585285",
        "0.2866662331751091",
        "0.29551255712335006"
    ],
    "option-VE": [
        "26.10637101950325",
        "9.553646273680355",
        "19.316877816343727"
    ],
    "option-SIR1": [
        "27.39305909864364",
        "19.52938490400493",
        "24.795716444222666"
    ],
    "gene-SIR1": [
        "[-0.029503779079622296, -0.03638092944257069, -0.0049956365189961814, -0.3971787565192107]",
        "[-0.057246921137472775, 0.2526147521939509, 0.01814629253084408, -0.5298847801215346]",
        "[-0.055829526710183666, 0.07672417875331038, 0.003514759954538581, -0.4034951531348319]"
    ],
    "gene-SIR2-crn": [
        "[-0.05727415482056121, -0.11910875288827996, 0.002817440878211468, -0.041041996640554995]",
        "[-0.35911052393751464, -0.03630249732976529, 0.030868597447038754, -0.044453899486287585]",
        "[-0.1595729575361567, -0.30321934478705276, -0.01209943405693757, -1.330922039211115]"
    ]
}


@pytest.mark.parametrize("name, make", CASES, ids=[name for name, _ in CASES])
def test_estimates_are_byte_identical_to_the_pinned_engine(name, make):
    model, theta, inference = make()
    got = [np.asarray(plait.gradinf(model, theta, inference=inference, seed=s), dtype=float).tolist()
           for s in (0, 1, 7)]
    want = [eval(v) for v in PINNED[name]]  # reprs of floats round-trip exactly
    assert got == want

"""The 3-state HMM with branches on the hidden state, with its forward algorithm.

z_init uniform on {0, 1, 2}; each step z moves by a sticky transition matrix
(stay with probability 0.9) and y ~ N(MEANS[z], 1) is observed.  ``hmm`` is
the model as a plain Python loop that branches on z; ``hmm_fold`` the same with
``plait.fold``.  (The bench scripts keep their own copy: tests never import
bench code.)
"""

import math

import numpy as np
import plait

MEANS = (-2.0, 0.0, 2.0)
INITIAL = (1 / 3, 1 / 3, 1 / 3)
TRANSITION = ((0.9, 0.05, 0.05), (0.05, 0.9, 0.05), (0.05, 0.05, 0.9))


def hmm_data(steps, seed=42):
    """Observations simulated from the model."""
    rng = np.random.default_rng(seed)
    z, ys = rng.choice(3, p=INITIAL), []
    for _ in range(steps):
        z = rng.choice(3, p=TRANSITION[z])
        ys.append(float(rng.normal(MEANS[z], 1.0)))
    return ys


def forward_log_evidence(ys):
    """The exact log evidence, by the forward algorithm."""
    alpha, log_z = np.array(INITIAL), 0.0
    for y in ys:
        alpha = alpha @ np.array(TRANSITION)
        alpha *= np.exp(-0.5 * (y - np.array(MEANS)) ** 2) / math.sqrt(2 * math.pi)
        log_z += math.log(alpha.sum())
        alpha /= alpha.sum()
    return log_z


def hmm(ys):
    z = yield plait.sample("z_init", plait.Categorical(INITIAL))
    for t, y in enumerate(ys):
        z = yield plait.sample(("z", t), plait.Categorical(TRANSITION[z]))
        if z == 0:
            yield plait.observe(("y", t), plait.Normal(MEANS[0], 1.0), y)
        elif z == 1:
            yield plait.observe(("y", t), plait.Normal(MEANS[1], 1.0), y)
        else:
            yield plait.observe(("y", t), plait.Normal(MEANS[2], 1.0), y)
    return z


def step(z, y):
    z = yield plait.sample("z", plait.Categorical(TRANSITION[z]))
    if z == 0:
        yield plait.observe("y", plait.Normal(MEANS[0], 1.0), y)
    elif z == 1:
        yield plait.observe("y", plait.Normal(MEANS[1], 1.0), y)
    else:
        yield plait.observe("y", plait.Normal(MEANS[2], 1.0), y)
    return z


def hmm_fold(ys):
    z = yield plait.sample("z_init", plait.Categorical(INITIAL))
    return (yield plait.fold(step, z, ys, name="t"))

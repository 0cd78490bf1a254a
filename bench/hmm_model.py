"""The 3-state hidden Markov model of the batched-execution benches, as plait models.

z_init is uniform on {0, 1, 2}; at each step z moves by a sticky transition
matrix (stay with probability 0.9) and y ~ N(MEANS[z], SD) is observed.  The
uniform law is stationary for this (doubly stochastic) matrix, so moving
before the first observation changes nothing in the law of the ys.

``hmm`` is the model as a plain Python loop that branches on the hidden state
(``if z == 0: ... elif z == 1: ... else: ...``); ``hmm_fold`` the same model
with ``plait.fold`` and a kernel with the same branches.  The data, the
hand-written numpy filter and the forward algorithm are in ``filters.py``.
The tests keep their own copy (tests/hmm.py): tests never import bench code.
"""

from __future__ import annotations

import plait

MEANS = (-2.0, 0.0, 2.0)
SD = 1.0
STAY = 0.9
INITIAL = (1 / 3, 1 / 3, 1 / 3)
TRANSITION = tuple(
    tuple(STAY if i == j else (1 - STAY) / 2 for j in range(3)) for i in range(3)
)


def hmm(ys):
    z = yield plait.sample("z_init", plait.Categorical(INITIAL))
    for t, y in enumerate(ys):
        z = yield plait.sample(("z", t), plait.Categorical(TRANSITION[z]))
        if z == 0:
            yield plait.observe(("y", t), plait.Normal(MEANS[0], SD), y)
        elif z == 1:
            yield plait.observe(("y", t), plait.Normal(MEANS[1], SD), y)
        else:
            yield plait.observe(("y", t), plait.Normal(MEANS[2], SD), y)
    return z


def step(z, y):
    z = yield plait.sample("z", plait.Categorical(TRANSITION[z]))
    if z == 0:
        yield plait.observe("y", plait.Normal(MEANS[0], SD), y)
    elif z == 1:
        yield plait.observe("y", plait.Normal(MEANS[1], SD), y)
    else:
        yield plait.observe("y", plait.Normal(MEANS[2], SD), y)
    return z


def hmm_fold(ys):
    z = yield plait.sample("z_init", plait.Categorical(INITIAL))
    return (yield plait.fold(step, z, ys, name="t"))

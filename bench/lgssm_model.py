"""The linear-Gaussian state-space model the SMC benches share: data, Kalman filter, models.

x0 ~ N(0, 1/(1 - 0.9^2)), x_t = 0.9 x_{t-1} + N(0, 1), y_t = x_t + N(0, 0.5^2).
``lgssm`` is the model as a Python loop (SMC tier (a)); ``lgssm_fold`` the same
model with ``plait.fold`` (tiers (b) and (c)).  The tests keep their own copy
(tests/lgssm.py): tests never import bench code.
"""

from __future__ import annotations

import math

import numpy as np

import plait

PHI, SX, SY = 0.9, 1.0, 0.5


def simulate_data(steps: int, seed: int = 42) -> list:
    rng = np.random.default_rng(seed)
    x, ys = rng.normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))), []
    for _ in range(steps):
        x = PHI * x + rng.normal(0.0, SX)
        ys.append(float(x + rng.normal(0.0, SY)))
    return ys


def kalman(ys: list) -> float:
    m, p, ll = 0.0, 1.0 / (1.0 - PHI**2), 0.0
    for y in ys:
        m, p = PHI * m, PHI * PHI * p + SX * SX
        s = p + SY * SY
        ll += -0.5 * (math.log(2 * math.pi * s) + (y - m) ** 2 / s)
        gain = p / s
        m, p = m + gain * (y - m), (1 - gain) * p
    return ll


def lgssm(ys):
    x = yield plait.sample("x0", plait.Normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))))
    for t, y in enumerate(ys):
        x = yield plait.sample(("x", t), plait.Normal(PHI * x, SX))
        yield plait.observe(("y", t), plait.Normal(x, SY), y)
    return x


def kernel(x, y):
    x = yield plait.sample("x", plait.Normal(PHI * x, SX))
    yield plait.observe("y", plait.Normal(x, SY), y)
    return x


def lgssm_fold(ys):
    x = yield plait.sample("x0", plait.Normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))))
    return (yield plait.fold(kernel, x, ys, name="t"))

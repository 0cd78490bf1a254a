"""The linear-Gaussian state-space model the SMC and PMMH tests share, with its Kalman filter.

x0 ~ N(0, 1/(1 - phi^2)), x_t = phi x_{t-1} + N(0, SX^2), y_t = x_t + N(0, SY^2).
(The bench scripts keep their own copy: tests never import bench code.)
"""

import math

import numpy as np

PHI, SX, SY = 0.9, 1.0, 0.5


def lgssm_data(steps, seed=42):
    """Observations simulated from the model with phi = PHI."""
    rng = np.random.default_rng(seed)
    x, ys = rng.normal(0.0, math.sqrt(1.0 / (1.0 - PHI**2))), []
    for _ in range(steps):
        x = PHI * x + rng.normal(0.0, SX)
        ys.append(float(x + rng.normal(0.0, SY)))
    return ys


def kalman_log_likelihood(ys, phi=PHI):
    """The exact log likelihood of ``ys``."""
    m, p, ll = 0.0, 1.0 / (1.0 - phi**2), 0.0
    for y in ys:
        m, p = phi * m, phi * phi * p + SX * SX
        s = p + SY * SY
        ll += -0.5 * (math.log(2 * math.pi * s) + (y - m) ** 2 / s)
        gain = p / s
        m, p = m + gain * (y - m), (1 - gain) * p
    return ll

"""Three standard posteriors under plait.LogDensity, with gradients, against long plait.mh runs.

The models (tests/posterior_models.py) use HalfCauchy, ImproperUniform on an
ordered vector with a ``plait.factor`` prior, Mixture, HalfNormal and
``Poisson(log_rate=...)``.  For each:

* the LogDensity gradient (reverse mode) equals a central finite difference;
* a short Hamiltonian Monte Carlo run on ``log_density_and_grad`` (a plain
  leapfrog sampler written here, a diagonal mass matrix from its warm-up)
  gives posterior means within 4 combined Monte Carlo standard errors of the
  long MH reference stored in tests/data/posterior_references.json (written by
  tests/data/make_posterior_references.py).
"""

from __future__ import annotations

import json
import math
import pathlib
import sys

import numpy as np
import plait
import pytest
from plait.inference.results.diagnostics import mcse_mean

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from posterior_models import FROM_VALUES, MODELS, QUANTITIES

REFERENCES = json.loads((pathlib.Path(__file__).resolve().parent / "data" / "posterior_references.json").read_text())
# name -> (warm-up, draws, leapfrog steps, step size in units of the posterior sd)
SETTINGS = {"eight_schools": (100, 250, 6, 0.4), "mixture": (100, 300, 8, 0.25), "poisson_regression": (60, 200, 4, 0.5)}


def _value_and_grad(ld, x):
    """``ld.log_density_and_grad(x)``, ``-inf`` where a divergent trajectory overflowed a parameter."""
    try:
        return ld.log_density_and_grad(x)
    except plait.InvalidParameterError:
        return -math.inf, np.zeros(ld.dim)


def _start(ld, rng):
    """A start of finite density: uniform on (-1, 1) in unconstrained space."""
    while True:
        x = rng.uniform(-1.0, 1.0, ld.dim)
        if math.isfinite(ld.log_density(x)):
            return x


def hmc(ld, x, rng, n, steps, eps, sd):
    """``n`` HMC transitions from ``x``, mass matrix ``diag(1 / sd^2)``, step ``eps`` (jittered by 20 %); the draws."""
    value, g = _value_and_grad(ld, x)
    draws = []
    for _ in range(n):
        p = rng.standard_normal(ld.dim) / sd
        h = eps * rng.uniform(0.8, 1.2)
        x1, p1, v1, g1 = x, p + 0.5 * h * g, value, g
        for i in range(steps):
            x1 = x1 + h * sd * sd * p1
            v1, g1 = _value_and_grad(ld, x1)
            if not math.isfinite(v1):
                break
            p1 = p1 + (h if i < steps - 1 else 0.5 * h) * g1
        kinetic = 0.5 * np.sum((p * sd) ** 2) - 0.5 * np.sum((p1 * sd) ** 2)
        if math.isfinite(v1) and math.log(rng.random()) < v1 - value + kinetic:
            x, value, g = x1, v1, g1
        draws.append(x)
    return np.array(draws)


@pytest.mark.parametrize("name", list(MODELS))
def test_gradient_equals_finite_differences(name):
    ld = plait.LogDensity(MODELS[name])
    x = _start(ld, np.random.default_rng(1))
    _, g = ld.log_density_and_grad(x)
    h = 1e-6
    fd = [(ld.log_density(x + h * e) - ld.log_density(x - h * e)) / (2 * h) for e in np.eye(ld.dim)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_posterior_means_agree_with_a_long_mh_run(name):
    warm, n, steps, eps = SETTINGS[name]
    ld = plait.LogDensity(MODELS[name])
    rng = np.random.default_rng(2024)
    x = _start(ld, rng)
    first = hmc(ld, x, rng, warm, steps, 0.1, np.ones(ld.dim))
    sd = np.maximum(first[warm // 2:].std(0), 1e-3)
    draws = hmc(ld, first[-1], rng, n, steps, eps, sd)
    values = np.array([[float(q) for q in FROM_VALUES[name](ld.constrain(d))] for d in draws])
    for j, q in enumerate(QUANTITIES[name]):
        mean, mcse = values[:, j].mean(), mcse_mean(values[:, j])
        ref_mean, ref_mcse = REFERENCES[name][q]
        assert abs(mean - ref_mean) < 4 * math.hypot(mcse, ref_mcse), (name, q, mean, mcse, ref_mean, ref_mcse)

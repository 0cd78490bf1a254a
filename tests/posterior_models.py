"""Three standard posteriors written with the families of issue 20, for tests/test_distributions_posteriors.py.

* ``eight_schools``: the non-centred eight schools, HalfCauchy prior on ``tau``;
* ``mixture``: a two-component Gaussian mixture (``Mixture``) whose means are
  ordered (an ``ImproperUniform`` on ``ordered_vector(2)`` with a Normal prior
  added by ``plait.factor``, a value carrying derivatives);
* ``poisson_regression``: counts with ``Poisson(log_rate=alpha + beta x)``.

Each returns the quantities whose posterior means are compared (``QUANTITIES``).
"""

from __future__ import annotations

import numpy as np
import plait

SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools():
    mu = yield plait.sample("mu", plait.Normal(0.0, 5.0))
    tau = yield plait.sample("tau", plait.HalfCauchy(5.0))
    for i in range(8):
        z = yield plait.sample(("z", i), plait.Normal(0.0, 1.0))
        yield plait.observe(("y", i), plait.Normal(mu + tau * z, SCHOOLS_SIGMA[i]), SCHOOLS_Y[i])
        if i == 0:
            theta0 = mu + tau * z
    return mu, tau, theta0


_rng = np.random.default_rng(20)
_first = _rng.random(40) < 0.4
MIXTURE_Y = np.where(_first, _rng.normal(-1.5, 1.0, 40), _rng.normal(2.0, 1.0, 40))


def mixture():
    mu = yield plait.sample("mu", plait.ImproperUniform(plait.supports.ordered_vector(2)))
    yield plait.factor("mu_prior", np.sum(plait.Normal(0.0, 5.0).log_prob(mu)))
    sigma = yield plait.sample("sigma", plait.HalfNormal(2.0))
    w = yield plait.sample("w", plait.Beta(2.0, 2.0))
    weights = plait.Categorical(logits=np.stack([np.log(w), np.log1p(-w)]))
    yield plait.observe("y", plait.Mixture(weights, plait.Normal(mu, sigma)), MIXTURE_Y)
    return mu[0], mu[1], sigma, w


POISSON_X = np.linspace(-1.0, 1.0, 40)
POISSON_Y = np.random.default_rng(21).poisson(np.exp(0.5 + 0.8 * POISSON_X))


def poisson_regression():
    alpha = yield plait.sample("alpha", plait.Normal(0.0, 2.0))
    beta = yield plait.sample("beta", plait.Normal(0.0, 2.0))
    yield plait.observe("y", plait.Poisson(log_rate=alpha + beta * POISSON_X), POISSON_Y)
    return alpha, beta


MODELS = {"eight_schools": eight_schools, "mixture": mixture, "poisson_regression": poisson_regression}
QUANTITIES = {
    "eight_schools": ("mu", "tau", "theta0"),
    "mixture": ("mu0", "mu1", "sigma", "w"),
    "poisson_regression": ("alpha", "beta"),
}
#: Where the MH reference chains start (the mixture's ImproperUniform has no prior draw).
INITS = {"mixture": {"mu": np.array([-1.0, 2.0])}}
#: The quantities from a LogDensity's constrained values (as the models return them).
FROM_VALUES = {
    "eight_schools": lambda v: (v["mu"], v["tau"], v["mu"] + v["tau"] * v[("z", 0)]),
    "mixture": lambda v: (v["mu"][0], v["mu"][1], v["sigma"], v["w"]),
    "poisson_regression": lambda v: (v["alpha"], v["beta"]),
}

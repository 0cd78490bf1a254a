"""plait.bridges.pyro: plait models under Pyro's NUTS, traces and ELBO."""

import math

import numpy as np
import pytest

import plait
from plait.bridges.pyro import latent_choices, site_name, to_pyro
from plait.errors import BridgeError

# A safety net only: CI installs torch and pyro (the test extra's pyro extra).
torch = pytest.importorskip("torch")
pyro = pytest.importorskip("pyro")
import pyro.distributions as pdist  # noqa: E402
import pyro.poutine as poutine  # noqa: E402
from pyro.infer import MCMC, NUTS, Trace_ELBO  # noqa: E402
from pyro.ops.stats import effective_sample_size  # noqa: E402

F64 = torch.float64

# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------

BETA_A, BETA_B = 2.0, 3.0
FLIPS = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1]


def beta_bernoulli(flips):
    p = yield plait.sample("p", plait.Beta(BETA_A, BETA_B))
    for i, f in enumerate(flips):
        yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    return p


M0, S0, SIGMA = 0.5, 2.0, 1.3
YS = np.random.default_rng(5).normal(1.7, SIGMA, size=10)


def gaussian(ys):
    mu = yield plait.sample("mu", plait.Normal(M0, S0))
    yield plait.observe("y", plait.Normal(mu, SIGMA), ys)
    return mu


def beta_bernoulli_vectorized(flips):
    # One observation site for all flips: NUTS re-runs the model at every leapfrog step.
    p = yield plait.sample("p", plait.Beta(BETA_A, BETA_B))
    yield plait.observe("flips", plait.Bernoulli(p), np.asarray(flips))
    return p


def nuts_mean(model, args, name, seed):
    pyro.set_rng_seed(seed)
    mcmc = MCMC(NUTS(to_pyro(model, dtype=F64)), num_samples=1000, warmup_steps=500,
                num_chains=1, disable_progbar=True)
    mcmc.run(*args)
    draws = mcmc.get_samples()[name]
    ess = float(effective_sample_size(draws[None, :]))
    return float(draws.mean()), float(draws.std()) / math.sqrt(ess), ess


# ---------------------------------------------------------------------------
# NUTS against exact posterior means
# ---------------------------------------------------------------------------

def test_nuts_on_beta_bernoulli_gives_the_exact_posterior_mean():
    heads = sum(FLIPS)
    exact = (BETA_A + heads) / (BETA_A + BETA_B + len(FLIPS))
    mean, mcse, ess = nuts_mean(beta_bernoulli_vectorized, (FLIPS,), "p", seed=1)
    assert ess > 200
    assert abs(mean - exact) < 4 * mcse, (mean, exact, mcse, ess)


def test_nuts_on_the_gaussian_conjugate_model_gives_the_exact_posterior_mean():
    precision = 1 / S0**2 + len(YS) / SIGMA**2
    exact = (M0 / S0**2 + YS.sum() / SIGMA**2) / precision
    mean, mcse, ess = nuts_mean(gaussian, (YS,), "mu", seed=2)
    assert ess > 200
    assert abs(mean - exact) < 4 * mcse, (mean, exact, mcse, ess)


# ---------------------------------------------------------------------------
# densities: Pyro's trace and ELBO against plait.log_density
# ---------------------------------------------------------------------------

def mixed_model(ys, counts):
    tau = yield plait.sample("tau", plait.Gamma(2.0, 1.5))
    mu = yield plait.sample("mu", plait.Normal(0.0, (2.0 * tau) ** -0.5))
    w = yield plait.sample("w", plait.Dirichlet([1.5, 2.0, 3.0]))
    u = yield plait.sample("u", plait.Uniform(-1.0, tau))
    yield plait.observe("ys", plait.Normal(mu, tau ** -0.5), ys)
    for i, c in enumerate(counts):
        yield plait.observe(("c", i), plait.Categorical(w), c)
    yield plait.observe("n", plait.Poisson(tau * 3.0), 4)
    yield plait.observe("t", plait.StudentT(4.0, u, 1.0), 0.3)
    yield plait.factor("pull", -0.5 * mu * mu)
    yield plait.deterministic("twice", 2 * mu)
    return mu


MIXED_ARGS = (np.array([0.3, -0.2, 1.1]), [0, 2, 2, 1])


def test_trace_log_density_equals_plait_log_density():
    pm = to_pyro(mixed_model, dtype=F64)
    for seed in range(5):
        pyro.set_rng_seed(seed)
        tr = poutine.trace(pm).get_trace(*MIXED_ARGS)
        choices = latent_choices(tr)
        assert list(choices) == ["tau", "mu", "w", "u"]
        expected = plait.log_density(mixed_model, MIXED_ARGS, choices)
        assert tr.log_prob_sum().item() == pytest.approx(expected, abs=1e-10, rel=1e-12)
        assert tr.nodes["twice"]["value"].item() == pytest.approx(2 * choices["mu"], abs=1e-14)


def test_trace_elbo_of_a_point_guide_is_minus_the_plait_log_joint():
    pm = to_pyro(beta_bernoulli, dtype=F64)
    for p in (0.2, 0.55, 0.9):
        def guide(flips, p=p):
            pyro.sample("p", pdist.Delta(torch.tensor(p, dtype=F64)))

        loss = Trace_ELBO().loss(pm, guide, FLIPS)
        assert -loss == pytest.approx(plait.log_density(beta_bernoulli, (FLIPS,), {"p": p}), abs=1e-10)


def test_gradients_flow_through_the_plait_model():
    # Pyro's autograd differentiates through the plait model's arithmetic on tensors.
    def model():
        tau = yield plait.sample("tau", plait.Gamma(2.0, 1.5))
        yield plait.observe("y", plait.Normal(1.0, tau ** -0.5), 0.4)

    tau = torch.tensor(0.7, dtype=F64, requires_grad=True)
    tr = poutine.trace(poutine.condition(to_pyro(model, dtype=F64), {"tau": tau})).get_trace()
    tr.log_prob_sum().backward()
    # d/dtau [log Gamma(tau; 2, 1.5) + log Normal(0.4; 1, tau^-1/2)]
    expected = 1 / 0.7 - 1.5 + 0.5 / 0.7 - 0.5 * (0.4 - 1.0) ** 2
    assert tau.grad.item() == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------
# addresses, loops, handlers, errors
# ---------------------------------------------------------------------------

def walk(steps):
    def kernel(x):
        x = yield plait.sample("x", plait.Normal(x, 1.0))
        yield plait.observe("y", plait.Normal(x, 0.5), 0.1)
        return x

    return (yield plait.iterate(kernel, 0.0, steps, name="walk"))


def test_loops_expand_with_plaits_addresses():
    pyro.set_rng_seed(0)
    tr = poutine.trace(to_pyro(walk, dtype=F64)).get_trace(3)
    names = [n for n, s in tr.nodes.items() if s["type"] == "sample"]
    assert names == ["walk/0/x", "walk/0/y", "walk/1/x", "walk/1/y", "walk/2/x", "walk/2/y"]
    choices = latent_choices(tr)
    assert list(choices) == [("walk", 0, "x"), ("walk", 1, "x"), ("walk", 2, "x")]
    assert plait.simulate(walk, 3, seed=0).latents.keys() == choices.keys()
    assert tr.log_prob_sum().item() == pytest.approx(plait.log_density(walk, (3,), choices), abs=1e-10)


def test_site_names():
    assert site_name(("flip", 3)) == "flip/3"
    assert site_name(("walk", 2, ("inner", 0))) == "walk/2/inner/0"
    assert site_name("p") == "p"
    assert site_name(np.int64(4)) == "4"
    assert site_name(2.5) == "2.5"


def test_colliding_site_names_are_refused():
    def model():
        yield plait.sample(("a", 1), plait.Normal(0.0, 1.0))
        yield plait.sample("a/1", plait.Normal(0.0, 1.0))

    with pytest.raises(BridgeError, match=r"\('a', 1\) and 'a/1'.*'a/1'"):
        poutine.trace(to_pyro(model)).get_trace()


def test_a_distribution_without_counterpart_is_refused_naming_it():
    def model():
        yield plait.sample("k", plait.DiscreteUniform(1, 6))

    with pytest.raises(BridgeError, match=r"'k' ~ DiscreteUniform.*no Pyro counterpart"):
        poutine.trace(to_pyro(model)).get_trace()


def test_handlers_inside_the_model_carry_over():
    # condition turns a sample into an observation, scale scales its log density.
    def model():
        a = yield plait.sample("a", plait.Normal(0.0, 1.0))
        yield plait.sample("b", plait.Normal(a, 1.0))

    conditioned = plait.handlers.scale(plait.handlers.condition(model, {"b": 0.5}), 2.0)
    pyro.set_rng_seed(3)
    tr = poutine.trace(to_pyro(conditioned, dtype=F64)).get_trace()
    assert tr.nodes["b"]["is_observed"] and not tr.nodes["a"]["is_observed"]
    a = tr.nodes["a"]["value"].item()
    assert tr.log_prob_sum().item() == pytest.approx(
        plait.log_density(conditioned, (), {"a": a}), abs=1e-10
    )


def test_params_become_pyro_params():
    def model():
        s = yield plait.param("s", 2.0, constraint=plait.supports.positive)
        yield plait.sample("x", plait.Normal(0.0, s))

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    poutine.trace(to_pyro(model, dtype=F64)).get_trace()
    assert pyro.param("s").item() == pytest.approx(2.0)
    assert str(pyro.get_param_store()._constraints["s"]).startswith("GreaterThan")
    pyro.clear_param_store()

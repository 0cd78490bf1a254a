"""plait.LogDensity: unconstrained densities against hand-written posteriors, scipy and emcee."""

import math

import numpy as np
import pytest
import scipy.optimize
from scipy.special import expit, gammaln, log_expit

import plait
from plait.errors import ExtraAddressError, InvalidObservationError, LogDensityError

# ---------------------------------------------------------------------------
# Gamma–Normal: tau ~ Gamma(a, b), mu | tau ~ Normal(m0, 1/sqrt(k0 tau)), y_i ~ Normal(mu, 1/sqrt(tau))
# ---------------------------------------------------------------------------

A, B, M0, K0 = 2.0, 1.5, 0.5, 2.0
Y = np.random.default_rng(7).normal(1.2, 0.8, size=12)


def gamma_normal(y):
    tau = yield plait.sample("tau", plait.Gamma(A, B))
    mu = yield plait.sample("mu", plait.Normal(M0, (K0 * tau) ** -0.5))
    for i, yi in enumerate(y):
        yield plait.observe(("y", i), plait.Normal(mu, tau ** -0.5), yi)


def gamma_normal_vectorized(y):
    tau = yield plait.sample("tau", plait.Gamma(A, B))
    mu = yield plait.sample("mu", plait.Normal(M0, (K0 * tau) ** -0.5))
    yield plait.observe("y", plait.Normal(mu, tau ** -0.5), y)


def normal_logpdf(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)


def gamma_normal_by_hand(x, y=Y):
    """log p(tau, mu, y) + log|d tau / d u| at (u, mu) = x, tau = exp(u)."""
    u, mu = x
    tau = math.exp(u)
    lp = A * math.log(B) - gammaln(A) + (A - 1) * math.log(tau) - B * tau
    lp += normal_logpdf(mu, M0, 1 / math.sqrt(K0 * tau))
    lp += sum(normal_logpdf(yi, mu, 1 / math.sqrt(tau)) for yi in y)
    return lp + u  # Jacobian of exp


def normal_gamma_posterior(y=Y):
    n, ybar = len(y), float(np.mean(y))
    kn = K0 + n
    mn = (K0 * M0 + n * ybar) / kn
    an = A + n / 2
    bn = B + 0.5 * float(np.sum((y - ybar) ** 2)) + K0 * n * (ybar - M0) ** 2 / (2 * kn)
    return mn, kn, an, bn


# ---------------------------------------------------------------------------
# Dirichlet–Categorical
# ---------------------------------------------------------------------------

ALPHA = np.array([1.5, 2.0, 3.0, 1.0])
Z = np.array([0, 2, 2, 1, 2, 0, 3, 2, 1, 2, 0, 2])
COUNTS = np.bincount(Z, minlength=len(ALPHA))


def dirichlet_categorical(z):
    theta = yield plait.sample("theta", plait.Dirichlet(ALPHA))
    for i, zi in enumerate(z):
        yield plait.observe(("z", i), plait.Categorical(theta), int(zi))


def stick_breaking_by_hand(x):
    """Stick-breaking written out: (theta, log |d theta_{:K-1} / dx|)."""
    k = len(x) + 1
    theta, left, log_jac = np.empty(k), 1.0, 0.0
    for i in range(k - 1):
        zi = expit(x[i] - math.log(k - 1 - i))
        theta[i] = zi * left
        log_jac += math.log(zi) + math.log(1 - zi) + math.log(left)
        left -= theta[i]
    theta[-1] = left
    return theta, log_jac


def dirichlet_categorical_by_hand(x, z=Z):
    theta, log_jac = stick_breaking_by_hand(x)
    lp = gammaln(ALPHA.sum()) - gammaln(ALPHA).sum() + float(np.sum((ALPHA - 1) * np.log(theta)))
    lp += float(np.sum(np.log(theta[z])))
    return lp + log_jac


def finite_difference(f, x, h=1e-6):
    g = np.empty_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


POINTS = np.random.default_rng(3).normal(0.0, 1.0, size=(5, 3))


# ---------------------------------------------------------------------------
# the layout
# ---------------------------------------------------------------------------

def test_layout_and_round_trip():
    ld = plait.LogDensity(gamma_normal, Y)
    assert ld.dim == 2 and ld.addresses == ["tau", "mu"]
    x = ld.unconstrain({"tau": 2.0, "mu": -0.3})
    np.testing.assert_allclose(x, [math.log(2.0), -0.3], rtol=0, atol=1e-15)
    assert ld.constrain(x) == pytest.approx({"tau": 2.0, "mu": -0.3}, abs=1e-14)

    dc = plait.LogDensity(dirichlet_categorical, Z)
    assert dc.dim == 3 and dc.addresses == ["theta"]
    theta = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(dc.constrain(dc.unconstrain({"theta": theta}))["theta"], theta, atol=1e-15)


def test_observations_condition_the_model():
    def model():
        s = yield plait.sample("s", plait.Exponential(1.0))
        yield plait.sample("y", plait.Normal(0.0, s))

    ld = plait.LogDensity(model, observations={"y": 0.7})
    assert ld.addresses == ["s"]
    u = 0.2
    expected = -math.exp(u) + normal_logpdf(0.7, 0.0, math.exp(u)) + u
    assert ld.log_density(np.array([u])) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ExtraAddressError, match="'nope'"):
        plait.LogDensity(model, observations={"y": 0.7, "nope": 1.0})


# ---------------------------------------------------------------------------
# densities and gradients
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", [gamma_normal, gamma_normal_vectorized])
def test_gamma_normal_matches_the_hand_written_posterior(model):
    ld = plait.LogDensity(model, Y)
    for x in POINTS[:, :2]:
        assert ld.log_density(x) == pytest.approx(gamma_normal_by_hand(x), rel=1e-12, abs=1e-10)


def test_dirichlet_categorical_matches_the_hand_written_posterior():
    ld = plait.LogDensity(dirichlet_categorical, Z)
    for x in POINTS:
        assert ld.log_density(x) == pytest.approx(dirichlet_categorical_by_hand(x), rel=1e-12, abs=1e-10)


def test_stick_breaking_jacobian_is_the_determinant_of_the_jacobian():
    # The hand-written log-Jacobian itself, against a numerical determinant.
    for x in POINTS:
        jac = np.column_stack([
            finite_difference(lambda v, j=j: stick_breaking_by_hand(v)[0][j], x)
            for j in range(len(x))
        ]).T
        assert stick_breaking_by_hand(x)[1] == pytest.approx(math.log(abs(np.linalg.det(jac))), abs=1e-7)


@pytest.mark.parametrize(
    "model, args, by_hand, dim",
    [
        (gamma_normal, (Y,), gamma_normal_by_hand, 2),
        (gamma_normal_vectorized, (Y,), gamma_normal_by_hand, 2),
        (dirichlet_categorical, (Z,), dirichlet_categorical_by_hand, 3),
    ],
)
def test_gradient_matches_finite_differences(model, args, by_hand, dim):
    ld = plait.LogDensity(model, *args)
    for x in POINTS[:, :dim]:
        value, g = ld.log_density_and_grad(x)
        assert value == pytest.approx(ld.log_density(x), abs=1e-12)
        np.testing.assert_allclose(g, finite_difference(ld.log_density, x), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(g, finite_difference(by_hand, x), rtol=1e-6, atol=1e-6)


def test_latent_dependent_bounds_carry_their_jacobian():
    def model():
        top = yield plait.sample("top", plait.Gamma(3.0, 1.0))
        yield plait.sample("u", plait.Uniform(0.0, top))

    ld = plait.LogDensity(model)

    def by_hand(x):
        top = math.exp(x[0])
        lp = 3 * 0.0 - gammaln(3.0) + 2 * math.log(top) - top + x[0]
        return lp - math.log(top) + math.log(top) + log_expit(x[1]) + log_expit(-x[1])

    for x in POINTS[:, :2]:
        value, g = ld.log_density_and_grad(x)
        assert value == pytest.approx(by_hand(x), abs=1e-12)
        np.testing.assert_allclose(g, finite_difference(by_hand, x), rtol=1e-6, atol=1e-6)
        u = ld.constrain(x)["u"]
        assert u == pytest.approx(math.exp(x[0]) * expit(x[1]), rel=1e-14)


# ---------------------------------------------------------------------------
# refusals and edge values
# ---------------------------------------------------------------------------

def test_changing_address_set_is_refused_naming_the_addresses():
    def model():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        if x > 0:
            yield plait.sample("only_if_positive", plait.Normal(0.0, 1.0))
        else:
            yield plait.sample("only_if_negative", plait.Normal(0.0, 1.0))

    with pytest.raises(LogDensityError, match="only_if_positive.*only_if_negative|only_if_negative.*only_if_positive"):
        plait.LogDensity(model)


def test_a_structure_change_met_during_evaluation_names_the_address():
    def model():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        if x > 50:  # never met by the discovery runs
            yield plait.sample("far", plait.Normal(0.0, 1.0))

    ld = plait.LogDensity(model)
    assert math.isfinite(ld.log_density(np.array([1.0])))
    with pytest.raises(LogDensityError, match="'far'"):
        ld.log_density(np.array([60.0]))


def test_discrete_latent_is_refused_naming_it():
    def model():
        k = yield plait.sample("k", plait.Bernoulli(0.3))
        yield plait.observe("y", plait.Normal(float(k), 1.0), 0.4)

    with pytest.raises(LogDensityError, match=r"'k' ~ Bernoulli.*discrete.*plait.exact"):
        plait.LogDensity(model)
    # Fixing it with observations= leaves no latent to refuse.
    assert plait.LogDensity(model, observations={"k": 1}).dim == 0


def test_zero_density_is_minus_infinity_and_nan_is_an_error():
    def model(y):
        s = yield plait.sample("s", plait.Exponential(1.0))
        yield plait.factor("cap", 0.0 if s < 5.0 else -math.inf)
        yield plait.observe("y", plait.Normal(0.0, s), y)

    ld = plait.LogDensity(model, 0.3)
    assert ld.log_density(np.array([math.log(6.0)])) == -math.inf
    value, g = ld.log_density_and_grad(np.array([math.log(6.0)]))
    assert value == -math.inf and np.array_equal(g, [0.0])
    assert math.isfinite(ld.log_density(np.array([0.0])))

    # Issue 20: a NaN observation is refused at the model's observe, as the density is built
    # (it was reported only when the density was evaluated, as a LogDensityError).
    with pytest.raises(InvalidObservationError, match=r"observed site 'y' ~ Normal.*NaN"):
        plait.LogDensity(model, float("nan"))


def test_bad_x_and_bad_choices():
    ld = plait.LogDensity(gamma_normal, Y)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        ld.log_density(np.zeros(3))
    with pytest.raises(LogDensityError, match="'tau'.*support"):
        ld.unconstrain({"tau": -1.0, "mu": 0.0})


# ---------------------------------------------------------------------------
# outside tools: scipy.optimize and emcee
# ---------------------------------------------------------------------------

def test_scipy_minimize_finds_the_map_in_unconstrained_coordinates():
    # Gamma–Normal: the unconstrained density is Normal-Gamma times tau, so its
    # mode is mu = m_n, tau = (a_n + 1/2) / b_n.
    mn, kn, an, bn = normal_gamma_posterior()
    ld = plait.LogDensity(gamma_normal, Y)
    fit = scipy.optimize.minimize(
        lambda x: tuple(-v for v in ld.log_density_and_grad(x)), np.zeros(2), jac=True, method="BFGS",
        options={"gtol": 1e-9},
    )
    assert np.linalg.norm(fit.jac) < 1e-6, fit
    np.testing.assert_allclose(fit.x, [math.log((an + 0.5) / bn), mn], atol=1e-6)

    # Dirichlet: the stick-breaking Jacobian is prod(theta), so the mode of the
    # transformed density is alpha_n / sum(alpha_n) (the usual MAP is (alpha_n - 1) / ...).
    alpha_n = ALPHA + COUNTS
    dc = plait.LogDensity(dirichlet_categorical, Z)
    fit = scipy.optimize.minimize(
        lambda x: tuple(-v for v in dc.log_density_and_grad(x)), np.zeros(3), jac=True, method="BFGS",
        options={"gtol": 1e-9},
    )
    assert np.linalg.norm(fit.jac) < 1e-6, fit
    np.testing.assert_allclose(dc.constrain(fit.x)["theta"], alpha_n / alpha_n.sum(), atol=1e-6)
    np.testing.assert_allclose(fit.x, dc.unconstrain({"theta": alpha_n / alpha_n.sum()}), atol=1e-5)


def dirichlet_categorical_vectorized(z):
    theta = yield plait.sample("theta", plait.Dirichlet(ALPHA))
    yield plait.observe("z", plait.Categorical(theta), z)


def _emcee_means(ld, constrain, seed, nwalkers=12, nsteps=1500, burn=300):
    """Posterior means of ``constrain(chain)`` and their MCSE from emcee's autocorrelation time."""
    emcee = pytest.importorskip("emcee")
    rng = np.random.default_rng(seed)
    start = rng.normal(0.0, 0.3, size=(nwalkers, ld.dim))
    sampler = emcee.EnsembleSampler(nwalkers, ld.dim, ld.log_density)
    # emcee draws from a legacy RandomState of its own; fixing its state fixes the run.
    sampler.random_state = np.random.RandomState(seed).get_state()
    sampler.run_mcmc(start, nsteps)
    values = constrain(sampler.get_chain(discard=burn))  # (steps, walkers, k)
    tau = emcee.autocorr.integrated_time(values, quiet=True)
    n = values.shape[0] * values.shape[1]
    means = values.mean(axis=(0, 1))
    mcse = values.std(axis=(0, 1)) * np.sqrt(tau / n)
    return means, mcse, tau


def test_emcee_gives_the_exact_posterior_means():
    mn, kn, an, bn = normal_gamma_posterior()
    ld = plait.LogDensity(gamma_normal_vectorized, Y)
    np.testing.assert_allclose(ld.log_density(POINTS[0, :2]), gamma_normal_by_hand(POINTS[0, :2]))

    def gamma_normal_values(chain):
        # LogDensity.constrain on every draw would cost a model run each; the
        # transforms are elementwise, so apply them to the whole chain (checked once).
        assert ld.constrain(chain[-1, 0]) == pytest.approx({"tau": np.exp(chain[-1, 0, 0]), "mu": chain[-1, 0, 1]})
        return np.stack([np.exp(chain[..., 0]), chain[..., 1]], axis=-1)

    means, mcse, tau = _emcee_means(ld, gamma_normal_values, seed=11)
    exact = np.array([an / bn, mn])
    assert np.all(np.abs(means - exact) < 4 * mcse), (means, exact, mcse, tau)

    alpha_n = ALPHA + COUNTS
    dc = plait.LogDensity(dirichlet_categorical_vectorized, Z)
    np.testing.assert_allclose(dc.log_density(POINTS[0]), dirichlet_categorical_by_hand(POINTS[0]))
    simplex = plait.transforms.biject_to(plait.supports.simplex(len(ALPHA)))

    def theta_values(chain):
        np.testing.assert_allclose(simplex.forward(chain[-1, 0]), dc.constrain(chain[-1, 0])["theta"])
        return simplex.forward(chain)

    means, mcse, tau = _emcee_means(dc, theta_values, seed=12)
    exact = alpha_n / alpha_n.sum()
    assert np.all(np.abs(means - exact) < 4 * mcse), (means, exact, mcse, tau)

"""plait.nuts / plait.hmc and their kernels: accuracy against exact answers, composition, safety, results.

Statistical checks: fixed seeds, 4 Monte Carlo standard errors from the
chains' own ESS, exact moments in closed form (tests/nuts_models.py).  The
heavier acceptance runs (100-d Gaussian, R-hat over 4 chains, eight schools
at full length) are in bench/nuts_acceptance.py.
"""

import concurrent.futures
import math

import numpy as np
import pytest

import plait
from plait.inference.mcmc.adaptation import warmup_windows
from plait.inference.mcmc.trajectory import Metric, Point, nuts_transition

from nuts_models import (
    MIX_Y,
    NN_Y,
    SCHOOLS_SIGMA,
    SCHOOLS_Y,
    component,
    eight_schools,
    eight_schools_exact,
    funnel,
    gaussian,
    gaussian_exact,
    gaussian_scales,
    mixture,
    mixture_exact,
    moment_errors,
    normal_normal,
    normal_normal_exact,
    regression,
    regression_data,
    regression_exact,
)


def check_moments(chain, exact, address=None, k=4.0):
    """Every (mean, sd) in ``exact`` within k MCSE; keys are addresses, or indices into ``address``."""
    for key, (mean, sd) in exact.items():
        draws = component(chain, address, key) if address is not None else chain.draws(key)
        dm, se_m, ds, se_s = moment_errors(draws, mean, sd)
        assert abs(dm) < k * se_m, f"{key}: mean off by {dm / se_m:.1f} MCSE"
        assert abs(ds) < k * se_s, f"{key}: sd off by {ds / se_s:.1f} MCSE"


def test_normal_normal_nuts():
    chain = plait.nuts(normal_normal, NN_Y, num_samples=1000, num_warmup=300, seed=0)
    check_moments(chain, normal_normal_exact())
    assert chain.divergences == 0


def test_normal_normal_hmc():
    chain = plait.hmc(normal_normal, NN_Y, num_samples=1000, num_warmup=300, num_steps=5, seed=1)
    check_moments(chain, normal_normal_exact())


@pytest.mark.parametrize("dense", [False, True])
def test_gaussian_with_scales_from_0_01_to_100(dense):
    scales = gaussian_scales(6)
    # max_tree_depth=6 bounds the cost of the first warmup window (unit metric, scales 1e4 apart)
    chain = plait.nuts(gaussian, scales, num_samples=800, num_warmup=300, seed=2, dense_mass=dense, max_tree_depth=6)
    check_moments(chain, gaussian_exact(scales), address="x")
    # the adapted metric makes the scales irrelevant: short trees
    assert np.mean(chain.sample_stats["tree_depth"]) < 4


def test_linear_regression_closed_form():
    X, y = regression_data()
    chain = plait.nuts(regression, X, y, num_samples=800, num_warmup=300, seed=3)
    check_moments(chain, regression_exact(X, y), address="beta")


def test_eight_schools_non_centred_against_quadrature():
    chain = plait.nuts(eight_schools, SCHOOLS_Y, SCHOOLS_SIGMA, num_samples=700, num_warmup=300, seed=4)
    exact = eight_schools_exact()
    check_moments(chain, {k: v for k, v in exact.items() if k in ("mu", "tau")})
    check_moments(chain, {j: exact[("eta", j)] for j in range(8)}, address="eta")


def test_mixture_nuts_over_continuous_block_plus_gibbs_over_assignments():
    zs = [("z", i) for i in range(len(MIX_Y))]
    kernel = plait.sequence(plait.repeat(plait.SingleSite(addresses=zs), len(zs)),
                            plait.nuts_kernel(["w", "mu0", "mu1"]))
    chain = plait.mh(mixture, MIX_Y, num_samples=1200, burn_in=300, kernel=kernel, seed=5)
    check_moments(chain, mixture_exact())
    assert set(chain.acceptance) == {"single_site", "nuts"}


def test_centred_funnel_reports_divergences():
    chain = plait.nuts(funnel, num_samples=300, num_warmup=200, seed=1)
    assert chain.divergences > 0
    assert "divergences: " in chain.summary()


# -- the transition itself ---------------------------------------------------------------------

def test_nuts_transition_preserves_a_standard_normal():
    # Exact target, no adaptation: the draws' moments match N(0, 1) in 3-d.
    potential = lambda x: (-0.5 * float(x @ x), -x)  # noqa: E731
    rng = np.random.default_rng(7)
    point = Point(np.zeros(3), 0.0, np.zeros(3))
    draws = []
    for _ in range(3000):
        point = nuts_transition(potential, Metric(np.ones(3)), point, 0.9, rng).point
        draws.append(point.x)
    draws = np.array(draws)
    for j in range(3):
        dm, se_m, ds, se_s = moment_errors(draws[:, j], 0.0, 1.0)
        assert abs(dm) < 4 * se_m and abs(ds) < 4 * se_s


def test_warmup_windows_match_stan():
    assert warmup_windows(1000) == [(75, 100), (100, 150), (150, 250), (250, 450), (450, 950)]
    assert warmup_windows(150) == [(75, 100)]  # 75 + 25 + 50: one window
    assert warmup_windows(19) == []  # step size only


# -- a log density that never throws at a sampler ----------------------------------------------

def test_out_of_domain_points_are_divergences_not_exceptions():
    def model():
        s = yield plait.sample("s", plait.Exponential(1.0))
        p = yield plait.sample("p", plait.Uniform(0.0, 1.0))
        yield plait.observe("y", plait.Normal(0.0, s), 1.0)
        yield plait.observe("b", plait.Bernoulli(p * (1.0 + 1e-9)), 1)  # p > 1 near p = 1

    ld = plait.LogDensity(model)
    # scale exp(800) = inf; scale exp(-800) = 0; a probability above 1; NaN coordinates
    for x in ([800.0, 0.0], [-800.0, 0.0], [0.0, 40.0], [np.nan, 0.0]):
        value, grad = ld.sampler_log_density_and_grad(np.array(x))
        assert value == -math.inf and not grad.any()
    with pytest.raises(plait.InvalidParameterError), np.errstate(over="ignore"):
        ld.log_density_and_grad(np.array([800.0, 0.0]))  # the strict method still raises
    # a chain whose trajectories reach such points reports divergences and keeps going
    chain = plait.nuts(model, num_samples=30, num_warmup=0, seed=8, init={"s": 1.0, "p": 0.5})
    assert chain.num_samples == 30


def test_structural_errors_still_raise_with_the_address():
    def nan_observation():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield plait.observe("y", plait.Normal(x, 1.0), float("nan"))

    # A NaN observation is refused where it is observed (issue 20), naming the site.
    with pytest.raises(plait.errors.InvalidObservationError, match="'y'"):
        plait.nuts(nan_observation, num_samples=5, num_warmup=5, seed=0)

    def changes_addresses():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        if x > 3.0:
            yield plait.sample("extra", plait.Normal(0.0, 1.0))

    ld = plait.LogDensity(changes_addresses)
    with pytest.raises(plait.LogDensityError, match="extra"):
        ld.sampler_log_density_and_grad(np.array([4.0]))


def test_initialisation_error_names_the_sites():
    def impossible():
        x = yield plait.sample("x", plait.Normal(0.0, 1.0))
        yield plait.factor("never", -math.inf if x < 100 else 0.0)

    with pytest.raises(plait.InitializationError, match=r"\['x'\]"):
        plait.nuts(impossible, num_samples=5, num_warmup=5, seed=0)


def test_init_is_used():
    chain = plait.nuts(normal_normal, NN_Y, num_samples=1, num_warmup=0, seed=0, init={"mu": 1.0})
    assert chain.num_samples == 1


# -- results --------------------------------------------------------------------------------------

def test_same_seed_same_chain_and_executor_identical():
    kwargs = {"num_samples": 30, "num_warmup": 30, "num_chains": 2, "seed": 9}
    a = plait.nuts(normal_normal, NN_Y, **kwargs)
    b = plait.nuts(normal_normal, NN_Y, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        c = plait.nuts(normal_normal, NN_Y, executor=pool, **kwargs)
    assert np.array_equal(a["mu"], b["mu"]) and np.array_equal(a["mu"], c["mu"])
    for name in ("diverging", "energy", "tree_depth", "step_size", "acceptance_rate", "n_steps"):
        assert np.array_equal(a.sample_stats[name], c.sample_stats[name])
        assert a.sample_stats[name].shape == (2, 30)


def test_arviz_sample_stats_names_and_summary():
    pytest.importorskip("arviz")
    chain = plait.nuts(normal_normal, NN_Y, num_samples=50, num_warmup=50, num_chains=2, seed=10)
    stats = chain.to_arviz().sample_stats
    for name in ("diverging", "energy", "tree_depth", "step_size", "acceptance_rate", "lp"):
        assert stats[name].dims == ("chain", "draw")
    assert stats["diverging"].dtype == bool
    text = chain.summary()
    assert "divergences: 0 of 100 draws" in text and "E-BFMI per chain" in text
    assert chain.bfmi().shape == (2,)


def test_kernel_arguments_are_checked():
    with pytest.raises(ValueError, match="target_accept"):
        plait.nuts_kernel(target_accept=1.5)
    with pytest.raises(ValueError, match="max_tree_depth"):
        plait.nuts_kernel(max_tree_depth=0)
    with pytest.raises(ValueError, match="num_steps"):
        plait.hmc_kernel(num_steps=0)
    with pytest.raises(ValueError, match="step_size"):
        plait.hmc_kernel(step_size=-1.0)


def test_kernels_pickle_for_executors_and_progress_runs():
    import pickle

    kernel = plait.sequence(plait.SingleSite(addresses=["z"]), plait.nuts_kernel(["mu"]))
    assert isinstance(pickle.loads(pickle.dumps(kernel)), plait.Kernel)
    chain = plait.nuts(normal_normal, NN_Y, num_samples=5, num_warmup=5, seed=0, progress=True)
    assert chain.num_samples == 5


def test_a_start_refused_only_under_derivatives_says_why():
    # The plain run is fine; with derivatives the Binomial's count carries one, which it
    # cannot: every start is refused, and the message must name that error, not "none".
    def model():
        s = yield plait.sample("s", plait.Exponential(1.0))
        yield plait.observe("k", plait.Binomial(0.0 * s + 3.0, 0.5), 2)

    with pytest.raises(plait.InitializationError, match=r"with derivatives raised InvalidParameterError.*'n'.*\(at site 'k'\)"):
        plait.nuts(model, num_samples=10, num_warmup=10, seed=0)


def test_a_start_refused_with_and_without_derivatives_says_why_once():
    # Prior draws are fine (|s| > 5 almost surely); every start in [-2, 2] gives a
    # negative scale, in the plain run as with derivatives: the error is said once.
    def model():
        s = yield plait.sample("s", plait.Normal(0.0, 1e6))
        yield plait.observe("y", plait.Normal(0.0, abs(s) - 5.0), 1.0)

    with pytest.raises(plait.InitializationError, match=r"evaluating the model raised InvalidParameterError") as info:
        plait.nuts(model, num_samples=10, num_warmup=10, seed=0)
    assert "with derivatives" not in str(info.value)

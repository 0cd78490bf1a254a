"""MCMC diagnostics: known answers for iid / AR(1) chains, a slow reference, edge cases.

Tolerances are statistical and were sized from the sampling spread of the
estimators (measured over many seeds), then the seeds are fixed:

* iid, 4 x 5000: ESS / N has sd ~0.023 per run and ~1 % downward bias (Geyer's
  truncation keeps a few positive noise pairs).  Averaged over 10 seeds the sd
  is ~0.007, so a 0.04 band is > 4 sd away from the bias.
* AR(1), 4 x 20000: ESS / N over its theoretical value (1 - rho) / (1 + rho)
  has sd ~0.045 per run at rho = 0.9 (less at 0.5).  Averaged over 4 seeds the
  sd is ~0.023, so the 10 % band is ~4 sd.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from plait.inference.results import diagnostics
from plait.inference.results.diagnostics import (
    autocorrelation,
    effective_sample_size,
    mcse_mean,
    split_rhat,
)


def ar1_chains(rho: float, num_chains: int, num_draws: int, seed: int) -> np.ndarray:
    """Stationary AR(1) chains with unit marginal variance."""
    rng = np.random.default_rng(seed)
    start = rng.normal(size=(num_chains, 1))
    innovations = rng.normal(size=(num_chains, num_draws)) * math.sqrt(1.0 - rho**2)
    return scipy.signal.lfilter([1.0], [1.0, -rho], innovations, axis=1, zi=rho * start)[0]


def ar1_ess_fraction(rho: float) -> float:
    return (1.0 - rho) / (1.0 + rho)


# ---------------------------------------------------------------- slow reference


def reference_autocovariance(chain: np.ndarray) -> list[float]:
    """Biased autocovariance by direct sums over pairs, lag by lag."""
    n = len(chain)
    mean = math.fsum(chain) / n
    centred = [v - mean for v in chain]
    return [math.fsum(centred[i] * centred[i + t] for i in range(n - t)) / n for t in range(n)]


def reference_variance(values) -> float:
    values = list(values)
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)


def reference_within_and_pooled(chains: np.ndarray) -> tuple[float, float]:
    m, n = chains.shape
    within = math.fsum(reference_variance(c) for c in chains) / m
    between_over_n = reference_variance(math.fsum(c) / n for c in chains) if m > 1 else 0.0
    return within, (n - 1) / n * within + between_over_n


def reference_ess(chains: np.ndarray) -> float:
    """Stan / BDA3 ESS written as the textbook loop."""
    m, n = chains.shape
    within, var_plus = reference_within_and_pooled(chains)
    autocovs = [reference_autocovariance(c) for c in chains]
    rho = [1.0] + [1.0 - (within - math.fsum(a[t] for a in autocovs) / m) / var_plus for t in range(1, n)]
    kept: list[float] = []
    for k in range(n // 2):
        pair = rho[2 * k] + rho[2 * k + 1]
        if k > 0 and pair <= 0.0:
            break  # end of the initial positive sequence
        if kept and pair > kept[-1]:
            pair = kept[-1]  # initial monotone sequence
        kept.append(pair)
    tau = max(-1.0 + 2.0 * math.fsum(kept), 1.0 / math.log10(m * n))
    return m * n / tau


def reference_split_rhat(chains: np.ndarray) -> float:
    n = chains.shape[1]
    half = n // 2
    halves = np.array([c[:half] for c in chains] + [c[n - half:] for c in chains])
    within, var_plus = reference_within_and_pooled(halves)
    return math.sqrt(var_plus / within)


@st.composite
def random_chains(draw) -> np.ndarray:
    """AR(1) chains with random shape, correlation, scale, offset and chain offsets.

    Built from a seeded generator rather than raw hypothesis floats: the Geyer
    cut-off is discontinuous where a pair sum is exactly 0, which structured
    floats hit on purpose and continuous noise essentially never does.

    The offset stays within 1e3 spreads: the ESS is conditioned like
    ``eps * |offset| / spread`` times ~100 (measured: 1e-11 at 1e3, 1e-9 at
    1e5, for this reference and the FFT alike), so a 1e-10 agreement is only
    meaningful up to there; ``test_large_offsets_cost_only_conditioning``
    covers the rest.
    """
    m = draw(st.integers(1, 4))
    n = draw(st.integers(4, 60))
    rho = draw(st.floats(-0.95, 0.95))
    scale = 10.0 ** draw(st.floats(-3, 3))
    offset = scale * draw(st.floats(-1e3, 1e3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    chains = ar1_chains(rho, m, n, int(rng.integers(2**32)))
    chain_offsets = rng.normal(size=(m, 1)) * draw(st.sampled_from([0.0, 0.5, 3.0]))
    return offset + scale * (chains + chain_offsets)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(random_chains())
def test_ess_agrees_with_the_direct_sum_reference(chains):
    assert effective_sample_size(chains) == pytest.approx(reference_ess(chains), rel=1e-10)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(random_chains())
def test_split_rhat_agrees_with_the_direct_sum_reference(chains):
    assert split_rhat(chains) == pytest.approx(reference_split_rhat(chains), rel=1e-10)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(random_chains())
def test_autocorrelation_agrees_with_the_direct_sum_reference(chains):
    autocov = reference_autocovariance(chains[0])
    expected = np.array(autocov) / autocov[0]
    np.testing.assert_allclose(autocorrelation(chains[0]), expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- known answers


def test_large_offsets_cost_only_conditioning():
    chains = ar1_chains(0.5, 4, 2000, seed=5)
    for offset in [1e4, -1e6]:
        # eps * 1e6 ~ 2e-10 per draw; 1e-6 leaves room for the ~100x amplification.
        assert effective_sample_size(chains + offset) == pytest.approx(effective_sample_size(chains), rel=1e-6)
        assert split_rhat(chains + offset) == pytest.approx(split_rhat(chains), rel=1e-6)


def test_ess_and_rhat_are_scale_free():
    chains = ar1_chains(0.7, 3, 1000, seed=4)
    for scale in [1e-8, 1e8]:
        assert effective_sample_size(scale * chains) == pytest.approx(effective_sample_size(chains), rel=1e-10)
        assert split_rhat(scale * chains) == pytest.approx(split_rhat(chains), rel=1e-12)


def test_autocorrelation_is_not_circular():
    # A circular FFT would correlate the last draw with the first at lag 1.
    x = np.array([0.0, 0.0, 0.0, 1.0])
    expected = np.array(reference_autocovariance(x)) / reference_autocovariance(x)[0]
    np.testing.assert_allclose(autocorrelation(x), expected, atol=1e-14)
    assert autocorrelation(x)[0] == 1.0


def test_autocorrelation_of_ar1_decays_geometrically():
    acf = autocorrelation(ar1_chains(0.8, 1, 200_000, seed=1)[0])
    np.testing.assert_allclose(acf[:5], 0.8 ** np.arange(5), atol=0.01)


def test_iid_ess_is_close_to_the_number_of_draws():
    fractions = [effective_sample_size(np.random.default_rng(seed).normal(size=(4, 5000))) / 20_000
                 for seed in range(10)]
    assert abs(np.mean(fractions) - 1.0) < 0.04, fractions


def test_iid_split_rhat_is_close_to_one():
    for seed in range(5):
        rhat = split_rhat(np.random.default_rng(seed).normal(size=(4, 5000)))
        assert 0.99 < rhat < 1.01, (seed, rhat)


@pytest.mark.parametrize("rho", [0.5, 0.9, -0.5])
def test_ar1_ess_matches_theory(rho):
    ratios = [effective_sample_size(ar1_chains(rho, 4, 20_000, seed)) / 80_000 / ar1_ess_fraction(rho)
              for seed in range(4)]
    assert abs(np.mean(ratios) - 1.0) < 0.10, ratios


def test_anticorrelated_chain_has_ess_above_n_but_within_the_cap():
    chains = ar1_chains(-0.5, 4, 20_000, seed=7)
    total = chains.size
    assert total < effective_sample_size(chains) < total * math.log10(total)


@pytest.mark.parametrize("draws", [
    np.tile([1.0, -1.0], 50),  # perfectly alternating: tau <= 0 before clipping
    ar1_chains(-0.95, 2, 500, seed=3),  # theory says ESS = 39 N, far above the cap
])
def test_strongly_antithetic_ess_is_capped_at_n_log10_n(draws):
    total = np.size(draws)
    assert effective_sample_size(draws) == pytest.approx(total * math.log10(total), rel=1e-12)


def test_chains_with_different_means_have_large_rhat():
    rng = np.random.default_rng(0)
    chains = rng.normal(size=(4, 1000)) + np.arange(4.0)[:, np.newaxis]
    assert split_rhat(chains) > 1.1


def test_single_chain_with_a_trend_has_large_split_rhat():
    rng = np.random.default_rng(0)
    chain = np.linspace(0.0, 3.0, 2000) + rng.normal(size=2000)
    assert split_rhat(chain) > 1.1
    assert split_rhat(rng.normal(size=2000)) < 1.05


def test_odd_length_split_drops_the_middle_draw():
    chain = np.array([0.0, 1.0, 2.0, 100.0, 3.0, 4.0, 5.0])
    assert split_rhat(chain) == pytest.approx(reference_split_rhat(np.delete(chain, 3)[np.newaxis]))


def test_one_dimensional_input_is_one_chain():
    chain = ar1_chains(0.3, 1, 500, seed=2)
    assert effective_sample_size(chain[0]) == effective_sample_size(chain)
    assert split_rhat(chain[0]) == split_rhat(chain)
    assert mcse_mean(chain[0]) == mcse_mean(chain)


def test_mcse_mean_matches_the_spread_of_replicated_means():
    replicates = ar1_chains(0.5, 400, 1000, seed=11)
    observed_sd = replicates.mean(axis=1).std(ddof=1)  # ~3.5 % relative sampling error
    estimated = np.mean([mcse_mean(chain) for chain in replicates])
    assert estimated == pytest.approx(observed_sd, rel=0.12)


def test_mcse_mean_of_iid_draws_is_sd_over_root_n():
    draws = np.random.default_rng(0).normal(size=(4, 5000))
    assert mcse_mean(draws) == pytest.approx(1.0 / math.sqrt(20_000), rel=0.05)


# ---------------------------------------------------------------- degenerate input


@pytest.mark.parametrize("value", [0.0, 0.1, -3.7e12])
def test_identical_draws_give_nan(value):
    draws = np.full((3, 10), value)
    assert math.isnan(effective_sample_size(draws))
    assert math.isnan(split_rhat(draws))
    assert math.isnan(mcse_mean(draws))
    assert np.isnan(autocorrelation(draws[0])).all()


def test_chains_stuck_at_different_values():
    m, n = 3, 10
    draws = np.repeat(np.array([[0.1], [0.2], [0.3]]), n, axis=1)
    assert split_rhat(draws) == math.inf
    # Every lag is perfectly correlated: tau = 2n - 1, so each chain counts as about half a draw.
    assert effective_sample_size(draws) == pytest.approx(m * n / (2 * n - 1), rel=1e-12)


def test_halves_stuck_at_different_values_give_infinite_rhat():
    assert split_rhat(np.array([0.0, 0.0, 1.0, 1.0])) == math.inf


def test_shortest_chains_are_accepted():
    draws = np.random.default_rng(0).normal(size=(2, 4))
    assert math.isfinite(effective_sample_size(draws))
    assert math.isfinite(split_rhat(draws))


def test_lists_and_integers_are_accepted():
    assert effective_sample_size([[1, 2, 3, 4, 5], [2, 1, 4, 3, 6]]) == pytest.approx(
        reference_ess(np.array([[1, 2, 3, 4, 5], [2, 1, 4, 3, 6]], dtype=float)), rel=1e-10)


# ---------------------------------------------------------------- errors

PUBLIC = [effective_sample_size, split_rhat, mcse_mean]


@pytest.mark.parametrize("func", PUBLIC)
@pytest.mark.parametrize("bad, message", [
    (np.array([[0.0, 1.0, np.nan, 2.0]]), "NaN"),
    (np.array([0.0, 1.0, np.inf, 2.0]), "infinite"),
    (np.zeros((2, 3, 4)), "shape"),
    (np.float64(1.0), "shape"),
    (np.zeros((2, 3)), "at least 4 draws"),
    (np.zeros((0, 10)), "no chains"),
    (np.zeros((3, 0)), "at least 4 draws"),
])
def test_malformed_draws_raise(func, bad, message):
    with pytest.raises(ValueError, match=message) as info:
        func(bad)
    assert func.__name__ in str(info.value)


@pytest.mark.parametrize("bad, message", [
    (np.array([1.0, np.nan]), "NaN"),
    (np.array([1.0, -np.inf]), "infinite"),
    (np.zeros((2, 5)), "1-D"),
    (np.zeros(0), "empty"),
])
def test_malformed_series_raise_in_autocorrelation(bad, message):
    with pytest.raises(ValueError, match=message):
        autocorrelation(bad)


def test_module_exports_exactly_the_four_diagnostics():
    assert sorted(diagnostics.__all__) == sorted(
        ["autocorrelation", "effective_sample_size", "split_rhat", "mcse_mean"])

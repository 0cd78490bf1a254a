"""Convergence diagnostics for MCMC output: autocorrelation, ESS, split R-hat, MCSE.

Every function takes the draws of one scalar quantity, shaped
``(num_chains, num_draws)``; a 1-D array is one chain.  The definitions follow
Gelman et al., *Bayesian Data Analysis* (3rd ed.) §11.4-11.5 and Stan's
non-rank-normalised estimators:

* ``W`` is the mean of the per-chain sample variances (divisor ``n - 1``),
  ``B / n`` the sample variance (divisor ``m - 1``) of the chain means, and
  ``var+ = (n - 1) / n * W + B / n`` the pooled variance estimate.
* Autocovariances are the biased estimator (divisor ``n``, not ``n - t``),
  computed by a zero-padded FFT; the bias shrinks long lags, which is what
  keeps Geyer's truncated sum stable.

Degenerate input has documented, non-raising answers, because a stuck sampler
is something a diagnostic should report rather than crash on:

* every draw identical: ESS, R-hat and MCSE are NaN (nothing to measure);
* every chain constant but at different values (``W = 0 < B``): R-hat is
  ``inf`` and ESS comes out near ``m / 2`` (every chain is one "draw").

Malformed input (NaN or infinite values, fewer than 4 draws per chain, more
than 2 dimensions, no chains) raises :class:`ValueError` naming the problem.

The functions do not split chains for ESS (``split_rhat`` does split); pass
half-chains yourself to get Stan's split-ESS.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike

__all__ = ["autocorrelation", "effective_sample_size", "mcse_mean", "split_rhat"]

MIN_DRAWS_PER_CHAIN = 4


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of a 1-D series at every lag ``0 .. n-1``.

    ``rho_t = c_t / c_0`` with ``c_t = (1/n) * sum_{i<n-t} (x_i - mean)(x_{i+t} - mean)``
    (the biased estimator), computed by FFT with zero padding to at least
    ``2n - 1`` so no lag wraps around.  Lag 0 is 1.  A constant series has no
    defined autocorrelation: the result is all NaN.

    >>> autocorrelation(np.array([1.0, 2.0, 3.0, 4.0])).round(12).tolist()
    [1.0, 0.25, -0.3, -0.45]
    """
    series = _as_finite_float_array(x, "autocorrelation")
    if series.ndim != 1:
        raise ValueError(f"autocorrelation: expected a 1-D series, got shape {series.shape}")
    if series.size == 0:
        raise ValueError("autocorrelation: the series is empty")
    autocov = _autocovariance(series[np.newaxis, :])[0]
    if autocov[0] == 0.0:
        return np.full(series.size, np.nan)
    correlation: np.ndarray = autocov / autocov[0]
    return correlation


def effective_sample_size(draws: ArrayLike) -> float:
    """Multi-chain effective sample size of the mean (BDA3 §11.5, Stan's estimator).

    With ``m`` chains of ``n`` draws and the mean autocovariance over chains
    ``c_t``, the combined autocorrelation is ``rho_0 = 1`` and
    ``rho_t = 1 - (W - c_t) / var+`` (see the module docstring for ``W`` and
    ``var+``).  Pairs ``P_k = rho_{2k} + rho_{2k+1}`` are summed by Geyer's
    initial positive sequence (``P_0`` always, then up to the first
    ``P_k <= 0``) with the initial monotone correction
    (``P_k <- min(P_k, P_{k-1})``); ``tau = -1 + 2 * sum P_k`` and
    ``ESS = m n / tau``.

    Antithetic chains can give ``ESS > m n``.  As in Stan, ``tau`` is clipped
    below at ``1 / log10(m n)``, i.e. ``ESS <= m n log10(m n)``; note this
    bound is below ``m n`` when ``m n < 10``.  All-identical draws give NaN.

    >>> rng = np.random.default_rng(0)
    >>> iid = rng.normal(size=(4, 1000))
    >>> 3600 < effective_sample_size(iid) < 4400
    True
    >>> walk = np.cumsum(rng.normal(size=(4, 1000)), axis=1)
    >>> effective_sample_size(walk) < 100
    True
    """
    chains = _as_chains(draws, "effective_sample_size")
    if _all_identical(chains):
        return math.nan
    num_chains, num_draws = chains.shape
    total = num_chains * num_draws
    within, var_plus = _within_and_pooled_variance(chains)
    if var_plus == 0.0:  # distinct constants whose chain means round together
        return math.nan
    autocov = _autocovariance(chains)
    combined = 1.0 - (within - autocov.mean(axis=0)) / var_plus
    combined[0] = 1.0
    tau = -1.0 + 2.0 * _geyer_initial_monotone_sum(combined)
    tau = max(tau, 1.0 / math.log10(total))
    return float(total / tau)


def split_rhat(draws: ArrayLike) -> float:
    """Split potential scale reduction factor ``sqrt(var+ / W)`` (BDA3 §11.4).

    Each chain is cut into a first and second half (the middle draw is dropped
    when ``n`` is odd) and the ``2m`` halves are treated as chains, so a
    single chain works and a trend within a chain shows up as ``R-hat > 1``.
    All-identical draws give NaN; halves that are each constant but differ
    (``W = 0``) give ``inf``.

    >>> rng = np.random.default_rng(0)
    >>> round(split_rhat(rng.normal(size=(4, 1000))), 2)
    1.0
    >>> split_rhat(np.linspace(0.0, 1.0, 100)) > 1.1  # one chain with a trend
    True
    """
    chains = _as_chains(draws, "split_rhat")
    if _all_identical(chains):
        return math.nan
    within, var_plus = _within_and_pooled_variance(_split_in_halves(chains))
    if within == 0.0:
        return math.inf if var_plus > 0.0 else math.nan
    return float(math.sqrt(var_plus / within))


def mcse_mean(draws: ArrayLike) -> float:
    """Monte Carlo standard error of the mean: ``sd / sqrt(ESS)``.

    ``sd`` is the sample standard deviation (divisor ``N - 1``) of all draws
    pooled, ``ESS`` is :func:`effective_sample_size`.  All-identical draws
    give NaN, like the ESS.

    >>> rng = np.random.default_rng(0)
    >>> 0.015 < mcse_mean(rng.normal(size=(4, 1000))) < 0.017  # about 1 / sqrt(4000)
    True
    """
    chains = _as_chains(draws, "mcse_mean")
    ess = effective_sample_size(chains)
    if math.isnan(ess):
        return math.nan
    return float(np.std(chains, ddof=1) / math.sqrt(ess))


def _as_finite_float_array(x: ArrayLike, caller: str) -> np.ndarray:
    array = np.asarray(x, dtype=np.float64)
    if np.isnan(array).any():
        raise ValueError(f"{caller}: draws contain NaN")
    if np.isinf(array).any():
        raise ValueError(f"{caller}: draws contain infinite values")
    return array


def _as_chains(draws: ArrayLike, caller: str) -> np.ndarray:
    """Validate ``draws`` and view it as a float64 ``(num_chains, num_draws)`` array."""
    chains = _as_finite_float_array(draws, caller)
    if chains.ndim == 1:
        chains = chains[np.newaxis, :]
    if chains.ndim != 2:
        raise ValueError(
            f"{caller}: draws must have shape (num_chains, num_draws) or (num_draws,) "
            f"for one scalar quantity, got shape {chains.shape}"
        )
    if chains.shape[0] == 0:
        raise ValueError(f"{caller}: draws have no chains (shape {chains.shape})")
    if chains.shape[1] < MIN_DRAWS_PER_CHAIN:
        raise ValueError(
            f"{caller}: need at least {MIN_DRAWS_PER_CHAIN} draws per chain, got {chains.shape[1]}"
        )
    return chains


def _all_identical(chains: np.ndarray) -> bool:
    # Exact comparison: a computed variance of a constant array can be a few ulps above zero.
    return bool(np.all(chains == chains.flat[0]))


def _centred(chains: np.ndarray) -> np.ndarray:
    """Each chain minus its mean; exactly zero for a constant chain.

    The mean of n copies of c need not round to c, so a constant chain would
    otherwise get a spurious positive variance and hide a stuck chain.
    """
    centred: np.ndarray = chains - chains.mean(axis=1, keepdims=True)
    constant = np.all(chains == chains[:, :1], axis=1)
    centred[constant] = 0.0
    return centred


def _autocovariance(chains: np.ndarray) -> np.ndarray:
    """Biased autocovariance ``c_t`` (divisor n) of every chain at lags ``0 .. n-1``."""
    num_draws = chains.shape[1]
    # Padding to >= 2n - 1 turns the FFT's circular correlation into the linear one.
    fft_length = scipy.fft.next_fast_len(2 * num_draws - 1, real=True)
    spectrum = scipy.fft.rfft(_centred(chains), n=fft_length, axis=1)
    circular = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=fft_length, axis=1)
    autocovariance: np.ndarray = circular[:, :num_draws] / num_draws
    return autocovariance


def _sample_variances(chains: np.ndarray) -> np.ndarray:
    centred = _centred(chains)
    variances: np.ndarray = (centred**2).sum(axis=1) / (chains.shape[1] - 1)
    return variances


def _within_and_pooled_variance(chains: np.ndarray) -> tuple[float, float]:
    """``W`` and ``var+ = (n-1)/n W + B/n``."""
    num_chains, num_draws = chains.shape
    within = float(_sample_variances(chains).mean())
    between_over_n = float(np.var(chains.mean(axis=1), ddof=1)) if num_chains > 1 else 0.0
    return within, (num_draws - 1) / num_draws * within + between_over_n


def _geyer_initial_monotone_sum(rho: np.ndarray) -> float:
    """``sum P_k`` over Geyer's initial positive, monotone-corrected pair sequence."""
    num_pairs = rho.size // 2
    pair_sums = rho[: 2 * num_pairs : 2] + rho[1 : 2 * num_pairs : 2]
    # P_0 is always kept (as in Stan), even when sampling noise makes it <= 0.
    nonpositive = np.flatnonzero(pair_sums[1:] <= 0.0)
    kept = pair_sums[: 1 + nonpositive[0]] if nonpositive.size else pair_sums
    return float(np.minimum.accumulate(kept).sum())


def _split_in_halves(chains: np.ndarray) -> np.ndarray:
    half = chains.shape[1] // 2
    # For odd n the middle draw is dropped, so both halves have the same length.
    return np.concatenate([chains[:, :half], chains[:, chains.shape[1] - half :]], axis=0)

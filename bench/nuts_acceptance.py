"""Issue 19's accuracy acceptance: NUTS posterior moments against exact answers, R-hat over 4 chains.

Run:  python bench/nuts_acceptance.py [--quick]

For every model, 4 chains (seeds spawned from one seed): each parameter's
posterior mean and sd against the exact value, the error in Monte Carlo
standard errors (MCSE from the pooled ESS; the sd's by the delta method on
the second central moment, see tests/nuts_models.py), and split R-hat (and
ArviZ's rank-normalised R-hat) across the 4 chains.  Every |error| must be
below 4 MCSE and every R-hat at most 1.01.  Neal's funnel (centred) must
report divergences.

Exact answers: closed forms (Normal-Normal, the Gaussian, linear
regression), enumeration of the assignments with conjugate continuous
parts (the mixture, run with NUTS + single-site Gibbs), quadrature over
(mu, tau) with theta integrated out (eight schools).  The tests in
tests/test_nuts.py run smaller versions of the same checks.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import time
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

import plait
from plait.inference.results.diagnostics import split_rhat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from nuts_models import (  # noqa: E402
    MIX_Y, NN_Y, SCHOOLS_SIGMA, SCHOOLS_Y, eight_schools, eight_schools_exact, funnel, gaussian, gaussian_exact,
    gaussian_scales, mixture, mixture_exact, moment_errors, normal_normal, normal_normal_exact, regression,
    regression_data, regression_exact,
)

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
except ImportError:  # pragma: no cover
    az = None

CHAINS = 4


def _rank_rhat(draws: np.ndarray) -> float:
    if az is None:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(az.rhat(draws, method="rank"))


def report(name: str, chain: plait.Chain, exact: Dict[Any, Tuple[float, float]], address: Optional[str],
           seconds: float) -> Tuple[float, float]:
    worst_err, worst_rhat = 0.0, 0.0
    print(f"\n== {name}: {chain.num_chains} chains x {chain.num_samples} draws, {seconds:.0f} s, "
          f"divergences {chain.divergences} ==")
    print(f"{'param':>10s} {'exact mean':>11s} {'mean':>9s} {'err/MCSE':>8s} {'exact sd':>9s} {'sd':>9s} "
          f"{'err/MCSE':>8s} {'R-hat':>6s} {'rank':>6s}")
    rows = list(exact.items())
    shown = rows if len(rows) <= 12 else rows[:5] + rows[-5:]
    for key, (mean, sd) in rows:
        draws = chain.draws(key) if address is None else chain.draws(address)[..., key]
        dm, se_m, ds, se_s = moment_errors(draws, mean, sd)
        rhat, rank = split_rhat(draws), _rank_rhat(draws)
        worst_err = max(worst_err, abs(dm) / se_m, abs(ds) / se_s)
        worst_rhat = max(worst_rhat, rhat, rank if rank == rank else 0.0)
        if (key, (mean, sd)) in shown:
            label = str(key) if address is None else f"{address}[{key}]"
            print(f"{label:>10s} {mean:11.4g} {mean + dm:9.4g} {dm / se_m:8.2f} {sd:9.4g} {sd + ds:9.4g} "
                  f"{ds / se_s:8.2f} {rhat:6.3f} {rank:6.3f}")
    if len(rows) > len(shown):
        print(f"{'...':>10s} ({len(rows) - len(shown)} more rows)")
    verdict = "ok" if worst_err < 4 and worst_rhat <= 1.01 else "FAILED"
    print(f"worst |error| {worst_err:.2f} MCSE, worst R-hat {worst_rhat:.4f}: {verdict}")
    return worst_err, worst_rhat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter chains (a smoke run)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every warmup and draw count")
    parser.add_argument("--only", default=None, help="run the models whose name contains this (and the funnel "
                        "only if it matches 'funnel')")
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    scale = 0.25 if opts.quick else opts.scale
    n = lambda k: max(100, int(k * scale))  # noqa: E731
    X, y = regression_data()
    scales = gaussian_scales(100)
    cases: List[Tuple[str, Any]] = [
        ("Normal-Normal", lambda ex: (plait.nuts(normal_normal, NN_Y, num_samples=n(2000), num_warmup=n(1000),
                                                 num_chains=CHAINS, seed=1, executor=ex),
                                      normal_normal_exact(), None)),
        ("100-d Gaussian, scales 0.01..100, diagonal mass",
         lambda ex: (plait.nuts(gaussian, scales, num_samples=n(1000), num_warmup=n(1000), num_chains=CHAINS,
                                seed=2, executor=ex), gaussian_exact(scales), "x")),
        ("100-d Gaussian, scales 0.01..100, dense mass",
         lambda ex: (plait.nuts(gaussian, scales, num_samples=n(1000), num_warmup=n(1000), num_chains=CHAINS,
                                seed=3, executor=ex, dense_mass=True), gaussian_exact(scales), "x")),
        ("linear regression", lambda ex: (plait.nuts(regression, X, y, num_samples=n(2000), num_warmup=n(1000),
                                                     num_chains=CHAINS, seed=4, executor=ex),
                                          regression_exact(X, y), "beta")),
        ("eight schools (non-centred)",
         lambda ex: (plait.nuts(eight_schools, SCHOOLS_Y, SCHOOLS_SIGMA, num_samples=n(2000), num_warmup=n(1000),
                                num_chains=CHAINS, seed=5, executor=ex),
                     {k: v for k, v in eight_schools_exact().items() if k in ("mu", "tau")}, None)),
        ("mixture: NUTS over (w, mu0, mu1) + Gibbs over assignments",
         lambda ex: (plait.mh(mixture, MIX_Y, num_samples=n(2000), burn_in=n(500), num_chains=CHAINS, seed=6,
                              executor=ex,
                              kernel=plait.sequence(
                                  plait.repeat(plait.SingleSite(addresses=[("z", i) for i in range(len(MIX_Y))]),
                                               len(MIX_Y)),
                                  plait.nuts_kernel(["w", "mu0", "mu1"]))),
                     mixture_exact(), None)),
    ]
    failures = 0
    with concurrent.futures.ProcessPoolExecutor(opts.workers) as pool:
        for name, make in cases:
            if opts.only and opts.only not in name:
                continue
            start = time.perf_counter()
            chain, exact, address = make(pool)
            err, rhat = report(name, chain, exact, address, time.perf_counter() - start)
            if name.startswith("eight schools"):
                etas = eight_schools_exact()
                err2, rhat2 = report("eight schools, eta", chain, {j: etas[("eta", j)] for j in range(8)}, "eta", 0)
                err, rhat = max(err, err2), max(rhat, rhat2)
            failures += not (err < 4 and rhat <= 1.01)
        if opts.only and opts.only not in "funnel":
            print(f"\n{failures} acceptance failure(s)")
            return
        start = time.perf_counter()
        chain = plait.nuts(funnel, num_samples=n(1000), num_warmup=n(1000), num_chains=CHAINS, seed=7, executor=pool)
        per_chain = chain.sample_stats["diverging"].sum(axis=1).tolist()
        print(f"\n== Neal's funnel, centred (9 + 1 dims), {time.perf_counter() - start:.0f} s ==\n"
              f"divergences per chain {per_chain}, total {chain.divergences} of {chain.sample_stats['diverging'].size}"
              f" draws: {'reported' if chain.divergences else 'NONE (FAILED)'}")
        print(chain.summary(["v"]))
        failures += chain.divergences == 0
    print(f"\n{failures} acceptance failure(s)")


if __name__ == "__main__":
    main()

"""plait.nuts against NumPyro's NUTS: wall time to 1000 effective samples (issue 19).

Run:  python bench/nuts.py [--rounds N]

Models (the same target on the same unconstrained space in both):

* eight schools, non-centred; tau ~ HalfCauchy(5) (both on the log scale
  in unconstrained space);
* logistic regression, 1000 rows x 10 coefficients, Normal(0, 1) prior.

Both samplers: one chain, ``num_warmup`` warmup iterations (Stan's windowed
adaptation, diagonal mass, target acceptance 0.8, tree depth 10), then
``num_samples`` draws.  ESS is ArviZ's bulk ESS, minimum over every
parameter (every element of a vector site).

Time to 1000 ESS, the same definition for both: the wall time of the whole
run (NumPyro: tracing and compiling included; plait: warmup included) times
1000 / ESS.  The draw counts put both samplers' ESS near 1000, so the
scaling is mild; where NumPyro's ESS exceeds 1000 the scaling shrinks its
compile time, which favours NumPyro.  NumPyro traces and compiles on every
``MCMC.run``; its compile time is estimated as the faster of two runs of 10
warmup + 10 draws (one before, one after the full run), and "ESS/s without
compile" divides by the full run's time minus that estimate.  Its first run
in the process also pays JAX's start-up (printed once, never used in the
comparison: the criterion uses the later, cheaper runs).

Rounds alternate plait and NumPyro in this process, because the machine's
load drifts; every figure is printed per round and as the median.  NumPyro
rows are skipped when jax/numpyro are not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from statistics import median
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
from scipy.special import expit

import plait
from plait.inference.mcmc.hmc import GradientTarget
from plait.inference.mcmc.kernels import Kernel
from plait.inference.mcmc.mh import run_chains
from plait.inference.mcmc.target import Context, MHState

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from nuts_models import SCHOOLS_SIGMA, SCHOOLS_Y, eight_schools  # noqa: E402

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC, NUTS
except ImportError:  # pragma: no cover - NumPyro is optional
    numpyro = None

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

TARGET_ESS = 1000.0


def logistic_data(rows: int = 1000, cols: int = 10, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    beta = rng.normal(size=cols)
    y = (rng.random(rows) < expit(X @ beta)).astype(float)
    return X, y


def logistic(X: np.ndarray, y: np.ndarray) -> Any:
    beta = yield plait.sample("beta", plait.Normal(np.zeros(X.shape[1]), 1.0))
    yield plait.observe("y", plait.Bernoulli(expit(X @ beta)), y)


if numpyro is not None:
    def np_schools(y: Any, sigma: Any) -> None:
        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
        eta = numpyro.sample("eta", dist.Normal(jnp.zeros(8), 1.0))
        numpyro.sample("y", dist.Normal(mu + tau * eta, sigma), obs=y)

    def np_logistic(X: Any, y: Any) -> None:
        beta = numpyro.sample("beta", dist.Normal(jnp.zeros(X.shape[1]), 1.0))
        numpyro.sample("y", dist.Bernoulli(logits=X @ beta), obs=y)


def min_bulk_ess(posterior: Dict[str, np.ndarray]) -> float:
    """Minimum ArviZ bulk ESS over every scalar parameter; ``posterior[name]`` is (chain, draw, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = az.ess(az.from_dict(posterior=posterior), method="bulk")
    return float(min(np.min(ess[name].values) for name in ess.data_vars))


class _WarmupClock(Kernel):
    """Wraps a kernel; notes the time of the first step after warmup."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.label = kernel.label
        self.sampling_started: Optional[float] = None

    def step(self, state: MHState, ctx: Context) -> MHState:
        if not ctx.adapting and self.sampling_started is None:
            self.sampling_started = time.perf_counter()
        return self.kernel.step(state, ctx)

    def primitives(self) -> List[Kernel]:
        return self.kernel.primitives()


def run_plait(model: Callable[..., Any], args: Tuple[Any, ...], warmup: int, samples: int,
              seed: int) -> Dict[str, float]:
    clock = _WarmupClock(plait.nuts_kernel())
    start = time.perf_counter()
    chain = run_chains("nuts", model, args, kernel=clock, num_samples=samples, burn_in=warmup, seed=seed,
                       target=GradientTarget)
    end = time.perf_counter()
    assert clock.sampling_started is not None
    warm, sample = clock.sampling_started - start, end - clock.sampling_started
    ess = min_bulk_ess({str(a): chain.draws(a) for a in chain.addresses})
    return {"total": end - start, "warmup": warm, "sampling": sample, "ess": ess,
            "to_target": (end - start) * TARGET_ESS / ess, "divergences": chain.divergences,
            "steps": float(np.mean(chain.sample_stats["n_steps"])),
            "step_size": float(chain.sample_stats["step_size"][0, -1])}


def run_numpyro(model: Callable[..., Any], args: Tuple[Any, ...], warmup: int, samples: int,
                seed: int) -> Dict[str, float]:
    def timed(w: int, s: int) -> Tuple[float, Any]:
        mcmc = MCMC(NUTS(model), num_warmup=w, num_samples=s, progress_bar=False)
        start = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(seed), *args, extra_fields=("num_steps",))
        out = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
        return time.perf_counter() - start, (out, mcmc)

    before, _ = timed(10, 10)
    total, (posterior, mcmc) = timed(warmup, samples)
    after, _ = timed(10, 10)
    compile_time = min(before, after)
    ess = min_bulk_ess(posterior)
    steps = float(np.mean(np.asarray(mcmc.get_extra_fields()["num_steps"])))
    step_size = float(mcmc.last_state.adapt_state.step_size)
    return {"total": total, "compile": compile_time, "ess": ess,
            "to_target": total * TARGET_ESS / ess, "steps": steps, "step_size": step_size}


CASES: Dict[str, Dict[str, Any]] = {
    "eight schools": {"warmup": 500, "samples": 2500, "bound": 1.0},
    "logistic 1000x10": {"warmup": 500, "samples": 1500, "bound": 2.0},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=list(CASES), default=None)
    opts = parser.parse_args()
    X, y = logistic_data()
    models = {
        "eight schools": ((eight_schools, (SCHOOLS_Y, SCHOOLS_SIGMA)),
                          (np_schools, (SCHOOLS_Y, SCHOOLS_SIGMA)) if numpyro else None),
        "logistic 1000x10": ((logistic, (X, y)), (np_logistic, (X, y)) if numpyro else None),
    }
    if numpyro is None:
        print("NumPyro is not installed: plait rows only (pip install jax numpyro)")
    else:
        # JAX's start-up in this process, reported, not part of any comparison below.
        start = time.perf_counter()
        run_numpyro(np_schools, (SCHOOLS_Y, SCHOOLS_SIGMA), 10, 10, 0)
        print(f"NumPyro first run in this process (JAX start-up + compile, 10+10 draws): "
              f"{time.perf_counter() - start:.2f} s")
    for name, ((model, args), np_case) in models.items():
        if opts.only and name != opts.only:
            continue
        case = CASES[name]
        print(f"\n== {name}: {case['warmup']} warmup + {case['samples']} draws, 1 chain ==")
        rows: Dict[str, List[Dict[str, float]]] = {"plait": [], "numpyro": []}
        for r in range(opts.rounds):
            p = run_plait(model, args, case["warmup"], case["samples"], seed=r)
            rows["plait"].append(p)
            print(f"round {r}: plait   total {p['total']:6.2f} s (warmup {p['warmup']:5.2f}), min bulk ESS "
                  f"{p['ess']:6.0f}, ESS/s {p['ess'] / p['total']:7.1f}, steps/draw {p['steps']:.1f} "
                  f"(step size {p['step_size']:.3f}), "
                  f"divergences {p['divergences']}, time to {TARGET_ESS:.0f} ESS {p['to_target']:6.2f} s")
            if np_case is not None:
                n = run_numpyro(np_case[0], np_case[1], case["warmup"], case["samples"], seed=r)
                rows["numpyro"].append(n)
                run = n["total"] - n["compile"]
                without = f"{n['ess'] / run:8.1f}" if run > 0.02 * n["total"] else "n/a (compile estimate >= run: load noise)"
                print(f"round {r}: numpyro total {n['total']:6.2f} s (compile ~{n['compile']:5.2f}), min bulk ESS "
                      f"{n['ess']:6.0f}, ESS/s {n['ess'] / n['total']:7.1f} with compile, "
                      f"{without} without, steps/draw "
                      f"{n['steps']:.1f} (step size {n['step_size']:.3f}), time to {TARGET_ESS:.0f} ESS {n['to_target']:6.2f} s")
        med = {k: median(x["to_target"] for x in v) for k, v in rows.items() if v}
        line = f"median time to {TARGET_ESS:.0f} ESS: plait {med['plait']:.2f} s"
        if "numpyro" in med:
            ratios = [p["to_target"] / n["to_target"] for p, n in zip(rows["plait"], rows["numpyro"])]
            ok = median(ratios) <= case["bound"]
            line += (f", NumPyro {med['numpyro']:.2f} s; plait/NumPyro per round "
                     f"{', '.join(f'{x:.2f}' for x in ratios)} (median {median(ratios):.2f}, target <= "
                     f"{case['bound']:g}: {'met' if ok else 'MISSED'})")
        print(line)


if __name__ == "__main__":
    main()

"""Write tests/data/posterior_references.json: long plait.mh runs of tests/posterior_models.py.

For each model and quantity: the posterior mean and its Monte Carlo standard
error (``Chain.mcse``, from the effective sample size over 2 chains).  Run
from the directory that holds the ``plait`` package:

    PYTHONPATH=. python plait/tests/data/make_posterior_references.py

(a few minutes on one core; the test compares a short gradient-based run
under plait.LogDensity with these numbers).
"""

from __future__ import annotations

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import plait
from plait.inference.mcmc.kernels import SingleSite
from posterior_models import INITS, MODELS, QUANTITIES

NUM_SAMPLES, BURN_IN, THIN, CHAINS = 12_000, 1_000, 2, 2


def reference(name: str) -> dict[str, list[float]]:
    chain = plait.mh(MODELS[name], num_samples=NUM_SAMPLES, burn_in=BURN_IN, thin=THIN, num_chains=CHAINS,
                     kernel=SingleSite(prior_probability=0.0), init=INITS.get(name), seed=2024)
    out = {}
    for i, q in enumerate(QUANTITIES[name]):
        pick = (lambda r, i=i: float(r[i]))
        out[q] = [chain.mean(pick), chain.mcse(pick)]
        print(name, q, out[q], "ess", chain.ess(pick), "rhat", chain.rhat(pick), flush=True)
    return out


if __name__ == "__main__":
    names = sys.argv[1:] or list(MODELS)
    path = HERE / "posterior_references.json"
    for name in names:
        found = reference(name)
        results = json.loads(path.read_text()) if path.exists() else {}  # re-read: runs may go in parallel
        results[name] = found
        path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")

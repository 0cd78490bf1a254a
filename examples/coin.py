"""A tour of plait's core on the coin-flip model.

Run:  python examples/coin.py
"""

import math

import plait
from plait import handlers as h

FLIPS = [1, 1, 0, 1, 1, 0, 1, 1]


def coin(flips):
    p = yield plait.sample("p", plait.Beta(1.0, 1.0))
    for i, f in enumerate(flips):
        yield plait.observe(("flip", i), plait.Bernoulli(p), f)
    return p


def main() -> None:
    trace = plait.simulate(coin, FLIPS, seed=0)
    print("one forward run:", trace)
    print(f"  log prior {trace.log_prior:.4f}  log likelihood {trace.log_likelihood:.4f}")

    # The posterior of p is Beta(1 + heads, 1 + tails); likelihood weighting
    # with plait.simulate recovers its mean.
    heads = sum(FLIPS)
    runs = [plait.simulate(coin, FLIPS, seed=s) for s in range(4000)]
    weights = [math.exp(t.log_likelihood) for t in runs]
    mean = sum(w * t["p"] for w, t in zip(weights, runs)) / sum(weights)
    exact = (1 + heads) / (2 + len(FLIPS))
    print(f"posterior mean of p: likelihood weighting {mean:.3f}, exact {exact:.3f}")

    print("log density at p = 0.7:", round(plait.log_density(coin, (FLIPS,), {"p": 0.7}), 4))

    fixed = plait.simulate(h.condition(coin, {"p": 0.5}), FLIPS, seed=1)
    print("conditioned on p = 0.5: log likelihood", round(fixed.log_likelihood, 4))

    replayed = plait.run(h.trace(h.replay(coin, trace)), FLIPS).trace
    print("replay reproduces p:", replayed["p"] == trace["p"])


if __name__ == "__main__":
    main()

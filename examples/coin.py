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

    pop = plait.importance(coin, FLIPS, num_particles=2000, seed=2)
    print(f"importance sampling: posterior mean {pop.expectation():.3f}, ESS {pop.ess:.0f}")
    pop = plait.smc(coin, FLIPS, num_particles=500, seed=3)
    print(f"SMC: posterior mean {pop.expectation():.3f}, log evidence {pop.log_evidence:.3f}")

    # A discrete coin: p is one of 11 grid values, so the posterior is exact.
    def grid_coin(flips):
        k = yield plait.sample("k", plait.DiscreteUniform(0, 10))
        for i, f in enumerate(flips):
            yield plait.observe(("flip", i), plait.Bernoulli(k / 10), f)
        return k / 10

    measure = plait.exact(grid_coin, FLIPS)
    print(f"exact (grid prior): posterior mean {measure.mean:.3f}, log evidence {measure.log_evidence:.3f}")

    chain = plait.mh(coin, FLIPS, num_samples=3000, burn_in=300, num_chains=2, seed=4)
    print(f"MH: posterior mean {chain.mean('p'):.3f} ± {chain.mcse('p'):.3f}, R-hat {chain.rhat('p'):.3f}")

    # The derivative of E[number of heads in 10 flips] with respect to the coin's bias is 10.
    def heads_of(theta):
        heads = 0
        for i in range(10):
            heads += yield plait.sample(("flip", i), plait.Bernoulli(theta))
        return heads

    mean, se = plait.gradinf(heads_of, 0.3, num_samples=300, seed=5)
    print(f"GradInf: d/dθ E[heads] = {mean:.2f} ± {se:.2f} (exact 10)")


if __name__ == "__main__":
    main()

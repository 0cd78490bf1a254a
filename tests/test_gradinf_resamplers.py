"""GradInf's resampling building blocks, checked for proper weighting."""

import math

import numpy as np
import pytest


@pytest.mark.parametrize("n", [5, 200], ids=["python draw", "compiled kernel"])
def test_generalised_multinomial_is_properly_weighted(n):
    # E[sum over children of w' h(j)] = sum_j w_j h(j), for signed first-order weights.
    from plait.inference.gradient_estimation.couplings import FirstOrder
    from plait.inference.gradient_estimation.estimator import _multinomial

    rng = np.random.default_rng(0)
    weights = [FirstOrder(0.0, t) for t in rng.normal(size=n)]
    h = rng.uniform(1.0, 2.0, n)
    exact = sum(w.t * h[j] for j, w in enumerate(weights))
    k, reps = 3, 4000
    totals = np.empty(reps)
    for r in range(reps):
        totals[r] = sum((weights[j] * f).t * h[j] for j, f in _multinomial(weights, k, rng))
    se = totals.std(ddof=1) / math.sqrt(reps)
    assert abs(totals.mean() - exact) < 4 * se

"""The compiled trajectories (plait.ext._trajectory) against their pure-Python specification.

Each case runs a short chain of transitions with both implementations from
the same seed, each chain fed its own chosen points.  With a diagonal
metric and fewer than 16 dimensions the two compute the same floating-point
operations (the compiled dot products add left to right with fused
multiply-adds, as numpy's do on such short vectors), so the answers are
equal to the last bit.  A dense metric's matrix-vector product adds in
another order than numpy's BLAS, so there the answers agree to ~1e-12
relative; the seeds are not on a knife edge (no decision is within
rounding of flipping), so the statistics still agree exactly.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from plait.ext import _trajectory, trajectory_reference
from plait.inference.mcmc import trajectory
from plait.inference.mcmc.trajectory import DIVERGENCE_THRESHOLD, Metric, Point

SCALES = np.array([0.01, 0.1, 1.0, 10.0, 100.0, 3.0])
PRECISION = np.array([[2.0, 1.5, 0.0], [1.5, 2.0, 0.5], [0.0, 0.5, 1.0]])


def standard(x):
    return -0.5 * float(x @ x), -x


def badly_scaled(x):
    z = x / SCALES
    return -0.5 * float(z @ z), -z / SCALES


def correlated(x):
    g = -PRECISION @ x
    return 0.5 * float(x @ g), g


def walled(x):
    """A standard normal on x[0] < 1.2: log density -inf (gradient zeros) beyond, as LogDensity's sampler form."""
    if x[0] >= 1.2:
        return -math.inf, np.zeros_like(x)
    return standard(x)


def nan_beyond(x):
    """NaN log density far out: the energy counts as inf."""
    if abs(x[1]) > 2.0:
        return math.nan, np.full_like(x, math.nan)
    return standard(x)


CASES = {
    "standard": (standard, Metric(np.ones(4)), 0.9, 10),
    "badly scaled, unit metric": (badly_scaled, Metric(np.ones(6)), 0.02, 10),
    "badly scaled, diagonal metric": (badly_scaled, Metric(SCALES ** 2), 0.7, 10),
    "badly scaled, dense metric": (badly_scaled, Metric(np.diag(SCALES ** 2) + 1e-6), 0.7, 10),
    "correlated, dense metric": (correlated, Metric(np.linalg.inv(PRECISION)), 0.5, 10),
    "divergences at a wall": (walled, Metric(np.ones(3)), 1.5, 10),
    "NaN density": (nan_beyond, Metric(np.ones(2)), 1.2, 10),
    "max tree depth": (badly_scaled, Metric(np.ones(6)), 0.005, 4),
}


def chain(core, potential, metric, step_size, length, seed, transitions=25, kind="nuts"):
    """Outcomes of ``transitions`` transitions by ``core`` (its own chosen points fed back)."""
    x = np.full(metric.inverse_mass.shape[0], 0.3)
    point = Point(x, *potential(x))
    rng = np.random.default_rng(seed)
    outcomes = []
    for _ in range(transitions):
        out = getattr(core, kind)(potential, metric, point, step_size, rng, length, DIVERGENCE_THRESHOLD)
        outcomes.append(out)
        if out[0] is not None:
            point = Point(*out[0])
    return outcomes, rng.random()


def assert_agree(compiled, reference, dense):
    rtol = 1e-12 if dense else 0.0
    (got, got_next), (want, want_next) = compiled, reference
    assert got_next == want_next  # the same number of uniforms drawn
    for a, b in zip(got, want):
        (a_point, *a_stats), (b_point, *b_stats) = a, b
        assert (a_point is None) == (b_point is None)
        accept, diverging, energy, depth, steps = a_stats
        assert (diverging, depth, steps) == (b_stats[1], b_stats[3], b_stats[4])
        np.testing.assert_allclose([accept, energy], [b_stats[0], b_stats[2]], rtol=rtol)
        if a_point is not None:
            np.testing.assert_allclose(a_point[0], b_point[0], rtol=rtol, atol=0.0)
            np.testing.assert_allclose(a_point[1], b_point[1], rtol=rtol, atol=0.0)
            np.testing.assert_allclose(a_point[2], b_point[2], rtol=rtol, atol=0.0)


@pytest.mark.parametrize("kind", ["nuts", "hmc"])
@pytest.mark.parametrize("case", list(CASES))
def test_compiled_transitions_match_the_reference(case, kind):
    potential, metric, step_size, length = CASES[case]
    for seed in range(3):
        args = (potential, metric, step_size, length, seed)
        assert_agree(chain(_trajectory, *args, kind=kind), chain(trajectory_reference, *args, kind=kind),
                     metric.dense)


def test_the_cases_reach_what_they_are_named_after():
    def stats(case, seed=0):
        return [out[1:] for out in chain(trajectory_reference, *CASES[case], seed)[0]]
    assert any(diverging for _, diverging, *_ in stats("divergences at a wall"))
    assert any(diverging for _, diverging, *_ in stats("NaN density"))  # a NaN energy counts as inf
    assert any(depth == 4 and steps == 15 for *_, depth, steps in stats("max tree depth"))
    assert not any(diverging for _, diverging, *_ in stats("standard"))


@pytest.mark.parametrize("case", ["standard", "badly scaled, diagonal metric", "correlated, dense metric"])
def test_step_size_heuristic_matches_the_reference(case):
    potential, metric, _, _ = CASES[case]
    x = np.full(metric.inverse_mass.shape[0], 0.3)
    point = Point(x, *potential(x))
    for seed, start in enumerate([1e-3, 1.0, 50.0]):
        got = _trajectory.find_reasonable_step_size(potential, metric, point, start, np.random.default_rng(seed), 0.8)
        want = trajectory_reference.find_reasonable_step_size(potential, metric, point, start,
                                                              np.random.default_rng(seed), 0.8)
        assert got == want


def test_public_transitions_use_the_compiled_core_and_keep_the_point():
    assert trajectory._trajectory is _trajectory
    assert type(_trajectory.nuts).__name__ == "cython_function_or_method"
    point = Point(np.zeros(2), 0.0, np.zeros(2))
    rng = np.random.default_rng(0)
    stays = trajectory.hmc_transition(walled, Metric(np.ones(2)), Point(np.array([1.1, 0.0]), -0.6,
                                      np.array([-1.1, 0.0])), 5.0, rng, 3)
    assert stays.diverging and stays.accept_stat == 0.0
    moves = trajectory.nuts_transition(standard, Metric(np.ones(2)), point, 0.5, np.random.default_rng(1))
    assert moves.point is not point and isinstance(moves.point, Point)
    assert moves.point.x.dtype == np.float64 and moves.point.grad.shape == (2,)


def test_the_potential_gets_a_fresh_array_each_leapfrog():
    seen = []

    def keeping(x):
        seen.append(x)
        return standard(x)

    start = Point(np.zeros(3), 0.0, np.zeros(3))
    trajectory.nuts_transition(keeping, Metric(np.ones(3)), start, 0.4, np.random.default_rng(2))
    assert len({id(x) for x in seen}) == len(seen) > 1
    rerun = copy.deepcopy(seen)
    assert all(np.array_equal(a, b) for a, b in zip(seen, rerun))


def test_bad_gradients_and_depths_raise():
    start = Point(np.zeros(3), 0.0, np.zeros(3))
    with pytest.raises(ValueError, match="gradient has 2 elements, expected 3"):
        _trajectory.nuts(lambda x: (0.0, np.zeros(2)), Metric(np.ones(3)), start, 0.1, np.random.default_rng(0), 3,
                         DIVERGENCE_THRESHOLD)
    with pytest.raises(ValueError, match="max_tree_depth must be >= 1"):
        _trajectory.nuts(standard, Metric(np.ones(3)), start, 0.1, np.random.default_rng(0), 0, DIVERGENCE_THRESHOLD)

"""Constraint transforms: round trips, log-Jacobians, dual derivatives, shapes and errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plait
from plait.effects.transforms import (
    Exp,
    Identity,
    LowerBound,
    ScaledSigmoid,
    Softplus,
    StickBreaking,
    UpperBound,
    biject_to,
)
from plait.gradients import Dual, diff, jacobian, perturbation
from plait.effects.distributions.supports import Interval

S = plait.supports

# (transform, unconstrained test points) for every elementwise bijection
ELEMENTWISE = [
    ("real", biject_to(S.real)),
    ("positive", biject_to(S.positive)),
    ("softplus", biject_to(S.positive, positive="softplus")),
    ("unit", biject_to(S.unit_interval)),
    ("interval", biject_to(Interval(-2.0, 5.0))),
    ("lower", biject_to(Interval(3.0, math.inf))),
    ("upper", biject_to(Interval(-math.inf, -1.5))),
]
XS = np.array([-6.0, -1.3, -0.2, 0.0, 0.4, 2.1, 7.5])


def test_biject_to_chooses_the_documented_bijection():
    assert biject_to(S.real) == Identity()
    assert biject_to(Interval(-math.inf, math.inf)) == Identity()
    assert biject_to(S.real_vector(3)) == Identity(3)
    assert biject_to(S.positive) == Exp()
    assert biject_to(S.positive, positive="softplus") == Softplus()
    assert biject_to(S.unit_interval) == ScaledSigmoid(0.0, 1.0)
    assert biject_to(Interval(1, 2)) == ScaledSigmoid(1.0, 2.0)
    assert biject_to(Interval(1, math.inf)) == LowerBound(1.0)
    assert biject_to(Interval(-math.inf, 1)) == UpperBound(1.0)
    assert biject_to(S.simplex(4)) == StickBreaking(4)


@pytest.mark.parametrize("name,t", ELEMENTWISE)
def test_forward_lands_in_the_support(name, t):
    y = t.forward(XS)
    assert np.all(t.support.contains(y)), (name, y)
    # strictly inside: the inverse is finite again
    assert np.all(np.isfinite(t.inverse(y)))


@pytest.mark.parametrize("name,t", ELEMENTWISE)
def test_round_trip_on_arrays_and_floats(name, t):
    np.testing.assert_allclose(t.inverse(t.forward(XS)), XS, rtol=1e-9, atol=1e-9)
    for x in XS:
        assert abs(float(t.inverse(t.forward(float(x)))) - x) < 1e-9


@pytest.mark.parametrize("name,t", ELEMENTWISE)
def test_log_jacobian_matches_a_central_difference(name, t):
    h = 1e-6
    numeric = (t.forward(XS + h) - t.forward(XS - h)) / (2 * h)
    np.testing.assert_allclose(t.log_abs_det_jacobian(XS), np.log(np.abs(numeric)), atol=1e-6)


@pytest.mark.parametrize("name,t", ELEMENTWISE)
def test_dual_derivatives_match_finite_differences(name, t):
    h = 1e-6
    for x in XS:
        dy = diff(t.forward, float(x))
        fd = (t.forward(x + h) - t.forward(x - h)) / (2 * h)
        assert abs(dy - fd) <= 1e-5 * max(1.0, abs(fd)), (name, x)
        # the log-Jacobian is itself differentiable (needed for unconstrained densities)
        dl = diff(t.log_abs_det_jacobian, float(x))
        fl = (t.log_abs_det_jacobian(x + h) - t.log_abs_det_jacobian(x - h)) / (2 * h)
        assert abs(dl - fl) <= 1e-5 * max(1.0, abs(fl)), (name, x)
        # and so is the inverse, with derivative 1 / forward'(x)
        y = float(t.forward(x))
        assert abs(diff(t.inverse, y) * dy - 1.0) < 1e-8, (name, x)


@pytest.mark.parametrize("name,t", ELEMENTWISE)
def test_forward_of_an_array_dual_keeps_its_shape(name, t):
    with perturbation() as tag:
        x = Dual(XS, np.eye(len(XS)), tag=tag)
        y = t.forward(x)
        assert type(y) is Dual and y.shape == XS.shape
        np.testing.assert_allclose(np.abs(np.diag(y.tangent)), np.exp(t.log_abs_det_jacobian(XS)), rtol=1e-12)


def test_log_jacobians_stay_finite_far_out():
    x = np.array([-800.0, 800.0])
    assert np.all(np.isfinite(ScaledSigmoid(0.0, 1.0).log_abs_det_jacobian(x)))
    assert np.all(np.isfinite(Softplus().log_abs_det_jacobian(x)))
    assert np.all(np.isfinite(StickBreaking(3).log_abs_det_jacobian(x)))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    low=st.floats(-1e3, 1e3),
    width=st.floats(1e-2, 1e3),
    x=st.floats(-15.0, 15.0),
)
def test_interval_round_trip_property(low, width, x):
    t = biject_to(Interval(low, low + width))
    y = t.forward(x)
    assert low <= y <= low + width
    # expit loses relative precision near the ends: compare in y, then in x where well-conditioned
    assert abs(t.forward(t.inverse(y)) - y) <= 1e-12 * (abs(low) + width)
    if abs(x) < 8:
        assert abs(t.inverse(y) - x) <= 1e-6


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    k=st.integers(2, 6),
    data=st.data(),
)
def test_stick_breaking_round_trip_property(k, data):
    x = np.array(data.draw(st.lists(st.floats(-10.0, 10.0), min_size=k - 1, max_size=k - 1)))
    t = StickBreaking(k)
    y = t.forward(x)
    assert y.shape == (k,)
    assert S.simplex(k).contains(y)
    np.testing.assert_allclose(t.inverse(y), x, atol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_stick_breaking_log_jacobian_is_the_log_det_onto_the_first_coordinates(k):
    t = StickBreaking(k)
    rng = np.random.default_rng(k)
    for _ in range(5):
        x = rng.normal(size=k - 1) * 2
        J = jacobian(t.forward, x)[: k - 1]
        assert J.shape == (k - 1, k - 1)
        assert abs(np.log(abs(np.linalg.det(J))) - t.log_abs_det_jacobian(x)) < 1e-10
        # the dual Jacobian agrees with finite differences
        h = 1e-6
        fd = np.stack([(t.forward(x + h * e) - t.forward(x - h * e)) / (2 * h) for e in np.eye(k - 1)], axis=1)
        np.testing.assert_allclose(jacobian(t.forward, x), fd, atol=1e-7)


def test_stick_breaking_change_of_variables_gives_a_normalised_density():
    # A uniform Dirichlet pulled back to R^1 by the log-Jacobian integrates to 1.
    t = StickBreaking(2)
    grid = np.linspace(-40, 40, 200001)
    dens = np.exp(np.array([t.log_abs_det_jacobian(np.array([g])) for g in grid[::100]]))
    total = np.trapezoid(dens, grid[::100]) if hasattr(np, "trapezoid") else np.trapz(dens, grid[::100])
    assert abs(total - 1.0) < 1e-4


def test_stick_breaking_batches_and_tiny_coordinates():
    t = StickBreaking(3)
    x = np.array([[0.0, 0.0], [-30.0, 5.0], [30.0, -30.0]])
    y = t.forward(x)
    assert y.shape == (3, 3)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0)
    np.testing.assert_allclose(t.inverse(y), x, atol=1e-6)
    assert t.log_abs_det_jacobian(x).shape == (3,)
    assert t.unconstrained_shape((4, 3)) == (4, 2) and t.constrained_shape((4, 2)) == (4, 3)
    one = StickBreaking(1)
    assert one.forward(np.zeros(0)).tolist() == [1.0] and one.inverse(np.ones(1)).shape == (0,)


def test_stick_breaking_checks_the_last_axis():
    with pytest.raises(ValueError, match="last axis must have length 2"):
        StickBreaking(3).forward(np.zeros(3))


def test_real_vector_identity_sums_the_log_jacobian_over_the_event():
    t = biject_to(S.real_vector(2))
    x = np.ones((4, 2))
    assert t.forward(x) is x and t.log_abs_det_jacobian(x).shape == (4,)


def test_batched_interval_bounds():
    t = biject_to(Interval([0.0, 1.0], [1.0, 3.0]))
    y = t.forward(np.zeros(2))
    np.testing.assert_allclose(y, [0.5, 2.0])
    np.testing.assert_allclose(t.inverse(y), [0.0, 0.0], atol=1e-15)


def test_discrete_and_mixed_supports_have_no_bijection():
    with pytest.raises(plait.errors.InvalidParameterError, match="discrete"):
        biject_to(S.boolean)
    with pytest.raises(plait.errors.InvalidParameterError, match="not a support"):
        biject_to("positive")
    with pytest.raises(plait.errors.InvalidParameterError, match="mixes"):
        biject_to(Interval([0.0, 0.0], [1.0, math.inf]))
    with pytest.raises(ValueError, match="positive must be"):
        biject_to(S.positive, positive="square")

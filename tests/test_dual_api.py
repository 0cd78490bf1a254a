"""The combinators, the ad README examples, nesting, conventions and errors."""

from __future__ import annotations

import itertools
import math
import pickle
import warnings

import numpy as np
import pytest
import scipy.special as sc

import plait
from plait.errors import NoDerivativeRuleError, PerturbationEscapeError
from plait.gradients import grad_forward
from plait.gradients import (
    Dual,
    diff,
    diffs,
    du,
    extremum,
    find_zero,
    fixed_point,
    grad,
    gradient_descent,
    hessian,
    hessian_product,
    is_zero,
    jacobian,
    jvp,
    lex_gt,
    lex_lt,
    lexabs,
    perturbation,
    safe_div,
    safe_mul,
    stochastic_gradient_descent,
    stop_gradient,
    taylor,
    value_and_diff,
    value_and_grad,
)


# -- the ad README examples ----------------------------------------------------------------

def test_readme_diff_sin_at_zero():
    assert diff(np.sin, 0.0) == 1.0


def test_readme_diff_prime_exp_log():
    assert value_and_diff(lambda x: np.exp(np.log(x)), 2.0) == (2.0, 1.0)


def test_readme_auto_constant():
    t = 2.0
    assert diff(lambda x: t * np.sin(x), 0.0) == 2.0


def test_readme_grad_matches_closed_form():
    def f(v):
        x, y, z = v
        return x * np.sin(x + np.log(y))

    for point in ([1.0, 2.0, 3.0], [0.3, 0.7, -2.0], [-1.5, 4.0, 0.0]):
        x, y, _ = point
        u = x + math.log(y)
        expected = [math.sin(u) + math.cos(u) * x, math.cos(u) * x / y, 0.0]
        np.testing.assert_allclose(grad(f, np.array(point)), expected, rtol=1e-15, atol=1e-15)


def test_readme_value_gradient_hessian_of_exp_xy():
    f = lambda v: np.exp(v[0] * v[1])  # noqa: E731
    x, y = 1.0, 2.0
    e = math.exp(x * y)
    value, g = value_and_grad(f, np.array([x, y]))
    assert value == e
    np.testing.assert_allclose(g, [y * e, x * e], rtol=1e-15)
    np.testing.assert_allclose(
        hessian(f, np.array([x, y])),
        [[y * y * e, (1 + x * y) * e], [(1 + x * y) * e, x * x * e]],
        rtol=1e-15,
    )


def test_readme_first_ten_taylor_coefficients_of_sin():
    got = taylor(np.sin, 1.0, 1.0, 10)
    cycle = [math.sin(1.0), math.cos(1.0), -math.sin(1.0), -math.cos(1.0)]
    expected = [cycle[m % 4] / math.factorial(m) for m in range(10)]
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(diffs(np.sin, 1.0, 10), [cycle[m % 4] for m in range(10)], rtol=1e-14)


def test_readme_newton_sequence_for_a_polynomial():
    f = lambda x: x ** 3 - 2.0 * x - 5.0  # noqa: E731  (Newton's own example)
    expected, x = [1.0], 1.0
    while True:  # the same iteration, with the derivative written by hand
        x1 = x - (x ** 3 - 2.0 * x - 5.0) / (3.0 * x * x - 2.0)
        if x1 == x:
            break
        expected.append(x1)
        x = x1
    got = list(find_zero(f, 1.0))
    assert got == expected
    assert len(got) > 5


def test_ad_doc_sequence_for_x_squared_minus_four():
    assert [float(x) for x in find_zero(lambda x: x * x - 4.0, 1.0)] == [
        1.0, 2.5, 2.05, 2.000609756097561, 2.0000000929222947, 2.000000000000002, 2.0]


def test_halley_extremum_fixed_point():
    root = list(find_zero(lambda x: x ** 3 - 8.0, 3.0, method="halley"))[-1]
    assert abs(root - 2.0) < 1e-15
    assert list(extremum(lambda x: (x - 3.0) ** 2 + 1.0, 0.0))[-1] == 3.0
    fp = list(fixed_point(np.cos, 1.0))[-1]
    assert abs(math.cos(fp) - fp) < 1e-15
    with pytest.raises(ValueError, match="method"):
        find_zero(np.sin, 1.0, method="secant")


def test_gradient_descent_follows_the_ad_schedule():
    f = lambda v: np.sum((v - np.array([1.0, -2.0])) ** 2)  # noqa: E731
    xs = list(itertools.islice(gradient_descent(f, np.zeros(2)), 300))
    np.testing.assert_allclose(xs[-1], [1.0, -2.0], atol=1e-12)
    # The first step is x0 - 0.1 * grad.
    np.testing.assert_allclose(xs[0], 0.1 * 2 * np.array([1.0, -2.0]))
    # Dict inputs work and stop exactly at a zero gradient.
    steps = list(gradient_descent(lambda p: (p["a"] - 1.0) ** 2, {"a": 1.0}))
    assert steps == []


def test_stochastic_gradient_descent_tracks_the_data_mean():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 1.0, size=5000)
    xs = list(stochastic_gradient_descent(lambda d, x: (x - d) ** 2, data, 0.0, learning_rate=0.005))
    assert len(xs) == 5000
    assert abs(float(xs[-1]) - 3.0) < 0.2


# -- combinators -------------------------------------------------------------------------------

def test_jacobian_shape_is_output_plus_input():
    x = np.arange(6.0).reshape(2, 3)
    J = jacobian(lambda v: np.sum(v ** 2, axis=0), x)
    assert J.shape == (3, 2, 3)
    expected = np.zeros((3, 2, 3))
    for i in range(2):
        for j in range(3):
            expected[j, i, j] = 2 * x[i, j]
    np.testing.assert_array_equal(J, expected)


def test_tree_inputs_and_outputs():
    params = {"w": np.array([1.0, 2.0]), "b": 0.5}
    g = grad(lambda p: np.sum(p["w"] ** 2) * p["b"], params)
    np.testing.assert_array_equal(g["w"], [1.0, 2.0])
    assert g["b"] == 5.0
    g2 = grad(lambda t: t[0] * t[1][0], (2.0, [3.0]))
    assert g2 == (3.0, [2.0])
    J = jacobian(lambda v: (v * 2, np.sum(v)), np.array([1.0, 1.0]))
    np.testing.assert_array_equal(J[0], 2 * np.eye(2))
    np.testing.assert_array_equal(J[1], [1.0, 1.0])


def test_du_with_one_and_several_directions():
    f = lambda v: np.array([v[0] * v[1], np.sin(v[0])])  # noqa: E731
    x = np.array([0.5, 2.0])
    J = jacobian(f, x)
    v = np.array([1.0, -3.0])
    np.testing.assert_allclose(du(f, x, v), J @ v, rtol=1e-15)
    V = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    np.testing.assert_allclose(jvp(f, x, V), (J @ V.T).T, rtol=1e-15)
    with pytest.raises(ValueError, match="direction"):
        du(f, x, np.ones(3))


def test_hessian_product_equals_hessian_times_vector():
    f = lambda v: np.sum(np.sin(v) * v[::-1]) + np.prod(v)  # noqa: E731
    x = np.array([0.3, -1.2, 2.0])
    v = np.array([1.0, 2.0, -0.5])
    H = hessian(f, x)
    np.testing.assert_allclose(H, H.T, rtol=1e-14)
    np.testing.assert_allclose(hessian_product(f, x, v), H @ v, rtol=1e-13)
    np.testing.assert_allclose(H, jacobian(lambda z: grad(f, z), x), rtol=0)


def test_grad_of_non_scalar_output_points_to_jacobian():
    with pytest.raises(TypeError, match="jacobian"):
        grad(lambda v: v * 2, np.ones(2))


def test_output_independent_of_input_gives_zeros():
    assert diff(lambda x: 3.0, 1.0) == 0.0
    np.testing.assert_array_equal(grad(lambda v: 1.0, np.ones(3)), np.zeros(3))


def test_np_array_of_duals_is_stacked_not_dropped():
    np.testing.assert_array_equal(diff(lambda x: np.array([x, x * x]), 3.0), [1.0, 6.0])


# -- nesting and perturbation confusion -------------------------------------------------------

@pytest.mark.parametrize("x", [1.0, -2.5, 4.0, 10.0])
def test_perturbation_confusion(x):
    # d/dx (x * d/dy (x + y)) = d/dx (x * 1) = 1; a confused implementation gives 2.
    assert diff(lambda x: x * diff(lambda y: x + y, 1.0), x) == 1.0
    # d/dx (x * d/dy (x * y)) at y = 1 = d/dx x^2 = 2x.
    assert diff(lambda x: x * diff(lambda y: x * y, 1.0), x) == 2 * x


def test_inner_operator_called_twice_and_gradient_nesting():
    v = np.array([1.0, 2.0, 2.0])
    # grad of sum(v) * d/dy (y * |v|) = grad of sum(v) * |v|
    g = grad(lambda w: np.sum(w) * diff(lambda y: y * np.sqrt(np.sum(w * w)), 1.0), v)
    n = np.sqrt(np.sum(v * v))
    np.testing.assert_allclose(g, n + np.sum(v) * v / n, rtol=1e-15)
    twice = diff(lambda x: diff(lambda y: x * y, 1.0) + diff(lambda y: x * y * y, 1.0), 3.0)
    assert twice == 3.0


def test_third_derivative_of_tanh_by_nesting():
    t = math.tanh(2.0)
    expected = -2 * (1 - t * t) * (1 - 3 * t * t)
    got = diff(lambda x: diff(lambda y: diff(np.tanh, y), x), 2.0)
    assert abs(got - expected) < 1e-14


def test_escaped_perturbation_raises():
    leaked = []

    def f(x):
        leaked.append(x * 2)
        return x * x

    diff(f, 1.0)
    with pytest.raises(PerturbationEscapeError):
        leaked[0] + 1.0
    with pytest.raises(PerturbationEscapeError):
        diff(lambda x: x * leaked[0], 1.0)
    closures = []
    diff(lambda y: closures.append(lambda z: y * z) or y, 1.0)
    with pytest.raises(PerturbationEscapeError):
        closures[0](2.0)


def test_escape_through_a_returned_inner_dual_is_caught():
    def inner_returns_dual(x):
        box = []
        diff(lambda y: box.append(y) or y, 1.0)
        return x * box[0]

    with pytest.raises(PerturbationEscapeError):
        diff(inner_returns_dual, 2.0)


# -- conventions -------------------------------------------------------------------------------

def test_kink_conventions():
    assert diff(np.abs, 0.0) == 0.0
    assert diff(lambda x: np.maximum(x, 0.0), 0.0) == 0.5
    assert diff(lambda x: np.minimum(x, 0.0), 0.0) == 0.5
    assert diff(lambda x: np.where(x > 0, x, 0.0), 0.0) == 0.0
    assert diff(lambda x: np.maximum(x, x), 1.0) == 1.0
    assert diff(lambda x: np.clip(x, 0.0, 1.0), 1.0) == 0.5
    np.testing.assert_array_equal(grad(np.max, np.array([1.0, 3.0, 3.0])), [0.0, 0.5, 0.5])
    for f in (np.sign, np.floor, np.round, np.rint, np.trunc, np.ceil):
        assert diff(lambda x: f(x) * 1.0 + 0.0 * x, 1.3) == 0.0


def test_zero_tangents_absorb_infinite_partials():
    np.testing.assert_array_equal(grad(lambda v: v[0] + np.sqrt(v[1]), np.array([1.0, 0.0])), [1.0, np.inf])
    g = grad(lambda v: np.sqrt(v[0] * v[1]), np.array([1.0, 0.0]))
    assert g[0] == 0.0 and g[1] == np.inf
    assert diff(np.sqrt, 0.0) == np.inf
    with np.errstate(divide="ignore"):  # log(0) = -inf warns in the primal, as in numpy
        assert diff(np.log, 0.0) == np.inf
    with np.errstate(invalid="ignore"):
        assert math.isnan(diff(np.sqrt, -1.0))
    with warnings.catch_warnings():  # the tangent code itself never warns
        warnings.simplefilter("error")
        assert diff(lambda x: np.where(x > 0, np.sqrt(np.abs(x)), 0.0), 0.0) == 0.0
    # k stacked directions equal k single passes, also at the pole.
    assert du(lambda v: v[0] + np.sqrt(v[1]), np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 1.0


def test_power_special_cases():
    assert diff(lambda x: x ** 2.0, 0.0) == 0.0
    assert diff(lambda x: x ** 0.0, 0.0) == 0.0
    assert diff(lambda y: 0.0 ** y, 2.0) == 0.0
    g = grad(lambda v: v[0] ** v[1], np.array([0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_special_values():
    assert abs(diff(np.log1p, 1e-15) - 1 / (1 + 1e-15)) < 1e-16
    assert diff(np.expm1, -1e-15) == np.expm1(-1e-15) + 1
    assert diff(lambda x: np.logaddexp(0.0, x), 1000.0) == 1.0
    assert diff(lambda x: np.logaddexp(0.0, x), -1000.0) == 0.0
    # log_ndtr' = phi / Phi, finite far in the left tail where both underflow.
    d = diff(sc.log_ndtr, -40.0)
    assert abs(d - 40.02492) < 1e-4 and math.isfinite(d)
    assert abs(diff(sc.digamma, 2.0) - (math.pi ** 2 / 6 - 1)) < 1e-14
    assert abs(diff(lambda x: diff(sc.gammaln, x), 2.0) - (math.pi ** 2 / 6 - 1)) < 1e-14


def test_integer_inputs_are_promoted_and_booleans_refused():
    d = diff(lambda x: x * x, 3)
    assert d == 6.0 and isinstance(d, np.floating)
    g = grad(lambda v: np.sum(v * v), np.array([1, 2]))
    assert g.dtype == np.float64
    with pytest.raises(TypeError, match="boolean"):
        diff(lambda x: x, True)
    with pytest.raises(TypeError, match="boolean"):
        grad(np.sum, np.array([True, False]))


def test_comparisons_and_branching_use_the_primal():
    f = lambda x: x * x if x > 1 else -x  # noqa: E731
    assert diff(f, 2.0) == 4.0
    assert diff(f, 0.5) == -1.0
    assert diff(lambda x: (x > 0.5) * x, 1.0) == 1.0
    with perturbation() as tag:
        d = Dual(np.array([1.0, 2.0]), np.eye(2), tag=tag)
        with pytest.raises(ValueError):
            bool(d)
        assert (d == np.array([1.0, 0.0])).tolist() == [True, False]
        assert type(np.isfinite(d)) is np.ndarray


def test_k_stacked_directions_equal_separate_passes():
    f = lambda v: np.sum(np.exp(v[:2] * v[1:]) / (1 + v[1:] ** 2))  # noqa: E731
    x = np.array([0.3, -0.7, 1.1])
    g = grad_forward(f, x)  # k stacked forward directions (grad is reverse mode now)
    for i in range(3):
        assert du(f, x, np.eye(3)[i]) == g[i]


# -- Dual objects and errors -------------------------------------------------------------------

def test_missing_rules_raise_naming_the_function():
    with pytest.raises(NoDerivativeRuleError, match="numpy.gcd"):
        diff(lambda x: np.gcd(x, 2), 1.0)
    with pytest.raises(NoDerivativeRuleError, match="numpy.bitwise_and|numpy.nextafter"):
        diff(lambda x: np.nextafter(x, 2.0), 1.0)
    with pytest.raises(NoDerivativeRuleError, match="median"):
        grad(np.median, np.ones(3))
    with pytest.raises(NoDerivativeRuleError, match="scipy.special.gammainc"):
        diff(lambda a: sc.gammainc(a, 1.0), 1.0)
    with pytest.raises(NoDerivativeRuleError, match="subtract.outer"):
        grad(lambda v: np.sum(np.subtract.outer(v, v)), np.ones(2))


def test_duals_are_immutable_and_refuse_silent_conversions():
    with perturbation() as tag:
        d = Dual(np.array([1.0, 2.0]), np.eye(2), tag=tag)
        with pytest.raises(AttributeError):
            d.primal = 3.0
        with pytest.raises(TypeError):
            d[0] = 1.0
        with pytest.raises(TypeError, match="drop its derivative"):
            float(d[0])
        with pytest.raises(TypeError, match=r"drop its derivative; for math functions .* use numpy's \(np\.exp"):
            math.exp(d[0])
        with pytest.raises(TypeError):
            np.add(d, 1.0, out=np.zeros(2))
        with pytest.raises(ValueError, match="shape"):
            Dual(np.ones(2), np.ones(2), tag=tag)
        e = pickle.loads(pickle.dumps(d))
        np.testing.assert_array_equal(e.tangent, d.tangent)
        x, y = d  # iteration over the first axis
        assert x.tangent.tolist() == [1.0, 0.0]
        assert d.shape == (2,) and d.ndim == 1 and d.size == 2 and len(d) == 2
        assert d.T.shape == (2,) and d.sum().tangent.tolist() == [1.0, 1.0]


def test_stop_gradient_removes_every_level():
    assert diff(lambda x: x * stop_gradient(x), 3.0) == 3.0
    assert diff(lambda x: diff(lambda y: stop_gradient(x) * y * x, 1.0), 2.0) == 2.0


def test_float32_is_preserved():
    d = diff(lambda x: x * x, np.float32(3.0))
    assert d == 6.0
    g = grad(lambda v: np.sum(v * v), np.ones(2, dtype=np.float32))
    assert g.dtype == np.float32


# -- lexicographic helpers ----------------------------------------------------------------------

def test_lexicographic_helpers():
    with perturbation() as tag:
        up = Dual(0.0, [1.0], tag=tag)
        down = Dual(0.0, [-1.0], tag=tag)
        tiny = Dual(0.0, [1e-16], tag=tag)
        assert lex_gt(up, 0.0) and not lex_gt(down, 0.0) and not lex_gt(tiny, 0.0)
        assert lex_lt(down, up) and lex_gt(Dual(1.0, [-5.0], tag=tag), 0.5)
        assert lexabs(down).tangent.tolist() == [1.0]
        assert abs(down).tangent.tolist() == [-0.0] or abs(down).tangent.tolist() == [0.0]
        assert safe_mul(up, down) == 0.0 and not plait.gradients.is_dual(safe_mul(up, down))
        assert safe_div(Dual(0.0, [3.0], tag=tag), Dual(0.0, [4.0], tag=tag)) == 0.75
        assert safe_div(Dual(1.0, [3.0], tag=tag), 2.0).primal == 0.5
        assert is_zero(Dual(0.0, [0.0], tag=tag)) and not is_zero(up) and is_zero(0.0)
        two = Dual(np.array([0.0, 0.0]), np.array([[0.0, 0.0], [2.0, -2.0]]), tag=tag)
        assert lex_gt(two, 0.0).tolist() == [True, False]

"""Factored tangents (k coefficients x one array) against the same programs on expanded tangents.

A 0-d dual parameter that meets an array keeps its tangent factored; the
same value with its tangent expanded (``Dual(u.primal, u.tangent)``) takes
the ordinary rules.  Both must give the same tangents, to rounding order.
"""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from test_dual_rules import BINARY, KINKS, UNARY

from plait.gradients import Dual, diff, hessian, perturbation
from plait.gradients.factored import CHAIN_LIMIT, Factored

COEF = np.array([0.7, -1.3, 2.0])
# Products are rounded in another order (c * (a * b) for (c * a) * b), so a
# sum that cancels to ~0 differs by ~eps times its O(1) terms, not by ~eps of
# itself: absolute slack for the few O(1) terms summed here.
RTOL, ATOL = 1e-13, 1e-13


def _expanded(d):
    return Dual(d.primal, d.tangent, tag=d.tag)


def _same(f, lo, hi, shape=(4,), coef=COEF):
    """f(theta * x) with the factored tangent and with it expanded."""
    x = np.linspace(lo, hi, int(np.prod(shape))).reshape(shape)
    with perturbation() as tag:
        u = Dual(1.0, coef, tag=tag) * x
        assert type(u._tangent) is Factored
        a, b = f(u), f(_expanded(u))
        np.testing.assert_array_equal(a.primal, b.primal)
        np.testing.assert_allclose(a.tangent, b.tangent, rtol=RTOL, atol=ATOL)
        assert a.tangent.shape == (len(coef),) + np.shape(a.primal)
        return a


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
def test_unary_rules_factored_equal_expanded(ufunc):
    lo, hi = UNARY[ufunc]
    _same(lambda u: np.sum(ufunc(u) * np.cos(u)), lo, hi)
    _same(ufunc, lo, hi, shape=(2, 3))


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
def test_binary_rules_factored_equal_expanded(ufunc):
    (lo, hi), (lo2, hi2) = BINARY[ufunc]
    other = np.linspace(lo2, hi2, 6).reshape(2, 3) + (0.01 if ufunc in KINKS else 0.0)
    # factored first operand, constant second (broadcast from (3,) to (2, 3))
    _same(lambda u: ufunc(u, other), lo, hi, shape=(3,))
    if ufunc not in KINKS:
        # both operands carry the same coefficients: the terms add factored
        _same(lambda u: ufunc(u, u * 0.5 + (lo2 + hi2) / 2), max(lo, lo2), min(hi, hi2), shape=(2, 3))


def test_reductions_indexing_and_broadcasting():
    _same(lambda u: np.sum(np.exp(u), axis=0), -1.0, 1.0, shape=(2, 3))
    _same(lambda u: np.sum(np.exp(u), axis=-1, keepdims=True), -1.0, 1.0, shape=(2, 3))
    _same(lambda u: np.mean(np.sin(u) * u, axis=(0, 1)), -1.0, 1.0, shape=(2, 3))
    _same(lambda u: np.mean(np.sin(u)), -1.0, 1.0, shape=(2, 3))
    _same(lambda u: np.sum(np.exp(u)[1:, ::2] * np.ones((4, 1, 2))), -1.0, 1.0, shape=(2, 3))
    _same(lambda u: np.exp(u)[np.array([0, 2, 2])], -1.0, 1.0, shape=(3,))
    _same(lambda u: np.exp(u)[1], -1.0, 1.0, shape=(3,))
    _same(lambda u: np.reshape(np.exp(u), (3, 2)) + np.cumsum(u.T, axis=0).T.reshape(3, 2),
          -1.0, 1.0, shape=(2, 3))
    _same(lambda u: u @ np.exp(u).T, -1.0, 1.0, shape=(2, 3))
    _same(lambda u: np.maximum(np.exp(u), 1.0) - np.where(u > 0, u, -u), -1.0, 1.0, shape=(5,))


def test_long_chains_are_checked_and_kept_factored():
    def chain(u):
        for _ in range(3 * CHAIN_LIMIT):
            u = np.sin(u) * 1.5 + 0.1
        return np.sum(u)

    _same(chain, -1.0, 1.0, shape=(7,))


def test_zero_entries_absorb_infinite_partials():
    # theta * x is exactly 0 where x == 0; sqrt and log have infinite partials
    # there, and the zero tangent must stay zero (not NaN), as when expanded.
    for f in (np.sqrt, lambda u: np.sum(np.sqrt(u) * np.exp(u)),
              lambda u: np.sum(np.sqrt(np.exp(u) - 1.0)), lambda u: np.sqrt(u)[:2]):
        a = _same(f, 0.0, 1.0, shape=(3,))
        assert np.all(np.isfinite(a.tangent))
    # a zero coefficient row times an infinite partial
    with np.errstate(divide="ignore"):  # the primal's own log(0)
        a = _same(lambda u: np.sum(np.log(u)), 0.0, 1.0, shape=(3,), coef=np.array([0.0, 1.0]))
    np.testing.assert_array_equal(a.tangent, [0.0, 2.0])


def test_stacked_directions_equal_single_passes_bit_for_bit():
    x = np.linspace(-1.0, 1.0, 11)

    def f(theta):
        return np.sum(np.exp(theta * x) * np.sin(x) / (1.0 + theta * theta * x * x))

    with perturbation() as tag:
        stacked = f(Dual(0.3, COEF, tag=tag)).tangent
        singles = [f(Dual(0.3, COEF[j:j + 1], tag=tag)).tangent[0] for j in range(len(COEF))]
    np.testing.assert_array_equal(stacked, singles)


def test_a_full_sum_of_a_chain_matches_the_expanded_rules_to_rounding():
    # A full sum of a factored chain sums the product of its factors, then
    # scales by the coefficient, so only the rounding order differs from the
    # expanded rules: within the worst-case bound n * eps * sum|terms| of any order.
    x = np.linspace(-1.0, 1.0, 1001)
    eps = np.finfo(float).eps
    with perturbation() as tag:
        u = Dual(0.3, np.ones(1), tag=tag) * x
        for f, terms in ((lambda v: np.sum(np.exp(v) * np.sin(x)), x * np.exp(0.3 * x) * np.sin(x)),
                         (lambda v: np.mean(np.tanh(v) * v), (0.3 * x * x / np.cosh(0.3 * x) ** 2
                                                             + np.tanh(0.3 * x) * x) / x.size)):
            factored, expanded = f(u).tangent, f(_expanded(u)).tangent
            assert abs(factored - expanded)[0] <= x.size * eps * np.sum(np.abs(terms))
            assert abs(factored[0] - np.sum(terms)) <= x.size * eps * np.sum(np.abs(terms))


def test_nested_tags_and_higher_derivatives():
    x = np.linspace(-1.0, 1.0, 9)

    def f(theta):
        return np.sum(np.exp(theta * x) * np.sin(x))

    t0 = 0.4
    d2 = float(np.sum(x * x * np.exp(t0 * x) * np.sin(x)))
    d3 = float(np.sum(x ** 3 * np.exp(t0 * x) * np.sin(x)))
    np.testing.assert_allclose(hessian(lambda v: f(v[0]), np.array([t0])), [[d2]], rtol=1e-13)
    np.testing.assert_allclose(diff(lambda a: diff(lambda b: diff(f, b), a), t0), d3, rtol=1e-13)
    # an outer parameter as a constant of an inner one: d/da (a * d/db sum(exp(b x)) x)
    np.testing.assert_allclose(
        diff(lambda a: diff(lambda b: np.sum(a * np.exp(b * x) * x), 0.2), 1.5),
        np.sum(x * x * np.exp(0.2 * x)), rtol=1e-13)


def test_factored_tangents_stay_internal():
    x = np.linspace(0.0, 1.0, 5)
    with perturbation() as tag:
        u = np.exp(Dual(0.5, COEF, tag=tag) * x)
        assert u.directions == len(COEF)
        assert type(u.tangent) is np.ndarray and u.tangent.shape == (len(COEF), 5)
        assert type(u._tangent) is np.ndarray  # expanded once, then kept


def test_mutating_an_input_array_after_use_does_not_change_the_derivative():
    from plait.gradients import Dual, perturbation

    x = np.array([0.5, 1.0, 2.0])
    s = np.sin(x)
    with perturbation() as tag:
        theta = Dual(0.3, [1.0, 2.0], tag=tag)
        y = np.sum(np.exp(theta * x) * s)
        expected = np.array([1.0, 2.0]) * np.sum(x * np.exp(0.3 * x) * np.sin(x))
        x[...] = 100.0  # the user reuses their buffers before reading the tangent
        s[...] = -7.0
        assert np.allclose(y.tangent, expected, rtol=1e-13)


# -- the caller's arrays: never frozen, never read again after the operation -------------
# A factored tangent keeps its partials until it is read, so an array the
# caller passed in (named, a temporary, a view) is copied; it is never made
# read-only, whatever its reference count, and mutating it later must not
# move the derivative.

N_BIG = 20_000  # a large operand (160 kB, copied into a reused block: gradients.buffers)

SPELLINGS = {
    "d * a": lambda d, a: d * a(),
    "a * d": lambda d, a: a() * d,
    "d + a": lambda d, a: d + a(),
    "a - d": lambda d, a: a() - d,
    "d / a": lambda d, a: d / a(),
    "a / d": lambda d, a: a() / d,
    "np.multiply(d, a)": lambda d, a: np.multiply(d, a()),
    "np.multiply(a, d)": lambda d, a: np.multiply(a(), d),
}


def _dual(kind, tag, x):
    """A 0-d dual ("theta"), or a factored or expanded array dual built on the caller's ``x``."""
    theta = Dual(0.3, [1.0, 2.0], tag=tag)
    if kind == "theta":
        return theta
    e = np.exp(theta * x)
    assert type(e._tangent) is Factored
    return e if kind == "factored" else _expanded(e)


def _arrays(kind, n):
    """``(make, held)``: ``make()`` gives the operand, ``held()`` the arrays behind it still alive.

    A temporary is followed by weak reference only, so it reaches the
    operator exactly as an unnamed ``np.cos(x) + 2.0`` would.
    """
    if kind == "named":
        s = np.cos(np.linspace(-1.0, 1.0, n)) + 2.0
        return (lambda: s), (lambda: [s])
    if kind == "view":
        base = np.cos(np.linspace(-1.0, 1.0, 2 * n)) + 2.0
        return (lambda: base[::2]), (lambda: [base])
    if kind == "read-only view":  # read-only itself, and changes with its base
        base = np.cos(np.linspace(-1.0, 1.0, n)) + 2.0
        return (lambda: np.broadcast_to(base, base.shape)), (lambda: [base])
    seen = []

    def make():
        a = np.cos(np.linspace(-1.0, 1.0, n)) + 2.0
        seen.append(weakref.ref(a))
        return a

    return make, lambda: [a for a in (r() for r in seen) if a is not None]


@pytest.mark.parametrize("n", [5, N_BIG])
@pytest.mark.parametrize("kind", ["named", "temporary", "view", "read-only view"])
@pytest.mark.parametrize("dual_kind", ["theta", "factored", "expanded"])
@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_no_operand_is_made_read_only_and_mutating_it_does_not_move_the_derivative(
        spelling, dual_kind, kind, n):
    op = SPELLINGS[spelling]
    x = np.linspace(-1.0, 1.0, n)
    make, held = _arrays(kind, n)
    with perturbation() as tag:
        pristine_x = x.copy()
        reference = op(_dual(dual_kind, tag, pristine_x), lambda: make().copy())
        expected_sum, expected = np.sum(reference).tangent, reference.tangent
        y = op(_dual(dual_kind, tag, x), make)
        arrays = held() + [x]
        assert all(a.flags.writeable for a in arrays)
        for a in arrays:  # the caller reuses their buffers before reading the tangent
            a[...] = 100.0
        np.testing.assert_array_equal(np.sum(y).tangent, expected_sum)
        np.testing.assert_array_equal(y.tangent, expected)
        assert all(a.flags.writeable for a in held() + [x])


@pytest.mark.parametrize("spelling", ["arrays * duals", "duals * arrays", "np.multiply"])
def test_arrays_inside_object_arrays_stay_writeable_and_are_copied(spelling):
    # numpy's object loop hands the float arrays to the dual with borrowed
    # references: they look like temporaries by count, and are not.
    x = np.linspace(-1.0, 1.0, N_BIG)
    with perturbation() as tag:
        theta = Dual(0.3, [1.0, 2.0], tag=tag)
        duals = np.empty(2, dtype=object)
        duals[0], duals[1] = theta, np.exp(theta * x)
        arrays = np.empty(2, dtype=object)
        arrays[0], arrays[1] = np.cos(x) + 2.0, np.sin(x)
        expected = [(d * a.copy()).tangent for d, a in zip(duals, arrays)]
        if spelling == "arrays * duals":
            ys = arrays * duals
        elif spelling == "duals * arrays":
            ys = duals * arrays
        else:
            ys = np.multiply(duals, arrays)
        assert arrays[0].flags.writeable and arrays[1].flags.writeable and x.flags.writeable
        arrays[0][...] = arrays[1][...] = x[...] = -7.0
        for y, e in zip(ys, expected):
            np.testing.assert_array_equal(y.tangent, e)


@pytest.mark.parametrize("how", ["named", "operator on named", "view"])
def test_arrays_the_user_can_reach_are_copied_and_stay_writeable(how):
    x = np.linspace(-1.0, 1.0, 2 * N_BIG)
    s = np.sin(x)
    with perturbation() as tag:
        e = np.exp(Dual(0.3, [1.0], tag=tag) * x)
        if how == "named":
            y = e * s
        elif how == "operator on named":
            y = s * e
        else:
            s = s[::2]  # a view of s: its base is the user's
            x = x[::2]
            e = np.exp(Dual(0.3, [1.0], tag=tag) * x)
            y = e * s
        expected = x * np.exp(0.3 * x) * np.sin(x)
        assert s.flags.writeable and x.flags.writeable
        s[...] = -7.0  # mutating after the product must not move the derivative
        x[...] = 100.0
        assert np.allclose(y.tangent[0], expected, rtol=1e-13, atol=1e-15)


def test_an_array_held_only_by_a_c_caller_is_not_taken_for_a_temporary():
    # numpy's object loop passes its elements with borrowed references, so
    # their count looks like a temporary's; the caller still holds them.
    with perturbation() as tag:
        d = Dual(0.3, [1.0], tag=tag)
        arrays = np.empty(2, dtype=object)
        arrays[0], arrays[1] = np.ones(N_BIG), np.ones(N_BIG)
        duals = np.empty(2, dtype=object)
        duals[0] = duals[1] = d
        np.multiply(arrays, duals)
        np.multiply(duals, arrays)
    assert arrays[0].flags.writeable and arrays[1].flags.writeable

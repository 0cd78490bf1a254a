"""The compiled first-order numbers FirstOrder = v + t·ε against their defining formulas."""

import importlib.machinery
import math
import pickle
from fractions import Fraction

import pytest

import plait
from hypothesis import given
from hypothesis import strategies as st

from plait.ext import _first_order
from plait.inference.gradient_estimation.couplings import FirstOrder, lex_gt, lex_max, lex_min

finite = st.floats(-1e6, 1e6, allow_nan=False)
pairs = st.tuples(finite, finite)


def test_the_compiled_class_is_the_one_in_use():
    assert FirstOrder is _first_order.FirstOrder
    assert any(_first_order.__file__.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES)


@given(pairs, pairs)
def test_arithmetic_is_first_order(a, b):
    (av, at), (bv, bt) = a, b
    x, y = FirstOrder(av, at), FirstOrder(bv, bt)
    assert ((x + y).v, (x + y).t) == (av + bv, at + bt)
    assert ((x - y).v, (x - y).t) == (av - bv, at - bt)
    assert ((-x).v, (-x).t) == (-av, -at)
    product = x * y
    if av == 0.0 and bv == 0.0:
        assert (product.v, product.t) == (0.0, 0.0)  # ε² vanishes
    else:
        assert (product.v, product.t) == (av * bv, av * bt + at * bv)
    if bv != 0.0:
        q = x / y
        assert q.v == av / bv
        exact = (Fraction(at) * Fraction(bv) - Fraction(av) * Fraction(bt)) / (Fraction(bv) ** 2)
        # Two terms that may cancel: the float result is good to a few ulps of the larger one.
        terms = (abs(Fraction(at) * Fraction(bv)) + abs(Fraction(av) * Fraction(bt))) / (Fraction(bv) ** 2)
        if terms < 1e300:  # beyond that the true tangent is not a finite float
            assert abs(Fraction(q.t) - exact) <= Fraction(8 * 2.0 ** -52) * terms + Fraction(1e-300)


def test_plain_numbers_mix_in_from_either_side():
    w = FirstOrder(2.0, 3.0)
    assert ((1.0 - w).v, (1.0 - w).t) == (-1.0, -3.0)
    assert ((2 * w).v, (2 * w).t) == (4.0, 6.0)
    assert ((w + 1).v, (1 + w).t) == (3.0, 3.0)
    assert ((1.0 / FirstOrder(2.0, 1.0)).t) == -0.25


def test_safe_division_and_its_failure():
    assert (FirstOrder(0.0, 2.0) / FirstOrder(0.0, 4.0)).v == 0.5  # two O(ε) masses: L'Hôpital
    with pytest.raises(ZeroDivisionError, match="first-order weight"):
        FirstOrder(1.0, 0.0) / FirstOrder(0.0, 0.0)


def test_lexicographic_sign_and_order():
    assert [FirstOrder(v, t).sign() for v, t in [(1e-300, -5.0), (-1e-300, 5.0), (0.0, 1e-14), (0.0, -1e-14), (0.0, 1e-16)]] == [
        1, -1, 1, -1, 0]
    assert FirstOrder(0.0, 1e-16).is_zero() and not FirstOrder(0.0, 1e-14).is_zero() and not FirstOrder(math.nan, 0.0).is_zero()
    assert lex_gt(FirstOrder(0.5, 1.0), FirstOrder(0.5, 0.0)) and not lex_gt(FirstOrder(0.5, 0.0), FirstOrder(0.5, 0.0))
    assert lex_max(FirstOrder(0.5, -1.0), FirstOrder(0.5, 0.0)).t == 0.0 and lex_min(FirstOrder(0.5, -1.0), FirstOrder(0.5, 0.0)).t == -1.0


def test_exp_and_pickle():
    e = FirstOrder(1.0, 2.0).exp()
    assert (e.v, e.t) == (math.e, 2.0 * math.e)
    back = pickle.loads(pickle.dumps(FirstOrder(1.5, -2.5)))
    assert (back.v, back.t) == (1.5, -2.5)


# --- compiled one-direction scalar dual arithmetic against its Python reference ---

numbers = st.floats(-1e6, 1e6, allow_nan=False)


@given(numbers, numbers, numbers, numbers, st.integers(0, 5), st.booleans())
def test_compiled_scalar_dual_ops_match_the_reference(p, t, q, u, op, dual_other):
    import numpy as np

    from plait.ext._dual_scalar import binary
    from plait.gradients.dual import Dual, _fast_one, perturbation

    with perturbation() as tag:
        d = Dual(p, [t], tag=tag)
        other = Dual(q, [u], tag=tag) if dual_other else q
        got = binary(d, other, op)
        want = _fast_one(p, t, q, u if dual_other else None, op, tag)
        if want is None:
            assert got is None
        else:
            assert type(got) is Dual and type(got.primal) is np.float64 and got._tangent.shape == (1,)
            assert got.primal == want.primal or (math.isnan(got.primal) and math.isnan(want.primal))
            np.testing.assert_array_equal(got._tangent, want._tangent)


def test_compiled_scalar_dual_ops_decline_what_they_do_not_cover():
    import numpy as np

    from plait.ext._dual_scalar import binary
    from plait.gradients.dual import Dual, perturbation

    with perturbation() as tag, perturbation() as inner:
        d = Dual(1.0, [1.0], tag=tag)
        assert binary(Dual(1.0, [1.0, 2.0], tag=tag), 1.0, 0) is None   # two directions
        assert binary(Dual(np.ones(2), [[1.0, 1.0]], tag=tag), 1.0, 0) is None  # not 0-d
        assert binary(d, Dual(1.0, [1.0], tag=inner), 0) is None          # another tag
        assert binary(d, True, 0) is None and binary(d, math.inf, 0) is None
        assert binary(d, 0.0, 4) is None and binary(Dual(0.0, [1.0], tag=tag), 1.0, 5) is None
    with pytest.raises(plait.errors.PerturbationEscapeError):
        binary(d, 1.0, 0)

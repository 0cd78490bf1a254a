"""Support objects: structural equality and hashing, membership, canonical forms, reprs."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from plait.effects.distributions import (
    Bernoulli,
    Binomial,
    Categorical,
    FiniteSet,
    Interval,
    IntRange,
    Poisson,
    Real,
    RealVector,
    Simplex,
    Support,
    boolean,
    nonnegative_integer,
    positive,
    real,
    real_vector,
    simplex,
    unit_interval,
)

INF = math.inf
HYP = settings(max_examples=100, deadline=None, derandomize=True, database=None)


# --------------------------------------------------------------------------
# equality and hashing
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "a, b",
    [
        (Interval(0, INF), positive),
        (Interval(0.0, 1.0), unit_interval),
        (Interval(np.float64(0), 1), unit_interval),
        (IntRange(0, 1), boolean),
        (IntRange(0.0, 1.0), boolean),
        (IntRange(np.int64(0), INF), nonnegative_integer),
        (Real(), real),
        (Simplex(3), simplex(3)),
        (RealVector(2), real_vector(2)),
        (FiniteSet([2, 0]), FiniteSet({0.0, 2.0})),
        (FiniteSet({0, 1}), boolean),
        (FiniteSet({4}), IntRange(4, 4)),
        (Interval(np.array([0.0, 0.0]), np.array([1.0, 1.0])), unit_interval),
        (IntRange([0, 0], [2, 2]), IntRange(0, 2)),
        (Interval([0.0, 1.0], 2.0), Interval((0, 1), 2)),
    ],
    ids=repr,
)
def test_structural_equality_and_hash(a, b):
    assert a == b and not (a != b)
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


@pytest.mark.parametrize(
    "a, b",
    [
        (Interval(0, 1), IntRange(0, 1)),  # same set of numbers, different base measure
        (Interval(0, 1), Interval(0, 2)),
        (positive, real),
        (IntRange(0, 5), IntRange(0, 6)),
        (nonnegative_integer, IntRange(0, 10**6)),
        (FiniteSet({0, 2}), IntRange(0, 2)),
        (Simplex(2), Simplex(3)),
        (Simplex(2), RealVector(2)),
        (Interval([0.0, 1.0], 2.0), Interval(0.0, 2.0)),
    ],
    ids=repr,
)
def test_structural_inequality(a, b):
    assert a != b
    assert len({a, b}) == 2


def test_not_equal_to_other_types():
    assert real != "Real"
    assert boolean != (0, 1)
    assert (positive == None) is False  # noqa: E711


def test_immutable_and_picklable():
    for s in [real, positive, boolean, FiniteSet({0, 2}), Simplex(3), RealVector(2), IntRange([0, 1], 5)]:
        with pytest.raises(AttributeError):
            s.low = 3  # type: ignore[attr-defined]
        assert pickle.loads(pickle.dumps(s)) == s
        assert copy.deepcopy(s) == s
        assert isinstance(s, Support)


def test_invalid_supports():
    with pytest.raises(ValueError, match="low < high"):
        Interval(1, 1)
    with pytest.raises(ValueError, match="low <= high"):
        IntRange(3, 2)
    with pytest.raises(ValueError, match="integral"):
        IntRange(0.5, 2)
    with pytest.raises(ValueError, match="NaN"):
        Interval(math.nan, 1)
    with pytest.raises(ValueError, match="at least one"):
        FiniteSet([])
    with pytest.raises(ValueError, match="positive integer"):
        Simplex(0)


# --------------------------------------------------------------------------
# contains
# --------------------------------------------------------------------------

def test_contains_scalars_are_python_bools():
    for s, x in [(real, 1.0), (positive, 2), (boolean, True), (FiniteSet({0, 2}), 2), (IntRange(0, 3), 7)]:
        assert type(s.contains(x)) is bool


@pytest.mark.parametrize(
    "support, inside, outside",
    [
        (real, [0.0, -1e300, 5, True], [INF, -INF, math.nan]),
        (positive, [0.0, 1e-300, 3, 1e300], [-1e-300, -1.0, INF, math.nan]),
        (unit_interval, [0.0, 0.5, 1.0], [-0.1, 1.0000001, math.nan]),
        (Interval(-2, 3), [-2, 0, 3], [-2.1, 3.1]),
        (boolean, [0, 1, 0.0, 1.0, True, False], [0.5, 2, -1, math.nan]),
        (nonnegative_integer, [0, 1, 10**6, 2.0], [-1, 1.5, INF, math.nan]),
        (IntRange(-3, 3), [-3, 0, 3], [-4, 4, 0.5]),
        (IntRange(2, 2), [2], [1, 3]),
        (FiniteSet({0, 2, 7}), [0, 2, 7, 2.0], [1, 3, 6.5, math.nan]),
    ],
    ids=repr,
)
def test_contains(support, inside, outside):
    for x in inside:
        assert support.contains(x) is True, x
    for x in outside:
        assert support.contains(x) is False, x
    np.testing.assert_array_equal(
        support.contains(np.array(inside + outside, dtype=float)),
        [True] * len(inside) + [False] * len(outside),
    )


def test_contains_junk_is_false():
    assert real.contains("abc") is False
    assert boolean.contains(None) is False


def test_contains_is_vectorized_with_batched_bounds():
    s = IntRange([0, 0, 1], [0, 1, 1])
    np.testing.assert_array_equal(s.contains([0, 0, 0]), [True, True, False])
    np.testing.assert_array_equal(s.contains([[1], [0]]), [[False, True, True], [True, True, False]])
    i = Interval([0.0, 1.0], [1.0, 3.0])
    np.testing.assert_array_equal(i.contains(2.0), [False, True])


def test_event_supports():
    s = Simplex(3)
    assert s.event_dim == 1 and not s.is_discrete
    assert s.contains([0.2, 0.3, 0.5]) is True
    assert s.contains([0.2, 0.3, 0.6]) is False
    assert s.contains([-0.1, 0.6, 0.5]) is False
    assert s.contains([1.0, 0.0, 0.0]) is True
    assert s.contains([0.5, 0.5]) is False
    assert s.contains(0.5) is False
    np.testing.assert_array_equal(s.contains([[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]), [True, False])
    v = RealVector(2)
    assert v.event_dim == 1 and v.contains([1.0, -2.0]) is True and v.contains([1.0, INF]) is False
    np.testing.assert_array_equal(v.contains(np.zeros((4, 3))), [False] * 4)


@HYP
@given(hs.integers(-20, 20), hs.integers(0, 20), hs.one_of(hs.integers(-50, 50), hs.floats(-50, 50)))
def test_intrange_contains_matches_definition(low, width, x):
    s = IntRange(low, low + width)
    assert s.contains(x) == (float(x).is_integer() and low <= x <= low + width)


@HYP
@given(hs.sets(hs.integers(-10, 10), min_size=1, max_size=6))
def test_finiteset_canonical_form(values):
    s = FiniteSet(values)
    lo, hi = min(values), max(values)
    if len(values) == hi - lo + 1:
        assert type(s) is IntRange and s == IntRange(lo, hi)
    else:
        assert type(s) is FiniteSet and s.values == tuple(sorted(values))
    for x in range(-12, 13):
        assert s.contains(x) == (x in values)


# --------------------------------------------------------------------------
# kinds
# --------------------------------------------------------------------------

def test_kinds_and_event_dims():
    for s in [real, positive, unit_interval, Interval(1, 2), Simplex(2), RealVector(2)]:
        assert s.is_discrete is False
    for s in [boolean, nonnegative_integer, IntRange(0, 3), FiniteSet({0, 2})]:
        assert s.is_discrete is True
    for s in [real, positive, boolean, FiniteSet({0, 2})]:
        assert s.event_dim == 0


# --------------------------------------------------------------------------
# degenerate parameters shrink the support
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "d, support",
    [
        (Bernoulli(1.0), IntRange(1, 1)),
        (Bernoulli(0), IntRange(0, 0)),
        (Bernoulli(0.5), boolean),
        (Categorical([0.5, 0.5, 0.0]), IntRange(0, 1)),
        (Categorical([0.5, 0.0, 0.5]), FiniteSet({0, 2})),
        (Categorical([0.0, 0.0, 1.0]), IntRange(2, 2)),
        (Categorical(logits=[-INF, 0.0, 0.0]), IntRange(1, 2)),
        (Poisson(0), IntRange(0, 0)),
        (Poisson(0.1), nonnegative_integer),
        (Binomial(7, 0.0), IntRange(0, 0)),
        (Binomial(7, 1.0), IntRange(7, 7)),
        (Binomial(7, 0.5), IntRange(0, 7)),
    ],
    ids=repr,
)
def test_degenerate_parameters_shrink_support(d, support):
    assert d.support == support
    assert hash(d.support) == hash(support)


# --------------------------------------------------------------------------
# reprs
# --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "support, text",
    [
        (real, "Real (-inf, inf) [continuous]"),
        (positive, "PositiveReal (0, inf) [continuous]"),
        (unit_interval, "UnitInterval (0, 1) [continuous]"),
        (Interval(-1.5, 2), "Interval(-1.5, 2) [continuous]"),
        (IntRange(0, 5), "IntRange(0, 5) [discrete]"),
        (boolean, "Boolean {0, 1} [discrete]"),
        (nonnegative_integer, "Naturals {0, 1, 2, ...} [discrete]"),
        (IntRange(1, 1), "IntRange(1, 1) [discrete]"),
        (FiniteSet({0, 2}), "FiniteSet{0, 2} [discrete]"),
        (Simplex(3), "Simplex(3) [continuous]"),
        (RealVector(2), "RealVector(2) [continuous]"),
        (IntRange([0, 1], 5), "IntRange([0, 1], 5) [discrete]"),
    ],
)
def test_reprs(support, text):
    assert repr(support) == text
    assert support.name == text.split(" ")[0]

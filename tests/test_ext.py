"""Tests of the compiled log-weight kernels against the pure-numpy reference."""

from __future__ import annotations

import doctest
import importlib.machinery
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import plait.ext
from plait.ext import _logweights, reference

NAMES = ["logsumexp", "normalize", "log_normalize", "ess"]
INF = float("inf")
NAN = float("nan")


# --- the compiled module is the one in use ---------------------------------


def test_compiled_extension_is_in_use():
    module = plait.ext.compiled_module()
    assert module is _logweights
    assert module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    for name in NAMES:
        func = getattr(plait.ext, name)
        assert func is getattr(_logweights, name)
        assert func is not getattr(reference, name)
        assert not inspect.isfunction(func)  # a Cython function, not Python bytecode
        assert type(func).__name__ == "cython_function_or_method"
        assert func.__module__.endswith("ext._logweights")  # "plait." once installed


def test_public_names():
    assert set(NAMES) <= set(plait.ext.__all__)
    assert plait.ext.reference is reference
    assert reference.__all__ == NAMES


DOCUMENTED = [plait.ext, reference, plait.ext.compiled_module] + [
    getattr(module, name) for module in (plait.ext, reference) for name in NAMES
] + [plait.ext.normal_log_density, plait.ext.all_impossible]


def qualified_name(obj):
    return obj.__name__ if inspect.ismodule(obj) else f"{obj.__module__}.{obj.__name__}"


@pytest.mark.parametrize("obj", DOCUMENTED, ids=qualified_name)
def test_docstring_examples(obj):
    # Each function is searched directly, so its examples run whatever name
    # the extension module was compiled under.
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(obj, globs={}):
        runner.run(test)
    assert runner.failures == 0
    assert runner.tries > 0


# --- compiled and reference agree ------------------------------------------


def outcome(func, lw):
    """What func does with lw: ("ok", result) or ("error", type, message)."""
    try:
        return ("ok", func(lw))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return ("error", type(exc), str(exc))


def assert_agree(name, lw):
    compiled = outcome(getattr(plait.ext, name), lw)
    expected = outcome(getattr(reference, name), lw)
    assert compiled[0] == expected[0], (compiled, expected)
    if compiled[0] == "error":
        assert compiled == expected
        return None
    got, want = compiled[1], expected[1]
    assert type(got) is type(want)
    if name == "normalize":
        # Weights below the normal range have absolute, not relative, accuracy.
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
        assert got.dtype == np.float64
    else:
        # Infinities must match exactly; assert_allclose checks that.
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    return got


finite = st.one_of(
    st.floats(-30, 30),
    st.floats(-1e4, 1e4),
    st.floats(-1e300, 1e300),
)
special = st.sampled_from([-INF, 1e300, -1e300, 0.0])
log_weight_arrays = hnp.arrays(
    np.float64,
    st.integers(1, 300),
    elements=st.one_of(finite, finite, finite, special),
)


@settings(max_examples=300, deadline=None)
@given(log_weight_arrays)
def test_compiled_matches_reference(lw):
    for name in NAMES:
        assert_agree(name, lw)


@settings(max_examples=200, deadline=None)
@given(log_weight_arrays)
def test_normalized_weights_sum_to_one(lw):
    if np.all(lw == -INF):
        return
    w = plait.ext.normalize(lw)
    assert abs(np.sum(w) - 1.0) <= 1e-12
    assert np.all(w[lw == -INF] == 0.0)
    assert np.all((w >= 0) & (w <= 1))
    assert 1.0 - 1e-12 <= plait.ext.ess(lw) <= lw.size * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(log_weight_arrays, st.integers(0, 299), st.sampled_from([NAN, INF, -INF]))
def test_special_value_planted_anywhere(lw, where, value):
    lw = lw.copy()
    lw[where % lw.size] = value
    for name in NAMES:
        assert_agree(name, lw)


@pytest.mark.parametrize("offset", [-1, 0, 1, 5])
@pytest.mark.parametrize("chunks", [1, 2])
def test_chunk_boundaries(chunks, offset):
    # The kernels work on chunks of CHUNK_SIZE; check sizes around the edges,
    # with the maximum and some -inf in the last partial chunk.
    n = chunks * _logweights.CHUNK_SIZE + offset
    lw = np.random.default_rng(n).normal(0.0, 3.0, size=n)
    lw[::7] = -INF
    lw[-1] = 50.0
    for name in NAMES:
        assert_agree(name, lw)
    assert abs(np.sum(plait.ext.normalize(lw)) - 1.0) <= 1e-12


# --- explicit values and errors ----------------------------------------------


@pytest.mark.parametrize("module", [plait.ext, reference])
def test_known_values(module):
    assert module.logsumexp([0.0, 0.0]) == pytest.approx(np.log(2.0), rel=1e-15)
    assert module.logsumexp([3.5]) == 3.5
    assert module.logsumexp([1e300, 0.0]) == 1e300
    assert module.normalize([1e300, 0.0]).tolist() == [1.0, 0.0]
    assert module.normalize([-1e300, 0.0]).tolist() == [0.0, 1.0]
    assert module.normalize([0.0, -INF, 0.0]).tolist() == [0.5, 0.0, 0.5]
    assert module.normalize([7.0]).tolist() == [1.0]
    assert module.log_normalize([7.0]).tolist() == [0.0]
    assert module.log_normalize([0.0, -INF]).tolist() == [0.0, -INF]
    assert module.log_normalize([1e300, 1e300]) == pytest.approx([-np.log(2.0)] * 2)
    assert module.ess([1.0] * 10) == pytest.approx(10.0, rel=1e-15)
    assert module.ess([2.0]) == 1.0
    assert module.ess(np.full(7, 3.3)) == 7.0  # equal weights: exactly N
    assert module.ess([0.0, -1e300]) == 1.0


@pytest.mark.parametrize("module", [plait.ext, reference])
def test_logsumexp_conventions(module):
    assert module.logsumexp([]) == -INF
    assert module.logsumexp([-INF, -INF]) == -INF
    assert module.logsumexp([0.0, INF, -INF]) == INF
    with pytest.raises(ValueError, match="NaN at index 2"):
        module.logsumexp([0.0, INF, NAN])
    with pytest.raises(ValueError, match="NaN at index 1"):
        module.logsumexp([-INF, NAN, NAN])


@pytest.mark.parametrize("module", [plait.ext, reference])
@pytest.mark.parametrize("name", ["normalize", "log_normalize", "ess"])
def test_normalising_errors(module, name):
    func = getattr(module, name)
    with pytest.raises(ValueError, match=r"all weights are zero \(every log-weight is -inf\)"):
        func([-INF, -INF, -INF])
    with pytest.raises(ValueError, match="log-weights contain NaN at index 3"):
        func([0.0, 1.0, -INF, NAN, NAN])
    with pytest.raises(ValueError, match="NaN at index 1"):
        func([INF, NAN])  # NaN is reported before +inf
    with pytest.raises(ValueError, match=r"index 2 is \+inf: an infinite weight cannot be normalised"):
        func([0.0, -INF, INF, INF])
    with pytest.raises(ValueError, match="empty"):
        func([])
    with pytest.raises(ValueError, match="1-D"):
        func(np.zeros((2, 3)))


# --- input conversion ----------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a[::2],  # non-contiguous view
        lambda a: a.reshape(2, -1)[:, 1],  # column of a 2-D array
        lambda a: a.astype(np.float32),
        lambda a: np.round(a).astype(np.int64),
        lambda a: a.tolist(),
        lambda a: tuple(np.round(a).astype(int).tolist()),
        lambda a: np.frombuffer(a.tobytes()),  # read-only buffer
    ],
)
@pytest.mark.parametrize("name", NAMES)
def test_array_likes_are_accepted(make, name):
    base = np.random.default_rng(1).normal(0.0, 2.0, size=40)
    lw = make(base)
    as_float64 = np.array(lw, dtype=np.float64)
    got = getattr(plait.ext, name)(lw)
    np.testing.assert_allclose(got, getattr(plait.ext, name)(as_float64), rtol=0, atol=0)
    assert_agree(name, lw)


def test_input_is_not_modified():
    lw = np.array([0.0, -1.0, -INF, 2.0])
    before = lw.copy()
    for name in NAMES:
        getattr(plait.ext, name)(lw)
    np.testing.assert_array_equal(lw, before)


# --- compiled scalar draws: the same stream as the distributions' own sample ---

@pytest.mark.parametrize("dist", [plait.Normal(1.5, 0.3), plait.Normal(0, 1), plait.Bernoulli(0.3),
                                  plait.Bernoulli(1.0), plait.Normal(np.zeros(2), 1.0), plait.Gamma(2.0, 1.0)],
                         ids=["normal", "normal-int-params", "bernoulli", "bernoulli-certain", "batched",
                              "other family"])
def test_compiled_scalar_draws_match_the_generator_stream(dist):
    from plait.ext._interpreter import draw

    compiled, reference = np.random.default_rng(11), np.random.default_rng(11)
    got = [draw(dist, compiled) for _ in range(500)]
    want = [dist.sample(reference) for _ in range(500)]
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert compiled.random() == reference.random()  # both streams advanced alike


def test_a_swapped_generator_is_drawn_from():
    from plait.handlers.runloop import Execution

    ex = Execution(np.random.default_rng(0), record_answers=False)
    ex.base.rng = np.random.default_rng(3)
    value = ex.base(plait.sample("x", plait.Normal(0.0, 1.0)))
    assert value == np.random.default_rng(3).standard_normal()


# --- the Normal log density kernel: the numpy path's bits ----------------------


_LANE_FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=200, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.integers(1, 40), elements=_LANE_FLOATS),
    loc=_LANE_FLOATS,
    scale=st.floats(min_value=1e-300, max_value=1e300),
    shape=st.sampled_from(["vector-vector", "vector-scalar", "scalar-vector"]),
)
def test_normal_log_density_is_the_numpy_path(x, loc, scale, shape):
    from plait.effects.distributions.continuous import _normal_log_density_numpy

    other = np.roll(x, 1) + loc if np.isfinite(loc) else np.full(len(x), loc)
    a, b = {"vector-vector": (x, other), "vector-scalar": (x, loc),
            "scalar-vector": (np.asarray(loc), x)}[shape]
    with np.errstate(all="ignore"):
        expected = _normal_log_density_numpy(a, b, scale)
        got = plait.ext.normal_log_density(a, b, scale)
    assert got is not None and got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)  # the same bits (NaN where NaN)


def test_normal_log_density_declines_what_it_does_not_serve():
    k = plait.ext.normal_log_density
    assert k(1.0, 0.0, 1.0) is None  # no array
    assert k(np.zeros(3), np.zeros(2), 1.0) is None  # lengths differ
    assert k(np.zeros((2, 2)), 0.0, 1.0) is None  # 2-d
    assert k(np.zeros(3), 0.0, np.ones(3)) is None  # an array scale
    assert k(np.zeros(3, dtype=np.float32), 0.0, 1.0) is None
    assert k(np.zeros(6)[::2], 0.0, 1.0) is None  # not contiguous


def test_normal_log_prob_takes_the_kernel_and_agrees_with_scipy():
    from plait.effects.distributions import Normal
    from scipy import stats

    x = np.linspace(-3.0, 3.0, 11)
    np.testing.assert_allclose(Normal(0.5, 2.0).log_prob(x), stats.norm(0.5, 2.0).logpdf(x), rtol=1e-13)
    np.testing.assert_allclose(Normal(x, 2.0).log_prob(0.25), stats.norm(x, 2.0).logpdf(0.25), rtol=1e-13)


@pytest.mark.parametrize("lw", [[], [-INF], [NAN], [-INF, NAN], [-INF, 0.0], [NAN, INF], [1.0, 2.0],
                                list(np.full(1001, -INF)) + [3.0]])
def test_all_impossible_is_no_weight_above_minus_inf(lw):
    assert plait.ext.all_impossible(np.array(lw, dtype=float)) == (not (np.array(lw) > -INF).any())

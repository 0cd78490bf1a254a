"""Tests of the compiled resamplers against the pure-numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import plait.ext
from plait.ext import _resample, resample_reference

SCHEMES = ["multinomial", "systematic", "stratified", "residual"]
PUBLIC = SCHEMES + ["residual_uniform_count", "log_evidence_increment", "resample_generic"]
INF = float("inf")
NAN = float("nan")
ALMOST_ONE = float(np.nextafter(1.0, 0.0))


def uniform_count(scheme, lw, m):
    """The number of uniforms each scheme consumes (the documented contract)."""
    return {
        "systematic": lambda: 1,
        "stratified": lambda: m,
        "multinomial": lambda: m + 1,
        "residual": lambda: resample_reference.residual_uniform_count(lw, size=m),
    }[scheme]()


def outcome(func, *args, **kwargs):
    """("ok", result) or ("error", type, message)."""
    try:
        return ("ok", func(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return ("error", type(exc), str(exc))


def assert_same(scheme, lw, **kwargs):
    """Compiled and reference give identical ancestors, or the same error."""
    got = outcome(getattr(plait.ext, scheme), lw, **kwargs)
    want = outcome(getattr(resample_reference, scheme), lw, **kwargs)
    assert got[0] == want[0], (got, want)
    if got[0] == "error":
        assert got == want
        return None
    a, b = got[1], want[1]
    assert a.dtype == np.int64 and b.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    return a


def assert_valid(ancestors, lw, m):
    lw = np.asarray(lw, dtype=np.float64)
    assert ancestors.shape == (m,)
    assert ancestors.dtype == np.int64
    assert np.all(np.diff(ancestors) >= 0), "ancestors must be sorted ascending"
    assert ancestors.min() >= 0 and ancestors.max() < lw.size
    assert np.all(lw[ancestors] > -INF), "a particle of zero weight was chosen"


# --- the compiled module is the one in use ---------------------------------


def test_compiled_functions_are_exported():
    for name in PUBLIC:
        func = getattr(plait.ext, name)
        assert func is getattr(_resample, name)
        assert func is not getattr(resample_reference, name)
        assert type(func).__name__ == "cython_function_or_method"
        assert name in plait.ext.__all__
    assert set(resample_reference.__all__) == set(PUBLIC)
    assert plait.ext.resample_reference is resample_reference


def test_error_messages_are_shared():
    assert _resample._EMPTY == resample_reference._EMPTY
    assert _resample._ONE_SOURCE == resample_reference._ONE_SOURCE


# --- compiled and reference agree exactly ----------------------------------

finite = st.one_of(st.floats(-30, 30), st.floats(-1e4, 1e4), st.floats(-1e300, 1e300))
special = st.sampled_from([-INF, 1e300, -1e300, 0.0])
log_weight_arrays = hnp.arrays(
    np.float64, st.integers(1, 60), elements=st.one_of(finite, finite, finite, special)
)
unit = st.one_of(
    st.floats(0.0, 1.0, exclude_max=True), st.sampled_from([0.0, 0.5, ALMOST_ONE])
)


def draw_uniforms(data, k):
    kind = data.draw(st.sampled_from(["random", "zeros", "almost one", "mixed"]))
    if kind == "zeros":
        return np.zeros(k)
    if kind == "almost one":
        return np.full(k, ALMOST_ONE)
    if kind == "random":
        seed = data.draw(st.integers(0, 2**32 - 1))
        return np.random.default_rng(seed).random(k)
    return np.array(data.draw(st.lists(unit, min_size=k, max_size=k)), dtype=np.float64)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(log_weight_arrays, st.one_of(st.none(), st.integers(1, 90)),
       st.sampled_from(SCHEMES), st.data())
def test_compiled_matches_reference(lw, size, scheme, data):
    m = lw.size if size is None else size
    usable = not (np.all(lw == -INF))
    k = uniform_count(scheme, lw, m) if usable else 1
    u = draw_uniforms(data, k)
    a = assert_same(scheme, lw, uniforms=u, size=size)
    if a is not None:
        assert_valid(a, lw, m)
    if scheme == "systematic" and a is not None:
        np.testing.assert_array_equal(_resample._systematic_textbook(lw, u[0], size=size), a)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(1, 40), st.integers(1, 60), st.sampled_from(SCHEMES),
       st.sampled_from([0.0, 1.0, 3.0, 30.0]), st.floats(0.0, 0.5), st.integers(0, 2**32 - 1))
def test_compiled_matches_reference_shapes(n, m, scheme, sd, p_zero, seed):
    # Equal weights (sd 0), mildly and very uneven weights, with zero weights.
    rng = np.random.default_rng(seed)
    lw = rng.normal(0.0, sd, n) if sd else np.full(n, rng.normal())
    lw[rng.random(n) < p_zero] = -INF
    lw[rng.integers(n)] = 0.0
    u = rng.random(uniform_count(scheme, lw, m))
    assert_valid(assert_same(scheme, lw, uniforms=u, size=m), lw, m)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("sd", [0.0, 1.0, 3.0])
def test_large_arrays_match(scheme, sd):
    rng = np.random.default_rng(7)
    n = 100_003
    lw = rng.normal(0.0, sd, n)
    lw[::11] = -INF
    for m in (n, 31_337, 250_000):
        u = rng.random(uniform_count(scheme, lw, m))
        assert_valid(assert_same(scheme, lw, uniforms=u, size=m), lw, m)


@pytest.mark.parametrize("scheme", ["systematic", "stratified"])
@pytest.mark.parametrize("n", [16383, 16384, 16385, 32769])
def test_chunk_boundaries(scheme, n):
    # The grid schemes work in chunks of 16384: put the last positive weight
    # just before, at and after chunk edges, with -inf after it.
    rng = np.random.default_rng(n)
    lw = rng.normal(0.0, 2.0, n)
    for last in (16382, 16383, 16384, n - 1):
        if last >= n:
            continue
        lw2 = lw.copy()
        lw2[last + 1:] = -INF
        for m in (n, 1000):
            u = rng.random(uniform_count(scheme, lw2, m))
            a = assert_same(scheme, lw2, uniforms=u, size=m)
            assert_valid(a, lw2, m)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_single_particle(scheme):
    for m in (1, 5):
        u = np.full(uniform_count(scheme, [2.5], m), ALMOST_ONE)
        for module in (plait.ext, resample_reference):
            assert getattr(module, scheme)([2.5], uniforms=u, size=m).tolist() == [0] * m


@pytest.mark.parametrize("scheme", SCHEMES)
def test_extreme_log_weights(scheme):
    lw = np.array([-INF, 1e300, -1e300, 1e300, -INF])
    for m in (1, 4, 7):
        u = np.random.default_rng(m).random(uniform_count(scheme, lw, m))
        a = assert_same(scheme, lw, uniforms=u, size=m)
        assert set(a.tolist()) <= {1, 3}


@pytest.mark.parametrize("scheme", ["systematic", "stratified", "residual"])
def test_equal_weights_give_each_particle_once(scheme):
    n = 1000
    for lw in (np.zeros(n), np.full(n, -1e300), np.full(n, 123.25)):
        for u in (0.0, 0.5, ALMOST_ONE):
            uniforms = np.full(uniform_count(scheme, lw, n), u)
            for module in (plait.ext, resample_reference):
                a = getattr(module, scheme)(lw, uniforms=uniforms)
                np.testing.assert_array_equal(a, np.arange(n))


def test_zero_weights_at_the_end_are_never_chosen():
    lw = np.array([0.0, 0.0, 0.0, -INF, -INF])
    for scheme in SCHEMES:
        for m in (1, 3, 10):
            u = np.full(uniform_count(scheme, lw, m), ALMOST_ONE)
            a = assert_same(scheme, lw, uniforms=u, size=m)
            assert_valid(a, lw, m)
            if scheme in ("systematic", "stratified"):
                assert a[-1] == 2  # the last point, just below 1, goes to the last particle


def test_known_systematic_and_stratified_values():
    lw = np.log([0.1, 0.2, 0.3, 0.4])
    for module in (plait.ext, resample_reference):
        assert module.systematic(lw, uniforms=[0.5]).tolist() == [1, 2, 3, 3]
        assert module.systematic(lw, uniforms=[0.05], size=10).tolist() == [
            0, 1, 1, 2, 2, 2, 3, 3, 3, 3]
        assert module.stratified(lw, uniforms=[0.0, 0.9, 0.0, 0.9]).tolist() == [0, 2, 2, 3]


# --- statistical properties -------------------------------------------------

WEIGHTS = np.array([0.02, 0.13, 0.3, 0.005, 0.2, 0.345])


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("m", [6, 17])
def test_offspring_counts_are_unbiased(scheme, m):
    lw = np.log(WEIGHTS)
    rng = np.random.default_rng(20261122)
    draws = 4000
    counts = np.array([
        np.bincount(getattr(plait.ext, scheme)(lw, rng=rng, size=m), minlength=WEIGHTS.size)
        for _ in range(draws)
    ])
    assert np.all(counts.sum(axis=1) == m)
    mean = counts.mean(axis=0)
    se = counts.std(axis=0, ddof=1) / np.sqrt(draws)
    expected = m * WEIGHTS
    assert np.all(np.abs(mean - expected) <= 4 * se + 1e-9), (mean, expected, se)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(1, 30), st.integers(1, 80), st.integers(0, 2**32 - 1))
def test_offspring_count_bounds(n, m, seed):
    rng = np.random.default_rng(seed)
    lw = rng.normal(0.0, 2.0, n)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    expected = m * w
    lo, hi = np.floor(expected - 1e-9), np.ceil(expected + 1e-9)

    # Systematic: each count is floor or ceil of M w.
    count = np.bincount(plait.ext.systematic(lw, rng=rng, size=m), minlength=n)
    assert np.all((count >= lo) & (count <= hi))

    # Stratified: one point per cell, so at most one more or one fewer.
    count = np.bincount(plait.ext.stratified(lw, rng=rng, size=m), minlength=n)
    assert np.all((count >= lo - 1) & (count <= hi + 1))

    # Residual: floor(M w) each, as the reference computes it, plus R = M -
    # sum(floor(M w)) more drawn at random; one particle may receive several
    # of these, so there is no ceil bound.
    e = np.exp(lw - lw.max())
    floors = np.floor(e * (m / np.cumsum(e)[-1])).astype(np.int64)
    k = plait.ext.residual_uniform_count(lw, size=m)
    count = np.bincount(plait.ext.residual(lw, rng=rng, size=m), minlength=n)
    assert np.all(count >= floors)
    assert count.sum() == m
    assert np.sum(count - floors) == (k - 1 if k else 0)


# --- randomness: rng= and uniforms= agree -------------------------------------


@pytest.mark.parametrize("module", [plait.ext, resample_reference])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("m", [None, 1, 7, 40])
def test_rng_and_uniforms_agree(module, scheme, m):
    lw = np.random.default_rng(3).normal(0.0, 1.5, 25)
    lw[4] = -INF
    func = getattr(module, scheme)
    rng1, rng2 = np.random.default_rng(99), np.random.default_rng(99)
    a = func(lw, rng=rng1, size=m)
    k = uniform_count(scheme, lw, lw.size if m is None else m)
    b = func(lw, uniforms=rng2.random(k), size=m)
    np.testing.assert_array_equal(a, b)
    assert rng1.random() == rng2.random()  # both consumed exactly k uniforms


@pytest.mark.parametrize("scheme", SCHEMES)
def test_rng_path_matches_reference(scheme):
    lw = np.random.default_rng(5).normal(0.0, 1.0, 500)
    a = getattr(plait.ext, scheme)(lw, rng=np.random.default_rng(1), size=321)
    b = getattr(resample_reference, scheme)(lw, rng=np.random.default_rng(1), size=321)
    np.testing.assert_array_equal(a, b)


def test_failed_call_consumes_no_randomness():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError):
        plait.ext.systematic([NAN, 0.0], rng=rng)
    assert rng.random() == np.random.default_rng(4).random()


def test_residual_uniform_count():
    for module in (plait.ext, resample_reference):
        assert module.residual_uniform_count([0.0] * 4) == 0
        assert module.residual_uniform_count([0.0] * 4, size=6) == 3  # R = 2
        assert module.residual_uniform_count(np.log([0.5, 0.25, 0.25]), size=4) == 0
    lw = np.random.default_rng(0).normal(size=200)
    assert plait.ext.residual_uniform_count(lw) == resample_reference.residual_uniform_count(lw)


# --- errors ------------------------------------------------------------------


ERROR_CASES = [
    (dict(lw=[-INF, -INF], uniforms=[0.5]), ValueError, r"all weights are zero"),
    (dict(lw=[0.0, NAN, NAN], uniforms=[0.5]), ValueError, "NaN at index 1"),
    (dict(lw=[INF, NAN], uniforms=[0.5]), ValueError, "NaN at index 1"),
    (dict(lw=[0.0, -INF, INF], uniforms=[0.5]), ValueError, r"index 2 is \+inf"),
    (dict(lw=[], uniforms=[0.5]), ValueError, "empty"),
    (dict(lw=np.zeros((2, 2)), uniforms=[0.5]), ValueError, "1-D"),
    (dict(lw=[0.0, 1.0]), ValueError, "exactly one of rng= and uniforms="),
    (dict(lw=[0.0, 1.0], uniforms=[0.5], rng=np.random.default_rng(0)), ValueError,
     "exactly one of rng= and uniforms="),
    (dict(lw=[0.0, 1.0], rng=np.random.RandomState(0)), TypeError, "numpy.random.Generator"),
    (dict(lw=[0.0, 1.0], uniforms=[0.5], size=0), ValueError, "positive integer"),
    (dict(lw=[0.0, 1.0], uniforms=[0.5], size=-3), ValueError, "positive integer"),
    (dict(lw=[0.0, 1.0], uniforms=[0.5], size=2.5), TypeError, "positive integer"),
]


@pytest.mark.parametrize("module", [plait.ext, resample_reference])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
def test_errors(module, scheme, case):
    kwargs, exc, pattern = ERROR_CASES[case]
    kwargs = dict(kwargs)
    lw = kwargs.pop("lw")
    if "rng" in kwargs and isinstance(kwargs["rng"], np.random.Generator):
        kwargs["rng"] = np.random.default_rng(0)  # fresh: the cases list is shared
    with pytest.raises(exc, match=pattern):
        getattr(module, scheme)(lw, **kwargs)
    kwargs = dict(ERROR_CASES[case][0])
    kwargs.pop("lw")
    if isinstance(kwargs.get("rng"), np.random.Generator):
        kwargs["rng"] = np.random.default_rng(0)
    if module is plait.ext:
        assert_same(scheme, lw, **kwargs)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_uniform_errors(scheme):
    lw = [0.0, 1.0, 2.0]
    k = uniform_count(scheme, lw, 5)
    if k == 0:
        k_bad = 1
    else:
        k_bad = k + 1
    for module in (plait.ext, resample_reference):
        func = getattr(module, scheme)
        with pytest.raises(ValueError, match=f"needs {k} uniforms, got an array of shape"):
            func(lw, uniforms=np.zeros(k_bad), size=5)
        with pytest.raises(ValueError, match="needs"):
            func(lw, uniforms=np.zeros((1, max(k, 1))), size=5)
        if k:
            for bad in (1.0, -0.25, NAN, INF):
                u = np.full(k, 0.5)
                u[k - 1] = bad
                with pytest.raises(ValueError, match=rf"\[0, 1\): uniforms\[{k - 1}\] = "):
                    func(lw, uniforms=u, size=5)
    for bad_u in (np.zeros(k_bad), np.full(max(k, 1), 1.0)):
        assert_same(scheme, lw, uniforms=bad_u, size=5)


# --- input conversion ---------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a[::2],
        lambda a: a.reshape(2, -1)[:, 1],
        lambda a: a.astype(np.float32),
        lambda a: np.round(a).astype(np.int64),
        lambda a: a.tolist(),
        lambda a: tuple(np.round(a).astype(int).tolist()),
        lambda a: np.frombuffer(a.tobytes()),
    ],
)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_array_likes_are_accepted(make, scheme):
    lw = make(np.random.default_rng(1).normal(0.0, 2.0, 40))
    as_float64 = np.array(lw, dtype=np.float64)
    m = 23
    u_base = np.random.default_rng(2).random(2 * (m + 1))
    k = uniform_count(scheme, as_float64, m)
    u_strided = u_base[: 2 * k : 2]  # non-contiguous uniforms
    got = getattr(plait.ext, scheme)(lw, uniforms=u_strided, size=np.int32(m))
    want = getattr(plait.ext, scheme)(as_float64, uniforms=u_strided.copy(), size=m)
    np.testing.assert_array_equal(got, want)
    assert_same(scheme, lw, uniforms=u_strided.tolist(), size=m)


def test_systematic_accepts_a_scalar_uniform():
    for module in (plait.ext, resample_reference):
        assert module.systematic([0.0, 0.0], uniforms=0.25).tolist() == [0, 1]


def test_inputs_are_not_modified():
    lw = np.array([0.0, -1.0, -INF, 2.0])
    u = np.random.default_rng(0).random(5)
    before, ubefore = lw.copy(), u.copy()
    plait.ext.multinomial(lw, uniforms=u)
    plait.ext.stratified(lw, uniforms=u[:4])
    plait.ext.systematic(lw, uniforms=u[:1])
    plait.ext.residual(lw, uniforms=u[: plait.ext.residual_uniform_count(lw)])
    np.testing.assert_array_equal(lw, before)
    np.testing.assert_array_equal(u, ubefore)


# --- log_evidence_increment ------------------------------------------------------


@settings(max_examples=200, deadline=None, derandomize=True)
@given(log_weight_arrays)
def test_log_evidence_increment_matches_reference(lw):
    got = outcome(plait.ext.log_evidence_increment, lw)
    want = outcome(resample_reference.log_evidence_increment, lw)
    assert got[0] == want[0]
    if got[0] == "error":
        assert got == want
    else:
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("module", [plait.ext, resample_reference])
def test_log_evidence_increment_values(module):
    f = module.log_evidence_increment
    assert f([0.0, 0.0, 0.0, 0.0]) == pytest.approx(0.0, abs=1e-15)
    assert f(np.log([1.0, 3.0])) == pytest.approx(np.log(2.0))
    assert f([-INF, -INF]) == -INF
    assert f([0.0, INF]) == INF
    assert f([1e300, 1e300]) == 1e300
    with pytest.raises(ValueError, match="NaN at index 1"):
        f([0.0, NAN])
    with pytest.raises(ValueError, match="empty"):
        f([])


# --- resample_generic --------------------------------------------------------------


class Tagged:
    """A tiny non-float number: a value that carries a tag through subtraction."""

    __slots__ = ("value", "tag")

    def __init__(self, value, tag):
        self.value, self.tag = value, tag

    def __sub__(self, other):
        return Tagged(self.value - float(other), self.tag)


@pytest.mark.parametrize("module", [plait.ext, resample_reference])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_resample_generic_with_floats(module, scheme):
    lw = np.random.default_rng(8).normal(0.0, 2.0, 30)
    lw[3] = -INF
    for m in (30, 11):
        k = uniform_count(scheme, lw, m)
        u = np.random.default_rng(m).random(k)
        a, w = module.resample_generic(lw, lw, scheme, uniforms=u, size=m)
        np.testing.assert_array_equal(a, getattr(module, scheme)(lw, uniforms=u, size=m))
        # Float weights equal to their primal: every child gets the average weight.
        np.testing.assert_allclose(w, plait.ext.logsumexp(lw) - np.log(m), rtol=1e-12, atol=1e-12)
        assert w.dtype == np.float64


def test_resample_generic_compiled_matches_reference():
    rng = np.random.default_rng(12)
    primal = rng.normal(0.0, 1.0, 50)
    weights = primal + rng.normal(0.0, 0.1, 50)
    for scheme in SCHEMES:
        a1, w1 = plait.ext.resample_generic(weights, primal, scheme, rng=np.random.default_rng(3))
        a2, w2 = resample_reference.resample_generic(weights, primal, scheme,
                                                     rng=np.random.default_rng(3))
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_allclose(w1, w2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("module", [plait.ext, resample_reference])
def test_resample_generic_keeps_the_number_type(module):
    primal = np.log([0.1, 0.6, 0.3])
    weights = np.array([Tagged(v, f"p{i}") for i, v in enumerate(primal)], dtype=object)
    a, w = module.resample_generic(weights, primal, "systematic", uniforms=[0.5], size=4)
    assert a.tolist() == [1, 1, 1, 2]
    assert w.dtype == object
    assert [x.tag for x in w] == ["p1", "p1", "p1", "p2"]
    lse = plait.ext.logsumexp(primal)
    np.testing.assert_allclose([x.value for x in w], lse - np.log(4), rtol=1e-12)


@pytest.mark.parametrize("module", [plait.ext, resample_reference])
def test_resample_generic_unbiased(module):
    # E[sum_children exp(child weight) f(child)] = sum_parents exp(weight) f(parent),
    # also when the weights differ from the primal used for resampling.
    primal = np.log([0.5, 0.3, 0.2])
    weights = np.log([0.2, 0.3, 0.5])
    f = np.array([1.0, 2.0, 4.0])
    rng = np.random.default_rng(0)
    draws = 4000
    est = np.empty(draws)
    for t in range(draws):
        a, w = module.resample_generic(weights, primal, "multinomial", rng=rng, size=5)
        est[t] = np.sum(np.exp(w) * f[a])
    truth = np.sum(np.exp(weights) * f)
    assert abs(est.mean() - truth) <= 4 * est.std(ddof=1) / np.sqrt(draws)


@pytest.mark.parametrize("module", [plait.ext, resample_reference])
def test_resample_generic_errors(module):
    with pytest.raises(ValueError, match="unknown resampling scheme 'bogus'"):
        module.resample_generic([0.0], [0.0], "bogus", uniforms=[0.5])
    with pytest.raises(ValueError, match="differ in shape"):
        module.resample_generic([0.0, 1.0], [0.0], "systematic", uniforms=[0.5])
    with pytest.raises(ValueError, match="exactly one"):
        module.resample_generic([0.0], [0.0], "systematic")


# --- systematic: the fused walk at sizes where its recount matters; out= ----------


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0])
def test_systematic_matches_the_reference_on_large_populations(scale):
    # Large N: the walk runs on the pairwise total and recounts the particles
    # near a step with the sequential one; the ancestors stay the reference's.
    rng = np.random.default_rng(5)
    lw = rng.normal(size=200_000) * scale
    for u in (0.0, 0.5, float(rng.random())):
        np.testing.assert_array_equal(
            plait.ext.systematic(lw, uniforms=[u]), resample_reference.systematic(lw, uniforms=[u]))


def test_systematic_writes_into_out():
    lw = np.log([0.1, 0.2, 0.3, 0.4])
    out = np.full(6, -1, dtype=np.int64)
    assert plait.ext.systematic(lw, uniforms=[0.3], size=6, out=out) is out
    np.testing.assert_array_equal(out, resample_reference.systematic(lw, uniforms=[0.3], size=6))
    with pytest.raises(ValueError, match="out must be a writeable contiguous int64 array"):
        plait.ext.systematic(lw, uniforms=[0.3], out=np.empty(4, dtype=np.int32))

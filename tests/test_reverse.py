"""Reverse mode: every rule against forward mode, random compositions (CHAD-style), nesting, memory."""

from __future__ import annotations

import gc
import math
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.special as sc
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_dual_rules import BINARY, FUNCTIONS, KINKS, PERIODIC, SECOND_ONLY, UNARY, values

import plait.gradients as G
from plait.errors import NoDerivativeRuleError, PerturbationEscapeError
from plait.gradients import (
    custom_vjp,
    diff,
    du,
    grad,
    grad_forward,
    hessian,
    hessian_product,
    jacfwd,
    jacobian,
    jacrev,
    stop_gradient,
    value_and_grad,
    vjp,
)
from plait.gradients.dual import FUNCTION_RULES, UFUNC_RULES
from plait.gradients.reverse import Reverse
from plait.gradients.reverse_rules import missing_rules

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
H = 1e-5


def same_jacobian(f, args, fd=False):
    """Forward and reverse Jacobians of ``f(*args)`` agree to rounding; returns the forward one.

    With ``fd``, the reverse Jacobian also matches central finite differences.
    """
    x = tuple(np.asarray(a, dtype=float) for a in args)
    fwd = jacfwd(lambda v: f(*v), x)
    rev = jacrev(lambda v: f(*v), x)
    for a, b in zip(_leaves(fwd), _leaves(rev)):
        scale = max(1.0, float(np.max(np.abs(a), initial=0.0)))
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * scale)
    if fd:
        sizes = [a.size for a in x]
        flat = np.concatenate([a.ravel() for a in x])

        def g(v):
            parts = np.split(v, np.cumsum(sizes)[:-1])
            return f(*[p.reshape(a.shape) for p, a in zip(parts, x)])

        num = central(g, flat)
        got = np.concatenate([np.reshape(b, np.shape(num)[:-1] + (-1,)) for b in _leaves(rev)], axis=-1)
        scale = max(1.0, float(np.max(np.abs(num), initial=0.0)))
        np.testing.assert_allclose(got, num, rtol=0, atol=1e-6 * scale)
    return fwd


def _leaves(t):
    if isinstance(t, (tuple, list)):
        return [leaf for v in t for leaf in _leaves(v)]
    return [np.asarray(t)]


def central(f, x):
    """The Jacobian of ``f`` at the vector ``x`` by central differences, shape ``out + (n,)``."""
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = H
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * H))
    return np.stack(cols, axis=-1)


# -- every rule has a reverse rule, and it agrees with the forward one ----------------------------

def test_every_forward_rule_has_a_reverse_rule():
    assert missing_rules() == []
    assert set(UFUNC_RULES) <= set(G.reverse.UFUNC_VJPS)
    assert set(FUNCTION_RULES) <= set(G.reverse.FUNCTION_VJPS)


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data())
def test_unary_rules_reverse_equals_forward(ufunc, data):
    shape = data.draw(st.sampled_from([(), (3,), (2, 3)]))
    same_jacobian(ufunc, [data.draw(values(shape, UNARY[ufunc]))], fd=True)


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data())
def test_binary_rules_reverse_equals_forward_with_broadcasting(ufunc, data):
    shapes = data.draw(st.sampled_from([((), (3,)), ((2, 1), (3,)), ((2, 3), (2, 3)), ((3,), ())]))
    a = data.draw(values(shapes[0], BINARY[ufunc][0]))
    b = data.draw(values(shapes[1], BINARY[ufunc][1]))
    away = np.all(np.abs(np.subtract(a, b)) > 1e-3)
    same_jacobian(ufunc, [a, b], fd=away or ufunc not in KINKS)  # ties: no finite difference


@pytest.mark.parametrize("ufunc", list(SECOND_ONLY) + list(PERIODIC), ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data())
def test_one_argument_rules_reverse_equals_forward(ufunc, data):
    domains = {**SECOND_ONLY, **PERIODIC}[ufunc]
    a = data.draw(values((3,), domains[0]))
    b = data.draw(values((3,), domains[1]))
    q = a / b
    smooth = ufunc not in PERIODIC or (np.all(np.abs(q - np.round(q)) > 0.05) and np.all(np.abs(q) > 0.05))
    same_jacobian(lambda v: ufunc(a, v), [b], fd=bool(smooth))


@pytest.mark.parametrize("name", list(FUNCTIONS))
@SETTINGS
@given(data=st.data())
def test_function_rules_reverse_equals_forward(name, data):
    f, shapes, domain = FUNCTIONS[name]
    args = [data.draw(values(s, domain)) for s in shapes]
    if name in ("max", "min", "sort"):
        x = args[0]
        order = data.draw(st.permutations(range(x.size)))
        args = [np.reshape(np.asarray(order) * 0.1 + x.ravel() * 1e-2, x.shape)]
    clip_kink = name == "clip" and np.any(np.abs(np.abs(args[0]) - 0.5) < 1e-3)
    same_jacobian(f, args, fd=not clip_kink)


def test_prod_cumprod_and_ties_in_reverse():
    x = np.array([2.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(grad(np.prod, x), [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad(np.prod, np.array([2.0, 0.0, 3.0])), [0.0, 6.0, 0.0])
    np.testing.assert_array_equal(grad(lambda v: np.multiply.reduce(v), np.array([2.0, 5.0])), [5.0, 2.0])
    np.testing.assert_array_equal(grad(np.max, np.array([1.0, 3.0, 3.0])), [0.0, 0.5, 0.5])
    same_jacobian(np.cumprod, [x])
    same_jacobian(lambda v: np.add.accumulate(v), [x])


def test_unknown_function_is_refused_in_reverse():
    with pytest.raises(NoDerivativeRuleError, match="reverse"):
        grad(lambda v: np.sum(np.unwrap(v)), np.ones(3))
    with pytest.raises(NoDerivativeRuleError, match="reverse"):
        grad(lambda v: np.sum(np.spacing(v) * 0 + np.frexp(v)[0]), np.ones(3))


# -- CHAD-style: random compositions of the rule table ------------------------------------------

# (name, function of one vector of 3 entries in [0.2, 0.9]) keeping values moderate
UNARY_STEPS = [
    ("sin", np.sin), ("cos", np.cos), ("tanh", np.tanh), ("arctan", np.arctan),
    ("exp_half", lambda v: np.exp(0.5 * v)), ("log1p_sq", lambda v: np.log1p(v * v)),
    ("sqrt_1p", lambda v: np.sqrt(1.0 + v * v)), ("expit", sc.expit), ("erf", sc.erf),
    ("softplus", lambda v: np.logaddexp(0.0, v)), ("square", np.square),
    ("gammaln", lambda v: sc.gammaln(1.5 + v * v)), ("log_ndtr", sc.log_ndtr),
    ("flip", lambda v: v[::-1]), ("cumsum", lambda v: np.cumsum(v) / 3.0),
    ("roll_index", lambda v: v[[1, 2, 0]]), ("sort", lambda v: np.sort(v)),
    ("outer_sum", lambda v: np.sum(np.outer(v, v), axis=0) / 3.0),
    ("matvec", lambda v: np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.7]]) @ v),
    ("where", lambda v: np.where(np.array([True, False, True]), np.sin(v), v * v)),
    ("softmax", lambda v: G.softmax(v)), ("concat_head", lambda v: np.concatenate([v[:1] * 2.0, v[1:]])),
    ("stack_mean", lambda v: np.mean(np.stack([v, v * v]), axis=0)),
    ("einsum", lambda v: np.einsum("i,i,j->j", v, v, v) / 3.0),
    ("reshape_T", lambda v: np.reshape(np.concatenate([v, v * v]), (2, 3)).T[:, 1]),
    ("solve", lambda v: np.linalg.solve(np.eye(3) * (2.0 + v) + 0.1, v)),
    ("logdet_scale", lambda v: v * np.linalg.slogdet(np.eye(3) * 2.0 + np.outer(v, v))[1]),
    ("cholesky_diag", lambda v: np.diagonal(np.linalg.cholesky(np.outer(v, v) + 2.0 * np.eye(3)))),
]
BINARY_STEPS = [
    ("add", np.add), ("mul", np.multiply), ("div", lambda a, b: a / (1.5 + b * b)),
    ("hypot", np.hypot), ("logaddexp", np.logaddexp), ("pow", lambda a, b: (1.1 + a * a) ** np.cos(b)),
    ("arctan2", lambda a, b: np.arctan2(a, 1.0 + b * b)), ("xlogy", lambda a, b: sc.xlogy(a, 1.0 + b * b)),
]
REDUCE_STEPS = [
    ("sum", np.sum), ("mean", np.mean), ("logsumexp", G.logsumexp), ("prod", np.prod),
    ("norm2", lambda v: np.sqrt(np.sum(v * v))), ("dot_self", lambda v: np.dot(v, v)),
]


@st.composite
def programs(draw):
    steps = draw(st.lists(st.one_of(
        st.tuples(st.just(1), st.sampled_from(range(len(UNARY_STEPS)))),
        st.tuples(st.just(2), st.sampled_from(range(len(BINARY_STEPS))), st.integers(0, 4)),
    ), min_size=1, max_size=6))
    reduce = draw(st.one_of(st.none(), st.sampled_from(range(len(REDUCE_STEPS)))))
    return steps, reduce


def build(steps, reduce):
    def f(x):
        history = [x]
        v = x
        for step in steps:
            if step[0] == 1:
                v = UNARY_STEPS[step[1]][1](v)
            else:
                other = history[step[2] % len(history)]
                v = BINARY_STEPS[step[1]][1](v, other)
            v = np.tanh(v)  # keeps every intermediate in (-1, 1): no overflow, stable FD
            history.append(v)
        return v if reduce is None else REDUCE_STEPS[reduce][1](v)

    return f


@settings(max_examples=200, deadline=None, derandomize=True)
@given(program=programs(), x=values((3,), (0.2, 0.9)))
def test_random_compositions_forward_equals_reverse_equals_finite_differences(program, x):
    assume(np.unique(x).size == x.size)  # ties put sort's kinks under the finite differences
    f = build(*program)
    fwd = same_jacobian(f, [x])[0]
    np.testing.assert_allclose(fwd, central(f, x), rtol=1e-5, atol=1e-7)
    # vjp/jvp adjointness: <w, J v> = <J^T w, v>
    y, pullback = vjp(f, x)
    w = np.cos(np.arange(np.size(y)) + 1.0).reshape(np.shape(y))
    v = np.sin(np.arange(3) + 2.0)
    assert abs(np.sum(w * du(f, x, v)) - np.sum(pullback(w) * v)) < 1e-12 * max(1.0, np.max(np.abs(fwd)))
    assert np.array_equal(np.asarray(y), np.asarray(f(x)))  # the primal is plain numpy's


def test_every_step_is_drawn_somewhere():
    # The composition test samples these tables; each entry must run in reverse on its own too.
    x = np.array([0.3, 0.5, 0.7])
    for _, f in UNARY_STEPS:
        same_jacobian(f, [x])
    for _, f in BINARY_STEPS:
        same_jacobian(lambda v: f(v, v[::-1]), [x])
    for _, f in REDUCE_STEPS:
        same_jacobian(f, [x])


# -- the ad README examples, through the reverse path -------------------------------------------

def test_readme_examples_through_reverse():
    assert jacrev(np.sin, 0.0) == 1.0
    for point in ([1.0, 2.0, 3.0], [0.3, 0.7, -2.0], [-1.5, 4.0, 0.0]):
        x, y, _ = point
        u = x + math.log(y)
        expected = [math.sin(u) + math.cos(u) * x, math.cos(u) * x / y, 0.0]
        got = grad(lambda v: v[0] * np.sin(v[0] + np.log(v[1])), np.array(point))
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-15)
    f = lambda v: np.exp(v[0] * v[1])  # noqa: E731
    e = math.exp(2.0)
    value, g = value_and_grad(f, np.array([1.0, 2.0]))
    assert value == e
    np.testing.assert_allclose(g, [2 * e, e], rtol=1e-15)
    expected_h = [[4 * e, 3 * e], [3 * e, e]]
    np.testing.assert_allclose(hessian(f, np.array([1.0, 2.0])), expected_h, rtol=1e-15)
    # reverse over reverse gives the same Hessian
    np.testing.assert_allclose(jacrev(lambda z: grad(f, z), np.array([1.0, 2.0])), expected_h, rtol=1e-15)


# -- absorbing zeros, kinks, where ---------------------------------------------------------------

def test_absorbing_zeros_in_reverse():
    np.testing.assert_array_equal(grad(lambda v: v[0] + np.sqrt(v[1]), np.array([1.0, 0.0])), [1.0, np.inf])
    g = grad(lambda v: np.sqrt(v[0] * v[1]), np.array([1.0, 0.0]))
    assert g[0] == 0.0 and g[1] == np.inf
    np.testing.assert_array_equal(grad(lambda v: v[0] ** v[1], np.array([0.0, 2.0])), [0.0, 0.0])
    with warnings.catch_warnings():  # the VJP code itself never warns
        warnings.simplefilter("error")
        assert grad(lambda x: np.where(x > 0, np.sqrt(np.abs(x)), 0.0), 0.0) == 0.0
        assert grad(lambda x: np.where(x > 0, np.where(x > 1, np.sqrt(np.abs(x - 1.0)), 0.0), x), 1.0) == 0.0
        np.testing.assert_array_equal(
            grad(lambda v: np.sum(np.where(v > 0, np.sqrt(np.abs(v)), 0.0)), np.array([0.0, 4.0])), [0.0, 0.25])


def test_kink_conventions_in_reverse():
    assert grad(np.abs, 0.0) == 0.0
    assert grad(lambda x: np.maximum(x, 0.0), 0.0) == 0.5
    assert grad(lambda x: np.maximum(x, x), 1.0) == 1.0
    assert grad(lambda x: np.clip(x, 0.0, 1.0), 1.0) == 0.5
    assert grad(lambda x: np.floor(x) * 1.0 + 0.0 * x, 1.3) == 0.0


def test_types_shapes_and_dtypes_match_forward():
    for x in (2.0, 3, np.array([1.0, 2.0]), (1.0, np.ones((2, 2))), {"a": 1.0, "b": np.arange(3.0)}):
        f = lambda p: sum(np.sum(np.sin(v) * v) for v in G.api._flatten(p)[0])  # noqa: E731
        r, fw = grad(f, x), grad_forward(f, x)
        for a, b in zip(G.api._flatten(r)[0], G.api._flatten(fw)[0]):
            assert type(a) is type(b) and np.shape(a) == np.shape(b)
            np.testing.assert_allclose(a, b, rtol=1e-15)
    assert grad(lambda v: np.sum(v * v), np.ones(2, dtype=np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="boolean"):
        grad(lambda v: v, True)
    with pytest.raises(TypeError, match="jacobian"):
        grad(lambda v: v * 2.0, np.ones(2))
    np.testing.assert_array_equal(grad(lambda v: 1.0, np.ones(3)), np.zeros(3))


def test_jacobian_chooses_the_mode_and_agrees():
    wide = lambda v: np.array([np.sum(v), np.prod(v)])  # noqa: E731  (2 outputs, 4 inputs: reverse)
    tall = lambda v: np.outer(v, v).ravel()  # noqa: E731  (9 outputs, 3 inputs: forward)
    for f, x in ((wide, np.arange(1.0, 5.0)), (tall, np.arange(1.0, 4.0))):
        np.testing.assert_allclose(jacobian(f, x), jacfwd(f, x), rtol=1e-15)
        np.testing.assert_allclose(jacobian(f, x), jacrev(f, x), rtol=1e-15)


def test_hessian_product_and_vjp():
    f = lambda v: np.sum(v ** 3) * np.sum(np.sin(v))  # noqa: E731
    x = np.array([0.3, -1.2, 0.8])
    h = jacfwd(lambda z: grad_forward(f, z), x)
    np.testing.assert_allclose(hessian(f, x), h, rtol=1e-13)
    v = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(hessian_product(f, x, v), h @ v, rtol=1e-13)
    y, pullback = vjp(lambda z: (z * 2.0, np.sum(z)), x)
    np.testing.assert_allclose(pullback((np.ones(3), 1.0)), [3.0, 3.0, 3.0])


def test_custom_vjp_and_stop_gradient():
    @custom_vjp
    def f(x):
        return np.sin(x)

    f.defvjp(lambda x: (np.sin(x), np.cos(x)), lambda cos_x, g: (2.0 * g * cos_x,))
    assert grad(lambda x: f(x), 0.0) == 2.0  # the hand-written rule
    assert diff(lambda x: f(x), 0.0) == 1.0  # forward mode differentiates the body
    assert grad(lambda x: x * stop_gradient(x), 3.0) == 3.0
    got = {}
    grad(lambda x: got.setdefault("v", stop_gradient(x * x)) + x, 3.0)
    assert type(got["v"]) is np.float64


# -- nesting and perturbation confusion, for each pairing ----------------------------------------

OUTER_INNER = [("rev", "rev"), ("rev", "fwd"), ("fwd", "rev"), ("fwd", "fwd")]
D = {"rev": lambda f, x: grad(f, x), "fwd": lambda f, x: diff(f, x)}


@pytest.mark.parametrize("outer,inner", OUTER_INNER)
@pytest.mark.parametrize("x", [1.0, -2.5, 4.0])
def test_perturbation_confusion_each_pairing(outer, inner, x):
    do, di = D[outer], D[inner]
    assert do(lambda x: x * di(lambda y: x + y, 1.0), x) == 1.0
    assert do(lambda x: x * di(lambda y: x * y, 1.0), x) == 2 * x
    twice = do(lambda x: di(lambda y: x * y, 1.0) + di(lambda y: x * y * y, 1.0), 3.0)
    assert twice == 3.0


@pytest.mark.parametrize("outer,inner", OUTER_INNER)
def test_gradient_of_a_nested_derivative_each_pairing(outer, inner):
    v = np.array([1.0, 2.0, 2.0])
    go = {"rev": grad, "fwd": grad_forward}[outer]
    di = D[inner]
    g = go(lambda w: np.sum(w) * di(lambda y: y * np.sqrt(np.sum(w * w)), 1.0), v)
    n = np.sqrt(np.sum(v * v))
    np.testing.assert_allclose(g, n + np.sum(v) * v / n, rtol=1e-15)


def test_third_derivative_mixing_modes():
    t = math.tanh(2.0)
    expected = -2 * (1 - t * t) * (1 - 3 * t * t)
    for a, b, c in ((grad, grad, grad), (diff, grad, diff), (grad, diff, grad)):
        got = a(lambda x: b(lambda y: c(np.tanh, y), x), 2.0)
        assert abs(got - expected) < 1e-14


def test_escaped_reverse_value_raises():
    box = []
    grad(lambda x: box.append(x) or x * 2.0, 1.0)
    with pytest.raises(PerturbationEscapeError):
        box[0] * 3.0
    with pytest.raises(PerturbationEscapeError):
        diff(lambda y: grad(lambda x: box[0] * x, 1.0) * y, 1.0)


def test_reverse_values_refuse_float_and_item_assignment():
    def f(x):
        assert type(x) is Reverse
        with pytest.raises(TypeError, match="drop its derivative"):
            float(x)
        with pytest.raises(TypeError):
            x[0] = 1.0
        return np.sum(x)

    grad(f, np.ones(2))


# -- memory: the tape goes away with the gradient -------------------------------------------------

def test_tape_is_freed_and_peak_memory_stays_flat():
    x = np.linspace(0.1, 1.0, 20)

    def f(v):
        return np.sum(np.sin(v) * np.exp(-v) + np.log1p(v * v)) + v[3] * v[7]

    def run(n):
        for _ in range(n):
            grad(f, x)

    gc.collect()
    tracemalloc.start()
    try:
        run(1000)
        first_current, first_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        run(9000)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= first_peak + 16 * 1024, (first_peak, peak)
    assert current <= first_current + 16 * 1024, (first_current, current)


def test_vjp_pullback_is_linear_and_differentiable_in_the_cotangent():
    x = np.array([0.3, -0.4, 1.2])
    y, pullback = vjp(lambda v: np.sin(v) * v[0], x)
    w1, w2 = np.array([1.0, 2.0, -1.0]), np.array([0.5, 0.0, 3.0])
    np.testing.assert_allclose(pullback(2.0 * w1 - w2), 2.0 * pullback(w1) - pullback(w2), rtol=1e-14)
    # The pullback is linear in w: its Jacobian in w is J^T.
    np.testing.assert_allclose(jacfwd(pullback, w1), jacfwd(lambda v: np.sin(v) * v[0], x).T, rtol=1e-14)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(program=programs(), x=values((3,), (0.2, 0.9)))
def test_random_compositions_hessians_agree_over_all_four_mode_pairings(program, x):
    steps, reduce = program
    f = build(steps, 0 if reduce is None else reduce)  # a scalar function
    ff = jacfwd(lambda z: grad_forward(f, z), x)
    scale = max(1.0, float(np.max(np.abs(ff))))
    for h in (hessian(f, x),  # forward over reverse
              jacrev(lambda z: grad(f, z), x),  # reverse over reverse
              jacrev(lambda z: grad_forward(f, z), x)):  # reverse over forward
        np.testing.assert_allclose(h, ff, rtol=0, atol=1e-10 * scale)


def test_solve_broadcasts_its_batch_axes_in_reverse():
    a = np.array([[2.0, 0.3, 0.1], [0.2, 3.0, 0.5], [0.1, 0.4, 2.5]])
    batch = np.stack([a, a.T])
    same_jacobian(lambda m: np.linalg.solve(m, np.ones((2, 3, 1))), [a], fd=True)  # one A, two b
    same_jacobian(lambda b: np.linalg.solve(batch, b), [np.ones((3, 1))], fd=True)  # two A, one b
    same_jacobian(lambda m, b: np.linalg.solve(m, b), [batch, np.ones((3, 2))], fd=True)


@pytest.mark.parametrize("name", list(FUNCTIONS))
@settings(max_examples=3, deadline=None, derandomize=True)
@given(data=st.data())
def test_function_rules_second_order_in_every_pairing(name, data):
    # The VJPs are differentiable: Hessians through each rule agree over the mode pairings.
    fn, shapes, domain = FUNCTIONS[name]
    args = [data.draw(values(s, domain)) for s in shapes]
    if name in ("max", "min", "sort"):
        x0 = args[0]
        order = data.draw(st.permutations(range(x0.size)))
        args = [np.reshape(np.asarray(order) * 0.1 + x0.ravel() * 1e-2, x0.shape)]
    bounds = np.concatenate([[0], np.cumsum([a.size for a in args])])
    x = np.concatenate([a.ravel() for a in args])

    def f(v):
        parts = [np.reshape(v[bounds[i]:bounds[i + 1]], a.shape) for i, a in enumerate(args)]
        return np.sum(np.sin(fn(*parts)))

    ff = jacfwd(lambda z: grad_forward(f, z), x)
    scale = max(1.0, float(np.max(np.abs(ff))))
    for h in (hessian(f, x), jacrev(lambda z: grad(f, z), x), jacrev(lambda z: grad_forward(f, z), x)):
        np.testing.assert_allclose(h, ff, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("ufunc", list(UNARY) + list(BINARY), ids=lambda u: u.__name__)
@settings(max_examples=3, deadline=None, derandomize=True)
@given(data=st.data())
def test_ufunc_rules_second_order_in_every_pairing(ufunc, data):
    if ufunc in UNARY:
        x = data.draw(values((3,), UNARY[ufunc]))
        f = lambda v: np.sum(np.sin(ufunc(v)))  # noqa: E731
    else:
        da, db = BINARY[ufunc]
        x = np.concatenate([data.draw(values((2,), da)), data.draw(values((2,), db))])
        f = lambda v: np.sum(np.sin(ufunc(v[:2], v[2:])))  # noqa: E731
        if ufunc in KINKS or ufunc is np.copysign:
            return  # piecewise: second derivatives are zero or undefined
    ff = jacfwd(lambda z: grad_forward(f, z), x)
    scale = max(1.0, float(np.max(np.abs(ff))))
    for h in (hessian(f, x), jacrev(lambda z: grad(f, z), x), jacrev(lambda z: grad_forward(f, z), x)):
        np.testing.assert_allclose(h, ff, rtol=0, atol=1e-9 * scale)


def test_reverse_values_come_from_a_tape_only():
    with pytest.raises(TypeError, match="Tape"):
        Reverse(1.0, tag=1)


def test_primal_of_a_reverse_value_is_its_value():
    seen = []
    grad(lambda x: seen.append((G.primal(x), G.tangent(x), G.is_reverse(x), G.is_dual(x))) or x * x, 2.0)
    assert seen == [(2.0, None, True, False)]


def test_indexing_in_a_loop_accumulates_sparse_cotangents():
    x = np.linspace(0.1, 1.0, 6)

    def f(v):
        t = np.sum(v * v) * 0.5  # a dense contribution next to the sparse ones
        for i in range(len(v)):
            t = t + v[i] * v[i] + v[i % 2] + np.sum(v[1:3]) * v[(i + 1) % 6]
        return t + v[..., 0] * np.sum(v[::2])

    same_jacobian(f, [x], fd=True)
    np.testing.assert_allclose(hessian(f, x), jacfwd(lambda z: grad_forward(f, z), x), rtol=1e-12, atol=1e-12)
    m = np.arange(6.0).reshape(2, 3) / 7.0
    same_jacobian(lambda a: sum(a[i, j] * a[1 - i, 2 - j] for i in range(2) for j in range(3)) + a[0][1:].sum(), [m])


# -- plain arrays the caller changes after using them ------------------------------------
DATA = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]])


def _buffer_reused(theta):
    buf = np.zeros(3)
    total = 0.0
    for row in DATA:
        buf[:] = row  # the same array, new values, after each use
        total = total + np.sum(theta * buf)
    return total


def _index_changed(theta):
    index = np.array([0, 1])
    picked = theta[index]
    index[:] = 2
    return np.sum(picked * picked)


def _matrix_zeroed(theta):
    matrix = DATA.copy()
    y = matrix @ theta
    matrix[:] = 0.0
    return np.sum(y)


def _function_argument_changed(theta):
    weights = np.ones(3)
    y = np.dot(weights, theta * theta)
    weights[:] = 5.0
    return y


@pytest.mark.parametrize("f, expected", [
    (_buffer_reused, DATA.sum(axis=0)),
    (_index_changed, np.array([2.0, 4.0, 0.0])),
    (_matrix_zeroed, DATA.sum(axis=0)),
    (_function_argument_changed, np.array([2.0, 4.0, 6.0])),
])
def test_the_backward_pass_sees_plain_arrays_as_the_operation_saw_them(f, expected):
    # The tape keeps copies of writeable plain arrays: changing one afterwards
    # must not change the gradient (it did: a reused buffer gave 3 x its last row).
    theta = np.array([1.0, 2.0, 3.0])
    assert grad(f, theta).tolist() == expected.tolist()
    assert value_and_grad(f, theta)[1].tolist() == expected.tolist()

"""Property tests of every derivative rule against finite differences (see dual_check.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc
from dual_check import H, check
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays, mutually_broadcastable_shapes

import plait.gradients as G
from plait.gradients.dual import UFUNC_RULES

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)

# ufunc -> (domain per argument, which arguments carry tangents or None for all)
U = (-2.0, 2.0)
POS = (0.2, 3.0)
UNARY = {
    np.sin: U, np.cos: U, np.tan: (-1.2, 1.2), np.arcsin: (-0.9, 0.9), np.arccos: (-0.9, 0.9),
    np.arctan: U, np.sinh: U, np.cosh: U, np.tanh: U, np.arcsinh: U, np.arccosh: (1.2, 3.0),
    np.arctanh: (-0.9, 0.9), np.exp: U, np.exp2: U, np.expm1: U, np.log: POS, np.log2: POS,
    np.log10: POS, np.log1p: (-0.8, 3.0), np.sqrt: POS, np.cbrt: POS, np.square: U,
    np.reciprocal: POS, np.absolute: POS, np.fabs: (-3.0, -0.2), np.negative: U,
    np.positive: U, np.conjugate: U, np.deg2rad: U, np.rad2deg: U,
    sc.gammaln: (0.2, 5.0), sc.gamma: (0.3, 4.0), sc.digamma: (0.3, 5.0), sc.erf: U,
    sc.erfc: U, sc.erfcx: (-1.0, 3.0), sc.erfinv: (-0.9, 0.9), sc.expit: (-5.0, 5.0),
    sc.logit: (0.05, 0.95), sc.log_expit: (-5.0, 5.0), sc.ndtr: (-3.0, 3.0),
    sc.log_ndtr: (-5.0, 3.0), sc.ndtri: (0.05, 0.95), sc.log1p: (-0.8, 3.0), sc.expm1: U,
}
BINARY = {
    np.add: (U, U), np.subtract: (U, U), np.multiply: (U, U), np.true_divide: (U, POS),
    np.power: (POS, U), np.float_power: (POS, U), np.arctan2: (POS, U), np.hypot: (POS, U),
    np.logaddexp: (U, U), np.logaddexp2: (U, U), np.maximum: (U, U), np.minimum: (U, U),
    np.fmax: (U, U), np.fmin: (U, U), np.copysign: (POS, POS), sc.xlogy: (U, POS),
    sc.xlog1py: (U, (-0.8, 3.0)), sc.betaln: ((0.3, 5.0), (0.3, 5.0)),
    sc.beta: ((0.5, 4.0), (0.5, 4.0)),
}
# functions differentiable in their second argument only
SECOND_ONLY = {sc.gammainc: ((0.5, 4.0), POS), sc.gammaincc: ((0.5, 4.0), POS),
               sc._ufuncs._zeta: ((2.0, 5.0), POS)}
# discontinuous in the divisor: checked away from the jumps
PERIODIC = {np.remainder: ((0.1, 2.9), (1.1, 1.9)), np.fmod: ((-2.9, 2.9), (1.1, 1.9))}
KINKS = {np.maximum, np.minimum, np.fmax, np.fmin}


def values(shape, domain):
    lo, hi = domain
    return arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False))


def test_every_ufunc_rule_is_tested_here():
    tested = set(UNARY) | set(BINARY) | set(SECOND_ONLY) | set(PERIODIC) | {np.matmul}
    aliases = {np.divide, np.abs, np.conj, np.pow, np.radians, np.degrees, sc.psi, np.mod}
    missing = {getattr(u, "__name__", u) for u in UFUNC_RULES} - {
        getattr(u, "__name__", u) for u in tested | aliases}
    assert not missing, f"rules without a finite-difference test: {sorted(missing)}"


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data())
def test_unary_rules(ufunc, data):
    shape = data.draw(st.sampled_from([(), (3,), (2, 3)]))
    x = data.draw(values(shape, UNARY[ufunc]))
    check(ufunc, [x], np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))))


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data())
def test_binary_rules_with_broadcasting(ufunc, data):
    shapes = data.draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    a = data.draw(values(shapes[0], BINARY[ufunc][0]))
    b = data.draw(values(shapes[1], BINARY[ufunc][1]))
    if ufunc in KINKS:  # central differences straddle a kink unless ties are exact
        gap = np.abs(np.subtract(a, b))
        assume(np.all((gap == 0) | (gap > 8 * H)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    check(ufunc, [a, b], rng)
    check(ufunc, [a, b], rng, differentiable=[0])
    check(ufunc, [a, b], rng, differentiable=[1])


@pytest.mark.parametrize("ufunc", list(SECOND_ONLY) + list(PERIODIC), ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data())
def test_rules_in_one_argument(ufunc, data):
    domains = {**SECOND_ONLY, **PERIODIC}[ufunc]
    a = data.draw(values((3,), domains[0]))
    b = data.draw(values((3,), domains[1]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    if ufunc in PERIODIC:
        q = a / b
        assume(np.all(np.abs(q - np.round(q)) > 0.05) and np.all(np.abs(q) > 0.05))
        check(ufunc, [a, b], rng)
    else:
        check(ufunc, [a, b], rng, differentiable=[1])


# -- reductions, shapes, selection, products, linear algebra ----------------------------------

FUNCTIONS = {
    "sum": (lambda x: np.sum(x), [(2, 3)], U),
    "sum_axis0": (lambda x: np.sum(x, axis=0), [(2, 3)], U),
    "sum_keepdims": (lambda x: np.sum(x, axis=-1, keepdims=True), [(2, 3)], U),
    "add_reduce": (lambda x: np.add.reduce(x), [(2, 3)], U),
    "mean": (lambda x: np.mean(x, axis=(0, 1)), [(2, 3, 2)], U),
    "prod": (lambda x: np.prod(x), [(4,)], U),
    "prod_axis": (lambda x: np.prod(x, axis=1, keepdims=True), [(2, 3)], U),
    "cumsum": (lambda x: np.cumsum(x), [(2, 3)], U),
    "cumsum_axis": (lambda x: np.cumsum(x, axis=0), [(3, 2)], U),
    "cumprod": (lambda x: np.cumprod(x, axis=-1), [(2, 4)], U),
    "max": (lambda x: np.max(x, axis=1), [(3, 4)], U),
    "min": (lambda x: np.min(x), [(3, 4)], U),
    "reshape": (lambda x: np.reshape(x, (3, 2)) * x.T, [(2, 3)], U),
    "transpose": (lambda x: np.transpose(x, (2, 0, 1)) ** 2, [(2, 3, 2)], U),
    "swapaxes": (lambda x: np.swapaxes(x, 0, -1) ** 2, [(2, 3)], U),
    "moveaxis": (lambda x: np.moveaxis(x, 0, -1) ** 2, [(2, 3, 2)], U),
    "squeeze_expand": (lambda x: np.expand_dims(np.squeeze(x), 0) ** 2, [(1, 3)], U),
    "broadcast_to": (lambda x: np.broadcast_to(x, (2, 3)) ** 2, [(3,)], U),
    "ravel": (lambda x: np.ravel(x) ** 3, [(2, 2)], U),
    "concatenate": (lambda x, y: np.concatenate([x, y, np.ones((1, 3))]) ** 2, [(2, 3), (1, 3)], U),
    "concatenate_none": (lambda x, y: np.concatenate([x, y], axis=None), [(2, 2), (3,)], U),
    "stack": (lambda x, y: np.stack([x, y], axis=-1) ** 2, [(2, 3), (2, 3)], U),
    "index_basic": (lambda x: x[1:, ::-1][0] * x[0, 1], [(3, 3)], U),
    "index_advanced": (lambda x: x[[0, 2, 2]] ** 2, [(3, 2)], U),
    "index_mask": (lambda x: x[np.array([True, False, True])] ** 2, [(3,)], U),
    "index_split_advanced": (lambda x: x[[0, 1], :, [1, 0]] ** 2, [(2, 3, 2)], U),
    "take": (lambda x: np.take(x, [2, 0], axis=1) ** 2, [(2, 3)], U),
    "take_along_axis": (lambda x: np.take_along_axis(x, np.array([[1], [0]]), axis=1) ** 2, [(2, 3)], U),
    "diagonal_trace": (lambda x: np.diagonal(x) * np.trace(x), [(3, 3)], U),
    "diff": (lambda x: np.diff(x, axis=0) ** 2, [(3, 2)], U),
    "flip": (lambda x: np.flip(x, 0) * x, [(3,)], U),
    "where": (lambda x, y: np.where(np.array([True, False, True]), x, y) ** 2, [(3,), (2, 3)], U),
    "where_const": (lambda x: np.where(np.array([True, False]), np.sqrt(np.abs(x)), 0.0), [(2,)], POS),
    "clip": (lambda x: np.clip(x, -0.5, 0.5), [(4,)], U),
    "dot": (lambda x, y: np.dot(x, y), [(2, 3), (3,)], U),
    "dot_scalar": (lambda x, y: np.dot(x, y), [(), (3,)], U),
    "matmul_mm": (lambda x, y: x @ y, [(2, 3), (3, 2)], U),
    "matmul_vm": (lambda x, y: x @ y, [(3,), (2, 3, 2)], U),
    "matmul_mv_batched": (lambda x, y: x @ y, [(2, 2, 3), (3,)], U),
    "matmul_vv": (lambda x, y: x @ y, [(3,), (3,)], U),
    "matmul_batched": (lambda x, y: np.matmul(x, y), [(3, 2), (2, 2, 3)], U),
    "einsum": (lambda x, y: np.einsum("ij,jk->ik", x, y), [(2, 3), (3, 2)], U),
    "einsum_implicit": (lambda x, y: np.einsum("ij,j", x, y), [(2, 3), (3,)], U),
    "einsum_ellipsis": (lambda x: np.einsum("...ii->...i", x), [(2, 3, 3)], U),
    "outer_inner": (lambda x, y: np.outer(x, y) * np.inner(x, x), [(2,), (3,)], U),
    "sort": (lambda x: np.sort(x) * np.arange(4.0), [(4,)], U),
    "logsumexp": (lambda x: G.logsumexp(x, axis=-1), [(2, 3)], U),
    "logsumexp_all": (lambda x: G.logsumexp(x + 1000.0), [(4,)], U),
    "vdot": (lambda x, y: np.vdot(x, y), [(2, 2), (2, 2)], U),
    "log_softmax": (lambda x: G.log_softmax(x), [(2, 3)], U),
    "softmax": (lambda x: G.softmax(x, axis=0), [(2, 3)], U),
    "polygamma": (lambda x: G.polygamma(2, x), [(3,)], (0.5, 4.0)),
    "solve_vector": (lambda a, b: np.linalg.solve(a + 3 * np.eye(3), b), [(3, 3), (3,)], (-0.5, 0.5)),
    "solve_matrix": (lambda a, b: np.linalg.solve(a + 3 * np.eye(2), b), [(2, 2), (2, 3)], (-0.5, 0.5)),
    "solve_batched": (lambda a, b: np.linalg.solve(a + 3 * np.eye(2), b), [(2, 2, 2), (2, 2, 1)], (-0.5, 0.5)),
    "inv": (lambda a: np.linalg.inv(a + 3 * np.eye(3)), [(3, 3)], (-0.5, 0.5)),
    "det": (lambda a: np.linalg.det(a + 3 * np.eye(3)), [(3, 3)], (-0.5, 0.5)),
    "det_batched": (lambda a: np.linalg.det(a + 3 * np.eye(2)), [(2, 2, 2)], (-0.5, 0.5)),
    "slogdet": (lambda a: np.linalg.slogdet(a + 3 * np.eye(3))[1], [(3, 3)], (-0.5, 0.5)),
    "cholesky": (lambda b: np.linalg.cholesky(b @ np.swapaxes(b, -1, -2) + 3 * np.eye(3)),
                 [(3, 3)], (-1.0, 1.0)),
    "cholesky_upper": (lambda b: np.linalg.cholesky(b @ b.T + 3 * np.eye(2), upper=True),
                       [(2, 2)], (-1.0, 1.0)),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
@SETTINGS
@given(data=st.data())
def test_function_rules(name, data):
    f, shapes, domain = FUNCTIONS[name]
    args = [data.draw(values(s, domain)) for s in shapes]
    if name in ("max", "min", "sort"):  # distinct entries, or central differences straddle a kink
        x = args[0]
        order = data.draw(st.permutations(range(x.size)))
        args = [np.reshape(np.asarray(order) * 0.1 + x.ravel() * 1e-2, x.shape)]
    if name == "clip":
        assume(np.all(np.abs(np.abs(args[0]) - 0.5) > 8 * H))
    check(f, args, np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))))


@SETTINGS
@given(data=st.data())
def test_prod_and_cumprod_with_zeros(data):
    x = data.draw(values((5,), U))
    zeros = data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=2))
    x[zeros] = 0.0
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    check(np.prod, [x], rng)
    check(lambda v: np.cumprod(v), [x], rng)
    check(lambda v: np.multiply.reduce(v), [x], rng)


def test_cholesky_along_a_symmetric_direction():
    rng = np.random.default_rng(3)
    b = rng.standard_normal((3, 3))
    a = b @ b.T + 3 * np.eye(3)
    check(np.linalg.cholesky, [a], rng, symmetric=[0])

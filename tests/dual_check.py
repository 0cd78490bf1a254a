"""Shared oracle for the derivative-rule tests: finite differences and the three checks.

``check(f, args, rng)`` differentiates ``f`` at ``args`` along ``k = 2``
random directions in one pass and asserts:

1. the primal is bit-identical to ``f`` on plain arrays;
2. each tangent matches a fourth-order central finite difference along that
   direction, within a tolerance derived from the step size;
3. the stacked pass equals ``k`` separate one-direction passes.
"""

from __future__ import annotations

import numpy as np

from plait.gradients import Dual, perturbation, stop_gradient

H = 1e-3  # finite-difference step, along a direction scaled to max-norm 1
EPS = np.finfo(float).eps
# Fourth-order central differences at H and H/2, Richardson-combined to sixth
# order.  Bounding the error as if it were fourth order, truncation ~ H^4 and
# rounding ~ EPS / H, each times the size of the function's higher derivatives
# on the test domains (kept away from singularities), at most ~1e4.
FD_RTOL = 1e4 * (H**4 + EPS / H)


def _central(at, h):
    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


def fd(f, args, dirs):
    """Directional derivative of ``f`` at ``args`` along ``dirs`` (one array per arg)."""
    norm = max(float(np.max(np.abs(d), initial=0.0)) for d in dirs) or 1.0
    unit = [d / norm for d in dirs]

    def at(s):
        return np.asarray(f(*[a + s * d for a, d in zip(args, unit)]), dtype=float)

    coarse, fine = _central(at, H), _central(at, H / 2)
    return norm * (fine + (fine - coarse) / 15.0)


def run(f, args, tangents):
    """``f`` on Duals whose tangents are ``tangents`` (``None`` = constant argument)."""
    with perturbation() as tag:
        duals = [a if t is None else Dual(a, t, tag=tag) for a, t in zip(args, tangents)]
        y = f(*duals)
        if type(y) is Dual and y.tag == tag:
            t = y.tangent
            k = next(np.shape(t)[0] for t in tangents if t is not None)
            return y.primal, (np.zeros((k,) + np.shape(y.primal)) if t is None else t)
        k = next(np.shape(t)[0] for t in tangents if t is not None)
        return y, np.zeros((k,) + np.shape(y))


def check(f, args, rng, k=2, differentiable=None, symmetric=()):
    """Assert the three properties for ``f`` at ``args``.

    ``differentiable`` lists which arguments carry tangents (default: all);
    arguments listed in ``symmetric`` get symmetric matrix directions.
    """
    args = [np.asarray(a, dtype=float) for a in args]
    if differentiable is None:
        differentiable = range(len(args))
    dirs = []
    for i, a in enumerate(args):
        if i not in differentiable:
            dirs.append(None)
            continue
        d = rng.standard_normal((k,) + a.shape)
        if i in symmetric:
            d = d + np.swapaxes(d, -1, -2)
        dirs.append(d)
    y, t = run(f, args, dirs)
    plain = f(*args)
    assert np.array_equal(np.asarray(stop_gradient(y)), np.asarray(plain), equal_nan=True), (
        "primal differs from plain numpy"
    )
    assert np.shape(t) == (k,) + np.shape(plain)
    for j in range(k):
        expected = fd(f, args, [np.zeros_like(a) if d is None else d[j] for a, d in zip(args, dirs)])
        norm = max(float(np.max(np.abs(d[j]), initial=0.0)) for d in dirs if d is not None)
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)),
                    norm * float(np.max(np.abs(plain), initial=0.0)))
        np.testing.assert_allclose(t[j], expected, rtol=0, atol=FD_RTOL * scale,
                                   err_msg=f"direction {j} disagrees with finite differences")
        _, single = run(f, args, [None if d is None else d[j:j + 1] for d in dirs])
        np.testing.assert_allclose(single[0], t[j], rtol=1e-13, atol=1e-13 * scale,
                                   err_msg="stacked directions differ from a single pass")
    return t

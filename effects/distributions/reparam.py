"""Reparameterised draws for parameters that are dual numbers.

A draw's tangent is its pathwise derivative: how the sampled value moves
with the parameters while the underlying randomness stays fixed.  Location-
scale families get it from ordinary dual arithmetic (``loc + scale * z``).
Gamma draws have no such closed form, so they use implicit
reparameterisation: with ``u = P(a, x)`` held fixed (P the regularised
incomplete gamma function), ``dx/da = -(dP/da) / p(x; a)``.  Beta, Dirichlet
and Student-t draws are built from Gamma draws, so their tangents follow.

>>> import numpy as np
>>> from plait.gradients import diff
>>> from plait.effects.distributions.reparam import gamma_draw
>>> d = diff(lambda a: gamma_draw(np.random.default_rng(0), a, ()), 2.0)
>>> bool(d > 0)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import digamma, gammainc, gammaln

from ...gradients.dual import Dual, lift, new, stop_gradient
from ...gradients.reverse import Reverse, record, unbroadcast

__all__ = ["gamma_draw", "d_gammainc_da"]

_SERIES_MAX_X = 200.0


def d_gammainc_da(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``d/da P(a, x)`` for the regularised lower incomplete gamma function.

    Differentiates the series ``P = sum_n exp((a + n) log x - x - lgamma(a + n + 1))``
    term by term; beyond ``x = 200`` (where the series needs too many terms)
    a Richardson-extrapolated central difference of ``gammainc`` in ``a``.

    >>> import numpy as np
    >>> from plait.effects.distributions.reparam import d_gammainc_da
    >>> h = 1e-6
    >>> fd = (gammainc(2.0 + h, 1.5) - gammainc(2.0 - h, 1.5)) / (2 * h)
    >>> bool(abs(d_gammainc_da(np.array(2.0), np.array(1.5)) - fd) < 1e-8)
    True
    """
    a, x = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(x, dtype=float))
    res = np.zeros(a.shape)
    small = (x <= _SERIES_MAX_X) & (x > 0)
    if small.any():
        aa, xx = a[small], x[small]
        n_terms = int(np.ceil(xx.max() + 12.0 * np.sqrt(xx.max()) + 40.0))
        n = np.arange(n_terms)[:, None]
        lx = np.log(xx)
        log_terms = (aa + n) * lx - xx - gammaln(aa + n + 1.0)
        res[small] = np.sum(np.exp(log_terms) * (lx - digamma(aa + n + 1.0)), axis=0)
    large = x > _SERIES_MAX_X
    if large.any():
        aa, xx = a[large], x[large]

        def central(h: np.ndarray) -> np.ndarray:
            slope: np.ndarray = (gammainc(aa + h, xx) - gammainc(aa - h, xx)) / (2.0 * h)
            return slope

        h = 1e-3 * np.maximum(aa, 1.0)
        c1, c2 = central(h), central(h / 2.0)
        res[large] = c2 + (c2 - c1) / 3.0
    return res


def _dx_da(ab: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Implicit reparameterisation: ``dx/da = -(dP(a, x)/da) / p(x; a)`` (0 at x = 0)."""
    log_pdf = (ab - 1.0) * np.log(x) - x - gammaln(ab)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(x > 0, -d_gammainc_da(ab, x) * np.exp(-log_pdf), 0.0)


def gamma_draw(rng: np.random.Generator, shape_param: Any, size: tuple[Any, ...]) -> Any:
    """Standard-gamma draws of shape ``size`` (``shape_param`` broadcast to it).

    For a dual ``shape_param`` the result is a Dual whose tangent is the
    implicit-reparameterisation derivative; otherwise a plain draw.  Only
    first-order derivatives are available for the shape parameter.

    >>> import numpy as np
    >>> from plait.effects.distributions.reparam import gamma_draw
    >>> gamma_draw(np.random.default_rng(0), 2.0, (3,)).shape
    (3,)
    """
    if not isinstance(shape_param, Dual):
        return rng.standard_gamma(shape_param, size=size)
    a = stop_gradient(shape_param)
    if isinstance(shape_param.primal, Dual):
        raise NotImplementedError(
            "Gamma/Beta/Dirichlet/StudentT draws: only first derivatives of a draw with "
            "respect to a shape parameter are available (nested derivatives were requested)"
        )
    x = rng.standard_gamma(a, size=size)
    if type(shape_param) is Reverse:  # reverse mode: record dx/da as the draw's partial
        dxda = _dx_da(np.broadcast_to(a, np.shape(x)), x)
        return record(x if np.ndim(x) else x[()], (shape_param,),
                      lambda g, _, __: unbroadcast(g * dxda, np.shape(a)), None, shape_param.tag)
    t = shape_param.tangent
    if t is None:
        return x
    dxda = _dx_da(np.broadcast_to(a, np.shape(x)), x)
    tx = lift(t, np.ndim(a), np.ndim(x)) * dxda
    return new(x if np.ndim(x) else x[()], np.broadcast_to(tx, tx.shape[:1] + np.shape(x)), shape_param.tag)

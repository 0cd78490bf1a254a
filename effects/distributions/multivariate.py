"""Multivariate families: Dirichlet and MultivariateNormal (``event_shape == (k,)``).

Parameters broadcast over leading batch axes; ``log_prob`` reduces over the
last (event) axis of ``x``.

>>> import numpy as np
>>> from plait.effects.distributions import Dirichlet
>>> Dirichlet([1.0, 2.0, 3.0]).sample(np.random.default_rng(0), (4,)).shape
(4, 3)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import gammaln, xlogy

from ...errors import InvalidParameterError
from ...gradients.dual import Dual, stop_gradient
from .base import ArrayLike, Distribution, as_values, detached, fail, is_tensor, norm_shape, out, show, validate
from .reparam import gamma_draw
from .supports import RealVector, Simplex

__all__ = ["Dirichlet", "MultivariateNormal"]

_LOG_2PI = math.log(2 * math.pi)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


class Dirichlet(Distribution):
    """Dirichlet(alpha) on the simplex; ``alpha > 0`` with categories on the last axis.

    >>> from plait.effects.distributions import Dirichlet
    >>> d = Dirichlet([1.0, 1.0, 1.0])
    >>> round(d.log_prob([0.2, 0.3, 0.5]), 6), d.log_prob([0.5, 0.6, -0.1]), d.support
    (0.693147, -inf, Simplex(3) [continuous])
    """

    __slots__ = ("alpha", "event_shape")
    alpha: Any
    _param_names = ("alpha",)
    _param_event_dims = {"alpha": 1}

    def __init__(self, alpha: ArrayLike) -> None:
        a = validate("Dirichlet", "alpha", alpha, "positive")
        if a.ndim == 0:
            fail("Dirichlet", "alpha", "a vector (last axis = categories)", alpha)
        self.alpha = a if isinstance(a, Dual) or is_tensor(a) else _frozen(a)
        self.batch_shape = tuple(a.shape[:-1])
        self.event_shape = tuple(a.shape[-1:])

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Points on the simplex, shape ``shape + batch_shape + (k,)``.

        For a dual ``alpha`` the draws are normalised reparameterised Gamma
        draws, so they carry pathwise derivatives.
        """
        shape = norm_shape(shape)
        if isinstance(self.alpha, Dual):
            g = gamma_draw(rng, self.alpha, shape + self.alpha.shape)
            return g / np.sum(g, axis=-1, keepdims=True)
        if not self.batch_shape:
            return rng.dirichlet(self.alpha, size=shape)
        # Generator.dirichlet takes one alpha vector; draw each batch member in turn.
        res = np.empty(shape + self.alpha.shape)
        for idx in np.ndindex(*self.batch_shape):
            res[(Ellipsis,) + idx + (slice(None),)] = rng.dirichlet(self.alpha[idx], size=shape)
        return res

    def log_prob(self, x: ArrayLike) -> Any:
        """``lgamma(sum alpha) - sum lgamma(alpha) + sum (alpha-1) log x``; ``-inf`` off the simplex."""
        x = as_values(x)
        k = self.event_shape[0]
        if x.ndim == 0 or x.shape[-1] != k:
            raise ValueError(f"Dirichlet.log_prob: value must have last axis {k}, got shape {x.shape}")
        inside = Simplex(k).contains(x)
        xs = np.where(np.asarray(inside)[..., None], x, 1.0 / k)
        a = self.alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = gammaln(a.sum(-1)) - gammaln(a).sum(-1) + xlogy(a - 1.0, xs).sum(-1)
        nan = np.isnan(x).any(-1)
        return out(np.where(inside, lp, np.where(nan, np.nan, -np.inf)))

    @property
    def support(self) -> Simplex:
        """Simplex(k)."""
        return Simplex(self.event_shape[0])

    @property
    def mean(self) -> Any:
        """alpha / sum(alpha)."""
        return self.alpha / self.alpha.sum(-1, keepdims=True)

    @property
    def variance(self) -> Any:
        """Marginal variances alpha_i (a0 - alpha_i) / (a0^2 (a0 + 1))."""
        a0 = self.alpha.sum(-1, keepdims=True)
        return self.alpha * (a0 - self.alpha) / (a0 * a0 * (a0 + 1))


class MultivariateNormal(Distribution):
    """MultivariateNormal(loc, cov) with ``cov`` symmetric positive definite.

    ``variance`` gives the marginal variances (the diagonal of ``cov``).

    >>> from plait.effects.distributions import MultivariateNormal
    >>> d = MultivariateNormal([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]])
    >>> round(d.log_prob([0.0, 0.0]), 6), d.event_shape, d.support
    (-1.837877, (2,), RealVector(2) [continuous])
    """

    __slots__ = ("loc", "cov", "scale_tril", "event_shape")
    loc: Any
    cov: Any
    scale_tril: Any
    _param_names = ("loc", "cov")
    _param_event_dims = {"loc": 1, "cov": 2}

    def __init__(self, loc: ArrayLike, cov: ArrayLike) -> None:
        name = "MultivariateNormal"
        if is_tensor(loc) or is_tensor(cov):
            # Check the values, keep the tensors (for the Pyro bridge).
            checked = MultivariateNormal(detached(loc), detached(cov))
            self.loc = loc if is_tensor(loc) else checked.loc
            self.cov = cov if is_tensor(cov) else checked.cov
            self.scale_tril = None if is_tensor(cov) else checked.scale_tril
            self.batch_shape, self.event_shape = checked.batch_shape, checked.event_shape
            return
        if isinstance(loc, Dual) or isinstance(cov, Dual):
            # Check the plain values (same messages), then keep the duals.
            checked = MultivariateNormal(stop_gradient(loc), stop_gradient(cov))
            batch, d = checked.batch_shape, checked.event_shape[0]
            # np.broadcast_to takes a Dual through __array_function__, which numpy's stubs do not know.
            self.loc = np.broadcast_to(loc, batch + (d,)) if isinstance(loc, Dual) else checked.loc  # type: ignore[call-overload]
            if isinstance(cov, Dual):
                self.cov = np.broadcast_to(cov, batch + (d, d))  # type: ignore[call-overload]
                self.scale_tril = np.linalg.cholesky(self.cov)
            else:
                self.cov, self.scale_tril = checked.cov, checked.scale_tril
            self.batch_shape, self.event_shape = batch, (d,)
            return
        loc_a = validate(name, "loc", loc, "real")
        cov_a = validate(name, "cov", cov, "real")
        if loc_a.ndim == 0:
            fail(name, "loc", "a vector", loc)
        d = loc_a.shape[-1]
        if cov_a.ndim < 2 or cov_a.shape[-2:] != (d, d):
            fail(name, "cov", f"a {d}x{d} matrix to match loc", cov)
        tol = 1e-10 * np.abs(cov_a).max(axis=(-2, -1), keepdims=True)
        if (np.abs(cov_a - np.swapaxes(cov_a, -1, -2)) > tol).any():
            fail(name, "cov", "symmetric positive definite", cov, " (not symmetric)")
        try:
            chol = np.linalg.cholesky(cov_a)
        except np.linalg.LinAlgError:
            fail(name, "cov", "symmetric positive definite", cov, " (not positive definite)")
        try:
            batch = np.broadcast_shapes(loc_a.shape[:-1], cov_a.shape[:-2])
        except ValueError:
            raise InvalidParameterError(
                f"{name}: parameters have incompatible batch shapes: loc {loc_a.shape}, cov {cov_a.shape}"
            ) from None
        self.loc = _frozen(np.broadcast_to(loc_a, batch + (d,)))
        self.cov = _frozen(np.broadcast_to(cov_a, batch + (d, d)))
        self.scale_tril = _frozen(np.broadcast_to(chol, batch + (d, d)))
        self.batch_shape = tuple(batch)
        self.event_shape = (d,)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Draws ``loc + L z``, shape ``shape + batch_shape + (d,)``."""
        z = rng.standard_normal(norm_shape(shape) + self.batch_shape + self.event_shape)
        return self.loc + np.einsum("...ij,...j->...i", self.scale_tril, z)

    def log_prob(self, x: ArrayLike) -> Any:
        """Gaussian log density via the Cholesky factor; ``-inf`` for non-finite x."""
        x = as_values(x)
        d = self.event_shape[0]
        if x.ndim == 0 or x.shape[-1] != d:
            raise ValueError(
                f"MultivariateNormal.log_prob: value must have last axis {d}, got shape {x.shape}"
            )
        finite = np.isfinite(x).all(-1)
        diff = np.where(finite[..., None], x, 0.0) - self.loc
        L = self.scale_tril
        if isinstance(L, Dual) or isinstance(diff, Dual):
            y = np.linalg.solve(L, diff[..., None])[..., 0]
        elif not self.batch_shape:
            y = solve_triangular(L, diff.reshape(-1, d).T, lower=True).T.reshape(diff.shape)
        else:
            shape = np.broadcast_shapes(diff.shape[:-1], self.batch_shape)
            Lb = np.broadcast_to(L, shape + (d, d))
            y = np.linalg.solve(Lb, np.broadcast_to(diff, shape + (d,))[..., None])[..., 0]
        half_logdet = np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)
        lp = -0.5 * (y * y).sum(-1) - half_logdet - 0.5 * d * _LOG_2PI
        nan = np.isnan(x).any(-1)
        return out(np.where(finite, lp, np.where(nan, np.nan, -np.inf)))

    @property
    def support(self) -> RealVector:
        """RealVector(d)."""
        return RealVector(self.event_shape[0])

    @property
    def mean(self) -> Any:
        """loc."""
        return self.loc

    @property
    def variance(self) -> Any:
        """The diagonal of cov."""
        return np.diagonal(self.cov, axis1=-2, axis2=-1).copy()

    def __repr__(self) -> str:
        return f"MultivariateNormal(loc={show(self.loc)}, cov={show(self.cov)})"

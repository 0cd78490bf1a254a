"""LKJCholesky: the LKJ prior on correlation matrices, as a density on their Cholesky factors.

A correlation matrix ``C = L L^T`` has the LKJ density ``det(C)^(eta - 1) / c_d(eta)``
(Lewandowski, Kurowicka and Joe, 2009).  Written on the strictly lower
entries of ``L`` (the coordinates of :class:`~plait.effects.transforms.CorrCholesky`),
the Jacobian of ``L -> C`` adds ``prod_i L_ii^(d - i)``, so
``log p(L) = sum_{i >= 1} (d - i - 1 + 2 (eta - 1)) log L_ii - log c_d(eta)``
(0-based ``i``).  Draws use the onion method.

>>> import numpy as np
>>> from plait.effects.distributions import LKJCholesky
>>> L = LKJCholesky(3, 2.0).sample(np.random.default_rng(0))
>>> bool(np.allclose(np.diag(L @ L.T), 1.0))
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import betaln

from .base import (
    ArrayLike,
    Distribution,
    as_values,
    fail,
    norm_shape,
    out,
    params,
    plain,
    scalar_or_array,
)
from .supports import CorrCholeskyFactor

__all__ = ["LKJCholesky"]


def _log_normalizer(d: int, eta: Any) -> Any:
    """``log c_d(eta)``, the log volume of ``det(C)^(eta - 1)`` over ``d x d`` correlation matrices."""
    total: Any = 0.0
    for k in range(1, d):
        b = eta + 0.5 * (d - k - 1)
        total = total + (2.0 * eta - 2.0 + d - k) * (d - k) * math.log(2.0) + (d - k) * betaln(b, b)
    return total


class LKJCholesky(Distribution):
    """LKJ(``concentration``) over ``d x d`` correlation matrices, on their Cholesky factors.

    ``concentration = 1`` is uniform over correlation matrices; larger values
    favour the identity.  ``event_shape == (d, d)``; the support is
    ``plait.supports.corr_cholesky(d)``, so :class:`plait.LogDensity` samples
    it through :class:`~plait.effects.transforms.CorrCholesky`.  Each
    correlation ``C_ij`` is marginally ``2 Beta(b, b) - 1`` with
    ``b = concentration - 1 + d / 2``; ``mean`` and ``variance`` are those of
    ``L`` and are left undefined (``nan``).

    >>> import numpy as np
    >>> from plait.effects.distributions import LKJCholesky, Beta
    >>> L = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> bool(np.isclose(LKJCholesky(2, 3.0).log_prob(L), Beta(3.0, 3.0).log_prob(0.8) - np.log(2.0)))
    True
    """

    __slots__ = ("concentration", "dim", "event_shape")
    _param_names = ("dim", "concentration")

    def __init__(self, dim: int, concentration: ArrayLike = 1.0) -> None:
        if not isinstance(dim, (int, np.integer)) or dim < 2:
            fail("LKJCholesky", "dim", "an integer >= 2", dim)
        (eta,), self.batch_shape = params("LKJCholesky", concentration=(concentration, "positive"))
        self.dim = int(dim)
        self.concentration = scalar_or_array(eta)
        self.event_shape = (self.dim, self.dim)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Cholesky factors by the onion method, shape ``shape + batch_shape + (d, d)``.

        Row ``i`` is ``sqrt(y) u`` with ``u`` uniform on the sphere in ``R^i``
        and ``y ~ Beta(i / 2, eta + (d - 1 - i) / 2)``, then ``L_ii = sqrt(1 - y)``.
        """
        size = norm_shape(shape) + self.batch_shape
        eta = np.asarray(plain(self.concentration))
        d = self.dim
        L = np.zeros(size + (d, d))
        L[..., 0, 0] = 1.0
        for i in range(1, d):
            y = rng.beta(i / 2.0, eta + (d - 1 - i) / 2.0, size=size)
            u = rng.standard_normal(size + (i,))
            u /= np.linalg.norm(u, axis=-1, keepdims=True)
            L[..., i, :i] = np.sqrt(y)[..., None] * u
            L[..., i, i] = np.sqrt(1.0 - y)
        return L if size else L.copy()

    def log_prob(self, x: ArrayLike) -> Any:
        """``sum_i (d - i - 1 + 2 (eta - 1)) log L_ii - log c_d(eta)``; ``-inf`` off the support."""
        x = as_values(x)
        d = self.dim
        if x.ndim < 2 or x.shape[-2:] != (d, d):
            raise ValueError(f"LKJCholesky.log_prob: value must be {d}x{d} matrices, got shape {x.shape}")
        inside = np.asarray(CorrCholeskyFactor(d).contains(x))
        safe = np.where(inside[..., None, None], x, np.eye(d))
        eta = self.concentration
        diagonal = np.log(np.diagonal(safe, axis1=-2, axis2=-1)[..., 1:])
        eta_column = eta[..., None] if self.batch_shape else eta
        powers = (d - 2 - np.arange(d - 1)) + 2.0 * (eta_column - 1.0)
        lp = np.sum(powers * diagonal, axis=-1) - _log_normalizer(d, eta)
        nan = np.isnan(plain(x)).any(axis=(-2, -1))
        return out(np.where(inside, lp, np.where(nan, np.nan, -np.inf)))

    @property
    def support(self) -> CorrCholeskyFactor:
        """corr_cholesky(d)."""
        return CorrCholeskyFactor(self.dim)

    @property
    def mean(self) -> Any:
        """Undefined here: nan (the mean correlation matrix is the identity)."""
        return np.full(self.batch_shape + self.event_shape, np.nan)

    @property
    def variance(self) -> Any:
        """Undefined here: nan."""
        return np.full(self.batch_shape + self.event_shape, np.nan)


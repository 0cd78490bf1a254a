"""Discrete families: Bernoulli, Categorical, Binomial, Poisson, Geometric, DiscreteUniform.

Scalar draws are Python ints.  Log masses are ``-inf`` off the support
(negative, non-integral or too large values) and agree with ``scipy.stats``.
Degenerate parameters shrink the support: ``Bernoulli(1.0).support`` is
``IntRange(1, 1)``.

>>> import numpy as np
>>> from plait.effects.distributions import Poisson
>>> d = Poisson(3.0)
>>> isinstance(d.sample(np.random.default_rng(0)), int)
True
>>> d.log_prob(-1), d.log_prob(1.5)
(-inf, -inf)
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np
from scipy.special import expit, gammaln, log_expit, logsumexp
from scipy.special import xlog1py as _xlog1py
from scipy.special import xlogy as _xlogy

from ..lanes import Lanes, lane_data
from ...errors import InvalidParameterError
from ...gradients.dual import Dual, stop_gradient
from ...gradients.reverse import Reverse, elementwise_node
from ...gradients.trace import guarded, primal_type
from ...gradients.special import logsumexp as _dual_logsumexp
from .base import (
    SCALARS,
    ArrayLike,
    Distribution,
    as_values,
    broadcast,
    detached,
    is_tensor,
    fail,
    norm_shape,
    out,
    params,
    plain,
    restrict,
    scalar_or_array,
    show,
    validate,
    xlog1py,
    xlogy,
)
from .supports import FiniteSet, IntRange, boolean, nonnegative_integer

__all__ = ["Bernoulli", "Categorical", "Binomial", "Poisson", "Geometric", "DiscreteUniform"]

_INF = math.inf
_NAN = math.nan
_VALUES = (int, bool, float)
_ZERO = IntRange(0, 0)
_ONE = IntRange(1, 1)
_NATURALS = nonnegative_integer


def _as_int(x: Any) -> Any:
    """An int for an integral scalar ``x``, None if not integral, NaN for NaN."""
    if type(x) is float:
        if x != x:
            return _NAN
        return int(x) if x.is_integer() else None
    return int(x)


def _integral(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        integral: np.ndarray = np.isfinite(x) & (x == np.floor(x))
    return integral


def _from_logits(family: str, p: Any, logits: Any) -> tuple[Any, Any, tuple[Any, ...]]:
    """``(logits, p = expit(logits), batch_shape)`` for the logit parameterisation."""
    if p is not None:
        raise InvalidParameterError(f"{family}: give exactly one of 'p' and 'logits'")
    if logits is None:
        raise InvalidParameterError(f"{family}: give one of 'p' and 'logits'")
    (lg,), shape = params(family, logits=(logits, "real"))
    lg = scalar_or_array(lg)
    return lg, scalar_or_array(expit(lg)), shape


def _logit_log_prob(x: Any, logits: Any, n: Any) -> Any:
    """``log C(n, x) + x log_expit(l) + (n - x) log_expit(-l)`` for integers x in {0..n}."""
    x = as_values(x)
    inside = _integral(x) & (x >= 0) & (x <= n)
    k = np.where(inside, x, 0.0)
    comb = gammaln(n + 1.0) - (gammaln(k + 1.0) + gammaln(n - k + 1.0))
    lp = comb + _xlogp(k, log_expit(logits)) + _xlogp(n - k, log_expit(-logits))
    return out(restrict(lp, x, inside))


def _xlogp(x: Any, log_p: Any) -> Any:
    """``x log p`` given ``log p``, exactly 0 where ``x`` is 0 (even where ``log p`` is -inf)."""
    zero = x == 0
    return np.where(zero, 0.0, x * np.where(zero, 0.0, log_p))


def _bernoulli_log_prob_array(x: np.ndarray, p: Any) -> tuple[Any, Any]:
    """The Bernoulli log density of plain values ``x`` and its partial in ``p`` (off the support: -inf)."""
    one = x == 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(one, np.log(p), np.log1p(-p))
        if not (one | (x == 0.0)).all():
            lp = restrict(lp, x, one | (x == 0.0))
        return lp, (None, np.where(one, 1.0 / p, -1.0 / (1.0 - p)))


def _is_probability(p: Any) -> bool:
    return bool(0.0 <= p <= 1.0)


def _scalar_edge(p: Any) -> Any:
    return 0 if p == 0 else 1 if p == 1 else None


def _edges(p: Any) -> Any:
    """None when no element of ``p`` is 0 or 1, else the masks ``(p == 1, p == 0)``."""
    ones, zeros = np.equal(p, 1.0), np.equal(p, 0.0)
    return (ones, zeros) if (ones | zeros).any() else None


class Bernoulli(Distribution):
    """Bernoulli(p) on {0, 1}, or ``Bernoulli(logits=l)`` with ``p = expit(l)``; ``True``/``False`` score as 1/0.

    With ``logits`` the log mass is ``log_expit(l)`` at 1 and ``log_expit(-l)``
    at 0, accurate for logits of any size.

    >>> from plait.effects.distributions import Bernoulli
    >>> d = Bernoulli(0.25)
    >>> round(d.log_prob(1), 6), d.log_prob(0.5), d.enumerate_support()
    (-1.386294, -inf, [0, 1])
    >>> Bernoulli(1.0).support
    IntRange(1, 1) [discrete]
    >>> round(Bernoulli(logits=-40.0).log_prob(1), 6), Bernoulli(logits=0.0).p
    (-40.0, 0.5)
    """

    __slots__ = ("logits", "p")
    is_discrete = True
    has_enumerate_support = True
    _param_names = ("p",)

    def __init__(self, p: ArrayLike = None, logits: ArrayLike = None) -> None:
        self.logits = None
        if logits is not None or p is None:
            self.logits, self.p, self.batch_shape = _from_logits("Bernoulli", p, logits)
            return
        if type(p) in SCALARS:
            p += 0.0
            if 0.0 <= p <= 1.0:
                self.p = p
                self.batch_shape = ()
                return
        elif isinstance(p, Dual) and primal_type(p) is np.float64 and guarded(p, _is_probability):
            # What params() returns for one in-range 0-d dual, without its
            # generic checks: GradInf builds a dual coin at every fork.
            self.p = p
            self.batch_shape = ()
            return
        (p,), self.batch_shape = params("Bernoulli", p=(p, "probability"))
        self.p = scalar_or_array(p)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """0/1 draws (a Python int for a scalar draw)."""
        if shape == () and not self.batch_shape:
            return 1 if rng.random() < self.p else 0
        return (rng.random(norm_shape(shape) + self.batch_shape) < self.p).astype(np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``log p`` at 1, ``log(1 - p)`` at 0, ``-inf`` elsewhere."""
        p = self.p
        if self.logits is not None:
            return _logit_log_prob(x, self.logits, 1)
        if type(p) is float and type(x) in _VALUES:
            if x == 1:
                return math.log(p) if p > 0 else -_INF
            if x == 0:
                return math.log1p(-p) if p < 1 else -_INF
            return _NAN if x != x else -_INF
        x = as_values(x)
        if type(p) is Reverse and type(x) is np.ndarray:
            lp = elementwise_node((x, p), _bernoulli_log_prob_array)  # one tape node for the batch
            if lp is not None:
                return lp
        inside = (x == 0) | (x == 1)
        xs = np.where(inside, x, 0.0)
        with np.errstate(divide="ignore"):
            lp = _xlogy(xs, p) + _xlog1py(1.0 - xs, -p)
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> IntRange:
        """{0, 1}, shrunk to {0} for p = 0 and {1} for p = 1."""
        if isinstance(self.p, Dual):  # a guard when traced: which elements sit on 0 or 1
            if self.p.shape == ():
                edge = guarded(self.p, _scalar_edge)
                return _ZERO if edge == 0 else _ONE if edge == 1 else boolean
            edges = guarded(self.p, _edges)
            if edges is None:
                shape = self.p.shape
                return IntRange(np.zeros(shape, dtype=np.int64)[()], np.ones(shape, dtype=np.int64)[()])
            return IntRange(np.where(edges[0], 1, 0), np.where(edges[1], 0, 1))
        p = self.p if type(self.p) is float else plain(self.p)
        if type(p) is float:
            return _ZERO if p == 0 else _ONE if p == 1 else boolean
        return IntRange(np.where(p == 1, 1, 0), np.where(p == 0, 0, 1))

    @property
    def mean(self) -> Any:
        """p."""
        return self.p

    @property
    def variance(self) -> Any:
        """p (1 - p)."""
        return self.p * (1 - self.p)


class Categorical(Distribution):
    """Categorical over {0, ..., k-1}, from ``probs`` or ``logits`` (last axis = categories).

    ``probs`` must be nonnegative and sum to 1 within ``1e-8 * k``; they are
    renormalised exactly.  ``logits`` may contain ``-inf`` (zero probability).
    Zero-probability categories are left out of the support.

    >>> from plait.effects.distributions import Categorical
    >>> d = Categorical([0.5, 0.0, 0.5])
    >>> d.support, d.enumerate_support(), d.log_prob(1)
    (FiniteSet{0, 2} [discrete], [0, 2], -inf)
    >>> Categorical(logits=[0.0, 0.0]).probs
    array([0.5, 0.5])
    """

    __slots__ = ("probs", "logits", "_cdf", "_lpl")
    is_discrete = True
    has_enumerate_support = True
    _param_names = ("probs",)
    _param_event_dims = {"probs": 1}

    def __init__(self, probs: ArrayLike = None, logits: ArrayLike = None) -> None:
        if (probs is None) == (logits is None):
            raise InvalidParameterError("Categorical: give exactly one of 'probs' and 'logits'")
        if is_tensor(probs) or is_tensor(logits):
            # Check the values, keep the tensor (for the Pyro bridge): tensor
            # methods only, so torch is not imported here.
            checked = Categorical(probs=detached(probs), logits=detached(logits))
            for slot in ("_cdf", "_lpl", "batch_shape"):
                setattr(self, slot, getattr(checked, slot))
            if probs is not None:
                self.probs, self.logits = probs, probs.log()
            else:
                self.probs, self.logits = logits.softmax(-1), logits
            return
        if type(probs) is Lanes or type(logits) is Lanes:
            self._lanes(probs, logits)
            return
        if probs is not None:
            p = _vector("probs", validate("Categorical", "probs", probs, "nonnegative"))
            k = p.shape[-1]
            total = p.sum(axis=-1)
            bad = np.abs(total - 1.0) > 1e-8 * k
            if bad.any():
                i = tuple(np.argwhere(bad)[0]) if bad.ndim else ()
                fail("Categorical", "probs", "1 along the last axis", probs,
                     f" (sum {show(total[i])})", verb="sum to")
            p = p / total[..., None]
            with np.errstate(divide="ignore"):
                lp = np.log(p)
        else:
            lg = _vector("logits", _logits(logits))
            finite = np.isfinite(lg).any(axis=-1)
            if not finite.all():
                fail("Categorical", "logits", "finite in at least one category", logits)
            lse = _dual_logsumexp if isinstance(lg, Dual) else logsumexp
            lp = lg - lse(lg, axis=-1, keepdims=True)
            p = np.exp(lp)
        if isinstance(p, Dual):  # same shapes already; the cdf only needs the plain values
            self.probs, self.logits = p, lp
            p = stop_gradient(p)
        else:
            (p, lp), _ = broadcast("Categorical", probs=p, logits=lp)
            self.probs, self.logits = p, lp
        self.batch_shape = p.shape[:-1]
        cdf = np.cumsum(p, axis=-1)
        # From the last positive category on the cdf is exactly 1, so a uniform
        # draw in [0, 1) can never land on a zero-probability category.
        k = p.shape[-1]
        last = k - 1 - np.argmax((p > 0)[..., ::-1], axis=-1)
        cdf = np.where(np.arange(k) >= last[..., None], 1.0, cdf)
        if self.batch_shape:
            self._cdf, self._lpl = cdf, None
        elif isinstance(self.logits, Dual):
            self._cdf, self._lpl = cdf.tolist(), [self.logits[i] for i in range(k)]
        else:
            self._cdf, self._lpl = cdf.tolist(), lp.tolist()

    def _lanes(self, probs: Any, logits: Any) -> None:
        """Parameters that hold one vector per lane of a batched run: checked for every lane."""
        space = (probs if type(probs) is Lanes else logits).space
        plain = Categorical(
            probs=None if probs is None else np.broadcast_to(lane_data(probs, 1), (space.size,) + np.shape(probs)),
            logits=None if logits is None else np.broadcast_to(lane_data(logits, 1), (space.size,) + np.shape(logits)),
        )
        self.probs, self.logits = Lanes(plain.probs, space), Lanes(plain.logits, space)
        self.batch_shape = plain.batch_shape[1:]
        self._cdf, self._lpl = plain._cdf, None

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Category indices (a Python int for a scalar draw)."""
        if shape == () and not self.batch_shape:
            return bisect.bisect_right(self._cdf, rng.random())
        u = rng.random(norm_shape(shape) + self.batch_shape)
        return (np.asarray(self._cdf) <= u[..., None]).sum(axis=-1).astype(np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``log probs[x]``; ``-inf`` off {0, ..., k-1} or on zero-probability categories."""
        lpl = self._lpl
        if lpl is not None and type(x) in _VALUES:
            i = _as_int(x)
            if i is None:
                return -_INF
            if i != i:
                return _NAN
            return lpl[i] if 0 <= i < len(lpl) else -_INF
        x = as_values(x)
        k = self.probs.shape[-1]
        inside = _integral(x) & (x >= 0) & (x < k)
        idx = np.where(inside, x, 0).astype(np.intp)
        shape = np.broadcast_shapes(idx.shape, self.batch_shape)
        table = np.broadcast_to(self.logits, shape + (k,))
        lp = np.take_along_axis(table, np.broadcast_to(idx, shape)[..., None], axis=-1)[..., 0]
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> Any:
        """The categories with positive probability.

        For batched parameters whose rows have different zero patterns this is
        ``IntRange(first positive, last positive)`` per row, which includes
        interior zero-probability categories.
        """
        pos = self.probs > 0
        if not self.batch_shape:
            return FiniteSet(np.flatnonzero(pos).tolist())
        rows = pos.reshape(-1, pos.shape[-1])
        if (rows == rows[0]).all():
            return FiniteSet(np.flatnonzero(rows[0]).tolist())
        k = pos.shape[-1]
        first = np.argmax(pos, axis=-1)
        last = k - 1 - np.argmax(pos[..., ::-1], axis=-1)
        return IntRange(first, last)

    @property
    def mean(self) -> Any:
        """Sum of i * probs[i]."""
        return scalar_or_array(self.probs @ np.arange(self.probs.shape[-1], dtype=float))

    @property
    def variance(self) -> Any:
        """Sum of i^2 * probs[i] minus the squared mean."""
        i = np.arange(self.probs.shape[-1], dtype=float)
        m = self.probs @ i
        return scalar_or_array(np.maximum(self.probs @ (i * i) - m * m, 0.0))


def _vector(name: str, a: Any) -> Any:
    if a.ndim == 0 or a.shape[-1] == 0:
        fail("Categorical", name, "a non-empty vector (last axis = categories)", a)
    return a


def _logits(logits: Any) -> Any:
    if isinstance(logits, Dual):
        _logits(stop_gradient(logits))
        return logits
    try:
        a = np.asarray(logits, dtype=float)
    except (TypeError, ValueError):
        fail("Categorical", "logits", "an array of real numbers", logits)
    if np.isnan(a).any():
        fail("Categorical", "logits", "a number, not NaN", logits)
    if (a == _INF).any():
        fail("Categorical", "logits", "< inf", logits)
    return a


class Binomial(Distribution):
    """Binomial(n, p): successes in ``n`` trials (``n`` a nonnegative integer); or ``Binomial(n, logits=l)``.

    >>> from plait.effects.distributions import Binomial
    >>> d = Binomial(4, 0.5)
    >>> round(d.log_prob(2), 6), d.log_prob(5), Binomial(4, 1.0).support
    (-0.980829, -inf, IntRange(4, 4) [discrete])
    >>> round(Binomial(4, logits=0.0).log_prob(2), 6)
    -0.980829
    """

    __slots__ = ("logits", "n", "p")
    is_discrete = True
    has_enumerate_support = True
    _param_names = ("n", "p")

    def __init__(self, n: ArrayLike, p: ArrayLike = None, logits: ArrayLike = None) -> None:
        self.logits = None
        if logits is not None or p is None:
            self.logits, self.p, shape = _from_logits("Binomial", p, logits)
            (count,), count_shape = params("Binomial", n=(n, "count"))
            self.n = scalar_or_array(count, integer=True)
            self.batch_shape = tuple(np.broadcast_shapes(shape, count_shape))
            return
        if type(n) is int and n >= 0 and type(p) in SCALARS and 0 <= p <= 1:
            self.n, self.p = n, p + 0.0
            self.batch_shape = ()
            return
        (n, p), self.batch_shape = params("Binomial", n=(n, "count"), p=(p, "probability"))
        self.n, self.p = scalar_or_array(n, integer=True), scalar_or_array(p)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Success counts (a Python int for a scalar draw)."""
        if shape == () and not self.batch_shape:
            return int(rng.binomial(self.n, plain(self.p)))
        return rng.binomial(self.n, plain(self.p), size=norm_shape(shape) + self.batch_shape).astype(np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``log C(n, x) + x log p + (n - x) log(1 - p)`` for x in {0..n}."""
        n, p = self.n, self.p
        if self.logits is not None:
            return _logit_log_prob(x, self.logits, n)
        if type(p) is float and type(x) in _VALUES:
            k = _as_int(x)
            if k is None or k != k:
                return -_INF if k is None else _NAN
            if not 0 <= k <= n:
                return -_INF
            try:
                comb = math.lgamma(n + 1) - (math.lgamma(k + 1) + math.lgamma(n - k + 1))
                return comb + xlogy(k, p) + xlog1py(n - k, -p)
            except OverflowError:  # an int too large for a float: the array path copes
                pass
        x = as_values(x)
        inside = _integral(x) & (x >= 0) & (x <= n)
        k = np.where(inside, x, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            comb = gammaln(n + 1.0) - (gammaln(k + 1) + gammaln(n - k + 1))
            lp = comb + _xlogy(k, p) + _xlog1py(n - k, -p)
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> IntRange:
        """{0..n}, shrunk to {0} for p = 0 and {n} for p = 1."""
        n, p = self.n, (self.p if type(self.p) is float else plain(self.p))
        if type(p) is float:
            return IntRange(n if p == 1 else 0, 0 if p == 0 else n)
        return IntRange(np.where(p == 1, n, 0), np.where(p == 0, 0, n))

    @property
    def mean(self) -> Any:
        """n p."""
        return self.n * self.p

    @property
    def variance(self) -> Any:
        """n p (1 - p)."""
        return self.n * self.p * (1 - self.p)


class Poisson(Distribution):
    """Poisson(rate) on {0, 1, 2, ...}; ``rate >= 0`` (rate 0 is a point mass at 0).

    ``Poisson(log_rate=eta)`` takes the log of the rate (a GLM's linear
    predictor): the log mass ``k eta - exp(eta) - log k!`` is then computed
    from ``eta`` directly.

    >>> from plait.effects.distributions import Poisson
    >>> round(Poisson(2.0).log_prob(3), 6), Poisson(0).support
    (-1.712318, IntRange(0, 0) [discrete])
    >>> round(Poisson(log_rate=0.0).log_prob(3), 6), Poisson(log_rate=0.0).rate
    (-2.791759, 1.0)
    """

    __slots__ = ("log_rate", "rate")
    is_discrete = True
    _param_names = ("rate",)

    def __init__(self, rate: ArrayLike = None, log_rate: ArrayLike = None) -> None:
        self.log_rate = None
        if log_rate is not None or rate is None:
            if rate is not None or log_rate is None:
                raise InvalidParameterError("Poisson: give exactly one of 'rate' and 'log_rate'")
            (eta,), self.batch_shape = params("Poisson", log_rate=(log_rate, "real"))
            self.log_rate = scalar_or_array(eta)
            self.rate = out(np.exp(self.log_rate))
            return
        if type(rate) in SCALARS:
            rate += 0.0
            if 0.0 <= rate < _INF:
                self.rate = rate
                self.batch_shape = ()
                return
        (rate,), self.batch_shape = params("Poisson", rate=(rate, "nonnegative"))
        self.rate = scalar_or_array(rate)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Counts (a Python int for a scalar draw)."""
        if shape == () and not self.batch_shape:
            return int(rng.poisson(plain(self.rate)))
        return rng.poisson(plain(self.rate), size=norm_shape(shape) + self.batch_shape).astype(np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``x log(rate) - log(x!) - rate`` for integers x >= 0."""
        rate = self.rate
        if self.log_rate is not None:
            x = as_values(x)
            inside = _integral(x) & (x >= 0)
            k = np.where(inside, x, 0.0)
            return out(restrict(_xlogp(k, self.log_rate) - gammaln(k + 1.0) - rate, x, inside))
        if type(rate) is float and type(x) in _VALUES:
            k = _as_int(x)
            if k is None or k != k:
                return -_INF if k is None else _NAN
            if k < 0:
                return -_INF
            try:
                return xlogy(k, rate) - math.lgamma(k + 1) - rate
            except OverflowError:  # an int too large for a float: the array path copes
                pass
        x = as_values(x)
        inside = _integral(x) & (x >= 0)
        k = np.where(inside, x, 0.0)
        with np.errstate(divide="ignore"):
            lp = _xlogy(k, rate) - gammaln(k + 1) - rate
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> IntRange:
        """The naturals, shrunk to {0} for rate 0."""
        rate = self.rate if type(self.rate) is float else plain(self.rate)
        if type(rate) is float:
            return _ZERO if rate == 0 else _NATURALS
        return IntRange(0, np.where(rate == 0, 0.0, _INF))

    @property
    def mean(self) -> Any:
        """rate."""
        return self.rate

    @property
    def variance(self) -> Any:
        """rate."""
        return self.rate


class Geometric(Distribution):
    """Geometric(p): failures before the first success, on {0, 1, 2, ...}; p in (0, 1].

    Matches ``scipy.stats.geom(p, loc=-1)``.

    >>> from plait.effects.distributions import Geometric
    >>> round(Geometric(0.5).log_prob(2), 6), Geometric(0.5).mean
    (-2.079442, 1.0)
    """

    __slots__ = ("p",)
    is_discrete = True
    _param_names = ("p",)

    def __init__(self, p: ArrayLike) -> None:
        if type(p) in SCALARS:
            p += 0.0
            if 0.0 < p <= 1.0:
                self.p = p
                self.batch_shape = ()
                return
        (p,), self.batch_shape = params("Geometric", p=(p, "success"))
        self.p = scalar_or_array(p)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Failure counts (a Python int for a scalar draw)."""
        if shape == () and not self.batch_shape:
            return int(rng.geometric(plain(self.p))) - 1
        return rng.geometric(plain(self.p), size=norm_shape(shape) + self.batch_shape).astype(np.int64) - 1

    def log_prob(self, x: ArrayLike) -> Any:
        """``x log(1 - p) + log p`` for integers x >= 0."""
        p = self.p
        if type(p) is float and type(x) in _VALUES:
            k = _as_int(x)
            if k is None or k != k:
                return -_INF if k is None else _NAN
            if k < 0:
                return -_INF
            try:
                return xlog1py(k, -p) + math.log(p)
            except OverflowError:  # an int too large for a float: the array path copes
                pass
        x = as_values(x)
        inside = _integral(x) & (x >= 0)
        k = np.where(inside, x, 0.0)
        with np.errstate(divide="ignore"):
            lp = _xlog1py(k, -p) + np.log(p)
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> IntRange:
        """The naturals, shrunk to {0} for p = 1."""
        p = self.p if type(self.p) is float else plain(self.p)
        if type(p) is float:
            return _ZERO if p == 1 else _NATURALS
        return IntRange(0, np.where(p == 1, 0.0, _INF))

    @property
    def mean(self) -> Any:
        """(1 - p) / p."""
        return (1 - self.p) / self.p

    @property
    def variance(self) -> Any:
        """(1 - p) / p^2."""
        return (1 - self.p) / (self.p * self.p)


class DiscreteUniform(Distribution):
    """Uniform on the integers ``low, ..., high`` (both inclusive; ``low <= high``).

    Matches ``scipy.stats.randint(low, high + 1)``.

    >>> from plait.effects.distributions import DiscreteUniform
    >>> d = DiscreteUniform(1, 3)
    >>> d.enumerate_support(), round(d.log_prob(2), 6), d.log_prob(4)
    ([1, 2, 3], -1.098612, -inf)
    """

    __slots__ = ("low", "high")
    is_discrete = True
    has_enumerate_support = True
    _param_names = ("low", "high")

    def __init__(self, low: ArrayLike, high: ArrayLike) -> None:
        if type(low) is int and type(high) is int and low <= high:
            self.low, self.high = low, high
            self.batch_shape = ()
            return
        (lo, hi), self.batch_shape = params(
            "DiscreteUniform", low=(low, "integer"), high=(high, "integer")
        )
        if (lo > hi).any():
            fail("DiscreteUniform", "high", f">= low ({show(low)})", high)
        self.low, self.high = scalar_or_array(lo, integer=True), scalar_or_array(hi, integer=True)

    def sample(self, rng: np.random.Generator, shape: Any = ()) -> Any:
        """Integers in [low, high] (a Python int for a scalar draw)."""
        if shape == () and not self.batch_shape:
            return int(rng.integers(self.low, self.high + 1))
        size = norm_shape(shape) + self.batch_shape
        return rng.integers(self.low, np.asarray(self.high) + 1, size=size).astype(np.int64)

    def log_prob(self, x: ArrayLike) -> Any:
        """``-log(high - low + 1)`` on the range, ``-inf`` elsewhere."""
        lo, hi = self.low, self.high
        if type(lo) is int and type(x) in _VALUES:
            k = _as_int(x)
            if k is None or k != k:
                return -_INF if k is None else _NAN
            return -math.log(hi - lo + 1) if lo <= k <= hi else -_INF
        x = as_values(x)
        inside = _integral(x) & (x >= lo) & (x <= hi)
        lp = -np.log(np.asarray(hi - lo + 1, dtype=float))
        return out(restrict(lp, x, inside))

    @property
    def support(self) -> IntRange:
        """IntRange(low, high)."""
        return IntRange(self.low, self.high)

    @property
    def mean(self) -> Any:
        """(low + high) / 2."""
        return (self.low + self.high) / 2

    @property
    def variance(self) -> Any:
        """((high - low + 1)^2 - 1) / 12."""
        m = np.asarray(self.high - self.low + 1, dtype=float)
        return scalar_or_array((m * m - 1) / 12)

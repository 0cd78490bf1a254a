"""First-order optimisers with a pure ``init`` / ``update`` API: Adam and SGD.

An optimiser is immutable configuration.  ``state = opt.init(params)``
makes the per-run state, and ``params, state = opt.update(params, grads,
state)`` takes one step *downhill* (it minimises; :func:`plait.svi` passes
the gradient of the negative ELBO).  Nothing is kept in the optimiser, so one
object serves any number of runs at once.  ``params`` and ``grads`` are float
arrays of one shape (or scalars).

The learning rate ``lr`` is a positive number or a schedule: a function of
the step index (0, 1, 2, ...) returning a positive number, for example
``lambda t: 0.1 / (1 + t / 100)``.

>>> import numpy as np
>>> from plait.gradients.optimizers import Adam
>>> opt = Adam(lr=0.1)
>>> x, state = np.array([3.0]), opt.init(np.array([3.0]))
>>> for _ in range(300):
...     x, state = opt.update(x, 2 * (x - 1.0), state)   # minimise (x - 1)^2
>>> np.round(x, 3)
array([1.])
"""

from __future__ import annotations

import math
from typing import Any, Callable, Tuple, Union

import attrs
import numpy as np

__all__ = ["Adam", "AdamState", "SGD", "SGDState"]

LearningRate = Union[float, Callable[[int], float]]


def _check_lr(instance: Any, attribute: Any, value: Any) -> None:
    if callable(value):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"{type(instance).__name__}: lr must be a positive number or a schedule, got {value!r}")


def _rate(lr: LearningRate, step: int, who: str) -> float:
    rate = lr(step) if callable(lr) else lr
    if not (isinstance(rate, (int, float, np.floating, np.integer)) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"{who}: the learning-rate schedule gave {rate!r} at step {step}; it must be positive")
    return float(rate)


def _as_array(x: Any, who: str, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{who}: {what} must be finite, got {x!r}")
    return a


@attrs.frozen(slots=True, eq=False)
class SGDState:
    """The state of :class:`SGD`: the number of steps taken.

    >>> from plait.gradients.optimizers import SGD
    >>> SGD(0.1).init(0.0).step
    0
    """

    step: int


@attrs.frozen(slots=True)
class SGD:
    """Plain gradient descent: ``params - lr(step) * grads``.

    >>> from plait.gradients.optimizers import SGD
    >>> opt = SGD(lr=0.25)
    >>> x, state = opt.update(1.0, 2.0, opt.init(1.0))
    >>> float(x), state.step
    (0.5, 1)
    """

    lr: LearningRate = attrs.field(validator=_check_lr)

    def init(self, params: Any) -> SGDState:
        """The state before the first step."""
        return SGDState(0)

    def update(self, params: Any, grads: Any, state: SGDState) -> Tuple[np.ndarray, SGDState]:
        """One step downhill: ``(new params, new state)``."""
        g = _as_array(grads, "SGD", "gradients")
        x = np.asarray(params, dtype=float)
        return x - _rate(self.lr, state.step, "SGD") * g, SGDState(state.step + 1)


@attrs.frozen(slots=True, eq=False)
class AdamState:
    """The state of :class:`Adam`: step count and the two moment estimates.

    >>> import numpy as np
    >>> from plait.gradients.optimizers import Adam
    >>> Adam(0.1).init(np.zeros(2)).m
    array([0., 0.])
    """

    step: int
    m: np.ndarray
    v: np.ndarray


def _check_betas(instance: Any, attribute: Any, value: Any) -> None:
    ok = isinstance(value, tuple) and len(value) == 2 and all(
        isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in value
    )
    if not ok:
        raise ValueError(f"Adam: betas must be a pair of numbers in [0, 1), got {value!r}")


def _check_eps(instance: Any, attribute: Any, value: Any) -> None:
    if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise ValueError(f"Adam: eps must be a positive number, got {value!r}")


@attrs.frozen(slots=True)
class Adam:
    """Adam (Kingma & Ba 2015) with bias-corrected moment estimates.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``, then
    ``params - lr(t) * m_hat / (sqrt(v_hat) + eps)`` with
    ``m_hat = m / (1 - b1^(t+1))`` and ``v_hat = v / (1 - b2^(t+1))``.

    >>> import numpy as np
    >>> from plait.gradients.optimizers import Adam
    >>> opt = Adam(lr=0.01)
    >>> x, state = opt.update(np.array([1.0, -1.0]), np.array([5.0, -0.1]), opt.init(np.zeros(2)))
    >>> x   # the first step has length lr in every coordinate
    array([ 0.99, -0.99])
    """

    lr: LearningRate = attrs.field(validator=_check_lr)
    betas: Tuple[float, float] = attrs.field(default=(0.9, 0.999), converter=tuple, validator=_check_betas)
    eps: float = attrs.field(default=1e-8, validator=_check_eps)

    def init(self, params: Any) -> AdamState:
        """Zero moment estimates shaped like ``params``."""
        zeros = np.zeros(np.shape(params))
        return AdamState(0, zeros, zeros.copy())

    def update(self, params: Any, grads: Any, state: AdamState) -> Tuple[np.ndarray, AdamState]:
        """One step downhill: ``(new params, new state)``; the inputs are not modified."""
        g = _as_array(grads, "Adam", "gradients")
        b1, b2 = self.betas
        t = state.step
        m = b1 * state.m + (1.0 - b1) * g
        v = b2 * state.v + (1.0 - b2) * g * g
        m_hat = m / (1.0 - b1 ** (t + 1))
        v_hat = v / (1.0 - b2 ** (t + 1))
        x = np.asarray(params, dtype=float) - _rate(self.lr, t, "Adam") * m_hat / (np.sqrt(v_hat) + self.eps)
        return x, AdamState(t + 1, m, v)

"""Root finding and optimisation as generators of iterates, after ``ad``'s Newton/Halley modules.

Each function returns a generator; take as many iterates as you need
(``itertools.islice``) or let it run: the root finders stop when an iterate
repeats exactly, like ``ad``'s ``takeWhileDifferent`` (so a sequence that
oscillates or reaches NaN runs forever).

>>> import itertools
>>> from plait.gradients import find_zero
>>> [float(x) for x in find_zero(lambda x: x * x - 4.0, 1.0)]
[1.0, 2.5, 2.05, 2.000609756097561, 2.0000000929222947, 2.000000000000002, 2.0]
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import numpy as np

from .api import _flatten, diff, diffs, value_and_diff, value_and_grad

__all__ = [
    "find_zero",
    "extremum",
    "fixed_point",
    "gradient_descent",
    "stochastic_gradient_descent",
]

_METHODS = ("newton", "halley")


def _step(f: Callable[[Any], Any], method: str) -> Callable[[Any], Any]:
    if method == "newton":
        def newton(x: Any) -> Any:
            y, dy = value_and_diff(f, x)
            return x - y / dy

        return newton
    if method == "halley":
        def halley(x: Any) -> Any:
            y, d1, d2 = diffs(f, x, 3)
            return x - 2.0 * y * d1 / (2.0 * d1 * d1 - y * d2)

        return halley
    raise ValueError(f"find_zero: method must be one of {_METHODS}, got {method!r}")


def _until_repeat(step: Callable[[Any], Any], x0: Any) -> Iterator[Any]:
    x = x0
    yield x
    while True:
        x1 = step(x)
        if bool(np.all(x1 == x)):
            return
        yield x1
        x = x1


def find_zero(f: Callable[[Any], Any], x0: Any, method: str = "newton") -> Iterator[Any]:
    """Iterates of Newton's (``method="newton"``) or Halley's method for ``f(x) = 0``, from ``x0``.

    ``x0`` is the first iterate.

    >>> import itertools
    >>> from plait.gradients import find_zero
    >>> [round(float(x), 12) for x in find_zero(lambda x: x ** 3 - 8.0, 3.0, method="halley")][-1]
    2.0
    """
    return _until_repeat(_step(f, method), x0 + 0.0)


def extremum(f: Callable[[Any], Any], x0: Any, method: str = "newton") -> Iterator[Any]:
    """Iterates towards a stationary point of ``f``: ``find_zero`` applied to ``f'``.

    >>> from plait.gradients import extremum
    >>> float(list(extremum(lambda x: (x - 3.0) ** 2, 0.0))[-1])
    3.0
    """
    return find_zero(lambda x: diff(f, x), x0, method)


def fixed_point(f: Callable[[Any], Any], x0: Any, method: str = "newton") -> Iterator[Any]:
    """Iterates towards a fixed point ``f(x) = x``: ``find_zero`` applied to ``f(x) - x``.

    >>> import numpy as np
    >>> from plait.gradients import fixed_point
    >>> round(float(list(fixed_point(np.cos, 1.0))[-1]), 12)
    0.739085133215
    """
    return find_zero(lambda x: f(x) - x, x0, method)


def gradient_descent(f: Callable[[Any], Any], x0: Any) -> Iterator[Any]:
    """Gradient descent with ``ad``'s step schedule; yields each accepted iterate (not ``x0``).

    The step size starts at 0.1; a step that increases ``f`` is retried with
    half the step size; after 10 accepted steps in a row it doubles.  The
    generator stops at an exactly zero gradient or a zero step size.  ``x0``
    may be a scalar, an array, or a tuple/list/dict of arrays.

    >>> import itertools
    >>> import numpy as np
    >>> from plait.gradients import gradient_descent
    >>> xs = list(itertools.islice(gradient_descent(lambda v: np.sum((v - 1.0) ** 2), np.zeros(2)), 200))
    >>> np.round(xs[-1], 6)
    array([1., 1.])
    """
    x = x0
    fx, gx = value_and_grad(f, x)
    eta, accepted = 0.1, 0
    while True:
        if eta == 0:
            return
        leaves, rebuild = _flatten(x)
        gleaves, _ = _flatten(gx)
        if all(not np.any(g) for g in gleaves):
            return
        x1 = rebuild([xi - eta * gi for xi, gi in zip(leaves, gleaves)])
        fx1, gx1 = value_and_grad(f, x1)
        if fx1 > fx:
            eta, accepted = eta / 2.0, 0
            continue
        yield x1
        x, fx, gx = x1, fx1, gx1
        if accepted == 10:
            eta, accepted = eta * 2.0, 0
        else:
            accepted += 1


def stochastic_gradient_descent(
    f: Callable[[Any, Any], Any], data: Iterable[Any], x0: Any, learning_rate: float = 0.001
) -> Iterator[Any]:
    """One step ``x <- x - learning_rate * grad_x f(d, x)`` per datum ``d``; yields each iterate.

    >>> import numpy as np
    >>> from plait.gradients import stochastic_gradient_descent
    >>> data = [1.0, 3.0] * 2000
    >>> xs = list(stochastic_gradient_descent(lambda d, x: (x - d) ** 2, data, 0.0, 0.01))
    >>> round(float(xs[-1]), 1)
    2.0
    """
    x = x0
    for d in data:
        _, g = value_and_grad(lambda z: f(d, z), x)
        leaves, rebuild = _flatten(x)
        gleaves, _ = _flatten(g)
        x = rebuild([xi - learning_rate * gi for xi, gi in zip(leaves, gleaves)])
        yield x

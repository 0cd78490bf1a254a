"""Warmup for gradient-based MCMC: dual-averaging step size and a windowed mass matrix (Stan's scheme).

Warmup of ``n`` iterations is cut into three phases (Stan's defaults):

1. a fast initial buffer (75 iterations) where only the step size adapts;
2. slow windows (25, 50, 100, ... iterations, the last stretched to the end
   of the phase) that each collect the positions visited and, at their end,
   set the inverse mass matrix to the positions' regularised variance
   (``dense=True``: covariance), then restart the step-size adaptation
   from a step size fitted to the new metric;
3. a fast terminal buffer (50 iterations) where only the step size adapts.

When ``n`` is too short for 75 + 25 + 50, the buffers take 15 % and 10 % of
it and one window the rest; below 20 iterations only the step size adapts.
After warmup the step size is the dual-averaging iterate average
``exp(log_step_bar)``.

Dual averaging (Hoffman & Gelman 2014, §3.2) drives the mean acceptance
statistic of the transitions towards ``target_accept``:
``log_step = mu - sqrt(t) / gamma * mean(target - accept)`` shrunk towards
``mu = log(10 * step0)``, with the averaged iterate weighted by
``t ** -kappa``.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

__all__ = ["DualAveraging", "Welford", "warmup_windows", "WindowedAdaptation"]


class DualAveraging:
    """Nesterov dual averaging of ``log(step_size)`` towards an acceptance statistic ``target``.

    >>> da = DualAveraging(step_size=1.0, target=0.8)
    >>> for _ in range(200):
    ...     step = da.update(0.9 if da.step_size < 0.5 else 0.6)
    >>> 0.3 < da.final_step_size < 0.7
    True
    """

    def __init__(self, step_size: float, target: float, gamma: float = 0.05, t0: float = 10.0,
                 kappa: float = 0.75) -> None:
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.restart(step_size)

    def restart(self, step_size: float) -> None:
        """Start again around ``step_size`` (shrinking towards ten times it, as Stan)."""
        self.mu = math.log(10.0 * step_size)
        self.log_step = math.log(step_size)
        self.log_step_bar = 0.0
        self.error_sum = 0.0
        self.count = 0

    @property
    def step_size(self) -> float:
        """The current (noisy) step size."""
        return math.exp(self.log_step)

    @property
    def final_step_size(self) -> float:
        """The averaged step size, used after warmup."""
        return math.exp(self.log_step_bar)

    def update(self, accept_stat: float) -> float:
        """Take one transition's mean acceptance statistic; return the next step size."""
        self.count += 1
        t = self.count
        accept = accept_stat if accept_stat == accept_stat else 0.0  # NaN: as a rejection
        self.error_sum += self.target - min(accept, 1.0)
        self.log_step = self.mu - math.sqrt(t) / self.gamma * self.error_sum / (t + self.t0)
        weight = t ** -self.kappa
        self.log_step_bar = weight * self.log_step + (1.0 - weight) * self.log_step_bar
        return self.step_size


class Welford:
    """Running mean and (co)variance of positions, for a window's inverse mass matrix.

    >>> w = Welford(2, dense=False)
    >>> for x in ([0.0, 1.0], [2.0, 1.0], [4.0, 1.0]):
    ...     w.add(np.array(x))
    >>> w.count, w.variance(regularize=False).tolist()
    (3, [4.0, 0.0])
    """

    def __init__(self, dim: int, dense: bool) -> None:
        self.dense = dense
        self.count = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros((dim, dim) if dense else dim)

    def add(self, x: np.ndarray) -> None:
        """Include one position."""
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        if self.dense:
            self.m2 += np.outer(x - self.mean, delta)
        else:
            self.m2 += (x - self.mean) * delta

    def variance(self, regularize: bool = True) -> np.ndarray:
        """Sample (co)variance; regularised towards ``1e-3`` as Stan does: ``n/(n+5) S + 1e-3 * 5/(n+5) I``."""
        n = self.count
        sample = self.m2 / max(n - 1, 1)
        if not regularize:
            return sample
        shrink = 1e-3 * 5.0 / (n + 5.0)
        if self.dense:
            return (n / (n + 5.0)) * sample + shrink * np.eye(len(self.mean))
        return (n / (n + 5.0)) * sample + shrink


def warmup_windows(num_warmup: int, init_buffer: int = 75, term_buffer: int = 50,
                   base_window: int = 25) -> List[Tuple[int, int]]:
    """The slow windows ``[(start, end), ...]`` (iteration indices, end exclusive) of a warmup.

    >>> warmup_windows(1000)
    [(75, 100), (100, 150), (150, 250), (250, 450), (450, 950)]
    >>> warmup_windows(100)
    [(15, 90)]
    >>> warmup_windows(10)
    []
    """
    if num_warmup < 20:
        return []
    if init_buffer + term_buffer + base_window > num_warmup:
        init_buffer = int(0.15 * num_warmup)
        term_buffer = int(0.1 * num_warmup)
        base_window = num_warmup - init_buffer - term_buffer
    end_of_slow = num_warmup - term_buffer
    windows = []
    start, size = init_buffer, base_window
    while start < end_of_slow:
        end = start + size
        if end + 2 * size > end_of_slow:  # the next window would not fit: stretch this one
            end = end_of_slow
        windows.append((start, end))
        start, size = end, 2 * size
    return windows


class WindowedAdaptation:
    """Per-iteration warmup bookkeeping: which window the iteration is in and what to do at its end.

    ``observe(x)`` is called after each warmup transition with the new
    position; it returns True when a slow window has just closed (the
    caller then takes the new ``inverse_mass`` and re-fits its step size).

    >>> a = WindowedAdaptation(num_warmup=100, dim=1, dense=False)
    >>> closed = [a.observe(np.array([float(i % 3)])) for i in range(100)]
    >>> closed.index(True), a.inverse_mass.round(3).tolist()
    (89, [0.634])
    """

    def __init__(self, num_warmup: int, dim: int, dense: bool) -> None:
        self.windows = warmup_windows(num_warmup)
        self.dim, self.dense = dim, dense
        self.iteration = 0
        self.inverse_mass: np.ndarray = np.eye(dim) if dense else np.ones(dim)
        self._estimator: Optional[Welford] = None

    def observe(self, x: np.ndarray) -> bool:
        """Record the position after warmup iteration ``self.iteration``; True if a window closed."""
        i = self.iteration
        self.iteration += 1
        for start, end in self.windows:
            if start <= i < end:
                if i == start:
                    self._estimator = Welford(self.dim, self.dense)
                assert self._estimator is not None
                self._estimator.add(x)
                if i == end - 1:
                    self.inverse_mass = self._estimator.variance()
                    return True
        return False

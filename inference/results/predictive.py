"""Predictive: the per-address draws of :func:`plait.predictive`."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import (
    Any,
)

import numpy as np

from .arviz_output import predictive_to_arviz

__all__ = ["ABSENT", "Predictive", "stack_draws"]


class _Absent:
    """Marker for a draw that did not visit a site (its branch was not taken)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


#: The value of a site in a draw that did not visit it, before :func:`stack_draws`.
ABSENT = _Absent()


def stack_draws(column: Sequence[Any], num_chains: int) -> np.ndarray:
    """One site's per-draw values as an array of shape ``(num_chains, draws per chain, *site shape)``.

    Numeric values of one shape are stacked; if some draws did not visit
    the site (:data:`ABSENT`), the array is float with NaN there.  Values
    of different shapes, or not numeric, give an object array of shape
    ``(num_chains, draws per chain)`` holding each draw's value as it is
    (``None`` where absent).

    >>> stack_draws([1.0, ABSENT, 3.0, 4.0], 2).tolist()
    [[1.0, nan], [3.0, 4.0]]
    >>> stack_draws([[1.0], [1.0, 2.0]], 1).dtype
    dtype('O')
    """
    present = [np.asarray(v) for v in column if v is not ABSENT]
    shapes = {a.shape for a in present}
    if len(shapes) == 1 and all(a.dtype.kind in "biufc" for a in present):
        if len(present) == len(column):
            flat = np.stack(present)
        else:
            gap = np.full(next(iter(shapes)), math.nan)
            flat = np.stack([gap if v is ABSENT else np.asarray(v, dtype=float) for v in column])
    else:
        flat = np.empty(len(column), dtype=object)
        for i, value in enumerate(column):
            flat[i] = None if value is ABSENT else value
    return flat.reshape((num_chains, len(column) // num_chains) + flat.shape[1:])


class Predictive(Mapping[Hashable, np.ndarray]):
    """Predictive draws per address: the result of :func:`plait.predictive`.

    A read-only mapping: ``pred[address]`` is an array of shape
    ``(num_chains * num_samples, *site shape)`` (chains concatenated, as
    for :class:`~plait.Chain`); ``pred.draws(address)`` keeps the chain
    axis.  ``kinds[address]`` says what the site is: ``"observed"`` (an
    observation, simulated), ``"latent"`` or ``"deterministic"``.
    ``observed_data`` holds the observed values as the model wrote them;
    ``source`` is ``"prior"`` or ``"posterior"``.  A site a draw did not
    visit is NaN there; a site whose shape varies between draws (or whose
    values are not numeric) is an object array of the values as they were.

    >>> p = Predictive({"y": np.array([[0.1, 0.2, 0.3]])}, {"y": "observed"}, num_samples=3,
    ...                observed_data={"y": 1.0}, source="prior")
    >>> p["y"].tolist(), p.num_samples, p.observed_sites, dict(p.kinds)
    ([0.1, 0.2, 0.3], 3, ['y'], {'y': 'observed'})
    """

    def __init__(self, values: Mapping[Hashable, np.ndarray], kinds: Mapping[Hashable, str],
                 num_samples: int, observed_data: Mapping[Hashable, Any] | None = None,
                 source: str = "posterior") -> None:
        self._values = dict(values)
        self.kinds: dict[Hashable, str] = dict(kinds)
        self.num_samples = num_samples
        self.observed_data: dict[Hashable, Any] = dict(observed_data or {})
        self.source = source

    @property
    def num_chains(self) -> int:
        """Chains of draws (those of the posterior :class:`~plait.Chain`; else 1)."""
        first = next(iter(self._values.values()), None)
        return 1 if first is None else int(first.shape[0])

    @property
    def observed_sites(self) -> list[Hashable]:
        """The addresses of the simulated observations, in visit order."""
        return [a for a, kind in self.kinds.items() if kind == "observed"]

    def draws(self, address: Hashable) -> np.ndarray:
        """Values of ``address`` with shape ``(num_chains, num_samples, *site shape)``.

        >>> p = Predictive({"y": np.zeros((2, 5))}, {"y": "observed"}, num_samples=5)
        >>> p.draws("y").shape, p["y"].shape
        ((2, 5), (10,))
        """
        try:
            return self._values[address]
        except KeyError:
            raise KeyError(f"address {address!r} is not in the predictive draws; they have {list(self)!r}") from None

    def __getitem__(self, address: Hashable) -> np.ndarray:
        values = self.draws(address)
        return values.reshape((-1,) + values.shape[2:])

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_arviz(self, addresses: Iterable[Hashable] | None = None) -> Any:
        """The draws as ``arviz.InferenceData`` (needs ``pip install plait[arviz]``).

        Observed sites go to ``prior_predictive`` / ``posterior_predictive``,
        latent and deterministic sites to ``prior`` / ``posterior``, dims
        ``(chain, draw, *site shape)``; see
        :func:`~plait.inference.results.arviz_output.predictive_to_arviz`.

        >>> p = Predictive({"y": np.zeros((2, 5))}, {"y": "observed"}, num_samples=5)
        >>> p.to_arviz().posterior_predictive["y"].dims  # doctest: +SKIP
        ('chain', 'draw')
        """
        return predictive_to_arviz(self, addresses)

    def __repr__(self) -> str:
        return (f"Predictive({self.source}, {self.num_chains} chain(s) x {self.num_samples} draws, "
                f"sites {list(self)!r})")

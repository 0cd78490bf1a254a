"""Checks of the arguments engines share (counts of particles, samples, chains...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["check_count"]


def check_count(caller: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, or an :class:`~plait.errors.InvalidArgumentError` (a ``ValueError``) naming ``caller`` and ``name`` if it is not one ≥ ``minimum``.

    >>> check_count("mh", "thin", 2, 1)
    2
    >>> check_count("mh", "thin", 0, 1)
    Traceback (most recent call last):
    ...
    plait.errors.InvalidArgumentError: mh: thin must be an int >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{caller}: {name} must be an int >= {minimum}, got {value!r}", name)
    return int(value)

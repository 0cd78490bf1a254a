"""Effects: the requests models yield, their constructors, and the distributions they carry.

>>> import plait
>>> type(plait.sample("x", plait.Normal(0, 1))).__name__
'Sample'
"""

from . import distributions
from .distributions import *  # noqa: F401,F403
from .records import (
    UNSET,
    Branch,
    Deterministic,
    Effect,
    Factor,
    Handled,
    Loop,
    Observe,
    Param,
    Sample,
    deterministic,
    resample_point,
    RESAMPLE_POINT,
    factor,
    fold,
    independent,
    IndependentRuns,
    iterate,
    observe,
    param,
    renamed,
    sample,
    branch,
)

__all__ = [
    "distributions",
    "UNSET",
    "Sample",
    "Observe",
    "Factor",
    "Param",
    "Deterministic",
    "Loop",
    "Handled",
    "Branch",
    "Effect",
    "branch",
    "sample",
    "observe",
    "factor",
    "param",
    "deterministic",
    "resample_point",
    "RESAMPLE_POINT",
    "iterate",
    "fold",
    "independent",
    "IndependentRuns",
    "renamed",
    *distributions.__all__,
]

"""Inference: the run loop and the algorithms built on it.

>>> import plait
>>> plait.inference.simulate is plait.simulate
True
"""

from .exact import exact
from .importance import importance
from .measure import Measure
from .population import Population
from .smc import smc
from .runtime import Execution, RunResult, Stack, make_rng, run, start
from .simulate import log_density, simulate

__all__ = [
    "Execution",
    "RunResult",
    "Stack",
    "make_rng",
    "run",
    "start",
    "simulate",
    "log_density",
    "exact",
    "Measure",
    "importance",
    "Population",
    "smc",
]

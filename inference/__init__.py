"""Inference: the run loop and the algorithms built on it.

>>> import plait
>>> plait.inference.simulate is plait.simulate
True
"""

from .chain import Chain
from .exact import exact
from .kernels import Kernel, SingleSite, cycle, mixture, proposal_kernel, repeat, sequence
from .mh import mh
from .gradinf import SIR, MeanField, Score, TwistedSMC, VariableElimination, coupled_difference, gradinf
from .gradinf import Population as ExactPopulation
from .particle_mcmc import pmmh, rmsmc
from .check import CheckResult, Counterexample, check
from .guided import GuideWeight, guided
from .importance import importance
from .measure import Measure
from .population import Population
from .runs import PopulationRuns
from .smc import smc
from .runtime import Execution, RunResult, Stack, make_rng, run, start
from .simulate import log_density, simulate
from .svi import SVIResult, svi
from .unconstrained import LogDensity

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
    "guided",
    "GuideWeight",
    "check",
    "CheckResult",
    "Counterexample",
    "Population",
    "PopulationRuns",
    "smc",
    "mh",
    "gradinf",
    "coupled_difference",
    "SIR",
    "Score",
    "TwistedSMC",
    "MeanField",
    "VariableElimination",
    "ExactPopulation",
    "rmsmc",
    "pmmh",
    "Chain",
    "Kernel",
    "SingleSite",
    "proposal_kernel",
    "sequence",
    "mixture",
    "repeat",
    "cycle",
    "svi",
    "SVIResult",
    "LogDensity",
]

"""Inference: the run loop and the algorithms built on it.

>>> import plait
>>> plait.inference.simulate is plait.simulate
True
"""

from .results.chain import Chain
from .enumeration.exact import exact
from .mcmc.kernels import Kernel, SingleSite, cycle, mixture, proposal_kernel, repeat, sequence
from .mcmc.mh import mh
from .mcmc.hmc import hmc, hmc_kernel, nuts, nuts_kernel
from .gradient_estimation.estimator import (
    SIR,
    ExactPopulation,
    MeanField,
    Score,
    TwistedSMC,
    VariableElimination,
    coupled_difference,
    gradinf,
)
from .mcmc.particle import pmmh, rmsmc
from .vi.check import CheckResult, Counterexample, check
from .vi.guided import GuideWeight, guided
from .particles.importance import importance
from .enumeration.measure import Measure
from .results.population import Population
from .results.runs import PopulationRuns
from .particles.tiers import smc
from ..handlers.runloop import Execution, RunResult, Stack, run
from ..handlers.seed import make_rng
from ..handlers.base import start
from .simulate import log_density, simulate
from .predictive import predictive
from .results.predictive import Predictive
from .vi.svi import SVIResult, svi
from .embedding.log_density import LogDensity

__all__ = [
    "Execution",
    "RunResult",
    "Stack",
    "make_rng",
    "run",
    "start",
    "simulate",
    "log_density",
    "predictive",
    "Predictive",
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
    "nuts",
    "hmc",
    "nuts_kernel",
    "hmc_kernel",
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

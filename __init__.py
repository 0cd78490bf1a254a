"""plait: probabilistic programming with Python generators and composable handlers.

A model is a generator function that yields effect requests; handlers,
stacked explicitly, interpret the same program as a sampler, a density, an
exact measure or a gradient estimator.

>>> import plait
>>> def coin(flips):
...     p = yield plait.sample("p", plait.Beta(1.0, 1.0))
...     for i, f in enumerate(flips):
...         yield plait.observe(("flip", i), plait.Bernoulli(p), f)
...     return p
>>> t = plait.simulate(coin, [1, 0, 1], seed=0)
>>> sorted(t.observations.values())
[0, 1, 1]
"""

from . import effects, errors, ext, gradients, handlers, inference
from . import bridges
from .effects import (
    UNSET,
    Deterministic,
    Factor,
    Loop,
    Observe,
    Param,
    Sample,
    Branch,
    branch,
    deterministic,
    resample_point,
    RESAMPLE_POINT,
    factor,
    fold,
    independent,
    iterate,
    observe,
    param,
    sample,
)
from .effects.distributions import *  # noqa: F401,F403
from .effects.distributions import __all__ as _distribution_names
from .effects.distributions import supports
from .effects import transforms
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _error_names
from .gradients import (
    SGD,
    Adam,
    Dual,
    diff,
    grad,
    hessian,
    jacobian,
    stop_gradient,
    value_and_diff,
    value_and_grad,
)
from .handlers import Handler, Trace
from .inference import (
    Chain,
    Kernel,
    Measure,
    SingleSite,
    cycle,
    mh,
    gradinf,
    coupled_difference,
    SIR,
    Score,
    TwistedSMC,
    MeanField,
    VariableElimination,
    ExactPopulation,
    mixture,
    pmmh,
    rmsmc,
    proposal_kernel,
    repeat,
    sequence,
    Population,
    PopulationRuns,
    RunResult,
    Stack,
    exact,
    importance,
    guided,
    GuideWeight,
    check,
    CheckResult,
    log_density,
    LogDensity,
    predictive,
    Predictive,
    run,
    simulate,
    smc,
    svi,
    SVIResult,
)
from .handlers.scope import scope

__version__ = "0.1.0"

__all__ = [
    "bridges",
    "effects",
    "errors",
    "ext",
    "gradients",
    "handlers",
    "inference",
    "supports",
    "transforms",
    "UNSET",
    "Sample",
    "Observe",
    "Factor",
    "Param",
    "Deterministic",
    "Loop",
    "Branch",
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
    "scope",
    "Handler",
    "Trace",
    "RunResult",
    "Stack",
    "run",
    "simulate",
    "log_density",
    "LogDensity",
    "predictive",
    "Predictive",
    "exact",
    "Measure",
    "importance",
    "guided",
    "GuideWeight",
    "check",
    "CheckResult",
    "Population",
    "PopulationRuns",
    "smc",
    "svi",
    "SVIResult",
    "Adam",
    "SGD",
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
    "Dual",
    "diff",
    "value_and_diff",
    "grad",
    "value_and_grad",
    "jacobian",
    "hessian",
    "stop_gradient",
    *_distribution_names,
    *_error_names,
]

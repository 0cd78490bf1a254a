"""Compiled kernels on float64 log-weight arrays.

Sequential Monte Carlo and importance sampling keep particle weights as
log-weights.  This package holds the Cython kernels that turn them into
something usable:

* :func:`logsumexp` -- ``log(sum(exp(lw)))`` without overflow (the log of the
  evidence increment);
* :func:`normalize` -- weights summing to 1;
* :func:`log_normalize` -- ``lw - logsumexp(lw)``;
* :func:`ess` -- the effective sample size ``1 / sum(w**2)``;
* :func:`normal_log_density` -- the Normal log density in one pass (``Normal.log_prob`` on arrays).

They accept any array-like of numbers (converted to contiguous float64) and
follow the conventions of :mod:`plait.ext.reference`, the pure-numpy
specification they are tested against.

The compiled module is imported directly: if it was not built, importing
``plait.ext`` fails rather than falling back to the slower reference.
:func:`compiled_module` returns the module in use, for checks.

>>> from plait.ext import normalize, ess
>>> normalize([0.0, float("-inf")]).tolist()
[1.0, 0.0]
>>> ess([0.0, 0.0])
2.0
"""

from __future__ import annotations

from types import ModuleType

from . import _logweights, reference, resample_reference
from ._densities import normal_log_density
from ._logweights import (
    all_impossible,
    ess,
    ess_and_log_mean,
    log_normalize,
    logsumexp,
    normalize,
)
from ._ranges import all_in_range
from ._resample import (
    ess_log_mean_systematic,
    log_evidence_increment,
    multinomial,
    resample_generic,
    residual,
    residual_uniform_count,
    stratified,
    systematic,
)

__all__ = [
    "logsumexp",
    "normalize",
    "log_normalize",
    "ess",
    "ess_and_log_mean",
    "all_impossible",
    "ess_log_mean_systematic",
    "log_evidence_increment",
    "multinomial",
    "systematic",
    "stratified",
    "residual",
    "residual_uniform_count",
    "resample_generic",
    "all_in_range",
    "normal_log_density",
    "reference",
    "resample_reference",
    "compiled_module",
]


def compiled_module() -> ModuleType:
    """Return the compiled extension module that provides the kernels.

    >>> import importlib.machinery
    >>> from plait.ext import compiled_module
    >>> compiled_module().__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    True
    """
    return _logweights

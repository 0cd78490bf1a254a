"""The ``--impl`` adapters through which ``../shared/bench-anchors/`` times plait.

The anchor scripts time these functions in the same interleaved loop as
their anchors (hand-written numpy, portable Cython kernels, ``particles``)
and print the ratios.  They never import plait's internals: each adapter
calls plait's public API the way a user would.  Run from the anchors'
virtualenv, with plait's parent folder and this repository on the path::

    P=/work/anchors-venv/bin/python A=/work/shared/bench-anchors
    PYTHONPATH=/work/anchors-build:/work/wt/NAME $P $A/bench_resample.py \\
        --pythonpath /work/wt/NAME/plait --impl plait=bench.adapters:systematic \\
        --impl plait_smc=bench.adapters:smc_systematic
    PYTHONPATH=/work/anchors-build:/work/wt/NAME $P $A/bench_smc.py \\
        --pythonpath /work/wt/NAME/plait --impl plait=bench.adapters:lgssm_logz \\
        --impl numpy=bench.adapters:numpy_filter_logz \\
        --impl numpy_fast=bench.adapters:numpy_filter_fast_logz

(``docs`` of the setup: ``bench/filters.py``'s docstring.)
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import plait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/ modules, as in the scripts
import filters
from lgssm_model import lgssm

_rng = np.random.default_rng(2024)


def systematic(logw: np.ndarray) -> np.ndarray:
    """bench_resample: float64[N] unnormalised log-weights -> int64[N] ancestors (a new array)."""
    return plait.ext.systematic(logw, rng=_rng)


def smc_systematic(logw: np.ndarray) -> np.ndarray:
    """The same as an SMC step of plait draws it: ESS and log mean weight, then the
    ancestors, from one ``exp`` pass (``ess_log_mean_systematic``; resampling forced)."""
    return plait.ext.ess_log_mean_systematic(logw, math.inf, _rng)[2]


_out: dict = {}


def systematic_out(logw: np.ndarray) -> np.ndarray:
    """The same into an output array reused across calls, as the anchors' Cython kernels do."""
    out = _out.get(logw.shape[0])
    if out is None:
        out = _out[logw.shape[0]] = np.empty(logw.shape[0], dtype=np.int64)
    return plait.ext.systematic(logw, rng=_rng, out=out)


def lgssm_logz(y: np.ndarray, n: int, seed: int) -> float:
    """bench_smc: log evidence of the LG-SSM by ``plait.smc`` on the plain-loop model.

    ``lgssm`` starts from the stationary law and moves before its first
    observation; moving from the stationary law leaves it stationary, so the
    law of the observations, hence the evidence, is that of bench_smc's model.
    Systematic resampling at every step (``ess_threshold=1``: ESS < N).
    """
    population = plait.smc(lgssm, [float(v) for v in y], num_particles=n,
                           ess_threshold=1.0, seed=seed)
    return float(population.log_evidence)


def numpy_filter_logz(y: np.ndarray, n: int, seed: int) -> float:
    """bench_smc: plait's hand-written numpy filter (``filters.lgssm_filter``), numpy resampling."""
    return filters.lgssm_filter(y, n, seed)


def numpy_filter_fast_logz(y: np.ndarray, n: int, seed: int) -> float:
    """bench_smc: the same filter resampling with plait's compiled systematic kernel."""
    return filters.lgssm_filter(y, n, seed, filters.systematic_compiled)

# Type stub for the compiled module ext/_resample.pyx (keep the two in step;
# the signatures are those of ext/resample_reference.py).

from typing import Any, Optional, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike, NDArray

def systematic(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
    out: Optional[NDArray[np.int64]] = None,
) -> NDArray[np.int64]: ...
def ess_log_mean_systematic(
    log_weights: ArrayLike, limit: float, rng: np.random.Generator
) -> tuple[float, float, NDArray[np.int64] | None]: ...
def stratified(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> NDArray[np.int64]: ...
def multinomial(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> NDArray[np.int64]: ...
def residual_uniform_count(log_weights: ArrayLike, size: Optional[SupportsIndex] = None) -> int: ...
def residual(
    log_weights: ArrayLike,
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> NDArray[np.int64]: ...
def log_evidence_increment(log_weights: ArrayLike) -> float: ...
def resample_generic(
    weights: ArrayLike,
    primal: ArrayLike,
    scheme: str = "systematic",
    rng: Optional[np.random.Generator] = None,
    uniforms: Optional[ArrayLike] = None,
    size: Optional[SupportsIndex] = None,
) -> tuple[NDArray[np.int64], NDArray[Any]]: ...
def _systematic_textbook(
    log_weights: ArrayLike, u: float, size: Optional[SupportsIndex] = None
) -> NDArray[np.int64]: ...

# Type stub for the compiled module ext/_trajectory.pyx (keep the two in step;
# the signatures are those of ext/trajectory_reference.py).

from typing import Any, Callable, Optional, Tuple

import numpy as np

State = Tuple[np.ndarray, float, np.ndarray]
Outcome = Tuple[Optional[State], float, bool, float, int, int]

def nuts(
    potential: Callable[[np.ndarray], Tuple[float, np.ndarray]],
    metric: Any,
    point: Any,
    step_size: float,
    rng: np.random.Generator,
    max_tree_depth: int,
    threshold: float,
) -> Outcome: ...
def hmc(
    potential: Callable[[np.ndarray], Tuple[float, np.ndarray]],
    metric: Any,
    point: Any,
    step_size: float,
    rng: np.random.Generator,
    num_steps: int,
    threshold: float,
) -> Outcome: ...
def find_reasonable_step_size(
    potential: Callable[[np.ndarray], Tuple[float, np.ndarray]],
    metric: Any,
    point: Any,
    step_size: float,
    rng: np.random.Generator,
    target: float,
) -> float: ...

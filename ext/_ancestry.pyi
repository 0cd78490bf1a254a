# Type stub for the compiled module ext/_ancestry.pyx (keep the two in step).

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

def distinct_parents(parents: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]: ...
def prune_log(answers: list[Any], gathers: list[tuple[int, NDArray[Any]]], lane_answer: type,
              levels: int = -1) -> tuple[list[tuple[int, NDArray[Any]]], int]: ...

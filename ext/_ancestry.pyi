# Type stub for the compiled module ext/_ancestry.pyx (keep the two in step).

import numpy as np
from numpy.typing import ArrayLike, NDArray

def distinct_parents(parents: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]: ...

# Type stub for the compiled module ext/_densities.pyx (keep the two in step).

from typing import Any

import numpy as np
from numpy.typing import NDArray

def normal_log_density(x: Any, loc: Any, scale: Any) -> NDArray[np.float64] | None: ...

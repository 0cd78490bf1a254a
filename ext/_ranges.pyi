# Type stub for the compiled module ext/_ranges.pyx (keep the two in step).

from numpy.typing import ArrayLike

def all_in_range(
    a: ArrayLike, low: float, high: float, low_closed: bool, high_closed: bool
) -> bool: ...

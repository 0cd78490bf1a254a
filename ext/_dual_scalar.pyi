# Type stub for the compiled module ext/_dual_scalar.pyx (keep the two in step).

from collections.abc import Callable
from typing import Any, Optional

def register(dual: type, live: Any, escaped: Callable[..., Any]) -> None: ...
def binary(d: Any, o: Any, op: int) -> Optional[Any]: ...

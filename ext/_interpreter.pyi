# Type stub for the compiled module ext/_interpreter.pyx (keep the two in step).
# Effects are plait's effect records; a Process's dispatch, hooks and answers
# are typed as the run loop (plait.handlers.runloop) uses them.

from collections.abc import Callable, Generator, Hashable, Iterable
from typing import Any, Generic, Optional, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from ..effects.records import Effect, Handled, Loop

_Record = TypeVar("_Record")
_Dispatch = Callable[[Effect], Any]

def register_scalar_families(normal: type, bernoulli: type) -> None: ...
def draw(dist: Any, rng: Optional[np.random.Generator]) -> Any: ...

class RunRandom:
    @property
    def rng(self) -> Optional[np.random.Generator]: ...
    @rng.setter
    def rng(self, value: Optional[np.random.Generator]) -> None: ...

class SampleConstructor(Generic[_Record]):
    def __init__(self, record_class: type[_Record]) -> None: ...
    def __call__(self, name: Hashable, dist: Any, value: Any) -> _Record: ...

class SampleRequest:
    couple: Optional[Callable[[Any, Any], Any]]
    def __init__(
        self,
        record_class: type,
        distribution_class: type,
        adapt: Optional[Callable[[Hashable, Any], Any]],
        unset: Any,
    ) -> None: ...
    def __call__(self, name: Hashable, dist: Any, coupling: Optional[str] = None) -> Any: ...

def register_effect_kinds(
    sample: type,
    observe: type,
    factor: type,
    param: type,
    deterministic: type,
    branch: type,
    loop: type,
    handled: type,
    unset: Any,
    fail: Callable[[str, Any], None],
) -> None: ...
def register_error_hooks(
    site_error: Callable[[BaseException, Any], None], name_site: Callable[[BaseException, Any], None]
) -> None: ...
def plain_answer(effect: Effect) -> Any: ...

class BaseInterpreter(RunRandom):
    def __init__(
        self, rng: Optional[np.random.Generator], record: dict[Hashable, tuple[Any, Effect]]
    ) -> None: ...
    def __call__(self, effect: Effect) -> Any: ...

class _Hooks(Protocol):
    """What a Process asks its hooks (plait.handlers.runloop.Execution) for."""

    def loop_step(
        self, loop: Loop, step: int, state: Any, dispatch: _Dispatch, /
    ) -> tuple[Generator[Any, Any, Any], _Dispatch]: ...
    def enter(
        self, effect: Handled, dispatch: _Dispatch, expand: bool, /
    ) -> tuple[_Dispatch, bool, Any]: ...
    def leave(self, token: Any, value: Any, /) -> None: ...
    def abandon(self, token: Any, /) -> None: ...

class Process:
    pending: Optional[Effect]
    done: bool
    value: Any
    def __init__(
        self,
        gen: Generator[Any, Any, Any],
        dispatch: _Dispatch,
        expand_loops: bool,
        hooks: _Hooks,
        before: tuple[type, ...] = (),
        after: tuple[type, ...] = (),
    ) -> None: ...
    @property
    def dispatch(self) -> _Dispatch: ...
    def resume(self, answer: Any = ...) -> Optional[Effect]: ...
    def throw(self, error: BaseException) -> Optional[Effect]: ...
    def expand(self) -> Optional[Effect]: ...
    def close(self) -> None: ...

class AnswerLog:
    def __init__(
        self,
        prefix: Iterable[tuple[Effect, Any]],
        then: Optional[_Dispatch],
        answers: Optional[list[tuple[Effect, Any]]],
        diverged: Optional[Callable[[int, Effect, Effect], Any]],
    ) -> None: ...
    def __call__(self, effect: Effect) -> Any: ...
    def peek(self) -> Optional[tuple[Effect, Any]]: ...
    def record(self, effect: Effect, answer: Any) -> Any: ...
    def restart(self, prefix: Iterable[tuple[Effect, Any]], answers: Optional[list[tuple[Effect, Any]]]) -> None: ...

def run_to_end(gen: Generator[Any, Any, Any], dispatch: _Dispatch, expand_loops: bool, hooks: _Hooks) -> Any: ...

class KernelSites(RunRandom):
    log_weight: float
    def __init__(
        self,
        rng: Optional[np.random.Generator],
        total: Callable[[Any], float],
        check: Callable[[Any, Any], Any],
    ) -> None: ...
    def reset(self) -> None: ...
    def __call__(self, effect: Effect) -> Any: ...
    def run_steps(
        self,
        kernels: list[Optional[Callable[..., Any]]],
        states: list[Any],
        xs: Optional[list[Any]],
        log_weights: NDArray[np.float64],
        members: list[int],
        hooks: _Hooks,
    ) -> None: ...

"""Independent replicas — chains, SMC runs, gradient estimates, importance batches — on any executor.

A replica is one call ``fn(seed=s)`` of a picklable function on a seed
spawned from the caller's ``SeedSequence``.  Because each replica's
randomness comes only from its own seed, the results are the same whether
the replicas ran in this process, on a ``ProcessPoolExecutor`` or on a Dask
cluster (``Client.get_executor()``): executors only decide *where* they run.

Replicas are grouped into at most :data:`MAX_TASKS` contiguous chunks, one
task each, so thousands of cheap replicas (gradient estimates) do not pay a
round trip each.  A failing replica does not stop its chunk: every replica
runs, and the failures are reported together in one :class:`ReplicaError`
that keeps the finished results.
"""

from __future__ import annotations

import concurrent.futures
from concurrent.futures.process import BrokenProcessPool
import inspect
import pickle
import traceback
from functools import partial
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import Interrupted, ReplicaError, UnpicklableError, WorkerDiedError
from ..handlers.seed import SeedLike, seed_sequence

__all__ = ["run_replicas", "spawn_seeds", "MAX_TASKS"]

#: Upper bound on the tasks one call submits (replicas are chunked beyond it).
MAX_TASKS = 64


def spawn_seeds(seed: SeedLike, n: int) -> List[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed``: an int, None, a ``SeedSequence`` or a ``Generator``.

    A ``SeedSequence`` is left as it is: its children are the next ``n`` that
    ``seed.spawn`` would give, built without advancing its spawn counter, so
    a call given the same ``SeedSequence`` twice is the same both times (and
    never reuses the children the caller has spawned already).  A
    ``Generator`` is a stream: it gives the root entropy by one draw.

    >>> [s.spawn_key for s in spawn_seeds(7, 3)]
    [(0,), (1,), (2,)]
    >>> root = np.random.SeedSequence(7)
    >>> spawn_seeds(root, 2)[1].spawn_key, spawn_seeds(root, 2)[1].spawn_key, root.n_children_spawned
    ((1,), (1,), 0)
    """
    if isinstance(seed, np.random.SeedSequence):
        first = seed.n_children_spawned
        return [np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (first + i,),
                                       pool_size=seed.pool_size) for i in range(n)]
    if isinstance(seed, np.random.Generator):
        seed = seed.integers(2 ** 63)
    return seed_sequence(seed).spawn(n)


def run_replicas(
    fn: Callable[..., Any],
    seeds: Sequence[np.random.SeedSequence],
    executor: Optional[concurrent.futures.Executor] = None,
    *,
    caller: str = "run_replicas",
    label: str = "replica",
) -> List[Any]:
    """``[fn(seed=s) for s in seeds]``, run on ``executor`` (in this process when None).

    With an executor, ``fn`` and its results travel by pickling (Dask uses
    cloudpickle).  For a ``ProcessPoolExecutor`` the function is checked
    first, and a part of it that cannot be pickled (a lambda, a function
    defined inside another function) raises
    :class:`~plait.errors.UnpicklableError` naming it.  When replicas fail,
    :class:`~plait.errors.ReplicaError` names the first one (``label``, index
    and seed) and chains its exception; ``.results`` keeps the other
    replicas' results (``None`` for failed ones).  A single replica run in
    this process raises its own exception unwrapped, as a plain call would.

    >>> def square_of_draw(seed):
    ...     return float(np.random.default_rng(seed).normal()) ** 2
    >>> seeds = spawn_seeds(0, 4)
    >>> run_replicas(square_of_draw, seeds) == [square_of_draw(seed=s) for s in seeds]
    True
    """
    seeds = list(seeds)
    if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        _check_picklable(fn, caller)
    items = list(enumerate(seeds))
    size = -(-len(items) // MAX_TASKS) if items else 1
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    outcomes: List[Tuple[bool, Any, Optional[str]]] = []
    if executor is None:
        if len(seeds) == 1:
            return [_interruptible(fn, seeds[0], outcomes, caller, label, len(seeds))]
        for chunk in chunks:
            _run_chunk(fn, chunk, False, outcomes, (caller, label, len(seeds)))
    else:
        outcomes = _run_on(executor, fn, chunks, caller, label)
    return _collect(outcomes, seeds, caller, label)


def _run_on(executor: concurrent.futures.Executor, fn: Callable[..., Any], chunks: List[List[Tuple[int, Any]]],
            caller: str, label: str) -> List[Tuple[bool, Any, Optional[str]]]:
    """Run the chunks on ``executor``; replicas whose worker process died are retried one by one, isolated."""
    outcomes: List[Tuple[bool, Any, Optional[str]]] = []
    futures = [executor.submit(_run_chunk, fn, chunk, True) for chunk in chunks]
    try:
        for chunk, future in zip(chunks, futures):
            try:
                outcomes.extend(future.result())
            except BrokenProcessPool:
                outcomes.extend(_isolated(fn, item, label) for item in chunk)
            except Exception as exc:  # the task as a whole failed: transport
                if _is_pickling_problem(exc):
                    raise UnpicklableError(_pickling_message(caller, type(executor).__name__, None, exc)) from exc
                outcomes.extend((False, exc, None) for _ in chunk)
    finally:
        for future in futures:
            future.cancel()
    return outcomes


def _isolated(fn: Callable[..., Any], item: Tuple[int, Any], label: str) -> Tuple[bool, Any, Optional[str]]:
    """Run one replica again in a worker process of its own, after a worker died.

    When a worker process dies (killed, out of memory, a crash in compiled
    code), the pool breaks and every replica it was running fails with it.
    Each of them runs again alone, on the same seed, so the result is the
    one it would have had; the replica whose worker dies again is the one
    that kills it, and fails with :class:`~plait.errors.WorkerDiedError`.
    """
    index = item[0]
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as alone:
        try:
            return alone.submit(_run_chunk, fn, [item], True).result()[0]
        except BrokenProcessPool as exc:
            return False, WorkerDiedError(
                f"the worker process running {label} {index} died (killed, out of memory, or a crash in "
                f"compiled code) and died again when {label} {index} ran alone: {exc}"), None


def _interruptible(fn: Callable[..., Any], seed: Any, outcomes: List[Tuple[bool, Any, Optional[str]]],
                   caller: str, label: str, total: int) -> Any:
    """``fn(seed=seed)``; a Ctrl-C raises :class:`~plait.errors.Interrupted` with every result so far."""
    try:
        return fn(seed=seed)
    except KeyboardInterrupt as stop:
        done = [value if ok else None for ok, value, _ in outcomes]
        partial = done + [getattr(stop, "partial", None)] + [None] * (total - len(done) - 1)
        finished = sum(ok for ok, _, _ in outcomes)
        raise Interrupted(
            f"{caller}: interrupted during {label} {len(done)} of {total} ({finished} finished); "
            f"the results so far are in this exception's .partial (None for {label}s not run)", partial
        ) from None


def _run_chunk(fn: Callable[..., Any], chunk: List[Tuple[int, Any]], portable: bool,
               out: Optional[List[Tuple[bool, Any, Optional[str]]]] = None,
               where: Optional[Tuple[str, str, int]] = None) -> List[Tuple[bool, Any, Optional[str]]]:
    """Run each replica of a chunk; a failure is recorded, not raised, so the others still run.

    Outcomes are appended to ``out``; in this process (``where`` given), a
    Ctrl-C stops the run with :class:`~plait.errors.Interrupted`.
    """
    out = [] if out is None else out
    for _, seed in chunk:
        try:
            out.append((True, fn(seed=seed) if where is None else _interruptible(fn, seed, out, *where), None))
        except Exception as exc:
            text = traceback.format_exc() if portable else None
            if portable:
                try:
                    pickle.dumps(exc)
                except Exception:  # an exception that cannot travel must not sink the chunk's results
                    exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            out.append((False, exc, text))
    return out


class _RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (shown as its cause)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0])


def _collect(outcomes: List[Tuple[bool, Any, Optional[str]]], seeds: List[Any], caller: str, label: str) -> List[Any]:
    results = [value if ok else None for ok, value, _ in outcomes]
    errors = {i: value for i, (ok, value, _) in enumerate(outcomes) if not ok}
    if not errors:
        return results
    for i, exc in errors.items():
        text = outcomes[i][2]
        if text is not None and exc.__traceback__ is None and exc.__cause__ is None:
            exc.__cause__ = _RemoteTraceback(text)
    first = min(errors)
    exc = errors[first]
    others = sorted(errors)[1:]
    also = f"; {label}s {others} failed too" if others else ""
    message = (
        f"{caller}: {label} {first} of {len(seeds)} failed (seed {describe_seed(seeds[first])}): "
        f"{type(exc).__name__}: {exc}{also}. The {len(seeds) - len(errors)} finished results are in "
        f"this error's .results (None for failed {label}s)"
    )
    raise ReplicaError(message, first, seeds[first], results, errors) from exc


def describe_seed(seed: Any) -> str:
    """A one-line description of a ``SeedSequence`` that rebuilds it (``repr`` spans lines)."""
    if isinstance(seed, np.random.SeedSequence):
        return f"SeedSequence(entropy={seed.entropy}, spawn_key={tuple(seed.spawn_key)})"
    return repr(seed)


def _is_pickling_problem(exc: BaseException) -> bool:
    return isinstance(exc, pickle.PicklingError) or (
        isinstance(exc, (TypeError, AttributeError)) and "pickle" in str(exc).lower()
    )


def _check_picklable(fn: Callable[..., Any], caller: str) -> None:
    try:
        pickle.dumps(fn)
    except Exception as exc:
        raise UnpicklableError(_pickling_message(caller, "ProcessPoolExecutor", _culprit(fn), exc)) from exc


def _culprit(fn: Callable[..., Any]) -> Optional[Tuple[str, Any]]:
    """The part of a ``functools.partial`` task that cannot be pickled, with its parameter's name."""
    if not isinstance(fn, partial):
        return None
    try:
        bound = inspect.signature(fn.func).bind_partial(*fn.args, **fn.keywords).arguments
        parts = list(bound.items())
    except (TypeError, ValueError):
        parts = [(f"argument {i}", a) for i, a in enumerate(fn.args)] + list(fn.keywords.items())
    for name, part in parts:
        try:
            pickle.dumps(part)
        except Exception:
            return name, part
    return None


def _pickling_message(caller: str, executor: str, culprit: Optional[Tuple[str, Any]], exc: BaseException) -> str:
    what, kind = "the task", ""
    if culprit is not None:
        name, obj = culprit
        what = f"{name}={obj!r}"
        qualname = getattr(obj, "__qualname__", "")
        if "<lambda>" in qualname:
            kind = " (it is a lambda)"
        elif "<locals>" in qualname:
            kind = " (it is a function defined inside another function)"
    return (
        f"{caller}: cannot send {what} to the {executor} workers: they receive it by pickling, "
        f"which failed{kind}: {type(exc).__name__}: {exc}. Define models, guides and kernels at "
        f"module level (a def at the top level of an importable module), or run in this process "
        f"(executor=None)."
    )

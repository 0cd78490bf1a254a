"""Reused memory for large arrays that only plait holds: kept copies and scratch.

A factored tangent copies the caller's operands it keeps (so mutating them
later cannot move a derivative), and a chain ending in a reduction is
multiplied out in a scratch array.  Large fresh arrays are slow to fill the
first time: glibc serves blocks above its mmap threshold with pages straight
from the OS and hands them back when they are freed, so every new array
takes a page fault per 4 KiB as it is first written, which at 1e5 float64
elements costs more than the copy itself.  :func:`empty` lends such arrays
from a few idle blocks instead, and takes them back when plait is done.

Nothing reads a reference count: the lent array sees its block through a
small ``_Lease`` object (numpy's ``__array_interface__``), which numpy keeps
as the array's base, and every view of the array keeps it alive in turn.
When the last array over the block is gone, the lease's ``__del__`` gives
the block back.  Only plait's own fresh arrays are lent; nothing here
touches memory settings of the process (no ``mallopt``).

>>> import numpy as np
>>> from plait.gradients import buffers
>>> a = buffers.copy(np.arange(4.0))
>>> a.flags.writeable, a.tolist()
(True, [0.0, 1.0, 2.0, 3.0])
"""

from __future__ import annotations

import math
from operator import index
from typing import Any

import numpy as np

__all__: list[str] = []  # internal: users never hold a lent array

#: smaller arrays come from malloc, which reuses freed memory below glibc's
#: default mmap threshold (128 KiB) without returning it to the OS
MIN_BYTES = 1 << 17
#: larger arrays are allocated fresh rather than kept idle
MAX_BYTES = 1 << 25
#: idle blocks kept at most, in bytes (64 MiB); more are freed
IDLE_BYTES = 1 << 26

#: a block of memory: (uint8 array, its address)
_Block = tuple[np.ndarray, int]

# size class (a power of two, in bytes) -> idle blocks.
# No lock: list.pop and list.append are atomic, and the lists are never
# rebound, so a lease's __del__ may run in any thread, even in the middle
# of another call here.
_IDLE: dict[int, list[_Block]] = {1 << b: [] for b in range(MIN_BYTES.bit_length() - 1, MAX_BYTES.bit_length())}


def empty(shape: Any, dtype: Any = np.float64) -> np.ndarray:
    """A new uninitialised C-contiguous array; a large one in a reused block.

    >>> import numpy as np
    >>> from plait.gradients import buffers
    >>> buffers.empty((2, 3)).shape, buffers.empty(40_000).dtype
    ((2, 3), dtype('float64'))
    """
    dtype = np.dtype(dtype)
    shape = (index(shape),) if isinstance(shape, (int, np.integer)) else tuple(map(index, shape))
    nbytes = dtype.itemsize * math.prod(shape)
    if _lent(nbytes, dtype):
        return np.asarray(_Lease(_lend(1 << (nbytes - 1).bit_length()), shape, dtype))
    return np.empty(shape, dtype)


def copy(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` that plait owns, in a reused block if large.

    >>> import numpy as np
    >>> from plait.gradients import buffers
    >>> x = np.arange(50_000.0)
    >>> c = buffers.copy(x[::2])
    >>> x[...] = -1.0
    >>> float(c[-1]), c.shape, c.flags.c_contiguous
    (49998.0, (25000,), True)
    """
    if not _lent(a.nbytes, a.dtype):
        return a.copy()  # C order
    out = empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def _lent(nbytes: int, dtype: np.dtype) -> bool:
    """Whether an array of ``nbytes`` bytes and ``dtype`` comes from the idle blocks."""
    return MIN_BYTES <= nbytes <= MAX_BYTES and dtype.kind in "biufc"


def _lend(size: int) -> _Block:
    """An idle block of ``size`` bytes, or a new one: ``(uint8 array, address)``."""
    try:
        return _IDLE[size].pop()
    except IndexError:  # none idle (or another thread took the last one)
        block = np.empty(size, np.uint8)
        return block, block.ctypes.data


def _give_back(block: _Block) -> None:
    """Keep ``block`` idle for the next :func:`empty`, unless IDLE_BYTES are kept already."""
    size = block[0].size
    if _idle_bytes() + size <= IDLE_BYTES:
        _IDLE[size].append(block)


def _idle_bytes() -> int:
    # Counted afresh rather than kept in a counter that racing threads could skew.
    return sum(size * len(blocks) for size, blocks in _IDLE.items())


class _Lease:
    """The base of one lent array and its views: gives the block back when they are all gone."""

    __slots__ = ("__array_interface__", "_block")

    def __init__(self, block: _Block, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._block = block
        self.__array_interface__ = {
            "shape": shape, "typestr": dtype.str, "data": (block[1], False), "version": 3,
        }

    def __del__(self) -> None:
        try:
            _give_back(self._block)
        except TypeError:  # at interpreter exit, once this module's globals are cleared
            pass

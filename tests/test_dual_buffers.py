"""gradients.buffers: blocks lent for plait's own large arrays are reused, never shared while alive."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from plait.gradients import buffers

LARGE = buffers.MIN_BYTES // 8 + 1000  # float64 elements: lent from the pool


def _address(a):
    return a.__array_interface__["data"][0]


def test_a_released_block_is_lent_again():
    a = buffers.empty(LARGE)
    address = _address(a)
    del a
    b = buffers.empty((LARGE // 2, 2))  # the same size class
    assert _address(b) == address and b.shape == (LARGE // 2, 2)


def test_a_view_keeps_its_block_from_being_lent_again():
    a = buffers.copy(np.arange(float(LARGE)))
    view = a[10:20]
    del a
    b = buffers.empty(LARGE)
    b[...] = -1.0
    np.testing.assert_array_equal(view, np.arange(10.0, 20.0))
    assert not np.shares_memory(view, b)


@pytest.mark.parametrize("shape, dtype", [((10,), np.float64), ((LARGE,), object),
                                          ((buffers.MAX_BYTES // 8 + 1,), np.float64)])
def test_small_huge_and_object_arrays_are_plain_numpy_arrays(shape, dtype):
    a = buffers.empty(shape, dtype)
    assert a.base is None and a.shape == shape and a.dtype == dtype


def test_copies_keep_dtype_and_values_and_are_writeable():
    for x in (np.arange(LARGE, dtype=np.int32), np.linspace(0.0, 1.0, 2 * LARGE)[::2],
              np.broadcast_to(np.arange(3.0), (LARGE, 3))):
        c = buffers.copy(x)
        assert c.dtype == x.dtype and c.flags.c_contiguous and c.flags.writeable
        np.testing.assert_array_equal(c, x)
        assert not np.shares_memory(c, x)


def test_no_more_than_idle_bytes_are_kept(monkeypatch):
    a = buffers.empty(LARGE)
    monkeypatch.setattr(buffers, "IDLE_BYTES", buffers._idle_bytes())  # nothing more fits
    size = a.base._block[0].size
    kept = len(buffers._IDLE[size])
    del a
    assert len(buffers._IDLE[size]) == kept


def test_threads_never_share_a_block():
    errors = []

    def work(value):
        for _ in range(200):
            a = buffers.empty(LARGE)
            a[...] = value
            if not (a == value).all():
                errors.append(value)

    threads = [threading.Thread(target=work, args=(float(i),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

"""Save results (chains, populations, SVI fits) to ``.npz`` files and load them back, losslessly.

A file holds a ``format`` tag, the result's main numeric array in the clear
(``numpy.load(path)["log_joint"]``, ``["log_weights"]``, ``["elbo"]``) and
every field, pickled, in ``payload``: draws keep their addresses (tuples,
strings) and their Python types, and checkpoints the kernels' states, which
no array format holds.  Loading unpickles: load only files you trust.  For
other tools, ``to_arviz().to_netcdf(path)`` writes ArviZ's NetCDF.
"""

from __future__ import annotations

import pickle
from typing import Any, Dict, Tuple

import numpy as np

__all__ = ["load_fields", "save_fields"]


def save_fields(path: Any, kind: str, fields: Dict[str, Any], array_name: str, array: np.ndarray) -> None:
    """Write ``fields`` (pickled) and ``array`` (in the clear, as ``array_name``) to the ``.npz`` file ``path``.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
    >>> save_fields(path, "demo", {"a": (1, "b")}, "w", np.zeros(2))
    >>> load_fields(path, "demo", "w")
    ({'a': (1, 'b')}, array([0., 0.]))
    """
    payload = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
    arrays: Dict[str, Any] = {"format": np.array(f"plait.{kind}/1"), array_name: np.asarray(array),
                              "payload": np.frombuffer(payload, dtype=np.uint8)}
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def load_fields(path: Any, kind: str, array_name: str) -> Tuple[Dict[str, Any], np.ndarray]:
    """The fields and the array :func:`save_fields` wrote for a result of ``kind``.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
    >>> save_fields(path, "demo", {"n": 3}, "w", np.ones(1))
    >>> load_fields(path, "demo", "w")[0]
    {'n': 3}
    >>> load_fields(path, "Chain", "w")
    Traceback (most recent call last):
    ...
    ValueError: ... does not hold a plait Chain (its format is 'plait.demo/1')
    """
    with np.load(path) as stored:
        tag = str(stored["format"]) if "format" in stored else None
        if tag != f"plait.{kind}/1":
            raise ValueError(f"{path!s} does not hold a plait {kind} (its format is {tag!r})")
        array = stored[array_name]
        fields: Dict[str, Any] = pickle.loads(stored["payload"].tobytes())
    return fields, array

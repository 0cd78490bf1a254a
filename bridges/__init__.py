"""Bridges that run plait models inside other systems.

* :mod:`plait.bridges.pyro` — :func:`~plait.bridges.pyro.to_pyro` turns a
  plait model into a Pyro model function, so Pyro's NUTS and SVI run on it
  (``pip install plait[pyro]``).

Importing this package never imports torch or Pyro: the bridge loads them
when it is used.

>>> import plait.bridges.pyro as bridge
>>> bridge.site_name(("flip", 3))
'flip/3'
"""

from . import pyro

__all__ = ["pyro"]

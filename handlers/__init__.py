"""Handlers: small objects that answer, rewrite or record effects.

The handler closest to the model sees each effect first; see
:mod:`plait.handlers.base` for the protocol and the order rule.  Each handler
class has a functional wrapper that applies it to a model, named as in
NumPyro: ``trace(replay(model, t))``.

>>> import plait
>>> def model():
...     return (yield plait.sample("x", plait.Normal(0, 1)))
>>> t = plait.run(plait.handlers.trace(plait.handlers.seed(model, 0))).trace
>>> list(t)
['x']
"""

from .base import HandledModel, Handler, apply
from .block import Block, block
from .condition import Condition, condition
from .params import Params, params
from .replay import Replay, Substitute, replay, substitute
from .scope import LoopStep, Scope, scope_model
from .seed import Seed, seed
from .trace import Site, Trace, TraceHandler, trace
from .weighting import Mask, Scale, mask, scale

#: Handlers that only rewrite an effect on its way out and keep no per-run
#: state: they can be applied afresh at every step of a loop (explicit-state
#: SMC) or folded into a lockstep program (``plait.guided``).
REWRITING_HANDLERS = (Scope, LoopStep, Condition, Scale, Mask)

#: ``plait.handlers.scope(model, prefix)``: NumPyro's argument order.
scope = scope_model

__all__ = [
    "Handler",
    "HandledModel",
    "apply",
    "Seed",
    "TraceHandler",
    "Trace",
    "Site",
    "Replay",
    "Substitute",
    "Params",
    "Condition",
    "Block",
    "Scope",
    "LoopStep",
    "Scale",
    "Mask",
    "seed",
    "trace",
    "replay",
    "substitute",
    "params",
    "condition",
    "block",
    "scope",
    "scale",
    "mask",
]

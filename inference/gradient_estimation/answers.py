"""How GradInf's interpreters answer the effects that are not samples.

Both the coupled-path engine (:mod:`plait.inference.gradient_estimation.estimator`) and the
mean-field run (:mod:`plait.inference.gradient_estimation.mean_field`) answer observations,
factors, deterministics, params and branches the same way, and weigh
observations and factors the same way; this is that one table.

>>> import plait
>>> answer_plain(plait.param("w", 0.5)), log_weight_of(plait.factor("f", -1.5))
(0.5, -1.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...effects.records import Branch, Deterministic, Factor, Handled, Observe, Param
from ...errors import EffectTypeError
from ...gradients.dual import Dual

__all__ = ["answer_plain", "log_weight_of"]


def log_weight_of(effect: Any) -> Any:
    """The log weight an observation or factor adds (a plain number or a Dual), summed over a batch.

    >>> import plait
    >>> round(float(log_weight_of(plait.observe("y", plait.Normal(0.0, 1.0), 0.0))), 6)
    -0.918939
    """
    if type(effect) is Observe:
        return _log_total(effect.dist.log_prob(effect.value))
    return _log_total(effect.log_weight)


def answer_plain(effect: Any) -> Any:
    """The answer to a non-sample effect (observations are weighed by the caller).

    Handlers inside a model, and a branch without a condition (only a guide
    receives decisions), raise :class:`~plait.errors.EffectTypeError`.

    >>> import plait
    >>> answer_plain(plait.branch("b", True))
    True
    """
    kind = type(effect)
    if kind is Observe:
        return effect.value
    if kind is Factor:
        return None
    if kind is Deterministic:
        return effect.value
    if kind is Param:
        return effect.init
    if kind is Branch and effect.condition is not None:
        return effect.condition
    if kind is Handled:
        raise EffectTypeError("gradinf: handlers inside the model (scope, condition...) are not supported yet")
    raise EffectTypeError(f"gradinf: cannot interpret {effect!r}")


def _log_total(lp: Any) -> Any:
    if type(lp) is Dual or isinstance(lp, np.ndarray):
        return np.sum(lp)
    return lp

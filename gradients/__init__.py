"""Automatic differentiation: forward-mode dual numbers over numpy, with Haskell ``ad``'s API.

* :mod:`.dual` — the :class:`Dual` type (primal, ``k`` tangents, nesting tag)
  and the numpy protocol dispatch;
* :mod:`.ufunc_rules`, :mod:`.function_rules`, :mod:`.linalg_rules` — the
  derivative rule tables;
* :mod:`.special` — stable ``logsumexp``, ``log_softmax``, ``softmax``,
  ``polygamma`` that accept duals;
* :mod:`.reverse`, :mod:`.reverse_rules` — reverse mode: the tape, the
  :class:`~.reverse.Reverse` value and the vector-Jacobian rules;
* :mod:`.api` — ``diff``, ``grad``, ``jacobian``, ``hessian``, ``du``, ``vjp``...;
* :mod:`.optimize` — Newton/Halley ``find_zero``, ``gradient_descent``...;
* :mod:`.lex` — lexicographic comparisons for coupled samplers.

>>> import numpy as np
>>> from plait.gradients import grad, hessian
>>> f = lambda v: np.exp(v[0] * v[1])
>>> np.round(grad(f, np.array([1.0, 2.0])), 4)
array([14.7781,  7.3891])
"""

from . import ufunc_rules, function_rules, linalg_rules  # noqa: F401  (fill the rule tables)
from . import reverse_rules  # noqa: F401  (after the forward tables: it mirrors them)
from .api import (
    custom_vjp,
    diff,
    diffs,
    du,
    grad,
    grad_forward,
    hessian,
    hessian_product,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    taylor,
    value_and_diff,
    value_and_grad,
    value_and_grad_forward,
    vjp,
)
from .reverse import Reverse, is_reverse
from .dual import Dual, is_dual, perturbation, primal, stop_gradient, tangent
from .lex import is_zero, lex_ge, lex_gt, lex_le, lex_lt, lex_sign, lexabs, safe_div, safe_mul
from .optimize import (
    extremum,
    find_zero,
    fixed_point,
    gradient_descent,
    stochastic_gradient_descent,
)
from .optimizers import SGD, Adam
from .special import log_softmax, logsumexp, polygamma, softmax

__all__ = [
    "Dual",
    "perturbation",
    "primal",
    "tangent",
    "stop_gradient",
    "is_dual",
    "diff",
    "value_and_diff",
    "grad",
    "value_and_grad",
    "grad_forward",
    "value_and_grad_forward",
    "vjp",
    "jacfwd",
    "jacrev",
    "custom_vjp",
    "Reverse",
    "is_reverse",
    "jacobian",
    "hessian",
    "hessian_product",
    "du",
    "jvp",
    "diffs",
    "taylor",
    "find_zero",
    "extremum",
    "fixed_point",
    "gradient_descent",
    "stochastic_gradient_descent",
    "Adam",
    "SGD",
    "logsumexp",
    "log_softmax",
    "softmax",
    "polygamma",
    "lex_sign",
    "lex_gt",
    "lex_lt",
    "lex_ge",
    "lex_le",
    "lexabs",
    "safe_mul",
    "safe_div",
    "is_zero",
]

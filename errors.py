"""Exceptions raised by plait.

Every error names what went wrong where: the address of the site, the
distribution, and the offending value.  All inherit from :class:`PlaitError`;
those that signal bad arguments also inherit from the matching builtin
(``ValueError``, ``TypeError``) so generic ``except`` clauses keep working.

>>> import plait
>>> issubclass(plait.errors.InvalidParameterError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "PlaitError",
    "InvalidParameterError",
    "ModelTypeError",
    "EffectTypeError",
    "UnhandledEffectError",
    "DuplicateAddressError",
    "ReplayDivergenceError",
    "MissingAddressError",
    "ExtraAddressError",
    "HandlerError",
    "ExactEnumerationError",
    "BudgetExceededError",
    "ZeroMassError",
    "VectorizationError",
    "InitializationError",
    "GradInfError",
    "NoDerivativeRuleError",
    "PerturbationEscapeError",
    "SupportMismatchError",
]


class PlaitError(Exception):
    """Base class of every error plait raises on purpose."""


class InvalidParameterError(PlaitError, ValueError):
    """A distribution or effect was given a parameter outside its domain."""


class ModelTypeError(PlaitError, TypeError):
    """Something that is not a model (a callable returning a generator) was run."""


class EffectTypeError(PlaitError, TypeError):
    """A model yielded something that is not a plait effect, or built one badly."""


class UnhandledEffectError(PlaitError):
    """An effect reached the bottom of the handler stack and nothing answered it."""


class DuplicateAddressError(PlaitError):
    """The same address was used twice in one run."""


class ReplayDivergenceError(PlaitError):
    """A re-executed program asked for something other than what was recorded."""


class MissingAddressError(PlaitError):
    """A latent site had no value where one was required (for example in log_density)."""


class ExtraAddressError(PlaitError):
    """Values were supplied for addresses the program never visited."""


class HandlerError(PlaitError):
    """A handler was misconfigured or misused."""


class ExactEnumerationError(PlaitError):
    """A program cannot be enumerated exactly (continuous or untruncated infinite choices)."""


class BudgetExceededError(PlaitError):
    """An inference budget (``max_paths``, ``max_depth``...) ran out."""


class ZeroMassError(PlaitError, ValueError):
    """A measure with zero total mass was normalised: the observations are impossible."""


class VectorizationError(PlaitError, TypeError):
    """A vectorised run (``smc(..., vectorized=True)``) met control flow on a particle value."""


class InitializationError(PlaitError, ValueError):
    """An MCMC chain could not start: its initial trace has zero density."""


class GradInfError(PlaitError):
    """An alternative path of a GradInf estimate reached a state where the program fails."""


class NoDerivativeRuleError(PlaitError, TypeError):
    """A function was applied to a dual number, but plait has no derivative rule for it.

    plait refuses rather than silently treating the derivative as zero.
    """


class PerturbationEscapeError(PlaitError):
    """A dual number was used after the derivative call that created it had returned.

    This happens when a closure stores an intermediate value of a derivative
    computation in outer state, or when a derivative operator returns a
    function over dual numbers; the stale perturbation would otherwise be
    confused with a live one.
    """


class SupportMismatchError(PlaitError, ValueError):
    """A guide or proposal samples an address with a different support (or kind) than the model.

    A guide whose support differs from the model's gives wrong answers without
    failing: a Normal guide for a positive variable proposes impossible values,
    a Uniform(0, 1) proposal for a Gamma variable never explores most of it.
    """

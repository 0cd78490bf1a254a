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

from typing import Any

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
    "ImproperSampleError",
    "GradInfError",
    "NoDerivativeRuleError",
    "PerturbationEscapeError",
    "SoundnessError",
    "SupportMismatchError",
    "ObservedAddressError",
    "ObservationSupportError",
    "GuideConditioningError",
    "BranchMismatchError",
    "LockstepOrderError",
    "ReplicaError",
    "UnpicklableError",
    "LogDensityError",
    "BridgeError",
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
    """A vectorized program met control flow on a particle value.

    No engine raises it since batched execution splits the lanes instead; it
    stays for code that catches it.
    """


class InitializationError(PlaitError, ValueError):
    """An MCMC chain could not start: its initial trace has zero density."""


class ImproperSampleError(PlaitError, TypeError):
    """An engine tried to draw from an improper distribution (``ImproperUniform``), which has no draws."""


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


class SoundnessError(PlaitError):
    """A guide or proposal does not match its model, so the inference would be wrong.

    Raised by the model/guide checks (:mod:`plait.inference.vi.guide_checks`)
    before any estimate is returned.  ``address`` is the site where the
    mismatch was found (None when it is not one site).
    """

    def __init__(self, message: str, address: object = None) -> None:
        super().__init__(message)
        self.address = address


class SupportMismatchError(SoundnessError):
    """The guide's distribution at an address has another support, or another kind, than the model's."""


class ObservedAddressError(SoundnessError):
    """A guide or proposal sampled an address that the model observes."""


class ObservationSupportError(SoundnessError, ValueError):
    """An observed value lies outside the support of its distribution."""


class GuideConditioningError(SoundnessError, EffectTypeError):
    """A guide or proposal yielded ``observe`` or ``factor``: proposals must be normalised samplers."""


class BranchMismatchError(SoundnessError):
    """A guide's branch decision disagrees with the model's, or names a branch the model never took."""


class LockstepOrderError(SoundnessError):
    """A guide waits for a branch decision while the model needs a value the guide has not proposed."""


class ReplicaError(PlaitError):
    """One of several independent replicas (chains, SMC runs, estimates, batches) failed.

    ``index`` and ``seed`` (a ``numpy.random.SeedSequence``) identify the
    first replica that failed; the original exception is ``__cause__``.
    ``results`` holds every replica's result in order, ``None`` where it
    failed, so finished work is not lost; ``errors`` maps the index of each
    failed replica to its exception.
    """

    def __init__(self, message: str, index: int, seed: object, results: list[Any], errors: dict[int, BaseException]) -> None:
        super().__init__(message)
        self.index = index
        self.seed = seed
        self.results = results
        self.errors = errors


class UnpicklableError(PlaitError, TypeError):
    """A model or argument could not be pickled to send it to an executor's worker processes."""


class LogDensityError(PlaitError, ValueError):
    """A model cannot be given an unconstrained log density (:class:`plait.LogDensity`).

    Its latent addresses change between runs, a latent is discrete, or a
    site's log density is NaN.  ``address`` names the site (None when it is
    not one site).
    """

    def __init__(self, message: str, address: object = None) -> None:
        super().__init__(message)
        self.address = address


class BridgeError(PlaitError):
    """A model cannot be translated to another system (:mod:`plait.bridges`).

    A distribution has no counterpart there, or two addresses render to the
    same site name.  ``address`` names the site.
    """

    def __init__(self, message: str, address: object = None) -> None:
        super().__init__(message)
        self.address = address

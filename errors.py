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

from typing import Any, Optional

__all__ = [
    "PlaitError",
    "InvalidParameterError",
    "InvalidObservationError",
    "InvalidArgumentError",
    "DegenerateWeightsError",
    "WorkerDiedError",
    "Interrupted",
    "at_site",
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
    "LaneSplitWarning",
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
    """A distribution or effect was given a parameter outside its domain.

    ``family``, ``parameter`` and ``value`` say which (None when not one
    parameter); ``address`` is the site whose distribution it was, filled in
    by the run loop when the error reaches the model (see :func:`at_site`).

    >>> import plait
    >>> def model():
    ...     yield plait.sample("x", plait.Normal(0.0, -1.0))
    >>> plait.simulate(model, seed=0)
    Traceback (most recent call last):
    ...
    plait.errors.InvalidParameterError: Normal: parameter 'scale' must be > 0, got -1.0 (at site 'x')
    """

    def __init__(self, message: str, family: Optional[str] = None, parameter: Optional[str] = None,
                 value: Any = None, address: Any = None) -> None:
        super().__init__(message)
        self.family = family
        self.parameter = parameter
        self.value = value
        self.address = address


class InvalidObservationError(PlaitError, ValueError):
    """An observed value is NaN or infinite, or its shape does not fit its distribution.

    ``address`` names the observation.
    """

    def __init__(self, message: str, address: Any = None) -> None:
        super().__init__(message)
        self.address = address


class InvalidArgumentError(PlaitError, ValueError, TypeError):
    """An engine was given a bad argument (``seed=``, ``num_samples=``, ``num_particles=``...).

    Both a ``ValueError`` and a ``TypeError``, as the builtin errors these
    arguments used to raise were one or the other.  ``argument`` names it.

    >>> import plait
    >>> plait.importance(lambda: (yield plait.factor("f", 0.0)), num_particles=0)
    Traceback (most recent call last):
    ...
    plait.errors.InvalidArgumentError: importance: num_particles must be an int >= 1, got 0
    """

    def __init__(self, message: str, argument: Optional[str] = None) -> None:
        super().__init__(message)
        self.argument = argument


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


class DegenerateWeightsError(ZeroMassError):
    """Every particle of a population has weight zero; ``address`` is the observation that did it.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Bernoulli(0.0))
    ...     yield plait.observe("y", plait.Bernoulli(float(x)), 1)
    >>> plait.importance(model, num_particles=3, seed=0).weights
    Traceback (most recent call last):
    ...
    plait.errors.DegenerateWeightsError: all weights are zero: observation 'y' ruled out all 3 particles
    """

    def __init__(self, message: str, address: Any = None) -> None:
        super().__init__(message)
        self.address = address


class VectorizationError(PlaitError, TypeError):
    """A vectorized program met control flow on a particle value.

    No engine raises it since batched execution splits the lanes instead; it
    stays for code that catches it.
    """


class InitializationError(PlaitError, ValueError):
    """An MCMC chain could not start: its initial trace has zero density."""


class LaneSplitWarning(UserWarning):
    """A batched run split into about a group per lane at one conversion: it runs at per-particle speed.

    The result is still right; the warning points at the model line that made
    a Python number of a sampled value (``math.exp(x)``, ``float(x)``, a
    continuous value as a dict key), which numpy's functions avoid.
    """


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


class WorkerDiedError(PlaitError):
    """The worker process running a replica (a chain, an SMC run) died before it returned."""


class Interrupted(KeyboardInterrupt):
    """A long run was interrupted (Ctrl-C); ``partial`` holds what it had computed so far.

    A ``KeyboardInterrupt``, so code that does not look for it stops as on
    any Ctrl-C.  Engines that return a partial result instead (``plait.mh``,
    ``plait.svi``) mark it (``chain.partial``).

    >>> Interrupted("smc: interrupted at step 3", partial=[1, 2]).partial
    [1, 2]
    """

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


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


def at_site(error: BaseException, address: Any) -> BaseException:
    """Name the site ``address`` in ``error`` (a plait error about a value) unless it names one already.

    The run loop calls it when such an error reaches the model: the
    distribution that raised did not know its site.  It sets
    ``error.address`` and appends ``(at site ...)`` to the message;
    other errors, and errors that have an address already, are returned
    unchanged.

    >>> error = at_site(InvalidParameterError("Normal: parameter 'scale' must be > 0, got -1.0"), ("x", 2))
    >>> str(error), error.address
    ("Normal: parameter 'scale' must be > 0, got -1.0 (at site ('x', 2))", ('x', 2))
    """
    if not isinstance(error, _ABOUT_A_SITE) or getattr(error, "address", None) is not None:
        return error
    error.address = address
    if error.args and isinstance(error.args[0], str):
        error.args = (f"{error.args[0]} (at site {address!r})",) + error.args[1:]
    return error


#: The errors :func:`at_site` completes: they are about one site's values.
_ABOUT_A_SITE = (InvalidParameterError, InvalidObservationError, ObservationSupportError)

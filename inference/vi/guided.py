"""``plait.guided(model, guide)``: one program that proposes from the guide and weighs by the model.

The combinator runs the model and the guide in lockstep and is itself a
plain generator program, so every inference runs it unchanged (importance
sampling, every SMC tier that takes any program, exact enumeration,
``plait.check``).  Each side is a :class:`~plait.ext._interpreter.Process`
of the run loop that pauses before every leaf effect; the lockstep reads
the effect as the handlers around it address it, and answers it with
``resume(answer)`` or raises an error at its ``yield`` with ``throw(err)``:

* when the model needs a latent ``a``, the guide is advanced until it
  proposes ``a``; the guide's request ``sample(a, q)`` goes outward, so the
  outer inference draws (or replays) the value ``v`` from ``q``; the model
  receives ``v``, and ``factor(GuideWeight(a), log p(v) - log q(v))`` goes
  outward.  The program's log likelihood is therefore ``log p(x, y) - log
  q(x)``: likelihood weighting of the guided program *is* importance
  sampling with the guide, and SMC sees each weight at the model's step;
* the model's ``plait.branch(name, cond)`` goes outward (an explorer may
  force it) and its decision flows to the guide: a guide's
  ``yield plait.branch(name)`` (no condition) receives it, and a guide
  that computes its own condition must agree with it;
* every check of :mod:`plait.inference.vi.guide_checks` runs at the site, and
  the error is thrown into the program at fault, at the user's ``yield``
  line: supports and kinds, observed addresses never proposed, guides
  never conditioning, observations inside their supports, addresses used
  once, no guide address left unused and no model latent left unproposed.

The guide may propose in any order (proposals are buffered by address)
except that it cannot propose, while waiting to receive a decision, a value
the model needs before making it (:class:`~plait.errors.LockstepOrderError`).
Loops (``iterate``/``fold``) and sub-programs under ``scope``, ``condition``,
``scale`` and ``mask`` are expanded by each side's process, with the same
addresses as the run loop gives them; any other handler around a
sub-program raises at its ``yield``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Optional

import attrs
import numpy as np

from ...effects.records import LEAF_EFFECTS, UNSET, Branch, Factor, Handled, Observe, Sample
from ...errors import (
    BranchMismatchError,
    DuplicateAddressError,
    EffectTypeError,
    ExtraAddressError,
    LockstepOrderError,
    MissingAddressError,
    ObservedAddressError,
)
from ...handlers import REWRITING_HANDLERS
from ...handlers.runloop import Execution
from ...ext._interpreter import plain_answer
from .guide_checks import EQUAL, check_guide_effect, check_observation, check_site, describe, error
from ...handlers.base import start

__all__ = ["guided", "GuidedModel", "GuideWeight", "ForcedBranchConflict"]

# Handlers that only rewrite an effect and forward it, answering with the
# outer answer: the combinator can apply them itself while flattening.
_REWRITERS = REWRITING_HANDLERS


@attrs.frozen(repr=False)
class GuideWeight:
    """The address of the factor ``log p(v) - log q(v)`` that corrects latent ``address``.

    >>> GuideWeight("x")
    GuideWeight('x')
    """

    address: Hashable

    def __repr__(self) -> str:
        return f"GuideWeight({self.address!r})"


class ForcedBranchConflict(BaseException):
    """An explorer forced a branch against a decision the guide had already computed itself.

    Only :func:`plait.check` forces branches; the path it was exploring does
    not exist for this guide, so the checker skips it.  A ``BaseException``,
    so that neither the model nor the run loop can catch it.
    """


class GuidedModel:
    """``model`` proposed by ``guide`` as one program (see :func:`guided`).

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0.0, 1.0)))
    >>> def guide():
    ...     yield plait.sample("x", plait.Normal(0.0, 2.0))
    >>> t = plait.simulate(plait.guided(model, guide), seed=0)
    >>> t.value == t["x"], list(t.factors) == [plait.GuideWeight("x")]
    (True, True)
    """

    __slots__ = ("model", "guide", "relation")

    def __init__(self, model: Callable[..., Any], guide: Callable[..., Any], relation: str) -> None:
        self.model = model
        self.guide = guide
        self.relation = relation

    def __call__(self, *args: Any) -> Any:
        return _Lockstep(self.relation).run(start(self.model, args), start(self.guide, args))

    def __repr__(self) -> str:
        return f"guided({self.model!r}, {self.guide!r})"


def guided(model: Callable[..., Any], guide: Callable[..., Any], *, relation: str = EQUAL) -> GuidedModel:
    """The program that samples every latent of ``model`` from ``guide``, weighted by ``p / q``.

    Both are generator functions taking the same arguments.  The result is a
    model: its log likelihood is ``log p(x, y) - log q(x)``, its latents are
    the guide's proposals, and it returns the model's value.  A guide may
    ``yield plait.branch(name)`` to receive the model's decision at
    ``plait.branch(name, condition)``.  ``relation="covers"`` accepts a
    guide whose support contains the model's (still correct, wasteful);
    the default demands equal supports.

    >>> import plait
    >>> def model():
    ...     x = yield plait.sample("x", plait.Gamma(2.0, 1.0))
    ...     if (yield plait.branch("big", x > 2)):
    ...         y = yield plait.sample("y", plait.Beta(3.0, 1.0))
    ...         yield plait.observe("z", plait.Normal(y, 1.0), 0.8)
    ...     else:
    ...         yield plait.observe("z", plait.Normal(-1.0, 1.0), 0.8)
    >>> def guide():
    ...     yield plait.sample("x", plait.Gamma(1.0, 1.0))
    ...     if (yield plait.branch("big")):  # receives the model's decision
    ...         yield plait.sample("y", plait.Uniform(0.0, 1.0))
    >>> pop = plait.importance(plait.guided(model, guide), num_particles=100, seed=0)
    >>> len(pop)
    100
    """
    if not callable(model) or not callable(guide):
        raise EffectTypeError(f"guided: model and guide must be callables, got {model!r} and {guide!r}")
    if relation not in (EQUAL, "covers"):
        raise ValueError(f"guided: relation must be 'equal' or 'covers', got {relation!r}")
    return GuidedModel(model, guide, relation)


# -- the two sides: programs run as processes that pause before every leaf effect --------


class _Expansion(Execution):
    """The run of one side: expands its loops, and its sub-programs under rewriting handlers.

    A handler that keeps per-run state or answers effects itself cannot be
    folded into the lockstep: entering a sub-program under one raises, at the
    ``yield`` that asked for it.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(None, record_answers=False)

    def enter(self, effect: Handled, dispatch: Callable[[Any], Any], expand: bool) -> tuple[Any, bool, Any]:
        for handler in effect.handlers:
            if type(handler) not in _REWRITERS:
                raise EffectTypeError(
                    f"plait.guided: the handler {handler!r} around a sub-program is not supported inside "
                    "a guided model or guide (scope, condition, scale and mask are); apply it to the "
                    "guided program as a whole"
                )
        return super().enter(effect, dispatch, expand)


def _renamed_leaf(effect: Any) -> Any:
    """The bottom of a side's dispatch: a leaf effect comes back as the handlers above it renamed it.

    Rewriting handlers forward the effect and return the outer answer
    unchanged, so with this callable outermost, ``process.dispatch(effect)``
    is the effect with its final address.  The process itself only calls it
    for something that is not a leaf effect, which the run loop refuses.
    """
    if type(effect) in LEAF_EFFECTS:
        return effect
    return plain_answer(effect)  # raises the run loop's error


# -- lockstep driving -------------------------------------------------------------------


class _Escaped(BaseException):
    """An exception that left the model or the guide: re-raised as it is by the combinator."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Side:
    """One of the two programs: a process paused before its next leaf effect (``pending``, renamed)."""

    __slots__ = ("process", "pending", "done", "value")

    def __init__(self, gen: Any) -> None:
        self.process = _Expansion().process(gen, _renamed_leaf, True, before=LEAF_EFFECTS)
        self.done = False
        self.value: Any = None
        self.pending: Any = None
        self._step(self.process.resume, None)

    def resume(self, answer: Any) -> None:
        """Answer the pending effect and run to the next one."""
        self._step(self.process.resume, answer)

    def throw(self, err: BaseException) -> None:
        """Raise ``err`` at the pending effect's ``yield`` and run to the next one."""
        self._step(self.process.throw, err)

    def close(self) -> None:
        self.process.close()

    def _step(self, method: Callable[[Any], Any], arg: Any) -> None:
        process = self.process
        try:
            effect = method(arg)
            while effect is not None:
                try:
                    dispatch = process.dispatch
                    # No handler around it (the common case): its address is final.
                    self.pending = effect if dispatch is _renamed_leaf else dispatch(effect)
                    return
                except Exception as err:  # renaming failed: the program at fault hears it
                    effect = process.throw(err)
        except Exception as err:
            raise _Escaped(err) from None
        self.done, self.pending, self.value = True, None, process.value


def _total(log_prob: Any) -> Any:
    return np.sum(log_prob) if getattr(log_prob, "ndim", 0) else log_prob


class _Lockstep:
    """The per-run state of one guided execution (see the module docstring)."""

    def __init__(self, relation: str) -> None:
        self.relation = relation
        self.proposed: dict[Hashable, tuple[Any, Any]] = {}  # address -> (value, guide dist): proposed, not yet used
        self.guide_sampled: dict[Hashable, Any] = {}  # address -> guide dist
        self.model_sampled: set[Hashable] = set()
        self.observed: dict[Hashable, Any] = {}  # address -> model dist
        self.decisions: dict[Hashable, tuple[Any, bool]] = {}  # branch name -> (decision, forced)
        self.claims: dict[Hashable, Any] = {}  # branch name -> the guide's own decision, before the model's

    def run(self, model_gen: Any, guide_gen: Any) -> Any:
        model = guide = None
        try:
            model = _Side(model_gen)
            guide = _Side(guide_gen)
            while not model.done:
                effect = model.pending
                try:
                    answer = yield from self._answer_model(effect, guide)
                except Exception as err:
                    model.throw(err)
                    continue
                model.resume(answer)
            yield from self._finish(guide)
            return model.value
        except _Escaped as escaped:
            raise escaped.error from None
        finally:
            for side in (model, guide):
                if side is not None:
                    side.close()

    # -- the model's effects --------------------------------------------------------------
    def _answer_model(self, effect: Any, guide: _Side) -> Any:
        kind = type(effect)
        if kind is Sample and effect.value is UNSET:
            return (yield from self._latent(effect, guide))
        if kind is Observe:
            name = effect.name
            if name in self.guide_sampled:
                raise error(
                    ObservedAddressError, name,
                    f"the guide samples {name!r} ~ {describe(self.guide_sampled[name])}, "
                    f"which the model observes ({describe(effect.dist)}); observed addresses are never proposed",
                )
            check_observation(name, effect.dist, effect.value)
            self.observed[name] = effect.dist
            return (yield effect)
        if kind is Branch:
            decision = yield effect
            self._decide(effect, decision)
            return decision
        return (yield effect)

    def _latent(self, effect: Any, guide: _Side) -> Any:
        name = effect.name
        if name in self.model_sampled:
            raise error(
                DuplicateAddressError, name,
                f"address {name!r} is used twice in one run; addresses must be unique "
                "(build them from loop indices, e.g. ('x', i), or use plait.scope)",
            )
        if name not in self.proposed:
            yield from self._advance(guide, until=name)
        if name not in self.proposed:
            waiting = guide.pending
            if type(waiting) is Branch:
                raise error(
                    LockstepOrderError, name,
                    f"the model needs latent {name!r} ~ {describe(effect.dist)} before it decides branch "
                    f"{waiting.name!r}, but the guide waits for that decision without having proposed "
                    f"{name!r}; the guide must propose in the model's order around received branches",
                )
            raise error(
                MissingAddressError, name,
                f"model sampled latent {name!r} ~ {describe(effect.dist)} but the guide did not propose it"
                + self._path_note(),
            )
        value, guide_dist = self.proposed.pop(name)
        self.model_sampled.add(name)
        check_site(name, effect.dist, guide_dist, relation=self.relation)
        weight = _total(effect.dist.log_prob(value)) - _total(guide_dist.log_prob(value))
        yield Factor(GuideWeight(name), weight)
        return value

    def _decide(self, effect: Branch, decision: Any) -> None:
        name = effect.name
        forced = effect.condition is not None and decision != effect.condition
        self.decisions[name] = (decision, forced)
        if name in self.claims:
            claim = self.claims.pop(name)
            if claim != decision:
                if forced:
                    raise ForcedBranchConflict(name)
                raise error(
                    BranchMismatchError, name,
                    f"branch {name!r}: the model decided {decision!r} but the guide computed {claim!r}; "
                    f"let the guide receive the decision with `yield plait.branch({name!r})`",
                )

    def _path_note(self) -> str:
        if not self.decisions:
            return ""
        taken = ", ".join(f"{n!r}={d!r}" for n, (d, _) in self.decisions.items())
        return f" (path: branch {taken})"

    # -- the guide's effects --------------------------------------------------------------
    def _advance(self, guide: _Side, until: Optional[Hashable]) -> Any:
        """Run the guide until it proposes ``until``, blocks on an unknown decision, or returns."""
        while not guide.done:
            effect = guide.pending
            kind = type(effect)
            if kind is Branch and effect.condition is None and effect.name not in self.decisions:
                return  # blocked: waits for the model's decision
            try:
                answer = yield from self._answer_guide(effect, done=until is None)
            except Exception as err:
                guide.throw(err)
                continue
            guide.resume(answer)
            if kind is Sample and effect.name == until:
                return

    def _answer_guide(self, effect: Any, done: bool) -> Any:
        kind = type(effect)
        name = getattr(effect, "name", None)
        check_guide_effect(name, effect)
        if kind is Sample:
            if name in self.guide_sampled:
                raise error(
                    DuplicateAddressError, name,
                    f"the guide samples address {name!r} twice in one run; addresses must be unique",
                )
            if name in self.observed:
                raise error(
                    ObservedAddressError, name,
                    f"the guide samples {name!r} ~ {describe(effect.dist)}, which the model observes "
                    f"({describe(self.observed[name])}); observed addresses are never proposed",
                )
            if done or name in self.model_sampled:
                raise self._extra(name, effect.dist)
            self.guide_sampled[name] = effect.dist
            value = yield effect
            self.proposed[name] = (value, effect.dist)
            return value
        if kind is Branch:
            if name in self.decisions:
                decision, forced = self.decisions[name]
                if effect.condition is not None and effect.condition != decision and not forced:
                    raise error(
                        BranchMismatchError, name,
                        f"branch {name!r}: the model decided {decision!r} but the guide computed "
                        f"{effect.condition!r}; let the guide receive the decision with "
                        f"`yield plait.branch({name!r})`",
                    )
                return decision
            if done:
                raise error(
                    BranchMismatchError, name,
                    f"the guide waits for branch {name!r}, which the model never took on this run"
                    + self._path_note(),
                )
            self.claims[name] = effect.condition
            return effect.condition
        return (yield effect)

    def _extra(self, name: Hashable, dist: Any) -> Exception:
        latents = sorted(map(repr, self.model_sampled))
        return error(
            ExtraAddressError, name,
            f"guide proposed {name!r} ~ {describe(dist)} which the model never samples on this run; "
            f"model latent addresses on this run: [{', '.join(latents)}]" + self._path_note(),
        )

    def _finish(self, guide: _Side) -> Any:
        yield from self._advance(guide, until=None)
        if not guide.done:  # blocked on a decision the model never made
            guide.throw(
                error(
                    BranchMismatchError, guide.pending.name,
                    f"the guide waits for branch {guide.pending.name!r}, which the model never took "
                    "on this run" + self._path_note(),
                )
            )
            yield from self._advance(guide, until=None)
        for name, (_, dist) in self.proposed.items():
            raise self._extra(name, dist)
        for name, claim in self.claims.items():
            raise error(
                BranchMismatchError, name,
                f"the guide decided branch {name!r} = {claim!r}, which the model never took on this run"
                + self._path_note(),
            )

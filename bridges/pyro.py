"""Run plait models under Pyro: ``to_pyro(model)`` returns a Pyro model function.

The returned function runs the plait generator under plait's own run loop
(so ``iterate``/``fold`` loops, ``scope`` and handled sub-models give their
sites the addresses plait gives them) with one outermost handler that turns
each effect into its Pyro counterpart:

=====================  ===================================================
plait effect           Pyro
=====================  ===================================================
``sample``             ``pyro.sample(name, torch_dist)``; the model receives
                       the tensor Pyro returns (a value fixed by an inner
                       handler, e.g. ``substitute``, becomes ``obs=``)
``observe``            ``pyro.sample(name, torch_dist, obs=value)``
``factor``             ``pyro.factor(name, log_weight)``
``deterministic``      ``pyro.deterministic(name, value)``
``param``              ``pyro.param(name, init, constraint=...)``
=====================  ===================================================

**Distributions** map by their parameters: ``Normal``, ``LogNormal``,
``Uniform``, ``Beta``, ``Gamma`` (shape, rate), ``Exponential``,
``StudentT``, ``Bernoulli``, ``Categorical``, ``Binomial``, ``Poisson``,
``Geometric`` (failures before the first success, as in torch),
``Dirichlet`` and ``MultivariateNormal``; the scale and mask wrappers of
``plait.handlers.scale``/``mask`` become ``poutine.scale`` and ``.mask``, and
a GradInf coupling tag is dropped.  Anything else (``DiscreteUniform``,
scipy distributions, a ``Measure``) raises
:class:`~plait.errors.BridgeError` naming the address and the distribution.
Plain parameters and observed values become tensors of ``dtype`` (default:
torch's default dtype; pass ``torch.float64`` to match plait's numbers).

**Site names** (:func:`site_name`): a string stays as it is, an integer is
its decimal digits, a tuple joins its rendered parts with ``/`` (nested
tuples flatten), anything else is its ``repr``.  So ``("flip", 3)`` is
``"flip/3"`` and a loop step's ``("walk", 2, "x")`` is ``"walk/2/x"``.  The
rendering is injective on addresses built from strings without ``/`` and
non-negative integers that are not also used as digit strings; two different
addresses that render alike in one run raise
:class:`~plait.errors.BridgeError` naming both.  Each Pyro sample site keeps
its plait address in ``site["infer"]["plait_address"]``
(:func:`latent_choices` reads them back).

**Gradients.** NUTS and SVI differentiate the model, so the model must
compute on the tensors it receives: Python operators (``+ - * / **``,
comparisons) and tensor methods work, and plait distributions accept tensor
parameters (their values are checked, the tensors kept).  Limits:
``math.*`` functions turn a 0-d tensor into a float (the gradient is lost
silently), ``numpy`` functions refuse tensors that require gradients (use
``torch`` functions or ``** 0.5`` instead of ``np.sqrt``), and control flow
on sampled values is re-run per evaluation, as in any Pyro model.  Discrete
latent sites are passed to Pyro as they are: NUTS needs them enumerated
(Pyro's ``infer={"enumerate": "parallel"}``), which plait models written for
scalars do not support; observe or sum them out instead.

>>> import plait
>>> from plait.bridges.pyro import site_name, to_pyro
>>> site_name(("walk", 2, "x")), site_name("p")
('walk/2/x', 'p')
>>> def coin(flips):
...     p = yield plait.sample("p", plait.Beta(2.0, 2.0))
...     for i, f in enumerate(flips):
...         yield plait.observe(("flip", i), plait.Bernoulli(p), f)
>>> pyro_coin = to_pyro(coin)  # doctest: +SKIP
>>> import pyro.poutine as poutine  # doctest: +SKIP
>>> sorted(poutine.trace(pyro_coin).get_trace([1, 0]).nodes)  # doctest: +SKIP
['_INPUT', '_RETURN', 'flip/0', 'flip/1', 'p']
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Hashable, Optional, Tuple

import numpy as np

from ..effects.distributions import MaskedDistribution, ScaledDistribution
from ..effects.distributions.base import Wrapped, detached, is_tensor
from ..effects.distributions.coupled import Coupled
from ..effects.distributions.supports import Interval, Real, RealVector, Simplex
from ..effects.records import UNSET, Deterministic, Factor, Observe, Param, Sample
from ..errors import BridgeError, DuplicateAddressError
from ..handlers.base import Handler
from ..handlers.runloop import run

__all__ = ["to_pyro", "site_name", "latent_choices"]

# plait family -> (torch.distributions class, ((plait attribute, torch keyword), ...))
_FAMILIES: Dict[str, Tuple[str, Tuple[Tuple[str, str], ...]]] = {
    "Normal": ("Normal", (("loc", "loc"), ("scale", "scale"))),
    "LogNormal": ("LogNormal", (("loc", "loc"), ("scale", "scale"))),
    "Uniform": ("Uniform", (("low", "low"), ("high", "high"))),
    "Beta": ("Beta", (("a", "concentration1"), ("b", "concentration0"))),
    "Gamma": ("Gamma", (("shape", "concentration"), ("rate", "rate"))),
    "Exponential": ("Exponential", (("rate", "rate"),)),
    "StudentT": ("StudentT", (("df", "df"), ("loc", "loc"), ("scale", "scale"))),
    "Bernoulli": ("Bernoulli", (("p", "probs"),)),
    "Categorical": ("Categorical", (("probs", "probs"),)),
    "Binomial": ("Binomial", (("n", "total_count"), ("p", "probs"))),
    "Poisson": ("Poisson", (("rate", "rate"),)),
    "Geometric": ("Geometric", (("p", "probs"),)),
    "Dirichlet": ("Dirichlet", (("alpha", "concentration"),)),
    "MultivariateNormal": ("MultivariateNormal", (("loc", "loc"), ("cov", "covariance_matrix"))),
}
_INTEGER_VALUED = {"Categorical"}  # torch wants long values; the other discrete families take floats


def site_name(address: Hashable) -> str:
    """The Pyro site name of a plait address (see the module docstring for the rules).

    >>> site_name(("flip", 3)), site_name(("walk", 0, ("inner", 1))), site_name(7)
    ('flip/3', 'walk/0/inner/1', '7')
    """
    if isinstance(address, str):
        return address
    if isinstance(address, tuple):
        return "/".join(site_name(part) for part in address) if address else "()"
    if isinstance(address, (int, np.integer)) and not isinstance(address, (bool, np.bool_)):
        return str(int(address))
    return repr(address)


def _import_pyro() -> Tuple[Any, Any]:
    try:
        import pyro
        import torch
    except ImportError as error:
        raise ImportError(
            f"plait.bridges.pyro needs torch and pyro-ppl ({error}); install them with "
            "pip install plait[pyro]"
        ) from None
    return torch, pyro


def latent_choices(trace: Any) -> Dict[Hashable, Any]:
    """The latent values of a Pyro trace of a bridged model, keyed by plait address.

    Values become Python floats / ints for scalars and numpy arrays otherwise,
    so they feed :func:`plait.log_density` and other plait inference.

    >>> import plait
    >>> from plait.bridges.pyro import latent_choices, to_pyro
    >>> def model():
    ...     yield plait.sample(("x", 0), plait.Normal(0.0, 1.0))
    >>> import pyro.poutine as poutine  # doctest: +SKIP
    >>> tr = poutine.trace(to_pyro(model)).get_trace()  # doctest: +SKIP
    >>> list(latent_choices(tr))  # doctest: +SKIP
    [('x', 0)]
    """
    out: Dict[Hashable, Any] = {}
    for site in trace.nodes.values():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        address = (site.get("infer") or {}).get("plait_address", site["name"])
        out[address] = _plain(site["value"])
    return out


def _plain(value: Any) -> Any:
    a = np.asarray(detached(value))
    if a.ndim:
        return a
    return int(a) if np.issubdtype(a.dtype, np.integer) else float(a)


class _ToPyro(Handler):
    """The outermost handler of a bridged run: every effect also goes to Pyro."""

    def __init__(self, torch: Any, pyro: Any, dtype: Any) -> None:
        self.torch, self.pyro, self.dtype = torch, pyro, dtype

    def begin(self) -> None:
        self.names: Dict[str, Hashable] = {}

    def _name(self, address: Hashable) -> str:
        name = site_name(address)
        seen = self.names.get(name, _MISSING)
        if seen is not _MISSING:
            if seen == address:
                raise DuplicateAddressError(f"address {address!r} is used twice in one run")
            raise BridgeError(
                f"to_pyro: addresses {seen!r} and {address!r} both render to the Pyro site name "
                f"{name!r}; rename one of them",
                address,
            )
        self.names[name] = address
        return name

    def _tensor(self, value: Any, dtype: Any = None) -> Any:
        if is_tensor(value):
            return value if dtype is None or value.dtype == dtype else value.to(dtype)
        # A copy: plait's parameter arrays are read-only, torch wants writable memory.
        return self.torch.as_tensor(np.array(detached(value)), dtype=dtype or self.dtype)

    def _dist(self, address: Hashable, dist: Any) -> Tuple[Any, Any, bool]:
        """``(pyro distribution, log-density scale or None, integer-valued)``."""
        scale, mask = None, None
        while isinstance(dist, Wrapped):
            if isinstance(dist, ScaledDistribution):
                scale = dist.scale if scale is None else scale * dist.scale
            elif isinstance(dist, MaskedDistribution):
                mask = dist.mask if mask is None else np.logical_and(mask, dist.mask)
            elif not isinstance(dist, Coupled):
                break
            dist = dist.base
        family = type(dist).__name__
        entry = _FAMILIES.get(family)
        if entry is None or not hasattr(self.pyro.distributions, entry[0]):
            raise BridgeError(
                f"to_pyro: site {address!r} ~ {dist!r}: {family} has no Pyro counterpart; the bridge "
                f"maps {sorted(_FAMILIES)}",
                address,
            )
        cls, names = entry
        kwargs = {kw: self._tensor(getattr(dist, attr)) for attr, kw in names}
        if family == "Geometric":
            # torch's Geometric refuses probs == 1 (plait's point mass at 0).
            kwargs["validate_args"] = False
        d = getattr(self.pyro.distributions, cls)(**kwargs)
        if mask is not None:
            d = d.mask(self.torch.as_tensor(np.asarray(mask, dtype=bool)))
        return d, scale, family in _INTEGER_VALUED

    def _value(self, value: Any, integer: bool) -> Any:
        return self._tensor(value, self.torch.long if integer else None)

    def _sample(self, name: str, address: Hashable, dist: Any, obs: Any = None) -> Any:
        d, scale, integer = self._dist(address, dist)
        pyro = self.pyro
        if obs is not None:
            obs = self._value(obs, integer)
        infer = {"plait_address": address}
        if scale is None:
            return pyro.sample(name, d, obs=obs, infer=infer)
        with pyro.poutine.scale(scale=self._tensor(scale)):
            return pyro.sample(name, d, obs=obs, infer=infer)

    def handle(self, effect: Any) -> Any:
        kind = type(effect)
        if kind is Sample:
            name = self._name(effect.name)
            if effect.value is UNSET:
                return self.fwd(effect.with_value(self._sample(name, effect.name, effect.dist)))
            self._sample(name, effect.name, effect.dist, obs=effect.value)
        elif kind is Observe:
            self._sample(self._name(effect.name), effect.name, effect.dist, obs=effect.value)
        elif kind is Factor:
            self.pyro.factor(self._name(effect.name), self._tensor(effect.log_weight))
        elif kind is Deterministic:
            self.pyro.deterministic(self._name(effect.name), self._tensor(effect.value))
        elif kind is Param:
            name = self._name(effect.name)
            constraint = _constraint(self.torch, effect.name, effect.constraint)
            init = self._tensor(effect.init)
            value = (
                self.pyro.param(name, init)
                if constraint is None
                else self.pyro.param(name, init, constraint=constraint)
            )
            return self.fwd(Param(effect.name, value, effect.constraint))
        return self.fwd(effect)


_MISSING = object()


def _constraint(torch: Any, address: Hashable, support: Any) -> Any:
    """The torch constraint of a plait param's support (None: unconstrained)."""
    c = torch.distributions.constraints
    if support is None or isinstance(support, (Real, RealVector)):
        return None
    if isinstance(support, Simplex):
        return c.simplex
    if isinstance(support, Interval):
        low, high = float(np.max(support.low)), float(np.min(support.high))
        if np.isinf(low) and np.isinf(high):
            return None
        if np.isinf(high):
            return c.positive if low == 0.0 else c.greater_than(low)
        if np.isinf(low):
            return c.less_than(high)
        return c.unit_interval if (low, high) == (0.0, 1.0) else c.interval(low, high)
    raise BridgeError(f"to_pyro: param {address!r} has constraint {support!r}, which has no torch counterpart", address)


def to_pyro(model: Callable[..., Any], *, dtype: Optional[Any] = None) -> Callable[..., Any]:
    """A Pyro model function that runs the plait ``model`` with Pyro primitives.

    Call it with the model's arguments, under any Pyro inference (``NUTS``,
    ``SVI``, ``poutine.trace``).  It returns the model's return value.
    ``dtype`` (a ``torch.dtype``) is used for plain parameters and observed
    values; default ``torch.get_default_dtype()``.  Needs ``pip install
    plait[pyro]``; see the module docstring for the translation rules and
    the limits on models.

    >>> import plait
    >>> from plait.bridges.pyro import to_pyro
    >>> def model(y):
    ...     mu = yield plait.sample("mu", plait.Normal(0.0, 1.0))
    ...     yield plait.observe("y", plait.Normal(mu, 1.0), y)
    >>> import torch  # doctest: +SKIP
    >>> from pyro.infer import MCMC, NUTS  # doctest: +SKIP
    >>> mcmc = MCMC(NUTS(to_pyro(model, dtype=torch.float64)), num_samples=200, warmup_steps=100)  # doctest: +SKIP
    >>> mcmc.run(1.0)  # doctest: +SKIP
    >>> mcmc.get_samples()["mu"].shape  # doctest: +SKIP
    torch.Size([200])
    """
    torch, pyro = _import_pyro()

    @functools.wraps(model)
    def pyro_model(*args: Any) -> Any:
        handler = _ToPyro(torch, pyro, dtype or torch.get_default_dtype())
        return run(model, *args, handlers=(handler,)).value

    return pyro_model

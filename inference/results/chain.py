"""Chain: the samples of one or more MCMC chains, with convergence diagnostics."""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, Hashable, List, Optional

import attrs
import numpy as np

from .arviz_output import chain_to_arviz
from .storage import load_fields, save_fields
from .diagnostics import effective_sample_size, split_rhat

__all__ = ["Chain", "ChainCheckpoint"]

_MISSING = object()


class Chain:
    """Samples of ``num_chains`` chains × ``num_samples`` draws, per address.

    ``chain[address]`` is an array of shape ``(num_chains * num_samples,
    *site shape)`` (chains concatenated); ``chain.draws(address)`` keeps the
    chain axis.  A site absent from some draws (its branch was not taken)
    is NaN there.  ``returns`` and ``log_joint`` hold the model's return
    value and log joint density per draw; ``acceptance`` the fraction of
    accepted proposals per kernel.  ``mean``, ``sd``, ``ess``, ``rhat`` and
    ``mcse`` take an address or a function of the return value;
    ``summary()`` tabulates them.  ESS and split R-hat pool all chains.
    ``observations`` holds the model's observed values; ``to_arviz()``
    converts the chain to ``arviz.InferenceData``.

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("b", plait.Bernoulli(0.3)))
    >>> chain = plait.mh(model, num_samples=500, num_chains=2, seed=0)
    >>> chain["b"].shape, chain.num_chains
    ((1000,), 2)
    """

    def __init__(self, draws: List[List[Dict[Hashable, Any]]], returns: List[List[Any]],
                 log_joint: np.ndarray, acceptance: Dict[str, float],
                 observations: Optional[Dict[Hashable, Any]] = None,
                 checkpoints: Optional[List["ChainCheckpoint"]] = None,
                 tallies: Optional[List[Dict[str, List[int]]]] = None, partial: bool = False,
                 sample_stats: Optional[Dict[str, np.ndarray]] = None) -> None:
        self._draws = draws
        self.returns = returns
        self.log_joint = np.asarray(log_joint, dtype=float)
        self.acceptance = acceptance
        #: The observed values ``{address: value}`` of the model (from a chain's last trace).
        self.observations: Dict[Hashable, Any] = dict(observations or {})
        #: Where each chain stopped, to continue it (``plait.mh(..., resume=chain)``); None if unknown.
        self.checkpoints = checkpoints
        #: Each chain's ``{kernel label: [accepted, proposed]}`` after burn-in.
        self.tallies = tallies
        #: True when the run was interrupted (Ctrl-C) or some chains failed: fewer draws than asked for.
        self.partial = partial
        #: Per-draw statistics of gradient kernels, name → array ``(num_chains, num_samples)``:
        #: ``diverging``, ``energy``, ``tree_depth``, ``step_size``, ``acceptance_rate``, ``n_steps``.
        self.sample_stats: Dict[str, np.ndarray] = dict(sample_stats or {})
        self._cache: Dict[Hashable, np.ndarray] = {}

    def chains_data(self) -> List[tuple[List[Dict[Hashable, Any]], List[Any], List[float]]]:
        """Per chain: ``(draws as {address: value} dicts, return values, log joints)``, as lists."""
        return [(list(d), list(r), lj.tolist()) for d, r, lj in zip(self._draws, self.returns, self.log_joint)]

    def save(self, path: Any) -> None:
        """Write the chain to ``path`` (an ``.npz`` file): every draw, checkpoint and statistic, losslessly.

        The log joint is a plain array (``numpy.load(path)["log_joint"]``);
        the rest is pickled (:mod:`~plait.inference.results.storage`): load
        only files you trust.  For other tools,
        ``chain.to_arviz().to_netcdf(path)`` writes ArviZ's NetCDF.

        >>> import plait, tempfile, os
        >>> def model():
        ...     return (yield plait.sample("x", plait.Normal(0, 1)))
        >>> chain = plait.mh(model, num_samples=20, seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), "chain.npz")
        >>> chain.save(path)
        >>> Chain.load(path).draws("x").tolist() == chain.draws("x").tolist()
        True
        """
        save_fields(path, "Chain", {
            "draws": self._draws, "returns": self.returns, "acceptance": self.acceptance,
            "observations": self.observations, "checkpoints": self.checkpoints, "tallies": self.tallies,
            "partial": self.partial,
        }, "log_joint", self.log_joint)

    @classmethod
    def load(cls, path: Any) -> "Chain":
        """Read a chain written by :meth:`save` (see there).

        >>> import plait, tempfile, os
        >>> def model():
        ...     return (yield plait.sample("x", plait.Normal(0, 1)))
        >>> path = os.path.join(tempfile.mkdtemp(), "chain.npz")
        >>> plait.mh(model, num_samples=20, seed=0).save(path)
        >>> Chain.load(path).num_samples
        20
        """
        data, log_joint = load_fields(path, "Chain", "log_joint")
        return cls(data["draws"], data["returns"], log_joint, data["acceptance"], data["observations"],
                   data["checkpoints"], data["tallies"], data["partial"])

    @property
    def num_chains(self) -> int:
        """How many chains were run."""
        return len(self._draws)

    @property
    def num_samples(self) -> int:
        """Draws kept per chain (after burn-in and thinning)."""
        return len(self._draws[0]) if self._draws else 0

    @property
    def addresses(self) -> List[Hashable]:
        """Every latent address seen in any draw, in first-seen order."""
        seen: Dict[Hashable, None] = {}
        for chain in self._draws:
            for draw in chain:
                for address in draw:
                    seen.setdefault(address, None)
        return list(seen)

    def latent_draws(self) -> list[list[dict[Hashable, Any]]]:
        """Per chain, per draw, the latent values ``{address: value}`` that draw sampled.

        Unlike :meth:`draws`, a site absent from a draw is absent from its
        dict (no NaN filling): each dict is a complete choice of the model's
        latent sites, as ``plait.predictive`` conditions on.

        >>> import plait
        >>> def model():
        ...     yield plait.sample("x", plait.Normal(0, 1))
        >>> [list(d) for d in plait.mh(model, num_samples=2, seed=0).latent_draws()[0]]
        [['x'], ['x']]
        """
        return [[dict(draw) for draw in chain] for chain in self._draws]

    def draws(self, what: Any) -> np.ndarray:
        """Values of an address, or of ``f(return value)``, shape ``(num_chains, num_samples, ...)``."""
        if callable(what):
            return np.array([[what(r) for r in chain] for chain in self.returns], dtype=float)
        if what in self._cache:
            return self._cache[what]
        rows = [[draw.get(what, _MISSING) for draw in chain] for chain in self._draws]
        present = [v for row in rows for v in row if v is not _MISSING]
        if not present:
            raise KeyError(f"address {what!r} was never sampled; the chain has {self.addresses!r}")
        if len(present) < sum(len(r) for r in rows):
            shape = np.shape(present[0])
            fill = np.full(shape, np.nan)
            rows = [[fill if v is _MISSING else np.asarray(v, dtype=float) for v in row] for row in rows]
        values = np.array(rows)
        self._cache[what] = values
        return values

    def __getitem__(self, what: Any) -> np.ndarray:
        values = self.draws(what)
        return values.reshape((-1,) + values.shape[2:])

    def _scalar(self, what: Any) -> np.ndarray:
        values = self.draws(what)
        if values.ndim != 2:
            raise ValueError(f"{what!r} is not scalar (draws of shape {values.shape[2:]}); pick an element with a function")
        return values.astype(float)

    def mean(self, what: Any = lambda r: r) -> float:
        """Posterior mean of an address or of a function of the return value (NaN draws skipped)."""
        return float(np.nanmean(self._scalar(what)))

    def sd(self, what: Any = lambda r: r) -> float:
        """Posterior standard deviation (NaN draws skipped)."""
        return float(np.nanstd(self._scalar(what), ddof=1))

    def ess(self, what: Any = lambda r: r) -> float:
        """Effective sample size over all chains (Geyer's initial monotone sequence)."""
        return float(effective_sample_size(self._scalar(what)))

    def rhat(self, what: Any = lambda r: r) -> float:
        """Split R-hat over all chains (1 at convergence)."""
        return float(split_rhat(self._scalar(what)))

    def mcse(self, what: Any = lambda r: r) -> float:
        """Monte Carlo standard error of :meth:`mean`: ``sd / sqrt(ess)``."""
        return self.sd(what) / math.sqrt(self.ess(what))

    def summary(self, addresses: Optional[List[Hashable]] = None) -> str:
        """A table of mean, sd, MCSE, ESS and split R-hat per scalar latent address.

        >>> import plait
        >>> def model():
        ...     yield plait.sample("x", plait.Normal(0, 1))
        >>> print(plait.mh(model, num_samples=200, seed=0).summary().splitlines()[0])
        address           mean        sd      mcse     ess   r_hat
        """
        lines = [f"{'address':12s} {'mean':>9s} {'sd':>9s} {'mcse':>9s} {'ess':>7s} {'r_hat':>7s}"]
        for address in addresses if addresses is not None else self.addresses:
            values = self.draws(address)
            if values.ndim != 2 or np.isnan(values.astype(float)).any():
                continue  # vector sites and sites of some branches only: use draws()
            try:
                ess, rhat = self.ess(address), self.rhat(address)
            except ValueError:
                ess = rhat = math.nan
            sd = self.sd(address)
            mcse = sd / math.sqrt(ess) if ess and ess > 0 else math.nan
            lines.append(f"{str(address):12s} {self.mean(address):9.4g} {sd:9.4g} {mcse:9.3g} {ess:7.0f} {rhat:7.3f}")
        if self.acceptance:
            rates = ", ".join(f"{k} {v:.2f}" for k, v in self.acceptance.items())
            lines.append(f"acceptance: {rates}")
        if "diverging" in self.sample_stats:
            lines.append(f"divergences: {self.divergences} of {self.sample_stats['diverging'].size} draws")
        if "energy" in self.sample_stats:
            lines.append("E-BFMI per chain: " + ", ".join(f"{v:.2f}" for v in self.bfmi()))
        return "\n".join(lines)

    @property
    def divergences(self) -> int:
        """How many kept draws ended a divergent trajectory (0 without gradient kernels).

        >>> import plait
        >>> def model():
        ...     yield plait.sample("x", plait.Normal(0, 1))
        >>> plait.nuts(model, num_samples=100, num_warmup=100, seed=0).divergences
        0
        """
        diverging = self.sample_stats.get("diverging")
        return 0 if diverging is None else int(np.sum(diverging))

    def bfmi(self) -> np.ndarray:
        """Energy Bayesian fraction of missing information per chain (below 0.3: poor exploration).

        ``E-BFMI = sum (E_n - E_{n-1})^2 / sum (E_n - mean E)^2`` over a
        chain's energies (Betancourt 2016).

        >>> import plait
        >>> def model():
        ...     yield plait.sample("x", plait.Normal(0, 1))
        >>> bool(plait.nuts(model, num_samples=200, num_warmup=100, seed=0).bfmi()[0] > 0.3)
        True
        """
        energy = self.sample_stats.get("energy")
        if energy is None:
            raise KeyError("bfmi: the chain has no energies (run it with a gradient kernel: plait.nuts, plait.hmc)")
        energy = np.atleast_2d(energy)
        jumps = np.sum(np.diff(energy, axis=1) ** 2, axis=1)
        spread = np.sum((energy - energy.mean(axis=1, keepdims=True)) ** 2, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            result: np.ndarray = jumps / spread
        return result

    def to_arviz(self, addresses: Optional[List[Hashable]] = None,
                 observed_data: Optional[Dict[Hashable, Any]] = None) -> Any:
        """The chain as ``arviz.InferenceData`` (needs ``pip install plait[arviz]``).

        ``posterior`` has dims ``(chain, draw)`` per latent address (tuple
        addresses become ``"a/0"``), ``sample_stats`` the log joint ``lp``
        and the acceptance rates as attributes, ``observed_data`` the
        observations; see :func:`~plait.inference.results.arviz_output.chain_to_arviz`.

        >>> import plait
        >>> def model():
        ...     yield plait.sample("x", plait.Normal(0, 1))
        >>> idata = plait.mh(model, num_samples=50, num_chains=2, seed=0).to_arviz()  # doctest: +SKIP
        >>> idata.posterior["x"].dims  # doctest: +SKIP
        ('chain', 'draw')
        """
        return chain_to_arviz(self, addresses, observed_data)

    def __repr__(self) -> str:
        mark = ", partial" if self.partial else ""
        return f"Chain({self.num_chains} chains x {self.num_samples} draws, addresses {self.addresses!r}{mark})"



@attrs.define(eq=False)
class ChainCheckpoint:
    """Where one chain stopped: its state, its random stream, and its kernels' bookkeeping.

    ``plait.mh(..., resume=chain)`` continues each chain from its
    checkpoint, drawing exactly what the uninterrupted chain would have
    drawn.  Kernel positions (``cycle``) are stored by each kernel's place in
    the kernel tree, so a checkpoint continues with an equal kernel built
    anew (after :meth:`Chain.load`, in another process).

    >>> import plait
    >>> def model():
    ...     return (yield plait.sample("x", plait.Normal(0, 1)))
    >>> first = plait.mh(model, num_samples=10, seed=0)
    >>> more = plait.mh(model, num_samples=10, resume=first)
    >>> more["x"].tolist() == plait.mh(model, num_samples=20, seed=0)["x"].tolist()
    True
    """

    state: Any
    rng_state: Dict[str, Any]
    scales: Dict[Any, Any]
    #: place of a ``cycle`` kernel in the kernel tree -> its position
    positions: Dict[int, int]
    tallies: Dict[str, List[int]]
    #: place of a kernel with adapted state (a gradient kernel's step size and mass matrix) -> that state
    adapted: Dict[int, Any] = attrs.field(factory=dict)

    @classmethod
    def of(cls, state: Any, ctx: Any, kernel: Any) -> "ChainCheckpoint":
        """The checkpoint of a chain at ``state``, with context ``ctx`` (a copy: the chain may go on)."""
        tree = _kernel_tree(kernel)
        places = {id(k): i for i, k in enumerate(tree)}
        positions = {places[key]: p for key, p in ctx.positions.items() if key in places}
        adapted = {i: k.adapted_state(ctx) for i, k in enumerate(tree) if hasattr(k, "adapted_state")}
        return cls(state, copy.deepcopy(ctx.rng.bit_generator.state), dict(ctx.scales), positions,
                   {label: list(tally) for label, tally in ctx.accepted.items()},
                   {i: a for i, a in adapted.items() if a is not None})

    def restore(self, ctx: Any, kernel: Any) -> Any:
        """Set ``ctx`` (a fresh context) as the chain had it; return the chain's state."""
        ctx.rng.bit_generator.state = copy.deepcopy(self.rng_state)
        ctx.scales.update(self.scales)
        tree = _kernel_tree(kernel)
        ctx.positions.update({id(tree[i]): p for i, p in self.positions.items() if i < len(tree)})
        ctx.accepted.update({label: list(tally) for label, tally in self.tallies.items()})
        for i, saved in getattr(self, "adapted", {}).items():  # getattr: checkpoints saved before it existed
            if i < len(tree) and hasattr(tree[i], "restore_adapted"):
                tree[i].restore_adapted(ctx, saved)
        return self.state

    def __repr__(self) -> str:
        return f"ChainCheckpoint(log_joint={getattr(self.state, 'log_joint', None)!r})"


def _kernel_tree(kernel: Any) -> List[Any]:
    """``kernel`` and the kernels inside it, depth first (the order positions are stored in)."""
    inner = list(getattr(kernel, "kernels", ()) or ())
    if getattr(kernel, "kernel", None) is not None:
        inner.append(kernel.kernel)
    return [kernel] + [k for child in inner for k in _kernel_tree(child)]

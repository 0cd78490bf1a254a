"""Progress bars for long-running calls (``progress=`` of mh, smc, importance, svi, gradinf...).

One helper for every engine: :func:`progress_bar` returns None when no bar
is wanted (so the engine's loop pays one ``is not None`` test per step) or a
:class:`Progress` over a tqdm bar, which shows the count and the rate
(draws/s, steps/s) and, for MCMC, the acceptance rate so far.
``progress=None`` (the engines' default) shows a bar only when stderr is a
terminal: never in logs, CI output or doctests.  Engines written later
(NUTS) use the same helper: ``tick(accepted=...)`` feeds any tallies
``{label: [accepted, proposed]}`` and ``postfix`` adds fields such as
divergences.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any, Mapping, Optional

__all__ = ["Progress", "Ticking", "progress_bar", "wants_progress"]

#: Seconds between updates of the bar's statistics (a tqdm refresh costs microseconds, not nothing).
_EVERY = 0.2


def wants_progress(progress: Optional[bool]) -> bool:
    """Whether to show a bar: ``progress`` when given, else whether stderr is a terminal.

    >>> wants_progress(True), wants_progress(False)
    (True, False)
    """
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def progress_bar(progress: Optional[bool], total: Optional[int], description: str, unit: str = "draws",
                 stream: Any = None) -> Optional["Progress"]:
    """A :class:`Progress` when :func:`wants_progress`, else None.

    >>> import io
    >>> bar = progress_bar(True, 10, "mh", stream=io.StringIO())
    >>> bar.tick(accepted={"single_site": [3, 4]}); bar.close(); "mh" in bar.stream.getvalue()
    True
    >>> progress_bar(False, 10, "mh") is None
    True
    """
    if not wants_progress(progress):
        return None
    return Progress(total, description, unit, stream)


class Progress:
    """A tqdm bar that counts steps and shows acceptance rates and other statistics.

    ``tick(n, accepted=tallies, **postfix)`` advances by ``n``; ``accepted``
    maps kernel labels to ``[accepted, proposed]`` counts (an MCMC
    context's ``accepted``), shown as rates.  ``close()`` ends the bar.

    >>> import io
    >>> bar = Progress(5, "svi", "steps", io.StringIO())
    >>> for _ in range(5):
    ...     bar.tick(elbo=-1.5)
    >>> bar.close(); bar.count
    5
    """

    def __init__(self, total: Optional[int], description: str, unit: str = "draws", stream: Any = None) -> None:
        # Imported here, so that importing plait does not import tqdm; by name,
        # as tqdm ships no type information (the bar is used through four calls).
        tqdm = importlib.import_module("tqdm.auto").tqdm
        self.stream = sys.stderr if stream is None else stream
        self.bar = tqdm(total=total, desc=description, unit=unit, file=self.stream, dynamic_ncols=True,
                        mininterval=_EVERY)
        self.count = 0
        self.last = 0.0
        self.fields: dict[str, Any] = {}

    def tick(self, n: int = 1, accepted: Optional[Mapping[str, Any]] = None, **postfix: Any) -> None:
        """Advance by ``n``; refresh the statistics at most every 0.2 s."""
        self.count += n
        self.bar.update(n)
        now = time.monotonic()
        if now - self.last < _EVERY:
            return
        self.last = now
        self._show(accepted, postfix)

    def _show(self, accepted: Optional[Mapping[str, Any]], postfix: Mapping[str, Any]) -> None:
        fields = {label: f"{a / p:.2f}" for label, (a, p) in (accepted or {}).items() if p}
        fields.update({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in postfix.items()})
        if fields:
            self.bar.set_postfix(fields, refresh=False)

    def close(self, accepted: Optional[Mapping[str, Any]] = None, **postfix: Any) -> None:
        """End the bar, showing the final statistics when given."""
        self._show(accepted, postfix)
        self.bar.close()


class Ticking:
    """``task(**kwargs)`` that advances ``bar`` by one when it returns (replicas run in this process).

    >>> import io
    >>> bar = Progress(2, "demo", "runs", io.StringIO())
    >>> Ticking(lambda seed: seed * 2, bar)(seed=3), bar.count
    (6, 1)
    """

    def __init__(self, task: Any, bar: Progress) -> None:
        self.task = task
        self.bar = bar

    def __call__(self, **kwargs: Any) -> Any:
        result = self.task(**kwargs)
        self.bar.tick()
        return result

"""Benchmark the compiled resamplers against our numpy reference and ``particles``.

Run as ``python bench/resample.py`` with plait importable.  Optional argument:
the largest N as a power of ten (default 7).

Every resampler goes from float64 log-weights to int64 ancestors, so the
normalisation (``exp`` of the log-weights) and the drawing of the uniforms are
part of the timed work for everyone: ours and the reference take ``rng=``, and
``particles`` is given ``exp_and_normalise(lw)`` and draws from numpy's global
generator itself.  Within each repetition every implementation is timed in
turn, so drifts in machine speed hit all alike, and the minimum over the
repetitions is kept.  Times are nanoseconds per particle (M = N).

``particles`` is a benchmark-only dependency (see
``/work/shared/design/performance.md``: ``pip install --no-deps particles``,
then numba, scipy, scikit-learn, joblib).  Without it the bench still runs.
"""

from __future__ import annotations

import sys
import timeit

import numpy as np

import plait.ext
from plait.ext import _resample, resample_reference

try:
    import particles.resampling as _particles

    PARTICLES_ERROR = None
except Exception as exc:  # noqa: BLE001 - any import failure means "not installed"
    _particles = None
    PARTICLES_ERROR = f"{type(exc).__name__}: {exc}"

SCHEMES = ["systematic", "stratified", "multinomial", "residual"]
REPEATS = 7


def implementations(scheme: str) -> dict:
    rng = np.random.default_rng(0)
    impls = {
        "cython": lambda lw, f=getattr(plait.ext, scheme): f(lw, rng=rng),
        "numpy ref": lambda lw, f=getattr(resample_reference, scheme): f(lw, rng=rng),
    }
    if scheme == "systematic":
        impls["while-loop"] = lambda lw: _resample._systematic_textbook(lw, rng.random())
    if _particles is not None:
        f = getattr(_particles, scheme)
        impls["particles"] = lambda lw, f=f: f(_particles.exp_and_normalise(lw), M=lw.size)
    return impls


def time_interleaved(impls: dict, lw: np.ndarray) -> dict[str, float]:
    """Minimum ns per particle of each implementation, timed turn about."""
    n = lw.size
    number = max(1, 3 * 10**6 // n)
    for f in impls.values():  # warm up (numba compiles on the first call)
        f(lw)
    timers = {name: timeit.Timer(lambda f=f: f(lw)) for name, f in impls.items()}
    best = dict.fromkeys(impls, float("inf"))
    for _ in range(REPEATS):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(number) / number)
    return {name: t / n * 1e9 for name, t in best.items()}


def table(scheme: str, cases: list[tuple[str, np.ndarray]]) -> None:
    impls = implementations(scheme)
    cols = list(impls)
    print()
    print(f"{scheme}: ns per particle")
    header = f"{'weights':<8}{'N':>7}" + "".join(f"{c:>12}" for c in cols)
    if "particles" in cols:
        header += f"{'particles/us':>14}"
    header += f"{'ref/us':>9}"
    print(header)
    for shape, lw in cases:
        t = time_interleaved(impls, lw)
        row = f"{shape:<8}{lw.size:>7.0e}" + "".join(f"{t[c]:12.2f}" for c in cols)
        if "particles" in t:
            row += f"{t['particles'] / t['cython']:14.2f}"
        row += f"{t['numpy ref'] / t['cython']:9.2f}"
        print(row, flush=True)


def main() -> None:
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    sizes = [10**k for k in range(3, top + 1)]
    print(f"compiled module: {_resample.__file__}")
    print(f"numpy {np.__version__}; min of {REPEATS} interleaved repeats; M = N; "
          "normalisation and uniforms included in the timed work")
    if _particles is None:
        print(f"particles: not installed ({PARTICLES_ERROR})")
    else:
        import particles

        print(f"particles {getattr(particles, '__version__', '?')}")
    data = np.random.default_rng(2026)
    normal = [("N(0,1)", data.normal(0.0, 1.0, n)) for n in sizes]
    for scheme in SCHEMES:
        table(scheme, normal)
    n = 10**6 if top >= 6 else sizes[-1]
    table("systematic", [
        ("equal", np.zeros(n)),
        ("N(0,1)", data.normal(0.0, 1.0, n)),
        ("N(0,3)", data.normal(0.0, 3.0, n)),
    ])


if __name__ == "__main__":
    main()

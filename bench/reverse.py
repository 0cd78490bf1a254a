"""Reverse-mode cost against the primal, torch, and forward mode (issue 18).

Run:  python bench/reverse.py

1. Gradient of a logistic-regression log likelihood (1000 rows, d = 100):
   plait's reverse ``grad`` against the plain numpy evaluation (target
   <= 4x) and against torch's forward + backward in float64 (target <= 2x),
   and forward-mode ``grad_forward`` for reference.
2. Gradient of a 50-site scalar generator model's log density through
   ``plait.LogDensity`` in reverse mode against ``log_density`` alone
   (target <= 5x), and forward mode for reference.
3. The crossover: for the logistic regression and for the generator model,
   the smallest dimension at which reverse mode beats forward mode.
4. ``hessian_product`` (forward over reverse) against one reverse gradient
   (target <= 3x).

Every variant is timed interleaved with its baseline in this process; the
figure is the minimum over repetitions, and ratios compare minima from the
same process, because absolute timings drift on shared machines.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Dict, List

import numpy as np

import plait
from plait.gradients import grad, grad_forward, hessian_product
from plait.gradients.api import value_and_grad, value_and_grad_forward

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None


def interleaved(fns: Dict[str, Callable[[], Any]], repeats: int) -> Dict[str, float]:
    """Minimum time of each function over ``repeats`` rounds, the functions interleaved."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


# -- 1. logistic regression ------------------------------------------------------------------

def logistic_data(rows: int, d: int) -> tuple:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, d)) / np.sqrt(d)
    y = (rng.random(rows) < 0.5).astype(float)
    w = rng.standard_normal(d) * 0.1
    return X, y, w


def loglik(X: np.ndarray, y: np.ndarray) -> Callable[[Any], Any]:
    def f(w: Any) -> Any:
        z = X @ w
        return np.sum(y * z - np.logaddexp(0.0, z))

    return f


def torch_gradient(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> Callable[[], Any]:
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    wt0 = torch.from_numpy(w)

    def run() -> Any:
        wt = wt0.clone().requires_grad_(True)
        z = Xt @ wt
        loss = torch.sum(yt * z - torch.logaddexp(torch.zeros((), dtype=torch.float64), z))
        loss.backward()
        return wt.grad

    return run


def bench_logistic() -> None:
    X, y, w = logistic_data(1000, 100)
    f = loglik(X, y)
    g = grad(f, w)
    np.testing.assert_allclose(g, X.T @ (y - 1.0 / (1.0 + np.exp(-(X @ w)))), rtol=1e-10)
    fns: Dict[str, Callable[[], Any]] = {
        "primal": lambda: f(w),
        "reverse": lambda: grad(f, w),
        "forward": lambda: grad_forward(f, w),
    }
    if torch is not None:
        tg = torch_gradient(X, y, w)
        np.testing.assert_allclose(tg().numpy(), g, rtol=1e-10)
        fns["torch"] = tg
    t = interleaved(fns, 200)
    print("1. logistic regression, 1000 x 100, gradient of the log likelihood")
    print(f"   primal {t['primal'] * 1e6:8.1f} us")
    print(f"   reverse grad {t['reverse'] * 1e6:8.1f} us  = {t['reverse'] / t['primal']:.2f}x primal (target <= 4)")
    print(f"   forward grad {t['forward'] * 1e6:8.1f} us  = {t['forward'] / t['primal']:.2f}x primal")
    if torch is not None:
        print(f"   torch fwd+backward {t['torch'] * 1e6:8.1f} us; reverse / torch = "
              f"{t['reverse'] / t['torch']:.2f}x (target <= 2)  [torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads]")


# -- 2. a scalar generator model through LogDensity -------------------------------------------

def walk_model(n: int) -> Callable[..., Any]:
    """``n`` latent scalar sites in a random walk, each observed once."""

    def model(ys: List[float]) -> Any:
        prev = 0.0
        for i in range(n):
            z = yield plait.sample(("z", i), plait.Normal(0.9 * prev, 1.0))
            yield plait.observe(("y", i), plait.Normal(z, 0.5), ys[i])
            prev = z
        return prev

    return model


def log_density_for(n: int) -> tuple:
    ys = list(np.sin(np.arange(n) * 0.3))
    ld = plait.LogDensity(walk_model(n), ys)
    x = np.cos(np.arange(ld.dim) * 0.7)
    return ld, x


def bench_log_density() -> None:
    ld, x = log_density_for(50)
    v_rev, g_rev = value_and_grad(ld._evaluate, ld._parts(x))
    v_fwd, g_fwd = value_and_grad_forward(ld._evaluate, ld._parts(x))
    np.testing.assert_allclose(g_rev, g_fwd, rtol=1e-12)
    np.testing.assert_allclose(np.ravel(g_rev), ld.log_density_and_grad(x)[1], rtol=1e-12)
    t = interleaved({
        "density": lambda: ld.log_density(x),
        "reverse": lambda: value_and_grad(ld._evaluate, ld._parts(x)),
        "forward": lambda: value_and_grad_forward(ld._evaluate, ld._parts(x)),
        "public": lambda: ld.log_density_and_grad(x),
    }, 60)
    print("2. LogDensity of a 50-site scalar generator model (random walk, 50 observations)")
    print(f"   log_density {t['density'] * 1e6:8.1f} us")
    print(f"   reverse gradient {t['reverse'] * 1e6:8.1f} us = {t['reverse'] / t['density']:.2f}x (target <= 5)")
    print(f"   forward gradient {t['forward'] * 1e6:8.1f} us = {t['forward'] / t['density']:.2f}x")
    print(f"   log_density_and_grad {t['public'] * 1e6:8.1f} us = {t['public'] / t['density']:.2f}x")


# -- 3. crossover -------------------------------------------------------------------------------

def crossover(label: str, dims: List[int], make: Callable[[int], tuple]) -> None:
    print(f"3. crossover, {label}:  dim  forward us  reverse us  reverse/forward")
    found = None
    for d in dims:
        f, x = make(d)
        t = interleaved({"forward": lambda: value_and_grad_forward(f, x),
                         "reverse": lambda: value_and_grad(f, x)}, 30)
        ratio = t["reverse"] / t["forward"]
        print(f"   {d:5d} {t['forward'] * 1e6:11.1f} {t['reverse'] * 1e6:11.1f} {ratio:10.2f}")
        if found is None and ratio < 1.0:
            found = d
    print(f"   reverse beats forward from dim {found}" if found else "   reverse never beat forward here")


def logistic_problem(d: int) -> tuple:
    X, y, w = logistic_data(1000, d)
    return loglik(X, y), w


def log_density_problem(n: int) -> tuple:
    ld, x = log_density_for(n)
    return ld._evaluate, ld._parts(x)


# -- 4. Hessian-vector products -------------------------------------------------------------------

def bench_hessian_product() -> None:
    print("4. hessian_product (forward over reverse) against one reverse gradient (target <= 3x)")
    X, y, w = logistic_data(1000, 100)
    ld, x = log_density_for(50)
    problems = {
        "logistic regression, d = 100": (loglik(X, y), w),
        "LogDensity, 50 sites": (lambda z: ld._evaluate(ld._parts(z)), x),
    }
    for label, (f, at) in problems.items():
        v = np.cos(np.arange(at.size))
        t = interleaved({"grad": lambda: grad(f, at), "hvp": lambda: hessian_product(f, at, v)}, 40)
        print(f"   {label}: grad {t['grad'] * 1e6:8.1f} us, hessian_product {t['hvp'] * 1e6:8.1f} us"
              f" = {t['hvp'] / t['grad']:.2f}x")


def main() -> None:
    print(f"min of interleaved runs (python {sys.version.split()[0]}, numpy {np.__version__})")
    bench_logistic()
    bench_log_density()
    crossover("logistic regression, 1000 rows", [1, 2, 4, 8, 16, 32, 64, 128], logistic_problem)
    crossover("generator model via LogDensity", [1, 2, 4, 8, 16, 32, 64], log_density_problem)
    bench_hessian_product()


if __name__ == "__main__":
    main()

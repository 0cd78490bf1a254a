"""Packaging: the public API, the compiled extension, and what gets installed."""

import importlib.machinery
import importlib.resources
import os
from pathlib import Path

import plait

ISSUE_9_API = ["LogDensity"]
ISSUE_2_API = [
    "sample", "observe", "factor", "param", "deterministic", "iterate", "fold", "scope",
    "simulate", "log_density", "run", "Stack", "Trace",
    "Bernoulli", "Categorical", "Binomial", "Poisson", "Geometric", "DiscreteUniform",
    "Normal", "LogNormal", "Uniform", "Beta", "Gamma", "Exponential", "StudentT",
    "Dirichlet", "MultivariateNormal",
]
HANDLERS = ["seed", "trace", "replay", "condition", "substitute", "block", "scope", "scale", "mask"]


def test_public_api_is_exposed():
    for name in ISSUE_2_API + ISSUE_9_API:
        assert hasattr(plait, name), name
        assert name in plait.__all__, name
    for name in HANDLERS:
        assert callable(getattr(plait.handlers, name)), name
    for sub in ("effects", "handlers", "inference", "gradients", "ext", "bridges"):
        assert getattr(plait, sub).__name__ == f"plait.{sub}"


def test_compiled_extension_is_in_use():
    from plait.ext import _logweights

    assert any(_logweights.__file__.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES)
    assert plait.ext.logsumexp is _logweights.logsumexp
    assert plait.ext.normalize is _logweights.normalize
    from plait.ext import _interpreter

    assert any(_interpreter.__file__.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES)


def test_package_ships_py_typed():
    assert importlib.resources.files("plait").joinpath("py.typed").is_file()


def test_compiled_modules_ship_type_stubs():
    # Type checkers read ext/<module>.pyi for the names imported from a compiled module.
    ext = Path(plait.ext.__file__).parent
    compiled = {p.name.split(".")[0] for s in importlib.machinery.EXTENSION_SUFFIXES for p in ext.glob(f"*{s}")}
    stubs = {p.stem for p in ext.glob("*.pyi")}
    assert compiled and compiled <= stubs, sorted(compiled - stubs)


def test_only_intended_modules_are_installed():
    root = Path(plait.__file__).parent
    if os.environ.get("PLAIT_EXPECT_INSTALLED"):
        assert "site-packages" in str(root), root
        top_level = sorted(p.name for p in root.glob("*.py"))
        assert top_level == ["__init__.py", "errors.py"], top_level
        assert not (root / "tests").exists() and not (root / "bench").exists()


def test_bridges_import_without_torch():
    # plait.bridges.pyro loads torch and pyro only inside to_pyro.
    import subprocess
    import sys

    code = (
        "import sys; import plait.bridges.pyro; "
        "assert 'torch' not in sys.modules and 'pyro' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

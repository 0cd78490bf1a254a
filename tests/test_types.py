"""The type check: mypy, configured in pyproject.toml ([tool.mypy], strict), passes on the package.

mypy finds the package by its import name, so it runs in a scratch folder
holding a link named ``plait`` to the package directory: the checkout (an
editable install, or PYTHONPATH), or the installed copy with the stubs of
its compiled modules (ext/*.pyi).  The configuration comes from the
pyproject.toml beside the package, or from ``PLAIT_MYPY_CONFIG`` (.ci/run
sets it for the installed copy, which ships no pyproject.toml).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import plait

pytest.importorskip("mypy", reason="the type check needs mypy (pip install -e '.[typecheck]')")


def _config(package: Path) -> Path:
    config = Path(os.environ.get("PLAIT_MYPY_CONFIG", package / "pyproject.toml"))
    if not config.is_file():
        pytest.skip(f"no mypy configuration at {config} (set PLAIT_MYPY_CONFIG to plait's pyproject.toml)")
    return config


def test_package_passes_the_type_check(tmp_path):
    package = Path(plait.__file__).parent
    config = _config(package)
    (tmp_path / "plait").symlink_to(package, target_is_directory=True)
    command = [sys.executable, "-m", "mypy", "--config-file", str(config), "-p", "plait"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, f"mypy -p plait failed:\n{result.stdout}{result.stderr}"

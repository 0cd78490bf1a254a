"""The README's demo runs (skipped where the tests run outside the source tree)."""

import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.skipif(not (EXAMPLES / "coin.py").exists(), reason="examples/ is not next to the tests")
def test_the_coin_demo_runs(capsys):
    runpy.run_path(str(EXAMPLES / "coin.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "SMC: posterior mean" in out and "GradInf" in out and "MH: posterior mean" in out

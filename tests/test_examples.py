"""The README's demo and the GradInf tutorials run (skipped where the tests run outside the source tree)."""

import pathlib
import runpy
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.skipif(not (EXAMPLES / "coin.py").exists(), reason="examples/ is not next to the tests")
def test_the_coin_demo_runs(capsys):
    runpy.run_path(str(EXAMPLES / "coin.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "SMC: posterior mean" in out and "GradInf" in out and "MH: posterior mean" in out


# The GradInf tutorials, with few estimates; matplotlib is optional, so without it --plot
# must print a note and go on.
TUTORIALS = [("gradinf_queue.py", ["--estimates", "3"]), ("gradinf_option.py", ["--estimates", "3"]),
             ("gradinf_gene.py", ["2"])]


def run_tutorial(monkeypatch, script, args, png):
    monkeypatch.setattr(sys, "argv", [script, *args, "--plot", str(png)])
    monkeypatch.syspath_prepend(str(EXAMPLES))  # as `python examples/<script>` would (gradinf_plots)
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")


@pytest.mark.skipif(not (EXAMPLES / "gradinf_queue.py").exists(), reason="examples/ is not next to the tests")
@pytest.mark.parametrize("script, args", TUTORIALS, ids=[s for s, _ in TUTORIALS])
def test_gradinf_tutorials_run_without_matplotlib(monkeypatch, capsys, tmp_path, script, args):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    run_tutorial(monkeypatch, script, args, tmp_path / "plot.png")
    out = capsys.readouterr().out
    assert "score function" in out and "matplotlib is not installed" in out
    assert not (tmp_path / "plot.png").exists()


@pytest.mark.skipif(not (EXAMPLES / "gradinf_queue.py").exists(), reason="examples/ is not next to the tests")
@pytest.mark.parametrize("script, args", TUTORIALS, ids=[s for s, _ in TUTORIALS])
def test_gradinf_tutorials_plot(monkeypatch, capsys, tmp_path, script, args):
    pytest.importorskip("matplotlib")
    run_tutorial(monkeypatch, script, args, tmp_path / "plot.png")
    assert "plot written to" in capsys.readouterr().out
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

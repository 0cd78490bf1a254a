"""ArviZ output: Chain.to_arviz and Population.to_arviz, checked against plait's own diagnostics."""

import numpy as np
import pytest

import plait

az = pytest.importorskip("arviz")

DATA = [0.9, 1.4, 0.2, 1.1, 0.7]


def normal_model(ys):
    mu = yield plait.sample("mu", plait.Normal(0.0, 2.0))
    tau = yield plait.sample("tau", plait.Gamma(2.0, 2.0))
    for i, y in enumerate(ys):
        yield plait.observe(("y", i), plait.Normal(mu, 1.0 / np.sqrt(tau)), y)  # (np: a batched run's lanes stay together)
    return mu


@pytest.fixture(scope="module")
def chain():
    return plait.mh(normal_model, DATA, num_samples=1000, burn_in=300, num_chains=4, seed=11)


def test_chain_layout_stats_and_observations(chain):
    idata = chain.to_arviz()
    assert idata.posterior["mu"].dims == ("chain", "draw")
    assert idata.posterior["mu"].shape == (4, 1000)
    np.testing.assert_array_equal(idata.posterior["tau"].values, chain.draws("tau"))
    np.testing.assert_array_equal(idata.sample_stats["lp"].values, chain.log_joint)
    assert idata.sample_stats.attrs["acceptance_rate"] == pytest.approx(next(iter(chain.acceptance.values())))
    assert [idata.observed_data[f"y/{i}"].values.item() for i in range(len(DATA))] == DATA


def test_summary_and_rhat_agree_with_chain(chain):
    idata = chain.to_arviz()
    table = az.summary(idata, kind="stats")
    for address in ("mu", "tau"):
        assert table.loc[address, "mean"] == pytest.approx(chain.mean(address), abs=1e-3)  # arviz rounds to 3 d.p.
        assert table.loc[address, "sd"] == pytest.approx(chain.sd(address), abs=1e-3)
        # arviz's default R-hat is rank-normalised split R-hat; plait's Chain.rhat is the classic
        # split R-hat of BDA3, which arviz computes with method="split": compare like with like.
        assert float(az.rhat(idata, var_names=[address], method="split")[address]) == pytest.approx(
            chain.rhat(address), rel=1e-10)
        # plait's ESS does not split chains: arviz's "identity" ESS is the same estimator.
        assert float(az.ess(idata, var_names=[address], method="identity")[address]) == pytest.approx(
            chain.ess(address), rel=1e-8)
    # The defaults run too, and say the chains mixed.
    assert float(az.rhat(idata)["mu"]) < 1.05
    full = az.summary(idata)
    assert set(full.index) == {"mu", "tau"} and (full["ess_bulk"] > 100).all()
    # Chain.summary() prints the same figures.
    rows = {line.split()[0]: line.split() for line in chain.summary().splitlines()[1:3]}
    assert float(rows["mu"][1]) == pytest.approx(table.loc["mu", "mean"], abs=2e-3)
    assert float(rows["mu"][5]) == pytest.approx(float(az.rhat(idata, method="split")["mu"]), abs=1e-3)


def test_population_resampled_draws_keep_the_weights():
    pop = plait.importance(normal_model, DATA, num_particles=3000, seed=5, keep_traces=True)
    idata = pop.to_arviz(seed=1)
    assert idata.posterior["mu"].shape == (1, 3000)
    stats = idata.sample_stats
    picks = stats["ancestor"].values[0]
    # Each draw is the latent of the particle it copies, with that particle's weight.
    mus = np.array([t["mu"] for t in pop.traces])
    np.testing.assert_array_equal(idata.posterior["mu"].values[0], mus[picks])
    np.testing.assert_array_equal(stats["weight"].values[0], pop.weights[picks])
    np.testing.assert_allclose(stats["particle_weight"].values[0], pop.weights)
    assert stats.attrs["ess"] == pytest.approx(pop.ess)
    assert stats.attrs["log_evidence"] == pytest.approx(pop.log_evidence)
    # Systematic resampling keeps the weighted mean up to O(1/N).
    assert float(idata.posterior["mu"].mean()) == pytest.approx(pop.expectation(lambda r: r), abs=0.01)
    assert idata.observed_data["y/1"].values.item() == DATA[1]
    # The draw set is reproducible from its seed, and another seed gives another one.
    np.testing.assert_array_equal(pop.to_arviz(seed=1).posterior["mu"].values, idata.posterior["mu"].values)
    assert not np.array_equal(pop.to_arviz(seed=2).sample_stats["ancestor"].values, picks)


def test_smc_runs_become_chains():
    runs = plait.smc(normal_model, DATA, num_particles=300, num_runs=3, seed=2)
    idata = runs.to_arviz(num_draws=200)
    # Without traces the return value is the variable.
    assert idata.posterior["value"].shape == (3, 200)
    assert idata.sample_stats.attrs["log_evidence"] == pytest.approx(list(runs.log_evidences))
    assert float(az.rhat(idata, method="split")["value"]) < 1.1


def test_missing_arviz_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_arviz(name, *args, **kwargs):
        if name == "arviz":
            raise ImportError("No module named 'arviz'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_arviz)
    with pytest.raises(ImportError, match=r"pip install plait\[arviz\]"):
        plait.Population([1.0], [0.0]).to_arviz()

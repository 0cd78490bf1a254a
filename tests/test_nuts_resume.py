"""A NUTS chain continued with ``resume=`` keeps its adapted step size and mass matrix (issue 19)."""

import numpy as np
import plait
from plait import Chain

Y = np.array([0.9, 1.1, 1.3, 0.7, 2.0])


def model(y):
    mu = yield plait.sample("mu", plait.Normal(0.0, 10.0))
    sigma = yield plait.sample("sigma", plait.Exponential(1.0))
    yield plait.observe("y", plait.Normal(mu, sigma), y)


def _adapted(chain):
    (saved,) = chain.checkpoints[0].adapted.values()
    return saved["step_size"], saved["inverse_mass"]


def test_resumed_chain_continues_with_the_adapted_kernel(tmp_path):
    first = plait.nuts(model, Y, num_samples=40, num_warmup=150, seed=5)
    step, inverse_mass = _adapted(first)
    assert step == first.sample_stats["step_size"][0, -1]
    assert not np.allclose(inverse_mass, 1.0)  # warmup adapted the mass matrix
    first.save(tmp_path / "first.npz")
    more = plait.nuts(model, Y, num_samples=40, num_warmup=150, resume=Chain.load(tmp_path / "first.npz"))
    assert more.num_samples == 80
    resumed_step, resumed_mass = _adapted(more)
    assert resumed_step == step  # neither re-adapted nor reset to a fresh search
    np.testing.assert_array_equal(resumed_mass, inverse_mass)
    assert abs(float(np.mean(more.draws("mu")[0, 40:])) - 1.2) < 1.0


def test_resumed_hmc_with_a_composed_kernel_keeps_the_gradient_kernel_state():
    kernel = plait.nuts_kernel(["mu", "sigma"])
    first = plait.mh(model, Y, num_samples=20, burn_in=100, kernel=kernel, seed=2)
    step, _ = _adapted(first)
    more = plait.mh(model, Y, num_samples=20, kernel=plait.nuts_kernel(["mu", "sigma"]), resume=first)
    assert _adapted(more)[0] == step

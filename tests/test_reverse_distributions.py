"""Reverse mode through distributions and transforms: every log_prob, draw and bijection equals forward mode."""

from __future__ import annotations

import math

import numpy as np
import pytest

import plait
from plait.effects.distributions.supports import Interval
from plait.effects.transforms import biject_to
from plait.gradients import grad, grad_forward, jacfwd, jacrev

S = plait.supports


def agree(f, x, rtol=1e-12):
    """Reverse and forward derivatives of ``f`` at ``x`` agree (gradient, or Jacobian for arrays)."""
    y = f(x)
    if np.ndim(y) == 0:
        r, fw = grad(f, x), grad_forward(f, x)
    else:
        r, fw = jacrev(f, x), jacfwd(f, x)
    np.testing.assert_allclose(r, fw, rtol=rtol, atol=1e-13)
    assert np.all(np.isfinite(r))
    return r


# family, real parameters, a value, a batch of values
CONTINUOUS = [
    (plait.Normal, (0.3, 1.2), 0.5, [0.1, -2.0, 3.0]),
    (plait.LogNormal, (0.3, 1.2), 0.5, [0.1, 2.0, 3.0]),
    (plait.Uniform, (0.3, 1.2), 0.5, [0.4, 0.6, 1.1]),
    (plait.Beta, (2.0, 3.0), 0.4, [0.1, 0.5, 0.9]),
    (plait.Gamma, (2.0, 3.0), 0.4, [0.1, 2.0, 5.0]),
    (plait.Exponential, (2.0,), 0.4, [0.1, 2.0, 5.0]),
    (plait.StudentT, (3.0, 0.1, 2.0), 0.4, [-3.0, 0.0, 2.5]),
    (plait.StudentT, (80.0, 0.1, 2.0), 0.4, [-3.0, 0.0, 2.5]),
]
DISCRETE = [
    (plait.Bernoulli, (0.3,), 1, [0, 1, 1]),
    (plait.Poisson, (2.5,), 3, [0, 1, 7]),
    (plait.Geometric, (0.3,), 2, [0, 1, 5]),
]
ALL = CONTINUOUS + DISCRETE
ids = [f"{c[0].__name__}{i}" for i, c in enumerate(ALL)]


@pytest.mark.parametrize("family,args,x,xs", ALL, ids=ids)
def test_log_prob_in_the_parameters(family, args, x, xs):
    agree(lambda v: family(*v).log_prob(x), np.array(args))
    agree(lambda v: np.sum(family(*v).log_prob(np.array(xs))), np.array(args))
    # One parameter a reverse value, the others plain floats.
    agree(lambda a: family(a, *args[1:]).log_prob(x), args[0])


@pytest.mark.parametrize("family,args,x,xs", CONTINUOUS, ids=ids[:len(CONTINUOUS)])
def test_log_prob_in_the_value(family, args, x, xs):
    agree(lambda y: family(*args).log_prob(y), x)
    agree(lambda y: family(*args).log_prob(y), np.array(xs))
    agree(lambda p: family(*p[:-1]).log_prob(p[-1]), np.array(args + (x,)))


def test_multivariate_and_categorical_log_probs():
    agree(lambda p: plait.Binomial(5, p[0]).log_prob(2), np.array([0.3]))
    agree(lambda lg: plait.Categorical(logits=lg).log_prob(1), np.array([0.1, -0.4, 0.7]))
    agree(lambda lg: np.sum(plait.Categorical(logits=lg).log_prob(np.array([1, 2, 0]))), np.array([0.1, -0.4, 0.7]))
    agree(lambda p: plait.Categorical(p / np.sum(p)).log_prob(2), np.array([0.2, 0.3, 0.5]))
    agree(lambda a: plait.Dirichlet(a).log_prob(np.array([0.2, 0.3, 0.5])), np.array([1.0, 2.0, 3.0]))
    agree(lambda x: plait.Dirichlet(np.array([1.0, 2.0, 3.0])).log_prob(x / np.sum(x)), np.array([0.2, 0.3, 0.5]))
    agree(lambda m: plait.MultivariateNormal(m, [[2.0, 0.3], [0.3, 1.0]]).log_prob([1.0, 0.0]), np.array([0.1, -0.2]))
    agree(lambda c: plait.MultivariateNormal([0.0, 0.0], (c + c.T) / 2).log_prob([1.0, 0.5]),
          np.array([[2.0, 0.3], [0.3, 1.0]]))
    agree(lambda x: plait.MultivariateNormal([0.0, 0.0], [[2.0, 0.3], [0.3, 1.0]]).log_prob(x), np.array([0.4, -1.0]))


def test_wrapped_distributions():
    from plait.effects.distributions import MaskedDistribution, ScaledDistribution

    agree(lambda m: ScaledDistribution(plait.Normal(m, 1.0), 2.5).log_prob(0.3), 0.1)
    agree(lambda s: ScaledDistribution(plait.Normal(0.1, 1.0), s).log_prob(0.3), 2.5)
    agree(lambda m: np.sum(MaskedDistribution(plait.Normal(m, 1.0), np.array([True, False]))
                           .log_prob(np.array([0.3, 1.0]))), 0.1)


DRAWS = [
    (lambda p: plait.Normal(p[0], p[1]), [0.3, 1.2]),
    (lambda p: plait.LogNormal(p[0], p[1]), [0.3, 0.5]),
    (lambda p: plait.Uniform(p[0], p[1]), [0.3, 1.2]),
    (lambda p: plait.Exponential(p[0]), [2.0]),
    (lambda p: plait.Gamma(p[0], p[1]), [2.0, 3.0]),
    (lambda p: plait.Beta(p[0], p[1]), [2.0, 3.0]),
    (lambda p: plait.StudentT(p[0], p[1], p[2]), [5.0, 0.1, 2.0]),
    (lambda p: plait.Dirichlet(p), [1.0, 2.0, 3.0]),
    (lambda p: plait.MultivariateNormal(p, [[2.0, 0.3], [0.3, 1.0]]), [0.1, -0.2]),
]


@pytest.mark.parametrize("make,params", DRAWS, ids=[str(i) for i in range(len(DRAWS))])
def test_reparameterised_draws(make, params):
    p = np.array(params)
    agree(lambda q: make(q).sample(np.random.default_rng(4), (3,)), p, rtol=1e-10)
    # A draw scored under its own distribution: the usual pathwise-plus-score gradient.
    agree(lambda q: np.sum(make(q).log_prob(make(q).sample(np.random.default_rng(5)))), p, rtol=1e-10)


ELEMENTWISE = [
    biject_to(S.real), biject_to(S.positive), biject_to(S.positive, positive="softplus"),
    biject_to(S.unit_interval), biject_to(Interval(-2.0, 5.0)), biject_to(Interval(3.0, math.inf)),
    biject_to(Interval(-math.inf, -1.5)),
]
XS = np.array([-6.0, -1.3, -0.2, 0.0, 0.4, 2.1, 7.5])


@pytest.mark.parametrize("t", ELEMENTWISE, ids=lambda t: repr(t))
def test_elementwise_transforms_and_log_jacobians(t):
    agree(t.forward, XS)
    agree(t.inverse, t.forward(XS[1:-1]))
    agree(lambda x: np.sum(t.log_abs_det_jacobian(x)), XS)
    for x in XS:
        agree(t.forward, float(x))


def test_stick_breaking_and_differentiable_bounds():
    t = biject_to(S.simplex(4))
    x = np.array([0.3, -1.0, 0.8])
    agree(t.forward, x)
    agree(t.inverse, t.forward(x))
    agree(lambda v: t.log_abs_det_jacobian(v), x)
    # bounds that are themselves being differentiated
    agree(lambda b: biject_to(plait.Uniform(b[0], b[1]).support).forward(np.array([0.2, -1.0])), np.array([-1.0, 2.0]))
    agree(lambda b: np.sum(biject_to(plait.Uniform(b[0], b[1]).support).log_abs_det_jacobian(np.array([0.2, -1.0]))),
          np.array([-1.0, 2.0]))


# -- engines that take reverse-mode gradients --------------------------------------------------------

def walk(n):
    def model(ys):
        prev = 0.0
        for i in range(n):
            z = yield plait.sample(("z", i), plait.Normal(0.9 * prev, 1.0))
            yield plait.observe(("y", i), plait.Normal(z, 0.5), ys[i])
            prev = z
        s = yield plait.sample("s", plait.Gamma(2.0, 2.0))
        yield plait.observe("t", plait.Normal(0.0, s), 0.7)

    return model


def test_log_density_gradient_is_the_same_in_both_modes():
    from plait.gradients.api import value_and_grad, value_and_grad_forward

    ld = plait.LogDensity(walk(12), list(np.sin(np.arange(12.0))))
    x = np.cos(np.arange(ld.dim) * 0.7)
    parts = ld._parts(x)
    (vr, gr), (vf, gf) = value_and_grad(ld._evaluate, parts), value_and_grad_forward(ld._evaluate, parts)
    assert vr == vf
    for a, b in zip(gr, gf):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    value, g = ld.log_density_and_grad(x)
    assert value == ld.log_density(x) and g.shape == (ld.dim,)
    np.testing.assert_allclose(g, np.concatenate([np.ravel(b) for b in gf]), rtol=1e-12)


def test_hessian_of_a_20_parameter_log_density_matches_forward_over_forward():
    from plait.gradients import hessian, hessian_product

    ld = plait.LogDensity(walk(19), list(np.sin(np.arange(19.0))))
    assert ld.dim == 20
    f = lambda x: ld._evaluate(ld._parts(x))  # noqa: E731
    x = np.cos(np.arange(20) * 0.7)
    h = hessian(f, x)
    np.testing.assert_allclose(h, jacfwd(lambda z: grad_forward(f, z), x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)
    v = np.sin(np.arange(20.0))
    np.testing.assert_allclose(hessian_product(f, x, v), h @ v, rtol=1e-11, atol=1e-11)


def test_svi_reparameterised_gradient_is_the_same_in_both_modes(monkeypatch):
    from plait.inference.vi import svi as svi_module

    def guide(ys):
        for i in range(len(ys)):
            m = yield plait.param(("m", i), 0.1 * i)
            s = yield plait.param(("s", i), 1.0, constraint=S.positive)
            yield plait.sample(("z", i), plait.Normal(m, s))
        a = yield plait.param("a", 2.0, constraint=S.positive)
        yield plait.sample("s", plait.Gamma(a, 2.0))

    def model(ys):
        yield from walk(len(ys))(ys)

    ys = list(np.sin(np.arange(6.0)))
    params = svi_module._discover(model, guide, (ys,), np.random.default_rng(0))
    layout = svi_module._Layout(params)
    est = svi_module._Estimator("reparam", model, guide, (ys,), layout, 2, 0.9, False)
    theta = layout.initial + 0.05
    assert theta.size >= svi_module.REVERSE_FROM_DIM
    v_rev, g_rev = est._reparam(theta, np.random.default_rng(3))
    monkeypatch.setattr(svi_module, "REVERSE_FROM_DIM", 10 ** 9)
    v_fwd, g_fwd = est._reparam(theta, np.random.default_rng(3))
    assert v_rev == pytest.approx(v_fwd, rel=1e-13)
    np.testing.assert_allclose(g_rev, g_fwd, rtol=1e-10, atol=1e-12)


def test_scalar_log_prob_nodes_outside_and_on_the_support_boundary():
    from plait.gradients import value_and_grad, value_and_grad_forward

    cases = [
        (lambda a: plait.Gamma(a, 1.0).log_prob(-1.0), 2.0),  # outside: -inf, gradient 0
        (lambda a: plait.Exponential(a).log_prob(0.0), 2.0),  # on the boundary
        (lambda x: plait.Gamma(1.0, 2.0).log_prob(x), 0.0),
        (lambda x: plait.Exponential(2.0).log_prob(x), -0.5),
        (lambda x: plait.Gamma(2.0, 2.0).log_prob(x), 0.3),
    ]
    for f, x in cases:
        (vr, gr), (vf, gf) = value_and_grad(f, x), value_and_grad_forward(f, x)
        assert float(vr) == pytest.approx(float(vf), rel=1e-14) or float(vr) == float(vf)
        assert float(gr) == pytest.approx(float(gf), rel=1e-12, abs=1e-300)


def test_exact_expectations_differentiate_in_reverse():
    from plait.gradients import diff

    def two_flips(t):
        a = yield plait.sample("a", plait.Bernoulli(t))
        b = yield plait.sample("b", plait.Bernoulli(t * t if a else t))
        return a + b

    for t in (0.3, 0.7):
        assert grad(lambda s: plait.exact(two_flips, s).mean, t) == pytest.approx(
            diff(lambda s: plait.exact(two_flips, s).mean, t), rel=1e-14)


# -- parameters written as lists of differentiable numbers --------------------------------
@pytest.mark.parametrize("derivative", [grad, grad_forward], ids=["reverse", "forward"])
@pytest.mark.parametrize("spelling", [list, tuple, lambda items: np.array(items)], ids=["list", "tuple", "object array"])
def test_a_parameter_written_as_a_list_of_differentiable_numbers_is_one_array(derivative, spelling):
    # [p, 1 - p] is the natural way to write a two-outcome Categorical; it used to be
    # refused as "not an array of real numbers" (and NUTS then could not start).
    def categorical(t):
        return plait.Categorical(spelling([t, 1.0 - t])).log_prob(1)

    def normal(t):
        return np.sum(plait.Normal(spelling([t, 2.0 * t]), 1.0).log_prob(np.zeros(2)))

    def nested(t):
        return plait.Categorical([[t, 1.0 - t], spelling([0.5, 0.5])]).log_prob(np.array([0, 1])).sum()

    assert derivative(categorical, 0.3) == pytest.approx(-1.0 / 0.7, rel=1e-12)
    assert derivative(normal, 0.3) == pytest.approx(-5.0 * 0.3, rel=1e-12)
    assert derivative(nested, 0.3) == pytest.approx(1.0 / 0.3, rel=1e-12)


def test_a_bad_value_in_a_list_of_differentiable_numbers_is_named():
    with pytest.raises(plait.InvalidParameterError, match="Categorical.*probs"):
        grad(lambda t: plait.Categorical([t, -t]).log_prob(0), 0.3)


def test_a_gradient_sampler_takes_a_categorical_of_a_latent_probability():
    # p ~ Beta(1, 1) observed through Categorical([p, 1 - p]): on the logit scale u,
    # log density = 3 log p + log(1 - p) + log p + log(1 - p) (the Jacobian), so
    # d/du = 4 (1 - p) - 2 p.  Both the first (recorded) and the replayed gradient.
    def model(ks):
        p = yield plait.sample("p", plait.Beta(1.0, 1.0))
        for i, k in enumerate(ks):
            yield plait.observe(("k", i), plait.Categorical([p, 1 - p]), k)

    density = plait.LogDensity(model, [0, 0, 1, 0])
    for u in (-0.5, 0.3, 0.3, 1.2):
        p = 1.0 / (1.0 + math.exp(-u))
        value, gradient = density.sampler_log_density_and_grad(np.array([u]))
        assert value == pytest.approx(4 * math.log(p) + 2 * math.log(1 - p), rel=1e-12)
        assert gradient[0] == pytest.approx(4 * (1 - p) - 2 * p, rel=1e-12)

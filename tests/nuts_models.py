"""Models with exact posterior moments for the NUTS/HMC tests and bench/nuts_acceptance.py.

Each ``*_exact()`` returns ``{what: (mean, sd)}`` computed in closed form (or
by quadrature for eight schools), never by sampling.
"""

import math

import numpy as np
from scipy import special

import plait

# -- conjugate Normal-Normal -----------------------------------------------------------------
NN_Y = np.array([1.2, 0.4, 2.2, 1.7, 0.9])
NN_PRIOR_SD = 2.0


def normal_normal(y):
    mu = yield plait.sample("mu", plait.Normal(0.0, NN_PRIOR_SD))
    yield plait.observe("y", plait.Normal(mu, 1.0), y)


def normal_normal_exact():
    precision = 1.0 / NN_PRIOR_SD**2 + len(NN_Y)
    return {"mu": (NN_Y.sum() / precision, math.sqrt(1.0 / precision))}


# -- a Gaussian with scales 0.01 .. 100 --------------------------------------------------------
def gaussian_scales(dim):
    return np.logspace(-2, 2, dim)


def gaussian(scales):
    yield plait.sample("x", plait.Normal(np.zeros(len(scales)), scales))


def gaussian_exact(scales):
    return {i: (0.0, float(s)) for i, s in enumerate(scales)}


# -- Bayesian linear regression, known noise (conjugate) ---------------------------------------
def regression_data(n=30, seed=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=n) * 0.7
    return X, y


REG_NOISE = 0.7
REG_PRIOR_SD = 3.0


def regression(X, y):
    beta = yield plait.sample("beta", plait.Normal(np.zeros(X.shape[1]), REG_PRIOR_SD))
    yield plait.observe("y", plait.Normal(X @ beta, REG_NOISE), y)


def regression_exact(X, y):
    precision = X.T @ X / REG_NOISE**2 + np.eye(X.shape[1]) / REG_PRIOR_SD**2
    cov = np.linalg.inv(precision)
    mean = cov @ X.T @ y / REG_NOISE**2
    return {i: (float(mean[i]), float(math.sqrt(cov[i, i]))) for i in range(X.shape[1])}


# -- eight schools, non-centred ----------------------------------------------------------------
# tau's prior is HalfCauchy(0, 5), on the log scale in unconstrained space (as NumPyro's).
SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(y, sigma):
    mu = yield plait.sample("mu", plait.Normal(0.0, 5.0))
    tau = yield plait.sample("tau", plait.HalfCauchy(5.0))
    eta = yield plait.sample("eta", plait.Normal(np.zeros(len(y)), 1.0))
    yield plait.observe("y", plait.Normal(mu + tau * eta, sigma), y)


def eight_schools_exact(y=SCHOOLS_Y, sigma=SCHOOLS_SIGMA):
    """Moments of mu, tau and eta by quadrature over (mu, tau) with theta integrated out."""
    mus = np.linspace(-40.0, 50.0, 1201)
    # tau on a log grid (the density has a heavy right tail and a finite value at 0)
    log_tau = np.linspace(-12.0, 6.5, 2001)
    tau = np.exp(log_tau)
    M, T = np.meshgrid(mus, tau, indexing="ij")
    var = sigma[None, None, :] ** 2 + T[..., None] ** 2
    loglik = -0.5 * np.sum(np.log(2 * np.pi * var) + (y - M[..., None]) ** 2 / var, axis=-1)
    logp = loglik - 0.5 * (M / 5.0) ** 2 - np.log1p((T / 5.0) ** 2) + np.log(T)  # + log dtau/dlog_tau
    w = np.exp(logp - logp.max())
    w /= w.sum()
    out = {}
    for name, f in [("mu", M), ("tau", T)]:
        mean = float(np.sum(w * f))
        out[name] = (mean, float(math.sqrt(np.sum(w * (f - mean) ** 2))))
    # theta_j | mu, tau, y ~ Normal(m_j, v_j); eta_j = (theta_j - mu) / tau
    prec = 1.0 / sigma[None, None, :] ** 2 + 1.0 / T[..., None] ** 2
    v = 1.0 / prec
    m = v * (y / sigma**2 + M[..., None] / T[..., None] ** 2)
    eta_mean = (m - M[..., None]) / T[..., None]
    eta_var = v / T[..., None] ** 2
    for j in range(len(y)):
        first = float(np.sum(w * eta_mean[..., j]))
        second = float(np.sum(w * (eta_var[..., j] + eta_mean[..., j] ** 2)))
        out[("eta", j)] = (first, math.sqrt(second - first**2))
    return out


# -- a two-component mixture with discrete assignments -----------------------------------------
MIX_Y = np.array([-2.1, -1.4, 1.9, 2.6, 0.3, 3.1])
MIX_PRIOR_LOC = (-2.0, 2.0)


def mixture(y):
    w = yield plait.sample("w", plait.Beta(2.0, 2.0))
    mu0 = yield plait.sample("mu0", plait.Normal(MIX_PRIOR_LOC[0], 1.0))
    mu1 = yield plait.sample("mu1", plait.Normal(MIX_PRIOR_LOC[1], 1.0))
    for i, v in enumerate(y):
        z = yield plait.sample(("z", i), plait.Bernoulli(w))
        yield plait.observe(("y", i), plait.Normal(mu1 if z else mu0, 1.0), v)


def mixture_exact(y=MIX_Y):
    """Enumerate the 2^n assignments; given them w is Beta and each mu a conjugate Normal."""
    n = len(y)
    log_weights, moments = [], []
    for code in range(2**n):
        z = np.array([(code >> i) & 1 for i in range(n)])
        n1 = int(z.sum())
        lw = special.betaln(2 + n1, 2 + n - n1) - special.betaln(2, 2)
        stats = {"w": ((2 + n1) / (4 + n), (2 + n1) * (2 + n - n1) / ((4 + n) ** 2 * (5 + n)))}
        for k, name in enumerate(("mu0", "mu1")):
            ys = y[z == k]
            prec = 1.0 + len(ys)
            mean = (MIX_PRIOR_LOC[k] + ys.sum()) / prec
            # marginal likelihood of ys under mu ~ N(loc, 1), y ~ N(mu, 1)
            cov = np.eye(len(ys)) + np.ones((len(ys), len(ys)))
            diff = ys - MIX_PRIOR_LOC[k]
            if len(ys):
                _, logdet = np.linalg.slogdet(cov)
                lw += -0.5 * (len(ys) * math.log(2 * math.pi) + logdet + diff @ np.linalg.solve(cov, diff))
            stats[name] = (mean, 1.0 / prec)
        log_weights.append(lw)
        moments.append(stats)
    p = np.exp(np.array(log_weights) - max(log_weights))
    p /= p.sum()
    out = {}
    for name in ("w", "mu0", "mu1"):
        first = sum(pi * m[name][0] for pi, m in zip(p, moments))
        second = sum(pi * (m[name][1] + m[name][0] ** 2) for pi, m in zip(p, moments))
        out[name] = (float(first), float(math.sqrt(second - first**2)))
    return out


# -- Neal's funnel, centred ----------------------------------------------------------------------
def funnel(dim=9):
    v = yield plait.sample("v", plait.Normal(0.0, 3.0))
    yield plait.sample("x", plait.Normal(np.zeros(dim), np.exp(v / 2.0)))


# -- helpers -----------------------------------------------------------------------------------
def component(chain, address, index):
    """Draws of one scalar: an address, or element ``index`` of a vector site."""
    draws = chain.draws(address)
    return draws if index is None else draws[..., index]


def moment_errors(draws, mean, sd):
    """(error of the mean, its MCSE, error of the sd, its MCSE) from the draws' own ESS.

    The sd's MCSE is the delta method on the second central moment:
    ``MCSE(sd) = MCSE(mean of (x - m)^2) / (2 sd)``.
    """
    from plait.inference.results.diagnostics import effective_sample_size

    x = np.asarray(draws, dtype=float)
    m = x.mean()
    s = x.std(ddof=1)
    mcse_mean = s / math.sqrt(effective_sample_size(x))
    sq = (x - m) ** 2
    mcse_sq = sq.std(ddof=1) / math.sqrt(effective_sample_size(sq))
    return m - mean, mcse_mean, s - sd, mcse_sq / (2 * s)

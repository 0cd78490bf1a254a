"""GradInf tutorial: gradient of a loss of a gene-transcription network simulated by Gillespie.

Run:  python examples/gradinf_gene.py [estimates] [--plot gene.png]

Four reactions (gradinf.md §9.4): ∅→M (α), M→M+P (β·m), M→∅ (γ·m),
P→∅ (δ·p), from (m, p) = (5, 40), with θ = log(α, β, γ, δ) = log(18, 8, 1.5, 4).
One trace runs to T = 0.1 (a much cheaper variant of the tutorial's T = 2.5) and
integrates I_m = ∫ m dt and I_p = ∫ p dt; the loss is
(I_m/T − 10.4)²/10.4² + (I_p/T − 22.3)²/22.3².  Waiting times use the
exponential reparameterisation, the reaction choice the maximal coupling
with independent residual ("maxindep").  Each event is one step of an
``iterate`` loop, so a resampling point follows each event and SIR keeps
the population small; every alternative path runs its own clock, and a
path past the horizon is done (its remaining steps change nothing).  We
print the gradient estimate of GradInf with SIR(2) against the
score-function estimator, with standard errors.  ``num_samples=`` runs the
estimates as lanes of one batched program, and each line says which engine
ran.  Why a loop and not ``while True``: the batch splits wherever its paths
disagree (the clock, the reaction); inside a loop step the parts merge again
when the step returns, while in the model's own body they never would, and
the batch would end with one generator per path.  With ``--plot PATH``
it also draws the distribution of each estimator's estimates, one panel
per coordinate (the exact gradient is not computed here; needs matplotlib:
``pip install "plait[plot]"``; without it the script says so and goes on).
"""

import argparse
import time

import numpy as np

import plait
from gradinf_plots import pyplot, save

T = 0.1
#: Steps of the event loop: about 25 events happen before T, so 120 is never reached (the model checks).
MAX_EVENTS = 120
THETA = np.log([18.0, 8.0, 1.5, 4.0])


def gene(coupling_time="reparam", coupling_choice="maxindep", horizon=T, max_events=MAX_EVENTS):
    def model(theta):
        alpha, beta, gamma, delta = np.exp(theta[0]), np.exp(theta[1]), np.exp(theta[2]), np.exp(theta[3])

        # One event per step of an iterate loop (a step ends with a resampling point); a path
        # whose clock has passed the horizon is done and its steps change nothing.
        def event(state):
            m, p, t, i_m, i_p, done = state
            if done:
                return state
            rates = [alpha + 0.0 * beta, beta * m, gamma * m, delta * p]
            total = rates[0] + rates[1] + rates[2] + rates[3]
            wait = yield plait.sample("wait", plait.Exponential(total), coupling=coupling_time)
            if t + wait > horizon:  # each path reads its own clock
                return m, p, t, i_m + m * (horizon - t), i_p + p * (horizon - t), True
            probs = np.stack(rates) / total
            reaction = yield plait.sample("reaction", plait.Categorical(probs), coupling=coupling_choice)
            return (m + (1, 0, -1, 0)[reaction], p + (0, 1, 0, -1)[reaction], t + wait,
                    i_m + m * wait, i_p + p * wait, False)

        m, p, t, i_m, i_p, done = yield plait.iterate(event, (5, 40, 0.0, 0.0, 0.0, False), max_events,
                                                      name="events")
        if not done:
            raise ValueError(f"more than {max_events} events before the horizon {horizon}")
        return (i_m / horizon - 10.4) ** 2 / 10.4**2 + (i_p / horizon - 22.3) ** 2 / 22.3**2

    return model


def report(name, model, inference, estimates):
    start = time.perf_counter()
    result = plait.gradinf(model, THETA, inference=inference, num_samples=estimates, seed=2026)
    seconds = (time.perf_counter() - start) / estimates
    print(f"{name:18s} " + "  ".join(f"{m:+.4f}±{s:.4f}" for m, s in zip(result.mean, result.standard_error))
          + f"   {seconds:.2f} s/estimate")
    print(f"{'':18s} ran on the {result.engine} engine" + (f": {result.reason}" if result.reason else ""))
    return result.estimates


def plot(path, estimates, coordinates):
    """A histogram per estimator (rows) and gradient coordinate (columns), with each one's mean."""
    plt = pyplot(path)
    if plt is None:
        return
    rows, cols = len(estimates), len(coordinates)
    fig, axes = plt.subplots(rows, cols, sharex="col", figsize=(3 * cols, 2.1 * rows), squeeze=False)
    for r, (name, values) in enumerate(estimates.items()):
        for c, coordinate in enumerate(coordinates):
            ax = axes[r, c]
            ax.hist(values[:, c], bins=20, color="tab:blue", alpha=0.75)
            ax.axvline(values[:, c].mean(), color="black", linestyle=":", label="mean of the estimates")
            ax.set_title(f"{name}\nvariance {values[:, c].var(ddof=1):.3g}", fontsize=8)
            ax.set_yticks([])
            if r == rows - 1:
                ax.set_xlabel(f"d loss / d {coordinate}")
    axes[0, 0].legend(fontsize=7)
    save(plt, fig, path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="GradInf on a Gillespie simulation against the score function")
    parser.add_argument("estimates", nargs="?", type=int, default=20, help="estimates per estimator (default 20)")
    parser.add_argument("--plot", metavar="PATH", help="write the estimator distributions to this PNG")
    options = parser.parse_args()
    print("d loss / d log(alpha, beta, gamma, delta), T = 0.1, one trace")
    estimates = {
        "GradInf, SIR(2)": report("GradInf, SIR(2)", gene(), plait.SIR(2), options.estimates),
        "score function": report("score function", gene("score", "score"), plait.Score(), options.estimates),
    }
    if options.plot:
        plot(options.plot, estimates, ["log α", "log β", "log γ", "log δ"])

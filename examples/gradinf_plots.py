"""Plots shared by the GradInf tutorials (``--plot PATH``); matplotlib is optional.

Without matplotlib (``pip install "plait[plot]"``) :func:`pyplot` prints a
note and returns None, and the tutorial goes on without a plot.
"""


def pyplot(path):
    """``matplotlib.pyplot`` drawing to files only, or None after saying no plot goes to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # we only write a file
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"note: matplotlib is not installed (pip install \"plait[plot]\"); no plot written to {path}")
        return None
    return plt


def save(plt, fig, path):
    """Write ``fig`` to ``path`` and say so."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot written to {path}")


def estimator_histograms(plt, path, estimates, exact, xlabel):
    """One histogram per estimator on a common axis, the exact value as a vertical line."""
    fig, axes = plt.subplots(len(estimates), 1, sharex=True, figsize=(7, 1.9 * len(estimates)), squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], estimates.items()):
        ax.hist(values, bins=40, color="tab:blue", alpha=0.75)
        ax.axvline(exact, color="tab:red", label="exact")
        ax.axvline(values.mean(), color="black", linestyle=":", label="mean of the estimates")
        ax.set_title(f"{name}: variance {values.var(ddof=1):.4g}", fontsize=9)
        ax.set_yticks([])
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel(xlabel)
    save(plt, fig, path)

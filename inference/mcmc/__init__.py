"""inference/mcmc."""

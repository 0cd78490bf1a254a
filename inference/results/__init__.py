"""inference/results."""

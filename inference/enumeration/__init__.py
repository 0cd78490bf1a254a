"""inference/exact."""

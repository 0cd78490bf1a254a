"""inference/smc."""

"""inference/vi."""

"""inference/embedding."""

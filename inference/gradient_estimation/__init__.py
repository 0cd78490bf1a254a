"""inference/gradinf."""

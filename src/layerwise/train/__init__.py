"""Optimisers and the supervised training loop."""

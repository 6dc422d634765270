"""Benchmarks: each suite times layerwise against a peer or a floor in the same run."""

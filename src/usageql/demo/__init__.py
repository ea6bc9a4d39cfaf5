"""Synthetic but realistic usage data, for trying usageql and for its benchmarks."""

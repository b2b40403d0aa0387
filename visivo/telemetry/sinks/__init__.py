"""Sinks: where batches of envelopes go."""

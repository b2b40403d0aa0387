"""Visivo's usage telemetry: opt-out policy, batching and sinks behind blinker signals."""

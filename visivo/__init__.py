"""Visivo: BI as code. This distribution ships the usage-telemetry subsystem."""

__version__ = "0.1.0"

"""The policy layer: who opted out, and which fields may leave."""

from __future__ import annotations

from visivo.telemetry.policy.optout import Decision, Reading, SourceReport, decide

__all__ = ["Decision", "Reading", "SourceReport", "decide"]

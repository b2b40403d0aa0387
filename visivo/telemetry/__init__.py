"""Visivo's usage telemetry: opt-out policy, batching and sinks behind blinker signals.

``start()`` once at process start; ``shutdown()`` runs by itself at interpreter exit.
"""

from __future__ import annotations

from visivo.telemetry.policy.optout import Decision
from visivo.telemetry.runtime import Counters, counters, flush, shutdown, start, status

__all__ = ["Counters", "Decision", "counters", "flush", "shutdown", "start", "status"]

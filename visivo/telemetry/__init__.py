"""Visivo's usage telemetry: opt-out policy, batching and sinks behind blinker signals.

``start()`` once at process start; ``use_project(dir)`` when the host learns where its
project is; ``shutdown()`` runs by itself at interpreter exit.
"""

from __future__ import annotations

from visivo.telemetry.policy.optout import Decision
from visivo.telemetry.runtime import (
    Counters,
    counters,
    flush,
    shutdown,
    start,
    status,
    use_project,
)

__all__ = [
    "Counters",
    "Decision",
    "counters",
    "flush",
    "shutdown",
    "start",
    "status",
    "use_project",
]

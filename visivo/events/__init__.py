"""Signals that Visivo's core emits, and helpers to emit them.

This package knows nothing about telemetry: it only announces what happened.
"""

from __future__ import annotations

from visivo.events.signals import command_finished, command_started, request_finished
from visivo.events.tracking import CommandTracker, current_command, track_command

__all__ = [
    "CommandTracker",
    "command_finished",
    "command_started",
    "current_command",
    "request_finished",
    "track_command",
]

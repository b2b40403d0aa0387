"""The memory sink: keeps wire envelopes in the process, for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks._fork import reset_in_child
from visivo.telemetry.sinks.formats import to_wire

__all__ = ["MemorySink"]


class MemorySink:
    """Stores each envelope's wire form; reads return snapshots, never the live list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wire: list[dict[str, Any]] = []
        self._envelopes: list[Envelope] = []
        reset_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # Another thread of the parent may have held the lock at the fork; what was
        # kept stays readable in the child.
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Envelope]) -> None:
        """Keep the batch."""
        wire = [to_wire(envelope) for envelope in batch]
        with self._lock:
            self._wire.extend(wire)
            self._envelopes.extend(batch)

    def close(self, timeout: float) -> None:
        """Nothing to release; what was kept stays readable."""

    def wire(self) -> list[dict[str, Any]]:
        """A copy of every envelope received so far, as the http sink would send it."""
        with self._lock:
            return list(self._wire)

    def envelopes(self) -> list[Envelope]:
        """A copy of every envelope received so far, as attrs objects."""
        with self._lock:
            return list(self._envelopes)

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._lock:
            self._wire.clear()
            self._envelopes.clear()

"""The null sink: accepts everything, sends nothing."""

from __future__ import annotations

from collections.abc import Sequence

from visivo.telemetry.schema import Envelope

__all__ = ["NullSink"]


class NullSink:
    """Discards every batch."""

    def send(self, batch: Sequence[Envelope]) -> None:
        """Discard the batch."""

    def close(self, timeout: float) -> None:
        """Nothing to release."""

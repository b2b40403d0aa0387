"""The Sink protocol: where batches of envelopes go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from visivo.telemetry.schema import Envelope

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """Receives batches of envelopes on the batcher's thread.

    ``send`` may raise: the batcher counts the failure and carries on. It should bound
    its own blocking (the network sinks finish within about one second). ``close`` releases
    resources within ``timeout`` seconds and never raises.

    Optional methods the runtime uses when a sink has them (see ``NetworkSink``):

    - ``warm()``: load what the first ``send`` needs, with no I/O; run on the batcher's
      thread when a tracked command starts. May raise (counted).
    - ``finish_by(deadline)``: a ``time.monotonic()`` deadline set at shutdown; a ``send``
      in progress or started later gives up by then.
    - ``abandoned()``: at shutdown, the batcher's thread did not finish in time and is
      left behind (e.g. in a name lookup); called once, on the shutting-down thread.
    - ``counters()``: a snapshot with ``events_sent``, ``events_dropped`` and
      ``events_failed`` (by reason), merged into ``visivo.telemetry.counters()``.
    """

    def send(self, batch: Sequence[Envelope]) -> None:
        """Deliver one batch."""

    def close(self, timeout: float) -> None:
        """Release resources, waiting at most ``timeout`` seconds."""

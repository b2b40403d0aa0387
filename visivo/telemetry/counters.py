"""What happened to every event: the batcher's and the delivering sink's counts, merged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Protocol, cast

import attrs

from visivo.telemetry.batcher import EXIT_DEADLINE, BatcherCounters
from visivo.telemetry.sinks.base import Sink
from visivo.telemetry.sinks.registry import FanoutSink

__all__ = ["INVALID_PAYLOAD", "LATE_OPT_OUT", "Counters", "combine", "delivery_counts", "members"]


@attrs.frozen
class Counters:
    """What happened to every event handed to telemetry in this process: a snapshot.

    The batcher's and the delivering sink's counts are merged, so that one view answers
    "where did my events go". Once nothing is in flight (after ``flush`` or ``shutdown``)
    ``enqueued == sent + sum(dropped.values()) + sum(failed.values()) + queued``.

    Attributes:
        enqueued: events the pipeline received, including those refused by a full queue.
        sent: events delivered (accepted by the collector, or handed to a sink that
            keeps no counts of its own).
        queued: events waiting in the queue or in a batch being sent.
        dropped: events deliberately not sent, by reason: the batcher's (``queue_full``,
            ``after_shutdown``, ``exit_deadline``) and the sink's (``paused``, ``http_4xx``...).
        failed: events that could not be delivered, by reason: the sink's (``timeout``,
            ``connection``, ``http_5xx``...) and, for a sink that raised, the exception type.
        errors: exceptions swallowed by telemetry, by where they happened.
        batcher: the batcher's own snapshot (None when no pipeline ran).
        sink: the delivering sink's own snapshot, when it keeps one (the http sink does).
    """

    enqueued: int = 0
    sent: int = 0
    queued: int = 0
    dropped: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    failed: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    errors: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    batcher: BatcherCounters | None = None
    sink: Any = None

    @property
    def lost(self) -> int:
        """Events dropped or failed, whatever the reason."""
        return sum(self.dropped.values()) + sum(self.failed.values())

    def summary(self) -> str:
        """One line for people: ``3 events: 0 sent, 3 failed (timeout: 3)``."""
        parts = [f"{self.sent} sent"]
        for word, table in (("dropped", self.dropped), ("failed", self.failed)):
            total = sum(table.values())
            if total:
                reasons = sorted(table.items(), key=lambda item: (-item[1], item[0]))
                listed = ", ".join(f"{reason}: {count}" for reason, count in reasons)
                parts.append(f"{total} {word} ({listed})")
        if self.queued:
            parts.append(f"{self.queued} queued")
        noun = "event" if self.enqueued == 1 else "events"
        return f"{self.enqueued} {noun}: " + ", ".join(parts)


class _DeliveryCounts(Protocol):
    """What a sink's ``counters()`` snapshot offers when it counts events itself."""

    @property
    def events_sent(self) -> int: ...

    @property
    def events_dropped(self) -> Mapping[str, int]: ...

    @property
    def events_failed(self) -> Mapping[str, int]: ...


_DELIVERY_COUNT_NAMES: Final = ("events_sent", "events_dropped", "events_failed")


def members(sink: Sink) -> tuple[Sink, ...]:
    return sink.sinks if isinstance(sink, FanoutSink) else (sink,)


def delivery_counts(sink: Sink) -> _DeliveryCounts | None:
    """The first sink snapshot that counts sent, dropped and failed events itself."""
    for member in members(sink):
        read = getattr(member, "counters", None)
        snapshot = read() if callable(read) else None
        if all(hasattr(snapshot, name) for name in _DELIVERY_COUNT_NAMES):
            return cast(_DeliveryCounts, snapshot)
    return None


def _merge(*tables: Mapping[str, int]) -> Mapping[str, int]:
    merged: Counter[str] = Counter()
    for table in tables:
        merged.update(table)
    return MappingProxyType({reason: count for reason, count in merged.items() if count})


INVALID_PAYLOAD: Final = "invalid_payload"
# Queued before an opt-out that the host's project (use_project) revealed after start.
LATE_OPT_OUT: Final = "late_opt_out"


def combine(
    batcher: BatcherCounters,
    sink: _DeliveryCounts | None,
    errors: Mapping[str, int],
    invalid: int = 0,
    *,
    withdrawn: int = 0,
) -> Counters:
    """Merge the batcher's and the sink's counts.

    ``invalid`` payloads failed the scrub; ``withdrawn`` ones were exported by the
    batcher after a late opt-out and dropped before the sink.
    """
    refused = sum(n for reason, n in batcher.dropped.items() if reason != EXIT_DEADLINE)
    sent = batcher.exported - invalid - withdrawn if sink is None else sink.events_sent
    sink_dropped: Mapping[str, int] = {} if sink is None else sink.events_dropped
    sink_dropped = _merge(sink_dropped, {INVALID_PAYLOAD: invalid, LATE_OPT_OUT: withdrawn})
    sink_failed: Mapping[str, int] = {} if sink is None else sink.events_failed
    return Counters(
        enqueued=batcher.enqueued + refused,
        sent=sent,
        queued=batcher.queued,
        dropped=_merge(batcher.dropped, sink_dropped),
        failed=_merge(batcher.failed, sink_failed),
        errors=errors,
        batcher=batcher,
        sink=sink,
    )


def signal_counts(
    counts: BatcherCounters, *, held: int, failed: Mapping[str, int], stopped: bool
) -> BatcherCounters:
    """The batcher's counts, with what the export path holds or lost moved to its place.

    The batcher counts an item exported once the export returns; a merged request then
    waits in the window (``held``: still queued, or dropped as ``exit_deadline`` once the
    pipeline ``stopped``), and a send that raised lost its signals (``failed``, by
    exception type).
    """
    if not held and not failed:
        return counts
    lost = dict(failed)
    exported = counts.exported - held - sum(lost.values())
    dropped = dict(counts.dropped)
    queued = counts.queued
    if stopped and held:
        dropped[EXIT_DEADLINE] = dropped.get(EXIT_DEADLINE, 0) + held
    else:
        queued += held
    for reason, count in counts.failed.items():
        lost[reason] = lost.get(reason, 0) + count
    return attrs.evolve(
        counts,
        exported=exported,
        queued=queued,
        dropped=MappingProxyType(dropped),
        failed=MappingProxyType(lost),
    )

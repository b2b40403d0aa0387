"""Splitting a batch into request bodies: a pure function of the envelopes."""

from __future__ import annotations

import json

from tests.telemetry.sinks.test_http import METADATA, envelopes
from visivo.telemetry.schema import CommandFinished, Envelope, RequestFinished
from visivo.telemetry.sinks.network.native import NATIVE
from visivo.telemetry.sinks.network.wire import split_bodies

SENT_AT = "2026-11-30T14:00:00.000Z"


def _events(body: bytes) -> list[dict[str, object]]:
    parsed: list[dict[str, object]] = json.loads(body)["batch"]
    return parsed


def test_one_body_when_everything_fits() -> None:
    """A small batch is one body with every event, in order."""
    bodies, too_large = split_bodies(NATIVE, envelopes(5), max_bytes=500_000, sent_at=SENT_AT)
    assert too_large == 0
    (body,) = bodies
    assert body.signals == 5
    assert len(_events(body.data)) == 5


def test_bodies_stay_under_the_limit_and_keep_the_order() -> None:
    """Every body fits the limit, no event is lost or repeated, the order is kept."""
    batch = [
        Envelope(CommandFinished("run", index, True), 1_790_000_000.0, METADATA)
        for index in range(40)
    ]
    bodies, too_large = split_bodies(NATIVE, batch, max_bytes=2_000, sent_at=SENT_AT)
    assert too_large == 0
    assert len(bodies) > 1
    assert all(len(body.data) <= 2_000 for body in bodies)
    durations = [event["properties"]["duration_ms"] for b in bodies for event in _events(b.data)]  # type: ignore[index]
    assert durations == list(range(40))
    assert sum(body.signals for body in bodies) == 40


def test_an_event_too_large_alone_is_counted_not_sent() -> None:
    """An event that cannot fit even alone is left out and its signals are returned."""
    big = Envelope(
        CommandFinished("run", 1, True, object_counts={f"type_{i}": i for i in range(32)}),
        1_790_000_000.0,
        METADATA,
    )
    small = envelopes(1)
    limit = len(split_bodies(NATIVE, small, max_bytes=500_000, sent_at=SENT_AT)[0][0].data) + 10
    bodies, too_large = split_bodies(NATIVE, [big, *small], max_bytes=limit, sent_at=SENT_AT)
    assert too_large == 1
    assert [body.signals for body in bodies] == [1]


def test_a_merged_request_event_counts_its_requests() -> None:
    """A merged request event stands for its ``count`` in the body's signals."""
    merged = Envelope(RequestFinished("/api", "GET", 37, 200, 3, 9), 1_790_000_000.0, METADATA)
    bodies, _ = split_bodies(NATIVE, [merged, *envelopes(2)], max_bytes=500_000, sent_at=SENT_AT)
    assert [body.signals for body in bodies] == [39]


def test_an_empty_batch_makes_no_body() -> None:
    """Nothing to send: no body."""
    assert split_bodies(NATIVE, [], max_bytes=500_000, sent_at=SENT_AT) == ([], 0)

"""The wire form: the documented envelope, with None fields omitted."""

from __future__ import annotations

import json
import re
import uuid

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from visivo.telemetry.schema import (
    EVENT_CLASSES,
    SCHEMA_VERSION,
    CommandFinished,
    Envelope,
    Metadata,
    RequestFinished,
    format_timestamp,
    to_wire,
)
from visivo.telemetry.sinks.formats import encode_event, join_body

METADATA = Metadata("0b8e4f5c-5d0a-4a57-9a57-6f0e7a9f3c11", "1.2.0", "3.11.7", "linux")


def test_envelope_matches_design() -> None:
    """A command_finished envelope has exactly the documented keys, in order."""
    props = CommandFinished("run", 1834, False, "ValueError", jobs=12)
    wire = to_wire(Envelope(props, 1764096993.123, METADATA, stripped=("sql",)))
    assert list(wire) == [
        "event",
        "schema_version",
        "timestamp",
        "session_id",
        "visivo_version",
        "python_version",
        "os",
        "properties",
    ]
    assert wire["event"] == "command_finished"
    assert wire["schema_version"] == SCHEMA_VERSION
    assert wire["timestamp"] == "2025-11-25T18:56:33.123Z"
    assert wire["properties"] == {
        "command": "run",
        "duration_ms": 1834,
        "success": False,
        "error_type": "ValueError",
        "jobs": 12,
    }
    assert "stripped" not in json.dumps(wire)


def test_none_fields_are_omitted() -> None:
    """Optional properties that are None do not appear on the wire."""
    wire = to_wire(Envelope(RequestFinished("/", "GET", count=1), 0.0, METADATA))
    assert wire["properties"] == {"endpoint": "/", "method": "GET", "count": 1}


def test_events_are_frozen_and_slotted() -> None:
    """Event classes cannot be changed after construction and have no __dict__."""
    event = CommandFinished("run")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.command = "x"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1764096993.9994, "2025-11-25T18:56:33.999Z"),
        (1764096993.9996, "2025-11-25T18:56:34.000Z"),
    ],
)
def test_timestamps(epoch: float, text: str) -> None:
    """Timestamps are UTC ISO 8601 with milliseconds and Z."""
    assert format_timestamp(epoch) == text


def test_metadata_for_this_process() -> None:
    """Metadata has a fresh UUID4, major.minor.micro and a known OS family."""
    first, second = Metadata.for_this_process(), Metadata.for_this_process()
    assert uuid.UUID(first.session_id).version == 4
    assert first.session_id != second.session_id
    assert re.fullmatch(r"\d+\.\d+\.\d+", first.python_version)
    assert first.os in {"linux", "darwin", "windows", "other"}


def test_every_event_has_a_name() -> None:
    """Each event class names its event."""
    assert {cls.EVENT for cls in EVENT_CLASSES} == {"command_finished", "request_finished"}


_optional_int = st.none() | st.integers(min_value=0, max_value=10**6)
_properties = st.builds(
    CommandFinished,
    command=st.text(max_size=20),
    duration_ms=_optional_int,
    success=st.none() | st.booleans(),
    error_type=st.none() | st.text(max_size=10),
    jobs=_optional_int,
    object_counts=st.none() | st.dictionaries(st.text(max_size=8), st.integers(0, 99)),
) | st.builds(
    RequestFinished,
    endpoint=st.text(max_size=20),
    method=st.sampled_from(["GET", "POST", "OTHER"]),
    status_code=st.none() | st.integers(100, 599),
    count=st.integers(1, 10**6),
    duration_median_ms=_optional_int,
    duration_max_ms=_optional_int,
)


@given(_properties, st.floats(min_value=0, max_value=4e9), st.lists(st.text(max_size=5)))
def test_wire_writes_the_declared_fields_in_order(
    properties: CommandFinished | RequestFinished, timestamp: float, stripped: list[str]
) -> None:
    """to_wire writes every declared field that is set, in declaration order, as plain JSON."""
    envelope = Envelope(properties, timestamp, METADATA, tuple(stripped))
    wire = to_wire(envelope)
    expected = {
        field.name: getattr(properties, field.name)
        for field in attrs.fields(type(properties))
        if getattr(properties, field.name) is not None
    }
    assert list(wire["properties"]) == list(expected)
    assert wire["properties"] == expected
    assert {key: getattr(METADATA, key) for key in ("session_id", "os")}.items() <= wire.items()
    assert json.loads(json.dumps(wire)) == wire
    for value in wire["properties"].values():
        assert type(value) in (str, int, bool, dict)


@given(st.lists(_properties, max_size=5), st.floats(min_value=0, max_value=4e9))
def test_joined_body_is_the_documented_body(
    batch: list[CommandFinished | RequestFinished], sent_at: float
) -> None:
    """Joining events encoded once gives exactly {"batch": [...], "sent_at": ...} as JSON."""
    envelopes = [Envelope(p, sent_at, METADATA) for p in batch]
    joined = join_body([encode_event(e) for e in envelopes], sent_at)
    body = {"batch": [to_wire(e) for e in envelopes], "sent_at": format_timestamp(sent_at)}
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert joined == expected
    assert json.loads(joined) == body

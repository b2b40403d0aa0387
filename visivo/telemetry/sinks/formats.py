"""Serialisation shared by every sink: JSON lines and the http request body."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from visivo.telemetry.schema import Envelope, format_timestamp, to_wire

__all__ = ["batch_body", "encode_event", "join_body", "json_line", "to_wire"]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_line(envelope: Envelope) -> str:
    """One envelope as a compact JSON object, without the trailing newline."""
    return _encoder.encode(to_wire(envelope))


def batch_body(wire_events: Sequence[dict[str, Any]], sent_at: float | None = None) -> bytes:
    """The http body ``{"batch": [...], "sent_at": ...}`` as UTF-8 JSON."""
    when = time.time() if sent_at is None else sent_at
    body = {"batch": list(wire_events), "sent_at": format_timestamp(when)}
    return _encoder.encode(body).encode("utf-8")


def encode_event(envelope: Envelope) -> bytes:
    """One envelope's wire form as UTF-8 JSON, ready for :func:`join_body`."""
    return _encoder.encode(to_wire(envelope)).encode("utf-8")


def join_body(encoded_events: Sequence[bytes], sent_at: float) -> bytes:
    """The same bytes as ``batch_body`` of those events, from events encoded once each.

    The http sink sizes every event to split batches under the body limit; encoding
    each event once and joining the results avoids encoding it twice.
    """
    tail = _encoder.encode(format_timestamp(sent_at)).encode("utf-8")
    return b'{"batch":[' + b",".join(encoded_events) + b'],"sent_at":' + tail + b"}"

"""Serialisation shared by every sink: JSON lines and the native request body."""

from __future__ import annotations

import json
from collections.abc import Sequence

from visivo.telemetry.schema import Envelope, format_timestamp, to_wire

__all__ = ["encode_event", "encode_json", "join_body", "json_line", "to_wire"]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_json(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON (no NaN, non-ASCII kept as is)."""
    return _encoder.encode(value).encode("utf-8")


def json_line(envelope: Envelope) -> str:
    """One envelope as a compact JSON object, without the trailing newline."""
    return _encoder.encode(to_wire(envelope))


def encode_event(envelope: Envelope) -> bytes:
    """One envelope's wire form as UTF-8 JSON, ready for :func:`join_body`."""
    return json_line(envelope).encode("utf-8")


def join_body(encoded_events: Sequence[bytes], sent_at: float | str) -> bytes:
    """The native body ``{"batch": [...], "sent_at": ...}`` from events encoded once each.

    ``sent_at`` is epoch seconds or an already formatted timestamp. The network transport
    sizes every event to split batches under the body limit, so each event is encoded
    once and the results are joined.
    """
    stamp = sent_at if isinstance(sent_at, str) else format_timestamp(sent_at)
    return b'{"batch":[' + b",".join(encoded_events) + b'],"sent_at":' + encode_json(stamp) + b"}"

"""The PostHog format (sink ``posthog``): PostHog's batch capture API, ``POST <host>/batch/``.

Every event is personless: ``distinct_id`` is the per-process random session id, no person
profile is made (``$process_person_profile``), the IP is masked and GeoIP is off. Nothing
but the envelope, the constants below and a random ``uuid`` per event reaches the body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any, Final

from visivo.telemetry.sinks.formats import encode_json
from visivo.telemetry.sinks.network import native
from visivo.telemetry.sinks.network.answers import Verdict
from visivo.telemetry.sinks.network.wire import Wire, WireFormat

__all__ = [
    "POSTHOG_CONSTANT_PROPERTIES",
    "POSTHOG_EVENT_KEYS",
    "POSTHOG_METADATA_PROPERTIES",
    "UUID",
    "encode_event",
    "joiner",
    "posthog_format",
]

UUID: Final = "<uuid>"
"""Stands for the per-event random UUID4 in :data:`POSTHOG_EVENT_KEYS`."""

# PostHog event key → the envelope wire field it holds (PostHog's capture API).
POSTHOG_EVENT_KEYS: Final = MappingProxyType(
    {"event": "event", "distinct_id": "session_id", "timestamp": "timestamp", "uuid": UUID}
)
# Envelope wire fields copied into the event's properties, beside the envelope's own.
POSTHOG_METADATA_PROPERTIES: Final = (
    "session_id",
    "visivo_version",
    "python_version",
    "os",
    "schema_version",
)
# Fixed properties: PostHog's switches for an anonymous event (PostHog docs, "anonymous
# events" and "GeoIP"), and the library's name.
POSTHOG_CONSTANT_PROPERTIES: Final = MappingProxyType(
    {
        "$process_person_profile": False,
        "$geoip_disable": True,
        "$ip": "0.0.0.0",
        "$lib": "visivo-telemetry",
    }
)
# Properties that repeat an envelope field under PostHog's name for it.
POSTHOG_ALIASED_PROPERTIES: Final = MappingProxyType({"$lib_version": "visivo_version"})


def encode_event(wire: Wire, uuid: str) -> bytes:
    """One PostHog event: the envelope's fields under PostHog's keys, flat properties."""
    properties: dict[str, Any] = dict(wire["properties"])
    for name in POSTHOG_METADATA_PROPERTIES:
        properties[name] = wire[name]
    properties.update(POSTHOG_CONSTANT_PROPERTIES)
    for key, name in POSTHOG_ALIASED_PROPERTIES.items():
        properties[key] = wire[name]
    event = {
        key: (uuid if name == UUID else wire[name]) for key, name in POSTHOG_EVENT_KEYS.items()
    }
    event["properties"] = properties
    return encode_json(event)


def body_prefix(api_key: str, sent_at: str) -> bytes:
    """Everything before the events: the project key, the flags, ``sent_at``."""
    head = encode_json({"api_key": api_key, "historical_migration": False, "sent_at": sent_at})
    return head[:-1] + b',"batch":['


def joiner(api_key: str) -> Callable[[Sequence[bytes], Wire, str], bytes]:
    """A ``join`` for :class:`WireFormat` that writes ``api_key`` into each body."""

    def join(encoded: Sequence[bytes], first: Wire, sent_at: str) -> bytes:
        return body_prefix(api_key, sent_at) + b",".join(encoded) + b"]}"

    return join


def _judge(status: int, retry_after_s: float | None, body: bytes) -> Verdict:
    # PostHog answers like the native collector: 408, 429 and 5xx are worth one retry.
    return native.judge(status, retry_after_s)


def posthog_format(api_key: str) -> WireFormat:
    """The PostHog format sending to the project ``api_key``."""
    return WireFormat("posthog", encode_event, joiner(api_key), _judge, uses_uuid=True)

"""The PostHog format (sink ``posthog``): PostHog's batch capture API, ``POST <host>/batch/``.

Every event is personless: ``distinct_id`` is the per-process random session id, no person
profile is made (``$process_person_profile``), the IP is masked and GeoIP is off. Nothing
but the envelope, the constants below and a random ``uuid`` per event reaches the body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
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


def properties_of(wire: Wire) -> dict[str, Any]:
    """The event's properties: the envelope's, its metadata, the constants (the reference)."""
    properties: dict[str, Any] = dict(wire["properties"])
    for name in POSTHOG_METADATA_PROPERTIES:
        properties[name] = wire[name]
    properties.update(POSTHOG_CONSTANT_PROPERTIES)
    for key, name in POSTHOG_ALIASED_PROPERTIES.items():
        properties[key] = wire[name]
    return properties


@functools.lru_cache(maxsize=8)
def _properties_tail(metadata: tuple[Any, ...]) -> bytes:
    """The properties after the envelope's own: the same for every event of a process."""
    wire = dict(zip(_TAIL_FIELDS, metadata, strict=True))
    tail = properties_of({**wire, "properties": {}})
    return encode_json(tail)[1:]  # without the opening brace: it follows the properties


_TAIL_FIELDS: Final = tuple(
    dict.fromkeys((*POSTHOG_METADATA_PROPERTIES, *POSTHOG_ALIASED_PROPERTIES.values()))
)


_TAIL_KEYS: Final = frozenset(
    (*POSTHOG_METADATA_PROPERTIES, *POSTHOG_CONSTANT_PROPERTIES, *POSTHOG_ALIASED_PROPERTIES)
)


def encode_event(wire: Wire, uuid: str) -> bytes:
    """One PostHog event: the envelope's fields under PostHog's keys, flat properties.

    The properties are :func:`properties_of`, spliced from the envelope's own properties
    and a per-process tail encoded once (this runs once per event).
    """
    if not _TAIL_KEYS.isdisjoint(wire["properties"]):  # a clash: one key, the later value
        head = {k: (uuid if name == UUID else wire[name]) for k, name in POSTHOG_EVENT_KEYS.items()}
        return encode_json({**head, "properties": properties_of(wire)})
    fields = ",".join(
        key + _json_text(uuid if name == UUID else wire[name]) for key, name in _HEAD_KEYS
    )
    own = encode_json(wire["properties"])
    tail = _properties_tail(tuple(wire[name] for name in _TAIL_FIELDS))
    properties = own[:-1] + (b"," if len(own) > 2 else b"") + tail
    return b"{" + fields.encode("utf-8") + b',"properties":' + properties + b"}"


_HEAD_KEYS: Final = tuple((encode_basestring(k) + ":", n) for k, n in POSTHOG_EVENT_KEYS.items())


def _json_text(value: Any) -> str:
    """A JSON value as text; strings (every event key's value) without the encoder's setup."""
    return encode_basestring(value) if type(value) is str else encode_json(value).decode("utf-8")


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

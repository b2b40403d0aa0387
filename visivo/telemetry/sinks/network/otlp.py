"""The OTLP format (sink ``otlp``): OTLP/HTTP with the JSON encoding, logs signal.

One ``ExportLogsServiceRequest`` per body: one resource (the process), one scope, one log
record per envelope. Property names follow the OpenTelemetry semantic conventions where
one exists (``error.type``, ``http.route``...) and ``visivo.<name>`` otherwise. In OTLP/JSON
64-bit integers are decimal strings and keys are lowerCamelCase.
"""

from __future__ import annotations

import calendar
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import Any, Final

from visivo.telemetry.schema import WireName, wire_names
from visivo.telemetry.sinks.formats import encode_json
from visivo.telemetry.sinks.network.answers import REJECTED, Verdict, judge_status
from visivo.telemetry.sinks.network.wire import Wire, WireFormat

__all__ = [
    "OTLP",
    "OTLP_ENVELOPE_ATTRIBUTES",
    "OTLP_PROPERTY_ATTRIBUTES",
    "OTLP_RESOURCE_ATTRIBUTES",
    "OTLP_VALUE_RENAMES",
    "RETRIED_STATUSES",
    "SCOPE_NAME",
    "SERVICE_NAME",
    "attribute_for",
    "encode_event",
    "join",
    "judge",
]

SERVICE_NAME: Final = "visivo"
SCOPE_NAME: Final = "visivo.telemetry"
SEVERITY_INFO: Final = 9  # SeverityNumber.SEVERITY_NUMBER_INFO
EVENT_PREFIX: Final = "visivo."  # eventName is visivo.<event>
OTHER_PREFIX: Final = "visivo."  # a property without a row below: visivo.<property>


def _otlp_names() -> Mapping[str, WireName]:
    """Every property's OTLP name, from the schema's field declarations (one place)."""
    table: dict[str, WireName] = {}
    for properties in wire_names("otlp").values():
        for name, wire_name in properties.items():
            if table.setdefault(name, wire_name) != wire_name:
                raise ValueError(f"property {name!r} has two OTLP names across events")
    return table


_NAMES: Final = _otlp_names()
# Envelope property → (attribute key, AnyValue kind), derived from the declarations:
# semantic-convention names where one exists (error.type, http.route,
# http.request.method, http.response.status_code), else visivo.<property>.
OTLP_PROPERTY_ATTRIBUTES: Final = MappingProxyType(
    {name: (wire_name.name, wire_name.kind) for name, wire_name in _NAMES.items()}
)
# Values renamed on the way: the semantic conventions spell "another method" _OTHER.
OTLP_VALUE_RENAMES: Final = MappingProxyType(
    {name: wire_name.values for name, wire_name in _NAMES.items() if wire_name.values}
)
# Envelope field → log record attribute, on every record (before the properties).
OTLP_ENVELOPE_ATTRIBUTES: Final = MappingProxyType(
    {
        "session_id": ("session.id", "stringValue"),
        "schema_version": ("visivo.schema_version", "intValue"),
    }
)
# Resource attribute → the envelope field it holds (None: the constant SERVICE_NAME).
OTLP_RESOURCE_ATTRIBUTES: Final = MappingProxyType(
    {
        "service.name": None,
        "service.version": "visivo_version",
        "os.type": "os",
        "process.runtime.version": "python_version",
    }
)
# Worth one more try (OTLP/HTTP specification, "Retryable Response Codes").
RETRIED_STATUSES: Final = frozenset({429, 502, 503, 504})
# Answers are read up to this size; a partial-success answer is a few dozen bytes.
MAX_ANSWER_BYTES: Final = 64 * 1024


def _kind_of(value: Any) -> str:
    """The AnyValue kind of a JSON value, for properties without a row in the table."""
    if isinstance(value, bool):
        return "boolValue"
    if isinstance(value, int):
        return "intValue"
    if isinstance(value, float):
        return "doubleValue"
    if isinstance(value, Mapping):
        return "kvlistValue"
    if isinstance(value, list | tuple):
        return "arrayValue"
    return "stringValue"


def any_value(value: Any, kind: str | None = None) -> dict[str, Any]:
    """``value`` as an OTLP/JSON AnyValue of ``kind`` (chosen by JSON type when None)."""
    kind = kind or _kind_of(value)
    if kind == "intValue":
        return {kind: str(int(value))}
    if kind == "kvlistValue":
        return {
            kind: {"values": [{"key": str(k), "value": any_value(v)} for k, v in value.items()]}
        }
    if kind == "arrayValue":
        return {kind: {"values": [any_value(v) for v in value]}}
    return {kind: value}


def attribute_for(name: str) -> tuple[str, str | None]:
    """The attribute key and AnyValue kind of an envelope property (kind None: by type)."""
    row = OTLP_PROPERTY_ATTRIBUTES.get(name)
    return row if row is not None else (OTHER_PREFIX + name, None)


@functools.lru_cache(maxsize=64)
def _epoch_second(stamp: str) -> int:
    # Events come in bursts within the same second; strptime is the slow part.
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))


def unix_nano(timestamp: str) -> str:
    """``2026-11-25T18:56:33.123Z`` as decimal nanoseconds since the epoch."""
    millis = _epoch_second(timestamp[:19]) * 1000 + int(timestamp[20:23])
    return str(millis * 1_000_000)


def _int(value: Any) -> str:
    return '{"intValue":"%d"}' % value  # noqa: UP031 - the fastest spelling, on every event


def _bool(value: Any) -> str:
    return '{"boolValue":true}' if value else '{"boolValue":false}'


def _string(value: Any) -> str:
    return '{"stringValue":' + encode_basestring(value) + "}"


# AnyValue kinds written as text directly (the hot path); others go through any_value.
_FAST_KINDS: Final[Mapping[str, Callable[[Any], str]]] = MappingProxyType(
    {"intValue": _int, "boolValue": _bool, "stringValue": _string}
)


def _value_json(value: Any, kind: str | None) -> str:
    """``any_value(value, kind)`` as JSON text."""
    fast = _FAST_KINDS.get(kind or _kind_of(value))
    if fast is not None:
        return fast(value)
    return encode_json(any_value(value, kind)).decode("utf-8")


@functools.lru_cache(maxsize=256)
def _attribute_head(name: str) -> tuple[str, str | None]:
    """``{"key":"<attribute>","value":`` and the AnyValue kind of a property (few names)."""
    key, kind = attribute_for(name)
    return '{"key":' + encode_basestring(key) + ',"value":', kind


_ENVELOPE_HEADS: Final = tuple(
    (name, '{"key":' + encode_basestring(key) + ',"value":', kind)
    for name, (key, kind) in OTLP_ENVELOPE_ATTRIBUTES.items()
)


def encode_event(wire: Wire, uuid: str) -> bytes:
    """One log record: time, severity INFO, ``visivo.<event>`` and one attribute per field.

    Written as text directly rather than through a dict (it runs once per event); the
    result is exactly ``any_value`` of each value, which the tests hold to the protobuf.
    """
    parts = [head + _value_json(wire[name], kind) + "}" for name, head, kind in _ENVELOPE_HEADS]
    for name, value in wire["properties"].items():
        renames = OTLP_VALUE_RENAMES.get(name)
        sent = value if renames is None else renames.get(value, value)
        head, kind = _attribute_head(name)
        parts.append(head + _value_json(sent, kind) + "}")
    nano = unix_nano(wire["timestamp"])
    record = (
        f'{{"timeUnixNano":"{nano}","observedTimeUnixNano":"{nano}",'
        f'"severityNumber":{SEVERITY_INFO},'
        f'"eventName":{encode_basestring(EVENT_PREFIX + wire["event"])},'
        f'"attributes":[{",".join(parts)}]}}'
    )
    return record.encode("utf-8")


def _resource(first: Wire) -> dict[str, Any]:
    return {
        "attributes": [
            {"key": key, "value": {"stringValue": SERVICE_NAME if name is None else first[name]}}
            for key, name in OTLP_RESOURCE_ATTRIBUTES.items()
        ]
    }


def join(encoded: Sequence[bytes], first: Wire, sent_at: str) -> bytes:
    """The ExportLogsServiceRequest around the records (``sent_at`` has no place in OTLP)."""
    head = encode_json(
        {
            "resource": _resource(first),
            "scopeLogs": [{"scope": {"name": SCOPE_NAME, "version": first["visivo_version"]}}],
        }
    )
    # head ends with "}]}": reopen the scope object to add its records.
    return b'{"resourceLogs":[' + head[:-3] + b',"logRecords":[' + b",".join(encoded) + b"]}]}]}"


def rejected_records(body: bytes) -> int:
    """``partialSuccess.rejectedLogRecords`` of an answer (a string or a number), else 0."""
    try:
        answer = json.loads(body)
        count = answer["partialSuccess"]["rejectedLogRecords"]
        return max(int(count), 0) if isinstance(count, int | str) else 0
    except (ValueError, TypeError, KeyError, AttributeError):
        return 0


def judge(status: int, retry_after_s: float | None, body: bytes) -> Verdict:
    """OTLP's rules: 429/502/503/504 retried, every other error dropped, partial success read."""
    verdict = judge_status(status, retry_after_s, retried=RETRIED_STATUSES)
    if verdict.kind == "sent" and body:
        rejected = rejected_records(body)
        if rejected:
            return Verdict("sent", REJECTED, rejected=rejected)
    return verdict


OTLP: Final = WireFormat("otlp", encode_event, join, judge)

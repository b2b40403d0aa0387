"""Reading our three wire formats back into envelope wire forms, for field-by-field tests.

Each reader inverts one encoder using the encoder's own mapping table, so a test that
compares ``read(encode(x)) == x`` checks the table and the encoder together.
"""

from __future__ import annotations

import json
from typing import Any

from visivo.telemetry.schema import format_timestamp
from visivo.telemetry.sinks.network.otlp import (
    EVENT_PREFIX,
    OTHER_PREFIX,
    OTLP_ENVELOPE_ATTRIBUTES,
    OTLP_PROPERTY_ATTRIBUTES,
    OTLP_RESOURCE_ATTRIBUTES,
    OTLP_VALUE_RENAMES,
)
from visivo.telemetry.sinks.network.posthog import (
    POSTHOG_ALIASED_PROPERTIES,
    POSTHOG_CONSTANT_PROPERTIES,
    POSTHOG_EVENT_KEYS,
    POSTHOG_METADATA_PROPERTIES,
    UUID,
)

_METADATA = ("session_id", "visivo_version", "python_version", "os")


def read_native(body: bytes) -> list[dict[str, Any]]:
    """The envelopes of a native body."""
    batch: list[dict[str, Any]] = json.loads(body)["batch"]
    return batch


def read_posthog(body: bytes) -> list[dict[str, Any]]:
    """The envelopes of a PostHog batch body (uuid and constant properties removed)."""
    wires = []
    for event in json.loads(body)["batch"]:
        properties = dict(event["properties"])
        wire: dict[str, Any] = {
            name: event[key] for key, name in POSTHOG_EVENT_KEYS.items() if name != UUID
        }
        for name in POSTHOG_METADATA_PROPERTIES:
            wire[name] = properties.pop(name)
        for key in (*POSTHOG_CONSTANT_PROPERTIES, *POSTHOG_ALIASED_PROPERTIES):
            properties.pop(key)
        wire["properties"] = properties
        wires.append(_ordered(wire))
    return wires


def _value(any_value: dict[str, Any]) -> Any:
    ((kind, value),) = any_value.items()
    if kind == "intValue":
        return int(value)
    if kind == "kvlistValue":
        return {kv["key"]: _value(kv["value"]) for kv in value["values"]}
    if kind == "arrayValue":
        return [_value(v) for v in value["values"]]
    return value


def read_otlp(body: bytes) -> list[dict[str, Any]]:
    """The envelopes of an OTLP/JSON logs body."""
    (resource_logs,) = json.loads(body)["resourceLogs"]
    resource = {a["key"]: _value(a["value"]) for a in resource_logs["resource"]["attributes"]}
    metadata = {
        name: resource[key] for key, name in OTLP_RESOURCE_ATTRIBUTES.items() if name is not None
    }
    by_key = {key: name for name, (key, _) in OTLP_PROPERTY_ATTRIBUTES.items()}
    envelope_keys = {key: name for name, (key, _) in OTLP_ENVELOPE_ATTRIBUTES.items()}
    unrenamed = {
        name: {new: old for old, new in renames.items()}
        for name, renames in OTLP_VALUE_RENAMES.items()
    }
    wires = []
    (scope_logs,) = resource_logs["scopeLogs"]
    for record in scope_logs["logRecords"]:
        wire: dict[str, Any] = {"event": record["eventName"].removeprefix(EVENT_PREFIX)}
        wire["timestamp"] = format_timestamp(int(record["timeUnixNano"]) / 1e9)
        properties: dict[str, Any] = {}
        for attribute in record["attributes"]:
            key, value = attribute["key"], _value(attribute["value"])
            if key in envelope_keys:
                wire[envelope_keys[key]] = value
                continue
            name = by_key.get(key) or key.removeprefix(OTHER_PREFIX)
            properties[name] = unrenamed[name].get(value, value) if name in unrenamed else value
        wire.update(metadata)
        wire["properties"] = properties
        wires.append(_ordered(wire))
    return wires


def _ordered(wire: dict[str, Any]) -> dict[str, Any]:
    """The wire form's key order (dict equality ignores it; readable diffs do not)."""
    order = ("event", "schema_version", "timestamp", *_METADATA, "properties")
    return {key: wire[key] for key in order if key in wire}


READERS = {"http": read_native, "posthog": read_posthog, "otlp": read_otlp}

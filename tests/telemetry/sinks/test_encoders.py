"""The three encoders as pure functions: plain wire forms in, body bytes out."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from google.protobuf.json_format import Parse
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from tests.telemetry.sinks.wirekit import READERS, read_otlp, read_posthog
from visivo.telemetry.schema import (
    CommandFinished,
    Envelope,
    Metadata,
    RequestFinished,
    format_timestamp,
    to_wire,
)
from visivo.telemetry.sinks.formats import encode_event, join_body
from visivo.telemetry.sinks.network import native, otlp, posthog
from visivo.telemetry.sinks.network.otlp import (
    OTLP,
    OTLP_PROPERTY_ATTRIBUTES,
    OTLP_RESOURCE_ATTRIBUTES,
)
from visivo.telemetry.sinks.network.posthog import (
    POSTHOG_CONSTANT_PROPERTIES,
    POSTHOG_EVENT_KEYS,
    POSTHOG_METADATA_PROPERTIES,
    posthog_format,
)
from visivo.telemetry.sinks.network.wire import WireFormat, encode_body, random_uuids

METADATA = Metadata.for_this_process()
SENT_AT = "2026-11-25T18:56:34.001Z"
FORMATS: dict[str, WireFormat] = {
    "http": native.NATIVE,
    "posthog": posthog_format("phc_test"),
    "otlp": OTLP,
}
# Keys the OTLP/JSON body must never hold (unset fields are omitted, not null or zero).
OTLP_FORBIDDEN_KEYS = frozenset(
    {"traceId", "spanId", "flags", "body", "severityText", "droppedAttributesCount", "schemaUrl"}
)
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def full_wires() -> list[dict[str, Any]]:
    """One wire form of each event, every optional field present, ``OTHER`` included."""
    now = 1_796_042_476.43
    return [
        to_wire(
            Envelope(
                CommandFinished("run", 1834, False, "ValueError", 12, {"chart": 4, "trace": 9}),
                now,
                METADATA,
            )
        ),
        to_wire(Envelope(RequestFinished("/api/{id}", "OTHER", 200, 12), now + 0.5, METADATA)),
        to_wire(Envelope(CommandFinished("compile"), now + 1, METADATA)),
    ]


def uuids(n: int) -> list[str]:
    """Fixed, distinct uuids."""
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


def walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (path, value) pair in a JSON document, objects and lists included."""
    found = [(path, value)]
    if isinstance(value, dict):
        for key, child in value.items():
            found += walk(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += walk(child, f"{path}[{index}]")
    return found


class TestEveryFormat:
    @pytest.mark.parametrize("name", sorted(FORMATS))
    def test_reads_back_field_by_field(self, name: str) -> None:
        """Mapping each body back with the format's own table gives the wire forms again."""
        wires = full_wires()
        body = encode_body(FORMATS[name], wires, uuids(len(wires)), SENT_AT)
        assert READERS[name](body) == wires

    @pytest.mark.parametrize("name", sorted(FORMATS))
    def test_is_a_pure_function(self, name: str) -> None:
        """The same wire forms, uuids and time give the same bytes."""
        wires = full_wires()
        first = encode_body(FORMATS[name], wires, uuids(3), SENT_AT)
        assert encode_body(FORMATS[name], wires, uuids(3), SENT_AT) == first

    def test_native_is_the_historical_body(self) -> None:
        """The native format is byte for byte the envelope body the http sink always sent."""
        now = time.time()
        batch = [Envelope(CommandFinished("run", 1, True), now, METADATA)] * 2
        sent_at = 1_796_042_194.001
        wires = [to_wire(e) for e in batch]
        body = encode_body(native.NATIVE, wires, ["", ""], format_timestamp(sent_at))
        assert body == join_body([encode_event(e) for e in batch], sent_at)


class TestPostHog:
    def test_body_has_exactly_the_batch_keys(self) -> None:
        """api_key, historical_migration false, sent_at, batch: nothing else."""
        body = json.loads(encode_body(FORMATS["posthog"], full_wires(), uuids(3), SENT_AT))
        assert body == {
            "api_key": "phc_test",
            "historical_migration": False,
            "sent_at": SENT_AT,
            "batch": body["batch"],
        }

    def test_events_are_personless_and_carry_only_the_envelope(self) -> None:
        """Each event: the mapped keys, the envelope properties, metadata and constants only."""
        wires = full_wires()
        body = json.loads(encode_body(FORMATS["posthog"], wires, uuids(3), SENT_AT))
        for wire, uuid, event in zip(wires, uuids(3), body["batch"], strict=True):
            assert set(event) == {*POSTHOG_EVENT_KEYS, "properties"}
            assert event["uuid"] == uuid
            assert event["distinct_id"] == wire["session_id"]
            assert event["timestamp"] == wire["timestamp"]
            expected = {
                **wire["properties"],
                **{name: wire[name] for name in POSTHOG_METADATA_PROPERTIES},
                **POSTHOG_CONSTANT_PROPERTIES,
                "$lib_version": wire["visivo_version"],
            }
            assert event["properties"] == expected
        assert body["batch"][1]["properties"]["method"] == "OTHER"

    def test_anonymity_switches(self) -> None:
        """No person profile, GeoIP off, the IP masked: PostHog's switches for anonymous events."""
        assert POSTHOG_CONSTANT_PROPERTIES["$process_person_profile"] is False
        assert POSTHOG_CONSTANT_PROPERTIES["$geoip_disable"] is True
        assert POSTHOG_CONSTANT_PROPERTIES["$ip"] == "0.0.0.0"


class TestOtlp:
    def body(self) -> tuple[bytes, Any]:
        """An OTLP body of the full wires, and its JSON."""
        body = encode_body(OTLP, full_wires(), uuids(3), SENT_AT)
        return body, json.loads(body)

    def test_parses_as_an_export_logs_service_request(self) -> None:
        """The official protobuf message accepts the body, unknown fields refused."""
        body, _ = self.body()
        request = Parse(body.decode(), ExportLogsServiceRequest(), ignore_unknown_fields=False)
        (resource_logs,) = request.resource_logs
        (scope_logs,) = resource_logs.scope_logs
        assert scope_logs.scope.name == otlp.SCOPE_NAME
        assert [r.event_name for r in scope_logs.log_records] == [
            "visivo.command_finished",
            "visivo.request_finished",
            "visivo.command_finished",
        ]
        assert all(r.severity_number == otlp.SEVERITY_INFO for r in scope_logs.log_records)
        assert scope_logs.log_records[0].time_unix_nano == 1_796_042_476_430_000_000

    def test_raw_json_follows_the_otlp_json_rules(self) -> None:
        """lowerCamelCase keys, 64-bit integers as strings, no null, no forbidden keys."""
        _, document = self.body()
        for path, value in walk(document):
            assert value is not None, path
            key = path.rsplit(".", 1)[-1].split("[")[0]
            if path and not path.endswith("]"):
                assert re.fullmatch(r"[a-z][A-Za-z]*", key), path
                assert key not in OTLP_FORBIDDEN_KEYS, path
            if key in ("timeUnixNano", "observedTimeUnixNano", "intValue"):
                assert isinstance(value, str), path
                assert value.isdigit(), path
            if key == "severityNumber":
                assert value == 9

    def test_one_resource_with_four_attributes(self) -> None:
        """Exactly one resource and scope; exactly the four resource attributes."""
        _, document = self.body()
        (resource_logs,) = document["resourceLogs"]
        keys = [a["key"] for a in resource_logs["resource"]["attributes"]]
        assert keys == list(OTLP_RESOURCE_ATTRIBUTES)
        assert len(keys) == 4
        assert len(resource_logs["scopeLogs"]) == 1

    def test_attributes_are_unique_and_present_iff_the_property_is(self) -> None:
        """One attribute per property present, keys unique, from the mapping table."""
        wires = full_wires()
        _, document = self.body()
        records = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        for wire, record in zip(wires, records, strict=True):
            keys = [a["key"] for a in record["attributes"]]
            assert len(keys) == len(set(keys))
            expected = {OTLP_PROPERTY_ATTRIBUTES[name][0] for name in wire["properties"]}
            assert set(keys) == expected | {"session.id", "visivo.schema_version"}

    def test_method_other_is_spelled_the_semantic_conventions_way(self) -> None:
        """``OTHER`` becomes ``_OTHER``; other methods are kept."""
        _, document = self.body()
        record = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]
        method = next(a for a in record["attributes"] if a["key"] == "http.request.method")
        assert method["value"] == {"stringValue": "_OTHER"}

    @given(
        st.dictionaries(
            st.from_regex(r"^[a-z][a-z_]{0,10}$", fullmatch=True).filter(
                lambda n: n not in OTLP_PROPERTY_ATTRIBUTES
            ),
            st.one_of(
                st.booleans(),
                st.integers(0, 2**62),
                st.floats(0, 1e9, allow_nan=False),
                st.text(max_size=10),
                st.dictionaries(st.from_regex(r"^[a-z]{1,5}$"), st.integers(0, 99), max_size=3),
            ),
            max_size=4,
        )
    )
    def test_a_property_added_later_is_typed_by_its_json_value(self, extra: dict[str, Any]) -> None:
        """A property without a table row becomes visivo.<name>, typed by its JSON type."""
        wire = {**full_wires()[1]}
        wire["properties"] = {**wire["properties"], **extra}
        body = encode_body(OTLP, [wire], uuids(1), SENT_AT)
        Parse(body.decode(), ExportLogsServiceRequest(), ignore_unknown_fields=False)
        assert read_otlp(body) == [wire]

    @pytest.mark.parametrize(
        ("answer", "rejected"),
        [
            (b"", 0),
            (b"not json", 0),
            (b"{}", 0),
            (b'{"partialSuccess":{}}', 0),
            (b'{"partialSuccess":{"rejectedLogRecords":"2"}}', 2),
            (b'{"partialSuccess":{"rejectedLogRecords":3,"errorMessage":"x"}}', 3),
            (b'{"partialSuccess":{"rejectedLogRecords":"-1"}}', 0),
            (b'{"partialSuccess":{"rejectedLogRecords":null}}', 0),
            (b"[1]", 0),
        ],
    )
    def test_partial_success_is_read_from_the_answer(self, answer: bytes, rejected: int) -> None:
        """rejectedLogRecords (string or number) is read; anything else is a full success."""
        verdict = otlp.judge(200, None, answer)
        assert verdict.kind == "sent"
        assert verdict.rejected == rejected


def test_posthog_reads_back_what_it_wrote() -> None:
    """The PostHog reader inverts the encoder (a check on the test kit itself)."""
    wires = full_wires()
    assert read_posthog(encode_body(FORMATS["posthog"], wires, uuids(3), SENT_AT)) == wires


def test_uuid_pattern_matches_python_uuid4() -> None:
    """The uuid pattern used by delivery tests accepts what uuid.uuid4() makes."""
    import uuid

    assert UUID4.match(str(uuid.uuid4()))


@pytest.mark.parametrize("count", [0, 1, 2, 500])
def test_random_uuids_are_version_4(count: int) -> None:
    """The batch generator makes distinct, canonical version-4 RFC 4122 UUIDs."""
    import uuid

    made = random_uuids(count)
    assert len(made) == len(set(made)) == count
    for text in made:
        assert UUID4.match(text)
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


@given(
    st.dictionaries(
        st.sampled_from(["command", "jobs", "os", "session_id", "$ip", "x", "é"]),
        st.one_of(st.integers(0, 9), st.text(max_size=5), st.booleans()),
        max_size=5,
    )
)
def test_posthog_splice_equals_the_reference(properties: dict[str, Any]) -> None:
    """The spliced PostHog event parses to exactly the reference, without duplicate keys."""
    wire = {**full_wires()[0], "properties": properties}
    event = json.loads(posthog.encode_event(wire, "u"), object_pairs_hook=_no_duplicate_keys)
    assert event["properties"] == posthog.properties_of(wire)
    assert list(event) == [*POSTHOG_EVENT_KEYS, "properties"]

"""One place per field: everything about a field derives from its declaration in schema.py.

Each test walks the declared fields (or a field added to a copy of an event) through
what derives from them: the signal's keywords, the tracker, the scrubber, the wire form,
the JSON Schema, the docs tables and the per-backend wire names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import attrs
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visivo.events import signals
from visivo.events.tracking import TRACKER_FIELDS, track_command
from visivo.telemetry import runtime, schema_doc
from visivo.telemetry.policy import scrub, values
from visivo.telemetry.schema import (
    BACKENDS,
    EVENT_CLASSES,
    CommandFinished,
    Envelope,
    Metadata,
    WireName,
    event_keywords,
    field_sources,
    property_field,
    to_wire,
    wire_names,
)
from visivo.telemetry.sinks.memory import MemorySink
from visivo.telemetry.testing import CapturedEvents

METADATA = Metadata("0b8e4f5c-5d0a-4a57-9a57-6f0e7a9f3c11", "1.2.0", "3.11.7", "linux")
SCRUBBERS = {scrub.scrub_command.event_class: scrub.scrub_command} | {
    scrub.scrub_request.event_class: scrub.scrub_request
}
DECLARED = [(cls, name, source) for cls in EVENT_CLASSES for name, source in field_sources(cls)]


@attrs.frozen
class CommandFinishedPlus:
    """A command ended, with one more field: what a contributor's declaration adds."""

    EVENT: ClassVar[str] = "command_finished_plus"

    command: str = attrs.field(metadata=attrs.fields(CommandFinished).command.metadata)
    files: int | None = property_field(
        "How many files the command read.",
        3,
        keyword="files",
        normalise=values.count,
        minimum=0,
        maximum=1000,
    )


class TestAgreement:
    def test_schema_keywords_are_the_signals_keywords(self) -> None:
        """Each event reads exactly the keywords its signal declares, no more, no fewer."""
        for cls in EVENT_CLASSES:
            assert event_keywords(cls) == set(signals.KEYWORDS[cls.EVENT])

    def test_every_signal_telemetry_reads_has_an_event(self) -> None:
        """Every signal with declared keywords is an event of the schema, and its doc lists them."""
        assert set(signals.KEYWORDS) == {cls.EVENT for cls in EVENT_CLASSES}
        for name, keywords in signals.KEYWORDS.items():
            doc = getattr(signals, name).__doc__
            for keyword, (kind, _) in keywords.items():
                assert f"``{keyword}: {kind}``" in doc

    def test_tracker_fields_come_from_the_declaration(self) -> None:
        """What a command may set on its tracker are command_finished keywords of the schema."""
        assert set(TRACKER_FIELDS) <= event_keywords(CommandFinished)
        assert {"jobs", "object_counts"} <= set(TRACKER_FIELDS)

    def test_allow_lists_are_derived(self) -> None:
        """The scrubber's allow-lists are the declared keywords."""
        assert event_keywords(CommandFinished) == scrub.COMMAND_KEYWORDS
        for cls, scrubber in SCRUBBERS.items():
            assert scrubber.allowed == event_keywords(cls)

    def test_every_field_has_a_name_on_every_wire(self) -> None:
        """Each declared property has an OTLP attribute and a PostHog property."""
        for backend in BACKENDS:
            names = wire_names(backend)
            for cls, name, _ in DECLARED:
                assert isinstance(names[cls.EVENT][name], WireName)

    def test_otlp_names(self) -> None:
        """The OTLP attributes are the documented table; others are visivo.<property>."""
        otlp = wire_names("otlp")
        command, request = otlp["command_finished"], otlp["request_finished"]
        assert command["command"] == WireName("visivo.command", "stringValue")
        assert command["duration_ms"] == WireName("visivo.duration_ms", "intValue")
        assert command["success"] == WireName("visivo.success", "boolValue")
        assert command["error_type"] == WireName("error.type", "stringValue")
        assert command["jobs"] == WireName("visivo.jobs", "intValue")
        assert command["object_counts"] == WireName(
            "visivo.object_counts", "kvlistValue", "intValue"
        )
        assert request["endpoint"] == WireName("http.route", "stringValue")
        assert request["method"] == WireName(
            "http.request.method", "stringValue", values={"OTHER": "_OTHER"}
        )
        assert request["status_code"] == WireName("http.response.status_code", "intValue")

    def test_posthog_keeps_the_envelope_names(self) -> None:
        """A PostHog property is named as in the envelope."""
        for event, fields in wire_names("posthog").items():
            assert all(wire.name == name for name, wire in fields.items()), event

    def test_docs_list_every_wire_name(self) -> None:
        """The generated backends section names each property's OTLP attribute and kind."""
        from visivo.telemetry.sinks.network import fields_doc

        rows = fields_doc.markdown().splitlines()
        for fields in wire_names("otlp").values():
            for name, wire in fields.items():
                (row,) = [r for r in rows if r.startswith(f"| `{name}` |")]
                assert row.startswith(f"| `{name}` | `{wire.name}` | `{wire.kind}`")

    def test_unknown_backend(self) -> None:
        """Asking for a backend nobody declared is a ValueError."""
        with pytest.raises(ValueError, match="unknown backend"):
            wire_names("statsd")  # type: ignore[arg-type]


class TestAddingAField:
    def test_one_declaration_reaches_everything(self) -> None:
        """A field added to a copy of an event is scrubbed, sent, documented and named."""
        scrubber = scrub.Scrubber(CommandFinishedPlus)  # type: ignore[type-var]
        assert scrubber.allowed == {"command", "files"}
        result = scrubber({"command": "run", "files": 3, "jobs": 2})
        assert result.properties == CommandFinishedPlus("run", 3)
        assert result.stripped == ("jobs",)
        assert scrubber({"command": "run", "files": -1}).properties.files is None

        wire = to_wire(Envelope(result.properties, 0.0, METADATA))  # type: ignore[arg-type]
        assert wire["properties"] == {"command": "run", "files": 3}

        json_schema = schema_doc.json_schema((CommandFinishedPlus,))
        jsonschema.Draft202012Validator(json_schema).validate(wire)
        properties = json_schema["$defs"]["command_finished_plus_properties"]["properties"]
        assert properties["files"] == {"type": "integer", "minimum": 0, "maximum": 1000}
        assert "| `files` | integer |" in schema_doc.markdown_tables((CommandFinishedPlus,))

        otlp = wire_names("otlp", (CommandFinishedPlus,))["command_finished_plus"]
        assert otlp["files"] == WireName("visivo.files", "intValue")

    def test_a_raising_normaliser_fails_alone(self) -> None:
        """A field whose normaliser raises takes its fallback or is left out, and is reported."""

        def explode(value: object) -> Any:
            raise RuntimeError("boom")

        @attrs.frozen
        class Fragile:
            """A test event."""

            EVENT: ClassVar[str] = "fragile"

            name: str = property_field(
                "A name.", "x", keyword="name", normalise=explode, fallback="{invalid}"
            )
            size: int | None = property_field("A size.", 1, keyword="size", normalise=explode)
            kept: int | None = property_field("Kept.", 1, keyword="kept", normalise=values.count)

        result = scrub.Scrubber(Fragile)({"name": "a", "size": 2, "kept": 3})  # type: ignore[type-var]
        assert result.properties == Fragile("{invalid}", None, 3)
        assert result.failed == ("name", "size")

    def test_an_undeclared_field_is_refused(self) -> None:
        """An event field not made with property_field cannot be scrubbed."""

        @attrs.frozen
        class Loose:
            """A test event."""

            EVENT: ClassVar[str] = "loose"
            command: str = attrs.field(metadata={"description": "A name.", "example": "x"})

        with pytest.raises(ValueError, match="property_field"):
            scrub.Scrubber(Loose)  # type: ignore[type-var]


_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# Instances: the signal carries ``error: BaseException | None``, and capture keeps only
# an instance's class (anything else, a class included, becomes None before scrubbing).
_exceptions = st.sampled_from([ValueError("x"), KeyError("k"), SystemExit(2), "ValueError"])
_VALIDATOR = jsonschema.Draft202012Validator(schema_doc.json_schema())
_TABLES = schema_doc.markdown_tables()
_FIELD_DOCS = {
    (cls.EVENT, field.name): field
    for cls in EVENT_CLASSES
    for field in schema_doc.event_fields(cls)
}


def _value_for(example: Any) -> st.SearchStrategy[Any]:
    """Anything, or something near the field's example (so valid values are drawn too)."""
    near = st.just(example)
    if isinstance(example, int) and not isinstance(example, bool):
        near = st.integers(-5, example * 3)
    return st.one_of(_anything, near, _exceptions)


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(declared=st.sampled_from(DECLARED), data=st.data())
def test_every_field_end_to_end(
    sinks: tuple[MemorySink, Path], declared: tuple[type, str, Any], data: st.DataObject
) -> None:
    """Any value of any declared field goes tracker/signal → scrub → wire → docs consistently."""
    cls, name, source = declared
    memory, path = sinks
    memory.clear()
    path.write_text("")
    example = attrs.fields_dict(cls)[name].metadata["example"]
    raw = {keyword: data.draw(_value_for(example), label=keyword) for keyword in source.keywords}
    signal = getattr(signals, cls.EVENT)
    base = {"command": "run"} if cls is CommandFinished else {"method": "GET", "path": "/"}
    if cls is CommandFinished and set(raw) <= set(TRACKER_FIELDS):
        with track_command("run") as tracker:
            for keyword, value in raw.items():
                setattr(tracker, keyword, value)
    else:
        signal.send("test", **{**base, **raw})
    assert runtime.flush(5.0)

    (envelope,) = memory.wire()
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == envelope
    _VALIDATOR.validate(envelope)
    try:
        expected = source.normalise(*raw.values())
    except Exception:
        expected = None
    expected = source.fallback if expected is None else expected
    properties = envelope["properties"]
    if expected is None:
        assert name not in properties
    else:
        assert properties[name] == expected
    documented = _FIELD_DOCS[(cls.EVENT, name)]
    assert f"| `{name}` |" in _TABLES
    assert documented.required == (source.fallback is not None)
    for backend in BACKENDS:
        assert name in wire_names(backend)[cls.EVENT]


def test_fixture_shows_stripped_keywords(telemetry_events: CapturedEvents) -> None:
    """A typo in a keyword shows at once in telemetry_events.stripped and in its repr."""
    signals.command_finished.send("test", command="run", jbos=3)
    signals.command_finished.send("test", command="run", jbos=4, extra="x")
    assert telemetry_events.stripped == ["extra", "jbos"]
    assert "stripped=['extra', 'jbos']" in repr(telemetry_events)
    assert all("jbos" not in json.dumps(envelope) for envelope in telemetry_events)


class TestFieldsNoKeywordCarries:
    def test_scrubber_sets_the_fallback(self) -> None:
        """A field declared without a keyword (an aggregate) takes its fallback, or is unset."""

        @attrs.frozen
        class Counted:
            """A test event."""

            EVENT: ClassVar[str] = "counted"

            name: str = property_field(
                "A name.", "x", keyword="name", normalise=values.command_name, fallback="?"
            )
            count: int = property_field("How many.", 1, fallback=1, minimum=1)
            total: int | None = property_field("A total.", 3, minimum=0)

        scrubber = scrub.Scrubber(Counted)  # type: ignore[type-var]
        assert scrubber.allowed == {"name"}
        result = scrubber({"name": "run", "count": 9, "total": 4})
        assert result.properties == Counted("run", 1, None)
        assert result.stripped == ("count", "total")
        assert schema_doc.json_schema((Counted,))["$defs"]["counted_properties"]["required"] == [
            "name",
            "count",
        ]

    @pytest.mark.parametrize(
        "arguments", [{"keyword": "x"}, {"normalise": values.count}], ids=["keyword", "normalise"]
    )
    def test_keyword_and_normaliser_come_together(self, arguments: dict[str, Any]) -> None:
        """A keyword without a normaliser, or a normaliser without a keyword, is refused."""
        with pytest.raises(ValueError, match="normaliser"):
            property_field("A field.", 1, **arguments)

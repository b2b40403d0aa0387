"""The generated JSON Schema and Markdown tables, and docs/telemetry.md that embeds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest

from tests.support import clean_env, run_cli
from visivo.telemetry import schema_doc
from visivo.telemetry.docpage import replace_generated
from visivo.telemetry.schema import (
    EVENT_CLASSES,
    CommandFinished,
    Envelope,
    Metadata,
    RequestFinished,
    _describe,
    to_wire,
)
from visivo.telemetry.schema_doc import BEGIN_MARKER as BEGIN
from visivo.telemetry.schema_doc import END_MARKER as END

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "telemetry.md"
_VALIDATOR = jsonschema.Draft202012Validator


def _validator() -> jsonschema.Draft202012Validator:
    return _VALIDATOR(schema_doc.json_schema(), format_checker=_VALIDATOR.FORMAT_CHECKER)


def _full_envelope(properties: CommandFinished | RequestFinished) -> Envelope:
    return Envelope(properties, 1_790_000_000.5, Metadata.for_this_process(), ("extra",))


# Every field set, from the declared examples: a field added later is included.
_FULL_PROPERTIES = tuple(
    cls(**{field.name: field.metadata["example"] for field in attrs.fields(cls)})
    for cls in EVENT_CLASSES
)


def _object_schemas(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append(node)
        for value in node.values():
            found += _object_schemas(value)
    elif isinstance(node, list):
        for value in node:
            found += _object_schemas(value)
    return found


class TestJsonSchema:
    def test_is_a_valid_draft_2020_12_schema(self) -> None:
        """The generated schema is itself valid under the draft 2020-12 meta-schema."""
        schema = schema_doc.json_schema()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        _VALIDATOR.check_schema(schema)

    def test_property_names_equal_attrs_fields(self) -> None:
        """Each event's schema properties are exactly its attrs field names: they cannot drift."""
        defs = schema_doc.json_schema()["$defs"]
        for cls in EVENT_CLASSES:
            names = [field.name for field in attrs.fields(cls)]
            assert list(defs[f"{cls.EVENT}_properties"]["properties"]) == names
            envelope_names = ["event", "schema_version", "timestamp"]
            envelope_names += [field.name for field in attrs.fields(Metadata)]
            assert list(defs[cls.EVENT]["properties"]) == [*envelope_names, "properties"]

    def test_every_wire_key_is_in_the_schema(self) -> None:
        """Every key a fully populated envelope puts on the wire has a schema property."""
        defs = schema_doc.json_schema()["$defs"]
        for properties in _FULL_PROPERTIES:
            wire = to_wire(_full_envelope(properties))
            event = wire["event"]
            assert set(wire) == set(defs[event]["properties"])
            assert set(wire["properties"]) == set(defs[f"{event}_properties"]["properties"])

    def test_no_additional_properties_anywhere(self) -> None:
        """Every object schema forbids additional properties."""
        objects = _object_schemas(schema_doc.json_schema())
        assert len(objects) == 2 * len(EVENT_CLASSES)
        for node in objects:
            assert node["additionalProperties"] is False

    def test_full_envelopes_validate(self) -> None:
        """A wire envelope with every field set validates."""
        validator = _validator()
        for properties in _FULL_PROPERTIES:
            validator.validate(to_wire(_full_envelope(properties)))

    def test_minimal_envelopes_validate(self) -> None:
        """An envelope holding only required properties validates: optional ones are omitted."""
        validator = _validator()
        for properties in (
            CommandFinished("run"),
            RequestFinished("{unmatched}", "OTHER", count=1),
        ):
            validator.validate(to_wire(_full_envelope(properties)))

    @pytest.mark.parametrize(
        "change",
        [
            lambda wire: wire.pop("session_id"),
            lambda wire: wire["properties"].pop("command"),
            lambda wire: wire.update(hostname="alice-laptop"),
            lambda wire: wire["properties"].update(message="boom"),
            lambda wire: wire["properties"].update(jobs=None),
            lambda wire: wire["properties"].update(endpoint="/x"),
            lambda wire: wire.update(event="request_finished"),
            lambda wire: wire.update(event="page_viewed"),
            lambda wire: wire["properties"].update(object_counts={"Chart Name": 1}),
            lambda wire: wire.update(stripped=["x"]),
        ],
    )
    def test_invalid_envelopes_fail(self, change: Any) -> None:
        """Missing required keys, unknown keys, nulls and the other event's fields are rejected."""
        wire = to_wire(_full_envelope(_FULL_PROPERTIES[0]))
        change(wire)
        assert not _validator().is_valid(wire)

    def test_examples_validate(self) -> None:
        """The envelope built from the field examples of each event validates."""
        validator = _validator()
        for cls in EVENT_CLASSES:
            validator.validate(schema_doc.example_envelope(cls))


class TestFieldDocumentation:
    def test_every_field_has_description_and_example(self) -> None:
        """Every wire field has a one-line description and an example valid for its own schema."""
        fields = schema_doc.envelope_fields()
        for cls in EVENT_CLASSES:
            fields += schema_doc.event_fields(cls)
        for field in fields:
            assert field.description.strip()
            assert "\n" not in field.description
            _VALIDATOR(dict(field.schema)).validate(field.example)

    def test_field_without_description_fails(self) -> None:
        """Adding a field without a description makes the generator fail."""

        @attrs.frozen
        class Undocumented:
            """A test event."""

            EVENT = "undocumented"
            command: str = attrs.field(metadata={"example": "run"})

        with pytest.raises(ValueError, match="description"):
            schema_doc.json_schema((*EVENT_CLASSES, Undocumented))

    def test_field_without_example_fails(self) -> None:
        """Adding a field without an example makes the generator fail."""

        @attrs.frozen
        class NoExample:
            """A test event."""

            EVENT = "no_example"
            command: str = attrs.field(metadata={"description": "A name."})

        with pytest.raises(ValueError, match="example"):
            schema_doc.markdown_tables((*EVENT_CLASSES, NoExample))

    def test_unknown_constraint_fails(self) -> None:
        """A constraint the generator cannot express is an error, not silently dropped."""

        @attrs.frozen
        class Odd:
            """A test event."""

            EVENT = "odd"
            count: int = attrs.field(metadata=_describe("A count.", 1, multiple_of_seven=True))

        with pytest.raises(ValueError, match="constraint"):
            schema_doc.json_schema((Odd,))

    def test_tables_name_every_field(self) -> None:
        """The Markdown tables have one row per wire field of the envelope and each event."""
        tables = schema_doc.markdown_tables()
        for cls in EVENT_CLASSES:
            assert f"### `{cls.EVENT}`" in tables
            for field in schema_doc.event_fields(cls):
                assert f"| `{field.name}` |" in tables
        for field in schema_doc.envelope_fields():
            assert f"| `{field.name}` |" in tables


class TestPage:
    def test_page_embeds_the_generated_tables(self) -> None:
        """docs/telemetry.md holds exactly the current tables (run the --write command if not)."""
        page = PAGE.read_text(encoding="utf-8")
        assert replace_generated(page, schema_doc.markdown_tables(), begin=BEGIN, end=END) == page

    def test_page_lists_every_opt_out_and_sink(self) -> None:
        """The page names every opt-out switch and debug sink."""
        page = PAGE.read_text(encoding="utf-8")
        for needle in (
            "VISIVO_TELEMETRY_DISABLED",
            "DO_NOT_TRACK",
            "defaults.telemetry_enabled",
            "~/.visivo/config.yml",
            "visivo-telemetry disable --project",
            "VISIVO_TELEMETRY_SINK=stdout",
            "file:",
            "Retry-After",
        ):
            assert needle in page

    def test_replace_needs_one_pair_of_markers(self) -> None:
        """Rewriting a page without markers, or with them reversed, is a ValueError."""
        with pytest.raises(ValueError, match="marker"):
            replace_generated("no markers", "x", begin=BEGIN, end=END)
        reversed_page = f"{schema_doc.END_MARKER}\n{schema_doc.BEGIN_MARKER}\n"
        with pytest.raises(ValueError, match="marker"):
            replace_generated(reversed_page, "x", begin=BEGIN, end=END)

    def test_write_and_check_commands(self, tmp_path: Path) -> None:
        """--check fails on a stale page, --write fixes it, then --check passes."""
        page = tmp_path / "telemetry.md"
        page.write_text(f"intro\n{schema_doc.BEGIN_MARKER}\nold\n{schema_doc.END_MARKER}\nend\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "visivo.telemetry.schema_doc"]
        stale = subprocess.run([*command, "--check", str(page)], env=env, check=False)
        assert stale.returncode == 1
        subprocess.run([*command, "--write", str(page)], env=env, check=True)
        assert (
            subprocess.run([*command, "--check", str(page)], env=env, check=False).returncode == 0
        )
        text = page.read_text()
        assert text.startswith("intro\n")
        assert text.endswith(f"{schema_doc.END_MARKER}\nend\n")
        assert schema_doc.markdown_tables() in text


def _cli(*args: str, home: Path, sink: str = "null") -> subprocess.CompletedProcess[str]:
    env = clean_env(home, VISIVO_TELEMETRY_SINK=sink)
    return run_cli(args, env=env, cwd=home, check=True)


class TestCli:
    def test_json_format_prints_the_schema(self, tmp_path: Path) -> None:
        """`schema --format json` prints json_schema()."""
        result = _cli("schema", "--format", "json", home=tmp_path)
        assert json.loads(result.stdout) == schema_doc.json_schema()

    def test_markdown_is_the_default(self, tmp_path: Path) -> None:
        """`schema` prints the Markdown tables by default."""
        assert _cli("schema", home=tmp_path).stdout == schema_doc.markdown_tables()

    def test_schema_is_a_tracked_command(self, tmp_path: Path) -> None:
        """`schema` sends its own command_finished event, like any tracked command."""
        result = _cli("schema", "--format", "json", home=tmp_path, sink="stderr")
        events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        assert [event["properties"]["command"] for event in events] == ["schema"]
        _validator().validate(events[0])

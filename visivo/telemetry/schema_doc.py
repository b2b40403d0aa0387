"""The documented wire format, generated from the attrs classes of :mod:`.schema`.

Pure functions: :func:`json_schema` builds one JSON Schema (draft 2020-12) that validates
any envelope a sink writes, and :func:`markdown_tables` the field tables that
``docs/telemetry.md`` embeds. Both read each field's ``description``, ``example`` and
``constraints`` metadata; a wire field without them is a :class:`ValueError`, so an
undocumented field cannot ship.

``python -m visivo.telemetry.schema_doc --write docs/telemetry.md`` rewrites the tables
between the page's generated markers and publishes the current version's JSON Schema
(``--check`` only reports whether anything differs).

Published versions are kept by :mod:`visivo.telemetry.schema_versions`.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from visivo.telemetry.docpage import rewrite_page
from visivo.telemetry.schema import (
    EVENT_CLASSES,
    SCHEMA_VERSION,
    Envelope,
    Metadata,
)

__all__ = [
    "BEGIN_MARKER",
    "END_MARKER",
    "SCHEMA_ID",
    "WireField",
    "envelope_fields",
    "event_fields",
    "example_envelope",
    "json_schema",
    "markdown_tables",
]

SCHEMA_ID: Final = f"https://visivo.io/schemas/telemetry/envelope-v{SCHEMA_VERSION}.json"
BEGIN_MARKER: Final = "<!-- BEGIN GENERATED: python -m visivo.telemetry.schema_doc -->"
END_MARKER: Final = "<!-- END GENERATED -->"

# Envelope keys that to_wire writes and that are not attrs fields
# (see schema.to_wire): the event's name and the schema version.
_HEADER_DESCRIPTIONS: Final = {
    "event": "The event's name; says which `properties` follow.",
    "schema_version": "The version of the event fields; it changes with every change to them.",
}
# Envelope attrs fields whose wire form differs from their Python type: the converter
# writes the timestamp with schema.format_timestamp.
_WIRE_TYPE_OVERRIDES: Final[Mapping[tuple[type, str], type]] = {(Envelope, "timestamp"): str}
# Envelope attrs fields that are not wire keys: `properties` is documented per event,
# `metadata` is flattened into the envelope, `stripped` never leaves the process.
_ENVELOPE_NON_WIRE: Final = frozenset({"properties", "metadata", "stripped"})

# Field-metadata constraint names → JSON Schema keywords.
_CONSTRAINT_KEYWORDS: Final = {
    "pattern": "pattern",
    "minimum": "minimum",
    "maximum": "maximum",
    "max_length": "maxLength",
    "enum": "enum",
    "format": "format",
    "const": "const",
}
_MAPPING_CONSTRAINTS: Final = frozenset({"key_pattern", "max_properties"})


@attrs.frozen
class WireField:
    """One key of the wire form, with everything the docs say about it.

    Attributes:
        name: the key on the wire (the attrs field name).
        schema: its JSON Schema, constraints included.
        required: whether every envelope has it (optional fields are omitted when None).
        description: one line.
        example: a value that validates against ``schema``.
    """

    name: str
    schema: Mapping[str, Any]
    required: bool
    description: str
    example: Any


def _summary(cls: type) -> str:
    """The first line of an event class's docstring."""
    lines = (cls.__doc__ or "").strip().splitlines()
    if not lines:
        raise ValueError(f"{cls.__name__} needs a docstring")
    return lines[0]


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None``, and whether ``None`` was allowed."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) != len(typing.get_args(annotation)):
            if len(args) != 1:
                raise ValueError(f"unsupported optional type {annotation!r}")
            return args[0], True
    return annotation, False


def _type_schema(annotation: Any) -> dict[str, Any]:
    """The JSON Schema of a Python type as the converter writes it."""
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is str:
        return {"type": "string"}
    if typing.get_origin(annotation) is Literal:
        return {"type": "string", "enum": list(typing.get_args(annotation))}
    origin = typing.get_origin(annotation)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        key, value = typing.get_args(annotation)
        if key is not str:
            raise ValueError(f"mapping keys must be str, not {key!r}")
        return {"type": "object", "additionalProperties": _type_schema(value)}
    raise ValueError(f"no JSON Schema for type {annotation!r}")


def _apply_constraints(schema: dict[str, Any], constraints: Mapping[str, Any]) -> None:
    """Add the field's constraints; numeric limits of a mapping apply to its values."""
    is_mapping = schema.get("type") == "object"
    target = schema["additionalProperties"] if is_mapping else schema
    for name, value in constraints.items():
        if is_mapping and name == "key_pattern":
            schema["propertyNames"] = {"pattern": value}
        elif is_mapping and name == "max_properties":
            schema["maxProperties"] = value
        elif name in _CONSTRAINT_KEYWORDS and name not in _MAPPING_CONSTRAINTS:
            target[_CONSTRAINT_KEYWORDS[name]] = value
        else:
            raise ValueError(f"unknown constraint {name!r}")


def _wire_field(cls: type, field: attrs.Attribute[Any], annotation: Any) -> WireField:
    meta = field.metadata
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        raise ValueError(f"{cls.__name__}.{field.name} needs a one-line description")
    if "example" not in meta or meta["example"] is None:
        raise ValueError(f"{cls.__name__}.{field.name} needs an example")
    wire_type = _WIRE_TYPE_OVERRIDES.get((cls, field.name), annotation)
    bare, optional = _strip_none(wire_type)
    schema = _type_schema(bare)
    _apply_constraints(schema, meta.get("constraints", {}))
    required = field.default is attrs.NOTHING and not optional
    return WireField(field.name, schema, required, description, meta["example"])


def _fields_of(cls: type, skip: frozenset[str] = frozenset()) -> list[WireField]:
    hints = typing.get_type_hints(cls)
    return [
        _wire_field(cls, field, hints[field.name])
        for field in attrs.fields(cls)
        if field.name not in skip
    ]


def event_fields(cls: type) -> list[WireField]:
    """The wire fields of one event's ``properties``, in attrs order."""
    return _fields_of(cls)


def envelope_fields() -> list[WireField]:
    """The envelope's wire fields in wire order, without ``properties``."""
    header = [
        WireField(
            "event",
            {"type": "string", "enum": [cls.EVENT for cls in EVENT_CLASSES]},
            True,
            _HEADER_DESCRIPTIONS["event"],
            EVENT_CLASSES[0].EVENT,
        ),
        WireField(
            "schema_version",
            {"type": "integer", "const": SCHEMA_VERSION},
            True,
            _HEADER_DESCRIPTIONS["schema_version"],
            SCHEMA_VERSION,
        ),
    ]
    return header + _fields_of(Envelope, _ENVELOPE_NON_WIRE) + _fields_of(Metadata)


def _object_schema(fields: Sequence[WireField]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {field.name: dict(field.schema) for field in fields},
        "required": [field.name for field in fields if field.required],
        "additionalProperties": False,
    }


def json_schema(event_classes: Sequence[type] = EVENT_CLASSES) -> dict[str, Any]:
    """One JSON Schema (draft 2020-12) that validates any envelope, discriminated on ``event``.

    Every object forbids additional properties; ``required`` lists what every envelope
    carries (optional properties are omitted from the wire when unset).
    """
    envelope_keys = [field.name for field in envelope_fields()] + ["properties"]
    definitions: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    for cls in event_classes:
        name: str = cls.EVENT  # type: ignore[attr-defined]
        branch = _object_schema(envelope_fields())
        branch["description"] = _summary(cls)
        branch["properties"]["event"] = {"const": name}
        branch["properties"]["properties"] = {"$ref": f"#/$defs/{name}_properties"}
        branch["required"] = [*branch["required"], "properties"]
        definitions[name] = branch
        definitions[f"{name}_properties"] = _object_schema(event_fields(cls))
        branches.append({"$ref": f"#/$defs/{name}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Visivo telemetry envelope",
        "description": (
            "One event as Visivo's telemetry sends it; sinks write exactly this. "
            f"Envelope keys, in wire order: {', '.join(envelope_keys)}."
        ),
        "type": "object",
        "oneOf": branches,
        "$defs": definitions,
    }


def example_envelope(cls: type = EVENT_CLASSES[0]) -> dict[str, Any]:
    """An envelope of one event built from the field examples (it validates)."""
    wire: dict[str, Any] = {field.name: field.example for field in envelope_fields()}
    wire["event"] = cls.EVENT  # type: ignore[attr-defined]
    wire["properties"] = {field.name: field.example for field in event_fields(cls)}
    return wire


def _type_label(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type", "")
    if kind == "object":
        return f"object of {schema['additionalProperties']['type']}"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _constraint_label(schema: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if "const" in schema:
        parts.append(f"always `{json.dumps(schema['const'])}`")
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{value}`" for value in schema["enum"]))
    if "pattern" in schema:
        parts.append(f"matches `{schema['pattern']}`")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} characters")
    if "propertyNames" in schema:
        parts.append(f"keys match `{schema['propertyNames']['pattern']}`")
    if "maxProperties" in schema:
        parts.append(f"at most {schema['maxProperties']} keys")
    values = schema.get("additionalProperties")
    bounds = values if isinstance(values, Mapping) else schema
    if "minimum" in bounds or "maximum" in bounds:
        low, high = bounds.get("minimum"), bounds.get("maximum")
        subject = "values " if bounds is not schema else ""
        if low is not None and high is not None:
            parts.append(f"{subject}{low:,} to {high:,}")
        elif low is not None:
            parts.append(f"{subject}≥ {low}")
        else:
            parts.append(f"{subject}≤ {high}")
    return "; ".join(parts) or "none"


def _cell(text: str) -> str:
    # GFM tables split on "|" even inside code spans; backslashes in code spans are literal.
    return text.replace("|", "\\|").replace("\n", " ")


def _table(fields: Sequence[WireField]) -> list[str]:
    lines = [
        "| Field | Type | Required | Constraints | Description | Example |",
        "|---|---|---|---|---|---|",
    ]
    for field in fields:
        example = json.dumps(field.example, ensure_ascii=False)
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    f"`{field.name}`",
                    _type_label(field.schema),
                    "yes" if field.required else "no (omitted when unset)",
                    _constraint_label(field.schema),
                    field.description,
                    f"`{example}`",
                )
            )
            + " |"
        )
    return lines


def markdown_tables(event_classes: Sequence[type] = EVENT_CLASSES) -> str:
    """Markdown tables of the envelope and of every event's properties, ending in a newline."""
    lines = [
        "### Every event: the envelope",
        "",
        "Each event is one JSON object with these keys, then `properties` (below).",
        "",
        *_table(envelope_fields()),
    ]
    for cls in event_classes:
        name: str = cls.EVENT  # type: ignore[attr-defined]
        lines += ["", f"### `{name}`: {_summary(cls)}", "", *_table(event_fields(cls))]
    lines += [
        "",
        "### Example",
        "",
        "```json",
        json.dumps(example_envelope(), indent=2, ensure_ascii=False),
        "```",
    ]
    return "\n".join(lines) + "\n"


def _main(argv: Sequence[str]) -> int:
    from visivo.telemetry import schema_versions

    folder = schema_versions.published_folder()
    if list(argv[:1]) == ["--write"] and len(argv) == 2:
        try:
            published = schema_versions.publish(folder)
        except ValueError as error:
            sys.stderr.write(f"{error}\n")
            return 1
        if published:
            sys.stdout.write(published + "\n")
    status = rewrite_page(
        argv,
        markdown_tables(),
        module="visivo.telemetry.schema_doc",
        begin=BEGIN_MARKER,
        end=END_MARKER,
    )
    published_now = SCHEMA_VERSION in schema_versions.published_versions()
    if status == 0 and argv[0] == "--check" and not published_now:
        sys.stderr.write(f"schema version {SCHEMA_VERSION} is not published in {folder}\n")
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

"""The documented wire format, generated from the attrs classes of :mod:`.schema`.

Pure functions: :func:`json_schema` builds one JSON Schema (draft 2020-12) that validates
any envelope a sink writes, and :func:`markdown_tables` the field tables that
``docs/telemetry.md`` embeds. Both read each field's ``description``, ``example`` and
``constraints`` metadata; a wire field without them is a :class:`ValueError`, so an
undocumented field cannot ship.

``python -m visivo.telemetry.schema_doc --write docs/telemetry.md`` rewrites the tables
between the page's generated markers and publishes the current version's JSON Schema
(``--check`` only reports whether anything differs).

Published versions: the JSON Schema of every ``SCHEMA_VERSION`` ever released is kept as
``visivo/telemetry/schemas/v<N>.json`` (``docs/schemas`` points there), installed with the
package so that ``visivo-telemetry schema --format json --version N`` serves it. A
published file is never rewritten: a change to the fields needs a new version.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from visivo.telemetry.schema import (
    EVENT_CLASSES,
    SCHEMA_VERSION,
    Envelope,
    Metadata,
    wire_names,
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
    "publish",
    "published_schema",
    "published_versions",
    "replace_generated",
    "schema_text",
    "structure",
]

SCHEMA_ID: Final = f"https://visivo.io/schemas/telemetry/envelope-v{SCHEMA_VERSION}.json"
# Where published versions live, inside the package so that an install carries them.
_PUBLISHED_PACKAGE: Final = "visivo.telemetry"
_PUBLISHED_FOLDER: Final = "schemas"
_PUBLISHED_NAME: Final = re.compile(r"v([1-9][0-9]*)\.json")
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


def _wire_names_table(event_classes: tuple[type, ...]) -> list[str]:
    """Each property's OTLP log attribute (with its AnyValue kind) and PostHog property."""
    otlp, posthog = wire_names("otlp", event_classes), wire_names("posthog", event_classes)
    lines = [
        "Each property's name in the OTLP and PostHog wire formats; the other sinks write",
        "the envelope above as it is.",
        "",
        "| Event | Property | OTLP attribute | OTLP value | PostHog property |",
        "|---|---|---|---|---|",
    ]
    for event, fields in otlp.items():
        for name, wire in fields.items():
            kind = f"{wire.kind} of {wire.item_kind}" if wire.item_kind else wire.kind
            renamed = ", ".join(f"`{old}` → `{new}`" for old, new in wire.values.items())
            cells = (
                f"`{event}`",
                f"`{name}`",
                f"`{wire.name}`",
                f"{kind} ({renamed})" if renamed else kind,
                f"`{posthog[event][name].name}`",
            )
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
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
    lines += ["", "### Names on each backend", "", *_wire_names_table(tuple(event_classes))]
    lines += [
        "",
        "### Example",
        "",
        "```json",
        json.dumps(example_envelope(), indent=2, ensure_ascii=False),
        "```",
    ]
    return "\n".join(lines) + "\n"


def replace_generated(
    page: str, generated: str, *, begin: str = BEGIN_MARKER, end: str = END_MARKER
) -> str:
    """The page with the text between its generated markers replaced by ``generated``.

    ``begin`` and ``end`` name another generated section of the same page.

    Raises:
        ValueError: the page does not hold exactly one pair of markers, in order.
    """
    if page.count(begin) != 1 or page.count(end) != 1:
        raise ValueError("the page needs exactly one BEGIN and one END generated marker")
    head, rest = page.split(begin)
    if end in head:
        raise ValueError("the END generated marker comes before the BEGIN marker")
    _, tail = rest.split(end)
    return f"{head}{begin}\n{generated}{end}{tail}"


def schema_text(schema: Mapping[str, Any]) -> str:
    """A JSON Schema as its published file holds it: indented JSON, a final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def structure(schema: Any) -> Any:
    """A JSON Schema without its ``description`` texts: what validation depends on.

    Descriptions may be improved without a new version; anything else may not.
    """
    if isinstance(schema, Mapping):
        return {key: structure(value) for key, value in schema.items() if key != "description"}
    if isinstance(schema, list):
        return [structure(value) for value in schema]
    return schema


def _published_folder() -> Any:
    return importlib.resources.files(_PUBLISHED_PACKAGE) / _PUBLISHED_FOLDER


def published_versions() -> list[int]:
    """The schema versions whose JSON Schema is published, in order."""
    found = (_PUBLISHED_NAME.fullmatch(entry.name) for entry in _published_folder().iterdir())
    return sorted(int(match.group(1)) for match in found if match)


def published_schema(version: int) -> dict[str, Any]:
    """The published JSON Schema of one version, exactly as released.

    Raises:
        ValueError: that version was never published.
    """
    if version not in published_versions():
        known = ", ".join(map(str, published_versions()))
        raise ValueError(f"schema version {version} is not published (published: {known})")
    text = (_published_folder() / f"v{version}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def publish(folder: Path) -> str | None:
    """Write the current version's JSON Schema into ``folder`` unless it is there already.

    Returns what was done, for people, or None when the file was already up to date.

    Raises:
        ValueError: the current version is published with other fields or constraints:
            the fields changed and ``SCHEMA_VERSION`` must be bumped.
    """
    path = folder / f"v{SCHEMA_VERSION}.json"
    current = json_schema()
    if path.exists():
        released = json.loads(path.read_text(encoding="utf-8"))
        if structure(released) != structure(current):
            raise ValueError(
                f"{path} is published and frozen, and the fields differ from it: "
                f"bump SCHEMA_VERSION in visivo/telemetry/schema.py (see CONTRIBUTING)"
            )
        return None
    folder.mkdir(parents=True, exist_ok=True)
    text = schema_text(current)
    with path.open("w", encoding="utf-8", newline="\n") as file:
        file.write(text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return (
        f"published schema version {SCHEMA_VERSION} as {path}; freeze it: add "
        f'{SCHEMA_VERSION}: "{digest}" to PUBLISHED in tests/telemetry/test_schema_versions.py'
    )


def rewrite_page(
    argv: Sequence[str],
    generated: str,
    *,
    module: str,
    begin: str = BEGIN_MARKER,
    end: str = END_MARKER,
) -> int:
    """``(--write | --check) PAGE``: rewrite or compare one generated section of a page.

    ``module`` is the generator's ``python -m`` name, for the usage and stale messages.
    """
    usage = f"usage: python -m {module} (--write | --check) PAGE.md"
    if len(argv) != 2 or argv[0] not in ("--write", "--check"):
        sys.stderr.write(usage + "\n")
        return 2
    mode, path = argv
    with open(path, encoding="utf-8") as page_file:
        page = page_file.read()
    updated = replace_generated(page, generated, begin=begin, end=end)
    if mode == "--check":
        if updated != page:
            sys.stderr.write(f"{path} is out of date; run: {usage.split(': ')[1]}\n")
            return 1
        return 0
    if updated != page:
        with open(path, "w", encoding="utf-8", newline="\n") as page_file:
            page_file.write(updated)
        sys.stdout.write(f"rewrote the generated section in {path}\n")
    return 0


def _main(argv: Sequence[str]) -> int:
    folder = Path(str(_published_folder()))
    if list(argv[:1]) == ["--write"] and len(argv) == 2:
        try:
            published = publish(folder)
        except ValueError as error:
            sys.stderr.write(f"{error}\n")
            return 1
        if published:
            sys.stdout.write(published + "\n")
    status = rewrite_page(argv, markdown_tables(), module="visivo.telemetry.schema_doc")
    if status == 0 and argv[0] == "--check" and SCHEMA_VERSION not in published_versions():
        sys.stderr.write(f"schema version {SCHEMA_VERSION} is not published in {folder}\n")
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

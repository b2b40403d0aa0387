"""Published schema versions: the JSON Schema of every released ``SCHEMA_VERSION``.

Each is kept as ``visivo/telemetry/schemas/v<N>.json`` (``docs/schemas`` points there),
installed with the package so that ``visivo-telemetry schema --format json --version N``
serves it. A published file is never rewritten: a change to the fields needs a new
version, and :func:`publish` refuses to overwrite a version whose fields differ.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from visivo.telemetry.schema import SCHEMA_VERSION
from visivo.telemetry.schema_doc import json_schema

__all__ = [
    "publish",
    "published_folder",
    "published_schema",
    "published_versions",
    "schema_text",
    "structure",
]

# Where published versions live, inside the package so that an install carries them.
_PUBLISHED_PACKAGE: Final = "visivo.telemetry"
_PUBLISHED_FOLDER: Final = "schemas"
_PUBLISHED_NAME: Final = re.compile(r"v([1-9][0-9]*)\.json")


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


def published_folder() -> Path:
    """The folder of the published files, inside the installed package."""
    return Path(str(importlib.resources.files(_PUBLISHED_PACKAGE) / _PUBLISHED_FOLDER))


def published_versions() -> list[int]:
    """The schema versions whose JSON Schema is published, in order."""
    found = (_PUBLISHED_NAME.fullmatch(entry.name) for entry in published_folder().iterdir())
    return sorted(int(match.group(1)) for match in found if match)


def published_schema(version: int) -> dict[str, Any]:
    """The published JSON Schema of one version, exactly as released.

    Raises:
        ValueError: that version was never published.
    """
    if version not in published_versions():
        known = ", ".join(map(str, published_versions()))
        raise ValueError(f"schema version {version} is not published (published: {known})")
    text = (published_folder() / f"v{version}.json").read_text(encoding="utf-8")
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

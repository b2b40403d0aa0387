"""The backends' field names as Markdown, generated from the encoders' mapping tables.

``docs/telemetry.md`` embeds this between its own markers; a test fails when the page is
stale. Regenerate with ``python -m visivo.telemetry.sinks.network.fields_doc --write
docs/telemetry.md`` (``--check`` only compares).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Final

from visivo.telemetry.docpage import rewrite_page
from visivo.telemetry.sinks.network.otlp import (
    EVENT_PREFIX,
    OTHER_PREFIX,
    OTLP_ENVELOPE_ATTRIBUTES,
    OTLP_PROPERTY_ATTRIBUTES,
    OTLP_RESOURCE_ATTRIBUTES,
    OTLP_VALUE_RENAMES,
    SCOPE_NAME,
    SERVICE_NAME,
    SEVERITY_INFO,
)
from visivo.telemetry.sinks.network.posthog import (
    POSTHOG_ALIASED_PROPERTIES,
    POSTHOG_CONSTANT_PROPERTIES,
    POSTHOG_EVENT_KEYS,
    POSTHOG_METADATA_PROPERTIES,
    UUID,
)

__all__ = ["BEGIN_MARKER", "END_MARKER", "markdown"]

BEGIN_MARKER: Final = (
    "<!-- BEGIN GENERATED BACKENDS: python -m visivo.telemetry.sinks.network.fields_doc -->"
)
END_MARKER: Final = "<!-- END GENERATED BACKENDS -->"


def _posthog() -> list[str]:
    lines = [
        "#### PostHog (`posthog`)",
        "",
        "| PostHog event key | from the envelope |",
        "|---|---|",
    ]
    for key, name in POSTHOG_EVENT_KEYS.items():
        source = "a random UUID4 per event, kept when retried" if name == UUID else f"`{name}`"
        lines.append(f"| `{key}` | {source} |")
    lines.append("| `properties` | every envelope property, under its own name, and: |")
    lines += ["", "| property | value |", "|---|---|"]
    for name in POSTHOG_METADATA_PROPERTIES:
        lines.append(f"| `{name}` | the envelope's `{name}` |")
    for key, value in POSTHOG_CONSTANT_PROPERTIES.items():
        lines.append(f"| `{key}` | `{json.dumps(value)}` |")
    for key, name in POSTHOG_ALIASED_PROPERTIES.items():
        lines.append(f"| `{key}` | the envelope's `{name}` |")
    return lines


def _otlp() -> list[str]:
    lines = [
        "#### OpenTelemetry (`otlp`), one log record per event",
        "",
        "| OTLP field | value |",
        "|---|---|",
    ]
    for key, name in OTLP_RESOURCE_ATTRIBUTES.items():
        value = f"`{SERVICE_NAME}`" if name is None else f"the envelope's `{name}`"
        lines.append(f"| resource attribute `{key}` | {value} |")
    lines += [
        f"| scope | `{SCOPE_NAME}`, version: the envelope's `visivo_version` |",
        "| `timeUnixNano`, `observedTimeUnixNano` | the envelope's `timestamp` |",
        f"| `severityNumber` | `{SEVERITY_INFO}` (INFO) |",
        f"| `eventName` | `{EVENT_PREFIX}` + the envelope's `event` |",
        "",
        "| envelope field or property | log record attribute | AnyValue |",
        "|---|---|---|",
    ]
    for name, (key, kind) in {**OTLP_ENVELOPE_ATTRIBUTES, **OTLP_PROPERTY_ATTRIBUTES}.items():
        renames = OTLP_VALUE_RENAMES.get(name)
        note = "".join(f"; `{old}` → `{new}`" for old, new in (renames or {}).items())
        lines.append(f"| `{name}` | `{key}` | `{kind}`{note} |")
    lines.append(f"| any other property | `{OTHER_PREFIX}<property>` | by its JSON type |")
    return lines


def markdown() -> str:
    """The generated section: each backend's field names."""
    lines = [
        "#### Your own collector (`http`)",
        "",
        'The envelope exactly as above, in `{"batch": [<envelope>, ...], "sent_at": ...}`.',
        "",
        *_posthog(),
        "",
        *_otlp(),
    ]
    return "\n".join(lines) + "\n"


def _main(argv: Sequence[str]) -> int:
    module = "visivo.telemetry.sinks.network.fields_doc"
    return rewrite_page(argv, markdown(), module=module, begin=BEGIN_MARKER, end=END_MARKER)


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

"""docs/telemetry.md shows each backend's field names, generated from the encoders' tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from visivo.telemetry.docpage import replace_generated
from visivo.telemetry.sinks.network import fields_doc
from visivo.telemetry.sinks.network.otlp import (
    OTLP_ENVELOPE_ATTRIBUTES,
    OTLP_PROPERTY_ATTRIBUTES,
    OTLP_RESOURCE_ATTRIBUTES,
)
from visivo.telemetry.sinks.network.posthog import (
    POSTHOG_CONSTANT_PROPERTIES,
    POSTHOG_EVENT_KEYS,
)

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "telemetry.md"
BEGIN, END = fields_doc.BEGIN_MARKER, fields_doc.END_MARKER


def test_page_embeds_the_current_field_names() -> None:
    """The page holds exactly what the generator makes (run its --write command if not)."""
    page = PAGE.read_text(encoding="utf-8")
    assert replace_generated(page, fields_doc.markdown(), begin=BEGIN, end=END) == page


def test_every_mapping_row_is_listed() -> None:
    """Every PostHog key and constant and every OTLP attribute appears in the section."""
    text = fields_doc.markdown()
    for key in (*POSTHOG_EVENT_KEYS, *POSTHOG_CONSTANT_PROPERTIES, *OTLP_RESOURCE_ATTRIBUTES):
        assert f"`{key}`" in text
    for key, kind in (*OTLP_ENVELOPE_ATTRIBUTES.values(), *OTLP_PROPERTY_ATTRIBUTES.values()):
        assert f"| `{key}` | `{kind}`" in text


def test_page_says_where_events_go_by_default() -> None:
    """The page names PostHog as the default, personless, IP masked, GeoIP off, and the way out."""
    page = " ".join(PAGE.read_text(encoding="utf-8").split())
    for needle in (
        "By default, to Visivo's PostHog project",
        "no person profile",
        "`0.0.0.0`",
        "GeoIP lookup is off",
        "To send elsewhere, set `VISIVO_TELEMETRY_SINK`",
        "OTEL_EXPORTER_OTLP_",
        "VISIVO_POSTHOG_HOST",
    ):
        assert needle in page


def test_write_and_check_commands(tmp_path: Path) -> None:
    """--check fails on a stale page, --write fixes it, the rest of the page is kept."""
    page = tmp_path / "telemetry.md"
    page.write_text(f"intro\n{BEGIN}\nold\n{END}\nend\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "visivo.telemetry.sinks.network.fields_doc"]
    assert subprocess.run([*command, "--check", str(page)], env=env, check=False).returncode == 1
    subprocess.run([*command, "--write", str(page)], env=env, check=True, capture_output=True)
    assert subprocess.run([*command, "--check", str(page)], env=env, check=False).returncode == 0
    assert page.read_text() == f"intro\n{BEGIN}\n{fields_doc.markdown()}{END}\nend\n"

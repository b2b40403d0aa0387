"""Leak fuzzing: markers sent through every signal keyword never reach any sink or stderr.

Events go through the real signals and the real pipeline (receivers, scrubbers, batcher)
into a memory sink, a file sink and a console sink (stdout and notices on StringIOs),
fanned out by ``FanoutSink``; every envelope must also validate against the JSON Schema.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telemetry.leakkit import (
    SIGNALS,
    UNKNOWN_KEYWORDS,
    markers,
    shaped,
    text_of,
    values_for,
)
from visivo.telemetry import runtime, schema_doc
from visivo.telemetry.schema import INVALID
from visivo.telemetry.sinks.console import ConsoleSink
from visivo.telemetry.sinks.file import FileSink
from visivo.telemetry.sinks.memory import MemorySink
from visivo.telemetry.sinks.registry import FanoutSink

FUZZ = settings(
    max_examples=160,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Formats are checked in test_wire_validates; here the structure, for speed.
VALIDATOR = jsonschema.Draft202012Validator(schema_doc.json_schema())
FEW = settings(FUZZ, max_examples=40)


class Pipeline:
    """The real pipeline feeding memory, file and console sinks; reads what is new."""

    def __init__(self, path: Path) -> None:
        self.memory = MemorySink()
        self.path = path
        self.stdout = io.StringIO()
        self.notices = io.StringIO()
        console = ConsoleSink(lambda: self.stdout, lambda: self.notices)
        runtime.reset()
        runtime.start_with_sink(FanoutSink([self.memory, FileSink(path), console]))
        self._file_at = 0

    def deliver(self) -> tuple[list[dict[str, Any]], str]:
        """Flush, then return the new wire envelopes and everything else written since."""
        assert runtime.flush(5.0)
        wire = self.memory.wire()
        envelopes = self.memory.envelopes()
        self.memory.clear()
        with self.path.open(encoding="utf-8") as file:
            file.seek(self._file_at)
            written = file.read()
            self._file_at = file.tell()
        console = self.stdout.getvalue() + self.notices.getvalue()
        self.stdout.seek(0)
        self.stdout.truncate()
        self.notices.seek(0)
        self.notices.truncate()
        for line in (*written.splitlines(), *console.splitlines()):
            if line.startswith("{"):
                VALIDATOR.validate(json.loads(line))
        for envelope in wire:
            VALIDATOR.validate(envelope)
        return wire, text_of(wire, envelopes, written, console)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """A fresh pipeline for one test; the process-wide state is reset afterwards."""
    try:
        yield Pipeline(tmp_path / "events.jsonl")
    finally:
        runtime.reset()


def send_each(signal_name: str, keyword: str, values: list[object]) -> int:
    """Send one event per value, that value under ``keyword``, the rest a normal payload."""
    signal, _, base = SIGNALS[signal_name]
    for value in values:
        signal.send("test", **{**base, keyword: value})
    return len(values)


CASES = [(name, keyword) for name, (_, keywords, _) in SIGNALS.items() for keyword in keywords] + [
    (name, "unknown") for name in SIGNALS
]


@pytest.mark.parametrize(("signal_name", "keyword"), CASES)
@FUZZ
@given(data=st.data(), marker=markers())
def test_marker_never_leaves(  # noqa: PLR0917 - fixtures, parameters and draws
    pipeline: Pipeline,
    capfd: pytest.CaptureFixture[str],
    signal_name: str,
    keyword: str,
    data: st.DataObject,
    marker: str,
) -> None:
    """A marker in any shape and type under any keyword, known or not, appears in no output."""
    text = data.draw(shaped(marker, for_route=keyword == "route"))
    if keyword == "unknown":
        name = data.draw(st.sampled_from(UNKNOWN_KEYWORDS))
        values: list[object] = [text, {"nested": text}]
        sent = send_each(signal_name, name, values)
        signal, _, base = SIGNALS[signal_name]
        signal.send("test", **{**base, text: 1})  # a keyword *name* made of data
        sent += 1
    else:
        sent = send_each(signal_name, keyword, values_for(keyword, text, marker))
    wire, seen = pipeline.deliver()
    assert len(wire) == sent, runtime.counters()
    assert marker not in seen
    captured = capfd.readouterr()
    assert marker not in (captured.out + captured.err).lower()


@FEW
@given(marker=markers())
def test_identifier_fields(pipeline: Pipeline, marker: str) -> None:
    """A plain identifier passes only through command, object_counts keys and route words."""
    allowed = {
        ("command_finished", "command"): lambda p: p["command"] == marker,
        ("command_finished", "object_counts"): lambda p: p["object_counts"] == {marker: 1},
        ("request_finished", "route"): lambda p: p["endpoint"] == f"/api/{marker}/{{id}}",
    }
    values: dict[str, object] = {
        "command": marker,
        "object_counts": {marker: 1},
        "route": f"/api/{marker}/<id>",
        "path": f"/api/{marker}",
        "error": type(marker, (ValueError,), {})(marker),
    }
    for signal_name, (_, keywords, _) in SIGNALS.items():
        for keyword in (*keywords, "unknown_keyword"):
            value = values.get(keyword, marker)
            send_each(signal_name, keyword, [value])
            (envelope,), seen = pipeline.deliver()
            check = allowed.get((signal_name, keyword))
            if check is not None:
                assert check(envelope["properties"])
            else:
                assert marker not in seen
                assert envelope["properties"].get("command") != INVALID


@FEW
@given(marker=markers())
def test_identifier_keyword_names_only_in_notices(pipeline: Pipeline, marker: str) -> None:
    """An identifier keyword name shows in the local stripped notice only, never on the wire."""
    for signal_name in SIGNALS:
        send_each(signal_name, marker, [1])
        (envelope,), _ = pipeline.deliver()
        assert marker not in json.dumps(envelope)
        assert marker not in pipeline.path.read_text()

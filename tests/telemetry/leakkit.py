"""Shared pieces of the leak tests: markers, the shapes that carry them, and payloads.

A marker is ``"zq"`` plus ten random lowercase letters. Nothing legitimate contains
``zq`` (UUIDs are hex, route words and field names are fixed), so finding a marker in
any case in sink output means the value it was embedded in leaked. Markers are embedded
in shapes that must never pass any field: paths, e-mails, SQL, URLs with tokens,
tracebacks, unicode, host names and IPs, environment assignments, very long text. Each
shape holds punctuation or spacing that no identifier field accepts, so a plain
identifier (which ``command``, ``object_counts`` keys and router rule words may carry
by design) is tested separately.
"""

from __future__ import annotations

import io
import json
import string
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import strategies as st

from visivo.events import signals
from visivo.telemetry import runtime, schema_doc
from visivo.telemetry.policy import values
from visivo.telemetry.schema import (
    EVENT_CLASSES,
    CommandFinished,
    RequestFinished,
    event_keywords,
    field_sources,
    mapping_keywords,
)
from visivo.telemetry.sinks.console import ConsoleSink
from visivo.telemetry.sinks.file import FileSink
from visivo.telemetry.sinks.memory import MemorySink
from visivo.telemetry.sinks.registry import FanoutSink

# Every keyword each event reads, derived from the schema's declarations, so a field
# added there is fuzzed here without a change.
COMMAND_KEYWORDS = tuple(sorted(event_keywords(CommandFinished)))
REQUEST_KEYWORDS = tuple(sorted(event_keywords(RequestFinished)))
# Keywords that no schema knows: stripped, only their names may show in debug notices.
UNKNOWN_KEYWORDS = ("project_name", "sql", "user", "email", "file_path", "env", "extra")

# A normal payload per event, to which the fuzzed keyword is added.
_BASE_PAYLOADS: dict[str, dict[str, Any]] = {
    "command_finished": {"command": "run"},
    "request_finished": {
        "method": "GET",
        "status_code": 200,
        "route": "/api/project/<int:project_id>",
    },
}
SIGNALS: dict[str, tuple[Any, tuple[str, ...], dict[str, Any]]] = {
    cls.EVENT: (
        getattr(signals, cls.EVENT),
        tuple(sorted(event_keywords(cls))),
        _BASE_PAYLOADS[cls.EVENT],
    )
    for cls in EVENT_CLASSES
}


# Keywords whose field holds a mapping, and those read as an exception: they get values
# of those shapes too.
MAPPING_KEYWORDS = mapping_keywords()
ERROR_KEYWORDS = frozenset(
    keyword
    for cls in EVENT_CLASSES
    for _, source in field_sources(cls)
    if source.normalise is values.error_type
    for keyword in source.keywords
)


def markers() -> st.SearchStrategy[str]:
    """``zq`` and ten lowercase letters."""
    return st.text(string.ascii_lowercase, min_size=10, max_size=10).map("zq".__add__)


# Each shape takes the marker and returns text that must never leave the process.
SHAPES: dict[str, Callable[[str], str]] = {
    "unix_path": lambda m: f"/home/{m}/projects/{m}/project.visivo.yml",
    "windows_path": lambda m: f"C:\\Users\\{m}\\Documents\\{m}.csv",
    "relative_path": lambda m: f"./models/{m}.sql",
    "email": lambda m: f"{m}@example.com",
    "named_email": lambda m: f"Jane {m.capitalize()} <jane.{m}@corp.example>",
    "sql": lambda m: f"SELECT * FROM {m} WHERE id = 1;",
    "sql_lower": lambda m: f"select {m}, count(*) from sales group by 1",
    "url_token": lambda m: f"https://db.example.com/query?token={m}&user=x",
    "url_credentials": lambda m: f"postgres://admin:{m}@db.internal:5432/{m}",
    "query_path": lambda m: f"/api/project/7?q={m}",
    "fragment_path": lambda m: f"/dashboard#{m}",
    "traceback": lambda m: (
        "Traceback (most recent call last):\n"
        f'  File "/srv/{m}/run.py", line 3, in <module>\n'
        f"ValueError: could not read {m}"
    ),
    "unicode": lambda m: f"Ünïcødé {m} 数据 🚀 \u202e",
    "accented_path": lambda m: f"/dashboard/é{m}",
    "encoded_path": lambda m: f"/dashboard/%7E{m}",
    "long_text": lambda m: "lorem ipsum " * 500 + m,
    "long_word": lambda m: "a" * 3000 + m,
    "ip_and_host": lambda m: f"10.1.2.3 {m}-laptop.local",
    "env_assignment": lambda m: f"{m.upper()}_TOKEN=s3cr3t",
    "file_contents": lambda m: f"name: {m}\ndefaults:\n  telemetry_enabled: true\n",
    "query_result": lambda m: f'[{{"customer": "{m}", "revenue": 1200.5}}]',
    "uppercase_segment": lambda m: f"/api/{m.upper()}",
}


# Shapes whose marker sits in a "/"-separated lowercase word: a router rule ("route")
# keeps such words by design (the developer wrote them), so they are not fuzzed there;
# test_identifier_fields shows what passes and where.
BARE_WORD_SHAPES = frozenset({"unix_path", "relative_path"})


def shaped(marker: str, *, for_route: bool = False) -> st.SearchStrategy[str]:
    """Text of one of :data:`SHAPES` carrying ``marker``, or free text around it.

    Free text always separates the marker with ``" "`` and ``": "`` so it is never a
    bare identifier.
    """
    names = sorted(set(SHAPES) - BARE_WORD_SHAPES if for_route else SHAPES)
    fixed = st.sampled_from(names).map(lambda shape: SHAPES[shape](marker))
    free = st.builds(
        lambda before, after: f"{before} {marker}: {after}",
        st.text(max_size=40),
        st.text(max_size=40),
    )
    return st.one_of(fixed, free)


class Reprs:
    """An object whose str, repr and format carry text (a value of the wrong type)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return self.text


def error_values(text: str, marker: str) -> list[object]:
    """Exceptions and classes that carry ``text`` in every place but their class statement."""
    with_note = ValueError(text)
    with_note.add_note(text)
    chained = RuntimeError("wrapper")
    chained.__cause__ = KeyError(text)
    dynamic = type(f"Zq{marker}Error", (ValueError,), {"__doc__": text})
    dynamic_identifier = type(marker, (Exception,), {})
    return [
        with_note,
        OSError(2, text, text),
        chained,
        dynamic(text),
        dynamic,
        dynamic_identifier(text),
        text,
        Reprs(text),
    ]


def values_for(keyword: str, text: str, marker: str) -> list[object]:
    """Values of every type for one keyword, each carrying ``text`` (which holds the marker)."""
    common: list[object] = [text, Reprs(text), {"value": text}, text.encode()]
    if keyword in ERROR_KEYWORDS:
        return error_values(text, marker) + common
    if keyword in MAPPING_KEYWORDS:
        return [{text: 1}, {"chart": text}, {"chart": 1, text: 2}, *common]
    return common


def text_of(*parts: Iterable[object] | object) -> str:
    """Everything a test saw, as one lower-cased string to search markers in."""
    return "\n".join(repr(part) for part in parts).lower()


# Formats are checked in test_wire_validates; here the structure, for speed.
VALIDATOR = jsonschema.Draft202012Validator(schema_doc.json_schema())


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


def carried(wire: list[dict[str, Any]]) -> int:
    """How many signals wire envelopes carry: a merged request event counts its requests."""
    return sum(envelope["properties"].get("count", 1) for envelope in wire)


def send_each(signal_name: str, keyword: str, values: list[object]) -> int:
    """Send one event per value, that value under ``keyword``, the rest a normal payload."""
    signal, _, base = SIGNALS[signal_name]
    for value in values:
        signal.send("test", **{**base, keyword: value})
    return len(values)


def draw_case(data: st.DataObject, marker: str) -> tuple[Any, dict[str, Any], str, list[object]]:
    """A signal, its normal payload, one of its keywords (or an unknown one) and the
    values that carry ``marker`` under that keyword."""
    signal, keywords, base = SIGNALS[data.draw(st.sampled_from(sorted(SIGNALS)))]
    keyword = data.draw(st.sampled_from([*keywords, "unknown_keyword"]))
    text = data.draw(shaped(marker, for_route=keyword == "route"))
    return signal, base, keyword, values_for(keyword, text, marker)

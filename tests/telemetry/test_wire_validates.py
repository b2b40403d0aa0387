"""Every envelope any sink writes validates against the generated JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import clean_env, run_console_script
from visivo.events.signals import command_finished, request_finished
from visivo.telemetry import runtime, schema_doc
from visivo.telemetry.limits import COMMAND_PATTERN, OBJECT_TYPE_PATTERN
from visivo.telemetry.schema import (
    CommandFinished,
    RequestFinished,
    event_keywords,
)
from visivo.telemetry.sinks.memory import MemorySink

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(
    schema_doc.json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)

_numbers = st.one_of(st.integers(-5, 10**12), st.floats(allow_nan=True), st.none())
_texts = st.one_of(st.text(max_size=50), st.from_regex(COMMAND_PATTERN, fullmatch=True))
_anything = st.one_of(_numbers, _texts, st.booleans(), st.dictionaries(st.text(), _numbers))
# Keyword → what to draw for it; a keyword the schema reads and that is not listed here
# gets anything, so every declared keyword is always drawn.
_SPECIFIC = {
    "command": _texts,
    "duration_ms": _numbers,
    "success": st.one_of(st.booleans(), st.none(), st.integers()),
    "error": st.sampled_from([None, ValueError("x"), KeyboardInterrupt(), "text"]),
    "jobs": _numbers,
    "object_counts": st.one_of(
        st.none(),
        st.dictionaries(
            st.one_of(st.from_regex(OBJECT_TYPE_PATTERN, fullmatch=True), st.text()),
            _numbers,
            max_size=40,
        ),
    ),
    "method": st.one_of(st.sampled_from(["get", "POST", "PATCH", "brew"]), st.text()),
    "status_code": _numbers,
    "route": st.one_of(
        st.none(),
        st.sampled_from(["/api/project/<int:project_id>", "{unmatched}", "/"]),
        st.text(max_size=80),
    ),
    "path": st.text(max_size=300),
}


def payloads(event_class: type) -> st.SearchStrategy[dict[str, object]]:
    """Payloads holding every keyword the event reads, each drawn from its strategy."""
    keywords = sorted(event_keywords(event_class))
    return st.fixed_dictionaries({k: _SPECIFIC.get(k, _anything) for k in keywords})


command_payloads = payloads(CommandFinished)
request_payloads = payloads(RequestFinished)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(command=command_payloads, request=request_payloads)
def test_memory_and_file_sinks(
    sinks: tuple[MemorySink, Path], command: dict[str, object], request: dict[str, object]
) -> None:
    """Envelopes from arbitrary payloads validate in the memory sink and in the file."""
    memory, path = sinks
    memory.clear()
    path.write_text("")
    command_finished.send("test", **command)
    request_finished.send("test", **request)
    assert runtime.flush(5.0)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(memory.wire()) == 2
    for envelope in [*memory.wire(), *map(json.loads, lines)]:
        VALIDATOR.validate(envelope)


@pytest.mark.parametrize("args", [["status"], ["status", "--json"], ["schema"]])
def test_stdout_sink_of_the_real_cli(tmp_path: Path, args: list[str]) -> None:
    """`visivo-telemetry` with VISIVO_TELEMETRY_SINK=stdout prints one valid envelope line."""
    env = clean_env(tmp_path, VISIVO_TELEMETRY_SINK="stdout")
    result = run_console_script(args, env=env, cwd=tmp_path, check=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"event"')]
    assert len(lines) == 1
    envelope = json.loads(lines[0])
    VALIDATOR.validate(envelope)
    assert envelope["properties"]["command"] == args[0]
    assert result.stderr == ""

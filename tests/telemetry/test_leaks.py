"""Leak fuzzing: markers sent through every signal keyword never reach any sink or stderr.

Events go through the real signals and the real pipeline (receivers, scrubbers, batcher)
into a memory sink, a file sink and a console sink (stdout and notices on StringIOs),
fanned out by ``FanoutSink``; every envelope must also validate against the JSON Schema.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telemetry.leakkit import (
    SIGNALS,
    UNKNOWN_KEYWORDS,
    Pipeline,
    carried,
    markers,
    send_each,
    shaped,
    values_for,
)
from visivo.telemetry import runtime
from visivo.telemetry.limits import INVALID

FUZZ = settings(
    max_examples=160,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(FUZZ, max_examples=40)
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
    assert carried(wire) == sent, runtime.counters()
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

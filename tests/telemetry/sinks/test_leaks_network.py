"""Leak fuzzing through every network wire: markers never reach a loopback collector."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import Collector
from tests.telemetry.leakkit import draw_case, markers
from tests.telemetry.sinks.test_network_sinks import PATHS, SINKS, sink_for
from tests.telemetry.sinks.wirekit import READERS
from visivo.telemetry import runtime
from visivo.telemetry.sinks.registry import FanoutSink

WIRE_OF = {path: name for name, path in PATHS.items()}


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector() as server:
        yield server


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), marker=markers())
def test_marker_never_reaches_any_wire(
    collector: Collector, data: st.DataObject, marker: str
) -> None:
    """No marker sent under any keyword of any signal appears in any sink's request body."""
    signal, base, keyword, values = draw_case(data, marker)
    seen = len(collector.requests)
    runtime.reset()
    runtime.start_with_sink(
        FanoutSink([sink_for(name, collector.url) for name in SINKS]), names=SINKS
    )
    try:
        for value in values:
            signal.send("test", **{**base, keyword: value})
        assert runtime.flush(5.0)
    finally:
        runtime.reset()
    received = collector.requests[seen:]
    assert sorted(WIRE_OF[r.path] for r in received) == sorted(SINKS)
    for request in received:
        wires = READERS[WIRE_OF[request.path]](request.body)
        # A merged request event stands for ``count`` requests.
        assert sum(wire["properties"].get("count", 1) for wire in wires) == len(values)
        assert marker not in request.body.decode("utf-8").lower()

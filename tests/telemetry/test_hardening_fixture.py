"""The ``telemetry_events`` fixture keeps every event in the process, whatever the code does."""

from __future__ import annotations

from pathlib import Path

from tests.servers import Collector
from tests.support import run
from tests.telemetry.test_testing_plugin import PYTEST, _environment
from visivo.events import track_command
from visivo.telemetry import runtime
from visivo.telemetry.sinks.memory import MemorySink
from visivo.telemetry.testing import capture_events, stop_capturing

# Code under test that stops, resets and restarts telemetry, even onto its own sink.
RESTARTING_HOST_TESTS = """
import os

import visivo.telemetry as telemetry
from visivo.events import track_command
from visivo.telemetry import runtime
from visivo.telemetry.sinks.network import HttpSink


def commands(events):
    return [envelope["properties"]["command"] for envelope in events]


def test_restarted_telemetry_stays_captured(telemetry_events):
    telemetry.shutdown()
    telemetry.start()
    with track_command("after-shutdown"):
        pass
    telemetry.flush()
    runtime.reset()
    telemetry.start()
    with track_command("after-reset"):
        pass
    telemetry.flush()
    runtime.start_with_sink(HttpSink(os.environ["VISIVO_TELEMETRY_ENDPOINT"], env={}))
    with track_command("own-sink"):
        pass
    assert commands(telemetry_events) == ["after-shutdown", "after-reset", "own-sink"]
    telemetry.shutdown()
"""


def test_fixture_lets_nothing_out_across_restarts(tmp_path: Path) -> None:
    """Code under test that shuts down, resets and restarts telemetry sends nothing out."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "pytest.ini").write_text("[pytest]\n")
    (host / "test_host.py").write_text(RESTARTING_HOST_TESTS)
    home = tmp_path / "home"
    home.mkdir()
    with Collector() as collector:
        env = _environment(home, VISIVO_TELEMETRY_ENDPOINT=collector.url)
        done = run([*PYTEST, "test_host.py"], env=env, cwd=host, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 passed" in done.stdout
        assert collector.requests == []


def test_stop_capturing_lets_settings_apply_again() -> None:
    """After stop_capturing, a new pipeline sends to its own sink, not the captured one."""
    captured = capture_events()
    stop_capturing()
    assert runtime.active_sink() is None
    own = MemorySink()
    runtime.start_with_sink(own)
    with track_command("later"):
        pass
    assert runtime.flush(5.0)
    assert [e["properties"]["command"] for e in own.wire()] == ["later"]
    assert list(captured) == []

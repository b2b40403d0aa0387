"""The ``telemetry_events`` pytest plugin, used by a host project's tests in a subprocess."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Hypothesis' plugin is unrelated to these host tests and takes a second to import.
PYTEST = (
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
)

HOST_TESTS = """
import os

import visivo.telemetry
import visivo.telemetry.testing as plugin
from visivo.events import current_command, track_command


def test_captures_what_a_sink_would_get(telemetry_events):
    assert list(telemetry_events) == []
    visivo.telemetry.start()  # the code under test starting telemetry keeps the capture
    with track_command("run"):
        current_command().jobs = 3
        current_command().object_counts = {"chart": 2}
    (envelope,) = list(telemetry_events)
    assert envelope["event"] == "command_finished"
    assert envelope["properties"]["jobs"] == 3
    assert envelope["properties"]["object_counts"] == {"chart": 2}
    assert set(envelope) >= {"session_id", "timestamp", "schema_version"}


def test_every_test_starts_empty(telemetry_events):
    assert list(telemetry_events) == []


def test_loaded_from_the_entry_point_of_this_tree(request):
    distributions = request.config.pluginmanager.list_plugin_distinfo()
    assert any(module is plugin for module, _ in distributions)
    assert plugin.__file__.startswith(os.environ["EXPECTED_TREE"])
"""


def _has_entry_point() -> bool:
    return any(
        entry.value == "visivo.telemetry.testing"
        for entry in importlib.metadata.entry_points(group="pytest11")
    )


def _environment(home: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VISIVO_", "PYTEST_")) and key != "DO_NOT_TRACK"
    }
    env.update(HOME=str(home), PYTHONPATH=str(REPO), EXPECTED_TREE=str(REPO), **extra)
    return env


def test_fixture_captures_with_and_without_opt_outs(tmp_path: Path) -> None:
    """Through the entry point, the fixture captures even where every source opts out."""
    assert _has_entry_point(), "the package is not installed: pip install -e '.[test]'"
    host = tmp_path / "host"
    host.mkdir()
    (host / "pytest.ini").write_text("[pytest]\n")
    (host / "test_host.py").write_text(HOST_TESTS)
    plain_home = tmp_path / "plain-home"
    plain_home.mkdir()
    opted_out_home = tmp_path / "opted-out-home"
    (opted_out_home / ".visivo").mkdir(parents=True)
    (opted_out_home / ".visivo" / "config.yml").write_text("telemetry_enabled: false\n")
    (host / "project.visivo.yml").write_text("defaults:\n  telemetry_enabled: false\n")
    leak = tmp_path / "leak.jsonl"
    environments = {
        "plain": _environment(plain_home),
        "opted out": _environment(
            opted_out_home,
            DO_NOT_TRACK="1",
            VISIVO_TELEMETRY_DISABLED="1",
            VISIVO_TELEMETRY_SINK=f"file:{leak},stdout",
            VISIVO_TELEMETRY_ENDPOINT="http://127.0.0.1:9/",
        ),
    }
    runs = {
        name: subprocess.Popen(
            [*PYTEST, "test_host.py"],
            cwd=host,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, env in environments.items()
    }
    for name, run in runs.items():
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 0, f"{name}:\n{output}"
        assert "3 passed" in output, f"{name}:\n{output}"
        assert '"event"' not in output, f"{name} printed an event:\n{output}"
    assert not leak.exists()

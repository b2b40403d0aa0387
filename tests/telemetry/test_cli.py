"""The visivo-telemetry command through its real entry point, with a temporary HOME."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import clean_env, run_cli, run_console_script


def console(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_console_script(args, env=env, cwd=cwd)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_stdout_sink_shows_the_status_then_its_own_event(tmp_path: Path, home: Path) -> None:
    """The quick-start command prints the status, then one command_finished JSON line."""
    done = console(["status"], clean_env(home, VISIVO_TELEMETRY_SINK="stdout"), tmp_path)
    assert done.returncode == 0, done.stderr
    *report, last = done.stdout.strip().splitlines()
    assert report[0] == "Telemetry is enabled: no source opts out."
    event = json.loads(last)
    assert event["event"] == "command_finished"
    assert event["properties"]["command"] == "status"
    assert event["properties"]["success"] is True
    assert done.stderr == ""


def test_python_m_is_the_same_cli(tmp_path: Path, home: Path) -> None:
    """python -m visivo.telemetry behaves like the console script."""
    done = run_cli(["status", "--json"], env=clean_env(home), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["enabled"] is True
    assert report["decided_by"] == "default"
    assert [s["name"] for s in report["sources"]] == [
        "VISIVO_TELEMETRY_DISABLED",
        "DO_NOT_TRACK",
        "project",
        "global",
    ]
    assert set(report["sources"][0]) >= {"name", "location", "value", "error"}
    assert report["sink"] == "posthog"


def test_disabled_prints_no_event(tmp_path: Path, home: Path) -> None:
    """With DO_NOT_TRACK=1 the status says so and no event is printed."""
    env = clean_env(home, VISIVO_TELEMETRY_SINK="stdout", DO_NOT_TRACK="1")
    done = console(["status"], env, tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("Telemetry is disabled by DO_NOT_TRACK.")
    assert "command_finished" not in done.stdout


def test_help_and_version_emit_nothing(tmp_path: Path, home: Path) -> None:
    """--help and --version print their text and no event."""
    env = clean_env(home, VISIVO_TELEMETRY_SINK="stdout")
    for args in (["--help"], ["status", "--help"], ["--version"]):
        done = console(args, env, tmp_path)
        assert done.returncode == 0
        assert "command_finished" not in done.stdout, args


def test_usage_error_is_tracked_as_failure(tmp_path: Path, home: Path) -> None:
    """A bad option exits 2 and reports the failure type, never the message."""
    done = console(["status", "--bogus"], clean_env(home, VISIVO_TELEMETRY_SINK="stdout"), tmp_path)
    assert done.returncode == 2
    event = json.loads(done.stdout.strip().splitlines()[-1])
    assert event["properties"]["success"] is False
    assert event["properties"]["error_type"] == "NoSuchOption"
    assert "bogus" not in done.stdout

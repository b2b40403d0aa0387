"""The examples run as documented, with ``VISIVO_TELEMETRY_SINK=stdout``, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _environment(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VISIVO_") and key != "DO_NOT_TRACK"
    }
    env.update(HOME=str(home), PYTHONPATH=str(REPO), VISIVO_TELEMETRY_SINK="stdout")
    return env


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_cli_example(tmp_path: Path) -> None:
    """Each command of the example CLI prints its one event; ``--help`` prints none."""
    cases: dict[tuple[str, ...], tuple[int, dict[str, Any] | None]] = {
        ("run", "--jobs", "12"): (0, {"command": "run", "success": True, "jobs": 12}),
        ("compile",): (
            0,
            {"command": "compile", "object_counts": {"chart": 3, "trace": 5, "table": 1}},
        ),
        ("deploy",): (1, {"command": "deploy", "success": False, "error_type": "ClickException"}),
        ("telemetry", "status"): (0, {"command": "telemetry status", "success": True}),
        ("--help",): (0, None),
    }
    runs = {
        args: subprocess.Popen(
            [sys.executable, str(EXAMPLES / "cli.py"), *args],
            cwd=tmp_path,
            env=_environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in cases
    }
    for args, run in runs.items():
        stdout, stderr = run.communicate(timeout=30)
        code, expected = cases[args]
        assert run.returncode == code, (args, stderr)
        assert "credentials" not in stdout  # the error's message is never sent
        events = _events(stdout)
        if expected is None:
            assert events == []
        else:
            (event,) = events
            assert event["properties"] == {**event["properties"], **expected}


def test_flask_example(tmp_path: Path) -> None:
    """The example app served on 127.0.0.1 prints one event per real request at exit."""
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "app.py"), "--port", "0"],
        cwd=tmp_path,
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        assert banner.startswith("Serving on http://127.0.0.1:"), banner
        base = banner.split()[-1]
        statuses = []
        for path in ("/api/project/42?token=secret", "/api/fail", "/nope"):
            try:
                with urllib.request.urlopen(base + path, timeout=5) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
                error.close()
        assert statuses == [200, 500, 404]
    finally:
        server.send_signal(signal.SIGINT)
        stdout, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    observed = [
        (e["properties"]["endpoint"], e["properties"]["status_code"]) for e in _events(stdout)
    ]
    assert observed == [
        ("/api/project/{project_id}", 200),
        ("/api/fail", 500),
        ("{unmatched}", 404),
    ]
    assert "secret" not in stdout

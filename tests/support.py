"""Helpers for tests that run the real entry points in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Variables of the developer's shell that would change what telemetry does.
_TELEMETRY_VARS = (
    "VISIVO_TELEMETRY_DISABLED",
    "DO_NOT_TRACK",
    "VISIVO_TELEMETRY_SINK",
    "VISIVO_TELEMETRY_ENDPOINT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The current environment without telemetry variables, with ``HOME`` set."""
    env = {k: v for k, v in os.environ.items() if k not in _TELEMETRY_VARS}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run_python(
    code: str, *, env: Mapping[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m visivo.telemetry ARGS`` (the same CLI as the console script)."""
    return subprocess.run(
        [sys.executable, "-m", "visivo.telemetry", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

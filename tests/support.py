"""Helpers for tests that run the real entry points in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The installed console script, next to the interpreter running the tests.
CONSOLE_SCRIPT = Path(sys.executable).parent / "visivo-telemetry"

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
# Whole families of variables that change where the network sinks send.
_TELEMETRY_PREFIXES = ("VISIVO_POSTHOG_", "OTEL_")
# No test may reach the real PostHog host (the default) or a collector that happens to
# run on this machine: a subprocess sends to a refused loopback port unless the test
# points a sink somewhere else (an empty VISIVO_POSTHOG_HOST restores the default).
NOWHERE = "http://127.0.0.1:9"
GUARD_VARS = {"VISIVO_POSTHOG_HOST": NOWHERE, "OTEL_EXPORTER_OTLP_ENDPOINT": NOWHERE}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The current environment without telemetry variables, with ``HOME`` set.

    The network sinks point at a refused loopback port (:data:`GUARD_VARS`) unless
    ``extra`` says otherwise.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _TELEMETRY_VARS and not k.startswith(_TELEMETRY_PREFIXES)
    }
    env.update(GUARD_VARS)
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = 30,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with no stdin and capture its output as text."""
    return subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def run_python(
    code: str, *, env: Mapping[str, str], cwd: Path, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` and capture its output."""
    return run([sys.executable, "-c", code], env=env, cwd=cwd, timeout=timeout)


def run_cli(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m visivo.telemetry ARGS`` (the same CLI as the console script)."""
    return run([sys.executable, "-m", "visivo.telemetry", *args], env=env, cwd=cwd, check=check)


def run_console_script(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``visivo-telemetry`` console script, the README's entry point."""
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} missing: pip install -e '.[test]' first"
    return run([str(CONSOLE_SCRIPT), *args], env=env, cwd=cwd, check=check)

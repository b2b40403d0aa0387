"""visivo-telemetry, run as a host runs it: ``start()`` at process start, events through
the ``visivo.events`` signals, configured only by environment variables (README.md).
"""

from __future__ import annotations

import time

NAME = "visivo-telemetry (ours)"
PACKAGES = ("visivo-telemetry", "blinker", "urllib3")
IMPORT = "import visivo.telemetry, visivo.events"
KILL_SWITCH = "DO_NOT_TRACK=1"

# The sink that ships as the default, pointed at the loopback collector; "http" (the
# native format, VISIVO_TELEMETRY_ENDPOINT) is the one line to change for the other.
SINK = "posthog"
ENDPOINT_ENV = {"http": "VISIVO_TELEMETRY_ENDPOINT", "posthog": "VISIVO_POSTHOG_HOST"}[SINK]


def environment(url: str, disabled: bool) -> dict[str, str]:
    env = {"VISIVO_TELEMETRY_SINK": SINK, ENDPOINT_ENV: url}
    if disabled:
        env["DO_NOT_TRACK"] = "1"
    return env


def start(url: str, disabled: bool) -> None:
    import visivo.telemetry

    visivo.telemetry.start()


def emit() -> None:
    from visivo.events import command_finished

    command_finished.send(None, command="run", duration_ms=1.0, success=True)


def command(work_s: float) -> None:
    """A CLI command as the click integration tracks it (sends started and finished)."""
    from visivo.events import track_command

    with track_command("run"):
        time.sleep(work_s)


def flush() -> None:
    import visivo.telemetry

    visivo.telemetry.flush(60.0)


def shutdown() -> None:
    import visivo.telemetry

    visivo.telemetry.shutdown()

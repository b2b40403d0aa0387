"""The first-run notice: when to show it (pure) and what it says."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from visivo.telemetry.sinks.registry import NETWORK_SINKS

__all__ = ["COMMAND", "DOCS_URL", "should_show", "text"]

DOCS_URL: Final = "https://docs.visivo.io/topics/telemetry"
# The standalone console script; a host that mounts the ``telemetry`` group names it
# as its users type it (``visivo telemetry``).
COMMAND: Final = "visivo-telemetry"


def text(command: str = COMMAND) -> str:
    """The notice, naming the telemetry commands as ``command`` (``visivo telemetry``)."""
    return f"""\
Visivo collects anonymous usage data: which commands run, how long they take, whether
they fail (the error's type only) and object counts. It never sends project data, SQL,
file paths, error messages or anything that identifies you.
Events go to Visivo's PostHog project without a person profile, IP or GeoIP (set
VISIVO_TELEMETRY_SINK to send elsewhere).
  See exactly what is sent:  VISIVO_TELEMETRY_SINK=stdout <command>
  What is collected:         {DOCS_URL} (or: {command} schema)
  Switch it off:             {command} disable   (or: export DO_NOT_TRACK=1)
This notice is shown once."""


def should_show(
    *, enabled: bool, sink_names: Collection[str], notice_shown: bool, stderr_is_tty: bool
) -> bool:
    """Whether this process should print the notice before its first network send.

    Only when telemetry is enabled, a network sink is active, the notice was never
    recorded as shown, and a person is likely reading stderr (a terminal).
    """
    return (
        enabled and not NETWORK_SINKS.isdisjoint(sink_names) and not notice_shown and stderr_is_tty
    )

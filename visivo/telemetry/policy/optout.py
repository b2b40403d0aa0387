"""The opt-out decision, as a pure function of the environment and two file readings.

Precedence (highest first): ``VISIVO_TELEMETRY_DISABLED``, ``DO_NOT_TRACK``, the project
file, the global file. Opt-out is sticky: telemetry is on only when no source opts out,
and precedence only picks which opting-out source is reported as the one that decided.
A source that cannot be read or understood opts out (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import attrs

__all__ = [
    "DISABLED_ENV",
    "DO_NOT_TRACK_ENV",
    "Decision",
    "Reading",
    "SourceReport",
    "decide",
    "read_disabled_env",
    "read_do_not_track",
]

DISABLED_ENV: Final = "VISIVO_TELEMETRY_DISABLED"
# The cross-tool convention, https://consoledonottrack.com
DO_NOT_TRACK_ENV: Final = "DO_NOT_TRACK"

_DISABLING: Final = frozenset({"1", "true", "yes", "on"})
_NEUTRAL: Final = frozenset({"0", "false", "no", "off", ""})
_DNT_NEUTRAL: Final = frozenset({"", "0", "false"})

SourceName = Literal["VISIVO_TELEMETRY_DISABLED", "DO_NOT_TRACK", "project", "global"]
DecidedBy = Literal["VISIVO_TELEMETRY_DISABLED", "DO_NOT_TRACK", "project", "global", "default"]


@attrs.frozen
class Reading:
    """What one config file said about ``telemetry_enabled``.

    ``value`` is None when the file or key is absent. ``error`` holds a one-line problem
    (with the line number for YAML errors); a reading with an error opts out. ``note``
    is something to fix that did not stop the file from being read (a misspelt key).
    """

    location: str
    value: bool | None = None
    error: str | None = None
    exists: bool = False
    note: str | None = None

    @property
    def opts_out(self) -> bool:
        """Whether this reading switches telemetry off."""
        return self.error is not None or self.value is False


@attrs.frozen
class SourceReport:
    """One source as ``status`` shows it: where it is, what it said, what went wrong."""

    name: SourceName
    location: str
    value: str | bool | None
    error: str | None
    opts_out: bool
    # For files: whether the file exists (a missing file says nothing).
    exists: bool = False
    # For files: something to fix that did not stop the file from being read.
    note: str | None = None


@attrs.frozen
class Decision:
    """Whether telemetry is on, which source decided, and what every source said."""

    enabled: bool
    decided_by: DecidedBy
    sources: tuple[SourceReport, ...]

    def source(self, name: SourceName) -> SourceReport:
        """The report of one named source."""
        for report in self.sources:
            if report.name == name:
                return report
        raise KeyError(name)


def read_disabled_env(env: Mapping[str, str]) -> SourceReport:
    """``VISIVO_TELEMETRY_DISABLED``: 1/true/yes/on disable, 0/false/no/off/"" are neutral."""
    raw = env.get(DISABLED_ENV)
    if raw is None:
        return SourceReport(DISABLED_ENV, "environment", None, None, opts_out=False)
    word = raw.strip().lower()
    if word in _DISABLING:
        return SourceReport(DISABLED_ENV, "environment", raw, None, opts_out=True, exists=True)
    if word in _NEUTRAL:
        return SourceReport(DISABLED_ENV, "environment", raw, None, opts_out=False, exists=True)
    return SourceReport(
        DISABLED_ENV,
        "environment",
        raw,
        f"unrecognised value {raw!r}: treated as disabled (use 1/true/yes/on or 0/false/no/off)",
        opts_out=True,
        exists=True,
    )


def read_do_not_track(env: Mapping[str, str]) -> SourceReport:
    """``DO_NOT_TRACK``: any value but "", "0" or "false" disables."""
    raw = env.get(DO_NOT_TRACK_ENV)
    if raw is None:
        return SourceReport(DO_NOT_TRACK_ENV, "environment", None, None, opts_out=False)
    opts_out = raw.strip().lower() not in _DNT_NEUTRAL
    return SourceReport(DO_NOT_TRACK_ENV, "environment", raw, None, opts_out=opts_out, exists=True)


def _file_report(name: Literal["project", "global"], reading: Reading | None) -> SourceReport:
    if reading is None:
        return SourceReport(name, "not read", None, None, opts_out=False)
    return SourceReport(
        name,
        reading.location,
        reading.value,
        reading.error,
        reading.opts_out,
        reading.exists,
        reading.note,
    )


def decide(
    env: Mapping[str, str],
    project: Reading | None = None,
    global_: Reading | None = None,
) -> Decision:
    """Decide whether telemetry is enabled.

    Args:
        env: the environment (only the two telemetry variables are looked at).
        project: what the project file (or the host's parsed setting) said; None if unknown.
        global_: what the global file said; None if unknown.
    """
    sources = (
        read_disabled_env(env),
        read_do_not_track(env),
        _file_report("project", project),
        _file_report("global", global_),
    )
    for report in sources:
        if report.opts_out:
            return Decision(enabled=False, decided_by=report.name, sources=sources)
    return Decision(enabled=True, decided_by="default", sources=sources)

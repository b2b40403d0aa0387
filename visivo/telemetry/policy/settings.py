"""Placeholder: replaced by the consent-settings branch."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import attrs

from visivo.telemetry.policy.optout import Reading

GLOBAL_KEY: Final = "telemetry_enabled"
PROJECT_FILE: Final = "project.visivo.yml"


class SettingsError(Exception):
    """A config file could not be edited."""


@attrs.frozen
class GlobalSettings:
    """What the global file holds."""

    reading: Reading
    endpoint: str | None = None
    endpoint_error: str | None = None
    notice_shown: bool = False


def global_config_path(home: Path) -> Path:
    """~/.visivo/config.yml."""
    return home / ".visivo" / "config.yml"


def project_config_path(project_dir: Path) -> Path:
    """project.visivo.yml in the project dir."""
    return project_dir / PROJECT_FILE


def read_global(path: Path) -> GlobalSettings:
    """Read the global file."""
    return GlobalSettings(Reading(str(path)))


def read_project(path: Path) -> Reading:
    """Read the project file."""
    return Reading(str(path))


def reading_from_value(value: object, location: str) -> Reading:
    """A reading from a value the host parsed."""
    if isinstance(value, bool):
        return Reading(location, value=value, exists=True)
    return Reading(location, error="not a boolean", exists=True)


def set_global_enabled(path: Path, enabled: bool) -> None:
    """Placeholder."""
    raise SettingsError(f"{path}: editing is not available yet")


def set_project_enabled(path: Path, enabled: bool) -> None:
    """Placeholder."""
    raise SettingsError(f"{path}: editing is not available yet")

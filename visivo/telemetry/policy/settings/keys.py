"""The names, limits and small types shared by every room of the settings package."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import attrs

from visivo.telemetry.policy.optout import Reading

GLOBAL_KEY: Final = "telemetry_enabled"
ENDPOINT_KEY: Final = "telemetry_endpoint"
NOTICE_KEY: Final = "telemetry_notice_shown"
PROJECT_FILE: Final = "project.visivo.yml"
MAX_FILE_BYTES: Final = 1024 * 1024

DEFAULTS_KEY: Final = "defaults"
STR_TAG: Final = "tag:yaml.org,2002:str"
BOOL_TAG: Final = "tag:yaml.org,2002:bool"
NULL_TAG: Final = "tag:yaml.org,2002:null"
MERGE_TAG: Final = "tag:yaml.org,2002:merge"
SHORT: Final = 60  # characters of a bad value quoted back in an error


class SettingsError(Exception):
    """A settings file could not be changed; ``str()`` is one line naming the file."""


@attrs.frozen
class GlobalSettings:
    """What the global file says.

    Attributes:
        reading: ``telemetry_enabled``, or the problem that made the file unusable.
        endpoint: ``telemetry_endpoint`` when it is a string, else None.
        endpoint_error: why a present ``telemetry_endpoint`` was ignored, else None.
        notice_shown: whether ``telemetry_notice_shown`` is ``true``.
    """

    reading: Reading
    endpoint: str | None = None
    endpoint_error: str | None = None
    notice_shown: bool = False


def global_config_path(home: Path) -> Path:
    """The global config file under a home directory: ``home/.visivo/config.yml``."""
    return home / ".visivo" / "config.yml"


def project_config_path(project_dir: Path) -> Path:
    """The project file of a project directory."""
    return project_dir / PROJECT_FILE


class Problem(Exception):
    """Internal: a one-line description of why a file cannot be used."""

    def __init__(self, message: str, *, exists: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.exists = exists

"""The names, limits and small types shared by every room of the settings package."""

from __future__ import annotations

from collections.abc import Sequence
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
# A project file the fast path cannot vouch for is parsed in full only up to this size:
# ruamel's pure-Python parser needs about half a second for 128 KiB.
FULL_PARSE_MAX_BYTES: Final = 128 * 1024
# How far (Levenshtein, after folding case, "_" and "-") a key may be from
# ``telemetry_enabled`` and still be read as a misspelling of it.
NEAR_DISTANCE: Final = 2


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


@attrs.frozen
class Found:
    """What a file says about ``telemetry_enabled``: the value, and a note for ``status``."""

    value: bool | None
    note: str | None = None


def fold_key(key: str) -> str:
    """A key without case, ``_`` or ``-``: ``Telemetry-Enabled`` and ``telemetryEnabled``
    fold to ``telemetryenabled``."""
    return key.lower().replace("_", "").replace("-", "")


_FOLDED: Final = fold_key(GLOBAL_KEY)
# Any text within NEAR_DISTANCE edits of _FOLDED keeps one of NEAR_DISTANCE + 1 pieces of
# it intact (each edit touches one piece), so a text holding none of them holds no key
# that is_enabled_key accepts.
_PIECE: Final = -(-len(_FOLDED) // (NEAR_DISTANCE + 1))
_PIECES: Final = tuple(_FOLDED[i : i + _PIECE] for i in range(0, len(_FOLDED), _PIECE))


def is_enabled_key(key: str) -> bool:
    """Whether a key is ``telemetry_enabled`` or a near spelling of it (see NEAR_DISTANCE)."""
    return key == GLOBAL_KEY or _within(fold_key(key), _FOLDED, NEAR_DISTANCE)


def may_mention_key(text: str) -> bool:
    """False only when no key in ``text`` can be ``telemetry_enabled`` or a near spelling.

    A cheap textual check: it looks at the characters, not at YAML, so a key spelled with
    escape sequences or folded over several lines is not seen.
    """
    folded = fold_key(text)
    return any(piece in folded for piece in _PIECES)


def _within(a: str, b: str, limit: int) -> bool:
    """Whether the Levenshtein distance between ``a`` and ``b`` is at most ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


def combine(entries: Sequence[tuple[str, bool]]) -> Found:
    """The verdict of a mapping's ``telemetry_enabled`` entries, exact or misspelt.

    ``entries`` holds (key as written, value). A misspelt ``false`` is the opt-out it means;
    a misspelt ``true`` enables nothing. Either way the note asks to fix the spelling.
    """
    value: bool | None = None
    notes: list[str] = []
    for key, flag in entries:
        if key == GLOBAL_KEY:
            value = flag if value is None else value  # already False: a misspelt opt-out
        elif flag:
            notes.append(f"ignored `{key}: true`, only `{GLOBAL_KEY}: true` counts")
        else:
            value = False
            notes.append(f"read `{key}` as `{GLOBAL_KEY}`")
    if not notes:
        return Found(value)
    return Found(value, "; ".join(notes) + "; fix the spelling")

"""What a host program needs beyond the three calls: its version, and its config writer.

The version events carry in ``visivo_version`` is, in order: what the host passed to
``start(host_version=...)``, else the version of the installed ``visivo`` distribution,
else this package's own. A value that would not pass the schema's checks is never sent:
the next source is used, and the problem is kept so that ``status`` can show it.

A host that rewrites ``~/.visivo/config.yml`` from its own preferences must carry the
telemetry keys over (:func:`keep_telemetry_settings`), or a user's opt-out is lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final, Literal

import attrs

from visivo.telemetry._version import __version__
from visivo.telemetry.schema import Metadata

__all__ = [
    "HOST_DISTRIBUTION",
    "VersionChoice",
    "VersionSource",
    "choose_version",
    "installed_version",
    "keep_telemetry_settings",
]

# The distribution whose version a host that passes none is taken to be (Visivo's).
HOST_DISTRIBUTION: Final = "visivo"

VersionSource = Literal["host_version", "distribution", "visivo-telemetry"]

_FIELD: Final = attrs.fields(Metadata).visivo_version.metadata["constraints"]
_PATTERN: Final = re.compile(_FIELD["pattern"])
_MAX_LENGTH: Final[int] = _FIELD["max_length"]


@attrs.frozen
class VersionChoice:
    """The version events carry, where it came from, and what went wrong on the way."""

    version: str
    source: VersionSource
    problems: tuple[str, ...] = ()


def _problem(value: object, where: str) -> str | None:
    if not isinstance(value, str):
        return f"{where} is a {type(value).__name__}, not a version string"
    if len(value) > _MAX_LENGTH or not _PATTERN.fullmatch(value):
        shown = value if len(value) <= _MAX_LENGTH else value[:_MAX_LENGTH] + "..."
        return f"{where} {shown!r} is not a version (digits first, at most {_MAX_LENGTH} chars)"
    return None


def choose_version(explicit: object, installed: Callable[[], object]) -> VersionChoice:
    """Pick the version to send.

    Args:
        explicit: what the host passed as ``host_version`` (None when nothing).
        installed: returns the ``visivo`` distribution's version, None when it is not
            installed; it may raise, which counts as a problem, never as a failure.
    """
    problems: list[str] = []
    if explicit is not None:
        problem = _problem(explicit, "host_version")
        if problem is None:
            return VersionChoice(str(explicit), "host_version")
        problems.append(problem)
    try:
        found = installed()
    except Exception as error:  # noqa: BLE001 - broken metadata must not stop telemetry
        found = None
        problems.append(
            f"the {HOST_DISTRIBUTION} distribution's version could not be read: "
            f"{type(error).__name__}: {error}"
        )
    if found is not None:
        problem = _problem(found, f"the {HOST_DISTRIBUTION} distribution's version")
        if problem is None:
            return VersionChoice(str(found), "distribution", tuple(problems))
        problems.append(problem)
    return VersionChoice(__version__, "visivo-telemetry", tuple(problems))


def installed_version() -> object:
    """The installed ``visivo`` distribution's version; None when it is not installed.

    Raises:
        ValueError: the distribution is installed but its metadata holds no version.
    """
    from importlib import metadata  # only when enabled: a disabled start never loads it

    try:
        found = metadata.distribution(HOST_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    # Typed str, but None when the metadata file is missing or unreadable.
    version: object = found.version
    if version is None:
        raise ValueError("no version in its metadata")
    return version


def keep_telemetry_settings(
    current: Mapping[str, object], rewritten: Mapping[str, object]
) -> dict[str, object]:
    """What a host should write to the global file: ``rewritten`` plus the telemetry keys.

    Args:
        current: the global file's top-level mapping as it is now (as the host read it).
        rewritten: what the host is about to write instead.

    Returns:
        ``rewritten`` with every telemetry key of ``current`` that it lacks
        (``telemetry_enabled``, ``telemetry_endpoint``, ``telemetry_notice_shown``),
        after its own keys; keys ``rewritten`` sets itself are left as they are.
    """
    # Imported here: the key names live beside the YAML reader, which a disabled start
    # never loads.
    from visivo.telemetry.policy.settings import ENDPOINT_KEY, GLOBAL_KEY, NOTICE_KEY

    kept = {ENDPOINT_KEY, GLOBAL_KEY, NOTICE_KEY} - rewritten.keys()
    merged = dict(rewritten)
    merged.update((key, value) for key, value in current.items() if key in kept)
    return merged

"""Resolve what a process is configured to do: the environment and config files, read once.

The I/O edge of the runtime: :func:`read_settings` reads the environment and the two
config files (through :mod:`visivo.telemetry.policy.settings`) and returns plain data;
the pure opt-out decision is :func:`visivo.telemetry.policy.optout.decide`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from visivo.telemetry.policy.optout import Decision, Reading, decide
from visivo.telemetry.sinks.registry import DEFAULT_SINK

if TYPE_CHECKING:
    from visivo.telemetry.policy import settings

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_SINK",
    "ENDPOINT_ENV",
    "ENDPOINT_SINK",
    "SINK_ENV",
    "UNSET",
    "ProjectLocation",
    "Settings",
    "choose_sink",
    "home_dir",
    "locate_project",
    "read_settings",
    "working_dir",
]

SINK_ENV: Final = "VISIVO_TELEMETRY_SINK"
ENDPOINT_ENV: Final = "VISIVO_TELEMETRY_ENDPOINT"
# The http sink has no built-in destination: it sends only where the user points it.
DEFAULT_ENDPOINT: Final = ""
# Without VISIVO_TELEMETRY_SINK: the native http sink when the user configured an endpoint
# of their own (their collector), else PostHog, where Visivo's telemetry goes.
ENDPOINT_SINK: Final = "http"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@attrs.frozen
class Settings:
    """Everything read from the environment and the config files, once.

    ``sink_spec`` is the sinks to build, and ``sink_source`` why: ``VISIVO_TELEMETRY_SINK``,
    or the default chosen by :func:`choose_sink`.
    """

    decision: Decision
    sink_spec: str
    endpoint: str
    endpoint_source: str
    global_settings: settings.GlobalSettings | None
    sink_source: str = SINK_ENV


def home_dir(env: Mapping[str, str]) -> Path:
    """The home directory holding ``.visivo/config.yml``: ``HOME``, else ``USERPROFILE``."""
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def working_dir() -> Path | None:
    """The current working directory, or None when it no longer exists."""
    try:
        return Path.cwd()
    except OSError:  # FileNotFoundError when it was removed; a process can live on in it
        return None


@attrs.frozen
class ProjectLocation:
    """Which project file applies, or why none does.

    Attributes:
        path: the ``project.visivo.yml`` to read; None when none applies.
        missing: when ``path`` is None, where it was looked for (``status`` shows it).
    """

    path: Path | None
    missing: str = ""


def locate_project(
    project_dir: str | os.PathLike[str] | None, *, home: Path, cwd: Path | None
) -> ProjectLocation:
    """The project file of ``project_dir``, or else the nearest one from ``cwd`` up.

    A directory the host names is used as it is. Otherwise the search starts in ``cwd``
    (the working directory, None when it was removed) and goes up, as git looks for
    ``.git``: it stops at the first directory holding a project file, at ``home`` (still
    searched) or at the root.
    """
    from visivo.telemetry.policy.settings import PROJECT_FILE, project_config_path

    if project_dir is not None:
        return ProjectLocation(project_config_path(Path(project_dir)))
    if cwd is None:
        return ProjectLocation(None, "no working directory (it was removed)")
    tops = {home, Path(os.path.realpath(home))}
    for directory in (cwd, *cwd.parents):
        candidate = project_config_path(directory)
        if os.path.lexists(candidate):
            return ProjectLocation(candidate)
        if directory in tops:
            break
    where = f"in {cwd}" if directory == cwd else f"from {cwd} up to {directory}"
    return ProjectLocation(None, f"no {PROJECT_FILE} {where}")


def read_settings(
    project_dir: str | os.PathLike[str] | None = None,
    *,
    project_setting: object = UNSET,
    env: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    read_files: bool = True,
) -> Settings:
    """Read the environment and config files into :class:`Settings` (the I/O edge).

    With ``read_files=False`` the files are read only when the environment has not
    already opted out, so a disabled process opens no file.
    """
    env = os.environ if env is None else env
    env_only = decide(env)
    if not read_files and not env_only.enabled:
        return Settings(env_only, env.get(SINK_ENV, ""), "", "not read", None)
    # Imported here, not at the top: a process disabled by its environment never loads
    # the YAML stack.
    from visivo.telemetry.policy import settings

    home_path = Path(home) if home is not None else home_dir(env)
    global_settings = settings.read_global(settings.global_config_path(home_path))
    project: Reading
    if project_setting is not UNSET:
        project = settings.reading_from_value(project_setting, "passed by the host")
    else:
        located = locate_project(project_dir, home=home_path, cwd=working_dir())
        if located.path is None:
            project = Reading(located.missing)
        else:
            project = settings.read_project(located.path)
    decision = decide(env, project, global_settings.reading)
    endpoint, source = _choose_endpoint(env, global_settings)
    sink_spec, sink_source = choose_sink(env.get(SINK_ENV, ""), source)
    return Settings(decision, sink_spec, endpoint, source, global_settings, sink_source)


def choose_sink(spec: str, endpoint_source: str) -> tuple[str, str]:
    """The sink spec to build and where it came from (pure).

    ``VISIVO_TELEMETRY_SINK`` when set; else ``http`` when the user configured an endpoint
    (even a broken one: it then sends nowhere rather than elsewhere); else ``posthog``.
    """
    if spec.strip():
        return spec, SINK_ENV
    if endpoint_source != "default":
        return ENDPOINT_SINK, "default (an endpoint is configured)"
    return DEFAULT_SINK, "default"


def _choose_endpoint(
    env: Mapping[str, str], global_settings: settings.GlobalSettings
) -> tuple[str, str]:
    from_env = env.get(ENDPOINT_ENV, "").strip()
    if from_env:
        return from_env, ENDPOINT_ENV
    if global_settings.endpoint_error is not None:
        # The user meant another endpoint: send nowhere rather than to the default.
        return "", "global"
    if global_settings.endpoint:
        return global_settings.endpoint, "global"
    return DEFAULT_ENDPOINT, "default"

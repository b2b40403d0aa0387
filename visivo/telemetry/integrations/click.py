"""Instrument a click group: every subcommand becomes a tracked command.

``instrument(cli)`` tracks each run of the CLI as one ``command_finished`` event, named
by the command's path below the root group (``"run"``, ``"db migrate"``,
``"telemetry status"`` when a group is mounted in another). Inside a command, set
``visivo.events.current_command().jobs = 12`` (or ``.object_counts``) for its event.

How it works, and why it changes no behaviour:

- The instrumented group's ``invoke`` is wrapped (an instance attribute): the whole run,
  subcommand parsing included, happens inside one :func:`~visivo.events.track_command`.
  The exception that ends it is re-raised as the very same object, so click handles
  ``UsageError``, ``Abort``, ``Exit`` and everything else exactly as before.
- Each group's ``resolve_command`` and each resolved command's ``invoke`` are wrapped
  lazily, the first time they are reached during an instrumented run, so nested and
  lazily loaded groups are covered. The wrappers only record; outside an instrumented
  run they do nothing.
- The path is built from the commands click resolved (never from what the user typed),
  at the depth of the context that resolved them, so a group instrumented on its own and
  later mounted in another instrumented group is tracked once, under the full path.
- Nothing is sent for ``--help``, ``--version``, ``no_args_is_help`` and other eager
  options that exit with code 0 while the arguments are parsed (before the command's
  ``invoke`` is reached), nor for shell completion (click answers it before ``invoke``
  and with ``resilient_parsing``), nor for commands marked :func:`untracked`, nor when no
  subcommand was resolved (an unknown command name is never sent).
- ``ctx.invoke``/``ctx.forward`` call the other command's callback directly, so the run
  stays one event under the command the user ran.
- With ``project_dir_option``, the named option's parsed value (a command's own, e.g.
  ``visivo run -w DIR``, or a group's) is handed to :func:`visivo.telemetry.use_project`
  when that command's ``invoke`` is reached, before its body runs, so the project's
  opt-out applies to this very run. Only when the host started telemetry.
- When the host mounted our ``telemetry`` group in the instrumented group, the runtime
  learns how (``visivo telemetry``), so the first-run notice names it that way.

Not thread-safe across one run: a run belongs to the context (``contextvars``) it
started in.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final, TypeVar

import attrs
import click

from visivo.events.tracking import track_command

__all__ = ["instrument", "is_untracked", "untracked"]

_G = TypeVar("_G", bound=click.Group)
_C = TypeVar("_C", bound=click.Command)

_UNTRACKED: Final = "_visivo_telemetry_untracked"
# Markers on our wrappers: a watched method only records, a tracked ``invoke`` also tracks.
_WATCHED: Final = "_visivo_telemetry_watched"
_TRACKED: Final = "_visivo_telemetry_tracked"
# On an instrumented group: the name of the option that holds the project directory.
_PROJECT_OPTION: Final = "_visivo_telemetry_project_dir_option"
# Raised by click >= 8.2 for a group or command run without arguments that shows help.
_NoArgsIsHelpError: Final[type[BaseException] | None] = getattr(
    click.exceptions, "NoArgsIsHelpError", None
)


@attrs.define
class _Run:
    """What one instrumented run learned so far."""

    path: list[str]
    # Whether the last resolved command's own ``invoke`` was entered: parsing is over.
    reached_invoke: bool = False
    untracked: bool = False
    # The parameter holding the project directory, if the host named one.
    project_option: str | None = None


_run: ContextVar[_Run | None] = ContextVar("visivo_click_run", default=None)


def untracked(command: _C) -> _C:
    """Mark a command (or a whole group) so that running it sends nothing.

    Usable as a decorator above ``@group.command()``; returns the same command.
    """
    setattr(command, _UNTRACKED, True)
    return command


def is_untracked(command: click.Command) -> bool:
    """Whether :func:`untracked` marked this command."""
    return bool(getattr(command, _UNTRACKED, False))


def _level(ctx: click.Context) -> int:
    """How many contexts lie between ``ctx`` and the root context (0 for the root)."""
    level = 0
    parent = ctx.parent
    while parent is not None:
        level += 1
        parent = parent.parent
    return level


def _path_to(ctx: click.Context) -> list[str]:
    """The command names from below the root context down to ``ctx``."""
    names: list[str] = []
    current: click.Context | None = ctx
    while current is not None and current.parent is not None:
        names.append(current.command.name or current.info_name or "")
        current = current.parent
    names.reverse()
    return names


def _wrap_once(obj: object, name: str, make: Callable[[Any], Any], marker: str) -> None:
    original = getattr(obj, name)
    if getattr(original, marker, False):
        return
    wrapper = make(original)
    setattr(wrapper, marker, True)
    setattr(obj, name, wrapper)


def _watch_resolution(group: click.Group) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def resolve_command(
            ctx: click.Context, args: list[str]
        ) -> tuple[str | None, click.Command | None, list[str]]:
            name, command, rest = original(ctx, args)
            run = _run.get()
            if run is not None and command is not None:
                run.path[_level(ctx) :] = [command.name or name or ""]
                run.reached_invoke = False
                run.untracked = run.untracked or is_untracked(command)
                _watch(command)
            return name, command, rest

        return resolve_command

    _wrap_once(group, "resolve_command", make, _WATCHED)


def _watch_invoke(command: click.Command) -> None:
    def make(original: Callable[[click.Context], Any]) -> Callable[[click.Context], Any]:
        def invoke(ctx: click.Context) -> Any:
            run = _run.get()
            if run is not None:
                run.reached_invoke = True
                _use_project(ctx, run)
            return original(ctx)

        return invoke

    _wrap_once(command, "invoke", make, _WATCHED)


def _watch(command: click.Command) -> None:
    if isinstance(command, click.Group):
        _watch_resolution(command)
    _watch_invoke(command)


def _is_help(error: BaseException | None, run: _Run) -> bool:
    """Whether the run ended by showing help or a version while parsing."""
    if error is None:
        return False
    if _NoArgsIsHelpError is not None and isinstance(error, _NoArgsIsHelpError):
        return True
    return (
        isinstance(error, click.exceptions.Exit) and error.exit_code == 0 and not run.reached_invoke
    )


def _use_project(ctx: click.Context, run: _Run) -> None:
    """Tell the runtime the project directory this command was given, if any."""
    option = run.project_option
    if option is None:
        return
    from visivo.telemetry import runtime

    try:
        value = ctx.params.get(option)
        if value is not None and runtime.started():
            runtime.use_project(value)
    except Exception:  # noqa: BLE001 - telemetry never reaches the host
        runtime.count_error("click")


def _note_mount(ctx: click.Context) -> None:
    """Tell the runtime how ``ctx``'s group mounts our ``telemetry`` group, if it does."""
    # Our group can be mounted only once its module is loaded; never load it here.
    ours = getattr(sys.modules.get("visivo.telemetry.cli"), "telemetry", None)
    group = ctx.command
    if ours is None or group is ours or not isinstance(group, click.Group):
        return
    for name, command in group.commands.items():
        if command is ours:
            from visivo.telemetry import runtime

            runtime.note_mounted_name(f"{ctx.command_path} {name}")
            return


def _tracked_invoke(original: Callable[[click.Context], Any]) -> Callable[[click.Context], Any]:
    def invoke(ctx: click.Context) -> Any:
        outer = _run.get()
        if outer is not None:
            # Mounted in a group that is already tracking this run.
            outer.reached_invoke = True
            _use_project(ctx, outer)
            return original(ctx)
        from visivo.telemetry.runtime import count_error

        run = _Run(
            path=_path_to(ctx),
            untracked=is_untracked(ctx.command),
            project_option=getattr(ctx.command, _PROJECT_OPTION, None),
        )
        try:
            _note_mount(ctx)
        except Exception:  # noqa: BLE001 - telemetry never reaches the host
            count_error("click")
        _use_project(ctx, run)
        tracking = track_command("")
        tracker = tracking.__enter__()
        token = _run.set(run)
        try:
            return original(ctx)
        finally:
            _run.reset(token)
            error = sys.exc_info()[1]
            tracker.command = " ".join(run.path)
            if not run.path or run.untracked or ctx.resilient_parsing or _is_help(error, run):
                tracker.discard()
            try:
                if error is None:
                    tracking.__exit__(None, None, None)
                else:
                    tracking.__exit__(type(error), error, error.__traceback__)
            except Exception:  # noqa: BLE001 - a receiver's failure never reaches click
                count_error("click")

    setattr(invoke, _WATCHED, True)  # it records what a watched ``invoke`` records
    return invoke


def instrument(group: _G, *, project_dir_option: str | None = None) -> _G:
    """Track every subcommand of ``group`` as a command; returns the same group.

    Idempotent. When an instrumented group runs inside another instrumented group, only
    the outermost one tracks, under the full path.

    Args:
        group: the root group of the CLI.
        project_dir_option: the parameter name (``"working_dir"`` for ``-w DIR``) whose
            value is the project directory: before a command with that option runs,
            :func:`visivo.telemetry.use_project` decides again with it.
    """
    if not isinstance(group, click.Group):
        raise ValueError(f"instrument() takes a click.Group, not {type(group).__name__}")
    if project_dir_option is not None:
        setattr(group, _PROJECT_OPTION, project_dir_option)
    _watch_resolution(group)
    _wrap_once(group, "invoke", _tracked_invoke, _TRACKED)
    return group

"""Instrument a click group: every subcommand becomes a tracked command.

``instrument(cli)`` tracks each invocation under the command's path below the root
group (``"run"``, ``"db migrate"``). Parsing failures (``UsageError``) are tracked with
the path resolved so far; ``--help``, ``--version`` and shell completion send nothing.
Inside a command, set ``visivo.events.current_command().jobs`` (or ``object_counts``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final, TypeVar

import attrs
import click

from visivo.events.tracking import CommandTracker, track_command

__all__ = ["instrument", "is_untracked", "untracked"]

_G = TypeVar("_G", bound=click.Group)
_C = TypeVar("_C", bound=click.Command)

_UNTRACKED: Final = "_visivo_telemetry_untracked"
_WRAPPED: Final = "_visivo_telemetry_wrapped"


@attrs.define
class _Run:
    root: click.Context | None
    tracker: CommandTracker
    path: list[str] = attrs.field(factory=list)
    reached_callback: bool = False
    untracked: bool = False


_run: ContextVar[_Run | None] = ContextVar("visivo_click_run", default=None)


def untracked(command: _C) -> _C:
    """Mark a command (or a whole group) so that running it sends nothing."""
    setattr(command, _UNTRACKED, True)
    return command


def is_untracked(command: click.Command) -> bool:
    """Whether :func:`untracked` marked this command."""
    return bool(getattr(command, _UNTRACKED, False))


def _depth(ctx: click.Context | None) -> int:
    depth = 0
    while ctx is not None:
        depth += 1
        ctx = ctx.parent
    return depth


def _wrap_once(obj: object, name: str, make: Callable[[Any], Any]) -> None:
    original = getattr(obj, name)
    if getattr(original, _WRAPPED, False):
        return
    wrapper = make(original)
    setattr(wrapper, _WRAPPED, True)
    setattr(obj, name, wrapper)


def _watch_resolution(group: click.Group) -> None:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def resolve_command(
            ctx: click.Context, args: list[str]
        ) -> tuple[str | None, click.Command | None, list[str]]:
            name, command, rest = original(ctx, args)
            run = _run.get()
            if run is not None and command is not None:
                level = _depth(ctx) - _depth(run.root)
                run.path[level:] = [command.name or name or ""]
                run.untracked = run.untracked or is_untracked(command)
                _watch(command)
            return name, command, rest

        return resolve_command

    _wrap_once(group, "resolve_command", make)


def _watch_callback(command: click.Command) -> None:
    def make(original: Callable[[click.Context], Any]) -> Callable[[click.Context], Any]:
        def invoke(ctx: click.Context) -> Any:
            run = _run.get()
            if run is not None:
                run.reached_callback = True
            return original(ctx)

        return invoke

    _wrap_once(command, "invoke", make)


def _watch(command: click.Command) -> None:
    if isinstance(command, click.Group):
        _watch_resolution(command)
    else:
        _watch_callback(command)


def instrument(group: _G) -> _G:
    """Track every subcommand of ``group`` as a command; returns the same group.

    Idempotent. When an instrumented group is mounted inside another instrumented
    group, only the outermost one tracks, under the full path.
    """
    if getattr(group.invoke, _WRAPPED, False):
        return group
    _watch_resolution(group)
    original = group.invoke

    def invoke(ctx: click.Context) -> Any:
        if _run.get() is not None:
            return original(ctx)
        with track_command("") as tracker:
            run = _Run(root=ctx, tracker=tracker)
            token = _run.set(run)
            try:
                return original(ctx)
            except click.exceptions.Exit:
                # --help / --version on a subcommand exit while parsing, before the
                # callback: nothing ran, so nothing is tracked.
                if not run.reached_callback:
                    tracker.discard()
                raise
            finally:
                _run.reset(token)
                tracker.command = " ".join(run.path)
                if not run.path or run.untracked:
                    tracker.discard()

    setattr(invoke, _WRAPPED, True)
    group.invoke = invoke  # type: ignore[method-assign]
    return group

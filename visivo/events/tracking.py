"""``track_command``: time a command and announce how it ended."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import ParamSpec, TypeVar

from visivo.events.signals import command_finished, command_started

__all__ = ["CommandTracker", "current_command", "track_command"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_current: ContextVar[CommandTracker | None] = ContextVar("visivo_current_command", default=None)


class CommandTracker:
    """What a running command may add to its ``command_finished`` event.

    Set ``jobs`` (``run``) or ``object_counts`` (``compile``) while the command runs.
    """

    __slots__ = ("command", "discarded", "jobs", "object_counts")

    def __init__(self, command: str) -> None:
        self.command = command
        self.jobs: int | None = None
        self.object_counts: Mapping[str, int] | None = None
        self.discarded = False

    def discard(self) -> None:
        """Send no ``command_finished`` for this run (``--help``, an excluded command)."""
        self.discarded = True


def current_command() -> CommandTracker:
    """The innermost command being tracked in this context.

    Outside any tracked command this returns a detached tracker, so setting ``jobs``
    there is harmless and sends nothing.
    """
    tracker = _current.get()
    return tracker if tracker is not None else CommandTracker("")


def _is_zero(code: object) -> bool:
    """Whether an exit code makes Python exit with status 0; runs none of the code's methods.

    ``None`` and any ``int`` equal to 0 (``False`` included) exit 0, as the interpreter
    decides; the comparison is ``int``'s own, so a code whose ``==`` raises is not asked.
    """
    return code is None or (isinstance(code, int) and int.__eq__(code, 0) is True)


def _is_clean_exit(error: BaseException) -> bool:
    """Whether an exception only carries exit code 0 (``sys.exit(0)``, click's ``Exit(0)``).

    No comparison of the host's code object runs here, so the host always gets its
    exception back unchanged.
    """
    if isinstance(error, SystemExit):
        return _is_zero(error.code)
    click_exceptions = sys.modules.get("click.exceptions")
    exit_type = getattr(click_exceptions, "Exit", None)
    if isinstance(exit_type, type) and isinstance(error, exit_type):
        return _is_zero(getattr(error, "exit_code", 1))
    return False


class track_command:
    """Time a command and send ``command_finished`` when it ends.

    Use as ``with track_command("run") as cmd: ...`` (then ``cmd.jobs = 12``) or as a
    decorator ``@track_command("run")``. The exception that ends the block always
    propagates; ``SystemExit(0)`` and click's ``Exit(0)`` count as success, every other
    exception (``KeyboardInterrupt``, ``click.Abort``, a non-zero exit) as failure.
    """

    __slots__ = ("_name", "_start", "_token", "_tracker")

    def __init__(self, name: str) -> None:
        self._name = name
        self._tracker: CommandTracker | None = None
        self._token: Token[CommandTracker | None] | None = None
        self._start = 0.0

    def __enter__(self) -> CommandTracker:
        tracker = CommandTracker(self._name)
        self._tracker = tracker
        self._token = _current.set(tracker)
        if command_started.receivers:
            command_started.send(tracker, command=self._name)
        self._start = time.perf_counter()
        return tracker

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration_ms = (time.perf_counter() - self._start) * 1000.0
        tracker = self._tracker
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        if tracker is None or tracker.discarded or not command_finished.receivers:
            return
        success = exc is None or _is_clean_exit(exc)
        command_finished.send(
            tracker,
            command=tracker.command,
            duration_ms=duration_ms,
            success=success,
            error=None if success else exc,
            jobs=tracker.jobs,
            object_counts=tracker.object_counts,
        )

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        """Track every call of ``func`` as one command."""
        name = self._name

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with track_command(name):
                return func(*args, **kwargs)

        return wrapper

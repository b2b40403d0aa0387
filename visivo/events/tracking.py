"""``track_command``: time a command and announce how it ended."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar

from visivo.events.signals import COMMAND_FINISHED_KEYWORDS, command_finished, command_started

__all__ = ["TRACKER_FIELDS", "CommandTracker", "current_command", "track_command"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_current: ContextVar[CommandTracker | None] = ContextVar("visivo_current_command", default=None)


# What track_command measures itself; every other command_finished keyword is a field
# that the running command may set on its tracker.
_MEASURED: Final = frozenset({"command", "duration_ms", "success", "error"})
TRACKER_FIELDS: Final = tuple(name for name in COMMAND_FINISHED_KEYWORDS if name not in _MEASURED)
_OWN_ATTRIBUTES: Final = frozenset({"command", "discarded"})
_ADDING_A_FIELD: Final = "see CONTRIBUTING 'Adding a field'"

# Field names already warned about, so each is reported once per process.
_warned: set[str] = set()


def _warn_unknown(name: str) -> None:
    """Say once on stderr that a command set a field that is not in the schema."""
    if name in _warned:
        return
    _warned.add(name)
    stream = sys.stderr
    if stream is None:  # pythonw: nowhere to say it
        return
    try:
        stream.write(
            f"visivo.events: current_command().{name} is not in the schema; "
            f"{_ADDING_A_FIELD}. It is not sent.\n"
        )
    except (OSError, ValueError):  # a closed stderr: the host must still go on
        return


class CommandTracker:
    """What a running command may add to its ``command_finished`` event.

    Set a field while the command runs: ``jobs`` (``run``) or ``object_counts``
    (``compile``); :data:`TRACKER_FIELDS` lists them all. Setting a name that is not a
    field warns once on stderr and is ignored: the command goes on and nothing is sent
    for it. Reading a field that was not set gives ``None``.
    """

    __slots__ = ("_fields", "command", "discarded")

    command: str
    discarded: bool

    def __init__(self, command: str) -> None:
        object.__setattr__(self, "command", command)
        object.__setattr__(self, "discarded", False)
        object.__setattr__(self, "_fields", {})

    def __getattr__(self, name: str) -> Any:
        if name in TRACKER_FIELDS:
            return self._fields.get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in TRACKER_FIELDS:
            self._fields[name] = value
        elif name in _OWN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            _warn_unknown(name)

    def fields(self) -> dict[str, Any]:
        """Every field's value, ``None`` for those not set: the keywords sent with the event."""
        return {name: self._fields.get(name) for name in TRACKER_FIELDS}

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
            **tracker.fields(),
        )

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        """Track every call of ``func`` as one command."""
        name = self._name

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with track_command(name):
                return func(*args, **kwargs)

        return wrapper

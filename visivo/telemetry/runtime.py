"""The one active pipeline: receivers → policy → batcher → sink.

All global state of the telemetry package lives here, and :func:`reset` clears it.
``start`` reads the environment and config files once; when telemetry is disabled it
connects nothing, starts no thread and imports no network code. :func:`use_project`
decides again once the host knows its project; an opt-out learned that way drops what
is queued, and nothing more is sent by this process.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from visivo.events.signals import command_finished, command_started, request_finished
from visivo.telemetry import exit_signal, notice
from visivo.telemetry._version import __version__
from visivo.telemetry.counters import Counters, combine, delivery_counts, members
from visivo.telemetry.pipeline import Pipeline
from visivo.telemetry.policy.optout import Decision, decide
from visivo.telemetry.policy.scrub import Scrubbed, scrub_command, scrub_request
from visivo.telemetry.schema import (
    Metadata,
    mapping_keywords,
    prepare_wire,
)
from visivo.telemetry.settings import (
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    SINK_ENV,
    UNSET,
    Settings,
    home_dir,
    read_settings,
)
from visivo.telemetry.sinks.base import Sink
from visivo.telemetry.sinks.console import write_through
from visivo.telemetry.sinks.registry import CONSOLE_SINKS, ResolvedSink, resolve

if TYPE_CHECKING:
    from visivo.telemetry.host import VersionChoice

# Re-exported: these lived here before settings.py and counters.py took them.
__all__ = [
    "DEBUG_ENV",
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "EXIT_TIMEOUT_S",
    "SINK_ENV",
    "SINK_MARGIN_S",
    "Counters",
    "Settings",
    "active_sink",
    "capture_only",
    "command_name",
    "counters",
    "delivery_state_dir",
    "flush",
    "home_dir",
    "read_settings",
    "reset",
    "shutdown",
    "start",
    "start_with_sink",
    "started",
    "status",
    "use_project",
    "version_choice",
]

# What interpreter exit may wait for delivery, in total.
EXIT_TIMEOUT_S: Final = 0.9
# A sink told to finish by a deadline gets this much less, so that it can count its
# outcome (``timeout``) before the batcher stops waiting and counts ``exit_deadline``.
SINK_MARGIN_S: Final = 0.05
# Set to 1: every exception telemetry swallows also prints its traceback on stderr.
DEBUG_ENV: Final = "VISIVO_TELEMETRY_DEBUG"
# What a late opt-out may wait for a batch already being sent before it stops the pipeline.
WITHDRAW_TIMEOUT_S: Final = 0.2


# Keywords whose dict values are copied at capture (object_counts).
_MAPPING_KEYWORDS: Final = mapping_keywords()


@attrs.frozen
class _Given:
    """What the host passed to ``start``, kept so that ``use_project`` reads the same."""

    env: Mapping[str, str] | None = None
    home: str | os.PathLike[str] | None = None
    host_version: str | None = None
    command_name: str | None = None


_lock = threading.RLock()
_pipeline: Pipeline | None = None
_last: Pipeline | None = None
_errors: Counter[str] = Counter()
_atexit_registered = False
_debug = False
_sigterm_installed = False
# While set (by the pytest fixture), every pipeline sends here, whatever its settings.
_capture_only: ResolvedSink | None = None
# Set by the first start(); the latest decision; whether an opt-out came after start.
_given: _Given | None = None
_decision: Decision | None = None
_withdrawn = False
# The project directory the latest decision read (None: found from the working directory).
_project_dir: Path | None = None
# How a host mounted the ``telemetry`` group (``visivo telemetry``), seen by the click
# integration; start(command_name=...) overrides it.
_mounted_name: str | None = None
_version: VersionChoice | None = None


def count_error(where: str, error: BaseException | None = None) -> None:
    """Count an exception that telemetry swallowed, by where it happened.

    ``error`` defaults to the exception being handled. With ``VISIVO_TELEMETRY_DEBUG=1``
    its traceback is also printed on stderr, for whoever writes a sink or a plugin.
    """
    _errors[where] += 1
    if _debug:
        _print_traceback(where, error if error is not None else sys.exc_info()[1])


def _print_traceback(where: str, error: BaseException | None) -> None:
    if error is None:
        return
    import traceback  # only with the debug switch: it is not otherwise loaded

    try:
        text = "".join(traceback.format_exception(error))
        heading = f"visivo-telemetry: swallowed in {where} ({DEBUG_ENV}=1):\n"
        write_through(sys.stderr, heading + text)
    except Exception:  # noqa: BLE001 - counted directly: count_error would recurse
        _errors["debug"] += 1


def _read_debug(env: Mapping[str, str]) -> None:
    global _debug
    _debug = env.get(DEBUG_ENV, "").strip() == "1"


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except Exception:  # noqa: BLE001 - a closed or odd stderr is not a terminal
        count_error("isatty")
        return False


def _warn(message: str) -> None:
    try:
        write_through(sys.stderr, message + "\n")
    except Exception:  # noqa: BLE001 - a closed stderr must not break the host
        count_error("warn")


def _capture(scrub: Callable[[Mapping[str, Any]], Scrubbed], payload: dict[str, Any]) -> None:
    """Queue a payload for scrubbing on the batcher's thread, so the caller pays little.

    ``payload`` is the receiver's own ``**kwargs`` dict. The dicts of mapping keywords
    (``object_counts``) are copied, so the event holds what was true when it was sent.
    An exception is replaced by its class at once: only the class name is ever sent, and
    holding the instance would keep its traceback and every frame's locals alive until
    the batch goes out.
    """
    pipeline = _pipeline
    if pipeline is None:
        return
    if pipeline.notice_pending:
        _show_notice(pipeline)
    error = payload.get("error")
    if error is not None:
        payload["error"] = type(error) if isinstance(error, BaseException) else None
    for key in _MAPPING_KEYWORDS:
        # Copied now, as the host may change it before the batch is built. dict.copy runs
        # no code of a subclass and holds the GIL throughout, so it cannot fail halfway.
        value = payload.get(key)
        if isinstance(value, dict):
            payload[key] = dict.copy(value)
    pipeline.batcher.put((scrub, payload, time.time()))


def _show_notice(pipeline: Pipeline) -> None:
    """Print the first-run notice once and record it in the global file."""
    with _lock:
        if not pipeline.notice_pending:
            return
        pipeline.notice_pending = False
    global_settings = pipeline.settings.global_settings
    if global_settings is None:
        return
    _warn(notice.text(command_name()))
    from visivo.telemetry.policy import settings

    try:
        settings.mark_notice_shown(Path(global_settings.reading.location))
    except Exception:  # noqa: BLE001 - shown again next time rather than break the host
        count_error("notice")


def _on_command_started(sender: object, **payload: Any) -> None:
    """Warm the sink (load the HTTP stack) on the batcher's thread while the command runs."""
    try:
        pipeline = _pipeline
        if pipeline is not None and pipeline.warm is not None:
            pipeline.batcher.start()
    except Exception:  # noqa: BLE001 - telemetry never reaches the host
        count_error("command_started")


def _warmer(sink: Sink) -> Callable[[], None] | None:
    """What to run when the batcher's thread starts: every member sink's ``warm()``."""
    warms = [w for w in (getattr(m, "warm", None) for m in members(sink)) if callable(w)]
    if not warms:
        return None
    warms.append(prepare_wire)  # cattrs and the generated functions, before the first send

    def warm() -> None:
        for one in warms:
            try:
                one()
            except Exception:  # noqa: BLE001 - a failed warm-up only costs time later
                count_error("warm")

    return warm


def _on_command_finished(sender: object, **payload: Any) -> None:
    try:
        _capture(scrub_command, payload)
    except Exception:  # noqa: BLE001 - telemetry never reaches the host
        count_error("command_finished")


def _on_request_finished(sender: object, **payload: Any) -> None:
    try:
        _capture(scrub_request, payload)
    except Exception:  # noqa: BLE001 - telemetry never reaches the host
        count_error("request_finished")


_RECEIVERS: Final = (
    (command_started, _on_command_started),
    (command_finished, _on_command_finished),
    (request_finished, _on_request_finished),
)


def _install(pipeline_settings: Settings, resolved: ResolvedSink, *, decided: bool) -> None:
    global _pipeline, _last, _atexit_registered
    if _capture_only is not None:
        resolved = _capture_only
    sink = resolved.sink
    pipeline = Pipeline.create(
        pipeline_settings,
        resolved,
        make_metadata=_make_metadata,
        count_error=count_error,
        decided=decided,
        warm=_warmer(sink),
    )
    global_settings = pipeline_settings.global_settings
    pipeline.notice_pending = notice.should_show(
        enabled=pipeline_settings.decision.enabled,
        sink_names=resolved.names,
        notice_shown=global_settings is None or global_settings.notice_shown,
        stderr_is_tty=_stderr_is_tty(),
    )
    _pipeline = _last = pipeline
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False)
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


def version_choice() -> VersionChoice:
    """The version events carry (``visivo_version``), where it came from, and any problem.

    Chosen once per process: what the host passed to ``start(host_version=...)``, else
    the installed ``visivo`` distribution's, else this package's.
    """
    global _version
    choice = _version
    if choice is None:
        from visivo.telemetry import host  # only when enabled, or for status

        explicit = _given.host_version if _given is not None else None
        choice = host.choose_version(explicit, host.installed_version)
        if choice.problems:
            count_error("host_version")
        _version = choice
    return choice


def _make_metadata() -> Metadata:
    """Fresh process metadata (a new session id) carrying the host's version."""
    try:
        version = version_choice().version
    except Exception:  # noqa: BLE001 - send this package's version rather than nothing
        count_error("host_version")
        version = __version__
    return attrs.evolve(Metadata.for_this_process(), visivo_version=version)


def delivery_state_dir(found: Settings) -> Path | None:
    """Where network sinks keep their delivery state: beside the global config file."""
    if found.global_settings is None:
        return None
    return Path(found.global_settings.reading.location).parent


def start(
    project_dir: str | os.PathLike[str] | None = None,
    *,
    project_setting: object = UNSET,
    env: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    host_version: str | None = None,
    command_name: str | None = None,
) -> Decision:
    """Start telemetry for this process, once; later calls return the current decision.

    A later call that names a project (``project_dir`` or ``project_setting``) is
    :func:`use_project`; a later ``host_version`` or ``command_name`` replaces the first.

    Args:
        project_dir: the directory holding ``project.visivo.yml``; when None, the nearest
            one from the working directory up to the home directory or the root.
        project_setting: the project's ``defaults.telemetry_enabled`` when the host has
            already parsed it (skips reading the project file).
        env: the environment to read (``os.environ`` when None).
        home: the home directory holding ``.visivo/config.yml`` (from ``env`` when None).
        host_version: the host's version, sent as ``visivo_version`` (else the installed
            ``visivo`` distribution's, else this package's).
        command_name: how users type the ``telemetry`` group, e.g. ``"visivo telemetry"``,
            for the first-run notice and messages.
    """
    global _given, _version
    with _lock:
        if _pipeline is not None and not _pipeline.decided:
            # A test pipeline (start_with_sink): no decision replaces it.
            return _pipeline.settings.decision
        if _given is not None:
            _amend(host_version, command_name)
            same = project_dir is None or Path(project_dir) == _project_dir
            if same and project_setting is UNSET:
                return _current_decision()
            return _decide(project_dir, project_setting)
        _given = _Given(env, home, host_version, command_name)
        _read_debug(os.environ if env is None else env)
        _version = None  # chosen earlier (for status) without the host's version
        return _decide(project_dir, project_setting)


def _amend(host_version: str | None, command_name: str | None) -> None:
    """Take a host version or command name given to a later ``start``."""
    global _given, _version
    if _given is None:
        return
    if command_name is not None:
        _given = attrs.evolve(_given, command_name=command_name)
    if host_version is not None and host_version != _given.host_version:
        _given = attrs.evolve(_given, host_version=host_version)
        _version = None
        pipeline = _pipeline
        if pipeline is not None and pipeline.made_metadata is not None:
            # The same process and session: only the version changes.
            pipeline.made_metadata = attrs.evolve(
                pipeline.made_metadata, visivo_version=version_choice().version
            )


def use_project(
    project_dir: str | os.PathLike[str], *, project_setting: object = UNSET
) -> Decision:
    """Decide again now that the host knows its project directory; returns the decision.

    The environment and global file are read as ``start`` read them. If the project opts
    out, what is queued is dropped (counted as ``late_opt_out``) and this process sends
    nothing more, whatever later calls say. Nothing is sent before the first flush
    interval, so events emitted before this call wait for it. Starts telemetry if
    ``start`` was not called yet.

    Args:
        project_dir: the directory holding ``project.visivo.yml``, used as it is.
        project_setting: the project's ``defaults.telemetry_enabled`` when the host has
            already parsed it (skips reading the project file).
    """
    return start(project_dir, project_setting=project_setting)


def _current_decision() -> Decision:
    if _decision is not None:
        return _decision
    # Only when the first decision failed to be made at all.
    return decide({"VISIVO_TELEMETRY_DISABLED": "1"})


def _decide(project_dir: str | os.PathLike[str] | None, project_setting: object) -> Decision:
    """Read the sources and act on the decision: install, keep, or withdraw the pipeline."""
    global _decision, _withdrawn, _project_dir
    given = _given if _given is not None else _Given()
    _project_dir = Path(project_dir) if project_dir is not None else None
    if _withdrawn:
        return _current_decision()
    first = _decision is None
    try:
        found = read_settings(
            project_dir,
            project_setting=project_setting,
            env=given.env,
            home=given.home,
            read_files=False,
        )
        _decision = found.decision
    except Exception:  # noqa: BLE001 - fail closed, never break the host
        count_error("start")
        found = None
        _decision = decide({"VISIVO_TELEMETRY_DISABLED": "1"})
    if not _decision.enabled:
        if not first:
            _withdrawn = True
            _stop(WITHDRAW_TIMEOUT_S, withdraw=True)
        return _decision
    if found is None:
        return _decision
    pipeline = _pipeline
    if pipeline is not None:
        pipeline.settings = found
        return _decision
    try:
        resolved = resolve(
            found.sink_spec,
            endpoint=found.endpoint,
            env=os.environ if given.env is None else given.env,
            warn=_warn,
            report=count_error,
            state_dir=delivery_state_dir(found),
        )
        _install(found, resolved, decided=True)
        _install_sigterm_handler()
    except Exception:  # noqa: BLE001
        count_error("start")
    return _decision


def started() -> bool:
    """Whether the host called :func:`start` (or :func:`use_project`) in this process."""
    return _given is not None


def command_name(mounted: str | None = None) -> str:
    """How users type the ``telemetry`` group, for notices and messages.

    What the host passed to ``start(command_name=...)``, else ``mounted`` (how the group
    is mounted in the command running now), else how the integration saw it mounted,
    else ``visivo-telemetry``.
    """
    given = _given.command_name if _given is not None else None
    return given or mounted or _mounted_name or notice.COMMAND


def note_mounted_name(name: str) -> None:
    """Record how the host mounted the ``telemetry`` group (the click integration does)."""
    global _mounted_name
    _mounted_name = name


def start_with_sink(sink: Sink, *, names: tuple[str, ...] = ("custom",)) -> None:
    """Start a pipeline that sends to ``sink``, ignoring every opt-out (tests only).

    Replaces any running pipeline. The pytest plugin uses this to capture events.
    """
    with _lock:
        _stop(0.0)
        decision = decide({})
        found = Settings(decision, ",".join(names), "", "not used", None)
        _install(found, ResolvedSink(sink, names), decided=False)


def capture_only(sink: Sink | None, *, names: tuple[str, ...] = ("memory",)) -> None:
    """While ``sink`` is set, every pipeline started in this process sends there only.

    Whatever code under test does (``shutdown`` then ``start``, ``reset``...), nothing
    leaves the process. ``reset`` keeps it; ``capture_only(None)`` lifts it.
    """
    global _capture_only
    _capture_only = None if sink is None else ResolvedSink(sink, names)


def active_sink() -> Sink | None:
    """The running pipeline's sink, if any."""
    pipeline = _pipeline
    return pipeline.resolved.sink if pipeline is not None else None


def status(
    project_dir: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Decision:
    """The decision ``start`` would make, reading every source; starts nothing."""
    return read_settings(project_dir, env=env, home=home).decision


def flush(timeout: float = 1.0) -> bool:
    """Deliver what is queued, waiting at most ``timeout`` seconds; never raises."""
    pipeline = _pipeline
    if pipeline is None:
        return True
    try:
        return pipeline.batcher.flush(timeout)
    except Exception:  # noqa: BLE001
        count_error("flush")
        return False


def _stop(timeout: float, *, withdraw: bool = False) -> bool:
    """Stop the pipeline; with ``withdraw``, what is still queued is dropped, not sent."""
    global _pipeline
    pipeline = _pipeline
    if pipeline is None:
        return True
    _pipeline = None
    for signal, receiver in _RECEIVERS:
        signal.disconnect(receiver)
    pipeline.withdrawn = withdraw
    deadline = time.monotonic() + max(timeout, 0.0)
    for member in members(pipeline.resolved.sink):
        finish_by = getattr(member, "finish_by", None)
        if callable(finish_by):
            finish_by(deadline - SINK_MARGIN_S)
    finished = pipeline.batcher.shutdown(timeout)
    if finished:
        pipeline.resolved.sink.close(max(deadline - time.monotonic(), 0.0))
    else:
        _tell_abandoned(pipeline.resolved.sink)
    return finished


def _tell_abandoned(sink: Sink) -> None:
    """The batcher's thread was left behind: let sinks that keep delivery state know."""
    for member in members(sink):
        abandoned = getattr(member, "abandoned", None)
        if callable(abandoned):
            try:
                abandoned()
            except Exception:  # noqa: BLE001 - never break the host at exit
                count_error("abandoned")


def shutdown(timeout: float = 1.0) -> bool:
    """Deliver what is queued and stop, waiting at most ``timeout`` seconds; never raises.

    Returns whether everything queued was handed to the sink in time.
    """
    with _lock:
        try:
            return _stop(timeout)
        except Exception:  # noqa: BLE001
            count_error("shutdown")
            return False


def _at_exit() -> None:
    try:
        shutdown(EXIT_TIMEOUT_S)
        _print_summary()
    except KeyboardInterrupt:
        # Ctrl-C during the exit wait: stop waiting, silently. Counted without the
        # debug switch's traceback: a keypress is not a fault.
        _errors["exit_interrupted"] += 1


def _install_sigterm_handler() -> None:
    """Deliver the last batch on SIGTERM too, where the host left SIGTERM alone."""
    global _sigterm_installed
    _sigterm_installed = exit_signal.install(_on_sigterm) or _sigterm_installed


def _uninstall_sigterm_handler() -> None:
    global _sigterm_installed
    if _sigterm_installed and exit_signal.uninstall(_on_sigterm):
        _sigterm_installed = False


def _on_sigterm(signum: int, frame: object) -> None:
    """Flush within the exit budget, then die of SIGTERM as the default action would."""
    exit_signal.deliver_then_die(
        lambda: shutdown(EXIT_TIMEOUT_S), EXIT_TIMEOUT_S + SINK_MARGIN_S, count_error
    )


def _print_summary() -> None:
    """With a console sink beside a delivering one, say on stderr what became of events.

    Only then: debug output was asked for, and there was a delivery to report on.
    """
    pipeline = _last
    if pipeline is None:
        return
    names = set(pipeline.resolved.names)
    if not names & CONSOLE_SINKS or not names - CONSOLE_SINKS:
        return
    try:
        snapshot = counters()
        if snapshot.enqueued:
            _warn(f"visivo-telemetry: {snapshot.summary()}")
            from visivo.telemetry.sinks.backoff import explain

            hint = explain(snapshot.dropped)
            if hint is not None:
                _warn(f"visivo-telemetry: {hint}")
    except Exception:  # noqa: BLE001 - never break the host at exit
        count_error("summary")


def counters() -> Counters:
    """What happened to events so far: the running pipeline's, or the last one's."""
    errors = MappingProxyType(dict(_errors))
    pipeline = _pipeline or _last
    if pipeline is None:
        return Counters(errors=errors)
    return combine(
        pipeline.signal_counts(stopped=pipeline is not _pipeline),
        delivery_counts(pipeline.resolved.sink),
        errors,
        pipeline.invalid,
        withdrawn=pipeline.withdrawn_count,
    )


def reset() -> None:
    """Stop any pipeline without waiting and forget all state (for tests)."""
    global _last, _atexit_registered, _given, _decision, _withdrawn, _mounted_name, _version
    global _project_dir
    with _lock:
        _stop(0.0)
        _last = None
        _errors.clear()
        _read_debug({})
        _uninstall_sigterm_handler()
        _given = _decision = _mounted_name = _version = _project_dir = None
        _withdrawn = False
        if _atexit_registered:
            atexit.unregister(_at_exit)
            _atexit_registered = False


def _after_fork_in_child() -> None:
    # A child is a new process: it gets its own session id and a fresh lock (another
    # thread may have held the parent's at the fork). The batcher resets itself.
    global _lock
    _lock = threading.RLock()
    pipeline = _pipeline
    if pipeline is not None:
        pipeline.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)

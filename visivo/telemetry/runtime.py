"""The one active pipeline: receivers → policy → batcher → sink.

All global state of the telemetry package lives here, and :func:`reset` clears it.
``start`` reads the environment and config files once; when telemetry is disabled it
connects nothing, starts no thread and imports no network code.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import attrs

from visivo.events.signals import command_finished, command_started, request_finished
from visivo.telemetry import notice
from visivo.telemetry.batcher import Batcher
from visivo.telemetry.counters import Counters, combine, delivery_counts, members
from visivo.telemetry.policy.optout import Decision, decide
from visivo.telemetry.policy.scrub import Scrubbed, scrub_command, scrub_request
from visivo.telemetry.schema import Envelope, Metadata
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
from visivo.telemetry.sinks.registry import CONSOLE_SINKS, ResolvedSink, resolve

# Re-exported: these lived here before settings.py and counters.py took them.
__all__ = [
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "EXIT_TIMEOUT_S",
    "SINK_ENV",
    "SINK_MARGIN_S",
    "Counters",
    "Settings",
    "active_sink",
    "counters",
    "delivery_state_dir",
    "flush",
    "home_dir",
    "read_settings",
    "reset",
    "shutdown",
    "start",
    "start_with_sink",
    "status",
]

# What interpreter exit may wait for delivery, in total.
EXIT_TIMEOUT_S: Final = 0.9
# A sink told to finish by a deadline gets this much less, so that it can count its
# outcome (``timeout``) before the batcher stops waiting and counts ``exit_deadline``.
SINK_MARGIN_S: Final = 0.05


# What a receiver queues: the pure scrubber to run, the payload it owns, and when.
_Raw = tuple[Callable[[Mapping[str, Any]], Scrubbed], dict[str, Any], float]


@attrs.define
class _Pipeline:
    settings: Settings
    resolved: ResolvedSink
    batcher: Batcher[_Raw]
    metadata: Metadata
    notice_pending: bool = False
    # Payloads whose scrub raised; written only by the batcher's thread.
    invalid: int = 0
    # Run on the batcher's thread when it starts (loads the HTTP stack), if the sink has one.
    warm: Callable[[], None] | None = None


_lock = threading.RLock()
_pipeline: _Pipeline | None = None
_last: _Pipeline | None = None
_errors: Counter[str] = Counter()
_atexit_registered = False


def count_error(where: str) -> None:
    """Count an exception that telemetry swallowed, by where it happened."""
    _errors[where] += 1


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except Exception:  # noqa: BLE001 - a closed or odd stderr is not a terminal
        count_error("isatty")
        return False


def _warn(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a closed stderr must not break the host
        count_error("warn")


def _capture(scrub: Callable[[Mapping[str, Any]], Scrubbed], payload: dict[str, Any]) -> None:
    """Queue a payload for scrubbing on the batcher's thread, so the caller pays little.

    ``payload`` is the receiver's own ``**kwargs`` dict. An exception is replaced by its
    class at once: only the class name is ever sent, and holding the instance would keep
    its traceback and every frame's locals alive until the batch goes out.
    """
    pipeline = _pipeline
    if pipeline is None:
        return
    if pipeline.notice_pending:
        _show_notice(pipeline)
    error = payload.get("error")
    if error is not None:
        payload["error"] = type(error) if isinstance(error, BaseException) else None
    pipeline.batcher.put((scrub, payload, time.time()))


def _show_notice(pipeline: _Pipeline) -> None:
    """Print the first-run notice once and record it in the global file."""
    with _lock:
        if not pipeline.notice_pending:
            return
        pipeline.notice_pending = False
    global_settings = pipeline.settings.global_settings
    if global_settings is None:
        return
    _warn(notice.NOTICE)
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


def _envelopes(batch: Sequence[_Raw], pipeline: _Pipeline) -> list[Envelope]:
    """Run the policy over captured payloads: only scrubbed envelopes come out."""
    envelopes = []
    metadata = pipeline.metadata
    for scrub, payload, timestamp in batch:
        try:
            scrubbed = scrub(payload)
        except Exception:  # noqa: BLE001 - one bad payload never blocks the batch
            count_error("scrub")
            pipeline.invalid += 1
            continue
        envelopes.append(Envelope(scrubbed.properties, timestamp, metadata, scrubbed.stripped))
    return envelopes


_RECEIVERS: Final = (
    (command_started, _on_command_started),
    (command_finished, _on_command_finished),
    (request_finished, _on_request_finished),
)


def _install(pipeline_settings: Settings, resolved: ResolvedSink) -> None:
    global _pipeline, _last, _atexit_registered
    sink = resolved.sink

    def export(batch: Sequence[_Raw]) -> None:
        envelopes = _envelopes(batch, pipeline)
        if envelopes:
            sink.send(envelopes)

    warm = _warmer(sink)
    batcher: Batcher[_Raw] = Batcher(export, on_start=warm)
    pipeline = _Pipeline(pipeline_settings, resolved, batcher, Metadata.for_this_process())
    pipeline.warm = warm
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
) -> Decision:
    """Start telemetry for this process, once; later calls return the same decision.

    Args:
        project_dir: where ``project.visivo.yml`` lives; the working directory when None.
        project_setting: the project's ``defaults.telemetry_enabled`` when the host has
            already parsed it (skips reading the project file).
        env: the environment to read (``os.environ`` when None).
        home: the home directory holding ``.visivo/config.yml`` (from ``env`` when None).
    """
    with _lock:
        if _pipeline is not None:
            return _pipeline.settings.decision
        try:
            found = read_settings(
                project_dir,
                project_setting=project_setting,
                env=env,
                home=home,
                read_files=False,
            )
        except Exception:  # noqa: BLE001 - fail closed, never break the host
            count_error("start")
            return decide({"VISIVO_TELEMETRY_DISABLED": "1"})
        if not found.decision.enabled:
            return found.decision
        try:
            resolved = resolve(
                found.sink_spec,
                endpoint=found.endpoint,
                env=os.environ if env is None else env,
                warn=_warn,
                state_dir=delivery_state_dir(found),
            )
            _install(found, resolved)
        except Exception:  # noqa: BLE001
            count_error("start")
        return found.decision


def start_with_sink(sink: Sink, *, names: tuple[str, ...] = ("custom",)) -> None:
    """Start a pipeline that sends to ``sink``, ignoring every opt-out (tests only).

    Replaces any running pipeline. The pytest plugin uses this to capture events.
    """
    with _lock:
        _stop(0.0)
        decision = decide({})
        found = Settings(decision, ",".join(names), "", "not used", None)
        _install(found, ResolvedSink(sink, names))


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


def _stop(timeout: float) -> bool:
    global _pipeline
    pipeline = _pipeline
    if pipeline is None:
        return True
    _pipeline = None
    for signal, receiver in _RECEIVERS:
        signal.disconnect(receiver)
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
    shutdown(EXIT_TIMEOUT_S)
    _print_summary()


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
        pipeline.batcher.counters(),
        delivery_counts(pipeline.resolved.sink),
        errors,
        pipeline.invalid,
    )


def reset() -> None:
    """Stop any pipeline without waiting and forget all state (for tests)."""
    global _last, _atexit_registered
    with _lock:
        _stop(0.0)
        _last = None
        _errors.clear()
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
        pipeline.metadata = Metadata.for_this_process()


os.register_at_fork(after_in_child=_after_fork_in_child)

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
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import attrs

from visivo.events.signals import command_finished, command_started, request_finished
from visivo.telemetry import notice
from visivo.telemetry.batcher import EXIT_DEADLINE, Batcher, BatcherCounters
from visivo.telemetry.policy.optout import Decision, Reading, decide
from visivo.telemetry.policy.scrub import Scrubbed, scrub_command, scrub_request
from visivo.telemetry.schema import Envelope, Metadata
from visivo.telemetry.sinks.base import Sink

if TYPE_CHECKING:
    from visivo.telemetry.policy import settings

from visivo.telemetry.sinks.registry import CONSOLE_SINKS, FanoutSink, ResolvedSink, resolve

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
    "flush",
    "home_dir",
    "read_settings",
    "reset",
    "shutdown",
    "start",
    "start_with_sink",
    "status",
]

SINK_ENV: Final = "VISIVO_TELEMETRY_SINK"
ENDPOINT_ENV: Final = "VISIVO_TELEMETRY_ENDPOINT"
DEFAULT_ENDPOINT: Final = "https://telemetry.visivo.io/v1/events"
# What interpreter exit may wait for delivery, in total.
EXIT_TIMEOUT_S: Final = 0.9
# A sink told to finish by a deadline gets this much less, so that it can count its
# outcome (``timeout``) before the batcher stops waiting and counts ``exit_deadline``.
SINK_MARGIN_S: Final = 0.05


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@attrs.frozen
class Settings:
    """Everything read from the environment and the config files, once."""

    decision: Decision
    sink_spec: str
    endpoint: str
    endpoint_source: str
    global_settings: settings.GlobalSettings | None


@attrs.frozen
class Counters:
    """What happened to every event handed to telemetry in this process: a snapshot.

    The batcher's and the delivering sink's counts are merged, so that one view answers
    "where did my events go". Once nothing is in flight (after ``flush`` or ``shutdown``)
    ``enqueued == sent + sum(dropped.values()) + sum(failed.values()) + queued``.

    Attributes:
        enqueued: events the pipeline received, including those refused by a full queue.
        sent: events delivered (accepted by the collector, or handed to a sink that
            keeps no counts of its own).
        queued: events waiting in the queue or in a batch being sent.
        dropped: events deliberately not sent, by reason: the batcher's (``queue_full``,
            ``after_shutdown``, ``exit_deadline``) and the sink's (``paused``, ``http_4xx``...).
        failed: events that could not be delivered, by reason: the sink's (``timeout``,
            ``connection``, ``http_5xx``...) and, for a sink that raised, the exception type.
        errors: exceptions swallowed by telemetry, by where they happened.
        batcher: the batcher's own snapshot (None when no pipeline ran).
        sink: the delivering sink's own snapshot, when it keeps one (the http sink does).
    """

    enqueued: int = 0
    sent: int = 0
    queued: int = 0
    dropped: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    failed: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    errors: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    batcher: BatcherCounters | None = None
    sink: Any = None

    @property
    def lost(self) -> int:
        """Events dropped or failed, whatever the reason."""
        return sum(self.dropped.values()) + sum(self.failed.values())

    def summary(self) -> str:
        """One line for people: ``3 events: 0 sent, 3 failed (timeout: 3)``."""
        parts = [f"{self.sent} sent"]
        for word, table in (("dropped", self.dropped), ("failed", self.failed)):
            total = sum(table.values())
            if total:
                reasons = sorted(table.items(), key=lambda item: (-item[1], item[0]))
                listed = ", ".join(f"{reason}: {count}" for reason, count in reasons)
                parts.append(f"{total} {word} ({listed})")
        if self.queued:
            parts.append(f"{self.queued} queued")
        noun = "event" if self.enqueued == 1 else "events"
        return f"{self.enqueued} {noun}: " + ", ".join(parts)


class _DeliveryCounts(Protocol):
    """What a sink's ``counters()`` snapshot offers when it counts events itself."""

    @property
    def events_sent(self) -> int: ...

    @property
    def events_dropped(self) -> Mapping[str, int]: ...

    @property
    def events_failed(self) -> Mapping[str, int]: ...


_DELIVERY_COUNT_NAMES: Final = ("events_sent", "events_dropped", "events_failed")


def _members(sink: Sink) -> tuple[Sink, ...]:
    return sink.sinks if isinstance(sink, FanoutSink) else (sink,)


def _delivery_counts(sink: Sink) -> _DeliveryCounts | None:
    """The first sink snapshot that counts sent, dropped and failed events itself."""
    for member in _members(sink):
        read = getattr(member, "counters", None)
        snapshot = read() if callable(read) else None
        if all(hasattr(snapshot, name) for name in _DELIVERY_COUNT_NAMES):
            return cast(_DeliveryCounts, snapshot)
    return None


def _merge(*tables: Mapping[str, int]) -> Mapping[str, int]:
    merged: Counter[str] = Counter()
    for table in tables:
        merged.update(table)
    return MappingProxyType({reason: count for reason, count in merged.items() if count})


INVALID_PAYLOAD: Final = "invalid_payload"


def _combine(
    batcher: BatcherCounters,
    sink: _DeliveryCounts | None,
    errors: Mapping[str, int],
    invalid: int = 0,
) -> Counters:
    """Merge the batcher's and the sink's counts; ``invalid`` payloads failed the scrub."""
    refused = sum(n for reason, n in batcher.dropped.items() if reason != EXIT_DEADLINE)
    sent = batcher.exported - invalid if sink is None else sink.events_sent
    sink_dropped: Mapping[str, int] = {} if sink is None else sink.events_dropped
    if invalid:
        sink_dropped = _merge(sink_dropped, {INVALID_PAYLOAD: invalid})
    sink_failed: Mapping[str, int] = {} if sink is None else sink.events_failed
    return Counters(
        enqueued=batcher.enqueued + refused,
        sent=sent,
        queued=batcher.queued,
        dropped=_merge(batcher.dropped, sink_dropped),
        failed=_merge(batcher.failed, sink_failed),
        errors=errors,
        batcher=batcher,
        sink=sink,
    )


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


def home_dir(env: Mapping[str, str]) -> Path:
    """The home directory holding ``.visivo/config.yml``: ``HOME``, else ``USERPROFILE``."""
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


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
        directory = Path(project_dir) if project_dir is not None else Path.cwd()
        project = settings.read_project(settings.project_config_path(directory))
    decision = decide(env, project, global_settings.reading)
    endpoint, source = _choose_endpoint(env, global_settings)
    return Settings(decision, env.get(SINK_ENV, ""), endpoint, source, global_settings)


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
    warms = [w for w in (getattr(m, "warm", None) for m in _members(sink)) if callable(w)]
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
    for member in _members(pipeline.resolved.sink):
        finish_by = getattr(member, "finish_by", None)
        if callable(finish_by):
            finish_by(deadline - SINK_MARGIN_S)
    finished = pipeline.batcher.shutdown(timeout)
    if finished:
        pipeline.resolved.sink.close(max(deadline - time.monotonic(), 0.0))
    return finished


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
    except Exception:  # noqa: BLE001 - never break the host at exit
        count_error("summary")


def counters() -> Counters:
    """What happened to events so far: the running pipeline's, or the last one's."""
    errors = MappingProxyType(dict(_errors))
    pipeline = _pipeline or _last
    if pipeline is None:
        return Counters(errors=errors)
    return _combine(
        pipeline.batcher.counters(),
        _delivery_counts(pipeline.resolved.sink),
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

"""A bounded queue drained by one background thread into an export callable.

The batcher knows nothing about events or sinks: it takes items and hands lists of them
to ``export``. Callers never block and never see an exception; every item is accounted
for as exported, dropped (by reason) or failed (by exception type).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, Generic, TypeVar

import attrs

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_MAX_QUEUE_SIZE",
    "Batcher",
    "BatcherCounters",
]

T = TypeVar("T")

# Holds a 50,000-event burst without loss (benchmarks/README.md, "Delivery"). A queued
# command event measures about 370 bytes, so a full queue costs about 18 MB at worst,
# and only while a burst outruns delivery.
DEFAULT_MAX_QUEUE_SIZE: Final = 50_000
DEFAULT_MAX_BATCH_SIZE: Final = 500
DEFAULT_INTERVAL_S: Final = 2.0

# Drop reasons.
QUEUE_FULL: Final = "queue_full"
AFTER_SHUTDOWN: Final = "after_shutdown"
EXIT_DEADLINE: Final = "exit_deadline"


@attrs.frozen
class BatcherCounters:
    """A snapshot of what happened to every item put into a batcher.

    ``enqueued == exported + sum(failed) + queued + dropped["exit_deadline"]``. Items
    refused by ``put`` (``queue_full``, ``after_shutdown``) are counted in ``dropped`` only.
    """

    enqueued: int
    exported: int
    queued: int
    dropped: Mapping[str, int]
    failed: Mapping[str, int]
    hook_errors: int = 0

    @property
    def lost(self) -> int:
        """Items dropped or failed, whatever the reason."""
        return sum(self.dropped.values()) + sum(self.failed.values())


class Batcher(Generic[T]):
    """Collects items and exports them in batches from one lazily started daemon thread.

    Args:
        export: called on the background thread with each batch; may raise (counted).
        max_queue_size: items held at most; a put beyond it is dropped (``queue_full``).
        max_batch_size: items per ``export`` call at most; a full batch wakes the thread.
        interval_s: the longest an item waits before its batch is exported.
        name: the thread's name.
        on_start: called on the background thread when it starts (say, to warm a sink).
        on_window_end: called on the background thread once a window ends, after its
            items were exported: every ``interval_s`` while items flow, and at each
            ``flush`` and ``shutdown``. It lets ``export`` hold what it was given across
            batches (say, to merge items) and deliver it once per window; ``flush`` and
            ``shutdown`` wait for it. Not called for a window in which nothing was
            exported.

    Both hooks may raise; that is counted (``hook_errors``) and the thread carries on.
    """

    def __init__(
        self,
        export: Callable[[Sequence[T]], object],
        *,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        interval_s: float = DEFAULT_INTERVAL_S,
        name: str = "visivo-telemetry",
        on_start: Callable[[], object] | None = None,
        on_window_end: Callable[[], object] | None = None,
    ) -> None:
        if max_queue_size < 1 or max_batch_size < 1:
            raise ValueError("max_queue_size and max_batch_size must be at least 1")
        if not interval_s > 0:
            raise ValueError("interval_s must be positive")
        self._export = export
        self._max_queue_size = max_queue_size
        self._max_batch_size = max_batch_size
        self._interval_s = interval_s
        self._name = name
        self._on_start = on_start
        self._on_window_end = on_window_end
        self._init_state()
        hook = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: _call_if_alive(hook))

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._queue: deque[T] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._in_flight = 0
        self._abandoned = 0  # an in-flight batch that shutdown gave up on
        self._flush_requested = 0
        self._flush_done = 0
        self._enqueued = 0
        self._hook_errors = 0
        self._exported = 0
        self._in_window = 0  # items exported since on_window_end last ran
        self._dropped: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()

    def _after_fork_in_child(self) -> None:
        # The parent still owns what it queued; the child starts empty, with no thread,
        # and starts its own thread on its first put.
        closed = self._closed
        self._init_state()
        self._closed = closed

    def put(self, item: T) -> None:
        """Queue one item; never blocks and never raises."""
        with self._lock:
            if self._closed:
                self._dropped[AFTER_SHUTDOWN] += 1
                return
            queue = self._queue
            if len(queue) >= self._max_queue_size:
                self._dropped[QUEUE_FULL] += 1
                return
            queue.append(item)
            self._enqueued += 1
            if self._thread is None:
                self._start_locked()
            full = len(queue) >= self._max_batch_size
        if full:
            self._wake.set()

    def _start_locked(self) -> None:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread = thread
        try:
            thread.start()
        except RuntimeError:
            # Interpreter shutting down: no new threads. Items stay queued and are
            # counted at shutdown.
            self._thread = None

    def start(self) -> None:
        """Start the background thread now, before the first item; idempotent, never raises.

        Lets ``on_start`` (say, loading the HTTP stack) overlap the host's work instead of
        delaying the first export.
        """
        with self._lock:
            if self._thread is None and not self._closed:
                self._start_locked()

    def _run(self) -> None:
        self._call_hook(self._on_start)
        window_start = time.monotonic()
        while True:
            # A full batch wakes the thread early; the window still ends on time.
            self._wake.wait(max(window_start + self._interval_s - time.monotonic(), 0.0))
            self._wake.clear()
            with self._lock:
                flush_target = self._flush_requested
                stopping = self._stopping
                flushing = flush_target > self._flush_done
            self._drain()
            now = time.monotonic()
            if stopping or flushing or now - window_start >= self._interval_s:
                window_start = now
                self._end_window()
            with self._lock:
                self._flush_done = max(self._flush_done, flush_target)
                self._done.notify_all()
            if stopping:
                return

    def _call_hook(self, hook: Callable[[], object] | None) -> None:
        if hook is None:
            return
        try:
            hook()
        except Exception:  # noqa: BLE001 - counted; the thread must keep exporting
            with self._lock:
                self._hook_errors += 1

    def _end_window(self) -> None:
        with self._lock:
            ended = self._in_window
            self._in_window = 0
        if ended:
            self._call_hook(self._on_window_end)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                size = min(len(self._queue), self._max_batch_size)
                batch = [self._queue.popleft() for _ in range(size)]
                self._in_flight = size
            failure: str | None = None
            try:
                self._export(batch)
            except Exception as error:  # noqa: BLE001 - counted; telemetry never raises
                failure = type(error).__name__
            with self._lock:
                self._settle_locked(size, failure)

    def _settle_locked(self, size: int, failure: str | None) -> None:
        if not self._in_flight:
            # Shutdown gave up on this batch and counted it as ``exit_deadline``; now that
            # its fate is known, count it where it belongs instead.
            if not self._abandoned:
                return
            self._abandoned = 0
            self._dropped[EXIT_DEADLINE] -= size
            if not self._dropped[EXIT_DEADLINE]:
                del self._dropped[EXIT_DEADLINE]
        self._in_flight = 0
        if self._on_window_end is not None:
            self._in_window += size
        if failure is None:
            self._exported += size
        else:
            self._failed[failure] += size

    def _pending_locked(self) -> int:
        return len(self._queue) + self._in_flight

    def _unfinished_locked(self) -> int:
        """Items queued, being exported, or exported in a window that has not ended."""
        return self._pending_locked() + self._in_window

    def flush(self, timeout: float = 1.0) -> bool:
        """Export everything queued so far; wait at most ``timeout`` seconds.

        Returns whether everything queued before the call was exported (or failed).
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            thread = self._thread
            if thread is None or self._unfinished_locked() == 0:
                return self._pending_locked() == 0
            if thread is threading.current_thread():
                return False
            self._flush_requested += 1
            target = self._flush_requested
        self._wake.set()
        with self._lock:
            while self._flush_done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not thread.is_alive():
                    return False
                self._done.wait(remaining)
            return True

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Export what is queued, stop the thread; wait at most ``timeout`` seconds.

        Items still queued when the time is up are counted as dropped (``exit_deadline``);
        if the batch being exported then finishes after all, it is counted again where it
        belongs (exported or failed) and no longer as dropped. Returns whether the thread
        finished in time. Later puts are dropped.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is None:
                self._abandon_locked()
                return True
            self._stopping = True
            idle = self._unfinished_locked() == 0
        self._wake.set()
        if idle:
            # Nothing to deliver: never wait, even for a thread busy in ``on_start``.
            return True
        if thread is not threading.current_thread():
            thread.join(max(deadline - time.monotonic(), 0.0))
        with self._lock:
            finished = not thread.is_alive()
            self._abandon_locked()
        return finished

    def _abandon_locked(self) -> None:
        pending = self._pending_locked()
        if pending:
            self._dropped[EXIT_DEADLINE] += pending
            self._queue.clear()
            self._abandoned = self._in_flight
            self._in_flight = 0

    def counters(self) -> BatcherCounters:
        """A consistent snapshot of the counters."""
        with self._lock:
            return BatcherCounters(
                enqueued=self._enqueued,
                exported=self._exported,
                queued=self._pending_locked(),
                dropped=MappingProxyType(dict(self._dropped)),
                failed=MappingProxyType(dict(self._failed)),
                hook_errors=self._hook_errors,
            )


def _call_if_alive(hook: weakref.WeakMethod[Callable[[], None]]) -> None:
    method = hook()
    if method is not None:
        method()

"""The batcher: bounded, lazy, never blocking, every item accounted for."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from visivo.telemetry.batcher import Batcher


class Recorder:
    """An export callable that records batches and can be made to block or fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, batch: Sequence[int]) -> None:
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("sink is down")
        with self.lock:
            self.batches.append(list(batch))

    @property
    def items(self) -> list[int]:
        with self.lock:
            return [item for batch in self.batches for item in batch]


def batcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "visivo-telemetry"]


class TestLifecycle:
    def test_no_thread_until_first_put(self) -> None:
        """A batcher that never receives an item starts no thread."""
        # Its own thread name: another test's batcher may still be exiting meanwhile.
        name = "visivo-telemetry-lazy"
        batcher: Batcher[int] = Batcher(Recorder(), name=name)
        assert not [t for t in threading.enumerate() if t.name == name]
        batcher.put(1)
        assert [t for t in threading.enumerate() if t.name == name]
        assert batcher.shutdown(1.0)

    def test_full_batch_is_exported_before_the_interval(self) -> None:
        """Reaching max_batch_size wakes the thread without waiting for the interval."""
        recorder = Recorder()
        batcher: Batcher[int] = Batcher(recorder, max_batch_size=3, interval_s=60)
        for i in range(3):
            batcher.put(i)
        assert recorder.entered.wait(2)
        batcher.shutdown(1.0)
        assert recorder.batches[0] == [0, 1, 2]

    def test_interval_exports_a_partial_batch(self) -> None:
        """A partial batch goes out when the interval passes."""
        recorder = Recorder()
        batcher: Batcher[int] = Batcher(recorder, max_batch_size=100, interval_s=0.05)
        batcher.put(7)
        assert recorder.entered.wait(2)
        batcher.shutdown(1.0)
        assert recorder.items == [7]

    def test_flush_delivers_everything_queued(self) -> None:
        """flush returns True once every earlier item reached export."""
        recorder = Recorder()
        batcher: Batcher[int] = Batcher(recorder, max_batch_size=10, interval_s=60)
        for i in range(25):
            batcher.put(i)
        assert batcher.flush(2.0)
        assert recorder.items == list(range(25))
        assert [len(b) for b in recorder.batches] == [10, 10, 5]
        batcher.shutdown(1.0)

    def test_flush_with_nothing_queued_is_immediate(self) -> None:
        """flush on an idle batcher returns at once."""
        batcher: Batcher[int] = Batcher(Recorder())
        started = time.monotonic()
        assert batcher.flush(5.0)
        assert time.monotonic() - started < 0.05

    def test_shutdown_with_nothing_queued_is_immediate(self) -> None:
        """shutdown after everything was exported does not wait."""
        batcher: Batcher[int] = Batcher(Recorder(), interval_s=60)
        batcher.put(1)
        assert batcher.flush(2.0)
        started = time.monotonic()
        assert batcher.shutdown(5.0)
        assert time.monotonic() - started < 0.1


class TestFailures:
    def test_export_errors_are_counted_not_raised(self) -> None:
        """An export that raises is counted by exception type; put keeps working."""
        recorder = Recorder()
        recorder.fail = True
        batcher: Batcher[int] = Batcher(recorder, max_batch_size=2, interval_s=60)
        for i in range(4):
            batcher.put(i)
        assert batcher.flush(2.0)
        counters = batcher.counters()
        assert counters.failed == {"RuntimeError": 4}
        assert counters.exported == 0
        batcher.shutdown(1.0)

    def test_full_queue_drops_the_newest(self) -> None:
        """Beyond max_queue_size, new items are dropped and counted as queue_full."""
        recorder = Recorder()
        recorder.release.clear()
        batcher: Batcher[int] = Batcher(recorder, max_queue_size=5, max_batch_size=1, interval_s=60)
        batcher.put(0)
        assert recorder.entered.wait(2)  # item 0 is now in flight, blocked
        for i in range(1, 10):
            batcher.put(i)
        counters = batcher.counters()
        assert counters.dropped == {"queue_full": 4}
        recorder.release.set()
        assert batcher.flush(2.0)
        assert recorder.items == [0, 1, 2, 3, 4, 5]
        batcher.shutdown(1.0)

    def test_shutdown_is_bounded_when_export_hangs(self) -> None:
        """A hung export cannot hold shutdown past its timeout; the rest is counted."""
        recorder = Recorder()
        recorder.release.clear()
        batcher: Batcher[int] = Batcher(recorder, max_batch_size=1, interval_s=60)
        for i in range(3):
            batcher.put(i)
        assert recorder.entered.wait(2)
        started = time.monotonic()
        assert batcher.shutdown(0.2) is False
        assert time.monotonic() - started < 0.5
        counters = batcher.counters()
        assert counters.dropped == {"exit_deadline": 3}
        batcher.put(9)
        assert batcher.counters().dropped == {"exit_deadline": 3, "after_shutdown": 1}
        recorder.release.set()

    def test_a_batch_finishing_after_shutdown_gave_up_is_recounted(self) -> None:
        """A batch counted as exit_deadline that then completes moves to exported."""
        recorder = Recorder()
        recorder.release.clear()
        batcher: Batcher[int] = Batcher(recorder, max_batch_size=2, interval_s=60)
        for i in range(3):
            batcher.put(i)
        assert recorder.entered.wait(2)
        assert batcher.shutdown(0.05) is False
        assert batcher.counters().dropped == {"exit_deadline": 3}
        recorder.release.set()
        for thread in batcher_threads():
            thread.join(2)
        counters = batcher.counters()
        assert (counters.exported, counters.dropped) == (2, {"exit_deadline": 1})
        assert counters.enqueued == counters.exported + counters.lost + counters.queued

    def test_flush_is_bounded_when_export_hangs(self) -> None:
        """flush returns False after its timeout when export does not return."""
        recorder = Recorder()
        recorder.release.clear()
        batcher: Batcher[int] = Batcher(recorder, interval_s=60)
        batcher.put(1)
        started = time.monotonic()
        assert batcher.flush(0.2) is False
        assert 0.15 < time.monotonic() - started < 0.5
        recorder.release.set()
        batcher.shutdown(1.0)

    @pytest.mark.parametrize(("size", "batch"), [(0, 1), (1, 0)])
    def test_bad_sizes_are_refused(self, size: int, batch: int) -> None:
        """Sizes below 1 are a programming error."""
        with pytest.raises(ValueError, match="at least 1"):
            Batcher(Recorder(), max_queue_size=size, max_batch_size=batch)


def test_threads_accounting_is_exact() -> None:
    """16 threads x 1,000 puts: enqueued = exported + dropped, nothing lost silently."""
    recorder = Recorder()
    batcher: Batcher[int] = Batcher(
        recorder, max_queue_size=4_000, max_batch_size=500, interval_s=0.01
    )

    def emit(base: int) -> None:
        for i in range(1_000):
            batcher.put(base + i)

    threads = [threading.Thread(target=emit, args=(n * 1_000,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert batcher.shutdown(5.0)
    counters = batcher.counters()
    dropped = sum(counters.dropped.values())
    assert counters.enqueued + dropped == 16_000
    assert counters.exported == counters.enqueued == len(recorder.items)
    assert len(set(recorder.items)) == len(recorder.items)


class TestEarlyStart:
    def test_start_runs_on_start_before_any_item(self) -> None:
        """start() starts the thread and runs on_start there, with nothing queued."""
        ran_on: list[str] = []
        done = threading.Event()

        def on_start() -> None:
            ran_on.append(threading.current_thread().name)
            done.set()

        batcher: Batcher[int] = Batcher(Recorder(), on_start=on_start)
        batcher.start()
        batcher.start()
        assert done.wait(2)
        assert ran_on == ["visivo-telemetry"]
        assert batcher.shutdown(1.0)

    def test_failing_on_start_is_counted_and_exports_go_on(self) -> None:
        """An on_start that raises is counted; the thread still exports."""

        def on_start() -> None:
            raise OSError("no trust store")

        recorder = Recorder()
        batcher: Batcher[int] = Batcher(recorder, on_start=on_start, interval_s=60)
        batcher.put(1)
        assert batcher.flush(2.0)
        assert recorder.items == [1]
        assert batcher.counters().hook_errors == 1
        batcher.shutdown(1.0)

    def test_shutdown_never_waits_for_a_slow_on_start_when_idle(self) -> None:
        """With nothing queued, shutdown returns at once even while on_start is busy."""
        release = threading.Event()
        entered = threading.Event()

        def on_start() -> None:
            entered.set()
            release.wait(10)

        batcher: Batcher[int] = Batcher(Recorder(), on_start=on_start)
        batcher.start()
        assert entered.wait(2)
        started = time.monotonic()
        assert batcher.shutdown(5.0)
        assert time.monotonic() - started < 0.1
        release.set()

    def test_shutdown_after_shutdown_cannot_start(self) -> None:
        """start() after shutdown starts nothing."""
        batcher: Batcher[int] = Batcher(Recorder())
        batcher.shutdown(0.0)
        before = len(batcher_threads())
        batcher.start()
        assert len(batcher_threads()) == before


class Holder:
    """An export that holds items until the window ends, as the runtime merges requests."""

    def __init__(self) -> None:
        self.held: list[int] = []
        self.windows: list[list[int]] = []
        self.exported = threading.Event()

    def export(self, batch: Sequence[int]) -> None:
        self.held.extend(batch)
        self.exported.set()

    def end_window(self) -> None:
        self.windows.append(self.held)
        self.held = []


class TestWindows:
    def test_full_batches_do_not_end_the_window(self) -> None:
        """Batches exported early for size stay in one window, which flush then ends."""
        holder = Holder()
        batcher: Batcher[int] = Batcher(
            holder.export, max_batch_size=3, interval_s=60, on_window_end=holder.end_window
        )
        for item in range(9):
            batcher.put(item)
        assert holder.exported.wait(2)
        assert holder.windows == []
        assert batcher.flush(2.0)
        assert holder.windows == [list(range(9))]
        batcher.shutdown(1.0)

    def test_flush_ends_a_window_even_with_nothing_queued(self) -> None:
        """Items already exported but held in the window make flush wake the thread."""
        holder = Holder()
        batcher: Batcher[int] = Batcher(
            holder.export, max_batch_size=1, interval_s=60, on_window_end=holder.end_window
        )
        batcher.put(1)
        assert holder.exported.wait(2)
        deadline = time.monotonic() + 2
        while batcher.counters().queued and time.monotonic() < deadline:
            holder.exported.wait(0.01)
        assert batcher.counters().queued == 0
        assert batcher.flush(2.0)
        assert holder.windows == [[1]]
        assert batcher.flush(2.0)
        assert holder.windows == [[1]]  # an empty window is never ended

    def test_windows_end_on_the_interval(self) -> None:
        """Without flush, the window ends every interval_s."""
        holder = Holder()
        ended = threading.Event()

        def end_window() -> None:
            holder.end_window()
            ended.set()

        batcher: Batcher[int] = Batcher(holder.export, interval_s=0.05, on_window_end=end_window)
        batcher.put(1)
        assert ended.wait(2)
        assert holder.windows == [[1]]
        batcher.shutdown(1.0)

    def test_shutdown_ends_the_last_window(self) -> None:
        """Shutdown drains and ends the open window before the thread stops."""
        holder = Holder()
        batcher: Batcher[int] = Batcher(
            holder.export, max_batch_size=1, interval_s=60, on_window_end=holder.end_window
        )
        batcher.put(1)
        assert holder.exported.wait(2)
        batcher.put(2)
        assert batcher.shutdown(2.0)
        assert [item for window in holder.windows for item in window] == [1, 2]

    def test_failing_window_hook_is_counted(self) -> None:
        """An on_window_end that raises is counted; later windows still end."""
        calls: list[int] = []

        def end_window() -> None:
            calls.append(1)
            raise RuntimeError("sink is down")

        batcher: Batcher[int] = Batcher(Recorder(), interval_s=60, on_window_end=end_window)
        batcher.put(1)
        assert batcher.flush(2.0)
        batcher.put(2)
        assert batcher.flush(2.0)
        assert calls == [1, 1]
        assert batcher.counters().hook_errors == 2
        batcher.shutdown(1.0)

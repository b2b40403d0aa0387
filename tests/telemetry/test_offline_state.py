"""The delivery state file and the gate, on a real temporary directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import REPO
from tests.telemetry.offline_support import unwritable
from visivo.telemetry.sinks.backoff import (
    LEASE_S,
    OFFLINE_BACKOFF,
    PAUSED,
    Entry,
    destination_key,
)
from visivo.telemetry.sinks.delivery_state import (
    LOCK_WAIT_S,
    STALE_LOCK_S,
    STATE_FILE,
    StateGate,
    StateStore,
    Written,
    clear_backoff,
)

NOW = 1_800_000_000.0
URL = "http://127.0.0.1:9/v1/events"


class Clock:
    """A settable wall clock for gates (the file itself is real)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def gate(directory: Path, clock: Clock, url: str = URL) -> StateGate:
    """A fresh gate, as a new process would build it."""
    return StateGate(StateStore(directory), url, clock=clock)


def put(store: StateStore, key: str, entry: Entry) -> None:
    written, _ = store.update(lambda entries: {**entries, key: entry})
    assert written is Written.WRITTEN


class TestStore:
    def test_missing_file_is_empty_and_not_an_error(self, tmp_path: Path) -> None:
        """No file means no entries, and nothing is created by reading."""
        store = StateStore(tmp_path / ".visivo")
        assert store.load() == {}
        assert store.errors() == {}
        assert not (tmp_path / ".visivo").exists()

    def test_written_privately_and_read_back(self, tmp_path: Path) -> None:
        """The directory is created 0700, the file 0600, and what is written reads back."""
        store = StateStore(tmp_path / ".visivo")
        put(store, "a" * 16, Entry(failures=1, until=NOW, reason="dns"))
        assert stat.S_IMODE((tmp_path / ".visivo").stat().st_mode) == 0o700
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
        assert store.load() == {"a" * 16: Entry(failures=1, until=NOW, reason="dns")}
        assert sorted(os.listdir(tmp_path / ".visivo")) == [STATE_FILE]  # no lock, no temp

    def test_other_destinations_are_kept(self, tmp_path: Path) -> None:
        """Changing one destination keeps the others' entries."""
        store = StateStore(tmp_path)
        put(store, "a", Entry(last_success=NOW))
        put(store, "b", Entry(failures=2, until=NOW))
        assert set(store.load()) == {"a", "b"}

    def test_stays_small(self, tmp_path: Path) -> None:
        """At most 16 destinations are kept, the least recently active go first."""
        store = StateStore(tmp_path)
        for n in range(20):
            put(store, f"d{n}", Entry(last_success=NOW + n))
        assert set(store.load()) == {f"d{n}" for n in range(4, 20)}

    @pytest.mark.parametrize(
        "content",
        [
            b"",
            b"{not json",
            b"[]",
            b'{"version": 99, "destinations": {}}',
            b'{"version": 1, "destinations": []}',
            b"\xff\xfe",
            b" " * (65 * 1024),
        ],
    )
    def test_corrupt_file_means_no_backoff_and_is_rewritten(
        self, tmp_path: Path, content: bytes
    ) -> None:
        """A corrupt file reads as empty (counted) and the next change replaces it."""
        store = StateStore(tmp_path)
        store.path.write_bytes(content)
        assert store.load() == {}
        assert store.errors()["read"] >= 1
        put(store, "a", Entry(last_success=NOW))
        assert store.load() == {"a": Entry(last_success=NOW)}

    def test_bad_entries_are_skipped_alone(self, tmp_path: Path) -> None:
        """One malformed entry does not hide the others."""
        store = StateStore(tmp_path)
        store.path.write_text(
            '{"version": 1, "destinations": {"bad": {"failures": "x"}, "good": {"failures": 1}}}'
        )
        assert store.load() == {"good": Entry(failures=1)}

    def test_directory_in_place_of_the_file(self, tmp_path: Path) -> None:
        """A directory where the file should be: no entries, writes fail and are counted."""
        store = StateStore(tmp_path)
        store.path.mkdir()
        assert store.load() == {}
        written, _ = store.update(lambda entries: {"a": Entry()})
        assert written is Written.FAILED
        assert store.errors()["write"] == 1
        assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temp file left

    def test_unwritable_directory(self, tmp_path: Path) -> None:
        """A read-only directory: updates fail (counted), reads still work, nothing raises."""
        store = StateStore(tmp_path / ".visivo")
        put(store, "a", Entry(failures=1, until=NOW))
        with unwritable(store.directory):
            written, _ = store.update(lambda entries: {"a": Entry()})
            assert written is Written.FAILED
            assert store.load() == {"a": Entry(failures=1, until=NOW)}
        assert store.errors()["write"] == 1

    def test_busy_lock_gives_up_quickly(self, tmp_path: Path) -> None:
        """A lock held by a live process makes an update give up within a few ms."""
        store = StateStore(tmp_path)
        lock = tmp_path / f".{STATE_FILE}.lock"
        lock.touch()
        started = time.monotonic()
        written, _ = store.update(lambda entries: {"a": Entry()})
        assert written is Written.BUSY
        assert time.monotonic() - started < LOCK_WAIT_S + 0.05
        assert store.errors()["lock"] == 1
        assert lock.exists()
        assert not store.path.exists()

    def test_stale_lock_is_broken(self, tmp_path: Path) -> None:
        """A lock left by a process that died is removed and the update goes through."""
        store = StateStore(tmp_path)
        lock = tmp_path / f".{STATE_FILE}.lock"
        lock.touch()
        old = time.time() - STALE_LOCK_S - 1
        os.utime(lock, (old, old))
        written, _ = store.update(lambda entries: {"a": Entry()})
        assert written is Written.WRITTEN
        assert not lock.exists()

    def test_concurrent_writers_keep_every_destination(self, tmp_path: Path) -> None:
        """Eight processes updating their own destination at once lose no entry."""
        code = textwrap.dedent(
            """
            import sys
            from pathlib import Path
            from visivo.telemetry.sinks.backoff import Entry
            from visivo.telemetry.sinks.delivery_state import StateStore, Written
            store, me = StateStore(Path(sys.argv[1])), sys.argv[2]
            results = []
            for n in range(20):
                def change(entries, n=n):
                    return {**entries, me: Entry(failures=n + 1)}
                results.append(store.update(change)[0])
            print(sum(r is Written.BUSY for r in results))
            """
        )
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(tmp_path), f"w{n}"],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(8)
        ]
        busy = [int(run.communicate(timeout=30)[0]) for run in runs]
        entries = StateStore(tmp_path).load()
        assert set(entries) == {f"w{n}" for n in range(8)}
        # A writer's last update may have found the lock busy, never an earlier one undone.
        assert all(entry.failures >= 1 for entry in entries.values()), (entries, busy)

    def test_clear_keeps_successes_and_creates_nothing(self, tmp_path: Path) -> None:
        """Clearing forgets failures, pauses and leases, keeps the last successes."""
        store = StateStore(tmp_path / ".visivo")
        assert clear_backoff(store) is Written.UNCHANGED
        assert not store.directory.exists()
        put(store, "a", Entry(failures=3, until=NOW, reason="dns", last_success=NOW - 9))
        put(store, "b", Entry(until=NOW, lease_until=NOW))
        assert clear_backoff(store) is Written.WRITTEN
        assert store.load() == {"a": Entry(last_success=NOW - 9), "b": Entry()}


class TestGate:
    def test_failure_makes_the_next_process_skip(self, tmp_path: Path) -> None:
        """A down outcome is written; a later process skips without sending."""
        clock = Clock()
        first = gate(tmp_path, clock)
        assert first.skip_reason() is None
        first.report("failed", "connection")
        assert first.skip_reason() == OFFLINE_BACKOFF  # this process remembers too
        clock.now += 1
        second = gate(tmp_path, clock)
        assert second.backing_off()
        assert second.skip_reason() == OFFLINE_BACKOFF

    def test_exactly_one_probe_after_the_backoff(self, tmp_path: Path) -> None:
        """After the backoff the first process probes; the others skip until it reports."""
        clock = Clock()
        gate(tmp_path, clock).report("failed", "timeout")
        clock.now += 60
        prober, other = gate(tmp_path, clock), gate(tmp_path, clock)
        assert prober.skip_reason() is None
        assert other.skip_reason() == OFFLINE_BACKOFF
        prober.report("failed", "timeout")
        entry = StateStore(tmp_path).load()[destination_key(URL)]
        assert (entry.failures, entry.until, entry.lease_until) == (2, clock.now + 300, 0.0)

    def test_a_killed_prober_blocks_others_one_lease_at_most(self, tmp_path: Path) -> None:
        """A probe that never reports stops holding the others back when its lease ends."""
        clock = Clock()
        gate(tmp_path, clock).report("failed", "dns")
        clock.now += 60
        assert gate(tmp_path, clock).skip_reason() is None  # probes, then "dies"
        clock.now += LEASE_S
        assert gate(tmp_path, clock).skip_reason() is None

    def test_successful_probe_resets(self, tmp_path: Path) -> None:
        """A probe that gets through clears the backoff for every process."""
        clock = Clock()
        gate(tmp_path, clock).report("failed", "timeout")
        clock.now += 60
        prober = gate(tmp_path, clock)
        assert prober.skip_reason() is None
        prober.report("sent")
        assert StateStore(tmp_path).load()[destination_key(URL)] == Entry(last_success=clock.now)
        assert gate(tmp_path, clock).skip_reason() is None

    def test_pause_is_carried_across_processes(self, tmp_path: Path) -> None:
        """A Retry-After pause makes later processes drop as paused until it ends."""
        clock = Clock()
        gate(tmp_path, clock).report("failed", "http_429", 30.0)
        assert gate(tmp_path, clock).skip_reason() == PAUSED
        clock.now += 30
        assert gate(tmp_path, clock).skip_reason() is None

    def test_destinations_are_independent(self, tmp_path: Path) -> None:
        """One destination's backoff does not skip another."""
        clock = Clock()
        gate(tmp_path, clock, "http://a.invalid/").report("failed", "dns")
        assert gate(tmp_path, clock, "http://b.invalid/").skip_reason() is None

    def test_long_running_process_notices_a_reset(self, tmp_path: Path) -> None:
        """A skipping process notices that the file changed and sees a cleared backoff."""
        clock = Clock()
        server = gate(tmp_path, clock)
        server.report("failed", "timeout")
        assert clear_backoff(StateStore(tmp_path)) is Written.WRITTEN  # status --retry-now
        clock.now += 1
        assert server.skip_reason() is None

    def test_nothing_reported_creates_nothing(self, tmp_path: Path) -> None:
        """Asking and neutral outcomes never create the file or its directory."""
        directory = tmp_path / ".visivo"
        one = gate(directory, Clock())
        assert not one.backing_off()
        assert one.skip_reason() is None
        one.report("failed", "deadline")
        one.report("dropped", "too_large")
        assert not directory.exists()

    def test_unwritable_state_still_sends(self, tmp_path: Path) -> None:
        """When the file cannot be written, a process still probes after the backoff."""
        clock = Clock()
        directory = tmp_path / ".visivo"
        gate(directory, clock).report("failed", "timeout")
        clock.now += 60
        with unwritable(directory):
            one = gate(directory, clock)
            assert one.skip_reason() is None
            one.report("failed", "timeout")
            assert one.skip_reason() == OFFLINE_BACKOFF  # remembered in memory
            assert one.store.errors()["write"] == 2

    def test_a_lock_copied_held_by_fork_never_hangs(self, tmp_path: Path) -> None:
        """A gate whose lock is held by a thread that is gone answers "send" in bounded time."""
        one = gate(tmp_path, Clock())
        assert one._lock.acquire()  # as a fork copies it when another thread held it
        started = time.monotonic()
        assert one.skip_reason() is None
        one.report("failed", "timeout")
        assert time.monotonic() - started < 1.0
        assert one.store.errors()["gate_busy"] == 2
        assert not one.store.path.exists()

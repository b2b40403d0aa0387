"""The delivery state file shared by processes, and the gate's decisions on it.

``~/.visivo/telemetry-delivery.json`` remembers, per destination, what
:mod:`visivo.telemetry.sinks.backoff` decides: the failure count, until when to skip,
the last reason word, the last success and the probe lease. Nothing else: no event, no
identifier, no URL (destinations are named by a truncated hash of their URL).

- **Private.** The file is created with mode 0600; the directory, when we create it,
  with 0700.
- **Atomic.** Every change is a read-modify-write under a lock file (``O_EXCL``, waited
  for at most :data:`LOCK_WAIT_S`, broken when older than :data:`STALE_LOCK_S`), written
  to a temporary file in the same directory and moved into place with ``os.replace``.
  Entries of other destinations are kept.
- **Harmless.** A missing, corrupt, oversized or unreadable file, or a directory in its
  place, means "no backoff": nothing raises, problems are counted in
  :meth:`StateStore.errors`, and the next outcome rewrites the file when it can.
- **Only when sending.** The file is read when the first batch (or the warm-up) needs it,
  on the sending thread, and written only to take the probe lease or after a delivery
  outcome that changes it: a process that sends nothing never creates it.

Network sinks use this through :class:`visivo.telemetry.sinks.gate.DeliveryGate`;
``visivo-telemetry status`` reads the store and clears it (``--retry-now``).
"""

from __future__ import annotations

import contextlib
import enum
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeVar

from visivo.telemetry.sinks.backoff import (
    Action,
    Entry,
    admit,
    destination_key,
    entry_from_json,
    entry_to_json,
    record,
    take_lease,
    verdict,
)

__all__ = [
    "LOCK_WAIT_S",
    "STALE_LOCK_S",
    "STATE_FILE",
    "StateGate",
    "StateStore",
    "Written",
]

STATE_FILE: Final = "telemetry-delivery.json"
_VERSION: Final = 1
# The lock is held for a read and a small write (well under a millisecond); waiting longer
# than this means contention or a crashed holder, and the caller gives up.
LOCK_WAIT_S: Final = 0.025
_LOCK_POLL_S: Final = 0.001
# A lock file older than this was left by a process that died holding it.
STALE_LOCK_S: Final = 2.0
# The file stays tiny: at most this many destinations (the least recently active go).
_MAX_DESTINATIONS: Final = 16
_MAX_FILE_BYTES: Final = 64 * 1024

# The gate's own lock is held for one file update at most.
_GATE_WAIT_S: Final = 0.1

Entries = dict[str, Entry]
_T = TypeVar("_T")


class Written(enum.Enum):
    """How :meth:`StateStore.update` ended."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the change had nothing to write
    BUSY = "busy"  # another process held the lock longer than LOCK_WAIT_S
    FAILED = "failed"  # the directory or the file could not be written


def _last_active(entry: Entry) -> float:
    return max(entry.until, entry.lease_until, entry.last_success or 0.0)


class StateStore:
    """The state file in ``directory``: load it, or change it atomically under a lock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self._lock_path = directory / f".{STATE_FILE}.lock"
        self._errors: Counter[str] = Counter()

    def errors(self) -> Mapping[str, int]:
        """Problems met and swallowed, by step (``read``, ``lock``, ``write``, ``gate``)."""
        return MappingProxyType(dict(self._errors))

    def count_error(self, where: str) -> None:
        """Count a problem swallowed by a user of this store."""
        self._errors[where] += 1

    def signature(self) -> tuple[int, int, int] | None:
        """What changes whenever the file is replaced (inode, size, mtime); ``None`` if absent."""
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def load(self) -> Entries:
        """Every valid entry in the file; empty when it is missing or unusable."""
        import json  # here, not at start(): the file is read on the sending thread

        try:
            with open(self.path, "rb") as file:
                raw = file.read(_MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError:
            self._errors["read"] += 1
            return {}
        try:
            data = json.loads(raw) if len(raw) <= _MAX_FILE_BYTES else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            self._errors["read"] += 1
            return {}
        found = data.get("destinations")
        if not isinstance(found, dict):
            self._errors["read"] += 1
            return {}
        entries = {key: entry_from_json(raw_entry) for key, raw_entry in found.items()}
        return {key: entry for key, entry in entries.items() if entry is not None}

    def update(self, change: Callable[[Entries], Entries | None]) -> tuple[Written, Entries]:
        """Apply ``change`` to the stored entries under the lock and write the result.

        ``change`` returns the new entries, or ``None`` when there is nothing to write.
        Returns how it ended and the entries now stored (as read when nothing was written).
        """
        with self._locked() as held:
            if held is not Written.WRITTEN:
                return held, {}
            entries = self.load()
            changed = change(dict(entries))
            if changed is None:
                return Written.UNCHANGED, entries
            kept = sorted(changed.items(), key=lambda item: _last_active(item[1]), reverse=True)
            changed = dict(kept[:_MAX_DESTINATIONS])
            return (Written.WRITTEN if self._write(changed) else Written.FAILED), changed

    def _write(self, entries: Entries) -> bool:
        import json

        body = {
            "version": _VERSION,
            "destinations": {key: entry_to_json(entry) for key, entry in entries.items()},
        }
        temporary = self.directory / f".{STATE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(body, file, separators=(",", ":"))
            os.replace(temporary, self.path)
        except OSError:
            self._errors["write"] += 1
            with contextlib.suppress(OSError):
                temporary.unlink()
            return False
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Written]:
        """Hold the lock file; yields ``WRITTEN`` when held, else ``BUSY`` or ``FAILED``."""
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            self._errors["write"] += 1
            yield Written.FAILED
            return
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                os.close(os.open(self._lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                break
            except FileExistsError:
                if self._break_stale_lock():
                    continue
                if time.monotonic() >= deadline:
                    self._errors["lock"] += 1
                    yield Written.BUSY
                    return
                time.sleep(_LOCK_POLL_S)
            except OSError:
                self._errors["write"] += 1
                yield Written.FAILED
                return
        try:
            yield Written.WRITTEN
        finally:
            try:
                self._lock_path.unlink()
            except OSError:
                self._errors["lock"] += 1

    def _break_stale_lock(self) -> bool:
        """Remove a lock file left by a dead process; whether it was removed."""
        try:
            age = time.time() - self._lock_path.stat().st_mtime
            if age < STALE_LOCK_S:
                return False
            self._lock_path.unlink()
        except FileNotFoundError:
            return True  # released meanwhile: try again at once
        except OSError:
            self._errors["lock"] += 1
            return False
        return True


class StateGate:
    """The decisions behind :class:`visivo.telemetry.sinks.gate.DeliveryGate`, on a store.

    Same methods and contract as ``DeliveryGate``, which builds one on first use.

    Args:
        store: where the state lives.
        url: the destination; only a hash of it is stored (:func:`backoff.destination_key`).
        clock: wall-clock epoch seconds (shared between processes).
    """

    def __init__(
        self, store: StateStore, url: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self._url = url
        self._key: str | None = None
        self._clock = clock
        self._entry: Entry | None = None
        self._read = False
        self._signature: tuple[int, int, int] | None = None  # of the file as last read
        self._probing = False
        # The sending thread, and once at exit the exiting one (see DeliveryGate).
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        """The destination's name in the store (computed when first needed)."""
        if self._key is None:
            self._key = destination_key(self._url)
        return self._key

    def _load(self) -> None:
        self._read = True
        self._signature = self.store.signature()
        self._entry = self.store.load().get(self.key)

    def _guarded(self, step: Callable[[], _T], fallback: _T) -> _T:
        """Run one step under the gate's lock; on any problem count it and use ``fallback``.

        The lock is waited for a bounded time: a fork can copy it held by a thread that
        does not exist in the child.
        """
        if not self._lock.acquire(timeout=_GATE_WAIT_S):
            self.store.count_error("gate_busy")
            return fallback
        try:
            return step()
        except Exception:  # noqa: BLE001 - counted; the gate must never break a send
            self.store.count_error("gate")
            return fallback
        finally:
            self._lock.release()

    def backing_off(self) -> bool:
        """Whether a backoff is recorded (skipping, or due a probe); reads only once."""
        return self._guarded(self._backing_off, False)

    def skip_reason(self) -> str | None:
        """``None`` to send now, or the reason to drop the batch unsent. Never raises."""
        return self._guarded(self._skip_reason, None)

    def report(self, kind: str, reason: str = "", pause_s: float = 0.0) -> None:
        """Record the outcome of a request that reached the network. Never raises."""
        self._guarded(lambda: self._report(kind, reason, pause_s), None)

    def _backing_off(self) -> bool:
        if not self._read:
            self._load()
        return admit(self._entry, self._clock()) is not Action.SEND

    def _skip_reason(self) -> str | None:
        now = self._clock()
        if not self._read:
            self._load()
        action = admit(self._entry, now)
        if action is Action.SKIP and self.store.signature() != self._signature:
            self._load()  # changed since (another probe succeeded, status --retry-now)
            action = admit(self._entry, now)
        if action is Action.PROBE:
            action = self._claim_probe(now)
        if action is Action.SKIP:
            return (self._entry or Entry()).skip_reason
        return None

    def _claim_probe(self, now: float) -> Action:
        """Take the probe lease in the file; what to do if another process was faster."""
        took = False

        def claim(entries: Entries) -> Entries | None:
            nonlocal took
            stored = entries.get(self.key)
            if stored is None or admit(stored, now) is not Action.PROBE:
                return None
            took = True
            entries[self.key] = take_lease(stored, now)
            return entries

        written, entries = self.store.update(claim)
        if written is Written.BUSY:
            return Action.SKIP  # another process is changing the file, most likely probing
        if written is Written.FAILED:
            self._probing = True  # the file cannot be written: no one can coordinate
            return Action.PROBE
        self._entry = entries.get(self.key)
        self._probing = took
        return Action.PROBE if took else admit(self._entry, now)

    def _report(self, kind: str, reason: str, pause_s: float) -> None:
        now = self._clock()
        outcome = verdict(kind, reason, pause_s)
        probing, self._probing = self._probing, False
        remembered = record(self._entry, outcome, reason, now, pause_s=pause_s)
        if remembered is None and not probing:
            return

        def change(entries: Entries) -> Entries | None:
            new = record(entries.get(self.key), outcome, reason, now, pause_s=pause_s)
            if new is None:
                return None
            entries[self.key] = new
            return entries

        written, entries = self.store.update(change)
        if written in (Written.WRITTEN, Written.UNCHANGED):
            self._entry = entries.get(self.key)
        elif remembered is not None:
            self._entry = remembered  # at least this process remembers


def clear_backoff(store: StateStore) -> Written:
    """Forget every recorded failure, pause and lease; keep the last successes."""

    def clear(entries: Entries) -> Entries | None:
        if not entries:
            return None
        return {key: Entry(last_success=entry.last_success) for key, entry in entries.items()}

    if not store.path.exists():
        return Written.UNCHANGED
    written, _ = store.update(clear)
    return written

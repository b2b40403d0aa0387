"""Helpers shared by the offline-backoff tests: the state file and an unwritable directory."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers import BlackHole
from visivo.telemetry.sinks.backoff import Entry, backoff_s, destination_key
from visivo.telemetry.sinks.delivery_state import STATE_FILE, StateStore, Written


def state_path(home: Path) -> Path:
    """Where a process with this ``HOME`` keeps its delivery state."""
    return home / ".visivo" / STATE_FILE


def read_state(home: Path) -> dict[str, Any]:
    """The state file's destinations, as stored."""
    destinations: dict[str, Any] = json.loads(state_path(home).read_text())["destinations"]
    return destinations


def entry_for(home: Path, url: str) -> dict[str, Any]:
    """The stored entry of one destination."""
    entry: dict[str, Any] = read_state(home)[destination_key(url)]
    return entry


def edit_entry(home: Path, url: str, **fields: Any) -> None:
    """Rewrite fields of one destination's entry in the real file (e.g. to end a backoff)."""
    path = state_path(home)
    data = json.loads(path.read_text())
    data["destinations"][destination_key(url)].update(fields)
    path.write_text(json.dumps(data))


def seed_backoff(home: Path, url: str, reason: str = "timeout") -> None:
    """Record one failure for ``url``, as a process that just failed would."""
    now = time.time()
    entry = Entry(failures=1, until=now + backoff_s(1), reason=reason)
    key = destination_key(url)
    written, _ = StateStore(state_path(home).parent).update(lambda e: {**e, key: entry})
    assert written is Written.WRITTEN


def wait_accepted(hole: BlackHole, n: int, timeout: float = 2.0) -> int:
    """The black hole's connection count once it reaches ``n`` (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while hole.accepted < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return hole.accepted


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """Make ``directory`` unwritable, even for root (``chattr +i``), while inside."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(directory)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        mode = directory.stat().st_mode
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(mode)

"""Helpers shared by the offline-backoff tests: the state file and an unwritable directory."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from visivo.telemetry.sinks.backoff import destination_key
from visivo.telemetry.sinks.delivery_state import STATE_FILE


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

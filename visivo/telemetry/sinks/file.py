"""The file sink: appends JSON lines to a path."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks._fork import reset_in_child
from visivo.telemetry.sinks.formats import json_line

__all__ = ["FileSink", "ShortWriteError"]


class ShortWriteError(OSError):
    """Only part of a batch could be written (disk full, file-size limit); it was undone."""


class FileSink:
    """Appends each envelope as one JSON line to ``path``.

    The file is opened for each batch and closed again, and each batch is one ``write``
    in append mode, so several processes can share a file without interleaving lines.
    A batch is written whole or not at all: the bytes of a short write are truncated
    away, so no torn line is left for the next one to be glued to.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        reset_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # Another thread of the parent may have been mid-write at the fork.
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Envelope]) -> None:
        """Append the batch; raise ``OSError`` (nothing appended) if it does not fit."""
        data = "".join(json_line(envelope) + "\n" for envelope in batch).encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _append_whole(fd, data)
            finally:
                os.close(fd)

    def close(self, timeout: float) -> None:
        """Nothing held open between batches."""


def _append_whole(fd: int, data: bytes) -> None:
    """One ``write`` of ``data`` on an append-mode ``fd``; a short one is truncated away."""
    written = os.write(fd, data)  # raises (with nothing written) when not a byte fits
    if written == len(data):
        return
    # In append mode the offset now sits just after our partial bytes.
    end = os.lseek(fd, 0, os.SEEK_CUR)
    os.ftruncate(fd, end - written)
    raise ShortWriteError(f"wrote {written} of {len(data)} bytes to the file sink; undone")

"""The file sink: appends JSON lines to a path."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks.formats import json_line

__all__ = ["FileSink"]


class FileSink:
    """Appends each envelope as one JSON line to ``path``.

    The file is opened for each batch and closed again, and each batch is one ``write``
    in append mode, so several processes can share a file without interleaving lines.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, batch: Sequence[Envelope]) -> None:
        """Append the batch."""
        data = "".join(json_line(envelope) + "\n" for envelope in batch).encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)

    def close(self, timeout: float) -> None:
        """Nothing held open between batches."""

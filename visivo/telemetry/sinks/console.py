"""Console sinks for debugging: one JSON envelope per line on stdout or stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks.formats import json_line

__all__ = ["ConsoleSink", "stripped_notice"]


def stripped_notice(envelope: Envelope) -> str:
    """The line that tells a developer which keywords the policy removed (names only)."""
    names = ", ".join(envelope.stripped)
    return f"visivo-telemetry: {envelope.event}: stripped keywords not in the schema: {names}"


class ConsoleSink:
    """Writes each envelope as one JSON line, exactly as the http sink would send it.

    Keywords the policy stripped are named (never their values) on ``notices``.

    Args:
        stream: returns the stream to write to; looked up at each write, so a replaced
            ``sys.stdout`` is honoured.
        notices: returns the stream for stripped-keyword notices.
    """

    def __init__(
        self,
        stream: Callable[[], TextIO],
        notices: Callable[[], TextIO] = lambda: sys.stderr,
    ) -> None:
        self._stream = stream
        self._notices = notices

    @classmethod
    def stdout(cls) -> ConsoleSink:
        """A sink writing to the current ``sys.stdout``."""
        return cls(lambda: sys.stdout)

    @classmethod
    def stderr(cls) -> ConsoleSink:
        """A sink writing to the current ``sys.stderr``."""
        return cls(lambda: sys.stderr)

    def send(self, batch: Sequence[Envelope]) -> None:
        """Write the batch, one line per envelope; raises (counted) if a stream is gone."""
        stream = self._stream()
        notices = self._notices()
        lines: list[str] = []
        notes: list[str] = []
        for envelope in batch:
            if envelope.stripped:
                (lines if notices is stream else notes).append(stripped_notice(envelope) + "\n")
            lines.append(json_line(envelope) + "\n")
        if notes:
            write_through(notices, "".join(notes))
        write_through(stream, "".join(lines))

    def close(self, timeout: float) -> None:
        """Nothing to release; streams belong to the process."""


def write_through(stream: TextIO, text: str) -> None:
    """Write ``text`` so that none of it can be left in ``stream``'s buffer on failure.

    Python flushes ``sys.stdout`` at exit, and a failed flush (a reader that went away:
    ``| head -1``) prints "Exception ignored" and turns the exit status into 120. So,
    unless the stream is a terminal (line-buffered, cannot break that way) or has no
    file descriptor, the host's pending output is flushed first, to keep the order, and
    ours goes straight to the descriptor: if it fails, nothing of ours stays behind.
    """
    try:
        fd = None if stream.isatty() else stream.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation: an in-memory stream
        fd = None
    if fd is None:
        stream.write(text)
        stream.flush()
        return
    stream.flush()
    data = text.encode(stream.encoding or "utf-8", stream.errors or "strict")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]

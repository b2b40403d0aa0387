"""Console sinks for debugging: one JSON envelope per line on stdout or stderr."""

from __future__ import annotations

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
        """Write the batch, one line per envelope."""
        stream = self._stream()
        notices = self._notices()
        for envelope in batch:
            if envelope.stripped:
                notices.write(stripped_notice(envelope) + "\n")
            stream.write(json_line(envelope) + "\n")
        stream.flush()
        if notices is not stream:
            notices.flush()

    def close(self, timeout: float) -> None:
        """Nothing to release; streams belong to the process."""

"""Test helpers for host developers: a pytest fixture that captures telemetry envelopes.

Installed as a pytest plugin (entry point ``pytest11``), so ``telemetry_events`` is
available in any test once ``visivo-telemetry`` is installed::

    def test_run_reports_jobs(telemetry_events):
        run_my_command()
        (event,) = list(telemetry_events)
        assert event["properties"]["jobs"] == 3
        assert telemetry_events.stripped == []  # no keyword the schema lacks

The fixture ignores the developer's opt-outs (``DO_NOT_TRACK``, config files) and sink
settings, captures into the memory sink, and sends nothing anywhere. Reading it first
delivers everything emitted so far, synchronously; every test starts empty. Code under
test that calls ``visivo.telemetry.start()`` keeps the fixture's pipeline (``start`` is
idempotent); code that stops telemetry and starts it again gets a pipeline that captures
into the same memory sink, so nothing leaves the process during the test. The fixture
replaces the process-wide pipeline for the test and leaves telemetry stopped
afterwards, so it is not safe with tests that run in parallel threads of one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from visivo.telemetry import runtime
from visivo.telemetry.sinks.memory import MemorySink

__all__ = ["CapturedEvents", "capture_events", "stop_capturing", "telemetry_events"]

_FLUSH_TIMEOUT_S = 5.0


class CapturedEvents:
    """The envelopes emitted so far, exactly as a sink receives them (wire dicts)."""

    def __init__(self, sink: MemorySink) -> None:
        self._sink = sink

    def _delivered(self) -> list[dict[str, Any]]:
        if not runtime.flush(_FLUSH_TIMEOUT_S):
            raise RuntimeError(f"telemetry events were not delivered within {_FLUSH_TIMEOUT_S} s")
        return self._sink.wire()

    def __repr__(self) -> str:
        delivered = self._delivered()
        stripped = f" stripped={self.stripped!r}" if self.stripped else ""
        return f"<CapturedEvents {delivered!r}{stripped}>"

    @property
    def stripped(self) -> list[str]:
        """Keyword names the schema lacks, stripped from the captured events: sorted, once each.

        A typo (``send(..., jbos=3)``) or a keyword not yet declared shows here at once.
        """
        self._delivered()
        return sorted({name for envelope in self._sink.envelopes() for name in envelope.stripped})

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._delivered())

    def __len__(self) -> int:
        return len(self._delivered())

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._delivered()[index]

    def named(self, event: str) -> list[dict[str, Any]]:
        """The captured envelopes of one event (``"command_finished"``)."""
        return [envelope for envelope in self._delivered() if envelope["event"] == event]

    def clear(self) -> None:
        """Forget what was captured so far."""
        runtime.flush(_FLUSH_TIMEOUT_S)
        self._sink.clear()


def capture_events() -> CapturedEvents:
    """Capture every event of this process into a fresh memory sink, until ``stop_capturing``.

    Any pipeline started meanwhile, whatever its settings, sends to that sink only.
    """
    sink = MemorySink()
    runtime.reset()
    runtime.capture_only(sink)
    runtime.start_with_sink(sink, names=("memory",))
    return CapturedEvents(sink)


def stop_capturing() -> None:
    """Stop telemetry and let later pipelines send where their settings say."""
    runtime.capture_only(None)
    runtime.reset()


@pytest.fixture
def telemetry_events() -> Iterator[CapturedEvents]:
    """Capture the telemetry envelopes emitted during one test."""
    captured = capture_events()
    try:
        yield captured
    finally:
        stop_capturing()

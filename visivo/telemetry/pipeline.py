"""One running pipeline: its settings, its sink, its batcher, and what the batcher's
thread does with each batch (scrub, merge requests, build envelopes, send).

The runtime holds at most one :class:`Pipeline` at a time; this module holds no state
of its own. Everything here except construction runs on the batcher's thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from visivo.telemetry.batcher import Batcher, BatcherCounters
from visivo.telemetry.counters import signal_counts
from visivo.telemetry.policy.aggregate import RequestWindow
from visivo.telemetry.policy.scrub import Scrubbed
from visivo.telemetry.schema import Envelope, Metadata, RequestFinished
from visivo.telemetry.settings import Settings
from visivo.telemetry.sinks.registry import ResolvedSink

__all__ = ["Pipeline", "Raw"]

# What a receiver queues: the pure scrubber to run, the payload it owns, and when.
Raw = tuple[Callable[[Mapping[str, Any]], Scrubbed], dict[str, Any], float]


@attrs.define
class Pipeline:
    """A pipeline and its export path; build one with :meth:`create`.

    Attributes:
        settings: what the environment and config files said when it was decided.
        resolved: the sink the spec resolved to, and its names.
        make_metadata: makes the process metadata (reads the host's version).
        count_error: counts an exception swallowed on the batcher's thread.
        decided: False for a test pipeline (``start_with_sink``), which no later
            decision touches.
    """

    settings: Settings
    resolved: ResolvedSink
    make_metadata: Callable[[], Metadata]
    count_error: Callable[[str], None]
    decided: bool = True
    batcher: Batcher[Raw] = attrs.field(init=False)
    notice_pending: bool = False
    # Run on the batcher's thread when it starts (loads the HTTP stack), if the sink has one.
    warm: Callable[[], None] | None = None
    # Payloads whose scrub raised; written only by the batcher's thread.
    invalid: int = 0
    # Requests merged until the batcher's window ends; changed only by the batcher's thread.
    window: RequestWindow = attrs.field(factory=RequestWindow)
    # Signals whose send raised, by exception type; written only by the batcher's thread.
    failed: Counter[str] = attrs.field(factory=Counter)
    # Set when an opt-out came after start: what is still queued is dropped, not sent.
    withdrawn: bool = False
    # Payloads dropped because of that; written only by the batcher's thread.
    withdrawn_count: int = 0
    # See ``metadata``; None until the first export, and again in a forked child.
    made_metadata: Metadata | None = None

    @classmethod
    def create(
        cls,
        settings: Settings,
        resolved: ResolvedSink,
        *,
        make_metadata: Callable[[], Metadata],
        count_error: Callable[[str], None],
        decided: bool,
        warm: Callable[[], None] | None,
    ) -> Pipeline:
        """A pipeline whose batcher exports through it (no thread starts yet)."""
        pipeline = cls(settings, resolved, make_metadata, count_error, decided, warm=warm)
        pipeline.batcher = Batcher(
            pipeline.export, on_start=warm, on_window_end=pipeline.end_window
        )
        return pipeline

    @property
    def metadata(self) -> Metadata:
        """The process metadata, made by the first export on the batcher's thread
        (finding the host's version reads package metadata)."""
        metadata = self.made_metadata
        if metadata is None:
            metadata = self.made_metadata = self.make_metadata()
        return metadata

    def export(self, batch: Sequence[Raw]) -> None:
        """Run the policy over captured payloads: only scrubbed envelopes come out.

        Commands are sent at once; requests are merged into the window, which
        :meth:`end_window` sends when the batcher's window ends. Never raises: a payload
        whose scrub raises is counted as invalid, a failed send by the signals it carried.
        """
        if self.withdrawn:  # a late opt-out: what is still queued is never sent
            self.withdrawn_count += len(batch)
            return
        commands = []
        metadata = self.metadata
        window = self.window
        for scrub, payload, timestamp in batch:
            try:
                scrubbed = scrub(payload)
            except Exception:  # noqa: BLE001 - one bad payload never blocks the batch
                self.count_error("scrub")
                self.invalid += 1
                continue
            for name in scrubbed.failed:  # a field that failed alone was left out: count it
                self.count_error(f"scrub:{name}")
            properties = scrubbed.properties
            if isinstance(properties, RequestFinished):
                if not window.add(properties, timestamp, scrubbed.stripped):
                    self.end_window()  # full: send what it holds, start a new one
                    window.add(properties, timestamp, scrubbed.stripped)
            else:
                commands.append(Envelope(properties, timestamp, metadata, scrubbed.stripped))
        self._send(commands, len(commands))

    def end_window(self) -> None:
        """Send one event per endpoint, method and status for the requests of the window."""
        window = self.window
        requests = window.requests
        if self.withdrawn:  # a late opt-out: what the window holds is never sent
            window.close()
            self.withdrawn_count += requests
            return
        metadata = self.metadata
        envelopes = [
            Envelope(merged.properties, merged.timestamp, metadata, merged.stripped)
            for merged in window.close()
        ]
        self._send(envelopes, requests)

    def _send(self, envelopes: list[Envelope], signals: int) -> None:
        if not envelopes:
            return
        try:
            self.resolved.sink.send(envelopes)
        except Exception as error:  # noqa: BLE001 - counted; telemetry never raises
            self.failed[type(error).__name__] += signals

    def signal_counts(self, *, stopped: bool) -> BatcherCounters:
        """The batcher's counts with the window's held requests and failed sends placed."""
        return signal_counts(
            self.batcher.counters(), held=self.window.requests, failed=self.failed, stopped=stopped
        )

    def after_fork_in_child(self) -> None:
        """A child makes its own metadata; the parent still owns the requests it merged."""
        self.made_metadata = None
        self.window = RequestWindow()
        self.failed = Counter()

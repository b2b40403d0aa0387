"""Plugin sinks at arm's length: built late, every call bounded in time and contained."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks._fork import reset_in_child
from visivo.telemetry.sinks.base import Sink

__all__ = [
    "PLUGIN_CALL_TIMEOUT_S",
    "PluginBusyError",
    "PluginError",
    "PluginSink",
    "PluginTimeoutError",
]

# The longest one call into a plugin (its factory, a send) may hold the batcher's
# thread: the budget the http sink gives itself for one batch.
PLUGIN_CALL_TIMEOUT_S: Final = 1.0

Report = Callable[[str, BaseException], None]


class PluginError(Exception):
    """A plugin's factory or sink raised something that is not an ``Exception``."""


class PluginTimeoutError(PluginError):
    """A call into a plugin did not return in time; it is left running on its thread."""


class PluginBusyError(PluginError):
    """An earlier call into the plugin is still running, so this batch was not handed over."""


class PluginSink:
    """Runs a third-party sink so that it can neither block nor end the host.

    No plugin code runs in ``start()`` or on the host's threads. The factory (and the
    import of the plugin's module) starts at the first ``warm`` or ``send``, and every
    call into the plugin runs on a helper thread that is waited for at most
    :data:`PLUGIN_CALL_TIMEOUT_S`, or less once ``finish_by`` set an exit deadline.
    While a call that timed out is still running, later batches fail at once
    (:class:`PluginBusyError`). Whatever plugin code raises, even ``SystemExit``, is
    passed to ``report`` (which counts it) and ends as an ``Exception`` the batcher
    counts. A factory that raised is not tried again. A plugin that counts what it
    delivered (``counters()``) is read after each send, on the same helper thread, and
    :meth:`counters` returns that snapshot.

    Args:
        name: the name the plugin was selected by, for messages.
        make: builds the plugin's sink (loads the entry point, calls its factory).
        report: called with ``(where, exception)`` for each exception plugin code raised.
    """

    def __init__(self, name: str, make: Callable[[], Sink], report: Report | None = None) -> None:
        self.name = name
        self._make = make
        self._report = report
        self._sink: Sink | None = None
        self._broken = False
        self._building: threading.Thread | None = None
        self._busy: threading.Thread | None = None
        self._finish_by = math.inf
        self._counts: object = None
        reset_in_child(self._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # The parent's helper threads do not exist here: a build they left unfinished is
        # started again, and a stuck call no longer blocks the child.
        if self._sink is None and not self._broken:
            self._building = None
        self._busy = None

    def warm(self) -> None:
        """Start building the plugin's sink in the background, while the host works."""
        self._start_build()

    def finish_by(self, deadline: float) -> None:
        """Give up on calls into the plugin by this ``time.monotonic()`` deadline."""
        self._finish_by = deadline

    def send(self, batch: Sequence[Envelope]) -> None:
        """Hand the batch to the plugin; raise (to be counted) if it fails or is late."""
        sink = self._built()
        envelopes = list(batch)

        def deliver() -> None:
            try:
                sink.send(envelopes)
            finally:
                self._read_counts(sink)

        self._call("send", deliver, self._budget())

    def counters(self) -> object:
        """The plugin's own counts as of its last send, or None when it keeps none."""
        return self._counts

    def _read_counts(self, sink: Sink) -> None:
        # On the plugin's helper thread; a broken counters() costs its counts, not the send.
        try:
            read = getattr(sink, "counters", None)
            if callable(read):
                self._counts = read()
        except BaseException as error:  # noqa: BLE001 - plugin code must not end our thread
            self._emit("counters", error)

    def close(self, timeout: float) -> None:
        """Close the plugin's sink, waiting at most ``timeout`` seconds; never raises."""
        sink = self._sink
        if sink is None:
            return
        try:
            self._call("close", lambda: sink.close(timeout), timeout)
        except (PluginTimeoutError, PluginBusyError) as error:
            self._emit("close", error)  # nothing raised in the plugin: count it here
        except Exception:  # noqa: BLE001 - reported where the plugin raised it
            return

    def _budget(self) -> float:
        return max(min(PLUGIN_CALL_TIMEOUT_S, self._finish_by - time.monotonic()), 0.0)

    def _start_build(self) -> None:
        if self._building is not None or self._sink is not None or self._broken:
            return

        def build() -> None:
            try:
                self._sink = self._make()
            except BaseException:
                self._broken = True
                raise

        self._building, _ = self._spawn("factory", build)

    def _built(self) -> Sink:
        self._start_build()
        building = self._building
        if building is not None:
            building.join(self._budget())
            if building.is_alive():
                raise PluginBusyError(f"sink {self.name!r} is still being created")
        if self._sink is None:
            raise PluginError(f"sink {self.name!r} could not be created")
        return self._sink

    def _call(self, what: str, call: Callable[[], object], timeout: float) -> None:
        """Run ``call`` on a helper thread, waiting at most ``timeout``; raise if it failed."""
        busy = self._busy
        if busy is not None and busy.is_alive():
            raise PluginBusyError(f"sink {self.name!r} is still running an earlier call")
        worker, failures = self._spawn(what, call)
        if worker is not None:
            worker.join(max(timeout, 0.0))
            if worker.is_alive():
                self._busy = worker
                raise PluginTimeoutError(f"sink {self.name!r}: {what} took over {timeout:.2f} s")
        if failures:
            error = failures[0]
            if isinstance(error, Exception):
                raise error
            raise PluginError(f"sink {self.name!r}: {what} raised {type(error).__name__}")

    def _spawn(
        self, what: str, call: Callable[[], object]
    ) -> tuple[threading.Thread | None, list[BaseException]]:
        """Start ``call`` on a daemon thread (or run it here when no thread can start).

        Returns the thread, and the list that receives what ``call`` raised, reported.
        """
        failures: list[BaseException] = []

        def run() -> None:
            try:
                call()
            except BaseException as error:  # noqa: BLE001 - plugin code must not end our thread
                failures.append(error)
                self._emit(what, error)

        worker = threading.Thread(target=run, name=f"visivo-telemetry-{self.name}", daemon=True)
        try:
            worker.start()
        except RuntimeError:  # no new threads at interpreter shutdown
            run()
            return None, failures
        return worker, failures

    def _emit(self, what: str, error: BaseException) -> None:
        if self._report is not None:
            self._report(f"sink {self.name!r}: {what}", error)

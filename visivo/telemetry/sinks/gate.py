"""The hook a network sink calls so that an offline machine pays the exit budget once.

:class:`DeliveryGate` is all a transport needs to know about the cross-process backoff
(the rules are in :mod:`visivo.telemetry.sinks.backoff`, the shared file in
:mod:`visivo.telemetry.sinks.delivery_state`). Building one costs nothing: the state
module is imported and the file read on the sending thread, the first time it is asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from visivo.telemetry.sinks.delivery_state import StateGate

__all__ = ["DeliveryGate"]


class DeliveryGate:
    """Decides, for one destination, whether a network sink sends, probes or skips.

    The transport calls, always on its one sending thread, and none of these raises:

    - :meth:`skip_reason` before sending a batch. A reason (``offline_backoff``: the
      destination failed recently; ``paused``: the server asked to wait) means: count
      the whole batch dropped with that reason and open no socket. ``None`` means send;
      the call may have taken the probe lease, released by the next :meth:`report`.
    - :meth:`report` after sending a batch, once, with the outcome of the last request
      that reached the network: its kind (``sent``, ``dropped``, ``failed``), its reason
      word (``timeout``, ``connection``, ``dns``, ``tls``, ``proxy``, ``http_5xx``,
      ``http_4xx``...) and the ``Retry-After`` pause in seconds (0 when none). Nothing to
      report when no request was made.
    - :meth:`backing_off` before optional work such as loading the HTTP stack ahead of
      time, to avoid it while a backoff is recorded (all but one process will skip).

    One exception to "the sending thread": when the process exits while that thread is
    stuck mid-send (a name lookup cannot be interrupted), the transport reports
    ``failed``/``timeout`` once from the exiting thread, so that the next processes skip.

    Debug sinks (console, file, memory) never get a gate: they are never skipped.

    Args:
        state_dir: the directory of the state file (``~/.visivo``), created if needed.
        url: the destination; only a hash of it is stored.
        clock: wall-clock epoch seconds (shared between processes).
    """

    def __init__(
        self, state_dir: Path, url: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.state_dir = state_dir
        self._url = url
        self._clock = clock
        self._state: StateGate | None = None

    @property
    def state(self) -> StateGate:
        """The gate's state and store, loaded on first use."""
        if self._state is None:
            from visivo.telemetry.sinks.delivery_state import StateGate, StateStore

            self._state = StateGate(StateStore(self.state_dir), self._url, clock=self._clock)
        return self._state

    def skip_reason(self) -> str | None:
        """``None`` to send now, or the reason to drop the batch unsent."""
        return self.state.skip_reason()

    def report(self, kind: str, reason: str = "", pause_s: float = 0.0) -> None:
        """Record the outcome of the batch's last request that reached the network."""
        self.state.report(kind, reason, pause_s)

    def backing_off(self) -> bool:
        """Whether a backoff is recorded for the destination (skipping, or due a probe)."""
        return self.state.backing_off()

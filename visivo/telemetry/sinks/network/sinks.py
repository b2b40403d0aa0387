"""The network sinks by name: ``http`` as a class (its historical API) over the transport."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from visivo.telemetry._version import __version__
from visivo.telemetry.sinks.network.native import NATIVE
from visivo.telemetry.sinks.network.transport import NetworkCounters, NetworkSink

__all__ = ["HttpCounters", "HttpSink"]

HttpCounters = NetworkCounters


class HttpSink(NetworkSink):
    """POSTs batches in the native envelope format to a collector of your own.

    Args:
        endpoint: The collector URL (see :func:`parse_endpoint`).
        timeout: Seconds one :meth:`send` may take in total, retry included.
        env: Where proxy variables are read (pass ``os.environ`` at the edge).
        ca_certs: A PEM file of CAs to trust instead of the system store.
        user_agent: The ``User-Agent`` header.
        clock: Monotonic seconds; drives the deadline and ``Retry-After`` pauses.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 1.0,
        env: Mapping[str, str] | None = None,
        ca_certs: str | None = None,
        user_agent: str = f"visivo-telemetry/{__version__}",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            endpoint,
            NATIVE,
            timeout=timeout,
            env=env,
            ca_certs=ca_certs,
            user_agent=user_agent,
            clock=clock,
        )

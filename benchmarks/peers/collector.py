"""A loopback collector that counts events in every client's request format.

It is tests/servers.py's :class:`Collector` (gzip bodies are decompressed there) with an
event count and an arrival time recorded per request. Formats:

- a JSON object with a ``batch`` list: ours and the floor (``POST /``), posthog
  (``POST /batch/``), segment (``POST /v1/batch``);
- OTLP logs (``POST /v1/logs``), protobuf or JSON: the log records in every scope.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from tests.servers import Collector, Recorded, Reply, _CollectorHandler, _QuietServer

# A 200 every client accepts: posthog parses the body as JSON; OTLP/HTTP accepts any
# success; ours and segment only read the status.
OK = Reply(200, {"Content-Type": "application/json"}, body=b'{"status": 1}')


def count_events(request: Recorded) -> int:
    """How many events ``request`` carries; 0 for anything else."""
    body = request.body
    if request.headers.get("content-encoding") == "deflate":
        body = zlib.decompress(body)
    if request.path.rstrip("/").endswith("/v1/logs"):
        return _count_otlp(body, request.headers.get("content-type", ""))
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return 0
    batch = parsed.get("batch") if isinstance(parsed, dict) else None
    return len(batch) if isinstance(batch, list) else 0


def _count_otlp(body: bytes, content_type: str) -> int:
    if "json" in content_type:
        parsed = json.loads(body)
        return sum(
            len(scope.get("logRecords", []))
            for resource in parsed.get("resourceLogs", [])
            for scope in resource.get("scopeLogs", [])
        )
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    message = ExportLogsServiceRequest()
    message.ParseFromString(body)
    return sum(
        len(scope.log_records)
        for resource in message.resource_logs
        for scope in resource.scope_logs
    )


class _NoDelayHandler(_CollectorHandler):
    # The handler writes the status line and headers, then the body, in two sends. With
    # Nagle's algorithm on, the body waits for the client's delayed ACK (~40 ms on Linux)
    # and every request of every client pays it; real collectors set TCP_NODELAY.
    disable_nagle_algorithm = True


class CountingCollector(Collector):
    """Records ``(arrival wall time, events)`` per request, besides the request itself."""

    def __init__(self) -> None:
        super().__init__()
        self.default = OK
        self.arrivals: list[tuple[float, int]] = []
        self.count_errors: list[str] = []
        self._count_lock = threading.Lock()

    def _make_server(self) -> _QuietServer:
        return _QuietServer(self, _NoDelayHandler)

    def _record(self, request: Recorded) -> Reply:
        try:
            events = count_events(request)
        except Exception as error:
            events = 0
            self.count_errors.append(f"{request.path}: {error!r}")
        with self._count_lock:
            self.arrivals.append((time.time(), events))
        return super()._record(request)

    def received(self, by: float | None = None) -> int:
        """Events received in total, or up to wall time ``by``."""
        with self._count_lock:
            return sum(n for t, n in self.arrivals if by is None or t <= by)

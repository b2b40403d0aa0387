"""Leak fuzzing through the http sink: markers never reach a collector on 127.0.0.1."""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telemetry.leakkit import draw_case, markers
from visivo.telemetry import runtime
from visivo.telemetry.sinks.network import HttpSink


class Recorder(ThreadingHTTPServer):
    """A collector that keeps every request body (gunzipped), answering 200."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def take(self) -> str:
        """Every body received so far, lower-cased, and forget them."""
        with self.lock:
            bodies, self.bodies = self.bodies, []
        return b"\n".join(bodies).decode("utf-8").lower()


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def collector() -> Iterator[Recorder]:
    """A recording server on 127.0.0.1 and a pipeline sending to it over http."""
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    runtime.reset()
    runtime.start_with_sink(HttpSink(f"http://127.0.0.1:{port}/v1/events", env={}))
    try:
        yield server
    finally:
        runtime.reset()
        server.shutdown()
        server.server_close()
        thread.join(5)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), marker=markers())
def test_marker_never_reaches_the_collector(
    collector: Recorder, data: st.DataObject, marker: str
) -> None:
    """No marker sent under any keyword of any signal appears in an http request body."""
    signal, base, keyword, values = draw_case(data, marker)
    for value in values:
        signal.send("test", **{**base, keyword: value})
    assert runtime.flush(5.0)
    received = collector.take()
    # Every value arrived: a merged request event carries its "count" of requests.
    carried = received.count('"command_finished"') + sum(
        int(count) for count in re.findall(r'"count":(\d+)', received)
    )
    assert carried == len(values)
    assert marker not in received

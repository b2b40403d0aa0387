"""The shared transport: a wall-clock budget per send, counted failures, closed sockets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trustme

from tests.servers import TRICKLES, Collector, Reply, Trickler
from tests.support import clean_env
from tests.telemetry.sinks.test_http import SEND_BOUND_S, envelopes, timed_send
from visivo.telemetry import runtime
from visivo.telemetry.sinks.network import HttpSink, NetworkSink
from visivo.telemetry.sinks.network.answers import INTERNAL, TIMEOUT, Verdict
from visivo.telemetry.sinks.network.native import NATIVE
from visivo.telemetry.sinks.network.transport import MAX_RESPONSE_BYTES
from visivo.telemetry.sinks.network.wire import Wire, WireFormat


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


class TestWallClockBudget:
    @pytest.mark.parametrize("mode", sorted(TRICKLES))
    def test_a_trickling_server_cannot_hold_a_send(self, mode: str) -> None:
        """Whatever the server trickles, one send ends within the budget, counted failed."""
        with Trickler(mode) as server:
            sink = HttpSink(server.url)
            elapsed = timed_send(sink, envelopes(3))
        assert elapsed < SEND_BOUND_S, f"{mode}: {elapsed:.2f}s"
        counters = sink.counters()
        if mode in ("chunked", "endless"):  # the status was 200; only the body never ends
            assert counters.events_sent == 3
        else:
            assert counters.events_failed == {TIMEOUT: 3}, mode

    @pytest.mark.parametrize("mode", ["status", "headers", "continue"])
    def test_a_trickling_proxy_cannot_hold_a_send(self, mode: str) -> None:
        """A proxy that trickles its answer (plain request or CONNECT) is bounded too."""
        with Trickler(mode) as proxy:
            plain = HttpSink("http://collector.example/", env={"HTTP_PROXY": proxy.url})
            tunnel = HttpSink("https://collector.example/", env={"HTTPS_PROXY": proxy.url})
            for sink in (plain, tunnel):
                elapsed = timed_send(sink, envelopes(1))
                assert elapsed < SEND_BOUND_S, f"{mode}: {elapsed:.2f}s"
                assert sink.counters().events_sent == 0
            assert proxy.connections >= 2

    @pytest.mark.parametrize("mode", ["status", "continue"])
    def test_a_trickled_tls_answer_is_bounded(
        self, ca: trustme.CA, tmp_path: Path, mode: str
    ) -> None:
        """Over TLS the budget holds too: the handshake succeeds, the answer trickles."""
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        with Trickler(mode, ca=ca) as server:
            sink = HttpSink(server.url, ca_certs=str(ca_file))
            elapsed = timed_send(sink, envelopes(1))
        assert elapsed < SEND_BOUND_S, f"{mode}: {elapsed:.2f}s"
        assert sink.counters().events_failed == {TIMEOUT: 1}

    def test_only_the_first_64_kib_of_an_answer_are_read(self) -> None:
        """A huge answer body is cut after MAX_RESPONSE_BYTES; the send still counts as sent."""
        with Collector() as server:
            server.default = Reply(body=b"x" * (MAX_RESPONSE_BYTES * 16))
            sink = HttpSink(server.url)
            sink.send(envelopes(1))
            sink.send(envelopes(1))  # a fresh connection: the cut one was not reused
        assert sink.counters().events_sent == 2


def _exploding_format(after: int) -> WireFormat:
    """The native format whose encoder raises on the ``after``-th event of each batch."""
    seen = {"n": 0}

    def encode_event(wire: Wire, uuid: str) -> bytes:
        seen["n"] += 1
        if seen["n"] % after == 0:
            raise RuntimeError("an encoder bug")
        return NATIVE.encode_event(wire, uuid)

    return WireFormat("exploding", encode_event, NATIVE.join, NATIVE.judge)


def _exploding_policy(status: int, retry_after_s: float | None, body: bytes) -> Verdict:
    raise ValueError("a policy bug")


class TestCountersAlwaysAddUp:
    def test_an_encoder_that_raises_is_counted_once(self) -> None:
        """An encoder bug never escapes send; each event is counted exactly once."""
        with Collector() as server:
            sink = NetworkSink(server.url, _exploding_format(after=2))
            sink.send(envelopes(4))
        counters = sink.counters()
        assert counters.accounted == 4
        assert counters.events_failed == {INTERNAL: 4}
        assert counters.internal_errors == 1
        assert server.requests == []

    def test_a_policy_that_raises_after_some_bodies_counts_the_rest(self) -> None:
        """A policy bug after one body was sent leaves the counters consistent."""
        broken = WireFormat("broken", NATIVE.encode_event, NATIVE.join, _exploding_policy)
        with Collector() as server:
            sink = NetworkSink(server.url, broken)
            sink.send(envelopes(3))
        counters = sink.counters()
        assert counters.accounted == 3
        assert counters.events_failed == {INTERNAL: 3}

    def test_the_identity_holds_through_the_runtime(self) -> None:
        """enqueued == sent + dropped + failed + queued after a sink's encoder raised."""
        from visivo.events import command_finished

        with Collector() as server:
            sink = NetworkSink(server.url, _exploding_format(after=3))
            runtime.start_with_sink(sink, names=("exploding",))
            for _ in range(7):
                command_finished.send(None, command="run", duration_ms=1.0, success=True)
            assert runtime.flush(5.0)
            snapshot = runtime.counters()
        lost = sum(snapshot.dropped.values()) + sum(snapshot.failed.values())
        assert snapshot.enqueued == 7
        assert snapshot.enqueued == snapshot.sent + lost + snapshot.queued
        assert snapshot.failed.get(INTERNAL, 0) > 0


def test_non_ascii_retry_after_digits_are_ignored() -> None:
    """``Retry-After: ²`` neither raises nor pauses; the 503 is simply retried once."""
    with Collector() as server:
        server.default = Reply(503, {"Retry-After": "²"})
        sink = HttpSink(server.url)
        sink.send(envelopes(2))
    counters = sink.counters()
    assert counters.accounted == 2
    assert counters.retries == 1
    assert counters.events_failed == {"http_5xx": 2}


@pytest.mark.parametrize("sink_name", ["http", "posthog", "otlp"])
@pytest.mark.parametrize("when", ["flush", "exit", "flush_then_exit", "closing_server", "tls"])
def test_no_unclosed_socket_at_exit(
    tmp_path: Path, ca: trustme.CA, sink_name: str, when: str
) -> None:
    """Under ``python -X dev -W error`` a process that sent exits clean: no ResourceWarning."""
    code = textwrap.dedent(
        """
        import visivo.telemetry as telemetry
        from visivo.events import command_finished
        telemetry.start()
        for _ in range(3):
            command_finished.send(None, command="run", duration_ms=1.0, success=True)
        if FLUSH:
            assert telemetry.flush(5.0)
            assert telemetry.counters().sent == SENT, telemetry.counters()
        if AGAIN:  # one more batch at exit, over the connection the flush left pooled
            command_finished.send(None, command="run", duration_ms=1.0, success=True)
        """
    )
    # Only otlp has a CA setting: over TLS the others fail the handshake (a path to check too).
    trusted = when != "tls" or sink_name == "otlp"
    code = code.replace("FLUSH", str(when != "exit")).replace("SENT", "3" if trusted else "0")
    code = code.replace("AGAIN", str(when == "flush_then_exit"))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with Collector(ca=ca if when == "tls" else None) as server:
        if when == "closing_server":
            server.default = Reply(headers={"Connection": "close"})
        env = clean_env(
            tmp_path,
            VISIVO_TELEMETRY_SINK=sink_name,
            VISIVO_TELEMETRY_ENDPOINT=server.url,
            VISIVO_POSTHOG_HOST=server.url,
            OTEL_EXPORTER_OTLP_ENDPOINT=server.url,
            OTEL_EXPORTER_OTLP_CERTIFICATE=str(ca_file),
        )
        done = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error", "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        received = len(server.requests)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert received == (0 if not trusted else 2 if when == "flush_then_exit" else 1)

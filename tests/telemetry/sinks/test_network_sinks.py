"""The three network sinks against a real collector on 127.0.0.1: requests and answers."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.servers import BlackHole, Collector, Reply
from tests.telemetry.sinks.test_encoders import UUID4
from tests.telemetry.sinks.test_http import FakeClock, envelopes
from tests.telemetry.sinks.wirekit import READERS
from visivo.telemetry._version import __version__
from visivo.telemetry.schema import Metadata, to_wire
from visivo.telemetry.sinks.network import NetworkSink, build_sink
from visivo.telemetry.sinks.network.answers import (
    INVALID_ENDPOINT,
    INVALID_SETTINGS,
    MAX_PAUSE_S,
    PAUSED,
    REJECTED,
    TIMEOUT,
)
from visivo.telemetry.sinks.network.destinations import (
    http_destination,
    otlp_destination,
    posthog_destination,
)
from visivo.telemetry.sinks.network.native import NATIVE
from visivo.telemetry.sinks.network.otlp import OTLP
from visivo.telemetry.sinks.network.posthog import posthog_format
from visivo.telemetry.sinks.network.transport import GZIP_MIN_BYTES

SINKS = ("http", "posthog", "otlp")
METADATA = Metadata.for_this_process()
PATHS = {"http": "/v1/events", "posthog": "/batch/", "otlp": "/v1/logs"}


def sink_for(
    name: str, base_url: str, env: Mapping[str, str] | None = None, clock: Any = time.monotonic
) -> NetworkSink:
    """The sink ``name`` as the registry builds it, pointed at ``base_url``."""
    base = base_url.rstrip("/")
    extra = dict(env or {})
    if name == "http":
        destination = http_destination(base + PATHS["http"], "test")
    elif name == "posthog":
        destination = posthog_destination({"VISIVO_POSTHOG_HOST": base, **extra})
    else:
        destination = otlp_destination({"OTEL_EXPORTER_OTLP_ENDPOINT": base, **extra})
    return build_sink(destination, {}, clock=clock)


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as server:
        yield server


# BACKENDS summary table: status (and Retry-After) → what each sink does with it.
SUMMARY: list[tuple[int, bool, dict[str, str]]] = [
    (200, False, {"http": "sent", "posthog": "sent", "otlp": "sent"}),
    (202, False, {"http": "sent", "posthog": "sent", "otlp": "sent"}),
    (302, False, {"http": "dropped", "posthog": "dropped", "otlp": "dropped"}),
    (408, False, {"http": "retry", "posthog": "retry", "otlp": "dropped"}),
    (429, True, {"http": "pause", "posthog": "pause", "otlp": "pause"}),
    (503, True, {"http": "pause", "posthog": "pause", "otlp": "pause"}),
    (429, False, {"http": "retry", "posthog": "retry", "otlp": "retry"}),
    (503, False, {"http": "retry", "posthog": "retry", "otlp": "retry"}),
    (502, False, {"http": "retry", "posthog": "retry", "otlp": "retry"}),
    (504, False, {"http": "retry", "posthog": "retry", "otlp": "retry"}),
    (500, False, {"http": "retry", "posthog": "retry", "otlp": "dropped"}),
    (501, False, {"http": "retry", "posthog": "retry", "otlp": "dropped"}),
    (400, False, {"http": "dropped", "posthog": "dropped", "otlp": "dropped"}),
    (401, False, {"http": "dropped", "posthog": "dropped", "otlp": "dropped"}),
    (413, False, {"http": "dropped", "posthog": "dropped", "otlp": "dropped"}),
    (404, False, {"http": "dropped", "posthog": "dropped", "otlp": "dropped"}),
]
FORMATS = {"http": NATIVE, "posthog": posthog_format("phc_test"), "otlp": OTLP}


def outcome(name: str, status: int, retry_after_s: float | None) -> str:
    """What the format's answer policy makes of a status, as one summary-table word."""
    verdict = FORMATS[name].judge(status, retry_after_s, b"")
    if verdict.pause_s:
        return "pause"
    if verdict.retry:
        return "retry"
    return verdict.kind


class TestAnswerRules:
    @pytest.mark.parametrize(("status", "retry_after", "expected"), SUMMARY)
    def test_policies_follow_the_summary_table(
        self, status: int, retry_after: bool, expected: dict[str, str]
    ) -> None:
        """Each format's answer policy, as plain data, gives the table's outcome."""
        seconds = 30.0 if retry_after else None
        assert {name: outcome(name, status, seconds) for name in SINKS} == expected

    @pytest.mark.parametrize("name", SINKS)
    @pytest.mark.parametrize(("status", "retry_after", "expected"), SUMMARY)
    def test_each_sink_answers_by_the_table(
        self,
        collector: Collector,
        name: str,
        status: int,
        retry_after: bool,
        expected: dict[str, str],
    ) -> None:
        """Against a real collector: one request, or two for a retry; counted accordingly."""
        headers = {"Retry-After": "30"} if retry_after else {}
        if 300 <= status < 400:
            headers["Location"] = collector.url + "moved"
        collector.default = Reply(status, headers)
        sink = sink_for(name, collector.url)
        sink.send(envelopes(2))
        counters = sink.counters()
        want = expected[name]
        assert len(collector.requests) == (2 if want == "retry" else 1)
        assert counters.retries == (1 if want == "retry" else 0)
        if want == "sent":
            assert counters.events_sent == 2
        elif want == "dropped":
            assert counters.dropped_total == 2
        else:
            assert counters.failed_total == 2
        sink.send(envelopes(1))  # a pause drops the next batch without a request
        if want == "pause":
            assert counters.dropped_total == 0
            assert sink.counters().events_dropped == {PAUSED: 1}
            assert len(collector.requests) == 1

    @pytest.mark.parametrize("name", SINKS)
    def test_a_retry_resends_the_same_bytes(self, collector: Collector, name: str) -> None:
        """The retried body is identical, so PostHog's uuids de-duplicate a double delivery."""
        collector.script(Reply(503))
        sink = sink_for(name, collector.url)
        sink.send(envelopes(3))
        first, second = collector.wait_for_requests(2, timeout=5.0)
        assert first.body == second.body
        assert sink.counters().events_sent == 3
        if name == "posthog":
            ids = [event["uuid"] for event in first.json()["batch"]]
            assert len(set(ids)) == 3
            assert all(UUID4.match(i) for i in ids)

    @pytest.mark.parametrize("name", SINKS)
    @pytest.mark.parametrize("form", ["seconds", "date"])
    def test_retry_after_pauses_then_resumes(
        self, collector: Collector, name: str, form: str
    ) -> None:
        """429 with Retry-After (seconds or an HTTP date) pauses that long, then sends again."""
        value = (
            "120" if form == "seconds" else email.utils.formatdate(time.time() + 120, usegmt=True)
        )
        collector.script(Reply(429, {"Retry-After": value}))
        clock = FakeClock()
        sink = sink_for(name, collector.url, clock=clock)
        sink.send(envelopes(1))
        sink.send(envelopes(1))
        assert sink.counters().events_dropped == {PAUSED: 1}
        clock.advance(90)
        sink.send(envelopes(1))
        assert len(collector.requests) == 1
        clock.advance(40)
        sink.send(envelopes(1))
        assert len(collector.requests) == 2
        assert sink.counters().events_sent == 1

    @pytest.mark.parametrize("name", SINKS)
    def test_a_pause_is_capped(self, collector: Collector, name: str) -> None:
        """A Retry-After of a day pauses ten minutes at most."""
        collector.script(Reply(503, {"Retry-After": "86400"}))
        clock = FakeClock()
        sink = sink_for(name, collector.url, clock=clock)
        sink.send(envelopes(1))
        clock.advance(MAX_PAUSE_S + 1)
        sink.send(envelopes(1))
        assert sink.counters().events_sent == 1

    @pytest.mark.parametrize(
        ("answer", "sent", "rejected"),
        [
            (b'{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad"}}', 3, 2),
            (b'{"partialSuccess":{"rejectedLogRecords":9}}', 0, 5),
            (b"{}", 5, 0),
            (b"", 5, 0),
            (b"<html>", 5, 0),
        ],
    )
    def test_otlp_partial_success_drops_the_rejected(
        self, collector: Collector, answer: bytes, sent: int, rejected: int
    ) -> None:
        """rejectedLogRecords are counted dropped (rejected), the rest sent, never retried."""
        collector.default = Reply(200, {"Content-Type": "application/json"}, body=answer)
        sink = sink_for("otlp", collector.url)
        sink.send(envelopes(5))
        counters = sink.counters()
        assert (counters.events_sent, counters.events_dropped.get(REJECTED, 0)) == (sent, rejected)
        assert len(collector.requests) == 1


class TestRequests:
    @pytest.mark.parametrize("name", SINKS)
    @pytest.mark.parametrize("count", [1, 40])
    def test_path_headers_and_gzip_iff_compressed(
        self, collector: Collector, name: str, count: int
    ) -> None:
        """POST to the sink's path; JSON, our User-Agent, no cookie or credentials; gzip iff."""
        sink = sink_for(name, collector.url)
        batch = envelopes(count)
        sink.send(batch)
        (request,) = collector.requests
        assert (request.method, request.path) == ("POST", PATHS[name])
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == f"visivo-telemetry/{__version__}"
        for header in ("cookie", "authorization", "proxy-authorization"):
            assert header not in request.headers
        gzipped = request.raw[:2] == b"\x1f\x8b"
        assert gzipped == ("content-encoding" in request.headers)
        assert gzipped == (len(request.body) > GZIP_MIN_BYTES)
        assert READERS[name](request.body) == [to_wire(e) for e in batch]

    def test_otlp_headers_compression_and_timeout(self, collector: Collector) -> None:
        """Configured headers are sent; gzip always or never as configured."""
        env = {
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20t0ken,x-team=data",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "gzip",
        }
        sink_for("otlp", collector.url, env).send(envelopes(1))
        env["OTEL_EXPORTER_OTLP_LOGS_COMPRESSION"] = "none"
        sink_for("otlp", collector.url, env).send(envelopes(40))
        small, large = collector.requests
        assert small.headers["authorization"] == "Bearer t0ken"
        assert small.headers["x-team"] == "data"
        assert small.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in large.headers
        assert large.raw == large.body

    def test_otlp_timeout_shortens_the_budget(self) -> None:
        """OTEL_EXPORTER_OTLP_TIMEOUT=200 ends a black-holed send in about 0.2 s."""
        with BlackHole() as hole:
            sink = sink_for("otlp", hole.url, {"OTEL_EXPORTER_OTLP_TIMEOUT": "200"})
            start = time.monotonic()
            sink.send(envelopes(1))
            elapsed = time.monotonic() - start
        assert elapsed < 0.6
        assert sink.counters().events_failed == {TIMEOUT: 1}

    def test_otlp_certificate_is_trusted(self, tmp_path: Path) -> None:
        """OTEL_EXPORTER_OTLP_CERTIFICATE replaces the system store; verification stays on."""
        ca = trustme.CA()
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        with Collector(ca=ca) as server:
            env = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca_file)}
            trusted = sink_for("otlp", server.url, env)
            trusted.send(envelopes(1))
            untrusted = sink_for("otlp", server.url)
            untrusted.send(envelopes(1))
        assert trusted.counters().events_sent == 1
        assert untrusted.counters().events_failed == {"tls": 1}

    @pytest.mark.parametrize("content", [None, "not a certificate"])
    def test_an_unusable_ca_file_fails_as_tls(self, tmp_path: Path, content: str | None) -> None:
        """A missing or invalid CA file never sends unverified: events fail as ``tls``."""
        ca_file = tmp_path / "ca.pem"
        if content is not None:
            ca_file.write_text(content)
        with Collector(ca=trustme.CA()) as server:
            sink = sink_for("otlp", server.url, {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca_file)})
            sink.send(envelopes(2))
            assert server.requests == []
        assert sink.counters().events_failed == {"tls": 2}
        assert sink.counters().internal_errors == 0

    @pytest.mark.parametrize(
        ("name", "env", "reason"),
        [
            ("posthog", {"VISIVO_POSTHOG_API_KEY": "phx_personal"}, INVALID_SETTINGS),
            ("posthog", {"VISIVO_POSTHOG_API_KEY": ""}, INVALID_SETTINGS),
            ("posthog", {"VISIVO_POSTHOG_HOST": "http://h/?q=1"}, INVALID_SETTINGS),
            ("otlp", {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://u:p@c/"}, INVALID_ENDPOINT),
        ],
    )
    def test_unusable_settings_make_the_sink_inert(
        self, collector: Collector, name: str, env: dict[str, str], reason: str
    ) -> None:
        """Nothing is sent, events are counted dropped, ``problem`` says why."""
        sink = sink_for(name, collector.url, env)
        sink.send(envelopes(3))
        assert sink.counters().events_dropped == {reason: 3}
        assert sink.problem
        assert collector.requests == []

    def test_posthog_body_carries_the_configured_key(self, collector: Collector) -> None:
        """A team's own PostHog project key goes in the body's api_key."""
        sink_for("posthog", collector.url, {"VISIVO_POSTHOG_API_KEY": "phc_team"}).send(
            envelopes(1)
        )
        assert json.loads(collector.requests[0].body)["api_key"] == "phc_team"

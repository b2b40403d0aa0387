"""The http sink (the native format over the network transport) against real loopback
servers, and the transport's pure helpers as tables."""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.servers import BlackHole, Collector, ForwardProxy, Reply, refused_port
from visivo.telemetry.schema import CommandFinished, Envelope, Metadata, to_wire
from visivo.telemetry.sinks.base import Sink
from visivo.telemetry.sinks.network import HttpSink
from visivo.telemetry.sinks.network.answers import (
    CLOSED,
    CONNECTION,
    DEADLINE,
    DNS,
    HTTP_4XX,
    HTTP_5XX,
    HTTP_429,
    INVALID_ENDPOINT,
    INVALID_PROXY,
    MAX_PAUSE_S,
    PAUSED,
    PROXY,
    REDIRECT,
    TIMEOUT,
    TLS,
    parse_retry_after,
)
from visivo.telemetry.sinks.network.endpoint import endpoint_problem, parse_endpoint
from visivo.telemetry.sinks.network.proxy import choose_proxy, no_proxy_matches
from visivo.telemetry.sinks.network.transport import GZIP_MIN_BYTES, MAX_BODY_BYTES

REPO = Path(__file__).resolve().parents[3]
# Every fault must let send return within this wall-clock bound (the budget is 1 s).
SEND_BOUND_S = 1.5
METADATA = Metadata.for_this_process()


def envelopes(n: int) -> list[Envelope]:
    """``n`` command_finished envelopes of one session."""
    return [Envelope(CommandFinished("run", 12, True), time.time(), METADATA) for _ in range(n)]


def timed_send(sink: HttpSink, batch: list[Envelope]) -> float:
    """Send and return the wall-clock seconds it took."""
    start = time.monotonic()
    sink.send(batch)
    return time.monotonic() - start


class FakeClock:
    """Real monotonic time plus an offset that a test can advance instantly."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as server:
        yield server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_collector(ca: trustme.CA) -> Iterator[Collector]:
    with Collector(ca=ca) as server:
        yield server


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    with BlackHole() as server:
        yield server


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as server:
        yield server


def assert_silent(capfd: pytest.CaptureFixture[str]) -> None:
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


class TestParseEndpoint:
    @pytest.mark.parametrize(
        ("url", "host", "port"),
        [
            ("https://telemetry.visivo.io/v1/batch", "telemetry.visivo.io", 443),
            ("http://127.0.0.1:8080/", "127.0.0.1", 8080),
            ("HTTPS://Example.COM", "example.com", 443),
            ("http://[::1]:9000/x?key=1", "::1", 9000),
            ("https://collector.internal./v1", "collector.internal.", 443),
        ],
    )
    def test_accepts_http_and_https_urls(self, url: str, host: str, port: int) -> None:
        """An http(s) URL with a host parses into host and effective port."""
        endpoint = parse_endpoint(url)
        assert endpoint is not None
        assert (endpoint.host, endpoint.port, endpoint.url) == (host, port, url)
        assert endpoint_problem(url) is None

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("", "empty"),
            ("ftp://example.com/", "http:// or https://"),
            ("example.com/v1", "http:// or https://"),
            ("https:///v1", "no host"),
            ("https://user:secret@example.com/", "credentials"),
            ("https://token@example.com/", "credentials"),
            ("https://exa mple.com/", "whitespace"),
            ("https://example.com/\n", "whitespace"),
            (" https://example.com/", "whitespace"),
            ("https://example.com:99999/", "not a valid URL"),
            ("https://example.com:0/", "port 0"),
            ("https://example.com:http/", "not a valid URL"),
            ("https://exa_mple.com/", "invalid host"),
            ("https://bücher.example/", "ASCII"),
            ("https://example.com/#frag", "fragment"),
        ],
    )
    def test_rejects_unusable_urls_with_a_reason(self, url: str, problem: str) -> None:
        """A URL that is not a plain http(s) endpoint is refused, with a reason in words."""
        assert parse_endpoint(url) is None
        reason = endpoint_problem(url)
        assert reason is not None
        assert problem in reason
        assert "secret" not in reason


class TestChooseProxy:
    @pytest.mark.parametrize(
        ("url", "env", "expected"),
        [
            ("https://c.io/", {}, None),
            ("https://c.io/", {"HTTPS_PROXY": "http://p:3128"}, "http://p:3128"),
            ("https://c.io/", {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}, "http://low:1"),
            ("https://c.io/", {"https_proxy": "", "HTTPS_PROXY": "http://up:2"}, "http://up:2"),
            ("https://c.io/", {"HTTP_PROXY": "http://p:3128"}, None),
            ("http://c.io/", {"HTTP_PROXY": "http://p:3128"}, "http://p:3128"),
            ("http://c.io/", {"http_proxy": "http://p:3128"}, "http://p:3128"),
            ("http://c.io/", {"HTTPS_PROXY": "http://p:3128"}, None),
            ("http://c.io/", {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"}, None),
            ("http://c.io/", {"http_proxy": "http://p:1", "REQUEST_METHOD": "GET"}, "http://p:1"),
            ("https://c.io/", {"HTTPS_PROXY": "p:3128"}, "http://p:3128"),
            ("https://c.io/", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "c.io"}, None),
            ("https://c.io/", {"HTTPS_PROXY": "http://p:1", "no_proxy": "*"}, None),
            ("https://c.io/", {"HTTPS_PROXY": "http://p:1", "no_proxy": "x", "NO_PROXY": "c.io"}, "http://p:1"),
            ("https://c.io/", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "c.io:8443"}, "http://p:1"),
            ("https://c.io:8443/", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "c.io:8443"}, None),
            ("not a url", {"HTTPS_PROXY": "http://p:1"}, None),
        ],
    )  # fmt: skip
    def test_picks_the_variable_for_the_scheme(
        self, url: str, env: dict[str, str], expected: str | None
    ) -> None:
        """The scheme's proxy variable (lowercase first) applies unless NO_PROXY exempts it."""
        assert choose_proxy(url, env) == expected


class TestNoProxyMatches:
    @pytest.mark.parametrize(
        ("host", "port", "no_proxy", "expected"),
        [
            ("c.io", 443, "", False),
            ("c.io", 443, "*", True),
            ("c.io", 443, "c.io", True),
            ("C.IO", 443, "c.io", True),
            ("api.c.io", 443, "c.io", True),
            ("api.c.io", 443, ".c.io", True),
            ("c.io", 443, ".c.io", True),
            ("api.c.io", 443, "*.c.io", True),
            ("evilc.io", 443, "c.io", False),
            ("c.io.evil.com", 443, "c.io", False),
            ("c.io", 443, "x.io, c.io", True),
            ("c.io", 443, "x.io c.io", True),
            ("c.io", 443, "c.io:443", True),
            ("c.io", 443, "c.io:80", False),
            ("c.io", 443, "c.io:x", False),
            ("10.1.2.3", 443, "10.0.0.0/8", True),
            ("11.1.2.3", 443, "10.0.0.0/8", False),
            ("127.0.0.1", 80, "127.0.0.1", True),
            ("::1", 80, "::1", True),
            ("::1", 80, "[::1]:80", True),
            ("::1", 443, "[::1]:80", False),
            ("[::1]", 80, "::1/128", True),
            ("c.io", 443, "10.0.0.0/8", False),
            ("c.io.", 443, "c.io", True),
            ("c.io", 443, "[broken", False),
        ],
    )
    def test_matches_names_suffixes_addresses_and_ports(
        self, host: str, port: int, no_proxy: str, expected: bool
    ) -> None:
        """NO_PROXY entries match exact names, subdomains, CIDR blocks, ports and ``*``."""
        assert no_proxy_matches(host, port, no_proxy) is expected


class TestParseRetryAfter:
    NOW = 1_800_000_000.0

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("120", 120.0),
            (" 5 ", 5.0),
            ("0", 0.0),
            (email.utils.formatdate(NOW + 90, usegmt=True), 90.0),
            (email.utils.formatdate(NOW - 90, usegmt=True), 0.0),
            ("-1", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
            ("Wed, 21 Oct 2015 07:28:00 -0000", None),
        ],
    )
    def test_reads_seconds_and_http_dates(self, value: str, expected: float | None) -> None:
        """Retry-After is delay-seconds or an HTTP-date; anything else is ``None``."""
        assert parse_retry_after(value, self.NOW) == expected


class TestDelivery:
    def test_is_a_sink(self) -> None:
        """HttpSink satisfies the Sink protocol."""
        assert isinstance(HttpSink("http://127.0.0.1:1/"), Sink)

    def test_posts_the_wire_form_of_the_batch(self, collector: Collector) -> None:
        """The body is ``{"batch": [to_wire...], "sent_at": "...Z"}`` POSTed as JSON."""
        batch = envelopes(2)
        sink = HttpSink(collector.url + "v1/batch")
        sink.send(batch)
        (request,) = collector.requests
        assert (request.method, request.path) == ("POST", "/v1/batch")
        assert request.headers["content-type"] == "application/json"
        body = request.json()
        assert set(body) == {"batch", "sent_at"}
        assert body["batch"] == [to_wire(e) for e in batch]
        assert body["sent_at"].endswith("Z")
        assert sink.counters().events_sent == 2

    def test_sends_the_user_agent(self, collector: Collector) -> None:
        """The User-Agent is ``visivo-telemetry/<version>``."""
        from visivo.telemetry._version import __version__

        HttpSink(collector.url).send(envelopes(1))
        (request,) = collector.requests
        assert request.headers["user-agent"] == f"visivo-telemetry/{__version__}"

    def test_small_bodies_are_not_gzipped(self, collector: Collector) -> None:
        """A body of at most GZIP_MIN_BYTES goes uncompressed."""
        HttpSink(collector.url).send(envelopes(1))
        (request,) = collector.requests
        assert len(request.body) <= GZIP_MIN_BYTES
        assert "content-encoding" not in request.headers

    def test_large_bodies_are_gzipped(self, collector: Collector) -> None:
        """A body over GZIP_MIN_BYTES is sent with Content-Encoding: gzip and is smaller."""
        HttpSink(collector.url).send(envelopes(20))
        (request,) = collector.requests
        assert len(request.body) > GZIP_MIN_BYTES
        assert request.headers["content-encoding"] == "gzip"
        assert request.wire_size < len(request.body)
        assert len(request.json()["batch"]) == 20

    def test_splits_big_batches_under_the_body_limit(self, collector: Collector) -> None:
        """A batch over MAX_BODY_BYTES goes as several requests, each body under the limit."""
        batch = envelopes(5000)
        sink = HttpSink(collector.url, timeout=5.0)
        sink.send(batch)
        requests = collector.requests
        assert len(requests) >= 3
        assert all(len(r.body) <= MAX_BODY_BYTES for r in requests)
        received = [event for r in requests for event in r.json()["batch"]]
        assert received == [to_wire(e) for e in batch]
        assert sink.counters().events_sent == 5000

    def test_sends_no_cookies(self, collector: Collector) -> None:
        """A Set-Cookie from the collector is never sent back."""
        collector.script(Reply(200, {"Set-Cookie": "visitor=42; Path=/"}))
        sink = HttpSink(collector.url)
        sink.send(envelopes(1))
        sink.send(envelopes(1))
        assert [r.headers.get("cookie") for r in collector.requests] == [None, None]

    def test_reuses_one_connection(self, collector: Collector) -> None:
        """Consecutive sends keep the connection alive instead of reconnecting."""
        sink = HttpSink(collector.url)
        for _ in range(3):
            sink.send(envelopes(1))
        assert sink.counters().events_sent == 3
        assert len(collector.requests) == 3


class TestOutcomes:
    def test_redirects_are_not_followed(
        self, collector: Collector, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A 302 is dropped as ``redirect`` and its Location is never requested."""
        collector.default = collector.redirect_to_self()
        sink = HttpSink(collector.url)
        sink.send(envelopes(3))
        assert len(collector.requests) == 1
        assert sink.counters().events_dropped == {REDIRECT: 3}
        assert_silent(capfd)

    def test_retries_once_after_500_then_succeeds(self, collector: Collector) -> None:
        """A 500 gets one retry; when that succeeds the events count as sent."""
        collector.script(Reply(500))
        sink = HttpSink(collector.url)
        sink.send(envelopes(2))
        counters = sink.counters()
        assert len(collector.requests) == 2
        assert (counters.requests, counters.retries, counters.events_sent) == (2, 1, 2)
        assert counters.failed_total == 0

    def test_gives_up_after_one_retry(
        self, collector: Collector, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """Two 500s in a row fail the events as ``http_5xx`` with no third attempt."""
        collector.script(Reply(500), Reply(503), Reply(200))
        sink = HttpSink(collector.url)
        sink.send(envelopes(2))
        assert len(collector.requests) == 2
        assert sink.counters().events_failed == {HTTP_5XX: 2}
        assert_silent(capfd)

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
    def test_client_errors_are_dropped_without_retry(
        self, collector: Collector, status: int
    ) -> None:
        """A 4xx other than 408/429 is dropped as ``http_4xx`` after one request."""
        collector.default = Reply(status)
        sink = HttpSink(collector.url)
        sink.send(envelopes(2))
        assert len(collector.requests) == 1
        assert sink.counters().events_dropped == {HTTP_4XX: 2}

    @pytest.mark.parametrize("status", [408, 429])
    def test_408_and_429_without_retry_after_are_retried(
        self, collector: Collector, status: int
    ) -> None:
        """408, and 429 without Retry-After, get the one retry."""
        collector.script(Reply(status))
        sink = HttpSink(collector.url)
        sink.send(envelopes(1))
        assert len(collector.requests) == 2
        assert sink.counters().events_sent == 1

    @pytest.mark.parametrize(("status", "reason"), [(429, HTTP_429), (503, HTTP_5XX)])
    def test_retry_after_pauses_then_resumes(
        self, collector: Collector, status: int, reason: str
    ) -> None:
        """A 429/503 with Retry-After pauses the sink for that long, then it sends again."""
        clock = FakeClock()
        collector.script(Reply(status, {"Retry-After": "30"}))
        sink = HttpSink(collector.url, clock=clock)
        sink.send(envelopes(2))
        assert len(collector.requests) == 1  # no retry: the server asked us to wait
        clock.advance(29)
        sink.send(envelopes(3))
        assert len(collector.requests) == 1
        clock.advance(2)
        sink.send(envelopes(4))
        assert len(collector.requests) == 2
        counters = sink.counters()
        assert counters.events_failed == {reason: 2}
        assert counters.events_dropped == {PAUSED: 3}
        assert counters.events_sent == 4

    def test_retry_after_http_date_pauses(self, collector: Collector) -> None:
        """Retry-After given as an HTTP-date pauses until about that date."""
        clock = FakeClock()
        when = email.utils.formatdate(time.time() + 120, usegmt=True)
        collector.script(Reply(429, {"Retry-After": when}))
        sink = HttpSink(collector.url, clock=clock)
        sink.send(envelopes(1))
        clock.advance(60)
        sink.send(envelopes(1))
        assert sink.counters().events_dropped == {PAUSED: 1}
        clock.advance(61)
        sink.send(envelopes(1))
        assert sink.counters().events_sent == 1

    def test_pause_is_capped(self, collector: Collector) -> None:
        """A Retry-After longer than MAX_PAUSE_S pauses for MAX_PAUSE_S only."""
        clock = FakeClock()
        collector.script(Reply(503, {"Retry-After": "86400"}))
        sink = HttpSink(collector.url, clock=clock)
        sink.send(envelopes(1))
        clock.advance(MAX_PAUSE_S + 1)
        sink.send(envelopes(1))
        assert sink.counters().events_sent == 1

    def test_pause_drops_the_rest_of_a_split_batch(self, collector: Collector) -> None:
        """When a split batch's first body gets 429 + Retry-After, the rest is dropped."""
        collector.script(Reply(429, {"Retry-After": "10"}))
        sink = HttpSink(collector.url, timeout=5.0)
        sink.send(envelopes(5000))
        counters = sink.counters()
        assert len(collector.requests) == 1
        assert counters.events_sent == 0
        assert counters.events_dropped[PAUSED] + counters.events_failed[HTTP_429] == 5000


class TestFaults:
    """Every fault: send returns within SEND_BOUND_S, counts why, and prints nothing."""

    def _check(
        self,
        sink: HttpSink,
        capfd: pytest.CaptureFixture[str],
        reason: str,
    ) -> None:
        elapsed = timed_send(sink, envelopes(3))
        assert elapsed <= SEND_BOUND_S
        counters = sink.counters()
        assert counters.events_failed == {reason: 3}
        assert counters.events_sent == 0
        assert_silent(capfd)

    def test_refused_port(self, capfd: pytest.CaptureFixture[str]) -> None:
        """A refused connection is retried once and fails as ``connection``."""
        sink = HttpSink(f"http://127.0.0.1:{refused_port()}/")
        self._check(sink, capfd, CONNECTION)
        assert (sink.counters().requests, sink.counters().retries) == (2, 1)

    def test_black_hole(self, black_hole: BlackHole, capfd: pytest.CaptureFixture[str]) -> None:
        """A server that accepts and never answers fails as ``timeout`` within the budget."""
        sink = HttpSink(black_hole.url)
        self._check(sink, capfd, TIMEOUT)
        assert black_hole.accepted == 1

    def test_stalled_tls_handshake(
        self, black_hole: BlackHole, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A TLS handshake that never gets a ServerHello fails as ``timeout``."""
        self._check(HttpSink(black_hole.https_url), capfd, TIMEOUT)

    def test_slow_server(self, collector: Collector, capfd: pytest.CaptureFixture[str]) -> None:
        """A collector that takes 5 s to answer fails as ``timeout`` after about 1 s."""
        collector.default = Reply(200, delay_s=5.0)
        self._check(HttpSink(collector.url), capfd, TIMEOUT)

    def test_short_timeout_is_honoured(
        self, black_hole: BlackHole, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A smaller ``timeout`` shortens the wait accordingly."""
        sink = HttpSink(black_hole.url, timeout=0.3)
        assert timed_send(sink, envelopes(1)) < 0.6
        assert sink.counters().events_failed == {TIMEOUT: 1}
        assert_silent(capfd)

    def test_untrusted_certificate_is_refused(
        self, tls_collector: Collector, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A certificate outside the system trust store fails as ``tls``; nothing arrives."""
        self._check(HttpSink(tls_collector.url), capfd, TLS)
        assert tls_collector.requests == []

    def test_trusted_ca_is_accepted(self, tls_collector: Collector, ca_file: str) -> None:
        """With ``ca_certs`` pointing at the CA, the same HTTPS collector receives the batch."""
        sink = HttpSink(tls_collector.url, ca_certs=ca_file)
        sink.send(envelopes(2))
        assert len(tls_collector.requests) == 1
        assert sink.counters().events_sent == 2

    def test_wrong_host_name_is_refused(
        self, ca: trustme.CA, ca_file: str, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A trusted certificate issued for another host name still fails as ``tls``."""
        with Collector(ca=ca, cert_names=("collector.example",)) as other:
            self._check(HttpSink(other.url, ca_certs=ca_file), capfd, TLS)
            assert other.requests == []

    def test_refused_proxy(self, collector: Collector, capfd: pytest.CaptureFixture[str]) -> None:
        """A proxy that refuses connections fails as ``proxy``, never falls back to direct."""
        env = {"HTTP_PROXY": f"http://127.0.0.1:{refused_port()}"}
        self._check(HttpSink(collector.url, env=env), capfd, PROXY)
        assert collector.requests == []

    def test_deadline_already_spent(self, collector: Collector) -> None:
        """A send whose deadline is gone before the first request fails as ``deadline``."""
        ticks = iter([0.0, 10.0, 10.0, 10.0])
        sink = HttpSink(collector.url, clock=lambda: next(ticks))
        sink.send(envelopes(2))
        assert sink.counters().events_failed == {DEADLINE: 2}
        assert collector.requests == []


class TestProxy:
    def test_http_proxy_is_used(self, collector: Collector, proxy: ForwardProxy) -> None:
        """With HTTP_PROXY set, an http endpoint is reached through the proxy."""
        sink = HttpSink(collector.url + "v1", env={"HTTP_PROXY": proxy.url})
        sink.send(envelopes(1))
        assert [u.target for u in proxy.uses] == [collector.url + "v1"]
        assert len(collector.requests) == 1
        assert sink.counters().events_sent == 1

    def test_no_proxy_bypasses_the_proxy(self, collector: Collector, proxy: ForwardProxy) -> None:
        """A NO_PROXY entry for the endpoint's host makes the sink connect directly."""
        env = {"HTTP_PROXY": proxy.url, "NO_PROXY": "localhost,127.0.0.1"}
        sink = HttpSink(collector.url, env=env)
        sink.send(envelopes(1))
        assert proxy.uses == []
        assert len(collector.requests) == 1
        assert sink.proxy is None

    def test_https_goes_through_a_connect_tunnel(
        self, tls_collector: Collector, proxy: ForwardProxy, ca_file: str
    ) -> None:
        """An https endpoint with HTTPS_PROXY is tunnelled with CONNECT and still verified."""
        sink = HttpSink(tls_collector.url, env={"HTTPS_PROXY": proxy.url}, ca_certs=ca_file)
        sink.send(envelopes(1))
        assert [u.method for u in proxy.uses] == ["CONNECT"]
        assert len(tls_collector.requests) == 1
        assert sink.counters().events_sent == 1

    def test_proxy_credentials_become_a_header(
        self, collector: Collector, proxy: ForwardProxy
    ) -> None:
        """``user:pass@`` in the proxy URL is sent as Proxy-Authorization and not shown."""
        authed = proxy.url.replace("http://", "http://me:s%40cret@")
        sink = HttpSink(collector.url, env={"HTTP_PROXY": authed})
        sink.send(envelopes(1))
        (use,) = proxy.uses
        assert use.headers["proxy-authorization"] == "Basic bWU6c0BjcmV0"  # me:s@cret
        assert sink.proxy == proxy.url.rstrip("/")
        assert "proxy-authorization" not in collector.requests[0].headers

    def test_unusable_proxy_makes_the_sink_inert(self) -> None:
        """A proxy URL that is not http(s) drops events as ``invalid_proxy``; no direct send."""
        sink = HttpSink("http://127.0.0.1:1/", env={"HTTP_PROXY": "socks5://127.0.0.1:1080"})
        sink.send(envelopes(2))
        assert sink.counters().events_dropped == {INVALID_PROXY: 2}
        assert sink.problem is not None


class TestLifecycle:
    def test_invalid_endpoint_is_inert(self, capfd: pytest.CaptureFixture[str]) -> None:
        """A malformed endpoint sends nothing, counts drops and explains itself in ``problem``."""
        sink = HttpSink("https://user:pw@telemetry.example/")
        sink.send(envelopes(4))
        counters = sink.counters()
        assert counters.events_dropped == {INVALID_ENDPOINT: 4}
        assert counters.requests == 0
        assert sink.problem == "endpoint must not contain credentials"
        assert sink.endpoint is None
        assert_silent(capfd)

    def test_empty_batch_does_nothing(self, collector: Collector) -> None:
        """An empty batch makes no request."""
        sink = HttpSink(collector.url)
        sink.send([])
        assert sink.counters().requests == 0

    def test_counters_are_a_frozen_snapshot(self, collector: Collector) -> None:
        """``counters()`` returns a value that later sends do not change."""
        sink = HttpSink(collector.url)
        before = sink.counters()
        sink.send(envelopes(1))
        assert before.events_sent == 0
        with pytest.raises(TypeError):
            before.events_dropped["x"] = 1  # type: ignore[index]

    def test_close_is_bounded_and_later_sends_are_dropped(self, collector: Collector) -> None:
        """``close`` returns at once, twice is fine, and later batches count as ``closed``."""
        sink = HttpSink(collector.url)
        sink.send(envelopes(1))
        start = time.monotonic()
        sink.close(1.0)
        sink.close(1.0)
        assert time.monotonic() - start < 0.5
        sink.send(envelopes(2))
        assert sink.counters().events_dropped == {CLOSED: 2}
        assert len(collector.requests) == 1

    def test_close_before_any_send(self) -> None:
        """Closing a sink that never sent does nothing and does not raise."""
        HttpSink("http://127.0.0.1:1/").close(0.0)

    @pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
    def test_bad_timeout_is_a_value_error(self, timeout: float) -> None:
        """A timeout that is not a positive finite number is a programming error."""
        with pytest.raises(ValueError, match="timeout"):
            HttpSink("http://127.0.0.1:1/", timeout=timeout)

    def test_after_fork_in_child_drops_the_pool(self, collector: Collector) -> None:
        """``after_fork_in_child`` forgets the pool and counts; the next send builds a new one."""
        sink = HttpSink(collector.url)
        sink.send(envelopes(1))
        sink.after_fork_in_child()
        assert sink.counters().events_sent == 0
        sink.send(envelopes(1))
        assert sink.counters().events_sent == 1
        assert len(collector.requests) == 2

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_sends_on_its_own_connection(self, collector: Collector) -> None:
        """After a real fork the child's first send opens its own connection and succeeds."""
        sink = HttpSink(collector.url)
        sink.send(envelopes(1))
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code only
            code = 1
            try:
                fresh = sink.counters().requests == 0
                sink.send(envelopes(1))
                code = 0 if fresh and sink.counters().events_sent == 1 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert len(collector.wait_for_requests(2, timeout=5.0)) == 2
        sink.send(envelopes(1))  # the parent's pooled connection still works
        assert sink.counters().events_sent == 2

    def test_urllib3_is_imported_only_on_first_send(self) -> None:
        """Importing, building, reading and closing the sink leave urllib3 unimported."""
        script = (
            "import sys\n"
            "from visivo.telemetry.sinks.network import HttpSink\n"
            "sink = HttpSink('http://127.0.0.1:1/', env={'HTTP_PROXY': 'http://127.0.0.1:2'})\n"
            "sink.counters(); sink.problem\n"
            "assert 'urllib3' not in sys.modules, 'imported too early'\n"
            "sink.send([])\n"
            "assert 'urllib3' not in sys.modules, 'imported for an empty batch'\n"
            "HttpSink('http://127.0.0.1:1/').close(0.1)\n"
            "assert 'urllib3' not in sys.modules, 'imported by close'\n"
            "print('ok')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "ok\n"


def test_dns_failures_are_classified_and_not_retried() -> None:
    """A name-resolution error counts as ``dns`` (not retried: the resolver already retried)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    from visivo.telemetry.sinks.network.pool import classify_error
    from visivo.telemetry.sinks.network.transport import _NOT_RETRIED

    assert classify_error(NameResolutionError("c.invalid", None, OSError("no name"))) == DNS  # type: ignore[arg-type]
    assert classify_error(NewConnectionError(None, "refused")) == CONNECTION  # type: ignore[arg-type]
    assert DNS in _NOT_RETRIED

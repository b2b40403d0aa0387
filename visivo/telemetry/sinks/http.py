"""The http sink: POST batches of envelopes to the collector with urllib3.

Everything here is bounded by one per-call deadline (``timeout``, one second by default),
including connect, TLS, read and the single retry. Failures never print and never raise
for network reasons: they are counted by reason and readable through
:meth:`HttpSink.counters`.

Decisions, so that ``status`` and the docs can state them:

- **Endpoint.** ``http`` or ``https``, an ASCII host, an optional port, no whitespace or
  control characters, no fragment and **no credentials** (``user:pass@``): telemetry is
  anonymous, and a secret in a URL ends up in status output and bug reports. A bad
  endpoint makes the sink *inert*: it sends nothing and counts every event as dropped
  with reason ``invalid_endpoint``; :attr:`HttpSink.problem` says why.
- **TLS.** Verified, always. Without ``ca_certs`` urllib3 loads the system trust store
  (``ssl.SSLContext.load_default_certs``); certifi is not a dependency. On a system with
  no CA bundle the handshake fails and events are counted failed with reason ``tls``;
  nothing is ever sent unverified.
- **Redirects** are not followed (a 3xx is dropped, reason ``redirect``). urllib3 keeps no
  cookies and none are ever sent.
- **Proxies** come from the ``env`` mapping (see :func:`choose_proxy`); nothing is read
  from ``os.environ`` here.
- **Retries.** 5xx, 408, 429 and connection problems get at most one retry per request,
  and only when at least :data:`MIN_ATTEMPT_S` of the deadline remains. DNS failures
  (the resolver already retried) and TLS failures (deterministic) are not retried. A
  ``429`` or ``503`` with ``Retry-After`` is not retried: it pauses the sink (capped at
  :data:`MAX_PAUSE_S`) and batches arriving meanwhile are dropped with reason ``paused``.
- **Limits of the deadline.** Socket timeouts cover connect, TLS and every read; name
  resolution (``getaddrinfo``) cannot be interrupted. The batcher's exit deadline covers
  that case: it abandons its daemon thread.

urllib3 is imported on the first :meth:`HttpSink.send`, never at import or construction,
so starting telemetry does not load the HTTP stack on the caller's thread.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import SplitResult, unquote, urlsplit

import attrs

from visivo.telemetry._version import __version__
from visivo.telemetry.schema import Envelope
from visivo.telemetry.sinks.formats import encode_event, join_body

if TYPE_CHECKING:
    import ssl

    import urllib3

    from visivo.telemetry.sinks.gate import DeliveryGate

__all__ = [
    "DROP_REASONS",
    "FAIL_REASONS",
    "GZIP_MIN_BYTES",
    "MAX_BODY_BYTES",
    "MAX_PAUSE_S",
    "MIN_ATTEMPT_S",
    "Endpoint",
    "HttpCounters",
    "HttpSink",
    "choose_proxy",
    "endpoint_problem",
    "no_proxy_matches",
    "parse_endpoint",
    "parse_retry_after",
]

# The collector rejects request bodies of 512 KiB and more; stay under 500 KB (before gzip).
MAX_BODY_BYTES: Final = 500_000
# Below about 1 KiB gzip's header and the CPU time cost more than they save.
GZIP_MIN_BYTES: Final = 1024
# A server may ask us to back off, but never for longer than this.
MAX_PAUSE_S: Final = 600.0
# An attempt (first or retry) starts only when at least this much of the deadline remains.
MIN_ATTEMPT_S: Final = 0.1
# We never need the collector's answer body; read at most this much of it.
MAX_RESPONSE_BYTES: Final = 64 * 1024

# Dropped: deliberately not sent, or refused by the collector for good.
INVALID_ENDPOINT: Final = "invalid_endpoint"  # the endpoint failed parse_endpoint
INVALID_PROXY: Final = "invalid_proxy"  # the proxy from the environment is unusable
PAUSED: Final = "paused"  # a Retry-After pause was running
CLOSED: Final = "closed"  # send after close
TOO_LARGE: Final = "too_large"  # one event alone exceeds MAX_BODY_BYTES
REDIRECT: Final = "redirect"  # 3xx: redirects are never followed
HTTP_4XX: Final = "http_4xx"  # 4xx other than 408 and 429
DROP_REASONS: Final = frozenset(
    {INVALID_ENDPOINT, INVALID_PROXY, PAUSED, CLOSED, TOO_LARGE, REDIRECT, HTTP_4XX}
)

# Failed: tried (or ran out of time) and could not deliver.
HTTP_5XX: Final = "http_5xx"
HTTP_408: Final = "http_408"
HTTP_429: Final = "http_429"
HTTP_OTHER: Final = "http_other"  # 1xx or a status outside 100-599
TIMEOUT: Final = "timeout"  # connect, TLS handshake or read timed out
CONNECTION: Final = "connection"  # refused, reset, closed early, malformed response
DNS: Final = "dns"  # the host name did not resolve
TLS: Final = "tls"  # certificate or handshake failure
PROXY: Final = "proxy"  # the proxy refused or failed the request
DEADLINE: Final = "deadline"  # the per-call deadline ran out before this request
FAIL_REASONS: Final = frozenset(
    {HTTP_5XX, HTTP_408, HTTP_429, HTTP_OTHER, TIMEOUT, CONNECTION, DNS, TLS, PROXY, DEADLINE}
)

# Statuses worth one more try (RFC 9110 section 15.5.9, RFC 6585 section 4).
_RETRY_STATUSES: Final = frozenset({408, 429})
# Statuses whose Retry-After we honour by pausing (RFC 9110 section 10.2.3).
_PAUSE_STATUSES: Final = frozenset({429, 503})
_NOT_RETRIED: Final = frozenset({DNS, TLS})
_FORBIDDEN_CHARS: Final = re.compile(r"[\x00-\x20\x7f]")
_HOST_NAME: Final = re.compile(
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$"
)
_DEFAULT_PORTS: Final = MappingProxyType({"http": 80, "https": 443})


@attrs.frozen
class Endpoint:
    """A validated collector URL."""

    url: str
    scheme: str
    host: str
    port: int


def _check_url(url: str, *, what: str, allow_credentials: bool) -> tuple[SplitResult | None, str]:
    """Split and validate an http(s) URL; the result or a problem in words (no URL echoed)."""
    if not url:
        return None, f"{what} is empty"
    if not url.isascii():
        return None, f"{what} must be ASCII (use punycode for international host names)"
    if _FORBIDDEN_CHARS.search(url):
        return None, f"{what} contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None, f"{what} is not a valid URL (bad port or brackets)"
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return None, f"{what} must start with http:// or https://"
    if "@" in parts.netloc and not allow_credentials:
        return None, f"{what} must not contain credentials"
    host = parts.hostname or ""
    if not host:
        return None, f"{what} has no host"
    if not _HOST_NAME.match(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None, f"{what} has an invalid host"
    if port == 0:
        return None, f"{what} has port 0"
    if parts.fragment or url.endswith("#"):
        return None, f"{what} must not have a #fragment"
    return parts, ""


def parse_endpoint(url: str) -> Endpoint | None:
    """The validated endpoint, or ``None`` when unusable (:func:`endpoint_problem` says why)."""
    parts, _ = _check_url(url, what="endpoint", allow_credentials=False)
    if parts is None:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS[scheme]
    return Endpoint(url=url, scheme=scheme, host=host, port=port)


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` is not a usable endpoint, in words for ``status``; ``None`` when it is."""
    parts, problem = _check_url(url, what="endpoint", allow_credentials=False)
    return None if parts is not None else problem


def _split_host_port(entry: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address; ``None`` if malformed."""
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            return None
        host, rest = entry[1:close], entry[close + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":") or not rest[1:].isdigit():
            return None
        return host, int(rest[1:])
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return (host, int(port)) if port.isdigit() else None
    return entry, None


def no_proxy_matches(host: str, port: int, no_proxy: str) -> bool:
    """Whether a ``NO_PROXY`` value exempts ``host:port`` from the proxy.

    Entries are separated by commas or whitespace and compared case-insensitively:
    ``*`` matches everything; a name matches itself and its subdomains (a leading ``.``
    or ``*.`` is ignored, so ``.example.com`` also matches ``example.com``); an IP
    address or CIDR block (``10.0.0.0/8``, ``::1``) matches addresses inside it; an
    entry with ``:port`` matches only that port. Malformed entries match nothing.
    """
    host = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in re.split(r"[,\s]+", no_proxy.lower()):
        if raw == "*":
            return True
        split = _split_host_port(raw) if raw else None
        if split is None:
            continue
        name, entry_port = split
        if entry_port is not None and entry_port != port:
            continue
        try:
            network = ipaddress.ip_network(name, strict=False)
        except ValueError:
            pass
        else:
            if address is not None and address in network:
                return True
            continue
        name = name.removeprefix("*").strip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def choose_proxy(endpoint_url: str, env: Mapping[str, str]) -> str | None:
    """The proxy URL to use for ``endpoint_url`` according to ``env``, or ``None``.

    ``https_proxy`` then ``HTTPS_PROXY`` for https endpoints, ``http_proxy`` then
    ``HTTP_PROXY`` for http ones (lowercase wins, as in curl; an empty value counts as
    unset). ``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set: in a CGI process a
    client controls it through the ``Proxy`` header ("httpoxy"). ``no_proxy`` then
    ``NO_PROXY`` exempt hosts (see :func:`no_proxy_matches`). ``ALL_PROXY`` and SOCKS
    proxies are not supported. A proxy without a scheme gets ``http://``, as curl does.
    """
    try:
        parts = urlsplit(endpoint_url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    if no_proxy_matches(host, port or _DEFAULT_PORTS[scheme], no_proxy):
        return None
    names = [f"{scheme}_proxy", f"{scheme.upper()}_PROXY"]
    if scheme == "http" and "REQUEST_METHOD" in env:
        names.remove("HTTP_PROXY")
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value if "://" in value else f"http://{value}"
    return None


def parse_retry_after(value: str, now_epoch_s: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date).

    ``None`` when the value is neither; a date in the past gives ``0.0``. Not capped.
    """
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        return None
    return max(0.0, when.timestamp() - now_epoch_s)


@attrs.frozen
class HttpCounters:
    """A snapshot of what one :class:`HttpSink` did; reasons are the ``*_REASONS`` names."""

    requests: int = 0
    retries: int = 0
    events_sent: int = 0
    events_dropped: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    events_failed: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    close_errors: int = 0

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.events_dropped.values())

    @property
    def failed_total(self) -> int:
        """All failed events, whatever the reason."""
        return sum(self.events_failed.values())


@attrs.frozen
class _Outcome:
    """How one request body ended: ``sent``, ``dropped`` or ``failed``, and why."""

    kind: str
    reason: str = ""
    pause_s: float = 0.0
    give_up: bool = False  # the rest of this call's bodies share this fate


_SENT: Final = _Outcome("sent")


def _classify(error: BaseException) -> str:
    """The failure reason for an exception raised by urllib3 or the socket layer."""
    from urllib3 import exceptions as e

    if isinstance(error, e.ProxyError):
        return PROXY
    if isinstance(error, e.NameResolutionError):
        return DNS
    if isinstance(error, e.NewConnectionError):  # before ConnectTimeoutError, its base
        return CONNECTION
    if isinstance(error, e.TimeoutError | TimeoutError):
        return TIMEOUT
    if isinstance(error, e.SSLError):
        return TLS
    return CONNECTION


class HttpSink:
    """POSTs batches to a collector; bounded, silent, counted. Satisfies ``Sink``.

    Args:
        endpoint: The collector URL (see :func:`parse_endpoint`).
        timeout: Seconds one :meth:`send` may take in total, retry included.
        env: Where proxy variables are read (pass ``os.environ`` at the edge).
            ``None`` means no proxy.
        ca_certs: A PEM file of CAs to trust instead of the system store.
        user_agent: The ``User-Agent`` header.
        clock: Monotonic seconds; drives the deadline and ``Retry-After`` pauses.
        gate: Remembers across processes that the destination is down or paused, and
            makes this sink skip it meanwhile (see ``DeliveryGate``); ``None``: never skip.
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
        gate: DeliveryGate | None = None,
    ) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if _FORBIDDEN_CHARS.search(user_agent.replace(" ", "")):
            raise ValueError("user_agent must not contain control characters")
        self._timeout = timeout
        self._ca_certs = ca_certs
        self._user_agent = user_agent
        self._clock = clock
        self._gate = gate
        self._in_flight = False
        self._endpoint = parse_endpoint(endpoint)
        self._proxy_url: str | None = None
        self._proxy_headers: dict[str, str] = {}
        self._inert_reason: str | None = None
        self.problem: str | None = None
        """Why the sink sends nothing (bad endpoint or proxy), for ``status``; else ``None``."""
        if self._endpoint is None:
            self._inert_reason = INVALID_ENDPOINT
            self.problem = endpoint_problem(endpoint)
        else:
            self._configure_proxy(choose_proxy(endpoint, env or {}))
        self._pool: urllib3.PoolManager | None = None
        self._paused_until = -math.inf
        self._finish_by = math.inf
        self._closed = False
        self._lock = threading.Lock()
        self._reset_counts()
        method = weakref.WeakMethod(self.after_fork_in_child)

        def _after_fork() -> None:
            bound = method()
            if bound is not None:
                bound()

        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork)

    def _configure_proxy(self, proxy: str | None) -> None:
        if proxy is None:
            return
        parts, problem = _check_url(proxy, what="proxy", allow_credentials=True)
        if parts is None:
            self._inert_reason = INVALID_PROXY
            self.problem = problem
            return
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, netloc = netloc.rpartition("@")
            token = base64.b64encode(unquote(userinfo).encode("utf-8")).decode("ascii")
            self._proxy_headers = {"Proxy-Authorization": f"Basic {token}"}
        self._proxy_url = f"{parts.scheme.lower()}://{netloc}"

    def _reset_counts(self) -> None:
        self._requests = 0
        self._retries = 0
        self._sent = 0
        self._dropped: dict[str, int] = {}
        self._failed: dict[str, int] = {}
        self._close_errors = 0

    @property
    def endpoint(self) -> Endpoint | None:
        """The validated endpoint, ``None`` when it was unusable."""
        return self._endpoint

    @property
    def proxy(self) -> str | None:
        """The proxy in use (credentials removed), or ``None`` for a direct connection."""
        return self._proxy_url

    def finish_by(self, deadline: float) -> None:
        """Make every later :meth:`send` end by ``deadline`` (seconds on this sink's clock).

        Shutdown passes down the time that remains, so that a send started at exit gives
        up (counted as ``timeout`` or ``deadline``) before the process stops waiting.
        """
        self._finish_by = min(self._finish_by, deadline)

    def counters(self) -> HttpCounters:
        """A frozen snapshot of the counters; safe to call from any thread."""
        with self._lock:
            return HttpCounters(
                requests=self._requests,
                retries=self._retries,
                events_sent=self._sent,
                events_dropped=MappingProxyType(dict(self._dropped)),
                events_failed=MappingProxyType(dict(self._failed)),
                close_errors=self._close_errors,
            )

    def _count(self, outcome: _Outcome, events: int) -> None:
        with self._lock:
            if outcome.kind == "sent":
                self._sent += events
            else:
                table = self._dropped if outcome.kind == "dropped" else self._failed
                table[outcome.reason] = table.get(outcome.reason, 0) + events

    def send(self, batch: Sequence[Envelope]) -> None:
        """POST ``batch`` (split into bodies under :data:`MAX_BODY_BYTES`) within ``timeout``.

        Never raises for network problems; every event ends up counted as sent, dropped
        or failed.
        """
        if not batch:
            return
        start = self._clock()
        deadline = min(start + self._timeout, self._finish_by)
        if self._inert_reason is not None:
            self._count(_Outcome("dropped", self._inert_reason), len(batch))
            return
        if self._closed:
            self._count(_Outcome("dropped", CLOSED), len(batch))
            return
        if start < self._paused_until:
            self._count(_Outcome("dropped", PAUSED), len(batch))
            return
        # Delivery gate: skip a destination that other processes found down, else report.
        skip = self._gate.skip_reason() if self._gate is not None else None
        if skip is not None:
            self._count(_Outcome("dropped", skip), len(batch))
            return
        bodies = self._bodies(batch)
        pool = self._pool if self._pool is not None else self._build_pool()
        self._in_flight = True
        shared: _Outcome | None = None
        tried: _Outcome | None = None
        for body, events in bodies:
            outcome = shared or self._deliver(pool, body, deadline)
            tried = tried if shared else outcome
            self._count(outcome, events)
            if outcome.pause_s > 0:
                self._paused_until = self._clock() + outcome.pause_s
                shared = _Outcome("dropped", PAUSED)
            elif outcome.give_up:
                shared = outcome
        self._in_flight = False
        if self._gate is not None and tried is not None:
            self._gate.report(tried.kind, tried.reason, tried.pause_s)

    def abandoned(self) -> None:
        """At exit, the sending thread was left behind: tell the gate if it was mid-send.

        A name lookup that never returns cannot be interrupted; without this, every
        process would wait for it again. Called once, from the exiting thread.
        """
        if self._in_flight and self._gate is not None:
            self._gate.report("failed", TIMEOUT)

    def _bodies(self, batch: Sequence[Envelope]) -> list[tuple[bytes, int]]:
        """Request bodies of at most :data:`MAX_BODY_BYTES` each, with their event counts."""
        sent_at = time.time()
        empty = len(join_body([], sent_at))
        groups: list[list[bytes]] = []
        group: list[bytes] = []
        size = empty
        for envelope in batch:
            encoded = encode_event(envelope)
            item = len(encoded) + 1  # +1 for the comma
            if empty + item - 1 > MAX_BODY_BYTES:
                self._count(_Outcome("dropped", TOO_LARGE), 1)
                continue
            if group and size + item - 1 > MAX_BODY_BYTES:
                groups.append(group)
                group, size = [], empty
            group.append(encoded)
            size += item
        if group:
            groups.append(group)
        return [(join_body(g, sent_at), len(g)) for g in groups]

    def warm(self) -> None:
        """Load the HTTP stack and, for https, the trust store, ahead of the first send.

        No network I/O. The runtime calls it on the batcher's thread when a command starts,
        so that a short-lived process does not pay for it at exit. May raise (the caller
        counts it); ``send`` then builds the pool again and counts its own failure.
        """
        if self._inert_reason is not None or self._closed or self._pool is not None:
            return
        if self._gate is not None and self._gate.backing_off():
            return  # most likely no network: only the one process that probes pays for it
        self._build_pool()

    def _build_pool(self) -> urllib3.PoolManager:
        import urllib3

        # One connection per host is enough for one sending thread; urllib3 must neither
        # retry nor redirect on its own (see _deliver), and certificates are always checked.
        options: dict[str, Any] = {
            "num_pools": 2,
            "maxsize": 1,
            "block": False,
            "retries": False,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": self._ca_certs,
        }
        if self._endpoint is not None and self._endpoint.scheme == "https":
            options["ssl_context"] = self._tls_context()
        pool: urllib3.PoolManager
        if self._proxy_url is not None:
            pool = urllib3.ProxyManager(
                self._proxy_url, proxy_headers=self._proxy_headers, **options
            )
        else:
            pool = urllib3.PoolManager(**options)
        self._pool = pool
        return pool

    def _tls_context(self) -> ssl.SSLContext:
        """A verifying context with the trust store loaded once, not at the first connect."""
        import ssl

        from urllib3.util.ssl_ import create_urllib3_context

        context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
        if self._ca_certs is not None:
            context.load_verify_locations(cafile=self._ca_certs)
        else:
            context.load_default_certs()
        return context

    def _deliver(self, pool: urllib3.PoolManager, body: bytes, deadline: float) -> _Outcome:
        """One body: the first attempt and at most one retry, both inside ``deadline``."""
        headers = {"Content-Type": "application/json", "User-Agent": self._user_agent}
        if len(body) > GZIP_MIN_BYTES:
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
        outcome = _Outcome("failed", DEADLINE, give_up=True)
        for attempt in range(2):
            remaining = deadline - self._clock()
            if remaining < MIN_ATTEMPT_S:
                break
            if attempt:
                with self._lock:
                    self._retries += 1
            outcome, retry = self._attempt(pool, body, headers, remaining)
            if not retry:
                break
        return outcome

    def _attempt(
        self,
        pool: urllib3.PoolManager,
        body: bytes,
        headers: Mapping[str, str],
        remaining: float,
    ) -> tuple[_Outcome, bool]:
        """One POST; its outcome and whether a retry may help."""
        import urllib3

        assert self._endpoint is not None
        with self._lock:
            self._requests += 1
        timeout = urllib3.Timeout(connect=remaining, read=remaining, total=remaining)
        try:
            response = pool.urlopen(
                "POST",
                self._endpoint.url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=timeout,
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            reason = _classify(error)
            return _Outcome("failed", reason, give_up=True), reason not in _NOT_RETRIED
        try:
            status = response.status
            retry_after = response.headers.get("Retry-After")
            try:
                if len(response.read(MAX_RESPONSE_BYTES, decode_content=False)) >= (
                    MAX_RESPONSE_BYTES
                ):
                    response.close()  # do not read an unbounded answer; drop the connection
            except (urllib3.exceptions.HTTPError, OSError):
                response.close()  # the status is known; only the body failed
        finally:
            response.release_conn()
        return self._judge(status, retry_after)

    def _judge(self, status: int, retry_after: str | None) -> tuple[_Outcome, bool]:
        if 200 <= status < 300:
            return _SENT, False
        if status in _PAUSE_STATUSES and retry_after is not None:
            seconds = parse_retry_after(retry_after, time.time())
            if seconds:
                reason = HTTP_429 if status == 429 else HTTP_5XX
                return _Outcome("failed", reason, pause_s=min(seconds, MAX_PAUSE_S)), False
        if 300 <= status < 400:
            return _Outcome("dropped", REDIRECT), False
        if status in _RETRY_STATUSES:
            return _Outcome("failed", HTTP_429 if status == 429 else HTTP_408), True
        if 400 <= status < 500:
            return _Outcome("dropped", HTTP_4XX), False
        if 500 <= status < 600:
            return _Outcome("failed", HTTP_5XX), True
        return _Outcome("failed", HTTP_OTHER), False

    def close(self, timeout: float) -> None:
        """Close idle pooled connections; later batches are dropped (``closed``). Never raises.

        Closing idle sockets does not block, so ``timeout`` is not waited on.
        """
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            # close must never raise, and an idle socket that fails to close loses nothing.
            try:
                pool.clear()
            except Exception:  # noqa: BLE001 - counted in counters().close_errors
                self._close_errors += 1

    def after_fork_in_child(self) -> None:
        """In a forked child: forget the parent's sockets, lock and counts.

        The parent's pooled connections are dropped without closing (they belong to the
        parent); the child builds its own pool on its next send. A running
        ``Retry-After`` pause is kept: the server asked this installation to wait.
        """
        self._pool = None
        self._lock = threading.Lock()
        self._in_flight = False  # the parent's send, not ours
        self._reset_counts()

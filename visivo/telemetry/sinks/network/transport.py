"""The transport shared by every network sink: urllib3 on the batcher's thread, bounded.

Everything is bounded by one per-call budget (``timeout``, one second by default), wall
clock, for the whole exchange: connect, TLS, request, status, headers, the answer body we
read (at most :data:`MAX_RESPONSE_BYTES`) and the single retry. Failures never print and
never raise: they are counted by reason and readable through :meth:`NetworkSink.counters`.

Decisions, so that ``status`` and the docs can state them:

- **TLS.** Verified, always. Without ``ca_certs`` the system trust store is loaded
  (``ssl.SSLContext.load_default_certs``); certifi is not a dependency. On a system with
  no CA bundle the handshake fails and events are counted failed with reason ``tls``.
- **Redirects** are not followed; urllib3 keeps no cookies and none are ever sent.
- **Proxies** come from the ``env`` mapping (see :func:`choose_proxy`); nothing is read
  from ``os.environ`` here.
- **Retries.** At most one per body, when the format's answer policy says it may help and
  at least :data:`MIN_ATTEMPT_S` of the budget remains. DNS failures (the resolver
  already retried) and TLS failures (deterministic) are not retried. A ``Retry-After``
  the policy honours pauses the sink (capped at ``MAX_PAUSE_S``); batches arriving
  meanwhile are dropped with reason ``paused``.
- **Limits of the budget.** Name resolution (``getaddrinfo``) cannot be interrupted; the
  batcher's exit deadline covers that case by abandoning its daemon thread.

urllib3 is imported on the first :meth:`NetworkSink.send` (or ``warm``), never at import or
construction, so starting telemetry does not load the HTTP stack on the caller's thread.
"""

from __future__ import annotations

import gzip
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

import attrs

from visivo.telemetry._version import __version__
from visivo.telemetry.schema import Envelope, format_timestamp
from visivo.telemetry.sinks.network.answers import (
    CLOSED,
    CONNECTION,
    DEADLINE,
    DNS,
    INTERNAL,
    INVALID_ENDPOINT,
    INVALID_PROXY,
    INVALID_SETTINGS,
    PAUSED,
    PROXY,
    REJECTED,
    TIMEOUT,
    TLS,
    TOO_LARGE,
    Verdict,
    retry_after_seconds,
)
from visivo.telemetry.sinks.network.endpoint import (
    FORBIDDEN_CHARS,
    Endpoint,
    endpoint_problem,
    parse_endpoint,
)
from visivo.telemetry.sinks.network.pool import build_pool, classify_error, close_pool
from visivo.telemetry.sinks.network.proxy import choose_proxy, split_proxy
from visivo.telemetry.sinks.network.wire import WireFormat, split_bodies

if TYPE_CHECKING:
    import urllib3

    from visivo.telemetry.sinks.gate import DeliveryGate
__all__ = [
    "GZIP_MIN_BYTES",
    "MAX_BODY_BYTES",
    "MAX_RESPONSE_BYTES",
    "MIN_ATTEMPT_S",
    "Compression",
    "NetworkCounters",
    "NetworkSink",
]

# Collectors reject request bodies of 512 KiB and more; stay under 500 KB (before gzip).
MAX_BODY_BYTES: Final = 500_000
# Below about 1 KiB gzip's header and the CPU time cost more than they save.
GZIP_MIN_BYTES: Final = 1024
# Level 1: a batch of events is repetitive JSON, so the fastest level already shrinks it
# about as much as level 6, at a third of the CPU; random uuids (posthog) made level 6
# cost ~6 µs per event on the telemetry thread against ~0.9 µs (bench_delivery.py).
GZIP_LEVEL: Final = 1
# An attempt (first or retry) starts only when at least this much of the deadline remains.
MIN_ATTEMPT_S: Final = 0.1
# Only OTLP's partial success is ever read from an answer; read at most this much of it.
MAX_RESPONSE_BYTES: Final = 64 * 1024

Compression = Literal["auto", "gzip", "none"]
"""``auto``: gzip above :data:`GZIP_MIN_BYTES`; ``gzip``: always; ``none``: never."""

_NOT_RETRIED: Final = frozenset({DNS, TLS})
# Failures of the connection, not of one body: the rest of the call shares their fate.
_TRANSPORT_FAILURES: Final = frozenset({TIMEOUT, CONNECTION, DNS, TLS, PROXY, DEADLINE})


@attrs.frozen
class NetworkCounters:
    """A snapshot of what one network sink did; reasons are the ``*_REASONS`` names."""

    requests: int = 0
    retries: int = 0
    events_sent: int = 0
    events_dropped: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    events_failed: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    close_errors: int = 0
    internal_errors: int = 0

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.events_dropped.values())

    @property
    def failed_total(self) -> int:
        """All failed events, whatever the reason."""
        return sum(self.events_failed.values())

    @property
    def accounted(self) -> int:
        """Events sent, dropped or failed so far."""
        return self.events_sent + self.dropped_total + self.failed_total


def _signals(batch: Sequence[Envelope]) -> int:
    return sum(envelope.signals for envelope in batch)


class NetworkSink:
    """POSTs batches in one wire format to one URL; bounded, silent, counted. A ``Sink``.

    Args:
        url: The request URL (see :func:`parse_endpoint`).
        wire_format: How envelopes become a body and how answers are judged.
        timeout: Seconds one :meth:`send` may take in total, retry included.
        env: Where proxy variables are read (pass ``os.environ`` at the edge).
            ``None`` means no proxy.
        ca_certs: A PEM file of CAs to trust instead of the system store.
        headers: Extra request headers the user configured (never logged).
        compression: When to gzip request bodies.
        problem: Why the configuration is unusable; the sink is then inert (it sends
            nothing and counts every event dropped: ``invalid_endpoint`` when the URL is
            the problem, else ``invalid_settings``).
        user_agent: The ``User-Agent`` header.
        clock: Monotonic seconds; drives the deadline and ``Retry-After`` pauses.
        gate: Remembers across processes that the destination is down or paused, and
            makes this sink skip it meanwhile (see ``DeliveryGate``); ``None``: never skip.
    """

    def __init__(
        self,
        url: str,
        wire_format: WireFormat,
        *,
        timeout: float = 1.0,
        env: Mapping[str, str] | None = None,
        ca_certs: str | None = None,
        headers: Mapping[str, str] | None = None,
        compression: Compression = "auto",
        problem: str | None = None,
        user_agent: str = f"visivo-telemetry/{__version__}",
        clock: Callable[[], float] = time.monotonic,
        gate: DeliveryGate | None = None,
    ) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if FORBIDDEN_CHARS.search(user_agent.replace(" ", "")):
            raise ValueError("user_agent must not contain control characters")
        self.wire_format = wire_format
        self._timeout = timeout
        self._ca_certs = ca_certs
        self._headers = {
            **dict(headers or {}),
            "Content-Type": "application/json",
            "User-Agent": user_agent,
        }
        self._compression = compression
        self._clock = clock
        self._gate = gate
        self._in_flight = False
        self._endpoint = parse_endpoint(url)
        self._proxy_url: str | None = None
        self._proxy_headers: dict[str, str] = {}
        self._inert_reason: str | None = None
        self.problem: str | None = problem
        """Why the sink sends nothing (bad settings, URL or proxy), for ``status``; else None."""
        if problem is not None or self._endpoint is None:
            self._inert_reason = INVALID_ENDPOINT if self._endpoint is None else INVALID_SETTINGS
            self._endpoint = None
            self.problem = problem or endpoint_problem(url)
        else:
            self._configure_proxy(choose_proxy(url, env or {}))
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
        problem, self._proxy_url, self._proxy_headers = split_proxy(proxy)
        if problem is not None:
            self._inert_reason = INVALID_PROXY
            self.problem = problem

    def _reset_counts(self) -> None:
        self._requests = 0
        self._retries = 0
        self._sent = 0
        self._dropped: dict[str, int] = {}
        self._failed: dict[str, int] = {}
        self._close_errors = 0
        self._internal_errors = 0

    @property
    def endpoint(self) -> Endpoint | None:
        """The validated URL, ``None`` when the sink is inert for its settings or URL."""
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

    def counters(self) -> NetworkCounters:
        """A frozen snapshot of the counters; safe to call from any thread."""
        with self._lock:
            return NetworkCounters(
                requests=self._requests,
                retries=self._retries,
                events_sent=self._sent,
                events_dropped=MappingProxyType(dict(self._dropped)),
                events_failed=MappingProxyType(dict(self._failed)),
                close_errors=self._close_errors,
                internal_errors=self._internal_errors,
            )

    def _count(self, verdict: Verdict, events: int) -> None:
        with self._lock:
            if verdict.kind == "sent":
                # OTLP names how many log records it rejected, not which: a rejected merged
                # request event is counted as one signal, so ``rejected`` may undercount.
                rejected = min(verdict.rejected, events)
                self._sent += events - rejected
                if rejected:
                    self._dropped[REJECTED] = self._dropped.get(REJECTED, 0) + rejected
            else:
                table = self._dropped if verdict.kind == "dropped" else self._failed
                table[verdict.reason] = table.get(verdict.reason, 0) + events

    def send(self, batch: Sequence[Envelope]) -> None:
        """POST ``batch`` (split into bodies under :data:`MAX_BODY_BYTES`) within ``timeout``.

        Never raises: every event ends up counted exactly once as sent, dropped or failed,
        also when something here raises (then as failed, ``internal_error``).
        """
        if not batch:
            return
        before = self.counters().accounted
        try:
            self._send(batch)
        except Exception:  # noqa: BLE001 - counted below and in internal_errors
            missing = _signals(batch) - (self.counters().accounted - before)
            with self._lock:
                self._internal_errors += 1
            if missing > 0:
                self._count(Verdict("failed", INTERNAL), missing)

    def _send(self, batch: Sequence[Envelope]) -> None:
        start = self._clock()
        if self._inert_reason is not None:
            self._count(Verdict("dropped", self._inert_reason), _signals(batch))
            return
        if self._closed:
            self._count(Verdict("dropped", CLOSED), _signals(batch))
            return
        if start < self._paused_until:
            self._count(Verdict("dropped", PAUSED), _signals(batch))
            return
        # The delivery gate: skip a destination that other processes found down.
        skip = self._gate.skip_reason() if self._gate is not None else None
        if skip is not None:
            self._count(Verdict("dropped", skip), _signals(batch))
            return
        bodies, too_large = split_bodies(
            self.wire_format,
            batch,
            max_bytes=MAX_BODY_BYTES,
            sent_at=format_timestamp(time.time()),
        )
        if too_large:
            self._count(Verdict("dropped", TOO_LARGE), too_large)
        loading = 0.0
        pool = self._pool
        if pool is None:
            # The first send imports the HTTP stack; that is not network time, so it does
            # not eat the budget (shutdown's finish_by still bounds everything).
            before = self._clock()
            try:
                pool = self._build_pool()
            except OSError:  # ssl.SSLError included: an unreadable or invalid CA file
                self._count(Verdict("failed", TLS), sum(body.signals for body in bodies))
                return
            loading = self._clock() - before
        deadline = min(start + self._timeout + loading, self._finish_by)
        shared: Verdict | None = None
        tried: Verdict | None = None  # the last answer that came from the network
        self._in_flight = True
        try:
            for body in bodies:
                verdict = shared or self._deliver(pool, body.data, deadline)
                tried = tried if shared else verdict
                self._count(verdict, body.signals)
                if verdict.pause_s > 0:
                    self._paused_until = self._clock() + verdict.pause_s
                    shared = Verdict("dropped", PAUSED)
                elif verdict.reason in _TRANSPORT_FAILURES:
                    shared = attrs.evolve(verdict, retry=False)
        finally:
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

    def _build_pool(self) -> urllib3.PoolManager:
        https = self._endpoint is not None and self._endpoint.scheme == "https"
        pool = build_pool(
            https=https,
            ca_certs=self._ca_certs,
            proxy_url=self._proxy_url,
            proxy_headers=self._proxy_headers,
        )
        self._pool = pool
        return pool

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

    def _deliver(self, pool: urllib3.PoolManager, body: bytes, deadline: float) -> Verdict:
        """One body: the first attempt and at most one retry, both inside ``deadline``."""
        headers = dict(self._headers)
        compress = self._compression == "gzip" or (
            self._compression == "auto" and len(body) > GZIP_MIN_BYTES
        )
        if compress:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            headers["Content-Encoding"] = "gzip"
        verdict = Verdict("failed", DEADLINE)
        for attempt in range(2):
            if deadline - self._clock() < MIN_ATTEMPT_S:
                break
            if attempt:
                with self._lock:
                    self._retries += 1
            verdict = self._attempt(pool, body, headers, deadline)
            if not verdict.retry:
                break
        return verdict

    def _attempt(
        self,
        pool: urllib3.PoolManager,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
    ) -> Verdict:
        """One POST and what its answer means, all by ``deadline``."""
        import urllib3

        from visivo.telemetry.sinks.network.budget import budget

        assert self._endpoint is not None
        with self._lock:
            self._requests += 1
        remaining = deadline - self._clock()
        timeout = urllib3.Timeout(connect=remaining, read=remaining, total=remaining)
        with budget(deadline, self._clock):
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
                reason = TIMEOUT if self._clock() >= deadline else classify_error(error)
                return Verdict("failed", reason, retry=reason not in _NOT_RETRIED)
            answer = b""
            try:
                answer = response.read(MAX_RESPONSE_BYTES, decode_content=False)
                if len(answer) >= MAX_RESPONSE_BYTES:
                    response.close()  # do not read an unbounded answer; drop the connection
            except (urllib3.exceptions.HTTPError, OSError):
                response.close()  # the status is known; only the body failed
            finally:
                response.release_conn()
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return self.wire_format.judge(response.status, retry_after, answer)

    def close(self, timeout: float) -> None:
        """Close pooled connections; later batches are dropped (``closed``). Never raises.

        Closing idle sockets does not block, so ``timeout`` is not waited on.
        """
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            # close must never raise, and an idle socket that fails to close loses nothing.
            try:
                close_pool(pool)
            except Exception:  # noqa: BLE001 - counted in counters().close_errors
                with self._lock:
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

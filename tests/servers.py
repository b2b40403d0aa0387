"""Real servers on 127.0.0.1 for delivery tests: a collector, fault makers and a proxy.

Every server here binds an ephemeral port on 127.0.0.1, runs on daemon threads, never
prints (handler errors are recorded on the object instead) and is torn down by ``stop``
or by leaving its ``with`` block. Waits take a timeout; nothing sleeps.

- :class:`Collector` records requests and answers from a script of :class:`Reply`;
  pass a ``trustme.CA`` for HTTPS.
- :class:`BlackHole` accepts TCP connections and never reads or writes. Used with an
  ``https://`` URL it is a stalled TLS handshake (no ServerHello ever comes).
- :func:`refused_port` returns a port that nothing listens on.
- :class:`ForwardProxy` forwards absolute-URI requests and ``CONNECT`` tunnels to
  loopback targets only, and records each use.
- :class:`Trickler` reads a request (or a ``CONNECT``), then answers slowly or endlessly
  (:data:`TRICKLES`): every read the client makes succeeds, yet the answer never ends.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

import trustme

__all__ = [
    "BlackHole",
    "Collector",
    "ForwardProxy",
    "ProxyUse",
    "Recorded",
    "Reply",
    "Trickler",
    "refused_port",
]

LOOPBACK = "127.0.0.1"
# How long a server-side socket may wait for a slow peer before the handler gives up.
_HANDLER_TIMEOUT_S = 10.0
_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Reply:
    """How the collector answers one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before answering; cut short when the server stops
    body: bytes = b""


@dataclass(frozen=True)
class Recorded:
    """One request as the collector received it."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes  # decompressed when the request was gzip-encoded
    wire_size: int  # bytes of body actually received
    raw: bytes = b""  # the body as received (gzip data when it was compressed)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that records handler errors instead of printing them,
    tracks its open connections and can close them all on stop."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__((LOOPBACK, 0), handler)
        self.owner = owner
        self.errors: list[BaseException] = []
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            # Handshake later, on the handler's thread, so a bad client cannot stall accept.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if error is not None:
            self.errors.append(error)

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class _ServerThread:
    """Runs a :class:`_QuietServer` on a daemon thread; a context manager."""

    server: _QuietServer
    scheme = "http"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def _make_server(self) -> _QuietServer:
        raise NotImplementedError

    def start(self) -> Self:
        """Bind and serve in the background."""
        self.server = self._make_server()
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection, and wait (bounded) for the thread."""
        self.stopping.set()
        if self._thread is None:
            return
        self.server.shutdown()
        self.server.close_open_connections()
        self.server.server_close()
        self._thread.join(_JOIN_TIMEOUT_S)
        self._thread = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, with a trailing slash."""
        return f"{self.scheme}://{LOOPBACK}:{self.port}/"

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions raised in handlers (a refused TLS handshake lands here)."""
        return list(self.server.errors)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _CollectorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _HANDLER_TIMEOUT_S
    server: _QuietServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default access log on stderr."""

    def _serve(self) -> None:
        collector: Collector = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        reply = collector._record(Recorded(self.command, self.path, headers, body, len(raw), raw))
        if reply.delay_s:
            collector.stopping.wait(reply.delay_s)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_GET = do_PUT = _serve


class Collector(_ServerThread):
    """An HTTP(S) collector that records requests and answers from a script.

    Replies given to :meth:`script` are used one per request, in order; after that
    every request gets ``default`` (200 unless changed). With ``ca`` it serves HTTPS with
    a certificate from that CA for ``cert_names``.
    """

    def __init__(
        self, *, ca: trustme.CA | None = None, cert_names: tuple[str, ...] = (LOOPBACK, "localhost")
    ) -> None:
        super().__init__()
        self._ca = ca
        self._cert_names = cert_names
        self.scheme = "https" if ca is not None else "http"
        self.default = Reply()
        self._script: deque[Reply] = deque()
        self._requests: list[Recorded] = []
        self._changed = threading.Condition()

    def _make_server(self) -> _QuietServer:
        server = _QuietServer(self, _CollectorHandler)
        if self._ca is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ca.issue_cert(*self._cert_names).configure_cert(context)
            server.tls = context
        return server

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        with self._changed:
            self._script.extend(replies)

    def redirect_to_self(self) -> Reply:
        """A 302 whose Location is this collector."""
        return Reply(302, {"Location": self.url + "moved"})

    def _record(self, request: Recorded) -> Reply:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            return self._script.popleft() if self._script else self.default

    @property
    def requests(self) -> list[Recorded]:
        """A copy of the requests received so far."""
        with self._changed:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float) -> list[Recorded]:
        """Wait until ``n`` requests have arrived; raise ``TimeoutError`` after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"{len(self._requests)} of {n} requests after {timeout}s")
            return list(self._requests)


class BlackHole:
    """A TCP listener that accepts connections and never reads or writes.

    ``url`` is an HTTP server that never answers; ``https_url`` is a TLS handshake that
    never gets a ServerHello.
    """

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._accepted: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> Self:
        """Listen and accept in the background."""
        listener = socket.create_server((LOOPBACK, 0), backlog=64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="BlackHole", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        for _ in range(10_000):  # bounded: far more connections than any test makes
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was shut down
            self._accepted.append(conn)

    @property
    def url(self) -> str:
        """``http://`` URL of the black hole."""
        return f"http://{LOOPBACK}:{self.port}/"

    @property
    def https_url(self) -> str:
        """``https://`` URL of the black hole: a stalled TLS handshake."""
        return f"https://{LOOPBACK}:{self.port}/"

    @property
    def accepted(self) -> int:
        """How many connections were accepted."""
        return len(self._accepted)

    def stop(self) -> None:
        """Close the listener (waking ``accept``) and every accepted connection."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT_S)
        for conn in self._accepted:
            conn.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def refused_port() -> int:
    """A loopback port with no listener: bind one, note its number, close it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ProxyUse:
    """One request the proxy handled: ``GET``/``POST`` with an absolute URI, or ``CONNECT``."""

    method: str
    target: str  # the absolute URI, or host:port for CONNECT
    headers: Mapping[str, str]  # lower-cased names


_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade"}
)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _HANDLER_TIMEOUT_S
    server: _QuietServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default access log on stderr."""

    def _record(self, target: str) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.owner._record(ProxyUse(self.command, target, headers))

    def _forward(self) -> None:
        self._record(self.path)
        parts = urlsplit(self.path)
        if parts.scheme != "http" or parts.hostname not in (LOOPBACK, "localhost"):
            self.send_error(403, "loopback http targets only")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(
            parts.hostname, parts.port or 80, timeout=_HANDLER_TIMEOUT_S
        )
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            upstream.request(self.command, target or "/", body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP | {"content-length", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _forward

    def do_CONNECT(self) -> None:
        self._record(self.path)
        host, _, port = self.path.rpartition(":")
        if host not in (LOOPBACK, "localhost") or not port.isdigit():
            self.send_error(403, "loopback targets only")
            return
        upstream = socket.create_connection((host, int(port)), timeout=_HANDLER_TIMEOUT_S)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        try:
            _pipe(self.connection, upstream, self.server.owner.stopping)
        finally:
            upstream.close()


def _pipe(a: socket.socket, b: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until either side closes, the proxy stops, or 10 s pass."""
    deadline = time.monotonic() + _HANDLER_TIMEOUT_S
    peer = {a: b, b: a}
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ)
        selector.register(b, selectors.EVENT_READ)
        for _ in range(100_000):  # bounded in count as well as time
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stopping.is_set():
                return
            for key, _ in selector.select(min(remaining, 0.2)):
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                data = source.recv(65536)
                if not data:
                    return
                peer[source].sendall(data)


class ForwardProxy(_ServerThread):
    """A loopback forward proxy: absolute-URI HTTP requests and CONNECT tunnels.

    Targets other than 127.0.0.1/localhost are refused with 403. ``uses`` records every
    request it handled.
    """

    def __init__(self) -> None:
        super().__init__()
        self._uses: list[ProxyUse] = []
        self._lock = threading.Lock()

    def _make_server(self) -> _QuietServer:
        return _QuietServer(self, _ProxyHandler)

    def _record(self, use: ProxyUse) -> None:
        with self._lock:
            self._uses.append(use)

    @property
    def uses(self) -> list[ProxyUse]:
        """A copy of the requests the proxy handled."""
        with self._lock:
            return list(self._uses)


# How a Trickler answers: each entry is (what to send first, what to send again and again,
# seconds between repeats). Every repeat is a complete, valid piece of HTTP, so no
# per-read socket timeout ever fires on the client.
TRICKLES: dict[str, tuple[bytes, bytes, float]] = {
    # The status line, one byte every 0.3 s.
    "status": (b"", b"H", 0.3),
    # A status line, then one header byte every 0.3 s.
    "headers": (b"HTTP/1.1 200 OK\r\n", b"X", 0.3),
    # Interim answers, forever and fast (RFC 9110 section 15.2.1 allows any number).
    "continue": (b"", b"HTTP/1.1 100 Continue\r\n\r\n", 0.01),
    # A chunked body, one byte-long chunk every 0.3 s.
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\na\r\n", 0.3),
    # A chunked body that never ends, as fast as the client reads.
    "endless": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"400\r\n" + b"a" * 0x400 + b"\r\n",
        0.0,
    ),
}
_TRICKLE_LIMIT_S = 10.0


class Trickler:
    """A TCP server that reads one request head and then trickles an answer (a mode of
    :data:`TRICKLES`), for at most 10 s per connection or until stopped.

    It does not care whether the request is for it or for a proxy target, so its ``url``
    also serves as a trickling proxy (``HTTP_PROXY`` or, for ``CONNECT``, ``HTTPS_PROXY``).
    """

    def __init__(self, mode: str, *, ca: trustme.CA | None = None) -> None:
        self.first, self.repeat, self.every_s = TRICKLES[mode]
        self._tls: ssl.SSLContext | None = None
        if ca is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.issue_cert(LOOPBACK, "localhost").configure_cert(self._tls)
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.port = 0
        self.connections = 0

    def start(self) -> Self:
        """Listen and serve each connection on its own daemon thread."""
        self._listener = socket.create_server((LOOPBACK, 0), backlog=16)
        self.port = self._listener.getsockname()[1]
        thread = threading.Thread(target=self._accept, name="Trickler", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    @property
    def url(self) -> str:
        """``http://`` (``https://`` with a CA) URL of the server."""
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{LOOPBACK}:{self.port}/"

    def _accept(self) -> None:
        assert self._listener is not None
        for _ in range(1_000):  # bounded: far more connections than any test makes
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + _TRICKLE_LIMIT_S
        with conn:
            conn.settimeout(_TRICKLE_LIMIT_S)
            head = b""
            with contextlib.suppress(OSError):
                if self._tls is not None:
                    conn = self._tls.wrap_socket(conn, server_side=True)
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = conn.recv(65536)
                    if not data:
                        return
                    head += data
                conn.sendall(self.first)
                for _ in range(1_000_000):  # bounded in count as well as time
                    if time.monotonic() > deadline or self.stopping.wait(self.every_s):
                        return
                    conn.sendall(self.repeat)

    def stop(self) -> None:
        """Stop every connection and the listener; wait (bounded) for the threads."""
        self.stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

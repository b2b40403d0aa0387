"""A wall-clock budget for one whole HTTP exchange, enforced at the socket.

urllib3's timeouts apply to each socket operation: a server that trickles one byte every
0.3 s, sends ``100 Continue`` lines forever or an endless chunked body never trips them.
Here every socket our connections create (plain, TLS, or a tunnel through a proxy) sets
its timeout to what remains of the budget before each operation and raises
``TimeoutError`` once it is spent, so connect, TLS, request, status, headers and the body
we read all end by the deadline.

This module imports urllib3; the transport imports it on its first send only.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["POOL_CLASSES", "BudgetSSLSocket", "budget"]

_local = threading.local()


@contextlib.contextmanager
def budget(deadline: float, clock: Callable[[], float]) -> Iterator[None]:
    """Bound every socket operation of this thread's connections by ``deadline``."""
    _local.budget = (deadline, clock)
    try:
        yield
    finally:
        _local.budget = None


def _arm(sock: socket.socket) -> None:
    """Set ``sock``'s timeout to what remains; raise ``TimeoutError`` when nothing does."""
    current = getattr(_local, "budget", None)
    if current is None:
        return
    deadline, clock = current
    remaining = deadline - clock()
    if remaining <= 0:
        raise TimeoutError("the send's time budget is spent")
    sock.settimeout(remaining)


class _BudgetSocket(socket.socket):
    """A TCP socket whose every read and write ends by the budget's deadline."""

    def recv(self, *args: Any) -> bytes:
        _arm(self)
        return super().recv(*args)

    def recv_into(self, *args: Any) -> int:
        _arm(self)
        return super().recv_into(*args)

    def send(self, *args: Any) -> int:
        _arm(self)
        return super().send(*args)

    def sendall(self, *args: Any) -> None:
        _arm(self)
        super().sendall(*args)


class BudgetSSLSocket(ssl.SSLSocket):
    """The TLS counterpart: also bounds the handshake. Set as a context's sslsocket_class."""

    def do_handshake(self, block: bool = False) -> None:
        _arm(self)
        super().do_handshake(block)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        _arm(self)
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        _arm(self)
        return super().recv_into(buffer, nbytes, flags)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        _arm(self)
        return super().read(len, buffer)

    def send(self, data: Any, flags: int = 0) -> int:
        _arm(self)
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _arm(self)
        super().sendall(data, flags)


def _adopt(sock: socket.socket) -> socket.socket:
    """The same connected socket as a :class:`_BudgetSocket` (its options are kept)."""
    timeout = sock.gettimeout()
    adopted = _BudgetSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    adopted.settimeout(timeout)
    return adopted


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _adopt(super()._new_conn())


class _HTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _adopt(super()._new_conn())


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


# For PoolManager.pool_classes_by_scheme.
POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {
    "http": _HTTPConnectionPool,
    "https": _HTTPSConnectionPool,
}

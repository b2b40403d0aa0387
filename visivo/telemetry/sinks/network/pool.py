"""The urllib3 pool a network sink sends through: built once, closed for real.

Only the transport's thread calls these, and urllib3 is imported here, on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from visivo.telemetry.sinks.network.answers import CONNECTION, DNS, PROXY, TIMEOUT, TLS

if TYPE_CHECKING:
    import ssl

    import urllib3

__all__ = ["build_pool", "classify_error", "close_pool"]


def build_pool(
    *,
    https: bool,
    ca_certs: str | None,
    proxy_url: str | None,
    proxy_headers: Mapping[str, str],
) -> urllib3.PoolManager:
    """A pool of budget-bound connections: no retries or redirects of urllib3's own,
    certificates always checked, one connection per host (one sending thread)."""
    import urllib3

    from visivo.telemetry.sinks.network.budget import POOL_CLASSES

    options: dict[str, Any] = {
        "num_pools": 2,
        "maxsize": 1,
        "block": False,
        "retries": False,
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": ca_certs,
    }
    if https:
        options["ssl_context"] = _tls_context(ca_certs)
    pool: urllib3.PoolManager
    if proxy_url is not None:
        pool = urllib3.ProxyManager(proxy_url, proxy_headers=dict(proxy_headers), **options)
    else:
        pool = urllib3.PoolManager(**options)
    pool.pool_classes_by_scheme = POOL_CLASSES
    return pool


def _tls_context(ca_certs: str | None) -> ssl.SSLContext:
    """A verifying context with the trust store loaded once, not at the first connect."""
    import ssl

    from urllib3.util.ssl_ import create_urllib3_context

    from visivo.telemetry.sinks.network.budget import BudgetSSLSocket

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    if ca_certs is not None:
        context.load_verify_locations(cafile=ca_certs)
    else:
        context.load_default_certs()
    context.sslsocket_class = BudgetSSLSocket
    return context


def close_pool(pool: urllib3.PoolManager) -> None:
    """Close every pooled connection, then forget the pools. May raise (the caller counts).

    urllib3 2.x's ``PoolManager.clear()`` only forgets its connection pools (their
    container has no dispose function), leaving idle sockets to the garbage collector and
    a ``ResourceWarning``: each pool's connections are closed first.
    """
    for key in list(pool.pools.keys()):
        connection_pool = pool.pools.get(key)
        if connection_pool is not None:
            connection_pool.close()
    pool.clear()


def classify_error(error: BaseException) -> str:
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

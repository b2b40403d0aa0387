"""Which proxy a request goes through: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (pure).

Plain host names are matched by the standard library's ``NO_PROXY`` rules
(:func:`urllib.request.proxy_bypass_environment`). It gets some entries that curl and
most tools accept wrong, so those are handled here first: whitespace as a separator,
``*`` among other entries, a ``*.`` prefix, IP addresses and CIDR blocks, bracketed IPv6
addresses and a trailing dot on the host.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from visivo.telemetry.sinks.network.endpoint import DEFAULT_PORTS, check_url

__all__ = ["choose_proxy", "no_proxy_matches", "split_proxy"]


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
        return (host, int(port)) if port.isascii() and port.isdigit() else None
    return entry, None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def no_proxy_matches(host: str, port: int, no_proxy: str) -> bool:
    """Whether a ``NO_PROXY`` value exempts ``host:port`` from the proxy.

    Entries are separated by commas or whitespace and compared case-insensitively:
    ``*`` matches everything; a name matches itself and its subdomains (a leading ``.``
    or ``*.`` is ignored, so ``.example.com`` also matches ``example.com``); an IP
    address or CIDR block (``10.0.0.0/8``, ``::1``) matches addresses inside it; an
    entry with ``:port`` matches only that port. Malformed entries match nothing.
    """
    host = host.lower().strip("[]").rstrip(".")
    address = _address(host)
    names: list[str] = []
    for raw in re.split(r"[,\s]+", no_proxy.lower()):
        if raw == "*":
            return True
        split = _split_host_port(raw) if raw else None
        if split is None:
            continue
        name, entry_port = split
        try:
            network = ipaddress.ip_network(name, strict=False)
        except ValueError:
            name = name.removeprefix("*").strip(".")
            if name:
                names.append(name if entry_port is None else f"{name}:{entry_port}")
            continue
        if address is not None and address in network and entry_port in (None, port):
            return True
    if address is not None or not names:
        return False
    # Imported here: urllib.request loads http.client and email (about 10 ms), and most
    # processes never get this far (no NO_PROXY names); start() builds the sinks.
    import urllib.request

    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bool(bypass(f"{host}:{port}", {"no": ",".join(names)}))


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
    if scheme not in DEFAULT_PORTS or not host:
        return None
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    if no_proxy_matches(host, port or DEFAULT_PORTS[scheme], no_proxy):
        return None
    names = [f"{scheme}_proxy", f"{scheme.upper()}_PROXY"]
    if scheme == "http" and "REQUEST_METHOD" in env:
        names.remove("HTTP_PROXY")
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value if "://" in value else f"http://{value}"
    return None


def split_proxy(proxy: str) -> tuple[str | None, str | None, dict[str, str]]:
    """``(problem, proxy URL without credentials, headers)`` for a proxy URL.

    Credentials in the URL (``user:pass@``) become a ``Proxy-Authorization: Basic``
    header, so that the URL the pool knows, and any message, never holds them.
    """
    parts, problem = check_url(proxy, what="proxy", allow_credentials=True)
    if parts is None:
        return problem, None, {}
    netloc = parts.netloc
    headers: dict[str, str] = {}
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        token = base64.b64encode(unquote(userinfo).encode("utf-8")).decode("ascii")
        headers["Proxy-Authorization"] = f"Basic {token}"
    return None, f"{parts.scheme.lower()}://{netloc}", headers

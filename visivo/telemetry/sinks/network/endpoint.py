"""Collector URLs: validation shared by every network sink, and redaction for display.

A URL is usable when it is ``http`` or ``https``, has an ASCII host, an optional port,
no whitespace or control characters, no ``#fragment`` and **no credentials**
(``user:pass@``): telemetry is anonymous, and a secret in a URL ends up in status output
and bug reports. Problems are phrased without echoing the URL.
"""

from __future__ import annotations

import ipaddress
import re
from types import MappingProxyType
from typing import Final
from urllib.parse import SplitResult, urlsplit

import attrs

__all__ = ["DEFAULT_PORTS", "Endpoint", "check_url", "endpoint_problem", "parse_endpoint", "redact"]

FORBIDDEN_CHARS: Final = re.compile(r"[\x00-\x20\x7f]")
_HOST_NAME: Final = re.compile(
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$"
)
DEFAULT_PORTS: Final = MappingProxyType({"http": 80, "https": 443})


@attrs.frozen
class Endpoint:
    """A validated collector URL."""

    url: str
    scheme: str
    host: str
    port: int


def check_url(
    url: str, *, what: str, allow_credentials: bool, allow_query: bool = True
) -> tuple[SplitResult | None, str]:
    """Split and validate an http(s) URL; the result or a problem in words (no URL echoed)."""
    if not url:
        return None, f"{what} is empty"
    if not url.isascii():
        return None, f"{what} must be ASCII (use punycode for international host names)"
    if FORBIDDEN_CHARS.search(url):
        return None, f"{what} contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None, f"{what} is not a valid URL (bad port or brackets)"
    if parts.scheme.lower() not in DEFAULT_PORTS:
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
    if not allow_query and (parts.query or "?" in url):
        return None, f"{what} must not have a ?query"
    return parts, ""


def parse_endpoint(url: str) -> Endpoint | None:
    """The validated endpoint, or ``None`` when unusable (:func:`endpoint_problem` says why)."""
    parts, _ = check_url(url, what="endpoint", allow_credentials=False)
    if parts is None:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[scheme]
    return Endpoint(url=url, scheme=scheme, host=host, port=port)


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` is not a usable endpoint, in words for ``status``; ``None`` when it is."""
    parts, problem = check_url(url, what="endpoint", allow_credentials=False)
    return None if parts is not None else problem


def redact(url: str) -> str:
    """``url`` safe to print: any ``user:password@`` becomes ``***@``.

    Also when the URL does not parse: everything up to the last ``@`` of what looks like
    the authority is hidden, so a secret is never shown whatever the URL's shape.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    cut = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index >= 0:
            cut = min(cut, index)
    authority, path = rest[:cut], rest[cut:]
    if "@" not in authority:
        return url
    host = authority.rpartition("@")[2]
    return f"{scheme}{sep}***@{host}{path}"
